package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are the schema's history: migrations[i] takes a database from
// user_version i to i+1. Append only; never edit a step once released.
//
// Times are integers: Unix milliseconds for accounts and events, Unix
// seconds (as given) for MsgTime. Zero means "not set".
var migrations = []string{
	// 1: the foundation.
	`
CREATE TABLE accounts (
	user_id    TEXT PRIMARY KEY,
	nick       TEXT NOT NULL,
	face_url   TEXT NOT NULL,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- conv is parley.C2CConversation(from_id, to_id): both directions of a pair
-- share it, so one index range holds a conversation's history.
CREATE TABLE messages (
	id                 INTEGER PRIMARY KEY,
	conv               TEXT NOT NULL,
	from_id            TEXT NOT NULL,
	to_id              TEXT NOT NULL,
	msg_seq            INTEGER NOT NULL,
	msg_random         INTEGER NOT NULL,
	msg_time           INTEGER NOT NULL,
	msg_key            TEXT NOT NULL,
	msg_id             TEXT NOT NULL,
	body               BLOB NOT NULL,
	cloud_custom_data  TEXT NOT NULL,
	body_crc           INTEGER NOT NULL,
	online_only        INTEGER NOT NULL,
	sync_other_machine INTEGER NOT NULL,
	life_time          INTEGER NOT NULL,
	no_unread          INTEGER NOT NULL,
	no_last_msg        INTEGER NOT NULL,
	with_mute          INTEGER NOT NULL,
	support_extension  INTEGER NOT NULL,
	need_read_receipt  INTEGER NOT NULL,
	recalled           INTEGER NOT NULL DEFAULT 0
);
-- History order is (msg_time, msg_seq, id); id is the rowid, which SQLite
-- keeps at the end of every index entry, so the index serves the whole order.
CREATE INDEX messages_history ON messages (conv, msg_time, msg_seq);
-- The duplicate-suppression key, and the MsgKey lookup: a MsgKey is
-- "{MsgSeq}_{MsgRandom}_{MsgTime}", so its message is found by the numbers
-- in it. Every index keyed by conversation costs a page write per message
-- in a group commit; two such indexes instead of three is a third fewer.
CREATE INDEX messages_duplicate ON messages (from_id, to_id, msg_seq, msg_random);
-- The messages whose MsgKey does not name them that way (another format,
-- or other numbers than their own): MsgKey is opaque, so they are found
-- here. parley itself never writes one.
CREATE TABLE message_keys (
	from_id    TEXT NOT NULL,
	to_id      TEXT NOT NULL,
	msg_key    TEXT NOT NULL,
	message_id INTEGER NOT NULL,
	PRIMARY KEY (from_id, to_id, msg_key, message_id)
) WITHOUT ROWID;

CREATE TABLE conversations (
	owner     TEXT NOT NULL,
	peer      TEXT NOT NULL,
	read_time INTEGER NOT NULL,
	unread    INTEGER NOT NULL,
	PRIMARY KEY (owner, peer)
) WITHOUT ROWID;

-- Each owner's unread count over all conversations, kept by the triggers
-- below in the same transaction as every change to conversations: sendmsg
-- reads it once per message, and summing instead would cost a row per
-- conversation the recipient has.
CREATE TABLE unread_totals (
	owner TEXT PRIMARY KEY,
	total INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER conversations_unread_insert AFTER INSERT ON conversations WHEN NEW.unread != 0
BEGIN
	INSERT INTO unread_totals (owner, total) VALUES (NEW.owner, NEW.unread)
		ON CONFLICT (owner) DO UPDATE SET total = total + excluded.total;
END;
CREATE TRIGGER conversations_unread_update AFTER UPDATE OF unread ON conversations WHEN NEW.unread != OLD.unread
BEGIN
	INSERT INTO unread_totals (owner, total) VALUES (NEW.owner, NEW.unread - OLD.unread)
		ON CONFLICT (owner) DO UPDATE SET total = total + excluded.total;
END;
CREATE TRIGGER conversations_unread_delete AFTER DELETE ON conversations WHEN OLD.unread != 0
BEGIN
	UPDATE unread_totals SET total = total - OLD.unread WHERE owner = OLD.owner;
END;

-- AUTOINCREMENT: seq is the outbox's order and is never reused, even if
-- the newest events are deleted one day.
CREATE TABLE events (
	seq             INTEGER PRIMARY KEY AUTOINCREMENT,
	id              TEXT NOT NULL UNIQUE,
	command         TEXT NOT NULL,
	conversation    TEXT NOT NULL,
	body            BLOB NOT NULL,
	client_ip       TEXT NOT NULL,
	opt_platform    TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
	attempts        INTEGER NOT NULL,
	next_attempt_at INTEGER NOT NULL,
	lease_until     INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL,
	delivered_at    INTEGER NOT NULL DEFAULT 0,
	dead_at         INTEGER NOT NULL DEFAULT 0
);
-- Only pending events are indexed, so the indexes stay the size of the
-- backlog, not of the history. Claims walk pending events in seq order;
-- NextDue reads the earliest next_attempt_at.
CREATE INDEX events_pending_seq ON events (seq) WHERE state = 'pending';
CREATE INDEX events_pending_due ON events (next_attempt_at) WHERE state = 'pending';
`,
	// 2: duplicate checks and MsgKey lookups go through messages_history
	// (conversation, MsgTime, MsgSeq): a MsgKey names its MsgTime, and a
	// duplicate is at most 120 s old. Each index keyed by conversation or
	// sender costs a scattered page write per message in a group commit.
	`DROP INDEX messages_duplicate;`,
	// 3: groups, group members and messages, message extensions, and
	// per-conversation ordered claims of events.
	`
-- A rowid table, not WITHOUT ROWID: AppDefinedData can make a row a few
-- KB, which a table leaf holds whole (up to about 4 KB) where a WITHOUT
-- ROWID cell spills past about 1 KB into overflow pages, and every stored
-- message rewrites the row (next_msg_seq, last_msg_time). The id index is
-- not touched by that rewrite.
CREATE TABLE groups (
	id                 TEXT PRIMARY KEY,
	type               TEXT NOT NULL,
	owner              TEXT NOT NULL,
	name               TEXT NOT NULL,
	introduction       TEXT NOT NULL,
	notification       TEXT NOT NULL,
	face_url           TEXT NOT NULL,
	max_member_count   INTEGER NOT NULL,
	apply_join_option  TEXT NOT NULL,
	invite_join_option TEXT NOT NULL,
	app_defined_data   TEXT NOT NULL, -- JSON array of {"Key","Value"}; 'null' when not given
	support_topic      INTEGER NOT NULL,
	shut_up_all        INTEGER NOT NULL,
	create_time        INTEGER NOT NULL,
	last_info_time     INTEGER NOT NULL,
	last_msg_time      INTEGER NOT NULL,
	next_msg_seq       INTEGER NOT NULL,
	member_count       INTEGER NOT NULL
);

-- join_seq aliases the rowid, so it is the order members were added in,
-- and an explicit alias survives VACUUM, which may renumber a hidden rowid.
CREATE TABLE group_members (
	join_seq                INTEGER PRIMARY KEY,
	group_id                TEXT NOT NULL,
	user_id                 TEXT NOT NULL,
	role                    TEXT NOT NULL,
	join_time               INTEGER NOT NULL,
	name_card               TEXT NOT NULL,
	msg_flag                TEXT NOT NULL,
	shut_up_until           INTEGER NOT NULL,
	last_send_msg_time      INTEGER NOT NULL,
	read_msg_seq            INTEGER NOT NULL,
	app_member_defined_data TEXT NOT NULL -- JSON, as app_defined_data
);
-- The key every member lookup uses. Named, so that a list of members by
-- UserID can be pinned to it: without statistics the planner prefers
-- walking the whole group in join order, which for a large group is far
-- more rows than the few asked for.
CREATE UNIQUE INDEX group_members_user ON group_members (group_id, user_id);
-- Join order is (join_time, join_seq); the rowid join_seq ends every index
-- entry, so this index serves the whole order, for pages and OFFSET.
CREATE INDEX group_members_join ON group_members (group_id, join_time);

-- WITHOUT ROWID: (group_id, msg_seq) is how every read finds a message, so
-- the table itself is that index and an insert writes one B-tree, not a
-- table and an index. Most rows are a few hundred bytes; a large body
-- spills into overflow pages, as it would from a table leaf past 4 KB.
CREATE TABLE group_messages (
	group_id          TEXT NOT NULL,
	msg_seq           INTEGER NOT NULL,
	from_id           TEXT NOT NULL,
	msg_random        INTEGER NOT NULL,
	msg_time          INTEGER NOT NULL,
	msg_id            TEXT NOT NULL,
	priority          TEXT NOT NULL,
	body              BLOB NOT NULL,
	cloud_custom_data TEXT NOT NULL,
	body_crc          INTEGER NOT NULL,
	to_ids            TEXT,          -- JSON array of UserIDs; NULL: every member
	at_info           TEXT,          -- GroupAtInfo as given; NULL when absent
	is_system         INTEGER NOT NULL,
	no_unread         INTEGER NOT NULL,
	no_last_msg       INTEGER NOT NULL,
	support_extension INTEGER NOT NULL,
	need_read_receipt INTEGER NOT NULL,
	recalled          INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (group_id, msg_seq)
) WITHOUT ROWID;
-- The one secondary index, for the duplicate check every send makes: MsgSeq
-- is assigned at commit and MsgTime is not monotonic in it, so the primary
-- key cannot bound a "last 300 s" search. Random nearly always picks out the
-- message; msg_time bounds the range even for a client that reuses one
-- Random, so the check never reads beyond the window.
CREATE INDEX group_messages_duplicate ON group_messages (group_id, msg_random, msg_time);

-- Message extensions. target is parley.C2CExtensionTarget or
-- parley.GroupExtensionTarget; a group's targets share a prefix, so
-- deleting a group deletes a range.
CREATE TABLE extension_states (
	target    TEXT PRIMARY KEY,
	seq       INTEGER NOT NULL,
	clear_seq INTEGER NOT NULL,
	count     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE extension_kvs (
	target TEXT NOT NULL,
	key    TEXT NOT NULL,
	value  TEXT NOT NULL,
	seq    INTEGER NOT NULL,
	PRIMARY KEY (target, key)
) WITHOUT ROWID;
-- Pages of a message's KVs by (Seq, Key), from a StartSeq.
CREATE INDEX extension_kvs_seq ON extension_kvs (target, seq, key);

-- Claims keep each conversation in order: an event may be claimed only if
-- no earlier pending event of its conversation is blocked (leased or not
-- yet due). This finds a conversation's pending events in seq order, and
-- whether an event is the first of its conversation, with one seek. Only
-- pending events, like the other event indexes, so it is the size of the
-- backlog: while webhooks keep up it is a few pages, already written by
-- the commit before; a large undelivered backlog makes each new event one
-- more scattered page write (conversation order is not time order).
CREATE INDEX events_pending_conversation ON events (conversation, seq) WHERE state = 'pending';
`,
	// 4: the change log clients sync from, and a user's groups.
	`
-- conv is parley.C2CConversation or parley.GroupConversation. A rowid
-- table with an index on (conv, seq), not WITHOUT ROWID keyed by it:
-- changes arrive in commit order, so rows append at the table's end and a
-- group commit's changes share a few leaf pages, while the scattered write
-- each change costs (its conversation's place) is a small index entry, not
-- the whole row of 200-800 bytes. Measured with BenchmarkSendMsg/change-log
-- on 2 cores: 8,100 messages/s against 6,500 keyed WITHOUT ROWID (11,300
-- without the change log). A sync reads a conversation's range of the
-- index and its rows by rowid. only_user and except_user are '' when not
-- set, so the viewer filter compares strings and never NULLs.
CREATE TABLE changes (
	id          INTEGER PRIMARY KEY,
	conv        TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	kind        TEXT NOT NULL,
	only_user   TEXT NOT NULL,
	except_user TEXT NOT NULL,
	time        INTEGER NOT NULL, -- Unix milliseconds
	data        TEXT NOT NULL     -- the JSON object clients receive
);
CREATE UNIQUE INDEX changes_conv_seq ON changes (conv, seq);

-- A user's groups: GroupIDsByMember at every login, and the groups of a
-- user's conversation list. group_id is in the entry, so listing the IDs
-- reads the index alone; read_msg_seq is left out because it changes on
-- every read mark, which would move the entry each time.
CREATE INDEX group_members_of_user ON group_members (user_id, group_id);
`,
	// 5: the attempt log, and the indexes the admin listing and recovery
	// of events need.
	`
-- One row per HTTP attempt of the delivery worker, written in the
-- transaction that records the attempt's outcome. event_seq is the
-- event's seq, an integer, not its 30-byte id: the row is written for
-- every delivery, so it is kept small, and WITHOUT ROWID makes the key
-- the table, one B-tree per insert. Attempts are inserted in about seq
-- order (retries of older events aside), at the right edge of the tree,
-- and an event's attempts are adjacent. started_at (Unix ms) is in the
-- key only so that the same attempt number made twice (a lease that ran
-- out while the first was still in flight) keeps both rows. Whatever
-- deletes an event one day must delete its attempts with it.
CREATE TABLE attempts (
	event_seq  INTEGER NOT NULL,
	attempt    INTEGER NOT NULL,
	started_at INTEGER NOT NULL,
	status     INTEGER NOT NULL, -- HTTP status; 0 when no answer came
	latency_us INTEGER NOT NULL,
	response   TEXT NOT NULL,    -- parley.Attempt.Response: at most the first 1 KiB
	error      TEXT NOT NULL,    -- '' when the attempt delivered the event
	PRIMARY KEY (event_seq, attempt, started_at)
) WITHOUT ROWID;

-- Listing events of a time range. Every event has an entry, but
-- created_at grows with seq, so each insert lands at the right edge: in a
-- group commit, about one more page written, not one per event.
CREATE INDEX events_created ON events (created_at);
-- Dead events by creation time, for listing them and for recovering
-- those of a time range on the writer without reading the history. Only
-- dead-lettering and replay touch it.
CREATE INDEX events_dead ON events (created_at) WHERE state = 'dead';
`,
}

// migrate brings the schema to len(migrations), one transaction a step.
func migrate(ctx context.Context, c *sql.Conn) error {
	var version int
	if err := c.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this build knows (%d); refusing to open", version, len(migrations))
	}
	for v := version; v < len(migrations); v++ {
		if err := migrateStep(ctx, c, v); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
		}
	}
	return nil
}

func migrateStep(ctx context.Context, c *sql.Conn, v int) (err error) {
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	// Another process may have migrated while this one waited for the lock.
	var current int
	if err := c.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return err
	}
	if current != v {
		if current > v {
			_, err := c.ExecContext(ctx, "ROLLBACK")
			return err
		}
		return fmt.Errorf("schema version is %d, want %d", current, v)
	}
	if _, err := c.ExecContext(ctx, migrations[v]); err != nil {
		return err
	}
	// user_version lives in the file header and changes with the
	// transaction, so a step and its version commit together.
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return err
	}
	_, err = c.ExecContext(ctx, "COMMIT")
	return err
}
