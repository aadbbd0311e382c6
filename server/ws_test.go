package server_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/websocket"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

// TestWebSocketEndpoint: /v1/ws serves the client protocol beside the REST
// API, per server: a REST send reaches a client of the same server, and a
// UserSig of another server's app opens nothing.
func TestWebSocketEndpoint(t *testing.T) {
	a := parleytest.Start(t, server.Options{HeartbeatInterval: 7 * time.Second})
	b := parleytest.Start(t, server.Options{})
	bob := a.Dial(t, "bob")
	if got := bob.HeartbeatInterval(); got != 7*time.Second {
		t.Errorf("login told a heartbeat of %v, want 7s", got)
	}

	parleytest.OK(t, a.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": "alice"}))
	parleytest.OK(t, a.Post(t, "openim", "sendmsg", map[string]any{"From_Account": "alice", "To_Account": "bob", "MsgRandom": 1, "MsgBody": client.TextBody("from the backend")}))
	e := parleytest.NextEvent(t, bob, 5*time.Second)
	if m, err := e.Message(); err != nil || m.From != "alice" || e.ConversationID != "C2Calice" {
		t.Fatalf("bob got %+v (%v)", e, err)
	}

	cfg := a.ClientConfig("bob", "Web")
	cfg.URL = b.WSURL()
	_, err := client.Dial(context.Background(), cfg)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != parley.ErrSDKAppIDInvalid {
		t.Errorf("a's login at b: %v, want 60006", err)
	}
	if got := len(b.Hub().Sessions("bob")); got != 0 {
		t.Errorf("b has %d sessions of bob", got)
	}
}

// TestShutdownClosesWebSockets: Shutdown does not wait for connections
// that have not logged in, and tells every client it is going away.
func TestShutdownClosesWebSockets(t *testing.T) {
	s := parleytest.Start(t, server.Options{})
	c := s.Dial(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pending, err := websocket.Dial(ctx, s.WSURL(), websocket.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pending.CloseNow()

	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Shutdown took %v: it waited for the login timeout", d)
	}
	var kick *client.KickError
	<-c.Done()
	if err := c.Err(); !errors.As(err, &kick) || kick.Code != websocket.CloseGoingAway {
		t.Errorf("the client ended with %v, want a kick 1001", err)
	}
	_, msg, err := pending.ReadMessage()
	if err != nil || !strings.Contains(string(msg), `"op":"kick","ErrorCode":1001`) {
		t.Errorf("the connection not logged in read %s (%v), want a kick 1001", msg, err)
	}
}

func TestNewRejectsBadClientOptions(t *testing.T) {
	tests := []struct {
		name string
		opts server.Options
		want string
	}{
		{"heartbeat", server.Options{HeartbeatInterval: -time.Second}, "heartbeat interval"},
		{"recall window", server.Options{ClientRecallWindow: -time.Second}, "client recall window"},
		{"queue", server.Options{SessionQueueMessages: -1}, "session queue"},
		{"sessions", server.Options{MaxSessionsPerUser: -1}, "max sessions per user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.DataDir = filepath.Join(t.TempDir(), "data")
			s, err := server.New(tt.opts)
			if err == nil {
				s.Shutdown(context.Background())
				t.Fatalf("New succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}
