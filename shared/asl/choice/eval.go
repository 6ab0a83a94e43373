package choice

import (
	"errors"

	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

// Eval reports whether the rule matches. input is the Choice state's effective input (after
// InputPath) and context the context object, which $$ paths read. Every error wraps
// ErrRuntime and is an *EvalError naming the field whose path selected nothing.
func (r *Rule) Eval(input, context any) (bool, error) {
	switch r.info.op {
	case opAnd:
		for _, c := range r.rules {
			ok, err := c.Eval(input, context)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case opOr:
		for _, c := range r.rules {
			ok, err := c.Eval(input, context)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case opNot:
		ok, err := r.rules[0].Eval(input, context)
		return !ok && err == nil, err
	}

	v, err := read(r.variable, input, context)
	if err != nil {
		if r.info.op == opIsPresent && errors.Is(err, jsonpath.ErrNoMatch) {
			return !r.boolean, nil
		}
		return false, &EvalError{Loc: join(r.loc, "Variable"), Err: err}
	}

	switch r.info.op {
	case opIsPresent:
		return r.boolean, nil
	case opIsNull:
		return (v == nil) == r.boolean, nil
	case opIsString:
		_, ok := v.(string)
		return ok == r.boolean, nil
	case opIsNumeric:
		return isNumber(v) == r.boolean, nil
	case opIsBoolean:
		_, ok := v.(bool)
		return ok == r.boolean, nil
	case opIsTimestamp:
		s, ok := v.(string)
		if ok {
			_, ok = parseTimestamp(s)
		}
		return ok == r.boolean, nil
	case opStringMatches:
		s, ok := v.(string)
		return ok && matchPattern(r.pattern, s), nil
	}

	if r.path != nil {
		operand, err := read(r.path, input, context)
		if err != nil {
			return false, &EvalError{Loc: join(r.loc, r.opName()), Err: err}
		}
		return r.compareTo(v, operand), nil
	}
	return r.compareLiteral(v), nil
}

func read(p *jsonpath.Path, input, context any) (any, error) {
	if p.Context() {
		return p.Get(context)
	}
	return p.Get(input)
}

// compareLiteral compares the Variable's value with the operand parsed with the rule; a
// value of another type never matches.
func (r *Rule) compareLiteral(v any) bool {
	switch r.info.typ {
	case typeString:
		s, ok := v.(string)
		return ok && r.want(jsonpath.CompareStrings(s, r.str))
	case typeNumber:
		if !isNumber(v) {
			return false
		}
		n, _ := jsonpath.Number(v)
		return r.want(compareFloat(n, r.num))
	case typeBoolean:
		b, ok := v.(bool)
		return ok && b == r.boolean
	case typeTimestamp:
		s, ok := v.(string)
		if !ok {
			return false
		}
		t, ok := parseTimestamp(s)
		return ok && r.want(t.Compare(r.ts))
	}
	return false
}

// compareTo compares the Variable's value with the value a …Path operand selected; both
// must be of the operator's type.
func (r *Rule) compareTo(v, operand any) bool {
	switch r.info.typ {
	case typeString:
		a, ok1 := v.(string)
		b, ok2 := operand.(string)
		return ok1 && ok2 && r.want(jsonpath.CompareStrings(a, b))
	case typeNumber:
		if !isNumber(v) || !isNumber(operand) {
			return false
		}
		a, _ := jsonpath.Number(v)
		b, _ := jsonpath.Number(operand)
		return r.want(compareFloat(a, b))
	case typeBoolean:
		a, ok1 := v.(bool)
		b, ok2 := operand.(bool)
		return ok1 && ok2 && a == b
	case typeTimestamp:
		a, ok1 := v.(string)
		b, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false
		}
		ta, ok1 := parseTimestamp(a)
		tb, ok2 := parseTimestamp(b)
		return ok1 && ok2 && r.want(ta.Compare(tb))
	}
	return false
}

// want reports whether a three-way comparison result satisfies the operator.
func (r *Rule) want(c int) bool {
	switch {
	case c < 0:
		return r.info.compare&wantLess != 0
	case c > 0:
		return r.info.compare&wantGreater != 0
	}
	return r.info.compare&wantEqual != 0
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// isNumber reports whether v is a JSON number.
func isNumber(v any) bool {
	_, ok := jsonpath.Number(v)
	return ok
}

// opName is the operator's field name, for error locations.
func (r *Rule) opName() string {
	for name, info := range operators {
		if info == r.info {
			return name
		}
	}
	return "operator"
}
