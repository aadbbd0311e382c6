// Package bench measures parley end to end, the way an app backend sees it:
// concurrent clients call the REST API over real HTTP, and the bench's own
// webhook receiver times the after-callback of every acknowledged request.
// The scenario says which: openim/sendmsg and C2C.CallbackAfterSendMsg
// (the default), send_group_msg and Group.CallbackAfterSendMsg, or
// set_key_values and C2C.CallbackAfterC2CMsgExtension. In the same run the
// same load generator drives a bare net/http handler, so the result also
// says how far parley is from the cost of HTTP itself on this machine.
//
// The WebSocket scenarios are in ws.go and wsidle.go: ws (RunWS) sends
// send_c2c between paired clients from an open-loop schedule and times
// each message from its due time to its receipt on the other client;
// ws-idle (RunIdle) runs the server as a child process and measures its
// memory per idle logged-in connection. The rest of this comment is about
// the REST scenarios.
//
// # Method
//
// A run has three phases, each measured separately:
//
//  1. Baseline: Clients goroutines send the same sendmsg requests (same
//     HTTP client, same bodies, same query) to a handler on 127.0.0.1:0 that
//     reads the body and answers a fixed sendmsg reply. Its requests/s is
//     the ceiling the load generator can drive on this machine.
//  2. parley: after Options.Warmup (not counted), the clients send for
//     Options.Duration. A message counts as sent when sendmsg answered
//     ActionStatus OK; its ack time is when the client has read that
//     answer. Anything else is an error, counted by Tencent code (or HTTP
//     status, or "transport").
//  3. Delivery: the bench waits (bounded by Options.DeliveryTimeout) until
//     the after-send webhook of every sent message has reached the
//     receiver. Webhook lag is receipt time minus ack time: from the commit
//     as the client sees it to the receipt, clamped at zero when the
//     webhook beat the response.
//
// Percentiles are exact: computed from every sample, sorted, by the
// nearest-rank method (see Percentiles), never from histograms or
// estimates.
//
// # Profiling
//
// Everything runs in one process, so one CPU profile covers the load
// generator, the server and the receiver. Goroutines carry the profiler
// label "bench" (server, receiver, loadgen, baseline, baseline-loadgen),
// inherited by the goroutines they start, so a profile can be split:
// go tool pprof -top -tagfocus bench=server FILE.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/sqlite"
	"github.com/parley-im/parley/usersig"
)

// Defaults of Options.
const (
	DefaultClients         = 64
	DefaultDuration        = 10 * time.Second
	DefaultUsers           = 100
	DefaultWarmup          = time.Second
	DefaultDeliveryTimeout = 30 * time.Second
	DefaultReceiverAddr    = "127.0.0.1:0"
	DefaultGroups          = 10
	DefaultMessages        = 100
)

// Options configures a run. A zero field means the documented default.
type Options struct {
	// URL is the base URL of a running parley server, e.g.
	// "http://127.0.0.1:8080". Its callback URL must point at the bench's
	// receiver (ReceiverAddr), with C2C.CallbackAfterSendMsg switched on.
	// Empty starts an in-process server on 127.0.0.1:0 whose callback URL is
	// the receiver, with only C2C.CallbackAfterSendMsg switched on and the
	// default retry schedule, and shuts it down afterwards.
	URL string
	// DataDir is the in-process server's data directory; empty means a
	// fresh temporary directory, removed afterwards. Ignored with URL.
	DataDir string

	// SDKAppID, SecretKey and Admin are the app the requests are signed
	// for. With URL, SDKAppID and SecretKey are required and Admin defaults
	// to "administrator". In-process, non-zero fields override the app of
	// DataDir.
	SDKAppID  uint64
	SecretKey string
	Admin     string

	// Scenario is what the clients send: ScenarioC2C (the default when
	// empty), ScenarioGroup or ScenarioExtension.
	Scenario string
	// Groups is how many groups ScenarioGroup sends to, every user a
	// member of each. Zero means 10. A server's per-group rate limit
	// (40/s by default) caps each group: bench a running server started
	// with --group-msg-rate 0. The in-process server has no limit.
	Groups int
	// Messages is how many C2C messages ScenarioExtension writes the
	// extensions of. Zero means 100.
	Messages int

	// FailRate is the fraction (0 to 1) of webhook requests the receiver
	// answers HTTP 500, at random, so parley retries them. The in-process
	// server then retries ten times a second apart instead of the default
	// schedule, so that a run ends in seconds; a running server keeps its
	// own --retry-schedule. Zero refuses none.
	FailRate float64

	// Clients is the number of concurrent senders. Zero means 64.
	Clients int
	// Duration is how long the measured send phase lasts. Zero means 10s.
	Duration time.Duration
	// Users is how many accounts (bench_0, bench_1, ...) are imported
	// before the run; each message goes between a random pair of them.
	// Zero means 100; at least 2.
	Users int
	// Warmup is sent before each measured phase and not counted. Zero
	// means 1s; negative means none.
	Warmup time.Duration
	// BaselineDuration is how long the bare-handler phase lasts. Zero means
	// Duration.
	BaselineDuration time.Duration
	// ReceiverAddr is where the webhook receiver listens. Empty means
	// 127.0.0.1:0.
	ReceiverAddr string
	// DeliveryTimeout bounds the wait for outstanding webhooks after the
	// send phase. Zero means 30s.
	DeliveryTimeout time.Duration

	// Logf reports progress; nil means quiet.
	Logf func(format string, args ...any)
	// Logger is the in-process server's logger; nil discards its logs.
	Logger *slog.Logger
}

// Result is what a run measured. Durations are kept as time.Duration; the
// JSON form (MarshalJSON) gives them in milliseconds.
type Result struct {
	Mode        string // "in-process" or "url"
	URL         string // the parley server driven
	ReceiverURL string // where its webhooks were received

	Scenario string
	Groups   int // ScenarioGroup only
	Messages int // ScenarioExtension only
	Clients  int
	Users    int
	Warmup   time.Duration
	Duration time.Duration // the measured send phase, first request to last answer

	Sent       int            // requests answered OK during the measured phase
	Delivered  int            // of those, how many of their webhooks arrived
	Errors     int            // requests that did not answer OK
	ErrorCodes map[string]int // Errors by Tencent code, "http NNN" or "transport"
	// ErrorSamples holds the first ErrorInfo (or Go error) seen per key of
	// ErrorCodes.
	ErrorSamples map[string]string
	Duplicates   int // accepted webhooks whose X-Parley-Event-Id had been accepted before
	Webhooks     int // every webhook request the receiver got, warm-up included
	FailRate     float64
	Refused      int // webhook requests the receiver answered HTTP 500 on purpose

	MsgsPerSec float64
	SendP50    time.Duration
	SendP99    time.Duration
	LagP50     time.Duration
	LagP99     time.Duration

	// WriterCalls and WriterTransactions are the in-process SQLite store's
	// InTx calls and the transactions they were group-committed in during
	// the measured parley phase (zero with URL): their quotient is the mean
	// group size.
	WriterCalls        int64
	WriterTransactions int64

	BaselineRequests int
	BaselineErrors   int
	BaselineDuration time.Duration
	BaselineRPS      float64
	BaselineP50      time.Duration
	BaselineP99      time.Duration
	// Ratio is MsgsPerSec / BaselineRPS.
	Ratio float64

	GOMAXPROCS int
	NumCPU     int
	GoVersion  string
	GOOS       string
	GOARCH     string
}

// MarshalJSON gives r as one flat object with snake_case keys, latencies in
// milliseconds and durations in seconds, so scripts can compare runs.
func (r Result) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }
	errorCodes := r.ErrorCodes
	if errorCodes == nil {
		errorCodes = map[string]int{}
	}
	return json.Marshal(struct {
		Scenario         string         `json:"scenario"`
		Groups           int            `json:"groups,omitempty"`
		Messages         int            `json:"messages,omitempty"`
		MsgsPerSec       float64        `json:"msgs_per_sec"`
		Sent             int            `json:"sent"`
		Delivered        int            `json:"delivered"`
		SendP50          float64        `json:"send_p50_ms"`
		SendP99          float64        `json:"send_p99_ms"`
		LagP50           float64        `json:"webhook_lag_p50_ms"`
		LagP99           float64        `json:"webhook_lag_p99_ms"`
		BaselineRPS      float64        `json:"baseline_rps"`
		Ratio            float64        `json:"ratio"`
		Duplicates       int            `json:"duplicates"`
		Errors           int            `json:"errors"`
		ErrorCodes       map[string]int `json:"error_codes"`
		Clients          int            `json:"clients"`
		Users            int            `json:"users"`
		DurationS        float64        `json:"duration_s"`
		WarmupS          float64        `json:"warmup_s"`
		Webhooks         int            `json:"webhooks"`
		FailRate         float64        `json:"fail_rate"`
		Refused          int            `json:"webhooks_refused"`
		WriterCalls      int64          `json:"writer_calls,omitempty"`
		WriterTxs        int64          `json:"writer_transactions,omitempty"`
		BaselineRequests int            `json:"baseline_requests"`
		BaselineErrors   int            `json:"baseline_errors"`
		BaselineP50      float64        `json:"baseline_p50_ms"`
		BaselineP99      float64        `json:"baseline_p99_ms"`
		Mode             string         `json:"mode"`
		GOMAXPROCS       int            `json:"gomaxprocs"`
		NumCPU           int            `json:"num_cpu"`
		GoVersion        string         `json:"go_version"`
	}{
		Scenario:         r.Scenario,
		Groups:           r.Groups,
		Messages:         r.Messages,
		MsgsPerSec:       round3(r.MsgsPerSec),
		Sent:             r.Sent,
		Delivered:        r.Delivered,
		SendP50:          ms(r.SendP50),
		SendP99:          ms(r.SendP99),
		LagP50:           ms(r.LagP50),
		LagP99:           ms(r.LagP99),
		BaselineRPS:      round3(r.BaselineRPS),
		Ratio:            round3(r.Ratio),
		Duplicates:       r.Duplicates,
		Errors:           r.Errors,
		ErrorCodes:       errorCodes,
		Clients:          r.Clients,
		Users:            r.Users,
		DurationS:        round3(r.Duration.Seconds()),
		WarmupS:          round3(r.Warmup.Seconds()),
		Webhooks:         r.Webhooks,
		FailRate:         r.FailRate,
		Refused:          r.Refused,
		WriterCalls:      r.WriterCalls,
		WriterTxs:        r.WriterTransactions,
		BaselineRequests: r.BaselineRequests,
		BaselineErrors:   r.BaselineErrors,
		BaselineP50:      ms(r.BaselineP50),
		BaselineP99:      ms(r.BaselineP99),
		Mode:             r.Mode,
		GOMAXPROCS:       r.GOMAXPROCS,
		NumCPU:           r.NumCPU,
		GoVersion:        r.GoVersion,
	})
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// config is Options with defaults applied and checked.
type config struct {
	Options
	warmup time.Duration // Options.Warmup resolved: zero means none
}

func newConfig(o Options) (config, error) {
	c := config{Options: o}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("bench: URL %q is not an http(s) URL", c.URL)
		}
		c.URL = strings.TrimRight(c.URL, "/")
		if c.SDKAppID == 0 || c.SecretKey == "" {
			return c, errors.New("bench: with URL, SDKAppID and SecretKey are required")
		}
		if c.Admin == "" {
			c.Admin = parley.DefaultAdminName
		}
	}
	switch c.Scenario {
	case "":
		c.Scenario = ScenarioC2C
	case ScenarioC2C, ScenarioGroup, ScenarioExtension:
	default:
		return c, fmt.Errorf("bench: unknown scenario %q (known: %s)", c.Scenario, strings.Join(Scenarios, ", "))
	}
	if c.Groups == 0 {
		c.Groups = DefaultGroups
	}
	if c.Groups < 0 {
		return c, fmt.Errorf("bench: Groups is %d, must be positive", c.Groups)
	}
	if c.Messages == 0 {
		c.Messages = DefaultMessages
	}
	if c.Messages < 0 {
		return c, fmt.Errorf("bench: Messages is %d, must be positive", c.Messages)
	}
	if c.FailRate < 0 || c.FailRate >= 1 {
		return c, fmt.Errorf("bench: FailRate is %v, must be at least 0 and below 1", c.FailRate)
	}
	if c.Clients == 0 {
		c.Clients = DefaultClients
	}
	if c.Clients < 0 {
		return c, fmt.Errorf("bench: Clients is %d, must be positive", c.Clients)
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Duration < 0 {
		return c, fmt.Errorf("bench: Duration is %v, must be positive", c.Duration)
	}
	if c.Users == 0 {
		c.Users = DefaultUsers
	}
	if c.Users < 2 {
		return c, fmt.Errorf("bench: Users is %d, need at least 2 to send between", c.Users)
	}
	switch {
	case c.Warmup == 0:
		c.warmup = DefaultWarmup
	case c.Warmup > 0:
		c.warmup = c.Warmup
	}
	if c.BaselineDuration == 0 {
		c.BaselineDuration = c.Duration
	}
	if c.BaselineDuration < 0 {
		return c, fmt.Errorf("bench: BaselineDuration is %v, must be positive", c.BaselineDuration)
	}
	if c.ReceiverAddr == "" {
		c.ReceiverAddr = DefaultReceiverAddr
	}
	if c.DeliveryTimeout == 0 {
		c.DeliveryTimeout = DefaultDeliveryTimeout
	}
	if c.DeliveryTimeout < 0 {
		return c, fmt.Errorf("bench: DeliveryTimeout is %v, must be positive", c.DeliveryTimeout)
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}

// Run performs one benchmark: baseline, parley, delivery (see the package
// comment). It returns an error when the run could not be carried out (bad
// options, the server or receiver did not start, users could not be
// imported, no webhook reached the receiver, ctx ended); a completed run
// returns its Result even when some messages failed or some webhooks never
// arrived, which the Result shows.
func Run(ctx context.Context, opts Options) (res Result, err error) {
	c, err := newConfig(opts)
	if err != nil {
		return Result{}, err
	}
	res = Result{
		Mode:       "url",
		Scenario:   c.Scenario,
		FailRate:   c.FailRate,
		Clients:    c.Clients,
		Users:      c.Users,
		Warmup:     c.warmup,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU:     runtime.NumCPU(),
		GoVersion:  runtime.Version(),
		GOOS:       runtime.GOOS,
		GOARCH:     runtime.GOARCH,
	}

	var rcv *receiver
	labelled(ctx, "receiver", func() { rcv, err = startReceiver(c.ReceiverAddr, c.FailRate) })
	if err != nil {
		return res, err
	}
	defer rcv.close()
	res.ReceiverURL = rcv.url
	c.Logf("webhook receiver on %s", rcv.url)

	target, app := c.URL, server.App{SDKAppID: c.SDKAppID, SecretKey: c.SecretKey, Admin: c.Admin}
	writerStats := func() sqlite.Stats { return sqlite.Stats{} }
	if target == "" {
		res.Mode = "in-process"
		var srv *server.Server
		var cleanup func() error
		labelled(ctx, "server", func() { srv, cleanup, err = startServer(c, app, rcv.url) })
		if err != nil {
			return res, err
		}
		defer func() {
			if cerr := cleanup(); cerr != nil && err == nil {
				err = cerr
			}
		}()
		target, app = srv.URL(), srv.App()
		if st, ok := srv.Store().(interface{ Stats() sqlite.Stats }); ok {
			writerStats = st.Stats
		}
		c.Logf("in-process parley server on %s (SDKAppID %d)", target, app.SDKAppID)
	}
	res.URL = target

	sig, err := usersig.Gen(usersig.GenParams{SDKAppID: app.SDKAppID, Key: app.SecretKey, Identifier: app.Admin, Expire: 86400})
	if err != nil {
		return res, fmt.Errorf("bench: admin UserSig: %w", err)
	}
	query := "?sdkappid=" + strconv.FormatUint(app.SDKAppID, 10) +
		"&identifier=" + url.QueryEscape(app.Admin) +
		"&usersig=" + url.QueryEscape(sig) +
		"&contenttype=json&random="

	gen := newLoadGen(c.Clients, c.Users)
	defer gen.close()

	labelled(ctx, "loadgen", func() {
		if err = gen.importUsers(ctx, target+"/v4/im_open_login_svc/multiaccount_import"+query); err != nil {
			return
		}
		c.Logf("imported %d users", c.Users)
		if gen.sc, err = setupScenario(ctx, c, gen, target, query); err != nil {
			return
		}
		switch c.Scenario {
		case ScenarioGroup:
			res.Groups = c.Groups
		case ScenarioExtension:
			res.Messages = c.Messages
		}
		rcv.setScenario(gen.sc)
		err = preflight(ctx, c, gen, rcv, target+gen.sc.path+query)
	})
	if err != nil {
		return res, err
	}

	var base *httpServer
	labelled(ctx, "baseline", func() { base, err = startBaseline(gen.sc.baselineReply) })
	if err != nil {
		return res, err
	}
	c.Logf("baseline: bare net/http handler on %s, %d clients, %v", base.url, c.Clients, c.BaselineDuration)
	var bp phase
	labelled(ctx, "baseline-loadgen", func() {
		bp, err = gen.run(ctx, base.url+gen.sc.path+query, c.warmup, c.BaselineDuration, nil)
	})
	base.close()
	if err != nil {
		return res, err
	}
	res.BaselineRequests = bp.sent
	res.BaselineErrors = bp.errors
	res.BaselineDuration = bp.elapsed
	res.BaselineRPS = perSecond(bp.sent, bp.elapsed)
	if p := Percentiles(bp.latencies, 50, 99); len(p) == 2 {
		res.BaselineP50, res.BaselineP99 = p[0], p[1]
	}

	c.Logf("parley: scenario %s, %d clients, %d users, %v (+%v warm-up)", c.Scenario, c.Clients, c.Users, c.Duration, c.warmup)
	var pp phase
	var before, after sqlite.Stats
	labelled(ctx, "loadgen", func() {
		pp, err = gen.run(ctx, target+gen.sc.path+query, c.warmup, c.Duration, func(start bool) {
			if start {
				before = writerStats()
			} else {
				after = writerStats()
			}
		})
	})
	if err != nil {
		return res, err
	}
	res.WriterCalls = after.Calls - before.Calls
	res.WriterTransactions = after.Transactions - before.Transactions
	res.Duration = pp.elapsed
	res.Sent = pp.sent
	res.Errors = pp.errors
	res.ErrorCodes = pp.errorCodes
	res.ErrorSamples = pp.errorSamples
	res.MsgsPerSec = perSecond(pp.sent, pp.elapsed)
	if p := Percentiles(pp.latencies, 50, 99); len(p) == 2 {
		res.SendP50, res.SendP99 = p[0], p[1]
	}
	if res.BaselineRPS > 0 {
		res.Ratio = res.MsgsPerSec / res.BaselineRPS
	}

	c.Logf("waiting up to %v for %d webhooks", c.DeliveryTimeout, len(pp.acks))
	receipts, err := rcv.waitFor(ctx, pp.acks, c.DeliveryTimeout)
	if err != nil {
		return res, err
	}
	lags := make([]time.Duration, 0, len(receipts))
	for _, a := range pp.acks {
		at, ok := receipts[a.key]
		if !ok {
			continue
		}
		lags = append(lags, max(at.Sub(a.at), 0))
	}
	res.Delivered = len(lags)
	if p := Percentiles(lags, 50, 99); len(p) == 2 {
		res.LagP50, res.LagP99 = p[0], p[1]
	}
	res.Webhooks, res.Duplicates, res.Refused = rcv.counts()
	return res, nil
}

// labelled runs f with the profiler label bench=value; goroutines started
// in f (servers' connection goroutines, the transport's read and write
// loops) inherit it, so a CPU profile of the whole run can be split by
// component: go tool pprof -tagfocus bench=server.
func labelled(ctx context.Context, value string, f func()) {
	pprof.Do(ctx, pprof.Labels("bench", value), func(context.Context) { f() })
}

func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// startServer boots the in-process server and returns a cleanup that shuts
// it down and removes its temporary data directory.
func startServer(c config, app server.App, callbackURL string) (*server.Server, func() error, error) {
	dir, tmp := c.DataDir, false
	if dir == "" {
		d, err := os.MkdirTemp("", "parley-bench-")
		if err != nil {
			return nil, nil, fmt.Errorf("bench: data dir: %w", err)
		}
		dir, tmp = d, true
	}
	removeTmp := func() error {
		if tmp {
			return os.RemoveAll(dir)
		}
		return nil
	}
	token := make([]byte, 16)
	rand.Read(token)
	srv, err := server.New(server.Options{
		Addr:          "127.0.0.1:0",
		DataDir:       dir,
		App:           app,
		CallbackURL:   callbackURL,
		CallbackToken: hex.EncodeToString(token),
		// Only the timed after-callback: a before-send callback would add
		// a synchronous round trip to the bench's receiver to every send,
		// which is not what this measures.
		CallbackCommands: []string{scenarioCommand(c.Scenario)},
		RetrySchedule:    retrySchedule(c.FailRate),
		GroupMsgRate:     -1,
		Logger:           c.Logger,
	})
	if err != nil {
		return nil, nil, errors.Join(fmt.Errorf("bench: server: %w", err), removeTmp())
	}
	if err := srv.Start(); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("bench: server: %w", err), removeTmp())
	}
	cleanup := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := srv.Shutdown(ctx)
		if err != nil {
			err = fmt.Errorf("bench: server shutdown: %w", err)
		}
		return errors.Join(err, removeTmp())
	}
	return srv, cleanup, nil
}

// retrySchedule is the in-process server's: the default, unless the
// receiver refuses some webhooks on purpose; then ten retries a second
// apart, so that the run ends in seconds, the lag shows the cost of a
// retry rather than the default schedule's 5 minutes before a second one,
// and no event is dead-lettered by bad luck (at a fail rate of 0.2, eleven
// refusals in a row happen to one event in 50 million).
func retrySchedule(failRate float64) []time.Duration {
	if failRate == 0 {
		return nil
	}
	schedule := make([]time.Duration, 10)
	for i := range schedule {
		schedule[i] = time.Second
	}
	return schedule
}

// scenarioCommand is the after-callback a scenario times.
func scenarioCommand(name string) string {
	switch name {
	case ScenarioGroup:
		return parley.CommandGroupAfterSendMsg
	case ScenarioExtension:
		return parley.CommandC2CAfterExtension
	}
	return parley.CommandC2CAfterSendMsg
}

// setupScenario prepares what the scenario needs on the server (groups,
// messages) and returns it.
func setupScenario(ctx context.Context, c config, gen *loadGen, target, query string) (*scenario, error) {
	switch c.Scenario {
	case ScenarioGroup:
		if err := gen.setupGroups(ctx, target, query, c.Groups); err != nil {
			return nil, err
		}
		c.Logf("created %d groups of %d members", c.Groups, c.Users)
		return groupScenario(gen, c.Groups), nil
	case ScenarioExtension:
		pool, err := gen.setupMessages(ctx, target, query, c.Messages)
		if err != nil {
			return nil, err
		}
		c.Logf("sent %d messages that accept extensions", len(pool))
		return extensionScenario(pool), nil
	}
	return c2cScenario(gen), nil
}

// preflight sends one request and waits for its webhook, so a receiver the
// server does not call fails the run in seconds with a useful message
// instead of after the whole send phase.
func preflight(ctx context.Context, c config, gen *loadGen, rcv *receiver, endpoint string) error {
	body, tag := gen.sc.next()
	key, errKey, sample := gen.send(ctx, endpoint, body, tag)
	if errKey != "" {
		return fmt.Errorf("bench: first %s request failed: %s: %s", c.Scenario, errKey, sample)
	}
	timeout := min(c.DeliveryTimeout, 10*time.Second)
	got, err := rcv.waitFor(ctx, []ack{{key: key}}, timeout)
	if err != nil {
		return err
	}
	if len(got) == 0 {
		if c.URL != "" {
			return fmt.Errorf("bench: no %s reached %s within %v: start the server with --callback-url %s and %[1]s switched on", gen.sc.command, rcv.url, timeout, rcv.url)
		}
		return fmt.Errorf("bench: the in-process server's webhook did not reach %s within %v", rcv.url, timeout)
	}
	return nil
}
