package jsonpath

import (
	"fmt"
	"maps"
)

// ResultPathError says why Set could not place a value. It wraps ErrResultPath.
type ResultPathError struct {
	Path   string // the whole path
	At     string // the prefix of Path that was reached
	Reason string
}

func (e *ResultPathError) Error() string {
	return fmt.Sprintf("result path %s: %s at %s", e.Path, e.Reason, e.At)
}

func (e *ResultPathError) Unwrap() error { return ErrResultPath }

// Set returns a copy of doc with value placed at the reference path p, as ResultPath does.
// Only the objects and arrays along the path are copied; the rest is shared with doc, which
// is never modified. Missing objects along the path are created; "$" replaces the whole
// document. Setting a member of something that is not an object, or an element of something
// that is not an array or out of its range, fails with an error wrapping ErrResultPath.
func Set(doc any, p *Path, value any) (any, error) {
	if p.context {
		return nil, &ResultPathError{Path: p.src, At: "$$", Reason: "cannot write to the context object"}
	}
	if !p.reference {
		return nil, &ResultPathError{Path: p.src, At: "$", Reason: "not a reference path (only .name, ['name'] and [n] may be used)"}
	}
	return p.set(doc, true, 0, value)
}

// set places value at segment i onwards below cur; present is false when cur is a member
// that does not exist yet.
func (p *Path) set(cur any, present bool, i int, value any) (any, error) {
	if i == len(p.segs) {
		return value, nil
	}
	seg := &p.segs[i]
	switch seg.kind {
	case segName:
		var m map[string]any
		switch c := cur.(type) {
		case map[string]any:
			if !present {
				break
			}
			m = maps.Clone(c) // copies the table wholesale, faster than inserting key by key
		default:
			if present {
				return nil, p.setError(i, "expected an object to hold member %q, found %s", seg.name, typeName(cur))
			}
		}
		if m == nil {
			m = make(map[string]any, 1)
		}
		child, ok := m[seg.name]
		v, err := p.set(child, ok, i+1, value)
		if err != nil {
			return nil, err
		}
		m[seg.name] = v
		return m, nil
	case segIndex:
		a, ok := cur.([]any)
		if !present || !ok {
			found := "nothing"
			if present {
				found = typeName(cur)
			}
			return nil, p.setError(i, "expected an array for index %d, found %s", seg.index, found)
		}
		idx, ok := seg.resolve(len(a))
		if !ok {
			return nil, p.setError(i, "%s out of range (length %d)", seg.indexText(), len(a))
		}
		v, err := p.set(a[idx], true, i+1, value)
		if err != nil {
			return nil, err
		}
		b := make([]any, len(a))
		copy(b, a)
		b[idx] = v
		return b, nil
	}
	return nil, p.setError(i, "not a reference path")
}

func (p *Path) setError(i int, format string, args ...any) error {
	at := "$"
	if i > 0 {
		at = p.src[:p.segs[i-1].end]
	}
	return &ResultPathError{Path: p.src, At: at, Reason: fmt.Sprintf(format, args...)}
}
