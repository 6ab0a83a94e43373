// Package pipeline reads and checks pipeline declarations: the JSON that
// `aws codepipeline get-pipeline` prints and `create-pipeline --cli-input-json` takes.
//
// Parse decodes strictly (unknown fields are errors with their JSON path; syntax errors
// carry a line and column). Validate applies CodePipeline's structural rules and limits,
// plus, for a Target other than TargetRules, whether Relais can run each action there.
// ParseReferences and Resolve handle `#{namespace.name}` variable references, and
// Declaration.Match decides which triggers a git event fires.
package pipeline
