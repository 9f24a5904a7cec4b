package config_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/bifrost/integrations/config"
)

var schema = config.Schema{
	{Key: "tenant_id", Type: config.String, Required: true},
	{Key: "page_size", Type: config.Int},
	{Key: "verbose", Type: config.Bool},
	{Key: "extra", Type: config.JSON},
	{Key: "api_secret", Type: config.Secret},
}

func TestValidatePatchTypesValuesBySchema(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		patch   map[string]any
		wantKey string // empty: valid
	}{
		{"all types right", map[string]any{"tenant_id": "t", "page_size": 50.0, "verbose": true, "extra": map[string]any{"a": []any{1.0}}, "api_secret": "s"}, ""},
		{"null removes and is always valid", map[string]any{"tenant_id": nil, "page_size": nil}, ""},
		{"json takes a string", map[string]any{"extra": "x"}, ""},
		{"unknown key", map[string]any{"nope": "x"}, "nope"},
		{"string given a number", map[string]any{"tenant_id": 1.0}, "tenant_id"},
		{"int given a fraction", map[string]any{"page_size": 1.5}, "page_size"},
		{"int given a string", map[string]any{"page_size": "50"}, "page_size"},
		{"int beyond 2^53", map[string]any{"page_size": 1e16}, "page_size"},
		{"bool given a string", map[string]any{"verbose": "true"}, "verbose"},
		{"secret given a bool", map[string]any{"api_secret": true}, "api_secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := schema.ValidatePatch(tc.patch)
			var fe *config.FieldError
			switch {
			case tc.wantKey == "" && err != nil:
				t.Fatalf("ValidatePatch = %v, want nil", err)
			case tc.wantKey != "" && (!errors.As(err, &fe) || fe.Key != tc.wantKey):
				t.Fatalf("ValidatePatch = %v, want FieldError for %q", err, tc.wantKey)
			}
		})
	}
}

func TestSchemaValidateRejectsBadSchemas(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		schema config.Schema
	}{
		{"bad key", config.Schema{{Key: "has space", Type: config.String}}},
		{"empty key", config.Schema{{Key: "", Type: config.String}}},
		{"duplicate key", config.Schema{{Key: "a", Type: config.String}, {Key: "a", Type: config.Int}}},
		{"unknown type", config.Schema{{Key: "a", Type: "float"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.schema.Validate(); err == nil {
				t.Fatal("Validate accepted a bad schema")
			}
		})
	}
	if err := schema.Validate(); err != nil {
		t.Fatalf("good schema: %v", err)
	}
}

func TestMergeOverridesReplaceDefaultsKeyByKey(t *testing.T) {
	t.Parallel()
	defaults := map[string]any{"tenant_id": "default", "page_size": 10.0}
	overrides := map[string]any{"tenant_id": "org", "verbose": true}
	got := config.Merge(defaults, overrides)
	want := map[string]any{"tenant_id": "org", "page_size": 10.0, "verbose": true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Merge = %v, want %v", got, want)
	}
	if defaults["tenant_id"] != "default" {
		t.Fatal("Merge modified the defaults")
	}
}

func TestApplyNullRemovesKeyAndLeavesOthers(t *testing.T) {
	t.Parallel()
	current := map[string]any{"a": "1", "b": "2"}
	got := config.Apply(current, map[string]any{"a": nil, "c": "3", "missing": nil})
	want := map[string]any{"b": "2", "c": "3"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Apply = %v, want %v", got, want)
	}
	if len(current) != 2 {
		t.Fatal("Apply modified its input")
	}
}

func TestMissingRequiredAndSecretKeys(t *testing.T) {
	t.Parallel()
	if got := schema.MissingRequired(map[string]any{"page_size": 1.0}); !reflect.DeepEqual(got, []string{"tenant_id"}) {
		t.Fatalf("MissingRequired = %v", got)
	}
	if got := schema.MissingRequired(map[string]any{"tenant_id": "x"}); got != nil {
		t.Fatalf("MissingRequired = %v, want none", got)
	}
	if got := schema.SecretKeys(map[string]any{"api_secret": "s", "tenant_id": "t"}); !reflect.DeepEqual(got, []string{"api_secret"}) {
		t.Fatalf("SecretKeys = %v", got)
	}
}

// nested returns a value that nests depth objects and lists, alternating, around
// a string.
func nested(depth int) any {
	var v any = "leaf"
	for i := range depth {
		if i%2 == 0 {
			v = map[string]any{"a": v}
		} else {
			v = []any{v}
		}
	}
	return v
}

func TestValidatePatchRefusesValuesNestedBeyondMaxDepth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		patch   map[string]any
		wantKey string // empty: valid
	}{
		{"scalar", map[string]any{"extra": "x"}, ""},
		{"at the limit", map[string]any{"extra": nested(config.MaxDepth)}, ""},
		{"one over the limit", map[string]any{"extra": nested(config.MaxDepth + 1)}, "extra"},
		{"one over, deep in a wide list", map[string]any{"extra": []any{1.0, "x", map[string]any{"b": nested(config.MaxDepth)}}}, "extra"},
		{"far over, as an attacker sent", map[string]any{"extra": nested(3332)}, "extra"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for name, err := range map[string]error{"ValidatePatch": schema.ValidatePatch(tc.patch), "CheckDepth": config.CheckDepth(tc.patch)} {
				var fe *config.FieldError
				switch {
				case tc.wantKey == "" && err != nil:
					t.Fatalf("%s = %v, want nil", name, err)
				case tc.wantKey != "" && (!errors.As(err, &fe) || fe.Key != tc.wantKey):
					t.Fatalf("%s = %v, want FieldError for %q", name, err, tc.wantKey)
				}
			}
		})
	}
}
