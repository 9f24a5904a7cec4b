package client

import (
	"encoding/json"
	"slices"
	"testing"
)

// The methods the client retries come from the proto's idempotency levels:
// reads and UpsertMapping, never DeleteMapping, whose retry after a lost
// answer would say deleted: false. WatchEvents is a read: gRPC retries a
// stream only until its first message arrives.
func TestRetriedMethodsAreThoseTheProtoDeclaresSafeToRetry(t *testing.T) {
	t.Parallel()
	var cfg struct {
		MethodConfig []struct {
			Name []struct{ Service, Method string }
		}
	}
	if err := json.Unmarshal([]byte(serviceConfig()), &cfg); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range cfg.MethodConfig[0].Name {
		if n.Service != "bifrost.integrations.v1.IntegrationsService" {
			t.Fatalf("retries a method of %s", n.Service)
		}
		got = append(got, n.Method)
	}
	slices.Sort(got)
	if want := []string{"GetIntegration", "GetMapping", "ListMappings", "UpsertMapping", "WatchEvents"}; !slices.Equal(got, want) {
		t.Fatalf("retried methods %v, want %v", got, want)
	}
}
