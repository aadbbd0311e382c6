package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/parley-im/parley"
)

func extensionTests() []querierTest {
	return []querierTest{
		{"ExtensionStateGet/UntouchedIsZero", testExtensionStateZero},
		{"ExtensionWrite/PutDeleteClearAndState", testExtensionWrite},
		{"ExtensionGetKeys/ExactKeysOfTarget", testExtensionGetKeys},
		{"ExtensionList/BySeqThenKeyFromStartSeq", testExtensionList},
	}
}

func writeExtension(t *testing.T, q parley.Querier, p parley.ExtensionWriteParams) {
	t.Helper()
	if err := q.ExtensionWrite(t.Context(), p); err != nil {
		t.Fatalf("ExtensionWrite(%+v): %v", p, err)
	}
}

func extensionState(t *testing.T, q parley.Querier, target string) parley.ExtensionState {
	t.Helper()
	st, err := q.ExtensionStateGet(t.Context(), target)
	if err != nil {
		t.Fatalf("ExtensionStateGet(%q): %v", target, err)
	}
	return st
}

func assertExtensionState(t *testing.T, q parley.Querier, target string, want parley.ExtensionState) {
	t.Helper()
	if got := extensionState(t, q, target); got != want {
		t.Errorf("ExtensionStateGet(%q) = %+v, want %+v", target, got, want)
	}
}

func listExtensions(t *testing.T, q parley.Querier, p parley.ExtensionListParams) []parley.ExtensionKV {
	t.Helper()
	kvs, err := q.ExtensionList(t.Context(), p)
	if err != nil {
		t.Fatalf("ExtensionList(%+v): %v", p, err)
	}
	return kvs
}

func assertExtensionList(t *testing.T, q parley.Querier, p parley.ExtensionListParams, want ...parley.ExtensionKV) {
	t.Helper()
	if got := listExtensions(t, q, p); !slices.Equal(got, want) {
		t.Errorf("ExtensionList(%+v)\n got %v\nwant %v", p, got, want)
	}
}

// sortKVs orders KVs the way ExtensionList does: by Seq, then Key.
func sortKVs(kvs []parley.ExtensionKV) []parley.ExtensionKV {
	return slices.SortedFunc(slices.Values(kvs), func(a, b parley.ExtensionKV) int {
		return cmp.Or(cmp.Compare(a.Seq, b.Seq), strings.Compare(a.Key, b.Key))
	})
}

func testExtensionStateZero(t *testing.T, q parley.Querier) {
	writeExtension(t, q, parley.ExtensionWriteParams{Target: parley.C2CExtensionTarget(1), Seq: 1, Put: []parley.ExtensionKV{{Key: "k", Value: "v"}}})
	for _, target := range []string{parley.C2CExtensionTarget(2), parley.C2CExtensionTarget(10), parley.GroupExtensionTarget("g", 1), "c2c:", ""} {
		assertExtensionState(t, q, target, parley.ExtensionState{})
		assertExtensionList(t, q, parley.ExtensionListParams{Target: target, Limit: 100})
		if got, err := q.ExtensionGetKeys(t.Context(), target, []string{"k"}); err != nil || len(got) != 0 {
			t.Errorf("ExtensionGetKeys(%q, k) = %v, %v; want none", target, got, err)
		}
	}
}

func testExtensionWrite(t *testing.T, q parley.Querier) {
	target := parley.GroupExtensionTarget("g", 7)
	// Targets that share a prefix with target, or with each other.
	neighbours := []string{parley.GroupExtensionTarget("g", 70), parley.GroupExtensionTarget("g1", 7), parley.C2CExtensionTarget(7)}
	for i, n := range neighbours {
		writeExtension(t, q, parley.ExtensionWriteParams{Target: n, Seq: 1, Put: []parley.ExtensionKV{{Key: "a", Value: n}, {Key: "x", Value: fmt.Sprint(i)}}})
	}

	long := strings.Repeat("ü", parley.MaxExtensionValueBytes/2)
	kv := func(key, value string, seq uint64) parley.ExtensionKV {
		return parley.ExtensionKV{Key: key, Value: value, Seq: seq}
	}
	steps := []struct {
		name  string
		p     parley.ExtensionWriteParams
		state parley.ExtensionState
		kvs   []parley.ExtensionKV
	}{
		{"put three", parley.ExtensionWriteParams{Seq: 1, Put: []parley.ExtensionKV{kv("a", "1", 99), kv("b", "2", 0), kv("c", long, 1)}},
			parley.ExtensionState{Seq: 1, Count: 3}, []parley.ExtensionKV{kv("a", "1", 1), kv("b", "2", 1), kv("c", long, 1)}},
		{"replace one, delete one and an absent key", parley.ExtensionWriteParams{Seq: 2, Put: []parley.ExtensionKV{kv("a", "1b", 1)}, Delete: []string{"b", "zz"}},
			parley.ExtensionState{Seq: 2, Count: 2}, []parley.ExtensionKV{kv("c", long, 1), kv("a", "1b", 2)}},
		{"delete only absent keys", parley.ExtensionWriteParams{Seq: 3, Delete: []string{"zz", "A"}},
			parley.ExtensionState{Seq: 3, Count: 2}, []parley.ExtensionKV{kv("c", long, 1), kv("a", "1b", 2)}},
		{"replace with the same value", parley.ExtensionWriteParams{Seq: 4, Put: []parley.ExtensionKV{kv("c", long, 0)}},
			parley.ExtensionState{Seq: 4, Count: 2}, []parley.ExtensionKV{kv("a", "1b", 2), kv("c", long, 4)}},
		{"clear", parley.ExtensionWriteParams{Seq: 5, Clear: true},
			parley.ExtensionState{Seq: 5, ClearSeq: 5, Count: 0}, nil},
		{"put after clear", parley.ExtensionWriteParams{Seq: 6, Put: []parley.ExtensionKV{kv("d", "4", 0), kv("A", "upper", 0)}},
			parley.ExtensionState{Seq: 6, ClearSeq: 5, Count: 2}, []parley.ExtensionKV{kv("A", "upper", 6), kv("d", "4", 6)}},
		{"clear and put", parley.ExtensionWriteParams{Seq: 7, Clear: true, Put: []parley.ExtensionKV{kv("e", "5", 0), kv("f", "6", 0)}},
			parley.ExtensionState{Seq: 7, ClearSeq: 7, Count: 2}, []parley.ExtensionKV{kv("e", "5", 7), kv("f", "6", 7)}},
		{"delete every key", parley.ExtensionWriteParams{Seq: 8, Delete: []string{"f", "e"}},
			parley.ExtensionState{Seq: 8, ClearSeq: 7, Count: 0}, nil},
		{"clear when empty", parley.ExtensionWriteParams{Seq: 9, Clear: true},
			parley.ExtensionState{Seq: 9, ClearSeq: 9, Count: 0}, nil},
	}
	for _, st := range steps {
		st.p.Target = target
		writeExtension(t, q, st.p)
		assertExtensionState(t, q, target, st.state)
		assertExtensionList(t, q, parley.ExtensionListParams{Target: target, Limit: 1000}, st.kvs...)
		if t.Failed() {
			t.Fatalf("after step %q: see above", st.name)
		}
	}
	for i, n := range neighbours {
		assertExtensionState(t, q, n, parley.ExtensionState{Seq: 1, Count: 2})
		assertExtensionList(t, q, parley.ExtensionListParams{Target: n, Limit: 1000}, kv("a", n, 1), kv("x", fmt.Sprint(i), 1))
	}
}

func testExtensionGetKeys(t *testing.T, q parley.Querier) {
	target := parley.C2CExtensionTarget(5)
	other := parley.C2CExtensionTarget(6)
	writeExtension(t, q, parley.ExtensionWriteParams{Target: target, Seq: 1, Put: []parley.ExtensionKV{{Key: "a", Value: "1"}, {Key: "A", Value: "2"}}})
	writeExtension(t, q, parley.ExtensionWriteParams{Target: target, Seq: 2, Put: []parley.ExtensionKV{{Key: "a%", Value: "3"}, {Key: "b b", Value: "4"}, {Key: "ünï", Value: "5"}}})
	writeExtension(t, q, parley.ExtensionWriteParams{Target: other, Seq: 1, Put: []parley.ExtensionKV{{Key: "z", Value: "6"}, {Key: "a", Value: "other"}}})
	stored := map[string]parley.ExtensionKV{
		"a": {Key: "a", Value: "1", Seq: 1}, "A": {Key: "A", Value: "2", Seq: 1},
		"a%": {Key: "a%", Value: "3", Seq: 2}, "b b": {Key: "b b", Value: "4", Seq: 2}, "ünï": {Key: "ünï", Value: "5", Seq: 2},
	}
	pick := func(keys ...string) []parley.ExtensionKV {
		var out []parley.ExtensionKV
		for _, k := range keys {
			out = append(out, stored[k])
		}
		return out
	}
	tests := []struct {
		name string
		keys []string
		want []parley.ExtensionKV
	}{
		{"none asked", nil, nil},
		{"one", []string{"a"}, pick("a")},
		{"case matters", []string{"A"}, pick("A")},
		{"several", []string{"ünï", "A", "a"}, pick("a", "A", "ünï")},
		{"absent skipped", []string{"x", "b b", "y"}, pick("b b")},
		{"other target's key", []string{"z"}, nil},
		{"no patterns", []string{"a_", "%", "b", "a%%"}, nil},
		{"pattern characters as such", []string{"a%"}, pick("a%")},
		{"all and more", []string{"a", "A", "a%", "b b", "ünï", "z", ""}, pick("a", "A", "a%", "b b", "ünï")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := q.ExtensionGetKeys(t.Context(), target, tc.keys)
			if err != nil {
				t.Fatalf("ExtensionGetKeys(%q): %v", tc.keys, err)
			}
			if got, want := sortKVs(got), sortKVs(tc.want); !slices.Equal(got, want) {
				t.Errorf("ExtensionGetKeys(%q)\n got %v\nwant %v", tc.keys, got, want)
			}
		})
	}
}

func testExtensionList(t *testing.T, q parley.Querier) {
	target := parley.GroupExtensionTarget("g", 1)
	other := parley.GroupExtensionTarget("g", 2)
	put := func(target string, seq uint64, keys ...string) {
		t.Helper()
		var kvs []parley.ExtensionKV
		for _, k := range keys {
			kvs = append(kvs, parley.ExtensionKV{Key: k, Value: fmt.Sprintf("%s@%d", k, seq)})
		}
		writeExtension(t, q, parley.ExtensionWriteParams{Target: target, Seq: seq, Put: kvs})
	}
	put(target, 1, "b", "a", "c", "e")
	put(other, 1, "a", "0")
	put(target, 2, "d", "a")
	writeExtension(t, q, parley.ExtensionWriteParams{Target: target, Seq: 3, Put: []parley.ExtensionKV{
		{Key: "Z", Value: "Z@3"}, {Key: "B", Value: "B@3"}, {Key: "aa", Value: "aa@3"},
	}, Delete: []string{"c"}})
	put(other, 2, "b")
	kv := func(key string, seq, valueSeq uint64) parley.ExtensionKV {
		return parley.ExtensionKV{Key: key, Value: fmt.Sprintf("%s@%d", key, valueSeq), Seq: seq}
	}
	// By Seq, then Key as bytes: upper case before lower.
	all := []parley.ExtensionKV{kv("b", 1, 1), kv("e", 1, 1), kv("a", 2, 2), kv("d", 2, 2), kv("B", 3, 3), kv("Z", 3, 3), kv("aa", 3, 3)}
	if !slices.Equal(sortKVs(all), all) {
		t.Fatalf("reference answer is not in (Seq, Key) order")
	}

	tests := []struct {
		name string
		p    parley.ExtensionListParams
		want []parley.ExtensionKV
	}{
		{"everything", parley.ExtensionListParams{Limit: 100}, all},
		{"start at 1", parley.ExtensionListParams{StartSeq: 1, Limit: 100}, all},
		{"start at 2", parley.ExtensionListParams{StartSeq: 2, Limit: 100}, all[2:]},
		{"start at 3", parley.ExtensionListParams{StartSeq: 3, Limit: 100}, all[4:]},
		{"start after the last", parley.ExtensionListParams{StartSeq: 4, Limit: 100}, nil},
		{"limit", parley.ExtensionListParams{Limit: 3}, all[:3]},
		{"limit 1", parley.ExtensionListParams{Limit: 1}, all[:1]},
		{"limit inside a seq", parley.ExtensionListParams{StartSeq: 3, Limit: 2}, all[4:6]},
		{"start and limit", parley.ExtensionListParams{StartSeq: 2, Limit: 3}, all[2:5]},
		{"limit exactly all", parley.ExtensionListParams{Limit: len(all)}, all},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.Target = target
			assertExtensionList(t, q, tc.p, tc.want...)
		})
	}
	assertExtensionList(t, q, parley.ExtensionListParams{Target: other, Limit: 100}, kv("0", 1, 1), kv("a", 1, 1), kv("b", 2, 2))
}
