package server

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"google.golang.org/protobuf/types/known/structpb"
)

// FuzzRequestValidation runs the validators every request goes through on
// arbitrary input: no panic, and whatever passes is within the limits.
func FuzzRequestValidation(f *testing.F) {
	f.Add("Microsoft_Graph", "org-123", "tenant-456", []byte(`{"a":1}`), int32(10), "")
	f.Add("", "org a", "\x00", []byte(`{"x":"`+strings.Repeat("y", 100)+`"}`), int32(-1), "eyJhIjoib3JnLTEifQ")
	f.Add("a/b", "ü", "\u202e", []byte(`null`), int32(1<<30), "!!!")
	f.Fuzz(func(t *testing.T, name, org, entity string, configJSON []byte, pageSize int32, pageToken string) {
		var v violations
		v.name("name", name)
		v.optionalName("org_id", org)
		v.entityID("entity_id", entity)
		var cfg map[string]any
		if json.Unmarshal(configJSON, &cfg) == nil {
			if s, err := structpb.NewStruct(cfg); err == nil {
				v.config("config", s)
			}
		}
		page := v.page(pageSize, pageToken)
		if len(v) > 0 {
			if v.err() == nil {
				t.Fatal("violations without an error")
			}
			return
		}
		if !namePattern.MatchString(name) || len(entity) > maxIDLen || page.Limit < 1 || page.Limit > maxPageSize {
			t.Fatalf("accepted name %q entity %q page %+v", name, entity, page)
		}
		for _, r := range entity {
			if r > unicode.MaxASCII || strings.ContainsRune("/?#[]@!$&'()*+,;=% ", r) || !unicode.IsPrint(r) {
				t.Fatalf("accepted entity %q with %U", entity, r)
			}
		}
		if pageToken != "" && page.After == "" {
			t.Fatal("accepted a page token without a position")
		}
	})
}
