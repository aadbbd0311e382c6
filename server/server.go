// Package server wires parley together: the SQLite store, the chat engine,
// the webhook delivery worker, the REST handler, and the client protocol
// (the hub and the WebSocket server at /v1/ws), behind one http.Server.
//
// # Lifecycle
//
// New validates Options, creates the data directory, loads or generates the
// app and opens the store; nothing listens yet. Start listens (port 0 works)
// and starts the delivery worker; it returns once connections are accepted.
// Shutdown stops accepting, lets in-flight requests finish, closes the
// WebSocket connections (1001) and waits for their requests, then stops the
// delivery worker (events it had not delivered stay in the outbox for the
// next start), then closes the store. Shutdown is idempotent and may be
// called without Start.
//
// There is no package-level state: any number of servers can run in one
// process, each with its own data directory and its own metrics registry.
//
// # Metrics
//
// GET /metrics answers in the Prometheus text format: the webhook
// engine's metrics (see delivery.Metrics), the Go runtime's (go_*) and
// the process's (process_*). They are gathered from a registry owned by
// the Server, never the global default one, so servers side by side each
// report their own. The endpoint is unauthenticated, like /healthz: bind
// Addr to a private interface, or put a proxy in front, if the counts of
// callback commands should not be public.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/demo"
	"github.com/parley-im/parley/hub"
	"github.com/parley-im/parley/restapi"
	"github.com/parley-im/parley/sqlite"
	"github.com/parley-im/parley/ws"
)

// Defaults of Options.
const (
	DefaultAddr            = "127.0.0.1:8080"
	DefaultDataDir         = "./parley-data"
	DefaultCallbackTimeout = 2 * time.Second
	DBFile                 = "parley.db"
)

// Before-send policies: what sendmsg and send_group_msg do when a before-send callback
// fails (timeout, non-200, unparsable or unknown answer).
const (
	PolicyDeliver = "deliver" // deliver the message anyway (Tencent's default)
	PolicyReject  = "reject"  // refuse it with 80003
)

// Options configure a Server. Zero fields mean the documented default.
type Options struct {
	// Addr is the TCP address to listen on. "" means 127.0.0.1:8080; use
	// "127.0.0.1:0" for a free port and read it back with Server.Addr.
	Addr string
	// DataDir holds app.json and parley.db. "" means ./parley-data. It is
	// created if missing.
	DataDir string
	// App overrides the app kept in DataDir field by field: zero fields are
	// taken from app.json, which is generated on first start.
	App App
	// WebhookSecrets, when given, sign every webhook instead of the app's
	// WebhookSecret: each is a Standard Webhooks secret ("whsec_" and the
	// base64 of at least 24 bytes), and every request carries one
	// signature per secret. To rotate, give the new secret and the old
	// one until every receiver has the new, then the new alone.
	// App().WebhookSecret reports the first.
	WebhookSecrets []string

	// CallbackURL is the app backend's webhook URL (http or https). ""
	// switches every callback off: no before-send call, no outbox events.
	CallbackURL string
	// CallbackToken, when set, adds Sign and RequestTime to every webhook.
	CallbackToken string
	// CallbackTimeout bounds each webhook attempt. Zero means 2s.
	CallbackTimeout time.Duration
	// CallbackCommands lists the callback commands switched on. nil means
	// all of parley.Commands; an empty non-nil slice means none.
	CallbackCommands []string
	// BeforeSendPolicy is "deliver" (the default when "") or "reject".
	BeforeSendPolicy string
	// RestrictedWords are words and phrases a text message may not contain.
	RestrictedWords []string
	// RetrySchedule is the wait before each retry of a failed
	// after-callback. nil means delivery.DefaultRetrySchedule(); an empty
	// non-nil slice means no retries.
	RetrySchedule []time.Duration
	// BreakerThreshold is how many failed webhook attempts in a row open
	// the circuit breaker of the callback URL, separately for the
	// before-send calls and the after-callbacks: while open, no
	// after-callback is attempted (none is retried or dead-lettered for
	// it) and a before-send call fails at once, so BeforeSendPolicy
	// applies without waiting for the timeout. Zero means 5; negative
	// switches the breakers off.
	BreakerThreshold int
	// BreakerCooldown is how long a breaker stays open before one probe;
	// it doubles while probes fail, up to 5 minutes (or BreakerCooldown,
	// if longer). Zero means 5s.
	BreakerCooldown time.Duration
	// WebhookConcurrency caps the after-callback requests in flight to the
	// callback URL at once: that many conversations are delivered in
	// parallel (each conversation's events go one after another). Zero
	// means 128.
	WebhookConcurrency int
	// GroupMsgRate is the most messages per second one group accepts.
	// Zero means chat.DefaultGroupMsgRate (40, Tencent's limit); negative
	// means no limit.
	GroupMsgRate int

	// HeartbeatInterval is how often WebSocket clients are pinged; one
	// silent for twice as long plus 10s is disconnected. Zero means 30s.
	HeartbeatInterval time.Duration
	// ClientRecallWindow is how long after sending a client may recall its
	// message. Zero means chat.DefaultClientRecallWindow (2 minutes).
	ClientRecallWindow time.Duration
	// SessionQueueMessages and SessionQueueBytes bound each WebSocket
	// session's send queue; a client that lets it fill up is disconnected
	// (4008). Zero means 4096 messages and 4 MiB.
	SessionQueueMessages int
	SessionQueueBytes    int
	// MaxSessionsPerUser bounds one user's WebSocket sessions; one more
	// closes the oldest (4009). Zero means 10.
	MaxSessionsPerUser int

	// Logger receives the server's logs. nil discards them.
	Logger *slog.Logger
	// Now is the clock. nil means time.Now.
	Now func() time.Time
}

// Server is one parley server. Create it with New.
type Server struct {
	opts  Options
	app   App
	log   *slog.Logger
	store *sqlite.DB
	// webhookSecrets sign every webhook: Options.WebhookSecrets, or the
	// app's WebhookSecret.
	webhookSecrets []string
	worker         *delivery.Worker // nil when callbacks are off
	caller         *delivery.Caller // nil when callbacks are off
	hub            *hub.Hub
	ws             *ws.Server
	http           *http.Server

	addr atomic.Pointer[string] // set by Start; read without mu so Shutdown never blocks it

	mu          sync.Mutex // serialises Start and Shutdown
	started     bool
	shutdown    bool
	shutdownErr error
	serveDone   chan struct{}
}

// New validates opts, creates the data directory, loads or generates the
// app, opens the store and makes sure the admin account exists.
func New(opts Options) (*Server, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: create data directory: %w", err)
	}
	override := opts.App
	if len(opts.WebhookSecrets) > 0 {
		override.WebhookSecret = opts.WebhookSecrets[0]
	}
	app, err := resolveApp(opts.DataDir, override)
	if err != nil {
		return nil, err
	}
	webhookSecrets := opts.WebhookSecrets
	if len(webhookSecrets) == 0 {
		if err := delivery.ValidateSecret(app.WebhookSecret); err != nil {
			return nil, fmt.Errorf("server: the app's %v", err)
		}
		webhookSecrets = []string{app.WebhookSecret}
	}
	if err := chat.ValidateUserID(app.Admin); err != nil {
		return nil, fmt.Errorf("server: admin identifier %q: %w", app.Admin, err)
	}

	ctx := context.Background()
	store, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(opts.DataDir, DBFile), Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("server: open store: %w", err)
	}
	s := &Server{opts: opts, app: app, webhookSecrets: webhookSecrets, log: opts.Logger, store: store}
	if err := s.build(ctx); err != nil {
		if s.hub != nil {
			s.hub.Close()
		}
		store.Close()
		return nil, err
	}
	return s, nil
}

func (o *Options) fill() error {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.DataDir == "" {
		o.DataDir = DefaultDataDir
	}
	if o.CallbackTimeout == 0 {
		o.CallbackTimeout = DefaultCallbackTimeout
	}
	if o.CallbackTimeout < 0 {
		return fmt.Errorf("server: callback timeout %v is negative", o.CallbackTimeout)
	}
	if o.CallbackCommands == nil {
		o.CallbackCommands = slices.Clone(parley.Commands)
	}
	for _, c := range o.CallbackCommands {
		if !slices.Contains(parley.Commands, c) {
			return fmt.Errorf("server: unknown callback command %q (known: %s)", c, strings.Join(parley.Commands, ", "))
		}
	}
	switch o.BeforeSendPolicy {
	case "":
		o.BeforeSendPolicy = PolicyDeliver
	case PolicyDeliver, PolicyReject:
	default:
		return fmt.Errorf("server: before-send policy %q: want %q or %q", o.BeforeSendPolicy, PolicyDeliver, PolicyReject)
	}
	if o.CallbackURL != "" {
		if err := validateCallbackURL(o.CallbackURL); err != nil {
			return err
		}
	}
	for i, secret := range o.WebhookSecrets {
		if err := delivery.ValidateSecret(secret); err != nil {
			return fmt.Errorf("server: webhook secret %d of %d: %v", i+1, len(o.WebhookSecrets), err)
		}
	}
	o.WebhookSecrets = slices.Clone(o.WebhookSecrets)
	for _, d := range o.RetrySchedule {
		if d <= 0 {
			return fmt.Errorf("server: retry schedule: %v is not a positive duration", d)
		}
	}
	if o.WebhookConcurrency < 0 {
		return fmt.Errorf("server: webhook concurrency %d is negative", o.WebhookConcurrency)
	}
	if o.BreakerCooldown < 0 {
		return fmt.Errorf("server: breaker cool-down %v is negative", o.BreakerCooldown)
	}
	if o.HeartbeatInterval < 0 {
		return fmt.Errorf("server: heartbeat interval %v is negative", o.HeartbeatInterval)
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = ws.DefaultHeartbeatInterval
	}
	if o.ClientRecallWindow < 0 {
		return fmt.Errorf("server: client recall window %v is negative", o.ClientRecallWindow)
	}
	if o.SessionQueueMessages < 0 || o.SessionQueueBytes < 0 {
		return fmt.Errorf("server: session queue bounds %d messages, %d bytes: negative", o.SessionQueueMessages, o.SessionQueueBytes)
	}
	if o.MaxSessionsPerUser < 0 {
		return fmt.Errorf("server: max sessions per user %d is negative", o.MaxSessionsPerUser)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

func validateCallbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("server: callback URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("server: callback URL %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("server: callback URL %q has no host", raw)
	}
	return nil
}

// resolveApp fills the zero fields of override from app.json, generating
// it only when something is missing.
func resolveApp(dataDir string, override App) (App, error) {
	if override.Complete() {
		return override, nil
	}
	stored, _, err := LoadOrCreateApp(dataDir)
	if err != nil {
		return App{}, err
	}
	return override.Or(stored), nil
}

func (s *Server) build(ctx context.Context) error {
	o := s.opts
	existing, err := s.store.AccountGetMany(ctx, []string{s.app.Admin})
	if err != nil {
		return fmt.Errorf("server: look up admin account: %w", err)
	}
	if len(existing) == 0 {
		// Only when missing: an upsert would wipe a Nick set by a later import.
		if _, err := s.store.AccountUpsert(ctx, parley.Account{UserID: s.app.Admin, CreatedAt: o.Now()}); err != nil {
			return fmt.Errorf("server: create admin account: %w", err)
		}
	}

	registry := prometheus.NewRegistry()
	if err := registry.Register(collectors.NewGoCollector()); err != nil {
		return fmt.Errorf("server: metrics: %w", err)
	}
	if err := registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return fmt.Errorf("server: metrics: %w", err)
	}
	metrics, err := delivery.NewMetrics(delivery.MetricsConfig{Registerer: registry, Store: s.store, Now: o.Now})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	metricsHandler := promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		// A failed store read fails the scrape (HTTP 500 with the
		// error), so a broken outbox shows as a failed target rather
		// than as an empty backlog.
		ErrorHandling: promhttp.HTTPErrorOnError,
		ErrorLog:      slog.NewLogLogger(o.Logger.Handler(), slog.LevelError),
	})

	// The hub exists before the engine, which publishes to it; a change
	// that commits before anyone is online is pushed to no one and synced
	// later, as for any client that was offline.
	s.hub, err = hub.New(hub.Config{
		Encode:             ws.EncodePush,
		QueueMessages:      o.SessionQueueMessages,
		QueueBytes:         o.SessionQueueBytes,
		PingInterval:       o.HeartbeatInterval,
		MaxSessionsPerUser: o.MaxSessionsPerUser,
		Logger:             o.Logger,
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	// The engine publishes through the ws Publisher, which tells each
	// client's reply the seq of the change the request made.
	pub := ws.NewPublisher(s.hub)
	cfg := chat.Config{
		Store:                   s.store,
		Admin:                   s.app.Admin,
		RejectOnCallbackFailure: o.BeforeSendPolicy == PolicyReject,
		RestrictedWords:         o.RestrictedWords,
		GroupMsgRate:            o.GroupMsgRate,
		Publisher:               pub,
		ClientRecallWindow:      o.ClientRecallWindow,
		Now:                     o.Now,
	}
	if o.CallbackURL != "" {
		s.caller, err = delivery.NewCaller(delivery.CallerConfig{
			URL:      o.CallbackURL,
			Token:    o.CallbackToken,
			Secrets:  s.webhookSecrets,
			SDKAppID: s.app.SDKAppID,
			Timeout:  o.CallbackTimeout,
			Now:      o.Now,
			Logger:   o.Logger,
			Metrics:  metrics,

			BreakerThreshold: o.BreakerThreshold,
			BreakerCooldown:  o.BreakerCooldown,
		})
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		s.worker, err = delivery.NewWorker(delivery.WorkerConfig{
			Store:         s.store,
			URL:           o.CallbackURL,
			Token:         o.CallbackToken,
			Secrets:       s.webhookSecrets,
			SDKAppID:      s.app.SDKAppID,
			Timeout:       o.CallbackTimeout,
			RetrySchedule: o.RetrySchedule,
			Concurrency:   o.WebhookConcurrency,
			Now:           o.Now,
			Logger:        o.Logger,
			Metrics:       metrics,

			BreakerThreshold: o.BreakerThreshold,
			BreakerCooldown:  o.BreakerCooldown,
		})
		if err != nil {
			return fmt.Errorf("server: %w", err)
		}
		enabled := make(map[string]bool, len(o.CallbackCommands))
		for _, c := range o.CallbackCommands {
			enabled[c] = true
		}
		cfg.Caller = s.caller
		cfg.CallbackEnabled = func(command string) bool { return enabled[command] }
		cfg.OnEvents = s.worker.Notify
	}
	listen, err := s.buildListen(&cfg)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	engine, err := chat.New(cfg)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	api, err := restapi.New(restapi.Config{
		Engine:    engine,
		SDKAppID:  s.app.SDKAppID,
		SecretKey: s.app.SecretKey,
		Admin:     s.app.Admin,
		Now:       o.Now,
		Logger:    o.Logger,

		Outbox:      s.store,
		OnEventsDue: s.notifyWorker,
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	listen.auth = api

	s.ws, err = ws.New(ws.Config{
		Engine:            engine,
		Hub:               s.hub,
		Publisher:         pub,
		SDKAppID:          s.app.SDKAppID,
		Key:               s.app.SecretKey,
		HeartbeatInterval: o.HeartbeatInterval,
		Logger:            o.Logger,
		Now:               o.Now,
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}

	// Not an http.ServeMux: it answers unclean paths such as /v4//x with a
	// redirect before any handler sees them. Everything but the health check
	// and the metrics goes to the REST handler, so even a wrong path gets a
	// Tencent-style JSON answer, never an HTML page or a 3xx/404.
	demoPage, err := demo.New(demo.Config{})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method != http.MethodGet:
		case r.URL.Path == "/healthz":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("ok"))
			return
		case r.URL.Path == "/metrics":
			metricsHandler.ServeHTTP(w, r)
			return
		case r.URL.Path == ListenPath:
			listen.ServeHTTP(w, r)
			return
		case r.URL.Path == WSPath:
			s.ws.ServeHTTP(w, r)
			return
		case r.URL.Path == "/demo" || strings.HasPrefix(r.URL.Path, demo.DefaultPrefix):
			demoPage.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
	s.http = &http.Server{
		Handler:           root,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// A sendmsg may wait for the before-send callback.
		WriteTimeout:   30*time.Second + o.CallbackTimeout,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	s.http.RegisterOnShutdown(listen.Close)
	return nil
}

// Start listens on Options.Addr, starts the delivery worker and serves in
// the background. It returns once the listener accepts connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return errors.New("server: Start after Shutdown")
	}
	if s.started {
		return errors.New("server: already started")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.started = true
	addr := ln.Addr().String()
	s.addr.Store(&addr)
	s.serveDone = make(chan struct{})
	if s.worker != nil {
		s.worker.Start()
	}
	go func() {
		defer close(s.serveDone)
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serve", "err", err)
		}
	}()
	s.log.Debug("listening", "addr", addr)
	return nil
}

// Addr is the address the server listens on, with the real port once
// started; before Start it is Options.Addr.
func (s *Server) Addr() string {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return s.opts.Addr
}

// URL is the server's base URL, e.g. http://127.0.0.1:8080.
func (s *Server) URL() string { return "http://" + s.Addr() }

// WSPath is the path of the client protocol's WebSocket endpoint.
const WSPath = "/v1/ws"

// WSURL is the client protocol's endpoint, e.g. ws://127.0.0.1:8080/v1/ws.
func (s *Server) WSURL() string { return "ws://" + s.Addr() + WSPath }

// Hub is the server's hub: who is online, for tests and admin tools.
func (s *Server) Hub() *hub.Hub { return s.hub }

// App is the app the server answers for.
func (s *Server) App() App { return s.app }

// WebhookSecrets are the Standard Webhooks secrets that sign every webhook,
// the first one first: Options.WebhookSecrets, or the app's WebhookSecret.
func (s *Server) WebhookSecrets() []string { return slices.Clone(s.webhookSecrets) }

// DataDir is the data directory in use.
func (s *Server) DataDir() string { return s.opts.DataDir }

// Store is the server's store, for tests and admin tools.
func (s *Server) Store() parley.Store { return s.store }

// Shutdown stops the server: it stops accepting, waits for in-flight
// requests, stops the delivery worker and closes the store. If ctx ends
// first, remaining connections are dropped and the ctx error is returned;
// the store is closed regardless. Later calls return the first call's
// result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return s.shutdownErr
	}
	s.shutdown = true

	var errs []error
	if s.started {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("server: http: %w", err))
			_ = s.http.Close()
		}
		<-s.serveDone
	}
	// The hijacked WebSocket connections outlive http.Shutdown: first no
	// new logins, then every session closed (1001), then their requests
	// waited for, all before the store goes.
	s.ws.Close()
	s.hub.Close()
	if err := s.ws.Wait(ctx); err != nil {
		errs = append(errs, fmt.Errorf("server: websocket: %w", err))
	}
	if s.worker != nil {
		if err := s.worker.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("server: delivery: %w", err))
		}
	}
	if s.caller != nil {
		_ = s.caller.Close() // only drops idle connections; cannot fail
	}
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("server: store: %w", err))
	}
	s.shutdownErr = errors.Join(errs...)
	return s.shutdownErr
}
