package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/server"
)

// extensionWebhook is what these tests read of an extension webhook.
type extensionWebhook struct {
	CallbackCommand string
	GroupID         string `json:"GroupId"`
	MsgKey          string
	OperateType     int
	ExtensionList   []parley.ExtensionKV
	Seq             uint64
}

// waitExtension waits for the webhook of command with message-level Seq
// seq and returns it.
func waitExtension(t *testing.T, rcv *parleytest.Receiver, command string, seq uint64) parleytest.Request {
	t.Helper()
	var found parleytest.Request
	rcv.WaitUntil(t, 10*time.Second, func(reqs []parleytest.Request) bool {
		for _, r := range reqs {
			var b extensionWebhook
			if json.Unmarshal(r.Body, &b) == nil && b.CallbackCommand == command && b.Seq == seq {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// noDuplicates fails the test if an event arrived twice: with a receiver
// that always answers OK and no crash, each is delivered once.
func noDuplicates(t *testing.T, rcv *parleytest.Receiver) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range rcv.Requests() {
		id := r.Header.Get("X-Parley-Event-Id")
		if seen[id] {
			t.Errorf("event %s arrived twice: %s", id, r.Body)
		}
		seen[id] = true
	}
}

// TestC2CExtensionWebhooksAreTheSeed replays seed 000 through the REST API:
// set k1..k3, delete them, clear. With the clock at the samples' EventTime,
// each delivered webhook is the sample byte for byte.
func TestC2CExtensionWebhooksAreTheSeed(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	clk := parleytest.NewClock(time.Unix(1764688415, 0))
	srv := parleytest.Start(t, server.Options{CallbackURL: rcv.URL, Now: clk.Now})
	for _, id := range []string{"user1", "user2"} {
		mustOK(t, srv.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
	}
	answer := mustOK(t, srv.Post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "user1", "To_Account": "user2", "MsgSeq": 93847636, "MsgRandom": 1287657,
		"MsgBody": textBody("vote"), "SupportMessageExtension": 1,
	}))
	const msgKey = "93847636_1287657_1764688415"
	if answer["MsgKey"] != msgKey {
		t.Fatalf("sendmsg answer: %v", answer)
	}
	// Setting the clock forward past the webhooks' leases would have
	// events in flight sent again: let them be delivered first.
	srv.WaitOutboxDrained(t, 10*time.Second)
	steps := []struct {
		name      string
		eventTime int64
		request   map[string]any
		answer    string
	}{
		{"set", 1764688540182, map[string]any{"OperateType": 1, "ExtensionList": []map[string]any{
			{"Key": "k1", "Value": "v1", "Seq": 0}, {"Key": "k2", "Value": "v2", "Seq": 0}, {"Key": "k3", "Value": "v3", "Seq": 0},
		}}, `[{"ErrorCode":0,"Extension":{"Key":"k1","Value":"v1","Seq":1}},{"ErrorCode":0,"Extension":{"Key":"k2","Value":"v2","Seq":1}},{"ErrorCode":0,"Extension":{"Key":"k3","Value":"v3","Seq":1}}]`},
		{"delete", 1764688641499, map[string]any{"OperateType": 2, "ExtensionList": []map[string]any{
			{"Key": "k1", "Value": "", "Seq": 1}, {"Key": "k2", "Value": "", "Seq": 1}, {"Key": "k3", "Value": "", "Seq": 1},
		}}, `[{"ErrorCode":0,"Extension":{"Key":"k1","Value":"","Seq":2}},{"ErrorCode":0,"Extension":{"Key":"k2","Value":"","Seq":2}},{"ErrorCode":0,"Extension":{"Key":"k3","Value":"","Seq":2}}]`},
		{"clear", 1764688662721, map[string]any{"OperateType": 3}, `[]`},
	}
	for i, step := range steps {
		srv.WaitOutboxDrained(t, 10*time.Second)
		clk.Set(time.UnixMilli(step.eventTime))
		req := map[string]any{"From_Account": "user1", "To_Account": "user2", "MsgKey": msgKey}
		for k, v := range step.request {
			req[k] = v
		}
		got := mustOK(t, srv.Post(t, "openim_msg_ext_http_svc", "set_key_values", req))
		if !sameJSON(t, got["ExtensionList"], step.answer) {
			t.Errorf("%s: answer ExtensionList\n got: %s\nwant: %s", step.name, compact(t, got["ExtensionList"]), step.answer)
		}
		webhook := waitExtension(t, rcv, parley.CommandC2CAfterExtension, uint64(i+1))
		if want := readSeed(t, parley.CommandC2CAfterExtension+"."+step.name); !bytes.Equal(webhook.Body, want) {
			t.Errorf("%s: webhook differs from seed 000\n got: %s\nwant: %s", step.name, webhook.Body, want)
		}
		if p := webhook.Query.Get("OptPlatform"); p != parley.OptPlatformREST {
			t.Errorf("%s: OptPlatform %q, want RESTAPI", step.name, p)
		}
	}
	noDuplicates(t, rcv)
	got := mustOK(t, srv.Post(t, "openim_msg_ext_http_svc", "get_key_values", map[string]any{
		"From_Account": "user1", "To_Account": "user2", "MsgKey": msgKey,
	}))
	if got["LatestSeq"] != json.Number("3") || got["ClearSeq"] != json.Number("3") || got["CompleteFlag"] != json.Number("1") || compact(t, got["ExtensionList"]) != "[]" {
		t.Errorf("get_key_values after the clear: %v", got)
	}
}

// TestGroupExtensionWebhooksAreTheSeed replays seed 001: group "test", its
// tenth message, whose extensions are at Seq 55 before the three samples.
func TestGroupExtensionWebhooksAreTheSeed(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	clk := parleytest.NewClock(time.Unix(1764688000, 0))
	srv := parleytest.Start(t, server.Options{CallbackURL: rcv.URL, Now: clk.Now})
	for _, id := range []string{"user1", "user2"} {
		mustOK(t, srv.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
	}
	mustOK(t, srv.Post(t, "group_open_http_svc", "create_group", map[string]any{
		"Owner_Account": "user1", "Type": "Public", "GroupId": "test", "Name": "test",
		"MemberList": []map[string]any{{"Member_Account": "user2"}},
	}))
	for i := 1; i <= 10; i++ {
		got := mustOK(t, srv.Post(t, "group_open_http_svc", "send_group_msg", map[string]any{
			"GroupId": "test", "From_Account": "user2", "Random": 1000 + i, "MsgBody": textBody(fmt.Sprint("poll ", i)),
			"SupportMessageExtension": 1,
		}))
		if got["MsgSeq"] != json.Number(fmt.Sprint(i)) {
			t.Fatalf("message %d got MsgSeq %v", i, got["MsgSeq"])
		}
	}
	for i := range 55 {
		mustOK(t, srv.Post(t, "openim_msg_ext_http_svc", "group_set_key_values", map[string]any{
			"GroupId": "test", "MsgSeq": 10, "OperateType": 1,
			"ExtensionList": []map[string]any{{"Key": "key1", "Value": fmt.Sprint("warm-up ", i), "Seq": 0}},
		}))
	}
	// Setting the clock forward past the webhooks' leases would have
	// events in flight sent again: let them be delivered first.
	srv.WaitOutboxDrained(t, 10*time.Second)
	steps := []struct {
		name      string
		eventTime int64
		request   map[string]any
	}{
		{"set", 1764688294360, map[string]any{"OperateType": 1, "ExtensionList": []map[string]any{
			{"Key": "key2", "Value": "value2", "Seq": 0}, {"Key": "key3", "Value": "12122", "Seq": 0},
		}}},
		{"delete", 1764688312045, map[string]any{"OperateType": 2, "ExtensionList": []map[string]any{
			{"Key": "key2", "Value": "", "Seq": 56}, {"Key": "key3", "Value": "", "Seq": 56},
		}}},
		{"clear", 1764688329047, map[string]any{"OperateType": 3}},
	}
	for i, step := range steps {
		srv.WaitOutboxDrained(t, 10*time.Second)
		clk.Set(time.UnixMilli(step.eventTime))
		req := map[string]any{"GroupId": "test", "MsgSeq": 10}
		for k, v := range step.request {
			req[k] = v
		}
		mustOK(t, srv.Post(t, "openim_msg_ext_http_svc", "group_set_key_values", req))
		seq := uint64(56 + i)
		webhook := waitExtension(t, rcv, parley.CommandGroupAfterExtension, seq)
		if want := readSeed(t, parley.CommandGroupAfterExtension+"."+step.name); !bytes.Equal(webhook.Body, want) {
			t.Errorf("%s: webhook differs from seed 001\n got: %s\nwant: %s", step.name, webhook.Body, want)
		}
	}
	noDuplicates(t, rcv)
}

// TestExtensionWebhooksArriveInSeqOrder races REST writers on one message
// while the receiver fails every third request: the receiver still accepts
// the message's webhooks in Seq order, 1 to N, each once, because events of
// one conversation are delivered one after another.
func TestExtensionWebhooksArriveInSeqOrder(t *testing.T) {
	const writers, rounds = 8, 15
	const n = writers * rounds
	var (
		mu          sync.Mutex
		requests    int
		accepted    []uint64
		allAccepted = make(chan struct{})
	)
	rcv := parleytest.NewReceiver(t)
	rcv.SetHandler(func(r parleytest.Request) (int, string) {
		var b extensionWebhook
		if json.Unmarshal(r.Body, &b) != nil || b.CallbackCommand != parley.CommandC2CAfterExtension {
			return 200, parleytest.OKReply
		}
		mu.Lock()
		defer mu.Unlock()
		requests++
		if requests%3 == 0 {
			return 500, "try again"
		}
		accepted = append(accepted, b.Seq)
		if len(accepted) == n {
			close(allAccepted)
		}
		return 200, parleytest.OKReply
	})
	srv := parleytest.Start(t, server.Options{
		CallbackURL:      rcv.URL,
		CallbackCommands: []string{parley.CommandC2CAfterExtension},
		RetrySchedule:    []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond},
	})
	for _, id := range []string{"user1", "user2"} {
		mustOK(t, srv.Post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": id}))
	}
	sent := mustOK(t, srv.Post(t, "openim", "sendmsg", map[string]any{
		"From_Account": "user1", "To_Account": "user2", "MsgRandom": 1, "MsgBody": textBody("poll"), "SupportMessageExtension": 1,
	}))
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	client := srv.Client()
	for w := range writers {
		wg.Go(func() {
			for r := range rounds {
				got, err := client.Call(t.Context(), "openim_msg_ext_http_svc", "set_key_values", map[string]any{
					"From_Account": "user1", "To_Account": "user2", "MsgKey": sent["MsgKey"], "OperateType": 1,
					"ExtensionList": []map[string]any{{"Key": "votes", "Value": fmt.Sprintf("w%d r%d", w, r), "Seq": 0}},
				})
				if err != nil || got["ErrorCode"] != json.Number("0") {
					errs <- fmt.Errorf("writer %d round %d: %v %v", w, r, got, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case <-allAccepted:
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("after 30s only %d of %d webhooks accepted: %v", len(accepted), n, accepted)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, seq := range accepted {
		if seq != uint64(i+1) {
			t.Fatalf("webhook %d accepted has Seq %d; accepted order: %v", i+1, seq, accepted)
		}
	}
}

// sameJSON reports whether v (an answer field, decoded) holds the same
// JSON value as want. Key order is lost in decoding; the REST package's
// golden tests hold the answers' key order.
func sameJSON(t *testing.T, v any, want string) bool {
	t.Helper()
	return compact(t, v) == compact(t, decodeJSON(t, want))
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

// compact returns v (an answer field) as compact JSON.
func compact(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
