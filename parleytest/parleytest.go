// Package parleytest boots whole parley servers for end-to-end tests: an
// in-process server.Server on a free port (Start), a signed REST client
// (Client), logged-in clients of the WebSocket client protocol
// (Server.Dial), a real HTTP webhook receiver that records what arrives
// (NewReceiver), and the built `parley` binary run as a child process
// (Binary, StartProc) for tests that must kill a real process.
//
// Everything is torn down with t.Cleanup. Waiting is done by polling or
// channels up to a deadline, never by sleeping a fixed time.
package parleytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/usersig"
)

// Server is an in-process parley server started by Start.
type Server struct {
	*server.Server
}

// Start boots a server.Server on 127.0.0.1:0 with a fresh t.TempDir() data
// directory (unless opts sets Addr or DataDir) and shuts it down when the
// test ends. Logs at warning level and above go to the test output unless
// opts.Logger is set.
func Start(t testing.TB, opts server.Options) *Server {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := server.New(opts)
	if err != nil {
		t.Fatalf("parleytest: %v", err)
	}
	if err := s.Start(); err != nil {
		_ = s.Shutdown(context.Background())
		t.Fatalf("parleytest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("parleytest: shutdown: %v", err)
		}
	})
	return &Server{Server: s}
}

// Client returns a REST client signed as the server's admin.
func (s *Server) Client() *Client { return &Client{URL: s.URL(), App: s.App()} }

// Post makes a signed admin call; see Client.Post.
func (s *Server) Post(t testing.TB, service, command string, body any) map[string]any {
	t.Helper()
	return s.Client().Post(t, service, command, body)
}

// AdminQuery is the query string of a signed admin call; see
// Client.AdminQuery.
func (s *Server) AdminQuery() url.Values { return s.Client().AdminQuery() }

// Client calls a parley server's REST API as the App admin. It works
// against in-process servers and child processes alike.
type Client struct {
	URL  string // base URL, e.g. http://127.0.0.1:8080
	App  server.App
	HTTP *http.Client // nil means http.DefaultClient
}

// AdminQuery returns sdkappid, identifier, usersig (fresh, valid for a
// day), random and contenttype=json.
func (c *Client) AdminQuery() url.Values {
	sig, err := usersig.Gen(usersig.GenParams{
		SDKAppID:   c.App.SDKAppID,
		Key:        c.App.SecretKey,
		Identifier: c.App.Admin,
		Expire:     86400,
	})
	if err != nil {
		// Gen only fails on bad parameters, and App came from a server that
		// validated them.
		panic("parleytest: usersig.Gen: " + err.Error())
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return url.Values{
		"sdkappid":    {strconv.FormatUint(c.App.SDKAppID, 10)},
		"identifier":  {c.App.Admin},
		"usersig":     {sig},
		"random":      {strconv.FormatUint(uint64(binary.BigEndian.Uint32(r[:])), 10)},
		"contenttype": {"json"},
	}
}

// Call posts body to /v4/{service}/{command} with a fresh admin UserSig and
// decodes the answer, numbers as json.Number. body is sent as is when it is
// a string, []byte or json.RawMessage, else marshalled to JSON. Transport
// errors and answers that are not a JSON object are returned as errors.
func (c *Client) Call(ctx context.Context, service, command string, body any) (map[string]any, error) {
	var raw []byte
	switch b := body.(type) {
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	case json.RawMessage:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("parleytest: marshal request: %w", err)
		}
	}
	u := c.URL + "/v4/" + service + "/" + command + "?" + c.AdminQuery().Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil || out == nil {
		return nil, fmt.Errorf("parleytest: %s/%s: HTTP %d, not a JSON object: %q", service, command, resp.StatusCode, b)
	}
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("parleytest: %s/%s: HTTP %d: %s", service, command, resp.StatusCode, b)
	}
	return out, nil
}

// Post is Call that fails the test on transport errors or a non-JSON
// answer. A Tencent error in the envelope is not a failure: check
// ErrorCode.
func (c *Client) Post(t testing.TB, service, command string, body any) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := c.Call(ctx, service, command, body)
	if err != nil {
		t.Fatalf("parleytest: %v", err)
	}
	return out
}

// Int reads an integer field of a decoded answer, e.g. Int(t, resp,
// "ErrorCode"). It fails the test when the field is missing or not an
// integer.
func Int(t testing.TB, m map[string]any, key string) int64 {
	t.Helper()
	v, ok := m[key]
	if !ok {
		t.Fatalf("parleytest: field %q missing in %v", key, m)
	}
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("parleytest: field %q is %T (%v), want a JSON number", key, v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("parleytest: field %q: %v", key, err)
	}
	return i
}

// OK fails the test unless the answer is ActionStatus OK with ErrorCode 0.
func OK(t testing.TB, m map[string]any) {
	t.Helper()
	if m["ActionStatus"] != "OK" || m["ErrorCode"] != json.Number("0") {
		t.Fatalf("parleytest: want OK, got %v", m)
	}
}

// WaitOutboxDrained waits until the server's outbox holds no pending event:
// every webhook has been delivered or dead-lettered and its outcome
// written. Tests that set a test clock forward past the webhooks' leases
// call it first, or events whose outcome is not yet written are sent again.
func (s *Server) WaitOutboxDrained(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pending, err := s.Store().EventList(context.Background(), parley.EventListParams{State: parley.EventPending, Limit: 1})
		if err != nil {
			t.Fatalf("parleytest: list pending events: %v", err)
		}
		if len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("parleytest: outbox still holds pending events after %v, e.g. %s %s (attempts %d, last error %q)",
				timeout, pending[0].ID, pending[0].Command, pending[0].Attempts, pending[0].LastError)
		}
		time.Sleep(5 * time.Millisecond) // polling the store: nothing signals a written outcome
	}
}
