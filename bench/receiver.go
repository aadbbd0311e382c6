package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// okReply is the answer Tencent's docs give for a handled callback; to a
// before-send callback it means "allow".
const okReply = `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`

// failReply is the body of a request refused on purpose (Options.FailRate).
const failReply = `{"ActionStatus":"FAIL","ErrorInfo":"refused by parley bench","ErrorCode":1}`

// httpServer is a real HTTP server on its own listener.
type httpServer struct {
	srv *http.Server
	url string
}

func startHTTP(addr string, h http.Handler) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &httpServer{
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		url: "http://" + ln.Addr().String(),
	}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *httpServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		s.srv.Close()
	}
}

// startBaseline starts the bare handler of the baseline phase: it reads the
// body and answers a fixed reply, the least any server can do.
func startBaseline(reply []byte) (*httpServer, error) {
	s, err := startHTTP("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(reply)
	}))
	if err != nil {
		return nil, fmt.Errorf("bench: baseline server: %w", err)
	}
	return s, nil
}

// receiver is the webhook receiver: it times the first receipt of every
// webhook of the scenario's command by its key, and counts event ids seen
// twice.
type receiver struct {
	*httpServer

	// failRate is the fraction of webhook requests answered HTTP 500, so
	// that parley retries them.
	failRate float64

	mu       sync.Mutex
	sc       *scenario            // nil until setScenario: nothing is timed
	received map[string]time.Time // webhook key → first receipt
	events   map[string]struct{}  // X-Parley-Event-Id values seen
	dups     int
	total    int
	refused  int
}

func startReceiver(addr string, failRate float64) (*receiver, error) {
	r := &receiver{failRate: failRate, received: map[string]time.Time{}, events: map[string]struct{}{}}
	s, err := startHTTP(addr, r)
	if err != nil {
		return nil, fmt.Errorf("bench: webhook receiver: %w", err)
	}
	r.httpServer = s
	return r, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, _ := io.ReadAll(req.Body)
	var ev struct{ CallbackCommand string }
	json.Unmarshal(body, &ev) // a body that does not parse just records nothing
	id := req.Header.Get("X-Parley-Event-Id")

	if r.failRate > 0 && rand.Float64() < r.failRate {
		r.mu.Lock()
		r.total++
		r.refused++
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, failReply)
		return
	}

	r.mu.Lock()
	r.total++
	if id != "" {
		if _, seen := r.events[id]; seen {
			r.dups++
		} else {
			r.events[id] = struct{}{}
		}
	}
	if r.sc != nil && ev.CallbackCommand == r.sc.command {
		if key := r.sc.webhookKey(body); key != "" {
			if _, ok := r.received[key]; !ok {
				r.received[key] = at
			}
		}
	}
	r.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, okReply)
}

// setScenario starts timing the webhooks of sc.
func (r *receiver) setScenario(sc *scenario) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sc = sc
}

// counts returns how many webhook requests arrived, how many of the
// accepted ones repeated an event id accepted before, and how many were
// refused on purpose.
func (r *receiver) counts() (total, duplicates, refused int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total, r.dups, r.refused
}

// waitFor polls until the webhook of every ack has arrived or
// timeout passes, and returns the receipt time of each that did. Running
// out of time is not an error: the caller reports what arrived.
func (r *receiver) waitFor(ctx context.Context, acks []ack, timeout time.Duration) (map[string]time.Time, error) {
	got := make(map[string]time.Time, len(acks))
	pending := make([]string, len(acks))
	for i, a := range acks {
		pending[i] = a.key
	}
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		r.mu.Lock()
		rest := pending[:0]
		for _, k := range pending {
			if at, ok := r.received[k]; ok {
				got[k] = at
			} else {
				rest = append(rest, k)
			}
		}
		r.mu.Unlock()
		pending = rest
		if len(pending) == 0 || time.Now().After(deadline) {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return got, errors.Join(errors.New("bench: waiting for webhooks"), ctx.Err())
		case <-tick.C:
		}
	}
}
