package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/parley-im/parley"
)

func groupMessageTests() []querierTest {
	return []querierTest{
		{"GroupMessageInsert/AssignsSeqsAndAdvancesGroup", testGroupMessageInsertSeq},
		{"GroupMessageInsert/KeepsEveryField", testGroupMessageRoundTrip},
		{"GroupMessageGet/ExactGroupAndSeq", testGroupMessageGet},
		{"GroupMessageGetDuplicate/MatchesEveryKeyFieldAndSince", testGroupMessageGetDuplicate},
		{"GroupMessageList/NewestFirstBelowMaxSeq", testGroupMessageList},
		{"GroupMessageRecall/MarksRecalled", testGroupMessageRecall},
	}
}

// newGroupMessage returns a message with the fields send_group_msg always
// fills, its content derived from the arguments so that messages differ.
func newGroupMessage(groupID, from string, n int, msgTime int64) *parley.GroupMessage {
	// The content leaves out the group, so that the same message can be
	// sent to several groups.
	body := json.RawMessage(fmt.Sprintf(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"%s #%d"}}]`, from, n))
	return &parley.GroupMessage{
		GroupID: groupID,
		From:    from,
		Random:  uint32(n)*2654435761 + 17,
		MsgTime: msgTime,
		MsgID:   fmt.Sprintf("%s-%d-%d", from, n, msgTime),
		Body:    body,
		BodyCRC: crc32.ChecksumIEEE(body),
	}
}

func insertGroupMessage(t *testing.T, q parley.Querier, m *parley.GroupMessage) *parley.GroupMessage {
	t.Helper()
	if err := q.GroupMessageInsert(t.Context(), m); err != nil {
		t.Fatalf("GroupMessageInsert(%q, %s): %v", m.GroupID, m.MsgID, err)
	}
	return m
}

func assertGroupMessage(t *testing.T, got, want *parley.GroupMessage) {
	t.Helper()
	if got == nil {
		t.Fatalf("got no message, want %+v", want)
	}
	g, w := *got, *want
	// Raw JSON is compared as bytes; a backend may hand back its own copy.
	// AtInfo nil means none was given, so it must stay nil, while a given
	// AtInfo, even [], comes back as given.
	bodyOK := string(g.Body) == string(w.Body)
	atOK := (w.AtInfo == nil && len(g.AtInfo) == 0) || (w.AtInfo != nil && g.AtInfo != nil && string(g.AtInfo) == string(w.AtInfo))
	gb, wb, ga, wa := g.Body, w.Body, g.AtInfo, w.AtInfo
	g.Body, w.Body, g.AtInfo, w.AtInfo = nil, nil, nil, nil
	if len(g.To) == 0 && len(w.To) == 0 {
		g.To, w.To = nil, nil
	}
	if !reflect.DeepEqual(g, w) || !bodyOK || !atOK {
		t.Errorf("group message\n got %+v body %s at %s\nwant %+v body %s at %s", g, gb, ga, w, wb, wa)
	}
}

func assertGroupMessageGet(t *testing.T, q parley.Querier, want *parley.GroupMessage) {
	t.Helper()
	got, err := q.GroupMessageGet(t.Context(), want.GroupID, want.MsgSeq)
	if err != nil {
		t.Fatalf("GroupMessageGet(%q, %d): %v", want.GroupID, want.MsgSeq, err)
	}
	assertGroupMessage(t, got, want)
}

func assertGroupMessageNotFound(t *testing.T, q parley.Querier, groupID string, msgSeq uint64) {
	t.Helper()
	if m, err := q.GroupMessageGet(t.Context(), groupID, msgSeq); !errors.Is(err, parley.ErrNotFound) {
		t.Errorf("GroupMessageGet(%q, %d) = %+v, %v; want ErrNotFound", groupID, msgSeq, m, err)
	}
}

func groupMessageSeqs(ms []*parley.GroupMessage) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.MsgSeq
	}
	return out
}

func testGroupMessageInsertSeq(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	g := insertGroup(t, q, newGroup("g"))
	h := insertGroup(t, q, newGroup("g1"))
	assertGroup(t, getGroup(t, q, "g"), g)

	steps := []struct {
		m       *parley.GroupMessage
		wantSeq uint64
	}{
		{newGroupMessage("g", "alice", 1, 1000), 1},
		{newGroupMessage("g", "bob", 2, 1000), 2},
		{newGroupMessage("g1", "alice", 3, 1005), 1}, // each group counts on its own
		{newGroupMessage("g", "alice", 4, 1010), 3},
		{newGroupMessage("g1", "carol", 5, 1011), 2},
		{newGroupMessage("g", "", 6, 1020), 4},
	}
	for i, st := range steps {
		st.m.MsgSeq = 99 // whatever the caller says, the group decides
		want := *st.m
		insertGroupMessage(t, q, st.m)
		if st.m.MsgSeq != st.wantSeq {
			t.Fatalf("insert %d into %q: MsgSeq = %d, want %d", i, st.m.GroupID, st.m.MsgSeq, st.wantSeq)
		}
		want.MsgSeq = st.wantSeq
		assertGroupMessageGet(t, q, &want)

		group := g
		if st.m.GroupID == h.ID {
			group = h
		}
		group.NextMsgSeq, group.LastMsgTime = st.wantSeq+1, st.m.MsgTime
		assertGroup(t, getGroup(t, q, "g"), g)
		assertGroup(t, getGroup(t, q, "g1"), h)
	}

	m := newGroupMessage("nope", "alice", 7, 1030)
	if err := q.GroupMessageInsert(ctx, m); !errors.Is(err, parley.ErrNotFound) {
		t.Fatalf("GroupMessageInsert into a missing group = %v, want ErrNotFound", err)
	}
	assertGroupMessageNotFound(t, q, "nope", 1)
	assertGroupMessageNotFound(t, q, "nope", 0)
	// A group created after the failed insert starts from 1 all the same.
	insertGroup(t, q, newGroup("nope"))
	if m := insertGroupMessage(t, q, newGroupMessage("nope", "alice", 8, 1040)); m.MsgSeq != 1 {
		t.Errorf("first message of group nope: MsgSeq = %d, want 1", m.MsgSeq)
	}
}

func testGroupMessageRoundTrip(t *testing.T, q parley.Querier) {
	insertGroup(t, q, newGroup("g"))
	allSet := newGroupMessage("g", "alice", 1, 1_700_000_123)
	allSet.Random = math.MaxUint32
	allSet.MsgID = "144115233406643804-1700000123-4294967295"
	allSet.Priority = "High"
	allSet.Body = json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi @bob ünï \"q\""}},{"MsgType":"TIMCustomElem","MsgContent":{"Data":"{}","Desc":"","Ext":"","Sound":""}}]`)
	allSet.CloudCustomData = `{"order":"A-1","note":"ünïcödé"}`
	allSet.BodyCRC = math.MaxUint32
	allSet.To = []string{"zed", "amy", "bob"}
	allSet.AtInfo = json.RawMessage(`[{"GroupAtAllFlag":0,"GroupAt_Account":"bob"},{"GroupAtAllFlag":1}]`)
	allSet.IsSystem = true
	allSet.NoUnread = true
	allSet.NoLastMsg = true
	allSet.SupportExtension = true
	allSet.NeedReadReceipt = true

	noneSet := &parley.GroupMessage{GroupID: "g", MsgTime: 1, Body: json.RawMessage(`[]`)}

	emptyAt := newGroupMessage("g", "bob", 3, 1_700_000_200)
	emptyAt.AtInfo = json.RawMessage(`[]`)
	emptyAt.To = []string{"alice"}

	for _, m := range []*parley.GroupMessage{allSet, noneSet, emptyAt} {
		want := *m
		insertGroupMessage(t, q, m)
		want.MsgSeq = m.MsgSeq
		assertGroupMessageGet(t, q, &want)
	}
	list, err := q.GroupMessageList(t.Context(), parley.GroupMessageListParams{GroupID: "g", Limit: 10})
	if err != nil {
		t.Fatalf("GroupMessageList: %v", err)
	}
	if got, want := groupMessageSeqs(list), []uint64{3, 2, 1}; !slices.Equal(got, want) {
		t.Fatalf("GroupMessageList seqs %v, want %v", got, want)
	}
	for i, want := range []*parley.GroupMessage{emptyAt, noneSet, allSet} {
		assertGroupMessage(t, list[i], want)
	}
}

func testGroupMessageGet(t *testing.T, q parley.Querier) {
	insertGroup(t, q, newGroup("g"))
	insertGroup(t, q, newGroup("g1"))
	insertGroup(t, q, newGroup("G"))
	a := insertGroupMessage(t, q, newGroupMessage("g", "alice", 1, 1000))
	b := insertGroupMessage(t, q, newGroupMessage("g", "bob", 2, 1001))
	c := insertGroupMessage(t, q, newGroupMessage("g1", "carol", 3, 1002))
	for _, m := range []*parley.GroupMessage{a, b, c} {
		assertGroupMessageGet(t, q, m)
	}
	for _, k := range []struct {
		groupID string
		seq     uint64
	}{{"g", 0}, {"g", 3}, {"g1", 2}, {"G", 1}, {"g%", 1}, {"", 1}, {"nope", 1}, {"g", math.MaxUint64}} {
		assertGroupMessageNotFound(t, q, k.groupID, k.seq)
	}
}

func testGroupMessageGetDuplicate(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	for _, id := range []string{"g", "g1", "G"} {
		insertGroup(t, q, newGroup(id))
	}
	key := func(m *parley.GroupMessage, since int64) parley.GroupMessageGetDuplicateParams {
		return parley.GroupMessageGetDuplicateParams{GroupID: m.GroupID, From: m.From, Random: m.Random, BodyCRC: m.BodyCRC, Since: since}
	}
	assertDuplicate := func(p parley.GroupMessageGetDuplicateParams, want *parley.GroupMessage) {
		t.Helper()
		got, err := q.GroupMessageGetDuplicate(ctx, p)
		if want == nil {
			if !errors.Is(err, parley.ErrNotFound) {
				t.Errorf("GroupMessageGetDuplicate(%+v) = %+v, %v; want ErrNotFound", p, got, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("GroupMessageGetDuplicate(%+v): %v", p, err)
		}
		assertGroupMessage(t, got, want)
	}

	// The same message twice in one second: the one stored later is the
	// newer.
	insertGroupMessage(t, q, newGroupMessage("g", "alice", 1, 1000))
	insertGroupMessage(t, q, newGroupMessage("g1", "alice", 1, 1000))
	second := insertGroupMessage(t, q, newGroupMessage("g", "alice", 1, 1000))
	assertDuplicate(key(second, 1000), second)
	assertDuplicate(key(second, 1001), nil)

	// The same Random and content from another sender.
	fromBob := newGroupMessage("g", "alice", 1, 1050)
	fromBob.From = "bob"
	insertGroupMessage(t, q, fromBob)
	newest := insertGroupMessage(t, q, newGroupMessage("g", "alice", 1, 1100))
	// Newer copies in neighbouring groups must never be taken for g's.
	inG1 := insertGroupMessage(t, q, newGroupMessage("g1", "alice", 1, 1200))
	inUpperG := insertGroupMessage(t, q, newGroupMessage("G", "alice", 1, 1300))

	tests := []struct {
		name string
		edit func(p *parley.GroupMessageGetDuplicateParams)
		want *parley.GroupMessage
	}{
		{"newest of several", func(p *parley.GroupMessageGetDuplicateParams) {}, newest},
		{"Since = MsgTime", func(p *parley.GroupMessageGetDuplicateParams) { p.Since = 1100 }, newest},
		{"Since just after", func(p *parley.GroupMessageGetDuplicateParams) { p.Since = 1101 }, nil},
		{"other sender", func(p *parley.GroupMessageGetDuplicateParams) { p.From = "bob" }, fromBob},
		{"other sender, Since after", func(p *parley.GroupMessageGetDuplicateParams) { p.From = "bob"; p.Since = 1051 }, nil},
		{"unknown sender", func(p *parley.GroupMessageGetDuplicateParams) { p.From = "carol" }, nil},
		{"admin sender", func(p *parley.GroupMessageGetDuplicateParams) { p.From = "" }, nil},
		{"other Random", func(p *parley.GroupMessageGetDuplicateParams) { p.Random++ }, nil},
		{"other BodyCRC", func(p *parley.GroupMessageGetDuplicateParams) { p.BodyCRC++ }, nil},
		{"group whose id extends it", func(p *parley.GroupMessageGetDuplicateParams) { p.GroupID = "g1" }, inG1},
		{"group of another case", func(p *parley.GroupMessageGetDuplicateParams) { p.GroupID = "G" }, inUpperG},
		{"group without it", func(p *parley.GroupMessageGetDuplicateParams) { p.GroupID = "g2" }, nil},
		{"neighbour's copy outside its window", func(p *parley.GroupMessageGetDuplicateParams) { p.GroupID = "g1"; p.Since = 1201 }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := key(newest, 900)
			tc.edit(&p)
			assertDuplicate(p, tc.want)
		})
	}
}

func testGroupMessageList(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	for _, id := range []string{"g", "g1", "G"} {
		insertGroup(t, q, newGroup(id))
	}
	var g []*parley.GroupMessage // g[i] has MsgSeq i+1
	for i := range 5 {
		g = append(g, insertGroupMessage(t, q, newGroupMessage("g", "alice", i, 1000+int64(i))))
		// Neighbours interleaved with g's messages.
		if i < 2 {
			insertGroupMessage(t, q, newGroupMessage("g1", "bob", i, 1000+int64(i)))
		}
	}
	insertGroupMessage(t, q, newGroupMessage("G", "bob", 9, 1009))
	if err := q.GroupMessageRecall(ctx, "g", 3); err != nil {
		t.Fatalf("GroupMessageRecall: %v", err)
	}
	g[2].Recalled = true // the store lists recalled messages; callers skip them

	tests := []struct {
		name    string
		p       parley.GroupMessageListParams
		wantSeq []uint64
	}{
		{"newest first", parley.GroupMessageListParams{GroupID: "g", Limit: 10}, []uint64{5, 4, 3, 2, 1}},
		{"limit", parley.GroupMessageListParams{GroupID: "g", Limit: 2}, []uint64{5, 4}},
		{"limit 1", parley.GroupMessageListParams{GroupID: "g", Limit: 1}, []uint64{5}},
		{"max seq inclusive", parley.GroupMessageListParams{GroupID: "g", MaxSeq: 3, Limit: 10}, []uint64{3, 2, 1}},
		{"max seq and limit", parley.GroupMessageListParams{GroupID: "g", MaxSeq: 4, Limit: 2}, []uint64{4, 3}},
		{"max seq 1", parley.GroupMessageListParams{GroupID: "g", MaxSeq: 1, Limit: 10}, []uint64{1}},
		{"max seq the newest", parley.GroupMessageListParams{GroupID: "g", MaxSeq: 5, Limit: 10}, []uint64{5, 4, 3, 2, 1}},
		{"max seq beyond", parley.GroupMessageListParams{GroupID: "g", MaxSeq: 1 << 40, Limit: 3}, []uint64{5, 4, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := q.GroupMessageList(ctx, tc.p)
			if err != nil {
				t.Fatalf("GroupMessageList(%+v): %v", tc.p, err)
			}
			if !slices.Equal(groupMessageSeqs(got), tc.wantSeq) {
				t.Fatalf("GroupMessageList(%+v) seqs %v, want %v", tc.p, groupMessageSeqs(got), tc.wantSeq)
			}
			for i, m := range got {
				assertGroupMessage(t, m, g[tc.wantSeq[i]-1])
			}
		})
	}
	for _, other := range []struct {
		groupID string
		want    []uint64
	}{{"g1", []uint64{2, 1}}, {"G", []uint64{1}}, {"g%", nil}, {"nope", nil}} {
		got, err := q.GroupMessageList(ctx, parley.GroupMessageListParams{GroupID: other.groupID, Limit: 10})
		if err != nil {
			t.Fatalf("GroupMessageList(%q): %v", other.groupID, err)
		}
		if !slices.Equal(groupMessageSeqs(got), other.want) || (len(got) > 0 && got[0].GroupID != other.groupID) {
			t.Errorf("GroupMessageList(%q) = %d messages with seqs %v, want seqs %v of that group", other.groupID, len(got), groupMessageSeqs(got), other.want)
		}
	}
}

func testGroupMessageRecall(t *testing.T, q parley.Querier) {
	ctx := t.Context()
	insertGroup(t, q, newGroup("g"))
	insertGroup(t, q, newGroup("g1"))
	target := insertGroupMessage(t, q, newGroupMessage("g", "alice", 1, 1000))
	next := insertGroupMessage(t, q, newGroupMessage("g", "alice", 2, 1001))
	sameSeq := insertGroupMessage(t, q, newGroupMessage("g1", "alice", 1, 1000))
	before := getGroup(t, q, "g")

	if err := q.GroupMessageRecall(ctx, "g", target.MsgSeq); err != nil {
		t.Fatalf("GroupMessageRecall: %v", err)
	}
	want := *target
	want.Recalled = true
	assertGroupMessageGet(t, q, &want)
	assertGroupMessageGet(t, q, next)
	assertGroupMessageGet(t, q, sameSeq)
	// Recalling changes no seq: the next message still gets the next one.
	assertGroup(t, getGroup(t, q, "g"), before)

	// Recalling twice changes nothing: the message stays recalled.
	if err := q.GroupMessageRecall(ctx, "g", target.MsgSeq); err != nil {
		t.Fatalf("GroupMessageRecall again: %v", err)
	}
	assertGroupMessageGet(t, q, &want)

	for _, k := range []struct {
		groupID string
		seq     uint64
	}{{"g", 0}, {"g", 3}, {"g1", 2}, {"nope", 1}, {"G", 1}} {
		if err := q.GroupMessageRecall(ctx, k.groupID, k.seq); !errors.Is(err, parley.ErrNotFound) {
			t.Errorf("GroupMessageRecall(%q, %d) = %v, want ErrNotFound", k.groupID, k.seq, err)
		}
	}
	assertGroupMessageGet(t, q, next)
	assertGroupMessageGet(t, q, sameSeq)
}
