package jsonpath

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxNesting bounds filter nesting ([?(@.a[?(@.b[?(...)])])]) and parentheses so that a
// hostile path cannot exhaust the stack.
const maxNesting = 32

type parser struct {
	src string
	pos int
}

func (ps *parser) errorf(off int, format string, args ...any) error {
	return &SyntaxError{Path: ps.src, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func (ps *parser) peek() byte {
	if ps.pos < len(ps.src) {
		return ps.src[ps.pos]
	}
	return 0
}

func (ps *parser) skipSpace() {
	for ps.pos < len(ps.src) {
		switch ps.src[ps.pos] {
		case ' ', '\t', '\n', '\r':
			ps.pos++
		default:
			return
		}
	}
}

// segments reads segments until the next byte cannot start one. Inside a filter that is
// where the operand ends; at the top level Parse rejects anything left over.
func (ps *parser) segments(depth int) ([]segment, error) {
	var segs []segment
	for ps.pos < len(ps.src) {
		var seg segment
		var err error
		switch ps.src[ps.pos] {
		case '.':
			if strings.HasPrefix(ps.src[ps.pos:], "..") {
				ps.pos += 2
				inner, err := ps.dotTarget(depth, "after '..'")
				if err != nil {
					return nil, err
				}
				seg = segment{kind: segDescend, inner: &inner}
			} else {
				ps.pos++
				seg, err = ps.dotTarget(depth, "after '.'")
			}
		case '[':
			seg, err = ps.bracket(depth)
		default:
			return segs, nil
		}
		if err != nil {
			return nil, err
		}
		seg.end = ps.pos
		segs = append(segs, seg)
	}
	return segs, nil
}

// dotTarget reads what follows '.' or '..': a name, '*', or a bracket.
func (ps *parser) dotTarget(depth int, where string) (segment, error) {
	switch ps.peek() {
	case '*':
		ps.pos++
		return segment{kind: segWildcard}, nil
	case '[':
		return ps.bracket(depth)
	}
	start := ps.pos
	for ps.pos < len(ps.src) && !isNameStop(ps.src[ps.pos]) {
		ps.pos++
	}
	if ps.pos == start {
		return segment{}, ps.errorf(start, "expected a member name, '*' or '[' %s, found %s", where, quoteByte(ps.src, start))
	}
	return segment{kind: segName, name: ps.src[start:ps.pos]}, nil
}

// isNameStop lists the bytes that end a dot-notation name. Jayway is lenient about what a
// name holds (the Step Functions guide only recommends brackets for punctuation), so
// everything else is part of the name; the operators end it so that filter expressions
// such as @.price<10 parse.
func isNameStop(c byte) bool {
	switch c {
	case '.', '[', ']', '(', ')', '\'', '"', ',', '=', '!', '<', '>', '&', '|', '*', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

func (ps *parser) expect(c byte, what string) error {
	ps.skipSpace()
	if ps.peek() != c {
		return ps.errorf(ps.pos, "expected %q %s, found %s", c, what, quoteByte(ps.src, ps.pos))
	}
	ps.pos++
	return nil
}

// bracket reads a [...] segment; ps.pos is at '['.
func (ps *parser) bracket(depth int) (segment, error) {
	open := ps.pos
	ps.pos++
	ps.skipSpace()
	switch c := ps.peek(); {
	case c == '*':
		ps.pos++
		if err := ps.expect(']', "to close '[*'"); err != nil {
			return segment{}, err
		}
		return segment{kind: segWildcard}, nil
	case c == '?':
		ps.pos++
		if err := ps.expect('(', "after '[?'"); err != nil {
			return segment{}, err
		}
		if depth >= maxNesting {
			return segment{}, ps.errorf(ps.pos, "filters nested more than %d deep", maxNesting)
		}
		e, err := ps.orExpr(depth + 1)
		if err != nil {
			return segment{}, err
		}
		if err := ps.expect(')', "to close the filter expression"); err != nil {
			return segment{}, err
		}
		if err := ps.expect(']', "to close '[?(...)'"); err != nil {
			return segment{}, err
		}
		return segment{kind: segFilter, filter: e}, nil
	case c == '\'' || c == '"':
		var names []string
		for {
			ps.skipSpace()
			name, err := ps.quoted()
			if err != nil {
				return segment{}, err
			}
			names = append(names, name)
			ps.skipSpace()
			if ps.peek() == ',' {
				ps.pos++
				continue
			}
			if err := ps.expect(']', "after a quoted member name"); err != nil {
				return segment{}, err
			}
			break
		}
		if len(names) == 1 {
			return segment{kind: segName, name: names[0]}, nil
		}
		return segment{kind: segNames, names: names}, nil
	case c == '-' || c == ':' || (c >= '0' && c <= '9'):
		return ps.indexOrSlice()
	case c == '(':
		return ps.lengthIndex()
	default:
		return segment{}, ps.errorf(ps.pos, "expected '*', '?(', a quoted name, an index, a slice or (@.length-n) after '[' at offset %d, found %s", open, quoteByte(ps.src, ps.pos))
	}
}

func (ps *parser) indexOrSlice() (segment, error) {
	first, hasFirst, err := ps.optInt()
	if err != nil {
		return segment{}, err
	}
	ps.skipSpace()
	if ps.peek() == ':' {
		ps.pos++
		sl := slice{start: first, hasStart: hasFirst, step: 1}
		ps.skipSpace()
		if sl.end, sl.hasEnd, err = ps.optInt(); err != nil {
			return segment{}, err
		}
		ps.skipSpace()
		if ps.peek() == ':' {
			ps.pos++
			ps.skipSpace()
			stepAt := ps.pos
			step, hasStep, err := ps.optInt()
			if err != nil {
				return segment{}, err
			}
			if hasStep {
				if step == 0 {
					return segment{}, ps.errorf(stepAt, "slice step must not be 0")
				}
				sl.step = step
			}
		}
		if err := ps.expect(']', "to close the slice"); err != nil {
			return segment{}, err
		}
		return segment{kind: segSlice, slice: sl}, nil
	}
	if !hasFirst {
		return segment{}, ps.errorf(ps.pos, "expected an index")
	}
	idx := []int{first}
	for {
		ps.skipSpace()
		if ps.peek() != ',' {
			break
		}
		ps.pos++
		ps.skipSpace()
		n, ok, err := ps.optInt()
		if err != nil {
			return segment{}, err
		}
		if !ok {
			return segment{}, ps.errorf(ps.pos, "expected an index after ',', found %s", quoteByte(ps.src, ps.pos))
		}
		idx = append(idx, n)
	}
	if err := ps.expect(']', "after an array index"); err != nil {
		return segment{}, err
	}
	if len(idx) == 1 {
		return segment{kind: segIndex, index: idx[0]}, nil
	}
	return segment{kind: segIndexes, indexes: idx}, nil
}

// optInt reads an optional signed decimal integer.
func (ps *parser) optInt() (int, bool, error) {
	start := ps.pos
	if ps.peek() == '-' {
		ps.pos++
	}
	digits := ps.pos
	for ps.pos < len(ps.src) && ps.src[ps.pos] >= '0' && ps.src[ps.pos] <= '9' {
		ps.pos++
	}
	if ps.pos == digits {
		if ps.pos != start {
			return 0, false, ps.errorf(ps.pos, "expected digits after '-', found %s", quoteByte(ps.src, ps.pos))
		}
		return 0, false, nil
	}
	n, err := strconv.ParseInt(ps.src[start:ps.pos], 10, 32)
	if err != nil {
		return 0, false, ps.errorf(start, "index %s is out of range", ps.src[start:ps.pos])
	}
	return int(n), true, nil
}

// quoted reads a '...' or "..." string with JSON-style backslash escapes; \' is accepted in
// both kinds.
func (ps *parser) quoted() (string, error) {
	q := ps.peek()
	if q != '\'' && q != '"' {
		return "", ps.errorf(ps.pos, "expected a quoted name, found %s", quoteByte(ps.src, ps.pos))
	}
	open := ps.pos
	ps.pos++
	var b strings.Builder
	plain := ps.pos
	for ps.pos < len(ps.src) {
		c := ps.src[ps.pos]
		switch {
		case c == q:
			s := ps.src[plain:ps.pos]
			ps.pos++
			if b.Len() == 0 {
				return s, nil
			}
			b.WriteString(s)
			return b.String(), nil
		case c == '\\':
			b.WriteString(ps.src[plain:ps.pos])
			if err := ps.escape(&b); err != nil {
				return "", err
			}
			plain = ps.pos
		default:
			ps.pos++
		}
	}
	return "", ps.errorf(open, "unterminated string, expected closing %c", q)
}

// escape decodes one backslash escape at ps.pos into b.
func (ps *parser) escape(b *strings.Builder) error {
	at := ps.pos
	ps.pos++
	if ps.pos >= len(ps.src) {
		return ps.errorf(at, "unfinished escape at end of path")
	}
	c := ps.src[ps.pos]
	ps.pos++
	switch c {
	case '\'', '"', '\\', '/':
		b.WriteByte(c)
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'u':
		r, err := ps.hex4(at)
		if err != nil {
			return err
		}
		if utf16.IsSurrogate(r) && strings.HasPrefix(ps.src[ps.pos:], `\u`) {
			save := ps.pos
			ps.pos += 2
			r2, err := ps.hex4(save)
			if err == nil {
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					b.WriteRune(d)
					return nil
				}
			}
			ps.pos = save
		}
		b.WriteRune(r)
	default:
		return ps.errorf(at, "unknown escape \\%c", c)
	}
	return nil
}

func (ps *parser) hex4(at int) (rune, error) {
	if ps.pos+4 > len(ps.src) {
		return 0, ps.errorf(at, `expected four hex digits after \u`)
	}
	n, err := strconv.ParseUint(ps.src[ps.pos:ps.pos+4], 16, 32)
	if err != nil {
		return 0, ps.errorf(at, `expected four hex digits after \u`)
	}
	ps.pos += 4
	return rune(n), nil
}

// number reads a JSON number literal in a filter.
func (ps *parser) number() (json.Number, error) {
	start := ps.pos
	if ps.peek() == '-' {
		ps.pos++
	}
	digits := ps.pos
	for ps.pos < len(ps.src) && isNumberByte(ps.src[ps.pos]) {
		ps.pos++
	}
	lit := ps.src[start:ps.pos]
	if ps.pos == digits || !json.Valid([]byte(lit)) {
		return "", ps.errorf(start, "invalid number %q", lit)
	}
	return json.Number(lit), nil
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// lengthIndex reads [(@.length-n)], the script index that Jayway 2.0 evaluates and Step
// Functions accepts for "n-th from the end", where a negative index such as [-1] selects
// nothing. ps.pos is at '('.
func (ps *parser) lengthIndex() (segment, error) {
	start := ps.pos
	ps.pos++
	ps.skipSpace()
	if !strings.HasPrefix(ps.src[ps.pos:], "@.length") {
		return segment{}, ps.errorf(start, "expected (@.length-n): script expressions other than @.length-n are not supported")
	}
	ps.pos += len("@.length")
	ps.skipSpace()
	if ps.peek() != '-' {
		return segment{}, ps.errorf(ps.pos, "expected '-' after (@.length, found %s", quoteByte(ps.src, ps.pos))
	}
	ps.pos++
	ps.skipSpace()
	at := ps.pos
	n, ok, err := ps.optInt()
	if err != nil {
		return segment{}, err
	}
	if !ok || n < 0 {
		return segment{}, ps.errorf(at, "expected a non-negative number after (@.length-")
	}
	if err := ps.expect(')', "to close (@.length-n"); err != nil {
		return segment{}, err
	}
	if err := ps.expect(']', "after (@.length-n)"); err != nil {
		return segment{}, err
	}
	return segment{kind: segIndex, index: n, fromEnd: true}, nil
}
