package intrinsic

import (
	"encoding/json"
	"math"
	"testing"
)

// The expected strings are what Java's Double.toString and the JSON parser Step Functions
// uses produce for these inputs.
func TestJavaNumber(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"0", "0"},
		{"-0", "0"},
		{"42", "42"},
		{"-7", "-7"},
		{"12345678901234567890", "12345678901234567890"},
		{"1.0", "1.0"},
		{"1.10", "1.1"},
		{"-0.0", "-0.0"},
		{"0.001", "0.001"},
		{"0.0001", "1.0E-4"},
		{"1e2", "100.0"},
		{"1E2", "100.0"},
		{"9999999", "9999999"},
		{"9999999.0", "9999999.0"},
		{"10000000.0", "1.0E7"},
		{"1.5e10", "1.5E10"},
		{"-2.5e-7", "-2.5E-7"},
		{"123.456", "123.456"},
		{"1e400", "Infinity"},
	}
	for _, tt := range tests {
		if got := javaNumber(json.Number(tt.in)); got != tt.want {
			t.Errorf("javaNumber(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestJavaDoubleSpecials(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{3, "3.0"},
		{math.Nextafter(0.3, 1), "0.30000000000000004"}, // 0.1+0.2 at run time
	}
	for _, tt := range tests {
		if got := javaDouble(tt.in); got != tt.want {
			t.Errorf("javaDouble(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestGoValues(t *testing.T) {
	// Hand-built documents may hold Go numbers; they print like the JSON they stand for.
	v := map[string]any{"f": 1.5, "i": 3, "i64": int64(-4), "l": []any{2.0}}
	b, err := appendJSON(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"f":1.5,"i":3,"i64":-4,"l":[2.0]}`; got != want {
		t.Errorf("appendJSON = %s, want %s", got, want)
	}
	if _, err := appendJSON(nil, map[string]any{"c": make(chan int)}); err == nil {
		t.Errorf("appendJSON(chan) succeeded, want an error")
	}
	if javaEqual(3, 3.0) || !javaEqual(int64(3), json.Number("3")) || !javaEqual(2.5, json.Number("2.50")) {
		t.Errorf("javaEqual does not tell integers from decimals as Java does")
	}
}
