package restapi

import (
	"encoding/json"
	"strconv"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

const (
	// maxBatchTargets bounds batchsendmsg's To_Account.
	maxBatchTargets = 500
	// maxUnreadPeers bounds get_c2c_unread_msg_num's Peer_Account.
	maxUnreadPeers = 10
)

// account reads a UserID field whose absence, wrong type or invalid format
// all answer code (90003 for To_Account, 90008 for From_Account, ...). An
// optional one sent as "" counts as absent: SDKs whose string fields are
// not optional send that for "not set".
func account(f fields, name string, code int, required bool) (string, error) {
	id, present, err := f.string(name, code)
	if err != nil {
		return "", err
	}
	if !present || (id == "" && !required) {
		if required {
			return "", parley.Errorf(code, "%s is required", name)
		}
		return "", nil
	}
	if chat.ValidateUserID(id) != nil {
		return "", parley.Errorf(code, "%s %q is not a valid UserID", name, id)
	}
	return id, nil
}

// accountEither reads the current field name, or the older one when the
// current is absent (admin_getroammsg's Operator_Account/From_Account).
func accountEither(f fields, name, legacy string, code int) (string, error) {
	if _, present := f.raw(name); present {
		return account(f, name, code, true)
	}
	if _, present := f.raw(legacy); present {
		return account(f, legacy, code, true)
	}
	return "", parley.Errorf(code, "%s is required", name)
}

// message is what sendmsg and batchsendmsg share.
type message struct {
	from             string
	seq              *uint32
	random           uint32
	body             json.RawMessage
	cloudCustomData  string
	lifeTime         *int
	syncOtherMachine int
	noUnread         bool
	noLastMsg        bool
	withMute         bool
	needReadReceipt  bool
	supportExtension bool
}

// decodeMessage reads the fields sendmsg and batchsendmsg share, each
// answering its own Tencent code.
func decodeMessage(f fields) (m message, err error) {
	if m.from, err = account(f, "From_Account", parley.ErrFromAccountInvalid, false); err != nil {
		return m, err
	}

	random, present, err := f.uint32("MsgRandom", parley.ErrMsgRandomInvalid)
	if err != nil {
		return m, err
	}
	if !present {
		return m, parley.Errorf(parley.ErrMsgRandomInvalid, "MsgRandom is required")
	}
	m.random = random

	seq, present, err := f.uint32("MsgSeq", parley.ErrFormat)
	if err != nil {
		return m, err
	}
	if present {
		m.seq = &seq
	}

	// The elements are the engine's to check (chat.ValidateMsgBody); the
	// REST layer only needs the array.
	body, present := f.raw("MsgBody")
	if !present {
		return m, parley.Errorf(parley.ErrMsgBodyNotArray, "MsgBody is required")
	}
	if body[0] != '[' {
		return m, parley.Errorf(parley.ErrMsgBodyNotArray, "MsgBody must be an array")
	}
	m.body = body

	syncMode, present, err := f.int("SyncOtherMachine", parley.ErrSyncOtherMachineInvalid)
	if err != nil {
		return m, err
	}
	// 0 is what SDKs with non-optional integer fields send for "not set",
	// so it means the default rather than an error.
	if present && syncMode != parley.SyncDefault && syncMode != parley.SyncToSender && syncMode != parley.SyncNotToSender {
		return m, parley.Errorf(parley.ErrSyncOtherMachineInvalid, "SyncOtherMachine must be 1 or 2")
	}
	m.syncOtherMachine = int(syncMode)

	lifeTime, present, err := f.int("MsgLifeTime", parley.ErrMsgLifeTimeInvalid)
	if err != nil {
		return m, err
	}
	if present {
		if lifeTime < 0 {
			return m, parley.Errorf(parley.ErrMsgLifeTimeInvalid, "MsgLifeTime must not be negative")
		}
		lt := clampInt(lifeTime)
		m.lifeTime = &lt
	}

	// MsgTimeStamp is accepted and ignored: MsgTime is the server's time
	// (decision 9.6). Its type is still Tencent's to check.
	if _, _, err := f.int("MsgTimeStamp", parley.ErrMsgTimeStampInvalid); err != nil {
		return m, err
	}

	if m.cloudCustomData, _, err = f.string("CloudCustomData", parley.ErrFormat); err != nil {
		return m, err
	}

	controls, _, err := f.stringArray("SendMsgControl", parley.ErrFormat)
	if err != nil {
		return m, err
	}
	for _, c := range controls {
		switch c {
		case "NoUnread":
			m.noUnread = true
		case "NoLastMsg":
			m.noLastMsg = true
		case "WithMuteNotifications":
			m.withMute = true
		default:
			return m, parley.Errorf(parley.ErrFormat, "SendMsgControl: unknown value %q", c)
		}
	}

	if m.needReadReceipt, err = f.flag("IsNeedReadReceipt", parley.ErrFormat); err != nil {
		return m, err
	}
	if m.supportExtension, err = f.flag("SupportMessageExtension", parley.ErrFormat); err != nil {
		return m, err
	}

	// OfflinePushInfo is accepted and ignored: parley has no push.
	if _, _, err := f.object("OfflinePushInfo", parley.ErrOfflinePushInfo); err != nil {
		return m, err
	}
	return m, nil
}

type sendMsgAnswer struct {
	MsgTime int64  `json:"MsgTime"`
	MsgKey  string `json:"MsgKey"`
	MsgID   string `json:"MsgId"`
}

// appendMembers writes what encoding/json writes for a, by hand: it is
// every sendmsg's answer.
func (a sendMsgAnswer) appendMembers(dst []byte) []byte {
	dst = append(dst, `,"MsgTime":`...)
	dst = strconv.AppendInt(dst, a.MsgTime, 10)
	dst = append(dst, `,"MsgKey":`...)
	dst, _ = appendJSON(dst, a.MsgKey) // a string always encodes
	dst = append(dst, `,"MsgId":`...)
	dst, _ = appendJSON(dst, a.MsgID)
	return dst
}

func (h *Handler) sendMsg(c *call) (any, error) {
	p, err := decodeSendMsg(c.f)
	if err != nil {
		return nil, err
	}
	p.Origin = c.origin
	// A before-send callback's custom code (120001-130000) comes back as a
	// *parley.Error and is passed through, code and text, by answerFor.
	res, err := h.engine.SendC2C(c.ctx, p)
	if err != nil {
		return nil, err
	}
	return sendMsgAnswer{MsgTime: res.MsgTime, MsgKey: res.MsgKey, MsgID: res.MsgID}, nil
}

// decodeSendMsg reads sendmsg (and a client's send_c2c).
func decodeSendMsg(f fields) (chat.SendParams, error) {
	to, err := account(f, "To_Account", parley.ErrToAccountInvalid, true)
	if err != nil {
		return chat.SendParams{}, err
	}
	m, err := decodeMessage(f)
	if err != nil {
		return chat.SendParams{}, err
	}
	onlineOnly, err := f.flag("OnlineOnlyFlag", parley.ErrFormat)
	if err != nil {
		return chat.SendParams{}, err
	}
	p := chat.SendParams{
		From:                  m.from,
		To:                    to,
		MsgSeq:                m.seq,
		MsgRandom:             m.random,
		Body:                  m.body,
		CloudCustomData:       m.cloudCustomData,
		LifeTime:              m.lifeTime,
		SyncOtherMachine:      m.syncOtherMachine,
		OnlineOnly:            onlineOnly,
		NoUnread:              m.noUnread,
		NoLastMsg:             m.noLastMsg,
		WithMuteNotifications: m.withMute,
		SupportExtension:      m.supportExtension,
		NeedReadReceipt:       m.needReadReceipt,
	}
	forbid, _, err := f.stringArray("ForbidCallbackControl", parley.ErrFormat)
	if err != nil {
		return chat.SendParams{}, err
	}
	for _, v := range forbid {
		switch v {
		case parley.ForbidBeforeSendCallback:
			p.ForbidBeforeCallback = true
		case parley.ForbidAfterSendCallback:
			p.ForbidAfterCallback = true
		default:
			return chat.SendParams{}, parley.Errorf(parley.ErrFormat, "ForbidCallbackControl: unknown value %q", v)
		}
	}
	return p, nil
}

type batchError struct {
	ToAccount string `json:"To_Account"`
	ErrorCode int    `json:"ErrorCode"`
}

type batchSendMsgAnswer struct {
	MsgKey    string       `json:"MsgKey"`
	MsgID     string       `json:"MsgId"`
	ErrorList []batchError `json:"ErrorList"`
}

func (h *Handler) batchSendMsg(c *call) (any, error) {
	elems, present, err := c.f.array("To_Account", parley.ErrBatchToNotArray)
	if err != nil {
		return nil, err
	}
	switch {
	case !present:
		return nil, parley.Errorf(parley.ErrBatchToNotArray, "To_Account is required and must be an array")
	case len(elems) == 0:
		return nil, parley.NewError(parley.ErrBatchToEmpty)
	case len(elems) > maxBatchTargets:
		return nil, parley.Errorf(parley.ErrTooManyTargets, "To_Account has %d recipients; at most %d are allowed", len(elems), maxBatchTargets)
	}
	to := make([]string, len(elems))
	for i, e := range elems {
		id, ok := jsonString(e)
		if !ok {
			return nil, parley.Errorf(parley.ErrBatchToNotArray, "To_Account[%d] must be a string", i)
		}
		to[i] = id
	}
	m, err := decodeMessage(c.f)
	if err != nil {
		return nil, err
	}
	res, err := h.engine.BatchSendC2C(c.ctx, chat.BatchSendParams{
		From:             m.from,
		To:               to,
		MsgSeq:           m.seq,
		MsgRandom:        m.random,
		Body:             m.body,
		CloudCustomData:  m.cloudCustomData,
		LifeTime:         m.lifeTime,
		SyncOtherMachine: m.syncOtherMachine,
		NoUnread:         m.noUnread,
		NoLastMsg:        m.noLastMsg,
		NeedReadReceipt:  m.needReadReceipt,
		SupportExtension: m.supportExtension,
	})
	if err != nil {
		return nil, err
	}
	answer := batchSendMsgAnswer{MsgKey: res.MsgKey, MsgID: res.MsgID, ErrorList: make([]batchError, 0, len(res.Errors))}
	for _, e := range res.Errors {
		answer.ErrorList = append(answer.ErrorList, batchError{ToAccount: e.To, ErrorCode: e.Code})
	}
	return answer, nil
}

type roamMsg struct {
	FromAccount     string          `json:"From_Account"`
	ToAccount       string          `json:"To_Account"`
	MsgSeq          uint32          `json:"MsgSeq"`
	MsgRandom       uint32          `json:"MsgRandom"`
	MsgTimeStamp    int64           `json:"MsgTimeStamp"`
	MsgFlagBits     int             `json:"MsgFlagBits"`
	IsPeerRead      int             `json:"IsPeerRead"`
	MsgKey          string          `json:"MsgKey"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	CloudCustomData string          `json:"CloudCustomData"`
}

type roamAnswer struct {
	Complete    int       `json:"Complete"`
	MsgCnt      int       `json:"MsgCnt"`
	LastMsgTime int64     `json:"LastMsgTime"`
	LastMsgKey  string    `json:"LastMsgKey"`
	MsgList     []roamMsg `json:"MsgList"`
}

// getRoamMsg takes the current {Operator_Account, Peer_Account, ...} or the
// older {From_Account, To_Account, ...}.
func (h *Handler) getRoamMsg(c *call) (any, error) {
	operator, err := accountEither(c.f, "Operator_Account", "From_Account", parley.ErrFromAccountInvalid)
	if err != nil {
		return nil, err
	}
	peer, err := accountEither(c.f, "Peer_Account", "To_Account", parley.ErrToAccountInvalid)
	if err != nil {
		return nil, err
	}
	p, err := decodeRoam(c.f, operator, peer)
	if err != nil {
		return nil, err
	}
	res, err := h.engine.Roam(c.ctx, p)
	if err != nil {
		return nil, err
	}
	return roamAnswerOf(res), nil
}

// decodeRoam reads the page admin_getroammsg (and a client's history_c2c)
// asks for: MaxCnt, MinTime and MaxTime are required, LastMsgKey is not.
func decodeRoam(f fields, operator, peer string) (chat.RoamParams, error) {
	var nums [3]int64
	for i, name := range []string{"MaxCnt", "MinTime", "MaxTime"} {
		n, present, err := f.int(name, parley.ErrFormat)
		if err != nil {
			return chat.RoamParams{}, err
		}
		if !present {
			return chat.RoamParams{}, parley.Errorf(parley.ErrFormat, "%s is required", name)
		}
		if n < 0 {
			return chat.RoamParams{}, parley.Errorf(parley.ErrFormat, "%s must not be negative", name)
		}
		nums[i] = n
	}
	if nums[0] == 0 {
		return chat.RoamParams{}, parley.Errorf(parley.ErrFormat, "MaxCnt must be at least 1")
	}
	lastKey, _, err := f.string("LastMsgKey", parley.ErrMsgKeyInvalid)
	if err != nil {
		return chat.RoamParams{}, err
	}
	return chat.RoamParams{
		Operator:   operator,
		Peer:       peer,
		MaxCnt:     clampInt(nums[0]),
		MinTime:    nums[1],
		MaxTime:    nums[2],
		LastMsgKey: lastKey,
	}, nil
}

func roamAnswerOf(res chat.RoamResult) roamAnswer {
	answer := roamAnswer{
		LastMsgTime: res.LastMsgTime,
		LastMsgKey:  res.LastMsgKey,
		MsgList:     make([]roamMsg, 0, len(res.Messages)),
	}
	if res.Complete {
		answer.Complete = 1
	}
	for _, rm := range res.Messages {
		m := rm.Message
		if m == nil {
			continue
		}
		out := roamMsg{
			FromAccount:     m.From,
			ToAccount:       m.To,
			MsgSeq:          m.MsgSeq,
			MsgRandom:       m.MsgRandom,
			MsgTimeStamp:    m.MsgTime,
			MsgKey:          m.MsgKey,
			MsgBody:         m.Body,
			CloudCustomData: m.CloudCustomData,
		}
		if rm.IsPeerRead {
			out.IsPeerRead = 1
		}
		if m.Recalled {
			// A recalled message keeps its place in history but not its
			// content.
			out.MsgFlagBits = parley.MsgFlagRecalled
			out.MsgBody = nil
			out.CloudCustomData = ""
		}
		if len(out.MsgBody) == 0 {
			out.MsgBody = json.RawMessage("[]")
		}
		answer.MsgList = append(answer.MsgList, out)
	}
	answer.MsgCnt = len(answer.MsgList)
	return answer
}

func (h *Handler) msgWithdraw(c *call) (any, error) {
	from, err := account(c.f, "From_Account", parley.ErrFromAccountInvalid, true)
	if err != nil {
		return nil, err
	}
	to, err := account(c.f, "To_Account", parley.ErrToAccountInvalid, true)
	if err != nil {
		return nil, err
	}
	key, present, err := c.f.string("MsgKey", parley.ErrMsgKeyInvalid)
	if err != nil {
		return nil, err
	}
	if !present || key == "" {
		return nil, parley.Errorf(parley.ErrMsgKeyInvalid, "MsgKey is required")
	}
	return nil, h.engine.Recall(c.ctx, chat.RecallParams{From: from, To: to, MsgKey: key, Origin: c.origin})
}

// setMsgRead answers a bad Report_Account with 90008 and a bad
// Peer_Account with 90003, as the engine does for ones not imported, so
// each field has one code whatever is wrong with it.
func (h *Handler) setMsgRead(c *call) (any, error) {
	report, err := account(c.f, "Report_Account", parley.ErrFromAccountInvalid, true)
	if err != nil {
		return nil, err
	}
	peer, err := account(c.f, "Peer_Account", parley.ErrToAccountInvalid, true)
	if err != nil {
		return nil, err
	}
	readTime, err := msgReadTime(c.f)
	if err != nil {
		return nil, err
	}
	return nil, h.engine.SetRead(c.ctx, chat.SetReadParams{Report: report, Peer: peer, ReadTime: readTime})
}

// msgReadTime reads MsgReadTime, documented as a String of Unix seconds:
// a decimal string or a JSON integer. Absent or "" means now (0).
func msgReadTime(f fields) (int64, error) {
	const name = "MsgReadTime"
	raw, present := f.raw(name)
	if !present {
		return 0, nil
	}
	bad := parley.Errorf(parley.ErrFormat, "%s must be Unix seconds, as a decimal string or an integer", name)
	if s, ok := jsonString(raw); ok {
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, bad
		}
		return n, nil
	}
	n, ok := jsonInt(raw)
	if !ok || n < 0 {
		return 0, bad
	}
	return n, nil
}

type unreadTotalAnswer struct {
	AllC2CUnreadMsgNum int `json:"AllC2CUnreadMsgNum"`
}

type peerUnread struct {
	PeerAccount     string `json:"Peer_Account"`
	C2CUnreadMsgNum int    `json:"C2CUnreadMsgNum"`
}

type peerError struct {
	PeerAccount string `json:"Peer_Account"`
	ErrorCode   int    `json:"ErrorCode"`
}

type unreadPeersAnswer struct {
	AllC2CUnreadMsgNum  int          `json:"AllC2CUnreadMsgNum"`
	C2CUnreadMsgNumList []peerUnread `json:"C2CUnreadMsgNumList"`
	ErrorList           []peerError  `json:"ErrorList,omitempty"`
}

func (h *Handler) unreadMsgNum(c *call) (any, error) {
	to, err := account(c.f, "To_Account", parley.ErrToAccountInvalid, true)
	if err != nil {
		return nil, err
	}
	peers, _, err := c.f.stringArray("Peer_Account", parley.ErrFormat)
	if err != nil {
		return nil, err
	}
	if len(peers) > maxUnreadPeers {
		return nil, parley.Errorf(parley.ErrTooManyAccounts, "Peer_Account has %d accounts; at most %d are allowed", len(peers), maxUnreadPeers)
	}
	res, err := h.engine.Unread(c.ctx, chat.UnreadParams{To: to, Peers: peers})
	if err != nil {
		return nil, err
	}
	if len(peers) == 0 {
		return unreadTotalAnswer{AllC2CUnreadMsgNum: res.Total}, nil
	}
	answer := unreadPeersAnswer{
		AllC2CUnreadMsgNum:  res.Total,
		C2CUnreadMsgNumList: make([]peerUnread, 0, len(res.Peers)),
	}
	for _, p := range res.Peers {
		answer.C2CUnreadMsgNumList = append(answer.C2CUnreadMsgNumList, peerUnread{PeerAccount: p.Peer, C2CUnreadMsgNum: p.Unread})
	}
	for _, e := range res.Errors {
		answer.ErrorList = append(answer.ErrorList, peerError{PeerAccount: e.Peer, ErrorCode: e.Code})
	}
	return answer, nil
}
