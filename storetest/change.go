package storetest

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/parley-im/parley"
)

func changeTests() []querierTest {
	return []querierTest{
		{"ChangeAppend/SeqsGaplessPerConversation", testChangeAppend},
		{"ChangeAppend/KeepsEveryField", testChangeRoundTrip},
		{"ChangeAppend/AccountDeleteKeepsC2CLog", testChangeAccountDelete},
		{"ChangeList/VisibleToViewer", testChangeListVisibility},
		{"ChangeList/PagesByAfterSeqAndLimit", testChangeListPages},
		{"ChangeHead/NewestOrZero", testChangeHead},
	}
}

// newChange returns a message change of conv numbered n: its Data and Time
// differ from those of every other n.
func newChange(conv string, n int) *parley.Change {
	return &parley.Change{
		Conversation: conv,
		Kind:         parley.ChangeMessage,
		Time:         t0().UnixMilli() + int64(n),
		Data:         json.RawMessage(fmt.Sprintf(`{"MsgType":"TIMTextElem","n":%d}`, n)),
	}
}

func appendChange(t *testing.T, q parley.Querier, c *parley.Change) *parley.Change {
	t.Helper()
	if err := q.ChangeAppend(t.Context(), c); err != nil {
		t.Fatalf("ChangeAppend(%q, %s): %v", c.Conversation, c.Data, err)
	}
	return c
}

func listChanges(t *testing.T, q parley.Querier, p parley.ChangeListParams) []*parley.Change {
	t.Helper()
	cs, err := q.ChangeList(t.Context(), p)
	if err != nil {
		t.Fatalf("ChangeList(%+v): %v", p, err)
	}
	return cs
}

func changeHead(t *testing.T, q parley.Querier, conv string) uint64 {
	t.Helper()
	seq, err := q.ChangeHead(t.Context(), conv)
	if err != nil {
		t.Fatalf("ChangeHead(%q): %v", conv, err)
	}
	return seq
}

// sameChanges reports whether got and want hold equal changes in the same
// order; nil and empty are the same list.
func sameChanges(got, want []*parley.Change) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] == nil || !reflect.DeepEqual(*got[i], *want[i]) {
			return false
		}
	}
	return true
}

func formatChanges(cs []*parley.Change) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "\n\t%+v Data=%s", *c, c.Data)
	}
	return b.String()
}

func assertChangeList(t *testing.T, q parley.Querier, p parley.ChangeListParams, want ...*parley.Change) {
	t.Helper()
	if got := listChanges(t, q, p); !sameChanges(got, want) {
		t.Errorf("ChangeList(%+v)\n got %d:%s\nwant %d:%s", p, len(got), formatChanges(got), len(want), formatChanges(want))
	}
}

func changeSeqs(cs []*parley.Change) []uint64 {
	out := make([]uint64, len(cs))
	for i, c := range cs {
		out[i] = c.Seq
	}
	return out
}

func testChangeAppend(t *testing.T, q parley.Querier) {
	// Conversations whose keys are prefixes of each other, of both kinds.
	convs := []string{
		parley.C2CConversation("alice", "bob"),
		parley.GroupConversation("g"),
		parley.C2CConversation("alice", "bo"),
		parley.GroupConversation("g1"),
	}
	want := make(map[string][]*parley.Change)
	for i, k := range []int{0, 1, 0, 3, 0, 1, 2, 3, 1, 0} {
		conv := convs[k]
		c := newChange(conv, i)
		c.Seq = 77 // the store sets Seq, whatever it was
		appendChange(t, q, c)
		if w := uint64(len(want[conv]) + 1); c.Seq != w {
			t.Errorf("append %d to %q: Seq %d, want %d", i, conv, c.Seq, w)
		}
		want[conv] = append(want[conv], c)
	}
	for _, conv := range convs {
		assertChangeList(t, q, parley.ChangeListParams{Conversation: conv}, want[conv]...)
		if got, w := changeHead(t, q, conv), uint64(len(want[conv])); got != w {
			t.Errorf("ChangeHead(%q) = %d, want %d", conv, got, w)
		}
	}
}

func testChangeRoundTrip(t *testing.T, q parley.Querier) {
	conv := parley.C2CConversation("alice", "bob")
	// The largest change clients get: a message near its 12 KB body limit,
	// with text JSON escapes and characters outside ASCII.
	big := fmt.Sprintf(`{"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":%q}}],"From_Account":"alice"}`,
		strings.Repeat(`名"\ x`, 12*1024/9))
	cs := []*parley.Change{
		{Conversation: conv, Kind: parley.ChangeMessage, Time: 1_700_000_000_123, Data: json.RawMessage(big)},
		{Conversation: conv, Kind: parley.ChangeRead, Only: "alice", Time: 1_700_000_000_124, Data: json.RawMessage(`{"ReadTime":1700000000}`)},
		{Conversation: conv, Kind: parley.ChangeMessage, Except: "bob", Time: 1_700_000_000_125, Data: json.RawMessage(`{"SyncOtherMachine":2}`)},
		{Conversation: conv, Kind: parley.ChangeRecall, Time: 1_700_000_000_126, Data: json.RawMessage(`{}`)},
		{Conversation: conv, Kind: parley.ChangeExtension, Time: 1_700_000_000_127, Data: json.RawMessage(`{"ExtensionList":[{"Key":"k","Value":""}]}`)},
	}
	if len(big) < 12*1024 {
		t.Fatalf("the big change is %d bytes, want at least 12 KB", len(big))
	}
	for _, c := range cs {
		appendChange(t, q, c)
	}
	assertChangeList(t, q, parley.ChangeListParams{Conversation: conv}, cs...)
}

// A C2C log is the pair's: one side's account going leaves it for the
// other.
func testChangeAccountDelete(t *testing.T, q parley.Querier) {
	conv := parley.C2CConversation("alice", "bob")
	c := appendChange(t, q, newChange(conv, 1))
	addUnread(t, q, "alice", "bob", 0)
	addUnread(t, q, "bob", "alice", 1)
	if _, err := q.AccountUpsert(t.Context(), parley.Account{UserID: "alice", CreatedAt: t0()}); err != nil {
		t.Fatalf("AccountUpsert: %v", err)
	}
	if _, err := q.AccountDelete(t.Context(), "alice"); err != nil {
		t.Fatalf("AccountDelete: %v", err)
	}
	assertChangeList(t, q, parley.ChangeListParams{Conversation: conv}, c)
	if got := appendChange(t, q, newChange(conv, 2)); got.Seq != 2 {
		t.Errorf("ChangeAppend after AccountDelete: Seq %d, want 2", got.Seq)
	}
}

func testChangeListVisibility(t *testing.T, q parley.Querier) {
	conv := parley.C2CConversation("alice", "bob")
	plain := appendChange(t, q, newChange(conv, 1))
	onlyAlice := newChange(conv, 2)
	onlyAlice.Kind, onlyAlice.Only = parley.ChangeRead, "alice"
	exceptAlice := newChange(conv, 3)
	exceptAlice.Except = "alice"
	onlyBob := newChange(conv, 4)
	onlyBob.Kind, onlyBob.Only = parley.ChangeRead, "bob"
	exceptBob := newChange(conv, 5)
	exceptBob.Except = "bob"
	for _, c := range []*parley.Change{onlyAlice, exceptAlice, onlyBob, exceptBob} {
		appendChange(t, q, c)
	}
	last := appendChange(t, q, newChange(conv, 6))

	tests := []struct {
		viewer string
		want   []*parley.Change
	}{
		{"alice", []*parley.Change{plain, onlyAlice, exceptBob, last}},
		{"bob", []*parley.Change{plain, exceptAlice, onlyBob, last}},
		{"carol", []*parley.Change{plain, exceptAlice, exceptBob, last}},
		// A prefix of a user is someone else.
		{"ali", []*parley.Change{plain, exceptAlice, exceptBob, last}},
		{"", []*parley.Change{plain, onlyAlice, exceptAlice, onlyBob, exceptBob, last}},
	}
	for _, tc := range tests {
		assertChangeList(t, q, parley.ChangeListParams{Conversation: conv, Viewer: tc.viewer}, tc.want...)
	}
	// The filter and AfterSeq together.
	assertChangeList(t, q, parley.ChangeListParams{Conversation: conv, Viewer: "alice", AfterSeq: 2}, exceptBob, last)
}

func testChangeListPages(t *testing.T, q parley.Querier) {
	conv := parley.GroupConversation("g")
	var all []*parley.Change
	for i := range 105 {
		all = append(all, appendChange(t, q, newChange(conv, i)))
	}
	appendChange(t, q, newChange(parley.GroupConversation("g1"), 0))
	tests := []struct {
		p    parley.ChangeListParams
		want []*parley.Change
	}{
		{parley.ChangeListParams{}, all[:100]}, // zero Limit means 100
		{parley.ChangeListParams{Limit: 30}, all[:30]},
		{parley.ChangeListParams{AfterSeq: 30, Limit: 30}, all[30:60]},
		{parley.ChangeListParams{AfterSeq: 100}, all[100:]},
		{parley.ChangeListParams{AfterSeq: 100, Limit: 1000}, all[100:]},
		{parley.ChangeListParams{Limit: 1000}, all},
		{parley.ChangeListParams{AfterSeq: 104, Limit: 1}, all[104:]},
		{parley.ChangeListParams{AfterSeq: 105}, nil},
		{parley.ChangeListParams{AfterSeq: 1000}, nil},
		{parley.ChangeListParams{AfterSeq: math.MaxUint64}, nil},
	}
	for _, tc := range tests {
		tc.p.Conversation = conv
		got := listChanges(t, q, tc.p)
		if !sameChanges(got, tc.want) {
			t.Errorf("ChangeList(%+v): seqs %v, want %v", tc.p, changeSeqs(got), changeSeqs(tc.want))
		}
	}

	// Limit counts the changes the viewer sees: every other one is bob's.
	filtered := parley.GroupConversation("filtered")
	var alices []*parley.Change
	for i := range 20 {
		c := newChange(filtered, i)
		if i%2 == 0 {
			c.Kind, c.Only = parley.ChangeRead, "bob"
		}
		appendChange(t, q, c)
		if i%2 == 1 {
			alices = append(alices, c)
		}
	}
	assertChangeList(t, q, parley.ChangeListParams{Conversation: filtered, Viewer: "alice", Limit: 5}, alices[:5]...)
	assertChangeList(t, q, parley.ChangeListParams{Conversation: filtered, Viewer: "alice", AfterSeq: alices[4].Seq, Limit: 5}, alices[5:]...)
}

func testChangeHead(t *testing.T, q parley.Querier) {
	conv := parley.GroupConversation("g")
	for _, c := range []string{conv, parley.C2CConversation("alice", "bob"), "", parley.GroupConversation("")} {
		if got := changeHead(t, q, c); got != 0 {
			t.Errorf("ChangeHead(%q) with no changes = %d, want 0", c, got)
		}
	}
	for i := 1; i <= 3; i++ {
		appendChange(t, q, newChange(conv, i))
		if got := changeHead(t, q, conv); got != uint64(i) {
			t.Errorf("ChangeHead after %d appends = %d, want %d", i, got, i)
		}
	}
	// A viewer who sees none of the newest changes still learns the head.
	hidden := newChange(conv, 4)
	hidden.Only = "bob"
	appendChange(t, q, hidden)
	if got := changeHead(t, q, conv); got != 4 {
		t.Errorf("ChangeHead after a change only bob sees = %d, want 4", got)
	}
	if got := changeHead(t, q, parley.GroupConversation("g1")); got != 0 {
		t.Errorf("ChangeHead of another conversation = %d, want 0", got)
	}
}
