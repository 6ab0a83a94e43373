package asl

import (
	"bytes"
	"encoding/json"
	"math"
	"sync"
	"time"

	"github.com/relais-ci/relais/shared/asl/jsonpath"
)

func jsonNumber(s string) json.Number { return json.Number(s) }

// compactJSON renders a JSON value as Step Functions prints it: compact, no HTML escaping.
func compactJSON(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		if isPlainString(v) {
			return `"` + v + `"`
		}
	case json.Number:
		return string(v)
	}
	b := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(b)
	b.Reset()
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "null"
	}
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func isPlainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			return false
		}
	}
	return true
}

// intValue returns v as an int64 when it is an integral JSON number.
func intValue(v any) (int64, bool) {
	f, ok := jsonpath.Number(v)
	if !ok || f != math.Trunc(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return int64(f), true
}

// formatTime renders a time as the context object and Step Functions do:
// UTC with milliseconds, e.g. 2024-01-02T03:04:05.678Z.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

type jsonNumberType = json.Number

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
