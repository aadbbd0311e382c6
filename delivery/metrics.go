package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parley-im/parley"
)

// Outcomes of an after-callback attempt, the outcome label of
// parley_webhook_deliveries_total.
const (
	OutcomeDelivered = "delivered" // answered HTTP 200 with JSON
	OutcomeRetry     = "retry"     // failed; the event is retried later
	OutcomeDead      = "dead"      // failed with the retry schedule used up
)

// Outcomes of a before-send call, the outcome label of
// parley_webhook_before_send_total.
const (
	OutcomeOK          = "ok"           // the receiver answered with a JSON object
	OutcomeFailed      = "failed"       // the call was made and failed
	OutcomeBreakerOpen = "breaker_open" // no call: the breaker was open
)

// outboxStatsTimeout bounds the store read of a scrape, which has no
// context of its own: a stuck store fails the scrape instead of hanging
// it.
const outboxStatsTimeout = 5 * time.Second

// Metrics are the webhook engine's Prometheus metrics, registered on the
// Registerer given to NewMetrics. Give one Metrics to the Worker and the
// Caller of one server (WorkerConfig.Metrics, CallerConfig.Metrics):
//
//   - parley_webhook_deliveries_total{command, outcome}: after-callback
//     attempts by outcome, delivered, retry or dead. It counts attempts,
//     not events: an event retried twice then delivered counts 2 retry and
//     1 delivered. An attempt counts when it ends, before its outcome is
//     written to the store; attempts cut short by Shutdown do not count.
//   - parley_webhook_attempt_duration_seconds{command}: the latency of
//     those attempts, request to reply read (or failure).
//   - parley_webhook_before_send_total{command, outcome}: before-send
//     calls by outcome, ok, failed (any failure: transport, timeout,
//     status, reply) or breaker_open (refused at once, no request).
//   - parley_webhook_before_send_duration_seconds{command}: the latency of
//     the before-send calls that were made (not those the breaker
//     refused).
//   - parley_webhook_outbox_pending: events waiting for delivery,
//     including those in flight and those waiting for a retry, read from
//     the store at each scrape.
//   - parley_webhook_outbox_oldest_pending_age_seconds: how long ago the
//     oldest of them was committed; 0 when none is pending. With a
//     receiver that is down this grows; with one that keeps up it stays
//     near the attempt latency.
//   - parley_webhook_breaker_state{endpoint}: the circuit breaker of the
//     after-callbacks (endpoint "worker") and of the before-send calls
//     ("before_send"): 0 closed, 1 half-open, 2 open. A breaker switched
//     off reads 0.
//
// A scrape whose store read fails reports the error (the registry's
// Gather returns it) instead of a stale or zero backlog. A nil *Metrics
// records nothing.
type Metrics struct {
	reg               prometheus.Registerer
	deliveries        *prometheus.CounterVec
	attemptSeconds    *prometheus.HistogramVec
	beforeSend        *prometheus.CounterVec
	beforeSendSeconds *prometheus.HistogramVec
}

// MetricsConfig configures NewMetrics.
type MetricsConfig struct {
	// Registerer receives the metrics. Required: parley registers nothing
	// on the global default registry, so servers side by side in one
	// process keep their metrics apart.
	Registerer prometheus.Registerer
	// Store is read at each scrape for the outbox gauges. Nil leaves them
	// out.
	Store parley.Store
	// Now is the clock for the age of the oldest pending event. Nil means
	// time.Now.
	Now func() time.Time
}

// NewMetrics creates the metrics and registers them on cfg.Registerer.
func NewMetrics(cfg MetricsConfig) (*Metrics, error) {
	if cfg.Registerer == nil {
		return nil, errors.New("delivery: Metrics need a Registerer")
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	m := &Metrics{
		reg: cfg.Registerer,
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_webhook_deliveries_total",
			Help: "After-callback attempts by command and outcome (delivered, retry, dead).",
		}, []string{"command", "outcome"}),
		attemptSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_webhook_attempt_duration_seconds",
			Help:    "Latency of after-callback attempts, by command.",
			Buckets: prometheus.DefBuckets,
		}, []string{"command"}),
		beforeSend: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_webhook_before_send_total",
			Help: "Before-send callbacks by command and outcome (ok, failed, breaker_open).",
		}, []string{"command", "outcome"}),
		beforeSendSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parley_webhook_before_send_duration_seconds",
			Help:    "Latency of the before-send callbacks made, by command.",
			Buckets: prometheus.DefBuckets,
		}, []string{"command"}),
	}
	collectors := []prometheus.Collector{m.deliveries, m.attemptSeconds, m.beforeSend, m.beforeSendSeconds}
	if cfg.Store != nil {
		collectors = append(collectors, newOutboxCollector(cfg.Store, now))
	}
	for _, c := range collectors {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("delivery: registering metrics: %w", err)
		}
	}
	return m, nil
}

// watchBreaker registers the breaker gauge of one endpoint. Each endpoint
// can be watched once per Metrics: a second Worker (or Caller) given the
// same Metrics is refused rather than reported under the first one's name.
func (m *Metrics) watchBreaker(endpoint string, state func() BreakerState) error {
	if m == nil {
		return nil
	}
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "parley_webhook_breaker_state",
		Help:        "Circuit breaker of the callback URL, by endpoint (worker, before_send): 0 closed, 1 half-open, 2 open.",
		ConstLabels: prometheus.Labels{"endpoint": endpoint},
	}, func() float64 { return breakerGaugeValue(state().State) })
	if err := m.reg.Register(g); err != nil {
		return fmt.Errorf("delivery: registering the %s breaker metric: %w", endpoint, err)
	}
	return nil
}

// breakerGaugeValue orders the states by how little gets through, so
// that a graph going up means trouble.
func breakerGaugeValue(c Circuit) float64 {
	switch c {
	case CircuitHalfOpen:
		return 1
	case CircuitOpen:
		return 2
	}
	return 0
}

func (m *Metrics) attempt(command, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	m.deliveries.WithLabelValues(command, outcome).Inc()
	m.attemptSeconds.WithLabelValues(command).Observe(took.Seconds())
}

// beforeSendCall records one Call; took is ignored when the breaker
// refused it, so refusals do not drag the latency towards zero.
func (m *Metrics) beforeSendCall(command string, err error, took time.Duration) {
	if m == nil {
		return
	}
	outcome := OutcomeOK
	switch {
	case errors.Is(err, ErrBreakerOpen):
		m.beforeSend.WithLabelValues(command, OutcomeBreakerOpen).Inc()
		return
	case err != nil:
		outcome = OutcomeFailed
	}
	m.beforeSend.WithLabelValues(command, outcome).Inc()
	m.beforeSendSeconds.WithLabelValues(command).Observe(took.Seconds())
}

// outboxCollector reads the backlog from the store at each scrape: a gauge
// kept in memory would miss events written by another process and drift
// after a restart.
type outboxCollector struct {
	store   parley.Store
	now     func() time.Time
	pending *prometheus.Desc
	age     *prometheus.Desc
}

func newOutboxCollector(store parley.Store, now func() time.Time) *outboxCollector {
	return &outboxCollector{
		store: store,
		now:   now,
		pending: prometheus.NewDesc("parley_webhook_outbox_pending",
			"After-callback events not yet delivered or dead-lettered.", nil, nil),
		age: prometheus.NewDesc("parley_webhook_outbox_oldest_pending_age_seconds",
			"Age of the oldest pending after-callback event; 0 when none is pending.", nil, nil),
	}
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.age
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), outboxStatsTimeout)
	defer cancel()
	st, err := c.store.EventStats(ctx)
	if err != nil {
		err = fmt.Errorf("reading the outbox backlog: %w", err)
		ch <- prometheus.NewInvalidMetric(c.pending, err)
		ch <- prometheus.NewInvalidMetric(c.age, err)
		return
	}
	age := 0.0
	if st.Pending > 0 {
		age = max(0, c.now().Sub(st.OldestPending).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}

// outcome is the outcome label of an attempt's report.
func (r *report) outcome() string {
	switch {
	case r.err == nil:
		return OutcomeDelivered
	case r.retryAt.IsZero():
		return OutcomeDead
	}
	return OutcomeRetry
}
