package parleytest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/usersig"
)

// retrySchedule keeps webhooks pending, retried about every second, for
// far longer than a test takes: none is dead-lettered before the kill.
func retrySchedule() string { return strings.TrimSuffix(strings.Repeat("1s,", 60), ",") }

// startServe runs `parley serve` on dataDir with its webhooks going to
// callbackURL, and returns the process and an admin client for it. Only
// the given callback commands are on; none given means
// C2C.CallbackAfterSendMsg.
func startServe(t *testing.T, bin, dataDir, callbackURL string, commands ...string) (*parleytest.Proc, *parleytest.Client) {
	t.Helper()
	if len(commands) == 0 {
		commands = []string{parley.CommandC2CAfterSendMsg}
	}
	p := parleytest.StartProc(t, bin, "serve",
		"--addr", "127.0.0.1:0",
		"--data", dataDir,
		"--callback-url", callbackURL,
		"--callback-commands", strings.Join(commands, ","),
		"--retry-schedule", retrySchedule(),
		"--group-msg-rate", "0",
		"--log-level", "info")
	app, err := server.LoadApp(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	// A client of its own, so no keep-alive connection outlives the process.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return p, &parleytest.Client{URL: p.URL, App: app, HTTP: hc}
}

func sendmsg(from, to string, random uint32) map[string]any {
	return map[string]any{
		"From_Account": from, "To_Account": to, "MsgRandom": random,
		"MsgBody": []map[string]any{{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": fmt.Sprintf("message %d", random)}}},
	}
}

// startRefusingWebhooks builds the binary and runs it on a fresh data
// directory whose webhook receiver answers 500, so every webhook stays
// pending; alice and bob are imported.
func startRefusingWebhooks(t *testing.T) (bin, dir string, down *parleytest.Receiver, p *parleytest.Proc, c *parleytest.Client) {
	t.Helper()
	bin = parleytest.Binary(t)
	dir = filepath.Join(t.TempDir(), "data")
	down = parleytest.NewReceiver(t)
	down.SetReply(http.StatusInternalServerError, "down for maintenance")
	p, c = startServe(t, bin, dir, down.URL)
	parleytest.OK(t, c.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": "alice"}))
	parleytest.OK(t, c.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": "bob"}))
	return bin, dir, down, p, c
}

// TestCrashWithPendingWebhooks acknowledges messages whose webhooks the
// receiver refuses, SIGKILLs the server, restarts it against a receiver
// that accepts, and checks that every acknowledged message is in history
// and gets its C2C.CallbackAfterSendMsg.
func TestCrashWithPendingWebhooks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	bin, dir, down, p, c := startRefusingWebhooks(t)

	const n = 50
	acked := make([]string, 0, n)
	for i := range n {
		resp := c.Post(t, "openim", "sendmsg", sendmsg("alice", "bob", uint32(i+1)))
		parleytest.OK(t, resp)
		acked = append(acked, resp["MsgKey"].(string))
	}
	// The webhooks were attempted, and refused.
	down.WaitFor(t, 1, 10*time.Second)
	p.Kill(t)

	up := parleytest.NewReceiver(t)
	p, c = startServe(t, bin, dir, up.URL)
	checkSurvived(t, c, up, acked)
	checkChangeLog(t, p, c, "bob", "alice", acked)
}

// TestCrashDuringConcurrentSends SIGKILLs the server while sendmsg calls
// are being fired at it from several clients. Every call answered OK
// before the kill must be in history after the restart and get its
// webhook; calls cut off by the kill have no known outcome and are not
// checked.
func TestCrashDuringConcurrentSends(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	bin, dir, _, p, c := startRefusingWebhooks(t)

	var (
		mu     sync.Mutex
		acked  []string
		random atomic.Uint32
		wg     sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				resp, err := c.Call(ctx, "openim", "sendmsg", sendmsg("alice", "bob", random.Add(1)))
				if err != nil || resp["ErrorCode"] != json.Number("0") {
					continue // cut off by the kill, or refused: no promise made
				}
				mu.Lock()
				acked = append(acked, resp["MsgKey"].(string))
				mu.Unlock()
			}
		})
	}

	// Kill once a good number of messages are acknowledged, with the
	// clients still sending.
	const enough = 300
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got := len(acked)
		mu.Unlock()
		if got >= enough {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d messages acknowledged in 60s", got)
		}
		time.Sleep(2 * time.Millisecond) // poll interval
	}
	p.Kill(t)
	cancel()
	wg.Wait()
	t.Logf("%d messages acknowledged before the kill", len(acked))

	up := parleytest.NewReceiver(t)
	p, c = startServe(t, bin, dir, up.URL)
	checkSurvived(t, c, up, acked)
	checkChangeLog(t, p, c, "bob", "alice", acked)
}

// checkChangeLog logs in to the restarted server as user over WebSocket and
// syncs its conversation with peer from the start: the change log must
// hold exactly the stored messages, Seq 1..Head without a gap, each
// acknowledged MsgKey once, because each message and its change commit
// together.
func checkChangeLog(t *testing.T, p *parleytest.Proc, c *parleytest.Client, user, peer string, acked []string) {
	t.Helper()
	sig, err := usersig.Gen(usersig.GenParams{SDKAppID: c.App.SDKAppID, Key: c.App.SecretKey, Identifier: user, Expire: 3600})
	if err != nil {
		t.Fatal(err)
	}
	cfg := client.Config{
		URL:      "ws" + strings.TrimPrefix(p.URL, "http") + server.WSPath,
		SDKAppID: c.App.SDKAppID,
		UserID:   user,
		UserSig:  sig,
		Platform: "Web",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", cfg.URL, err)
	}
	defer cl.Close()
	seen := map[string]int{}
	var after, head uint64
	for {
		page, err := cl.SyncConversation(ctx, client.C2CConversationID(peer), after, 500)
		if err != nil {
			t.Fatalf("sync after %d: %v", after, err)
		}
		for _, ch := range page.Changes {
			if ch.Seq != after+1 {
				t.Fatalf("change log jumps from %d to %d", after, ch.Seq)
			}
			after = ch.Seq
			m, err := ch.Message()
			if err != nil {
				t.Fatalf("change %d: %v", ch.Seq, err)
			}
			seen[m.MsgKey]++
		}
		head = page.Head
		if page.Complete {
			break
		}
	}
	if after != head {
		t.Errorf("synced up to %d, head %d", after, head)
	}
	stored := roamAll(t, c, user, peer)
	if len(seen) != len(stored) || int(head) != len(stored) {
		t.Errorf("change log holds %d messages (head %d), history %d", len(seen), head, len(stored))
	}
	for _, k := range acked {
		if seen[k] != 1 {
			t.Errorf("acknowledged message %s is in the change log %d times", k, seen[k])
		}
	}
}

// checkSurvived waits until every acknowledged MsgKey's after-send webhook
// has reached rcv, with one stable event id per message, and checks that
// every one is in alice's history with bob.
func checkSurvived(t *testing.T, c *parleytest.Client, rcv *parleytest.Receiver, acked []string) {
	t.Helper()
	want := make(map[string]bool, len(acked))
	for _, k := range acked {
		want[k] = true
	}
	if len(want) != len(acked) {
		t.Fatalf("%d acknowledged messages share MsgKeys: %d distinct", len(acked), len(want))
	}

	eventIDs := map[string]map[string]bool{} // MsgKey → event ids seen
	covered := func(reqs []parleytest.Request) bool {
		clear(eventIDs)
		for _, r := range reqs {
			var body parley.AfterSendMsg
			if err := json.Unmarshal(r.Body, &body); err != nil {
				continue
			}
			if eventIDs[body.MsgKey] == nil {
				eventIDs[body.MsgKey] = map[string]bool{}
			}
			eventIDs[body.MsgKey][r.Header.Get("X-Parley-Event-Id")] = true
		}
		for k := range want {
			if eventIDs[k] == nil {
				return false
			}
		}
		return true
	}
	rcv.WaitUntil(t, 60*time.Second, covered)
	for k := range want {
		if ids := eventIDs[k]; len(ids) != 1 || ids[""] {
			t.Errorf("message %s: webhook event ids %v, want one stable non-empty id", k, ids)
		}
	}

	stored := roamAll(t, c, "alice", "bob")
	for k := range want {
		if !stored[k] {
			t.Errorf("acknowledged message %s is missing from admin_getroammsg", k)
		}
	}
}

// roamAll pages through admin_getroammsg and returns every MsgKey of
// operator's history with peer.
func roamAll(t *testing.T, c *parleytest.Client, operator, peer string) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	req := map[string]any{
		"Operator_Account": operator, "Peer_Account": peer,
		"MaxCnt": 100, "MinTime": 0, "MaxTime": time.Now().Add(time.Hour).Unix(),
	}
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatal("admin_getroammsg never completes")
		}
		resp := c.Post(t, "openim", "admin_getroammsg", req)
		parleytest.OK(t, resp)
		list, _ := resp["MsgList"].([]any)
		for _, m := range list {
			key, _ := m.(map[string]any)["MsgKey"].(string)
			keys[key] = true
		}
		if parleytest.Int(t, resp, "Complete") == 1 || len(list) == 0 {
			return keys
		}
		req["LastMsgKey"] = resp["LastMsgKey"]
		req["MaxTime"] = resp["LastMsgTime"]
	}
}
