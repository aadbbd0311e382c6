package restapi

import (
	"encoding/json"
	"strconv"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

// The group service (group_open_http_svc) answers an unparsable body with
// 10011 and a missing or wrongly typed field with 10004 (decision G1-G10).
// The REST layer checks what a request says: JSON types, presence, list
// lengths, the form of GroupIds (10015) and of the UserIDs whose form has
// a code of its own. What a value means for a group (a name's length, a
// join option, a type's member limit) is the engine's to judge, so that
// each rule has one home.

// badGroupParam is the group service's code for a missing or wrongly typed
// field.
const badGroupParam = parley.ErrGroupInvalidParam

// maxRecallReasonBytes bounds group_msg_recall's Reason (Tencent: 100 bytes).
const maxRecallReasonBytes = 100

// wellFormedGroupID reports whether some group could have id: 1 to 48
// bytes of printable ASCII (decision G2).
func wellFormedGroupID(id string) bool {
	if id == "" || len(id) > parley.MaxGroupIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// groupID reads the required GroupId. Absent or not a string is typeCode,
// the service's code for a bad field; a string no group can have is 10015
// whichever service asks.
func groupID(f fields, typeCode int) (string, error) {
	id, present, err := f.string("GroupId", typeCode)
	if err != nil {
		return "", err
	}
	if !present {
		return "", parley.Errorf(typeCode, "GroupId is required")
	}
	if !wellFormedGroupID(id) {
		return "", parley.Errorf(parley.ErrGroupIDInvalid, "GroupId %q is not 1 to %d bytes of printable ASCII", id, parley.MaxGroupIDBytes)
	}
	return id, nil
}

// groupAccount reads an optional UserID of the group service: a wrong JSON
// type is 10004, and a string that cannot be a UserID is 10019, as for one
// that is not imported (no such account can exist). "" counts as absent.
func groupAccount(f fields, name string) (string, error) {
	id, _, err := f.string(name, badGroupParam)
	if err != nil || id == "" {
		return "", err
	}
	if chat.ValidateUserID(id) != nil {
		return "", parley.Errorf(parley.ErrGroupUserNotExist, "%s %q is not a valid UserID", name, id)
	}
	return id, nil
}

// uint64 reads an integer field in 0..2^64-1; anything else is code.
// Group MsgSeqs and extension Seqs are 64-bit.
func (f fields) uint64(name string, code int) (v uint64, present bool, err error) {
	raw, ok := f.raw(name)
	if !ok {
		return 0, false, nil
	}
	if !isJSONInteger(raw) {
		return 0, true, parley.Errorf(code, "%s must be an integer", name)
	}
	n, perr := strconv.ParseUint(string(raw), 10, 64)
	if perr != nil {
		return 0, true, parley.Errorf(code, "%s must be an integer in 0..18446744073709551615", name)
	}
	return n, true, nil
}

// objectsOf decodes the elements of array name as JSON objects; any other
// element is code.
func objectsOf(name string, elems []json.RawMessage, code int) ([]fields, error) {
	out := make([]fields, len(elems))
	for i, e := range elems {
		obj, ok := decodeObject(e)
		if !ok {
			return nil, parley.Errorf(code, "%s[%d] must be an object", name, i)
		}
		out[i] = obj
	}
	return out, nil
}

// requiredEach reads the field every object of list must have, as in
// MemberList [{Member_Account}] and MsgSeqList [{MsgSeq}]; a wrong type or
// a missing field is code.
func requiredEach[T any](objs []fields, list, field string, code int, read func(fields, string, int) (T, bool, error)) ([]T, error) {
	out := make([]T, len(objs))
	for i, o := range objs {
		v, present, err := read(o, field, code)
		if err != nil {
			return nil, err
		}
		if !present {
			return nil, parley.Errorf(code, "%s[%d].%s is required", list, i, field)
		}
		out[i] = v
	}
	return out, nil
}

// boundedArray reads an array field and bounds its length: above most is
// tooMany, answered before any element is read. A required one that is
// absent or empty is 10004.
func boundedArray(f fields, name string, required bool, most, tooMany int) ([]json.RawMessage, error) {
	elems, present, err := f.array(name, badGroupParam)
	switch {
	case err != nil:
		return nil, err
	case required && !present:
		return nil, parley.Errorf(badGroupParam, "%s is required", name)
	case required && len(elems) == 0:
		return nil, parley.Errorf(badGroupParam, "%s is empty", name)
	case len(elems) > most:
		return nil, parley.Errorf(tooMany, "%s has %d items; at most %d are allowed", name, len(elems), most)
	}
	return elems, nil
}

// appDefinedData reads [{Key, Value}] as given; the engine bounds the keys
// and values.
func appDefinedData(f fields, name string) ([]parley.AppDefinedItem, error) {
	elems, present, err := f.array(name, badGroupParam)
	if err != nil || !present {
		return nil, err
	}
	objs, err := objectsOf(name, elems, badGroupParam)
	if err != nil {
		return nil, err
	}
	items := make([]parley.AppDefinedItem, len(objs))
	for i, o := range objs {
		key, present, err := o.string("Key", badGroupParam)
		if err != nil {
			return nil, err
		}
		if !present {
			return nil, parley.Errorf(badGroupParam, "%s[%d].Key is required", name, i)
		}
		value, _, err := o.string("Value", badGroupParam)
		if err != nil {
			return nil, err
		}
		items[i] = parley.AppDefinedItem{Key: key, Value: value}
	}
	return items, nil
}

type createGroupAnswer struct {
	GroupID string `json:"GroupId"`
}

func (h *Handler) createGroup(c *call) (any, error) {
	var p chat.CreateGroupParams
	typ, present, err := c.f.string("Type", badGroupParam)
	if err != nil {
		return nil, err
	}
	if !present {
		return nil, parley.Errorf(badGroupParam, "Type is required")
	}
	p.Type = typ
	if p.Owner, err = groupAccount(c.f, "Owner_Account"); err != nil {
		return nil, err
	}
	// "" asks for a generated GroupId; the engine holds a chosen one to
	// create_group's rules, which depend on the type.
	if p.GroupID, _, err = c.f.string("GroupId", badGroupParam); err != nil {
		return nil, err
	}
	if p.GroupID != "" && !wellFormedGroupID(p.GroupID) {
		return nil, parley.Errorf(parley.ErrGroupIDInvalid, "GroupId %q is not 1 to %d bytes of printable ASCII", p.GroupID, parley.MaxGroupIDBytes)
	}
	name, present, err := c.f.string("Name", badGroupParam)
	if err != nil {
		return nil, err
	}
	if !present {
		return nil, parley.Errorf(badGroupParam, "Name is required")
	}
	p.Name = name
	for _, s := range []struct {
		name string
		dst  *string
	}{
		{"Introduction", &p.Introduction},
		{"Notification", &p.Notification},
		{"FaceUrl", &p.FaceURL},
		{"ApplyJoinOption", &p.ApplyJoinOption},
		{"InviteJoinOption", &p.InviteJoinOption},
	} {
		if *s.dst, _, err = c.f.string(s.name, badGroupParam); err != nil {
			return nil, err
		}
	}
	maxMembers, _, err := c.f.int("MaxMemberCount", badGroupParam)
	if err != nil {
		return nil, err
	}
	if maxMembers < 0 {
		return nil, parley.Errorf(badGroupParam, "MaxMemberCount must not be negative")
	}
	p.MaxMemberCount = clampInt(maxMembers)
	if p.AppDefinedData, err = appDefinedData(c.f, "AppDefinedData"); err != nil {
		return nil, err
	}
	if p.Members, err = createMembers(c.f); err != nil {
		return nil, err
	}
	if p.SupportTopic, err = c.f.flag("SupportTopic", badGroupParam); err != nil {
		return nil, err
	}
	id, err := h.engine.CreateGroup(c.ctx, p)
	if err != nil {
		return nil, err
	}
	return createGroupAnswer{GroupID: id}, nil
}

// createMembers reads create_group's MemberList. A Member_Account that
// cannot be a UserID fails the whole call with 10019, as one not imported
// does (decision G3).
func createMembers(f fields) ([]chat.MemberSpec, error) {
	const name = "MemberList"
	elems, err := boundedArray(f, name, false, parley.MaxCreateMembers, parley.ErrGroupTooManyAccounts)
	if err != nil || len(elems) == 0 {
		return nil, err
	}
	objs, err := objectsOf(name, elems, badGroupParam)
	if err != nil {
		return nil, err
	}
	members := make([]chat.MemberSpec, len(objs))
	for i, o := range objs {
		id, present, err := o.string("Member_Account", badGroupParam)
		if err != nil {
			return nil, err
		}
		if !present {
			return nil, parley.Errorf(badGroupParam, "%s[%d].Member_Account is required", name, i)
		}
		if chat.ValidateUserID(id) != nil {
			return nil, parley.Errorf(parley.ErrGroupUserNotExist, "%s[%d].Member_Account %q is not a valid UserID", name, i, id)
		}
		role, _, err := o.string("Role", badGroupParam)
		if err != nil {
			return nil, err
		}
		data, err := appDefinedData(o, "AppMemberDefinedData")
		if err != nil {
			return nil, err
		}
		members[i] = chat.MemberSpec{UserID: id, Role: role, AppMemberDefinedData: data}
	}
	return members, nil
}

// groupView says which fields of a get_group_info answer each group
// carries.
type groupView struct {
	base       fieldSet // nil: every base field
	appData    bool     // AppDefinedData
	appKeys    fieldSet // nil: every key
	members    bool     // MemberList
	memberView memberView
}

type memberView struct {
	fields  fieldSet // nil: every field
	appData bool     // AppMemberDefinedData
	appKeys fieldSet // nil: every key
}

// fieldSet is a filter's names; a nil set lets everything through.
type fieldSet map[string]bool

func (s fieldSet) has(name string) bool { return s == nil || s[name] }

func newFieldSet(names []string) fieldSet {
	s := make(fieldSet, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}

// fullGroupView is get_group_info without a ResponseFilter: everything.
func fullGroupView() groupView {
	return groupView{appData: true, members: true, memberView: memberView{appData: true}}
}

// groupInfoView reads get_group_info's ResponseFilter. Tencent pulls only
// what the filters name once one is given: without GroupBaseInfoFilter no
// base field, without a member filter no MemberList. The custom-data
// filters name keys; "AppDefinedData" among the base fields (or
// "AppMemberDefinedData" among the member fields) asks for every key.
func groupInfoView(f fields) (groupView, error) {
	filter, present, err := f.object("ResponseFilter", badGroupParam)
	if err != nil || !present {
		return fullGroupView(), err
	}
	lists := map[string][]string{}
	for _, name := range []string{"GroupBaseInfoFilter", "MemberInfoFilter", "AppDefinedDataFilter_Group", "AppDefinedDataFilter_GroupMember"} {
		names, present, err := filter.stringArray(name, badGroupParam)
		if err != nil {
			return groupView{}, err
		}
		if present {
			lists[name] = names
		}
	}
	v := groupView{base: newFieldSet(lists["GroupBaseInfoFilter"])}
	if keys, ok := lists["AppDefinedDataFilter_Group"]; ok {
		v.appData, v.appKeys = true, newFieldSet(keys)
	} else {
		v.appData = v.base["AppDefinedData"]
	}
	memberNames, byInfo := lists["MemberInfoFilter"]
	memberKeys, byKeys := lists["AppDefinedDataFilter_GroupMember"]
	v.members = byInfo || byKeys
	v.memberView = memberView{fields: newFieldSet(memberNames)}
	if byKeys {
		v.memberView.appData, v.memberView.appKeys = true, newFieldSet(memberKeys)
	} else {
		v.memberView.appData = v.memberView.fields["AppMemberDefinedData"]
	}
	return v, nil
}

// memberInfoView reads get_group_member_info's filters: without any, every
// field; with MemberInfoFilter, the fields it names (Member_Account always).
func memberInfoView(f fields) (memberView, error) {
	names, byInfo, err := f.stringArray("MemberInfoFilter", badGroupParam)
	if err != nil {
		return memberView{}, err
	}
	keys, byKeys, err := f.stringArray("AppDefinedDataFilter_GroupMember", badGroupParam)
	if err != nil {
		return memberView{}, err
	}
	var v memberView
	if byInfo {
		v.fields = newFieldSet(names)
	}
	if byKeys {
		v.appData, v.appKeys = true, newFieldSet(keys)
	} else {
		v.appData = v.fields.has("AppMemberDefinedData")
	}
	return v, nil
}

// The answers of get_group_info and get_group_member_info. A field not
// asked for is a nil pointer and left out; one asked for is written even
// when zero, as Tencent does.
type groupInfoItem struct {
	GroupID          string            `json:"GroupId"`
	ErrorCode        int               `json:"ErrorCode"`
	ErrorInfo        string            `json:"ErrorInfo"`
	Type             *string           `json:"Type,omitempty"`
	Name             *string           `json:"Name,omitempty"`
	Appid            *uint64           `json:"Appid,omitempty"`
	Introduction     *string           `json:"Introduction,omitempty"`
	Notification     *string           `json:"Notification,omitempty"`
	FaceURL          *string           `json:"FaceUrl,omitempty"`
	OwnerAccount     *string           `json:"Owner_Account,omitempty"`
	CreateTime       *int64            `json:"CreateTime,omitempty"`
	LastInfoTime     *int64            `json:"LastInfoTime,omitempty"`
	LastMsgTime      *int64            `json:"LastMsgTime,omitempty"`
	NextMsgSeq       *uint64           `json:"NextMsgSeq,omitempty"`
	MemberNum        *int              `json:"MemberNum,omitempty"`
	MaxMemberNum     *int              `json:"MaxMemberNum,omitempty"`
	ApplyJoinOption  *string           `json:"ApplyJoinOption,omitempty"`
	InviteJoinOption *string           `json:"InviteJoinOption,omitempty"`
	ShutUpAllMember  *string           `json:"ShutUpAllMember,omitempty"`
	AppDefinedData   *[]appDefinedItem `json:"AppDefinedData,omitempty"`
	MemberList       *[]memberItem     `json:"MemberList,omitempty"`
}

type appDefinedItem struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type memberItem struct {
	MemberAccount        string            `json:"Member_Account"`
	Role                 *string           `json:"Role,omitempty"`
	JoinTime             *int64            `json:"JoinTime,omitempty"`
	MsgSeq               *uint64           `json:"MsgSeq,omitempty"`
	MsgFlag              *string           `json:"MsgFlag,omitempty"`
	LastSendMsgTime      *int64            `json:"LastSendMsgTime,omitempty"`
	ShutUpUntil          *int64            `json:"ShutUpUntil,omitempty"`
	NameCard             *string           `json:"NameCard,omitempty"`
	AppMemberDefinedData *[]appDefinedItem `json:"AppMemberDefinedData,omitempty"`
}

type groupInfoAnswer struct {
	GroupInfo []groupInfoItem `json:"GroupInfo"`
}

type memberInfoAnswer struct {
	MemberNum  int          `json:"MemberNum"`
	MemberList []memberItem `json:"MemberList"`
}

// pick returns &v when the view asks for the field, else nil.
func pick[T any](s fieldSet, name string, v T) *T {
	if !s.has(name) {
		return nil
	}
	return &v
}

func appItems(data []parley.AppDefinedItem, keys fieldSet) *[]appDefinedItem {
	out := make([]appDefinedItem, 0, len(data))
	for _, it := range data {
		if keys.has(it.Key) {
			out = append(out, appDefinedItem{Key: it.Key, Value: it.Value})
		}
	}
	return &out
}

func (v memberView) item(m *parley.GroupMember) memberItem {
	out := memberItem{
		MemberAccount:   m.UserID,
		Role:            pick(v.fields, "Role", m.Role),
		JoinTime:        pick(v.fields, "JoinTime", m.JoinTime),
		MsgSeq:          pick(v.fields, "MsgSeq", m.ReadMsgSeq),
		MsgFlag:         pick(v.fields, "MsgFlag", m.MsgFlag),
		LastSendMsgTime: pick(v.fields, "LastSendMsgTime", m.LastSendMsgTime),
		ShutUpUntil:     pick(v.fields, "ShutUpUntil", m.ShutUpUntil),
		NameCard:        pick(v.fields, "NameCard", m.NameCard),
	}
	if v.appData {
		out.AppMemberDefinedData = appItems(m.AppMemberDefinedData, v.appKeys)
	}
	return out
}

func (v memberView) items(ms []*parley.GroupMember) []memberItem {
	out := make([]memberItem, 0, len(ms))
	for _, m := range ms {
		if m != nil {
			out = append(out, v.item(m))
		}
	}
	return out
}

func (v groupView) item(info chat.GroupInfo, appID uint64) groupInfoItem {
	out := groupInfoItem{GroupID: info.GroupID, ErrorCode: info.Code, ErrorInfo: resultInfo(info.Code, info.Info)}
	g := info.Group
	if info.Code != 0 || g == nil {
		if out.ErrorCode == 0 {
			// A success without its group is the engine's bug; the caller
			// still gets an item per GroupId and a reason.
			out.ErrorCode, out.ErrorInfo = parley.ErrGroupInternal, parley.ErrorText(parley.ErrGroupInternal)
		}
		return out
	}
	shutUp := "Off"
	if g.ShutUpAll {
		shutUp = "On"
	}
	b := v.base
	out.Type = pick(b, "Type", g.Type)
	out.Name = pick(b, "Name", g.Name)
	out.Appid = pick(b, "Appid", appID)
	out.Introduction = pick(b, "Introduction", g.Introduction)
	out.Notification = pick(b, "Notification", g.Notification)
	out.FaceURL = pick(b, "FaceUrl", g.FaceURL)
	out.OwnerAccount = pick(b, "Owner_Account", g.Owner)
	out.CreateTime = pick(b, "CreateTime", g.CreateTime)
	out.LastInfoTime = pick(b, "LastInfoTime", g.LastInfoTime)
	out.LastMsgTime = pick(b, "LastMsgTime", g.LastMsgTime)
	out.NextMsgSeq = pick(b, "NextMsgSeq", g.NextMsgSeq)
	out.MemberNum = pick(b, "MemberNum", g.MemberCount)
	out.MaxMemberNum = pick(b, "MaxMemberNum", g.MaxMemberCount)
	out.ApplyJoinOption = pick(b, "ApplyJoinOption", g.ApplyJoinOption)
	if g.InviteJoinOption != "" {
		// Tencent's samples have no InviteJoinOption for a group that
		// never set one.
		out.InviteJoinOption = pick(b, "InviteJoinOption", g.InviteJoinOption)
	}
	out.ShutUpAllMember = pick(b, "ShutUpAllMember", shutUp)
	if v.appData {
		out.AppDefinedData = appItems(g.AppDefinedData, v.appKeys)
	}
	if v.members {
		list := v.memberView.items(info.Members)
		out.MemberList = &list
	}
	return out
}

func (h *Handler) getGroupInfo(c *call) (any, error) {
	const name = "GroupIdList"
	elems, err := boundedArray(c.f, name, true, chat.MaxGroupInfoIDs, parley.ErrGroupTooManyAccounts)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(elems))
	for i, e := range elems {
		id, ok := jsonString(e)
		if !ok {
			return nil, parley.Errorf(badGroupParam, "%s[%d] must be a string", name, i)
		}
		ids[i] = id
	}
	view, err := groupInfoView(c.f)
	if err != nil {
		return nil, err
	}
	// A malformed id is one item's 10015, not the call's: the engine
	// answers every id, in order.
	infos, err := h.engine.GetGroupInfo(c.ctx, ids)
	if err != nil {
		return nil, err
	}
	answer := groupInfoAnswer{GroupInfo: make([]groupInfoItem, 0, len(infos))}
	for _, info := range infos {
		answer.GroupInfo = append(answer.GroupInfo, view.item(info, h.sdkAppID))
	}
	return answer, nil
}

type memberResultItem struct {
	MemberAccount string `json:"Member_Account"`
	Result        int    `json:"Result"`
}

type addMembersAnswer struct {
	MemberList []memberResultItem `json:"MemberList"`
}

// addGroupMember passes every Member_Account on: one that cannot be a
// UserID gets Result 0 from the engine, like one not imported (G4).
func (h *Handler) addGroupMember(c *call) (any, error) {
	id, err := groupID(c.f, badGroupParam)
	if err != nil {
		return nil, err
	}
	silence, err := c.f.flag("Silence", badGroupParam)
	if err != nil {
		return nil, err
	}
	const name = "MemberList"
	elems, err := boundedArray(c.f, name, true, parley.MaxAddMembers, parley.ErrGroupTooManyAccounts)
	if err != nil {
		return nil, err
	}
	objs, err := objectsOf(name, elems, badGroupParam)
	if err != nil {
		return nil, err
	}
	users, err := requiredEach(objs, name, "Member_Account", badGroupParam, fields.string)
	if err != nil {
		return nil, err
	}
	results, err := h.engine.AddGroupMembers(c.ctx, chat.AddMembersParams{GroupID: id, UserIDs: users, Silence: silence})
	if err != nil {
		return nil, err
	}
	answer := addMembersAnswer{MemberList: make([]memberResultItem, 0, len(results))}
	for _, r := range results {
		answer.MemberList = append(answer.MemberList, memberResultItem{MemberAccount: r.UserID, Result: r.Result})
	}
	return answer, nil
}

func (h *Handler) deleteGroupMember(c *call) (any, error) {
	id, err := groupID(c.f, badGroupParam)
	if err != nil {
		return nil, err
	}
	silence, err := c.f.flag("Silence", badGroupParam)
	if err != nil {
		return nil, err
	}
	reason, _, err := c.f.string("Reason", badGroupParam)
	if err != nil {
		return nil, err
	}
	const name = "MemberToDel_Account"
	elems, err := boundedArray(c.f, name, true, parley.MaxDeleteMembers, parley.ErrGroupTooManyAccounts)
	if err != nil {
		return nil, err
	}
	users := make([]string, len(elems))
	for i, e := range elems {
		user, ok := jsonString(e)
		if !ok {
			return nil, parley.Errorf(badGroupParam, "%s[%d] must be a string", name, i)
		}
		users[i] = user
	}
	return nil, h.engine.DeleteGroupMembers(c.ctx, chat.DeleteMembersParams{GroupID: id, UserIDs: users, Silence: silence, Reason: reason})
}

// getGroupMemberInfo pages with Limit and Offset. MemberRoleFilter is
// refused rather than ignored: an answer listing every member to a caller
// who asked for the owners would be wrong without saying so.
func (h *Handler) getGroupMemberInfo(c *call) (any, error) {
	id, err := groupID(c.f, badGroupParam)
	if err != nil {
		return nil, err
	}
	var page [2]int64
	for i, name := range []string{"Limit", "Offset"} {
		n, _, err := c.f.int(name, badGroupParam)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, parley.Errorf(badGroupParam, "%s must not be negative", name)
		}
		page[i] = n
	}
	if page[0] > chat.MaxGroupMembersPage {
		return nil, parley.Errorf(badGroupParam, "Limit must be 0 (all) to %d, got %d", chat.MaxGroupMembersPage, page[0])
	}
	roles, _, err := c.f.stringArray("MemberRoleFilter", badGroupParam)
	if err != nil {
		return nil, err
	}
	if len(roles) > 0 {
		return nil, parley.Errorf(badGroupParam, "MemberRoleFilter is not supported")
	}
	view, err := memberInfoView(c.f)
	if err != nil {
		return nil, err
	}
	res, err := h.engine.GetGroupMembers(c.ctx, chat.GetMembersParams{GroupID: id, Limit: clampInt(page[0]), Offset: clampInt(page[1])})
	if err != nil {
		return nil, err
	}
	return memberInfoAnswer{MemberNum: res.MemberNum, MemberList: view.items(res.Members)}, nil
}

func (h *Handler) destroyGroup(c *call) (any, error) {
	id, err := groupID(c.f, badGroupParam)
	if err != nil {
		return nil, err
	}
	return nil, h.engine.DestroyGroup(c.ctx, id)
}

// decodeSendGroup reads send_group_msg. A field of the wrong type is 10004,
// a sender that cannot be a UserID 10019 (as one not imported); MsgBody's
// elements and MsgPriority's value are the engine's to check.
func decodeSendGroup(f fields) (p chat.SendGroupParams, err error) {
	if p.GroupID, err = groupID(f, badGroupParam); err != nil {
		return p, err
	}
	if p.From, err = groupAccount(f, "From_Account"); err != nil {
		return p, err
	}
	random, present, err := f.uint32("Random", badGroupParam)
	if err != nil {
		return p, err
	}
	if !present {
		return p, parley.Errorf(badGroupParam, "Random is required")
	}
	p.Random = random
	if p.Priority, _, err = f.string("MsgPriority", badGroupParam); err != nil {
		return p, err
	}
	body, present := f.raw("MsgBody")
	if !present {
		return p, parley.Errorf(badGroupParam, "MsgBody is required")
	}
	if body[0] != '[' {
		return p, parley.Errorf(badGroupParam, "MsgBody must be an array")
	}
	p.Body = body
	if p.CloudCustomData, _, err = f.string("CloudCustomData", badGroupParam); err != nil {
		return p, err
	}
	for _, fl := range []struct {
		name string
		dst  *bool
	}{
		{"OnlineOnlyFlag", &p.OnlineOnly},
		{"SupportMessageExtension", &p.SupportExtension},
		{"NeedReadReceipt", &p.NeedReadReceipt},
	} {
		if *fl.dst, err = f.flag(fl.name, badGroupParam); err != nil {
			return p, err
		}
	}
	if p.To, err = targetedRecipients(f); err != nil {
		return p, err
	}
	if p.TopicID, _, err = f.string("TopicId", badGroupParam); err != nil {
		return p, err
	}
	if p.AtInfo, err = groupAtInfo(f); err != nil {
		return p, err
	}
	controls, _, err := f.stringArray("SendMsgControl", badGroupParam)
	if err != nil {
		return p, err
	}
	for _, ctl := range controls {
		switch ctl {
		case "NoUnread":
			p.NoUnread = true
		case "NoLastMsg":
			p.NoLastMsg = true
		default:
			return p, parley.Errorf(badGroupParam, "SendMsgControl: unknown value %q", ctl)
		}
	}
	forbid, _, err := f.stringArray("ForbidCallbackControl", badGroupParam)
	if err != nil {
		return p, err
	}
	for _, v := range forbid {
		switch v {
		case parley.ForbidBeforeSendCallback:
			p.ForbidBeforeCallback = true
		case parley.ForbidAfterSendCallback:
			p.ForbidAfterCallback = true
		default:
			return p, parley.Errorf(badGroupParam, "ForbidCallbackControl: unknown value %q", v)
		}
	}
	// OfflinePushInfo is accepted and ignored: parley has no push.
	if _, _, err := f.object("OfflinePushInfo", badGroupParam); err != nil {
		return p, err
	}
	return p, nil
}

// targetedRecipients reads To_Account: at most 50 UserIDs. One that cannot
// be a UserID cannot be a member either, which is 10004 (decision G8).
func targetedRecipients(f fields) ([]string, error) {
	to, present, err := f.stringArray("To_Account", badGroupParam)
	if err != nil || !present {
		return nil, err
	}
	if len(to) > parley.MaxTargetedRecipients {
		return nil, parley.Errorf(badGroupParam, "To_Account has %d recipients; at most %d are allowed", len(to), parley.MaxTargetedRecipients)
	}
	for i, id := range to {
		if chat.ValidateUserID(id) != nil {
			return nil, parley.Errorf(badGroupParam, "To_Account[%d] %q is not a valid UserID", i, id)
		}
	}
	return to, nil
}

// groupAtInfo checks GroupAtInfo's shape, [{GroupAtAllFlag, GroupAt_Account}],
// and passes the array on as given.
func groupAtInfo(f fields) (json.RawMessage, error) {
	const name = "GroupAtInfo"
	elems, present, err := f.array(name, badGroupParam)
	if err != nil || !present {
		return nil, err
	}
	objs, err := objectsOf(name, elems, badGroupParam)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if _, err := o.flag("GroupAtAllFlag", badGroupParam); err != nil {
			return nil, err
		}
		if _, _, err := o.string("GroupAt_Account", badGroupParam); err != nil {
			return nil, err
		}
	}
	raw, _ := f.raw(name)
	return raw, nil
}

type sendGroupMsgAnswer struct {
	MsgTime       int64
	MsgSeq        uint64
	MsgDropReason string
}

// appendMembers writes what encoding/json writes for
// {MsgTime, MsgSeq, MsgDropReason,omitempty}, by hand: it is every
// send_group_msg's answer.
func (a sendGroupMsgAnswer) appendMembers(dst []byte) []byte {
	dst = append(dst, `,"MsgTime":`...)
	dst = strconv.AppendInt(dst, a.MsgTime, 10)
	dst = append(dst, `,"MsgSeq":`...)
	dst = strconv.AppendUint(dst, a.MsgSeq, 10)
	if a.MsgDropReason != "" {
		dst = append(dst, `,"MsgDropReason":`...)
		dst, _ = appendJSON(dst, a.MsgDropReason) // a string always encodes
	}
	return dst
}

func (h *Handler) sendGroupMsg(c *call) (any, error) {
	p, err := decodeSendGroup(c.f)
	if err != nil {
		return nil, err
	}
	p.Origin = c.origin
	// A before-send callback's custom code (10100-10200) comes back as a
	// *parley.Error and is passed through by answerFor.
	res, err := h.engine.SendGroup(c.ctx, p)
	if err != nil {
		return nil, err
	}
	return sendGroupMsgAnswer{MsgTime: res.MsgTime, MsgSeq: res.MsgSeq, MsgDropReason: res.MsgDropReason}, nil
}

type recallRetItem struct {
	MsgSeq  uint64 `json:"MsgSeq"`
	RetCode int    `json:"RetCode"`
}

type groupRecallAnswer struct {
	RecallRetList []recallRetItem `json:"RecallRetList"`
}

func (h *Handler) groupMsgRecall(c *call) (any, error) {
	p, err := decodeGroupRecall(c.f)
	if err != nil {
		return nil, err
	}
	p.Origin = c.origin
	results, err := h.engine.RecallGroup(c.ctx, p)
	if err != nil {
		return nil, err
	}
	return groupRecallAnswerOf(results), nil
}

// decodeGroupRecall reads group_msg_recall (and a client's recall_group).
func decodeGroupRecall(f fields) (chat.RecallGroupParams, error) {
	id, err := groupID(f, badGroupParam)
	if err != nil {
		return chat.RecallGroupParams{}, err
	}
	const name = "MsgSeqList"
	elems, err := boundedArray(f, name, true, parley.MaxRecallSeqs, badGroupParam)
	if err != nil {
		return chat.RecallGroupParams{}, err
	}
	objs, err := objectsOf(name, elems, badGroupParam)
	if err != nil {
		return chat.RecallGroupParams{}, err
	}
	seqs, err := requiredEach(objs, name, "MsgSeq", badGroupParam, fields.uint64)
	if err != nil {
		return chat.RecallGroupParams{}, err
	}
	reason, _, err := f.string("Reason", badGroupParam)
	if err != nil {
		return chat.RecallGroupParams{}, err
	}
	if len(reason) > maxRecallReasonBytes {
		return chat.RecallGroupParams{}, parley.Errorf(badGroupParam, "Reason is %d bytes; at most %d are allowed", len(reason), maxRecallReasonBytes)
	}
	topic, _, err := f.string("TopicId", badGroupParam)
	if err != nil {
		return chat.RecallGroupParams{}, err
	}
	return chat.RecallGroupParams{GroupID: id, MsgSeqs: seqs, Reason: reason, TopicID: topic}, nil
}

func groupRecallAnswerOf(results []chat.RecallResult) groupRecallAnswer {
	answer := groupRecallAnswer{RecallRetList: make([]recallRetItem, 0, len(results))}
	for _, r := range results {
		answer.RecallRetList = append(answer.RecallRetList, recallRetItem{MsgSeq: r.MsgSeq, RetCode: r.Code})
	}
	return answer
}

// priorityNumber is MsgPriority as group_msg_get_simple answers it: a
// number, where send_group_msg takes a name. Tencent documents no mapping;
// this is the order of the client SDKs' priority enum (High 0, Normal 1,
// Low 2, Lowest 3), under which Tencent's sample, everyday messages with
// 1, reads as Normal.
func priorityNumber(p string) int {
	switch p {
	case "High":
		return 0
	case "Low":
		return 2
	case "Lowest":
		return 3
	}
	return 1
}

// IsPlaceMsg of a recalled message kept in its place (WithRecalledMsg 1).
const placeRecalled = 2

type groupHistoryMsg struct {
	FromAccount     string          `json:"From_Account"`
	IsPlaceMsg      int             `json:"IsPlaceMsg"`
	IsSystemMsg     int             `json:"IsSystemMsg"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	MsgPriority     int             `json:"MsgPriority"`
	MsgRandom       uint32          `json:"MsgRandom"`
	MsgSeq          uint64          `json:"MsgSeq"`
	MsgTimeStamp    int64           `json:"MsgTimeStamp"`
	CloudCustomData string          `json:"CloudCustomData,omitempty"`
}

type groupHistoryAnswer struct {
	GroupID    string            `json:"GroupId"`
	IsFinished int               `json:"IsFinished"`
	RspMsgList []groupHistoryMsg `json:"RspMsgList"`
}

func (h *Handler) groupMsgGetSimple(c *call) (any, error) {
	p, err := decodeGroupHistory(c.f)
	if err != nil {
		return nil, err
	}
	res, err := h.engine.GroupHistory(c.ctx, p)
	if err != nil {
		return nil, err
	}
	return groupHistoryAnswerOf(p.GroupID, res), nil
}

// decodeGroupHistory reads group_msg_get_simple (and a client's
// history_group).
func decodeGroupHistory(f fields) (chat.GroupHistoryParams, error) {
	id, err := groupID(f, badGroupParam)
	if err != nil {
		return chat.GroupHistoryParams{}, err
	}
	number, present, err := f.int("ReqMsgNumber", badGroupParam)
	if err != nil {
		return chat.GroupHistoryParams{}, err
	}
	if !present {
		return chat.GroupHistoryParams{}, parley.Errorf(badGroupParam, "ReqMsgNumber is required")
	}
	if number < 1 || number > parley.MaxGetSimpleMsgs {
		return chat.GroupHistoryParams{}, parley.Errorf(badGroupParam, "ReqMsgNumber must be 1 to %d, got %d", parley.MaxGetSimpleMsgs, number)
	}
	maxSeq, _, err := f.uint64("ReqMsgSeq", badGroupParam)
	if err != nil {
		return chat.GroupHistoryParams{}, err
	}
	withRecalled, err := f.flag("WithRecalledMsg", badGroupParam)
	if err != nil {
		return chat.GroupHistoryParams{}, err
	}
	if _, _, err := f.string("TopicId", badGroupParam); err != nil {
		return chat.GroupHistoryParams{}, err
	}
	return chat.GroupHistoryParams{GroupID: id, MaxSeq: maxSeq, Number: int(number), WithRecalled: withRecalled}, nil
}

func groupHistoryAnswerOf(id string, res chat.GroupHistoryResult) groupHistoryAnswer {
	answer := groupHistoryAnswer{GroupID: id, IsFinished: res.IsFinished, RspMsgList: make([]groupHistoryMsg, 0, len(res.Messages))}
	for _, m := range res.Messages {
		if m == nil {
			continue
		}
		out := groupHistoryMsg{
			FromAccount:     m.From,
			MsgBody:         m.Body,
			MsgPriority:     priorityNumber(m.Priority),
			MsgRandom:       m.Random,
			MsgSeq:          m.MsgSeq,
			MsgTimeStamp:    m.MsgTime,
			CloudCustomData: m.CloudCustomData,
		}
		if m.IsSystem {
			out.IsSystemMsg = 1
		}
		if m.Recalled {
			// A recalled message keeps its place but not its content.
			out.IsPlaceMsg = placeRecalled
			out.MsgBody = nil
			out.CloudCustomData = ""
		}
		if len(out.MsgBody) == 0 {
			out.MsgBody = json.RawMessage("[]")
		}
		answer.RspMsgList = append(answer.RspMsgList, out)
	}
	return answer
}
