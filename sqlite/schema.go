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
