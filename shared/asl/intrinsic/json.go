package intrinsic

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// appendJSON writes v as compact JSON the way Step Functions' Java serializer does:
// numbers as Java prints them, no HTML escaping, control characters as \b \t \n \f \r or
// \u00XX with uppercase hex. Object members are sorted, as Go maps have no order.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return appendJSONString(b, x), nil
	case map[string]any:
		b = append(b, '{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendJSON(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	s, ok := numberText(v)
	if !ok {
		return nil, fmt.Errorf("cannot represent a value of Go type %T as JSON", v)
	}
	return append(b, s...), nil
}

func appendJSONString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	const hex = "0123456789ABCDEF"
	b = append(b, '"')
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[last:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		last = i + 1
	}
	b = append(b, s[last:]...)
	return append(b, '"')
}

// writeFormatValue writes v as States.Format shows it: scalars as their text, strings
// unquoted, objects and arrays as Java's Map.toString and List.toString.
func writeFormatValue(b *strings.Builder, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		b.WriteString(x)
	case map[string]any:
		b.WriteByte('{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k)
			b.WriteByte('=')
			if err := writeFormatValue(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			if err := writeFormatValue(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		s, ok := numberText(v)
		if !ok {
			return fmt.Errorf("cannot format a value of Go type %T", v)
		}
		b.WriteString(s)
	}
	return nil
}

// numberText prints a number as Java would after parsing it from JSON.
func numberText(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		return javaNumber(n), true
	case float64:
		return javaDouble(n), true
	case int:
		return strconv.Itoa(n), true
	case int64:
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}

// isIntegerLiteral reports whether JSON number text has neither fraction nor exponent,
// which is when Java parses it as an integer rather than a double.
func isIntegerLiteral(s string) bool { return !strings.ContainsAny(s, ".eE") }

// javaNumber rewrites JSON number text as Java prints the parsed value: integers keep
// their digits (-0 becomes 0), other numbers go through Double.toString.
func javaNumber(n json.Number) string {
	s := string(n)
	if isIntegerLiteral(s) {
		if s == "-0" {
			return "0"
		}
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRangeErr(err) {
		return s
	}
	return javaDouble(f)
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// javaDouble formats f as Java's Double.toString: plain notation with at least one
// fractional digit from 10^-3 up to 10^7, computerized scientific notation (1.0E10)
// outside it, and the shortest digits that identify the value.
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(f, 'e', -1, 64), "e")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	sign := ""
	if exp[0] == '-' {
		sign = "-"
	}
	exp = strings.TrimLeft(exp[1:], "0")
	return mant + "E" + sign + exp
}

// appendKey writes a canonical encoding of v in which two values are equal exactly when
// Java's equals would call them equal: integers and decimals never match each other.
func appendKey(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'n')
	case bool:
		if x {
			return append(b, 't')
		}
		return append(b, 'f')
	case string:
		b = append(b, 's')
		b = strconv.AppendInt(b, int64(len(x)), 10)
		b = append(b, ':')
		return append(b, x...)
	case map[string]any:
		b = append(b, '{')
		for _, k := range sortedKeys(x) {
			b = appendKey(b, k)
			b = appendKey(b, x[k])
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for _, e := range x {
			b = appendKey(b, e)
		}
		return append(b, ']')
	case json.Number:
		if isIntegerLiteral(string(x)) {
			return append(append(b, 'i'), javaNumber(x)...)
		}
		return append(append(b, 'd'), javaNumber(x)...)
	case float64:
		return append(append(b, 'd'), javaDouble(x)...)
	case int:
		return strconv.AppendInt(append(b, 'i'), int64(x), 10)
	case int64:
		return strconv.AppendInt(append(b, 'i'), x, 10)
	}
	return fmt.Appendf(append(b, '?'), "%T:%v", v, v)
}

func javaEqual(a, b any) bool {
	return string(appendKey(nil, a)) == string(appendKey(nil, b))
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
