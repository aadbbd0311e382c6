package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/parley-im/parley"
)

// Group limits of the engine's own choosing, beyond those in the root
// package.
const (
	// MaxGroupInfoIDs is the most GroupIds one get_group_info call takes,
	// Tencent's documented limit.
	MaxGroupInfoIDs = 50
	// MaxGroupMembersPage is the most members one get_group_member_info
	// page holds.
	MaxGroupMembersPage = 200
	// maxAppDefinedKeyBytes and maxAppDefinedValueBytes bound each item of
	// AppDefinedData and AppMemberDefinedData.
	maxAppDefinedKeyBytes   = 16
	maxAppDefinedValueBytes = 4096
)

// Join options of create_group.
const (
	joinFreeAccess     = "FreeAccess"
	joinNeedPermission = "NeedPermission"
	joinDisableApply   = "DisableApply"
	joinDisableInvite  = "DisableInvite"
)

// groupTypeRules is what a group type fixes: the character of its generated
// GroupIds, its default (and largest) MaxMemberCount, 0 meaning unlimited,
// and its default ApplyJoinOption.
type groupTypeRules struct {
	idChar     byte
	maxMembers int
	applyJoin  string
}

func rulesOf(groupType string) groupTypeRules {
	switch groupType {
	case parley.GroupPrivate:
		return groupTypeRules{'1', 200, joinDisableApply}
	case parley.GroupPublic:
		return groupTypeRules{'2', 2000, joinNeedPermission}
	case parley.GroupChatRoom:
		return groupTypeRules{'3', 10000, joinFreeAccess}
	case parley.GroupAVChatRoom:
		return groupTypeRules{'a', 0, joinFreeAccess}
	case parley.GroupCommunity:
		return groupTypeRules{'_', 100000, joinFreeAccess}
	}
	panic("chat: unknown group type " + groupType) // callers pass canonicalGroupType's answer
}

// canonicalGroupType resolves the Work and Meeting aliases; anything else
// that is not a group type is 10004.
func canonicalGroupType(t string) (string, error) {
	switch t {
	case parley.GroupPrivate, parley.GroupWork:
		return parley.GroupPrivate, nil
	case parley.GroupChatRoom, parley.GroupMeeting:
		return parley.GroupChatRoom, nil
	case parley.GroupPublic, parley.GroupAVChatRoom, parley.GroupCommunity:
		return t, nil
	}
	return "", parley.Errorf(parley.ErrGroupInvalidParam, "Type %q is not a group type", t)
}

// checkGroupID answers 10015 for a GroupId no group can have: empty, longer
// than 48 bytes, or with a byte outside printable ASCII.
func checkGroupID(id string) error {
	if id == "" {
		return parley.Errorf(parley.ErrGroupIDInvalid, "GroupId is empty")
	}
	if len(id) > parley.MaxGroupIDBytes {
		return parley.Errorf(parley.ErrGroupIDInvalid, "GroupId is %d bytes, longer than %d", len(id), parley.MaxGroupIDBytes)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c > 0x7e {
			return parley.Errorf(parley.ErrGroupIDInvalid, "GroupId %q holds a byte outside printable ASCII", id)
		}
	}
	return nil
}

// checkCustomGroupID adds create_group's rules for a chosen GroupId: the
// generated ids' prefix is reserved, except that Community ids must carry
// it with the Community character.
func checkCustomGroupID(id, groupType string) error {
	if err := checkGroupID(id); err != nil {
		return err
	}
	const community = parley.GeneratedGroupIDPrefix + "_"
	if groupType == parley.GroupCommunity {
		if !strings.HasPrefix(id, community) {
			return parley.Errorf(parley.ErrGroupIDInvalid, "a Community GroupId must start with %q, got %q", community, id)
		}
		return nil
	}
	if strings.HasPrefix(id, parley.GeneratedGroupIDPrefix) {
		return parley.Errorf(parley.ErrGroupIDInvalid, "GroupId %q starts with %q, which only generated ids may", id, parley.GeneratedGroupIDPrefix)
	}
	return nil
}

// newGroupID draws "@TGS#", the type's character and 8 of [A-Z0-9].
func (e *Engine) newGroupID(groupType string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	// 64 bits over 36^8 ≈ 2^41 values: the modulo bias is below 2^-22.
	r := uint64(e.rand())<<32 | uint64(e.rand())
	b := make([]byte, 0, len(parley.GeneratedGroupIDPrefix)+9)
	b = append(b, parley.GeneratedGroupIDPrefix...)
	b = append(b, rulesOf(groupType).idChar)
	for range 8 {
		b = append(b, alphabet[r%36])
		r /= 36
	}
	return string(b)
}

// maxGroupIDDraws bounds the retries on a generated GroupId that is taken:
// with 36^8 ids a second collision in a row means the Rand is broken.
const maxGroupIDDraws = 8

// groupIn returns the group named id, reading through q: 10015 for a
// malformed id, 10010 for no such group.
func groupIn(ctx context.Context, q parley.Querier, id string) (*parley.Group, error) {
	if err := checkGroupID(id); err != nil {
		return nil, err
	}
	g, err := q.GroupGet(ctx, id)
	if errors.Is(err, parley.ErrNotFound) {
		return nil, parley.Errorf(parley.ErrGroupNotFound, "group %q does not exist", id)
	}
	if err != nil {
		return nil, fmt.Errorf("chat: get group: %w", err)
	}
	return g, nil
}

// importedIn returns which of ids are imported, reading through q, which
// must be a transaction. The App admin counts as imported and is imported
// on the spot, as Tencent's admin account exists from the app's creation.
func (e *Engine) importedIn(ctx context.Context, q parley.Querier, ids []string) (map[string]bool, error) {
	found, err := q.AccountGetMany(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("chat: get accounts: %w", err)
	}
	imported := make(map[string]bool, len(found))
	for _, a := range found {
		imported[a.UserID] = true
	}
	for _, id := range ids {
		if id == e.admin && !imported[id] {
			if _, err := q.AccountUpsert(ctx, parley.Account{UserID: id, CreatedAt: e.now()}); err != nil {
				return nil, fmt.Errorf("chat: import the admin account: %w", err)
			}
			imported[id] = true
		}
	}
	return imported, nil
}

func checkAppDefined(field string, items []parley.AppDefinedItem) error {
	for i, it := range items {
		switch {
		case it.Key == "" || len(it.Key) > maxAppDefinedKeyBytes:
			return parley.Errorf(parley.ErrGroupInvalidParam, "%s[%d].Key must be 1 to %d bytes, got %d", field, i, maxAppDefinedKeyBytes, len(it.Key))
		case len(it.Value) > maxAppDefinedValueBytes:
			return parley.Errorf(parley.ErrGroupInvalidParam, "%s[%d].Value is %d bytes, longer than %d", field, i, len(it.Value), maxAppDefinedValueBytes)
		}
	}
	return nil
}

func checkLength(field, value string, limit int) error {
	if len(value) > limit {
		return parley.Errorf(parley.ErrGroupInvalidParam, "%s is %d bytes, longer than %d", field, len(value), limit)
	}
	return nil
}

// CreateGroup creates a group with its owner and initial members in one
// transaction (group_open_http_svc/create_group) and returns its GroupId.
//
// The request is checked before the store is touched; whether the owner
// and members are imported and whether a chosen GroupId is free are
// checked in the transaction that creates the group, so a concurrent
// create of the same id answers 10021 (or 10025) rather than failing.
func (e *Engine) CreateGroup(ctx context.Context, p CreateGroupParams) (string, error) {
	groupType, err := canonicalGroupType(p.Type)
	if err != nil {
		return "", err
	}
	rules := rulesOf(groupType)
	if p.GroupID != "" {
		if err := checkCustomGroupID(p.GroupID, groupType); err != nil {
			return "", err
		}
	}
	if p.Name == "" || len(p.Name) > parley.MaxGroupNameBytes {
		return "", parley.Errorf(parley.ErrGroupInvalidParam, "Name must be 1 to %d bytes, got %d", parley.MaxGroupNameBytes, len(p.Name))
	}
	for _, f := range []struct {
		name, value string
		limit       int
	}{
		{"Introduction", p.Introduction, parley.MaxIntroductionBytes},
		{"Notification", p.Notification, parley.MaxNotificationBytes},
		{"FaceUrl", p.FaceURL, parley.MaxFaceURLBytes},
	} {
		if err := checkLength(f.name, f.value, f.limit); err != nil {
			return "", err
		}
	}
	maxMembers := p.MaxMemberCount
	switch {
	case maxMembers < 0:
		return "", parley.Errorf(parley.ErrGroupInvalidParam, "MaxMemberCount %d is negative", maxMembers)
	case maxMembers == 0:
		maxMembers = rules.maxMembers
	case rules.maxMembers > 0 && maxMembers > rules.maxMembers:
		return "", parley.Errorf(parley.ErrGroupInvalidParam, "MaxMemberCount %d is above %d, the most a %s group has", maxMembers, rules.maxMembers, groupType)
	}
	applyJoin := p.ApplyJoinOption
	switch applyJoin {
	case "":
		applyJoin = rules.applyJoin
	case joinFreeAccess, joinNeedPermission, joinDisableApply:
	default:
		return "", parley.Errorf(parley.ErrGroupInvalidParam, "ApplyJoinOption %q is not FreeAccess, NeedPermission or DisableApply", applyJoin)
	}
	switch p.InviteJoinOption {
	case "", joinFreeAccess, joinNeedPermission, joinDisableInvite:
	default:
		return "", parley.Errorf(parley.ErrGroupInvalidParam, "InviteJoinOption %q is not FreeAccess, NeedPermission or DisableInvite", p.InviteJoinOption)
	}
	if err := checkAppDefined("AppDefinedData", p.AppDefinedData); err != nil {
		return "", err
	}
	if len(p.Members) > parley.MaxCreateMembers {
		return "", parley.Errorf(parley.ErrGroupTooManyAccounts, "MemberList has %d members, more than %d", len(p.Members), parley.MaxCreateMembers)
	}
	if groupType == parley.GroupAVChatRoom && len(p.Members) > 0 {
		return "", parley.Errorf(parley.ErrGroupNotPermitted, "an AVChatRoom is created without members")
	}

	now := e.now()
	var members []parley.GroupMember
	var ids []string
	seen := map[string]bool{}
	if p.Owner != "" {
		if ValidateUserID(p.Owner) != nil {
			return "", parley.Errorf(parley.ErrGroupUserNotExist, "Owner_Account %q is not a valid UserID", p.Owner)
		}
		seen[p.Owner] = true
		ids = append(ids, p.Owner)
		members = append(members, newMember(p.Owner, parley.RoleOwner, nil, now.Unix()))
	}
	for i, ms := range p.Members {
		role := ms.Role
		switch role {
		case "":
			role = parley.RoleMember
		case parley.RoleMember, parley.RoleAdmin:
		default:
			return "", parley.Errorf(parley.ErrGroupInvalidParam, "MemberList[%d].Role %q is not Member or Admin", i, ms.Role)
		}
		if err := checkAppDefined(fmt.Sprintf("MemberList[%d].AppMemberDefinedData", i), ms.AppMemberDefinedData); err != nil {
			return "", err
		}
		if ValidateUserID(ms.UserID) != nil {
			return "", parley.Errorf(parley.ErrGroupUserNotExist, "MemberList[%d].Member_Account %q is not a valid UserID", i, ms.UserID)
		}
		if seen[ms.UserID] {
			continue
		}
		seen[ms.UserID] = true
		ids = append(ids, ms.UserID)
		members = append(members, newMember(ms.UserID, role, ms.AppMemberDefinedData, now.Unix()))
	}
	if maxMembers > 0 && len(members) > maxMembers {
		return "", parley.Errorf(parley.ErrGroupFull, "%d members, more than MaxMemberCount %d", len(members), maxMembers)
	}

	g := &parley.Group{
		Type:             groupType,
		Owner:            p.Owner,
		Name:             p.Name,
		Introduction:     p.Introduction,
		Notification:     p.Notification,
		FaceURL:          p.FaceURL,
		MaxMemberCount:   maxMembers,
		ApplyJoinOption:  applyJoin,
		InviteJoinOption: p.InviteJoinOption,
		AppDefinedData:   p.AppDefinedData,
		SupportTopic:     p.SupportTopic,
		CreateTime:       now.Unix(),
		LastInfoTime:     now.Unix(),
	}
	var refused error
	ps := e.newPushes()
	err = e.store.InTx(ctx, func(tx parley.Querier) error {
		refused, g.ID = nil, ""
		ps.reset()
		if len(ids) > 0 {
			imported, err := e.importedIn(ctx, tx, ids)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if !imported[id] {
					// Only the admin's import may have been written, and it
					// is harmless: answering spares the group a re-run.
					refused = parley.Errorf(parley.ErrGroupUserNotExist, "%q is not imported", id)
					return nil
				}
			}
		}
		id, err := e.freeGroupID(ctx, tx, p.GroupID, p.Owner, groupType)
		if refusal(err) {
			refused = err
			return nil
		}
		if err != nil {
			return err
		}
		g.ID = id
		if err := tx.GroupInsert(ctx, g); err != nil {
			return fmt.Errorf("chat: create group: %w", err)
		}
		if len(members) == 0 {
			return nil
		}
		for i := range members {
			members[i].GroupID = id
		}
		added, err := tx.GroupMemberAdd(ctx, parley.GroupMemberAddParams{GroupID: id, Members: members})
		if err != nil {
			return fmt.Errorf("chat: add members: %w", err)
		}
		ps.membersChanged(tx, id, added, nil)
		return nil
	})
	if errors.Is(err, parley.ErrConflict) {
		// freeGroupID saw the id free in this very transaction, so only a
		// store that does not serialize writers gets here.
		return "", parley.Errorf(parley.ErrGroupIDTaken, "GroupId %q is already in use", g.ID)
	}
	if err != nil {
		return "", err
	}
	if refused != nil {
		return "", refused
	}
	ps.flush()
	return g.ID, nil
}

// freeGroupID returns the chosen id if no group has it (10021, or 10025
// when the owner asking is the owner of the group that has it), or draws a
// generated id no group has.
func (e *Engine) freeGroupID(ctx context.Context, tx parley.Querier, chosen, owner, groupType string) (string, error) {
	if chosen != "" {
		g, err := tx.GroupGet(ctx, chosen)
		switch {
		case errors.Is(err, parley.ErrNotFound):
			return chosen, nil
		case err != nil:
			return "", fmt.Errorf("chat: get group: %w", err)
		case owner != "" && g.Owner == owner:
			return "", parley.Errorf(parley.ErrGroupIDTakenByOwner, "GroupId %q is already in use, by a group %q owns", chosen, owner)
		}
		return "", parley.Errorf(parley.ErrGroupIDTaken, "GroupId %q is already in use", chosen)
	}
	for range maxGroupIDDraws {
		id := e.newGroupID(groupType)
		_, err := tx.GroupGet(ctx, id)
		if errors.Is(err, parley.ErrNotFound) {
			return id, nil
		}
		if err != nil {
			return "", fmt.Errorf("chat: get group: %w", err)
		}
	}
	return "", fmt.Errorf("chat: %d generated GroupIds in a row were taken; is Config.Rand random?", maxGroupIDDraws)
}

func newMember(userID, role string, data []parley.AppDefinedItem, joinTime int64) parley.GroupMember {
	return parley.GroupMember{
		UserID:               userID,
		Role:                 role,
		JoinTime:             joinTime,
		MsgFlag:              parley.MsgFlagAcceptAndNotify,
		AppMemberDefinedData: data,
	}
}

// GetGroupInfo answers each of groupIDs with the group and all its members,
// or the code saying why not (group_open_http_svc/get_group_info). The
// answers are in the order asked, repeats included.
func (e *Engine) GetGroupInfo(ctx context.Context, groupIDs []string) ([]GroupInfo, error) {
	switch {
	case len(groupIDs) == 0:
		return nil, parley.Errorf(parley.ErrGroupInvalidParam, "GroupIdList is empty")
	case len(groupIDs) > MaxGroupInfoIDs:
		return nil, parley.Errorf(parley.ErrGroupTooManyAccounts, "GroupIdList has %d ids, more than %d", len(groupIDs), MaxGroupInfoIDs)
	}
	var wellFormed []string
	for _, id := range groupIDs {
		if checkGroupID(id) == nil {
			wellFormed = append(wellFormed, id)
		}
	}
	byID := map[string]*parley.Group{}
	if len(wellFormed) > 0 {
		groups, err := e.store.GroupGetMany(ctx, wellFormed)
		if err != nil {
			return nil, fmt.Errorf("chat: get groups: %w", err)
		}
		for _, g := range groups {
			byID[g.ID] = g
		}
	}
	members := map[string][]*parley.GroupMember{}
	out := make([]GroupInfo, 0, len(groupIDs))
	for _, id := range groupIDs {
		info := GroupInfo{GroupID: id}
		if err := checkGroupID(id); err != nil {
			info.Code, info.Info = parley.ErrGroupIDInvalid, err.(*parley.Error).Info
			out = append(out, info)
			continue
		}
		g := byID[id]
		if g == nil {
			info.Code, info.Info = parley.ErrGroupNotFound, fmt.Sprintf("group %q does not exist", id)
			out = append(out, info)
			continue
		}
		ms, ok := members[id]
		if !ok {
			var err error
			ms, err = e.store.GroupMemberList(ctx, parley.GroupMemberListParams{GroupID: id})
			if err != nil {
				return nil, fmt.Errorf("chat: list members: %w", err)
			}
			members[id] = ms
		}
		info.Group, info.Members = g, ms
		out = append(out, info)
	}
	return out, nil
}

// AddGroupMembers adds members to a group in one transaction
// (group_open_http_svc/add_group_member) and answers one result per UserID
// given, in order: MemberAdded, MemberWasMember (also for a repeat of one
// added by this call), or MemberAddFailed for a UserID that is invalid or
// not imported and for everyone beyond a full group's MaxMemberCount.
func (e *Engine) AddGroupMembers(ctx context.Context, p AddMembersParams) ([]MemberResult, error) {
	if err := checkGroupID(p.GroupID); err != nil {
		return nil, err
	}
	switch {
	case len(p.UserIDs) == 0:
		return nil, parley.Errorf(parley.ErrGroupInvalidParam, "MemberList is empty")
	case len(p.UserIDs) > parley.MaxAddMembers:
		return nil, parley.Errorf(parley.ErrGroupTooManyAccounts, "MemberList has %d members, more than %d", len(p.UserIDs), parley.MaxAddMembers)
	}
	var valid []string
	for _, id := range p.UserIDs {
		if ValidateUserID(id) == nil {
			valid = append(valid, id)
		}
	}
	var results []MemberResult
	var refused error
	ps := e.newPushes()
	err := e.store.InTx(ctx, func(tx parley.Querier) error {
		results, refused = make([]MemberResult, 0, len(p.UserIDs)), nil
		ps.reset()
		g, err := groupIn(ctx, tx, p.GroupID)
		if err == nil && g.Type == parley.GroupAVChatRoom {
			err = parley.Errorf(parley.ErrGroupNotPermitted, "an AVChatRoom has no member list to add to")
		}
		if refusal(err) {
			// Nothing is written yet: answering with the refusal, not
			// failing the fn, spares the rest of the group a re-run.
			refused = err
			return nil
		}
		if err != nil {
			return err
		}
		var imported map[string]bool
		state := map[string]int{} // UserID → its result so far
		if len(valid) > 0 {
			if imported, err = e.importedIn(ctx, tx, valid); err != nil {
				return err
			}
			already, err := tx.GroupMemberList(ctx, parley.GroupMemberListParams{GroupID: p.GroupID, UserIDs: valid})
			if err != nil {
				return fmt.Errorf("chat: list members: %w", err)
			}
			for _, m := range already {
				state[m.UserID] = MemberWasMember
			}
		}
		room := -1 // unlimited
		if g.MaxMemberCount > 0 {
			room = max(g.MaxMemberCount-g.MemberCount, 0)
		}
		now := e.now().Unix()
		var add []parley.GroupMember
		for _, id := range p.UserIDs {
			r, known := state[id]
			switch {
			case known:
			case !imported[id] || room == 0:
				r = MemberAddFailed
			default:
				m := newMember(id, parley.RoleMember, nil, now)
				m.GroupID = p.GroupID
				add = append(add, m)
				if room > 0 {
					room--
				}
				r = MemberAdded
				// A repeat of this UserID is then already a member.
				state[id] = MemberWasMember
			}
			results = append(results, MemberResult{UserID: id, Result: r})
		}
		if len(add) == 0 {
			return nil
		}
		added, err := tx.GroupMemberAdd(ctx, parley.GroupMemberAddParams{GroupID: p.GroupID, Members: add})
		if err != nil {
			return fmt.Errorf("chat: add members: %w", err)
		}
		ps.membersChanged(tx, p.GroupID, added, nil)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, refused
	}
	ps.flush()
	return results, nil
}

// DeleteGroupMembers removes members from a group
// (group_open_http_svc/delete_group_member). UserIDs that are not members
// are ignored; the owner cannot be removed (10007), and then nobody is.
func (e *Engine) DeleteGroupMembers(ctx context.Context, p DeleteMembersParams) error {
	if err := checkGroupID(p.GroupID); err != nil {
		return err
	}
	switch {
	case len(p.UserIDs) == 0:
		return parley.Errorf(parley.ErrGroupInvalidParam, "MemberToDel_Account is empty")
	case len(p.UserIDs) > parley.MaxDeleteMembers:
		return parley.Errorf(parley.ErrGroupTooManyAccounts, "MemberToDel_Account has %d members, more than %d", len(p.UserIDs), parley.MaxDeleteMembers)
	}
	var refused error
	ps := e.newPushes()
	err := e.store.InTx(ctx, func(tx parley.Querier) error {
		refused = nil
		ps.reset()
		g, err := groupIn(ctx, tx, p.GroupID)
		if err == nil {
			err = deletable(g, p.UserIDs)
		}
		if refusal(err) {
			refused = err
			return nil
		}
		if err != nil {
			return err
		}
		deleted, err := tx.GroupMemberDelete(ctx, parley.GroupMemberDeleteParams{GroupID: p.GroupID, UserIDs: p.UserIDs})
		if err != nil {
			return fmt.Errorf("chat: delete members: %w", err)
		}
		ps.membersChanged(tx, p.GroupID, nil, deleted)
		return nil
	})
	if err != nil {
		return err
	}
	if refused != nil {
		return refused
	}
	ps.flush()
	return nil
}

// deletable says whether userIDs may be removed from g.
func deletable(g *parley.Group, userIDs []string) error {
	if g.Type == parley.GroupAVChatRoom {
		return parley.Errorf(parley.ErrGroupNotPermitted, "an AVChatRoom has no member list to delete from")
	}
	for _, id := range userIDs {
		if g.Owner != "" && id == g.Owner {
			return parley.Errorf(parley.ErrGroupNotPermitted, "%q owns the group and cannot be removed", id)
		}
	}
	return nil
}

// refusal reports whether err is an answer for the caller (a
// *parley.Error) rather than a failure of the store.
func refusal(err error) bool {
	var pe *parley.Error
	return errors.As(err, &pe)
}

// GetGroupMembers answers one page of a group's members in join order
// (group_open_http_svc/get_group_member_info), with the group's member
// count. Limit 0 means every member after Offset.
func (e *Engine) GetGroupMembers(ctx context.Context, p GetMembersParams) (GetMembersResult, error) {
	if err := checkGroupID(p.GroupID); err != nil {
		return GetMembersResult{}, err
	}
	if p.Limit < 0 || p.Limit > MaxGroupMembersPage {
		return GetMembersResult{}, parley.Errorf(parley.ErrGroupInvalidParam, "Limit must be 0 to %d, got %d", MaxGroupMembersPage, p.Limit)
	}
	if p.Offset < 0 {
		return GetMembersResult{}, parley.Errorf(parley.ErrGroupInvalidParam, "Offset %d is negative", p.Offset)
	}
	g, err := groupIn(ctx, e.store, p.GroupID)
	if err != nil {
		return GetMembersResult{}, err
	}
	if g.Type == parley.GroupAVChatRoom {
		return GetMembersResult{}, parley.Errorf(parley.ErrGroupNotPermitted, "an AVChatRoom has no member list")
	}
	ms, err := e.store.GroupMemberList(ctx, parley.GroupMemberListParams{GroupID: p.GroupID, Offset: p.Offset, Limit: p.Limit})
	if err != nil {
		return GetMembersResult{}, fmt.Errorf("chat: list members: %w", err)
	}
	return GetMembersResult{MemberNum: g.MemberCount, Members: ms}, nil
}

// DestroyGroup deletes a group with its members, messages and their
// extensions in one transaction (group_open_http_svc/destroy_group); every
// later call on it answers 10010.
func (e *Engine) DestroyGroup(ctx context.Context, groupID string) error {
	if err := checkGroupID(groupID); err != nil {
		return err
	}
	var deleted bool
	ps := e.newPushes()
	err := e.store.InTx(ctx, func(tx parley.Querier) error {
		ps.reset()
		var err error
		if deleted, err = tx.GroupDelete(ctx, groupID); err != nil {
			return fmt.Errorf("chat: delete group: %w", err)
		}
		if deleted {
			ps.groupDestroyed(tx, groupID)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ps.flush()
	if !deleted {
		return parley.Errorf(parley.ErrGroupNotFound, "group %q does not exist", groupID)
	}
	e.groupLimits.forget(groupID)
	return nil
}
