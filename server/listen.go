package server

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/restapi"
)

// ListenPath is the stream `parley listen` reads: GET, with the admin
// UserSig in the query as on every REST call, answered with the outbox's
// after-callbacks as Server-Sent Events (see delivery.Tap), or with a
// Tencent error envelope when the request is refused. Query parameters
// besides the REST ones: command (repeated, or comma-separated) to get only
// those commands. A Last-Event-ID header resumes after that Seq.
//
// With a callback URL, every enabled after-callback is in the outbox, and
// the stream shows it whether or not the URL is reachable. Without one,
// parley records the enabled after-callbacks only while a listener is
// connected (and for a minute after the last one leaves, so a reconnect
// misses nothing): they exist for the listeners, and stay pending in the
// outbox, where a callback URL configured later would receive them like
// any event that was never delivered. Before-send callbacks are answered
// synchronously and never recorded, so they cannot be listened to.
const ListenPath = "/v4/parley_webhook/listen"

// listenHandler serves ListenPath.
type listenHandler struct {
	tap *delivery.Tap
	app App
	s   *Server
	// auth checks a listener's credentials as the REST API checks a call;
	// set once the REST handler exists, before the server listens.
	auth interface{ Authenticate(*http.Request) error }
}

// buildListen makes the tap every commit notifies, and, when no callback
// URL is set, lets the engine record events while someone listens.
func (s *Server) buildListen(cfg *chat.Config) (*listenHandler, error) {
	o := s.opts
	tap, err := delivery.NewTap(delivery.TapConfig{
		Store:    s.store,
		SDKAppID: s.app.SDKAppID,
		Token:    o.CallbackToken,
		Secrets:  s.webhookSecrets,
		Now:      o.Now,
	})
	if err != nil {
		return nil, err
	}
	if notify := cfg.OnEvents; notify != nil {
		cfg.OnEvents = func() {
			notify()
			tap.Notify()
		}
	} else {
		cfg.OnEvents = tap.Notify
	}
	if o.CallbackURL == "" {
		enabled := make(map[string]bool, len(o.CallbackCommands))
		for _, c := range o.CallbackCommands {
			enabled[c] = true
		}
		// No Caller is set, so the engine makes no before-send call
		// whatever this says of those commands.
		cfg.CallbackEnabled = func(command string) bool { return enabled[command] && tap.Active() }
	}
	return &listenHandler{tap: tap, app: s.app, s: s}, nil
}

// Close ends every stream; http.Server.Shutdown calls it, since it would
// otherwise wait for streams that never end.
func (h *listenHandler) Close() { h.tap.Close() }

func (h *listenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.s.log.With("remote", r.RemoteAddr)
	p, err := h.params(r)
	if err != nil {
		h.refuse(w, log, err)
		return
	}
	sub, err := h.tap.Subscribe(r.Context(), p)
	if err != nil {
		h.refuse(w, log, err)
		return
	}
	log.Info("listener connected", "from_seq", sub.Head(), "resume", p.Resume, "after_seq", p.AfterSeq,
		"commands", strings.Join(p.Commands, ","), "listeners", h.tap.Listeners())
	if err := sub.Stream(r.Context(), w); err != nil {
		log.Warn("listener cut off", "err", err)
		return
	}
	log.Info("listener left")
}

// params authenticates r and reads what the listener asks for.
func (h *listenHandler) params(r *http.Request) (delivery.ListenParams, error) {
	if err := h.auth.Authenticate(r); err != nil {
		return delivery.ListenParams{}, err
	}
	q, _ := url.ParseQuery(r.URL.RawQuery)
	var p delivery.ListenParams
	for _, v := range q["command"] {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" {
				p.Commands = append(p.Commands, c)
			}
		}
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n < 0 {
			return p, parley.Errorf(parley.ErrHTTPParse, "Last-Event-ID %q is not a Seq parley sent", id)
		}
		p.Resume, p.AfterSeq = true, n
	}
	return p, nil
}

// refuse answers err as a REST call's error: HTTP 200 and the Tencent
// envelope.
func (h *listenHandler) refuse(w http.ResponseWriter, log *slog.Logger, err error) {
	if errors.Is(err, delivery.ErrTapClosed) {
		err = parley.Errorf(parley.ErrInternal, "the server is shutting down")
	}
	code, info, internal := restapi.ErrorAnswer(err)
	if internal {
		log.Error("listen", "err", err)
	} else {
		log.Warn("listener refused", "code", code, "info", info)
	}
	body, _ := json.Marshal(struct {
		ActionStatus string
		ErrorInfo    string
		ErrorCode    int
	}{"FAIL", info, code})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}
