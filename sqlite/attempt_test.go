package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/sqlite"
)

// TestAdminQueryPlans holds the attempt log's statements and the outbox's
// admin statements to the indexes their comments promise: the writer's
// (recording attempts, replay, recovery) seek or walk small indexes, and
// each shape of EventList reads the index that bounds it.
func TestAdminQueryPlans(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	open(t, sqlite.Config{Path: path})
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	now := time.Now()
	list := func(p parley.EventListParams) string {
		q, _ := sqlite.EventListQuery(p)
		return q
	}
	tests := []struct {
		name  string
		query string
		want  []string
		sorts bool // sorting the rows of a time range, or the dead ones, is the plan
		walks bool // a walk of the whole table in Seq order, stopped by LIMIT, is the plan
	}{
		{"AttemptList", sqlite.AdminQueries["AttemptList"], []string{
			"SEARCH attempts USING PRIMARY KEY (event_seq=?)",
			"SEARCH events USING COVERING INDEX sqlite_autoindex_events_1 (id=?)",
		}, false, false},
		{"EventMarkDelivered", sqlite.AdminQueries["EventMarkDelivered"], []string{"SEARCH events USING COVERING INDEX sqlite_autoindex_events_1 (id=?)"}, false, false},
		{"EventReplay", sqlite.AdminQueries["EventReplay"], []string{"SEARCH events USING INDEX sqlite_autoindex_events_1 (id=?)"}, false, false},
		{"EventRecoverDead", sqlite.AdminQueries["EventRecoverDead"], []string{
			"SEARCH events USING COVERING INDEX events_dead (created_at>? AND created_at<?)",
			"SEARCH events USING INTEGER PRIMARY KEY (rowid=?)",
		}, false, false},
		{"EventRecoverFailed", sqlite.AdminQueries["EventRecoverFailed"], []string{
			"SCAN events USING INDEX events_pending_seq",
			"SEARCH events USING INTEGER PRIMARY KEY (rowid=?)",
		}, false, false},
		{"EventList", list(parley.EventListParams{}), []string{"SCAN events"}, false, true},
		{"EventList/newest/cursor", list(parley.EventListParams{Newest: true, BeforeSeq: 9}), []string{"SEARCH events USING INTEGER PRIMARY KEY (rowid<?)"}, false, false},
		{"EventList/delivered/command", list(parley.EventListParams{Newest: true, State: parley.EventDelivered, Command: "C"}), []string{"SCAN events"}, false, true},
		{"EventList/pending", list(parley.EventListParams{Newest: true, State: parley.EventPending, BeforeSeq: 9}), []string{"events_pending_seq"}, false, false},
		{"EventList/failed/since", list(parley.EventListParams{State: parley.EventFailed, Since: now}), []string{"SCAN events USING INDEX events_pending_seq"}, false, false},
		{"EventList/dead", list(parley.EventListParams{Newest: true, State: parley.EventDead}), []string{"SCAN events USING INDEX events_dead"}, true, false},
		{"EventList/dead/since", list(parley.EventListParams{State: parley.EventDead, Since: now, Until: now}), []string{
			"SEARCH events USING INDEX events_dead (created_at>? AND created_at<?)",
		}, true, false},
		{"EventList/since", list(parley.EventListParams{Newest: true, Since: now, Command: "C"}), []string{
			"SEARCH events USING INDEX events_created (created_at>?)",
		}, true, false},
	}
	fullScan := regexp.MustCompile(`^SCAN \w+$`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := explain(t, raw, tc.query)
			t.Logf("plan:\n%s", plan)
			for _, want := range tc.want {
				if !strings.Contains(plan, want) {
					t.Errorf("plan does not contain %q:\n%s", want, plan)
				}
			}
			scans := slices.ContainsFunc(strings.Split(plan, "\n"), fullScan.MatchString)
			if scans != tc.walks {
				t.Errorf("plan walks the whole table = %v, want %v:\n%s", scans, tc.walks, plan)
			}
			if got := strings.Contains(plan, "TEMP B-TREE"); got != tc.sorts {
				t.Errorf("plan sorts in a temporary B-tree = %v, want %v:\n%s", got, tc.sorts, plan)
			}
		})
	}
}

// TestMigrateFromVersion4 opens a database as the release with schema
// version 4 left it, with events in every state: they keep their state
// and fields, have no attempts, and the new indexes find them.
func TestMigrateFromVersion4(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	ctx := t.Context()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	steps := append(slices.Clone(sqlite.Migrations[:4]), `PRAGMA user_version = 4`,
		`INSERT INTO events (id, command, conversation, body, client_ip, opt_platform, created_at, state, attempts,
			next_attempt_at, last_error, delivered_at, dead_at) VALUES
			('evt_p', 'C2C.CallbackAfterSendMsg', 'c', '{}', '', 'RESTAPI', 1000, 'pending', 1, 5000, 'timeout', 0, 0),
			('evt_d', 'C2C.CallbackAfterSendMsg', 'c', '{}', '', 'RESTAPI', 2000, 'delivered', 0, 2000, '', 2100, 0),
			('evt_x', 'C2C.CallbackAfterSendMsg', 'c', '{}', '', 'RESTAPI', 3000, 'dead', 8, 3000, 'HTTP 500', 0, 3500)`,
	)
	for _, step := range steps {
		if _, err := raw.ExecContext(ctx, step); err != nil {
			t.Fatalf("building the version 4 database: %v\n%s", err, step)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := open(t, sqlite.Config{Path: path})
	if got := schemaVersion(t, path); got != len(sqlite.Migrations) {
		t.Errorf("user_version after Open = %d, want %d", got, len(sqlite.Migrations))
	}
	ids := func(p parley.EventListParams) []string {
		t.Helper()
		es, err := db.EventList(ctx, p)
		if err != nil {
			t.Fatalf("EventList(%+v): %v", p, err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	ms := time.UnixMilli
	for _, tc := range []struct {
		p    parley.EventListParams
		want []string
	}{
		{parley.EventListParams{Newest: true}, []string{"evt_x", "evt_d", "evt_p"}},
		{parley.EventListParams{State: parley.EventDead}, []string{"evt_x"}},
		{parley.EventListParams{State: parley.EventFailed}, []string{"evt_p"}},
		{parley.EventListParams{Since: ms(2000)}, []string{"evt_d", "evt_x"}},
	} {
		if got := ids(tc.p); !slices.Equal(got, tc.want) {
			t.Errorf("EventList(%+v) after the migration = %q, want %q", tc.p, got, tc.want)
		}
	}
	if as, err := db.AttemptList(ctx, "evt_x"); err != nil || len(as) != 0 {
		t.Errorf("AttemptList of an event older than the log = %+v, %v; want none", as, err)
	}
	if n, err := db.EventRecover(ctx, parley.EventRecoverParams{Since: ms(0), At: ms(9000)}); err != nil || n != 2 {
		t.Errorf("EventRecover after the migration = %d, %v; want 2", n, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := integrityCheck(t, path); got != "ok" {
		t.Errorf("integrity_check after the migration = %q", got)
	}
}

// BenchmarkDeliveryCycle is an event's whole life on the writer, as
// parley serve lives it: sendmsg's InTx of a message and its event
// (concurrent callers, so group-committed), the worker's claim, and the
// flush that marks a batch delivered, with and without the attempt log's
// rows. An op is one event; batches are of 64.
func BenchmarkDeliveryCycle(b *testing.B) {
	for _, withAttempts := range []bool{true, false} {
		name := "AttemptLogged"
		if !withAttempts {
			name = "NoAttemptLog"
		}
		b.Run(name, func(b *testing.B) {
			db := open(b, sqlite.Config{})
			ctx := context.Background()
			const batch = 64
			var n int64
			start := cpuTime(b)
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				var wg sync.WaitGroup
				for range batch {
					n++
					m := n
					wg.Go(func() {
						if err := db.InTx(ctx, func(tx parley.Querier) error { return insertPair(ctx, tx, m) }); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
				now := time.Now()
				evs, err := db.EventClaimDue(ctx, parley.EventClaimDueParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: batch})
				if err != nil {
					b.Fatal(err)
				}
				ids := make([]string, len(evs))
				attempts := make([]parley.Attempt, len(evs))
				for i, e := range evs {
					ids[i] = e.ID
					attempts[i] = parley.Attempt{EventSeq: e.Seq, Attempt: 1, StartedAt: now, Status: 200,
						Latency: 800 * time.Microsecond, Response: `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`}
				}
				err = db.InTx(ctx, func(tx parley.Querier) error {
					if withAttempts {
						if err := tx.AttemptInsert(ctx, attempts); err != nil {
							return err
						}
					}
					return tx.EventMarkDelivered(ctx, parley.EventMarkDeliveredParams{IDs: ids, At: now})
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportCPU(b, start)
		})
	}
}
