package restapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/parley-im/parley"
)

func (e *env) account(t *testing.T, id string) (parley.Account, bool) {
	t.Helper()
	got, err := e.store.AccountGetMany(context.Background(), []string{id})
	if err != nil {
		t.Fatalf("AccountGetMany: %v", err)
	}
	if len(got) == 0 {
		return parley.Account{}, false
	}
	return got[0], true
}

func TestAccountImport(t *testing.T) {
	e := setup(t)
	nick := strings.Repeat("n", 500)
	a := e.post(t, "im_open_login_svc", "account_import", map[string]any{
		"UserID": "alice", "Nick": nick, "FaceUrl": "https://example.com/a.png", "Unknown": []int{1},
	}).ok(t)
	if len(a.Keys) != 0 {
		t.Errorf("account_import answer has fields %v, want the envelope only", a.Keys)
	}
	got, ok := e.account(t, "alice")
	if !ok || got.Nick != nick || got.FaceURL != "https://example.com/a.png" {
		t.Errorf("stored %+v, %v", got, ok)
	}

	// The legacy Identifier field, and re-importing updates the profile.
	e.post(t, "im_open_login_svc", "account_import", map[string]any{"Identifier": "bob"}).ok(t)
	if _, ok := e.account(t, "bob"); !ok {
		t.Errorf("Identifier import did not store bob")
	}
	e.post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": "alice", "Nick": "Alice"}).ok(t)
	if got, _ := e.account(t, "alice"); got.Nick != "Alice" {
		t.Errorf("re-import: Nick = %q, want Alice", got.Nick)
	}
	// UserID wins over Identifier when both are sent.
	e.post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": "carol", "Identifier": "dave"}).ok(t)
	if _, ok := e.account(t, "dave"); ok {
		t.Errorf("Identifier was used although UserID was given")
	}
	// A UTF-8 UserID of exactly 32 bytes is accepted (decision 9.7).
	e.post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": strings.Repeat("é", 16)}).ok(t)
}

func TestMultiAccountImport(t *testing.T) {
	e := setup(t)

	old := e.post(t, "im_open_login_svc", "multiaccount_import", map[string]any{
		"Accounts": []string{"m1", "bad id", "m2"},
	}).ok(t)
	if got := strings.Join(old.Keys, ","); got != "FailAccounts" {
		t.Errorf("fields = %s, want FailAccounts", got)
	}
	if got := old.Fields["FailAccounts"].([]any); len(got) != 1 || got[0] != "bad id" {
		t.Errorf("FailAccounts = %v, want [bad id]", got)
	}
	for _, id := range []string{"m1", "m2"} {
		if _, ok := e.account(t, id); !ok {
			t.Errorf("%s not imported", id)
		}
	}

	cur := e.post(t, "im_open_login_svc", "multiaccount_import", map[string]any{
		"AccountList": []map[string]any{
			{"UserID": "m3", "Nick": "Three", "FaceUrl": "f3"},
			{"UserID": "newbie", "Nick": strings.Repeat("x", 501)},
			{"UserID": "dave"},
		},
	}).ok(t)
	if got := cur.Fields["FailAccounts"].([]any); len(got) != 1 || got[0] != "newbie" {
		t.Errorf("FailAccounts = %v, want [newbie]", got)
	}
	if got, ok := e.account(t, "m3"); !ok || got.Nick != "Three" || got.FaceURL != "f3" {
		t.Errorf("m3 = %+v, %v", got, ok)
	}
	if _, ok := e.account(t, "newbie"); ok {
		t.Errorf("an account with a 501-byte Nick was imported")
	}

	// FailAccounts is an array even when nothing failed; 100 is allowed.
	all := e.post(t, "im_open_login_svc", "multiaccount_import", map[string]any{"Accounts": ids("u", 100)}).ok(t)
	if got, ok := all.Fields["FailAccounts"].([]any); !ok || len(got) != 0 {
		t.Errorf("FailAccounts = %#v, want []", all.Fields["FailAccounts"])
	}
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func TestAccountCheckAndDelete(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice", "bob")

	check := func() []map[string]any {
		a := e.post(t, "im_open_login_svc", "account_check", map[string]any{
			"CheckItem": []map[string]any{{"UserID": "alice"}, {"UserID": "ghost"}, {"UserID": "bob"}},
		}).ok(t)
		if got := strings.Join(a.Keys, ","); got != "ResultItem" {
			t.Fatalf("fields = %s, want ResultItem", got)
		}
		return list(t, a.Fields["ResultItem"])
	}
	items := check()
	want := []struct {
		id, status string
	}{{"alice", "Imported"}, {"ghost", "NotImported"}, {"bob", "Imported"}}
	if len(items) != len(want) {
		t.Fatalf("ResultItem = %v", items)
	}
	for i, w := range want {
		it := items[i]
		if str(t, it["UserID"]) != w.id || num(t, it["ResultCode"]) != 0 || str(t, it["ResultInfo"]) != "" || str(t, it["AccountStatus"]) != w.status {
			t.Errorf("ResultItem[%d] = %v, want %s %s", i, it, w.id, w.status)
		}
	}

	del := e.post(t, "im_open_login_svc", "account_delete", map[string]any{
		"DeleteItem": []map[string]any{{"UserID": "alice"}, {"UserID": "ghost"}},
	}).ok(t)
	results := list(t, del.Fields["ResultItem"])
	if len(results) != 2 {
		t.Fatalf("ResultItem = %v", results)
	}
	if r := results[0]; str(t, r["UserID"]) != "alice" || num(t, r["ResultCode"]) != 0 || str(t, r["ResultInfo"]) != "" {
		t.Errorf("alice: %v", r)
	}
	if r := results[1]; str(t, r["UserID"]) != "ghost" || num(t, r["ResultCode"]) != parley.ErrAccountNotImported || str(t, r["ResultInfo"]) != "Err_TLS_PT_Open_Login_Account_Not_Exist" {
		t.Errorf("ghost: %v", r)
	}
	// Key order inside an item, as Tencent documents it.
	if !strings.Contains(string(del.Raw), `{"ResultCode":0,"ResultInfo":"","UserID":"alice"}`) {
		t.Errorf("account_delete item order: %s", del.Raw)
	}
	if _, ok := e.account(t, "alice"); ok {
		t.Errorf("alice still imported")
	}
	items = check()
	statuses := []string{}
	for _, it := range items {
		statuses = append(statuses, str(t, it["AccountStatus"]))
	}
	if !slices.Equal(statuses, []string{"NotImported", "NotImported", "Imported"}) {
		t.Errorf("after delete: %v", statuses)
	}
}
