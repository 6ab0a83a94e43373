package intrinsic

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

// maxDepth is how deeply Step Functions lets intrinsic calls nest.
const maxDepth = 10

// ErrIntrinsicFailure is wrapped by every *Error: a function was given arguments it cannot
// work with. Step Functions reports it as States.IntrinsicFailure.
var ErrIntrinsicFailure = errors.New("States.IntrinsicFailure")

// Error is a failed function evaluation.
type Error struct {
	Func string // e.g. "States.ArrayRange"
	Msg  string
}

func (e *Error) Error() string { return e.Func + ": " + e.Msg }

func (e *Error) Unwrap() error { return ErrIntrinsicFailure }

// SyntaxError reports where an intrinsic expression could not be parsed and why.
type SyntaxError struct {
	Expr   string // the whole expression
	Offset int    // byte offset of the problem in Expr
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid intrinsic function %q at offset %d: %s", e.Expr, e.Offset, e.Msg)
}

// Call is a parsed intrinsic function call.
type Call struct {
	// Name is the function's full name, such as "States.Format".
	Name string
	fn   *function
	args []arg
	src  string // the call's own text
}

// String returns the call as it was written.
func (c *Call) String() string { return c.src }

type argKind uint8

const (
	argLiteral argKind = iota
	argPath
	argCall
)

type arg struct {
	kind argKind
	lit  any
	// holes lists where, in a string literal's decoded value, an unescaped {} starts: the
	// placeholders States.Format fills. Escaped \{\} are not among them.
	holes []int
	path  *jsonpath.Path
	call  *Call
	pos   int // offset in the expression, for messages
}

// IsIntrinsic reports whether a ".$" field's value is an intrinsic function call rather
// than a path.
func IsIntrinsic(s string) bool { return strings.HasPrefix(s, "States.") }

// Parse compiles an intrinsic function expression. The error is a *SyntaxError.
func Parse(s string) (*Call, error) {
	p := &parser{src: s}
	p.skipSpace()
	c, err := p.call(1)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(s) {
		return nil, p.errorf(p.pos, "unexpected %s after the closing ')'", p.found())
	}
	return c, nil
}

type parser struct {
	src string
	pos int
}

func (p *parser) errorf(off int, format string, args ...any) error {
	return &SyntaxError{Expr: p.src, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) found() string {
	if p.pos >= len(p.src) {
		return "end of expression"
	}
	return fmt.Sprintf("%q", []rune(p.src[p.pos:])[0])
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

func (p *parser) call(depth int) (*Call, error) {
	start := p.pos
	if !strings.HasPrefix(p.src[p.pos:], "States.") {
		return nil, p.errorf(p.pos, "expected a call such as States.Format(...), found %s", p.found())
	}
	if depth > maxDepth {
		return nil, p.errorf(p.pos, "intrinsic functions nested more than %d deep", maxDepth)
	}
	p.pos += len("States.")
	nameStart := p.pos
	for p.pos < len(p.src) && isIdentByte(p.src[p.pos]) {
		p.pos++
	}
	name := p.src[start:p.pos]
	fn, ok := functions[p.src[nameStart:p.pos]]
	if !ok {
		return nil, p.errorf(start, "unknown intrinsic function %q", name)
	}
	p.skipSpace()
	if p.pos >= len(p.src) || p.src[p.pos] != '(' {
		return nil, p.errorf(p.pos, "expected '(' after %s, found %s", name, p.found())
	}
	p.pos++
	c := &Call{Name: name, fn: fn}
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			a, err := p.arg(depth)
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			p.skipSpace()
			if p.pos < len(p.src) && p.src[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.pos < len(p.src) && p.src[p.pos] == ')' {
				p.pos++
				break
			}
			return nil, p.errorf(p.pos, "expected ',' or ')' after argument %d of %s, found %s", len(c.args), name, p.found())
		}
	}
	c.src = p.src[start:p.pos]
	if n := len(c.args); n < fn.min || (fn.max >= 0 && n > fn.max) {
		return nil, p.errorf(start, "%s takes %s, found %d", name, fn.arity(), n)
	}
	if err := fn.check(p, c); err != nil {
		return nil, err
	}
	return c, nil
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (p *parser) arg(depth int) (arg, error) {
	start := p.pos
	if p.pos >= len(p.src) {
		return arg{}, p.errorf(p.pos, "expected an argument, found end of expression")
	}
	switch c := p.src[p.pos]; {
	case strings.HasPrefix(p.src[p.pos:], "States."):
		call, err := p.call(depth + 1)
		if err != nil {
			return arg{}, err
		}
		return arg{kind: argCall, call: call, pos: start}, nil
	case c == '\'':
		s, holes, err := p.str()
		if err != nil {
			return arg{}, err
		}
		return arg{kind: argLiteral, lit: s, holes: holes, pos: start}, nil
	case c == '$':
		text := p.pathText()
		path, err := jsonpath.Parse(text)
		if err != nil {
			var se *jsonpath.SyntaxError
			if errors.As(err, &se) {
				return arg{}, p.errorf(start+se.Offset, "path %s: %s", text, se.Msg)
			}
			return arg{}, p.errorf(start, "path %s: %v", text, err)
		}
		return arg{kind: argPath, path: path, pos: start}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		for p.pos < len(p.src) && strings.IndexByte("0123456789+-.eE", p.src[p.pos]) >= 0 {
			p.pos++
		}
		lit := p.src[start:p.pos]
		if !json.Valid([]byte(lit)) {
			return arg{}, p.errorf(start, "invalid number %q", lit)
		}
		return arg{kind: argLiteral, lit: json.Number(lit), pos: start}, nil
	}
	for _, w := range [...]struct {
		word string
		val  any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if strings.HasPrefix(p.src[p.pos:], w.word) && (p.pos+len(w.word) == len(p.src) || !isIdentByte(p.src[p.pos+len(w.word)])) {
			p.pos += len(w.word)
			return arg{kind: argLiteral, lit: w.val, pos: start}, nil
		}
	}
	return arg{}, p.errorf(start, "expected an argument ('string', number, true, false, null, $path or States.call), found %s", p.found())
}

// pathText returns the extent of a path argument: up to a ',' or ')' or blank that is
// not inside brackets, parentheses or quotes (filters hold all three).
func (p *parser) pathText() string {
	start := p.pos
	depth := 0
	var quote byte
	for ; p.pos < len(p.src); p.pos++ {
		c := p.src[p.pos]
		if quote != 0 {
			switch c {
			case '\\':
				p.pos++
			case quote:
				quote = 0
			}
			continue
		}
		switch c {
		case '\'', '"':
			if depth > 0 {
				quote = c
			}
		case '[', '(':
			depth++
		case ']':
			depth--
		case ')':
			if depth == 0 {
				return p.src[start:p.pos]
			}
			depth--
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return p.src[start:p.pos]
			}
		}
	}
	if p.pos > len(p.src) {
		p.pos = len(p.src)
	}
	return p.src[start:p.pos]
}

// str reads a single-quoted string literal with the intrinsic escapes \' \{ \} \\.
func (p *parser) str() (string, []int, error) {
	open := p.pos
	p.pos++
	var b strings.Builder
	var holes []int
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '\'':
			p.pos++
			return b.String(), holes, nil
		case '\\':
			if p.pos+1 >= len(p.src) {
				return "", nil, p.errorf(p.pos, "open escape backslash at the end of the expression")
			}
			switch e := p.src[p.pos+1]; e {
			case '\'', '{', '}', '\\':
				b.WriteByte(e)
				p.pos += 2
			default:
				return "", nil, p.errorf(p.pos, `open escape backslash before %q: only \' \{ \} and \\ are escapes`, rune(e))
			}
		case '{':
			if strings.HasPrefix(p.src[p.pos:], "{}") {
				holes = append(holes, b.Len())
				b.WriteString("{}")
				p.pos += 2
				continue
			}
			b.WriteByte(c)
			p.pos++
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", nil, p.errorf(open, "unterminated string, expected a closing '")
}
