package clienttest

import (
	"context"
	"strings"
	"testing"

	"github.com/bifrost/integrations/client"
	"github.com/bifrost/integrations/internal/testutil"
)

// Two replicas on one database: calls are spread over both, and when one dies
// the calls go on against the other.
func TestClientBalancesOverReplicasAndSurvivesOneDying(t *testing.T) {
	t.Parallel()
	a := testutil.Start(t)
	seed(t, a)
	b := testutil.StartReplica(t, a)
	addrA, stopA := a.ServeTCP(t)
	defer stopA()
	addrB, stopB := b.ServeTCP(t)
	defer stopB()
	c, err := client.New(addrA+","+addrB, client.WithAPIKey(a.AdminKey), client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for range 20 {
		if got, err := c.Get(ctx, "HaloPSA", client.Global()); err != nil || got == nil {
			t.Fatalf("Get: %v, %v", got, err)
		}
	}
	for name, env := range map[string]*testutil.Env{"a": a, "b": b} {
		if !strings.Contains(env.Logs.String(), "GetIntegration") {
			t.Errorf("replica %s served no call: calls are not balanced", name)
		}
	}
	a.Stop()
	for i := range 20 {
		if got, err := c.Get(ctx, "HaloPSA", client.Global()); err != nil || got == nil {
			t.Fatalf("Get #%d after replica a died: %v, %v", i, got, err)
		}
	}
}
