package buildspec

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Parse reads a buildspec strictly: every problem, including a key CodeBuild does not
// know, makes it fail with an *Error listing them all.
func Parse(data []byte) (*Spec, error) { return parse(data, true) }

// ParseLenient reads a buildspec as CodeBuild does: keys it does not know are put in
// Spec.Warnings instead of failing; every other problem fails as in Parse.
func ParseLenient(data []byte) (*Spec, error) { return parse(data, false) }

func parse(data []byte, strict bool) (*Spec, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			return nil, &Error{Problems: []Problem{{Msg: "empty buildspec"}}}
		}
		return nil, &Error{Problems: []Problem{yamlProblem(err)}}
	}
	d := &decoder{strict: strict}
	spec := d.spec(&doc)
	if len(d.problems) > 0 {
		return nil, &Error{Problems: d.problems}
	}
	spec.Warnings = d.warnings
	return spec, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlProblem turns a yaml.v3 syntax error ("yaml: line 3: …") into a Problem.
func yamlProblem(err error) Problem {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return Problem{Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

type decoder struct {
	strict   bool
	problems []Problem
	warnings []Problem
	merges   int // merge-key expansions so far: nested aliases could multiply them
}

// maxMerges bounds merge-key expansions, so that a buildspec of aliases of aliases
// cannot make the parser do exponential work.
const maxMerges = 1000

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.problems = append(d.problems, Problem{Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// resolve follows an alias and unwraps a document node.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && (n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindName(n *yaml.Node) string {
	switch {
	case n == nil || isNull(n):
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a sequence"
	default:
		return "a scalar"
	}
}

// pair is one key and value of a mapping, merge keys (<<) already expanded.
type pair struct {
	key   string
	kNode *yaml.Node
	value *yaml.Node
}

// pairs returns the entries of a mapping in file order, reporting duplicate keys; ok is
// false (and a problem recorded) when n is not a mapping. A null value is an empty
// mapping.
func (d *decoder) pairs(n *yaml.Node, path string) ([]pair, bool) {
	n = resolve(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "expected a mapping, found %s", kindName(n))
		return nil, false
	}
	var out []pair
	seen := map[string]bool{}
	var merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "expected a scalar key, found %s", kindName(k))
			continue
		}
		if k.Tag == "!!merge" || k.Value == "<<" && k.Style == 0 {
			merged = append(merged, d.merge(v, path)...)
			continue
		}
		if seen[k.Value] {
			d.fail(k, join(path, k.Value), "duplicate key")
			continue
		}
		seen[k.Value] = true
		out = append(out, pair{key: k.Value, kNode: k, value: v})
	}
	for _, p := range merged {
		if !seen[p.key] {
			seen[p.key] = true
			out = append(out, p)
		}
	}
	return out, true
}

// merge returns the pairs a merge key (<<: *anchor or a list of them) brings in.
func (d *decoder) merge(v *yaml.Node, path string) []pair {
	v = resolve(v)
	var srcs []*yaml.Node
	if v != nil && v.Kind == yaml.SequenceNode {
		srcs = v.Content
	} else {
		srcs = []*yaml.Node{v}
	}
	var out []pair
	for _, s := range srcs {
		d.merges++
		if d.merges > maxMerges {
			if d.merges == maxMerges+1 {
				d.fail(v, path, "too many merge keys (<<) expanded: more than %d", maxMerges)
			}
			return nil
		}
		ps, _ := d.pairs(s, path)
		out = append(out, ps...)
	}
	return out
}

// unknown records a key the block does not know: an error when strict, a warning
// otherwise.
func (d *decoder) unknown(p pair, path string) {
	pr := Problem{Line: p.kNode.Line, Path: join(path, p.key), Msg: "unknown key"}
	if d.strict {
		d.problems = append(d.problems, pr)
	} else {
		d.warnings = append(d.warnings, pr)
	}
}

// str reads a scalar as its text: numbers and booleans keep the text written
// (version: 0.2 is "0.2", python: 3.10 is "3.10"). Null is "".
func (d *decoder) str(n *yaml.Node, path string) string {
	n = resolve(n)
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected a string, found %s", kindName(n))
		return ""
	}
	return n.Value
}

// boolean reads yes/no, true/false or on/off, in any case, as CodeBuild's YAML does.
func (d *decoder) boolean(n *yaml.Node, path string) bool {
	n = resolve(n)
	if isNull(n) {
		return false
	}
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "yes", "true", "on", "y":
			return true
		case "no", "false", "off", "n":
			return false
		}
	}
	d.fail(n, path, "expected yes/no or true/false, found %s", describe(n))
	return false
}

func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return strconv.Quote(n.Value)
	}
	return kindName(n)
}

// strings reads a sequence of scalars. A single scalar is read as a sequence of one,
// as CodeBuild accepts "files: file.txt". Null is empty.
func (d *decoder) strings(n *yaml.Node, path string) []string {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "expected a sequence, found %s", kindName(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		c = resolve(c)
		if isNull(c) {
			d.fail(n.Content[i], index(path, i), "empty entry")
			continue
		}
		if c.Kind != yaml.ScalarNode {
			d.fail(c, index(path, i), "expected a string, found %s", kindName(c))
			continue
		}
		out = append(out, c.Value)
	}
	return out
}

// commands reads a list of commands. A command written unquoted with ": " in it is a
// mapping in YAML, the commonest buildspec mistake, so say so.
func (d *decoder) commands(n *yaml.Node, path string) []string {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "expected a sequence of commands, found %s", kindName(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		c = resolve(c)
		switch {
		case isNull(c):
			d.fail(n.Content[i], index(path, i), "empty command")
		case c.Kind == yaml.MappingNode:
			d.fail(c, index(path, i), "expected a command (a string), found a mapping: quote a command that contains \": \"")
		case c.Kind != yaml.ScalarNode:
			d.fail(c, index(path, i), "expected a command (a string), found %s", kindName(c))
		default:
			out = append(out, c.Value)
		}
	}
	return out
}

// vars reads a mapping of environment variable names to scalar values.
func (d *decoder) vars(n *yaml.Node, path string) []Var {
	ps, _ := d.pairs(n, path)
	out := make([]Var, 0, len(ps))
	for _, p := range ps {
		if p.key == "" {
			d.fail(p.kNode, path, "empty variable name")
			continue
		}
		out = append(out, Var{Name: p.key, Value: d.str(p.value, join(path, p.key))})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// IsIdentifier reports whether s can name a shell variable or a secondary source or
// artifact.
func IsIdentifier(s string) bool { return identifier.MatchString(s) }

func (d *decoder) spec(doc *yaml.Node) *Spec {
	s := &Spec{}
	root := resolve(doc)
	if isNull(root) {
		d.fail(root, "", "empty buildspec")
		return s
	}
	ps, ok := d.pairs(root, "")
	if !ok {
		return s
	}
	var versionNode, phasesNode *yaml.Node
	for _, p := range ps {
		switch p.key {
		case "version":
			versionNode = p.kNode
			s.Version = d.str(p.value, "version")
			if s.Version != Version01 && s.Version != Version02 {
				d.fail(resolve(p.value), "version", "unsupported buildspec version %q: CodeBuild reads 0.2 and 0.1", s.Version)
			}
		case "run-as":
			s.RunAs = d.str(p.value, "run-as")
		case "env":
			s.Env = d.env(p.value, "env")
		case "proxy":
			s.Proxy = d.proxy(p.value, "proxy")
		case "batch":
			s.Batch = d.batch(p.value, "batch")
		case "phases":
			phasesNode = p.kNode
			s.Phases = d.phases(p.value, "phases")
		case "reports":
			s.Reports = d.reports(p.value, "reports")
		case "artifacts":
			a := d.artifacts(p.value, "artifacts", true)
			s.Artifacts = &a
		case "cache":
			s.Cache = d.cache(p.value, "cache")
		default:
			d.unknown(p, "")
		}
	}
	if versionNode == nil {
		d.fail(root, "version", "missing: a buildspec starts with version: 0.2")
	}
	if phasesNode == nil {
		d.fail(root, "phases", "missing: a buildspec needs at least one phase")
	}
	return s
}

func (d *decoder) env(n *yaml.Node, path string) Env {
	var e Env
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		pp := join(path, p.key)
		switch p.key {
		case "shell":
			e.Shell = d.str(p.value, pp)
			switch e.Shell {
			case ShellBash, ShellSh, ShellPowerShell, ShellCmd:
			case "sh":
				e.Shell = ShellSh
			default:
				d.fail(resolve(p.value), pp, "unsupported shell %q: use bash or /bin/sh (Linux), powershell.exe or cmd.exe (Windows)", e.Shell)
			}
		case "variables":
			e.Variables = d.vars(p.value, pp)
		case "parameter-store":
			e.ParameterStore = d.vars(p.value, pp)
			for _, v := range e.ParameterStore {
				if v.Value == "" {
					d.fail(resolve(p.value), join(pp, v.Name), "empty parameter name")
				}
			}
		case "secrets-manager":
			e.SecretsManager = d.vars(p.value, pp)
			for _, v := range e.SecretsManager {
				if v.Value == "" {
					d.fail(resolve(p.value), join(pp, v.Name), "empty secret reference: want secret-id:json-key:version-stage:version-id")
				}
			}
		case "exported-variables":
			e.ExportedVariables = d.strings(p.value, pp)
			for i, name := range e.ExportedVariables {
				if !IsIdentifier(name) {
					d.fail(resolve(p.value), index(pp, i), "%q is not a variable name", name)
				}
			}
		case "git-credential-helper":
			e.GitCredentialHelper = d.boolean(p.value, pp)
		default:
			d.unknown(p, path)
		}
	}
	return e
}

func (d *decoder) proxy(n *yaml.Node, path string) Proxy {
	var x Proxy
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		switch p.key {
		case "upload-artifacts":
			x.UploadArtifacts = d.boolean(p.value, join(path, p.key))
		case "logs":
			x.Logs = d.boolean(p.value, join(path, p.key))
		default:
			d.unknown(p, path)
		}
	}
	return x
}

func (d *decoder) phases(n *yaml.Node, path string) Phases {
	var ph Phases
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		pp := join(path, p.key)
		switch p.key {
		case "install":
			ph.Install = d.phase(p.value, pp, true)
		case "pre_build":
			ph.PreBuild = d.phase(p.value, pp, false)
		case "build":
			ph.Build = d.phase(p.value, pp, false)
		case "post_build":
			ph.PostBuild = d.phase(p.value, pp, false)
		default:
			d.unknown(p, path)
		}
	}
	return ph
}

func (d *decoder) phase(n *yaml.Node, path string, install bool) *Phase {
	ph := &Phase{}
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		pp := join(path, p.key)
		switch p.key {
		case "run-as":
			ph.RunAs = d.str(p.value, pp)
		case "on-failure":
			v := OnFailure(strings.ToUpper(d.str(p.value, pp)))
			if v != OnFailureAbort && v != OnFailureContinue {
				d.fail(resolve(p.value), pp, "expected ABORT or CONTINUE, found %s", describe(resolve(p.value)))
			}
			ph.OnFailure = v
		case "runtime-versions":
			if !install {
				d.unknown(p, path)
				continue
			}
			rps, _ := d.pairs(p.value, pp)
			for _, rp := range rps {
				ph.RuntimeVersions = append(ph.RuntimeVersions, Runtime{Name: rp.key, Version: d.str(rp.value, join(pp, rp.key))})
			}
		case "commands":
			ph.Commands = d.commands(p.value, pp)
		case "finally":
			ph.Finally = d.commands(p.value, pp)
		default:
			d.unknown(p, path)
		}
	}
	return ph
}

func (d *decoder) reports(n *yaml.Node, path string) []Report {
	var out []Report
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		pp := join(path, p.key)
		r := Report{Group: p.key}
		rps, _ := d.pairs(p.value, pp)
		for _, rp := range rps {
			rpp := join(pp, rp.key)
			switch rp.key {
			case "files":
				r.Files = d.strings(rp.value, rpp)
			case "base-directory":
				r.BaseDirectory = d.str(rp.value, rpp)
			case "discard-paths":
				r.DiscardPaths = d.boolean(rp.value, rpp)
			case "file-format":
				r.FileFormat = strings.ToUpper(d.str(rp.value, rpp))
				if !slices.Contains(ReportFormats, r.FileFormat) {
					d.fail(resolve(rp.value), rpp, "unknown report format %q: want one of %s", r.FileFormat, strings.Join(ReportFormats, ", "))
				}
			default:
				d.unknown(rp, pp)
			}
		}
		out = append(out, r)
	}
	return out
}

func (d *decoder) artifacts(n *yaml.Node, path string, primary bool) Artifacts {
	var a Artifacts
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		pp := join(path, p.key)
		switch p.key {
		case "files":
			a.Files = d.strings(p.value, pp)
		case "name":
			a.Name = d.str(p.value, pp)
		case "discard-paths":
			a.DiscardPaths = d.boolean(p.value, pp)
		case "base-directory":
			a.BaseDirectory = d.str(p.value, pp)
		case "exclude-paths":
			a.ExcludePaths = d.strings(p.value, pp)
		case "enable-symlinks":
			a.EnableSymlinks = d.boolean(p.value, pp)
		case "s3-prefix":
			a.S3Prefix = d.str(p.value, pp)
		case "secondary-artifacts":
			if !primary {
				d.unknown(p, path)
				continue
			}
			sps, _ := d.pairs(p.value, pp)
			for _, sp := range sps {
				if !IsIdentifier(sp.key) {
					d.fail(sp.kNode, join(pp, sp.key), "artifact identifier must be letters, digits and underscores")
				}
				a.Secondary = append(a.Secondary, SecondaryArtifact{Identifier: sp.key, Artifacts: d.artifacts(sp.value, join(pp, sp.key), false)})
			}
		default:
			d.unknown(p, path)
		}
	}
	return a
}

func (d *decoder) cache(n *yaml.Node, path string) *Cache {
	c := &Cache{}
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		pp := join(path, p.key)
		switch p.key {
		case "paths":
			c.Paths = d.strings(p.value, pp)
		case "key":
			c.Key = d.str(p.value, pp)
		case "fallback-keys":
			c.FallbackKeys = d.strings(p.value, pp)
		case "action":
			c.Action = d.str(p.value, pp)
		default:
			d.unknown(p, path)
		}
	}
	return c
}

func (d *decoder) batch(n *yaml.Node, path string) *Batch {
	b := &Batch{}
	if r := resolve(n); r != nil {
		b.Line = r.Line
	}
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		pp := join(path, p.key)
		switch p.key {
		case "fast-fail":
			b.FastFail = d.boolean(p.value, pp)
		case "build-list", "build-graph":
			if b.Kind != "" {
				d.fail(p.kNode, pp, "a batch has one of build-list, build-graph, build-matrix and build-fanout; this one also has %s", b.Kind)
			}
			b.Kind = p.key
			b.Tasks = d.batchTasks(p.value, pp, p.key == "build-graph")
		case "build-matrix", "build-fanout":
			if b.Kind != "" {
				d.fail(p.kNode, pp, "a batch has one of build-list, build-graph, build-matrix and build-fanout; this one also has %s", b.Kind)
			}
			b.Kind = p.key
			known := map[string]bool{"static": true, "dynamic": true}
			if p.key == "build-fanout" {
				known = map[string]bool{"parallelism": true, "ignore-failure": true}
			}
			mps, _ := d.pairs(p.value, pp)
			for _, mp := range mps {
				if !known[mp.key] {
					d.unknown(mp, pp)
				}
			}
		default:
			d.unknown(p, path)
		}
	}
	if b.Kind == "" {
		d.fail(resolve(n), path, "missing build-list, build-graph, build-matrix or build-fanout")
	}
	return b
}

func (d *decoder) batchTasks(n *yaml.Node, path string, graph bool) []BatchTask {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, "expected a sequence of tasks, found %s", kindName(n))
		return nil
	}
	var out []BatchTask
	for i, c := range n.Content {
		ip := index(path, i)
		var t BatchTask
		ps, _ := d.pairs(c, ip)
		for _, p := range ps {
			pp := join(ip, p.key)
			switch p.key {
			case "identifier":
				t.Identifier = d.str(p.value, pp)
			case "buildspec":
				t.Buildspec = d.str(p.value, pp)
			case "depend-on":
				if !graph {
					d.unknown(p, ip)
					continue
				}
				t.DependOn = d.strings(p.value, pp)
			case "ignore-failure":
				t.IgnoreFailure = d.boolean(p.value, pp)
			case "debug-session":
				t.DebugSession = d.boolean(p.value, pp)
			case "env":
				t.Env = d.batchEnv(p.value, pp)
			default:
				d.unknown(p, ip)
			}
		}
		if graph && t.Identifier == "" {
			d.fail(resolve(c), join(ip, "identifier"), "missing: every build-graph task needs an identifier")
		}
		out = append(out, t)
	}
	return out
}

func (d *decoder) batchEnv(n *yaml.Node, path string) BatchEnv {
	var e BatchEnv
	ps, _ := d.pairs(n, path)
	for _, p := range ps {
		pp := join(path, p.key)
		switch p.key {
		case "compute-type":
			e.ComputeType = d.str(p.value, pp)
		case "image":
			e.Image = d.str(p.value, pp)
		case "type":
			e.Type = d.str(p.value, pp)
		case "fleet":
			e.Fleet = d.str(p.value, pp)
		case "privileged-mode":
			e.PrivilegedMode = d.boolean(p.value, pp)
		case "variables":
			e.Variables = d.vars(p.value, pp)
		default:
			d.unknown(p, path)
		}
	}
	return e
}
