package server

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/bifrost/integrations/auth"
	integrationsv1 "github.com/bifrost/integrations/gen/bifrost/integrations/v1"
	"github.com/bifrost/integrations/store"
)

// resolvedWithEverything is a resolved read with a mapped entity, a config
// with a secret, a connection and a token.
func resolvedWithEverything() *store.Resolved {
	expires := time.Now().Add(time.Hour)
	return &store.Resolved{
		Integration: store.Integration{ID: "0196f1c2-7a3e-7b8c-9d0e-1f2a3b4c5d6e", Name: "Microsoft_Graph"},
		Mapping:     &store.Mapping{EntityID: "tenant-123", EntityName: "Acme"},
		EntityID:    "tenant-123",
		Config:      map[string]any{"tenant_id": "acme-tenant", "page_size": 100.0, "verbose": true, "api_key": "org-a-api-key-c2"},
		SecretKeys:  []string{"api_key"},
		Connection: &store.Connection{Name: "graph", ClientID: "client-1", ClientSecret: "client-secret",
			AuthorizationURL: "https://login.example/{entity_id}/authorize", TokenURL: "https://login.example/{entity_id}/token", Scopes: []string{"a", "b"}},
		Token: &store.Token{AccessToken: "access-token-abcdefghijklmnopqrstuvwxyz", RefreshToken: "refresh-token", ExpiresAt: &expires, Status: store.TokenConnected},
	}
}

// A read's answer is built and encoded once, to the bytes its answer encodes
// to (deterministically), with the connection's URLs filled in with the
// read's entity; another read gets its own.
func TestAReadsAnswerIsBuiltAndEncodedOnce(t *testing.T) {
	t.Parallel()
	r := resolvedWithEverything()
	first, err := prepared(r, everything)
	if err != nil {
		t.Fatal(err)
	}
	answer := answerOf(t, r, r.Token, everything)
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(answer)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.wire, want) {
		t.Fatalf("encoded %x, want %x", first.wire, want)
	}
	if got, want := answer.GetIntegration().GetOauth().GetTokenUrl(), "https://login.example/tenant-123/token"; got != want {
		t.Fatalf("token URL %q, want %q", got, want)
	}
	if again, _ := prepared(r, everything); &again.wire[0] != &first.wire[0] || again.answer != first.answer {
		t.Fatal("the same read was built or encoded again")
	}
	other := resolvedWithEverything()
	other.EntityID = "tenant-456"
	if p, _ := prepared(other, everything); bytes.Equal(p.wire, first.wire) {
		t.Fatal("another read got the first read's encoding")
	}
}

// answerOf is integrationAnswer, failing t on an error.
func answerOf(t *testing.T, r *store.Resolved, token *store.Token, view answerView) *integrationsv1.GetIntegrationResponse {
	t.Helper()
	answer, err := integrationAnswer(r, token, view)
	if err != nil {
		t.Fatal(err)
	}
	return answer
}

// A call whose token is not the read's (it was refreshed) gets that token.
func TestTheAnswerCarriesTheCallsToken(t *testing.T) {
	t.Parallel()
	r := resolvedWithEverything()
	refreshed := *r.Token
	refreshed.AccessToken = "refreshed-access-token"
	answer := answerOf(t, r, &refreshed, everything)
	if got := answer.GetIntegration().GetOauth().GetAccessToken(); got != refreshed.AccessToken {
		t.Fatalf("access token %q, want %q", got, refreshed.AccessToken)
	}
}

// sendEncoded hands the codec the offered encoding only for the response it
// was offered with; the codec sends it as it is.
func TestAnOfferedEncodingIsSentOnlyForItsResponse(t *testing.T) {
	t.Parallel()
	offered := &integrationsv1.GetIntegrationResponse{Integration: &integrationsv1.IntegrationData{IntegrationName: "offered"}}
	wire, err := proto.Marshal(offered)
	if err != nil {
		t.Fatal(err)
	}
	replaced := &integrationsv1.GetIntegrationResponse{}
	failed := errors.New("failed")
	for _, tc := range []struct {
		name    string
		handler grpc.UnaryHandler
		encoded bool
		want    any // when not encoded
		err     error
	}{
		{name: "offered and returned", encoded: true, handler: func(ctx context.Context, _ any) (any, error) {
			offerEncoding(ctx, offered, wire)
			return offered, nil
		}},
		{name: "offered, then replaced", want: replaced, handler: func(ctx context.Context, _ any) (any, error) {
			offerEncoding(ctx, offered, wire)
			return replaced, nil
		}},
		{name: "offered, then failed", err: failed, handler: func(ctx context.Context, _ any) (any, error) {
			offerEncoding(ctx, offered, wire)
			return nil, failed
		}},
		{name: "not offered", want: offered, handler: func(context.Context, any) (any, error) { return offered, nil }},
	} {
		resp, err := sendEncoded(context.Background(), nil, &grpc.UnaryServerInfo{}, tc.handler)
		e, encoded := resp.(*encodedMessage)
		if !tc.encoded {
			if encoded || resp != tc.want || !errors.Is(err, tc.err) {
				t.Errorf("%s: %v (%T), %v; want %v, %v", tc.name, resp, resp, err, tc.want, tc.err)
			}
			continue
		}
		if !encoded || err != nil || e.Message != offered {
			t.Fatalf("%s: %v (%T), %v; want the offered message, encoded", tc.name, resp, resp, err)
		}
		sent, err := newServerCodec().Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sent.Materialize(), wire) {
			t.Errorf("%s: the codec sent %x, want %x", tc.name, sent.Materialize(), wire)
		}
	}
}

// everything is the view of a key acting for every organization.
var everything = answerView{clientSecret: true, sharedRefreshTokens: true}

// A key bound to one organization gets the access token, and the refresh
// token only of its organization's own token; never the client secret.
func TestAnswersGiveKeysBoundToOneOrganizationNoClientSecretNorSharedRefreshToken(t *testing.T) {
	t.Parallel()
	bound := viewFor(auth.Principal{Role: store.RoleWorker, OrgID: "org-a"})
	cases := []struct {
		name             string
		view             answerView
		tokenOrg         string
		wantClientSecret bool
		wantRefresh      bool
	}{
		{"bound key, its organization's token", bound, "org-a", false, true},
		{"bound key, the global token", bound, "", false, false},
		{"key for every organization, the global token", viewFor(auth.Principal{Role: store.RoleWorkerAllOrgs}), "", true, true},
		{"admin key, the global token", viewFor(auth.Principal{Role: store.RoleAdmin}), "", true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := resolvedWithEverything()
			r.OrgID = "org-a"
			r.Token.OrgID = tc.tokenOrg
			answer := answerOf(t, r, r.Token, tc.view)
			o := answer.GetIntegration().GetOauth()
			if (o.GetClientSecret() != "") != tc.wantClientSecret || (o.GetRefreshToken() != "") != tc.wantRefresh || o.GetAccessToken() == "" {
				t.Fatalf("client secret %q, refresh token %q, access token %q", o.GetClientSecret(), o.GetRefreshToken(), o.GetAccessToken())
			}
			p, err := prepared(r, tc.view)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := proto.MarshalOptions{Deterministic: true}.Marshal(answer)
			if !bytes.Equal(p.wire, want) {
				t.Fatal("the encoding sent differs from the answer for this view")
			}
		})
	}
}
