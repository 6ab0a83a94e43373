package intrinsic

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"maps"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

// Limits Step Functions documents for intrinsic inputs and outputs.
const (
	maxStringChars = 10000 // Base64Encode, Base64Decode, Hash input, in UTF-16 units
	maxRangeItems  = 1000  // ArrayRange output
)

func format(_ io.Reader, c *Call, args []any) (any, error) {
	tmpl, ok := args[0].(string)
	if !ok {
		return nil, fail(c, "the first argument must be a string template, found %s", describe(args[0]))
	}
	var holes []int
	if a := &c.args[0]; a.kind == argLiteral {
		holes = a.holes
	} else {
		holes = findHoles(tmpl)
	}
	if len(holes) != len(args)-1 {
		return nil, fail(c, "the template has %d {} placeholder%s but %d value%s follow it", len(holes), plural(len(holes)), len(args)-1, plural(len(args)-1))
	}
	var b strings.Builder
	b.Grow(len(tmpl) + 16*len(holes))
	last := 0
	for i, h := range holes {
		b.WriteString(tmpl[last:h])
		if err := writeFormatValue(&b, args[i+1]); err != nil {
			return nil, fail(c, "argument %d: %v", i+2, err)
		}
		last = h + 2
	}
	b.WriteString(tmpl[last:])
	return b.String(), nil
}

func findHoles(s string) []int {
	var holes []int
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '{' && s[i+1] == '}' {
			holes = append(holes, i)
			i++
		}
	}
	return holes
}

// checkFormat rejects a literal template whose placeholders and values disagree: that
// mistake shows in the definition.
func checkFormat(p *parser, c *Call) error {
	if a := &c.args[0]; a.kind == argLiteral {
		if _, ok := a.lit.(string); !ok {
			return p.errorf(a.pos, "the template of States.Format must be a string")
		}
		if len(a.holes) != len(c.args)-1 {
			return p.errorf(a.pos, "the States.Format template has %d {} placeholder%s but %d value%s follow it", len(a.holes), plural(len(a.holes)), len(c.args)-1, plural(len(c.args)-1))
		}
	}
	return nil
}

func stringToJSON(_ io.Reader, c *Call, args []any) (any, error) {
	s, ok := args[0].(string)
	if !ok {
		return nil, fail(c, "the argument must be a string holding JSON, found %s", describe(args[0]))
	}
	if strings.TrimSpace(s) == "" {
		return nil, nil // Step Functions returns null for a blank string
	}
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fail(c, "the argument is not valid JSON: %v", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fail(c, "the argument is not valid JSON: unexpected data after the value")
	}
	return canonicalNumbers(v), nil
}

// canonicalNumbers rewrites numbers in the form Java gives them after parsing, which is
// what Step Functions returns (-0 becomes 0, 1.50 becomes 1.5). It changes v in place, which
// is safe because v was just decoded.
func canonicalNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		return json.Number(javaNumber(x))
	case map[string]any:
		for k, e := range x {
			x[k] = canonicalNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = canonicalNumbers(e)
		}
	}
	return v
}

func jsonToString(_ io.Reader, c *Call, args []any) (any, error) {
	b, err := appendJSON(nil, args[0])
	if err != nil {
		return nil, fail(c, "%v", err)
	}
	return string(b), nil
}

func array(_ io.Reader, _ *Call, args []any) (any, error) {
	out := make([]any, len(args))
	copy(out, args)
	return out, nil
}

func arrayPartition(_ io.Reader, c *Call, args []any) (any, error) {
	a, err := arrayArg(c, args, 0)
	if err != nil {
		return nil, err
	}
	size, err := intArg(c, args, 1, "the chunk size")
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, fail(c, "the chunk size must be a positive integer, found %s", describe(args[1]))
	}
	step := int(min(size, int64(len(a))))
	out := make([]any, 0, (int64(len(a))+size-1)/size)
	for i := 0; i < len(a); i += step {
		end := min(i+step, len(a))
		chunk := make([]any, end-i)
		copy(chunk, a[i:end])
		out = append(out, chunk)
	}
	return out, nil
}

func arrayContains(_ io.Reader, c *Call, args []any) (any, error) {
	a, err := arrayArg(c, args, 0)
	if err != nil {
		return nil, err
	}
	for _, v := range a {
		if javaEqual(v, args[1]) {
			return true, nil
		}
	}
	return false, nil
}

func arrayRange(_ io.Reader, c *Call, args []any) (any, error) {
	var n [3]int64
	for i, what := range [3]string{"the start", "the end", "the step"} {
		v, err := intArg(c, args, i, what)
		if err != nil {
			return nil, err
		}
		n[i] = v
	}
	start, end, step := n[0], n[1], n[2]
	if step == 0 {
		return nil, fail(c, "the step (third argument) must not be 0")
	}
	count := int64(0)
	if (step > 0 && start <= end) || (step < 0 && start >= end) {
		count = (end-start)/step + 1
	}
	if count > maxRangeItems {
		return nil, fail(c, "the range would hold %d items; at most %d are allowed", count, maxRangeItems)
	}
	out := make([]any, count)
	for i := range out {
		out[i] = json.Number(strconv.FormatInt(start+int64(i)*step, 10))
	}
	return out, nil
}

func arrayGetItem(_ io.Reader, c *Call, args []any) (any, error) {
	a, err := arrayArg(c, args, 0)
	if err != nil {
		return nil, err
	}
	i, err := intArg(c, args, 1, "the index")
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= int64(len(a)) {
		return nil, fail(c, "index %d is out of bounds for an array of length %d", i, len(a))
	}
	return a[i], nil
}

func arrayLength(_ io.Reader, c *Call, args []any) (any, error) {
	a, err := arrayArg(c, args, 0)
	if err != nil {
		return nil, err
	}
	return json.Number(strconv.Itoa(len(a))), nil
}

func arrayUnique(_ io.Reader, c *Call, args []any) (any, error) {
	a, err := arrayArg(c, args, 0)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]struct{}, len(a))
	out := make([]any, 0, len(a))
	var key []byte
	for _, v := range a {
		key = appendKey(key[:0], v)
		if _, dup := seen[string(key)]; dup {
			continue
		}
		seen[string(key)] = struct{}{}
		out = append(out, v)
	}
	return out, nil
}

func base64Encode(_ io.Reader, c *Call, args []any) (any, error) {
	s, err := limitedString(c, args[0], "data to encode")
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func base64Decode(_ io.Reader, c *Call, args []any) (any, error) {
	s, err := limitedString(c, args[0], "Base64 data to decode")
	if err != nil {
		return nil, err
	}
	// MIME decoding ignores line breaks and other characters outside the alphabet.
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '+', r == '/', r == '=':
			return r
		}
		return -1
	}, s)
	enc := base64.StdEncoding
	if !strings.HasSuffix(clean, "=") && len(clean)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(clean)
	if err != nil {
		return nil, fail(c, "the argument is not valid Base64: %v", err)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), nil
}

var hashes = map[string]func() hash.Hash{
	"MD5":     md5.New,
	"SHA-1":   sha1.New,
	"SHA-256": sha256.New,
	"SHA-384": sha512.New384,
	"SHA-512": sha512.New,
}

func hashAlgorithms() string { return "MD5, SHA-1, SHA-256, SHA-384 or SHA-512" }

func hashData(_ io.Reader, c *Call, args []any) (any, error) {
	s, err := limitedString(c, args[0], "data to hash")
	if err != nil {
		return nil, err
	}
	alg, ok := args[1].(string)
	h := hashes[alg]
	if !ok || h == nil {
		return nil, fail(c, "the algorithm must be %s, found %s", hashAlgorithms(), describe(args[1]))
	}
	sum := h()
	sum.Write([]byte(s))
	return hex.EncodeToString(sum.Sum(nil)), nil
}

func checkHash(p *parser, c *Call) error {
	if a := &c.args[1]; a.kind == argLiteral {
		if s, ok := a.lit.(string); !ok || hashes[s] == nil {
			return p.errorf(a.pos, "the States.Hash algorithm must be %s", hashAlgorithms())
		}
	}
	return nil
}

func jsonMerge(_ io.Reader, c *Call, args []any) (any, error) {
	var objs [2]map[string]any
	for i := range objs {
		m, ok := args[i].(map[string]any)
		if !ok {
			return nil, fail(c, "the %s argument must be an object, found %s", ordinal(i), describe(args[i]))
		}
		objs[i] = m
	}
	if deep, ok := args[2].(bool); !ok || deep {
		return nil, fail(c, "the third argument must be false: only shallow merging is supported, found %s", describe(args[2]))
	}
	out := make(map[string]any, len(objs[0])+len(objs[1]))
	maps.Copy(out, objs[0])
	maps.Copy(out, objs[1])
	return out, nil
}

func checkJSONMerge(p *parser, c *Call) error {
	if a := &c.args[2]; a.kind == argLiteral && a.lit != false {
		return p.errorf(a.pos, "the third argument of States.JsonMerge must be false: Step Functions supports only shallow merging")
	}
	return nil
}

func mathRandom(rnd io.Reader, c *Call, args []any) (any, error) {
	start, err := intArg(c, args, 0, "the start")
	if err != nil {
		return nil, err
	}
	end, err := intArg(c, args, 1, "the end")
	if err != nil {
		return nil, err
	}
	if end <= start || end-start > math.MaxInt32 {
		return nil, fail(c, "the end (%d) must be greater than the start (%d), by at most %d", end, start, math.MaxInt32)
	}
	bound := int32(end - start)
	if len(args) == 3 {
		seed, err := intArg(c, args, 2, "the seed")
		if err != nil {
			return nil, err
		}
		r := newJavaRandom(seed)
		return json.Number(strconv.FormatInt(start+int64(r.nextInt(bound)), 10)), nil
	}
	n, err := uniform(rnd, uint64(bound))
	if err != nil {
		return nil, fail(c, "reading randomness: %v", err)
	}
	return json.Number(strconv.FormatInt(start+int64(n), 10)), nil
}

// uniform draws an integer in [0, n) without modulo bias.
func uniform(r io.Reader, n uint64) (uint64, error) {
	limit := math.MaxUint64 - math.MaxUint64%n
	var buf [8]byte
	for {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return 0, err
		}
		if v := binary.BigEndian.Uint64(buf[:]); v < limit {
			return v % n, nil
		}
	}
}

func mathAdd(_ io.Reader, c *Call, args []any) (any, error) {
	var sum int64
	for i := range 2 {
		n, err := intArg(c, args, i, "the "+ordinal(i)+" value")
		if err != nil {
			return nil, err
		}
		if n < math.MinInt32 || n > math.MaxInt32 {
			return nil, fail(c, "the %s value %s is outside the range -2147483648 to 2147483647", ordinal(i), describe(args[i]))
		}
		sum += n
	}
	return json.Number(strconv.FormatInt(sum, 10)), nil
}

func stringSplit(_ io.Reader, c *Call, args []any) (any, error) {
	var s [2]string
	for i, what := range [2]string{"string to split", "delimiter"} {
		v, ok := args[i].(string)
		if !ok {
			return nil, fail(c, "the %s argument (the %s) must be a string, found %s", ordinal(i), what, describe(args[i]))
		}
		s[i] = v
	}
	parts := strings.FieldsFunc(s[0], func(r rune) bool { return strings.ContainsRune(s[1], r) })
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out, nil
}

func uuid(rnd io.Reader, c *Call, _ []any) (any, error) {
	var u [16]byte
	if _, err := io.ReadFull(rnd, u[:]); err != nil {
		return nil, fail(c, "reading randomness: %v", err)
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:]), nil
}

func arrayArg(c *Call, args []any, i int) ([]any, error) {
	a, ok := args[i].([]any)
	if !ok {
		return nil, fail(c, "the %s argument must be an array, found %s", ordinal(i), describe(args[i]))
	}
	return a, nil
}

// intArg reads an integer argument, rounding a fraction as Java's Math.round does.
func intArg(c *Call, args []any, i int, what string) (int64, error) {
	f, ok := jsonpath.Number(args[i])
	if !ok {
		return 0, fail(c, "%s (%s argument) must be an integer, found %s", what, ordinal(i), describe(args[i]))
	}
	// Beyond 2^53 doubles are no longer integers apart; refusing them also keeps the
	// arithmetic of ArrayRange and MathRandom clear of int64 overflow.
	r := math.Floor(f + 0.5)
	if math.IsNaN(r) || math.Abs(r) > 1<<53 {
		return 0, fail(c, "%s (%s argument) is out of range, found %s", what, ordinal(i), describe(args[i]))
	}
	return int64(r), nil
}

func limitedString(c *Call, v any, what string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fail(c, "the %s must be a string, found %s", what, describe(v))
	}
	if n := utf16Len(s); n > maxStringChars {
		return "", fail(c, "the %s has %d characters; at most %d are allowed", what, n, maxStringChars)
	}
	return s, nil
}

// utf16Len counts characters as Java's String.length does.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// describe names a value in messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if len(x) > 40 {
			return "a string of " + strconv.Itoa(utf16Len(x)) + " characters"
		}
		return strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	if n, ok := v.(json.Number); ok {
		return string(n)
	}
	if f, ok := jsonpath.Number(v); ok {
		return javaDouble(f)
	}
	return fmt.Sprintf("a value of Go type %T", v)
}
