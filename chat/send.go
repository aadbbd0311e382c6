package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley"
)

// MaxBatchRecipients is the most recipients batchsendmsg takes.
const MaxBatchRecipients = 500

// SendC2C sends one message (openim/sendmsg).
//
// The steps, in order: the body is validated (after the accounts when a
// before-send callback will be made); the sender (default the App admin)
// and the recipient must be imported, which is checked inside the
// transaction unless the callback or an 80001 needs it earlier; MsgTime, MsgKey and
// MsgId are assigned; a duplicate of a message sent in the last 120 s is
// answered with the original's identifiers and nothing else happens; the
// before-send callback may allow, rewrite, block or drop the message; a
// text matching a restricted word fails with 80001 (and an after-send event
// saying so); otherwise the message, the recipient's unread count and the
// after-send event commit in one transaction.
//
// Duplicates are found only among stored messages, so repeats of an
// online-only or dropped message are not suppressed, and only when the
// caller chose MsgSeq: a random MsgSeq cannot repeat a stored one.
func (e *Engine) SendC2C(ctx context.Context, p SendParams) (SendResult, error) {
	from := p.From
	if from == "" {
		from = e.admin
	}
	before := e.caller != nil && e.enabled(parley.CommandC2CBeforeSendMsg) && !p.ForbidBeforeCallback
	after := e.enabled(parley.CommandC2CAfterSendMsg) && !p.ForbidAfterCallback
	// The accounts are checked here when the app backend will be called
	// about the message; otherwise inside the transaction, on the writer's
	// connection, which spares every message a read-pool round trip.
	checked := false
	if before {
		if err := e.requireAccounts(ctx, from, parley.ErrFromAccountInvalid, p.To, parley.ErrToAccountInvalid, true); err != nil {
			return SendResult{}, err
		}
		checked = true
	}
	body, err := parseMsgBody(p.Body)
	if err != nil {
		return SendResult{}, err
	}
	lifeTime, err := msgLifeTime(p.LifeTime)
	if err != nil {
		return SendResult{}, err
	}
	now := e.now()
	m := e.newMessage(from, p.To, p.MsgSeq, p.MsgRandom, now.Unix(), body, p.CloudCustomData)
	m.OnlineOnly = p.OnlineOnly || lifeTime == 0
	m.SyncOtherMachine = p.SyncOtherMachine
	m.LifeTime = lifeTime
	m.NoUnread = p.NoUnread
	m.NoLastMsg = p.NoLastMsg
	m.WithMuteNotifications = p.WithMuteNotifications
	m.SupportExtension = p.SupportExtension
	m.NeedReadReceipt = p.NeedReadReceipt

	dedup := p.MsgSeq != nil
	dupKey := parley.MessageGetDuplicateParams{
		From:      m.From,
		To:        m.To,
		MsgSeq:    m.MsgSeq,
		MsgRandom: m.MsgRandom,
		BodyCRC:   m.BodyCRC,
		Since:     m.MsgTime - int64(parley.DuplicateWindow/time.Second),
	}
	// A duplicate is answered by the check inside the transaction, never
	// by a read outside it: the store may acknowledge as durable only what
	// InTx saw. A look outside costs a read on every message, so it is
	// made only where it saves something: before a before-send callback,
	// so that a retry does not call the app backend again, and before an
	// 80001, so that the retry of a message a callback once cleaned of a
	// restricted word is not refused now. A duplicate seen there skips
	// those steps and the transaction answers with the original; if the
	// transaction finds none after all, the send starts over as a new
	// message, without the look outside.
	precheck := dedup
	for {
		known := false
		if precheck && before {
			orig, err := findDuplicate(ctx, e.store, dupKey)
			if err != nil {
				return SendResult{}, err
			}
			known = orig != nil
		}
		texts := body.texts
		if before && !known {
			v, err := e.beforeSend(ctx, m, p.Origin)
			if err != nil {
				return SendResult{}, err
			}
			if v.drop {
				return resultOf(m), nil
			}
			if v.texts != nil {
				texts = v.texts
			}
		}
		if !known && e.isRestricted(texts) {
			if precheck && !before {
				orig, err := findDuplicate(ctx, e.store, dupKey)
				if err != nil {
					return SendResult{}, err
				}
				known = orig != nil
			}
			if !known {
				if !checked {
					if err := e.requireAccounts(ctx, from, parley.ErrFromAccountInvalid, p.To, parley.ErrToAccountInvalid, true); err != nil {
						return SendResult{}, err
					}
				}
				return SendResult{}, e.refuseRestricted(ctx, m, after, p.Origin, now)
			}
		}
		res, err := e.commitSend(ctx, m, !checked, dedup, dupKey, known, after, p.Origin, now)
		if errors.Is(err, errDuplicateGone) {
			precheck = false
			continue
		}
		return res, err
	}
}

// errDuplicateGone rolls back a send whose duplicate, seen before the
// transaction, was not there inside it.
var errDuplicateGone = errors.New("chat: the duplicate seen before the transaction is gone")

// refuseRestricted answers 80001 for a message with a restricted word,
// after enqueueing the after-send event that reports the failure.
func (e *Engine) refuseRestricted(ctx context.Context, m *parley.Message, after bool, origin parley.Origin, now time.Time) error {
	failed := parley.NewError(parley.ErrSensitiveText)
	if after {
		body := newAfterSendBody(m, failed.Code, failed.Info).with(parley.UnreadMsgNumFailedSend)
		ev := newEvent(parley.CommandC2CAfterSendMsg, parley.C2CConversation(m.From, m.To), body, origin, now)
		if err := e.store.InTx(ctx, func(tx parley.Querier) error { return tx.EventInsert(ctx, ev) }); err != nil {
			return fmt.Errorf("chat: enqueue the after-send event: %w", err)
		}
		e.notify(1)
	}
	return failed
}

// commitSend stores m, counts it unread and enqueues its after-send event
// in one transaction, unless the transaction finds a duplicate, which is
// the answer then. known says a duplicate was seen before the transaction:
// if there is none inside it, commitSend returns errDuplicateGone.
//
// Everything that does not need the transaction is done before it, as the
// store may run transactions one at a time: the event's identity and body
// are built here, and inside only the unread count is spliced in.
//
// checkAccounts asks for the sender and recipient to be checked inside the
// transaction, first, before anything is written.
func (e *Engine) commitSend(ctx context.Context, m *parley.Message, checkAccounts, dedup bool, dupKey parley.MessageGetDuplicateParams, known, after bool, origin parley.Origin, now time.Time) (SendResult, error) {
	var (
		ev   *parley.Event
		body afterSendBody
	)
	if after && !known {
		body = newAfterSendBody(m, 0, parley.SendMsgSucceedInfo)
		ev = newEvent(parley.CommandC2CAfterSendMsg, parley.C2CConversation(m.From, m.To), nil, origin, now)
	}
	var orig *parley.Message
	var refused error
	events := 0
	ps := e.newPushes()
	data := c2cMessageData(m)
	err := e.store.InTx(ctx, func(tx parley.Querier) error {
		orig, refused, events = nil, nil, 0
		ps.reset()
		if checkAccounts {
			err := e.requireAccountsIn(ctx, tx, m.From, parley.ErrFromAccountInvalid, m.To, parley.ErrToAccountInvalid, true)
			var perr *parley.Error
			if errors.As(err, &perr) {
				// Nothing is written yet: answering with the refusal, not
				// failing the fn, spares the rest of the group a re-run.
				refused = err
				return nil
			}
			if err != nil {
				return err
			}
		}
		if dedup {
			d, err := findDuplicate(ctx, tx, dupKey)
			if err != nil || d != nil {
				orig = d
				return err
			}
		}
		if known {
			return errDuplicateGone
		}
		unread, err := e.deliver(ctx, tx, m, data, origin, ps, now)
		if err != nil {
			return err
		}
		if ev == nil {
			return nil
		}
		if unread < 0 {
			if unread, err = tx.ConversationUnreadTotal(ctx, m.To); err != nil {
				return fmt.Errorf("chat: count unread: %w", err)
			}
		}
		ev.Body = body.with(unread)
		if err := tx.EventInsert(ctx, ev); err != nil {
			return fmt.Errorf("chat: enqueue the after-send event: %w", err)
		}
		events = 1
		return nil
	})
	if err != nil {
		return SendResult{}, err
	}
	if refused != nil {
		return SendResult{}, refused
	}
	if orig != nil {
		return resultOf(orig), nil
	}
	ps.flush()
	e.notify(events)
	return resultOf(m), nil
}

// BatchSendC2C sends one message to many recipients (openim/batchsendmsg).
// It makes no callback and enqueues no event. Every copy shares one MsgKey
// and MsgId; recipients that are not imported are reported in Errors with
// 70107 and the others get the message, all in one transaction.
func (e *Engine) BatchSendC2C(ctx context.Context, p BatchSendParams) (BatchSendResult, error) {
	switch {
	case len(p.To) == 0:
		return BatchSendResult{}, parley.NewError(parley.ErrBatchToEmpty)
	case len(p.To) > MaxBatchRecipients:
		return BatchSendResult{}, parley.Errorf(parley.ErrTooManyTargets, "%d recipients, more than %d", len(p.To), MaxBatchRecipients)
	}
	from := p.From
	if from == "" {
		from = e.admin
	}
	if err := ValidateUserID(from); err != nil {
		return BatchSendResult{}, parley.Errorf(parley.ErrFromAccountInvalid, "sender: %s", err.(*parley.Error).Info)
	}
	body, err := parseMsgBody(p.Body)
	if err != nil {
		if pe := (*parley.Error)(nil); errors.As(err, &pe) && pe.Code == parley.ErrMsgBodyTooLarge {
			return BatchSendResult{}, parley.Errorf(parley.ErrBatchBodyTooLarge, "%s", pe.Info)
		}
		return BatchSendResult{}, err
	}
	lifeTime, err := msgLifeTime(p.LifeTime)
	if err != nil {
		return BatchSendResult{}, err
	}
	if e.isRestricted(body.texts) {
		return BatchSendResult{}, parley.NewError(parley.ErrSensitiveText)
	}

	var res BatchSendResult
	ids := []string{from}
	seen := map[string]bool{}
	for _, to := range p.To {
		if seen[to] {
			continue
		}
		seen[to] = true
		if ValidateUserID(to) != nil {
			continue
		}
		ids = append(ids, to)
	}
	found, err := e.store.AccountGetMany(ctx, ids)
	if err != nil {
		return BatchSendResult{}, fmt.Errorf("chat: get accounts: %w", err)
	}
	imported := make(map[string]bool, len(found))
	for _, a := range found {
		imported[a.UserID] = true
	}
	if !imported[from] {
		if from != e.admin {
			return BatchSendResult{}, parley.Errorf(parley.ErrFromAccountInvalid, "sender %q is not imported", from)
		}
		if _, err := e.store.AccountUpsert(ctx, parley.Account{UserID: from, CreatedAt: e.now()}); err != nil {
			return BatchSendResult{}, fmt.Errorf("chat: import the admin account: %w", err)
		}
	}

	proto := e.newMessage(from, "", p.MsgSeq, p.MsgRandom, e.now().Unix(), body, p.CloudCustomData)
	proto.OnlineOnly = lifeTime == 0
	proto.SyncOtherMachine = p.SyncOtherMachine
	proto.LifeTime = lifeTime
	proto.NoUnread = p.NoUnread
	proto.NoLastMsg = p.NoLastMsg
	proto.NeedReadReceipt = p.NeedReadReceipt
	proto.SupportExtension = p.SupportExtension
	res.MsgKey, res.MsgID = proto.MsgKey, proto.MsgID

	var msgs []*parley.Message
	reported := map[string]bool{}
	for _, to := range p.To {
		if !imported[to] {
			if !reported[to] {
				reported[to] = true
				res.Errors = append(res.Errors, BatchError{To: to, Code: parley.ErrAccountNotImported})
			}
			continue
		}
		if reported[to] {
			continue
		}
		reported[to] = true
		m := *proto
		m.To = to
		msgs = append(msgs, &m)
	}
	if len(msgs) == 0 {
		return res, nil
	}
	now := e.now()
	ps := e.newPushes()
	data := make([][]byte, len(msgs))
	for i, m := range msgs {
		data[i] = c2cMessageData(m)
	}
	err = e.store.InTx(ctx, func(tx parley.Querier) error {
		ps.reset()
		for i, m := range msgs {
			if _, err := e.deliver(ctx, tx, m, data[i], parley.Origin{}, ps, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return BatchSendResult{}, err
	}
	ps.flush()
	return res, nil
}

// newMessage assigns a message its server-side identity. BodyCRC covers
// the body as sent, before any callback rewrite, because that is what a
// retry of the same request carries; it hashes the canonical form, so
// whitespace and key order do not make a retry a new message.
func (e *Engine) newMessage(from, to string, seq *uint32, random uint32, msgTime int64, body *msgBody, cloud string) *parley.Message {
	s := e.rand()
	if seq != nil {
		s = *seq
	}
	return &parley.Message{
		From:            from,
		To:              to,
		MsgSeq:          s,
		MsgRandom:       random,
		MsgTime:         msgTime,
		MsgKey:          parley.MsgKey(s, random, msgTime),
		MsgID:           e.msgID(msgTime, random),
		Body:            body.compact,
		CloudCustomData: cloud,
		BodyCRC:         body.crc(cloud),
	}
}

// msgID builds "{18 random digits}-{MsgTime}-{MsgRandom}", the shape of
// Tencent's MsgId samples.
func (e *Engine) msgID(msgTime int64, random uint32) string {
	r := uint64(e.rand())<<32 | uint64(e.rand())
	const lo, span = 100_000_000_000_000_000, 900_000_000_000_000_000
	b := make([]byte, 0, 48)
	b = strconv.AppendUint(b, lo+r%span, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, msgTime, 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(random), 10)
	return string(b)
}

// msgLifeTime applies MsgLifeTime's rules: omitted is 7 days, longer is
// clamped to 7 days, negative is an error.
func msgLifeTime(lt *int) (int, error) {
	switch {
	case lt == nil:
		return parley.DefaultLifeTime, nil
	case *lt < 0:
		return 0, parley.Errorf(parley.ErrMsgLifeTimeInvalid, "MsgLifeTime %d is negative", *lt)
	case *lt > parley.MaxMsgLifeTime:
		return parley.MaxMsgLifeTime, nil
	}
	return *lt, nil
}

func findDuplicate(ctx context.Context, q parley.Querier, key parley.MessageGetDuplicateParams) (*parley.Message, error) {
	m, err := q.MessageGetDuplicate(ctx, key)
	switch {
	case err == nil:
		return m, nil
	case errors.Is(err, parley.ErrNotFound):
		return nil, nil
	}
	return nil, fmt.Errorf("chat: look for a duplicate: %w", err)
}

// deliver stores m, appends it to its conversation's change log, keeps
// both sides' conversations and counts it unread for the recipient, and
// has it pushed once tx commits. Online-only messages are only pushed:
// neither stored, logged nor counted. A message no newer than the
// recipient's read time is not counted, as ConversationMarkRead would not
// count it either.
//
// It returns the recipient's unread total when it had to read it (to push
// the new count), else -1.
//
// data is c2cMessageData(m), built by the caller before the transaction:
// it depends on m only, and the store's writer has better things to do.
func (e *Engine) deliver(ctx context.Context, tx parley.Querier, m *parley.Message, data []byte, origin parley.Origin, ps *pushes, now time.Time) (total int, err error) {
	conversation := parley.C2CConversation(m.From, m.To)
	if m.OnlineOnly {
		ps.add(tx, &parley.Change{Conversation: conversation, Kind: parley.ChangeMessage, Time: now.UnixMilli(), Data: data}, c2cAudience(m, origin))
		return -1, nil
	}
	if err := tx.MessageInsert(ctx, m); err != nil {
		return -1, fmt.Errorf("chat: store the message: %w", err)
	}
	c := &parley.Change{Conversation: conversation, Kind: parley.ChangeMessage, Time: now.UnixMilli(), Data: data}
	if m.SyncOtherMachine == parley.SyncNotToSender {
		c.Except = m.From
	}
	if err := tx.ChangeAppend(ctx, c); err != nil {
		return -1, fmt.Errorf("chat: append the message change: %w", err)
	}
	ps.add(tx, c, c2cAudience(m, origin))
	if m.SyncOtherMachine != parley.SyncNotToSender && m.From != m.To {
		// The sender's side of the conversation, for its conversation list.
		if err := tx.ConversationAddUnread(ctx, parley.ConversationAddUnreadParams{Owner: m.From, Peer: m.To}); err != nil {
			return -1, fmt.Errorf("chat: keep the sender's conversation: %w", err)
		}
	}
	delta, unread := 0, 0
	if !m.NoUnread {
		conv, err := tx.ConversationGet(ctx, m.To, m.From)
		if err != nil {
			return -1, fmt.Errorf("chat: get the conversation: %w", err)
		}
		if m.MsgTime > conv.ReadTime {
			delta, unread = 1, conv.Unread+1
		}
	}
	if err := tx.ConversationAddUnread(ctx, parley.ConversationAddUnreadParams{Owner: m.To, Peer: m.From, Delta: delta}); err != nil {
		return -1, fmt.Errorf("chat: count unread: %w", err)
	}
	if delta == 0 || ps.pub == nil {
		return -1, nil
	}
	total, err = tx.ConversationUnreadTotal(ctx, m.To)
	if err != nil {
		return -1, fmt.Errorf("chat: count unread: %w", err)
	}
	ps.add(tx, unreadChange(m.To, m.From, unread, total, now), parley.Audience{Users: []string{m.To}})
	return total, nil
}

func resultOf(m *parley.Message) SendResult {
	if m == nil {
		return SendResult{}
	}
	return SendResult{MsgTime: m.MsgTime, MsgKey: m.MsgKey, MsgID: m.MsgID}
}

// verdict is what the before-send callback decided beyond allow.
type verdict struct {
	drop  bool
	texts []string // the rewritten body's texts; nil if not rewritten
}

// beforeSend makes the C2C before-send callback and applies its answer to
// m. An error is the sender's answer: blocked, passed through or, under
// the reject policy, 80003.
func (e *Engine) beforeSend(ctx context.Context, m *parley.Message, origin parley.Origin) (verdict, error) {
	req, err := marshal(parley.BeforeSendMsg{
		CallbackCommand: parley.CommandC2CBeforeSendMsg,
		FromAccount:     m.From,
		ToAccount:       m.To,
		MsgSeq:          m.MsgSeq,
		MsgRandom:       m.MsgRandom,
		MsgTime:         m.MsgTime,
		MsgKey:          m.MsgKey,
		OnlineOnlyFlag:  boolInt(m.OnlineOnly),
		MsgBody:         m.Body,
		CloudCustomData: m.CloudCustomData,
	})
	if err != nil {
		return verdict{}, err
	}
	return e.callBeforeSend(ctx, c2cBeforeSend, req, origin, &m.Body, &m.CloudCustomData)
}

// beforeSendRules are what the C2C and group before-send callbacks do not
// share: the command, the sender's code when the answer is 1, and the
// range of codes passed through to the sender.
type beforeSendRules struct {
	command string
	blocked int
	custom  func(code int) bool
}

var (
	c2cBeforeSend   = beforeSendRules{parley.CommandC2CBeforeSendMsg, parley.ErrBlockedByCallback, parley.IsCustomCallbackCode}
	groupBeforeSend = beforeSendRules{parley.CommandGroupBeforeSendMsg, parley.ErrGroupBlockedCallback, parley.IsGroupCustomCallbackCode}
)

// callBeforeSend makes a before-send callback with req and applies the
// answer: a MsgBody or CloudCustomData in it replaces *body or *cloud. An
// error is the sender's answer: blocked, passed through or, under the
// reject policy, 80003.
func (e *Engine) callBeforeSend(ctx context.Context, r beforeSendRules, req []byte, origin parley.Origin, body *json.RawMessage, cloud *string) (verdict, error) {
	failed := func(reason string) (verdict, error) {
		if e.reject {
			return verdict{}, parley.Errorf(parley.ErrBeforeCallbackFailed, "%s (%s)", parley.ErrorText(parley.ErrBeforeCallbackFailed), reason)
		}
		return verdict{}, nil
	}
	reply, err := e.caller.Call(ctx, r.command, req, origin)
	if err != nil {
		return failed(err.Error())
	}
	switch code := reply.ErrorCode; {
	case code == 0:
		var v verdict
		if raw := bytes.TrimSpace(reply.MsgBody); len(raw) > 0 && string(raw) != "null" {
			b, err := parseMsgBody(raw)
			if err != nil {
				return failed("the reply's MsgBody is invalid: " + err.(*parley.Error).Info)
			}
			*body = b.compact
			v.texts = b.texts
			if v.texts == nil {
				v.texts = []string{}
			}
		}
		if reply.CloudCustomData != nil {
			*cloud = *reply.CloudCustomData
		}
		return v, nil
	case code == 1:
		return verdict{}, parley.NewError(r.blocked)
	case code == 2:
		return verdict{drop: true}, nil
	case r.custom(code):
		info := reply.ErrorInfo
		if info == "" {
			info = parley.ErrorText(r.blocked)
		}
		return verdict{}, &parley.Error{Code: code, Info: info}
	default:
		return failed(fmt.Sprintf("undocumented ErrorCode %d", code))
	}
}

func (e *Engine) isRestricted(texts []string) bool {
	if len(e.restricted) == 0 {
		return false
	}
	for _, t := range texts {
		t = strings.ToLower(t)
		for _, w := range e.restricted {
			if strings.Contains(t, w) {
				return true
			}
		}
	}
	return false
}

// newEvent is an after-callback event of the conversation (see
// parley.C2CConversation and parley.GroupConversation), due at once.
func newEvent(command, conversation string, body []byte, origin parley.Origin, now time.Time) *parley.Event {
	return &parley.Event{
		ID:           parley.NewEventID(now),
		Command:      command,
		Conversation: conversation,
		Body:         body,
		Origin:       origin,
		CreatedAt:    now,
		State:        parley.EventPending,
	}
}

// marshal encodes a webhook body without HTML escaping, so the MsgBody in
// it is byte for byte the stored one.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("chat: encode webhook body: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
