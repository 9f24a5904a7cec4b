package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bifrost/integrations/auth"
	"github.com/bifrost/integrations/store"
)

type keys map[string]store.APIKey

func (k keys) APIKeyByHash(_ context.Context, hash []byte) (store.APIKey, error) {
	if key, ok := k[string(hash)]; ok {
		return key, nil
	}
	return store.APIKey{}, store.ErrNotFound
}

func TestAuthenticateAcceptsOnlyLiveKeys(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	live := mustKey(t)
	revoked := mustKey(t)
	expired := mustKey(t)
	notYetExpired := mustKey(t)
	lookup := keys{
		string(auth.Hash(live)):          {ID: "live", Role: store.RoleWorker, OrgID: "org-a"},
		string(auth.Hash(revoked)):       {ID: "revoked", Role: store.RoleAdmin, RevokedAt: &past},
		string(auth.Hash(expired)):       {ID: "expired", Role: store.RoleAdmin, ExpiresAt: &now},
		string(auth.Hash(notYetExpired)): {ID: "soon", Role: store.RoleAdmin, ExpiresAt: &future},
	}
	cases := []struct {
		name    string
		secret  string
		wantKey string
	}{
		{"live key", live, "live"},
		{"key expiring later", notYetExpired, "soon"},
		{"revoked key", revoked, ""},
		{"expired key", expired, ""},
		{"unknown key", "bfk_unknown", ""},
		{"not a bifrost key", "Bearer xyz", ""},
		{"a live key with more after it", live + "x", ""},
		{"a prefix as long as a header allows", "bfk_" + strings.Repeat("a", 16<<10), ""},
		{"empty", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := auth.Authenticate(context.Background(), lookup, tc.secret, now)
			if tc.wantKey == "" {
				if !errors.Is(err, auth.ErrUnauthenticated) {
					t.Fatalf("err = %v, want ErrUnauthenticated", err)
				}
				return
			}
			if err != nil || p.KeyID != tc.wantKey {
				t.Fatalf("Authenticate = %+v, %v; want key %s", p, err, tc.wantKey)
			}
		})
	}
}

func TestCallersReachOnlyTheOrganizationsTheirRoleGivesAndUnknownOnesNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		p      auth.Principal
		org    string
		access bool
		known  bool
	}{
		{"worker, own org", auth.Principal{Role: store.RoleWorker, OrgID: "org-a"}, "org-a", true, true},
		{"worker, other org", auth.Principal{Role: store.RoleWorker, OrgID: "org-a"}, "org-b", false, true},
		{"worker, no org named", auth.Principal{Role: store.RoleWorker, OrgID: "org-a"}, "", false, true},
		{"worker bound to no org", auth.Principal{Role: store.RoleWorker}, "", false, false},
		{"all-orgs worker, any org", auth.Principal{Role: store.RoleWorkerAllOrgs}, "org-b", true, true},
		{"all-orgs worker, no org", auth.Principal{Role: store.RoleWorkerAllOrgs}, "", true, true},
		{"admin, any org", auth.Principal{Role: store.RoleAdmin}, "org-b", true, true},
		{"empty role", auth.Principal{}, "", false, false},
		{"empty role with an org", auth.Principal{OrgID: "org-a"}, "org-a", false, false},
		{"unknown role", auth.Principal{Role: "superuser", OrgID: "org-a"}, "org-a", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.p.CanAccessOrg(tc.org); got != tc.access {
				t.Errorf("CanAccessOrg(%q) = %v, want %v", tc.org, got, tc.access)
			}
			if got := tc.p.Known(); got != tc.known {
				t.Errorf("Known() = %v, want %v", got, tc.known)
			}
		})
	}
	if (auth.Principal{Role: store.RoleWorkerAllOrgs}).IsAdmin() {
		t.Fatal("an all-orgs worker is not admin")
	}
}

func mustKey(t *testing.T) string {
	t.Helper()
	_, secret, _, err := auth.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return secret
}
