package server_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

// scrape GETs srv's /metrics over HTTP and parses the text format.
func scrape(t *testing.T, srv *parleytest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: parsing: %v", err)
	}
	return families
}

// sample finds the metric of family name with exactly the labels given;
// nil when there is none.
func sample(families map[string]*dto.MetricFamily, name string, labels ...string) *dto.Metric {
	f := families[name]
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			found := false
			for i := 0; i < len(labels); i += 2 {
				if labels[i] == l.GetName() && labels[i+1] == l.GetValue() {
					found = true
				}
			}
			match = match && found
		}
		if match {
			return m
		}
	}
	return nil
}

// value is a counter's or gauge's value, 0 when the sample is absent
// (a counter never incremented is not exported).
func value(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	m := sample(families, name, labels...)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	return 0
}

// histogramCount is a histogram's observation count, 0 when absent.
func histogramCount(families map[string]*dto.MetricFamily, name string, labels ...string) uint64 {
	return sample(families, name, labels...).GetHistogram().GetSampleCount()
}

func sendTexts(t *testing.T, srv *parleytest.Server, from string, to ...string) {
	t.Helper()
	for i, peer := range to {
		parleytest.OK(t, srv.Post(t, "openim", "sendmsg", map[string]any{
			"From_Account": from, "To_Account": peer, "MsgRandom": 100 + i, "MsgBody": textBody("hi " + peer),
		}))
	}
}

// countRequests counts the receiver's requests of one callback command.
func countRequests(reqs []parleytest.Request, command string) int {
	n := 0
	for _, r := range reqs {
		if r.Query.Get("CallbackCommand") == command {
			n++
		}
	}
	return n
}

// TestMetrics runs two servers side by side: one whose receiver fails the
// first attempt of every event and then recovers, one whose receiver is
// down. Each scrape must show its own server's webhooks, and only those.
func TestMetrics(t *testing.T) {
	const (
		after      = parley.CommandC2CAfterSendMsg
		before     = parley.CommandC2CBeforeSendMsg
		deliveries = "parley_webhook_deliveries_total"
		beforeSend = "parley_webhook_before_send_total"
		attemptDur = "parley_webhook_attempt_duration_seconds"
		beforeDur  = "parley_webhook_before_send_duration_seconds"
		pending    = "parley_webhook_outbox_pending"
		oldestAge  = "parley_webhook_outbox_oldest_pending_age_seconds"
		breaker    = "parley_webhook_breaker_state"
	)

	flaky := parleytest.NewReceiver(t)
	var mu sync.Mutex
	failed := map[string]bool{}
	flaky.SetHandler(func(r parleytest.Request) (int, string) {
		if r.Query.Get("CallbackCommand") != after {
			return http.StatusOK, parleytest.OKReply
		}
		mu.Lock()
		defer mu.Unlock()
		id := r.Header.Get("X-Parley-Event-Id")
		if !failed[id] {
			failed[id] = true
			return http.StatusInternalServerError, "{}"
		}
		return http.StatusOK, parleytest.OKReply
	})
	recovering := parleytest.Start(t, server.Options{
		CallbackURL:      flaky.URL,
		RetrySchedule:    []time.Duration{10 * time.Millisecond},
		BreakerThreshold: -1,
	})

	down := parleytest.NewReceiver(t)
	down.SetReply(http.StatusInternalServerError, "{}")
	clock := parleytest.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	failing := parleytest.Start(t, server.Options{
		CallbackURL: down.URL,
		// Retries and the breaker's cool-down are due only an hour
		// later on a clock that moves only when the test says.
		RetrySchedule:    []time.Duration{time.Hour},
		BreakerThreshold: 2,
		BreakerCooldown:  time.Hour,
		Now:              clock.Now,
	})

	peers := []string{"bob", "carol", "dave"}
	for _, s := range []*parleytest.Server{recovering, failing} {
		importUsers(t, s, append([]string{"alice"}, peers...)...)
	}

	sendTexts(t, recovering, "alice", peers...)
	recovering.WaitOutboxDrained(t, 10*time.Second)
	got := scrape(t, recovering)
	counts := []struct {
		name   string
		labels []string
		want   float64
	}{
		{deliveries, []string{"command", after, "outcome", "retry"}, 3},
		{deliveries, []string{"command", after, "outcome", "delivered"}, 3},
		{deliveries, []string{"command", after, "outcome", "dead"}, 0},
		{beforeSend, []string{"command", before, "outcome", "ok"}, 3},
		{beforeSend, []string{"command", before, "outcome", "failed"}, 0},
		{beforeSend, []string{"command", before, "outcome", "breaker_open"}, 0},
		{pending, nil, 0},
		{oldestAge, nil, 0},
		{breaker, []string{"endpoint", "worker"}, 0},
		{breaker, []string{"endpoint", "before_send"}, 0},
	}
	for _, c := range counts {
		if v := value(got, c.name, c.labels...); v != c.want {
			t.Errorf("recovering: %s%q = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if n := histogramCount(got, attemptDur, "command", after); n != 6 {
		t.Errorf("recovering: %s count = %d, want 6 (3 failed + 3 delivered)", attemptDur, n)
	}
	if n := histogramCount(got, beforeDur, "command", before); n != 3 {
		t.Errorf("recovering: %s count = %d, want 3", beforeDur, n)
	}
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if got[name] == nil {
			t.Errorf("recovering: no %s: the Go and process collectors are missing", name)
		}
	}

	// The receiver is down. Sends are sequential, so the before-send
	// breaker (threshold 2) opens on the second call and refuses the third.
	sendTexts(t, failing, "alice", peers...)
	clock.Advance(90 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for value(scrape(t, failing), breaker, "endpoint", "worker") != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("failing: the worker's breaker did not open")
		}
		time.Sleep(10 * time.Millisecond) // polling the scrape: nothing signals the breaker's state
	}
	got = scrape(t, failing)
	// Two attempts in three conversations open the worker's breaker; the
	// third event may have been in flight already. Every attempt the
	// receiver saw counts as a retry (the schedule has one more).
	attempts := countRequests(down.Requests(), after)
	if attempts < 2 {
		t.Errorf("failing: receiver saw %d after-send attempts, want at least 2", attempts)
	}
	counts = []struct {
		name   string
		labels []string
		want   float64
	}{
		{deliveries, []string{"command", after, "outcome", "retry"}, float64(attempts)},
		{deliveries, []string{"command", after, "outcome", "delivered"}, 0},
		{beforeSend, []string{"command", before, "outcome", "ok"}, 0},
		{beforeSend, []string{"command", before, "outcome", "failed"}, 2},
		{beforeSend, []string{"command", before, "outcome", "breaker_open"}, 1},
		{pending, nil, 3},
		{oldestAge, nil, 90},
		{breaker, []string{"endpoint", "worker"}, 2},
		{breaker, []string{"endpoint", "before_send"}, 2},
	}
	for _, c := range counts {
		if v := value(got, c.name, c.labels...); v != c.want {
			t.Errorf("failing: %s%q = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if n := histogramCount(got, attemptDur, "command", after); n != uint64(attempts) {
		t.Errorf("failing: %s count = %d, want %d", attemptDur, n, attempts)
	}
	// Refused calls are not timed: only the two made.
	if n := histogramCount(got, beforeDur, "command", before); n != 2 {
		t.Errorf("failing: %s count = %d, want 2", beforeDur, n)
	}

	// The first server's numbers are its own: nothing of the second's
	// failures leaked into its registry.
	got = scrape(t, recovering)
	if v := value(got, beforeSend, "command", before, "outcome", "failed"); v != 0 {
		t.Errorf("recovering after the other server failed: %s failed = %v, want 0", beforeSend, v)
	}
	if v := value(got, deliveries, "command", after, "outcome", "retry"); v != 3 {
		t.Errorf("recovering after the other server failed: %s retry = %v, want 3", deliveries, v)
	}
}

// TestMetricsWithoutCallbacks: with no callback URL there is no breaker and
// no webhook counts, but the outbox gauges are still there (at zero).
func TestMetricsWithoutCallbacks(t *testing.T) {
	s := parleytest.Start(t, server.Options{})
	got := scrape(t, s)
	for _, name := range []string{"parley_webhook_outbox_pending", "parley_webhook_outbox_oldest_pending_age_seconds"} {
		if m := sample(got, name); m == nil || m.GetGauge().GetValue() != 0 {
			t.Errorf("%s = %v, want a gauge at 0", name, m)
		}
	}
	if f := got["parley_webhook_breaker_state"]; f != nil {
		t.Errorf("parley_webhook_breaker_state present without a callback URL: %v", f)
	}
}
