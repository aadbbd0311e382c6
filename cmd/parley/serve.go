package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/usersig"
)

// shutdownTimeout bounds the graceful shutdown after SIGINT or SIGTERM.
const shutdownTimeout = 10 * time.Second

// serveConfig is everything `parley serve` can be told.
type serveConfig struct {
	config           string
	addr             string
	data             string
	sdkappid         uint64
	secretKey        string
	admin            string
	callbackURL      urlValue
	callbackToken    string
	callbackTimeout  time.Duration
	callbackCommands commandsValue
	webhookSecrets   secretsValue
	beforeSendPolicy policyValue
	restrictedWords  string
	retrySchedule    scheduleValue
	breakerThreshold int
	breakerCooldown  time.Duration
	concurrency      int
	groupMsgRate     int
	heartbeat        time.Duration
	recallWindow     time.Duration
	sessionQueue     int
	sessionsPerUser  int
	logLevel         slog.Level
}

// serveDefaults are the default texts of flags whose zero value means
// "look elsewhere".
func serveDefaults() map[string]string {
	return map[string]string{
		"sdkappid":       "from app.json, generated on first start",
		"secret-key":     "from app.json, generated on first start",
		"admin":          "from app.json, " + parley.DefaultAdminName,
		"webhook-secret": "from app.json, generated on first start",
		"log-level":      "info",
	}
}

// newServeFlags defines the serve flags on a new FlagSet writing to w.
func newServeFlags(w io.Writer) (*flag.FlagSet, *serveConfig) {
	c := &serveConfig{retrySchedule: scheduleValue{list: delivery.DefaultRetrySchedule()}}
	fs := flag.NewFlagSet("parley serve", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.StringVar(&c.config, "config", "", "read settings from `FILE` (name = value lines)")
	fs.StringVar(&c.addr, "addr", server.DefaultAddr, "`HOST:PORT` to listen on; port 0 picks a free port")
	fs.StringVar(&c.data, "data", server.DefaultDataDir, "data `DIR`: app.json and the SQLite database parley.db; created if missing")
	fs.Uint64Var(&c.sdkappid, "sdkappid", 0, "`ID`: SDKAppID to answer for instead of the generated one")
	fs.StringVar(&c.secretKey, "secret-key", "", "`KEY` that UserSigs are signed with, instead of the generated one")
	fs.StringVar(&c.admin, "admin", "", "App admin `USERID`: the identifier REST calls must be signed as")
	fs.Var(&c.callbackURL, "callback-url", "webhook `URL` (http or https) of your app backend; empty switches callbacks off")
	fs.StringVar(&c.callbackToken, "callback-token", "", "webhook authentication `TOKEN`: adds Sign and RequestTime to every webhook")
	fs.DurationVar(&c.callbackTimeout, "callback-timeout", server.DefaultCallbackTimeout, "`DURATION` each webhook attempt may take")
	fs.Var(&c.webhookSecrets, "webhook-secret", "`LIST` of Standard Webhooks secrets (whsec_...), comma-separated, that sign every webhook instead of the generated one; each request carries one signature per secret, so give \"new,old\" while receivers change secrets")
	fs.Var(&c.callbackCommands, "callback-commands", "`LIST` of callbacks switched on, comma-separated, or all or none: "+strings.Join(parley.Commands, ", "))
	fs.Var(&c.beforeSendPolicy, "before-send-policy", "`POLICY` when a before-send callback (C2C or group) fails or times out: deliver the message, or reject it with 80003")
	fs.StringVar(&c.restrictedWords, "restricted-words", "", "`FILE` of restricted words, one word or phrase a line (blank lines and # comments skipped); a text message containing one is not delivered (80001)")
	fs.Var(&c.retrySchedule, "retry-schedule", "`LIST` of waits before each retry of a failed after-callback, comma-separated; empty means no retries")
	fs.IntVar(&c.breakerThreshold, "breaker-threshold", 5, "failed webhook attempts `IN_A_ROW` that open the circuit breaker: while open, after-callbacks wait (not counted as attempts) and before-send callbacks fail at once (--before-send-policy applies); 0 or less switches it off")
	fs.IntVar(&c.concurrency, "webhook-concurrency", 128, "most after-callback requests in flight to the callback URL at once: that many conversations are delivered in parallel, each in order")
	fs.DurationVar(&c.breakerCooldown, "breaker-cooldown", 5*time.Second, "`DURATION` an open circuit breaker waits before one probe attempt; it doubles while probes fail, up to 5m (or this, if longer)")
	fs.IntVar(&c.groupMsgRate, "group-msg-rate", chat.DefaultGroupMsgRate, "most messages `PER_SECOND` one group accepts (send_group_msg answers 10023 beyond it); 0 or less means no limit")
	fs.DurationVar(&c.heartbeat, "heartbeat", 30*time.Second, "`DURATION` between pings to each WebSocket client; a client silent for twice as long plus 10s is disconnected")
	fs.DurationVar(&c.recallWindow, "client-recall-window", chat.DefaultClientRecallWindow, "`DURATION` after sending during which a client may recall its message (20016 / 10031 after it); REST recalls have no limit")
	fs.IntVar(&c.sessionQueue, "session-queue", 4096, "most `MESSAGES` queued for one WebSocket client; a client that lets more pile up is disconnected as a slow consumer (4008)")
	fs.IntVar(&c.sessionsPerUser, "max-sessions-per-user", 10, "most WebSocket `SESSIONS` one user may have at once; one more closes the oldest (4009)")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "`LEVEL` of logging: debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprint(w, `Usage: parley serve [flags]

Runs the parley server until SIGINT or SIGTERM, then shuts down gracefully.

Every flag can also be set with the environment variable shown, or in a
config file (--config FILE or PARLEY_CONFIG) as "name = value" lines, e.g.
"callback-url = http://127.0.0.1:9000/hook"; # starts a comment line. A flag
beats the environment, which beats the file, which beats the default.

Flags:
`)
		printFlags(w, fs, serveSettings(), serveDefaults())
	}
	return fs, c
}

// serveSettings names the serve flags that may come from the environment
// and the config file: all but --config itself.
func serveSettings() map[string]bool {
	fs, _ := newServeFlags(io.Discard)
	names := make(map[string]bool)
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" {
			names[f.Name] = true
		}
	})
	return names
}

// loadServeConfig resolves the serve configuration from args, env and the
// config file.
func loadServeConfig(args []string, env lookupEnv, w io.Writer) (*serveConfig, error) {
	fs, c := newServeFlags(w)
	if err := configure(fs, args, env, serveSettings()); err != nil {
		return nil, err
	}
	return c, nil
}

// options turns the configuration into server.Options, reading the
// restricted-words file.
func (c *serveConfig) options(logger *slog.Logger) (server.Options, error) {
	opts := server.Options{
		Addr:                 c.addr,
		DataDir:              c.data,
		App:                  server.App{SDKAppID: c.sdkappid, SecretKey: c.secretKey, Admin: c.admin},
		CallbackURL:          c.callbackURL.s,
		CallbackToken:        c.callbackToken,
		CallbackTimeout:      c.callbackTimeout,
		CallbackCommands:     c.callbackCommands.list,
		WebhookSecrets:       c.webhookSecrets.list,
		BeforeSendPolicy:     c.beforeSendPolicy.String(),
		RetrySchedule:        c.retrySchedule.list,
		GroupMsgRate:         c.groupMsgRate,
		BreakerThreshold:     c.breakerThreshold,
		BreakerCooldown:      c.breakerCooldown,
		WebhookConcurrency:   c.concurrency,
		HeartbeatInterval:    c.heartbeat,
		ClientRecallWindow:   c.recallWindow,
		SessionQueueMessages: c.sessionQueue,
		MaxSessionsPerUser:   c.sessionsPerUser,
		Logger:               logger,
	}
	if c.heartbeat <= 0 {
		return server.Options{}, fmt.Errorf("heartbeat %v: want a positive duration", c.heartbeat)
	}
	if c.recallWindow <= 0 {
		return server.Options{}, fmt.Errorf("client recall window %v: want a positive duration", c.recallWindow)
	}
	if c.sessionQueue <= 0 {
		return server.Options{}, fmt.Errorf("session queue %d: want at least 1 message", c.sessionQueue)
	}
	if c.sessionsPerUser <= 0 {
		return server.Options{}, fmt.Errorf("max sessions per user %d: want at least 1", c.sessionsPerUser)
	}
	if c.concurrency <= 0 {
		return server.Options{}, fmt.Errorf("webhook concurrency %d: want at least 1", c.concurrency)
	}
	if c.groupMsgRate <= 0 {
		opts.GroupMsgRate = -1
	}
	if c.breakerThreshold <= 0 {
		opts.BreakerThreshold = -1
	}
	if c.breakerCooldown <= 0 {
		return server.Options{}, fmt.Errorf("breaker cool-down %v: want a positive duration", c.breakerCooldown)
	}
	if c.restrictedWords != "" {
		words, err := readWordList(c.restrictedWords)
		if err != nil {
			return server.Options{}, fmt.Errorf("restricted words: %w", err)
		}
		opts.RestrictedWords = words
	}
	return opts, nil
}

func runServe(ctx context.Context, args []string, env lookupEnv, stderr io.Writer) error {
	c, err := loadServeConfig(args, env, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.logLevel}))
	opts, err := c.options(log)
	if err != nil {
		return err
	}

	// Resolve the app here rather than in server.New so the first start can
	// say that it generated one.
	app := opts.App
	if len(opts.WebhookSecrets) > 0 {
		// As server.New does: given secrets leave app.json's unused.
		app.WebhookSecret = opts.WebhookSecrets[0]
	}
	if !app.Complete() {
		stored, created, err := server.LoadOrCreateApp(opts.DataDir)
		if err != nil {
			return err
		}
		if created {
			log.Info("generated a new app", "sdkappid", stored.SDKAppID, "admin", stored.Admin, "file", filepath.Join(opts.DataDir, server.AppFile))
		}
		app = app.Or(stored)
		opts.App = app
	}

	srv, err := server.New(opts)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	base := clientURL(srv.Addr())
	attrs := []any{"addr", srv.Addr(), "url", base, "sdkappid", app.SDKAppID, "admin", app.Admin, "data", opts.DataDir}
	if opts.CallbackURL == "" {
		attrs = append(attrs, "callbacks", "off (no --callback-url)")
	} else {
		attrs = append(attrs, "callback_url", opts.CallbackURL,
			"callback_commands", c.callbackCommands.String(),
			"before_send_policy", opts.BeforeSendPolicy,
			"retry_schedule", c.retrySchedule.String())
	}
	log.Info("listening", attrs...)
	if curl, err := importCurl(base, app); err == nil {
		fmt.Fprintf(stderr, "\nImport an account (the admin UserSig in this command is valid for 24h):\n\n  %s\n\n", curl)
	} else {
		log.Warn("cannot sign the example command", "err", err)
	}
	switch secrets := srv.WebhookSecrets(); {
	// Secrets the operator gave are not echoed: they have them already,
	// and a log is no place to copy them to.
	case len(opts.WebhookSecrets) == 1:
		fmt.Fprint(stderr, "Webhooks carry a Standard Webhooks signature (webhook-signature header) by the secret of --webhook-secret.\n\n")
	case len(opts.WebhookSecrets) > 1:
		fmt.Fprintf(stderr, "Webhooks carry %d Standard Webhooks signatures (webhook-signature header), one by each secret of --webhook-secret.\n\n", len(secrets))
	default:
		fmt.Fprintf(stderr, "Webhooks carry a Standard Webhooks signature (webhook-signature header); verify it with this secret (kept in %s):\n\n  %s\n\n",
			filepath.Join(opts.DataDir, server.AppFile), secrets[0])
	}

	<-ctx.Done()
	log.Info("shutting down", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// secretsValue is --webhook-secret: a comma-separated list of Standard
// Webhooks secrets, each checked as it is set; empty means the app's own.
type secretsValue struct{ list []string }

func (v *secretsValue) String() string {
	if v == nil {
		return ""
	}
	return strings.Join(v.list, ",")
}

func (v *secretsValue) Set(s string) error {
	var list []string
	n := 0
	for secret := range strings.SplitSeq(s, ",") {
		secret = strings.TrimSpace(secret)
		if secret == "" {
			continue
		}
		n++
		if err := delivery.ValidateSecret(secret); err != nil {
			return fmt.Errorf("secret %d: %v", n, err)
		}
		if !slices.Contains(list, secret) {
			list = append(list, secret)
		}
	}
	v.list = list
	return nil
}

// clientURL is the base URL a local client reaches addr at: an unspecified
// listen address (0.0.0.0, ::) is reached through loopback.
func clientURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// importCurl is a ready-to-paste command that imports the account alice.
func importCurl(base string, app server.App) (string, error) {
	sig, err := usersig.Gen(usersig.GenParams{
		SDKAppID:   app.SDKAppID,
		Key:        app.SecretKey,
		Identifier: app.Admin,
		Expire:     int64((24 * time.Hour).Seconds()),
	})
	if err != nil {
		return "", err
	}
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	// Built by hand: url.Values.Encode sorts the keys, and Tencent's
	// documented order reads better.
	query := "sdkappid=" + strconv.FormatUint(app.SDKAppID, 10) +
		"&identifier=" + url.QueryEscape(app.Admin) +
		"&usersig=" + url.QueryEscape(sig) +
		"&random=" + strconv.FormatUint(uint64(binary.BigEndian.Uint32(r[:])), 10) +
		"&contenttype=json"
	return fmt.Sprintf(`curl -s -X POST '%s/v4/im_open_login_svc/account_import?%s' -d '{"UserID":"alice"}'`, base, query), nil
}
