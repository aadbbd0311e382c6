package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/parley-im/parley"
)

// Group message priorities (send_group_msg MsgPriority).
const (
	priorityHigh   = "High"
	priorityNormal = "Normal"
	priorityLow    = "Low"
	priorityLowest = "Lowest"
)

// MsgDropReasonBeforeSend is send_group_msg's MsgDropReason for a message
// the before-send callback dropped (its answer 2).
const MsgDropReasonBeforeSend = "dropped by the before-send callback"

// avChatRoomRecallWindow is how old an AVChatRoom message may be and still
// be recalled: Tencent keeps those only for members online at the time.
const avChatRoomRecallWindow = time.Hour

// SendGroup sends one group message (group_open_http_svc/send_group_msg).
//
// The steps, in order: the request is validated; the group must exist and
// the sender (default the App admin, who may send anywhere) must be
// allowed to send in it, and every targeted recipient must be a member;
// the group's rate limit takes a token; MsgTime and MsgId are assigned;
// the before-send callback may allow, rewrite, block or drop the message;
// a text matching a restricted word fails with 80001; a duplicate (same
// sender, Random and content in the last 300 s) is answered with the
// original's MsgTime and MsgSeq and nothing else happens; otherwise the
// message takes the group's next MsgSeq and it, the sender's
// LastSendMsgTime and the after-send event commit in one transaction. An
// online-only message is not stored and takes no MsgSeq, but has its
// callbacks.
//
// The sender's membership and mute are checked before the callback, so the
// app backend is never asked about a message that would be refused, and
// again in the transaction, so a member removed or muted meanwhile does not
// get a message in.
func (e *Engine) SendGroup(ctx context.Context, p SendGroupParams) (SendGroupResult, error) {
	if err := checkGroupID(p.GroupID); err != nil {
		return SendGroupResult{}, err
	}
	from := p.From
	if from == "" {
		from = e.admin
	}
	operator := p.Operator
	if operator == "" {
		operator = e.admin
	}
	switch p.Priority {
	case "", priorityHigh, priorityNormal, priorityLow, priorityLowest:
	default:
		return SendGroupResult{}, parley.Errorf(parley.ErrGroupInvalidParam, "MsgPriority %q is not High, Normal, Low or Lowest", p.Priority)
	}
	to, err := targets(p.To)
	if err != nil {
		return SendGroupResult{}, err
	}
	if len(p.AtInfo) > 0 {
		if t := bytes.TrimLeft(p.AtInfo, " \t\r\n"); len(t) == 0 || t[0] != '[' || !json.Valid(p.AtInfo) {
			return SendGroupResult{}, parley.Errorf(parley.ErrGroupInvalidParam, "GroupAtInfo is not an array")
		}
	}
	body, err := parseGroupMsgBody(p.Body)
	if err != nil {
		return SendGroupResult{}, err
	}
	if from != e.admin && ValidateUserID(from) != nil {
		return SendGroupResult{}, parley.Errorf(parley.ErrGroupUserNotExist, "From_Account %q is not a valid UserID", from)
	}

	now := e.now()
	g, err := groupIn(ctx, e.store, p.GroupID)
	if err != nil {
		return SendGroupResult{}, err
	}
	if err := e.mayPost(ctx, e.store, g, from, now); err != nil {
		return SendGroupResult{}, err
	}
	if len(to) > 0 {
		if err := targetsAreMembers(ctx, e.store, g.ID, to); err != nil {
			return SendGroupResult{}, err
		}
	}

	m := &parley.GroupMessage{
		GroupID:          g.ID,
		From:             from,
		Random:           p.Random,
		MsgTime:          now.Unix(),
		MsgID:            e.msgID(now.Unix(), p.Random),
		Priority:         p.Priority,
		Body:             body.compact,
		CloudCustomData:  p.CloudCustomData,
		BodyCRC:          body.crc(p.CloudCustomData),
		To:               to,
		AtInfo:           p.AtInfo,
		NoUnread:         p.NoUnread,
		NoLastMsg:        p.NoLastMsg,
		SupportExtension: p.SupportExtension,
		NeedReadReceipt:  p.NeedReadReceipt,
	}
	s := &groupSend{
		g:        g,
		m:        m,
		online:   p.OnlineOnly,
		operator: operator,
		topic:    p.TopicID,
		origin:   p.Origin,
		now:      now,
		dupKey: parley.GroupMessageGetDuplicateParams{
			GroupID: g.ID,
			From:    from,
			Random:  p.Random,
			BodyCRC: m.BodyCRC,
			Since:   m.MsgTime - parley.GroupDuplicateWindow,
		},
		recheck: from != e.admin,
		after:   e.enabled(parley.CommandGroupAfterSendMsg) && !p.ForbidAfterCallback,
	}
	before := e.caller != nil && e.enabled(parley.CommandGroupBeforeSendMsg) && !p.ForbidBeforeCallback

	// As in SendC2C, a duplicate is answered only by the look inside the
	// transaction; the look outside is made where it spares something: the
	// app backend a second callback, and a retry the rate limit and an
	// 80001 its original was spared by a callback's rewrite.
	precheck := true
	for {
		known := false
		if precheck && before {
			orig, err := findGroupDuplicate(ctx, e.store, s.dupKey)
			if err != nil {
				return SendGroupResult{}, err
			}
			known = orig != nil
		}
		if !known && !e.groupLimits.allow(g.ID, e.groupRate, now) {
			return SendGroupResult{}, parley.Errorf(parley.ErrGroupRateLimit, "group %q takes at most %d messages a second", g.ID, e.groupRate)
		}
		texts := body.texts
		if before && !known {
			v, err := e.beforeSendGroup(ctx, s)
			if err != nil {
				return SendGroupResult{}, err
			}
			if v.drop {
				return SendGroupResult{MsgTime: m.MsgTime, MsgDropReason: MsgDropReasonBeforeSend}, nil
			}
			if v.texts != nil {
				texts = v.texts
			}
		}
		if !known && e.isRestricted(texts) {
			if precheck && !before {
				orig, err := findGroupDuplicate(ctx, e.store, s.dupKey)
				if err != nil {
					return SendGroupResult{}, err
				}
				known = orig != nil
			}
			if !known {
				// The group after-send body has no result field to report
				// the refusal in, so no event is enqueued.
				return SendGroupResult{}, parley.NewError(parley.ErrSensitiveText)
			}
		}
		res, err := e.commitGroupSend(ctx, s, known)
		if errors.Is(err, errDuplicateGone) {
			precheck = false
			continue
		}
		return res, err
	}
}

// groupSend is one send_group_msg in flight.
type groupSend struct {
	g        *parley.Group
	m        *parley.GroupMessage
	online   bool
	operator string
	topic    string
	origin   parley.Origin
	now      time.Time
	dupKey   parley.GroupMessageGetDuplicateParams
	// recheck asks for the sender's right to post to be checked again in
	// the transaction: everyone's but the App admin's.
	recheck bool
	after   bool
}

// targets checks To_Account: at most 50 valid UserIDs, repeats dropped.
func targets(to []string) ([]string, error) {
	if len(to) == 0 {
		return nil, nil
	}
	if len(to) > parley.MaxTargetedRecipients {
		return nil, parley.Errorf(parley.ErrGroupInvalidParam, "To_Account has %d recipients, more than %d", len(to), parley.MaxTargetedRecipients)
	}
	out := make([]string, 0, len(to))
	seen := make(map[string]bool, len(to))
	for _, id := range to {
		if err := ValidateUserID(id); err != nil {
			return nil, parley.Errorf(parley.ErrGroupInvalidParam, "To_Account: %s", err.(*parley.Error).Info)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

func targetsAreMembers(ctx context.Context, q parley.Querier, groupID string, to []string) error {
	ms, err := q.GroupMemberList(ctx, parley.GroupMemberListParams{GroupID: groupID, UserIDs: to})
	if err != nil {
		return fmt.Errorf("chat: list members: %w", err)
	}
	in := make(map[string]bool, len(ms))
	for _, m := range ms {
		in[m.UserID] = true
	}
	for _, id := range to {
		if !in[id] {
			return parley.Errorf(parley.ErrGroupInvalidParam, "To_Account %q is not a member of group %q", id, groupID)
		}
	}
	return nil
}

// parseGroupMsgBody validates a MsgBody as SendC2C does, with the group
// service's code for a malformed body.
func parseGroupMsgBody(raw json.RawMessage) (*msgBody, error) {
	b, err := parseMsgBody(raw)
	var pe *parley.Error
	if errors.As(err, &pe) && pe.Code != parley.ErrMsgBodyTooLarge {
		return nil, parley.Errorf(parley.ErrGroupInvalidParam, "%s", pe.Info)
	}
	return b, err
}

// mayPost checks that from may send to g now, reading through q: the App
// admin always may; anyone else must be imported and, except in an
// AVChatRoom, a member (10019, 10007), and must not be muted, alone or
// with the whole group when not its owner or an admin (10017).
func (e *Engine) mayPost(ctx context.Context, q parley.Querier, g *parley.Group, from string, now time.Time) error {
	if from == e.admin {
		return nil
	}
	member, err := q.GroupMemberGet(ctx, g.ID, from)
	switch {
	case errors.Is(err, parley.ErrNotFound):
		member = nil
	case err != nil:
		return fmt.Errorf("chat: get member: %w", err)
	}
	if member == nil {
		// Members are imported (an account's deletion aside), so only a
		// non-member costs this read.
		found, err := q.AccountGetMany(ctx, []string{from})
		if err != nil {
			return fmt.Errorf("chat: get accounts: %w", err)
		}
		if len(found) == 0 {
			return parley.Errorf(parley.ErrGroupUserNotExist, "From_Account %q is not imported", from)
		}
		if g.Type != parley.GroupAVChatRoom {
			return parley.Errorf(parley.ErrGroupNotPermitted, "%q is not a member of group %q", from, g.ID)
		}
	}
	switch {
	case member != nil && member.ShutUpUntil > now.Unix():
		return parley.Errorf(parley.ErrGroupMuted, "%q is muted in group %q until %d", from, g.ID, member.ShutUpUntil)
	case g.ShutUpAll && (member == nil || member.Role == parley.RoleMember):
		return parley.Errorf(parley.ErrGroupMuted, "group %q is muted for all but its owner and admins", g.ID)
	}
	return nil
}

func findGroupDuplicate(ctx context.Context, q parley.Querier, key parley.GroupMessageGetDuplicateParams) (*parley.GroupMessage, error) {
	m, err := q.GroupMessageGetDuplicate(ctx, key)
	switch {
	case err == nil:
		return m, nil
	case errors.Is(err, parley.ErrNotFound):
		return nil, nil
	}
	return nil, fmt.Errorf("chat: look for a duplicate: %w", err)
}

// commitGroupSend stores the message (unless online-only), touches the
// sender's LastSendMsgTime and enqueues the after-send event in one
// transaction, unless the transaction finds a duplicate, which is the
// answer then. known says a duplicate was seen before the transaction: if
// there is none inside it, commitGroupSend returns errDuplicateGone.
//
// The event's body is built before the transaction with a gap where the
// MsgSeq goes, so inside it only the number is spliced in.
func (e *Engine) commitGroupSend(ctx context.Context, s *groupSend, known bool) (SendGroupResult, error) {
	m := s.m
	var (
		ev   *parley.Event
		body splitBody
	)
	if s.after && !known {
		b, err := marshal(parley.GroupAfterSendMsg{
			CallbackCommand: parley.CommandGroupAfterSendMsg,
			GroupID:         s.g.ID,
			Type:            s.g.Type,
			FromAccount:     m.From,
			OperatorAccount: s.operator,
			Random:          m.Random,
			MsgID:           m.MsgID,
			MsgTime:         m.MsgTime,
			OnlineOnlyFlag:  boolInt(s.online),
			MsgBody:         m.Body,
			CloudCustomData: m.CloudCustomData,
			TopicID:         s.topic,
			EventTime:       s.now.UnixMilli(),
		})
		if err != nil {
			return SendGroupResult{}, err
		}
		if body, err = splitAt(b, `,"MsgSeq":0,`, len(`,"MsgSeq":`)); err != nil {
			return SendGroupResult{}, err
		}
		ev = newEvent(parley.CommandGroupAfterSendMsg, parley.GroupConversation(s.g.ID), nil, s.origin, s.now)
	}
	var orig *parley.GroupMessage
	var refused error
	events := 0
	ps := e.newPushes()
	err := e.store.InTx(ctx, func(tx parley.Querier) error {
		orig, refused, events = nil, nil, 0
		ps.reset()
		m.MsgSeq = 0
		if s.recheck {
			err := e.mayPost(ctx, tx, s.g, m.From, s.now)
			if refusal(err) {
				// Nothing is written yet: answering with the refusal, not
				// failing the fn, spares the rest of the group a re-run.
				refused = err
				return nil
			}
			if err != nil {
				return err
			}
		}
		d, err := findGroupDuplicate(ctx, tx, s.dupKey)
		if err != nil || d != nil {
			orig = d
			return err
		}
		if known {
			return errDuplicateGone
		}
		if !s.online {
			err := tx.GroupMessageInsert(ctx, m)
			if errors.Is(err, parley.ErrNotFound) {
				refused = parley.Errorf(parley.ErrGroupNotFound, "group %q does not exist", s.g.ID)
				return nil
			}
			if err != nil {
				return fmt.Errorf("chat: store the group message: %w", err)
			}
		}
		if s.recheck {
			if err := tx.GroupMemberTouch(ctx, parley.GroupMemberTouchParams{GroupID: s.g.ID, UserID: m.From, At: m.MsgTime}); err != nil {
				return fmt.Errorf("chat: touch the sender: %w", err)
			}
		}
		if err := e.pushGroupMessage(ctx, tx, s, ps); err != nil {
			return err
		}
		if ev == nil {
			return nil
		}
		ev.Body = body.with(strconv.AppendUint(nil, m.MsgSeq, 10))
		if err := tx.EventInsert(ctx, ev); err != nil {
			return fmt.Errorf("chat: enqueue the after-send event: %w", err)
		}
		events = 1
		return nil
	})
	if err != nil {
		return SendGroupResult{}, err
	}
	if refused != nil {
		return SendGroupResult{}, refused
	}
	if orig != nil {
		return SendGroupResult{MsgTime: orig.MsgTime, MsgSeq: orig.MsgSeq}, nil
	}
	ps.flush()
	e.notify(events)
	return SendGroupResult{MsgTime: m.MsgTime, MsgSeq: m.MsgSeq}, nil
}

// pushGroupMessage logs a stored group message as a change of the group
// and has it pushed to the members online. An online-only message is
// pushed to them without being logged; a message targeted at some members
// (To_Account) is pushed to those and the sender only, and not logged,
// since the log is the whole group's.
func (e *Engine) pushGroupMessage(ctx context.Context, tx parley.Querier, s *groupSend, ps *pushes) error {
	m := s.m
	data, err := newGroupMessageData(m, s.online)
	if err != nil {
		return err
	}
	conversation := parley.GroupConversation(s.g.ID)
	skip := s.origin.SessionID
	if len(m.To) > 0 {
		users := append(slices.Clone(m.To), m.From)
		ps.add(tx, &parley.Change{Conversation: conversation, Kind: parley.ChangeMessage, Time: s.now.UnixMilli(), Data: data}, parley.Audience{Users: users, SkipSession: skip})
		return nil
	}
	if s.online {
		ps.add(tx, &parley.Change{Conversation: conversation, Kind: parley.ChangeMessage, Time: s.now.UnixMilli(), Data: data}, parley.Audience{GroupID: s.g.ID, SkipSession: skip})
		return nil
	}
	c, err := appendChange(ctx, tx, conversation, parley.ChangeMessage, data, s.now)
	if err != nil {
		return err
	}
	ps.add(tx, c, parley.Audience{GroupID: s.g.ID, SkipSession: skip})
	return nil
}

// splitBody is a webhook body cut where one value goes.
type splitBody struct {
	buf   []byte
	split int
}

// splitAt cuts b at the first marker, keeping its first keep bytes and
// dropping the rest of it. A marker that starts with `,"` cannot be inside
// a JSON string, where every quote is escaped.
func splitAt(b []byte, marker string, keep int) (splitBody, error) {
	i := bytes.Index(b, []byte(marker))
	if i < 0 {
		return splitBody{}, fmt.Errorf("chat: webhook body %s has no %s", b, marker)
	}
	out := make([]byte, 0, len(b)-len(marker)+keep)
	out = append(out, b[:i+keep]...)
	out = append(out, ',')
	out = append(out, b[i+len(marker):]...)
	return splitBody{buf: out, split: i + keep}, nil
}

// with returns the body with value in the gap, in a new slice.
func (s splitBody) with(value []byte) []byte {
	out := make([]byte, 0, len(s.buf)+len(value))
	out = append(out, s.buf[:s.split]...)
	out = append(out, value...)
	return append(out, s.buf[s.split:]...)
}

// beforeSendGroup makes the group before-send callback and applies its
// answer to the message. An error is the sender's answer: blocked (10016),
// passed through (10100-10200) or, under the reject policy, 80003.
func (e *Engine) beforeSendGroup(ctx context.Context, s *groupSend) (verdict, error) {
	m := s.m
	req, err := marshal(parley.GroupBeforeSendMsg{
		CallbackCommand: parley.CommandGroupBeforeSendMsg,
		GroupID:         s.g.ID,
		Type:            s.g.Type,
		FromAccount:     m.From,
		OperatorAccount: s.operator,
		Random:          m.Random,
		MsgID:           m.MsgID,
		OnlineOnlyFlag:  boolInt(s.online),
		MsgBody:         m.Body,
		CloudCustomData: m.CloudCustomData,
		TopicID:         s.topic,
		EventTime:       s.now.UnixMilli(),
	})
	if err != nil {
		return verdict{}, err
	}
	return e.callBeforeSend(ctx, groupBeforeSend, req, s.origin, &m.Body, &m.CloudCustomData)
}

// RecallGroup recalls group messages (group_open_http_svc/group_msg_recall)
// and answers one result per MsgSeq given, in order: 0, 10030 for no such
// message, 10032 for one already recalled (a repeat in the same call
// included), 10031 for an AVChatRoom message older than an hour. The
// recalls and one after-recall event listing the recalled MsgSeqs (none
// when nothing was recalled) commit in one transaction.
func (e *Engine) RecallGroup(ctx context.Context, p RecallGroupParams) ([]RecallResult, error) {
	if err := checkGroupID(p.GroupID); err != nil {
		return nil, err
	}
	if len(p.MsgSeqs) == 0 || len(p.MsgSeqs) > parley.MaxRecallSeqs {
		return nil, parley.Errorf(parley.ErrGroupInvalidParam, "MsgSeqList must hold 1 to %d MsgSeqs, got %d", parley.MaxRecallSeqs, len(p.MsgSeqs))
	}
	operator := p.Operator
	if operator == "" {
		operator = e.admin
	}
	after := e.enabled(parley.CommandGroupAfterRecall)
	var (
		results []RecallResult
		refused error
		events  int
	)
	ps := e.newPushes()
	err := e.store.InTx(ctx, func(tx parley.Querier) error {
		results, refused, events = make([]RecallResult, 0, len(p.MsgSeqs)), nil, 0
		ps.reset()
		g, err := groupIn(ctx, tx, p.GroupID)
		if refusal(err) {
			refused = err
			return nil
		}
		if err != nil {
			return err
		}
		now := e.now()
		var rules *clientRecall
		if p.Client {
			// A client recalls as a member: its own messages, or anyone's
			// if it is the owner or an admin, within the client window.
			mem, err := tx.GroupMemberGet(ctx, g.ID, operator)
			if errors.Is(err, parley.ErrNotFound) {
				refused = parley.Errorf(parley.ErrGroupNotPermitted, "%q is not a member of group %q", operator, g.ID)
				return nil
			}
			if err != nil {
				return fmt.Errorf("chat: get the operator's membership: %w", err)
			}
			rules = &clientRecall{
				operator:   operator,
				privileged: mem.Role == parley.RoleOwner || mem.Role == parley.RoleAdmin,
				window:     e.recallWin,
			}
		}
		var recalled []parley.GroupMsgSeqRef
		for _, msgSeq := range p.MsgSeqs {
			code, err := recallOne(ctx, tx, g, msgSeq, now, rules)
			if err != nil {
				return err
			}
			results = append(results, RecallResult{MsgSeq: msgSeq, Code: code})
			if code == 0 {
				recalled = append(recalled, parley.GroupMsgSeqRef{MsgSeq: msgSeq})
			}
		}
		if len(recalled) == 0 {
			return nil
		}
		data, err := marshal(groupRecallData{
			ConversationType: conversationGroup,
			GroupID:          g.ID,
			MsgSeqList:       recalled,
			Operator:         operator,
		})
		if err != nil {
			return err
		}
		c, err := appendChange(ctx, tx, parley.GroupConversation(g.ID), parley.ChangeRecall, data, now)
		if err != nil {
			return err
		}
		ps.add(tx, c, parley.Audience{GroupID: g.ID, SkipSession: p.Origin.SessionID})
		if !after {
			return nil
		}
		body, err := marshal(parley.GroupAfterRecallMsg{
			CallbackCommand: parley.CommandGroupAfterRecall,
			OperatorAccount: operator,
			Type:            g.Type,
			GroupID:         g.ID,
			MsgSeqList:      recalled,
			TopicID:         p.TopicID,
			EventTime:       now.UnixMilli(),
		})
		if err != nil {
			return err
		}
		if err := tx.EventInsert(ctx, newEvent(parley.CommandGroupAfterRecall, parley.GroupConversation(g.ID), body, p.Origin, now)); err != nil {
			return fmt.Errorf("chat: enqueue the after-recall event: %w", err)
		}
		events = 1
		return nil
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, refused
	}
	ps.flush()
	e.notify(events)
	return results, nil
}

// clientRecall is what limits a client's group recall.
type clientRecall struct {
	operator   string
	privileged bool // the group's owner or an admin: may recall anyone's message
	window     time.Duration
}

// recallOne recalls one message of g and returns its RetCode. rules, for a
// client's recall, limits whose messages and how old.
func recallOne(ctx context.Context, tx parley.Querier, g *parley.Group, msgSeq uint64, now time.Time, rules *clientRecall) (int, error) {
	if msgSeq == 0 {
		return parley.ErrGroupRecallNotFound, nil
	}
	m, err := tx.GroupMessageGet(ctx, g.ID, msgSeq)
	if errors.Is(err, parley.ErrNotFound) {
		return parley.ErrGroupRecallNotFound, nil
	}
	if err != nil {
		return 0, fmt.Errorf("chat: get group message: %w", err)
	}
	switch {
	case m.Recalled:
		return parley.ErrGroupRecallNotAllowed, nil
	case g.Type == parley.GroupAVChatRoom && now.Unix()-m.MsgTime > int64(avChatRoomRecallWindow/time.Second):
		return parley.ErrGroupRecallTimeLimit, nil
	case rules != nil && m.From != rules.operator && !rules.privileged:
		return parley.ErrGroupNotPermitted, nil
	case rules != nil && now.Sub(time.Unix(m.MsgTime, 0)) > rules.window:
		return parley.ErrGroupRecallTimeLimit, nil
	}
	if err := tx.GroupMessageRecall(ctx, g.ID, msgSeq); err != nil {
		return 0, fmt.Errorf("chat: recall group message: %w", err)
	}
	return 0, nil
}

// groupHistoryBatch is how many messages GroupHistory reads at a time when
// recalled ones are skipped, so a run of them costs few reads.
const groupHistoryBatch = 64

// GroupHistory answers a page of a group's messages, newest first
// (group_open_http_svc/group_msg_get_simple): the newest Number with MsgSeq
// <= MaxSeq (0 meaning the newest). Recalled messages are skipped, or with
// WithRecalled included with an empty MsgBody. IsFinished is
// HistoryFinished when no older message is left to page to.
func (e *Engine) GroupHistory(ctx context.Context, p GroupHistoryParams) (GroupHistoryResult, error) {
	if err := checkGroupID(p.GroupID); err != nil {
		return GroupHistoryResult{}, err
	}
	if p.Number < 1 || p.Number > parley.MaxGetSimpleMsgs {
		return GroupHistoryResult{}, parley.Errorf(parley.ErrGroupInvalidParam, "ReqMsgNumber must be 1 to %d, got %d", parley.MaxGetSimpleMsgs, p.Number)
	}
	g, err := groupIn(ctx, e.store, p.GroupID)
	if err != nil {
		return GroupHistoryResult{}, err
	}
	if p.Member != "" {
		if err := requireMember(ctx, e.store, g.ID, p.Member); err != nil {
			return GroupHistoryResult{}, err
		}
	}
	if g.Type == parley.GroupAVChatRoom {
		return GroupHistoryResult{}, parley.Errorf(parley.ErrGroupNoRoaming, "an AVChatRoom keeps no message history")
	}
	limit := p.Number + 1 // one more tells whether an older one is left
	if !p.WithRecalled {
		limit = max(limit, groupHistoryBatch)
	}
	res := GroupHistoryResult{IsFinished: HistoryFinished}
	maxSeq := p.MaxSeq
	for {
		batch, err := e.store.GroupMessageList(ctx, parley.GroupMessageListParams{GroupID: g.ID, MaxSeq: maxSeq, Limit: limit})
		if err != nil {
			return GroupHistoryResult{}, fmt.Errorf("chat: list group messages: %w", err)
		}
		for _, m := range batch {
			if m.Recalled {
				if !p.WithRecalled {
					continue
				}
				c := *m
				c.Body = json.RawMessage(`[]`)
				m = &c
			}
			if len(res.Messages) == p.Number {
				res.IsFinished = HistoryTruncated
				return res, nil
			}
			res.Messages = append(res.Messages, m)
		}
		if len(batch) < limit || batch[len(batch)-1].MsgSeq <= 1 {
			return res, nil
		}
		maxSeq = batch[len(batch)-1].MsgSeq - 1
	}
}

// groupLimiter holds a token bucket per group: each holds up to rate
// tokens, refilled at rate a second, and a message takes one. It lives in
// the engine's memory, so each process limits on its own. The zero value
// is ready to use.
//
// A bucket untouched for a second is full again, no different from a new
// one, so such buckets are dropped. The sweep runs on the send path, at
// most once per groupLimiterSweep, which bounds memory to the groups that
// sent lately without a goroutine.
type groupLimiter struct {
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

// bucket counts tokens in billionths, so refills over whole nanoseconds
// are exact: rate tokens a second is rate billionths a nanosecond.
type bucket struct {
	nanoTokens int64
	at         time.Time
}

const (
	groupLimiterSweep = 10 * time.Second
	bucketRefill      = time.Second // an empty bucket is full again after it
	nanoToken         = int64(time.Second)
	maxGroupRate      = 1 << 30
)

// allow takes a token from groupID's bucket at now; rate <= 0 means no
// limit.
func (l *groupLimiter) allow(groupID string, rate int, now time.Time) bool {
	if rate <= 0 {
		return true
	}
	// Far above any real limit, and low enough that the arithmetic in
	// billionths cannot overflow.
	rate = min(rate, maxGroupRate)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
		l.lastSweep = now
	}
	if d := now.Sub(l.lastSweep); d >= groupLimiterSweep || d < 0 {
		for id, b := range l.buckets {
			if now.Sub(b.at) >= bucketRefill {
				delete(l.buckets, id)
			}
		}
		l.lastSweep = now
	}
	capacity := int64(rate) * nanoToken
	b := l.buckets[groupID]
	if b == nil {
		b = &bucket{nanoTokens: capacity, at: now}
		l.buckets[groupID] = b
	} else if elapsed := now.Sub(b.at); elapsed > 0 {
		// Capped first, so the product cannot overflow.
		elapsed = min(elapsed, bucketRefill)
		b.nanoTokens = min(capacity, b.nanoTokens+int64(elapsed)*int64(rate))
		b.at = now
	}
	if b.nanoTokens < nanoToken {
		return false
	}
	b.nanoTokens -= nanoToken
	return true
}

// forget drops groupID's bucket: a destroyed group sends no more.
func (l *groupLimiter) forget(groupID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, groupID)
}
