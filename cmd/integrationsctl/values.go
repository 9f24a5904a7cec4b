package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/structpb"

	adminv1 "github.com/bifrost/integrations/gen/bifrost/integrations/admin/v1"
)

// configFlags are the flags that build a config patch: typed values, secret
// values read from files, and keys to remove. setFlag and secretFlag are the
// first two's names, for messages (mappings and integrations name them apart).
type configFlags struct {
	set, secrets        []string
	unset               []string
	setFlag, secretFlag string
}

// patch builds the Struct, typing each --set value by the schema (values of keys
// the schema does not know are taken as JSON when they parse, else as strings).
func (c configFlags) patch(a *app, schema []*adminv1.ConfigField) (*structpb.Struct, error) {
	if len(c.set)+len(c.secrets)+len(c.unset) == 0 {
		return nil, nil
	}
	types := make(map[string]adminv1.ConfigType, len(schema))
	for _, f := range schema {
		types[f.GetKey()] = f.GetType()
	}
	values := map[string]any{}
	for _, kv := range c.set {
		key, raw, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%s %q: want key=value", c.setFlag, kv)
		}
		v, err := parseValue(types[key], raw)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", c.setFlag, key, err)
		}
		values[key] = v
	}
	for _, kf := range c.secrets {
		key, file, ok := strings.Cut(kf, "=")
		if !ok {
			return nil, fmt.Errorf("%s %q: want key=FILE (- for stdin)", c.secretFlag, kf)
		}
		v, err := readSecret(a.in, file)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", c.secretFlag, key, err)
		}
		values[key] = v
	}
	for _, key := range c.unset {
		values[key] = nil
	}
	return structpb.NewStruct(values)
}

func parseValue(t adminv1.ConfigType, raw string) (any, error) {
	switch t {
	case adminv1.ConfigType_CONFIG_TYPE_STRING, adminv1.ConfigType_CONFIG_TYPE_SECRET:
		return raw, nil
	case adminv1.ConfigType_CONFIG_TYPE_INT:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", raw)
		}
		return float64(n), nil
	case adminv1.ConfigType_CONFIG_TYPE_BOOL:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", raw)
		}
		return b, nil
	case adminv1.ConfigType_CONFIG_TYPE_JSON:
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		return v, nil
	}
	var v any
	if json.Unmarshal([]byte(raw), &v) == nil {
		return v, nil
	}
	return raw, nil
}

// parseSchema reads --field key:type[:required] flags.
func parseSchema(fields []string) ([]*adminv1.ConfigField, error) {
	out := make([]*adminv1.ConfigField, 0, len(fields))
	for _, spec := range fields {
		parts := strings.Split(spec, ":")
		if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && parts[2] != "required") {
			return nil, fmt.Errorf("--field %q: want key:type or key:type:required", spec)
		}
		t, ok := enumValue(adminv1.ConfigType_value, "CONFIG_TYPE_", parts[1])
		if !ok {
			return nil, fmt.Errorf("--field %q: type must be string, int, bool, json or secret", spec)
		}
		out = append(out, &adminv1.ConfigField{Key: parts[0], Type: adminv1.ConfigType(t), Required: len(parts) == 3})
	}
	return out, nil
}

// enumValue returns the number of the proto enum value a flag names in lower
// case (client_secret_post for TOKEN_AUTH_METHOD_CLIENT_SECRET_POST, dashes or
// underscores); never the UNSPECIFIED zero.
func enumValue(values map[string]int32, prefix, flag string) (int32, bool) {
	v, ok := values[prefix+strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))]
	return v, ok && v != 0
}
