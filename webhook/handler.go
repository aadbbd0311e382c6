package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Event is one callback as a func receives it: the decoded body and what
// the request said about it.
type Event[T any] struct {
	// ID is the event id (webhook-id, else X-Parley-Event-Id): stable
	// across the retries of an after-callback, fresh for every
	// before-send call. "" when the sender sends neither header.
	ID string
	// Attempt is X-Parley-Attempt, 1-based; 0 for before-send calls.
	Attempt     int
	Command     string
	SDKAppID    uint64
	ClientIP    string
	OptPlatform string // RESTAPI, Web, Android, iOS, ...
	Body        T
	// Raw is the request body exactly as received.
	Raw []byte
}

// Config configures a [Handler]. Only SDKAppID is required; a func left
// nil means its command is answered OK and otherwise ignored (a
// before-send call is allowed).
type Config struct {
	// SDKAppID is the app's id; requests with another SdkAppid are
	// refused.
	SDKAppID uint64

	// Token, when set, requires the Sign and RequestTime query
	// parameters (parley's --callback-token, Tencent's console token).
	Token string
	// SignWindow is how far RequestTime may be from now. Zero means 5
	// minutes.
	SignWindow time.Duration

	// Secrets, when set, require the Standard Webhooks headers signed by
	// any one of them ("whsec_..."); list the old and the new secret
	// while rotating.
	Secrets []string
	// Tolerance is how far webhook-timestamp may be from now. Zero means
	// 5 minutes.
	Tolerance time.Duration

	// Dedup, when set, drops repeated after-callbacks by event id so the
	// funcs see each event once. Before-send calls bypass it: each has
	// a fresh id and must be answered.
	Dedup Dedup

	// MaxBodyBytes bounds the request body. Zero means 1 MiB.
	MaxBodyBytes int64
	// Now is the clock for the freshness checks; nil means time.Now.
	Now func() time.Time
	// OnError, when set, is told of every request refused or failed, with
	// the reason the response leaves out.
	OnError func(r *http.Request, err error)

	OnC2CBeforeSendMsg     func(context.Context, Event[C2CBeforeSendMsg]) BeforeSendReply
	OnC2CAfterSendMsg      func(context.Context, Event[C2CAfterSendMsg]) error
	OnC2CAfterMsgWithdraw  func(context.Context, Event[C2CAfterMsgWithdraw]) error
	OnC2CAfterMsgExtension func(context.Context, Event[C2CAfterMsgExtension]) error

	OnGroupBeforeSendMsg     func(context.Context, Event[GroupBeforeSendMsg]) BeforeSendReply
	OnGroupAfterSendMsg      func(context.Context, Event[GroupAfterSendMsg]) error
	OnGroupAfterRecallMsg    func(context.Context, Event[GroupAfterRecallMsg]) error
	OnGroupAfterMsgExtension func(context.Context, Event[GroupAfterMsgExtension]) error

	// OnUnknown receives commands this package does not know (newer
	// parley versions, Tencent commands parley does not emit), with the
	// body undecoded. Nil means they are answered OK and ignored.
	OnUnknown func(context.Context, Event[json.RawMessage]) error
}

// Handler receives parley's callbacks. It checks the request (POST, the
// SdkAppid, the signatures configured), decodes the body by
// CallbackCommand and calls the func for it, then answers:
//
//   - 200 {"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""} when an
//     after-callback func returned nil, for a duplicate already handled,
//     and for commands with no func;
//   - 200 with the [BeforeSendReply] for a before-send call;
//   - 500 with ActionStatus FAIL, ErrorCode 1 when an after-callback func
//     returned an error, or a before-send func returned a reply that
//     [BeforeSendReply.Check] refuses. Parley counts anything but HTTP 200
//     with JSON as a failure: it retries the after-callback later, and
//     applies its failure policy to the before-send call;
//   - 409 FAIL for a duplicate still being handled, so parley retries it
//     rather than take it as delivered before the first attempt ends;
//   - 401 FAIL for a signature that is missing, wrong or stale; 400 FAIL
//     for a malformed request or another app's SdkAppid; 405 for a method
//     other than POST; 413 for a body over MaxBodyBytes. No func is called.
//
// The reasons for refusals go to Config.OnError, not to the response.
type Handler struct {
	cfg      Config
	appID    string
	verifier *Verifier
	window   time.Duration
	maxBody  int64
	now      func() time.Time
	okReply  []byte
}

// NewHandler validates cfg and returns its Handler.
func NewHandler(cfg Config) (*Handler, error) {
	if cfg.SDKAppID == 0 {
		return nil, errors.New("webhook: SDKAppID is required")
	}
	if cfg.SignWindow < 0 || cfg.MaxBodyBytes < 0 {
		return nil, errors.New("webhook: SignWindow and MaxBodyBytes must not be negative")
	}
	h := &Handler{
		cfg:     cfg,
		appID:   strconv.FormatUint(cfg.SDKAppID, 10),
		window:  cfg.SignWindow,
		maxBody: cfg.MaxBodyBytes,
		now:     cfg.Now,
	}
	if len(cfg.Secrets) > 0 {
		v, err := NewVerifier(cfg.Secrets, cfg.Tolerance)
		if err != nil {
			return nil, err
		}
		h.verifier = v
	}
	if h.window == 0 {
		h.window = 5 * time.Minute
	}
	if h.maxBody == 0 {
		h.maxBody = 1 << 20
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.okReply, _ = json.Marshal(Allow())
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.refuse(w, r, http.StatusMethodNotAllowed, fmt.Errorf("method %s, want POST", r.Method))
		return
	}
	q := r.URL.Query()
	if got := q.Get("SdkAppid"); got != h.appID {
		h.refuse(w, r, http.StatusBadRequest, fmt.Errorf("SdkAppid %q is not this app's %s", got, h.appID))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		h.refuse(w, r, status, fmt.Errorf("reading body: %v", err))
		return
	}
	now := h.now()
	if h.cfg.Token != "" {
		if err := VerifySign(h.cfg.Token, q.Get("Sign"), q.Get("RequestTime"), now, h.window); err != nil {
			h.refuse(w, r, http.StatusUnauthorized, err)
			return
		}
	}
	if h.verifier != nil {
		if err := h.verifier.Verify(r.Header, body, now); err != nil {
			h.refuse(w, r, http.StatusUnauthorized, err)
			return
		}
	}
	command := q.Get("CallbackCommand")
	if command == "" {
		h.refuse(w, r, http.StatusBadRequest, errors.New("CallbackCommand query parameter missing"))
		return
	}
	var probe struct {
		CallbackCommand string `json:"CallbackCommand"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		h.refuse(w, r, http.StatusBadRequest, fmt.Errorf("body is not a JSON object: %v", err))
		return
	}
	if probe.CallbackCommand != command {
		h.refuse(w, r, http.StatusBadRequest, fmt.Errorf("body CallbackCommand %q differs from the query's %q", probe.CallbackCommand, command))
		return
	}
	m := meta{
		id:          r.Header.Get(HeaderID),
		command:     command,
		sdkAppID:    h.cfg.SDKAppID,
		clientIP:    q.Get("ClientIP"),
		optPlatform: q.Get("OptPlatform"),
		raw:         body,
	}
	if m.id == "" {
		m.id = r.Header.Get(HeaderEventID)
	}
	if a := r.Header.Get(HeaderAttempt); a != "" {
		if m.attempt, err = strconv.Atoi(a); err != nil || m.attempt < 1 {
			h.refuse(w, r, http.StatusBadRequest, fmt.Errorf("%s %q is not a positive integer", HeaderAttempt, a))
			return
		}
	}

	c := &h.cfg
	switch command {
	case CommandC2CBeforeSendMsg:
		beforeSend(h, w, r, m, c.OnC2CBeforeSendMsg)
	case CommandC2CAfterSendMsg:
		after(h, w, r, m, c.OnC2CAfterSendMsg)
	case CommandC2CAfterMsgWithdraw:
		after(h, w, r, m, c.OnC2CAfterMsgWithdraw)
	case CommandC2CAfterMsgExtension:
		after(h, w, r, m, c.OnC2CAfterMsgExtension)
	case CommandGroupBeforeSendMsg:
		beforeSend(h, w, r, m, c.OnGroupBeforeSendMsg)
	case CommandGroupAfterSendMsg:
		after(h, w, r, m, c.OnGroupAfterSendMsg)
	case CommandGroupAfterRecallMsg:
		after(h, w, r, m, c.OnGroupAfterRecallMsg)
	case CommandGroupAfterMsgExtension:
		after(h, w, r, m, c.OnGroupAfterMsgExtension)
	default:
		after(h, w, r, m, c.OnUnknown)
	}
}

// meta is what every Event carries besides its body.
type meta struct {
	id, command, clientIP, optPlatform string
	attempt                            int
	sdkAppID                           uint64
	raw                                []byte
}

func decode[T any](h *Handler, w http.ResponseWriter, r *http.Request, m meta) (Event[T], bool) {
	ev := Event[T]{
		ID: m.id, Attempt: m.attempt, Command: m.command, SDKAppID: m.sdkAppID,
		ClientIP: m.clientIP, OptPlatform: m.optPlatform, Raw: m.raw,
	}
	if err := json.Unmarshal(m.raw, &ev.Body); err != nil {
		h.refuse(w, r, http.StatusBadRequest, fmt.Errorf("%s body: %v", m.command, err))
		return ev, false
	}
	return ev, true
}

func after[T any](h *Handler, w http.ResponseWriter, r *http.Request, m meta, fn func(context.Context, Event[T]) error) {
	if fn == nil {
		h.write(w, http.StatusOK, h.okReply)
		return
	}
	ev, ok := decode[T](h, w, r, m)
	if !ok {
		return
	}
	dedup := h.cfg.Dedup
	if dedup != nil && m.id != "" {
		switch dedup.Claim(m.id) {
		case ClaimDone:
			h.write(w, http.StatusOK, h.okReply)
			return
		case ClaimInFlight:
			h.refuse(w, r, http.StatusConflict, fmt.Errorf("event %s is already being handled", m.id))
			return
		}
	} else {
		dedup = nil
	}
	if err := fn(r.Context(), ev); err != nil {
		if dedup != nil {
			dedup.Release(m.id)
		}
		h.refuse(w, r, http.StatusInternalServerError, fmt.Errorf("%s %s: %w", m.command, m.id, err))
		return
	}
	if dedup != nil {
		dedup.Complete(m.id)
	}
	h.write(w, http.StatusOK, h.okReply)
}

func beforeSend[T any](h *Handler, w http.ResponseWriter, r *http.Request, m meta, fn func(context.Context, Event[T]) BeforeSendReply) {
	if fn == nil {
		h.write(w, http.StatusOK, h.okReply)
		return
	}
	ev, ok := decode[T](h, w, r, m)
	if !ok {
		return
	}
	reply := fn(r.Context(), ev)
	if err := reply.Check(m.command); err != nil {
		h.refuse(w, r, http.StatusInternalServerError, err)
		return
	}
	b, err := json.Marshal(reply)
	if err != nil {
		h.refuse(w, r, http.StatusInternalServerError, fmt.Errorf("%s reply: %v", m.command, err))
		return
	}
	h.write(w, http.StatusOK, b)
}

func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, err error) {
	if h.cfg.OnError != nil {
		h.cfg.OnError(r, err)
	}
	// The ErrorInfo names only the class of failure: the reason may hold
	// details of the app that the caller should not learn.
	b, _ := json.Marshal(replyBody{ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: http.StatusText(status)})
	h.write(w, status, b)
}

func (h *Handler) write(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client went away; nothing to do
}
