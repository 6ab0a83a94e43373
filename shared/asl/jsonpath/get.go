package jsonpath

import (
	"fmt"
	"slices"
	"strconv"
)

// Get evaluates the path against doc. A definite path returns the selected value, or an
// error wrapping ErrNoMatch (a *NoMatchError) naming what was missing. An indefinite path
// returns a []any of every match, empty when there is none; it fails only when a definite
// prefix fails, as in Jayway. Get never modifies doc; the result aliases it.
func (p *Path) Get(doc any) (any, error) {
	return p.eval(doc, doc)
}

// eval runs the path from cur; root is what $ means inside filters.
func (p *Path) eval(root, cur any) (any, error) {
	if p.definite {
		return p.getDefinite(cur)
	}
	out := make([]any, 0, 4)
	if err := p.walk(root, cur, 0, true, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// getDefinite is the hot path for InputPath, OutputPath and ".$" fields: a loop of map
// and slice lookups with no allocation unless it fails.
func (p *Path) getDefinite(cur any) (any, error) {
	for i := range p.segs {
		seg := &p.segs[i]
		switch seg.kind {
		case segName:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, p.noMatch(i, "expected an object with member %q, found %s", seg.name, typeName(cur))
			}
			v, ok := m[seg.name]
			if !ok {
				return nil, p.noMatch(i, "no member %q", seg.name)
			}
			cur = v
		case segIndex:
			a, ok := cur.([]any)
			if !ok {
				return nil, p.noMatch(i, "expected an array for index %d, found %s", seg.index, typeName(cur))
			}
			idx, ok := seg.resolve(len(a))
			if !ok {
				return nil, p.noMatch(i, "%s out of range (length %d)", seg.indexText(), len(a))
			}
			cur = a[idx]
		case segNames: // only as the last segment, or the path would be indefinite
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, p.noMatch(i, "expected an object with members %q, found %s", seg.names, typeName(cur))
			}
			cur = merge(m, seg.names)
		}
	}
	return cur, nil
}

// merge builds the object Jayway yields for ['a','b'] as the last segment: the members
// that exist, missing ones left out.
func merge(m map[string]any, names []string) map[string]any {
	out := make(map[string]any, len(names))
	for _, n := range names {
		if v, ok := m[n]; ok {
			out[n] = v
		}
	}
	return out
}

// resolve returns the element an index segment selects in an array of length n. Negative
// indexes select nothing: Step Functions rejects $.a[-1] (its Jayway version predates
// negative indexes) and offers [(@.length-1)] instead.
func (s *segment) resolve(n int) (int, bool) {
	idx := s.index
	if s.fromEnd {
		idx = n - s.index
	}
	return idx, idx >= 0 && idx < n
}

func (s *segment) indexText() string {
	if s.fromEnd {
		return fmt.Sprintf("index (@.length-%d)", s.index)
	}
	return fmt.Sprintf("index %d", s.index)
}

func hasAll(m map[string]any, names []string) bool {
	for _, n := range names {
		if _, ok := m[n]; !ok {
			return false
		}
	}
	return true
}

// walk evaluates segment i onwards from cur, appending matches to out. upDefinite says
// that every segment before i was definite, in which case a failure is an error rather
// than an empty branch.
func (p *Path) walk(root, cur any, i int, upDefinite bool, out *[]any) error {
	if i == len(p.segs) {
		*out = append(*out, cur)
		return nil
	}
	return p.apply(root, &p.segs[i], cur, i, upDefinite, out)
}

// apply applies seg (segment i, or the inner segment of a descent at i) to cur and
// continues with segment i+1.
func (p *Path) apply(root any, seg *segment, cur any, i int, upDefinite bool, out *[]any) error {
	leaf := i == len(p.segs)-1
	next := upDefinite && (seg.kind == segName || seg.kind == segIndex)
	switch seg.kind {
	case segName:
		m, ok := cur.(map[string]any)
		if !ok {
			if upDefinite {
				return p.noMatch(i, "expected an object with member %q, found %s", seg.name, typeName(cur))
			}
			return nil
		}
		v, ok := m[seg.name]
		if !ok {
			return nil // in an indefinite path a missing member is no match, as in Jayway 2.0
		}
		return p.walk(root, v, i+1, next, out)
	case segNames:
		m, ok := cur.(map[string]any)
		if !ok {
			if upDefinite {
				return p.noMatch(i, "expected an object with members %q, found %s", seg.names, typeName(cur))
			}
			return nil
		}
		if leaf {
			*out = append(*out, merge(m, seg.names))
			return nil
		}
		for _, n := range seg.names {
			if v, ok := m[n]; ok {
				if err := p.walk(root, v, i+1, false, out); err != nil {
					return err
				}
			}
		}
		return nil
	case segIndex, segIndexes, segSlice:
		a, ok := cur.([]any)
		if !ok {
			// Jayway 2.0 fails on an array operation applied to anything but an array,
			// even below a wildcard.
			return p.noMatch(i, "expected an array, found %s", typeName(cur))
		}
		switch seg.kind {
		case segIndex:
			idx, ok := seg.resolve(len(a))
			if !ok {
				if upDefinite { // as in Jayway 2.0, e.g. $.a[7][*]
					return p.noMatch(i, "%s out of range (length %d)", seg.indexText(), len(a))
				}
				return nil
			}
			return p.walk(root, a[idx], i+1, next, out)
		case segIndexes:
			for _, idx := range seg.indexes {
				if idx < 0 || idx >= len(a) {
					// Jayway 2.0 fails the whole path here unless an earlier segment
					// was indefinite, in which case the index is skipped.
					if upDefinite {
						return p.noMatch(i, "index %d out of range (length %d)", idx, len(a))
					}
					continue
				}
				if err := p.walk(root, a[idx], i+1, false, out); err != nil {
					return err
				}
			}
			return nil
		}
		start, end, step := seg.slice.bounds(len(a))
		for j := start; (step > 0 && j < end) || (step < 0 && j > end); j += step {
			if err := p.walk(root, a[j], i+1, false, out); err != nil {
				return err
			}
		}
		return nil
	case segWildcard:
		switch c := cur.(type) {
		case map[string]any:
			for _, k := range sortedKeys(c) {
				if err := p.walk(root, c[k], i+1, false, out); err != nil {
					return err
				}
			}
		case []any:
			for _, v := range c {
				if err := p.walk(root, v, i+1, false, out); err != nil {
					return err
				}
			}
		}
		return nil
	case segFilter:
		switch c := cur.(type) {
		case map[string]any:
			if seg.filter.match(root, c) {
				return p.walk(root, c, i+1, false, out)
			}
		case []any:
			for _, v := range c {
				// "The @ operator ... does not match scalar values. It only matches
				// objects." (Step Functions developer guide)
				if m, ok := v.(map[string]any); ok && seg.filter.match(root, m) {
					if err := p.walk(root, m, i+1, false, out); err != nil {
						return err
					}
				}
			}
		default:
			if upDefinite {
				return p.noMatch(i, "a filter needs an array or object, found %s", typeName(cur))
			}
		}
		return nil
	case segDescend:
		return p.descend(root, seg.inner, cur, i, out)
	}
	return nil
}

// descend applies inner at cur and then at every node below it, parents before children.
func (p *Path) descend(root any, inner *segment, cur any, i int, out *[]any) error {
	if inner.kind == segFilter {
		// Jayway tests a filter in a scan against each object itself; applying it to
		// arrays as well would report every match twice.
		if m, ok := cur.(map[string]any); ok && inner.filter.match(root, m) {
			if err := p.walk(root, m, i+1, false, out); err != nil {
				return err
			}
		}
	} else if inner.kind == segNames && i == len(p.segs)-1 {
		// As in Jayway, a scan for ['a','b'] selects the objects holding all the names.
		if m, ok := cur.(map[string]any); ok && hasAll(m, inner.names) {
			*out = append(*out, merge(m, inner.names))
		}
	} else if _, isArray := cur.([]any); !isArray && (inner.kind == segIndex || inner.kind == segIndexes || inner.kind == segSlice) {
		// A scan applies array operations to the arrays it meets and passes over the rest.
	} else if err := p.apply(root, inner, cur, i, false, out); err != nil {
		return err
	}
	switch c := cur.(type) {
	case map[string]any:
		for _, k := range sortedKeys(c) {
			if err := p.descend(root, inner, c[k], i, out); err != nil {
				return err
			}
		}
	case []any:
		for _, v := range c {
			if err := p.descend(root, inner, v, i, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// bounds resolves a slice against an array of length n the way Python does, which for
// the step-less form matches Jayway.
func (s slice) bounds(n int) (start, end, step int) {
	step = s.step
	if step > 0 {
		start, end = 0, n
		if s.hasStart {
			start = clampIndex(s.start, n, 0, n)
		}
		if s.hasEnd {
			end = clampIndex(s.end, n, 0, n)
		}
		return start, end, step
	}
	start, end = n-1, -1
	if s.hasStart {
		start = clampIndex(s.start, n, -1, n-1)
	}
	if s.hasEnd {
		end = clampIndex(s.end, n, -1, n-1)
	}
	return start, end, step
}

func clampIndex(i, n, lo, hi int) int {
	if i < 0 {
		i += n
	}
	return max(lo, min(i, hi))
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (p *Path) noMatch(i int, format string, args ...any) error {
	at := "$"
	if p.context {
		at = "$$"
	}
	if i > 0 {
		at = p.src[:p.segs[i-1].end]
	}
	return &NoMatchError{Path: p.src, At: at, Reason: fmt.Sprintf(format, args...)}
}

// typeName names a JSON value's type for error messages.
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array of length " + strconv.Itoa(len(x))
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	if _, ok := Number(v); ok {
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}
