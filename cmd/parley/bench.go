package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/parley-im/parley/bench"
	"github.com/parley-im/parley/server"
)

const benchUsage = `usage: parley bench [flags]

Measures parley end to end. Without --url it starts a server in-process
(127.0.0.1, a temporary data directory unless --data is given, only the
scenario's after-callback switched on, no per-group rate limit, its
callback URL pointed at the bench's own webhook receiver). It imports
--users accounts, sets up the --scenario (groups, or messages), then:

  1. baseline: the same load generator (same HTTP client, same request
     bodies) drives a bare net/http handler for --duration;
  2. parley: --clients concurrent clients send the scenario's requests
     (sendmsg between random pairs of users by default) for --duration,
     after --warmup not counted;
  3. delivery: it waits (up to 30s) until the webhook of every
     acknowledged request has reached the receiver.

It prints requests/s, request latency p50/p99, webhook lag (answer to
webhook receipt) p50/p99, the baseline's requests/s and the ratio of the
two. Percentiles are exact: nearest rank over every sample, sorted.
With --json the last line of stdout is one JSON object.

To bench a running server, start it with --callback-url pointing at the
bench's receiver and pass the same address here, e.g.
  parley serve --callback-url http://127.0.0.1:9099/ &
  parley bench --url http://127.0.0.1:8080 --data ./parley-data --receiver-addr 127.0.0.1:9099

The WebSocket scenarios measure the client protocol instead:

  --scenario ws: --clients (default 1000, even) clients log in over
     /v1/ws; client i sends send_c2c to client i^1, at --rate messages/s in
     total (default 5000), open loop: message k is due at k/rate, taken up
     by one of --senders goroutines. Latency is from a message's due time
     to the receipt of its push on the partner's client, for every
     message: p50, p90, p99, max. It also prints the rate achieved against
     the one asked for, messages lost (sent, never received within 10s),
     duplicates and errors by code.
  --scenario ws-idle: starts this binary's "parley serve" as a child
     process (or takes --url and its --pid), holds --conns logged-in idle
     connections (default 10000), and prints the server's RSS and Go heap
     and stack per connection, each settled before and after. Each
     connection takes an open file in both processes: the bench raises
     the soft RLIMIT_NOFILE to the hard limit and refuses more --conns
     than that allows.

Flags:
`

// runBench is `parley bench`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	var (
		target       = fs.String("url", "", "base `URL` of a running parley server; empty starts one in-process")
		dataDir      = fs.String("data", "", "with --url, read the app (SDKAppID, secret key, admin) from `DIR`/app.json;\nwithout, the in-process server's data directory (default: a temporary one, removed afterwards)")
		sdkAppID     = fs.Uint64("sdkappid", 0, "SDKAppID of the app (needed with --url unless --data is given)")
		secretKey    = fs.String("secret-key", "", "secret key of the app (needed with --url unless --data is given)")
		admin        = fs.String("admin", "", "admin identifier of the app (default administrator, or the one in --data)")
		scenario     = fs.String("scenario", bench.ScenarioC2C, "what the clients send: "+strings.Join(append(slices.Clone(bench.Scenarios), bench.WSScenarios...), ", ")+";\nc2c: sendmsg, timing C2C.CallbackAfterSendMsg; group: send_group_msg to --groups groups, timing\nGroup.CallbackAfterSendMsg; extension: set_key_values on --messages messages, timing C2C.CallbackAfterC2CMsgExtension;\nws: send_c2c between WebSocket clients, timing delivery; ws-idle: server memory per idle WebSocket connection")
		groups       = fs.Int("groups", bench.DefaultGroups, "groups of the group scenario, every user a member of each")
		messages     = fs.Int("messages", bench.DefaultMessages, "messages whose extensions the extension scenario writes")
		failRate     = fs.Float64("fail-rate", 0, "fraction (0 to 1) of webhook requests the receiver answers HTTP 500, so parley retries them;\nthe in-process server then retries ten times, a second apart")
		clients      = fs.Int("clients", bench.DefaultClients, "concurrent clients (ws: connected WebSocket clients, default 1000)")
		rate         = fs.Int("rate", bench.DefaultWSRate, "ws: messages per second asked for, in total")
		senders      = fs.Int("senders", bench.DefaultWSSenders, "ws: goroutines making the send_c2c calls")
		conns        = fs.Int("conns", bench.DefaultIdleConns, "ws-idle: idle WebSocket connections to hold")
		pid          = fs.Int("pid", 0, "ws-idle with --url: the server's process `ID`, whose RSS is read from /proc\n(default: process_resident_memory_bytes from its /metrics)")
		duration     = fs.Duration("duration", bench.DefaultDuration, "length of the measured send phase, and of the baseline")
		users        = fs.Int("users", bench.DefaultUsers, "accounts imported before the run; messages go between random pairs (at least 2)")
		warmup       = fs.Duration("warmup", bench.DefaultWarmup, "load sent before each measured phase and not counted (0 for none)")
		receiverAddr = fs.String("receiver-addr", "", "`host:port` of the bench's webhook receiver (default 127.0.0.1:0, a free port);\nrequired with --url: the server's --callback-url must point at it")
		asJSON       = fs.Bool("json", false, "print the result as one JSON object on the last line of stdout")
		cpuProfile   = fs.String("cpuprofile", "", "write a CPU profile of the whole run (load generator, server, receiver) to `FILE`;\nsamples are labelled bench=server|loadgen|receiver|baseline|baseline-loadgen,\ne.g. go tool pprof -top -tagfocus bench=server FILE")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err: err, printed: true}
	}
	if fs.NArg() > 0 {
		return usageError{err: fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "bench: "+format+"\n", args...)
	}
	switch *scenario {
	case bench.ScenarioWS, bench.ScenarioWSIdle:
		app := server.App{SDKAppID: *sdkAppID, SecretKey: *secretKey, Admin: *admin}
		if *target != "" {
			var err error
			if app, err = benchApp(app, *dataDir); err != nil {
				return err
			}
		}
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
		if *scenario == bench.ScenarioWS {
			opts := bench.WSOptions{
				URL:       *target,
				SDKAppID:  app.SDKAppID,
				SecretKey: app.SecretKey,
				Admin:     app.Admin,
				Clients:   *clients,
				Rate:      *rate,
				Duration:  *duration,
				Warmup:    *warmup,
				Senders:   *senders,
				Logf:      logf,
			}
			if !set["clients"] {
				opts.Clients = bench.DefaultWSClients
			}
			if *warmup == 0 {
				opts.Warmup = -1
			}
			if *target == "" {
				opts.DataDir = *dataDir
			}
			return runWSBench(ctx, opts, *asJSON, stdout)
		}
		opts := bench.IdleOptions{
			URL:       *target,
			PID:       *pid,
			SDKAppID:  app.SDKAppID,
			SecretKey: app.SecretKey,
			Admin:     app.Admin,
			Conns:     *conns,
			Logf:      logf,
		}
		if *target == "" {
			if *pid != 0 {
				return usageError{err: errors.New("--pid needs --url: without it the bench starts the server itself")}
			}
			opts.DataDir = *dataDir
		}
		return runIdleBench(ctx, opts, *asJSON, stdout)
	}

	opts := bench.Options{
		URL:          *target,
		SDKAppID:     *sdkAppID,
		SecretKey:    *secretKey,
		Admin:        *admin,
		Scenario:     *scenario,
		FailRate:     *failRate,
		Groups:       *groups,
		Messages:     *messages,
		Clients:      *clients,
		Duration:     *duration,
		Users:        *users,
		Warmup:       *warmup,
		ReceiverAddr: *receiverAddr,
		Logf:         logf,
	}
	if *warmup == 0 {
		opts.Warmup = -1 // the flag's 0 means none; bench.Options' zero means the default
	}
	if *target == "" {
		opts.DataDir = *dataDir
	} else {
		if *receiverAddr == "" {
			return usageError{err: errors.New("--url needs --receiver-addr: the server's --callback-url must point at the bench's webhook receiver")}
		}
		app, err := benchApp(server.App{SDKAppID: opts.SDKAppID, SecretKey: opts.SecretKey, Admin: opts.Admin}, *dataDir)
		if err != nil {
			return err
		}
		opts.SDKAppID, opts.SecretKey, opts.Admin = app.SDKAppID, app.SecretKey, app.Admin
		fmt.Fprintf(stderr, "bench: the server at %s must deliver the scenario's webhook to http://%s/\n", *target, *receiverAddr)
	}

	stop, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stop()

	res, err := bench.Run(ctx, opts)
	if err != nil {
		return benchError{err}
	}
	printBenchResult(stdout, res)
	if *asJSON {
		line, err := json.Marshal(res)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", line)
	}
	switch {
	case res.Sent == 0:
		return errors.New("no request succeeded")
	case res.Delivered < res.Sent:
		return fmt.Errorf("%d of %d webhooks did not arrive", res.Sent-res.Delivered, res.Sent)
	}
	return nil
}

// benchError drops the package prefix of bench's errors: main already says
// "parley bench:".
type benchError struct{ err error }

func (e benchError) Error() string { return strings.TrimPrefix(e.err.Error(), "bench: ") }
func (e benchError) Unwrap() error { return e.err }

func printBenchResult(w io.Writer, r bench.Result) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
	request := map[string]string{bench.ScenarioC2C: "sendmsg", bench.ScenarioGroup: "send_group_msg", bench.ScenarioExtension: "set_key_values"}[r.Scenario]
	setup := ""
	switch {
	case r.Groups > 0:
		setup = fmt.Sprintf(", %d groups", r.Groups)
	case r.Messages > 0:
		setup = fmt.Sprintf(", %d messages", r.Messages)
	}
	fmt.Fprintf(w, "parley bench: scenario %s, %s server %s, %d clients, %d users%s, %.2fs measured after %v warm-up\n",
		r.Scenario, r.Mode, r.URL, r.Clients, r.Users, setup, r.Duration.Seconds(), r.Warmup)
	fmt.Fprintf(w, "  %-14s %10.1f req/s    sent %d, delivered %d, errors %d, duplicate webhooks %d\n",
		request, r.MsgsPerSec, r.Sent, r.Delivered, r.Errors, r.Duplicates)
	if r.FailRate > 0 {
		fmt.Fprintf(w, "  receiver       refused %d of %d webhook requests on purpose (fail rate %.3g); parley retried them\n",
			r.Refused, r.Webhooks, r.FailRate)
	}
	for _, code := range slices.Sorted(maps.Keys(r.ErrorCodes)) {
		fmt.Fprintf(w, "    error %-10s x%d  e.g. %s\n", code, r.ErrorCodes[code], strings.TrimSpace(r.ErrorSamples[code]))
	}
	fmt.Fprintf(w, "  latency        p50 %s   p99 %s   (%s request to answer)\n", ms(r.SendP50), ms(r.SendP99), request)
	fmt.Fprintf(w, "  webhook lag    p50 %s   p99 %s   (%s answer to webhook receipt)\n", ms(r.LagP50), ms(r.LagP99), request)
	if r.WriterTransactions > 0 {
		fmt.Fprintf(w, "  group commit   %d InTx calls in %d SQLite transactions, %.1f per transaction\n",
			r.WriterCalls, r.WriterTransactions, float64(r.WriterCalls)/float64(r.WriterTransactions))
	}
	fmt.Fprintf(w, "  baseline       %10.1f req/s    bare net/http handler, same load generator; p50 %s, p99 %s, errors %d\n",
		r.BaselineRPS, ms(r.BaselineP50), ms(r.BaselineP99), r.BaselineErrors)
	fmt.Fprintf(w, "  ratio          %.3f            parley req/s / baseline req/s\n", r.Ratio)
	fmt.Fprintf(w, "  runtime        %s %s/%s, GOMAXPROCS %d, %d CPUs\n", r.GoVersion, r.GOOS, r.GOARCH, r.GOMAXPROCS, r.NumCPU)
	fmt.Fprintf(w, "  percentiles are exact (nearest rank over all %d latency samples)\n", r.Sent)
}

// benchApp is the app of the server at --url: the flags given, the rest
// from --data's app.json.
func benchApp(given server.App, dataDir string) (server.App, error) {
	if dataDir != "" {
		app, err := server.LoadApp(dataDir)
		if err != nil {
			return server.App{}, fmt.Errorf("reading the app from --data: %w", err)
		}
		given = given.Or(app)
	}
	if given.SDKAppID == 0 || given.SecretKey == "" {
		return server.App{}, usageError{err: errors.New("--url needs the app: --data DIR, or --sdkappid and --secret-key")}
	}
	return given, nil
}

// startCPUProfile starts writing a CPU profile to path, if given, and
// returns what stops it.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// runWSBench is `parley bench --scenario ws`.
func runWSBench(ctx context.Context, opts bench.WSOptions, asJSON bool, stdout io.Writer) error {
	res, err := bench.RunWS(ctx, opts)
	if err != nil {
		return benchError{err}
	}
	printWSResult(stdout, res)
	if asJSON {
		line, err := json.Marshal(res)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", line)
	}
	switch {
	case res.Sent == 0:
		return errors.New("no message was sent")
	case res.Lost > 0 || res.Duplicates > 0 || res.Misrouted > 0:
		return fmt.Errorf("of %d messages sent, %d were not received, %d pushes were duplicates and %d went to the wrong client", res.Sent, res.Lost, res.Duplicates, res.Misrouted)
	}
	return nil
}

// runIdleBench is `parley bench --scenario ws-idle`.
func runIdleBench(ctx context.Context, opts bench.IdleOptions, asJSON bool, stdout io.Writer) error {
	res, err := bench.RunIdle(ctx, opts)
	if err != nil {
		return benchError{err}
	}
	printIdleResult(stdout, res)
	if asJSON {
		line, err := json.Marshal(res)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", line)
	}
	switch {
	case res.Connected == 0:
		return errors.New("no connection logged in")
	case res.Failed > 0 || res.Alive < res.Connected:
		return fmt.Errorf("%d of %d connections failed to log in and %d of the %d held did not answer at the end", res.Failed, res.Conns, res.Connected-res.Alive, res.Connected)
	}
	return nil
}

func printWSResult(w io.Writer, r bench.WSResult) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
	fmt.Fprintf(w, "parley bench: scenario ws, %s server %s, %d clients, %d senders, %.2fs measured after %v warm-up\n",
		r.Mode, r.URL, r.Clients, r.Senders, r.Duration.Seconds(), r.Warmup)
	fmt.Fprintf(w, "  send_c2c       %10.1f msg/s    asked %d/s (ratio %.3f); scheduled %d, sent %d, errors %d\n",
		r.AchievedRate, r.Rate, r.RateRatio, r.Scheduled, r.Sent, r.Errors)
	for _, code := range slices.Sorted(maps.Keys(r.ErrorCodes)) {
		fmt.Fprintf(w, "    error %-10s x%d  e.g. %s\n", code, r.ErrorCodes[code], strings.TrimSpace(r.ErrorSamples[code]))
	}
	fmt.Fprintf(w, "  delivery       received %d, lost %d, duplicates %d, misrouted %d\n", r.Received, r.Lost, r.Duplicates, r.Misrouted)
	for _, why := range slices.Sorted(maps.Keys(r.Disconnected)) {
		fmt.Fprintf(w, "    disconnected %-10s x%d clients\n", why, r.Disconnected[why])
	}
	fmt.Fprintf(w, "  latency        p50 %s   p90 %s   p99 %s   max %s   (due time to receipt on the partner)\n",
		ms(r.LatencyP50), ms(r.LatencyP90), ms(r.LatencyP99), ms(r.LatencyMax))
	fmt.Fprintf(w, "  reply          p50 %s   p99 %s   (send_c2c round trip)\n", ms(r.ReplyP50), ms(r.ReplyP99))
	fmt.Fprintf(w, "  dispatch lag   p99 %s   max %s   (due time to a sender taking it up)\n", ms(r.DispatchLagP99), ms(r.DispatchLagMax))
	fmt.Fprintf(w, "  runtime        %s %s/%s, GOMAXPROCS %d, %d CPUs\n", r.GoVersion, r.GOOS, r.GOARCH, r.GOMAXPROCS, r.NumCPU)
	fmt.Fprintf(w, "  percentiles are exact (nearest rank over all %d latency samples)\n", r.Received)
}

func printIdleResult(w io.Writer, r bench.IdleResult) {
	kib := func(b float64) string { return fmt.Sprintf("%.2f KiB", b/1024) }
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	server := "child process"
	if r.Mode == "url" {
		server = "running server"
	}
	pid := "RSS from /metrics"
	if r.PID > 0 {
		pid = fmt.Sprintf("pid %d", r.PID)
	}
	fmt.Fprintf(w, "parley bench: scenario ws-idle, %s %s (%s), %d connections asked\n", server, r.URL, pid, r.Conns)
	fmt.Fprintf(w, "  connections    %d logged in in %.2fs, %d failed, %d answered at the end; limit here %d (RLIMIT_NOFILE %d)\n",
		r.Connected, r.DialDuration.Seconds(), r.Failed, r.Alive, r.MaxConns, r.NoFileHard)
	for _, code := range slices.Sorted(maps.Keys(r.FailCodes)) {
		fmt.Fprintf(w, "    failed %-10s x%d  e.g. %s\n", code, r.FailCodes[code], strings.TrimSpace(r.FailSamples[code]))
	}
	settled := func(s bench.MemSnapshot) string {
		if s.Settled {
			return "settled"
		}
		return "NOT settled"
	}
	fmt.Fprintf(w, "  RSS            %s before, %s after (%s, %s)   %s per connection\n",
		mib(r.Before.RSS), mib(r.After.RSS), settled(r.Before), settled(r.After), kib(r.RSSPerConn))
	if r.Metrics {
		fmt.Fprintf(w, "  Go heap        %s before, %s after (after %d and %d GCs)   %s per connection\n",
			mib(r.Before.HeapAlloc), mib(r.After.HeapAlloc), r.Before.GCs, r.After.GCs, kib(r.HeapPerConn))
		fmt.Fprintf(w, "  Go stacks      %s before, %s after   %s per connection\n",
			mib(r.Before.StackInuse), mib(r.After.StackInuse), kib(r.StackPerConn))
		fmt.Fprintf(w, "  heap + stacks  %s per connection\n", kib(r.HeapStackPerConn))
		fmt.Fprintf(w, "  goroutines     %d before, %d after   %.2f per connection; open files %.2f per connection\n",
			r.Before.Goroutines, r.After.Goroutines, r.GoroutinesPerConn, r.FDsPerConn)
	}
	fmt.Fprintf(w, "  runtime        %s %s/%s, GOMAXPROCS %d, %d CPUs (the bench's)\n", r.GoVersion, r.GOOS, r.GOARCH, r.GOMAXPROCS, r.NumCPU)
}
