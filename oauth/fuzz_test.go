package oauth

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bifrost/integrations/store"
)

// FuzzTokenResponse answers token requests with arbitrary statuses, content
// types and bodies: the exchange must not panic, a success must carry an access
// token, and the failure description must not repeat the response body beyond
// the provider's error fields.
func FuzzTokenResponse(f *testing.F) {
	var mu sync.Mutex
	var status int
	var contentType, body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	r := New(nil, Options{HTTPClient: srv.Client(), Logger: slog.New(slog.DiscardHandler)})
	conn := store.Connection{ClientID: "c", ClientSecret: "s", TokenURL: srv.URL + "/token"}
	tok := store.Token{RefreshToken: "rt"}

	f.Add(200, "application/json", `{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r"}`)
	f.Add(400, "application/json", `{"error":"invalid_grant","error_description":"expired"}`)
	f.Add(200, "application/x-www-form-urlencoded", `access_token=a&expires_in=abc`)
	f.Add(503, "text/html", `<html>down</html>`)
	f.Add(200, "application/json", `{"access_token":"","expires_in":-1}`)
	f.Add(200, "application/json", `{"expires_in":"12345678901234567890"}`)
	f.Fuzz(func(t *testing.T, st int, ct, b string) {
		if st < 200 || st > 599 {
			return
		}
		mu.Lock()
		status, contentType, body = st, ct, b
		mu.Unlock()
		got, err := r.exchange(context.Background(), tok, conn, "")
		if err == nil {
			if got.AccessToken == "" {
				t.Fatal("success without an access token")
			}
			return
		}
		_, desc := describe(err)
		if len(b) > 300 && strings.Contains(desc, b) {
			t.Fatalf("failure description repeats the response body: %q", desc)
		}
	})
}
