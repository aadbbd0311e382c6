package chat_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

// walk pages through owner's view of the conversation with peer, the way
// a client does, and returns the MsgKeys oldest first and the page sizes.
func walk(t *testing.T, e *env, p chat.RoamParams) (keys []string, pages []int) {
	t.Helper()
	for range 100 {
		res, err := e.eng.Roam(context.Background(), p)
		if err != nil {
			t.Fatalf("Roam(%+v): %v", p, err)
		}
		if len(res.Messages) > p.MaxCnt {
			t.Fatalf("page of %d messages, MaxCnt %d", len(res.Messages), p.MaxCnt)
		}
		var page []string
		for i, m := range res.Messages {
			page = append(page, m.MsgKey)
			if i > 0 && historyLess(m.Message, res.Messages[i-1].Message) {
				t.Fatalf("page not oldest first: %s before %s", res.Messages[i-1].MsgKey, m.MsgKey)
			}
		}
		if len(res.Messages) > 0 {
			oldest := res.Messages[0]
			if res.LastMsgKey != oldest.MsgKey || res.LastMsgTime != oldest.MsgTime {
				t.Fatalf("LastMsgKey/Time = %s/%d, want the page's oldest %s/%d", res.LastMsgKey, res.LastMsgTime, oldest.MsgKey, oldest.MsgTime)
			}
		}
		keys = append(page, keys...)
		pages = append(pages, len(page))
		if res.Complete {
			return keys, pages
		}
		if len(res.Messages) == 0 {
			t.Fatal("an empty page that is not Complete")
		}
		p.MaxTime, p.LastMsgKey = res.LastMsgTime, res.LastMsgKey
	}
	t.Fatal("paging never completed")
	return nil, nil
}

func historyLess(a, b *parley.Message) bool {
	return cmp.Or(cmp.Compare(a.MsgTime, b.MsgTime), cmp.Compare(a.MsgSeq, b.MsgSeq), cmp.Compare(a.ID, b.ID)) < 0
}

func TestRoamPaging(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "a", "b", "c")
	type sent struct {
		key  string
		time int64
		seq  uint32
		i    int
	}
	var all []sent
	for i := range 30 {
		if i > 0 && i%3 == 0 {
			e.clock.Advance(time.Second)
		}
		from, to := "a", "b"
		if i%2 == 1 {
			from, to = to, from
		}
		// Alternate seconds order by MsgSeq (against send order) and by
		// arrival (equal MsgSeq), so both tie-breaks are walked.
		s := uint32(5)
		if (i/3)%2 == 0 {
			s = uint32(2 - i%3)
		}
		r := e.send(t, chat.SendParams{From: from, To: to, MsgSeq: seq(s), MsgRandom: uint32(1000 + i), Body: textBody(fmt.Sprint("m", i))})
		all = append(all, sent{r.MsgKey, r.MsgTime, s, i})
		// Other conversations of the same people must not leak in.
		e.send(t, chat.SendParams{From: "c", To: from, Body: textBody("noise")})
		e.send(t, chat.SendParams{From: to, To: "c", Body: textBody("noise")})
	}
	slices.SortFunc(all, func(x, y sent) int {
		return cmp.Or(cmp.Compare(x.time, y.time), cmp.Compare(x.seq, y.seq), cmp.Compare(x.i, y.i))
	})
	var want []string
	for _, s := range all {
		want = append(want, s.key)
	}
	maxTime := e.clock.Now().Unix()

	for _, view := range [][2]string{{"a", "b"}, {"b", "a"}} {
		t.Run(view[0]+" sees "+view[1], func(t *testing.T) {
			got, pages := walk(t, e, chat.RoamParams{Operator: view[0], Peer: view[1], MaxCnt: 7, MinTime: t0.Unix(), MaxTime: maxTime})
			if !slices.Equal(got, want) {
				t.Errorf("walked\n %v\nwant\n %v", got, want)
			}
			if !slices.Equal(pages, []int{7, 7, 7, 7, 2}) {
				t.Errorf("page sizes %v, want [7 7 7 7 2]", pages)
			}
		})
	}

	ctx := context.Background()
	res, err := e.eng.Roam(ctx, chat.RoamParams{Operator: "a", Peer: "b", MaxCnt: 30, MinTime: 0, MaxTime: maxTime})
	if err != nil || !res.Complete || len(res.Messages) != 30 {
		t.Errorf("MaxCnt 30: complete %v, %d messages, %v", res.Complete, len(res.Messages), err)
	}
	res, err = e.eng.Roam(ctx, chat.RoamParams{Operator: "a", Peer: "b", MaxCnt: 29, MinTime: 0, MaxTime: maxTime})
	if err != nil || res.Complete || len(res.Messages) != 29 {
		t.Errorf("MaxCnt 29: complete %v, %d messages, %v", res.Complete, len(res.Messages), err)
	}
	// A time window: seconds 2 to 5 hold messages 6 to 17.
	got, _ := walk(t, e, chat.RoamParams{Operator: "b", Peer: "a", MaxCnt: 5, MinTime: t0.Unix() + 2, MaxTime: t0.Unix() + 5})
	var inWindow []string
	for _, s := range all {
		if s.time >= t0.Unix()+2 && s.time <= t0.Unix()+5 {
			inWindow = append(inWindow, s.key)
		}
	}
	if len(inWindow) != 12 || !slices.Equal(got, inWindow) {
		t.Errorf("window walk = %v, want %v", got, inWindow)
	}
	res, err = e.eng.Roam(ctx, chat.RoamParams{Operator: "a", Peer: "b", MaxCnt: 5, MinTime: maxTime + 1, MaxTime: maxTime + 10})
	if err != nil || !res.Complete || len(res.Messages) != 0 || res.LastMsgKey != "" {
		t.Errorf("empty window = %+v, %v", res, err)
	}

	cKey := e.send(t, chat.SendParams{From: "a", To: "c", Body: textBody("x")}).MsgKey
	for _, tt := range []struct {
		name string
		p    chat.RoamParams
		code int
	}{
		{"operator unknown", chat.RoamParams{Operator: "x", Peer: "b", MaxCnt: 1, MaxTime: maxTime}, parley.ErrFromAccountInvalid},
		{"peer unknown", chat.RoamParams{Operator: "a", Peer: "x", MaxCnt: 1, MaxTime: maxTime}, parley.ErrToAccountInvalid},
		{"MaxCnt 0", chat.RoamParams{Operator: "a", Peer: "b", MaxCnt: 0, MaxTime: maxTime}, parley.ErrFormat},
		{"MinTime after MaxTime", chat.RoamParams{Operator: "a", Peer: "b", MaxCnt: 1, MinTime: maxTime + 1, MaxTime: maxTime}, parley.ErrFormat},
		{"unknown LastMsgKey", chat.RoamParams{Operator: "a", Peer: "b", MaxCnt: 1, MaxTime: maxTime, LastMsgKey: "1_2_3"}, parley.ErrMsgKeyInvalid},
		{"LastMsgKey of another conversation", chat.RoamParams{Operator: "a", Peer: "b", MaxCnt: 1, MaxTime: maxTime, LastMsgKey: cKey}, parley.ErrMsgKeyInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.eng.Roam(ctx, tt.p)
			wantCode(t, err, tt.code)
		})
	}
}

func TestRoamPageBytes(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "a", "b")
	for i := range 5 {
		e.clock.Advance(time.Second)
		e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody(strings.Repeat(fmt.Sprint(i), 5000))})
	}
	p := chat.RoamParams{Operator: "b", Peer: "a", MaxCnt: 10, MaxTime: e.clock.Now().Unix()}
	keys, pages := walk(t, e, p)
	if len(keys) != 5 || !slices.Equal(pages, []int{2, 2, 1}) {
		t.Errorf("5 messages of 5 KB: pages %v, want [2 2 1]", pages)
	}

	// A message bigger than the page still comes, alone.
	e.clock.Advance(time.Second)
	for range 2 {
		e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody(strings.Repeat("z", parley.MaxMsgBodyBytes)), CloudCustomData: strings.Repeat("c", 2000)})
	}
	p.MaxTime = e.clock.Now().Unix()
	_, pages = walk(t, e, p)
	if !slices.Equal(pages, []int{1, 1, 2, 2, 1}) {
		t.Errorf("pages %v, want [1 1 2 2 1]", pages)
	}
}

func TestRoamViews(t *testing.T) {
	e := setup(t, nil)
	e.importUsers(t, "a", "b")
	ctx := context.Background()
	hidden := e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("not for a's other devices"), SyncOtherMachine: parley.SyncNotToSender})
	shown := e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("synced"), SyncOtherMachine: parley.SyncToSender})
	e.clock.Advance(time.Second)
	reply := e.send(t, chat.SendParams{From: "b", To: "a", Body: textBody("reply")})
	e.clock.Advance(time.Second)
	late := e.send(t, chat.SendParams{From: "a", To: "b", Body: textBody("late")})
	if err := e.eng.Recall(ctx, chat.RecallParams{From: "a", To: "b", MsgKey: shown.MsgKey}); err != nil {
		t.Fatal(err)
	}
	// b has read a's messages up to the reply's second, a has read nothing.
	if err := e.eng.SetRead(ctx, chat.SetReadParams{Report: "b", Peer: "a", ReadTime: reply.MsgTime}); err != nil {
		t.Fatal(err)
	}

	view := func(owner, peer string) map[string]chat.RoamMessage {
		res, err := e.eng.Roam(ctx, chat.RoamParams{Operator: owner, Peer: peer, MaxCnt: 100, MaxTime: e.clock.Now().Unix()})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]chat.RoamMessage{}
		for _, m := range res.Messages {
			out[m.MsgKey] = m
		}
		return out
	}
	av, bv := view("a", "b"), view("b", "a")
	if _, ok := av[hidden.MsgKey]; ok || len(av) != 3 {
		t.Errorf("a's view has %d messages, hidden one included: %v; want 3 without it", len(av), ok)
	}
	if _, ok := bv[hidden.MsgKey]; !ok || len(bv) != 4 {
		t.Errorf("b's view has %d messages, hidden one included: %v; want 4 with it", len(bv), ok)
	}
	for _, v := range []map[string]chat.RoamMessage{av, bv} {
		if m := v[shown.MsgKey]; m.Message == nil || !m.Recalled || !m.IsPeerRead {
			t.Errorf("recalled message = %+v, want it present, recalled and read", m)
		}
		if m := v[reply.MsgKey]; m.IsPeerRead {
			t.Error("b's reply marked read by a")
		}
		if m := v[late.MsgKey]; m.IsPeerRead {
			t.Error("a's late message marked read by b")
		}
	}
	if m := bv[hidden.MsgKey]; !m.IsPeerRead || string(m.Body) != string(textBody("not for a's other devices")) {
		t.Errorf("hidden message in b's view = %+v", m)
	}
	// A hidden message still works as a cursor in the sender's view.
	res, err := e.eng.Roam(ctx, chat.RoamParams{Operator: "a", Peer: "b", MaxCnt: 100, MaxTime: e.clock.Now().Unix(), LastMsgKey: hidden.MsgKey})
	if err != nil || !res.Complete {
		t.Errorf("cursor on a hidden message: %+v, %v", res, err)
	}
}
