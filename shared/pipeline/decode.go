package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// ParseError says why data is not a declaration: a JSON syntax error (with its line and
// column) or values that do not fit the declaration's shape (each with its JSON path).
type ParseError struct {
	Violations []Violation
}

func (e *ParseError) Error() string {
	msgs := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		msgs[i] = v.String()
	}
	return "parse pipeline declaration: " + strings.Join(msgs, "; ")
}

// Parse reads a declaration in any of the forms CodePipeline users keep: get-pipeline
// output ({"pipeline": …, "metadata": …}), create-pipeline input ({"pipeline": …,
// "tags": …}) or a bare declaration. It fails with a *ParseError.
func Parse(data []byte) (*Declaration, error) {
	doc, err := ParseDocument(data)
	if err != nil {
		return nil, err
	}
	return doc.Pipeline, nil
}

// ParseDocument is Parse that also returns the metadata and tags around the pipeline.
// A bare declaration comes back as a Document with only Pipeline set.
func ParseDocument(data []byte) (*Document, error) {
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &ParseError{Violations: []Violation{syntaxViolation(data, err)}}
	}
	top, ok := raw.(map[string]any)
	if !ok {
		return nil, &ParseError{Violations: []Violation{newViolation("", ruleType,
			"a pipeline declaration must be a JSON object, not "+jsonKind(raw))}}
	}
	var dec decoder
	doc := &Document{}
	if _, wrapped := top["pipeline"]; wrapped {
		dec.value(nil, raw, reflect.ValueOf(doc).Elem())
		if doc.Pipeline == nil && len(dec.violations) == 0 {
			dec.add(&jpath{key: "pipeline"}, ruleType, "pipeline must be an object, not null")
		}
		if doc.Pipeline != nil {
			doc.Pipeline.Root = "pipeline"
		}
	} else {
		doc.Pipeline = &Declaration{}
		dec.value(nil, raw, reflect.ValueOf(doc.Pipeline).Elem())
	}
	if len(dec.violations) > 0 {
		sortViolations(dec.violations) // fields are visited in map order
		return nil, &ParseError{Violations: dec.violations}
	}
	return doc, nil
}

// syntaxViolation turns a JSON syntax error into a violation at its line and column.
func syntaxViolation(data []byte, err error) Violation {
	off := len(data)
	msg := err.Error()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = int(se.Offset)
		if off > 0 && off <= len(data) && msg != "unexpected end of JSON input" {
			off-- // Offset counts the byte that broke the syntax; point at it
		}
	}
	line, col := lineCol(data, off)
	v := newViolation("", ruleSyntax, strings.TrimPrefix(msg, "json: "))
	v.Line, v.Column = line, col
	return v
}

// lineCol returns the 1-based line and column (in bytes) of offset off in data.
func lineCol(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	before := data[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = off - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}

// decoder fills typed values from the generic JSON tree, recording every field that does
// not fit rather than stopping at the first.
type decoder struct {
	violations []Violation
}

func (d *decoder) add(path *jpath, id, msg string) {
	d.violations = append(d.violations, newViolation(path.String(), id, msg))
}

// jpath is a JSON path kept as a chain of steps so that decoding builds path strings
// only for the values it reports.
type jpath struct {
	parent *jpath
	key    string // a field or map key; "" for an array element
	index  int
}

func (p *jpath) String() string {
	if p == nil {
		return ""
	}
	if p.key == "" {
		return p.parent.String() + "[" + strconv.Itoa(p.index) + "]"
	}
	return join(p.parent.String(), p.key)
}

var (
	timestampType = reflect.TypeFor[Timestamp]()
	defaulterType = reflect.TypeFor[defaulter]()
)

// defaulter is implemented by types with defaults for fields a file leaves out.
type defaulter interface{ setDefaults() }

// ignoredKeys are keys that real files carry and CodePipeline itself tolerates.
var ignoredKeys = map[reflect.Type]map[string]bool{
	// Some exporters (and old SDK dumps) carry the shape name along.
	reflect.TypeFor[ActionTypeID](): {"__type": true},
}

func (d *decoder) value(path *jpath, raw any, rv reflect.Value) {
	if raw == nil {
		return // null is the same as leaving the field out
	}
	if rv.Type() == timestampType {
		switch x := raw.(type) {
		case float64:
			rv.SetString(strconv.FormatFloat(x, 'f', -1, 64))
		case string:
			b, _ := json.Marshal(x)
			rv.SetString(string(b))
		default:
			d.typeMismatch(path, raw, "number or string")
		}
		return
	}
	switch rv.Kind() {
	case reflect.Pointer:
		if _, ok := raw.(map[string]any); !ok {
			d.typeMismatch(path, raw, "object")
			return
		}
		p := reflect.New(rv.Type().Elem())
		d.value(path, raw, p.Elem())
		rv.Set(p)
	case reflect.Struct:
		obj, ok := raw.(map[string]any)
		if !ok {
			d.typeMismatch(path, raw, "object")
			return
		}
		d.object(path, obj, rv)
	case reflect.Map:
		obj, ok := raw.(map[string]any)
		if !ok {
			d.typeMismatch(path, raw, "object")
			return
		}
		m := reflect.MakeMapWithSize(rv.Type(), len(obj))
		for _, k := range sortedKeys(obj) {
			ev := reflect.New(rv.Type().Elem()).Elem()
			d.value(&jpath{parent: path, key: k}, obj[k], ev)
			m.SetMapIndex(reflect.ValueOf(k), ev)
		}
		rv.Set(m)
	case reflect.Slice:
		arr, ok := raw.([]any)
		if !ok {
			d.typeMismatch(path, raw, "array")
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(arr), len(arr))
		for i, e := range arr {
			d.value(&jpath{parent: path, index: i}, e, s.Index(i))
		}
		rv.Set(s)
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			d.typeMismatch(path, raw, "string")
			return
		}
		rv.SetString(s)
	case reflect.Int:
		f, ok := raw.(float64)
		if !ok {
			d.typeMismatch(path, raw, "integer")
			return
		}
		if f != math.Trunc(f) {
			d.add(path, ruleType, fmt.Sprintf("invalid value %v: must be an integer", f))
			return
		}
		if math.Abs(f) > math.MaxInt32 {
			d.add(path, ruleType, fmt.Sprintf("invalid value %v: out of range for an integer", f))
			return
		}
		rv.SetInt(int64(f))
	default:
		panic("pipeline: no decoding for " + rv.Type().String())
	}
}

func (d *decoder) object(path *jpath, obj map[string]any, rv reflect.Value) {
	if rv.Addr().Type().Implements(defaulterType) {
		rv.Addr().Interface().(defaulter).setDefaults()
	}
	fields := fieldsOf(rv.Type())
	var unknown []string
	for k, v := range obj {
		i, ok := fields.index[k]
		if !ok {
			if !ignoredKeys[rv.Type()][k] {
				unknown = append(unknown, k)
			}
			continue
		}
		d.value(&jpath{parent: path, key: k}, v, rv.Field(i))
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		d.add(&jpath{parent: path, key: k}, ruleUnknownField,
			fmt.Sprintf("unknown parameter %q, must be one of: %s", k, strings.Join(fields.names, ", ")))
	}
}

func (d *decoder) typeMismatch(path *jpath, raw any, want string) {
	d.add(path, ruleType, fmt.Sprintf("invalid type: got %s, want %s", jsonKind(raw), want))
}

func jsonKind(raw any) string {
	switch raw.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

// structFields maps a struct's JSON names to field indexes.
type structFields struct {
	index map[string]int
	names []string // in declaration order, for messages
}

var fieldCache sync.Map // reflect.Type → *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{index: map[string]int{}}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" || !t.Field(i).IsExported() {
			continue
		}
		f.index[name] = i
		f.names = append(f.names, name)
	}
	fieldCache.Store(t, f)
	return f
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// join appends a key to a JSON path, quoting keys that are not plain names.
func join(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r == '@' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			plain = false
			break
		}
	}
	if !plain {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}
