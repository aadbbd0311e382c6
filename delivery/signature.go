package delivery

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Standard Webhooks (https://www.standardwebhooks.com, spec v1).
const (
	secretPrefix = "whsec_"
	// minSecretBytes is the shortest key accepted. The spec asks for
	// 24 to 64 bytes; secrets parley generates have 32.
	minSecretBytes = 24
	newSecretBytes = 32

	headerWebhookID        = "webhook-id"
	headerWebhookTimestamp = "webhook-timestamp"
	headerWebhookSignature = "webhook-signature"
)

// NewSecret returns a fresh Standard Webhooks secret: "whsec_" followed by
// the standard base64 (padded) of 32 random bytes.
func NewSecret() (string, error) {
	key := make([]byte, newSecretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("delivery: generate webhook secret: %w", err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ValidateSecret reports why s is not a usable Standard Webhooks secret, or
// nil. The error never quotes the secret, so it is safe to log.
func ValidateSecret(s string) error {
	_, err := secretKey(s)
	return err
}

// secretKey is the HMAC key of a secret: the base64-decoded part after
// "whsec_".
func secretKey(s string) ([]byte, error) {
	encoded, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		// Receivers' libraries strip the prefix if present, so a bare key
		// would work with some and not others; insisting on it keeps the
		// value printed at startup the one to paste everywhere.
		return nil, errors.New(`webhook secret must start with "whsec_"`)
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, errors.New(`webhook secret: the part after "whsec_" is not standard base64`)
	}
	if len(key) < minSecretBytes {
		return nil, fmt.Errorf("webhook secret: %d bytes after base64 decoding, want at least %d", len(key), minSecretBytes)
	}
	return key, nil
}

// signer adds the Standard Webhooks headers to a request, one signature
// per secret. A nil signer adds nothing.
type signer struct {
	keys [][]byte
}

// newSigner decodes secrets; none gives a nil signer.
func newSigner(secrets []string) (*signer, error) {
	if len(secrets) == 0 {
		return nil, nil
	}
	s := &signer{keys: make([][]byte, len(secrets))}
	for i, secret := range secrets {
		key, err := secretKey(secret)
		if err != nil {
			return nil, fmt.Errorf("Secrets[%d]: %v", i, err)
		}
		s.keys[i] = key
	}
	return s, nil
}

// WebhookSignature is the value of the webhook-signature header for a
// request with the given webhook-id, webhook-timestamp (Unix seconds) and
// body: "v1," and the base64 of HMAC-SHA256(key, id.timestamp.body), one
// space-separated entry per secret, in the order given. Receivers accept a
// request when any entry matches any secret they hold, which is what lets
// a secret be rotated without a moment in which nothing verifies.
func WebhookSignature(secrets []string, id string, timestamp int64, body []byte) (string, error) {
	s, err := newSigner(secrets)
	if err != nil {
		return "", fmt.Errorf("delivery: %v", err)
	}
	if s == nil {
		return "", errors.New("delivery: no webhook secrets")
	}
	return s.signature(id, timestamp, body), nil
}

func (s *signer) signature(id string, timestamp int64, body []byte) string {
	ts := strconv.FormatInt(timestamp, 10)
	var b strings.Builder
	b.Grow(len(s.keys) * 48)
	var sum [sha256.Size]byte
	for i, key := range s.keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(mac.Sum(sum[:0])))
	}
	return b.String()
}

// sign sets the three headers on h.
func (s *signer) sign(h http.Header, id string, timestamp int64, body []byte) {
	if s == nil {
		return
	}
	h.Set(headerWebhookID, id)
	h.Set(headerWebhookTimestamp, strconv.FormatInt(timestamp, 10))
	h.Set(headerWebhookSignature, s.signature(id, timestamp, body))
}
