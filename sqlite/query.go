package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley"
)

const messageColumns = `id, from_id, to_id, msg_seq, msg_random, msg_time, msg_key, msg_id, body,
	cloud_custom_data, body_crc, online_only, sync_other_machine, life_time, no_unread, no_last_msg,
	with_mute, support_extension, need_read_receipt, recalled`

const eventColumns = `seq, id, command, conversation, body, client_ip, opt_platform, created_at,
	state, attempts, next_attempt_at, last_error, delivered_at`

// The state literals in these queries match the partial indexes' WHERE
// clause word for word; SQLite uses a partial index only when it can see
// that the query implies the index's condition.
const (
	// ? is a JSON array of user IDs.
	sqlAccountGet = `SELECT user_id, nick, face_url, created_at FROM accounts
		WHERE user_id IN (SELECT value FROM json_each(?))`

	sqlMessageGetDuplicate = `SELECT ` + messageColumns + ` FROM messages
		INDEXED BY messages_history
		WHERE conv = ?1 AND msg_time >= ?7 AND from_id = ?2 AND to_id = ?3 AND msg_seq = ?4
			AND msg_random = ?5 AND body_crc = ?6
		ORDER BY id DESC LIMIT 1`

	// A MsgKey spelled as parley spells it names its message's MsgTime and
	// MsgSeq, so the history index finds it.
	sqlMessageGetByKey = `SELECT ` + messageColumns + ` FROM messages INDEXED BY messages_history
		WHERE conv = ?1 AND msg_time = ?6 AND msg_seq = ?4 AND from_id = ?2 AND to_id = ?3
			AND msg_random = ?5 AND msg_key = ?7
		ORDER BY id LIMIT 1`

	sqlMessageGetByOddKey = `SELECT ` + messageColumns + ` FROM messages
		WHERE id = (SELECT message_id FROM message_keys WHERE from_id = ? AND to_id = ? AND msg_key = ?
			ORDER BY message_id LIMIT 1)`

	// ?4 is the owner: their own messages sent with SyncOtherMachine 2 are
	// not in their history. ?5-?7 is the cursor; msg_time <= ?5 repeats
	// part of it so that it bounds the index range.
	sqlMessageList = `SELECT ` + messageColumns + ` FROM messages INDEXED BY messages_history
		WHERE conv = ?1 AND msg_time BETWEEN ?2 AND ?3 AND msg_time <= ?5
			AND NOT (from_id = ?4 AND sync_other_machine = 2)
			AND (msg_time, msg_seq, id) < (?5, ?6, ?7)
		ORDER BY msg_time DESC, msg_seq DESC, id DESC
		LIMIT ?8`

	sqlConversationGet = `SELECT read_time, unread FROM conversations WHERE owner = ? AND peer = ?`

	sqlConversationUnreadTotal = `SELECT coalesce((SELECT total FROM unread_totals WHERE owner = ?), 0)`

	// The earliest next_attempt_at among the unleased events that are the
	// first pending event of their conversation: only those can make
	// anything claimable by coming due (a later event waits for the first
	// either way). The walk goes by due time and stops at the first such
	// event; each step is one seek in events_pending_conversation.
	sqlEventNextDue = `SELECT e.next_attempt_at FROM events AS e INDEXED BY events_pending_due
		WHERE e.state = 'pending' AND e.lease_until = 0
			AND NOT EXISTS (SELECT 1 FROM events AS b INDEXED BY events_pending_conversation
				WHERE b.state = 'pending' AND b.conversation = e.conversation AND b.seq < e.seq)
		ORDER BY e.next_attempt_at LIMIT 1`

	// Counts the backlog through the partial index, so it costs the size of
	// the backlog, not of the history; /metrics runs it at every scrape.
	sqlEventStats = `SELECT count(*), coalesce(min(created_at), 0) FROM events INDEXED BY events_pending_seq
		WHERE state = 'pending'`

	sqlEventGet = `SELECT ` + eventColumns + ` FROM events WHERE id = ?`
)

const (
	sqlAccountInsert = `INSERT INTO accounts (user_id, nick, face_url, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (user_id) DO NOTHING`
	sqlAccountUpdate            = `UPDATE accounts SET nick = ?, face_url = ? WHERE user_id = ?`
	sqlAccountDelete            = `DELETE FROM accounts WHERE user_id = ?`
	sqlConversationDeleteByUser = `DELETE FROM conversations WHERE owner = ?`

	sqlMessageInsert = `INSERT INTO messages (conv, from_id, to_id, msg_seq, msg_random, msg_time, msg_key,
		msg_id, body, cloud_custom_data, body_crc, online_only, sync_other_machine, life_time, no_unread,
		no_last_msg, with_mute, support_extension, need_read_receipt, recalled)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlMessageKeyInsert = `INSERT INTO message_keys (from_id, to_id, msg_key, message_id) VALUES (?, ?, ?, ?)`
	sqlMessageRecall    = `UPDATE messages SET recalled = 1 WHERE id = ?`

	sqlConversationAddUnread = `INSERT INTO conversations (owner, peer, read_time, unread) VALUES (?1, ?2, 0, max(?3, 0))
		ON CONFLICT (owner, peer) DO UPDATE SET unread = max(unread + ?3, 0)`

	sqlConversationEnsure = `INSERT OR IGNORE INTO conversations (owner, peer, read_time, unread) VALUES (?1, ?2, 0, 0)`

	// One statement: move read_time forward and recount from the new
	// read_time. In DO UPDATE every expression sees the row as it was, so
	// the recount uses max(old, new) itself. ?1 owner, ?2 peer, ?3 read
	// time, ?4 the conversation.
	sqlConversationMarkRead = `INSERT INTO conversations (owner, peer, read_time, unread)
		VALUES (?1, ?2, ?3, (SELECT count(*) FROM messages INDEXED BY messages_history
			WHERE conv = ?4 AND msg_time > ?3 AND from_id = ?2 AND to_id = ?1
				AND recalled = 0 AND no_unread = 0 AND online_only = 0))
		ON CONFLICT (owner, peer) DO UPDATE SET
			read_time = max(read_time, ?3),
			unread = (SELECT count(*) FROM messages INDEXED BY messages_history
				WHERE conv = ?4 AND msg_time > max(conversations.read_time, ?3) AND from_id = ?2 AND to_id = ?1
					AND recalled = 0 AND no_unread = 0 AND online_only = 0)
		RETURNING read_time, unread`

	sqlEventInsert = `INSERT INTO events (id, command, conversation, body, client_ip, opt_platform, created_at,
		state, attempts, next_attempt_at, last_error, delivered_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)`

	// Walks pending events in seq order and leases the first ?3 that are
	// due and not leased, and whose conversation has no earlier pending
	// event that is blocked (leased, or not yet due). Every earlier pending
	// event of a claimed one is then claimable too and, having a lower seq,
	// comes first in the walk, so it is claimed in the same call: LIMIT can
	// cut a conversation short, never leave a gap in it. The NOT EXISTS
	// walks the conversation from its first pending event and stops at the
	// first blocked one, which for a conversation held back is usually the
	// first. ?1 lease until, ?2 now.
	sqlEventClaimDue = `UPDATE events SET lease_until = ?1
		WHERE seq IN (SELECT e.seq FROM events AS e INDEXED BY events_pending_seq
			WHERE e.state = 'pending' AND e.next_attempt_at <= ?2 AND e.lease_until <= ?2
				AND NOT EXISTS (SELECT 1 FROM events AS b INDEXED BY events_pending_conversation
					WHERE b.state = 'pending' AND b.conversation = e.conversation AND b.seq < e.seq
						AND (b.next_attempt_at > ?2 OR b.lease_until > ?2))
			ORDER BY e.seq LIMIT ?3)
		RETURNING ` + eventColumns

	// ?2 is a JSON array of IDs: one statement for a whole batch.
	sqlEventMarkDelivered = `UPDATE events SET state = 'delivered', delivered_at = ?1, lease_until = 0,
			attempts = attempts + 1
		WHERE id IN (SELECT value FROM json_each(?2))`
	sqlEventRetry = `UPDATE events SET attempts = ?, next_attempt_at = ?, last_error = ?, lease_until = 0
		WHERE id = ?`
	sqlEventMarkDead = `UPDATE events SET state = 'dead', attempts = ?, last_error = ?, dead_at = ?, lease_until = 0
		WHERE id = ?`
	sqlEventReleaseLeases = `UPDATE events SET lease_until = 0 WHERE state = 'pending' AND lease_until != 0`
	// ? is a JSON array of IDs. An event delivered or dead meanwhile keeps
	// its state; its lease is already gone.
	sqlEventRelease = `UPDATE events SET lease_until = 0
		WHERE id IN (SELECT value FROM json_each(?)) AND state = 'pending'`
)

type preparer func(ctx context.Context, query string) (*sql.Stmt, error)

type stmtDef struct {
	dst   **sql.Stmt
	query string
}

func prepareAll(ctx context.Context, prepare preparer, defs []stmtDef) error {
	for _, d := range defs {
		s, err := prepare(ctx, d.query)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", d.query, err)
		}
		*d.dst = s
	}
	return nil
}

func closeAll(stmts ...*sql.Stmt) error {
	var errs []error
	for _, s := range stmts {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}

// readStmts are the reads of Querier, prepared once on one connection (the
// writer's) or pool (the readers').
type readStmts struct {
	accountGetStmt, messageGetDuplicateStmt, messageGetByKeyStmt, messageGetByOddKeyStmt,
	messageListStmt, conversationGetStmt, conversationUnreadTotalStmt, eventNextDueStmt,
	eventStatsStmt, eventGetStmt, attemptListStmt *sql.Stmt

	// conn runs the statements written per call (eventListQuery): the
	// pool, or the write connection.
	conn queryer

	groupGetStmt, groupGetManyStmt, groupMemberGetStmt, groupMemberListIDsStmt, groupMemberListPageStmt,
	groupMessageGetStmt, groupMessageGetDuplicateStmt, groupMessageListStmt *sql.Stmt

	extensionStateGetStmt, extensionGetKeysStmt, extensionListStmt *sql.Stmt

	changeListStmt, changeHeadStmt, conversationSummaryListStmt, groupIDsByMemberStmt *sql.Stmt
}

func prepareRead(ctx context.Context, prepare preparer) (*readStmts, error) {
	r := new(readStmts)
	return r, prepareAll(ctx, prepare, r.defs())
}

func (r *readStmts) defs() []stmtDef {
	return []stmtDef{
		{&r.accountGetStmt, sqlAccountGet},
		{&r.messageGetDuplicateStmt, sqlMessageGetDuplicate},
		{&r.messageGetByKeyStmt, sqlMessageGetByKey},
		{&r.messageGetByOddKeyStmt, sqlMessageGetByOddKey},
		{&r.messageListStmt, sqlMessageList},
		{&r.conversationGetStmt, sqlConversationGet},
		{&r.conversationUnreadTotalStmt, sqlConversationUnreadTotal},
		{&r.eventNextDueStmt, sqlEventNextDue},
		{&r.eventStatsStmt, sqlEventStats},
		{&r.eventGetStmt, sqlEventGet},
		{&r.attemptListStmt, sqlAttemptList},
		{&r.groupGetStmt, sqlGroupGet},
		{&r.groupGetManyStmt, sqlGroupGetMany},
		{&r.groupMemberGetStmt, sqlGroupMemberGet},
		{&r.groupMemberListIDsStmt, sqlGroupMemberListIDs},
		{&r.groupMemberListPageStmt, sqlGroupMemberListPage},
		{&r.groupMessageGetStmt, sqlGroupMessageGet},
		{&r.groupMessageGetDuplicateStmt, sqlGroupMessageGetDuplicate},
		{&r.groupMessageListStmt, sqlGroupMessageList},
		{&r.extensionStateGetStmt, sqlExtensionStateGet},
		{&r.extensionGetKeysStmt, sqlExtensionGetKeys},
		{&r.extensionListStmt, sqlExtensionList},
		{&r.changeListStmt, sqlChangeList},
		{&r.changeHeadStmt, sqlChangeHead},
		{&r.conversationSummaryListStmt, sqlConversationSummaryList},
		{&r.groupIDsByMemberStmt, sqlGroupIDsByMember},
	}
}

func (r *readStmts) close() error {
	var stmts []*sql.Stmt
	for _, d := range r.defs() {
		stmts = append(stmts, *d.dst)
	}
	return closeAll(stmts...)
}

// writeStmts live on the write connection and are used only by the writer
// goroutine, through a tx.
type writeStmts struct {
	readStmts
	accountInsert, accountUpdate, accountDelete, conversationDeleteByUser,
	messageInsert, messageKeyInsert, messageRecall, conversationAddUnread, conversationEnsure, conversationMarkRead,
	eventInsert, eventClaimDue, eventRelease, eventMarkDelivered, eventRetry, eventMarkDead,
	eventReleaseLeases *sql.Stmt

	attemptInsert                                     [len(attemptInsertRows)]*sql.Stmt
	eventReplay, eventRecoverDead, eventRecoverFailed *sql.Stmt

	groupInsert, groupExists, groupDelete, groupMemberDeleteAll, groupMessageDeleteAll,
	extensionKVDeleteRange, extensionStateDeleteRange, groupAddMemberCount, groupMemberInsert,
	groupMemberDelete, groupMemberTouch, groupTakeMsgSeq, groupMessageInsert, groupMessageRecall *sql.Stmt

	extensionClear, extensionPut, extensionDelete, extensionStateSet *sql.Stmt

	changeAppend, changeDeleteAll, groupMemberMarkRead *sql.Stmt

	begin, commit, rollback, savepoint, rollbackTo, release *sql.Stmt
}

func prepareWrite(ctx context.Context, c *sql.Conn) (*writeStmts, error) {
	w := new(writeStmts)
	return w, prepareAll(ctx, c.PrepareContext, w.defs())
}

func (w *writeStmts) defs() []stmtDef {
	return append(w.readStmts.defs(),
		stmtDef{&w.accountInsert, sqlAccountInsert},
		stmtDef{&w.accountUpdate, sqlAccountUpdate},
		stmtDef{&w.accountDelete, sqlAccountDelete},
		stmtDef{&w.conversationDeleteByUser, sqlConversationDeleteByUser},
		stmtDef{&w.messageInsert, sqlMessageInsert},
		stmtDef{&w.messageKeyInsert, sqlMessageKeyInsert},
		stmtDef{&w.messageRecall, sqlMessageRecall},
		stmtDef{&w.conversationAddUnread, sqlConversationAddUnread},
		stmtDef{&w.conversationEnsure, sqlConversationEnsure},
		stmtDef{&w.conversationMarkRead, sqlConversationMarkRead},
		stmtDef{&w.eventInsert, sqlEventInsert},
		stmtDef{&w.eventClaimDue, sqlEventClaimDue},
		stmtDef{&w.eventMarkDelivered, sqlEventMarkDelivered},
		stmtDef{&w.eventRetry, sqlEventRetry},
		stmtDef{&w.eventMarkDead, sqlEventMarkDead},
		stmtDef{&w.eventReleaseLeases, sqlEventReleaseLeases},
		stmtDef{&w.eventRelease, sqlEventRelease},
		stmtDef{&w.attemptInsert[0], sqlAttemptInsert(attemptInsertRows[0])},
		stmtDef{&w.attemptInsert[1], sqlAttemptInsert(attemptInsertRows[1])},
		stmtDef{&w.attemptInsert[2], sqlAttemptInsert(attemptInsertRows[2])},
		stmtDef{&w.attemptInsert[3], sqlAttemptInsert(attemptInsertRows[3])},
		stmtDef{&w.eventReplay, sqlEventReplay},
		stmtDef{&w.eventRecoverDead, sqlEventRecoverDead},
		stmtDef{&w.eventRecoverFailed, sqlEventRecoverFailed},
		stmtDef{&w.groupInsert, sqlGroupInsert},
		stmtDef{&w.groupExists, sqlGroupExists},
		stmtDef{&w.groupDelete, sqlGroupDelete},
		stmtDef{&w.groupMemberDeleteAll, sqlGroupMemberDeleteAll},
		stmtDef{&w.groupMessageDeleteAll, sqlGroupMessageDeleteAll},
		stmtDef{&w.extensionKVDeleteRange, sqlExtensionKVDeleteRange},
		stmtDef{&w.extensionStateDeleteRange, sqlExtensionStateDeleteRange},
		stmtDef{&w.groupAddMemberCount, sqlGroupAddMemberCount},
		stmtDef{&w.groupMemberInsert, sqlGroupMemberInsert},
		stmtDef{&w.groupMemberDelete, sqlGroupMemberDelete},
		stmtDef{&w.groupMemberTouch, sqlGroupMemberTouch},
		stmtDef{&w.groupTakeMsgSeq, sqlGroupTakeMsgSeq},
		stmtDef{&w.groupMessageInsert, sqlGroupMessageInsert},
		stmtDef{&w.groupMessageRecall, sqlGroupMessageRecall},
		stmtDef{&w.extensionClear, sqlExtensionClear},
		stmtDef{&w.extensionPut, sqlExtensionPut},
		stmtDef{&w.extensionDelete, sqlExtensionDelete},
		stmtDef{&w.extensionStateSet, sqlExtensionStateSet},
		stmtDef{&w.changeAppend, sqlChangeAppend},
		stmtDef{&w.changeDeleteAll, sqlChangeDeleteAll},
		stmtDef{&w.groupMemberMarkRead, sqlGroupMemberMarkRead},
		stmtDef{&w.begin, "BEGIN IMMEDIATE"},
		stmtDef{&w.commit, "COMMIT"},
		stmtDef{&w.rollback, "ROLLBACK"},
		stmtDef{&w.savepoint, "SAVEPOINT fn"},
		stmtDef{&w.rollbackTo, "ROLLBACK TO fn"},
		stmtDef{&w.release, "RELEASE fn"},
	)
}

func (w *writeStmts) close() error {
	var stmts []*sql.Stmt
	for _, d := range w.defs() {
		stmts = append(stmts, *d.dst)
	}
	return closeAll(stmts...)
}

// bg is the context of every statement on the write connection. A
// cancellable context would make the driver interrupt the statement, and
// SQLite rolls back the whole transaction when an interrupted statement
// writes: one caller's cancellation must not undo the group.
var bg = context.Background()

func (w *writeStmts) exec(s *sql.Stmt, args ...any) error {
	_, err := s.ExecContext(bg, args...)
	return err
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanMessage(s scanner) (*parley.Message, error) {
	var m parley.Message
	var seq, random, crc, syncOther, lifeTime int64
	var body []byte
	err := s.Scan(&m.ID, &m.From, &m.To, &seq, &random, &m.MsgTime, &m.MsgKey, &m.MsgID, &body,
		&m.CloudCustomData, &crc, &m.OnlineOnly, &syncOther, &lifeTime, &m.NoUnread, &m.NoLastMsg,
		&m.WithMuteNotifications, &m.SupportExtension, &m.NeedReadReceipt, &m.Recalled)
	if err != nil {
		return nil, err
	}
	m.MsgSeq, m.MsgRandom, m.BodyCRC = uint32(seq), uint32(random), uint32(crc)
	m.SyncOtherMachine, m.LifeTime = int(syncOther), int(lifeTime)
	m.Body = body
	return &m, nil
}

func scanEvent(s scanner) (*parley.Event, error) {
	var e parley.Event
	var state string
	var attempts, createdAt, nextAttemptAt, deliveredAt int64
	err := s.Scan(&e.Seq, &e.ID, &e.Command, &e.Conversation, &e.Body, &e.Origin.ClientIP,
		&e.Origin.OptPlatform, &createdAt, &state, &attempts, &nextAttemptAt, &e.LastError, &deliveredAt)
	if err != nil {
		return nil, err
	}
	e.State = parley.EventState(state)
	e.Attempts = int(attempts)
	e.CreatedAt, e.NextAttemptAt, e.DeliveredAt = fromMillis(createdAt), fromMillis(nextAttemptAt), fromMillis(deliveredAt)
	return &e, nil
}

// toMillis stores the zero time as 0, so it reads back as the zero time.
func toMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return parley.ErrNotFound
	}
	return err
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// The reads. ctx is the caller's on the read pool and bg on the write
// connection.

func (r *readStmts) accountGetMany(ctx context.Context, ids []string) ([]parley.Account, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := r.accountGetStmt.QueryContext(ctx, string(list))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []parley.Account
	for rows.Next() {
		var a parley.Account
		var createdAt int64
		if err := rows.Scan(&a.UserID, &a.Nick, &a.FaceURL, &createdAt); err != nil {
			return nil, err
		}
		a.CreatedAt = fromMillis(createdAt)
		out = append(out, a)
	}
	return out, rows.Err()
}

func (r *readStmts) messageGetDuplicate(ctx context.Context, p parley.MessageGetDuplicateParams) (*parley.Message, error) {
	m, err := scanMessage(r.messageGetDuplicateStmt.QueryRowContext(ctx, parley.C2CConversation(p.From, p.To),
		p.From, p.To, int64(p.MsgSeq), int64(p.MsgRandom), int64(p.BodyCRC), p.Since))
	return m, notFound(err)
}

func (r *readStmts) messageGetByKey(ctx context.Context, p parley.MessageGetByKeyParams) (*parley.Message, error) {
	if seq, random, msgTime, ok := parseMsgKey(p.MsgKey); ok {
		m, err := scanMessage(r.messageGetByKeyStmt.QueryRowContext(ctx, parley.C2CConversation(p.From, p.To),
			p.From, p.To, int64(seq), int64(random), msgTime, p.MsgKey))
		if !errors.Is(err, sql.ErrNoRows) {
			return m, err
		}
	}
	m, err := scanMessage(r.messageGetByOddKeyStmt.QueryRowContext(ctx, p.From, p.To, p.MsgKey))
	return m, notFound(err)
}

// parseMsgKey reads MsgSeq, MsgRandom and MsgTime out of a MsgKey spelled
// exactly as parley.MsgKey spells it; ok is false for any other string.
func parseMsgKey(key string) (seq, random uint32, msgTime int64, ok bool) {
	s, rest, ok1 := strings.Cut(key, "_")
	r, t, ok2 := strings.Cut(rest, "_")
	if !ok1 || !ok2 {
		return 0, 0, 0, false
	}
	s64, err1 := strconv.ParseUint(s, 10, 32)
	r64, err2 := strconv.ParseUint(r, 10, 32)
	t64, err3 := strconv.ParseInt(t, 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, false
	}
	seq, random = uint32(s64), uint32(r64)
	// "007_1_2" parses but is not how parley spells it; only the canonical
	// spelling may be looked up by its numbers.
	if parley.MsgKey(seq, random, t64) != key {
		return 0, 0, 0, false
	}
	return seq, random, t64, true
}

func (r *readStmts) messageList(ctx context.Context, p parley.MessageListParams) ([]*parley.Message, error) {
	// No cursor is a cursor past everything.
	before := parley.MessageCursor{MsgTime: math.MaxInt64, MsgSeq: math.MaxUint32, ID: math.MaxInt64}
	if p.Before != nil {
		before = *p.Before
	}
	limit := int64(p.Limit)
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := r.messageListStmt.QueryContext(ctx, parley.C2CConversation(p.Owner, p.Peer), p.MinTime, p.MaxTime,
		p.Owner, before.MsgTime, int64(before.MsgSeq), before.ID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*parley.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (r *readStmts) conversationGet(ctx context.Context, owner, peer string) (parley.Conversation, error) {
	c := parley.Conversation{Owner: owner, Peer: peer}
	var unread int64
	err := r.conversationGetStmt.QueryRowContext(ctx, owner, peer).Scan(&c.ReadTime, &unread)
	if errors.Is(err, sql.ErrNoRows) {
		return parley.Conversation{}, nil
	}
	if err != nil {
		return parley.Conversation{}, err
	}
	c.Unread = int(unread)
	return c, nil
}

func (r *readStmts) conversationUnreadTotal(ctx context.Context, owner string) (int, error) {
	var n int64
	err := r.conversationUnreadTotalStmt.QueryRowContext(ctx, owner).Scan(&n)
	return int(n), err
}

func (r *readStmts) eventNextDue(ctx context.Context) (time.Time, bool, error) {
	var at int64
	err := r.eventNextDueStmt.QueryRowContext(ctx).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	return time.UnixMilli(at), true, nil
}

func (r *readStmts) eventStats(ctx context.Context) (parley.EventStats, error) {
	var pending, oldest int64
	if err := r.eventStatsStmt.QueryRowContext(ctx).Scan(&pending, &oldest); err != nil {
		return parley.EventStats{}, err
	}
	s := parley.EventStats{Pending: int(pending)}
	if pending > 0 {
		s.OldestPending = time.UnixMilli(oldest)
	}
	return s, nil
}

func (r *readStmts) eventGet(ctx context.Context, id string) (*parley.Event, error) {
	e, err := scanEvent(r.eventGetStmt.QueryRowContext(ctx, id))
	return e, notFound(err)
}

func collectEvents(rows *sql.Rows) ([]*parley.Event, error) {
	defer rows.Close()
	var out []*parley.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// tx is the Querier an InTx fn gets. It runs on the writer goroutine, on
// the write connection, so its reads see the group's uncommitted writes.
type tx struct {
	db   *DB
	r    *request // whose fn has this tx: its hooks
	done atomic.Bool
}

// check refuses work for a cancelled caller, and for a fn that kept its
// tx past its return (the transaction it belonged to is gone).
func (t *tx) check(ctx context.Context) error {
	if t.done.Load() {
		return errTxDone
	}
	return ctx.Err()
}

func (t *tx) AccountUpsert(ctx context.Context, a parley.Account) (bool, error) {
	if err := t.check(ctx); err != nil {
		return false, err
	}
	w := t.db.w
	createdAt := a.CreatedAt
	if createdAt.IsZero() {
		createdAt = t.db.now()
	}
	res, err := w.accountInsert.ExecContext(bg, a.UserID, a.Nick, a.FaceURL, createdAt.UnixMilli())
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, err
	} else if n == 1 {
		return true, nil
	}
	return false, w.exec(w.accountUpdate, a.Nick, a.FaceURL, a.UserID)
}

func (t *tx) AccountGetMany(ctx context.Context, ids []string) ([]parley.Account, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.accountGetMany(bg, ids)
}

func (t *tx) AccountDelete(ctx context.Context, id string) (bool, error) {
	if err := t.check(ctx); err != nil {
		return false, err
	}
	w := t.db.w
	res, err := w.accountDelete.ExecContext(bg, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, w.exec(w.conversationDeleteByUser, id)
}

func (t *tx) MessageInsert(ctx context.Context, m *parley.Message) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	body := []byte(m.Body)
	if body == nil {
		body = []byte{}
	}
	res, err := t.db.w.messageInsert.ExecContext(bg, parley.C2CConversation(m.From, m.To), m.From, m.To,
		int64(m.MsgSeq), int64(m.MsgRandom), m.MsgTime, m.MsgKey, m.MsgID, body, m.CloudCustomData,
		int64(m.BodyCRC), boolInt(m.OnlineOnly), int64(m.SyncOtherMachine), int64(m.LifeTime),
		boolInt(m.NoUnread), boolInt(m.NoLastMsg), boolInt(m.WithMuteNotifications),
		boolInt(m.SupportExtension), boolInt(m.NeedReadReceipt), boolInt(m.Recalled))
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	if seq, random, msgTime, ok := parseMsgKey(m.MsgKey); !ok || seq != m.MsgSeq || random != m.MsgRandom || msgTime != m.MsgTime {
		if err := t.db.w.exec(t.db.w.messageKeyInsert, m.From, m.To, m.MsgKey, id); err != nil {
			return err
		}
	}
	m.ID = id
	return nil
}

func (t *tx) MessageGetDuplicate(ctx context.Context, p parley.MessageGetDuplicateParams) (*parley.Message, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.messageGetDuplicate(bg, p)
}

func (t *tx) MessageGetByKey(ctx context.Context, p parley.MessageGetByKeyParams) (*parley.Message, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.messageGetByKey(bg, p)
}

func (t *tx) MessageList(ctx context.Context, p parley.MessageListParams) ([]*parley.Message, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.messageList(bg, p)
}

func (t *tx) MessageRecall(ctx context.Context, id int64) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	return affectedOne(t.db.w.messageRecall.ExecContext(bg, id))
}

// affectedOne turns "no row matched" into ErrNotFound.
func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return parley.ErrNotFound
	}
	return nil
}

func (t *tx) ConversationGet(ctx context.Context, owner, peer string) (parley.Conversation, error) {
	if err := t.check(ctx); err != nil {
		return parley.Conversation{}, err
	}
	return t.db.w.conversationGet(bg, owner, peer)
}

func (t *tx) ConversationAddUnread(ctx context.Context, p parley.ConversationAddUnreadParams) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	if p.Delta == 0 {
		// Only the row's existence is asked for. An upsert would rewrite
		// a row that is there, dirtying its page: a WAL page per message
		// at commit, for the sender's side of every conversation.
		return t.db.w.exec(t.db.w.conversationEnsure, p.Owner, p.Peer)
	}
	return t.db.w.exec(t.db.w.conversationAddUnread, p.Owner, p.Peer, int64(p.Delta))
}

func (t *tx) ConversationMarkRead(ctx context.Context, p parley.ConversationMarkReadParams) (parley.Conversation, error) {
	if err := t.check(ctx); err != nil {
		return parley.Conversation{}, err
	}
	c := parley.Conversation{Owner: p.Owner, Peer: p.Peer}
	var unread int64
	err := t.db.w.conversationMarkRead.QueryRowContext(bg, p.Owner, p.Peer, p.ReadTime,
		parley.C2CConversation(p.Owner, p.Peer)).Scan(&c.ReadTime, &unread)
	if err != nil {
		return parley.Conversation{}, err
	}
	c.Unread = int(unread)
	return c, nil
}

func (t *tx) ConversationUnreadTotal(ctx context.Context, owner string) (int, error) {
	if err := t.check(ctx); err != nil {
		return 0, err
	}
	return t.db.w.conversationUnreadTotal(bg, owner)
}

func (t *tx) EventInsert(ctx context.Context, e *parley.Event) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	now := t.db.now()
	createdAt, next := e.CreatedAt, e.NextAttemptAt
	if createdAt.IsZero() {
		createdAt = now
	}
	if next.IsZero() {
		next = now
	}
	body := e.Body
	if body == nil {
		body = []byte{}
	}
	res, err := t.db.w.eventInsert.ExecContext(bg, e.ID, e.Command, e.Conversation, body, e.Origin.ClientIP,
		e.Origin.OptPlatform, createdAt.UnixMilli(), int64(e.Attempts), next.UnixMilli(), e.LastError,
		toMillis(e.DeliveredAt))
	if err != nil {
		return err
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return err
	}
	// Report what is stored: times at the millisecond.
	e.Seq, e.State = seq, parley.EventPending
	e.CreatedAt, e.NextAttemptAt = time.UnixMilli(createdAt.UnixMilli()), time.UnixMilli(next.UnixMilli())
	return nil
}

func (t *tx) EventClaimDue(ctx context.Context, p parley.EventClaimDueParams) ([]*parley.Event, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	if p.Limit <= 0 {
		return nil, nil
	}
	rows, err := t.db.w.eventClaimDue.QueryContext(bg, p.LeaseUntil.UnixMilli(), p.Now.UnixMilli(), int64(p.Limit))
	if err != nil {
		return nil, err
	}
	es, err := collectEvents(rows)
	if err != nil {
		return nil, err
	}
	// RETURNING comes back in no promised order.
	slices.SortFunc(es, func(a, b *parley.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	return es, nil
}

func (t *tx) EventRelease(ctx context.Context, ids []string) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	if len(ids) == 0 {
		return nil
	}
	list, err := jsonList(ids)
	if err != nil {
		return err
	}
	return t.db.w.exec(t.db.w.eventRelease, list)
}

func (t *tx) EventMarkDelivered(ctx context.Context, p parley.EventMarkDeliveredParams) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	if len(p.IDs) == 0 {
		return nil
	}
	ids, err := json.Marshal(p.IDs)
	if err != nil {
		return err
	}
	return t.db.w.exec(t.db.w.eventMarkDelivered, p.At.UnixMilli(), string(ids))
}

func (t *tx) EventRetry(ctx context.Context, p parley.EventRetryParams) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	return affectedOne(t.db.w.eventRetry.ExecContext(bg, int64(p.Attempts), p.NextAttemptAt.UnixMilli(), p.LastError, p.ID))
}

func (t *tx) EventMarkDead(ctx context.Context, p parley.EventMarkDeadParams) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	return affectedOne(t.db.w.eventMarkDead.ExecContext(bg, int64(p.Attempts), p.LastError, p.At.UnixMilli(), p.ID))
}

func (t *tx) EventReleaseLeases(ctx context.Context) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	return t.db.w.exec(t.db.w.eventReleaseLeases)
}

func (t *tx) EventNextDue(ctx context.Context) (time.Time, bool, error) {
	if err := t.check(ctx); err != nil {
		return time.Time{}, false, err
	}
	return t.db.w.eventNextDue(bg)
}

func (t *tx) EventStats(ctx context.Context) (parley.EventStats, error) {
	if err := t.check(ctx); err != nil {
		return parley.EventStats{}, err
	}
	return t.db.w.eventStats(bg)
}

func (t *tx) EventGet(ctx context.Context, id string) (*parley.Event, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.eventGet(bg, id)
}

func (t *tx) EventList(ctx context.Context, p parley.EventListParams) ([]*parley.Event, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.eventList(bg, p)
}
