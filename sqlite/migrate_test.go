package sqlite_test

import (
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/sqlite"
)

// TestMigrateFromVersion2 builds a database as the release with schema
// version 2 left it, with data in it, and opens it: the data is all there,
// pending events that were in the outbox before the migration are in the
// new per-conversation index (a lease taken before the upgrade still holds
// back its conversation), and the new tables work.
func TestMigrateFromVersion2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	ctx := t.Context()
	now := time.UnixMilli(1_700_000_000_000)

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	steps := append(slices.Clone(sqlite.Migrations[:2]), `PRAGMA user_version = 2`,
		`INSERT INTO accounts (user_id, nick, face_url, created_at) VALUES ('alice', 'A', '', 1), ('bob', '', '', 2)`,
		`INSERT INTO messages (conv, from_id, to_id, msg_seq, msg_random, msg_time, msg_key, msg_id, body,
			cloud_custom_data, body_crc, online_only, sync_other_machine, life_time, no_unread, no_last_msg,
			with_mute, support_extension, need_read_receipt)
			VALUES ('c2c:alice'||char(0)||'bob', 'alice', 'bob', 7, 8, 1700000000, '7_8_1700000000', 'm1', '[]',
				'', 0, 0, 1, 604800, 0, 0, 0, 0, 0)`,
		`INSERT INTO conversations (owner, peer, read_time, unread) VALUES ('bob', 'alice', 0, 1)`,
		// Conversation a: a1 leased by a process that was running the old
		// release, a2 due behind it. Conversation b: b1 due, b0 delivered,
		// b2 dead.
		`INSERT INTO events (id, command, conversation, body, client_ip, opt_platform, created_at, state,
			attempts, next_attempt_at, lease_until, last_error) VALUES
			('evt_b0', 'C2C.CallbackAfterSendMsg', 'b', '{}', '', 'RESTAPI', 1, 'delivered', 1, 0, 0, ''),
			('evt_a1', 'C2C.CallbackAfterSendMsg', 'a', '{}', '', 'RESTAPI', 1, 'pending', 0, 1700000000000, 1700000600000, ''),
			('evt_a2', 'C2C.CallbackAfterSendMsg', 'a', '{}', '', 'RESTAPI', 1, 'pending', 0, 1700000000000, 0, ''),
			('evt_b1', 'C2C.CallbackAfterSendMsg', 'b', '{}', '', 'RESTAPI', 1, 'pending', 0, 1700000000000, 0, ''),
			('evt_b2', 'C2C.CallbackAfterSendMsg', 'b', '{}', '', 'RESTAPI', 1, 'dead', 8, 0, 0, 'HTTP 500')`,
	)
	for _, step := range steps {
		if _, err := raw.ExecContext(ctx, step); err != nil {
			t.Fatalf("building the version 2 database: %v\n%s", err, step)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := open(t, sqlite.Config{Path: path, Now: func() time.Time { return now }})

	if got := schemaVersion(t, path); got != len(sqlite.Migrations) {
		t.Errorf("user_version after Open = %d, want %d", got, len(sqlite.Migrations))
	}
	if got, err := db.AccountGetMany(ctx, []string{"alice", "bob"}); err != nil || len(got) != 2 {
		t.Errorf("accounts after the migration = %v, %v; want alice and bob", got, err)
	}
	if m, err := db.MessageGetByKey(ctx, parley.MessageGetByKeyParams{From: "alice", To: "bob", MsgKey: "7_8_1700000000"}); err != nil || m.MsgID != "m1" {
		t.Errorf("message after the migration = %+v, %v; want m1", m, err)
	}
	if got, err := db.ConversationUnreadTotal(ctx, "bob"); err != nil || got != 1 {
		t.Errorf("bob's unread total after the migration = %d, %v; want 1", got, err)
	}
	for id, want := range map[string]parley.EventState{"evt_b0": parley.EventDelivered, "evt_a1": parley.EventPending, "evt_b2": parley.EventDead} {
		if e, err := db.EventGet(ctx, id); err != nil || e.State != want {
			t.Errorf("event %s after the migration = %+v, %v; want state %s", id, e, err, want)
		}
	}

	// a1's old lease holds a2 back; b1 goes.
	claimed, err := db.EventClaimDue(ctx, parley.EventClaimDueParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(claimed), []string{"evt_b1"}; !slices.Equal(got, want) {
		t.Errorf("claim after the migration = %q, want %q", got, want)
	}
	if err := db.EventReleaseLeases(ctx); err != nil {
		t.Fatal(err)
	}
	claimed, err = db.EventClaimDue(ctx, parley.EventClaimDueParams{Now: now, LeaseUntil: now.Add(time.Minute), Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(claimed), []string{"evt_a1", "evt_a2", "evt_b1"}; !slices.Equal(got, want) {
		t.Errorf("claim after releasing the old leases = %q, want %q", got, want)
	}

	g := &parley.Group{ID: "g", Type: parley.GroupPublic, Name: "n", CreateTime: 1}
	if err := db.GroupInsert(ctx, g); err != nil {
		t.Fatalf("GroupInsert after the migration: %v", err)
	}
	m := &parley.GroupMessage{GroupID: "g", From: "alice", MsgTime: 5, Body: []byte(`[]`)}
	if err := db.GroupMessageInsert(ctx, m); err != nil || m.MsgSeq != 1 {
		t.Errorf("GroupMessageInsert after the migration: seq %d, %v; want 1, nil", m.MsgSeq, err)
	}
	if err := db.ExtensionWrite(ctx, parley.ExtensionWriteParams{Target: parley.GroupExtensionTarget("g", 1), Seq: 1,
		Put: []parley.ExtensionKV{{Key: "k", Value: "v"}}}); err != nil {
		t.Errorf("ExtensionWrite after the migration: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := integrityCheck(t, path); got != "ok" {
		t.Errorf("integrity_check after the migration = %q", got)
	}
}

func ids(es []*parley.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func schemaVersion(t *testing.T, path string) int {
	t.Helper()
	var v int
	queryRaw(t, path, "PRAGMA user_version", &v)
	return v
}

func integrityCheck(t *testing.T, path string) string {
	t.Helper()
	var s string
	queryRaw(t, path, "PRAGMA integrity_check", &s)
	return s
}

// queryRaw reads one value straight from the file, beside any open DB.
func queryRaw(t *testing.T, path, query string, dst any) {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.QueryRowContext(t.Context(), query).Scan(dst); err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("%s: %v", query, err)
	}
}

// TestMigrateFromVersion3 builds a database as the release with schema
// version 3 left it, with conversations and groups in it, and opens it:
// the users' groups are found through the new index, their conversation
// lists are complete with empty change logs, and the logs start at 1.
func TestMigrateFromVersion3(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	ctx := t.Context()

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	steps := append(slices.Clone(sqlite.Migrations[:3]), `PRAGMA user_version = 3`,
		`INSERT INTO accounts (user_id, nick, face_url, created_at) VALUES ('alice', 'A', '', 1), ('bob', '', '', 2)`,
		`INSERT INTO conversations (owner, peer, read_time, unread) VALUES ('bob', 'alice', 0, 1), ('alice', 'bob', 7, 0)`,
		`INSERT INTO groups (id, type, owner, name, introduction, notification, face_url, max_member_count,
			apply_join_option, invite_join_option, app_defined_data, support_topic, shut_up_all, create_time,
			last_info_time, last_msg_time, next_msg_seq, member_count) VALUES
			('g1', 'Public', 'alice', 'one', '', '', '', 2000, 'FreeAccess', '', 'null', 0, 0, 1, 1, 5, 4, 2),
			('g2', 'Work', 'bob', 'two', '', '', '', 200, '', '', 'null', 0, 0, 1, 1, 0, 1, 1)`,
		`INSERT INTO group_members (group_id, user_id, role, join_time, name_card, msg_flag, shut_up_until,
			last_send_msg_time, read_msg_seq, app_member_defined_data) VALUES
			('g1', 'alice', 'Owner', 1, '', 'AcceptAndNotify', 0, 5, 1, 'null'),
			('g1', 'bob', 'Member', 2, '', 'AcceptAndNotify', 0, 0, 0, 'null'),
			('g2', 'bob', 'Owner', 1, '', 'AcceptAndNotify', 0, 0, 0, 'null')`,
	)
	for _, step := range steps {
		if _, err := raw.ExecContext(ctx, step); err != nil {
			t.Fatalf("building the version 3 database: %v\n%s", err, step)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db := open(t, sqlite.Config{Path: path})
	if got := schemaVersion(t, path); got != len(sqlite.Migrations) {
		t.Errorf("user_version after Open = %d, want %d", got, len(sqlite.Migrations))
	}
	for user, want := range map[string][]string{"alice": {"g1"}, "bob": {"g1", "g2"}, "carol": nil} {
		got, err := db.GroupIDsByMember(ctx, user)
		slices.Sort(got)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("GroupIDsByMember(%s) after the migration = %q, %v; want %q", user, got, err, want)
		}
	}
	summaries, err := db.ConversationSummaryList(ctx, "alice")
	if err != nil {
		t.Fatalf("ConversationSummaryList: %v", err)
	}
	want := []parley.ConversationSummary{
		{Conversation: parley.C2CConversation("alice", "bob"), Peer: "bob", ReadTime: 7},
		{Conversation: parley.GroupConversation("g1"), GroupID: "g1", LastMsgSeq: 3, ReadMsgSeq: 1},
	}
	if !slices.Equal(summaries, want) {
		t.Errorf("alice's conversations after the migration = %+v, want %+v", summaries, want)
	}
	if seq, err := db.GroupMemberMarkRead(ctx, parley.GroupMemberMarkReadParams{GroupID: "g1", UserID: "alice", MsgSeq: 9}); err != nil || seq != 3 {
		t.Errorf("GroupMemberMarkRead after the migration = %d, %v; want 3", seq, err)
	}
	for _, conv := range []string{parley.C2CConversation("bob", "alice"), parley.GroupConversation("g1")} {
		c := &parley.Change{Conversation: conv, Kind: parley.ChangeMessage, Time: 1, Data: []byte(`{}`)}
		if err := db.ChangeAppend(ctx, c); err != nil || c.Seq != 1 {
			t.Errorf("ChangeAppend(%q) after the migration: Seq %d, %v; want 1", conv, c.Seq, err)
		}
	}
	if deleted, err := db.GroupDelete(ctx, "g1"); err != nil || !deleted {
		t.Errorf("GroupDelete after the migration = %v, %v", deleted, err)
	}
	if head, err := db.ChangeHead(ctx, parley.GroupConversation("g1")); err != nil || head != 0 {
		t.Errorf("ChangeHead of a deleted group = %d, %v; want 0", head, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := integrityCheck(t, path); got != "ok" {
		t.Errorf("integrity_check after the migration = %q", got)
	}
}
