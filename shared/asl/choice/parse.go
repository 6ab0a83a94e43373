package choice

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

// Parse parses a top-level Choice rule, one element of a Choice state's Choices array.
// v is the rule as decoded by encoding/json with UseNumber (a map[string]any). loc names
// the rule in problem locations, for example "States.Check.Choices[0]". Every problem found
// is reported in one *ValidationError.
func Parse(v any, loc string) (*Rule, error) {
	var rp ruleParser
	r := rp.rule(v, loc, "", true)
	if len(rp.problems) > 0 {
		return nil, &ValidationError{Problems: rp.problems}
	}
	return r, nil
}

// ParseJSON is Parse for a rule in JSON text.
func ParseJSON(data []byte, loc string) (*Rule, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, &ValidationError{Problems: []Problem{{Loc: loc, Msg: "not valid JSON: " + err.Error()}}}
	}
	return Parse(v, loc)
}

// ParseChoices parses a Choice state's whole Choices array (v as decoded), naming rule i
// loc+"[i]", and reports the problems of all rules together.
func ParseChoices(v any, loc string) ([]*Rule, error) {
	var rp ruleParser
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, &ValidationError{Problems: []Problem{{Loc: loc, Msg: "must be a non-empty array of Choice rules, found " + describe(v)}}}
	}
	rules := make([]*Rule, len(list))
	for i, item := range list {
		rules[i] = rp.rule(item, fmt.Sprintf("%s[%d]", loc, i), "", true)
	}
	if len(rp.problems) > 0 {
		return nil, &ValidationError{Problems: rp.problems}
	}
	return rules, nil
}

type ruleParser struct {
	problems []Problem
}

func (rp *ruleParser) add(loc, format string, args ...any) {
	rp.problems = append(rp.problems, Problem{Loc: loc, Msg: fmt.Sprintf(format, args...)})
}

func join(base, field string) string {
	if base == "" {
		return field
	}
	return base + "." + field
}

// rule parses one rule. loc is its full location for problems; rel its location relative
// to the top-level rule, kept for run-time errors.
func (rp *ruleParser) rule(v any, loc, rel string, top bool) *Rule {
	m, ok := v.(map[string]any)
	if !ok {
		rp.add(loc, "a Choice rule must be an object, found %s", describe(v))
		return nil
	}
	r := &Rule{loc: rel}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var ops []string
	for _, k := range keys {
		switch k {
		case "Variable", "Next", "Comment", "Assign":
			continue
		}
		if _, ok := operators[k]; ok {
			ops = append(ops, k)
			continue
		}
		if s := suggest(k); s != "" {
			rp.add(join(loc, k), "unknown field; did you mean %s?", s)
		} else {
			rp.add(join(loc, k), "unknown field; a Choice rule holds Variable, one comparison operator, Next (top level only), Assign (top level only) and Comment")
		}
	}

	if next, ok := m["Next"]; top {
		s, isStr := next.(string)
		switch {
		case !ok:
			rp.add(loc, "missing Next: a top-level Choice rule must name the state to go to")
		case !isStr || s == "":
			rp.add(join(loc, "Next"), "must be a non-empty string, found %s", describe(next))
		default:
			r.Next = s
		}
	} else if ok {
		rp.add(join(loc, "Next"), "not allowed in a nested rule; only top-level Choice rules have Next")
	}
	if a, ok := m["Assign"]; ok {
		if top {
			r.Assign = a
		} else {
			rp.add(join(loc, "Assign"), "not allowed in a nested rule; only top-level Choice rules have Assign")
		}
	}
	if c, ok := m["Comment"]; ok {
		if _, isStr := c.(string); !isStr {
			rp.add(join(loc, "Comment"), "must be a string, found %s", describe(c))
		}
	}

	switch len(ops) {
	case 0:
		rp.add(loc, "no comparison operator: a rule needs exactly one of And, Or, Not, Is…, String…, Numeric…, Boolean… or Timestamp…")
		return r
	case 1:
	default:
		rp.add(loc, "more than one comparison operator (%s): a rule holds exactly one", strings.Join(ops, ", "))
		return r
	}
	name := ops[0]
	r.info = operators[name]
	val := m[name]
	opLoc := join(loc, name)

	switch r.info.op {
	case opAnd, opOr:
		if _, ok := m["Variable"]; ok {
			rp.add(join(loc, "Variable"), "not allowed with %s, whose nested rules carry their own", name)
		}
		list, ok := val.([]any)
		if !ok || len(list) == 0 {
			rp.add(opLoc, "must be a non-empty array of Choice rules, found %s", describe(val))
			return r
		}
		r.rules = make([]*Rule, len(list))
		for i, item := range list {
			at := fmt.Sprintf("%s[%d]", name, i)
			r.rules[i] = rp.rule(item, join(loc, at), join(rel, at), false)
		}
		return r
	case opNot:
		if _, ok := m["Variable"]; ok {
			rp.add(join(loc, "Variable"), "not allowed with Not, whose nested rule carries its own")
		}
		r.rules = []*Rule{rp.rule(val, opLoc, join(rel, name), false)}
		return r
	}

	if raw, ok := m["Variable"]; !ok {
		rp.add(loc, "missing Variable: %s compares the value it selects", name)
	} else {
		r.variable = rp.refPath(raw, join(loc, "Variable"))
	}

	if r.info.isPath {
		r.path = rp.refPath(val, opLoc)
		return r
	}
	switch r.info.typ {
	case typeString:
		s, ok := val.(string)
		if !ok {
			rp.add(opLoc, "must be a string, found %s", describe(val))
		}
		r.str = s
	case typePattern:
		s, ok := val.(string)
		if !ok {
			rp.add(opLoc, "must be a string pattern, found %s", describe(val))
		}
		r.str = s
		r.pattern = compilePattern(s)
	case typeNumber:
		n, ok := jsonpath.Number(val)
		if !ok {
			rp.add(opLoc, "must be a number, found %s", describe(val))
		}
		r.num = n
	case typeBoolean, typeTest:
		b, ok := val.(bool)
		if !ok {
			rp.add(opLoc, "must be true or false, found %s", describe(val))
		}
		r.boolean = b
	case typeTimestamp:
		s, ok := val.(string)
		t, tsOK := parseTimestamp(s)
		if !ok || !tsOK {
			rp.add(opLoc, "must be an RFC 3339 timestamp such as 2016-08-18T17:33:00Z, found %s", describe(val))
		}
		r.ts = t
	}
	return r
}

// refPath parses a Variable or …Path operand, which must be a reference path.
func (rp *ruleParser) refPath(v any, loc string) *jsonpath.Path {
	s, ok := v.(string)
	if !ok {
		rp.add(loc, "must be a reference path string, found %s", describe(v))
		return nil
	}
	p, err := jsonpath.Parse(s)
	if err != nil {
		rp.add(loc, "%v", err)
		return nil
	}
	if !p.IsReference() {
		rp.add(loc, "%q is not a reference path: only .name, ['name'] and [index] may follow $ or $$", s)
		return nil
	}
	return p
}

// suggest returns the operator or field a misspelt key most likely meant.
func suggest(k string) string {
	for name := range operators {
		if strings.EqualFold(name, k) {
			return name
		}
	}
	for _, f := range []string{"Variable", "Next", "Comment", "Assign"} {
		if strings.EqualFold(f, k) {
			return f
		}
	}
	return ""
}

// describe names a decoded JSON value in messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("the boolean %t", x)
	case json.Number:
		return "the number " + string(x)
	case map[string]any:
		return "an object"
	case []any:
		if len(x) == 0 {
			return "an empty array"
		}
		return "an array"
	}
	if _, ok := jsonpath.Number(v); ok {
		return fmt.Sprintf("the number %v", v)
	}
	return fmt.Sprintf("%T", v)
}

// parseTimestamp accepts RFC 3339 as Step Functions does: uppercase T and Z, optional
// fractional seconds, or a numeric offset.
func parseTimestamp(s string) (time.Time, bool) {
	if len(s) < len("2006-01-02T15:04:05Z") || s[10] != 'T' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// matchPart is one piece of a StringMatches pattern: a literal, or a star.
type matchPart struct {
	star bool
	lit  string
}

func compilePattern(s string) []matchPart {
	var parts []matchPart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, matchPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '\\'):
			lit.WriteByte(s[i+1])
			i++
		case c == '*':
			flush()
			if len(parts) == 0 || !parts[len(parts)-1].star {
				parts = append(parts, matchPart{star: true})
			}
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return parts
}

// matchPattern reports whether s matches the whole pattern. Literals are matched
// leftmost-first between stars, which is exact for patterns with only * wildcards.
func matchPattern(parts []matchPart, s string) bool {
	for i, p := range parts {
		if p.star {
			continue
		}
		last := i == len(parts)-1
		anchored := i == 0 || !parts[i-1].star
		switch {
		case anchored && last:
			return s == p.lit
		case anchored:
			if !strings.HasPrefix(s, p.lit) {
				return false
			}
			s = s[len(p.lit):]
		case last:
			return strings.HasSuffix(s, p.lit)
		default:
			j := strings.Index(s, p.lit)
			if j < 0 {
				return false
			}
			s = s[j+len(p.lit):]
		}
	}
	return len(parts) > 0 && parts[len(parts)-1].star || s == ""
}
