package asl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

// template is a compiled payload template (Parameters, ItemSelector, ResultSelector):
// a JSON value whose object fields named "x.$" take their value from a path or an
// intrinsic function at run time.
type template struct {
	root tnode
}

type tnode interface {
	eval(in, ctx any) (any, error)
}

type tconst struct{ v any }

type tobj struct {
	keys []string
	vals []tnode
}

type tarr []tnode

type tpath struct {
	key string
	p   *jsonpath.Path
}

type tcall struct {
	key string
	c   intrinsicCall
}

func (p *parser) template(v any, loc string) *template {
	if _, ok := v.(map[string]any); !ok {
		// Step Functions accepts any JSON value for Parameters; only objects hold paths.
		return &template{root: tconst{v}}
	}
	return &template{root: p.tnode(v, loc)}
}

func (p *parser) tnode(v any, loc string) tnode {
	switch v := v.(type) {
	case map[string]any:
		o := &tobj{}
		dynamic := false
		for _, k := range sortedKeys(v) {
			kloc := loc + "/" + escapePointer(k)
			if name, ok := strings.CutSuffix(k, ".$"); ok {
				dynamic = true
				s, ok := v[k].(string)
				if !ok {
					p.add(kloc, CodeSchema, "the value of a field ending in \".$\" must be a string holding a path or an intrinsic function")
					continue
				}
				o.keys = append(o.keys, name)
				if isIntrinsic(s) {
					c, err := parseIntrinsic(s)
					if err != nil {
						p.add(kloc, CodeInvalidIntrinsic, "invalid intrinsic function %q: %v", s, err)
						continue
					}
					o.vals = append(o.vals, tcall{key: k, c: c})
					continue
				}
				jp := p.parsePath(s, kloc, k, false)
				if jp == nil {
					o.keys = o.keys[:len(o.keys)-1]
					continue
				}
				o.vals = append(o.vals, tpath{key: k, p: jp})
				continue
			}
			n := p.tnode(v[k], kloc)
			if _, ok := n.(tconst); !ok {
				dynamic = true
			}
			o.keys = append(o.keys, k)
			o.vals = append(o.vals, n)
		}
		if !dynamic {
			return tconst{v}
		}
		return o
	case []any:
		a := make(tarr, len(v))
		dynamic := false
		for i, e := range v {
			a[i] = p.tnode(e, loc+"/"+strconv.Itoa(i))
			if _, ok := a[i].(tconst); !ok {
				dynamic = true
			}
		}
		if !dynamic {
			return tconst{v}
		}
		return a
	}
	return tconst{v}
}

func (c tconst) eval(in, ctx any) (any, error) { return c.v, nil }

func (o *tobj) eval(in, ctx any) (any, error) {
	out := make(map[string]any, len(o.keys))
	for i, k := range o.keys {
		v, err := o.vals[i].eval(in, ctx)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func (a tarr) eval(in, ctx any) (any, error) {
	out := make([]any, len(a))
	for i, n := range a {
		v, err := n.eval(in, ctx)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (t tpath) eval(in, ctx any) (any, error) {
	doc := in
	if t.p.Context() {
		doc = ctx
	}
	v, err := t.p.Get(doc)
	if err != nil {
		return nil, &Error{Name: ErrNameParameterPathFailure, Cause: fmt.Sprintf(
			"The JSONPath '%s' specified for the field '%s' could not be found in the input '%s'", t.p, t.key, compactJSON(doc))}
	}
	return v, nil
}

func (t tcall) eval(in, ctx any) (any, error) {
	v, err := t.c.eval(in, ctx)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, &Error{Name: ErrNameIntrinsicFailure, Cause: fmt.Sprintf("field '%s': %v", t.key, err)}
	}
	return v, nil
}

// eval applies the template; errors are *Error (States.ParameterPathFailure or
// States.IntrinsicFailure).
func (t *template) eval(in, ctx any) (any, error) {
	return t.root.eval(in, ctx)
}
