package chat_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

func TestAccounts(t *testing.T) {
	e := setup(t, nil)
	ctx := context.Background()

	if err := e.eng.AccountImport(ctx, parley.Account{UserID: "alice", Nick: "Alice"}); err != nil {
		t.Fatal(err)
	}
	// Re-importing updates, it is not an error.
	if err := e.eng.AccountImport(ctx, parley.Account{UserID: "alice", Nick: "Alice 2", FaceURL: "https://x/a.png"}); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.AccountGetMany(ctx, []string{"alice"})
	if err != nil || len(got) != 1 || got[0].Nick != "Alice 2" || got[0].FaceURL != "https://x/a.png" || !got[0].CreatedAt.Equal(t0) {
		t.Fatalf("alice after re-import = %+v, %v", got, err)
	}
	pe := wantCode(t, e.eng.AccountImport(ctx, parley.Account{UserID: "a b"}), parley.ErrAccountIllegalParams)
	if !strings.Contains(pe.Info, "whitespace") {
		t.Errorf("Info = %q, want it to name the problem", pe.Info)
	}

	failed, err := e.eng.AccountImportMany(ctx, []parley.Account{
		{UserID: "bob"}, {UserID: ""}, {UserID: "carol", Nick: "C"}, {UserID: strings.Repeat("x", 33)}, {UserID: "alice"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"", strings.Repeat("x", 33)}; fmt.Sprint(failed) != fmt.Sprint(want) {
		t.Errorf("failed = %q, want %q", failed, want)
	}
	failed, err = e.eng.AccountImportMany(ctx, []parley.Account{{UserID: "\x01"}})
	if err != nil || len(failed) != 1 {
		t.Errorf("all invalid: failed %q, %v", failed, err)
	}

	st, err := e.eng.AccountCheck(ctx, []string{"alice", "bob", "carol", "dave", "bad id"})
	if err != nil {
		t.Fatal(err)
	}
	wantSt := []struct {
		id     string
		code   int
		status string
	}{
		{"alice", 0, "Imported"}, {"bob", 0, "Imported"}, {"carol", 0, "Imported"}, {"dave", 0, "NotImported"},
		{"bad id", parley.ErrAccountIllegalParams, "NotImported"},
	}
	if len(st) != len(wantSt) {
		t.Fatalf("AccountCheck returned %d results", len(st))
	}
	for i, w := range wantSt {
		if st[i].UserID != w.id || st[i].Code != w.code || st[i].Status() != w.status {
			t.Errorf("AccountCheck[%d] = %+v (%s), want %s %d %s", i, st[i], st[i].Status(), w.id, w.code, w.status)
		}
	}

	// Deleting an account drops its conversations.
	e.send(t, chat.SendParams{From: "alice", To: "bob", Body: textBody("x")})
	res, err := e.eng.AccountDelete(ctx, []string{"bob", "dave", "bob", "bad id"})
	if err != nil {
		t.Fatal(err)
	}
	wantRes := []chat.AccountResult{
		{UserID: "bob"},
		{UserID: "dave", Code: parley.ErrAccountNotImported, Info: "Err_TLS_PT_Open_Login_Account_Not_Exist"},
		{UserID: "bob", Code: parley.ErrAccountNotImported, Info: "Err_TLS_PT_Open_Login_Account_Not_Exist"},
		{UserID: "bad id", Code: parley.ErrAccountIllegalParams, Info: `UserID "bad id" contains whitespace`},
	}
	if fmt.Sprint(res) != fmt.Sprint(wantRes) {
		t.Errorf("AccountDelete = %+v\nwant %+v", res, wantRes)
	}
	st, err = e.eng.AccountCheck(ctx, []string{"bob"})
	if err != nil || st[0].Imported {
		t.Errorf("bob after delete: %+v, %v", st, err)
	}
	_, err = e.eng.SendC2C(ctx, chat.SendParams{From: "alice", To: "bob", Body: textBody("x")})
	wantCode(t, err, parley.ErrToAccountInvalid)
	// Re-imported, bob starts with no unread messages.
	e.importUsers(t, "bob")
	if got := e.total(t, "bob"); got != 0 {
		t.Errorf("re-imported bob has %d unread", got)
	}
}
