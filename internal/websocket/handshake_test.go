package websocket_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/websocket"
)

func TestAcceptKey(t *testing.T) {
	// RFC 6455 section 1.3.
	if got, want := websocket.AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("AcceptKey = %q, want %q", got, want)
	}
}

func FuzzAcceptKey(f *testing.F) {
	f.Add("dGhlIHNhbXBsZSBub25jZQ==")
	f.Add("")
	f.Fuzz(func(t *testing.T, key string) {
		sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		if got, want := websocket.AcceptKey(key), base64.StdEncoding.EncodeToString(sum[:]); got != want {
			t.Errorf("AcceptKey(%q) = %q, want %q", key, got, want)
		}
	})
}

func TestHandshakeRefused(t *testing.T) {
	upgradeErr := make(chan error, 1)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Upgrade(w, r, websocket.UpgradeOptions{
			CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") != "https://evil.example" },
		})
		if c != nil {
			c.CloseNow()
		}
		upgradeErr <- err
	}))
	defer s.Close()

	good := http.Header{
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Sec-Websocket-Version": {"13"},
		"Sec-Websocket-Key":     {testKey},
	}
	with := func(name, value string) http.Header {
		h := good.Clone()
		if value == "" {
			h.Del(name)
		} else {
			h.Set(name, value)
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		method string
		header http.Header
		status int
	}{
		{"missing key", "GET", with("Sec-WebSocket-Key", ""), http.StatusBadRequest},
		{"key of 15 bytes", "GET", with("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(make([]byte, 15))), http.StatusBadRequest},
		{"key not base64", "GET", with("Sec-WebSocket-Key", "not base64 at all!!!!!!="), http.StatusBadRequest},
		{"version 8", "GET", with("Sec-WebSocket-Version", "8"), http.StatusUpgradeRequired},
		{"no version", "GET", with("Sec-WebSocket-Version", ""), http.StatusUpgradeRequired},
		{"POST", "POST", good, http.StatusMethodNotAllowed},
		{"no Upgrade", "GET", with("Upgrade", ""), http.StatusBadRequest},
		{"Upgrade: h2c", "GET", with("Upgrade", "h2c"), http.StatusBadRequest},
		{"Connection: keep-alive", "GET", with("Connection", "keep-alive"), http.StatusBadRequest},
		{"refused origin", "GET", with("Origin", "https://evil.example"), http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, s.URL, nil)
			req.Header = tc.header
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %s, want %d", resp.Status, tc.status)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", ct)
			}
			if tc.status == http.StatusUpgradeRequired && resp.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Errorf("426 without Sec-WebSocket-Version: 13")
			}
			if err := recv(t, upgradeErr); err == nil {
				t.Error("Upgrade returned no error")
			}
		})
	}

	// Header values are token lists, compared without regard to case.
	req, _ := http.NewRequest("GET", s.URL, nil)
	req.Header = with("Connection", "keep-alive, UPGRADE")
	req.Header.Set("Upgrade", "WebSocket")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Errorf("got %s, Sec-WebSocket-Accept %q; want 101 with the RFC's accept value", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	if err := recv(t, upgradeErr); err != nil {
		t.Errorf("Upgrade: %v", err)
	}
}

func TestSubprotocols(t *testing.T) {
	for _, tc := range []struct {
		name           string
		server, client []string
		want           string
	}{
		{"server's preference wins", []string{"parley.v2", "parley.v1"}, []string{"parley.v1", "parley.v2"}, "parley.v2"},
		{"one in common", []string{"parley.v2", "parley.v1"}, []string{"mqtt", "parley.v1"}, "parley.v1"},
		{"none in common", []string{"parley.v1"}, []string{"mqtt"}, ""},
		{"none offered", []string{"parley.v1"}, nil, ""},
		{"none served", nil, []string{"parley.v1"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, conns := serveCh(t, websocket.UpgradeOptions{Subprotocols: tc.server})
			c := dial(t, url, websocket.DialOptions{Subprotocols: tc.client})
			if got := c.Subprotocol(); got != tc.want {
				t.Errorf("client's subprotocol %q, want %q", got, tc.want)
			}
			if got := recv(t, conns).Subprotocol(); got != tc.want {
				t.Errorf("server's subprotocol %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDialChecksAnswer(t *testing.T) {
	for _, tc := range []struct {
		name, header, want string
	}{
		{"subprotocol not offered", "Sec-WebSocket-Protocol: other\r\n", "not offered"},
		{"extension not offered", "Sec-WebSocket-Extensions: permessage-deflate\r\n", "extension"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := rawServer(t, tc.header, nil, nil)
			_, err := websocket.Dial(context.Background(), url, websocket.DialOptions{Subprotocols: []string{"parley.v1"}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Dial: %v, want an error about %q", err, tc.want)
			}
		})
	}

	t.Run("wrong accept", func(t *testing.T) {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, _, _ := http.NewResponseController(w).Hijack()
			defer conn.Close()
			conn.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"))
		}))
		defer s.Close()
		if _, err := websocket.Dial(context.Background(), wsURL(s), websocket.DialOptions{}); err == nil || !strings.Contains(err.Error(), "Accept") {
			t.Errorf("Dial: %v, want an error about Sec-WebSocket-Accept", err)
		}
	})
}

func TestDialNon101(t *testing.T) {
	body := strings.Repeat("no room at the inn. ", 100)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, body, http.StatusServiceUnavailable)
	}))
	defer s.Close()
	_, err := websocket.Dial(context.Background(), wsURL(s), websocket.DialOptions{})
	var he *websocket.HandshakeError
	if !errors.As(err, &he) {
		t.Fatalf("Dial: %v, want a *HandshakeError", err)
	}
	if he.StatusCode != 503 || !strings.Contains(err.Error(), "503 Service Unavailable") || !strings.Contains(err.Error(), "no room at the inn") {
		t.Errorf("Dial: %v, want the status and the body", err)
	}
	if len(he.Body) != 512 {
		t.Errorf("body of %d bytes, want the first 512", len(he.Body))
	}
}

func TestDialHonoursContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts into the backlog, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = websocket.Dial(ctx, "ws://"+ln.Addr().String()+"/", websocket.DialOptions{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Dial took %v", d)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := websocket.Dial(ctx, "ws://"+ln.Addr().String()+"/", websocket.DialOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial: %v, want context.Canceled", err)
	}
}

func TestDialOptions(t *testing.T) {
	gotHeader := make(chan http.Header, 1)
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader <- r.Header.Clone()
		c, err := websocket.Upgrade(w, r, websocket.UpgradeOptions{})
		if err != nil {
			return
		}
		defer c.CloseNow()
		echo(c)
	}))
	defer s.Close()
	dialed := make(chan string, 1)
	c := dial(t, "wss"+strings.TrimPrefix(s.URL, "https"), websocket.DialOptions{
		Header:    http.Header{"Origin": {"https://app.example"}, "Sec-Websocket-Key": {"overridden"}},
		TLSConfig: s.Client().Transport.(*http.Transport).TLSClientConfig,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed <- addr
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	})
	if got := recv(t, dialed); got != strings.TrimPrefix(s.URL, "https://") {
		t.Errorf("NetDialContext got %q", got)
	}
	h := recv(t, gotHeader)
	if h.Get("Origin") != "https://app.example" || h.Get("Sec-WebSocket-Key") == "overridden" {
		t.Errorf("request headers %v: want the Origin given and a fresh key", h)
	}
	if err := c.WriteMessage(websocket.OpText, []byte("over TLS")); err != nil {
		t.Fatal(err)
	}
	if _, p, err := c.ReadMessage(); err != nil || string(p) != "over TLS" {
		t.Errorf("got %q %v", p, err)
	}
}

func TestBadOptions(t *testing.T) {
	if _, err := websocket.Dial(context.Background(), "ws://127.0.0.1:1/", websocket.DialOptions{ReadLimit: -1}); err == nil {
		t.Error("Dial accepted a negative ReadLimit")
	}
	if _, err := websocket.Dial(context.Background(), "ftp://127.0.0.1:1/", websocket.DialOptions{}); err == nil {
		t.Error("Dial accepted ftp://")
	}
}
