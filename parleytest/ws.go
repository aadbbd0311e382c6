package parleytest

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/usersig"
)

// UserSig returns a UserSig for user, signed with the server's key, valid
// for a year from now (so a test clock moved forward stays within it).
func (s *Server) UserSig(user string) string {
	sig, err := usersig.Gen(usersig.GenParams{
		SDKAppID:   s.App().SDKAppID,
		Key:        s.App().SecretKey,
		Identifier: user,
		Expire:     365 * 86400,
	})
	if err != nil {
		// Gen only fails on bad parameters, and App came from a server that
		// validated them.
		panic("parleytest: usersig.Gen: " + err.Error())
	}
	return sig
}

// ClientConfig returns what a client needs to log in to s as user from
// platform: the WebSocket URL, the app's SDKAppID and a fresh UserSig.
func (s *Server) ClientConfig(user, platform string) client.Config {
	return client.Config{
		URL:      s.WSURL(),
		SDKAppID: s.App().SDKAppID,
		UserID:   user,
		UserSig:  s.UserSig(user),
		Platform: platform,
	}
}

// Dial connects a client logged in as user from the Web platform and
// closes it when the test ends. It fails the test if the login fails.
func (s *Server) Dial(t testing.TB, user string) *client.Client {
	t.Helper()
	return s.DialConfig(t, s.ClientConfig(user, "Web"))
}

// DialConfig connects a client with cfg (see ClientConfig) and closes it
// when the test ends. It fails the test if the login fails.
func (s *Server) DialConfig(t testing.TB, cfg client.Config) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("parleytest: dial %s as %q: %v", cfg.URL, cfg.UserID, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// NextEvent waits for c's next event, failing the test if none comes
// within timeout or the client ends first.
func NextEvent(t testing.TB, c *client.Client, timeout time.Duration) client.Event {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case e, ok := <-c.Events():
		if !ok {
			t.Fatalf("parleytest: %s's client ended while waiting for an event: %v", c.UserID(), c.Err())
		}
		return e
	case <-timer.C:
		t.Fatalf("parleytest: no event for %s within %v", c.UserID(), timeout)
	}
	return client.Event{}
}
