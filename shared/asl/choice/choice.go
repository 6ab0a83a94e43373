// Package choice parses and evaluates the Choice Rules of a JSONPath Choice state.
//
// A rule arrives as the JSON decoding of one element of a Choice state's "Choices" array:
// map[string]any with json.Number numbers, as the jsonpath package describes. Parse
// checks it completely and reports every problem at once, each with its location, so a
// state machine author sees all mistakes from one validation. The parsed Rule is immutable
// and safe for concurrent use; Eval runs it against an input and a context object.
//
// Evaluation follows Step Functions:
//
//   - A comparison whose Variable holds a value of the wrong type is false, not an error:
//     NumericEquals against a string, StringEquals against a number, a Timestamp operator
//     against a string that is not a timestamp. The same holds for the value a …Path
//     operator reads.
//   - A Variable (or a …Path operand) that selects nothing is an error, reported by Step
//     Functions as States.Runtime, except for IsPresent, which tests exactly that.
//   - String ordering compares UTF-16 code units, as Java's String.compareTo does.
//   - Numbers compare as IEEE 754 doubles, as the guide warns.
//   - Timestamps are RFC 3339 with an uppercase T and Z (or a numeric offset), compared as
//     instants.
//   - StringMatches treats * as any run of characters (including none); \* is a literal
//     star and \\ a literal backslash. A backslash before any other character stands for
//     itself.
package choice

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

// Rule is one parsed Choice rule: a comparison (Variable plus one operator) or a Boolean
// combination (And, Or, Not) of nested rules.
type Rule struct {
	// Next is the state to go to when a top-level rule matches; empty in nested rules.
	Next string
	// Assign is the top-level rule's "Assign" field as decoded, or nil. The engine
	// applies it when the rule matches.
	Assign any

	info     opInfo
	loc      string // this rule's location relative to the top-level rule, "" at the top
	variable *jsonpath.Path
	str      string    // string operand, or the StringMatches pattern
	num      float64   // numeric operand
	boolean  bool      // BooleanEquals operand and the Is… operators' expected result
	ts       time.Time // timestamp operand
	path     *jsonpath.Path
	pattern  []matchPart
	rules    []*Rule // And, Or; Not has exactly one
}

// Problem is one thing wrong with a rule.
type Problem struct {
	Loc string // where, e.g. "Choices[2].And[0].NumericEquals"
	Msg string
}

func (p Problem) String() string { return p.Loc + ": " + p.Msg }

// ValidationError lists every problem Parse found.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid Choice rule: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// EvalError is a run-time failure of a rule: a Variable or …Path operand that selects
// nothing. Step Functions reports it as States.Runtime. It wraps the cause, which wraps
// jsonpath.ErrNoMatch.
type EvalError struct {
	Loc string // the failing field, e.g. "And[0].Variable"
	Err error
}

func (e *EvalError) Error() string { return fmt.Sprintf("choice rule %s: %v", e.Loc, e.Err) }

func (e *EvalError) Unwrap() error { return e.Err }

// ErrRuntime is wrapped by every error Eval returns, so callers can map it to
// States.Runtime without inspecting the cause.
var ErrRuntime = errors.New("States.Runtime")

func (e *EvalError) Is(target error) bool { return target == ErrRuntime }

type op uint8

const (
	opAnd op = iota + 1
	opOr
	opNot
	opStringEquals
	opStringLessThan
	opStringGreaterThan
	opStringLessThanEquals
	opStringGreaterThanEquals
	opStringMatches
	opNumericEquals
	opNumericLessThan
	opNumericGreaterThan
	opNumericLessThanEquals
	opNumericGreaterThanEquals
	opBooleanEquals
	opTimestampEquals
	opTimestampLessThan
	opTimestampGreaterThan
	opTimestampLessThanEquals
	opTimestampGreaterThanEquals
	opIsPresent
	opIsNull
	opIsString
	opIsNumeric
	opIsBoolean
	opIsTimestamp
)

type operandType uint8

const (
	typeNone operandType = iota // And, Or, Not
	typeString
	typeNumber
	typeBoolean
	typeTimestamp
	typePattern
	typeTest // Is…: a Boolean saying which result counts as a match
)

type opInfo struct {
	op      op
	typ     operandType
	isPath  bool
	compare int8 // which comparison results match: wantLess|wantEqual|wantGreater
}

// Bits for opInfo.compare: which results of a three-way comparison satisfy the operator.
const (
	wantLess    = 1 << 0
	wantEqual   = 1 << 1
	wantGreater = 1 << 2
)

var operators = map[string]opInfo{}

func init() {
	add := func(name string, o op, t operandType, cmp int8) {
		operators[name] = opInfo{op: o, typ: t, compare: cmp}
		if t == typeString || t == typeNumber || t == typeBoolean || t == typeTimestamp {
			operators[name+"Path"] = opInfo{op: o, typ: t, isPath: true, compare: cmp}
		}
	}
	for _, fam := range []struct {
		prefix string
		typ    operandType
		ops    [5]op
	}{
		{"String", typeString, [5]op{opStringEquals, opStringLessThan, opStringGreaterThan, opStringLessThanEquals, opStringGreaterThanEquals}},
		{"Numeric", typeNumber, [5]op{opNumericEquals, opNumericLessThan, opNumericGreaterThan, opNumericLessThanEquals, opNumericGreaterThanEquals}},
		{"Timestamp", typeTimestamp, [5]op{opTimestampEquals, opTimestampLessThan, opTimestampGreaterThan, opTimestampLessThanEquals, opTimestampGreaterThanEquals}},
	} {
		add(fam.prefix+"Equals", fam.ops[0], fam.typ, wantEqual)
		add(fam.prefix+"LessThan", fam.ops[1], fam.typ, wantLess)
		add(fam.prefix+"GreaterThan", fam.ops[2], fam.typ, wantGreater)
		add(fam.prefix+"LessThanEquals", fam.ops[3], fam.typ, wantLess|wantEqual)
		add(fam.prefix+"GreaterThanEquals", fam.ops[4], fam.typ, wantGreater|wantEqual)
	}
	add("BooleanEquals", opBooleanEquals, typeBoolean, wantEqual)
	operators["StringMatches"] = opInfo{op: opStringMatches, typ: typePattern}
	for name, o := range map[string]op{"IsPresent": opIsPresent, "IsNull": opIsNull, "IsString": opIsString, "IsNumeric": opIsNumeric, "IsBoolean": opIsBoolean, "IsTimestamp": opIsTimestamp} {
		operators[name] = opInfo{op: o, typ: typeTest}
	}
	operators["And"] = opInfo{op: opAnd}
	operators["Or"] = opInfo{op: opOr}
	operators["Not"] = opInfo{op: opNot}
}
