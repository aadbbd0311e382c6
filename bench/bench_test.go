package bench_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/bench"
)

func TestRunInProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := bench.Run(ctx, bench.Options{
		DataDir:          t.TempDir(),
		Clients:          4,
		Users:            5,
		Duration:         time.Second,
		Warmup:           100 * time.Millisecond,
		BaselineDuration: 300 * time.Millisecond,
		Logf:             t.Logf,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("%+v", res)

	if res.Sent <= 0 {
		t.Errorf("Sent = %d, want > 0", res.Sent)
	}
	if got, want := res.Delivered, res.Sent; got != want {
		t.Errorf("Delivered = %d, want Sent = %d", got, want)
	}
	if res.Errors != 0 || len(res.ErrorCodes) != 0 {
		t.Errorf("Errors = %d %v %v, want none", res.Errors, res.ErrorCodes, res.ErrorSamples)
	}
	if res.Duplicates != 0 {
		t.Errorf("Duplicates = %d, want 0 (the receiver always answers OK)", res.Duplicates)
	}
	if res.Webhooks < res.Sent {
		t.Errorf("Webhooks = %d, want at least Sent = %d", res.Webhooks, res.Sent)
	}
	if res.Mode != "in-process" {
		t.Errorf("Mode = %q, want in-process", res.Mode)
	}
	if res.Duration < time.Second {
		t.Errorf("Duration = %v, want at least the 1s asked for", res.Duration)
	}
	if res.MsgsPerSec <= 0 {
		t.Errorf("MsgsPerSec = %v, want > 0", res.MsgsPerSec)
	}
	if !(res.SendP50 > 0 && res.SendP99 >= res.SendP50) {
		t.Errorf("send latency p50 %v p99 %v, want 0 < p50 <= p99", res.SendP50, res.SendP99)
	}
	// A webhook can beat the sendmsg answer (lag clamps at 0), but not
	// every one of them: it is sent by another goroutine after the commit.
	if !(res.LagP99 > 0 && res.LagP99 >= res.LagP50) {
		t.Errorf("webhook lag p50 %v p99 %v, want 0 <= p50 <= p99, p99 > 0", res.LagP50, res.LagP99)
	}
	if res.BaselineRequests <= 0 || res.BaselineRPS <= 0 || res.BaselineErrors != 0 {
		t.Errorf("baseline: %d requests, %v/s, %d errors; want some, and no errors", res.BaselineRequests, res.BaselineRPS, res.BaselineErrors)
	}
	if res.Ratio <= 0 {
		t.Errorf("Ratio = %v, want > 0", res.Ratio)
	}
	// Every sendmsg commits through the in-process store's writer.
	if res.WriterTransactions <= 0 || res.WriterCalls < res.WriterTransactions {
		t.Errorf("writer stats: %d calls in %d transactions, want some, and calls >= transactions", res.WriterCalls, res.WriterTransactions)
	}
	if res.GOMAXPROCS <= 0 || !strings.HasPrefix(res.GoVersion, "go") {
		t.Errorf("runtime facts: GOMAXPROCS %d, GoVersion %q", res.GOMAXPROCS, res.GoVersion)
	}

	line, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(line, &obj); err != nil {
		t.Fatalf("JSON %s: %v", line, err)
	}
	for _, k := range []string{"msgs_per_sec", "sent", "delivered", "send_p50_ms", "send_p99_ms",
		"webhook_lag_p50_ms", "webhook_lag_p99_ms", "baseline_rps", "ratio",
		"duplicates", "errors", "clients", "duration_s"} {
		if _, ok := obj[k].(float64); !ok {
			t.Errorf("JSON %s: %q is %T, want a number", line, k, obj[k])
		}
	}
	if got, want := obj["sent"], float64(res.Sent); got != want {
		t.Errorf("JSON sent = %v, want %v", got, want)
	}
}

// TestRunScenarios runs the group and extension scenarios briefly: every
// acknowledged request's webhook arrives, and the result says what ran.
func TestRunScenarios(t *testing.T) {
	for _, scenario := range []string{bench.ScenarioGroup, bench.ScenarioExtension} {
		t.Run(scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := bench.Run(ctx, bench.Options{
				DataDir:          t.TempDir(),
				Scenario:         scenario,
				Groups:           3,
				Messages:         4,
				Clients:          4,
				Users:            5,
				Duration:         500 * time.Millisecond,
				Warmup:           -1,
				BaselineDuration: 200 * time.Millisecond,
				Logf:             t.Logf,
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if res.Scenario != scenario || res.Sent <= 0 || res.Delivered != res.Sent || res.Errors != 0 {
				t.Errorf("scenario %q: sent %d, delivered %d, errors %d %v %v", res.Scenario, res.Sent, res.Delivered, res.Errors, res.ErrorCodes, res.ErrorSamples)
			}
			switch scenario {
			case bench.ScenarioGroup:
				if res.Groups != 3 {
					t.Errorf("Groups = %d, want 3", res.Groups)
				}
			case bench.ScenarioExtension:
				if res.Messages != 4 {
					t.Errorf("Messages = %d, want 4", res.Messages)
				}
			}
		})
	}
}

// TestRunWithFailingReceiver: a receiver refusing a fifth of the webhooks
// still gets every acknowledged message's webhook, through retries, and
// the result counts what it refused. Users are many, so conversations are
// short: a refused event holds back the rest of its conversation until its
// retry, a second later.
func TestRunWithFailingReceiver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := bench.Run(ctx, bench.Options{
		DataDir:          t.TempDir(),
		FailRate:         0.2,
		Clients:          4,
		Users:            60,
		Duration:         500 * time.Millisecond,
		Warmup:           -1,
		BaselineDuration: 200 * time.Millisecond,
		Logf:             t.Logf,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Sent <= 0 || res.Delivered != res.Sent || res.Errors != 0 {
		t.Errorf("sent %d, delivered %d, errors %d %v", res.Sent, res.Delivered, res.Errors, res.ErrorCodes)
	}
	if res.Refused == 0 || res.Webhooks < res.Sent+res.Refused {
		t.Errorf("refused %d of %d webhook requests for %d messages: want some refused, and every message delivered besides", res.Refused, res.Webhooks, res.Sent)
	}
	if res.Duplicates != 0 {
		t.Errorf("Duplicates = %d: a refused request is not a delivery", res.Duplicates)
	}
	if res.FailRate != 0.2 {
		t.Errorf("FailRate = %v, want 0.2", res.FailRate)
	}
}

func TestRunOptionsInvalid(t *testing.T) {
	tests := []struct {
		name string
		opts bench.Options
		want string
	}{
		{"url without app", bench.Options{URL: "http://127.0.0.1:1"}, "SDKAppID and SecretKey are required"},
		{"url not http", bench.Options{URL: "ftp://x", SDKAppID: 1, SecretKey: "k"}, "not an http(s) URL"},
		{"one user", bench.Options{Users: 1}, "at least 2"},
		{"negative clients", bench.Options{Clients: -1}, "must be positive"},
		{"negative duration", bench.Options{Duration: -time.Second}, "must be positive"},
		{"unknown scenario", bench.Options{Scenario: "broadcast"}, "unknown scenario"},
		{"negative fail rate", bench.Options{FailRate: -0.1}, "FailRate"},
		{"fail rate 1", bench.Options{FailRate: 1}, "FailRate"},
		{"negative groups", bench.Options{Scenario: bench.ScenarioGroup, Groups: -1}, "must be positive"},
		{"negative messages", bench.Options{Scenario: bench.ScenarioExtension, Messages: -1}, "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bench.Run(context.Background(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	tests := []struct {
		name    string
		samples []time.Duration
		ps      []float64
		want    []time.Duration
	}{
		{"empty", nil, []float64{50, 99}, ms(0, 0)},
		{"one", ms(7), []float64{0, 50, 99, 100}, ms(7, 7, 7, 7)},
		{"hundred", ms(hundred...), []float64{0, 1, 50, 99, 99.5, 100}, ms(1, 1, 50, 99, 100, 100)},
		{"ten unsorted", ms(9, 3, 7, 1, 5, 10, 2, 8, 4, 6), []float64{10, 50, 90, 99}, ms(1, 5, 9, 10)},
		{"odd count", ms(30, 10, 20), []float64{33, 34, 50, 67, 100}, ms(10, 20, 20, 30, 30)},
		{"out of range clamps", ms(1, 2, 3), []float64{-5, 150}, ms(1, 3)},
		{"skewed tail", ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 1000), []float64{50, 90, 91}, ms(1, 1, 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bench.Percentiles(tt.samples, tt.ps...)
			if len(got) != len(tt.want) {
				t.Fatalf("Percentiles = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("p%v = %v, want %v", tt.ps[i], got[i], tt.want[i])
				}
			}
		})
	}
}
