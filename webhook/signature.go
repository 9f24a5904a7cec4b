// Package webhook delivers the event log to the endpoints admins subscribe,
// signed per the Standard Webhooks specification
// (https://www.standardwebhooks.com): at least once, retried with backoff,
// one attempt at a time per message and endpoint across replicas.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// secretPrefix marks a Standard Webhooks signing secret; the rest is base64.
const secretPrefix = "whsec_"

// secretBytes is the length of a new secret's key: the specification asks
// for 24 to 64 bytes.
const secretBytes = 32

// NewSecret returns a new signing secret, whsec_<base64 of 32 random bytes>.
func NewSecret() (string, error) {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("making a webhook secret: %w", err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// Headers are a message's Standard Webhooks headers.
type Headers struct {
	ID        string // webhook-id: the same on every attempt of one message
	Timestamp string // webhook-timestamp: the attempt's time, Unix seconds
	Signature string // webhook-signature: v1,<base64 HMAC-SHA256>
}

// Sign returns the headers of one attempt to send body as message id at t.
func Sign(secret, id string, t time.Time, body []byte) (Headers, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || !strings.HasPrefix(secret, secretPrefix) {
		return Headers{}, errors.New("the webhook secret is not whsec_<base64>")
	}
	timestamp := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return Headers{ID: id, Timestamp: timestamp, Signature: "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))}, nil
}
