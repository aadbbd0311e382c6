package parleytest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/parleytest"
)

// TestCrashDuringGroupSendsAndExtensions SIGKILLs the server while clients
// send group messages and write the extensions of one message, with every
// webhook refused so all are pending. After a restart against a receiver
// that accepts: every acknowledged group message is in the history, whose
// MsgSeqs run 1..N without a gap; every acknowledged message and extension
// write gets its webhook; the extension webhooks arrive in Seq order; and
// the message's Seq is at least the last acknowledged one.
func TestCrashDuringGroupSendsAndExtensions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	commands := []string{parley.CommandGroupAfterSendMsg, parley.CommandGroupAfterExtension}
	bin := parleytest.Binary(t)
	dir := filepath.Join(t.TempDir(), "data")
	down := parleytest.NewReceiver(t)
	down.SetReply(http.StatusInternalServerError, "down for maintenance")
	p, c := startServe(t, bin, dir, down.URL, commands...)
	for _, id := range []string{"alice", "bob"} {
		parleytest.OK(t, c.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
	}
	parleytest.OK(t, c.Post(t, "group_open_http_svc", "create_group", map[string]any{
		"Owner_Account": "alice", "Type": "Public", "GroupId": "crash", "Name": "crash",
		"MemberList": []map[string]any{{"Member_Account": "bob"}},
	}))
	poll := groupMsg("alice", 0)
	poll["SupportMessageExtension"] = 1
	parleytest.OK(t, c.Post(t, "group_open_http_svc", "send_group_msg", poll)) // MsgSeq 1

	var (
		mu        sync.Mutex
		ackedSeqs = map[uint64]bool{1: true}
		maxExtSeq uint64
		extAcked  int
		random    atomic.Uint32
		wg        sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if i%2 == 0 {
					resp, err := c.Call(ctx, "group_open_http_svc", "send_group_msg", groupMsg("bob", random.Add(1)))
					if err != nil || resp["ErrorCode"] != json.Number("0") {
						continue // cut off by the kill, or refused: no promise made
					}
					seq, _ := resp["MsgSeq"].(json.Number).Int64()
					mu.Lock()
					ackedSeqs[uint64(seq)] = true
					mu.Unlock()
					continue
				}
				resp, err := c.Call(ctx, "openim_msg_ext_http_svc", "group_set_key_values", map[string]any{
					"GroupId": "crash", "MsgSeq": 1, "OperateType": 1,
					"ExtensionList": []map[string]any{{"Key": fmt.Sprint("k", i), "Value": fmt.Sprint(random.Add(1)), "Seq": 0}},
				})
				if err != nil || resp["ErrorCode"] != json.Number("0") {
					continue
				}
				seq := extensionSeq(t, resp)
				mu.Lock()
				maxExtSeq = max(maxExtSeq, seq)
				extAcked++
				mu.Unlock()
			}
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		done := len(ackedSeqs) >= 200 && extAcked >= 200
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d group messages and %d extension writes acknowledged in 60s", len(ackedSeqs), extAcked)
		}
		time.Sleep(2 * time.Millisecond) // poll interval
	}
	p.Kill(t)
	cancel()
	wg.Wait()
	t.Logf("%d group messages and %d extension writes (last Seq %d) acknowledged before the kill", len(ackedSeqs), extAcked, maxExtSeq)

	up := parleytest.NewReceiver(t)
	_, c = startServe(t, bin, dir, up.URL, commands...)

	// The history: gapless 1..N, every acknowledged MsgSeq in it.
	stored := groupHistory(t, c, "crash")
	for i, seq := range stored {
		if seq != uint64(len(stored)-i) {
			t.Fatalf("history MsgSeqs are not N..1 without a gap: %v", stored)
		}
	}
	for seq := range ackedSeqs {
		if seq > uint64(len(stored)) {
			t.Errorf("acknowledged MsgSeq %d is missing: the history ends at %d", seq, len(stored))
		}
	}

	// The webhooks: every stored message's after-send, and every extension
	// Seq up to the message's own, first arrivals in Seq order.
	got := mustOKGet(t, c, map[string]any{"GroupId": "crash", "MsgSeq": 1})
	latest, _ := got["LatestSeq"].(json.Number).Int64()
	if uint64(latest) < maxExtSeq {
		t.Fatalf("message Seq %d after the restart, but Seq %d was acknowledged", latest, maxExtSeq)
	}
	var sentSeqs, extSeqs []uint64
	up.WaitUntil(t, 60*time.Second, func(reqs []parleytest.Request) bool {
		sentSeqs, extSeqs = sentSeqs[:0], extSeqs[:0]
		seen := map[string]bool{}
		for _, r := range reqs {
			id := r.Header.Get("X-Parley-Event-Id")
			if seen[id] {
				continue
			}
			seen[id] = true
			var b struct {
				CallbackCommand string
				MsgSeq, Seq     uint64
			}
			if json.Unmarshal(r.Body, &b) != nil {
				continue
			}
			switch b.CallbackCommand {
			case parley.CommandGroupAfterSendMsg:
				sentSeqs = append(sentSeqs, b.MsgSeq)
			case parley.CommandGroupAfterExtension:
				extSeqs = append(extSeqs, b.Seq)
			}
		}
		return len(sentSeqs) >= len(stored) && len(extSeqs) >= int(latest)
	})
	// One conversation: the group's events arrive in commit order, so
	// its messages' MsgSeqs and the extension Seqs each ascend.
	if !slices.IsSorted(sentSeqs) || len(sentSeqs) != len(stored) || sentSeqs[len(sentSeqs)-1] != uint64(len(stored)) {
		t.Errorf("after-send webhooks: %d, MsgSeqs %v, want 1..%d in order", len(sentSeqs), sentSeqs, len(stored))
	}
	for i, seq := range extSeqs {
		if seq != uint64(i+1) {
			t.Fatalf("extension webhooks arrived with Seqs %v, want 1..%d in order", extSeqs, latest)
		}
	}
}

func groupMsg(from string, random uint32) map[string]any {
	return map[string]any{
		"GroupId": "crash", "From_Account": from, "Random": random,
		"MsgBody": []map[string]any{{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": fmt.Sprintf("message %d", random)}}},
	}
}

// extensionSeq is the Seq a successful group_set_key_values answer gave.
func extensionSeq(t *testing.T, resp map[string]any) uint64 {
	list, _ := resp["ExtensionList"].([]any)
	if len(list) != 1 {
		return 0
	}
	ext, _ := list[0].(map[string]any)["Extension"].(map[string]any)
	seq, _ := ext["Seq"].(json.Number).Int64()
	return uint64(seq)
}

func mustOKGet(t *testing.T, c *parleytest.Client, req map[string]any) map[string]any {
	t.Helper()
	resp := c.Post(t, "openim_msg_ext_http_svc", "group_get_key_values", req)
	parleytest.OK(t, resp)
	return resp
}

// groupHistory pages through group_msg_get_simple and returns the MsgSeqs
// of the group's history, newest first.
func groupHistory(t *testing.T, c *parleytest.Client, groupID string) []uint64 {
	t.Helper()
	var seqs []uint64
	req := map[string]any{"GroupId": groupID, "ReqMsgNumber": 20}
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatal("group_msg_get_simple never finishes")
		}
		resp := c.Post(t, "group_open_http_svc", "group_msg_get_simple", req)
		parleytest.OK(t, resp)
		list, _ := resp["RspMsgList"].([]any)
		for _, m := range list {
			seq, _ := m.(map[string]any)["MsgSeq"].(json.Number).Int64()
			seqs = append(seqs, uint64(seq))
		}
		if parleytest.Int(t, resp, "IsFinished") == 1 || len(list) == 0 {
			return seqs
		}
		req["ReqMsgSeq"] = seqs[len(seqs)-1] - 1
	}
}
