package pipeline

import (
	"errors"
	"fmt"
	"strings"
)

// Reference is one #{namespace.name} variable reference inside a string.
type Reference struct {
	Namespace string
	Name      string
	// Start and End are the byte offsets of "#{" and just past "}".
	Start, End int
}

// String formats the reference as it is written.
func (r Reference) String() string { return "#{" + r.Namespace + "." + r.Name + "}" }

// Namespaces with a fixed meaning.
const (
	// NamespaceCodePipeline holds the variables every execution has.
	NamespaceCodePipeline = "codepipeline"
	// NamespaceVariables holds the pipeline-level variables.
	NamespaceVariables = "variables"
	// VarPipelineExecutionID is the one variable of the codepipeline namespace.
	VarPipelineExecutionID = "PipelineExecutionId"
)

// ParseReferences finds the variable references in s. Text outside "#{…}" is literal.
// A "#{" without a closing "}", or whose content is not namespace.name (namespace of
// [A-Za-z0-9@_-], name of [A-Za-z0-9@_.-]), is an error.
func ParseReferences(s string) ([]Reference, error) {
	var refs []Reference
	for off := 0; ; {
		i := strings.Index(s[off:], "#{")
		if i < 0 {
			return refs, nil
		}
		start := off + i
		j := strings.IndexByte(s[start+2:], '}')
		if j < 0 {
			return refs, fmt.Errorf("variable reference at offset %d has no closing '}'", start)
		}
		end := start + 2 + j + 1
		body := s[start+2 : end-1]
		ns, name, ok := strings.Cut(body, ".")
		if !ok || !validChars(ns, false) || !validChars(name, true) {
			return refs, fmt.Errorf("variable reference %q at offset %d is not #{namespace.name}", s[start:end], start)
		}
		refs = append(refs, Reference{Namespace: ns, Name: name, Start: start, End: end})
		off = end
	}
}

func validChars(s string, dots bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == '_' || c == '-' || c == '@' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || dots && c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// Resolve replaces every reference in s with its value from scope (namespace → name →
// value). A reference scope lacks is an error naming it; all such are reported.
func Resolve(s string, scope map[string]map[string]string) (string, error) {
	refs, err := ParseReferences(s)
	if err != nil {
		return "", err
	}
	if len(refs) == 0 {
		return s, nil
	}
	var b strings.Builder
	var errs []error
	last := 0
	for _, r := range refs {
		b.WriteString(s[last:r.Start])
		v, ok := scope[r.Namespace][r.Name]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown variable %s", r))
		}
		b.WriteString(v)
		last = r.End
	}
	b.WriteString(s[last:])
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return b.String(), nil
}
