package sqlite_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/sqlite"
	"github.com/parley-im/parley/storetest"
)

// open opens a fresh database in t's temporary directory and closes it
// when t ends.
func open(t testing.TB, cfg sqlite.Config) *sqlite.DB {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "parley.db")
	}
	db, err := sqlite.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil && err != sqlite.ErrClosed {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) parley.Store { return open(t, sqlite.Config{}) })
}

// With MaxBatch 1 every InTx is a transaction of its own: the path without
// savepoints.
func TestConformanceNoGroupCommit(t *testing.T) {
	storetest.Run(t, func(t *testing.T) parley.Store { return open(t, sqlite.Config{MaxBatch: 1}) })
}

// blockWriter occupies the writer with an fn that waits for the returned
// release function, so that calls made meanwhile queue up. It returns once
// the fn is running. release waits for the blocking InTx to commit.
func blockWriter(t *testing.T, db *sqlite.DB) (release func()) {
	t.Helper()
	entered, unblock := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- db.InTx(context.Background(), func(tx parley.Querier) error {
			close(entered)
			<-unblock
			_, err := tx.AccountUpsert(context.Background(), parley.Account{UserID: "blocker"})
			return err
		})
	}()
	<-entered
	return func() {
		t.Helper()
		close(unblock)
		if err := <-errc; err != nil {
			t.Fatalf("blocking InTx: %v", err)
		}
	}
}

// waitQueued polls until n calls wait for the writer.
func waitQueued(t *testing.T, db *sqlite.DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for db.Stats().Queued < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued after 10s, want %d", db.Stats().Queued, n)
		}
		runtime.Gosched()
	}
}

func accountExists(t *testing.T, q parley.Querier, id string) bool {
	t.Helper()
	got, err := q.AccountGetMany(t.Context(), []string{id})
	if err != nil {
		t.Fatalf("AccountGetMany(%s): %v", id, err)
	}
	return len(got) == 1
}

func TestGroupCommit(t *testing.T) {
	db := open(t, sqlite.Config{})
	release := blockWriter(t, db)
	before := db.Stats()

	const n = 50
	errs := make([]error, n)
	fnErrs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		fnErrs[i] = fmt.Errorf("call %d failed", i)
		wg.Go(func() {
			errs[i] = db.InTx(t.Context(), func(tx parley.Querier) error {
				if _, err := tx.AccountUpsert(t.Context(), parley.Account{UserID: fmt.Sprint("u", i)}); err != nil {
					return err
				}
				if i%3 == 0 {
					return fnErrs[i]
				}
				return nil
			})
		})
	}
	waitQueued(t, db, n)
	release()
	wg.Wait()

	for i := range n {
		wantErr := error(nil)
		if i%3 == 0 {
			wantErr = fnErrs[i]
		}
		if errs[i] != wantErr {
			t.Errorf("call %d: InTx = %v, want %v", i, errs[i], wantErr)
		}
		if got := accountExists(t, db, fmt.Sprint("u", i)); got != (wantErr == nil) {
			t.Errorf("call %d: account stored = %v, want %v", i, got, wantErr == nil)
		}
	}
	got := db.Stats()
	// The blocker was one transaction; the fifty queued behind it, one more.
	if calls, txs := got.Calls-before.Calls, got.Transactions-before.Transactions; calls != n || txs != 1 {
		t.Errorf("after the blocker: %d calls in %d transactions, want %d in 1", calls, txs, n)
	}
	// Failing fns sent the group from the optimistic pass to the savepoint
	// pass, once.
	if retries := got.Retries - before.Retries; retries != 1 {
		t.Errorf("group retried %d times, want 1", retries)
	}
}

// TestGroupWithoutFailuresRunsOnce: when no fn fails, every fn runs exactly
// once, without the savepoint pass.
func TestGroupWithoutFailuresRunsOnce(t *testing.T) {
	db := open(t, sqlite.Config{})
	release := blockWriter(t, db)
	before := db.Stats()

	const n = 20
	var runs atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := db.InTx(t.Context(), func(tx parley.Querier) error {
				runs.Add(1)
				_, err := tx.AccountUpsert(t.Context(), parley.Account{UserID: fmt.Sprint("ok", i)})
				return err
			})
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	waitQueued(t, db, n)
	release()
	wg.Wait()
	got := db.Stats()
	if r := runs.Load(); r != n {
		t.Errorf("fns ran %d times, want %d", r, n)
	}
	if retries := got.Retries - before.Retries; retries != 0 {
		t.Errorf("group retried %d times, want 0", retries)
	}
}

func TestMaxBatch(t *testing.T) {
	db := open(t, sqlite.Config{MaxBatch: 4})
	release := blockWriter(t, db)
	before := db.Stats()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if err := db.InTx(t.Context(), func(tx parley.Querier) error {
				_, err := tx.AccountUpsert(t.Context(), parley.Account{UserID: fmt.Sprint("u", i)})
				return err
			}); err != nil {
				t.Errorf("InTx %d: %v", i, err)
			}
		})
	}
	// The queue holds MaxBatch calls; more wait to get in. Ten calls make
	// groups of 4, 4 and 2.
	waitQueued(t, db, 4)
	for i := 4; i < 10; i++ {
		wg.Go(func() {
			if _, err := db.AccountUpsert(t.Context(), parley.Account{UserID: fmt.Sprint("u", i)}); err != nil {
				t.Errorf("AccountUpsert %d: %v", i, err)
			}
		})
	}
	release()
	wg.Wait()
	got := db.Stats()
	calls, txs := got.Calls-before.Calls, got.Transactions-before.Transactions
	if calls != 10 || txs < 3 {
		t.Errorf("%d calls in %d transactions, want 10 in at least 3 (MaxBatch 4)", calls, txs)
	}
	for i := range 10 {
		if !accountExists(t, db, fmt.Sprint("u", i)) {
			t.Errorf("account u%d missing", i)
		}
	}
}

func TestCancelWhileQueued(t *testing.T) {
	db := open(t, sqlite.Config{})
	release := blockWriter(t, db)

	ctx, cancel := context.WithCancel(t.Context())
	var ran atomic.Bool
	errc := make(chan error, 1)
	go func() {
		errc <- db.InTx(ctx, func(tx parley.Querier) error {
			ran.Store(true)
			_, err := tx.AccountUpsert(context.Background(), parley.Account{UserID: "cancelled"})
			return err
		})
	}()
	waitQueued(t, db, 1)
	cancel()
	// The caller is answered while the writer is still busy: it does not
	// wait for its turn to be told no.
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("InTx cancelled in the queue = %v, want context.Canceled", err)
	}
	release()
	// A call after the skipped one goes through the same writer, so once it
	// is done the skipped request has been passed over.
	if _, err := db.AccountUpsert(t.Context(), parley.Account{UserID: "after"}); err != nil {
		t.Fatalf("AccountUpsert after: %v", err)
	}
	if ran.Load() {
		t.Errorf("the cancelled call's fn ran")
	}
	if accountExists(t, db, "cancelled") {
		t.Errorf("the cancelled call's write is stored")
	}
}

func TestPanicInFn(t *testing.T) {
	db := open(t, sqlite.Config{})
	release := blockWriter(t, db)

	var wg sync.WaitGroup
	var recovered atomic.Value
	wg.Go(func() {
		defer func() { recovered.Store(fmt.Sprint(recover())) }()
		_ = db.InTx(t.Context(), func(tx parley.Querier) error {
			if _, err := tx.AccountUpsert(t.Context(), parley.Account{UserID: "panicker"}); err != nil {
				return err
			}
			panic("fn exploded")
		})
	})
	wg.Go(func() {
		if _, err := db.AccountUpsert(t.Context(), parley.Account{UserID: "neighbour"}); err != nil {
			t.Errorf("neighbour: %v", err)
		}
	})
	waitQueued(t, db, 2)
	release()
	wg.Wait()

	if got, _ := recovered.Load().(string); !strings.Contains(got, "fn exploded") {
		t.Errorf("InTx caller recovered %q, want the fn's panic", got)
	}
	if accountExists(t, db, "panicker") {
		t.Errorf("the panicking fn's write is stored")
	}
	if !accountExists(t, db, "neighbour") {
		t.Errorf("the write grouped with the panicking fn is missing")
	}
	if _, err := db.AccountUpsert(t.Context(), parley.Account{UserID: "later"}); err != nil {
		t.Errorf("the writer does not work after a panic: %v", err)
	}
}

func TestTxUsedAfterFn(t *testing.T) {
	db := open(t, sqlite.Config{})
	var leaked parley.Querier
	if err := db.InTx(t.Context(), func(tx parley.Querier) error { leaked = tx; return nil }); err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if _, err := leaked.AccountUpsert(t.Context(), parley.Account{UserID: "late"}); err == nil {
		t.Errorf("a tx used after its fn returned accepted a write")
	}
	if _, err := leaked.AccountGetMany(t.Context(), []string{"late"}); err == nil {
		t.Errorf("a tx used after its fn returned accepted a read")
	}
	if accountExists(t, db, "late") {
		t.Errorf("the late write is stored")
	}
}

// While an fn holds the writer mid-transaction, reads outside InTx are
// served by the read pool from the last commit.
func TestReadsDoNotWaitForWriter(t *testing.T) {
	db := open(t, sqlite.Config{})
	if _, err := db.AccountUpsert(t.Context(), parley.Account{UserID: "committed"}); err != nil {
		t.Fatal(err)
	}
	entered, unblock := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- db.InTx(t.Context(), func(tx parley.Querier) error {
			if _, err := tx.AccountUpsert(t.Context(), parley.Account{UserID: "uncommitted"}); err != nil {
				return err
			}
			close(entered)
			<-unblock
			return nil
		})
	}()
	<-entered

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	got, err := db.AccountGetMany(ctx, []string{"committed", "uncommitted"})
	if err != nil {
		t.Errorf("read while the writer is busy: %v", err)
	}
	if len(got) != 1 || got[0].UserID != "committed" {
		t.Errorf("read while the writer is busy = %v, want only the committed account", got)
	}
	close(unblock)
	if err := <-errc; err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if !accountExists(t, db, "uncommitted") {
		t.Errorf("account missing after commit")
	}
}

func TestClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	// Calls race Close: each is either committed or refused, never lost.
	// Sixteen callers each write until they are refused.
	var mu sync.Mutex
	outcome := make(map[string]error)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("g%d-%d", g, i)
				_, err := db.AccountUpsert(context.Background(), parley.Account{UserID: id})
				mu.Lock()
				outcome[id] = err
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for db.Stats().Calls < 100 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d calls after 10s", db.Stats().Calls)
		}
		runtime.Gosched()
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()

	ctx := t.Context()
	if err := db.Close(); !errors.Is(err, sqlite.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if err := db.InTx(ctx, func(parley.Querier) error { return nil }); !errors.Is(err, sqlite.ErrClosed) {
		t.Errorf("InTx after Close = %v, want ErrClosed", err)
	}
	if _, err := db.AccountUpsert(ctx, parley.Account{UserID: "x"}); !errors.Is(err, sqlite.ErrClosed) {
		t.Errorf("AccountUpsert after Close = %v, want ErrClosed", err)
	}
	if _, err := db.AccountGetMany(ctx, []string{"x"}); !errors.Is(err, sqlite.ErrClosed) {
		t.Errorf("AccountGetMany after Close = %v, want ErrClosed", err)
	}
	if _, _, err := db.EventNextDue(ctx); !errors.Is(err, sqlite.ErrClosed) {
		t.Errorf("EventNextDue after Close = %v, want ErrClosed", err)
	}

	db2 := open(t, sqlite.Config{Path: path})
	committed := 0
	for id, err := range outcome {
		stored := accountExists(t, db2, id)
		switch {
		case err == nil && !stored:
			t.Errorf("%s was acknowledged but is not stored", id)
		case err != nil && !errors.Is(err, sqlite.ErrClosed):
			t.Errorf("%s: %v, want nil or ErrClosed", id, err)
		case err != nil && stored:
			t.Errorf("%s was refused but is stored", id)
		}
		if stored {
			committed++
		}
	}
	if committed < 100 {
		t.Errorf("%d calls committed, want at least the 100 made before Close", committed)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	ctx := t.Context()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	m := &parley.Message{From: "alice", To: "bob", MsgSeq: 1, MsgRandom: 2, MsgTime: 1000, MsgKey: "1_2_1000", Body: json.RawMessage(`[]`)}
	e1 := &parley.Event{ID: "evt_1", Command: parley.CommandC2CAfterSendMsg, Body: []byte(`{}`)}
	err = db.InTx(ctx, func(tx parley.Querier) error {
		if _, err := tx.AccountUpsert(ctx, parley.Account{UserID: "alice", Nick: "A"}); err != nil {
			return err
		}
		if err := tx.MessageInsert(ctx, m); err != nil {
			return err
		}
		if err := tx.ConversationAddUnread(ctx, parley.ConversationAddUnreadParams{Owner: "bob", Peer: "alice", Delta: 1}); err != nil {
			return err
		}
		return tx.EventInsert(ctx, e1)
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for round := range 2 { // opening an up-to-date file twice changes nothing
		db = open(t, sqlite.Config{Path: path})
		if got, err := db.AccountGetMany(ctx, []string{"alice"}); err != nil || len(got) != 1 || got[0].Nick != "A" {
			t.Errorf("round %d: account = %v, %v", round, got, err)
		}
		if got, err := db.MessageGetByKey(ctx, parley.MessageGetByKeyParams{From: "alice", To: "bob", MsgKey: m.MsgKey}); err != nil || got.ID != m.ID {
			t.Errorf("round %d: message = %v, %v; want ID %d", round, got, err, m.ID)
		}
		if got, err := db.ConversationUnreadTotal(ctx, "bob"); err != nil || got != 1 {
			t.Errorf("round %d: unread = %d, %v; want 1", round, got, err)
		}
		if got, err := db.EventGet(ctx, e1.ID); err != nil || got.Seq != e1.Seq {
			t.Errorf("round %d: event = %v, %v; want Seq %d", round, got, err, e1.Seq)
		}
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}

	// Seq keeps growing across restarts.
	db = open(t, sqlite.Config{Path: path})
	e2 := &parley.Event{ID: "evt_2", Command: parley.CommandC2CAfterSendMsg, Body: []byte(`{}`)}
	if err := db.EventInsert(ctx, e2); err != nil {
		t.Fatal(err)
	}
	if e2.Seq <= e1.Seq {
		t.Errorf("Seq after reopen = %d, want more than %d", e2.Seq, e1.Seq)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	db := open(t, sqlite.Config{Path: path})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err == nil {
		db.Close()
		t.Fatalf("Open of a file with schema version 999 succeeded")
	}
	if !strings.Contains(err.Error(), "999") {
		t.Errorf("Open error %q does not name the version", err)
	}
}

func TestOpenFileSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	open(t, sqlite.Config{Path: path})
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var mode string
	if err := raw.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
	var version int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 1 {
		t.Errorf("user_version = %d, want the schema's version", version)
	}
}

func TestOpenConfigErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  sqlite.Config
		want string
	}{
		{"no path", sqlite.Config{}, "Path is empty"},
		{"negative MaxBatch", sqlite.Config{Path: filepath.Join(dir, "a.db"), MaxBatch: -1}, "MaxBatch"},
		{"negative MaxReaders", sqlite.Config{Path: filepath.Join(dir, "a.db"), MaxReaders: -1}, "MaxReaders"},
		{"negative BusyTimeout", sqlite.Config{Path: filepath.Join(dir, "a.db"), BusyTimeout: -time.Second}, "BusyTimeout"},
		{"missing directory", sqlite.Config{Path: filepath.Join(dir, "nope", "a.db")}, "directory"},
		{"directory is a file", sqlite.Config{Path: filepath.Join(file, "a.db")}, "directory"},
		{"not a database", sqlite.Config{Path: file + "x"}, "not a database"},
	}
	if err := os.WriteFile(file+"x", []byte("this is not an SQLite database, just text that is long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sqlite.Open(t.Context(), tc.cfg)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%+v) succeeded", tc.cfg)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// A path holding URI syntax is still a path.
func TestOpenOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a?b#c%20d.db")
	db := open(t, sqlite.Config{Path: path})
	if _, err := db.AccountUpsert(t.Context(), parley.Account{UserID: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %q: %v", path, err)
	}
}

func TestNowStampsDefaults(t *testing.T) {
	at := time.UnixMilli(1_234_567_890_123)
	db := open(t, sqlite.Config{Now: func() time.Time { return at }})
	ctx := t.Context()
	e := &parley.Event{ID: "evt_now", Command: parley.CommandC2CAfterSendMsg, Body: []byte(`{}`)}
	if err := db.EventInsert(ctx, e); err != nil {
		t.Fatal(err)
	}
	got, err := db.EventGet(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(at) || !got.NextAttemptAt.Equal(at) {
		t.Errorf("CreatedAt %v, NextAttemptAt %v; want both %v", got.CreatedAt, got.NextAttemptAt, at)
	}
	if _, err := db.AccountUpsert(ctx, parley.Account{UserID: "alice"}); err != nil {
		t.Fatal(err)
	}
	accounts, err := db.AccountGetMany(ctx, []string{"alice"})
	if err != nil || len(accounts) != 1 || !accounts[0].CreatedAt.Equal(at) {
		t.Errorf("account = %v, %v; want CreatedAt %v", accounts, err, at)
	}
}

// crashEnv, when set, makes TestCrashKeepsAcknowledgedWrites the child:
// it writes to the database file named by the variable until killed.
const crashEnv = "PARLEY_SQLITE_CRASH_CHILD_DB"

// TestCrashKeepsAcknowledgedWrites re-runs this test binary as a child that
// commits rows from concurrent InTx calls and prints the ID of each one
// InTx acknowledged. The parent SIGKILLs it mid-stream, reopens the file
// and checks that every acknowledged row is there.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(t, path)
		return
	}
	const kill = 500 // acknowledgements to see before the kill
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCrashKeepsAcknowledgedWrites$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	var acked []string
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		id, ok := strings.CutPrefix(sc.Text(), "ack ")
		if !ok {
			continue
		}
		acked = append(acked, id)
		if len(acked) == kill && !killed {
			// Keep reading after the kill: whatever the child printed
			// before it died was acknowledged too.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill: %v", err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !killed || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended by itself after %d acknowledgements (%v)\nstderr:\n%s", len(acked), err, stderr.String())
	}

	// Check the file as SQLite sees it, before Open touches it.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := raw.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check after the crash = %q, %v", check, err)
	}
	raw.Close()

	db := open(t, sqlite.Config{Path: path})
	ctx := t.Context()
	missing := 0
	for _, id := range acked {
		_, merr := db.MessageGetByKey(ctx, parley.MessageGetByKeyParams{From: "crash", To: "test", MsgKey: id})
		_, eerr := db.EventGet(ctx, "evt_"+id)
		if merr != nil || eerr != nil {
			missing++
			if missing <= 10 {
				t.Errorf("acknowledged %s lost: message %v, event %v", id, merr, eerr)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", missing, len(acked))
	}
	events, err := db.EventList(ctx, parley.EventListParams{Limit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes acknowledged, %d committed when the child was killed", len(acked), len(events))
}

// crashChild writes from 16 goroutines until the parent kills it, printing
// "ack <id>" after each InTx returns nil.
func crashChild(t *testing.T, path string) {
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatalf("child: Open: %v", err)
	}
	var mu sync.Mutex
	for g := range 16 {
		go func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("g%d-%d", g, i)
				err := db.InTx(context.Background(), func(tx parley.Querier) error {
					m := &parley.Message{From: "crash", To: "test", MsgSeq: uint32(i), MsgTime: int64(i), MsgKey: id, Body: json.RawMessage(`[]`)}
					if err := tx.MessageInsert(context.Background(), m); err != nil {
						return err
					}
					return tx.EventInsert(context.Background(), &parley.Event{ID: "evt_" + id, Command: parley.CommandC2CAfterSendMsg, Body: []byte(`{}`)})
				})
				if err != nil {
					fmt.Fprintf(os.Stderr, "child: InTx %s: %v\n", id, err)
					os.Exit(3)
				}
				// Unbuffered: once written, the ack is in the pipe even if
				// the process dies the next instant.
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %s\n", id)
				mu.Unlock()
			}
		}()
	}
	// The parent never writes to our stdin; it reaches EOF only if the
	// parent died without killing us, and then we stop.
	_, _ = io.Copy(io.Discard, os.Stdin)
	fmt.Fprintln(os.Stderr, "child: parent gone")
	os.Exit(4)
}
