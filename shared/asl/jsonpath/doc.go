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
//	[n]                           one array element
//	[(@.length-n)]                the n-th element from the end (see below)
//	[*]  .*                       every member or element
//	['a','b']                     several members (see below)
//	[0,2]                         several elements
//	[start:end:step]              a slice, each part optional, negative counts from the end
//	..name  ..*  ..[...]          recursive descent: the segment applied at every depth
//	[?(expr)]                     a filter: the objects for which expr holds
//
// Filter expressions combine @-relative and $-rooted paths, number, string, true, false and
// null literals with == != < <= > >=, &&, ||, ! and parentheses. A bare path such as
// [?(@.isbn)] tests that the member exists. Jayway's "in" and "nin" take an array literal
// (['a', 1]) or a path; "=~ /re/" (with an optional i flag) matches a whole string, or a
// number's text, against a regular expression, in Go's RE2 syntax where Jayway uses Java's. JSONPath functions
// such as length() are a syntax error here; Step Functions accepts them in a definition
// but reads them as member names, so they never match at run time.
//
// # Step Functions semantics
//
// Step Functions evaluates paths with an early version of the Java Jayway JsonPath library
// (its error messages, its failure on $.a[-1] and its support for [(@.length-1)] are those
// of Jayway 2.0), so this package follows that library where JSONPath implementations
// differ, checked against Jayway 2.0.0 itself and against behaviour reported from Step
// Functions:
//
//   - A path is definite when every segment selects at most one node: a single name, a single
//     index, or several names in the last segment (['a','b'] at the end of a path yields one
//     object holding those of the members that exist, not a list). Get on a definite path
//     returns the value itself and fails with ErrNoMatch when it is missing; any other path
//     yields a []any of every match, empty when nothing matches.
//   - A negative index ([-1]) selects nothing, so a definite path holding one fails, as it
//     does in Step Functions; [(@.length-1)] selects the last element. Negative slice bounds
//     ([-2:]) count from the end as usual.
//   - In an indefinite path a missing member is skipped ($.missing[*] is []), but asking a
//     non-object for a member in the definite prefix fails ($.number.x[*]), an array index,
//     index list or slice applied to anything but an array fails wherever it stands, and an
//     index list with an index out of range fails unless an earlier segment was indefinite.
//   - A filter tests only objects: "The @ operator ... does not match scalar values. It only
//     matches objects", says the developer guide. Applied to an object rather than an
//     array, a filter tests the object itself.
//   - Comparisons in filters follow Jayway: a number compared with a string that reads as a
//     number compares numerically (@.price == '8.95'); otherwise values of different types
//     are unequal and unordered; when either operand is missing every comparison is false,
//     != included. Strings order by UTF-16 code units, as Java's do.
//
// Extensions and differences, documented rather than hidden:
//
//   - Slices take an optional step ([::2]); "in", "nin", double-quoted strings and spaces in
//     filters work, where Jayway 2.0 has gaps.
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
