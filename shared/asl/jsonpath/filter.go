package jsonpath

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

type exprOp uint8

const (
	opOr exprOp = iota
	opAnd
	opNot
	opCmp   // a cmp b
	opTruth // a alone: a path that exists, or a true literal
)

type cmpOp uint8

const (
	cmpEq cmpOp = iota
	cmpNe
	cmpLt
	cmpLe
	cmpGt
	cmpGe
	cmpIn    // a in [..]
	cmpNin   // a nin [..]
	cmpRegex // a =~ /re/
)

type expr struct {
	op   exprOp
	l, r *expr // opOr, opAnd: both; opNot: l
	cmp  cmpOp
	a, b operand
	re   *regexp.Regexp // for cmpRegex
}

type operandKind uint8

const (
	operandLiteral operandKind = iota
	operandCurrent             // @...
	operandRoot                // $...
)

type operand struct {
	kind operandKind
	lit  any
	path *Path // for @ and $; src is the operand text, segs relative to its start
}

func (ps *parser) orExpr(depth int) (*expr, error) {
	l, err := ps.andExpr(depth)
	if err != nil {
		return nil, err
	}
	for {
		ps.skipSpace()
		if !strings.HasPrefix(ps.src[ps.pos:], "||") {
			return l, nil
		}
		ps.pos += 2
		r, err := ps.andExpr(depth)
		if err != nil {
			return nil, err
		}
		l = &expr{op: opOr, l: l, r: r}
	}
}

func (ps *parser) andExpr(depth int) (*expr, error) {
	l, err := ps.unary(depth)
	if err != nil {
		return nil, err
	}
	for {
		ps.skipSpace()
		if !strings.HasPrefix(ps.src[ps.pos:], "&&") {
			return l, nil
		}
		ps.pos += 2
		r, err := ps.unary(depth)
		if err != nil {
			return nil, err
		}
		l = &expr{op: opAnd, l: l, r: r}
	}
}

func (ps *parser) unary(depth int) (*expr, error) {
	ps.skipSpace()
	if depth > maxNesting {
		return nil, ps.errorf(ps.pos, "filter expression nested more than %d deep", maxNesting)
	}
	switch ps.peek() {
	case '!':
		if !strings.HasPrefix(ps.src[ps.pos:], "!=") {
			ps.pos++
			e, err := ps.unary(depth + 1)
			if err != nil {
				return nil, err
			}
			return &expr{op: opNot, l: e}, nil
		}
	case '(':
		ps.pos++
		e, err := ps.orExpr(depth + 1)
		if err != nil {
			return nil, err
		}
		if err := ps.expect(')', "to close '('"); err != nil {
			return nil, err
		}
		return e, nil
	}
	a, err := ps.operand(depth)
	if err != nil {
		return nil, err
	}
	ps.skipSpace()
	op, n := cmpAt(ps.src[ps.pos:])
	if n == 0 {
		return &expr{op: opTruth, a: a}, nil
	}
	opAt := ps.pos
	ps.pos += n
	ps.skipSpace()
	switch op {
	case cmpRegex:
		re, err := ps.regex()
		if err != nil {
			return nil, err
		}
		return &expr{op: opCmp, cmp: op, a: a, re: re}, nil
	case cmpIn, cmpNin:
		if ps.peek() != '[' && ps.peek() != '@' && ps.peek() != '$' {
			return nil, ps.errorf(ps.pos, "expected an array such as ['a','b'] or a path after %q", ps.src[opAt:opAt+n])
		}
	}
	b, err := ps.operand(depth)
	if err != nil {
		return nil, err
	}
	return &expr{op: opCmp, cmp: op, a: a, b: b}, nil
}

func cmpAt(s string) (cmpOp, int) {
	switch {
	case strings.HasPrefix(s, "=="):
		return cmpEq, 2
	case strings.HasPrefix(s, "!="):
		return cmpNe, 2
	case strings.HasPrefix(s, "<="):
		return cmpLe, 2
	case strings.HasPrefix(s, ">="):
		return cmpGe, 2
	case strings.HasPrefix(s, "<"):
		return cmpLt, 1
	case strings.HasPrefix(s, ">"):
		return cmpGt, 1
	case strings.HasPrefix(s, "=~"):
		return cmpRegex, 2
	case hasWord(s, "nin"):
		return cmpNin, 3
	case hasWord(s, "in"):
		return cmpIn, 2
	}
	return 0, 0
}

// hasWord reports whether s starts with the keyword w standing alone.
func hasWord(s, w string) bool {
	return strings.HasPrefix(s, w) && (len(s) == len(w) || strings.IndexByte(" \t\r\n[@$", s[len(w)]) >= 0)
}

// regex reads a /pattern/ literal with an optional i flag. Jayway matches the whole
// string, so the pattern is anchored.
func (ps *parser) regex() (*regexp.Regexp, error) {
	start := ps.pos
	if ps.peek() != '/' {
		return nil, ps.errorf(ps.pos, "expected a regular expression such as /^a.*/ after '=~', found %s", quoteByte(ps.src, ps.pos))
	}
	ps.pos++
	var b strings.Builder
	for {
		if ps.pos >= len(ps.src) {
			return nil, ps.errorf(start, "unterminated regular expression, expected a closing '/'")
		}
		c := ps.src[ps.pos]
		if c == '/' {
			break
		}
		if c == '\\' && ps.pos+1 < len(ps.src) && ps.src[ps.pos+1] == '/' {
			c = '/'
			ps.pos++
		} else if c == '\\' && ps.pos+1 < len(ps.src) {
			b.WriteByte(c)
			ps.pos++
			c = ps.src[ps.pos]
		}
		b.WriteByte(c)
		ps.pos++
	}
	ps.pos++
	flags := ""
	if ps.peek() == 'i' {
		flags = "(?i)"
		ps.pos++
	}
	re, err := regexp.Compile(flags + "^(?:" + b.String() + ")$")
	if err != nil {
		return nil, ps.errorf(start, "invalid regular expression: %v", err)
	}
	return re, nil
}

func (ps *parser) operand(depth int) (operand, error) {
	ps.skipSpace()
	start := ps.pos
	c := ps.peek()
	switch {
	case c == '@' || c == '$':
		ps.pos++
		kind := operandCurrent
		if c == '$' {
			kind = operandRoot
		}
		segs, err := ps.segments(depth)
		if err != nil {
			return operand{}, err
		}
		p := &Path{src: ps.src[start:ps.pos], segs: segs}
		p.definite, p.reference = classify(segs)
		// Segment offsets were recorded against the whole path; rebase them onto the
		// operand so that error messages show the operand's own prefix.
		for i := range p.segs {
			p.segs[i].end -= start
		}
		return operand{kind: kind, path: p}, nil
	case c == '\'' || c == '"':
		s, err := ps.quoted()
		if err != nil {
			return operand{}, err
		}
		return operand{lit: s}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		n, err := ps.number()
		if err != nil {
			return operand{}, err
		}
		return operand{lit: n}, nil
	case c == '[':
		ps.pos++
		list := []any{}
		for {
			ps.skipSpace()
			if ps.peek() == ']' && len(list) == 0 {
				ps.pos++
				return operand{lit: list}, nil
			}
			if depth >= maxNesting {
				return operand{}, ps.errorf(ps.pos, "array literal nested more than %d deep", maxNesting)
			}
			item, err := ps.operand(depth + 1)
			if err != nil {
				return operand{}, err
			}
			if item.kind != operandLiteral {
				return operand{}, ps.errorf(start, "array literals in filters hold only strings, numbers, true, false and null")
			}
			list = append(list, item.lit)
			ps.skipSpace()
			if ps.peek() == ',' {
				ps.pos++
				continue
			}
			if err := ps.expect(']', "to close the array literal"); err != nil {
				return operand{}, err
			}
			return operand{lit: list}, nil
		}
	}
	for _, w := range [...]struct {
		word string
		val  any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if strings.HasPrefix(ps.src[ps.pos:], w.word) {
			ps.pos += len(w.word)
			return operand{lit: w.val}, nil
		}
	}
	return operand{}, ps.errorf(start, "expected '@', '$', a string, a number, true, false or null in the filter, found %s", quoteByte(ps.src, start))
}

// match evaluates the filter for one candidate node.
func (e *expr) match(root, cur any) bool {
	switch e.op {
	case opOr:
		return e.l.match(root, cur) || e.r.match(root, cur)
	case opAnd:
		return e.l.match(root, cur) && e.r.match(root, cur)
	case opNot:
		return !e.l.match(root, cur)
	case opTruth:
		v, ok := e.a.value(root, cur)
		if e.a.kind == operandLiteral {
			b, isBool := v.(bool)
			return !isBool || b
		}
		return ok
	}
	a, aok := e.a.value(root, cur)
	if e.cmp == cmpRegex {
		s, ok := a.(string)
		if !ok {
			s, ok = numberText(a) // Jayway matches a number by its text: 8.95 =~ /8.*/
		}
		return aok && ok && e.re.MatchString(s)
	}
	b, bok := e.b.value(root, cur)
	if !aok || !bok {
		return false // even for !=, as in Jayway 2.0
	}
	switch e.cmp {
	case cmpIn, cmpNin:
		list, ok := b.([]any)
		if !ok {
			return false
		}
		found := false
		for _, v := range list {
			if filterEqual(a, v) {
				found = true
				break
			}
		}
		return found == (e.cmp == cmpIn)
	case cmpEq:
		return filterEqual(a, b)
	case cmpNe:
		return !filterEqual(a, b)
	}
	c, ok := order(coerce(a, b))
	if !ok {
		return false
	}
	switch e.cmp {
	case cmpLt:
		return c < 0
	case cmpLe:
		return c <= 0
	case cmpGt:
		return c > 0
	default:
		return c >= 0
	}
}

// coerce turns a string compared with a number into that number when it reads as one, as
// Jayway does: @.price == '8.950' holds for a price of 8.95.
func coerce(a, b any) (any, any) {
	_, as := a.(string)
	_, bs := b.(string)
	if as == bs {
		return a, b
	}
	if _, ok := Number(a); ok && bs {
		if f, err := strconv.ParseFloat(strings.TrimSpace(b.(string)), 64); err == nil {
			return a, f
		}
	}
	if _, ok := Number(b); ok && as {
		if f, err := strconv.ParseFloat(strings.TrimSpace(a.(string)), 64); err == nil {
			return f, b
		}
	}
	return a, b
}

func numberText(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		return string(n), true
	case float64:
		return strconv.FormatFloat(n, 'g', -1, 64), true
	case int:
		return strconv.Itoa(n), true
	case int64:
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}

func filterEqual(a, b any) bool {
	return Equal(coerce(a, b))
}

// value resolves an operand; ok is false when its path selects nothing.
func (o *operand) value(root, cur any) (any, bool) {
	switch o.kind {
	case operandLiteral:
		return o.lit, true
	case operandRoot:
		cur = root
	}
	v, err := o.path.eval(root, cur)
	if err != nil {
		return nil, false
	}
	if !o.path.definite {
		if l, _ := v.([]any); len(l) == 0 {
			return nil, false
		}
	}
	return v, true
}
