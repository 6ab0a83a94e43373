package jsonpath

import (
	"errors"
	"fmt"
)

// ErrNoMatch is wrapped by the error Get returns when a definite path, or the definite
// prefix of a path, selects nothing. Step Functions reports it as States.Runtime.
var ErrNoMatch = errors.New("no match")

// ErrResultPath is wrapped by the error Set returns when the value cannot be placed, for
// example when a member is needed but the document holds a string there. Step Functions
// reports it as States.ResultPathMatchFailure.
var ErrResultPath = errors.New("result path cannot be applied")

// Path is a parsed JSONPath. Parse it once, when the state machine is loaded, and evaluate
// it for every execution.
type Path struct {
	src       string
	context   bool
	segs      []segment
	definite  bool
	reference bool
}

type segKind uint8

const (
	segName     segKind = iota // .name or ['name']
	segIndex                   // [n], or [(@.length-n)] with fromEnd
	segNames                   // ['a','b']
	segIndexes                 // [0,2]
	segWildcard                // .* or [*]
	segSlice                   // [start:end:step]
	segFilter                  // [?(expr)]
	segDescend                 // ..X, with X in inner
)

type segment struct {
	kind    segKind
	end     int // offset in Path.src just past this segment, for error messages
	name    string
	index   int
	fromEnd bool // [(@.length-index)]
	names   []string
	indexes []int
	slice   slice
	filter  *expr
	inner   *segment
}

type slice struct {
	start, end, step int
	hasStart, hasEnd bool
}

// Context reports whether the path starts with "$$" and so reads the context object rather
// than the state input.
func (p *Path) Context() bool { return p.context }

// IsDefinite reports whether the path selects at most one node, so Get returns the node
// itself rather than a list of matches.
func (p *Path) IsDefinite() bool { return p.definite }

// IsReference reports whether the path is a reference path: only single names and single
// indexes, as ResultPath and Choice rule variables require.
func (p *Path) IsReference() bool { return p.reference }

// IsRoot reports whether the path is "$" (or "$$") alone: as a ResultPath it replaces the
// whole document.
func (p *Path) IsRoot() bool { return len(p.segs) == 0 }

// String returns the path as it was written.
func (p *Path) String() string { return p.src }

// SyntaxError reports where a path could not be parsed and what was expected there.
type SyntaxError struct {
	Path   string // the whole path
	Offset int    // byte offset of the problem in Path
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSONPath %q at offset %d: %s", e.Path, e.Offset, e.Msg)
}

// NoMatchError says which part of a path found nothing. It wraps ErrNoMatch.
type NoMatchError struct {
	Path   string // the whole path
	At     string // the prefix of Path that was matched before the failure
	Reason string // e.g. `no member "b"`, `index 3 out of range (length 2)`
}

func (e *NoMatchError) Error() string {
	return fmt.Sprintf("path %s: %s at %s", e.Path, e.Reason, e.At)
}

func (e *NoMatchError) Unwrap() error { return ErrNoMatch }

// MustParse is Parse for paths known to be valid, such as constants in code and tests.
func MustParse(s string) *Path {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// Parse compiles a path. The error is a *SyntaxError.
func Parse(s string) (*Path, error) {
	ps := parser{src: s}
	if s == "" {
		return nil, ps.errorf(0, "empty path, expected '$'")
	}
	if s[0] != '$' {
		return nil, ps.errorf(0, "expected '$' at the start of the path, found %s", quoteByte(s, 0))
	}
	p := &Path{src: s}
	ps.pos = 1
	if len(s) > 1 && s[1] == '$' {
		p.context = true
		ps.pos = 2
	}
	segs, err := ps.segments(0)
	if err != nil {
		return nil, err
	}
	if ps.pos < len(s) {
		if s[ps.pos] == '(' {
			return nil, ps.errorf(ps.pos, "JSONPath functions such as length() are not supported; expected '.' or '['")
		}
		return nil, ps.errorf(ps.pos, "expected '.' or '[', found %s", quoteByte(s, ps.pos))
	}
	p.segs = segs
	p.definite, p.reference = classify(segs)
	return p, nil
}

// classify computes definiteness as Jayway does: a multi-name selection is definite only
// as the last segment, where it yields one merged object.
func classify(segs []segment) (definite, reference bool) {
	definite, reference = true, true
	for i := range segs {
		switch segs[i].kind {
		case segName:
		case segIndex:
			if segs[i].fromEnd {
				reference = false
			}
		case segNames:
			reference = false
			if i != len(segs)-1 {
				definite = false
			}
		default:
			definite, reference = false, false
		}
	}
	return definite, reference
}

func quoteByte(s string, i int) string {
	if i >= len(s) {
		return "end of path"
	}
	r := []rune(s[i:])[0]
	return fmt.Sprintf("%q", r)
}
