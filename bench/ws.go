package bench

// The WebSocket scenarios: live delivery latency between connected
// clients (RunWS) and the server's memory per idle connection (RunIdle,
// in wsidle.go). They share the package's conventions: Options with
// documented zero defaults, a Result with a flat snake_case JSON form,
// exact nearest-rank percentiles (Percentiles), and profiler labels.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/usersig"
)

// The WebSocket scenarios. They are run by RunWS and RunIdle, not Run:
// their options and results are their own.
const (
	// ScenarioWS: WSOptions.Clients logged-in clients in pairs, each
	// sending C2C messages to its partner over the WebSocket at a fixed
	// total rate, timing send to receipt of the push on the partner.
	ScenarioWS = "ws"
	// ScenarioWSIdle: IdleOptions.Conns logged-in, idle connections held
	// open, measuring the server process's memory before and after.
	ScenarioWSIdle = "ws-idle"
)

// WSScenarios lists the WebSocket scenarios.
var WSScenarios = []string{ScenarioWS, ScenarioWSIdle}

// Defaults of WSOptions.
const (
	DefaultWSClients         = 1000
	DefaultWSRate            = 5000
	DefaultWSSenders         = 128
	DefaultWSSendTimeout     = 10 * time.Second
	DefaultWSDeliveryTimeout = 10 * time.Second
)

// dialConcurrency bounds the logins in flight while clients connect: the
// server verifies each UserSig and reads the user's groups, so a burst of
// thousands only makes every one of them slow.
const dialConcurrency = 32

// WSOptions configures RunWS. A zero field means the documented default.
type WSOptions struct {
	// URL is the base URL of a running parley server, e.g.
	// "http://127.0.0.1:8080"; the clients connect to its /v1/ws. Empty
	// starts an in-process server on 127.0.0.1:0 (no callbacks) and shuts
	// it down afterwards.
	URL string
	// DataDir is the in-process server's data directory; empty means a
	// fresh temporary one, removed afterwards. Ignored with URL.
	DataDir string
	// SDKAppID, SecretKey and Admin are the app: required with URL (Admin
	// defaults to "administrator"); in-process, non-zero fields override
	// the app of DataDir. UserSigs of the clients and of the admin (who
	// imports the users) are signed with SecretKey.
	SDKAppID  uint64
	SecretKey string
	Admin     string

	// Clients is how many clients connect, as users bench_0, bench_1, ...;
	// client i sends to client i^1, so it must be even. Zero means 1000.
	Clients int
	// Rate is the total messages per second asked for, spread over the
	// clients in turn. Zero means 5000.
	Rate int
	// Duration is how long the measured messages are scheduled over. Zero
	// means 10s.
	Duration time.Duration
	// Warmup is scheduled before the measured messages, at the same rate,
	// and not counted. Zero means 1s; negative means none.
	Warmup time.Duration
	// Senders is the number of goroutines that make the send_c2c calls,
	// each waiting for its reply before taking the next message. Zero
	// means 128.
	Senders int
	// SendTimeout bounds each send_c2c call. Zero means 10s.
	SendTimeout time.Duration
	// DeliveryTimeout bounds the wait, after the last reply, for the
	// pushes of the messages sent. Zero means 10s.
	DeliveryTimeout time.Duration

	// Logf reports progress; nil means quiet.
	Logf func(format string, args ...any)
	// Logger is the in-process server's logger; nil discards its logs.
	Logger *slog.Logger
}

// WSResult is what RunWS measured. The JSON form (MarshalJSON) gives
// latencies in milliseconds and durations in seconds.
type WSResult struct {
	Mode string // "in-process" or "url"
	URL  string // the WebSocket endpoint the clients connected to

	Scenario string // ScenarioWS
	Clients  int
	Senders  int
	Rate     int           // messages/s asked for
	Warmup   time.Duration // scheduled before the measured messages
	// Duration is the measured send phase: from the first measured
	// message's scheduled time until the last one was handed to send_c2c,
	// and at least the Duration asked for. It is longer when the senders
	// fell behind the schedule.
	Duration time.Duration

	Scheduled int // measured messages the schedule held: Rate x Duration
	Sent      int // of those, send_c2c answered OK
	// AchievedRate is Sent per second of Duration; RateRatio is
	// AchievedRate / Rate.
	AchievedRate float64
	RateRatio    float64
	Errors       int            // measured send_c2c calls that did not answer OK
	ErrorCodes   map[string]int // Errors by Tencent code, "kick NNNN", "timeout" or "transport"
	// ErrorSamples holds the first ErrorInfo (or Go error) seen per key of
	// ErrorCodes.
	ErrorSamples map[string]string
	Received     int // sent messages whose push reached the partner's client
	Lost         int // sent messages never received within DeliveryTimeout
	Duplicates   int // pushes of a message after its first, warm-up included
	Misrouted    int // pushes of this run's messages on a client they were not sent to
	// Disconnected counts the clients the server closed during the run,
	// by reason ("kick 4008", ...); their messages show as lost or errors.
	Disconnected map[string]int

	// Latency is receipt of the message Event on the partner's client
	// minus the message's scheduled send time, for every received
	// message: it includes any wait for a free sender.
	LatencyP50 time.Duration
	LatencyP90 time.Duration
	LatencyP99 time.Duration
	LatencyMax time.Duration
	// Latencies are the samples the latency percentiles were taken from,
	// one per received message, sorted. Not in the JSON form.
	Latencies []time.Duration
	// Reply is send_c2c's round trip: the call made to its reply read.
	ReplyP50 time.Duration
	ReplyP99 time.Duration
	// DispatchLag is how late a sender took a message up after its
	// scheduled time: near zero while the senders keep up.
	DispatchLagP99 time.Duration
	DispatchLagMax time.Duration

	GOMAXPROCS int
	NumCPU     int
	GoVersion  string
	GOOS       string
	GOARCH     string
}

// MarshalJSON gives r as one flat object with snake_case keys, latencies in
// milliseconds and durations in seconds, like Result.
func (r WSResult) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }
	orEmpty := func(m map[string]int) map[string]int {
		if m == nil {
			return map[string]int{}
		}
		return m
	}
	return json.Marshal(struct {
		Scenario       string         `json:"scenario"`
		Rate           int            `json:"rate"`
		AchievedRate   float64        `json:"achieved_rate"`
		RateRatio      float64        `json:"rate_ratio"`
		Scheduled      int            `json:"scheduled"`
		Sent           int            `json:"sent"`
		Received       int            `json:"received"`
		Lost           int            `json:"lost"`
		Duplicates     int            `json:"duplicates"`
		Misrouted      int            `json:"misrouted"`
		LatencyP50     float64        `json:"latency_p50_ms"`
		LatencyP90     float64        `json:"latency_p90_ms"`
		LatencyP99     float64        `json:"latency_p99_ms"`
		LatencyMax     float64        `json:"latency_max_ms"`
		ReplyP50       float64        `json:"reply_p50_ms"`
		ReplyP99       float64        `json:"reply_p99_ms"`
		DispatchLagP99 float64        `json:"dispatch_lag_p99_ms"`
		DispatchLagMax float64        `json:"dispatch_lag_max_ms"`
		Errors         int            `json:"errors"`
		ErrorCodes     map[string]int `json:"error_codes"`
		Disconnected   map[string]int `json:"disconnected"`
		Clients        int            `json:"clients"`
		Senders        int            `json:"senders"`
		DurationS      float64        `json:"duration_s"`
		WarmupS        float64        `json:"warmup_s"`
		Mode           string         `json:"mode"`
		GOMAXPROCS     int            `json:"gomaxprocs"`
		NumCPU         int            `json:"num_cpu"`
		GoVersion      string         `json:"go_version"`
	}{
		Scenario:       r.Scenario,
		Rate:           r.Rate,
		AchievedRate:   round3(r.AchievedRate),
		RateRatio:      round3(r.RateRatio),
		Scheduled:      r.Scheduled,
		Sent:           r.Sent,
		Received:       r.Received,
		Lost:           r.Lost,
		Duplicates:     r.Duplicates,
		Misrouted:      r.Misrouted,
		LatencyP50:     ms(r.LatencyP50),
		LatencyP90:     ms(r.LatencyP90),
		LatencyP99:     ms(r.LatencyP99),
		LatencyMax:     ms(r.LatencyMax),
		ReplyP50:       ms(r.ReplyP50),
		ReplyP99:       ms(r.ReplyP99),
		DispatchLagP99: ms(r.DispatchLagP99),
		DispatchLagMax: ms(r.DispatchLagMax),
		Errors:         r.Errors,
		ErrorCodes:     orEmpty(r.ErrorCodes),
		Disconnected:   orEmpty(r.Disconnected),
		Clients:        r.Clients,
		Senders:        r.Senders,
		DurationS:      round3(r.Duration.Seconds()),
		WarmupS:        round3(r.Warmup.Seconds()),
		Mode:           r.Mode,
		GOMAXPROCS:     r.GOMAXPROCS,
		NumCPU:         r.NumCPU,
		GoVersion:      r.GoVersion,
	})
}

// wsConfig is WSOptions with defaults applied and checked.
type wsConfig struct {
	WSOptions
	warmup time.Duration // WSOptions.Warmup resolved: zero means none
}

func newWSConfig(o WSOptions) (wsConfig, error) {
	c := wsConfig{WSOptions: o}
	if c.URL != "" {
		base, err := baseURL(c.URL)
		if err != nil {
			return c, err
		}
		c.URL = base
		if c.SDKAppID == 0 || c.SecretKey == "" {
			return c, errors.New("bench: with URL, SDKAppID and SecretKey are required")
		}
		if c.Admin == "" {
			c.Admin = parley.DefaultAdminName
		}
	}
	if c.Clients == 0 {
		c.Clients = DefaultWSClients
	}
	if c.Clients < 2 || c.Clients%2 != 0 {
		return c, fmt.Errorf("bench: Clients is %d, must be even and at least 2 (client i sends to client i^1)", c.Clients)
	}
	if c.Rate == 0 {
		c.Rate = DefaultWSRate
	}
	if c.Rate < 0 {
		return c, fmt.Errorf("bench: Rate is %d, must be positive", c.Rate)
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Duration < 0 {
		return c, fmt.Errorf("bench: Duration is %v, must be positive", c.Duration)
	}
	switch {
	case c.Warmup == 0:
		c.warmup = DefaultWarmup
	case c.Warmup > 0:
		c.warmup = c.Warmup
	}
	if c.Senders == 0 {
		c.Senders = DefaultWSSenders
	}
	if c.Senders < 0 {
		return c, fmt.Errorf("bench: Senders is %d, must be positive", c.Senders)
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = DefaultWSSendTimeout
	}
	if c.DeliveryTimeout == 0 {
		c.DeliveryTimeout = DefaultWSDeliveryTimeout
	}
	if c.SendTimeout < 0 || c.DeliveryTimeout < 0 {
		return c, errors.New("bench: SendTimeout and DeliveryTimeout must be positive")
	}
	if float64(c.Rate)*(c.warmup+c.Duration).Seconds() >= 1<<31 {
		return c, errors.New("bench: Rate x (Warmup + Duration) is over 2^31 messages")
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// baseURL checks an http(s) base URL and drops its trailing slashes.
func baseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("bench: URL %q is not an http(s) URL", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

// wsEndpoint is the client protocol's URL of the server at base.
func wsEndpoint(base string) string {
	if rest, ok := strings.CutPrefix(base, "https://"); ok {
		return "wss://" + rest + server.WSPath
	}
	return "ws://" + strings.TrimPrefix(base, "http://") + server.WSPath
}

// adminQuery is the REST query string signed as the app's admin, ending
// with "random=" for the caller to complete.
func adminQuery(app server.App) (string, error) {
	sig, err := usersig.Gen(usersig.GenParams{SDKAppID: app.SDKAppID, Key: app.SecretKey, Identifier: app.Admin, Expire: 86400})
	if err != nil {
		return "", fmt.Errorf("bench: admin UserSig: %w", err)
	}
	return "?sdkappid=" + strconv.FormatUint(app.SDKAppID, 10) +
		"&identifier=" + url.QueryEscape(app.Admin) +
		"&usersig=" + url.QueryEscape(sig) +
		"&contenttype=json&random=", nil
}

// importAccounts imports users bench_0 ... bench_{n-1} over REST, so that
// the accounts exist before anyone logs in: creating them is not what the
// WebSocket scenarios measure.
func importAccounts(ctx context.Context, base string, app server.App, n int) ([]string, error) {
	query, err := adminQuery(app)
	if err != nil {
		return nil, err
	}
	gen := newLoadGen(4, n)
	defer gen.close()
	if err := gen.importUsers(ctx, base+"/v4/im_open_login_svc/multiaccount_import"+query); err != nil {
		return nil, err
	}
	return gen.users, nil
}

// userSigs signs a UserSig for each user, valid for a day.
func userSigs(app server.App, users []string) ([]string, error) {
	sigs := make([]string, len(users))
	for i, u := range users {
		var err error
		sigs[i], err = usersig.Gen(usersig.GenParams{SDKAppID: app.SDKAppID, Key: app.SecretKey, Identifier: u, Expire: 86400})
		if err != nil {
			return nil, fmt.Errorf("bench: UserSig of %s: %w", u, err)
		}
	}
	return sigs, nil
}

// runtimeFacts fills the runtime fields of a result.
func runtimeFacts() (gomaxprocs, numCPU int, goVersion, goos, goarch string) {
	return runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH
}

// startPlainServer boots an in-process server without callbacks (the
// WebSocket scenarios time pushes, not webhooks) and returns a cleanup
// that shuts it down and removes its temporary data directory.
func startPlainServer(dataDir string, app server.App, logger *slog.Logger) (*server.Server, func() error, error) {
	dir, tmp := dataDir, false
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
	srv, err := server.New(server.Options{
		Addr:         "127.0.0.1:0",
		DataDir:      dir,
		App:          app,
		GroupMsgRate: -1,
		Logger:       logger,
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

// wsMsg is the record of one scheduled message. Senders and receivers
// write it concurrently; it is read once they are done.
type wsMsg struct {
	state  atomic.Int32 // msgPending, msgSent or msgFailed
	recvAt atomic.Int64 // nanoseconds after t0 of the first receipt; 0 none yet
	recvs  atomic.Int32 // pushes received
}

const (
	msgPending int32 = iota
	msgSent
	msgFailed
)

// schedule is the open-loop plan of a run: message k is due at offset(k)
// after t0, whatever happened to the messages before it.
type schedule struct {
	rate  int
	warm  int // messages 0 .. warm-1 are the warm-up
	total int
}

func newSchedule(rate int, warmup, dur time.Duration) schedule {
	warm := int(float64(rate) * warmup.Seconds())
	return schedule{rate: rate, warm: warm, total: warm + int(float64(rate)*dur.Seconds()+0.5)}
}

func (s schedule) offset(k int) time.Duration {
	return time.Duration(float64(k) * float64(time.Second) / float64(s.rate))
}

// wsSender is one sender goroutine's own record, merged afterwards so the
// hot path takes no lock.
type wsSender struct {
	replies      []time.Duration
	lags         []time.Duration
	lastDispatch time.Duration // after t0, of the last measured message
	errorCodes   map[string]int
	errorSamples map[string]string
}

// wsErrorKey names a failed call: its Tencent code, the kick that ended
// the client, a timeout or a transport failure.
func wsErrorKey(err error) (key, sample string) {
	var pe *client.Error
	var ke *client.KickError
	switch {
	case errors.As(err, &pe):
		return strconv.Itoa(pe.Code), pe.Info
	case errors.As(err, &ke):
		return "kick " + strconv.Itoa(ke.Code), ke.Info
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout", err.Error()
	}
	return "transport", err.Error()
}

// RunWS runs ScenarioWS: Clients clients connect and log in, then a
// scheduler hands message k (client k mod Clients to its partner) to a
// pool of Senders at t0 + k/Rate, open loop: a late reply delays no
// schedule, and a message waiting for a free sender has its wait counted
// in its latency. Each client reads its Events; the receipt of a message
// Event is timed against the message's scheduled time. After the last
// reply, it waits up to DeliveryTimeout for every sent message to arrive.
//
// It returns an error when the run could not be carried out (bad
// options, the server did not start, a client could not log in, ctx
// ended); a completed run returns its WSResult even when messages failed
// or were lost, which the result shows.
func RunWS(ctx context.Context, opts WSOptions) (res WSResult, err error) {
	c, err := newWSConfig(opts)
	if err != nil {
		return WSResult{}, err
	}
	res = WSResult{Mode: "url", Scenario: ScenarioWS, Clients: c.Clients, Senders: c.Senders, Rate: c.Rate, Warmup: c.warmup}
	res.GOMAXPROCS, res.NumCPU, res.GoVersion, res.GOOS, res.GOARCH = runtimeFacts()

	lim, err := raiseNoFile()
	if err != nil {
		return res, err
	}
	// In-process, each client is two descriptors: its end and the server's.
	perClient := 1
	if c.URL == "" {
		perClient = 2
	}
	if need := uint64(perClient*c.Clients + reserveFDs(openFDs("self"))); lim.soft < need {
		return res, fmt.Errorf("bench: %d clients need about %d open files in this process; RLIMIT_NOFILE allows %d (hard limit %d)", c.Clients, need, lim.soft, lim.hard)
	}

	base, app := c.URL, server.App{SDKAppID: c.SDKAppID, SecretKey: c.SecretKey, Admin: c.Admin}
	if base == "" {
		res.Mode = "in-process"
		var srv *server.Server
		var cleanup func() error
		labelled(ctx, "server", func() { srv, cleanup, err = startPlainServer(c.DataDir, app, c.Logger) })
		if err != nil {
			return res, err
		}
		defer func() {
			if cerr := cleanup(); cerr != nil && err == nil {
				err = cerr
			}
		}()
		base, app = srv.URL(), srv.App()
		c.Logf("in-process parley server on %s (SDKAppID %d)", base, app.SDKAppID)
	}
	res.URL = wsEndpoint(base)

	var clients []*client.Client
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	var users []string
	labelled(ctx, "loadgen", func() {
		if users, err = importAccounts(ctx, base, app, c.Clients); err != nil {
			return
		}
		c.Logf("imported %d users; connecting %d clients to %s", len(users), c.Clients, res.URL)
		start := time.Now()
		clients, err = dialClients(ctx, res.URL, app, users)
		if err == nil {
			c.Logf("%d clients logged in in %v", len(clients), time.Since(start).Round(time.Millisecond))
		}
	})
	if err != nil {
		return res, err
	}

	run := &wsRun{cfg: c, users: users, clients: clients, sched: newSchedule(c.Rate, c.warmup, c.Duration)}
	run.msgs = make([]wsMsg, run.sched.total)
	run.tag = "parley-bench-ws " + randomHex(8)
	// Message k carries MsgRandom base+k: unique within the run, never 0
	// (which asks the client for a random one), and unlike any recent run
	// against the same server, whose messages would otherwise match
	// parley's 120 s duplicate check and be dropped as repeats.
	run.base = 1 + mrand.Uint32N(^uint32(0)-uint32(run.sched.total)-1)

	// t0 is set before the readers start, which time receipts against it.
	run.t0 = time.Now()
	var readers sync.WaitGroup
	labelled(ctx, "loadgen", func() {
		for i, cl := range clients {
			readers.Go(func() { run.receive(i, cl) })
		}
	})
	c.Logf("ws: %d clients, %d messages/s for %v (+%v warm-up), %d senders", c.Clients, c.Rate, c.Duration, c.warmup, c.Senders)
	var senders []wsSender
	labelled(ctx, "loadgen", func() { senders, err = run.send(ctx) })
	if err != nil {
		return res, err
	}

	// The phase: scheduled time of the first measured message to the last
	// one taken up, at least the Duration asked for.
	firstMeasured := run.sched.offset(run.sched.warm)
	res.Duration = c.Duration
	var replies, lags []time.Duration
	res.ErrorCodes, res.ErrorSamples = map[string]int{}, map[string]string{}
	for i := range senders {
		s := &senders[i]
		res.Duration = max(res.Duration, s.lastDispatch-firstMeasured)
		replies = append(replies, s.replies...)
		lags = append(lags, s.lags...)
		for k, v := range s.errorCodes {
			res.ErrorCodes[k] += v
			res.Errors += v
		}
		for k, v := range s.errorSamples {
			if _, ok := res.ErrorSamples[k]; !ok {
				res.ErrorSamples[k] = v
			}
		}
	}
	res.Scheduled = run.sched.total - run.sched.warm

	c.Logf("waiting up to %v for the pushes", c.DeliveryTimeout)
	if err := run.awaitDeliveries(ctx); err != nil {
		return res, err
	}
	res.Disconnected = map[string]int{}
	for _, cl := range clients {
		if cerr := cl.Err(); cerr != nil {
			key, _ := wsErrorKey(cerr)
			res.Disconnected[key]++
		}
	}
	for _, cl := range clients {
		cl.Close()
	}
	readers.Wait()
	clients = nil

	latencies := make([]time.Duration, 0, res.Scheduled)
	for k := range run.msgs {
		m := &run.msgs[k]
		res.Duplicates += max(int(m.recvs.Load())-1, 0)
		if k < run.sched.warm || m.state.Load() != msgSent {
			continue
		}
		res.Sent++
		at := m.recvAt.Load()
		if at == 0 {
			res.Lost++
			continue
		}
		res.Received++
		latencies = append(latencies, max(time.Duration(at)-run.sched.offset(k), 0))
	}
	res.Misrouted = int(run.misrouted.Load())
	res.AchievedRate = perSecond(res.Sent, res.Duration)
	res.RateRatio = res.AchievedRate / float64(c.Rate)
	if p := Percentiles(latencies, 50, 90, 99, 100); len(p) == 4 {
		res.LatencyP50, res.LatencyP90, res.LatencyP99, res.LatencyMax = p[0], p[1], p[2], p[3]
	}
	res.Latencies = latencies
	if p := Percentiles(replies, 50, 99); len(p) == 2 {
		res.ReplyP50, res.ReplyP99 = p[0], p[1]
	}
	if p := Percentiles(lags, 99, 100); len(p) == 2 {
		res.DispatchLagP99, res.DispatchLagMax = p[0], p[1]
	}
	return res, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// dialClients connects and logs in a client per user, dialConcurrency at
// a time. One failure fails them all: a bench with clients missing would
// measure something else.
func dialClients(ctx context.Context, endpoint string, app server.App, users []string) ([]*client.Client, error) {
	sigs, err := userSigs(app, users)
	if err != nil {
		return nil, err
	}
	clients := make([]*client.Client, len(users))
	errs := make([]error, len(users))
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(dialConcurrency, len(users)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(users) || ctx.Err() != nil {
					return
				}
				dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				clients[i], errs[i] = client.Dial(dctx, client.Config{
					URL:      endpoint,
					SDKAppID: app.SDKAppID,
					UserID:   users[i],
					UserSig:  sigs[i],
					Platform: "Web",
					// A client's Events are read at once; the room is for
					// bursts while the reader is descheduled.
					EventBuffer: 64,
				})
				cancel()
				if errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	var failed error
	n := 0
	for i, e := range errs {
		if e != nil {
			n++
			failed = fmt.Errorf("bench: client %s: %w", users[i], e)
		}
	}
	if failed == nil && ctx.Err() != nil {
		failed = ctx.Err()
	}
	if failed != nil {
		for _, cl := range clients {
			if cl != nil {
				cl.Close()
			}
		}
		if n > 1 {
			failed = fmt.Errorf("%w (and %d more failed)", failed, n-1)
		}
		return nil, failed
	}
	return clients, nil
}

// wsRun is one ScenarioWS run in progress.
type wsRun struct {
	cfg     wsConfig
	users   []string
	clients []*client.Client
	sched   schedule
	msgs    []wsMsg
	tag     string // CloudCustomData of this run's messages
	base    uint32 // MsgRandom of message 0
	t0      time.Time

	misrouted atomic.Int64
}

// receive reads client i's Events until it ends, timing each message of
// this run. It must keep reading: the client's queue in front of Events
// is unbounded.
func (r *wsRun) receive(i int, cl *client.Client) {
	for ev := range cl.Events() {
		if ev.Kind != client.KindMessage {
			continue
		}
		now := time.Since(r.t0)
		m, err := ev.Message()
		if err != nil || m.CloudCustomData != r.tag {
			continue
		}
		k := int(m.MsgRandom - r.base) // wraps like the sender's base+k
		if k < 0 || k >= len(r.msgs) || m.From != r.users[k%len(r.users)] || m.To != r.users[i] || i != (k%len(r.users))^1 {
			r.misrouted.Add(1)
			continue
		}
		msg := &r.msgs[k]
		msg.recvAt.CompareAndSwap(0, max(int64(now), 1))
		msg.recvs.Add(1)
	}
}

// send runs the schedule: one goroutine hands out message numbers when
// they fall due, Senders goroutines make the calls. It returns once every
// call has returned.
func (r *wsRun) send(ctx context.Context) ([]wsSender, error) {
	jobs := make(chan int, r.cfg.Senders)
	senders := make([]wsSender, r.cfg.Senders)
	var wg sync.WaitGroup
	body := client.TextBody("hello from parley bench")
	for i := range senders {
		s := &senders[i]
		s.errorCodes, s.errorSamples = map[string]int{}, map[string]string{}
		wg.Go(func() {
			for k := range jobs {
				r.sendOne(ctx, s, k, body)
			}
		})
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var err error
dispatch:
	for k := 0; k < r.sched.total; {
		now := time.Since(r.t0)
		for ; k < r.sched.total && r.sched.offset(k) <= now; k++ {
			select {
			case jobs <- k:
			case <-ctx.Done():
				err = ctx.Err()
				break dispatch
			}
		}
		if k == r.sched.total {
			break
		}
		timer.Reset(r.sched.offset(k) - time.Since(r.t0))
		select {
		case <-timer.C:
		case <-ctx.Done():
			err = ctx.Err()
			break dispatch
		}
	}
	close(jobs)
	wg.Wait()
	return senders, err
}

// sendOne sends message k from its client to the partner.
func (r *wsRun) sendOne(ctx context.Context, s *wsSender, k int, body json.RawMessage) {
	n := len(r.clients)
	from := k % n
	start := time.Since(r.t0)
	measured := k >= r.sched.warm
	cctx, cancel := context.WithTimeout(ctx, r.cfg.SendTimeout)
	_, err := r.clients[from].SendC2C(cctx, client.SendC2CRequest{
		To:              r.users[from^1],
		Body:            body,
		MsgRandom:       r.base + uint32(k),
		CloudCustomData: r.tag,
	})
	cancel()
	end := time.Since(r.t0)
	msg := &r.msgs[k]
	if err != nil {
		msg.state.Store(msgFailed)
		if measured && ctx.Err() == nil {
			key, sample := wsErrorKey(err)
			s.errorCodes[key]++
			if _, ok := s.errorSamples[key]; !ok {
				s.errorSamples[key] = sample
			}
		}
	} else {
		msg.state.Store(msgSent)
	}
	if !measured {
		return
	}
	s.lastDispatch = max(s.lastDispatch, start)
	s.lags = append(s.lags, max(start-r.sched.offset(k), 0))
	if err == nil {
		s.replies = append(s.replies, end-start)
	}
}

// awaitDeliveries waits until every sent message has been received, or
// DeliveryTimeout has passed.
func (r *wsRun) awaitDeliveries(ctx context.Context) error {
	deadline := time.Now().Add(r.cfg.DeliveryTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	from := 0 // the messages before it have all arrived, or were not sent
	for {
		for from < len(r.msgs) {
			m := &r.msgs[from]
			if m.state.Load() == msgSent && m.recvAt.Load() == 0 {
				break
			}
			from++
		}
		if from == len(r.msgs) || !time.Now().Before(deadline) {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
