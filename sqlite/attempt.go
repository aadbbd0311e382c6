package sqlite

import (
	"context"
	"database/sql"
	"math"
	"strings"
	"time"

	"github.com/parley-im/parley"
)

// The attempt log, and the outbox's admin side: listing events with
// filters, replaying one, recovering many.

const attemptColumns = `event_seq, attempt, started_at, status, latency_us, response, error`

// attemptInsertRows are the row counts of the prepared inserts of
// attempts, largest first: a flush of n attempts is written by a few
// statements of these sizes (n = 64a + 16b + 4c + d). The worker records
// an attempt for every event it marks delivered, on the one writer: one
// statement of 64 rows costs about half as much per row as 64 statements
// of one, and a third less than one statement unpacking a JSON array of
// them (parley's other batch writes) would, whose ->> parses each row's
// text once per column.
var attemptInsertRows = [...]int{64, 16, 4, 1}

// sqlAttemptInsert inserts n attempts. OR IGNORE drops an attempt
// recorded twice (see parley.Querier.AttemptInsert); every column is
// bound, so it cannot hide a NOT NULL violation.
func sqlAttemptInsert(n int) string {
	const row = `(?, ?, ?, ?, ?, ?, ?)`
	return `INSERT OR IGNORE INTO attempts (` + attemptColumns + `) VALUES ` + strings.Repeat(row+`, `, n-1) + row
}

const (
	sqlAttemptList = `SELECT ` + attemptColumns + ` FROM attempts
		WHERE event_seq = (SELECT seq FROM events WHERE id = ?)
		ORDER BY attempt, started_at`

	// In an UPDATE every SET expression sees the row as it was, so the
	// CASE reads the old state. ?1 the ID, ?2 when it is due.
	sqlEventReplay = `UPDATE events SET state = 'pending', next_attempt_at = ?2, delivered_at = 0, dead_at = 0,
			last_error = CASE state WHEN 'delivered' THEN '' ELSE last_error END
		WHERE id = ?1
		RETURNING ` + eventColumns

	// Recovery runs on the one writer, so it reads only the small partial
	// indexes: the dead events by creation time, and the backlog. ?1 and
	// ?2 bound created_at, ?3 is when they are due.
	sqlEventRecoverDead = `UPDATE events SET state = 'pending', next_attempt_at = ?3, dead_at = 0
		WHERE seq IN (SELECT seq FROM events INDEXED BY events_dead
			WHERE state = 'dead' AND created_at BETWEEN ?1 AND ?2)`
	sqlEventRecoverFailed = `UPDATE events SET next_attempt_at = ?3
		WHERE seq IN (SELECT seq FROM events INDEXED BY events_pending_seq
			WHERE state = 'pending' AND last_error != '' AND created_at BETWEEN ?1 AND ?2)`
)

// queryer runs a statement that is not prepared: *sql.DB for the read
// pool, *sql.Conn for the write connection.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// eventListQuery builds EventList's statement. The filters combine freely,
// so it is written per call (an admin's listing, not the hot path) and
// names the index that bounds its work, as the planner has no statistics
// to choose by:
//   - pending and failed events: the partial index of the backlog;
//   - dead events: their partial index by creation time;
//   - otherwise, with Since: the creation-time index, reading the events
//     of that time range and sorting them by Seq;
//   - otherwise the table itself in Seq order, which stops at Limit
//     matches (a rare Command, or an Until long ago, reads much of the
//     history to find them).
func eventListQuery(p parley.EventListParams) (string, []any) {
	var b strings.Builder
	b.WriteString(`SELECT ` + eventColumns + ` FROM events `)
	var where []string
	var args []any
	switch p.State {
	case parley.EventPending:
		b.WriteString(`INDEXED BY events_pending_seq`)
		where = append(where, `state = 'pending'`)
	case parley.EventFailed:
		b.WriteString(`INDEXED BY events_pending_seq`)
		where = append(where, `state = 'pending'`, `last_error != ''`)
	case parley.EventDead:
		b.WriteString(`INDEXED BY events_dead`)
		where = append(where, `state = 'dead'`)
	default:
		if !p.Since.IsZero() {
			b.WriteString(`INDEXED BY events_created`)
		} else {
			b.WriteString(`NOT INDEXED`)
		}
		if p.State != "" {
			where = append(where, `state = ?`)
			args = append(args, string(p.State))
		}
	}
	if p.Command != "" {
		where = append(where, `command = ?`)
		args = append(args, p.Command)
	}
	if !p.Since.IsZero() {
		where = append(where, `created_at >= ?`)
		args = append(args, p.Since.UnixMilli())
	}
	if !p.Until.IsZero() {
		where = append(where, `created_at <= ?`)
		args = append(args, p.Until.UnixMilli())
	}
	if p.AfterSeq != 0 {
		where = append(where, `seq > ?`)
		args = append(args, p.AfterSeq)
	}
	if p.BeforeSeq != 0 {
		where = append(where, `seq < ?`)
		args = append(args, p.BeforeSeq)
	}
	if len(where) > 0 {
		b.WriteString(` WHERE `)
		b.WriteString(strings.Join(where, ` AND `))
	}
	b.WriteString(` ORDER BY seq`)
	if p.Newest {
		b.WriteString(` DESC`)
	}
	limit := p.Limit
	if limit == 0 {
		limit = 100
	}
	b.WriteString(` LIMIT ?`)
	args = append(args, int64(limit))
	return b.String(), args
}

func (r *readStmts) eventList(ctx context.Context, p parley.EventListParams) ([]*parley.Event, error) {
	query, args := eventListQuery(p)
	rows, err := r.conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return collectEvents(rows)
}

func (r *readStmts) attemptList(ctx context.Context, eventID string) ([]parley.Attempt, error) {
	rows, err := r.attemptListStmt.QueryContext(ctx, eventID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []parley.Attempt
	for rows.Next() {
		var a parley.Attempt
		var attempt, startedAt, status, latency int64
		if err := rows.Scan(&a.EventSeq, &attempt, &startedAt, &status, &latency, &a.Response, &a.Error); err != nil {
			return nil, err
		}
		a.Attempt, a.Status = int(attempt), int(status)
		a.StartedAt = fromMillis(startedAt)
		a.Latency = time.Duration(latency) * time.Microsecond
		out = append(out, a)
	}
	return out, rows.Err()
}

// untilMillis is the upper bound of a time range; zero means none.
func untilMillis(t time.Time) int64 {
	if t.IsZero() {
		return math.MaxInt64
	}
	return t.UnixMilli()
}

func (t *tx) EventReplay(ctx context.Context, p parley.EventReplayParams) (*parley.Event, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	e, err := scanEvent(t.db.w.eventReplay.QueryRowContext(bg, p.ID, p.At.UnixMilli()))
	return e, notFound(err)
}

func (t *tx) EventRecover(ctx context.Context, p parley.EventRecoverParams) (int, error) {
	if err := t.check(ctx); err != nil {
		return 0, err
	}
	since, until, at := p.Since.UnixMilli(), untilMillis(p.Until), p.At.UnixMilli()
	if p.Since.IsZero() {
		since = math.MinInt64
	}
	// The failed ones first: the dead ones, once pending again with their
	// LastError, would be counted twice.
	n := 0
	for _, s := range []*sql.Stmt{t.db.w.eventRecoverFailed, t.db.w.eventRecoverDead} {
		res, err := s.ExecContext(bg, since, until, at)
		if err != nil {
			return 0, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		n += int(k)
	}
	return n, nil
}

func (t *tx) AttemptInsert(ctx context.Context, attempts []parley.Attempt) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	args := make([]any, 0, 7*min(len(attempts), attemptInsertRows[0]))
	for i, n := range attemptInsertRows {
		for len(attempts) >= n {
			args = args[:0]
			for _, a := range attempts[:n] {
				args = append(args, a.EventSeq, int64(a.Attempt), toMillis(a.StartedAt), int64(a.Status),
					a.Latency.Microseconds(), a.Response, a.Error)
			}
			if err := t.db.w.exec(t.db.w.attemptInsert[i], args...); err != nil {
				return err
			}
			attempts = attempts[n:]
		}
	}
	return nil
}

func (t *tx) AttemptList(ctx context.Context, eventID string) ([]parley.Attempt, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.attemptList(bg, eventID)
}

func (db *DB) EventReplay(ctx context.Context, p parley.EventReplayParams) (e *parley.Event, err error) {
	err = db.InTx(ctx, func(q parley.Querier) error {
		var err error
		e, err = q.EventReplay(ctx, p)
		return err
	})
	return e, err
}

func (db *DB) EventRecover(ctx context.Context, p parley.EventRecoverParams) (n int, err error) {
	err = db.InTx(ctx, func(q parley.Querier) error {
		var err error
		n, err = q.EventRecover(ctx, p)
		return err
	})
	return n, err
}

func (db *DB) AttemptInsert(ctx context.Context, attempts []parley.Attempt) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.AttemptInsert(ctx, attempts) })
}

func (db *DB) AttemptList(ctx context.Context, eventID string) ([]parley.Attempt, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.attemptList(ctx, eventID)
}
