package webhook_test

import (
	"testing"
	"time"

	"github.com/bifrost/integrations/internal/webhooktest"
	"github.com/bifrost/integrations/webhook"
)

// The example of the Standard Webhooks specification's reference libraries:
// a signature made here for it is the one they publish.
func TestSignMatchesTheSpecificationsExample(t *testing.T) {
	t.Parallel()
	h, err := webhook.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; h.Signature != want {
		t.Fatalf("signature %s, want %s", h.Signature, want)
	}
	if h.ID != "msg_p5jXN8AQM9LWM0D4loKWxJek" || h.Timestamp != "1614265330" {
		t.Fatalf("headers %+v", h)
	}
}

func TestSignRefusesASecretNotInWhsecForm(t *testing.T) {
	t.Parallel()
	for _, secret := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!"} {
		if _, err := webhook.Sign(secret, "id", time.Now(), nil); err == nil {
			t.Errorf("Sign with secret %q: no error", secret)
		}
	}
}

// A new secret signs messages that the reference library (npm's
// standardwebhooks, run by node) verifies, and a tampered body fails there.
func TestNewSecretSignsWhatTheReferenceLibraryVerifies(t *testing.T) {
	t.Parallel()
	webhooktest.Available(t)
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"token.needs_reauth","timestamp":"2026-12-03T10:00:00Z","data":{"org_id":"org-a"}}`)
	h, err := webhook.Sign(secret, "0193a0b4-1111-7000-8000-000000000001", time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	if err := webhooktest.Verify(secret, h.ID, h.Timestamp, h.Signature, body); err != nil {
		t.Fatalf("the reference library refused the message: %v", err)
	}
	if err := webhooktest.Verify(secret, h.ID, h.Timestamp, h.Signature, append(body, ' ')); err == nil {
		t.Fatal("the reference library accepted a tampered body")
	}
}
