package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-im/parley/sqlite"
)

// TestQueryPlans holds the statements on the busy paths to their indexes:
// each must seek or walk the index named, never scan a table, and never
// sort unless sorting is the plan (a handful of rows found by key).
// INDEXED BY already makes a statement fail to prepare when its index
// cannot be used; this also covers the statements without it and the
// subqueries' access paths, which INDEXED BY does not pin down.
func TestQueryPlans(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	open(t, sqlite.Config{Path: path})
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	tests := []struct {
		query string
		want  []string // substrings of the plan, each on some line
		sorts bool     // a temporary B-tree sort is the intended plan
	}{
		{"EventClaimDue", []string{
			"SCAN e USING INDEX events_pending_seq",
			"SEARCH b USING INDEX events_pending_conversation (conversation=? AND seq<?)",
			"SEARCH events USING INTEGER PRIMARY KEY (rowid=?)",
		}, false},
		{"EventNextDue", []string{
			"SCAN e USING INDEX events_pending_due",
			"SEARCH b USING COVERING INDEX events_pending_conversation (conversation=? AND seq<?)",
		}, false},
		{"EventStats", []string{"SCAN events USING INDEX events_pending_seq"}, false},
		{"EventRelease", []string{"SEARCH events USING INDEX sqlite_autoindex_events_1 (id=?)"}, false},
		{"GroupTakeMsgSeq", []string{"SEARCH groups USING INDEX sqlite_autoindex_groups_1 (id=?)"}, false},
		{"GroupMessageGetDuplicate", []string{
			"SEARCH group_messages USING INDEX group_messages_duplicate (group_id=? AND msg_random=? AND msg_time>?)",
		}, true},
		{"GroupMessageList", []string{"SEARCH group_messages USING PRIMARY KEY (group_id=? AND msg_seq<?)"}, false},
		{"GroupMemberGet", []string{"SEARCH group_members USING INDEX group_members_user (group_id=? AND user_id=?)"}, false},
		{"GroupMemberTouch", []string{"SEARCH group_members USING INDEX group_members_user (group_id=? AND user_id=?)"}, false},
		{"GroupMemberListPage", []string{"SEARCH group_members USING INDEX group_members_join (group_id=?)"}, false},
		{"GroupMemberListIDs", []string{"SEARCH group_members USING INDEX group_members_user (group_id=? AND user_id=?)"}, true},
		{"ExtensionList", []string{"SEARCH extension_kvs USING INDEX extension_kvs_seq (target=? AND seq>?)"}, false},
		{"ExtensionStateSet", []string{"SEARCH extension_kvs USING COVERING INDEX"}, false},
		{"ExtensionKVDeleteRange", []string{"SEARCH extension_kvs USING PRIMARY KEY (target>? AND target<?)"}, false},
		// The newest change of the conversation, read backwards from the
		// end of its range: no sort.
		{"ChangeAppend", []string{"SEARCH changes USING COVERING INDEX changes_conv_seq (conv=?)"}, false},
		{"ChangeHead", []string{"SEARCH changes USING COVERING INDEX changes_conv_seq (conv=?)"}, false},
		{"ChangeList", []string{"SEARCH changes USING INDEX changes_conv_seq (conv=? AND seq>?)"}, false},
		{"ChangeDeleteAll", []string{"SEARCH changes USING INDEX changes_conv_seq (conv=?)"}, false},
		{"ConversationSummaryList", []string{
			"SEARCH conversations USING PRIMARY KEY (owner=?)",
			"SEARCH m USING INDEX group_members_of_user (user_id=?)",
			"SEARCH g USING INDEX sqlite_autoindex_groups_1 (id=?)",
			"SEARCH c USING COVERING INDEX changes_conv_seq (conv=?)",
		}, true},
		{"GroupIDsByMember", []string{"SEARCH group_members USING COVERING INDEX group_members_of_user (user_id=?)"}, false},
		{"GroupMemberMarkRead", []string{
			"SEARCH group_members USING INDEX group_members_user (group_id=? AND user_id=?)",
			"SEARCH groups USING INDEX sqlite_autoindex_groups_1 (id=?)",
		}, false},
	}
	fullScan := regexp.MustCompile(`^SCAN \w+$`)
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			query, ok := sqlite.HotQueries[tc.query]
			if !ok {
				t.Fatalf("no hot query %q", tc.query)
			}
			plan := explain(t, raw, query)
			t.Logf("plan:\n%s", plan)
			for _, want := range tc.want {
				if !strings.Contains(plan, want) {
					t.Errorf("plan does not contain %q:\n%s", want, plan)
				}
			}
			for line := range strings.SplitSeq(plan, "\n") {
				if fullScan.MatchString(line) {
					t.Errorf("plan scans a whole table (%q):\n%s", line, plan)
				}
			}
			if got := strings.Contains(plan, "TEMP B-TREE"); got != tc.sorts {
				t.Errorf("plan sorts in a temporary B-tree = %v, want %v:\n%s", got, tc.sorts, plan)
			}
		})
	}
}

var paramRef = regexp.MustCompile(`\?(\d*)`)

// explain returns the query plan of query, one step a line, with every
// parameter bound to NULL.
func explain(t *testing.T, db *sql.DB, query string) string {
	t.Helper()
	n := 0
	for _, m := range paramRef.FindAllStringSubmatch(query, -1) {
		if m[1] == "" {
			n++
			continue
		}
		i, err := strconv.Atoi(m[1])
		if err != nil {
			t.Fatal(err)
		}
		n = max(n, i)
	}
	rows, err := db.Query("EXPLAIN QUERY PLAN "+query, make([]any, n)...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN: %v\n%s", err, query)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notUsed int
		var detail string
		if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
