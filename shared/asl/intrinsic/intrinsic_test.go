package intrinsic_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/asl/intrinsic"
	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

func doc(tb testing.TB, s string) any {
	tb.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		tb.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func encode(tb testing.TB, v any) string {
	tb.Helper()
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		tb.Fatalf("encode %#v: %v", v, err)
	}
	return strings.TrimSpace(b.String())
}

// input holds the examples of the Step Functions developer guide and a few more.
const input = `{
  "name": "Arnav", "template": "Hello, my name is {}.", "Id": 123456,
  "escapedJsonString": "{\"foo\": \"bar\"}", "unescapedJson": {"foo": "bar"},
  "someJson": {"name": "Foo", "year": 2020},
  "inputArray": [1,2,3,4,5,6,7,8,9], "dupes": [1,2,3,3,3,3,3,3,4], "lookingFor": 5, "index": 5,
  "input": "Data to encode", "base64": "RGF0YSB0byBlbmNvZGU=",
  "Data": "input data", "Algorithm": "SHA-1",
  "json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3},
  "start": 1, "end": 999, "value1": 111, "step": -1,
  "inputString": "1,2,3,4,5", "splitter": ",", "multi": "This.is+a,test=string", "multiSplitter": ".+,=",
  "obj": {"Arg1": 1, "Arg2": []}, "nested": {"a": {"b": [1, "x", null, true]}},
  "nums": {"int": 1, "dec": 1.0, "frac": 1.10, "exp": 1e2, "big": 1e10, "tiny": 0.0001, "negzero": -0},
  "items": [{"id": "a"}, {"id": "b"}], "weird key": "w", "ctrl": "a\"b\\c\n\u0001<>&\u2028é",
  "ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/my-recipe/1.0.0"}
}`

const context = `{"Execution": {"Name": "run-9", "Id": "arn:exec"}, "State": {"Name": "Pass"}}`

func eval(tb testing.TB, expr string) (any, error) {
	tb.Helper()
	c, err := intrinsic.Parse(expr)
	if err != nil {
		tb.Fatalf("Parse(%s): %v", expr, err)
	}
	return c.Eval(intrinsic.Env{Input: doc(tb, input), Context: doc(tb, context), Rand: zeroRand{}})
}

type zeroRand struct{}

func (zeroRand) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestEval(t *testing.T) {
	tests := []struct {
		name, expr, want string // want is JSON
	}{
		// Generic: States.Format, from the guide and recorded Step Functions results.
		{"Format literal template", `States.Format('Hello, my name is {}.', $.name)`, `"Hello, my name is Arnav."`},
		{"Format path template", `States.Format($.template, $.name)`, `"Hello, my name is Arnav."`},
		{"Format no placeholders", `States.Format('plain')`, `"plain"`},
		{"Format scalars", `States.Format('{} {} {} {} {}', 'x', 2020, 1.1, true, null)`, `"x 2020 1.1 true null"`},
		{"Format object as Java map", `States.Format('fst={}', $.obj)`, `"fst={Arg1=1, Arg2=[]}"`},
		{"Format nested", `States.Format('{}', $.nested)`, `"{a={b=[1, x, null, true]}}"`},
		{"Format Java numbers", `States.Format('{} {} {} {} {} {} {}', $.nums.int, $.nums.dec, $.nums.frac, $.nums.exp, $.nums.big, $.nums.tiny, $.nums.negzero)`, `"1 1.0 1.1 100.0 1.0E10 1.0E-4 0"`},
		{"Format escaped braces", `States.Format('escaped \{\} and {}', $.name)`, `"escaped {} and Arnav"`},
		{"Format escaped quote and backslash", `States.Format('it\'s {} \\ done', $.name)`, `"it's Arnav \\ done"`},
		{"Format lone brace", `States.Format('{x} {}', 1)`, `"{x} 1"`},
		{"Format context", `States.Format('{}/{}', $$.Execution.Name, $$.State.Name)`, `"run-9/Pass"`},
		{"Format bracket path", `States.Format('{}', $['weird key'])`, `"w"`},
		{"Format nine nested calls", `States.Format('{}.{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1), 'x')`, `"1.0.x"`},
		// JSON manipulation.
		{"StringToJson", `States.StringToJson($.escapedJsonString)`, `{"foo":"bar"}`},
		{"StringToJson blank", `States.StringToJson(' ')`, `null`},
		{"StringToJson empty", `States.StringToJson('')`, `null`},
		{"StringToJson minus zero", `States.StringToJson('-0')`, `0`},
		{"StringToJson Java numbers", `States.StringToJson('[1.10, 1e2, 7]')`, `[1.1,100.0,7]`},
		{"StringToJson literal braces", `States.StringToJson('\{"a": [1, true]\}')`, `{"a":[1,true]}`},
		{"JsonToString object", `States.JsonToString($.someJson)`, `"{\"name\":\"Foo\",\"year\":2020}"`},
		{"JsonToString guide", `States.JsonToString($.unescapedJson)`, `"{\"foo\":\"bar\"}"`},
		{"JsonToString scalars", `States.Array(States.JsonToString($.name), States.JsonToString($.Id), States.JsonToString(null), States.JsonToString($.nums.frac))`, `["\"Arnav\"","123456","null","1.1"]`},
		{"JsonToString escaping", `States.JsonToString($.ctrl)`, `"\"a\\\"b\\\\c\\n\\u0001<>&\u2028é\""`},
		{"JsonMerge shallow", `States.JsonMerge($.json1, $.json2, false)`, `{"a":{"a3":1,"a4":2},"b":2,"c":3}`},
		// Arrays.
		{"Array", `States.Array('Foo', 2020, $.unescapedJson, null)`, `["Foo",2020,{"foo":"bar"},null]`},
		{"Array empty", `States.Array()`, `[]`},
		{"Array of path", `States.Array($.Id)`, `[123456]`},
		{"ArrayPartition", `States.ArrayPartition($.inputArray, 4)`, `[[1,2,3,4],[5,6,7,8],[9]]`},
		{"ArrayPartition exact", `States.ArrayPartition(States.Array(1, 2), 1)`, `[[1],[2]]`},
		{"ArrayPartition big chunk", `States.ArrayPartition(States.Array(1, 2), 5)`, `[[1,2]]`},
		{"ArrayPartition empty", `States.ArrayPartition(States.Array(), 3)`, `[]`},
		{"ArrayPartition rounds", `States.ArrayPartition($.inputArray, 4.5)`, `[[1,2,3,4,5],[6,7,8,9]]`},
		{"ArrayContains", `States.ArrayContains($.inputArray, $.lookingFor)`, `true`},
		{"ArrayContains absent", `States.ArrayContains($.inputArray, 10)`, `false`},
		{"ArrayContains deep", `States.ArrayContains(States.Array($.obj, 1), $.obj)`, `true`},
		{"ArrayContains int vs decimal", `States.ArrayContains($.inputArray, 5.0)`, `false`},
		{"ArrayContains null", `States.ArrayContains(States.Array(1, null), null)`, `true`},
		{"ArrayRange", `States.ArrayRange(1, 9, 2)`, `[1,3,5,7,9]`},
		{"ArrayRange uneven", `States.ArrayRange(0, 10, 3)`, `[0,3,6,9]`},
		{"ArrayRange one", `States.ArrayRange(1, 9, 9)`, `[1]`},
		{"ArrayRange down", `States.ArrayRange(5, 1, -2)`, `[5,3,1]`},
		{"ArrayRange wrong way", `States.ArrayRange(5, 1, 2)`, `[]`},
		{"ArrayRange rounds", `States.ArrayRange(0.5, 2.4, 1)`, `[1,2]`},
		{"ArrayRange 1000 items", `States.ArrayLength(States.ArrayRange(1, 1000, 1))`, `1000`},
		{"ArrayGetItem", `States.ArrayGetItem($.inputArray, $.index)`, `6`},
		{"ArrayGetItem object", `States.ArrayGetItem(States.Array($.obj), 0)`, `{"Arg1":1,"Arg2":[]}`},
		{"ArrayLength", `States.ArrayLength($.inputArray)`, `9`},
		{"ArrayUnique", `States.ArrayUnique($.dupes)`, `[1,2,3,4]`},
		{"ArrayUnique mixed", `States.ArrayUnique(States.Array(null, null, true, true, 1, 1, 1.0, 1.10, 1.1, 'x', 'x', $.obj, $.obj, States.Array(), States.Array()))`, `[null,true,1,1.0,1.10,"x",{"Arg1":1,"Arg2":[]},[]]`},
		// Encoding, decoding, hashing.
		{"Base64Encode", `States.Base64Encode($.input)`, `"RGF0YSB0byBlbmNvZGU="`},
		{"Base64Decode", `States.Base64Decode($.base64)`, `"Data to encode"`},
		{"Base64Decode MIME line breaks", "States.Base64Decode('RGF0YSB0\r\nbyBlbmNvZGU=')", `"Data to encode"`},
		{"Base64Decode no padding", `States.Base64Decode('RGF0YQ')`, `"Data"`},
		{"Base64 round trip unicode", `States.Base64Decode(States.Base64Encode('héllo ☃'))`, `"héllo ☃"`},
		// The guide prints this hash with a digit missing; this is the full SHA-1.
		{"Hash SHA-1 (guide)", `States.Hash($.Data, $.Algorithm)`, `"aaff4a450a104cd177d28d18d74485e8cae074b7"`},
		{"Hash MD5", `States.Hash('input data', 'MD5')`, `"812f45842bc6d66ee14572ce20db8e86"`},
		{"Hash SHA-256", `States.Hash('input data', 'SHA-256')`, `"b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"`},
		{"Hash SHA-384", `States.Hash('', 'SHA-384')`, `"38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"`},
		{"Hash SHA-512", `States.Hash('', 'SHA-512')`, `"cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"`},
		// Math.
		{"MathAdd", `States.MathAdd($.value1, $.step)`, `110`},
		{"MathAdd rounds half up", `States.MathAdd(1.49, 1.5)`, `3`},
		{"MathAdd rounds negative half up", `States.MathAdd(-1.5, -1.51)`, `-3`},
		{"MathAdd negatives", `States.MathAdd(-1.49, -1.5)`, `-2`},
		{"MathAdd int32 bounds", `States.MathAdd(2147483647, -2147483648)`, `-1`},
		{"MathRandom seeded", `States.MathRandom(0, 10, 42)`, `0`},
		{"MathRandom seeded Java value", `States.MathRandom(0, 100, 0)`, `60`},
		{"MathRandom seeded offset", `States.MathRandom(1000, 1100, 0)`, `1060`},
		{"MathRandom unseeded from Env.Rand", `States.MathRandom($.start, $.end)`, `1`},
		// Strings and identifiers.
		{"StringSplit", `States.StringSplit($.inputString, $.splitter)`, `["1","2","3","4","5"]`},
		{"StringSplit delimiter set", `States.StringSplit($.multi, $.multiSplitter)`, `["This","is","a","test","string"]`},
		{"StringSplit drops empties", `States.StringSplit(',,a,,b,', ',')`, `["a","b"]`},
		{"StringSplit only delimiters", `States.StringSplit(',,,,', ',')`, `[]`},
		{"StringSplit spaces kept", `States.StringSplit(', , ,', ',')`, `[" "," "]`},
		{"StringSplit no delimiter", `States.StringSplit('abc', '')`, `["abc"]`},
		{"UUID from zero randomness", `States.UUID()`, `"00000000-0000-4000-8000-000000000000"`},
		// Whitespace and nesting.
		{"spaces around arguments", `States.Array(  1 ,'a' ,  $.name  )`, `[1,"a","Arnav"]`},
		{"whole input", `States.ArrayLength(States.Array($, $$))`, `2`},
		{"indefinite path argument", `States.ArrayLength($.items[?(@.id > 'a')])`, `1`},
		{"filter with commas and parens", `States.Array($.items[?(@.id == 'x' || (@.id == 'b'))].id)`, `[["b"]]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := eval(t, tt.expr)
			if err != nil {
				t.Fatalf("Eval(%s): %v", tt.expr, err)
			}
			if diff := cmp.Diff(tt.want, encode(t, got)); diff != "" {
				t.Errorf("Eval(%s) mismatch (-want +got):\n%s", tt.expr, diff)
			}
		})
	}
}

func TestUUIDIsRandomV4(t *testing.T) {
	c, err := intrinsic.Parse("States.UUID()")
	if err != nil {
		t.Fatal(err)
	}
	v4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[any]bool{}
	for range 20 {
		u, err := c.Eval(intrinsic.Env{}) // nil Rand: crypto/rand
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := u.(string); !v4.MatchString(s) {
			t.Errorf("UUID() = %v, want a version 4 UUID", u)
		}
		if seen[u] {
			t.Errorf("UUID() repeated %v", u)
		}
		seen[u] = true
	}
}

func TestMathRandomRange(t *testing.T) {
	c, err := intrinsic.Parse("States.MathRandom(-3, 4)")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for range 500 {
		v, err := c.Eval(intrinsic.Env{})
		if err != nil {
			t.Fatal(err)
		}
		got[string(v.(json.Number))] = true
	}
	want := map[string]bool{"-3": true, "-2": true, "-1": true, "0": true, "1": true, "2": true, "3": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MathRandom(-3, 4) values over 500 draws mismatch (-want +got):\n%s", diff)
	}
}

func TestEvalFailures(t *testing.T) {
	long := strings.Repeat("x", 10001)
	tests := []struct {
		expr, msg string
	}{
		{`States.Format($.template, 1, 2)`, "States.Format: the template has 1 {} placeholder but 2 values follow it"},
		{`States.Format($.Id)`, "States.Format: the first argument must be a string template, found 123456"},
		{`States.StringToJson($.Id)`, "States.StringToJson: the argument must be a string holding JSON, found 123456"},
		{`States.StringToJson('\{')`, "States.StringToJson: the argument is not valid JSON"},
		{`States.StringToJson('1 2')`, "unexpected data after the value"},
		{`States.ArrayPartition($.name, 2)`, `States.ArrayPartition: the first argument must be an array, found "Arnav"`},
		{`States.ArrayPartition($.inputArray, 0)`, "the chunk size must be a positive integer, found 0"},
		{`States.ArrayPartition($.inputArray, 0.4)`, "the chunk size must be a positive integer, found 0.4"},
		{`States.ArrayPartition($.inputArray, 'a')`, `the chunk size (second argument) must be an integer, found "a"`},
		{`States.ArrayContains($.obj, 1)`, "the first argument must be an array, found an object"},
		{`States.ArrayRange(1, 9, 0)`, "the step (third argument) must not be 0"},
		{`States.ArrayRange(1, 1001, 1)`, "the range would hold 1001 items; at most 1000 are allowed"},
		{`States.ArrayRange(1, 'x', 1)`, `the end (second argument) must be an integer, found "x"`},
		{`States.ArrayGetItem($.inputArray, 9)`, "index 9 is out of bounds for an array of length 9"},
		{`States.ArrayGetItem($.inputArray, -1)`, "index -1 is out of bounds"},
		{`States.ArrayLength($.name)`, "States.ArrayLength: the first argument must be an array"},
		{`States.ArrayUnique(null)`, "the first argument must be an array, found null"},
		{`States.Base64Encode($.Id)`, "the data to encode must be a string, found 123456"},
		{`States.Base64Encode('` + long + `')`, "the data to encode has 10001 characters; at most 10000 are allowed"},
		{`States.Base64Decode('` + long + `')`, "has 10001 characters"},
		{`States.Base64Decode('!!!A')`, "not valid Base64"},
		{`States.Hash('` + long + `', 'MD5')`, "the data to hash has 10001 characters"},
		{`States.Hash($.Data, $.name)`, `the algorithm must be MD5, SHA-1, SHA-256, SHA-384 or SHA-512, found "Arnav"`},
		{`States.JsonMerge($.json1, $.name, false)`, `the second argument must be an object, found "Arnav"`},
		{`States.JsonMerge($.json1, $.json2, $.unescapedJson.foo)`, "the third argument must be false"},
		{`States.MathRandom(5, 5)`, "the end (5) must be greater than the start (5)"},
		{`States.MathRandom(1, 2, 'seed')`, `the seed (third argument) must be an integer, found "seed"`},
		{`States.MathAdd(2147483648, 1)`, "the first value 2147483648 is outside the range -2147483648 to 2147483647"},
		{`States.MathAdd(1, $.name)`, `must be an integer, found "Arnav"`},
		{`States.StringSplit($.Id, ',')`, "the first argument (the string to split) must be a string, found 123456"},
		{`States.StringSplit('a', 1)`, "the second argument (the delimiter) must be a string, found 1"},
	}
	for _, tt := range tests {
		t.Run(tt.expr[:min(len(tt.expr), 60)], func(t *testing.T) {
			got, err := eval(t, tt.expr)
			if !errors.Is(err, intrinsic.ErrIntrinsicFailure) {
				t.Fatalf("Eval = %v, %v; want an error wrapping ErrIntrinsicFailure", got, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Eval error = %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

func TestEvalPathNotFound(t *testing.T) {
	for _, expr := range []string{`States.Format('{}', $.missing)`, `States.Array(States.Array($$.Execution.Missing))`} {
		_, err := eval(t, expr)
		if !errors.Is(err, jsonpath.ErrNoMatch) || errors.Is(err, intrinsic.ErrIntrinsicFailure) {
			t.Errorf("Eval(%s) error = %v, want one wrapping jsonpath.ErrNoMatch and not ErrIntrinsicFailure", expr, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		expr   string
		offset int
		msg    string
	}{
		{`$.x`, 0, "expected a call such as States.Format(...)"},
		{`States.Nope(1)`, 0, `unknown intrinsic function "States.Nope"`},
		{`States.Format`, 13, "expected '(' after States.Format"},
		{`States.Format('a'`, 17, "expected ',' or ')' after argument 1"},
		{`States.Format('a)`, 14, "unterminated string"},
		{`States.Format('a\n')`, 16, `open escape backslash before 'n'`},
		{`States.Format('a\`, 16, "open escape backslash at the end"},
		{`States.Array(1,)`, 15, "expected an argument"},
		{`States.Array(1 2)`, 15, "expected ',' or ')'"},
		{`States.Array(@)`, 13, "expected an argument"},
		{`States.Array(1.2.3)`, 13, `invalid number "1.2.3"`},
		{`States.Array(truth)`, 13, "expected an argument"},
		{`States.Array($.a[)`, 17, "path $.a[): expected '*', '?('"},
		{`States.Array($$x)`, 15, "path $$x"},
		{`States.Array() x`, 15, "unexpected 'x' after the closing ')'"},
		{`States.UUID(1)`, 0, "States.UUID takes 0 arguments, found 1"},
		{`States.MathRandom(1)`, 0, "States.MathRandom takes 2 to 3 arguments, found 1"},
		{`States.Format()`, 0, "States.Format takes at least 1 argument, found 0"},
		{`States.ArrayRange(1, 2)`, 0, "States.ArrayRange takes 3 arguments, found 2"},
		{`States.Format('{} {}', 1)`, 14, "has 2 {} placeholders but 1 value follow"},
		{`States.Format(1)`, 14, "template of States.Format must be a string"},
		{`States.Hash('x', 'SHA-2')`, 17, "algorithm must be MD5, SHA-1"},
		{`States.JsonMerge($.a, $.b, true)`, 27, "must be false"},
		{strings.Repeat("States.Array(", 11) + strings.Repeat(")", 11), 130, "nested more than 10 deep"},
	}
	for _, tt := range tests {
		t.Run(tt.expr[:min(len(tt.expr), 60)], func(t *testing.T) {
			_, err := intrinsic.Parse(tt.expr)
			var se *intrinsic.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%s) error = %v, want a *SyntaxError", tt.expr, err)
			}
			if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Parse(%s) = offset %d %q, want offset %d and a message containing %q", tt.expr, se.Offset, se.Msg, tt.offset, tt.msg)
			}
		})
	}
}

func TestParseAcceptsTenLevels(t *testing.T) {
	expr := strings.Repeat("States.Array(", 10) + strings.Repeat(")", 10)
	if _, err := intrinsic.Parse(expr); err != nil {
		t.Errorf("Parse(10 nested calls): %v", err)
	}
}

func TestIsIntrinsic(t *testing.T) {
	for s, want := range map[string]bool{"States.Format('x')": true, "$.a": false, "$$.Execution.Id": false, "States": false, " States.UUID()": false} {
		if got := intrinsic.IsIntrinsic(s); got != want {
			t.Errorf("IsIntrinsic(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestString(t *testing.T) {
	expr := `States.Format('{}', States.Array(1, $.a))`
	c, err := intrinsic.Parse(expr)
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != expr || c.Name != "States.Format" {
		t.Errorf("String() = %q, Name = %q; want %q and States.Format", c.String(), c.Name, expr)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`States.Format('Hello, {}!', $.name)`,
		`States.Array(1, 'a\'b\{\}\\', true, false, null, $$.Execution.Id, $)`,
		`States.ArrayPartition(States.ArrayRange(1, 50, 3), 4)`,
		`States.JsonMerge($.json1, $.json2, false)`,
		`States.Hash(States.Base64Encode($.input), 'SHA-256')`,
		`States.ArrayLength($.items[?(@.id > 'a')])`,
		`States.MathRandom(1, 9, 7)`,
	} {
		f.Add(s)
	}
	in, ctx := doc(f, input), doc(f, context)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := intrinsic.Parse(s)
		if err != nil {
			var se *intrinsic.SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(s) {
				t.Fatalf("Parse(%q) error %v, want a *SyntaxError with an offset inside the expression", s, err)
			}
			return
		}
		if strings.Count(s, "..") > 2 || strings.Count(s, "?") > 2 {
			return // path evaluation cost grows exponentially with nested descents and filters
		}
		_, err = c.Eval(intrinsic.Env{Input: in, Context: ctx, Rand: zeroRand{}})
		if err != nil && !errors.Is(err, intrinsic.ErrIntrinsicFailure) && !errors.Is(err, jsonpath.ErrNoMatch) {
			t.Fatalf("Eval(%q) error %v wraps neither ErrIntrinsicFailure nor jsonpath.ErrNoMatch", s, err)
		}
	})
}

func BenchmarkFormat(b *testing.B) {
	c, err := intrinsic.Parse(`States.Format('Hello, {}! You are visitor {} of run {}.', $.name, $.Id, $$.Execution.Name)`)
	if err != nil {
		b.Fatal(err)
	}
	env := intrinsic.Env{Input: doc(b, input), Context: doc(b, context)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Eval(env); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNested(b *testing.B) {
	c, err := intrinsic.Parse(`States.Format('{}.{}', States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), States.ArrayLength(States.ArrayRange(1, 10, 1)))`)
	if err != nil {
		b.Fatal(err)
	}
	env := intrinsic.Env{Input: doc(b, input), Context: doc(b, context)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Eval(env); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConcurrentUse evaluates one parsed call from many goroutines; go test -race checks
// the claim that a *Call is safe for concurrent use.
func TestConcurrentUse(t *testing.T) {
	c, err := intrinsic.Parse(`States.Format('{} {}', States.JsonToString($.someJson), States.MathRandom(1, 10))`)
	if err != nil {
		t.Fatal(err)
	}
	env := intrinsic.Env{Input: doc(t, input), Context: doc(t, context)}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := c.Eval(env); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestErrorString(t *testing.T) {
	_, err := intrinsic.Parse(`States.Nope()`)
	if got, want := err.Error(), `invalid intrinsic function "States.Nope()" at offset 0: unknown intrinsic function "States.Nope"`; got != want {
		t.Errorf("SyntaxError = %q, want %q", got, want)
	}
}
