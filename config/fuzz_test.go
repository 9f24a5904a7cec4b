package config_test

import (
	"encoding/json"
	"testing"

	"github.com/bifrost/integrations/config"
)

// FuzzPatchAndMerge feeds arbitrary JSON objects through validation and merge:
// nothing may panic, a valid patch must leave only schema keys with values of
// their type, and null must remove.
func FuzzPatchAndMerge(f *testing.F) {
	f.Add([]byte(`{"tenant_id":"t","page_size":5}`), []byte(`{"page_size":null,"verbose":true}`))
	f.Add([]byte(`{"extra":{"a":[1,2,{"b":null}]}}`), []byte(`{"api_secret":"s"}`))
	f.Add([]byte(`{"page_size":1e300}`), []byte(`{"nope":1}`))
	f.Add([]byte(`{}`), []byte(`{"page_size":-9007199254740992}`))
	f.Fuzz(func(t *testing.T, defaultsJSON, patchJSON []byte) {
		var defaults, patch map[string]any
		if json.Unmarshal(defaultsJSON, &defaults) != nil || json.Unmarshal(patchJSON, &patch) != nil {
			return
		}
		if schema.ValidatePatch(defaults) != nil {
			return
		}
		merged := config.Merge(config.Apply(nil, defaults), nil)
		err := schema.ValidatePatch(patch)
		if err != nil {
			return
		}
		after := config.Apply(merged, patch)
		for k, v := range after {
			if v == nil {
				t.Fatalf("key %q kept a null", k)
			}
			if _, ok := schema.Field(k); !ok {
				t.Fatalf("key %q is not in the schema", k)
			}
			if schema.ValidatePatch(map[string]any{k: v}) != nil {
				t.Fatalf("key %q holds a value of the wrong type: %v", k, v)
			}
		}
		for k, v := range patch {
			if _, present := after[k]; present == (v == nil) {
				t.Fatalf("key %q: patch %v, result present=%v", k, v, present)
			}
		}
	})
}
