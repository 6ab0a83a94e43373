package jsonpath

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// Number returns v as a float64 when it is a JSON number (json.Number, or a float64 or int
// in hand-built documents).
func Number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil && !isRangeErr(err) {
			return 0, false
		}
		return f, true
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// Equal reports whether two JSON values are equal: numbers by value (1 equals 1.0),
// objects and arrays member by member, everything else by type and value.
func Equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !Equal(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	xf, ok := Number(a)
	if !ok {
		return false
	}
	yf, ok := Number(b)
	return ok && xf == yf && !math.IsNaN(xf)
}

// order compares two numbers or two strings; ok is false for any other pair.
func order(a, b any) (int, bool) {
	if x, ok := a.(string); ok {
		y, ok := b.(string)
		if !ok {
			return 0, false
		}
		return CompareStrings(x, y), true
	}
	x, ok := Number(a)
	if !ok {
		return 0, false
	}
	y, ok := Number(b)
	if !ok {
		return 0, false
	}
	switch {
	case x < y:
		return -1, true
	case x > y:
		return 1, true
	case x == y:
		return 0, true
	}
	return 0, false
}

// CompareStrings orders strings by UTF-16 code units, as Java's String.compareTo does;
// Step Functions documents its string comparisons by reference to it. Byte order (Go's)
// differs for characters above U+FFFF against U+E000..U+FFFF.
func CompareStrings(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			ua, ub := utf16Key(ra), utf16Key(rb)
			if ua != ub {
				if ua < ub {
					return -1
				}
				return 1
			}
			// Same leading unit: both are supplementary with one high surrogate.
			if ra < rb {
				return -1
			}
			return 1
		}
		a, b = a[na:], b[nb:]
	}
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return -1
	}
	return 1
}

// utf16Key is the first UTF-16 code unit of r.
func utf16Key(r rune) rune {
	if r >= 0x10000 {
		return 0xD800 + ((r - 0x10000) >> 10)
	}
	return r
}
