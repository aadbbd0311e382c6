package sqlite_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/sqlite"
)

// TestGroupMessageInsertConcurrent: many senders insert into two groups at
// once through InTx, queued behind a blocked writer so that they commit in
// large groups; some fns fail after their insert, which rolls the group
// back and runs it again with savepoints. The committed messages of each
// group have MsgSeq 1..N without gaps or repeats, every failed insert gave
// its seq back, and NextMsgSeq and LastMsgTime follow the last message.
func TestGroupMessageInsertConcurrent(t *testing.T) {
	tests := []struct {
		name string
		cfg  sqlite.Config
	}{
		{"group commit", sqlite.Config{}},
		{"one call a transaction", sqlite.Config{MaxBatch: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t, tc.cfg)
			ctx := t.Context()
			for _, id := range []string{"g", "h"} {
				if err := db.GroupInsert(ctx, &parley.Group{ID: id, Type: parley.GroupPublic, Name: id}); err != nil {
					t.Fatal(err)
				}
			}

			const senders = 200
			errFailed := errors.New("the fn failed after its insert")
			type sent struct {
				group string
				seq   uint64
				ok    bool
			}
			results := make([]sent, senders)
			release := blockWriter(t, db)
			var wg sync.WaitGroup
			for i := range senders {
				wg.Go(func() {
					group := []string{"g", "h"}[i%2]
					var seq uint64
					err := db.InTx(ctx, func(tx parley.Querier) error {
						// A fresh message each run: InTx may run fn twice.
						m := &parley.GroupMessage{GroupID: group, From: fmt.Sprint("u", i), Random: uint32(i),
							MsgTime: int64(1000 + i), Body: []byte(`[]`)}
						if err := tx.GroupMessageInsert(ctx, m); err != nil {
							return err
						}
						seq = m.MsgSeq
						if i%7 == 3 {
							return errFailed
						}
						return nil
					})
					switch {
					case err == nil:
						results[i] = sent{group, seq, true}
					case i%7 == 3 && errors.Is(err, errFailed):
					default:
						t.Errorf("sender %d: %v", i, err)
					}
				})
			}
			if tc.cfg.MaxBatch == 0 {
				waitQueued(t, db, senders)
			}
			release()
			wg.Wait()

			for _, group := range []string{"g", "h"} {
				var want []uint64
				var seqs []uint64
				from := make(map[uint64]string)
				for i, r := range results {
					if r.ok && r.group == group {
						seqs = append(seqs, r.seq)
						from[r.seq] = fmt.Sprint("u", i)
						want = append(want, uint64(len(want)+1))
					}
				}
				slices.Sort(seqs)
				if !slices.Equal(seqs, want) {
					t.Fatalf("group %s: committed seqs %v, want 1..%d", group, seqs, len(want))
				}
				stored, err := db.GroupMessageList(ctx, parley.GroupMessageListParams{GroupID: group})
				if err != nil {
					t.Fatal(err)
				}
				if len(stored) != len(want) {
					t.Fatalf("group %s: %d messages stored, want %d", group, len(stored), len(want))
				}
				for _, m := range stored {
					if m.From != from[m.MsgSeq] {
						t.Errorf("group %s seq %d: From %q, want %q (the sender told that seq)", group, m.MsgSeq, m.From, from[m.MsgSeq])
					}
				}
				g, err := db.GroupGet(ctx, group)
				if err != nil {
					t.Fatal(err)
				}
				if g.NextMsgSeq != uint64(len(want)+1) {
					t.Errorf("group %s: NextMsgSeq %d, want %d", group, g.NextMsgSeq, len(want)+1)
				}
				if g.LastMsgTime != stored[0].MsgTime {
					t.Errorf("group %s: LastMsgTime %d, want %d, the newest message's", group, g.LastMsgTime, stored[0].MsgTime)
				}
			}
			if s := db.Stats(); tc.cfg.MaxBatch == 0 && s.Retries == 0 {
				t.Errorf("no group was run again with savepoints (Stats %+v); the test did not cover it", s)
			}
		})
	}
}

// TestGroupDeleteLeavesOtherTargets: a group's extensions are a range of
// targets, and the range ends exactly where its prefix does, whatever
// bytes the neighbouring GroupIds and targets hold.
func TestGroupDeleteLeavesOtherTargets(t *testing.T) {
	db := open(t, sqlite.Config{})
	ctx := t.Context()
	groups := []string{"g", "g\x01", "g\x7f", "g" + string([]byte{0xff}), "f\xff", "h", "G"}
	for _, id := range groups {
		if err := db.GroupInsert(ctx, &parley.Group{ID: id, Type: parley.GroupPublic, Name: "n"}); err != nil {
			t.Fatal(err)
		}
	}
	targets := []string{parley.C2CExtensionTarget(1), "group:g", "group:g\x01"}
	for _, id := range groups {
		targets = append(targets, parley.GroupExtensionTarget(id, 1), parley.GroupExtensionTarget(id, 18446744073709551615))
	}
	for _, target := range targets {
		if err := db.ExtensionWrite(ctx, parley.ExtensionWriteParams{Target: target, Seq: 1,
			Put: []parley.ExtensionKV{{Key: "k", Value: "v"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if deleted, err := db.GroupDelete(ctx, "g"); err != nil || !deleted {
		t.Fatalf("GroupDelete(g) = %v, %v; want true, nil", deleted, err)
	}
	for _, target := range targets {
		gone := target == parley.GroupExtensionTarget("g", 1) || target == parley.GroupExtensionTarget("g", 18446744073709551615)
		st, err := db.ExtensionStateGet(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		kvs, err := db.ExtensionList(ctx, parley.ExtensionListParams{Target: target})
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Seq == 0 && len(kvs) == 0; got != gone {
			t.Errorf("target %q: gone = %v (state %+v, %d KVs), want %v", target, got, st, len(kvs), gone)
		}
	}
}
