package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bifrost/integrations/oauth"
	"github.com/bifrost/integrations/server"
)

// A read that finds a token's refresh lease held by a replica that died
// waits out the lease and then refreshes the token itself: with the
// longest --refresh-lease allowed, and so with the default, both fit in the
// time the server gives a call, with time to spare for the rest of it.
// (server's TestAReadWaitingOnADeadReplicasLeaseIsAnsweredWithinTheCallCap
// runs it.) A longer lease is refused.
func TestRefreshLeaseLetsAReadWaitingOnADeadReplicaBeAnsweredWithinTheCallCap(t *testing.T) {
	t.Parallel()
	const spare = 2 * time.Second
	if oauth.LongestWait(maxRefreshLease)+spare > server.MaxCallTime {
		t.Fatalf("a read may wait %v on a lease of %v, more than the %v a call may take less %v",
			oauth.LongestWait(maxRefreshLease), maxRefreshLease, server.MaxCallTime, spare)
	}
	c, err := parseFlags(nil, noEnv, io.Discard)
	if err != nil || c.refreshLease != oauth.DefaultLeaseTTL || c.refreshLease > maxRefreshLease {
		t.Fatalf("default --refresh-lease %v, %v; want oauth's default, at most %v", c.refreshLease, err, maxRefreshLease)
	}
	for _, v := range []string{(maxRefreshLease + time.Second).String(), "0s", "-1s"} {
		if _, err := parseFlags([]string{"--refresh-lease", v}, noEnv, io.Discard); err == nil || !strings.Contains(err.Error(), "--refresh-lease") {
			t.Errorf("--refresh-lease %s: %v, want an error naming the flag", v, err)
		}
	}
}
