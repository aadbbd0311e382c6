package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"slices"

	"github.com/parley-im/parley"
)

const groupColumns = `id, type, owner, name, introduction, notification, face_url, max_member_count,
	apply_join_option, invite_join_option, app_defined_data, support_topic, shut_up_all, create_time,
	last_info_time, last_msg_time, next_msg_seq, member_count`

const groupMemberColumns = `group_id, user_id, role, join_time, name_card, msg_flag, shut_up_until,
	last_send_msg_time, read_msg_seq, app_member_defined_data`

const groupMessageColumns = `group_id, msg_seq, from_id, msg_random, msg_time, msg_id, priority, body,
	cloud_custom_data, body_crc, to_ids, at_info, is_system, no_unread, no_last_msg, support_extension,
	need_read_receipt, recalled`

// The reads.
const (
	sqlGroupGet = `SELECT ` + groupColumns + ` FROM groups WHERE id = ?`
	// ? is a JSON array of group IDs.
	sqlGroupGetMany = `SELECT ` + groupColumns + ` FROM groups WHERE id IN (SELECT value FROM json_each(?))`

	sqlGroupMemberGet = `SELECT ` + groupMemberColumns + ` FROM group_members WHERE group_id = ? AND user_id = ?`
	// ?2 is a JSON array of user IDs. They are found by the unique key and
	// sorted: at most a page of them, where walking the join index would
	// read the whole group.
	sqlGroupMemberListIDs = `SELECT ` + groupMemberColumns + ` FROM group_members INDEXED BY group_members_user
		WHERE group_id = ?1 AND user_id IN (SELECT value FROM json_each(?2))
		ORDER BY join_time, join_seq`
	sqlGroupMemberListPage = `SELECT ` + groupMemberColumns + ` FROM group_members INDEXED BY group_members_join
		WHERE group_id = ?1
		ORDER BY join_time, join_seq LIMIT ?3 OFFSET ?2`

	sqlGroupMessageGet = `SELECT ` + groupMessageColumns + ` FROM group_messages WHERE group_id = ? AND msg_seq = ?`
	// ?1 group, ?2 sender, ?3 Random, ?4 CRC, ?5 since.
	sqlGroupMessageGetDuplicate = `SELECT ` + groupMessageColumns + ` FROM group_messages
		INDEXED BY group_messages_duplicate
		WHERE group_id = ?1 AND msg_random = ?3 AND msg_time >= ?5 AND from_id = ?2 AND body_crc = ?4
		ORDER BY msg_seq DESC LIMIT 1`
	sqlGroupMessageList = `SELECT ` + groupMessageColumns + ` FROM group_messages
		WHERE group_id = ?1 AND msg_seq <= ?2
		ORDER BY msg_seq DESC LIMIT ?3`
)

// The writes.
const (
	// A taken ID is not an error for SQLite here: no row is inserted, and
	// GroupInsert answers ErrConflict.
	sqlGroupInsert = `INSERT INTO groups (` + groupColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0)
		ON CONFLICT (id) DO NOTHING`
	sqlGroupExists           = `SELECT 1 FROM groups WHERE id = ?`
	sqlGroupDelete           = `DELETE FROM groups WHERE id = ?`
	sqlGroupMemberDeleteAll  = `DELETE FROM group_members WHERE group_id = ?`
	sqlGroupMessageDeleteAll = `DELETE FROM group_messages WHERE group_id = ?`
	// ?1 and ?2 bound the group's extension targets: a range, not LIKE,
	// which would take '%' and '_' in a GroupId as wildcards and fold case.
	sqlExtensionKVDeleteRange    = `DELETE FROM extension_kvs WHERE target >= ?1 AND target < ?2`
	sqlExtensionStateDeleteRange = `DELETE FROM extension_states WHERE target >= ?1 AND target < ?2`

	sqlGroupAddMemberCount = `UPDATE groups SET member_count = member_count + ?2 WHERE id = ?1`
	sqlGroupMemberInsert   = `INSERT INTO group_members (` + groupMemberColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (group_id, user_id) DO NOTHING`
	// ?2 is a JSON array of user IDs.
	sqlGroupMemberDelete = `DELETE FROM group_members
		WHERE group_id = ?1 AND user_id IN (SELECT value FROM json_each(?2))
		RETURNING user_id`
	sqlGroupMemberTouch = `UPDATE group_members SET last_send_msg_time = ?3 WHERE group_id = ?1 AND user_id = ?2`

	// Takes the group's next MsgSeq and advances it in one statement on the
	// one writer, so no two messages get the same seq, and a rolled-back
	// insert gives its seq back with everything else it did.
	sqlGroupTakeMsgSeq = `UPDATE groups SET next_msg_seq = next_msg_seq + 1, last_msg_time = ?2
		WHERE id = ?1 RETURNING next_msg_seq - 1`
	sqlGroupMessageInsert = `INSERT INTO group_messages (` + groupMessageColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlGroupMessageRecall = `UPDATE group_messages SET recalled = 1 WHERE group_id = ? AND msg_seq = ?`
)

// seqArg turns a uint64 sequence number into SQLite's int64. Real seqs are
// far below 2^63; a larger one (only ever a bound given by a caller) is
// clamped rather than wrapped to a negative number.
func seqArg(seq uint64) int64 {
	if seq > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(seq)
}

// limitArg is SQLite's "no limit" for a zero or negative limit.
func limitArg(limit int) int64 {
	if limit <= 0 {
		return -1
	}
	return int64(limit)
}

// jsonList is the JSON array of ids, for the statements taking a list as
// one argument.
func jsonList(ids []string) (string, error) {
	if ids == nil {
		ids = []string{}
	}
	b, err := json.Marshal(ids)
	return string(b), err
}

// marshalItems stores AppDefinedData as given: nil as null, so that it
// reads back nil, and an empty list as [].
func marshalItems(items []parley.AppDefinedItem) (string, error) {
	b, err := json.Marshal(items)
	return string(b), err
}

func unmarshalItems(s string) ([]parley.AppDefinedItem, error) {
	var items []parley.AppDefinedItem
	if err := json.Unmarshal([]byte(s), &items); err != nil {
		return nil, err
	}
	return items, nil
}

func scanGroup(s scanner) (*parley.Group, error) {
	var g parley.Group
	var maxMembers, nextSeq, members int64
	var appData string
	err := s.Scan(&g.ID, &g.Type, &g.Owner, &g.Name, &g.Introduction, &g.Notification, &g.FaceURL, &maxMembers,
		&g.ApplyJoinOption, &g.InviteJoinOption, &appData, &g.SupportTopic, &g.ShutUpAll, &g.CreateTime,
		&g.LastInfoTime, &g.LastMsgTime, &nextSeq, &members)
	if err != nil {
		return nil, err
	}
	if g.AppDefinedData, err = unmarshalItems(appData); err != nil {
		return nil, err
	}
	g.MaxMemberCount, g.NextMsgSeq, g.MemberCount = int(maxMembers), uint64(nextSeq), int(members)
	return &g, nil
}

func scanGroupMember(s scanner) (*parley.GroupMember, error) {
	var m parley.GroupMember
	var readSeq int64
	var appData string
	err := s.Scan(&m.GroupID, &m.UserID, &m.Role, &m.JoinTime, &m.NameCard, &m.MsgFlag, &m.ShutUpUntil,
		&m.LastSendMsgTime, &readSeq, &appData)
	if err != nil {
		return nil, err
	}
	if m.AppMemberDefinedData, err = unmarshalItems(appData); err != nil {
		return nil, err
	}
	m.ReadMsgSeq = uint64(readSeq)
	return &m, nil
}

func scanGroupMessage(s scanner) (*parley.GroupMessage, error) {
	var m parley.GroupMessage
	var seq, random, crc int64
	var body []byte
	var to, atInfo sql.NullString
	err := s.Scan(&m.GroupID, &seq, &m.From, &random, &m.MsgTime, &m.MsgID, &m.Priority, &body,
		&m.CloudCustomData, &crc, &to, &atInfo, &m.IsSystem, &m.NoUnread, &m.NoLastMsg, &m.SupportExtension,
		&m.NeedReadReceipt, &m.Recalled)
	if err != nil {
		return nil, err
	}
	m.MsgSeq, m.Random, m.BodyCRC = uint64(seq), uint32(random), uint32(crc)
	m.Body = body
	if to.Valid {
		if err := json.Unmarshal([]byte(to.String), &m.To); err != nil {
			return nil, err
		}
	}
	if atInfo.Valid {
		m.AtInfo = json.RawMessage(atInfo.String)
	}
	return &m, nil
}

func collectGroupMembers(rows *sql.Rows, err error) ([]*parley.GroupMember, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*parley.GroupMember
	for rows.Next() {
		m, err := scanGroupMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func collectGroupMessages(rows *sql.Rows, err error) ([]*parley.GroupMessage, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*parley.GroupMessage
	for rows.Next() {
		m, err := scanGroupMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func (r *readStmts) groupGet(ctx context.Context, id string) (*parley.Group, error) {
	g, err := scanGroup(r.groupGetStmt.QueryRowContext(ctx, id))
	return g, notFound(err)
}

func (r *readStmts) groupGetMany(ctx context.Context, ids []string) ([]*parley.Group, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := jsonList(ids)
	if err != nil {
		return nil, err
	}
	rows, err := r.groupGetManyStmt.QueryContext(ctx, list)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*parley.Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (r *readStmts) groupMemberGet(ctx context.Context, groupID, userID string) (*parley.GroupMember, error) {
	m, err := scanGroupMember(r.groupMemberGetStmt.QueryRowContext(ctx, groupID, userID))
	return m, notFound(err)
}

func (r *readStmts) groupMemberList(ctx context.Context, p parley.GroupMemberListParams) ([]*parley.GroupMember, error) {
	if len(p.UserIDs) > 0 {
		list, err := jsonList(p.UserIDs)
		if err != nil {
			return nil, err
		}
		return collectGroupMembers(r.groupMemberListIDsStmt.QueryContext(ctx, p.GroupID, list))
	}
	return collectGroupMembers(r.groupMemberListPageStmt.QueryContext(ctx, p.GroupID, int64(max(p.Offset, 0)), limitArg(p.Limit)))
}

func (r *readStmts) groupMessageGet(ctx context.Context, groupID string, msgSeq uint64) (*parley.GroupMessage, error) {
	m, err := scanGroupMessage(r.groupMessageGetStmt.QueryRowContext(ctx, groupID, seqArg(msgSeq)))
	return m, notFound(err)
}

func (r *readStmts) groupMessageGetDuplicate(ctx context.Context, p parley.GroupMessageGetDuplicateParams) (*parley.GroupMessage, error) {
	m, err := scanGroupMessage(r.groupMessageGetDuplicateStmt.QueryRowContext(ctx, p.GroupID, p.From,
		int64(p.Random), int64(p.BodyCRC), p.Since))
	return m, notFound(err)
}

func (r *readStmts) groupMessageList(ctx context.Context, p parley.GroupMessageListParams) ([]*parley.GroupMessage, error) {
	maxSeq := seqArg(p.MaxSeq)
	if p.MaxSeq == 0 {
		maxSeq = math.MaxInt64
	}
	return collectGroupMessages(r.groupMessageListStmt.QueryContext(ctx, p.GroupID, maxSeq, limitArg(p.Limit)))
}

// prefixEnd is the least string greater than every string starting with
// prefix, or "" if there is none (prefix is empty or all 0xff bytes), so
// that target >= prefix AND target < prefixEnd(prefix) is exactly the
// targets with that prefix, compared byte by byte as SQLite compares text.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
}

func (t *tx) GroupInsert(ctx context.Context, g *parley.Group) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	appData, err := marshalItems(g.AppDefinedData)
	if err != nil {
		return err
	}
	res, err := t.db.w.groupInsert.ExecContext(bg, g.ID, g.Type, g.Owner, g.Name, g.Introduction, g.Notification,
		g.FaceURL, int64(g.MaxMemberCount), g.ApplyJoinOption, g.InviteJoinOption, appData,
		boolInt(g.SupportTopic), boolInt(g.ShutUpAll), g.CreateTime, g.LastInfoTime, g.LastMsgTime)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return parley.ErrConflict
	}
	// Report what is stored.
	g.NextMsgSeq, g.MemberCount = 1, 0
	return nil
}

func (t *tx) GroupGet(ctx context.Context, id string) (*parley.Group, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.groupGet(bg, id)
}

func (t *tx) GroupGetMany(ctx context.Context, ids []string) ([]*parley.Group, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.groupGetMany(bg, ids)
}

func (t *tx) GroupDelete(ctx context.Context, id string) (bool, error) {
	if err := t.check(ctx); err != nil {
		return false, err
	}
	w := t.db.w
	res, err := w.groupDelete.ExecContext(bg, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	if err := w.exec(w.groupMemberDeleteAll, id); err != nil {
		return false, err
	}
	if err := w.exec(w.groupMessageDeleteAll, id); err != nil {
		return false, err
	}
	// A group's prefix ends in NUL, so prefixEnd is never "".
	from := parley.GroupExtensionPrefix(id)
	to := prefixEnd(from)
	if err := w.exec(w.extensionKVDeleteRange, from, to); err != nil {
		return false, err
	}
	if err := w.exec(w.extensionStateDeleteRange, from, to); err != nil {
		return false, err
	}
	if err := w.exec(w.changeDeleteAll, parley.GroupConversation(id)); err != nil {
		return false, err
	}
	return true, nil
}

func (t *tx) groupExists(id string) (bool, error) {
	var one int
	err := t.db.w.groupExists.QueryRowContext(bg, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (t *tx) GroupMemberAdd(ctx context.Context, p parley.GroupMemberAddParams) ([]string, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	// Checked first: members inserted before finding no group would be
	// left behind by a caller that goes on after ErrNotFound.
	if ok, err := t.groupExists(p.GroupID); err != nil {
		return nil, err
	} else if !ok {
		return nil, parley.ErrNotFound
	}
	w := t.db.w
	var added []string
	for _, m := range p.Members {
		appData, err := marshalItems(m.AppMemberDefinedData)
		if err != nil {
			return nil, err
		}
		res, err := w.groupMemberInsert.ExecContext(bg, p.GroupID, m.UserID, m.Role, m.JoinTime, m.NameCard,
			m.MsgFlag, m.ShutUpUntil, m.LastSendMsgTime, seqArg(m.ReadMsgSeq), appData)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 1 {
			added = append(added, m.UserID)
		}
	}
	if len(added) > 0 {
		if err := w.exec(w.groupAddMemberCount, p.GroupID, int64(len(added))); err != nil {
			return nil, err
		}
	}
	return added, nil
}

func (t *tx) GroupMemberGet(ctx context.Context, groupID, userID string) (*parley.GroupMember, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.groupMemberGet(bg, groupID, userID)
}

func (t *tx) GroupMemberList(ctx context.Context, p parley.GroupMemberListParams) ([]*parley.GroupMember, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.groupMemberList(bg, p)
}

func (t *tx) GroupMemberDelete(ctx context.Context, p parley.GroupMemberDeleteParams) ([]string, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	if len(p.UserIDs) == 0 {
		return nil, nil
	}
	list, err := jsonList(p.UserIDs)
	if err != nil {
		return nil, err
	}
	w := t.db.w
	rows, err := w.groupMemberDelete.QueryContext(bg, p.GroupID, list)
	if err != nil {
		return nil, err
	}
	removed := make(map[string]bool)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		removed[id] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	if len(removed) == 0 {
		return nil, nil
	}
	// RETURNING comes back in no promised order: answer in the order given.
	deleted := make([]string, 0, len(removed))
	for _, id := range p.UserIDs {
		if removed[id] && !slices.Contains(deleted, id) {
			deleted = append(deleted, id)
		}
	}
	if err := w.exec(w.groupAddMemberCount, p.GroupID, -int64(len(deleted))); err != nil {
		return nil, err
	}
	return deleted, nil
}

func (t *tx) GroupMemberTouch(ctx context.Context, p parley.GroupMemberTouchParams) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	return t.db.w.exec(t.db.w.groupMemberTouch, p.GroupID, p.UserID, p.At)
}

func (t *tx) GroupMessageInsert(ctx context.Context, m *parley.GroupMessage) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	body := []byte(m.Body)
	if body == nil {
		body = []byte{}
	}
	var to, atInfo sql.NullString
	if m.To != nil {
		b, err := json.Marshal(m.To)
		if err != nil {
			return err
		}
		to = sql.NullString{String: string(b), Valid: true}
	}
	if m.AtInfo != nil {
		atInfo = sql.NullString{String: string(m.AtInfo), Valid: true}
	}
	w := t.db.w
	var seq int64
	if err := w.groupTakeMsgSeq.QueryRowContext(bg, m.GroupID, m.MsgTime).Scan(&seq); err != nil {
		return notFound(err)
	}
	_, err := w.groupMessageInsert.ExecContext(bg, m.GroupID, seq, m.From, int64(m.Random), m.MsgTime, m.MsgID,
		m.Priority, body, m.CloudCustomData, int64(m.BodyCRC), to, atInfo, boolInt(m.IsSystem),
		boolInt(m.NoUnread), boolInt(m.NoLastMsg), boolInt(m.SupportExtension), boolInt(m.NeedReadReceipt),
		boolInt(m.Recalled))
	if err != nil {
		return err
	}
	m.MsgSeq = uint64(seq)
	return nil
}

func (t *tx) GroupMessageGet(ctx context.Context, groupID string, msgSeq uint64) (*parley.GroupMessage, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.groupMessageGet(bg, groupID, msgSeq)
}

func (t *tx) GroupMessageGetDuplicate(ctx context.Context, p parley.GroupMessageGetDuplicateParams) (*parley.GroupMessage, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.groupMessageGetDuplicate(bg, p)
}

func (t *tx) GroupMessageList(ctx context.Context, p parley.GroupMessageListParams) ([]*parley.GroupMessage, error) {
	if err := t.check(ctx); err != nil {
		return nil, err
	}
	return t.db.w.groupMessageList(bg, p)
}

func (t *tx) GroupMessageRecall(ctx context.Context, groupID string, msgSeq uint64) error {
	if err := t.check(ctx); err != nil {
		return err
	}
	return affectedOne(t.db.w.groupMessageRecall.ExecContext(bg, groupID, seqArg(msgSeq)))
}
