package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names (spec v1).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Headers parley adds to every callback besides the Standard Webhooks ones.
const (
	HeaderEventID = "X-Parley-Event-Id"
	HeaderAttempt = "X-Parley-Attempt" // after-callbacks only, 1-based
)

const secretPrefix = "whsec_"

// ErrSignature is wrapped by every verification failure, so callers can
// tell "not from parley" from a malformed request.
var ErrSignature = errors.New("webhook signature rejected")

// Sign is the Tencent-compatible signature parley puts in the Sign query
// parameter: the lowercase hex SHA-256 of the token immediately followed
// by the decimal RequestTime. It is a plain hash, not an HMAC, because
// that is what Tencent sends.
func Sign(token string, requestTime int64) string {
	h := sha256.New()
	h.Write([]byte(token))
	h.Write(strconv.AppendInt(nil, requestTime, 10))
	return hex.EncodeToString(h.Sum(nil))
}

// VerifySign checks the Sign and RequestTime query parameters against
// token, and that RequestTime is within window of now either way.
func VerifySign(token, sign, requestTime string, now time.Time, window time.Duration) error {
	if sign == "" || requestTime == "" {
		return fmt.Errorf("%w: Sign or RequestTime missing", ErrSignature)
	}
	t, err := strconv.ParseInt(requestTime, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: RequestTime %q is not Unix seconds", ErrSignature, requestTime)
	}
	want := Sign(token, t)
	// Lowercased so that a proxy rewriting hex case does not matter; the
	// comparison is constant-time so the answer does not leak the prefix.
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(sign)), []byte(want)) != 1 {
		return fmt.Errorf("%w: Sign does not match the token", ErrSignature)
	}
	if !fresh(now, t, window) {
		return fmt.Errorf("%w: RequestTime %d is more than %v from now", ErrSignature, t, window)
	}
	return nil
}

// ParseSecret returns the HMAC key of a "whsec_" secret.
func ParseSecret(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return nil, errors.New(`webhook secret must start with "whsec_"`)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: the part after whsec_ is not standard base64: %v", err)
	}
	if len(key) == 0 {
		return nil, errors.New("webhook secret is empty")
	}
	return key, nil
}

// SignStandard returns one webhook-signature entry, "v1,<base64>", for
// the request with this id, timestamp and body.
func SignStandard(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := ParseSecret(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(standardMAC(key, id, timestamp, body)), nil
}

func standardMAC(key []byte, id string, timestamp int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, timestamp, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verifier checks the Standard Webhooks headers of a request against a
// set of secrets; any secret may match, which is what lets an operator
// rotate secrets without dropping requests.
type Verifier struct {
	keys      [][]byte
	tolerance time.Duration
}

// NewVerifier parses secrets ("whsec_..."). Zero tolerance means 5
// minutes.
func NewVerifier(secrets []string, tolerance time.Duration) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, errors.New("webhook: at least one secret is required")
	}
	if tolerance < 0 {
		return nil, errors.New("webhook: tolerance must not be negative")
	}
	if tolerance == 0 {
		tolerance = 5 * time.Minute
	}
	v := &Verifier{tolerance: tolerance}
	for i, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i, err)
		}
		v.keys = append(v.keys, key)
	}
	return v, nil
}

// Verify checks the webhook-id, webhook-timestamp and webhook-signature
// headers against body at time now.
func (v *Verifier) Verify(header http.Header, body []byte, now time.Time) error {
	id := header.Get(HeaderID)
	ts := header.Get(HeaderTimestamp)
	sigs := header.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: %s, %s or %s missing", ErrSignature, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not Unix seconds", ErrSignature, HeaderTimestamp, ts)
	}
	if !fresh(now, t, v.tolerance) {
		return fmt.Errorf("%w: %s %d is more than %v from now", ErrSignature, HeaderTimestamp, t, v.tolerance)
	}
	for _, key := range v.keys {
		want := standardMAC(key, id, t, body)
		for entry := range strings.FieldsSeq(sigs) {
			sig, ok := strings.CutPrefix(entry, "v1,")
			if !ok {
				continue // another scheme (e.g. v1a): not ours to check
			}
			got, err := base64.StdEncoding.DecodeString(sig)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: no v1 signature matches any secret", ErrSignature)
}

func fresh(now time.Time, unix int64, window time.Duration) bool {
	d := now.Sub(time.Unix(unix, 0))
	return d <= window && d >= -window
}
