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
		scenario     = fs.String("scenario", bench.ScenarioC2C, "what the clients send: "+strings.Join(bench.Scenarios, ", ")+";\nc2c: sendmsg, timing C2C.CallbackAfterSendMsg; group: send_group_msg to --groups groups, timing\nGroup.CallbackAfterSendMsg; extension: set_key_values on --messages messages, timing C2C.CallbackAfterC2CMsgExtension")
		groups       = fs.Int("groups", bench.DefaultGroups, "groups of the group scenario, every user a member of each")
		messages     = fs.Int("messages", bench.DefaultMessages, "messages whose extensions the extension scenario writes")
		failRate     = fs.Float64("fail-rate", 0, "fraction (0 to 1) of webhook requests the receiver answers HTTP 500, so parley retries them;\nthe in-process server then retries ten times, a second apart")
		clients      = fs.Int("clients", bench.DefaultClients, "concurrent clients")
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
		Logf: func(format string, args ...any) {
			fmt.Fprintf(stderr, "bench: "+format+"\n", args...)
		},
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
		if *dataDir != "" {
			app, err := server.LoadApp(*dataDir)
			if err != nil {
				return fmt.Errorf("reading the app from --data: %w", err)
			}
			given := server.App{SDKAppID: opts.SDKAppID, SecretKey: opts.SecretKey, Admin: opts.Admin}.Or(app)
			opts.SDKAppID, opts.SecretKey, opts.Admin = given.SDKAppID, given.SecretKey, given.Admin
		}
		if opts.SDKAppID == 0 || opts.SecretKey == "" {
			return usageError{err: errors.New("--url needs the app: --data DIR, or --sdkappid and --secret-key")}
		}
		fmt.Fprintf(stderr, "bench: the server at %s must deliver the scenario's webhook to http://%s/\n", *target, *receiverAddr)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

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
