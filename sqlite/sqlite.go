package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// ErrClosed is returned by every call made after Close.
var ErrClosed = errors.New("sqlite: database is closed")

// errTxDone is returned by a transaction used after its fn returned.
var errTxDone = errors.New("sqlite: transaction used after its fn returned")

// Defaults for the zero fields of Config.
const (
	DefaultMaxBatch    = 256
	DefaultMaxReaders  = 16
	DefaultBusyTimeout = 5 * time.Second
)

// Config configures Open. Zero fields take the documented defaults.
type Config struct {
	// Path is the database file. Its directory must exist; the file is
	// created if it does not.
	Path string
	// MaxBatch is the most InTx calls one transaction commits together.
	// Zero means DefaultMaxBatch (256); 1 turns group commit off.
	MaxBatch int
	// MaxReaders is the number of read-only connections serving reads made
	// outside InTx. Zero means DefaultMaxReaders (16): sendmsg reads (the account check) from every in-flight request, and a short pool queues them.
	MaxReaders int
	// BusyTimeout is how long a connection waits for a lock held by
	// another process before giving up. Zero means DefaultBusyTimeout (5s).
	BusyTimeout time.Duration
	// Now stamps Account.CreatedAt, Event.CreatedAt and Event.NextAttemptAt
	// when they are zero. Nil means time.Now.
	Now func() time.Time
}

// DB is a parley.Store on one SQLite file. See the package documentation
// for how it schedules writes.
type DB struct {
	now      func() time.Time
	maxBatch int

	wdb *sql.DB   // holds exactly one connection: wconn
	wc  *sql.Conn // the write connection; only the writer goroutine uses it
	w   *writeStmts
	rdb *sql.DB // the read-only pool
	r   *readStmts

	// mu orders sends on queue against Close closing it.
	mu     sync.RWMutex
	closed atomic.Bool
	queue  chan *request
	// stopped is closed when the writer goroutine has returned.
	stopped chan struct{}

	calls, transactions, retries atomic.Int64
}

// Stats counts the writer's work since Open.
type Stats struct {
	// Calls is the number of InTx fns run, including the one behind each
	// write made outside InTx.
	Calls int64
	// Transactions is the number of database transactions they ran in.
	// Calls/Transactions is the mean group size.
	Transactions int64
	// Retries counts groups run a second time, with savepoints, because an
	// fn failed in the first, optimistic pass.
	Retries int64
	// Queued is the number of InTx calls waiting for the writer now.
	Queued int
}

// Stats reports the writer's counters.
func (db *DB) Stats() Stats {
	return Stats{Calls: db.calls.Load(), Transactions: db.transactions.Load(), Retries: db.retries.Load(), Queued: len(db.queue)}
}

var _ parley.Store = (*DB)(nil)

// Open opens (creating if needed) the database at cfg.Path, brings its
// schema up to date and starts the writer goroutine. Close stops it.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxReaders == 0 {
		cfg.MaxReaders = DefaultMaxReaders
	}
	if cfg.BusyTimeout == 0 {
		cfg.BusyTimeout = DefaultBusyTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if fi, err := os.Stat(filepath.Dir(cfg.Path)); err != nil {
		return nil, fmt.Errorf("sqlite: directory of %s: %w", cfg.Path, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("sqlite: directory of %s: not a directory", cfg.Path)
	}

	db := &DB{
		now:      cfg.Now,
		maxBatch: cfg.MaxBatch,
		queue:    make(chan *request, cfg.MaxBatch),
		stopped:  make(chan struct{}),
	}
	if err := db.open(ctx, cfg); err != nil {
		db.closeConns()
		return nil, err
	}
	go db.write()
	return db, nil
}

func (c Config) validate() error {
	var problems []string
	if c.Path == "" {
		problems = append(problems, "Path is empty")
	}
	if c.MaxBatch < 0 {
		problems = append(problems, fmt.Sprintf("MaxBatch is %d, want 0 (default) or more", c.MaxBatch))
	}
	if c.MaxReaders < 0 {
		problems = append(problems, fmt.Sprintf("MaxReaders is %d, want 0 (default) or more", c.MaxReaders))
	}
	if c.BusyTimeout < 0 {
		problems = append(problems, fmt.Sprintf("BusyTimeout is %v, want 0 (default) or more", c.BusyTimeout))
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlite: invalid Config: %s", strings.Join(problems, "; "))
	}
	return nil
}

// dsn builds a file: URI, so that SQLite, not the driver, parses the
// path, and a path holding '?' or '#' stays a path.
func dsn(path string, pragmas ...string) string {
	var b strings.Builder
	b.WriteString("file:")
	for _, r := range path {
		switch r {
		case '%', '?', '#':
			fmt.Fprintf(&b, "%%%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	for i, p := range pragmas {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString("_pragma=")
		b.WriteString(p)
	}
	return b.String()
}

func (db *DB) open(ctx context.Context, cfg Config) error {
	busy := fmt.Sprintf("busy_timeout(%d)", cfg.BusyTimeout.Milliseconds())
	var err error
	// The write connection. synchronous=FULL syncs the WAL on every commit:
	// an acknowledged InTx survives power loss, not only a crash. The
	// engine checks references itself, so foreign keys would only cost
	// lookups. journal_size_limit truncates a WAL that a burst grew, once
	// it is checkpointed.
	db.wdb, err = sql.Open("sqlite", dsn(cfg.Path, busy, "synchronous(FULL)", "foreign_keys(0)",
		"cache_size(-32768)", "temp_store(MEMORY)", "journal_size_limit(67108864)"))
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	db.wdb.SetMaxOpenConns(1)
	db.wdb.SetMaxIdleConns(1)
	db.wdb.SetConnMaxLifetime(0)
	db.wdb.SetConnMaxIdleTime(0)
	if db.wc, err = db.wdb.Conn(ctx); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	var mode string
	if err := db.wc.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: open %s: set WAL mode: %w", cfg.Path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: open %s: journal_mode is %q, want wal", cfg.Path, mode)
	}
	if err := migrate(ctx, db.wc); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	if db.w, err = prepareWrite(ctx, db.wc); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	db.w.conn = db.wc

	// The read pool. query_only makes a write through it an error rather
	// than a second writer contending for the lock.
	db.rdb, err = sql.Open("sqlite", dsn(cfg.Path, busy, "query_only(1)", "cache_size(-8192)", "temp_store(MEMORY)"))
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	db.rdb.SetMaxOpenConns(cfg.MaxReaders)
	db.rdb.SetMaxIdleConns(cfg.MaxReaders)
	db.rdb.SetConnMaxLifetime(0)
	db.rdb.SetConnMaxIdleTime(0)
	if db.r, err = prepareRead(ctx, db.rdb.PrepareContext); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", cfg.Path, err)
	}
	db.r.conn = db.rdb
	return nil
}

// Close waits for every InTx already queued to finish, stops the writer
// and closes the database. Calls made after Close return ErrClosed.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed.Load() {
		db.mu.Unlock()
		return ErrClosed
	}
	db.closed.Store(true)
	close(db.queue)
	db.mu.Unlock()
	<-db.stopped
	return db.closeConns()
}

func (db *DB) closeConns() error {
	var errs []error
	if db.r != nil {
		errs = append(errs, db.r.close())
	}
	if db.rdb != nil {
		errs = append(errs, db.rdb.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.close())
	}
	if db.wc != nil {
		errs = append(errs, db.wc.Close())
	}
	if db.wdb != nil {
		// Closing the last connection checkpoints the WAL into the file.
		errs = append(errs, db.wdb.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Request states: a request is taken by the writer or abandoned by its
// caller, whichever comes first.
const (
	queued int32 = iota
	taken
	abandoned
)

// request is one InTx call waiting for, or in, the writer.
type request struct {
	ctx   context.Context
	fn    func(parley.Querier) error
	state atomic.Int32

	// hooks are what fn's last run asked to run after the commit
	// (tx.AfterCommit). Only the writer goroutine touches them: fn runs
	// there.
	hooks []func()

	// Set by the writer before it closes done.
	err      error
	panicked error
	done     chan struct{}
}

// failed reports whether r's fn returned an error or panicked.
func (r *request) failed() bool { return r.err != nil || r.panicked != nil }

// answer runs r's commit hooks, if its transaction committed, and then
// tells its caller. The hooks are those of fn's last run, unless that run
// was rolled back: whoever rolls back a run drops its hooks. A hook that
// panics does not stop the writer or the other hooks (they publish changes
// that did commit): the first panic is re-raised in the caller of InTx, as
// a panic of fn is, and the commit stands.
func (r *request) answer(committed bool) {
	hooks := r.hooks
	r.hooks = nil
	if committed {
		for _, f := range hooks {
			if p := runHook(f); p != nil && r.panicked == nil {
				r.panicked = p
			}
		}
	}
	close(r.done)
}

// runHook calls f, turning a panic into an error that carries its stack.
func runHook(f func()) (panicked error) {
	defer func() {
		if v := recover(); v != nil {
			panicked = panicError("AfterCommit hook", v)
		}
	}()
	f()
	return nil
}

// panicError describes a recovered panic of what, with the stack of the
// goroutine that panicked.
func panicError(what string, v any) error {
	err, ok := v.(error)
	if !ok {
		err = fmt.Errorf("%v", v)
	}
	return fmt.Errorf("sqlite: %s panicked: %w\n\n%s", what, err, debug.Stack())
}

// InTx runs fn on the writer goroutine inside a savepoint of a transaction
// it may share with other InTx calls, and returns once that transaction has
// committed (or failed). A panic in fn is re-raised here, in the caller's
// goroutine, after fn's changes are rolled back.
//
// The tx given to fn is a parley.CommitHooker: the functions fn passes to
// its AfterCommit run on the writer once the transaction has committed,
// before InTx returns; those of the calls of one transaction run call by
// call in the order the calls ran, so hooks run in commit order. Hooks of
// a run of fn that was rolled back (fn failed, or its group is run again)
// are dropped, as are all of a transaction that fails. A hook that panics
// is re-raised here like a panic of fn, but the commit stands. A hook
// must be quick and must not call the DB's writes (they wait for the
// writer, which is running the hook).
func (db *DB) InTx(ctx context.Context, fn func(tx parley.Querier) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{ctx: ctx, fn: fn, done: make(chan struct{})}
	db.mu.RLock()
	if db.closed.Load() {
		db.mu.RUnlock()
		return ErrClosed
	}
	select {
	case db.queue <- r:
	case <-ctx.Done():
		db.mu.RUnlock()
		return ctx.Err()
	}
	db.mu.RUnlock()

	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(queued, abandoned) {
			return ctx.Err() // the writer will skip it
		}
		<-r.done // fn is running or has run: report how its commit went
	}
	if r.panicked != nil {
		panic(r.panicked)
	}
	return r.err
}

// write is the writer goroutine. It takes the first waiting request and
// whatever else is already queued, up to maxBatch, and commits them as one
// transaction. It returns when Close has closed the queue and the queue is
// empty.
func (db *DB) write() {
	defer close(db.stopped)
	batch := make([]*request, 0, db.maxBatch)
	for r := range db.queue {
		batch = append(batch, r)
	drain:
		for len(batch) < db.maxBatch {
			select {
			case r, ok := <-db.queue:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		db.commit(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// commit runs batch as one transaction and answers every request in it.
func (db *DB) commit(batch []*request) {
	live := batch[:0]
	for _, r := range batch {
		if !r.state.CompareAndSwap(queued, taken) {
			continue // its caller has gone
		}
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	w := db.w
	db.transactions.Add(1)
	db.calls.Add(int64(len(live)))
	if err := w.exec(w.begin); err != nil {
		db.fail(live, fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	// A lone request needs no savepoint: if its fn fails, the whole
	// transaction is rolled back instead.
	if len(live) == 1 {
		r := live[0]
		db.run(r)
		if r.failed() {
			if err := w.exec(w.rollback); err != nil {
				db.fail(live, fmt.Errorf("sqlite: rollback: %w", err))
				return
			}
			r.answer(false)
			return
		}
	} else if ok, err := db.runOptimistic(live); err != nil {
		db.fail(live, err)
		return
	} else if !ok {
		for _, r := range live {
			if err := w.exec(w.savepoint); err != nil {
				db.fail(live, fmt.Errorf("sqlite: savepoint: %w", err))
				return
			}
			db.run(r)
			if r.failed() {
				// Its hooks go with its changes.
				r.hooks = nil
				if err := w.exec(w.rollbackTo); err != nil {
					db.fail(live, fmt.Errorf("sqlite: rollback to savepoint: %w", err))
					return
				}
			}
			if err := w.exec(w.release); err != nil {
				db.fail(live, fmt.Errorf("sqlite: release savepoint: %w", err))
				return
			}
		}
	}
	if err := w.exec(w.commit); err != nil {
		db.fail(live, fmt.Errorf("sqlite: commit: %w", err))
		return
	}
	// In batch order, which is the order the fns ran and so commit order.
	for _, r := range live {
		r.answer(true)
	}
}

// runOptimistic runs a group of fns without savepoints, the common case
// where none fails: a savepoint and its release cost two statements per fn
// on the one writer. It reports whether every fn succeeded, in which case
// the caller commits. If one fails or panics, it rolls the transaction
// back, forgets every outcome and opens a new transaction, and the caller
// runs the whole group again, each fn in its own savepoint. That is why an
// fn may be called more than once (see parley.Store.InTx). A non-nil error
// means the transaction could not be restarted.
func (db *DB) runOptimistic(live []*request) (allSucceeded bool, err error) {
	for _, r := range live {
		db.run(r)
		if r.failed() {
			return false, db.restart(live)
		}
	}
	return true, nil
}

// restart undoes an optimistic pass that an fn failed.
func (db *DB) restart(live []*request) error {
	for _, r := range live {
		r.err, r.panicked = nil, nil
	}
	db.retries.Add(1)
	if err := db.w.exec(db.w.rollback); err != nil {
		return fmt.Errorf("sqlite: rollback: %w", err)
	}
	if err := db.w.exec(db.w.begin); err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	return nil
}

// fail rolls back the open transaction and fails every request of the
// group: nothing of it was committed. A request whose own fn failed keeps
// its own error.
func (db *DB) fail(live []*request, err error) {
	rerr := db.w.exec(db.w.rollback)
	if rerr != nil && !strings.Contains(rerr.Error(), "no transaction is active") {
		err = errors.Join(err, fmt.Errorf("sqlite: rollback: %w", rerr))
	}
	for _, r := range live {
		if !r.failed() {
			r.err = err
		}
		r.answer(false)
	}
}

// run calls r.fn with a transaction bound to the write connection,
// recording its error or panic in r. Hooks of an earlier run of r.fn were
// rolled back with it.
func (db *DB) run(r *request) {
	r.hooks = nil
	t := &tx{db: db, r: r}
	defer func() {
		t.done.Store(true)
		if v := recover(); v != nil {
			r.panicked = panicError("InTx fn", v)
		}
	}()
	r.err = r.fn(t)
}
