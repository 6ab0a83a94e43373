package cfnaction

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
)

// templateConfig is a template configuration file, as CodePipeline reads it:
// {"Parameters": {name: value}, "Tags": {key: value}, "StackPolicy": {…}}.
type templateConfig struct {
	Parameters  map[string]string `json:"Parameters,omitempty"`
	Tags        map[string]string `json:"Tags,omitempty"`
	StackPolicy json.RawMessage   `json:"StackPolicy,omitempty"`
}

// parseTemplateConfig reads a template configuration file. Its errors name the JSON
// path of what is wrong. Parameter and tag values are strings; numbers and booleans
// are taken as they are written.
func parseTemplateConfig(data []byte) (templateConfig, error) {
	var c templateConfig
	top, err := object(data, "the file")
	if err != nil {
		return c, err
	}
	for _, k := range sortedKeys(top) {
		raw := top[k]
		switch k {
		case "Parameters", "Tags":
			m, err := stringMap(raw, k)
			if err != nil {
				return templateConfig{}, err
			}
			if k == "Parameters" {
				c.Parameters = m
			} else {
				c.Tags = m
			}
		case "StackPolicy":
			if kind(raw) != "an object" {
				return templateConfig{}, fmt.Errorf("StackPolicy is %s, want an object ({\"Statement\": […]})", kind(raw))
			}
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return templateConfig{}, fmt.Errorf("StackPolicy: %w", err)
			}
			c.StackPolicy = buf.Bytes()
		default:
			return templateConfig{}, fmt.Errorf("unknown key %s: a template configuration holds Parameters, Tags and StackPolicy", k)
		}
	}
	return c, nil
}

// The parameter override functions CodePipeline has.
const (
	fnGetParam       = "Fn::GetParam"
	fnGetArtifactAtt = "Fn::GetArtifactAtt"
)

// override is one parameter of ParameterOverrides: a value, or a function of the input
// artifacts.
type override struct {
	Value string
	Fn    string   // "", fnGetParam or fnGetArtifactAtt
	Args  []string // GetParam: artifact, file, key; GetArtifactAtt: artifact, attribute
}

// parseOverrides reads ParameterOverrides: a JSON object of parameter names to values,
// each a string (numbers and booleans taken as written) or
// {"Fn::GetParam": ["Artifact", "file.json", "key"]} or
// {"Fn::GetArtifactAtt": ["Artifact", "BucketName"|"ObjectKey"|"URL"]}.
func parseOverrides(s string) (map[string]override, error) {
	top, err := object([]byte(s), "ParameterOverrides")
	if err != nil {
		return nil, err
	}
	out := make(map[string]override, len(top))
	for _, name := range sortedKeys(top) {
		raw := top[name]
		if kind(raw) != "an object" {
			v, err := scalar(raw)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			out[name] = override{Value: v}
			continue
		}
		fn, err := object(raw, name)
		if err != nil {
			return nil, err
		}
		if len(fn) != 1 {
			return nil, fmt.Errorf("%s: an object value must be one function, {%q: […]} or {%q: […]}", name, fnGetParam, fnGetArtifactAtt)
		}
		for f, rawArgs := range fn {
			var args []string
			if kind(rawArgs) != "an array" || json.Unmarshal(rawArgs, &args) != nil {
				return nil, fmt.Errorf("%s: %s takes an array of strings", name, f)
			}
			switch f {
			case fnGetParam:
				if len(args) != 3 || slices.Contains(args, "") {
					return nil, fmt.Errorf("%s: %s takes [\"ArtifactName\", \"file.json\", \"key\"]", name, f)
				}
			case fnGetArtifactAtt:
				if len(args) != 2 || args[0] == "" {
					return nil, fmt.Errorf("%s: %s takes [\"ArtifactName\", \"BucketName\"|\"ObjectKey\"|\"URL\"]", name, f)
				}
				if !slices.Contains([]string{"BucketName", "ObjectKey", "URL"}, args[1]) {
					return nil, fmt.Errorf("%s: %s attribute %q is not BucketName, ObjectKey or URL", name, f, args[1])
				}
			default:
				return nil, fmt.Errorf("%s: unknown function %s: ParameterOverrides has %s and %s", name, f, fnGetParam, fnGetArtifactAtt)
			}
			out[name] = override{Fn: f, Args: args}
		}
	}
	return out, nil
}

// jsonParam returns the value of key in a JSON object file, as Fn::GetParam reads it.
func jsonParam(data []byte, key string) (string, error) {
	m, err := object(data, "the file")
	if err != nil {
		return "", err
	}
	raw, ok := m[key]
	if !ok {
		return "", fmt.Errorf("it has no key %q", key)
	}
	v, err := scalar(raw)
	if err != nil {
		return "", fmt.Errorf("key %s: %w", key, err)
	}
	return v, nil
}

// object decodes a JSON object; what names it in errors.
func object(data []byte, what string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		if k := kind(bytes.TrimSpace(data)); k != "" && k != "an object" {
			return nil, fmt.Errorf("%s is %s, want a JSON object", what, k)
		}
		return nil, fmt.Errorf("%s is not a JSON object: %w", what, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%s is null, want a JSON object", what)
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return nil, fmt.Errorf("%s has more after its JSON object", what)
	}
	return m, nil
}

// stringMap decodes an object of scalars; what is its path.
func stringMap(raw json.RawMessage, what string) (map[string]string, error) {
	m, err := object(raw, what)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for _, k := range sortedKeys(m) {
		v, err := scalar(m[k])
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", what, k, err)
		}
		out[k] = v
	}
	return out, nil
}

// scalar returns a JSON string's value, or a number's or boolean's text.
func scalar(raw json.RawMessage) (string, error) {
	switch kind(raw) {
	case "a string":
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case "a number", "a boolean":
		return string(bytes.TrimSpace(raw)), nil
	}
	return "", fmt.Errorf("value is %s, want a string", kind(raw))
}

// kind names the JSON type of raw, for messages ("" when it is not JSON).
func kind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
