package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/websocket"
	"github.com/parley-im/parley/server"
)

// Defaults of IdleOptions.
const (
	DefaultIdleConns     = 10000
	DefaultSettleTimeout = 30 * time.Second
	DefaultSettleWindow  = 2 * time.Second
)

// fdReserve is the descriptors each process keeps beside its WebSocket
// connections: listeners, the database and its journal, HTTP clients,
// pipes, the epoll instance. A fixed figure, rather than what is open at
// the moment, so that the most connections the bench allows does not
// move from run to run.
const fdReserve = 100

// reserveFDs is what a process with open descriptors open keeps beside
// its connections: fdReserve, or more if it has many open already.
func reserveFDs(open int) int { return max(fdReserve, open+fdReserve/2) }

// sourceAddrs is how many loopback source addresses (127.0.0.1 ...
// 127.0.0.16) the idle connections are spread over: each has its own
// range of ephemeral ports (about 28,000 here), so ports never run out.
const sourceAddrs = 16

// IdleOptions configures RunIdle. A zero field means the documented
// default.
type IdleOptions struct {
	// URL is the base URL of a running parley server, e.g.
	// "http://127.0.0.1:8080". Empty starts `parley serve` as a child
	// process on 127.0.0.1:0 and stops it afterwards: the server must run
	// in its own process for its memory to be its own.
	URL string
	// PID is the process of the server at URL, whose VmRSS is read from
	// /proc. Zero reads process_resident_memory_bytes from its /metrics.
	PID int
	// ServeCommand is the program and leading arguments that run `parley
	// serve`; the bench appends --addr 127.0.0.1:0, --data and
	// --log-level info, and reads the address from the "listening" log
	// line. Nil means this executable with "serve". Ignored with URL.
	ServeCommand []string
	// DataDir is the child's data directory; empty means a fresh
	// temporary one, removed afterwards. Ignored with URL.
	DataDir string
	// SDKAppID, SecretKey and Admin are the app of the server at URL:
	// required with URL, Admin defaulting to "administrator". The child's
	// are read from its data directory.
	SDKAppID  uint64
	SecretKey string
	Admin     string

	// Conns is how many idle connections to hold, each logged in as its
	// own user (bench_0, bench_1, ...). Zero means 10,000.
	Conns int
	// SettleTimeout bounds each wait for the server to settle: for two
	// garbage collections, then for its RSS to stop moving. Zero means
	// 30s.
	SettleTimeout time.Duration
	// SettleWindow is how long the RSS must stay within 0.5% (or 256 KiB)
	// to count as settled. Zero means 2s.
	SettleWindow time.Duration

	// Logf reports progress; nil means quiet.
	Logf func(format string, args ...any)
}

// MemSnapshot is the server's memory at one moment, settled.
type MemSnapshot struct {
	// RSS is the resident set in bytes: /proc/PID/status VmRSS, or
	// process_resident_memory_bytes from /metrics without a PID.
	RSS int64
	// HeapAlloc, HeapInuse and StackInuse are the Go runtime's
	// (go_memstats_*_bytes from /metrics), read after two garbage
	// collections the bench made the server run and their sweeping, so
	// HeapAlloc is the live heap give or take what a scrape allocates
	// (about 1 MB at most). Zero when /metrics does not give them.
	HeapAlloc  int64
	HeapInuse  int64
	StackInuse int64
	Goroutines int64 // go_goroutines
	OpenFDs    int64 // process_open_fds
	// GCs is how many garbage collections completed while the bench
	// drove them (it wants two); fewer means HeapAlloc may include
	// garbage.
	GCs int
	// Settled says the RSS stayed within tolerance for SettleWindow
	// before SettleTimeout.
	Settled bool
}

// IdleResult is what RunIdle measured. Per-connection figures are deltas
// between Before and After divided by Connected.
type IdleResult struct {
	Mode string // "child" or "url"
	URL  string // the WebSocket endpoint
	PID  int    // the server's process; 0 when its RSS came from /metrics

	Scenario  string // ScenarioWSIdle
	Conns     int    // asked for
	Connected int    // logged in and held
	Failed    int    // could not connect or log in
	// FailCodes counts Failed by login code, "kick NNNN", "dial" or
	// "handshake"; FailSamples holds the first error of each.
	FailCodes   map[string]int
	FailSamples map[string]string
	// Alive is how many of the connections still answered a ping request
	// after the measurement.
	Alive        int
	DialDuration time.Duration

	// NoFileSoft and NoFileHard are this process's RLIMIT_NOFILE once the
	// bench raised the soft limit to the hard one (the child inherits
	// it); ServerMaxFDs is the server's own limit (process_max_fds, 0 if
	// unknown). MaxConns is the most idle connections both allow.
	NoFileSoft   uint64
	NoFileHard   uint64
	ServerMaxFDs int64
	MaxConns     int

	// Metrics says /metrics gave the Go heap and stack figures.
	Metrics bool
	Before  MemSnapshot
	After   MemSnapshot

	RSSPerConn        float64 // bytes
	HeapPerConn       float64 // bytes of HeapAlloc
	StackPerConn      float64 // bytes of StackInuse
	HeapStackPerConn  float64 // HeapPerConn + StackPerConn
	GoroutinesPerConn float64
	FDsPerConn        float64

	GOMAXPROCS int
	NumCPU     int
	GoVersion  string
	GOOS       string
	GOARCH     string
}

// MarshalJSON gives r as one flat object with snake_case keys, sizes in
// bytes, like Result.
func (r IdleResult) MarshalJSON() ([]byte, error) {
	failCodes := r.FailCodes
	if failCodes == nil {
		failCodes = map[string]int{}
	}
	return json.Marshal(struct {
		Scenario          string         `json:"scenario"`
		Conns             int            `json:"conns"`
		Connected         int            `json:"connected"`
		Alive             int            `json:"alive"`
		Failed            int            `json:"failed"`
		FailCodes         map[string]int `json:"fail_codes"`
		RSSPerConn        float64        `json:"rss_per_conn_bytes"`
		HeapPerConn       float64        `json:"heap_per_conn_bytes"`
		StackPerConn      float64        `json:"stack_per_conn_bytes"`
		HeapStackPerConn  float64        `json:"heap_stack_per_conn_bytes"`
		GoroutinesPerConn float64        `json:"goroutines_per_conn"`
		FDsPerConn        float64        `json:"fds_per_conn"`
		RSSBefore         int64          `json:"rss_before_bytes"`
		RSSAfter          int64          `json:"rss_after_bytes"`
		HeapBefore        int64          `json:"heap_before_bytes"`
		HeapAfter         int64          `json:"heap_after_bytes"`
		StackBefore       int64          `json:"stack_before_bytes"`
		StackAfter        int64          `json:"stack_after_bytes"`
		SettledBefore     bool           `json:"settled_before"`
		SettledAfter      bool           `json:"settled_after"`
		Metrics           bool           `json:"metrics"`
		DialS             float64        `json:"dial_s"`
		MaxConns          int            `json:"max_conns"`
		NoFileHard        uint64         `json:"nofile_hard"`
		ServerMaxFDs      int64          `json:"server_max_fds"`
		Mode              string         `json:"mode"`
		GOMAXPROCS        int            `json:"gomaxprocs"`
		NumCPU            int            `json:"num_cpu"`
		GoVersion         string         `json:"go_version"`
	}{
		Scenario:          r.Scenario,
		Conns:             r.Conns,
		Connected:         r.Connected,
		Alive:             r.Alive,
		Failed:            r.Failed,
		FailCodes:         failCodes,
		RSSPerConn:        round3(r.RSSPerConn),
		HeapPerConn:       round3(r.HeapPerConn),
		StackPerConn:      round3(r.StackPerConn),
		HeapStackPerConn:  round3(r.HeapStackPerConn),
		GoroutinesPerConn: round3(r.GoroutinesPerConn),
		FDsPerConn:        round3(r.FDsPerConn),
		RSSBefore:         r.Before.RSS,
		RSSAfter:          r.After.RSS,
		HeapBefore:        r.Before.HeapAlloc,
		HeapAfter:         r.After.HeapAlloc,
		StackBefore:       r.Before.StackInuse,
		StackAfter:        r.After.StackInuse,
		SettledBefore:     r.Before.Settled,
		SettledAfter:      r.After.Settled,
		Metrics:           r.Metrics,
		DialS:             round3(r.DialDuration.Seconds()),
		MaxConns:          r.MaxConns,
		NoFileHard:        r.NoFileHard,
		ServerMaxFDs:      r.ServerMaxFDs,
		Mode:              r.Mode,
		GOMAXPROCS:        r.GOMAXPROCS,
		NumCPU:            r.NumCPU,
		GoVersion:         r.GoVersion,
	})
}

// idleConfig is IdleOptions with defaults applied and checked.
type idleConfig struct{ IdleOptions }

func newIdleConfig(o IdleOptions) (idleConfig, error) {
	c := idleConfig{o}
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
	} else if c.PID != 0 {
		return c, errors.New("bench: PID needs URL: without it the bench starts the server itself")
	}
	if c.PID < 0 {
		return c, fmt.Errorf("bench: PID is %d", c.PID)
	}
	if c.Conns == 0 {
		c.Conns = DefaultIdleConns
	}
	if c.Conns < 0 {
		return c, fmt.Errorf("bench: Conns is %d, must be positive", c.Conns)
	}
	if c.SettleTimeout == 0 {
		c.SettleTimeout = DefaultSettleTimeout
	}
	if c.SettleWindow == 0 {
		c.SettleWindow = DefaultSettleWindow
	}
	if c.SettleTimeout < 0 || c.SettleWindow < 0 {
		return c, errors.New("bench: SettleTimeout and SettleWindow must be positive")
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c, nil
}

// noFile is RLIMIT_NOFILE.
type noFile struct{ soft, hard uint64 }

// RunIdle runs ScenarioWSIdle. It raises this process's soft limit on
// open files to the hard one (a child server inherits it) and refuses a
// Conns the limits cannot hold; starts the server (or takes URL); imports
// the users; lets the server settle and takes the Before snapshot; opens
// Conns WebSocket connections and logs each in, then only pings them
// (every half heartbeat, so the server never reaps them as idle), with no
// reader: the bench holds them at the cost of a socket each; lets the
// server settle again and takes the After snapshot; checks every
// connection still answers; closes them and stops the child.
//
// Settling is: make the server collect garbage twice (by scraping its
// /metrics, gzip-compressed, which allocates about 1 MB a time), poll the
// RSS until it stays within 0.5% for SettleWindow, then read the Go
// figures once the heap has stopped shrinking (the collector frees dead
// objects as it sweeps, after the cycle).
//
// It returns an error when the run could not be carried out: bad
// options, too many Conns for the descriptor limits, the server did not
// start, its RSS cannot be read, ctx ended.
func RunIdle(ctx context.Context, opts IdleOptions) (res IdleResult, err error) {
	c, err := newIdleConfig(opts)
	if err != nil {
		return IdleResult{}, err
	}
	res = IdleResult{Mode: "url", Scenario: ScenarioWSIdle, Conns: c.Conns, PID: c.PID}
	res.GOMAXPROCS, res.NumCPU, res.GoVersion, res.GOOS, res.GOARCH = runtimeFacts()

	lim, err := raiseNoFile()
	if err != nil {
		return res, err
	}
	res.NoFileSoft, res.NoFileHard = lim.soft, lim.hard
	res.MaxConns = int(lim.soft) - reserveFDs(openFDs("self"))
	if c.Conns > res.MaxConns {
		return res, tooManyConns(c.Conns, res.MaxConns, "this process", lim.hard)
	}

	base, app := c.URL, server.App{SDKAppID: c.SDKAppID, SecretKey: c.SecretKey, Admin: c.Admin}
	if base == "" {
		res.Mode = "child"
		var p *serveProc
		p, base, err = startServe(ctx, c.ServeCommand, c.DataDir)
		if err != nil {
			return res, err
		}
		defer func() {
			if serr := p.stop(); serr != nil && err == nil {
				err = serr
			}
		}()
		res.PID = p.cmd.Process.Pid
		if app, err = server.LoadApp(p.dataDir); err != nil {
			return res, fmt.Errorf("bench: the child's app: %w", err)
		}
		c.Logf("parley serve running as process %d on %s", res.PID, base)
	}
	res.URL = wsEndpoint(base)

	m := &meter{base: base, pid: res.PID, http: &http.Client{Timeout: 30 * time.Second}}
	defer m.http.CloseIdleConnections()
	first, err := m.scrape(ctx, false)
	if err == nil {
		res.Metrics = first[metricHeapAlloc] > 0
		res.ServerMaxFDs = int64(first[metricMaxFDs])
		if res.ServerMaxFDs > 0 {
			serverMax := int(res.ServerMaxFDs) - reserveFDs(int(first[metricOpenFDs]))
			res.MaxConns = min(res.MaxConns, serverMax)
			if c.Conns > serverMax {
				return res, tooManyConns(c.Conns, serverMax, "the server", uint64(res.ServerMaxFDs))
			}
		}
	}
	if res.PID == 0 && first[metricRSS] == 0 {
		return res, fmt.Errorf("bench: cannot read the server's RSS: give its PID (its /metrics has no %s: %v)", metricRSS, err)
	}

	users, err := importAccounts(ctx, base, app, c.Conns)
	if err != nil {
		return res, err
	}
	sigs, err := userSigs(app, users)
	if err != nil {
		return res, err
	}
	c.Logf("imported %d users; letting the server settle", len(users))
	if res.Before, err = m.snapshot(ctx, c.SettleTimeout, c.SettleWindow); err != nil {
		return res, err
	}
	c.Logf("before: RSS %s, heap %s, stacks %s, %d goroutines", mib(res.Before.RSS), mib(res.Before.HeapAlloc), mib(res.Before.StackInuse), res.Before.Goroutines)

	h := &idleHold{endpoint: res.URL, app: app, loopback: isLoopback(base), stop: make(chan struct{}), stopped: make(chan struct{})}
	defer h.closeAll()
	go h.keepAlive()
	start := time.Now()
	c.Logf("opening %d idle connections to %s", c.Conns, res.URL)
	res.FailCodes, res.FailSamples = h.dial(ctx, users, sigs)
	res.DialDuration = time.Since(start)
	res.Connected = len(h.conns)
	for _, n := range res.FailCodes {
		res.Failed += n
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	c.Logf("%d connections logged in in %v (%d failed); letting the server settle", res.Connected, res.DialDuration.Round(time.Millisecond), res.Failed)
	if res.After, err = m.snapshot(ctx, c.SettleTimeout, c.SettleWindow); err != nil {
		return res, err
	}
	c.Logf("after: RSS %s, heap %s, stacks %s, %d goroutines", mib(res.After.RSS), mib(res.After.HeapAlloc), mib(res.After.StackInuse), res.After.Goroutines)
	res.Alive = h.checkAlive(ctx)

	if n := float64(res.Connected); n > 0 {
		per := func(a, b int64) float64 { return float64(b-a) / n }
		res.RSSPerConn = per(res.Before.RSS, res.After.RSS)
		res.HeapPerConn = per(res.Before.HeapAlloc, res.After.HeapAlloc)
		res.StackPerConn = per(res.Before.StackInuse, res.After.StackInuse)
		res.HeapStackPerConn = res.HeapPerConn + res.StackPerConn
		res.GoroutinesPerConn = per(res.Before.Goroutines, res.After.Goroutines)
		res.FDsPerConn = per(res.Before.OpenFDs, res.After.OpenFDs)
	}
	return res, nil
}

func tooManyConns(asked, most int, who string, hard uint64) error {
	return fmt.Errorf("bench: %d idle connections exceed what the open-file limit allows: each takes a descriptor in this process and one in the server, "+
		"and %s may open %d (RLIMIT_NOFILE hard limit), so at most %d here; raise the hard limit (ulimit -Hn, as root) or ask for fewer",
		asked, who, hard, max(most, 0))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// openFDs counts the open descriptors of a process ("self" or a PID) in
// /proc; 0 where there is no /proc.
func openFDs(pid string) int {
	entries, err := os.ReadDir("/proc/" + pid + "/fd")
	if err != nil {
		return 0
	}
	return len(entries)
}

// isLoopback reports whether base's host is an IPv4 loopback address, so
// that connections may come from any 127.0.0.x.
func isLoopback(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.To4() != nil && ip.IsLoopback()
}

// The /metrics series the bench reads.
const (
	metricHeapAlloc  = "go_memstats_heap_alloc_bytes"
	metricHeapInuse  = "go_memstats_heap_inuse_bytes"
	metricStackInuse = "go_memstats_stack_inuse_bytes"
	metricGoroutines = "go_goroutines"
	metricGCs        = "go_gc_duration_seconds_count"
	metricRSS        = "process_resident_memory_bytes"
	metricOpenFDs    = "process_open_fds"
	metricMaxFDs     = "process_max_fds"
)

// parseMetrics reads the unlabelled samples of a Prometheus text
// exposition: name and value. Comments, labelled samples and lines that
// do not parse are skipped; only a read error is an error.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := make(map[string]float64)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if !ok || strings.ContainsRune(name, '{') {
			continue
		}
		value, _, _ := strings.Cut(strings.TrimSpace(rest), " ") // a timestamp may follow
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		out[name] = v
	}
	return out, sc.Err()
}

// parseVmRSS returns the VmRSS of a /proc/PID/status, in bytes.
func parseVmRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("bench: VmRSS line %q", bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > 1<<40 {
			return 0, fmt.Errorf("bench: VmRSS line %q", bytes.TrimSpace(line))
		}
		return kb << 10, nil
	}
	return 0, errors.New("bench: no VmRSS line (a kernel thread, or not Linux)")
}

// meter reads the server's memory.
type meter struct {
	base string
	pid  int
	http *http.Client
}

// scrape reads /metrics. compressed asks for gzip, as Prometheus does: the
// server then allocates a compressor per scrape, which is how the bench
// makes it collect garbage; plain scrapes allocate far less.
func (m *meter) scrape(ctx context.Context, compressed bool) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if !compressed {
		// Set by hand, this also stops the transport asking for gzip.
		req.Header.Set("Accept-Encoding", "identity")
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil, fmt.Errorf("bench: /metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// rss reads the server's resident set.
func (m *meter) rss(ctx context.Context) (int64, error) {
	if m.pid > 0 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(m.pid) + "/status")
		if err != nil {
			return 0, fmt.Errorf("bench: the server's RSS: %w", err)
		}
		return parseVmRSS(b)
	}
	mm, err := m.scrape(ctx, false)
	if err != nil {
		return 0, err
	}
	return int64(mm[metricRSS]), nil
}

// snapshot lets the server settle (see RunIdle) and reads its memory.
func (m *meter) snapshot(ctx context.Context, timeout, window time.Duration) (MemSnapshot, error) {
	var s MemSnapshot
	gcs, err := m.collectGarbage(ctx, timeout)
	if err != nil && ctx.Err() != nil {
		return s, ctx.Err()
	}
	s.GCs = gcs
	if s.RSS, s.Settled, err = m.settle(ctx, timeout, window); err != nil {
		return s, err
	}
	mm, err := m.swept(ctx)
	if err != nil && ctx.Err() != nil {
		return s, ctx.Err()
	}
	s.HeapAlloc = int64(mm[metricHeapAlloc])
	s.HeapInuse = int64(mm[metricHeapInuse])
	s.StackInuse = int64(mm[metricStackInuse])
	s.Goroutines = int64(mm[metricGoroutines])
	s.OpenFDs = int64(mm[metricOpenFDs])
	return s, nil
}

// swept scrapes /metrics plainly until the heap stops shrinking, for at
// most 2s, and returns the last scrape. A collection frees the dead
// objects only as it sweeps their spans, in the background, after the
// cycle has ended: until then they still count in heap_alloc, as much as
// the whole heap allocated since the previous cycle.
func (m *meter) swept(ctx context.Context) (map[string]float64, error) {
	prev, err := m.scrape(ctx, false)
	if err != nil {
		return nil, err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for range 40 {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return prev, ctx.Err()
		}
		cur, err := m.scrape(ctx, false)
		if err != nil {
			return prev, err
		}
		if cur[metricHeapAlloc] >= prev[metricHeapAlloc] {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

// collectGarbage scrapes /metrics compressed until two more garbage
// collections have completed, or timeout, and returns how many did. A
// server with no GC count in its metrics is scraped once.
func (m *meter) collectGarbage(ctx context.Context, timeout time.Duration) (int, error) {
	mm, err := m.scrape(ctx, true)
	if err != nil {
		return 0, err
	}
	n0, ok := mm[metricGCs]
	if !ok {
		return 0, nil
	}
	deadline := time.Now().Add(timeout)
	for mm[metricGCs] < n0+2 && time.Now().Before(deadline) {
		next, err := m.scrape(ctx, true)
		if err != nil {
			return int(mm[metricGCs] - n0), err
		}
		mm = next
	}
	return int(mm[metricGCs] - n0), nil
}

// settle polls the RSS until every sample of the last window lies within
// 0.5% (at least 256 KiB) of each other, or timeout; it returns the last
// sample.
func (m *meter) settle(ctx context.Context, timeout, window time.Duration) (int64, bool, error) {
	type sample struct {
		at  time.Time
		rss int64
	}
	every := max(window/8, 10*time.Millisecond)
	tick := time.NewTicker(every)
	defer tick.Stop()
	deadline := time.Now().Add(timeout)
	var samples []sample
	for {
		rss, err := m.rss(ctx)
		if err != nil {
			return 0, false, err
		}
		now := time.Now()
		samples = append(samples, sample{now, rss})
		for len(samples) > 1 && now.Sub(samples[1].at) >= window {
			samples = samples[1:]
		}
		if now.Sub(samples[0].at) >= window {
			lo, hi := rss, rss
			for _, s := range samples {
				lo, hi = min(lo, s.rss), max(hi, s.rss)
			}
			if hi-lo <= max(hi/200, 256<<10) {
				return rss, true, nil
			}
		}
		if !now.Before(deadline) {
			return rss, false, nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return 0, false, ctx.Err()
		}
	}
}

// idleHold holds the idle connections.
type idleHold struct {
	endpoint string
	app      server.App
	loopback bool // spread the source addresses over 127.0.0.x

	heartbeat atomic.Int64  // time.Duration, from the first login reply
	stop      chan struct{} // closed by closeAll: keepAlive returns
	stopped   chan struct{} // closed when keepAlive has returned
	stopOnce  sync.Once

	mu    sync.Mutex
	conns []*websocket.Conn
}

// dial connects and logs in a connection per user, dialConcurrency at a
// time, and returns the failures by kind.
func (h *idleHold) dial(ctx context.Context, users, sigs []string) (map[string]int, map[string]string) {
	codes, samples := map[string]int{}, map[string]string{}
	var mu sync.Mutex
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(dialConcurrency, len(users)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(users) || ctx.Err() != nil {
					return
				}
				conn, key, sample := h.login(ctx, i, users[i], sigs[i])
				if conn != nil {
					h.mu.Lock()
					h.conns = append(h.conns, conn)
					h.mu.Unlock()
					continue
				}
				mu.Lock()
				codes[key]++
				if _, ok := samples[key]; !ok {
					samples[key] = sample
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return codes, samples
}

// replyFrame is the part of a server frame the idle connections look at.
type replyFrame struct {
	Op           string `json:"op"`
	ID           string `json:"id"`
	ActionStatus string `json:"ActionStatus"`
	ErrorCode    int    `json:"ErrorCode"`
	ErrorInfo    string `json:"ErrorInfo"`
	Data         struct {
		HeartbeatInterval int64 `json:"HeartbeatInterval"`
	} `json:"data"`
}

// login opens connection i and logs it in as user; on failure it returns
// the kind of failure and its first words.
func (h *idleHold) login(ctx context.Context, i int, user, sig string) (*websocket.Conn, string, string) {
	opts := websocket.DialOptions{Subprotocols: []string{client.Subprotocol}}
	if h.loopback {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%sourceAddrs))}}
		opts.NetDialContext = d.DialContext
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := websocket.Dial(dctx, h.endpoint, opts)
	if err != nil {
		var he *websocket.HandshakeError
		if errors.As(err, &he) {
			return nil, "handshake", err.Error()
		}
		return nil, "dial", err.Error()
	}
	frame, _ := json.Marshal(map[string]any{"op": "login", "id": "1", "data": map[string]any{
		"SDKAppID": h.app.SDKAppID, "UserID": user, "UserSig": sig, "Platform": "Web",
	}})
	if err := conn.WriteMessage(websocket.OpText, frame); err != nil {
		conn.CloseNow()
		return nil, "dial", err.Error()
	}
	f, key, sample := awaitReply(conn, "1")
	if key != "" {
		conn.CloseNow()
		return nil, key, sample
	}
	if hb := time.Duration(f.Data.HeartbeatInterval) * time.Second; hb > 0 {
		h.heartbeat.CompareAndSwap(0, int64(hb))
	}
	return conn, "", ""
}

// awaitReply reads conn until the reply to request id, for at most 30s
// (the read deadline is cleared afterwards: an idle connection keeps
// none). A failure comes back as its kind and first words.
func awaitReply(conn *websocket.Conn, id string) (replyFrame, string, string) {
	conn.SetIdleTimeout(30 * time.Second)
	defer conn.SetIdleTimeout(0)
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code >= 4000 {
				return replyFrame{}, "kick " + strconv.Itoa(ce.Code), ce.Reason
			}
			return replyFrame{}, "dial", err.Error()
		}
		var f replyFrame
		if json.Unmarshal(msg, &f) != nil {
			continue
		}
		switch {
		case f.Op == "kick":
			return f, "kick " + strconv.Itoa(f.ErrorCode), f.ErrorInfo
		case f.Op != "reply" || f.ID != id:
			continue
		case f.ActionStatus != "OK" || f.ErrorCode != 0:
			return f, strconv.Itoa(f.ErrorCode), f.ErrorInfo
		}
		return f, "", ""
	}
}

// keepAlive pings every connection each half heartbeat, until stop: any
// frame from the client keeps the server from closing it as idle, and the
// pong the server answers stays unread in the socket's buffer.
func (h *idleHold) keepAlive() {
	defer close(h.stopped)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		period := 15 * time.Second // until a login has told the heartbeat
		if hb := time.Duration(h.heartbeat.Load()); hb > 0 {
			period = max(hb/2, time.Second)
		}
		timer.Reset(period)
		select {
		case <-h.stop:
			return
		case <-timer.C:
		}
		h.mu.Lock()
		conns := h.conns[:len(h.conns):len(h.conns)]
		h.mu.Unlock()
		for _, c := range conns {
			_ = c.WritePing(nil)
		}
	}
}

// checkAlive sends a ping request on every connection and counts those
// that answer it.
func (h *idleHold) checkAlive(ctx context.Context) int {
	var alive atomic.Int64
	h.each(func(c *websocket.Conn) {
		if ctx.Err() != nil {
			return
		}
		if c.WriteMessage(websocket.OpText, []byte(`{"op":"ping","id":"alive"}`)) != nil {
			return
		}
		if _, key, _ := awaitReply(c, "alive"); key == "" {
			alive.Add(1)
		}
	})
	return int(alive.Load())
}

// closeAll stops the pings and closes every connection.
func (h *idleHold) closeAll() {
	h.stopOnce.Do(func() { close(h.stop) })
	<-h.stopped
	h.each(func(c *websocket.Conn) { c.Close(websocket.CloseNormal, "") })
	h.mu.Lock()
	h.conns = nil
	h.mu.Unlock()
}

// each runs f on every connection, dialConcurrency at a time.
func (h *idleHold) each(f func(*websocket.Conn)) {
	h.mu.Lock()
	conns := h.conns[:len(h.conns):len(h.conns)]
	h.mu.Unlock()
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range min(dialConcurrency, len(conns)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				f(conns[i])
			}
		})
	}
	wg.Wait()
}

// listeningLine matches the log line of `parley serve` saying it accepts
// connections, and captures its base URL.
var listeningLine = regexp.MustCompile(`\bmsg=listening\b.*\burl=(https?://\S+)`)

// listeningURL returns the base URL a "listening" log line gives.
func listeningURL(line string) (string, bool) {
	m := listeningLine.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	if _, err := baseURL(m[1]); err != nil {
		return "", false
	}
	return m[1], true
}

// serveProc is a `parley serve` child process.
type serveProc struct {
	cmd     *exec.Cmd
	dataDir string
	tmpDir  bool
	done    chan struct{} // closed once it has exited and its output is read
	err     error         // from Wait, valid after done

	mu   sync.Mutex
	tail []string // the last lines it logged
}

// startServe starts `parley serve` on 127.0.0.1:0 and waits until it says
// where it listens and answers /healthz.
func startServe(ctx context.Context, argv []string, dataDir string) (*serveProc, string, error) {
	if argv == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, "", fmt.Errorf("bench: finding parley's executable: %w", err)
		}
		argv = []string{exe, "serve"}
	}
	if len(argv) == 0 {
		return nil, "", errors.New("bench: empty ServeCommand")
	}
	p := &serveProc{dataDir: dataDir, done: make(chan struct{})}
	if p.dataDir == "" {
		d, err := os.MkdirTemp("", "parley-bench-")
		if err != nil {
			return nil, "", fmt.Errorf("bench: data dir: %w", err)
		}
		p.dataDir, p.tmpDir = d, true
	}
	args := append(append([]string(nil), argv[1:]...), "--addr", "127.0.0.1:0", "--data", p.dataDir, "--log-level", "info")
	p.cmd = exec.Command(argv[0], args...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, "", errors.Join(fmt.Errorf("bench: %w", err), p.removeData())
	}
	if err := p.cmd.Start(); err != nil {
		return nil, "", errors.Join(fmt.Errorf("bench: starting %s: %w", argv[0], err), p.removeData())
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			if p.tail = append(p.tail, line); len(p.tail) > 20 {
				p.tail = p.tail[1:]
			}
			p.mu.Unlock()
			if u, ok := listeningURL(line); ok {
				select {
				case ready <- u:
				default:
				}
			}
		}
		io.Copy(io.Discard, stderr) // a line too long for the scanner
		p.err = p.cmd.Wait()
		close(p.done)
	}()

	fail := func(err error) (*serveProc, string, error) {
		return nil, "", errors.Join(err, p.stop())
	}
	timer := time.NewTimer(30 * time.Second)
	defer timer.Stop()
	var base string
	select {
	case base = <-ready:
	case <-p.done:
		return fail(fmt.Errorf("bench: parley serve exited before listening: %v\n%s", p.err, p.output()))
	case <-timer.C:
		return fail(fmt.Errorf("bench: parley serve did not log that it listens within 30s\n%s", p.output()))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	if err := waitHealthy(ctx, base, 30*time.Second); err != nil {
		return fail(err)
	}
	return p, base, nil
}

func (p *serveProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

func (p *serveProc) removeData() error {
	if p.tmpDir {
		return os.RemoveAll(p.dataDir)
	}
	return nil
}

// stop asks the server to shut down (SIGINT, as Ctrl-C), kills it if it
// has not exited within 20s, and removes its temporary data directory.
func (p *serveProc) stop() error {
	_ = p.cmd.Process.Signal(os.Interrupt)
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	var err error
	select {
	case <-p.done:
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		err = fmt.Errorf("bench: parley serve did not stop within 20s of SIGINT; killed\n%s", p.output())
	}
	return errors.Join(err, p.removeData())
}

// waitHealthy polls base/healthz until it answers 200.
func waitHealthy(ctx context.Context, base string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = errors.New(resp.Status)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("bench: %s/healthz not OK within %v: %v", base, timeout, err)
		}
	}
}
