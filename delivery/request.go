package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley"
)

const (
	defaultTimeout = 2 * time.Second // spec 1.5: Tencent's timeout for every webhook
	maxReplyBytes  = 64 << 10
	userAgent      = "parley"
	// errorSnippetBytes bounds how much of a bad reply is quoted in an error,
	// so LastError stays readable in the outbox.
	errorSnippetBytes = 128
)

// Sign is the webhook signature of spec 1.4: the lowercase hex SHA-256 of
// the token immediately followed by the decimal request time. It is a plain
// hash, not an HMAC, because that is what Tencent sends.
func Sign(token string, requestTime int64) string {
	h := sha256.New()
	h.Write([]byte(token))
	h.Write(strconv.AppendInt(nil, requestTime, 10))
	return hex.EncodeToString(h.Sum(nil))
}

// DefaultRetrySchedule is the wait before each retry of a failed
// after-callback (spec decision 9.2): 5s, 5m, 30m, 2h, 5h, 10h, 10h. It
// returns a new slice each time, so callers may change it.
func DefaultRetrySchedule() []time.Duration {
	return []time.Duration{
		5 * time.Second,
		5 * time.Minute,
		30 * time.Minute,
		2 * time.Hour,
		5 * time.Hour,
		10 * time.Hour,
		10 * time.Hour,
	}
}

// endpoint is the app backend as configured: where callbacks go and how
// they are signed. Caller and Worker share it so that both kinds of
// callback are the same request on the wire.
type endpoint struct {
	// prefix is the configured URL up to the value of CallbackCommand:
	// "{url}?{its own query}&SdkAppid={id}&CallbackCommand=".
	prefix string
	token  string
	signer *signer // nil: no Standard Webhooks headers
	client *http.Client
	now    func() time.Time
	// display is the configured URL without its query (which may hold
	// secrets of the app's own), for logs.
	display string
}

func newEndpoint(rawURL, token string, secrets []string, sdkAppID uint64, client *http.Client, now func() time.Time) (endpoint, error) {
	if rawURL == "" {
		return endpoint{}, errors.New("URL is required")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return endpoint{}, fmt.Errorf("URL %q: %v", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoint{}, fmt.Errorf("URL %q: scheme must be http or https", rawURL)
	}
	if u.Host == "" {
		return endpoint{}, fmt.Errorf("URL %q: no host", rawURL)
	}
	if sdkAppID == 0 {
		return endpoint{}, errors.New("SDKAppID is required: receivers check SdkAppid against their own")
	}
	signer, err := newSigner(secrets)
	if err != nil {
		return endpoint{}, err
	}
	query := u.RawQuery
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	display := u.Redacted()
	var b strings.Builder
	b.WriteString(u.String())
	b.WriteByte('?')
	if query != "" {
		b.WriteString(query)
		b.WriteByte('&')
	}
	b.WriteString("SdkAppid=")
	b.WriteString(strconv.FormatUint(sdkAppID, 10))
	b.WriteString("&CallbackCommand=")
	if now == nil {
		now = time.Now
	}
	return endpoint{prefix: b.String(), token: token, signer: signer, client: client, now: now, display: display}, nil
}

// callback is one request to the app backend.
type callback struct {
	command string
	body    []byte
	origin  parley.Origin
	eventID string
	attempt int // 1-based; 0 leaves out X-Parley-Attempt (before-callbacks are never retried)
}

// url is the request URL: the configured one with the callback's query
// parameters appended, in the order Tencent documents them (spec 1.2).
// requestTime is the attempt's Unix time.
func (e *endpoint) url(cb *callback, requestTime int64) string {
	var b strings.Builder
	b.Grow(len(e.prefix) + len(cb.command) + 160)
	b.WriteString(e.prefix)
	b.WriteString(url.QueryEscape(cb.command))
	b.WriteString("&contenttype=json&ClientIP=")
	b.WriteString(url.QueryEscape(cb.origin.ClientIP))
	b.WriteString("&OptPlatform=")
	b.WriteString(url.QueryEscape(cb.origin.OptPlatform))
	if e.token != "" {
		b.WriteString("&Sign=")
		b.WriteString(Sign(e.token, requestTime))
		b.WriteString("&RequestTime=")
		b.WriteString(strconv.FormatInt(requestTime, 10))
	}
	return b.String()
}

var replyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// post makes one attempt at cb, bounded by timeout. It succeeds only when
// the receiver answers HTTP 200 with a JSON body (spec 1.3). decode, if not
// nil, is given that body and may reject it; the slice is only valid during
// the call.
//
// Errors never contain the request URL: it carries Sign.
func (e *endpoint) post(ctx context.Context, timeout time.Duration, cb *callback, decode func([]byte) error) error {
	return e.postAnswered(ctx, timeout, cb, decode, nil)
}

// answer is what a receiver said to one attempt, for the attempt log.
type answer struct {
	status   int    // the HTTP status; 0 when no answer came
	response string // the start of the body: see responseSnippet
}

// postAnswered is post, also filling ans (when not nil) with the status
// and the start of the body of whatever reply came, success or not.
func (e *endpoint) postAnswered(ctx context.Context, timeout time.Duration, cb *callback, decode func([]byte) error, ans *answer) error {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := e.do(actx, cb, decode, ans)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("callback canceled: %w", ctx.Err())
	}
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("callback timed out after %v", timeout)
	}
	return err
}

func (e *endpoint) do(ctx context.Context, cb *callback, decode func([]byte) error, ans *answer) error {
	// One reading of the clock, so that RequestTime and webhook-timestamp
	// agree.
	now := e.now().Unix()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url(cb, now), bytes.NewReader(cb.body))
	if err != nil {
		return fmt.Errorf("callback request: %v", stripURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("X-Parley-Event-Id", cb.eventID)
	if cb.attempt > 0 {
		req.Header.Set("X-Parley-Attempt", strconv.Itoa(cb.attempt))
	}
	e.signer.sign(req.Header, cb.eventID, now, cb.body)
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("callback request failed: %v", stripURL(err))
	}
	defer resp.Body.Close()

	// Reading the whole (bounded) body, even of a failure, lets the
	// connection be reused.
	buf := replyBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxReplyBytes+bytes.MinRead {
			replyBuffers.Put(buf)
		}
	}()
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, maxReplyBytes+1))
	reply := buf.Bytes()
	if ans != nil {
		// Even of a body cut short: what came is what the receiver said.
		ans.status, ans.response = resp.StatusCode, responseSnippet(reply)
	}
	if err != nil {
		return fmt.Errorf("callback reply: reading body after HTTP %d: %v", resp.StatusCode, stripURL(err))
	}
	if resp.StatusCode != http.StatusOK {
		err := &statusError{status: resp.StatusCode}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
			err.retryAfter, err.hasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Unix(now, 0))
		}
		err.msg = fmt.Sprintf("callback answered HTTP %d, want 200: %s", resp.StatusCode, snippet(reply))
		if err.hasRetryAfter {
			err.msg += fmt.Sprintf(" (Retry-After %v)", err.retryAfter)
		}
		return err
	}
	if len(reply) > maxReplyBytes {
		return fmt.Errorf("callback reply is larger than %d bytes", maxReplyBytes)
	}
	if decode == nil {
		if !json.Valid(reply) {
			return fmt.Errorf("callback reply is not JSON: %s", snippet(reply))
		}
		return nil
	}
	if err := decode(reply); err != nil {
		return fmt.Errorf("callback reply is not a JSON callback answer: %v: %s", err, snippet(reply))
	}
	return nil
}

// statusError is a reply with an HTTP status other than 200.
type statusError struct {
	status int
	// retryAfter is the wait a 429 or 503 asked for with Retry-After,
	// when hasRetryAfter.
	retryAfter    time.Duration
	hasRetryAfter bool
	msg           string
}

func (e *statusError) Error() string { return e.msg }

// retryAfter returns the wait the receiver asked for with a 429 or 503
// and Retry-After, capped at maxRetryAfter; ok is false for any other
// failure.
func retryAfter(err error) (d time.Duration, ok bool) {
	var se *statusError
	if !errors.As(err, &se) || !se.hasRetryAfter {
		return 0, false
	}
	return min(se.retryAfter, maxRetryAfter), true
}

// parseRetryAfter reads a Retry-After value (RFC 9110 10.2.3): a number of
// seconds, or an HTTP date, taken relative to now (a date in the past
// means at once). Anything else is ignored, as if absent.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		if secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}

// stripURL drops the *url.Error wrapper net/http puts around transport
// errors, whose message holds the full URL and so the Sign of the request.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// responseSnippet is parley.Attempt.Response of a reply body b: its first
// parley.AttemptResponseBytes bytes, cut back to a whole UTF-8 character,
// with every byte that is not part of valid UTF-8 written as \xNN.
func responseSnippet(b []byte) string {
	if len(b) > parley.AttemptResponseBytes {
		b = b[:parley.AttemptResponseBytes]
		// A character the cut split is dropped whole, not escaped byte by
		// byte: the body was valid, only the cut made it look otherwise.
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 16)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			sb.WriteString(`\x`)
			sb.WriteByte(hexDigits[b[0]>>4])
			sb.WriteByte(hexDigits[b[0]&0xf])
		} else {
			sb.Write(b[:size])
		}
		b = b[size:]
	}
	return sb.String()
}

const hexDigits = "0123456789abcdef"

func snippet(b []byte) string {
	if len(b) == 0 {
		return "empty body"
	}
	if len(b) > errorSnippetBytes {
		return strconv.Quote(string(b[:errorSnippetBytes])) + "..."
	}
	return strconv.Quote(string(b))
}

// newTransport is the keep-alive transport used when no Client is
// configured: Tencent's webhooks use persistent connections (spec 1.1) and
// the default of two idle connections per host would make every burst
// redial.
func newTransport(idlePerHost int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = idlePerHost
	t.MaxIdleConns = max(t.MaxIdleConns, idlePerHost)
	return t
}
