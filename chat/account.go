package chat

import (
	"context"
	"fmt"

	"github.com/parley-im/parley"
)

// Account statuses of account_check.
const (
	StatusImported    = "Imported"
	StatusNotImported = "NotImported"
)

// Status is account_check's AccountStatus string: "Imported" or
// "NotImported".
func (s AccountStatus) Status() string {
	if s.Imported {
		return StatusImported
	}
	return StatusNotImported
}

// AccountImport imports a, or updates its Nick and FaceURL if it already
// is (im_open_login_svc/account_import).
func (e *Engine) AccountImport(ctx context.Context, a parley.Account) error {
	if err := ValidateUserID(a.UserID); err != nil {
		return err
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = e.now()
	}
	if _, err := e.store.AccountUpsert(ctx, a); err != nil {
		return fmt.Errorf("chat: import account: %w", err)
	}
	return nil
}

// AccountImportMany imports the valid accounts in one transaction and
// returns the UserIDs of the invalid ones (multiaccount_import's
// FailAccounts).
func (e *Engine) AccountImportMany(ctx context.Context, accounts []parley.Account) (failed []string, err error) {
	valid := make([]parley.Account, 0, len(accounts))
	now := e.now()
	for _, a := range accounts {
		if ValidateUserID(a.UserID) != nil {
			failed = append(failed, a.UserID)
			continue
		}
		if a.CreatedAt.IsZero() {
			a.CreatedAt = now
		}
		valid = append(valid, a)
	}
	if len(valid) == 0 {
		return failed, nil
	}
	err = e.store.InTx(ctx, func(tx parley.Querier) error {
		for _, a := range valid {
			if _, err := tx.AccountUpsert(ctx, a); err != nil {
				return fmt.Errorf("chat: import account %q: %w", a.UserID, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return failed, nil
}

// AccountDelete deletes accounts and the conversations they own, in one
// transaction (account_delete). Each id gets a result: 0, 70107 when it
// was not imported, or 70402 when it is not a valid UserID.
func (e *Engine) AccountDelete(ctx context.Context, ids []string) ([]AccountResult, error) {
	var results []AccountResult
	err := e.store.InTx(ctx, func(tx parley.Querier) error {
		results = make([]AccountResult, 0, len(ids))
		for _, id := range ids {
			if err := ValidateUserID(id); err != nil {
				results = append(results, AccountResult{UserID: id, Code: parley.ErrAccountIllegalParams, Info: err.(*parley.Error).Info})
				continue
			}
			deleted, err := tx.AccountDelete(ctx, id)
			if err != nil {
				return fmt.Errorf("chat: delete account %q: %w", id, err)
			}
			r := AccountResult{UserID: id}
			if !deleted {
				r.Code, r.Info = parley.ErrAccountNotImported, parley.ErrorText(parley.ErrAccountNotImported)
			}
			results = append(results, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// AccountCheck reports for each id whether it is imported (account_check).
// Both answers have Code 0; an invalid UserID gets 70402.
func (e *Engine) AccountCheck(ctx context.Context, ids []string) ([]AccountStatus, error) {
	valid := make([]string, 0, len(ids))
	for _, id := range ids {
		if ValidateUserID(id) == nil {
			valid = append(valid, id)
		}
	}
	imported := map[string]bool{}
	if len(valid) > 0 {
		found, err := e.store.AccountGetMany(ctx, valid)
		if err != nil {
			return nil, fmt.Errorf("chat: get accounts: %w", err)
		}
		for _, a := range found {
			imported[a.UserID] = true
		}
	}
	out := make([]AccountStatus, 0, len(ids))
	for _, id := range ids {
		if err := ValidateUserID(id); err != nil {
			out = append(out, AccountStatus{UserID: id, Code: parley.ErrAccountIllegalParams, Info: err.(*parley.Error).Info})
			continue
		}
		out = append(out, AccountStatus{UserID: id, Imported: imported[id]})
	}
	return out, nil
}
