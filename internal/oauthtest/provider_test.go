package oauthtest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// RefreshedLineages is what the refresh-ahead bench counts as tokens renewed
// (cmd/integrations-bench): a lineage whose refresh the provider refused (a
// refresh token rotated away or revoked: a token the service can no longer
// renew) was not renewed, and must not count.
func TestRefreshedLineagesCountsOnlyRefreshesThatIssuedAToken(t *testing.T) {
	t.Parallel()
	p := New(t, time.Hour)
	refresh := func(rt string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, p.Server.URL+"/token",
			strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(p.ClientID, p.ClientSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	_, renewed := p.IssueFor("renewed")
	if code := refresh(renewed); code != http.StatusOK {
		t.Fatalf("refresh of a live refresh token: HTTP %d", code)
	}
	_, second := p.IssueFor("second")
	if code := refresh(second); code != http.StatusOK {
		t.Fatalf("refresh of a live refresh token: HTTP %d", code)
	}
	p.RevokeGrants()
	_, revoked := p.IssueFor("revoked")
	if code := refresh(revoked); code != http.StatusBadRequest {
		t.Fatalf("refresh after the grants were revoked: HTTP %d, want 400", code)
	}
	if n := p.RefreshedLineages(); n != 2 {
		t.Fatalf("RefreshedLineages = %d, want 2 (the lineage whose refresh was refused was not renewed)", n)
	}
}
