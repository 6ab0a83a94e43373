// The Node tools the tests use live here (package.json, node_modules). This go.mod keeps
// the Go tool out of node_modules, where some packages ship Go templates.
module github.com/relais-ci/relais/tools

go 1.26
