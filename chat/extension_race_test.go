package chat_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

const (
	extRaceWriters = 8
	extRaceRounds  = 50
	extRaceKey     = "votes"
)

// extRaceTargets runs f on a C2C message, whose writers take turns being
// its two sides, and on a group message, whose writers are eight members.
func extRaceTargets(t *testing.T, f func(t *testing.T, e *env, ref chat.MessageRef, writers []string)) {
	t.Run("c2c", func(t *testing.T) {
		e := setup(t, nil)
		e.importUsers(t, "a", "b")
		ref := e.extSendC2C(t, "a", "b", true)
		var writers []string
		for i := range extRaceWriters {
			writers = append(writers, []string{"a", "b"}[i%2])
		}
		f(t, e, ref, writers)
	})
	t.Run("group", func(t *testing.T) {
		e := setup(t, nil)
		var writers []string
		for i := range extRaceWriters {
			writers = append(writers, fmt.Sprint("m", i))
		}
		e.extGroup(t, "g", parley.GroupPublic, writers...)
		f(t, e, e.extGroupMsg(t, "g", true), writers)
	})
}

// seqOf is the Seq of key in a get's answer, 0 if absent.
func extSeqOf(res chat.GetExtensionsResult, key string) uint64 {
	for _, kv := range res.KVs {
		if kv.Key == key {
			return kv.Seq
		}
	}
	return 0
}

// TestExtensionRaceRounds: in each round every writer reads the key's
// Seq, then all write it at once with that Seq. Exactly one wins each
// round, the others get 23001 with the winner's KV, and the events are
// the winners' in order.
func TestExtensionRaceRounds(t *testing.T) {
	extRaceTargets(t, func(t *testing.T, e *env, ref chat.MessageRef, writers []string) {
		ctx := context.Background()
		var winners []string
		for round := range extRaceRounds {
			results := make([]chat.SetExtensionsResult, len(writers))
			errs := make([]error, len(writers))
			var read, wg sync.WaitGroup
			read.Add(len(writers))
			start := make(chan struct{})
			for i, w := range writers {
				wg.Go(func() {
					got, err := e.eng.GetExtensions(ctx, chat.GetExtensionsParams{Ref: ref, Operator: w})
					read.Done()
					if err != nil {
						errs[i] = err
						return
					}
					<-start
					results[i], errs[i] = e.eng.SetExtensions(ctx, chat.SetExtensionsParams{
						Ref:         ref,
						Operator:    w,
						OperateType: parley.ExtensionSet,
						KVs:         []parley.ExtensionKV{extKV(extRaceKey, fmt.Sprintf("w%d-r%d", i, round), extSeqOf(got, extRaceKey))},
					})
				})
			}
			read.Wait()
			close(start)
			wg.Wait()

			want := uint64(round + 1)
			winner := -1
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d writer %d: %v", round, i, err)
				}
				if results[i].Results[0].Code == 0 {
					if winner >= 0 {
						t.Fatalf("round %d: writers %d and %d both won", round, winner, i)
					}
					winner = i
				}
			}
			if winner < 0 {
				t.Fatalf("round %d: nobody won", round)
			}
			won := extKV(extRaceKey, fmt.Sprintf("w%d-r%d", winner, round), want)
			winners = append(winners, won.Value)
			for i, r := range results {
				if r.Seq != want {
					t.Errorf("round %d writer %d: Seq %d, want %d", round, i, r.Seq, want)
				}
				if i != winner && !reflect.DeepEqual(r.Results, []chat.ExtensionResult{extConflict(won)}) {
					t.Errorf("round %d writer %d: %+v, want 23001 with the winner's %+v", round, i, r.Results, won)
				}
			}
		}
		extCheckHistory(t, e, ref, winners)
	})
}

// TestExtensionRaceFree: writers read and write as fast as they can.
// Every successful write is one Seq, and none is lost.
func TestExtensionRaceFree(t *testing.T) {
	extRaceTargets(t, func(t *testing.T, e *env, ref chat.MessageRef, writers []string) {
		ctx := context.Background()
		won := make([]map[uint64]string, len(writers)) // Seq → value, per writer
		errs := make([]error, len(writers))
		var wg sync.WaitGroup
		for i, w := range writers {
			won[i] = map[uint64]string{}
			wg.Go(func() {
				for round := range extRaceRounds {
					got, err := e.eng.GetExtensions(ctx, chat.GetExtensionsParams{Ref: ref, Operator: w})
					if err != nil {
						errs[i] = err
						return
					}
					value := fmt.Sprintf("w%d-r%d", i, round)
					res, err := e.eng.SetExtensions(ctx, chat.SetExtensionsParams{
						Ref:         ref,
						Operator:    w,
						OperateType: parley.ExtensionSet,
						KVs:         []parley.ExtensionKV{extKV(extRaceKey, value, extSeqOf(got, extRaceKey))},
					})
					if err != nil {
						errs[i] = err
						return
					}
					switch r := res.Results[0]; r.Code {
					case 0:
						won[i][r.KV.Seq] = value
					case parley.ErrExtensionConflict:
					default:
						errs[i] = fmt.Errorf("result code %d", r.Code)
						return
					}
				}
			})
		}
		wg.Wait()
		all := map[uint64]string{}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", i, err)
			}
			for s, v := range won[i] {
				if _, dup := all[s]; dup {
					t.Fatalf("Seq %d won twice", s)
				}
				all[s] = v
			}
		}
		if len(all) == 0 {
			t.Fatal("no write succeeded")
		}
		winners := make([]string, len(all))
		for s, v := range all {
			if s < 1 || s > uint64(len(all)) {
				t.Fatalf("a write won Seq %d, outside 1..%d", s, len(all))
			}
			winners[s-1] = v
		}
		extCheckHistory(t, e, ref, winners)
	})
}

// extCheckHistory checks that ref's Seq is the number of winners, that
// the events are the winners' writes at Seq 1..N in commit order, and that
// the value left is the last winner's.
func extCheckHistory(t *testing.T, e *env, ref chat.MessageRef, winners []string) {
	t.Helper()
	n := uint64(len(winners))
	got := e.extGet(t, ref, 0)
	want := chat.GetExtensionsResult{Complete: true, LatestSeq: n, KVs: []parley.ExtensionKV{extKV(extRaceKey, winners[n-1], n)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("final get = %+v, want %+v", got, want)
	}
	evs := e.extEvents(t, ref)
	if uint64(len(evs)) != n {
		t.Fatalf("%d events, want %d", len(evs), n)
	}
	for i, ev := range evs {
		s := uint64(i + 1)
		want := extEvent{OperateType: parley.ExtensionSet, ExtensionList: []parley.ExtensionKV{extKV(extRaceKey, winners[i], s)}, Seq: s}
		if !reflect.DeepEqual(ev, want) {
			t.Fatalf("event %d = %+v, want %+v", i, ev, want)
		}
	}
}

// TestExtensionRaceAdmins: the App admin skips the Seq check, so every
// concurrent call applies, each at its own Seq.
func TestExtensionRaceAdmins(t *testing.T) {
	extRaceTargets(t, func(t *testing.T, e *env, ref chat.MessageRef, _ []string) {
		ctx := context.Background()
		seqs := make([][]uint64, extRaceWriters)
		errs := make([]error, extRaceWriters)
		var wg sync.WaitGroup
		for i := range extRaceWriters {
			wg.Go(func() {
				for round := range extRaceRounds {
					res, err := e.eng.SetExtensions(ctx, chat.SetExtensionsParams{
						Ref:         ref,
						OperateType: parley.ExtensionSet,
						KVs:         []parley.ExtensionKV{extKV(extRaceKey, fmt.Sprintf("w%d-r%d", i, round), 0), extKV(fmt.Sprint("w", i), fmt.Sprint(round), 0)},
					})
					if err != nil {
						errs[i] = err
						return
					}
					for _, r := range res.Results {
						if r.Code != 0 || r.KV.Seq != res.Seq {
							errs[i] = fmt.Errorf("result %+v of a call at Seq %d", r, res.Seq)
							return
						}
					}
					seqs[i] = append(seqs[i], res.Seq)
				}
			})
		}
		wg.Wait()
		const n = extRaceWriters * extRaceRounds
		var all []uint64
		for i, err := range errs {
			if err != nil {
				t.Fatalf("writer %d: %v", i, err)
			}
			if !slices.IsSorted(seqs[i]) {
				t.Errorf("writer %d saw Seqs go back: %v", i, seqs[i])
			}
			all = append(all, seqs[i]...)
		}
		slices.Sort(all)
		for i, s := range all {
			if s != uint64(i+1) {
				t.Fatalf("the calls' Seqs sorted are %v..., want 1..%d", all[:i+1], n)
			}
		}
		evs := e.extEvents(t, ref)
		if len(evs) != n {
			t.Fatalf("%d events, want %d", len(evs), n)
		}
		for i, ev := range evs {
			if ev.Seq != uint64(i+1) {
				t.Fatalf("event %d has Seq %d, want %d", i, ev.Seq, i+1)
			}
		}
		got := e.extGet(t, ref, 0)
		last := evs[n-1].ExtensionList[0]
		if got.LatestSeq != n || extSeqOf(got, extRaceKey) != n || !slices.Contains(got.KVs, last) {
			t.Errorf("final get = %+v, want LatestSeq %d and the last event's %+v", got, n, last)
		}
		if len(got.KVs) != extRaceWriters+1 {
			t.Errorf("%d KVs, want %d", len(got.KVs), extRaceWriters+1)
		}
	})
}
