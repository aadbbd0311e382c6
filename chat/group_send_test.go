package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/delivery"
	"github.com/parley-im/parley/parleytest"
)

func (e *env) sendGroupOK(t testing.TB, p chat.SendGroupParams) chat.SendGroupResult {
	t.Helper()
	res, err := e.eng.SendGroup(context.Background(), p)
	if err != nil {
		t.Fatalf("SendGroup(%s in %s): %v", p.From, p.GroupID, err)
	}
	return res
}

// groupMessages returns a group's stored messages, newest first.
func (e *env) groupMessages(t testing.TB, groupID string) []*parley.GroupMessage {
	t.Helper()
	ms, err := e.store.GroupMessageList(context.Background(), parley.GroupMessageListParams{GroupID: groupID, Limit: 10000})
	if err != nil {
		t.Fatalf("GroupMessageList(%q): %v", groupID, err)
	}
	return ms
}

// groupAfterSend decodes the group after-send events, in commit order.
func (e *env) groupAfterSend(t testing.TB) []parley.GroupAfterSendMsg {
	t.Helper()
	var out []parley.GroupAfterSendMsg
	for _, ev := range e.events(t, parley.CommandGroupAfterSendMsg) {
		var b parley.GroupAfterSendMsg
		if err := json.Unmarshal(ev.Body, &b); err != nil {
			t.Fatalf("event %s body %s: %v", ev.ID, ev.Body, err)
		}
		out = append(out, b)
	}
	return out
}

// addMember adds a member with the given fields straight to the store, for
// states no API sets yet (ShutUpUntil).
func (e *env) addMember(t testing.TB, m parley.GroupMember) {
	t.Helper()
	if m.Role == "" {
		m.Role = parley.RoleMember
	}
	m.MsgFlag = parley.MsgFlagAcceptAndNotify
	if _, err := e.store.GroupMemberAdd(context.Background(), parley.GroupMemberAddParams{GroupID: m.GroupID, Members: []parley.GroupMember{m}}); err != nil {
		t.Fatalf("GroupMemberAdd(%+v): %v", m, err)
	}
}

// receiverCaller returns a before-callback Caller that posts to a real
// receiver.
func receiverCaller(t testing.TB, rcv *parleytest.Receiver) chat.Caller {
	t.Helper()
	c, err := delivery.NewCaller(delivery.CallerConfig{URL: rcv.URL, SDKAppID: 1400000001, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("delivery.NewCaller: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var msgIDPattern = regexp.MustCompile(`^[1-9][0-9]{17}-[0-9]+-[0-9]+$`)

func TestSendGroupRules(t *testing.T) {
	e := setup(t, func(c *chat.Config) { c.RestrictedWords = []string{"forbidden"} })
	ctx := context.Background()
	e.importUsers(t, "o", "adm", "m", "muted", "wasmuted", "out")
	g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "g", Owner: "o", Members: members("adm:Admin", "m")})
	e.addMember(t, parley.GroupMember{GroupID: g, UserID: "muted", ShutUpUntil: t0.Unix() + 1})
	e.addMember(t, parley.GroupMember{GroupID: g, UserID: "wasmuted", ShutUpUntil: t0.Unix()})
	quiet := &parley.Group{ID: "quiet", Type: parley.GroupPublic, Owner: "o", Name: "q", MaxMemberCount: 2000, ApplyJoinOption: "NeedPermission", ShutUpAll: true, CreateTime: t0.Unix(), LastInfoTime: t0.Unix()}
	if err := e.store.GroupInsert(ctx, quiet); err != nil {
		t.Fatal(err)
	}
	e.addMember(t, parley.GroupMember{GroupID: quiet.ID, UserID: "o", Role: parley.RoleOwner})
	e.addMember(t, parley.GroupMember{GroupID: quiet.ID, UserID: "adm", Role: parley.RoleAdmin})
	e.addMember(t, parley.GroupMember{GroupID: quiet.ID, UserID: "m"})
	live := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupAVChatRoom, GroupID: "live"})

	fifty := make([]string, 0, 51)
	for range 51 {
		fifty = append(fifty, "m")
	}
	p := func(group, from string, f func(*chat.SendGroupParams)) chat.SendGroupParams {
		sp := chat.SendGroupParams{GroupID: group, From: from, Random: 1, Body: textBody("hi")}
		if f != nil {
			f(&sp)
		}
		return sp
	}
	refused := []struct {
		name string
		p    chat.SendGroupParams
		code int
		info string // a part of the ErrorInfo, when it matters
	}{
		{"malformed GroupId", p("a\x00b", "m", nil), parley.ErrGroupIDInvalid, ""},
		{"empty GroupId", p("", "m", nil), parley.ErrGroupIDInvalid, ""},
		{"no such group", p("nope", "m", nil), parley.ErrGroupNotFound, ""},
		{"priority", p(g, "m", func(p *chat.SendGroupParams) { p.Priority = "Urgent" }), parley.ErrGroupInvalidParam, "MsgPriority"},
		{"body not an array", p(g, "m", func(p *chat.SendGroupParams) { p.Body = json.RawMessage(`{}`) }), parley.ErrGroupInvalidParam, "not an array"},
		{"body missing", p(g, "m", func(p *chat.SendGroupParams) { p.Body = nil }), parley.ErrGroupInvalidParam, ""},
		{"bad element", p(g, "m", func(p *chat.SendGroupParams) {
			p.Body = json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{}}]`)
		}), parley.ErrGroupInvalidParam, "MsgBody[0].MsgContent.Text is missing"},
		{"body over 12 KB", p(g, "m", func(p *chat.SendGroupParams) { p.Body = textBody(strings.Repeat("x", 12*1024+1)) }), parley.ErrMsgBodyTooLarge, ""},
		{"51 targets", p(g, "m", func(p *chat.SendGroupParams) { p.To = fifty }), parley.ErrGroupInvalidParam, ""},
		{"target not a member", p(g, "m", func(p *chat.SendGroupParams) { p.To = []string{"adm", "out"} }), parley.ErrGroupInvalidParam, `"out"`},
		{"target invalid", p(g, "m", func(p *chat.SendGroupParams) { p.To = []string{"a b"} }), parley.ErrGroupInvalidParam, ""},
		{"GroupAtInfo not an array", p(g, "m", func(p *chat.SendGroupParams) { p.AtInfo = json.RawMessage(`{}`) }), parley.ErrGroupInvalidParam, "GroupAtInfo"},
		{"sender not imported", p(g, "ghost", nil), parley.ErrGroupUserNotExist, ""},
		{"sender invalid", p(g, "a b", nil), parley.ErrGroupUserNotExist, ""},
		{"sender not a member", p(g, "out", nil), parley.ErrGroupNotPermitted, ""},
		{"sender muted", p(g, "muted", nil), parley.ErrGroupMuted, ""},
		{"group muted, a member", p(quiet.ID, "m", nil), parley.ErrGroupMuted, ""},
		{"AVChatRoom, sender not imported", p(live, "ghost", nil), parley.ErrGroupUserNotExist, ""},
		{"restricted word", p(g, "m", func(p *chat.SendGroupParams) { p.Body = textBody("so FORBIDDEN") }), parley.ErrSensitiveText, ""},
		{"restricted word, online only", p(g, "m", func(p *chat.SendGroupParams) { p.Body = textBody("forbidden"); p.OnlineOnly = true }), parley.ErrSensitiveText, ""},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.eng.SendGroup(ctx, tt.p)
			pe := wantCode(t, err, tt.code)
			if !strings.Contains(pe.Info, tt.info) {
				t.Errorf("Info = %q, want it to mention %q", pe.Info, tt.info)
			}
		})
	}
	for _, id := range []string{g, quiet.ID, live} {
		if got := e.groupMessages(t, id); len(got) != 0 {
			t.Errorf("%d messages stored in %s after refused sends, want 0", len(got), id)
		}
	}
	if got := e.events(t, ""); len(got) != 0 {
		t.Errorf("%d events after refused sends, want 0", len(got))
	}

	allowed := []struct {
		name string
		p    chat.SendGroupParams
	}{
		{"the admin, by default", p(g, "", nil)},
		{"the admin, by name, in a muted group", p(quiet.ID, "admin", nil)},
		{"the owner in a muted group", p(quiet.ID, "o", nil)},
		{"an admin in a muted group", p(quiet.ID, "adm", nil)},
		{"a member whose mute ended", p(g, "wasmuted", nil)},
		{"anyone imported in an AVChatRoom", p(live, "out", nil)},
		{"every priority", p(g, "m", func(p *chat.SendGroupParams) { p.Priority = "Lowest" })},
		{"50 targets, repeats dropped", p(g, "m", func(p *chat.SendGroupParams) { p.To = slices.Concat(fifty[:49], []string{"adm"}) })},
		{"GroupAtInfo", p(g, "m", func(p *chat.SendGroupParams) {
			p.AtInfo = json.RawMessage(`[{"GroupAtAllFlag":0,"GroupAt_Account":"adm"}]`)
		})},
	}
	for i, tt := range allowed {
		t.Run(tt.name, func(t *testing.T) {
			tt.p.Random = uint32(100 + i) // no duplicates
			res := e.sendGroupOK(t, tt.p)
			if res.MsgSeq == 0 || res.MsgTime != t0.Unix() || res.MsgDropReason != "" {
				t.Errorf("result = %+v", res)
			}
		})
	}
	ms := e.groupMessages(t, g)
	if got := ms[1].To; !slices.Equal(got, []string{"m", "adm"}) {
		t.Errorf("targets stored = %q, want [m adm]", got)
	}
	if got := string(ms[0].AtInfo); got != `[{"GroupAtAllFlag":0,"GroupAt_Account":"adm"}]` {
		t.Errorf("GroupAtInfo stored = %s", got)
	}
	if ms[len(ms)-1].From != "admin" {
		t.Errorf("the default sender = %q, want the admin", ms[len(ms)-1].From)
	}
}

func TestSendGroupStoresAndEmits(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.importUsers(t, "o", "m")
	// A GroupId may hold quotes: the event's MsgSeq must still land in
	// its own field.
	g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: `x,"MsgSeq":0,y`, Owner: "o", Members: members("m")})
	origin := parley.Origin{ClientIP: "192.0.2.9", OptPlatform: parley.OptPlatformREST}
	e.clock.Advance(30 * time.Second)
	in := json.RawMessage(`[ {"MsgType":"TIMTextElem", "MsgContent":{"Text":"hi <you> & me"}} ]`)
	compact := `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi <you> & me"}}]`
	now := t0.Add(30 * time.Second)
	res := e.sendGroupOK(t, chat.SendGroupParams{
		GroupID: g, From: "m", Random: 4026038328, Priority: "High", Body: in, CloudCustomData: `,"MsgSeq":0,`,
		To: []string{"o"}, NoUnread: true, NoLastMsg: true, SupportExtension: true, NeedReadReceipt: true, Origin: origin,
	})
	if res != (chat.SendGroupResult{MsgTime: now.Unix(), MsgSeq: 1}) {
		t.Errorf("result = %+v, want MsgTime %d MsgSeq 1", res, now.Unix())
	}

	m, err := e.store.GroupMessageGet(ctx, g, 1)
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "m" || m.Random != 4026038328 || m.MsgTime != now.Unix() || m.Priority != "High" || string(m.Body) != compact ||
		m.CloudCustomData != `,"MsgSeq":0,` || !slices.Equal(m.To, []string{"o"}) || !m.NoUnread || !m.NoLastMsg || !m.SupportExtension || !m.NeedReadReceipt || m.Recalled {
		t.Errorf("stored %+v", m)
	}
	if !msgIDPattern.MatchString(m.MsgID) || !strings.HasSuffix(m.MsgID, fmt.Sprintf("-%d-4026038328", now.Unix())) {
		t.Errorf("MsgId = %q, want {18 digits}-{MsgTime}-{Random}", m.MsgID)
	}
	member, err := e.store.GroupMemberGet(ctx, g, "m")
	if err != nil || member.LastSendMsgTime != now.Unix() {
		t.Errorf("sender = %+v, %v; want LastSendMsgTime %d", member, err, now.Unix())
	}
	group := e.groupInfoOK(t, g).Group
	if group.NextMsgSeq != 2 || group.LastMsgTime != now.Unix() {
		t.Errorf("group NextMsgSeq %d LastMsgTime %d, want 2 and %d", group.NextMsgSeq, group.LastMsgTime, now.Unix())
	}

	evs := e.events(t, parley.CommandGroupAfterSendMsg)
	if len(evs) != 1 {
		t.Fatalf("%d after-send events, want 1", len(evs))
	}
	ev := evs[0]
	if ev.Conversation != parley.GroupConversation(g) || ev.Origin != origin || !ev.CreatedAt.Equal(now) || ev.State != parley.EventPending || !strings.HasPrefix(ev.ID, "evt_") {
		t.Errorf("event %+v", ev)
	}
	want := `{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"x,\"MsgSeq\":0,y","Type":"Public","From_Account":"m","Operator_Account":"admin",` +
		`"Random":4026038328,"MsgId":"` + m.MsgID + `","MsgSeq":1,"MsgTime":` + fmt.Sprint(now.Unix()) + `,"OnlineOnlyFlag":0,"MsgBody":` + compact +
		`,"CloudCustomData":",\"MsgSeq\":0,","EventTime":` + fmt.Sprint(now.UnixMilli()) + `}`
	if string(ev.Body) != want {
		t.Errorf("event body\n got %s\nwant %s", ev.Body, want)
	}
	if got := e.notified.Load(); got != 1 {
		t.Errorf("OnEvents called %d times, want 1", got)
	}

	// The next message takes the next MsgSeq; the admin's send touches
	// nobody's LastSendMsgTime.
	e.clock.Advance(time.Second)
	if res := e.sendGroupOK(t, chat.SendGroupParams{GroupID: g, Random: 1, Body: textBody("two")}); res.MsgSeq != 2 {
		t.Errorf("second MsgSeq = %d, want 2", res.MsgSeq)
	}
	if got := e.groupAfterSend(t); len(got) != 2 || got[1].MsgSeq != 2 || got[1].FromAccount != "admin" || got[1].CloudCustomData != "" {
		t.Errorf("after-send events = %+v", got)
	}
	if member, _ := e.store.GroupMemberGet(ctx, g, "m"); member.LastSendMsgTime != now.Unix() {
		t.Errorf("LastSendMsgTime = %d after the admin's send, want %d", member.LastSendMsgTime, now.Unix())
	}
}

func TestSendGroupOnlineOnly(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "m")
	g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "g", Members: members("m")})
	res := e.sendGroupOK(t, chat.SendGroupParams{GroupID: g, From: "m", Random: 5, Body: textBody("typing"), OnlineOnly: true})
	if res != (chat.SendGroupResult{MsgTime: t0.Unix()}) {
		t.Errorf("result = %+v, want MsgTime %d and MsgSeq 0", res, t0.Unix())
	}
	// Repeating it is no duplicate: only stored messages are.
	if res := e.sendGroupOK(t, chat.SendGroupParams{GroupID: g, From: "m", Random: 5, Body: textBody("typing"), OnlineOnly: true}); res.MsgSeq != 0 {
		t.Errorf("repeat = %+v", res)
	}
	if got := e.groupMessages(t, g); len(got) != 0 {
		t.Errorf("%d messages stored, want 0", len(got))
	}
	if got := e.groupInfoOK(t, g).Group.NextMsgSeq; got != 1 {
		t.Errorf("NextMsgSeq = %d, want 1", got)
	}
	evs := e.groupAfterSend(t)
	if len(evs) != 2 || evs[0].MsgSeq != 0 || evs[0].OnlineOnlyFlag != 1 || evs[0].MsgTime != t0.Unix() {
		t.Errorf("after-send events = %+v, want 2 with MsgSeq 0 and OnlineOnlyFlag 1", evs)
	}
	if member, _ := e.store.GroupMemberGet(context.Background(), g, "m"); member.LastSendMsgTime != t0.Unix() {
		t.Errorf("LastSendMsgTime = %d, want %d: an online-only message is sent too", member.LastSendMsgTime, t0.Unix())
	}
	if res := e.sendGroupOK(t, chat.SendGroupParams{GroupID: g, From: "m", Random: 6, Body: textBody("stored")}); res.MsgSeq != 1 {
		t.Errorf("the first stored message's MsgSeq = %d, want 1", res.MsgSeq)
	}
}

func TestSendGroupDuplicate(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	e := setup(t, func(c *chat.Config) { c.Caller = receiverCaller(t, rcv) })
	e.importUsers(t, "a", "b")
	g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "g", Members: members("a", "b")})
	h := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "h", Members: members("a")})
	p := chat.SendGroupParams{GroupID: g, From: "a", Random: 99, Body: textBody("hello"), CloudCustomData: "x"}
	first := e.sendGroupOK(t, p)

	e.clock.Advance(parley.GroupDuplicateWindow*time.Second - time.Second)
	pretty := p
	pretty.Body = json.RawMessage(`[ {"MsgContent": {"Text": "hello"}, "MsgType": "TIMTextElem"} ]`)
	if got := e.sendGroupOK(t, pretty); got != first {
		t.Errorf("duplicate within 300 s = %+v, want the original %+v", got, first)
	}
	if got := len(e.groupMessages(t, g)); got != 1 {
		t.Errorf("stored %d messages after a duplicate, want 1", got)
	}
	if got := len(e.groupAfterSend(t)); got != 1 {
		t.Errorf("%d after-send events after a duplicate, want 1", got)
	}
	if got := len(rcv.Requests()); got != 1 {
		t.Errorf("%d before-send callbacks, want 1: a duplicate is not asked about", got)
	}

	// Any part of the key differing makes a new message.
	for _, change := range []func(*chat.SendGroupParams){
		func(p *chat.SendGroupParams) { p.Random = 100 },
		func(p *chat.SendGroupParams) { p.Body = textBody("hello!") },
		func(p *chat.SendGroupParams) { p.CloudCustomData = "y" },
		func(p *chat.SendGroupParams) { p.From = "b" },
		func(p *chat.SendGroupParams) { p.GroupID = h },
	} {
		q := p
		change(&q)
		if got := e.sendGroupOK(t, q); got.MsgSeq == first.MsgSeq && q.GroupID == g {
			t.Errorf("%+v was taken for a duplicate", q)
		}
	}
	if got := len(e.groupMessages(t, g)); got != 5 {
		t.Errorf("stored %d messages in g, want 5", got)
	}

	// Outside the window the same request is a new message.
	e.clock.Advance(2 * time.Second)
	if later := e.sendGroupOK(t, p); later.MsgSeq != 6 || later.MsgTime != first.MsgTime+301 {
		t.Errorf("resend after 301 s = %+v, want MsgSeq 6", later)
	}
}

func TestSendGroupDuplicateConcurrent(t *testing.T) {
	const n = 8
	var arrived sync.WaitGroup
	arrived.Add(n)
	gate := make(chan struct{})
	rcv := parleytest.NewReceiver(t)
	rcv.SetHandler(func(parleytest.Request) (int, string) {
		arrived.Done()
		<-gate // every sender is past the first duplicate check
		return http.StatusOK, parleytest.OKReply
	})
	e := setup(t, func(c *chat.Config) { c.Caller = receiverCaller(t, rcv) })
	e.importUsers(t, "a")
	g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "g", Members: members("a")})
	results := make([]chat.SendGroupResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = e.eng.SendGroup(context.Background(), chat.SendGroupParams{GroupID: g, From: "a", Random: 1, Body: textBody("same")})
		})
	}
	arrived.Wait()
	close(gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("send %d: %v", i, errs[i])
		}
		if results[i] != results[0] {
			t.Errorf("send %d = %+v, want %+v like send 0", i, results[i], results[0])
		}
	}
	if got := len(e.groupMessages(t, g)); got != 1 {
		t.Errorf("stored %d messages, want 1", got)
	}
	if got := len(e.groupAfterSend(t)); got != 1 {
		t.Errorf("%d after-send events, want 1", got)
	}
}

func TestSendGroupSeqsConcurrent(t *testing.T) {
	e := setup(t, func(c *chat.Config) { c.GroupMsgRate = -1 })
	e.importUsers(t, "a", "b")
	g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "g", Members: members("a", "b")})
	const workers, each = 16, 50
	seqs := make([][]uint64, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				res, err := e.eng.SendGroup(context.Background(), chat.SendGroupParams{
					GroupID: g, From: []string{"a", "b"}[w%2], Random: uint32(w*each + i), Body: textBody(fmt.Sprintf("%d/%d", w, i)),
				})
				if err != nil {
					errs[w] = err
					return
				}
				seqs[w] = append(seqs[w], res.MsgSeq)
			}
		})
	}
	wg.Wait()
	var all []uint64
	for w := range workers {
		if errs[w] != nil {
			t.Fatalf("worker %d: %v", w, errs[w])
		}
		if !slices.IsSorted(seqs[w]) {
			t.Errorf("worker %d got MsgSeqs out of order: %v", w, seqs[w])
		}
		all = append(all, seqs[w]...)
	}
	slices.Sort(all)
	for i, s := range all {
		if s != uint64(i+1) {
			t.Fatalf("sorted MsgSeqs[%d] = %d, want %d: seqs are not 1..%d without gaps or repeats", i, s, i+1, workers*each)
		}
	}
	stored := e.groupMessages(t, g)
	if len(stored) != workers*each || stored[0].MsgSeq != workers*each || stored[len(stored)-1].MsgSeq != 1 {
		t.Errorf("stored %d messages, MsgSeqs %d..%d; want %d, 800..1", len(stored), stored[0].MsgSeq, stored[len(stored)-1].MsgSeq, workers*each)
	}
	var evSeqs []uint64
	for _, ev := range e.groupAfterSend(t) {
		evSeqs = append(evSeqs, ev.MsgSeq)
	}
	if !slices.Equal(evSeqs, all) {
		t.Errorf("after-send events in commit order carry MsgSeqs %v..., want 1..800 in order", evSeqs[:min(10, len(evSeqs))])
	}
	if got := e.groupInfoOK(t, g).Group.NextMsgSeq; got != workers*each+1 {
		t.Errorf("NextMsgSeq = %d, want %d", got, workers*each+1)
	}
}

func TestSendGroupRateLimit(t *testing.T) {
	e := setup(t, func(c *chat.Config) { c.GroupMsgRate = 4 })
	e.importUsers(t, "a")
	g1 := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "g1", Members: members("a")})
	g2 := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "g2", Members: members("a")})
	random := uint32(0)
	send := func(group string) error {
		random++
		_, err := e.eng.SendGroup(context.Background(), chat.SendGroupParams{GroupID: group, From: "a", Random: random, Body: textBody("x")})
		return err
	}
	steps := []struct {
		advance time.Duration
		group   string
		ok      int // sends that succeed before one answers 10023
	}{
		{0, g1, 4},                      // a full bucket: the rate's worth at once
		{0, g2, 4},                      // each group has its own
		{250 * time.Millisecond, g1, 1}, // a quarter second earns one
		{100 * time.Millisecond, g1, 0},
		{150 * time.Millisecond, g1, 1},
		{10 * time.Second, g1, 4}, // idle: full, and no fuller
		{time.Hour, g1, 4},        // after a sweep, the same
	}
	for i, s := range steps {
		e.clock.Advance(s.advance)
		for j := range s.ok {
			if err := send(s.group); err != nil {
				t.Fatalf("step %d send %d in %s: %v", i, j, s.group, err)
			}
		}
		wantCode(t, send(s.group), parley.ErrGroupRateLimit)
	}
	if got, want := len(e.groupMessages(t, g1)), 4+1+1+4+4; got != want {
		t.Errorf("stored %d messages in g1, want %d: the limited ones are not", got, want)
	}

	// A group destroyed and created again starts with a full bucket.
	for range 4 {
		if err := send(g2); err != nil {
			t.Fatalf("send to g2: %v", err)
		}
	}
	wantCode(t, send(g2), parley.ErrGroupRateLimit)
	if err := e.eng.DestroyGroup(context.Background(), g2); err != nil {
		t.Fatal(err)
	}
	e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: g2, Members: members("a")})
	if err := send(g2); err != nil {
		t.Errorf("send to the new g2: %v", err)
	}

	// Refused sends take no token.
	wantCode(t, func() error {
		_, err := e.eng.SendGroup(context.Background(), chat.SendGroupParams{GroupID: g2, From: "ghost", Random: 1, Body: textBody("x")})
		return err
	}(), parley.ErrGroupUserNotExist)
	for range 3 {
		if err := send(g2); err != nil {
			t.Fatalf("send to g2: %v", err)
		}
	}
	wantCode(t, send(g2), parley.ErrGroupRateLimit)
}

func TestSendGroupRateLimitDefault(t *testing.T) {
	e := setup(t, nil)
	g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic})
	for i := range chat.DefaultGroupMsgRate {
		e.sendGroupOK(t, chat.SendGroupParams{GroupID: g, Random: uint32(i), Body: textBody("x")})
	}
	_, err := e.eng.SendGroup(context.Background(), chat.SendGroupParams{GroupID: g, Random: 1000, Body: textBody("x")})
	wantCode(t, err, parley.ErrGroupRateLimit)
}

func TestSendGroupRateLimitConcurrent(t *testing.T) {
	e := setup(t, func(c *chat.Config) { c.GroupMsgRate = 10 })
	g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic})
	const n = 64
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := e.eng.SendGroup(context.Background(), chat.SendGroupParams{GroupID: g, Random: uint32(i), Body: textBody("x")})
			codes[i] = parley.ErrorCode(err)
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[0] != 10 || count[parley.ErrGroupRateLimit] != n-10 {
		t.Errorf("outcomes = %v, want 10 successes and %d × 10023", count, n-10)
	}
	if got := len(e.groupMessages(t, g)); got != 10 {
		t.Errorf("stored %d messages, want 10", got)
	}
}

func TestGroupBeforeSendCallback(t *testing.T) {
	const rewritten = `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"clean"}}]`
	hi := string(textBody("hi"))
	tests := []struct {
		name    string
		status  int
		reply   string
		reject  bool
		code    int    // the sender's error; 0 = success
		info    string // the sender's ErrorInfo, when it matters
		dropped bool
		body    string // the body stored; "" = nothing stored
		cloud   string
	}{
		{"allow", 200, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`, false, 0, "", false, hi, "c"},
		{"rewrite", 200, `{"ActionStatus":"OK","ErrorCode":0,"MsgBody":` + rewritten + `,"CloudCustomData":""}`, false, 0, "", false, rewritten, ""},
		{"block", 200, `{"ActionStatus":"OK","ErrorCode":1}`, false, parley.ErrGroupBlockedCallback, "", false, "", ""},
		{"drop silently", 200, `{"ActionStatus":"OK","ErrorCode":2}`, true, 0, "", true, "", ""},
		{"custom code low", 200, `{"ActionStatus":"FAIL","ErrorCode":10100,"ErrorInfo":"no minors"}`, false, 10100, "no minors", false, "", ""},
		{"custom code high, no info", 200, `{"ActionStatus":"FAIL","ErrorCode":10200}`, true, 10200, parley.ErrorText(parley.ErrGroupBlockedCallback), false, "", ""},
		{"below the custom range, deliver", 200, `{"ErrorCode":10099}`, false, 0, "", false, hi, "c"},
		{"above the custom range, reject", 200, `{"ErrorCode":10201}`, true, parley.ErrBeforeCallbackFailed, "", false, "", ""},
		{"a C2C custom code, reject", 200, `{"ErrorCode":120001}`, true, parley.ErrBeforeCallbackFailed, "", false, "", ""},
		{"HTTP 500, deliver", 500, `{}`, false, 0, "", false, hi, "c"},
		{"HTTP 500, reject", 500, `{}`, true, parley.ErrBeforeCallbackFailed, "", false, "", ""},
		{"not JSON, reject", 200, `ok`, true, parley.ErrBeforeCallbackFailed, "", false, "", ""},
		{"invalid rewrite, deliver", 200, `{"ErrorCode":0,"MsgBody":[{"MsgType":"TIMFaceElem","MsgContent":{}}]}`, false, 0, "", false, hi, "c"},
		{"invalid rewrite, reject", 200, `{"ErrorCode":0,"MsgBody":{"x":1}}`, true, parley.ErrBeforeCallbackFailed, "", false, "", ""},
		{"allow under the reject policy", 200, `{"ErrorCode":0}`, true, 0, "", false, hi, "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := parleytest.NewReceiver(t)
			rcv.SetReply(tt.status, tt.reply)
			e := setup(t, func(c *chat.Config) { c.Caller = receiverCaller(t, rcv); c.RejectOnCallbackFailure = tt.reject })
			e.importUsers(t, "m")
			g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupChatRoom, GroupID: "g", Members: members("m")})
			origin := parley.Origin{ClientIP: "198.51.100.1", OptPlatform: parley.OptPlatformREST}
			res, err := e.eng.SendGroup(context.Background(), chat.SendGroupParams{GroupID: g, From: "m", Random: 7, Body: textBody("hi"), CloudCustomData: "c", Origin: origin})
			switch {
			case tt.code != 0:
				pe := wantCode(t, err, tt.code)
				if tt.info != "" && pe.Info != tt.info {
					t.Errorf("Info = %q, want %q", pe.Info, tt.info)
				}
			case err != nil:
				t.Fatalf("err = %v, want success", err)
			case tt.dropped:
				if res != (chat.SendGroupResult{MsgTime: t0.Unix(), MsgDropReason: chat.MsgDropReasonBeforeSend}) {
					t.Errorf("result = %+v, want MsgSeq 0 and the drop reason", res)
				}
			default:
				if res != (chat.SendGroupResult{MsgTime: t0.Unix(), MsgSeq: 1}) {
					t.Errorf("result = %+v, want MsgSeq 1", res)
				}
			}

			reqs := rcv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d callback requests, want 1", len(reqs))
			}
			q := reqs[0].Query
			if q.Get("CallbackCommand") != parley.CommandGroupBeforeSendMsg || q.Get("ClientIP") != origin.ClientIP || q.Get("OptPlatform") != origin.OptPlatform {
				t.Errorf("callback query = %v", q)
			}
			var sent parley.GroupBeforeSendMsg
			if err := json.Unmarshal(reqs[0].Body, &sent); err != nil {
				t.Fatalf("callback body %s: %v", reqs[0].Body, err)
			}
			if !msgIDPattern.MatchString(sent.MsgID) {
				t.Errorf("MsgId = %q", sent.MsgID)
			}
			wantReq := `{"CallbackCommand":"Group.CallbackBeforeSendMsg","GroupId":"g","Type":"ChatRoom","From_Account":"m","Operator_Account":"admin",` +
				`"Random":7,"MsgId":"` + sent.MsgID + `","OnlineOnlyFlag":0,"MsgBody":` + string(textBody("hi")) + `,"CloudCustomData":"c","EventTime":` + fmt.Sprint(t0.UnixMilli()) + `}`
			if string(reqs[0].Body) != wantReq {
				t.Errorf("callback body\n got %s\nwant %s", reqs[0].Body, wantReq)
			}

			stored := e.groupMessages(t, g)
			evs := e.groupAfterSend(t)
			if tt.body == "" {
				if len(stored) != 0 || len(evs) != 0 {
					t.Errorf("%d messages stored and %d after-send events, want none", len(stored), len(evs))
				}
				return
			}
			if len(stored) != 1 || string(stored[0].Body) != tt.body || stored[0].CloudCustomData != tt.cloud {
				t.Fatalf("stored %+v, want body %s and CloudCustomData %q", stored, tt.body, tt.cloud)
			}
			if len(evs) != 1 || string(evs[0].MsgBody) != tt.body || evs[0].CloudCustomData != tt.cloud || evs[0].MsgID != sent.MsgID {
				t.Errorf("after-send events = %+v, want the message as stored", evs)
			}
		})
	}
}

func TestGroupCallbackFields(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	e := setup(t, func(c *chat.Config) { c.Caller = receiverCaller(t, rcv) })
	e.importUsers(t, "m", "bob")
	g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupCommunity, GroupID: "@TGS#_c", Members: members("m")})
	res := e.sendGroupOK(t, chat.SendGroupParams{GroupID: g, From: "m", Operator: "bob", Random: 3, Body: textBody("hi"), OnlineOnly: true, TopicID: "@TGS#_c@TOPIC#_t"})
	if res.MsgSeq != 0 {
		t.Errorf("MsgSeq = %d, want 0 for an online-only message", res.MsgSeq)
	}
	var before parley.GroupBeforeSendMsg
	if err := json.Unmarshal(rcv.Requests()[0].Body, &before); err != nil {
		t.Fatal(err)
	}
	wantBefore := parley.GroupBeforeSendMsg{
		CallbackCommand: parley.CommandGroupBeforeSendMsg, GroupID: g, Type: parley.GroupCommunity, FromAccount: "m", OperatorAccount: "bob",
		Random: 3, MsgID: before.MsgID, OnlineOnlyFlag: 1, MsgBody: textBody("hi"), TopicID: "@TGS#_c@TOPIC#_t", EventTime: t0.UnixMilli(),
	}
	if fmt.Sprint(before) != fmt.Sprint(wantBefore) {
		t.Errorf("before-send body = %+v\nwant %+v", before, wantBefore)
	}
	evs := e.groupAfterSend(t)
	wantAfter := parley.GroupAfterSendMsg{
		CallbackCommand: parley.CommandGroupAfterSendMsg, GroupID: g, Type: parley.GroupCommunity, FromAccount: "m", OperatorAccount: "bob",
		Random: 3, MsgID: before.MsgID, MsgTime: t0.Unix(), OnlineOnlyFlag: 1, MsgBody: textBody("hi"), TopicID: "@TGS#_c@TOPIC#_t", EventTime: t0.UnixMilli(),
	}
	if len(evs) != 1 || fmt.Sprint(evs[0]) != fmt.Sprint(wantAfter) {
		t.Errorf("after-send events = %+v\nwant [%+v]", evs, wantAfter)
	}
}

func TestGroupCallbackRewriteAndRestrictedWords(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	rcv.SetHandler(func(r parleytest.Request) (int, string) {
		var b parley.GroupBeforeSendMsg
		json.Unmarshal(r.Body, &b)
		text := strings.ReplaceAll(string(b.MsgBody), "forbidden", "clean")
		text = strings.ReplaceAll(text, "bait", "forbidden")
		return http.StatusOK, `{"ActionStatus":"OK","ErrorCode":0,"MsgBody":` + text + `}`
	})
	e := setup(t, func(c *chat.Config) { c.Caller = receiverCaller(t, rcv); c.RestrictedWords = []string{"forbidden"} })
	g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic})

	// The callback's rewrite decides: a word it cleans passes, a word it
	// adds is refused, with no event.
	e.sendGroupOK(t, chat.SendGroupParams{GroupID: g, Random: 1, Body: textBody("a forbidden word")})
	_, err := e.eng.SendGroup(context.Background(), chat.SendGroupParams{GroupID: g, Random: 2, Body: textBody("bait")})
	wantCode(t, err, parley.ErrSensitiveText)
	stored := e.groupMessages(t, g)
	if len(stored) != 1 || string(stored[0].Body) != string(textBody("a clean word")) {
		t.Errorf("stored %+v, want only the cleaned message", stored)
	}
	if got := len(e.groupAfterSend(t)); got != 1 {
		t.Errorf("%d after-send events, want 1", got)
	}
	// The retry of the cleaned message is its duplicate, though its body
	// as sent has the word: it is answered, not refused.
	if res := e.sendGroupOK(t, chat.SendGroupParams{GroupID: g, Random: 1, Body: textBody("a forbidden word")}); res.MsgSeq != 1 {
		t.Errorf("retry = %+v, want the original's MsgSeq 1", res)
	}
}

func TestGroupCallbackControl(t *testing.T) {
	tests := []struct {
		name        string
		enabled     []string
		forbidBf    bool
		forbidAf    bool
		wantBefore  int
		wantAfterEv int
	}{
		{"both", []string{parley.CommandGroupBeforeSendMsg, parley.CommandGroupAfterSendMsg}, false, false, 1, 1},
		{"forbid before", []string{parley.CommandGroupBeforeSendMsg, parley.CommandGroupAfterSendMsg}, true, false, 0, 1},
		{"forbid after", []string{parley.CommandGroupBeforeSendMsg, parley.CommandGroupAfterSendMsg}, false, true, 1, 0},
		{"before disabled", []string{parley.CommandGroupAfterSendMsg}, false, false, 0, 1},
		{"after disabled", []string{parley.CommandGroupBeforeSendMsg}, false, false, 1, 0},
		{"only C2C enabled", []string{parley.CommandC2CBeforeSendMsg, parley.CommandC2CAfterSendMsg}, false, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := parleytest.NewReceiver(t)
			e := setup(t, func(c *chat.Config) {
				c.Caller = receiverCaller(t, rcv)
				c.CallbackEnabled = func(cmd string) bool { return slices.Contains(tt.enabled, cmd) }
			})
			g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic})
			e.sendGroupOK(t, chat.SendGroupParams{GroupID: g, Random: 1, Body: textBody("x"), ForbidBeforeCallback: tt.forbidBf, ForbidAfterCallback: tt.forbidAf})
			if got := len(rcv.Requests()); got != tt.wantBefore {
				t.Errorf("%d before-send callbacks, want %d", got, tt.wantBefore)
			}
			if got := len(e.groupAfterSend(t)); got != tt.wantAfterEv {
				t.Errorf("%d after-send events, want %d", got, tt.wantAfterEv)
			}
			if got := len(e.groupMessages(t, g)); got != 1 {
				t.Errorf("%d messages stored, want 1", got)
			}
		})
	}
}

// groupRecallEvents decodes the after-recall events, in commit order.
func (e *env) groupRecallEvents(t testing.TB) []*parley.Event {
	t.Helper()
	return e.events(t, parley.CommandGroupAfterRecall)
}

func TestRecallGroup(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()
	e.importUsers(t, "m")
	g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "g", Members: members("m")})
	for i := range 4 {
		e.sendGroupOK(t, chat.SendGroupParams{GroupID: g, From: "m", Random: uint32(i), Body: textBody("x")})
	}
	origin := parley.Origin{ClientIP: "203.0.113.4", OptPlatform: parley.OptPlatformREST}
	e.clock.Advance(time.Minute)
	now := t0.Add(time.Minute)
	res, err := e.eng.RecallGroup(ctx, chat.RecallGroupParams{GroupID: g, MsgSeqs: []uint64{1, 3, 3, 99, 0}, Reason: "spam", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	want := []chat.RecallResult{
		{MsgSeq: 1, Code: 0},
		{MsgSeq: 3, Code: 0},
		{MsgSeq: 3, Code: parley.ErrGroupRecallNotAllowed},
		{MsgSeq: 99, Code: parley.ErrGroupRecallNotFound},
		{MsgSeq: 0, Code: parley.ErrGroupRecallNotFound},
	}
	if !slices.Equal(res, want) {
		t.Errorf("results = %v, want %v", res, want)
	}
	for seq, recalled := range map[uint64]bool{1: true, 2: false, 3: true, 4: false} {
		m, err := e.store.GroupMessageGet(ctx, g, seq)
		if err != nil || m.Recalled != recalled {
			t.Errorf("message %d: %+v, %v; want Recalled %v", seq, m, err, recalled)
		}
	}
	evs := e.groupRecallEvents(t)
	if len(evs) != 1 {
		t.Fatalf("%d after-recall events, want 1", len(evs))
	}
	wantBody := `{"CallbackCommand":"Group.CallbackAfterRecallMsg","Operator_Account":"admin","Type":"Public","GroupId":"g",` +
		`"MsgSeqList":[{"MsgSeq":1},{"MsgSeq":3}],"EventTime":` + fmt.Sprint(now.UnixMilli()) + `}`
	if string(evs[0].Body) != wantBody {
		t.Errorf("after-recall body\n got %s\nwant %s", evs[0].Body, wantBody)
	}
	if evs[0].Conversation != parley.GroupConversation(g) || evs[0].Origin != origin || !evs[0].CreatedAt.Equal(now) {
		t.Errorf("event %+v", evs[0])
	}

	// Nothing recalled, no event.
	res, err = e.eng.RecallGroup(ctx, chat.RecallGroupParams{GroupID: g, MsgSeqs: []uint64{1, 5}})
	if err != nil || !slices.Equal(res, []chat.RecallResult{{MsgSeq: 1, Code: parley.ErrGroupRecallNotAllowed}, {MsgSeq: 5, Code: parley.ErrGroupRecallNotFound}}) {
		t.Errorf("recall again = %v, %v", res, err)
	}
	if got := len(e.groupRecallEvents(t)); got != 1 {
		t.Errorf("%d after-recall events after recalling nothing, want 1", got)
	}

	// The operator and topic as given.
	if _, err := e.eng.RecallGroup(ctx, chat.RecallGroupParams{GroupID: g, MsgSeqs: []uint64{2}, Operator: "m", TopicID: "t"}); err != nil {
		t.Fatal(err)
	}
	var body parley.GroupAfterRecallMsg
	evs = e.groupRecallEvents(t)
	if err := json.Unmarshal(evs[len(evs)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.OperatorAccount != "m" || body.TopicID != "t" || len(body.MsgSeqList) != 1 || body.MsgSeqList[0].MsgSeq != 2 {
		t.Errorf("after-recall body = %+v", body)
	}

	av := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupAVChatRoom})
	tests := []struct {
		name string
		p    chat.RecallGroupParams
		code int
	}{
		{"malformed GroupId", chat.RecallGroupParams{GroupID: "\x00", MsgSeqs: []uint64{1}}, parley.ErrGroupIDInvalid},
		{"no such group", chat.RecallGroupParams{GroupID: "nope", MsgSeqs: []uint64{1}}, parley.ErrGroupNotFound},
		{"no MsgSeqs", chat.RecallGroupParams{GroupID: g}, parley.ErrGroupInvalidParam},
		{"11 MsgSeqs", chat.RecallGroupParams{GroupID: g, MsgSeqs: make([]uint64, 11)}, parley.ErrGroupInvalidParam},
		{"11 MsgSeqs in an AVChatRoom", chat.RecallGroupParams{GroupID: av, MsgSeqs: make([]uint64, 11)}, parley.ErrGroupInvalidParam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.eng.RecallGroup(ctx, tt.p)
			wantCode(t, err, tt.code)
		})
	}
	if got := len(e.groupRecallEvents(t)); got != 2 {
		t.Errorf("%d after-recall events, want 2", got)
	}
}

func TestRecallGroupAVChatRoom(t *testing.T) {
	e := setup(t, func(c *chat.Config) {
		c.CallbackEnabled = func(cmd string) bool { return cmd != parley.CommandGroupAfterRecall }
	})
	ctx := context.Background()
	av := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupAVChatRoom})
	e.sendGroupOK(t, chat.SendGroupParams{GroupID: av, Random: 1, Body: textBody("a")})
	e.sendGroupOK(t, chat.SendGroupParams{GroupID: av, Random: 2, Body: textBody("b")})
	e.clock.Advance(time.Hour)
	res, err := e.eng.RecallGroup(ctx, chat.RecallGroupParams{GroupID: av, MsgSeqs: []uint64{1}})
	if err != nil || !slices.Equal(res, []chat.RecallResult{{MsgSeq: 1, Code: 0}}) {
		t.Errorf("recall at 1 h = %v, %v; want recalled", res, err)
	}
	e.clock.Advance(time.Second)
	res, err = e.eng.RecallGroup(ctx, chat.RecallGroupParams{GroupID: av, MsgSeqs: []uint64{2}})
	if err != nil || !slices.Equal(res, []chat.RecallResult{{MsgSeq: 2, Code: parley.ErrGroupRecallTimeLimit}}) {
		t.Errorf("recall after 1 h = %v, %v; want 10031", res, err)
	}
	if m, _ := e.store.GroupMessageGet(ctx, av, 2); m.Recalled {
		t.Error("message 2 recalled after its window")
	}
	if got := len(e.groupRecallEvents(t)); got != 0 {
		t.Errorf("%d after-recall events with the callback off, want 0", got)
	}
}

func TestGroupHistory(t *testing.T) {
	e := setup(t, func(c *chat.Config) { c.GroupMsgRate = -1 })
	ctx := context.Background()
	g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "g"})
	empty := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPrivate})
	av := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupAVChatRoom})
	for i := 1; i <= 80; i++ {
		e.sendGroupOK(t, chat.SendGroupParams{GroupID: g, Random: uint32(i), Body: textBody(fmt.Sprint(i)), Priority: "Low"})
		// Online-only messages never show.
		e.sendGroupOK(t, chat.SendGroupParams{GroupID: g, Random: uint32(i), Body: textBody("typing"), OnlineOnly: true})
	}
	// Recall 2..75, more than one read's worth in a row.
	for lo := uint64(2); lo <= 75; lo += 10 {
		var seqs []uint64
		for s := lo; s < lo+10 && s <= 75; s++ {
			seqs = append(seqs, s)
		}
		if _, err := e.eng.RecallGroup(ctx, chat.RecallGroupParams{GroupID: g, MsgSeqs: seqs}); err != nil {
			t.Fatal(err)
		}
	}

	span := func(hi, lo uint64) []uint64 {
		var out []uint64
		for s := hi; s >= lo; s-- {
			out = append(out, s)
		}
		return out
	}
	pages := []struct {
		maxSeq       uint64
		number       int
		withRecalled bool
		want         []uint64
		finished     int
	}{
		{0, 3, false, []uint64{80, 79, 78}, chat.HistoryTruncated},
		{77, 3, false, []uint64{77, 76, 1}, chat.HistoryFinished},
		{77, 2, false, []uint64{77, 76}, chat.HistoryTruncated},
		{75, 5, false, []uint64{1}, chat.HistoryFinished},
		{1000, 1, false, []uint64{80}, chat.HistoryTruncated},
		{0, 20, true, span(80, 61), chat.HistoryTruncated},
		{5, 5, true, span(5, 1), chat.HistoryFinished},
		{6, 5, true, span(6, 2), chat.HistoryTruncated},
		{1, 20, true, []uint64{1}, chat.HistoryFinished},
	}
	for _, pg := range pages {
		name := fmt.Sprintf("MaxSeq %d Number %d WithRecalled %v", pg.maxSeq, pg.number, pg.withRecalled)
		t.Run(name, func(t *testing.T) {
			res, err := e.eng.GroupHistory(ctx, chat.GroupHistoryParams{GroupID: g, MaxSeq: pg.maxSeq, Number: pg.number, WithRecalled: pg.withRecalled})
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, m := range res.Messages {
				got = append(got, m.MsgSeq)
				recalled := m.MsgSeq >= 2 && m.MsgSeq <= 75
				wantBody := string(textBody(fmt.Sprint(m.MsgSeq)))
				if recalled {
					wantBody = `[]`
				}
				if m.Recalled != recalled || string(m.Body) != wantBody || m.Random != uint32(m.MsgSeq) || m.Priority != "Low" || m.From != "admin" {
					t.Errorf("message %+v, want Recalled %v and body %s", m, recalled, wantBody)
				}
			}
			if !slices.Equal(got, pg.want) || res.IsFinished != pg.finished {
				t.Errorf("MsgSeqs %v IsFinished %d, want %v %d", got, res.IsFinished, pg.want, pg.finished)
			}
		})
	}
	// The placeholders leave the stored bodies alone.
	if m, _ := e.store.GroupMessageGet(ctx, g, 2); string(m.Body) != string(textBody("2")) {
		t.Errorf("stored body of a recalled message = %s", m.Body)
	}

	res, err := e.eng.GroupHistory(ctx, chat.GroupHistoryParams{GroupID: empty, Number: 20})
	if err != nil || len(res.Messages) != 0 || res.IsFinished != chat.HistoryFinished {
		t.Errorf("history of an empty group = %+v, %v", res, err)
	}

	tests := []struct {
		name string
		p    chat.GroupHistoryParams
		code int
	}{
		{"malformed GroupId", chat.GroupHistoryParams{GroupID: strings.Repeat("g", 49), Number: 1}, parley.ErrGroupIDInvalid},
		{"no such group", chat.GroupHistoryParams{GroupID: "nope", Number: 1}, parley.ErrGroupNotFound},
		{"number 0", chat.GroupHistoryParams{GroupID: g}, parley.ErrGroupInvalidParam},
		{"number 21", chat.GroupHistoryParams{GroupID: g, Number: 21}, parley.ErrGroupInvalidParam},
		{"number negative", chat.GroupHistoryParams{GroupID: g, Number: -1}, parley.ErrGroupInvalidParam},
		{"AVChatRoom", chat.GroupHistoryParams{GroupID: av, Number: 1}, parley.ErrGroupNoRoaming},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.eng.GroupHistory(ctx, tt.p)
			wantCode(t, err, tt.code)
		})
	}
}

func TestSendGroupRecheckInTransaction(t *testing.T) {
	// A member removed while the before-send callback runs does not get
	// the message in.
	rcv := parleytest.NewReceiver(t)
	var e *env
	rcv.SetHandler(func(parleytest.Request) (int, string) {
		if err := e.eng.DeleteGroupMembers(context.Background(), chat.DeleteMembersParams{GroupID: "g", UserIDs: []string{"m"}}); err != nil {
			return http.StatusInternalServerError, err.Error()
		}
		return http.StatusOK, parleytest.OKReply
	})
	e = setup(t, func(c *chat.Config) { c.Caller = receiverCaller(t, rcv); c.RejectOnCallbackFailure = true })
	e.importUsers(t, "m")
	g := e.createGroupOK(t, chat.CreateGroupParams{Type: parley.GroupPublic, GroupID: "g", Members: members("m")})
	_, err := e.eng.SendGroup(context.Background(), chat.SendGroupParams{GroupID: g, From: "m", Random: 1, Body: textBody("x")})
	wantCode(t, err, parley.ErrGroupNotPermitted)
	if got := len(e.groupMessages(t, g)); got != 0 {
		t.Errorf("%d messages stored, want 0", got)
	}
	if got := len(e.events(t, "")); got != 0 {
		t.Errorf("%d events, want 0", got)
	}
}
