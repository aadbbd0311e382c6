package restapi

import (
	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

const (
	// errProfileTooLong is Tencent's 40601: a Nick or FaceUrl longer than
	// 500 bytes. The root error table does not have it yet.
	errProfileTooLong = 40601
	// maxProfileBytes is the longest Nick or FaceUrl account_import takes.
	maxProfileBytes = 500
	// maxAccountsPerCall bounds multiaccount_import, account_delete and
	// account_check.
	maxAccountsPerCall = 100
)

// importID reads the UserID of an account to import, or the legacy
// Identifier (decision 9.10). It checks presence and type, not the format.
func importID(f fields) (string, error) {
	id, present, err := f.string("UserID", parley.ErrAccountTypeInvalid)
	if err != nil || present {
		return id, err
	}
	id, present, err = f.string("Identifier", parley.ErrAccountTypeInvalid)
	if err != nil || present {
		return id, err
	}
	return "", parley.Errorf(parley.ErrAccountIllegalParams, "UserID is required")
}

// importProfile reads the optional Nick and FaceUrl. A wrongly typed one is
// 70402; an over-long one is 40601.
func importProfile(f fields) (nick, faceURL string, err error) {
	nick, _, err = f.string("Nick", parley.ErrAccountIllegalParams)
	if err != nil {
		return "", "", err
	}
	faceURL, _, err = f.string("FaceUrl", parley.ErrAccountIllegalParams)
	if err != nil {
		return "", "", err
	}
	if len(nick) > maxProfileBytes {
		return "", "", parley.Errorf(errProfileTooLong, "Nick is longer than %d bytes", maxProfileBytes)
	}
	if len(faceURL) > maxProfileBytes {
		return "", "", parley.Errorf(errProfileTooLong, "FaceUrl is longer than %d bytes", maxProfileBytes)
	}
	return nick, faceURL, nil
}

func (h *Handler) accountImport(c *call) (any, error) {
	id, err := importID(c.f)
	if err != nil {
		return nil, err
	}
	if err := chat.ValidateUserID(id); err != nil {
		return nil, err
	}
	nick, faceURL, err := importProfile(c.f)
	if err != nil {
		return nil, err
	}
	return nil, h.engine.AccountImport(c.ctx, parley.Account{UserID: id, Nick: nick, FaceURL: faceURL})
}

type multiAccountImportAnswer struct {
	FailAccounts []string `json:"FailAccounts"`
}

// multiAccountImport takes the current {AccountList:[{UserID,Nick,FaceUrl}]}
// or the old {Accounts:[UserID]}. An account that cannot be imported as
// given (an invalid UserID, an over-long Nick) is listed in FailAccounts
// rather than failing the whole call, as are those the engine refuses.
func (h *Handler) multiAccountImport(c *call) (any, error) {
	name := "AccountList"
	elems, present, err := c.f.array(name, parley.ErrAccountIllegalParams)
	if err != nil {
		return nil, err
	}
	if !present {
		name = "Accounts"
		elems, present, err = c.f.array(name, parley.ErrAccountIllegalParams)
		if err != nil {
			return nil, err
		}
		if !present {
			return nil, parley.Errorf(parley.ErrAccountIllegalParams, "AccountList or Accounts is required")
		}
	}
	if len(elems) == 0 {
		return nil, parley.Errorf(parley.ErrAccountIllegalParams, "%s is empty", name)
	}
	if len(elems) > maxAccountsPerCall {
		return nil, parley.Errorf(parley.ErrAccountIllegalParams, "%s has %d accounts; at most %d are allowed per request", name, len(elems), maxAccountsPerCall)
	}

	ids := make([]string, 0, len(elems)) // every UserID in request order
	failed := make(map[string]bool)
	var accounts []parley.Account
	for i, e := range elems {
		var (
			a          parley.Account
			importable error // why this one account cannot be imported
		)
		if name == "Accounts" {
			id, ok := jsonString(e)
			if !ok {
				return nil, parley.Errorf(parley.ErrAccountTypeInvalid, "Accounts[%d] must be a string", i)
			}
			a.UserID = id
		} else {
			obj, ok := decodeObject(e)
			if !ok {
				return nil, parley.Errorf(parley.ErrAccountIllegalParams, "AccountList[%d] must be an object", i)
			}
			if a.UserID, err = importID(obj); err != nil {
				return nil, err
			}
			a.Nick, a.FaceURL, importable = importProfile(obj)
			if importable != nil && parley.ErrorCode(importable) != errProfileTooLong {
				return nil, importable
			}
		}
		if importable == nil {
			importable = chat.ValidateUserID(a.UserID)
		}
		ids = append(ids, a.UserID)
		if importable != nil {
			failed[a.UserID] = true
			continue
		}
		accounts = append(accounts, a)
	}
	if len(accounts) > 0 {
		refused, err := h.engine.AccountImportMany(c.ctx, accounts)
		if err != nil {
			return nil, err
		}
		for _, id := range refused {
			failed[id] = true
		}
	}
	answer := multiAccountImportAnswer{FailAccounts: []string{}}
	for _, id := range ids {
		if failed[id] {
			answer.FailAccounts = append(answer.FailAccounts, id)
			delete(failed, id) // list each once
		}
	}
	return answer, nil
}

// userIDItems reads [{UserID}] lists: DeleteItem, CheckItem.
func userIDItems(f fields, name string) ([]string, error) {
	elems, present, err := f.array(name, parley.ErrAccountIllegalParams)
	if err != nil {
		return nil, err
	}
	switch {
	case !present:
		return nil, parley.Errorf(parley.ErrAccountIllegalParams, "%s is required", name)
	case len(elems) == 0:
		return nil, parley.Errorf(parley.ErrAccountIllegalParams, "%s is empty", name)
	case len(elems) > maxAccountsPerCall:
		return nil, parley.Errorf(parley.ErrAccountIllegalParams, "%s has %d items; at most %d are allowed per request", name, len(elems), maxAccountsPerCall)
	}
	ids := make([]string, len(elems))
	for i, e := range elems {
		obj, ok := decodeObject(e)
		if !ok {
			return nil, parley.Errorf(parley.ErrAccountIllegalParams, "%s[%d] must be an object with a UserID", name, i)
		}
		id, present, err := obj.string("UserID", parley.ErrAccountTypeInvalid)
		if err != nil {
			return nil, err
		}
		if !present {
			return nil, parley.Errorf(parley.ErrAccountIllegalParams, "%s[%d].UserID is required", name, i)
		}
		ids[i] = id
	}
	return ids, nil
}

type deleteResultItem struct {
	ResultCode int    `json:"ResultCode"`
	ResultInfo string `json:"ResultInfo"`
	UserID     string `json:"UserID"`
}

type accountDeleteAnswer struct {
	ResultItem []deleteResultItem `json:"ResultItem"`
}

func (h *Handler) accountDelete(c *call) (any, error) {
	ids, err := userIDItems(c.f, "DeleteItem")
	if err != nil {
		return nil, err
	}
	results, err := h.engine.AccountDelete(c.ctx, ids)
	if err != nil {
		return nil, err
	}
	answer := accountDeleteAnswer{ResultItem: make([]deleteResultItem, 0, len(results))}
	for _, r := range results {
		answer.ResultItem = append(answer.ResultItem, deleteResultItem{
			ResultCode: r.Code,
			ResultInfo: resultInfo(r.Code, r.Info),
			UserID:     r.UserID,
		})
	}
	return answer, nil
}

type checkResultItem struct {
	UserID        string `json:"UserID"`
	ResultCode    int    `json:"ResultCode"`
	ResultInfo    string `json:"ResultInfo"`
	AccountStatus string `json:"AccountStatus"`
}

type accountCheckAnswer struct {
	ResultItem []checkResultItem `json:"ResultItem"`
}

func (h *Handler) accountCheck(c *call) (any, error) {
	ids, err := userIDItems(c.f, "CheckItem")
	if err != nil {
		return nil, err
	}
	statuses, err := h.engine.AccountCheck(c.ctx, ids)
	if err != nil {
		return nil, err
	}
	answer := accountCheckAnswer{ResultItem: make([]checkResultItem, 0, len(statuses))}
	for _, s := range statuses {
		status := "NotImported"
		if s.Imported {
			status = "Imported"
		}
		answer.ResultItem = append(answer.ResultItem, checkResultItem{
			UserID:        s.UserID,
			ResultCode:    s.Code,
			ResultInfo:    resultInfo(s.Code, s.Info),
			AccountStatus: status,
		})
	}
	return answer, nil
}

// resultInfo is a per-item ResultInfo: the engine's text, else the code's.
func resultInfo(code int, info string) string {
	if info == "" && code != 0 {
		return parley.ErrorText(code)
	}
	return info
}
