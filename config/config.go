// Package config types and merges integration configuration: a schema of typed
// keys, platform defaults, and per-organization overrides applied as patches.
//
// Values are what google.protobuf.Struct decodes to: string, float64, bool, nil,
// map[string]any and []any.
package config

import (
	"fmt"
	"math"
	"regexp"
	"slices"
)

// Type is the type of one config key's value.
type Type string

const (
	String Type = "string"
	Int    Type = "int"
	Bool   Type = "bool"
	JSON   Type = "json"
	// Secret is a string encrypted at rest.
	Secret Type = "secret"
)

// maxExactInt is the largest integer a JSON number (a double) holds exactly.
const maxExactInt = 1 << 53

// MaxDepth is how many objects and lists a config value may nest one inside
// another: {"a":{"b":[1]}} as a key's value is 2 deep, a string 0.
//
// A value is only worth storing if every client can read it back. Protobuf
// decoders bound message nesting: Go's at 10,000, but upb (Python's protobuf)
// and C++ at 100, and a google.protobuf.Struct spends three message levels on
// each level of JSON (Struct, its map entry, Value), so Python gives up past
// about 32 levels. 20 leaves room for the messages a config travels in (a
// response, a mapping, an event) and is far deeper than any real configuration.
const MaxDepth = 20

var keyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`)

// Field is one key of a schema.
type Field struct {
	Key         string
	Type        Type
	Required    bool
	Description string
}

// Schema is an integration's ordered list of config keys.
type Schema []Field

// FieldError says which key of a config or schema is wrong and why. Key is the
// config key (or schema index), without the request field it came in.
type FieldError struct {
	Key    string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("config key %q: %s", e.Key, e.Reason) }

// Field returns the schema's field for key.
func (s Schema) Field(key string) (Field, bool) {
	i := slices.IndexFunc(s, func(f Field) bool { return f.Key == key })
	if i < 0 {
		return Field{}, false
	}
	return s[i], true
}

// Validate checks that keys are well formed and unique and types are known.
func (s Schema) Validate() error {
	seen := make(map[string]bool, len(s))
	for _, f := range s {
		if !keyPattern.MatchString(f.Key) {
			return &FieldError{Key: f.Key, Reason: "must match " + keyPattern.String()}
		}
		if seen[f.Key] {
			return &FieldError{Key: f.Key, Reason: "appears twice in the schema"}
		}
		seen[f.Key] = true
		switch f.Type {
		case String, Int, Bool, JSON, Secret:
		default:
			return &FieldError{Key: f.Key, Reason: fmt.Sprintf("unknown type %q", f.Type)}
		}
	}
	return nil
}

// ValidatePatch checks a patch against the schema: every key must be in the
// schema, and every non-nil value of its type. A nil value removes the key.
func (s Schema) ValidatePatch(patch map[string]any) error {
	for _, key := range sortedKeys(patch) {
		f, ok := s.Field(key)
		if !ok {
			return &FieldError{Key: key, Reason: "not in the integration's config schema"}
		}
		if v := patch[key]; v != nil {
			if err := checkType(f, v); err != nil {
				return err
			}
		}
	}
	return CheckDepth(patch)
}

// CheckDepth reports the first key (in sorted order) whose value nests objects
// and lists deeper than MaxDepth. It looks no deeper than that, so a hostile
// value costs no more than a legal one.
func CheckDepth(values map[string]any) error {
	for _, key := range sortedKeys(values) {
		if tooDeep(values[key], MaxDepth) {
			return &FieldError{Key: key, Reason: fmt.Sprintf("nests objects and lists more than %d deep", MaxDepth)}
		}
	}
	return nil
}

// tooDeep says whether v nests more than allowed objects and lists.
func tooDeep(v any, allowed int) bool {
	switch v := v.(type) {
	case map[string]any:
		if allowed == 0 {
			return true
		}
		for _, e := range v {
			if tooDeep(e, allowed-1) {
				return true
			}
		}
	case []any:
		if allowed == 0 {
			return true
		}
		for _, e := range v {
			if tooDeep(e, allowed-1) {
				return true
			}
		}
	}
	return false
}

// MissingRequired returns the required keys that config has no value for.
func (s Schema) MissingRequired(config map[string]any) []string {
	var missing []string
	for _, f := range s {
		if _, ok := config[f.Key]; f.Required && !ok {
			missing = append(missing, f.Key)
		}
	}
	return missing
}

// SecretKeys returns the keys of config that the schema types as secret, sorted.
func (s Schema) SecretKeys(config map[string]any) []string {
	var keys []string
	for _, key := range sortedKeys(config) {
		if f, ok := s.Field(key); ok && f.Type == Secret {
			keys = append(keys, key)
		}
	}
	return keys
}

func checkType(f Field, v any) error {
	ok := false
	switch f.Type {
	case String, Secret:
		_, ok = v.(string)
	case Bool:
		_, ok = v.(bool)
	case Int:
		n, isNum := v.(float64)
		ok = isNum && n == math.Trunc(n) && math.Abs(n) <= maxExactInt
	case JSON:
		ok = true
	}
	if !ok {
		return &FieldError{Key: f.Key, Reason: fmt.Sprintf("must be of type %s", f.Type)}
	}
	return nil
}

// Apply returns current with patch applied: keys with a value are set, keys with a
// nil value removed. current is not modified.
func Apply(current, patch map[string]any) map[string]any {
	out := make(map[string]any, len(current)+len(patch))
	for k, v := range current {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// Merge returns the defaults with the organization's overrides laid over them,
// key by key. Neither input is modified.
func Merge(defaults, overrides map[string]any) map[string]any {
	return Apply(defaults, overrides)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
