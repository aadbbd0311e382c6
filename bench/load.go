package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadGen is the load generator. Baseline and parley phases use the same
// value: one keep-alive HTTP client, the same users, the same request
// bodies, so the only difference between the phases is the server.
type loadGen struct {
	client  *http.Client
	clients int
	users   []string
	// sc is what the clients send; set once the scenario's setup is done.
	sc *scenario
}

func newLoadGen(clients, users int) *loadGen {
	ids := make([]string, users)
	for i := range ids {
		ids[i] = "bench_" + strconv.Itoa(i)
	}
	tr := &http.Transport{
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		// Every client keeps its connection between requests: without
		// enough idle slots the transport would close and redial, and the
		// bench would measure TCP handshakes.
		MaxIdleConns:        0, // no limit
		MaxIdleConnsPerHost: clients + 1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &loadGen{
		client:  &http.Client{Transport: tr, Timeout: 30 * time.Second},
		clients: clients,
		users:   ids,
	}
}

func (g *loadGen) close() { g.client.CloseIdleConnections() }

// body is the sendmsg request from users[from] to users[to]: a short text
// with random MsgSeq and MsgRandom, so no two messages share the 120 s
// duplicate-suppression key.
func (g *loadGen) body(from, to int) []byte {
	b := make([]byte, 0, 224)
	b = append(b, `{"SyncOtherMachine":1,"From_Account":"`...)
	b = append(b, g.users[from]...)
	b = append(b, `","To_Account":"`...)
	b = append(b, g.users[to]...)
	b = append(b, `","MsgSeq":`...)
	b = strconv.AppendUint(b, uint64(rand.Uint32()), 10)
	b = append(b, `,"MsgRandom":`...)
	b = strconv.AppendUint(b, uint64(rand.Uint32()), 10)
	b = append(b, `,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello from parley bench"}}]}`...)
	return b
}

// randomBody is body for a random pair of distinct users.
func (g *loadGen) randomBody() []byte {
	n := len(g.users)
	from := rand.IntN(n)
	to := rand.IntN(n - 1)
	if to >= from {
		to++
	}
	return g.body(from, to)
}

// envelope is the part of every Tencent REST answer that says whether the
// call succeeded.
type envelope struct {
	ActionStatus string
	ErrorCode    int
	ErrorInfo    string
}

func (e *envelope) status() *envelope { return e }

type sendReply struct {
	envelope
	MsgKey string
}

type importReply struct {
	envelope
	FailAccounts []string
}

// send posts one request of the scenario. endpoint ends with "random=".
// On success it returns the key of the webhook the request causes;
// otherwise errKey names the failure (the Tencent code, "http NNN",
// "transport" or "no key") and sample describes it.
func (g *loadGen) send(ctx context.Context, endpoint string, body []byte, tag string) (key, errKey, sample string) {
	var reply envelope
	answer, errKey, sample := g.postAnswer(ctx, endpoint+randomParam(), body, &reply)
	if errKey != "" {
		return "", errKey, sample
	}
	key, err := g.sc.ackKey(tag, answer)
	if err != nil {
		return "", "no key", truncate(string(answer), 200)
	}
	return key, "", ""
}

// post sends body and decodes the answer into reply; a call whose envelope
// is not OK is a failure named by its ErrorCode.
func (g *loadGen) post(ctx context.Context, u string, body []byte, reply interface{ status() *envelope }) (errKey, sample string) {
	_, errKey, sample = g.postAnswer(ctx, u, body, reply)
	return errKey, sample
}

// postAnswer is post that also returns the answer's bytes.
func (g *loadGen) postAnswer(ctx context.Context, u string, body []byte, reply interface{ status() *envelope }) (answer []byte, errKey, sample string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, "request", err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, "transport", err.Error()
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, "transport", err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "http " + strconv.Itoa(resp.StatusCode), truncate(string(data), 200)
	}
	if err := json.Unmarshal(data, reply); err != nil {
		return nil, "bad reply", truncate(string(data), 200)
	}
	if env := reply.status(); env.ActionStatus != "OK" || env.ErrorCode != 0 {
		return nil, strconv.Itoa(env.ErrorCode), env.ErrorInfo
	}
	return data, "", ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// importUsers imports every user with multiaccount_import, 100 a call (the
// API's limit). Re-importing existing accounts is not an error, so a bench
// can run again against the same server.
func (g *loadGen) importUsers(ctx context.Context, endpoint string) error {
	for start := 0; start < len(g.users); start += 100 {
		batch := g.users[start:min(start+100, len(g.users))]
		var b strings.Builder
		b.WriteString(`{"AccountList":[`)
		for i, id := range batch {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"UserID":"` + id + `"}`)
		}
		b.WriteString(`]}`)
		var reply importReply
		u := endpoint + randomParam()
		if errKey, sample := g.post(ctx, u, []byte(b.String()), &reply); errKey != "" {
			return fmt.Errorf("bench: importing users: %s: %s", errKey, sample)
		}
		if len(reply.FailAccounts) > 0 {
			return fmt.Errorf("bench: importing users: %d failed, e.g. %s", len(reply.FailAccounts), reply.FailAccounts[0])
		}
	}
	return nil
}

// ack is when the client read the OK answer of a request, and the key of
// the webhook it causes.
type ack struct {
	key string
	at  time.Time
}

// phase is what one measured phase of the load generator saw.
type phase struct {
	elapsed      time.Duration
	sent         int
	errors       int
	errorCodes   map[string]int
	errorSamples map[string]string
	latencies    []time.Duration
	acks         []ack
}

// worker is one client's own record; merged after the phase, so the hot
// loop takes no locks.
type worker struct {
	sent         int
	errorCodes   map[string]int
	errorSamples map[string]string
	latencies    []time.Duration
	acks         []ack
}

// run drives endpoint from g.clients goroutines: warmup first (not
// recorded), then dur measured. Only requests started in the measured
// phase are recorded; the phase ends when the last of them has been
// answered, and elapsed runs until then. mark, if not nil, is called with
// true as the measured phase starts and with false once it has ended.
func (g *loadGen) run(ctx context.Context, endpoint string, warmup, dur time.Duration, mark func(start bool)) (phase, error) {
	if mark == nil {
		mark = func(bool) {}
	}
	var measuring, stop atomic.Bool
	workers := make([]worker, g.clients)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		w.errorCodes = map[string]int{}
		w.errorSamples = map[string]string{}
		w.latencies = make([]time.Duration, 0, 4096)
		w.acks = make([]ack, 0, 4096)
		wg.Go(func() {
			for !stop.Load() && ctx.Err() == nil {
				measured := measuring.Load()
				body, tag := g.sc.next()
				t0 := time.Now()
				key, errKey, sample := g.send(ctx, endpoint, body, tag)
				t1 := time.Now()
				if !measured {
					continue
				}
				if errKey != "" {
					if ctx.Err() != nil {
						return
					}
					w.errorCodes[errKey]++
					if _, ok := w.errorSamples[errKey]; !ok {
						w.errorSamples[errKey] = sample
					}
					continue
				}
				w.sent++
				w.latencies = append(w.latencies, t1.Sub(t0))
				w.acks = append(w.acks, ack{key: key, at: t1})
			}
		})
	}

	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	ok := warmup <= 0 || wait(warmup)
	mark(true)
	start := time.Now()
	measuring.Store(true)
	ok = ok && wait(dur)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	mark(false)
	if !ok {
		return phase{}, ctx.Err()
	}

	p := phase{elapsed: elapsed, errorCodes: map[string]int{}, errorSamples: map[string]string{}}
	n := 0
	for i := range workers {
		n += workers[i].sent
	}
	p.latencies = make([]time.Duration, 0, n)
	p.acks = make([]ack, 0, n)
	for i := range workers {
		w := &workers[i]
		p.sent += w.sent
		p.latencies = append(p.latencies, w.latencies...)
		p.acks = append(p.acks, w.acks...)
		for k, v := range w.errorCodes {
			p.errorCodes[k] += v
			p.errors += v
		}
		for k, v := range w.errorSamples {
			if _, ok := p.errorSamples[k]; !ok {
				p.errorSamples[k] = v
			}
		}
	}
	return p, nil
}
