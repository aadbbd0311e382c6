package delivery_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/sqlite"
)

// brokenStats is a store whose backlog cannot be read.
type brokenStats struct {
	parley.Store
}

var errStatsBroken = errors.New("disk on fire")

func (brokenStats) EventStats(context.Context) (parley.EventStats, error) {
	return parley.EventStats{}, errStatsBroken
}

func openMetricsStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "parley.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestMetricsScrapeReportsStoreError: a scrape whose backlog read fails
// answers with the error, not with a zero backlog and not with a panic.
func TestMetricsScrapeReportsStoreError(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := delivery.NewMetrics(delivery.MetricsConfig{Registerer: reg, Store: brokenStats{openMetricsStore(t)}}); err != nil {
		t.Fatal(err)
	}
	// The registry flattens collector errors into text.
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), errStatsBroken.Error()) {
		t.Errorf("Gather error = %v, want one naming %q", err, errStatsBroken)
	}

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusInternalServerError; got != want {
		t.Errorf("scrape: HTTP %d, want %d", got, want)
	}
	if !strings.Contains(string(body), errStatsBroken.Error()) {
		t.Errorf("scrape body %q does not name the store error", body)
	}
}

func TestNewMetricsRefusals(t *testing.T) {
	if _, err := delivery.NewMetrics(delivery.MetricsConfig{}); err == nil {
		t.Error("NewMetrics without a Registerer succeeded")
	}

	// One Metrics per server: registering the same metrics twice on one
	// registry fails instead of mixing two servers' counts.
	reg := prometheus.NewRegistry()
	if _, err := delivery.NewMetrics(delivery.MetricsConfig{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := delivery.NewMetrics(delivery.MetricsConfig{Registerer: reg}); err == nil {
		t.Error("a second NewMetrics on the same registry succeeded")
	}

	// Each breaker is one series: a second Worker on the same Metrics
	// would report under the first one's label.
	m, err := delivery.NewMetrics(delivery.MetricsConfig{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	store := openMetricsStore(t)
	cfg := delivery.WorkerConfig{Store: store, URL: "http://127.0.0.1:1/hook", SDKAppID: testAppID, Metrics: m}
	if _, err := delivery.NewWorker(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := delivery.NewWorker(cfg); err == nil {
		t.Error("a second Worker with the same Metrics succeeded")
	}
	callerCfg := delivery.CallerConfig{URL: "http://127.0.0.1:1/hook", SDKAppID: testAppID, Metrics: m}
	if _, err := delivery.NewCaller(callerCfg); err != nil {
		t.Errorf("a Caller next to the Worker: %v", err)
	}
	if _, err := delivery.NewCaller(callerCfg); err == nil {
		t.Error("a second Caller with the same Metrics succeeded")
	}
}
