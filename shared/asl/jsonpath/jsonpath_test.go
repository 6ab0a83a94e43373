package jsonpath_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

// doc decodes JSON the way the interpreter does.
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
		tb.Fatalf("encode %v: %v", v, err)
	}
	return strings.TrimSpace(b.String())
}

// store is the example document of the JSONPath literature.
const store = `{
  "store": {
    "book": [
      {"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century", "price": 8.95},
      {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour", "price": 12.99},
      {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553-21311-3", "price": 8.99},
      {"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord of the Rings", "isbn": "0-395-19395-8", "price": 22.99}
    ],
    "bicycle": {"color": "red", "price": 19.95}
  },
  "expensive": 10,
  "odd key": {"a.b": 1, "it's": 2, "q\"uote": 3},
  "foo": 123,
  "bar": ["a", "b", "c"],
  "car": {"cdr": true},
  "nothing": null
}`

func TestParseClassification(t *testing.T) {
	tests := []struct {
		path                   string
		context, definite, ref bool
	}{
		{path: "$", definite: true, ref: true},
		{path: "$$", context: true, definite: true, ref: true},
		{path: "$$.Execution.Id", context: true, definite: true, ref: true},
		{path: "$.foo", definite: true, ref: true},
		{path: "$.car.cdr", definite: true, ref: true},
		{path: "$['odd key']['a.b']", definite: true, ref: true},
		{path: `$["odd key"]`, definite: true, ref: true},
		{path: "$.bar[0]", definite: true, ref: true},
		{path: "$.bar[-1]", definite: true, ref: true},
		{path: "$.bar[(@.length-1)]", definite: true},
		{path: "$.bar[( @.length - 2 )]", definite: true},
		{path: "$.abc.['def ghi']", definite: true, ref: true},
		{path: "$['a','b']", definite: true},
		{path: "$['a','b'].c"},
		{path: "$.bar[*]"},
		{path: "$.*"},
		{path: "$.bar[0,1]"},
		{path: "$.bar[1:]"},
		{path: "$.bar[::2]"},
		{path: "$..price"},
		{path: "$..*"},
		{path: "$..[0]"},
		{path: "$.store.book[?(@.price < 10)]"},
		{path: "$.store.book[?(@.isbn)]"},
		{path: "$[?(@.a == 1 && (@.b != 'x' || !@.c))]"},
		{path: "$.a-b", definite: true, ref: true},
		{path: "$.ünïcode", definite: true, ref: true},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p, err := jsonpath.Parse(tt.path)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.path, err)
			}
			got := [3]bool{p.Context(), p.IsDefinite(), p.IsReference()}
			want := [3]bool{tt.context, tt.definite, tt.ref}
			if got != want {
				t.Errorf("Parse(%q) [Context IsDefinite IsReference] = %v, want %v", tt.path, got, want)
			}
			if p.String() != tt.path {
				t.Errorf("String() = %q, want %q", p.String(), tt.path)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		path   string
		offset int
		msg    string // substring of the message
	}{
		{"", 0, "empty path"},
		{"foo", 0, "expected '$'"},
		{"$.", 2, "expected a member name"},
		{"$..", 3, "expected a member name"},
		{"$foo", 1, "expected '.' or '['"},
		{"$[", 2, "after '['"},
		{"$[]", 2, "after '['"},
		{"$['a'", 5, "expected ']'"},
		{"$['a", 2, "unterminated string"},
		{"$['a\\q']", 4, "unknown escape"},
		{"$[1", 3, "expected ']'"},
		{"$[1,]", 4, "expected an index"},
		{"$[-]", 3, "expected digits"},
		{"$[99999999999]", 2, "out of range"},
		{"$[::0]", 4, "step must not be 0"},
		{"$[?(@.a ==)]", 10, "expected '@', '$'"},
		{"$[?(@.a =~ x)]", 11, "expected a regular expression"},
		{"$[?(@.a =~ /x)]", 11, "unterminated regular expression"},
		{"$[?(@.a =~ /(/)]", 11, "invalid regular expression"},
		{"$[?(@.a in 'x')]", 11, "expected an array"},
		{"$[?(@.a in [@.b])]", 11, "array literals in filters hold only"},
		{"$[?(@.a in ['x')]", 15, "expected ']' to close the array literal"},
		{"$[?(@.a]", 7, "expected ')'"},
		{"$[?@.a]", 3, "expected '('"},
		{"$.a b", 3, "expected '.' or '['"},
		{"$.a.length()", 10, "functions such as length() are not supported"},
		{"$[(@.size-1)]", 2, "script expressions other than @.length-n are not supported"},
		{"$[(@.length+1)]", 11, "expected '-' after (@.length"},
		{"$[(@.length-x)]", 12, "expected a non-negative number"},
		{"$[(@.length-1]", 13, "expected ')' to close (@.length-n"},
		{"$[?(@.a == 1e)]", 11, "invalid number"},
		{"$" + strings.Repeat("[?(@", 40), 0, "nested more than"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			_, err := jsonpath.Parse(tt.path)
			var se *jsonpath.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error = %v, want a *SyntaxError", tt.path, err)
			}
			if !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Parse(%q) message = %q, want it to contain %q", tt.path, se.Msg, tt.msg)
			}
			if tt.offset != 0 && se.Offset != tt.offset {
				t.Errorf("Parse(%q) offset = %d, want %d (%s)", tt.path, se.Offset, tt.offset, se.Msg)
			}
		})
	}
}

func TestGetDefinite(t *testing.T) {
	d := doc(t, store)
	tests := []struct {
		path string
		want string // JSON
	}{
		{"$", ""}, // the whole document, checked below
		{"$.foo", `123`},
		{"$.bar", `["a","b","c"]`},
		{"$.car.cdr", `true`},
		{"$.nothing", `null`},
		{"$.bar[0]", `"a"`},
		{"$.bar[2]", `"c"`},
		{"$.bar[(@.length-1)]", `"c"`},
		{"$.bar[(@.length - 3)]", `"a"`},
		{"$.store.book[(@.length-1)].title", `"The Lord of the Rings"`},
		{"$['odd key']['a.b']", `1`},
		{`$['odd key']['it\'s']`, `2`},
		{`$['odd key']["q\"uote"]`, `3`},
		{"$['odd key'].['a.b']", `1`},
		{"$.store.book[1].author", `"Evelyn Waugh"`},
		{"$.store.bicycle['color','price']", `{"color":"red","price":19.95}`},
		{"$.store.bicycle['color','gears']", `{"color":"red"}`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := jsonpath.MustParse(tt.path).Get(d)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			want := tt.want
			if want == "" {
				want = encode(t, d)
			}
			if diff := cmp.Diff(want, encode(t, got)); diff != "" {
				t.Errorf("Get(%s) mismatch (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

func TestGetNoMatch(t *testing.T) {
	d := doc(t, store)
	tests := []struct {
		path, at, reason string
	}{
		{"$.missing", "$", `no member "missing"`},
		{"$.car.missing", "$.car", `no member "missing"`},
		{"$.foo.x", "$.foo", `expected an object with member "x", found a number`},
		{"$.bar.x", "$.bar", `found an array of length 3`},
		{"$.nothing.x", "$.nothing", `found null`},
		{"$.bar[3]", "$.bar", `index 3 out of range (length 3)`},
		{"$.bar[-4]", "$.bar", `index -4 out of range`},
		// Step Functions rejects negative indexes; [(@.length-1)] is its idiom.
		{"$.bar[-1]", "$.bar", `index -1 out of range (length 3)`},
		{"$.bar[(@.length-4)]", "$.bar", `index (@.length-4) out of range (length 3)`},
		{"$.bar[(@.length-0)]", "$.bar", `index (@.length-0) out of range`},
		{"$.bar[2,0,7]", "$.bar", `index 7 out of range (length 3)`},
		{"$.bar[-1,0]", "$.bar", `index -1 out of range`},
		{"$.bar[*][0]", "$.bar[*]", `expected an array, found a string`},
		{"$.bar[7][*]", "$.bar", `index 7 out of range (length 3)`},
		{"$.store.book[*].title[1:]", "$.store.book[*].title", `expected an array, found a string`},
		{"$.nothing[0]", "$.nothing", `expected an array for index 0, found null`},
		{"$.foo.x[*]", "$.foo", `expected an object with member "x", found a number`},
		{"$.car[0]", "$.car", `expected an array for index 0, found an object`},
		{"$.foo[1:]", "$.foo", `expected an array, found a number`},
		{"$.foo[?(@.a)]", "$.foo", `a filter needs an array or object`},
		{"$$.Execution.Id", "$$", `expected an object with member "Execution", found null`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			p := jsonpath.MustParse(tt.path)
			target := d
			if p.Context() {
				target = nil
			}
			got, err := p.Get(target)
			if !errors.Is(err, jsonpath.ErrNoMatch) {
				t.Fatalf("Get(%s) = %v, %v; want an error wrapping ErrNoMatch", tt.path, got, err)
			}
			var nm *jsonpath.NoMatchError
			if !errors.As(err, &nm) {
				t.Fatalf("Get(%s) error %T, want *NoMatchError", tt.path, err)
			}
			if nm.Path != tt.path || nm.At != tt.at || !strings.Contains(nm.Reason, tt.reason) {
				t.Errorf("Get(%s) error = %+v, want Path %q, At %q, Reason containing %q", tt.path, *nm, tt.path, tt.at, tt.reason)
			}
		})
	}
}

func TestGetIndefinite(t *testing.T) {
	d := doc(t, store)
	tests := []struct {
		path string
		want string // JSON array
	}{
		{"$.bar[*]", `["a","b","c"]`},
		{"$.bar.*", `["a","b","c"]`},
		{"$.car.*", `[true]`},
		{"$.foo.*", `[]`},
		{"$.store.book[*].author", `["Nigel Rees","Evelyn Waugh","Herman Melville","J. R. R. Tolkien"]`},
		{"$.store.book[*].isbn", `["0-553-21311-3","0-395-19395-8"]`},
		{"$.store.book[*].missing.deeper", `[]`},
		{"$.bar[0,2]", `["a","c"]`},
		{"$.bar[2,0]", `["c","a"]`},
		{"$.store.book[*]['isbn','price'].x", `[]`},
		{"$.missing[*]", `[]`},
		{"$.missing.a[*]", `[]`},
		{"$.car.missing[*]", `[]`},
		{"$.store.book[*].missing[0]", `[]`},
		{"$.bar[1:]", `["b","c"]`},
		{"$.bar[:2]", `["a","b"]`},
		{"$.bar[-2:]", `["b","c"]`},
		{"$.bar[0:10]", `["a","b","c"]`},
		{"$.bar[::2]", `["a","c"]`},
		{"$.bar[::-1]", `["c","b","a"]`},
		{"$.bar[2:0:-1]", `["c","b"]`},
		{"$.bar[5:]", `[]`},
		{"$..[0]", `["a",{"author":"Nigel Rees","category":"reference","price":8.95,"title":"Sayings of the Century"}]`},
		{"$..[1:]", `["b","c",{"author":"Evelyn Waugh","category":"fiction","price":12.99,"title":"Sword of Honour"},{"author":"Herman Melville","category":"fiction","isbn":"0-553-21311-3","price":8.99,"title":"Moby Dick"},{"author":"J. R. R. Tolkien","category":"fiction","isbn":"0-395-19395-8","price":22.99,"title":"The Lord of the Rings"}]`},
		{"$..author", `["Nigel Rees","Evelyn Waugh","Herman Melville","J. R. R. Tolkien"]`},
		{"$.store..price", `[19.95,8.95,12.99,8.99,22.99]`},
		{"$..book[2].title", `["Moby Dick"]`},
		{"$..book[-1:].title", `["The Lord of the Rings"]`},
		{"$.car..*", `[true]`},
		{"$..['color','price']", `[{"color":"red","price":19.95}]`},
		{"$..['bicycle','expensive'].color", `["red"]`},
		{"$['foo','expensive'].x", `[]`},
		{"$.store.book[?(@.price < 10)].title", `["Sayings of the Century","Moby Dick"]`},
		{"$.store.book[?(@.price<10)].title", `["Sayings of the Century","Moby Dick"]`},
		{"$.store.book[?(@.isbn)].title", `["Moby Dick","The Lord of the Rings"]`},
		{"$.store.book[?(!@.isbn)].title", `["Sayings of the Century","Sword of Honour"]`},
		{"$.store.book[?(@.category == 'fiction' && @.price > 20)].title", `["The Lord of the Rings"]`},
		{`$.store.book[?(@.category == "reference" || @.price >= 22.99)].title`, `["Sayings of the Century","The Lord of the Rings"]`},
		{"$.store.book[?(@.price <= $.expensive)].price", `[8.95,8.99]`},
		{"$.store.book[?(@.price == 8.95)].title", `["Sayings of the Century"]`},
		// Jayway compares a number with a string that reads as a number numerically.
		{"$.store.book[?(@.price == '8.950')].title", `["Sayings of the Century"]`},
		{"$.store.book[?(@.price > '9')].title", `["Sword of Honour","The Lord of the Rings"]`},
		{"$.store.book[?(@.price == 'abc')].title", `[]`},
		{"$.store.book[?(@.price < 'abc')].title", `[]`},
		// A missing operand makes every comparison false, != included (Jayway 2.0).
		{"$.store.book[?(@.isbn != '0-553-21311-3')].title", `["The Lord of the Rings"]`},
		{"$.store.book[?(@.missing != 1)].title", `[]`},
		{"$.store.book[?(@.author > 'I')].author", `["Nigel Rees","J. R. R. Tolkien"]`},
		{"$.store.book[?(@.price > 'a')].title", `[]`},
		{"$.store.bicycle[?(@.color == 'red')].price", `[19.95]`},
		{"$.store.bicycle[?(@.color == 'blue')]", `[]`},
		{"$.store.book[?(@.missing == null)]", `[]`},
		{"$.store[?(@.color)].price", `[]`}, // a filter on an object tests the object itself
		{"$.store.bicycle[?(@.color)].price", `[19.95]`},
		{"$.car[?(@.cdr == true)]", `[{"cdr":true}]`},
		{"$..[?(@.price > 20)].title", `["The Lord of the Rings"]`},
		{"$.store.book[?(@.author =~ /.*Tolkien/)].price", `[22.99]`},
		{"$.store.book[?(@.author =~ /tolkien/)].price", `[]`},
		{"$.store.book[?(@.author =~ /.*TOLKIEN/i)].price", `[22.99]`},
		{"$.store.book[?(@.price =~ /8.*/)].price", `[8.95,8.99]`},
		{"$.store.book[?(@.author =~ /Tolkien/)].price", `[]`}, // the whole string must match
		{"$.store.book[?(@.isbn =~ /.*/)].price", `[8.99,22.99]`},
		{"$.store.book[?(@.category in ['reference', 'poetry'])].title", `["Sayings of the Century"]`},
		{"$.store.book[?(@.price in [8.95, 8.99])].title", `["Sayings of the Century","Moby Dick"]`},
		{"$.store.book[?(@.category nin ['fiction'])].title", `["Sayings of the Century"]`},
		{"$.store.book[?(@.isbn nin [])].title", `["Moby Dick","The Lord of the Rings"]`},
		// The @ operator does not match scalar values, only objects (developer guide).
		{"$.bar[?(@ in $.bar)]", `[]`},
		{"$.bar[?(@ == 'b')]", `[]`},
		{"$.bar[?(@)]", `[]`},
		{"$.store.book[?(@.category in $..category)].price", `[8.95,12.99,8.99,22.99]`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := jsonpath.MustParse(tt.path).Get(d)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if _, ok := got.([]any); !ok {
				t.Fatalf("Get(%s) = %T, want []any", tt.path, got)
			}
			if diff := cmp.Diff(tt.want, encode(t, got)); diff != "" {
				t.Errorf("Get(%s) mismatch (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

func TestGetDoesNotMutate(t *testing.T) {
	d := doc(t, store)
	before := encode(t, d)
	for _, p := range []string{"$..*", "$.store.bicycle['color','price']", "$.store.book[?(@.price > 1)]", "$.bar[::-1]"} {
		if _, err := jsonpath.MustParse(p).Get(d); err != nil {
			t.Fatalf("Get(%s): %v", p, err)
		}
	}
	if after := encode(t, d); after != before {
		t.Errorf("Get modified the document:\nbefore %s\nafter  %s", before, after)
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		name, doc, path, value, want string
	}{
		{"root replaces", `{"a":1}`, "$", `"x"`, `"x"`},
		{"new member", `{"a":1}`, "$.b", `{"c":2}`, `{"a":1,"b":{"c":2}}`},
		{"replace member", `{"a":1}`, "$.a", `[1]`, `{"a":[1]}`},
		{"creates objects", `{"a":1}`, "$.x.y.z", `true`, `{"a":1,"x":{"y":{"z":true}}}`},
		{"into nested object", `{"a":{"b":1,"c":2}}`, "$.a.b", `null`, `{"a":{"b":null,"c":2}}`},
		{"bracket name", `{}`, "$['a b']", `1`, `{"a b":1}`},
		{"array element", `{"a":[1,2,3]}`, "$.a[1]", `"x"`, `{"a":[1,"x",3]}`},
		{"through array", `{"a":[{"b":1}]}`, "$.a[0].c", `2`, `{"a":[{"b":1,"c":2}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := doc(t, tt.doc)
			before := encode(t, d)
			got, err := jsonpath.Set(d, jsonpath.MustParse(tt.path), doc(t, tt.value))
			if err != nil {
				t.Fatalf("Set(%s, %s): %v", tt.doc, tt.path, err)
			}
			if diff := cmp.Diff(tt.want, encode(t, got)); diff != "" {
				t.Errorf("Set(%s, %s, %s) mismatch (-want +got):\n%s", tt.doc, tt.path, tt.value, diff)
			}
			if after := encode(t, d); after != before {
				t.Errorf("Set modified its input: before %s, after %s", before, after)
			}
		})
	}
}

func TestSetErrors(t *testing.T) {
	tests := []struct {
		name, doc, path, at, reason string
	}{
		{"member of string", `{"a":"s"}`, "$.a.b", "$.a", `expected an object to hold member "b", found a string`},
		{"member of array", `{"a":[1]}`, "$.a.b", "$.a", "found an array"},
		{"member of null", `{"a":null}`, "$.a.b", "$.a", "found null"},
		{"member of scalar input", `"hello"`, "$.a", "$", "found a string"},
		{"index of object", `{"a":{}}`, "$.a[0]", "$.a", "expected an array for index 0, found an object"},
		{"index of missing", `{}`, "$.a[0]", "$.a", "found nothing"},
		{"index out of range", `{"a":[1]}`, "$.a[1]", "$.a", "index 1 out of range (length 1)"},
		{"negative index", `{"a":[1,2,3]}`, "$.a[-1]", "$.a", "index -1 out of range (length 3)"},
		{"not a reference path", `{}`, "$.a[*]", "$", "not a reference path"},
		{"context object", `{}`, "$$.a", "$$", "context object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jsonpath.Set(doc(t, tt.doc), jsonpath.MustParse(tt.path), "v")
			if !errors.Is(err, jsonpath.ErrResultPath) {
				t.Fatalf("Set(%s, %s) error = %v, want one wrapping ErrResultPath", tt.doc, tt.path, err)
			}
			var re *jsonpath.ResultPathError
			if !errors.As(err, &re) || re.At != tt.at || !strings.Contains(re.Reason, tt.reason) {
				t.Errorf("Set(%s, %s) error = %v, want At %q and reason containing %q", tt.doc, tt.path, err, tt.at, tt.reason)
			}
		})
	}
}

func TestSetSharesUntouchedBranches(t *testing.T) {
	d := doc(t, `{"keep":{"deep":[1,2]},"a":{"b":1}}`).(map[string]any)
	got, err := jsonpath.Set(d, jsonpath.MustParse("$.a.c"), "x")
	if err != nil {
		t.Fatal(err)
	}
	g := got.(map[string]any)
	if g["keep"].(map[string]any)["deep"] == nil || &g["keep"].(map[string]any)["deep"].([]any)[0] != &d["keep"].(map[string]any)["deep"].([]any)[0] {
		t.Errorf("Set copied a branch that is not on the path")
	}
}

func TestCompareStrings(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"a", "b", -1},
		{"b", "a", 1},
		{"a", "a", 0},
		{"", "a", -1},
		{"ab", "a", 1},
		{"A", "a", -1},
		// U+FF61 sorts after U+1F600 in UTF-8 byte order but before it in UTF-16.
		{"\U0001F600", "\uFF61", -1},
		{"\U0001F600", "\U0001F601", -1},
	}
	for _, tt := range tests {
		if got := jsonpath.CompareStrings(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareStrings(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`1`, `1.0`, true},
		{`1`, `"1"`, false},
		{`null`, `null`, true},
		{`{"a":[1,{"b":null}]}`, `{"a":[1.0,{"b":null}]}`, true},
		{`{"a":1}`, `{"a":1,"b":2}`, false},
		{`[1,2]`, `[2,1]`, false},
		{`true`, `true`, true},
		{`true`, `1`, false},
	}
	for _, tt := range tests {
		if got := jsonpath.Equal(doc(t, tt.a), doc(t, tt.b)); got != tt.want {
			t.Errorf("Equal(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"$", "$$.a", "$.a.b[0]", "$['a','b']", "$..x", "$[1:2:3]", "$[?(@.a < 1 && !(@.b == 'x'))]", `$["\u00e9\\"]`, "$.a[-1,2]"} {
		f.Add(s)
	}
	d := doc(f, store)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := jsonpath.Parse(s)
		if err != nil {
			var se *jsonpath.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %T, want *SyntaxError", s, err)
			}
			if se.Offset < 0 || se.Offset > len(s) {
				t.Fatalf("Parse(%q) offset %d outside the path", s, se.Offset)
			}
			return
		}
		if strings.Count(s, "..") > 2 || strings.Count(s, "?") > 2 {
			return // evaluation cost grows exponentially with nested descents and filters
		}
		v, err := p.Get(d)
		if err != nil && !errors.Is(err, jsonpath.ErrNoMatch) {
			t.Fatalf("Get(%q) error %v does not wrap ErrNoMatch", s, err)
		}
		if !p.IsDefinite() && err == nil {
			if _, ok := v.([]any); !ok {
				t.Fatalf("Get(%q) on an indefinite path = %T, want []any", s, v)
			}
		}
		if p.IsReference() && !p.Context() {
			if _, err := jsonpath.Set(d, p, "x"); err != nil && !errors.Is(err, jsonpath.ErrResultPath) {
				t.Fatalf("Set(%q) error %v does not wrap ErrResultPath", s, err)
			}
		}
	})
}

func BenchmarkGet(b *testing.B) {
	d := doc(b, store)
	for _, path := range []string{"$.store.bicycle.color", "$.store.book[2].title", "$.store.book[?(@.price < 10)].title"} {
		p := jsonpath.MustParse(path)
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Get(d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSet(b *testing.B) {
	d := doc(b, store)
	for _, path := range []string{"$.result", "$.store.bicycle.owner"} {
		p := jsonpath.MustParse(path)
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jsonpath.Set(d, p, "x"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestQuotedNameEscapes(t *testing.T) {
	d := map[string]any{"a\nb": 1, "tab\there": 2, "é": 3, "😀": 4, "a/b": 5, `q"'\`: 6}
	tests := []struct {
		path string
		want any
	}{
		{`$['a\nb']`, 1},
		{`$["tab\there"]`, 2},
		{`$['\u00e9']`, 3},
		{`$['\ud83d\ude00']`, 4},
		{`$['a\/b']`, 5},
		{`$['q"\'\\']`, 6},
		{`$["q\"'\\"]`, 6},
	}
	for _, tt := range tests {
		got, err := jsonpath.MustParse(tt.path).Get(d)
		if err != nil || got != tt.want {
			t.Errorf("Get(%s) = %v, %v; want %v", tt.path, got, err, tt.want)
		}
	}
	for _, bad := range []string{`$['\u12']`, `$['\uzzzz']`, `$['\`} {
		if _, err := jsonpath.Parse(bad); err == nil {
			t.Errorf("Parse(%s) succeeded, want a syntax error", bad)
		}
	}
}

func TestGoNumbers(t *testing.T) {
	d := map[string]any{"items": []any{map[string]any{"n": 1}, map[string]any{"n": 2.5}, map[string]any{"n": int64(3)}}}
	got, err := jsonpath.MustParse("$.items[?(@.n >= 2)].n").Get(d)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{2.5, int64(3)}, got); diff != "" {
		t.Errorf("filter over Go numbers mismatch (-want +got):\n%s", diff)
	}
}

func TestErrorStrings(t *testing.T) {
	_, err := jsonpath.Parse("$.a[")
	if got, want := err.Error(), `invalid JSONPath "$.a[" at offset 4: expected '*', '?(', a quoted name, an index, a slice or (@.length-n) after '[' at offset 3, found end of path`; got != want {
		t.Errorf("SyntaxError = %q, want %q", got, want)
	}
	_, err = jsonpath.Set(map[string]any{"a": "s"}, jsonpath.MustParse("$.a.b"), 1)
	if got, want := err.Error(), `result path $.a.b: expected an object to hold member "b", found a string at $.a`; got != want {
		t.Errorf("ResultPathError = %q, want %q", got, want)
	}
	if !jsonpath.MustParse("$").IsRoot() || jsonpath.MustParse("$.a").IsRoot() {
		t.Errorf("IsRoot is wrong for $ or $.a")
	}
}

// TestConcurrentUse runs one parsed path from many goroutines; go test -race checks the
// claim that a *Path is safe for concurrent use.
func TestConcurrentUse(t *testing.T) {
	d := doc(t, store)
	p := jsonpath.MustParse("$.store.book[?(@.price < $.expensive)].title")
	set := jsonpath.MustParse("$.store.bicycle.owner")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := p.Get(d); err != nil {
					t.Error(err)
					return
				}
				if _, err := jsonpath.Set(d, set, "me"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
