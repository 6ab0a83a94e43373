package buildrunner

import (
	"os"
	"sort"
	"strings"
)

// envList is an environment being built: later values replace earlier ones, and the
// order of first appearance is kept.
type envList struct {
	order []string
	vals  map[string]string
}

// newEnvList starts from base (KEY=VALUE entries); nil is this process's environment.
func newEnvList(base []string) *envList {
	if base == nil {
		base = os.Environ()
	}
	e := &envList{vals: map[string]string{}}
	for _, kv := range base {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			e.set(k, v)
		}
	}
	return e
}

func (e *envList) set(k, v string) {
	if _, ok := e.vals[k]; !ok {
		e.order = append(e.order, k)
	}
	e.vals[k] = v
}

func (e *envList) unset(k string) {
	if _, ok := e.vals[k]; !ok {
		return
	}
	delete(e.vals, k)
	for i, n := range e.order {
		if n == k {
			e.order = append(e.order[:i], e.order[i+1:]...)
			break
		}
	}
}

func (e *envList) names() []string { return append([]string(nil), e.order...) }

func (e *envList) list() []string {
	out := make([]string, 0, len(e.order))
	for _, k := range e.order {
		out = append(out, k+"="+e.vals[k])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
