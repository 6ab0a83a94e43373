// Package intrinsic parses and evaluates the States.* intrinsic functions that JSONPath
// states may use in Parameters, ResultSelector, ItemSelector and the other payload
// templates, in the value of a key ending in ".$":
//
//	"greeting.$": "States.Format('Hello, {}!', $.name)"
//
// Parse the expression once when the state machine is loaded (IsIntrinsic tells an
// intrinsic from a path) and Eval it for every execution. A *Call is immutable and safe for
// concurrent use.
//
// # Values
//
// Values are JSON as package jsonpath describes (map[string]any, []any, string,
// json.Number, bool, nil). Functions that produce numbers produce json.Number.
//
// # Syntax
//
// Arguments are nested calls, single-quoted strings, numbers, true, false, null, and paths
// ($..., $$... or $ alone) parsed by package jsonpath. Inside a string, \' \{ \} and \\
// stand for ' { } and \; any other backslash is an error, as Step Functions documents. An
// escaped \{\} in a States.Format template is literal text, not a placeholder. Calls nest at
// most 10 deep, Step Functions' limit.
//
// # Errors
//
// Parse returns a *SyntaxError with the offset of the problem; it also rejects unknown
// functions, wrong argument counts and, for literal templates, a States.Format whose
// placeholder count differs from its argument count. Eval returns errors of two kinds:
//
//   - misuse of a function (wrong argument type, out-of-range value, invalid JSON or Base64,
//     unknown hash algorithm, too many items) is an *Error wrapping ErrIntrinsicFailure,
//     which Step Functions reports as States.IntrinsicFailure;
//   - a path argument that selects nothing wraps jsonpath.ErrNoMatch, which the engine
//     reports as States.Runtime like any other path that selects nothing.
//
// # Step Functions behaviour reproduced
//
// Step Functions runs on Java, and several outputs show it; this package follows the
// recorded behaviour:
//
//   - Numbers print as Java prints them: integers in full, other numbers as Java's
//     Double.toString does (1.10 prints 1.1, 1e2 prints 100.0, 1e10 prints 1.0E10, -0
//     prints 0). This applies to States.Format, States.JsonToString and the values
//     States.StringToJson returns. The digits are the shortest that identify the value,
//     as in Java 19 and later; checked against Java 17, about 1% of random doubles differ,
//     nearly all above 10^16, where older Java prints a 17th digit.
//   - States.Format prints an object argument as Java's Map.toString ({a=1, b=[x, y]}) and
//     an array as List.toString ([1, 2]); strings inside them are unquoted.
//   - States.JsonToString writes compact JSON, without HTML escaping.
//   - Arguments that must be integers (ArrayPartition's chunk size, ArrayRange, the bounds
//     of MathRandom, MathAdd, ArrayGetItem's index) are rounded as Java's Math.round does:
//     half up, so -1.5 becomes -1.
//   - States.StringSplit splits on any of the delimiter's characters and drops empty
//     pieces (",,a" gives ["a"]); States.StringToJson of a blank string is null.
//   - States.MathRandom returns an integer from start (inclusive) to end (exclusive). With
//     a seed it uses java.util.Random's generator, so a seed always gives the same number;
//     whether it is the very number Step Functions gives is not verified. Without a seed it
//     draws from Env.Rand.
//   - States.ArrayContains and States.ArrayUnique compare values as Java objects do: an
//     integer never equals a decimal (1 and 1.0 differ), decimals compare by value.
//   - States.JsonMerge is shallow; its third argument must be false, as Step Functions
//     supports no deep merge.
//   - Input limits: 10,000 characters (UTF-16 units) for Base64Encode, Base64Decode and
//     Hash; 1,000 items for ArrayRange.
//
// Objects are Go maps, so where Java keeps member order (Format of an object, JsonToString)
// this package writes members in sorted key order.
package intrinsic
