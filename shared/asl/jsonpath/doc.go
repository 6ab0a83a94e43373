// Package jsonpath implements the JSONPath dialect that AWS Step Functions uses for
// InputPath, OutputPath, ItemsPath, ResultPath, Choice rule variables, the ".$" fields of
// Parameters and ResultSelector, and the path arguments of intrinsic functions.
//
// # JSON values
//
// Every JSON value this package reads or writes has the shape encoding/json produces when a
// Decoder has UseNumber set: map[string]any for objects, []any for arrays, string,
// json.Number for numbers, bool, and nil for null. The interpreter in shared/asl and the
// sibling packages intrinsic and choice use the same representation, so documents pass
// between them without conversion. Numbers stay json.Number so that a value that is only
// moved from input to output keeps the text it arrived with. float64 and int values are
// also accepted wherever a number is compared, so hand-built documents in tests work.
//
// # Syntax
//
// A path starts with "$" (the state input) or "$$" (the context object; the caller hands in
// whichever document Context reports). After it come any number of segments:
//
//	.name  ['name']  ["name"]     one object member (quoted names take \-escapes)
//	.['name']                     the same; the Step Functions guide writes $.abc.['def ghi']
//	[n]  [-n]                     one array element; negative counts from the end
//	[*]  .*                       every member or element
//	['a','b']                     several members (see "Jayway semantics" below)
//	[0,2]                         several elements
//	[start:end:step]              a slice, each part optional, negative counts from the end
//	..name  ..*  ..[...]          recursive descent: the segment applied at every depth
//	[?(expr)]                     a filter: elements (or the object itself) where expr holds
//
// Filter expressions combine @-relative and $-rooted paths, number, string, true, false and
// null literals with == != < <= > >=, &&, ||, ! and parentheses. A bare path such as
// [?(@.isbn)] tests that the member exists. Jayway's "in" and "nin" take an array literal
// (['a', 1]) or a path; "=~ /re/" (with an optional i flag) matches a whole string against
// a regular expression, in Go's RE2 syntax where Jayway uses Java's. JSONPath functions
// such as length() are not supported: Step Functions rejects them in reference paths too.
//
// # Jayway semantics
//
// Step Functions evaluates paths with the Java Jayway JsonPath library, so this package
// follows Jayway where it differs from other JSONPath implementations:
//
//   - A path is definite when every segment selects at most one node: a single name, a single
//     index, or several names in the last segment (['a','b'] at the end of a path yields one
//     object holding those members, not a list). Get on a definite path returns the value
//     itself and fails with ErrNoMatch when it is missing; any other path yields a []any of
//     every match, empty when nothing matches.
//   - In an indefinite path, a member missing below a wildcard, filter, slice or descent is
//     skipped, but a definite prefix that fails (such as $.missing in $.missing[*]) is an
//     error, as in Jayway.
//   - A filter applied to an object tests the object itself.
//   - Comparisons in filters are typed: a number never equals a string; != is true when the
//     operands differ in type or one is missing; < and friends are false unless both sides
//     are numbers or both are strings. Strings compare by UTF-16 code units, as Java does.
//
// Extensions and differences, documented rather than hidden:
//
//   - Slices take an optional step ([::2]); Jayway has none.
//   - Objects are Go maps, which have no member order, so wildcards, descents and
//     multi-name selections visit members in sorted key order, where Jayway keeps the order
//     of the input text.
//
// # Reference paths
//
// A reference path (IsReference) uses only single names and single indexes. Step Functions
// requires one for ResultPath and for Choice rule variables; Set writes through one.
//
// # Concurrency
//
// A *Path is immutable after Parse and safe for concurrent use. Get and Set never modify the
// document they are given; Get returns values that alias the document, so a caller that
// wants to modify a result copies it first.
package jsonpath
