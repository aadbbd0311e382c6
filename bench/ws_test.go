package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/bench"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

func TestRunWSAccounting(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := bench.RunWS(ctx, bench.WSOptions{
		DataDir:  t.TempDir(),
		Clients:  20,
		Rate:     200,
		Duration: time.Second,
		Warmup:   200 * time.Millisecond,
		Senders:  8,
		Logf:     t.Logf,
	})
	if err != nil {
		t.Fatalf("RunWS: %v", err)
	}
	t.Logf("%+v", res)

	// The schedule is fixed by the rate, whatever the server does.
	if got, want := res.Scheduled, 200; got != want {
		t.Errorf("Scheduled = %d, want %d (200/s for 1s)", got, want)
	}
	if res.Errors != 0 || len(res.ErrorCodes) != 0 {
		t.Errorf("Errors = %d %v %v, want none", res.Errors, res.ErrorCodes, res.ErrorSamples)
	}
	if got, want := res.Sent, res.Scheduled; got != want {
		t.Errorf("Sent = %d, want every scheduled message, %d", got, want)
	}
	// Every message received exactly once, by its partner.
	if res.Received != res.Sent || res.Lost != 0 || res.Duplicates != 0 || res.Misrouted != 0 {
		t.Errorf("received %d of %d sent, lost %d, duplicates %d, misrouted %d; want all once, none lost",
			res.Received, res.Sent, res.Lost, res.Duplicates, res.Misrouted)
	}
	if len(res.Disconnected) != 0 {
		t.Errorf("Disconnected = %v, want none", res.Disconnected)
	}
	if res.Mode != "in-process" || !strings.HasPrefix(res.URL, "ws://127.0.0.1:") || !strings.HasSuffix(res.URL, server.WSPath) {
		t.Errorf("Mode %q URL %q, want in-process on ws://127.0.0.1:PORT%s", res.Mode, res.URL, server.WSPath)
	}

	// The percentiles are the samples', one sample per received message.
	if got, want := len(res.Latencies), res.Received; got != want {
		t.Fatalf("%d latency samples, want one per received message, %d", got, want)
	}
	if !slices.IsSorted(res.Latencies) {
		t.Errorf("Latencies are not sorted")
	}
	samples := slices.Clone(res.Latencies)
	want := bench.Percentiles(samples, 50, 90, 99, 100)
	got := []time.Duration{res.LatencyP50, res.LatencyP90, res.LatencyP99, res.LatencyMax}
	if !slices.Equal(got, want) {
		t.Errorf("p50/p90/p99/max = %v, want %v from the samples", got, want)
	}
	if res.LatencyP50 <= 0 || res.LatencyMax != res.Latencies[len(res.Latencies)-1] {
		t.Errorf("p50 %v, max %v, want p50 > 0 and max the largest sample %v", res.LatencyP50, res.LatencyMax, res.Latencies[len(res.Latencies)-1])
	}
	if !(res.ReplyP50 > 0 && res.ReplyP99 >= res.ReplyP50) {
		t.Errorf("reply p50 %v p99 %v, want 0 < p50 <= p99", res.ReplyP50, res.ReplyP99)
	}
	if res.DispatchLagMax < res.DispatchLagP99 {
		t.Errorf("dispatch lag p99 %v > max %v", res.DispatchLagP99, res.DispatchLagMax)
	}

	// The rate: sent over a phase at least as long as the one asked for.
	if res.Duration < time.Second {
		t.Errorf("Duration = %v, want at least the 1s asked for", res.Duration)
	}
	if want := float64(res.Sent) / res.Duration.Seconds(); math.Abs(res.AchievedRate-want) > 1e-6 {
		t.Errorf("AchievedRate = %v, want Sent/Duration = %v", res.AchievedRate, want)
	}
	if math.Abs(res.RateRatio-res.AchievedRate/200) > 1e-9 || res.RateRatio > 1 {
		t.Errorf("RateRatio = %v, want AchievedRate/Rate = %v, at most 1", res.RateRatio, res.AchievedRate/200)
	}

	line, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(line, &obj); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"scenario", "rate", "achieved_rate", "sent", "received", "lost", "duplicates",
		"latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms", "error_codes", "disconnected"} {
		if _, ok := obj[key]; !ok {
			t.Errorf("JSON lacks %q: %s", key, line)
		}
	}
	if obj["scenario"] != bench.ScenarioWS || obj["sent"] != float64(res.Sent) {
		t.Errorf("JSON scenario %v sent %v, want ws and %d", obj["scenario"], obj["sent"], res.Sent)
	}
	if _, ok := obj["latencies"]; ok || bytes.Contains(line, []byte("Latencies")) {
		t.Errorf("JSON carries the samples: %s", line)
	}
}

// TestRunWSAgainstURL drives a server the test started, as --url does.
func TestRunWSAgainstURL(t *testing.T) {
	srv := parleytest.Start(t, server.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	app := srv.App()
	res, err := bench.RunWS(ctx, bench.WSOptions{
		URL:       srv.URL() + "/",
		SDKAppID:  app.SDKAppID,
		SecretKey: app.SecretKey,
		Admin:     app.Admin,
		Clients:   4,
		Rate:      100,
		Duration:  300 * time.Millisecond,
		Warmup:    -1,
	})
	if err != nil {
		t.Fatalf("RunWS: %v", err)
	}
	if res.Mode != "url" || res.URL != srv.WSURL() {
		t.Errorf("Mode %q URL %q, want url and %s", res.Mode, res.URL, srv.WSURL())
	}
	if res.Scheduled != 30 || res.Sent != 30 || res.Received != 30 || res.Duplicates != 0 {
		t.Errorf("scheduled %d, sent %d, received %d, duplicates %d; want 30, 30, 30, 0", res.Scheduled, res.Sent, res.Received, res.Duplicates)
	}
	if res.Warmup != 0 {
		t.Errorf("Warmup = %v, want none", res.Warmup)
	}
}

func TestRunWSOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		opts bench.WSOptions
		want string
	}{
		{"odd clients", bench.WSOptions{Clients: 3}, "even"},
		{"one client", bench.WSOptions{Clients: 1}, "even"},
		{"negative rate", bench.WSOptions{Rate: -1}, "Rate"},
		{"negative senders", bench.WSOptions{Senders: -2}, "Senders"},
		{"bad url", bench.WSOptions{URL: "ftp://x"}, "not an http(s) URL"},
		{"url without app", bench.WSOptions{URL: "http://127.0.0.1:1"}, "SDKAppID and SecretKey"},
		{"too many messages", bench.WSOptions{Rate: 1 << 30, Duration: time.Minute}, "2^31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bench.RunWS(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("RunWS: %v, want an error about %q", err, tt.want)
			}
		})
	}
}

// TestRunIdleChild runs the real `parley serve` as the child, as the bench
// does by default.
func TestRunIdleChild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := parleytest.Binary(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := bench.RunIdle(ctx, bench.IdleOptions{
		ServeCommand:  []string{bin, "serve"},
		DataDir:       dir,
		Conns:         200,
		SettleWindow:  300 * time.Millisecond,
		SettleTimeout: 20 * time.Second,
		Logf:          t.Logf,
	})
	if err != nil {
		t.Fatalf("RunIdle: %v", err)
	}
	t.Logf("%+v", res)
	checkIdle(t, res, 200)
	if res.Mode != "child" || res.PID <= 0 {
		t.Errorf("Mode %q PID %d, want a child process", res.Mode, res.PID)
	}
	// The server ran on the data directory given, and is gone.
	if _, err := server.LoadApp(dir); err != nil {
		t.Errorf("the child did not use DataDir: %v", err)
	}
	if err := syscall.Kill(res.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the child %d is still there after RunIdle: %v", res.PID, err)
	}
	// Two garbage collections before each reading of the heap.
	if !res.Metrics || res.Before.GCs < 2 || res.After.GCs < 2 {
		t.Errorf("Metrics %v, GCs before %d after %d; want the heap read after two GCs each time", res.Metrics, res.Before.GCs, res.After.GCs)
	}
	if res.ServerMaxFDs <= 0 || res.MaxConns <= 200 || uint64(res.MaxConns) >= res.NoFileHard {
		t.Errorf("ServerMaxFDs %d, MaxConns %d, hard limit %d: want the limits read, MaxConns under the limit", res.ServerMaxFDs, res.MaxConns, res.NoFileHard)
	}
}

// TestRunIdleURL measures a running server: this test process, by its
// PID, so the figures mean little; the accounting is what is checked.
func TestRunIdleURL(t *testing.T) {
	srv := parleytest.Start(t, server.Options{})
	app := srv.App()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := bench.RunIdle(ctx, bench.IdleOptions{
		URL:           srv.URL(),
		PID:           os.Getpid(),
		SDKAppID:      app.SDKAppID,
		SecretKey:     app.SecretKey,
		Admin:         app.Admin,
		Conns:         50,
		SettleWindow:  200 * time.Millisecond,
		SettleTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("RunIdle: %v", err)
	}
	checkIdle(t, res, 50)
	if res.Mode != "url" || res.PID != os.Getpid() || res.URL != srv.WSURL() {
		t.Errorf("Mode %q PID %d URL %q, want url, %d, %s", res.Mode, res.PID, res.URL, os.Getpid(), srv.WSURL())
	}
	// Every connection was closed afterwards.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for srv.Hub().Stats().Sessions > 0 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("%d sessions still online after RunIdle", srv.Hub().Stats().Sessions)
		}
	}
}

func checkIdle(t *testing.T, res bench.IdleResult, conns int) {
	t.Helper()
	if res.Conns != conns || res.Connected != conns || res.Failed != 0 || res.Alive != conns {
		t.Errorf("asked %d, connected %d, failed %d %v %v, alive %d; want all %d connected and alive",
			res.Conns, res.Connected, res.Failed, res.FailCodes, res.FailSamples, res.Alive, conns)
	}
	if res.Before.RSS <= 0 || res.After.RSS <= 0 {
		t.Errorf("RSS before %d after %d, want both read", res.Before.RSS, res.After.RSS)
	}
	// The per-connection figures are the deltas over the connections.
	n := float64(res.Connected)
	for _, f := range []struct {
		name   string
		got    float64
		before int64
		after  int64
	}{
		{"RSSPerConn", res.RSSPerConn, res.Before.RSS, res.After.RSS},
		{"HeapPerConn", res.HeapPerConn, res.Before.HeapAlloc, res.After.HeapAlloc},
		{"StackPerConn", res.StackPerConn, res.Before.StackInuse, res.After.StackInuse},
		{"GoroutinesPerConn", res.GoroutinesPerConn, res.Before.Goroutines, res.After.Goroutines},
	} {
		if want := float64(f.after-f.before) / n; math.Abs(f.got-want) > 1e-9 {
			t.Errorf("%s = %v, want (%d - %d) / %v = %v", f.name, f.got, f.after, f.before, n, want)
		}
	}
	if math.Abs(res.HeapStackPerConn-(res.HeapPerConn+res.StackPerConn)) > 1e-9 {
		t.Errorf("HeapStackPerConn = %v, want heap + stack = %v", res.HeapStackPerConn, res.HeapPerConn+res.StackPerConn)
	}
	// Each logged-in connection is a reader goroutine on the server: the
	// connections were held open through the After snapshot.
	if res.GoroutinesPerConn < 0.95 {
		t.Errorf("GoroutinesPerConn = %v, want about 1: were the connections held?", res.GoroutinesPerConn)
	}
	line, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"scenario":"ws-idle"`, `"rss_per_conn_bytes":`, `"heap_stack_per_conn_bytes":`, fmt.Sprintf(`"connected":%d`, conns)} {
		if !bytes.Contains(line, []byte(key)) {
			t.Errorf("JSON lacks %s: %s", key, line)
		}
	}
}

func TestRunIdleRefusesMoreThanTheFDLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skip(err)
	}
	if lim.Max > 1<<30 {
		t.Skipf("hard limit %d: no Conns can exceed it", lim.Max)
	}
	_, err := bench.RunIdle(context.Background(), bench.IdleOptions{
		// Never started: the limit is checked first.
		ServeCommand: []string{filepath.Join(t.TempDir(), "no-such-parley"), "serve"},
		Conns:        int(lim.Max),
	})
	if err == nil {
		t.Fatal("RunIdle accepted as many connections as the hard limit on open files")
	}
	for _, want := range []string{"RLIMIT_NOFILE", strconv.FormatUint(uint64(lim.Max), 10), "at most"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestRunIdleOptionErrors(t *testing.T) {
	tests := []struct {
		name string
		opts bench.IdleOptions
		want string
	}{
		{"pid without url", bench.IdleOptions{PID: 1}, "PID needs URL"},
		{"negative conns", bench.IdleOptions{Conns: -1}, "Conns"},
		{"url without app", bench.IdleOptions{URL: "http://127.0.0.1:1"}, "SDKAppID and SecretKey"},
		{"child that does not serve", bench.IdleOptions{ServeCommand: []string{"/bin/false"}, Conns: 1}, "exited before listening"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bench.RunIdle(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("RunIdle: %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	in := `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 18
go_gc_duration_seconds{quantile="0.5"} 0.001
go_gc_duration_seconds_count 7
go_memstats_heap_alloc_bytes 3.336840e+06
process_max_fds 20000 1795305203123
broken_line
not_a_number abc
`
	got, err := bench.ParseMetrics(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"go_goroutines":                18,
		"go_gc_duration_seconds_count": 7,
		"go_memstats_heap_alloc_bytes": 3336840,
		"process_max_fds":              20000,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tparley\nVmPeak:\t 1000 kB\nVmRSS:\t   18140 kB\nRssAnon:\t 9000 kB\n"
	got, err := bench.ParseVmRSS([]byte(status))
	if err != nil || got != 18140*1024 {
		t.Errorf("got %d, %v; want %d", got, err, 18140*1024)
	}
	for _, bad := range []string{"Name:\tkthreadd\n", "VmRSS:\t12 MB\n", "VmRSS:\t-1 kB\n", "VmRSS:\n"} {
		if _, err := bench.ParseVmRSS([]byte(bad)); err == nil {
			t.Errorf("ParseVmRSS(%q) did not fail", bad)
		}
	}
}

func TestListeningURL(t *testing.T) {
	line := `time=2026-11-22T04:30:36.366Z level=INFO msg=listening addr=127.0.0.1:37867 url=http://127.0.0.1:37867 sdkappid=1400012983 admin=administrator data=/tmp/d callbacks="off (no --callback-url)"`
	if got, ok := bench.ListeningURL(line); !ok || got != "http://127.0.0.1:37867" {
		t.Errorf("ListeningURL = %q, %v; want http://127.0.0.1:37867", got, ok)
	}
	for _, bad := range []string{
		`time=... level=INFO msg="generated a new app" sdkappid=1 file=/tmp/d/app.json`,
		`level=INFO msg=listening addr=127.0.0.1:1`,
		`level=INFO msg=listening url=ftp://x`,
	} {
		if got, ok := bench.ListeningURL(bad); ok {
			t.Errorf("ListeningURL(%q) = %q, want no URL", bad, got)
		}
	}
}

func FuzzParseMetrics(f *testing.F) {
	f.Add("go_goroutines 18\n# HELP x\nx{a=\"b\"} 1\n", "process_open_fds", 12.5)
	f.Add("", "a", 0.0)
	f.Fuzz(func(t *testing.T, text, name string, value float64) {
		got, err := bench.ParseMetrics(strings.NewReader(text))
		if err != nil {
			return // a line over the scanner's limit
		}
		for k := range got {
			if k == "" || strings.ContainsAny(k, "{ \t\n") {
				t.Errorf("sample name %q", k)
			}
		}
		// A well-formed sample appended to anything is read back.
		if name == "" || strings.ContainsAny(name, "{#\r\n\t\v\f \u0085\u00a0") || math.IsNaN(value) || strings.TrimSpace(name) != name {
			return
		}
		line := name + " " + strconv.FormatFloat(value, 'g', -1, 64)
		got, err = bench.ParseMetrics(strings.NewReader(text + "\n" + line + "\n"))
		if err != nil {
			return
		}
		if v, ok := got[name]; !ok || v != value {
			t.Errorf("%q read back as %v, %v", line, v, ok)
		}
	})
}

func FuzzParseVmRSS(f *testing.F) {
	f.Add([]byte("VmRSS:\t 18140 kB\n"), int64(18140))
	f.Add([]byte("Name:\tx\n"), int64(0))
	f.Fuzz(func(t *testing.T, status []byte, kb int64) {
		if got, err := bench.ParseVmRSS(status); err == nil && (got < 0 || got%1024 != 0) {
			t.Errorf("ParseVmRSS(%q) = %d", status, got)
		}
		if kb < 0 || kb > 1<<40 || bytes.Contains(status, []byte("VmRSS:")) {
			return
		}
		line := fmt.Sprintf("VmRSS:\t%8d kB\n", kb)
		got, err := bench.ParseVmRSS(append(append(bytes.Clone(status), '\n'), line...))
		if err != nil || got != kb*1024 {
			t.Errorf("%q read as %d, %v", line, got, err)
		}
	})
}

func FuzzListeningURL(f *testing.F) {
	f.Add(`level=INFO msg=listening addr=127.0.0.1:1 url=http://127.0.0.1:1 data=/d`)
	f.Add(`msg=listening url=https://[::1]:80`)
	f.Fuzz(func(t *testing.T, line string) {
		u, ok := bench.ListeningURL(line)
		if !ok {
			return
		}
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") || strings.ContainsAny(u, " \t\n") {
			t.Errorf("ListeningURL(%q) = %q", line, u)
		}
	})
}
