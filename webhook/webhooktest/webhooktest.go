// Package webhooktest builds parley callback requests, signed like parley
// signs them, for the tests of app backends that use package webhook.
package webhooktest

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"time"

	"github.com/parley-im/parley/webhook"
)

// Options describe the request. Every field is optional.
type Options struct {
	// URL is the callback URL before parley's query parameters. Empty
	// means "http://app.test/parley".
	URL string
	// SDKAppID is the SdkAppid parameter. Zero means 1400000000.
	SDKAppID uint64
	// Token, when set, adds Sign and RequestTime.
	Token string
	// Secrets, when set, add the Standard Webhooks headers, with one
	// signature per secret, as parley does during a rotation.
	Secrets []string
	// EventID is the webhook-id and X-Parley-Event-Id. Empty means a
	// fresh random "evt_..." id.
	EventID string
	// Attempt, when above zero, is sent as X-Parley-Attempt.
	Attempt int
	// ClientIP and OptPlatform default to "127.0.0.1" and "RESTAPI".
	ClientIP    string
	OptPlatform string
	// Time is when the request is signed. Zero means now.
	Time time.Time
}

// DefaultSDKAppID is the SdkAppid of a request whose Options leave it 0.
const DefaultSDKAppID = 1400000000

// NewRequest returns a server request (for an http.Handler, like
// httptest.NewRequest) carrying body as parley would send command. It
// panics if a secret is not a valid "whsec_" secret, as httptest does
// on bad input.
func NewRequest(command string, body []byte, opts Options) *http.Request {
	if opts.URL == "" {
		opts.URL = "http://app.test/parley"
	}
	if opts.SDKAppID == 0 {
		opts.SDKAppID = DefaultSDKAppID
	}
	if opts.EventID == "" {
		opts.EventID = NewEventID()
	}
	if opts.ClientIP == "" {
		opts.ClientIP = "127.0.0.1"
	}
	if opts.OptPlatform == "" {
		opts.OptPlatform = "RESTAPI"
	}
	if opts.Time.IsZero() {
		opts.Time = time.Now()
	}
	t := opts.Time.Unix()

	u, err := url.Parse(opts.URL)
	if err != nil {
		panic("webhooktest: URL: " + err.Error())
	}
	q := u.Query()
	q.Set("SdkAppid", strconv.FormatUint(opts.SDKAppID, 10))
	q.Set("CallbackCommand", command)
	q.Set("contenttype", "json")
	q.Set("ClientIP", opts.ClientIP)
	q.Set("OptPlatform", opts.OptPlatform)
	if opts.Token != "" {
		q.Set("Sign", webhook.Sign(opts.Token, t))
		q.Set("RequestTime", strconv.FormatInt(t, 10))
	}
	u.RawQuery = q.Encode()

	r := httptest.NewRequest(http.MethodPost, u.String(), bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "parley")
	r.Header.Set(webhook.HeaderEventID, opts.EventID)
	if opts.Attempt > 0 {
		r.Header.Set(webhook.HeaderAttempt, strconv.Itoa(opts.Attempt))
	}
	if len(opts.Secrets) > 0 {
		var sigs []byte
		for _, s := range opts.Secrets {
			sig, err := webhook.SignStandard(s, opts.EventID, t, body)
			if err != nil {
				panic("webhooktest: " + err.Error())
			}
			if len(sigs) > 0 {
				sigs = append(sigs, ' ')
			}
			sigs = append(sigs, sig...)
		}
		r.Header.Set(webhook.HeaderID, opts.EventID)
		r.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(t, 10))
		r.Header.Set(webhook.HeaderSignature, string(sigs))
	}
	return r
}

// NewSecret returns a fresh secret in parley's format: "whsec_" and the
// standard base64 of 32 random bytes.
func NewSecret() string {
	var key [32]byte
	rand.Read(key[:]) // never fails: crypto/rand panics instead
	return "whsec_" + base64.StdEncoding.EncodeToString(key[:])
}

// NewEventID returns a random id shaped like parley's: "evt_" and 26
// base32 characters.
func NewEventID() string {
	var b [16]byte
	rand.Read(b[:])
	return "evt_" + base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding).EncodeToString(b[:])
}
