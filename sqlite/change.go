package sqlite

import (
	"context"
	"encoding/json"

	"github.com/parley-im/parley"
)

// defaultChangeListLimit is parley.ChangeListParams' "zero means 100".
const defaultChangeListLimit = 100

// The reads.
const (
	// ?1 conversation, ?2 after seq, ?3 viewer, ?4 limit. The viewer filter
	// is in SQL so that LIMIT counts the changes the viewer sees; a viewer
	// of '' sees every change.
	sqlChangeList = `SELECT seq, kind, only_user, except_user, time, data FROM changes
		WHERE conv = ?1 AND seq > ?2
			AND (only_user = '' OR only_user = ?3 OR ?3 = '')
			AND (except_user = '' OR except_user != ?3)
		ORDER BY seq LIMIT ?4`

	// The last entry of the conversation's range of the primary key.
	sqlChangeHead = `SELECT coalesce((SELECT seq FROM changes WHERE conv = ? ORDER BY seq DESC LIMIT 1), 0)`

	// A user's C2C conversations and groups, each with the head of its
	// change log: one seek in the changes index per conversation. The C2C key
	// is parley.C2CConversation built in SQL (min and max of two TEXT
	// values compare byte by byte, as Go compares strings), so its head is
	// found in the same statement. The group side is pinned to the index by
	// user: without statistics the planner may walk every group and probe
	// each for the member instead. Each side comes out of its index in key
	// order, but SQLite cannot know that of the built keys, so it sorts
	// them: one user's conversations. ?1 is the user.
	sqlConversationSummaryList = `SELECT 'c2c:' || min(owner, peer) || char(0) || max(owner, peer) AS conv,
			peer, '', unread, read_time, 0, 0,
			coalesce((SELECT c.seq FROM changes AS c
				WHERE c.conv = 'c2c:' || min(owner, peer) || char(0) || max(owner, peer)
				ORDER BY c.seq DESC LIMIT 1), 0)
		FROM conversations WHERE owner = ?1
		UNION ALL
		SELECT 'group:' || m.group_id, '', m.group_id, 0, 0, g.next_msg_seq - 1, m.read_msg_seq,
			coalesce((SELECT c.seq FROM changes AS c WHERE c.conv = 'group:' || m.group_id ORDER BY c.seq DESC LIMIT 1), 0)
		FROM group_members AS m INDEXED BY group_members_of_user
			JOIN groups AS g ON g.id = m.group_id
		WHERE m.user_id = ?1
		ORDER BY conv`

	sqlGroupIDsByMember = `SELECT group_id FROM group_members INDEXED BY group_members_of_user WHERE user_id = ?`
)

// The writes.
const (
	// Takes the conversation's next seq and stores the change in one
	// statement on the one writer, so no two changes of a conversation get
	// the same seq, and a rolled-back append gives its seq back with its
	// row: the committed seqs are 1..N without gaps. ?1 conversation.
	sqlChangeAppend = `INSERT INTO changes (conv, seq, kind, only_user, except_user, time, data)
		VALUES (?1, coalesce((SELECT seq FROM changes WHERE conv = ?1 ORDER BY seq DESC LIMIT 1), 0) + 1,
			?2, ?3, ?4, ?5, ?6)
		RETURNING seq`

	// A group's log goes with the group. A C2C log has no owner to go
	// with: AccountDelete leaves it, since the peer still has the
	// conversation.
	sqlChangeDeleteAll = `DELETE FROM changes WHERE conv = ?`

	// Forward only, and never past the group's newest MsgSeq. ?1 group,
	// ?2 user, ?3 the MsgSeq asked for.
	sqlGroupMemberMarkRead = `UPDATE group_members
		SET read_msg_seq = max(read_msg_seq, min(?3, coalesce((SELECT next_msg_seq - 1 FROM groups WHERE id = ?1), 0)))
		WHERE group_id = ?1 AND user_id = ?2
		RETURNING read_msg_seq`
)

func (r *readStmts) changeList(ctx context.Context, p parley.ChangeListParams) ([]*parley.Change, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultChangeListLimit
	}
	rows, err := r.changeListStmt.QueryContext(ctx, p.Conversation, seqArg(p.AfterSeq), p.Viewer, int64(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*parley.Change
	for rows.Next() {
		c := &parley.Change{Conversation: p.Conversation}
		var seq int64
		var data string
		if err := rows.Scan(&seq, &c.Kind, &c.Only, &c.Except, &c.Time, &data); err != nil {
			return nil, err
		}
		c.Seq = uint64(seq)
		if data != "" {
			c.Data = json.RawMessage(data)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (r *readStmts) changeHead(ctx context.Context, conversation string) (uint64, error) {
	var seq int64
	err := r.changeHeadStmt.QueryRowContext(ctx, conversation).Scan(&seq)
	return uint64(seq), err
}

func (r *readStmts) conversationSummaryList(ctx context.Context, user string) ([]parley.ConversationSummary, error) {
	rows, err := r.conversationSummaryListStmt.QueryContext(ctx, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []parley.ConversationSummary
	for rows.Next() {
		var s parley.ConversationSummary
		var unread, lastMsgSeq, readMsgSeq, seq int64
		if err := rows.Scan(&s.Conversation, &s.Peer, &s.GroupID, &unread, &s.ReadTime, &lastMsgSeq, &readMsgSeq, &seq); err != nil {
			return nil, err
		}
		s.Unread, s.LastMsgSeq, s.ReadMsgSeq, s.Seq = int(unread), uint64(lastMsgSeq), uint64(readMsgSeq), uint64(seq)
		out = append(out, s)
	}
	return out, rows.Err()
}

func (r *readStmts) groupIDsByMember(ctx context.Context, user string) ([]string, error) {
	rows, err := r.groupIDsByMemberStmt.QueryContext(ctx, user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (t *tx) ChangeAppend(ctx context.Context, c *parley.Change) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	var seq int64
	err := t.db.w.changeAppend.QueryRowContext(bg, c.Conversation, c.Kind, c.Only, c.Except, c.Time, string(c.Data)).Scan(&seq)
	if err != nil {
		return err
	}
	c.Seq = uint64(seq)
	return nil
}

func (t *tx) ChangeList(ctx context.Context, p parley.ChangeListParams) ([]*parley.Change, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.changeList(bg, p)
}

func (t *tx) ChangeHead(ctx context.Context, conversation string) (uint64, error) {
	if err := t.check(ctx); err != nil {
		return 0, err
	}
	return t.db.w.changeHead(bg, conversation)
}

func (t *tx) ConversationSummaryList(ctx context.Context, user string) ([]parley.ConversationSummary, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.conversationSummaryList(bg, user)
}

func (t *tx) GroupMemberMarkRead(ctx context.Context, p parley.GroupMemberMarkReadParams) (uint64, error) {
	if err := t.check(ctx); err != nil {
		return 0, err
	}
	var seq int64
	err := t.db.w.groupMemberMarkRead.QueryRowContext(bg, p.GroupID, p.UserID, seqArg(p.MsgSeq)).Scan(&seq)
	if err != nil {
		return 0, notFound(err)
	}
	return uint64(seq), nil
}

func (t *tx) GroupIDsByMember(ctx context.Context, user string) ([]string, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.groupIDsByMember(bg, user)
}

// AfterCommit makes tx a parley.CommitHooker; see DB.InTx for when f runs.
// A tx used after its fn returned panics: the hook would belong to a
// transaction whose hooks may already have run.
func (t *tx) AfterCommit(f func()) {
	if t.done.Load() {
		panic(errTxDone)
	}
	t.r.hooks = append(t.r.hooks, f)
}

var _ parley.CommitHooker = (*tx)(nil)

func (db *DB) ChangeAppend(ctx context.Context, c *parley.Change) error {
	return db.InTx(ctx, func(q parley.Querier) error { return q.ChangeAppend(ctx, c) })
}

func (db *DB) ChangeList(ctx context.Context, p parley.ChangeListParams) ([]*parley.Change, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.changeList(ctx, p)
}

func (db *DB) ChangeHead(ctx context.Context, conversation string) (uint64, error) {
	if db.closed.Load() {
		return 0, ErrClosed
	}
	return db.r.changeHead(ctx, conversation)
}

func (db *DB) ConversationSummaryList(ctx context.Context, user string) ([]parley.ConversationSummary, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.conversationSummaryList(ctx, user)
}

func (db *DB) GroupMemberMarkRead(ctx context.Context, p parley.GroupMemberMarkReadParams) (seq uint64, err error) {
	err = db.InTx(ctx, func(q parley.Querier) error {
		var err error
		seq, err = q.GroupMemberMarkRead(ctx, p)
		return err
	})
	return seq, err
}

func (db *DB) GroupIDsByMember(ctx context.Context, user string) ([]string, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	return db.r.groupIDsByMember(ctx, user)
}
