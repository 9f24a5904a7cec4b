// Package webhooktest is a webhook receiver for tests: a real HTTP endpoint
// that records the messages it gets, can be taken down and brought back, and
// checks each signature with the Standard Webhooks reference library (npm's
// standardwebhooks, in verify/, run by node).
package webhooktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// Message is one request the receiver accepted.
type Message struct {
	ID, Timestamp, Signature string
	Body                     []byte
	// Verified says the reference library accepted the signature.
	Verified bool
	// VerifyError is why it did not.
	VerifyError string
}

// Receiver is an endpoint. While down it answers 503 and records nothing.
type Receiver struct {
	Server *httptest.Server
	secret string

	mu       sync.Mutex
	down     bool
	messages []Message
	refused  int
}

// NewReceiver starts an endpoint until the test ends; SetSecret gives it the
// secret to verify with.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	r := &Receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Server.Close)
	return r
}

// URL is where to send messages.
func (r *Receiver) URL() string { return r.Server.URL + "/hooks" }

// SetSecret sets the secret messages are verified with.
func (r *Receiver) SetSecret(secret string) { r.mu.Lock(); r.secret = secret; r.mu.Unlock() }

// SetDown takes the endpoint down (503 to everything) or brings it back.
func (r *Receiver) SetDown(down bool) { r.mu.Lock(); r.down = down; r.mu.Unlock() }

// Messages are the messages accepted so far.
func (r *Receiver) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.messages...)
}

// Refused is how many requests came while the endpoint was down.
func (r *Receiver) Refused() int { r.mu.Lock(); defer r.mu.Unlock(); return r.refused }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	down, secret := r.down, r.secret
	if down {
		r.refused++
	}
	r.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	m := Message{ID: req.Header.Get("webhook-id"), Timestamp: req.Header.Get("webhook-timestamp"), Signature: req.Header.Get("webhook-signature"), Body: body}
	if err := Verify(secret, m.ID, m.Timestamp, m.Signature, body); err != nil {
		m.VerifyError = err.Error()
	} else {
		m.Verified = true
	}
	r.mu.Lock()
	r.messages = append(r.messages, m)
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// Available says whether node and the reference library are installed; in
// CI they must be.
func Available(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(verifyDir(), "node_modules", "standardwebhooks")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("npm's standardwebhooks is not installed in %s (make test runs npm ci there)", verifyDir())
		}
		t.Skipf("npm's standardwebhooks is not installed: run npm ci in %s", verifyDir())
	}
}

// Verify checks a message with the reference library.
func Verify(secret, id, timestamp, signature string, body []byte) error {
	input, err := json.Marshal(map[string]any{"secret": secret, "body": string(body),
		"headers": map[string]string{"webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": signature}})
	if err != nil {
		return err
	}
	cmd := exec.Command("node", filepath.Join(verifyDir(), "verify.js"))
	cmd.Stdin = strings.NewReader(string(input))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func verifyDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "verify")
}
