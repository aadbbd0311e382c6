package chat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parley-im/parley"
)

// Roam page limits. Tencent cuts admin_getroammsg answers at about 13 KB;
// the fetch cap only bounds what one call reads when MaxCnt is huge, and
// is far above what fits in 13 KB.
const (
	RoamPageBytes = 13 * 1024
	maxRoamFetch  = 1000
)

// MaxUnreadPeers is the most peers get_c2c_unread_msg_num takes.
const MaxUnreadPeers = 10

// Roam returns one page of the conversation between Operator and Peer as
// Operator sees it (openim/admin_getroammsg): the newest messages in
// [MinTime, MaxTime] older than LastMsgKey's message, at most MaxCnt and
// at most about 13 KB of bodies (but always one), oldest first. Recalled
// messages are included.
func (e *Engine) Roam(ctx context.Context, p RoamParams) (RoamResult, error) {
	if err := e.requireAccounts(ctx, p.Operator, parley.ErrFromAccountInvalid, p.Peer, parley.ErrToAccountInvalid, false); err != nil {
		return RoamResult{}, err
	}
	if p.MaxCnt <= 0 {
		return RoamResult{}, parley.Errorf(parley.ErrFormat, "MaxCnt must be positive, got %d", p.MaxCnt)
	}
	if p.MinTime > p.MaxTime {
		return RoamResult{}, parley.Errorf(parley.ErrFormat, "MinTime %d is after MaxTime %d", p.MinTime, p.MaxTime)
	}
	q := parley.MessageListParams{
		Owner:   p.Operator,
		Peer:    p.Peer,
		MinTime: p.MinTime,
		MaxTime: p.MaxTime,
		Limit:   min(p.MaxCnt, maxRoamFetch) + 1,
	}
	if p.LastMsgKey != "" {
		m, err := e.messageEitherWay(ctx, p.Operator, p.Peer, p.LastMsgKey)
		if err != nil {
			return RoamResult{}, err
		}
		if m == nil {
			return RoamResult{}, parley.Errorf(parley.ErrMsgKeyInvalid, "LastMsgKey %q names no message between %q and %q", p.LastMsgKey, p.Operator, p.Peer)
		}
		q.Before = &parley.MessageCursor{MsgTime: m.MsgTime, MsgSeq: m.MsgSeq, ID: m.ID}
	}
	list, err := e.store.MessageList(ctx, q)
	if err != nil {
		return RoamResult{}, fmt.Errorf("chat: list messages: %w", err)
	}

	n, bytes := 0, 0
	for n < len(list) && n < q.Limit-1 {
		size := len(list[n].Body) + len(list[n].CloudCustomData)
		if n > 0 && bytes+size > RoamPageBytes {
			break
		}
		bytes += size
		n++
	}
	page := list[:n]
	res := RoamResult{Complete: n == len(list)}
	if n == 0 {
		return res, nil
	}
	oldest := page[n-1]
	res.LastMsgTime, res.LastMsgKey = oldest.MsgTime, oldest.MsgKey

	// Read times of both sides, for IsPeerRead: a message is read when its
	// recipient's read time with its sender has reached it.
	readTime := map[string]int64{}
	for _, side := range [][2]string{{p.Operator, p.Peer}, {p.Peer, p.Operator}} {
		conv, err := e.store.ConversationGet(ctx, side[0], side[1])
		if err != nil {
			return RoamResult{}, fmt.Errorf("chat: get the conversation: %w", err)
		}
		readTime[side[0]] = conv.ReadTime
	}
	res.Messages = make([]RoamMessage, 0, n)
	for _, m := range slices.Backward(page) {
		res.Messages = append(res.Messages, RoamMessage{Message: m, IsPeerRead: readTime[m.To] >= m.MsgTime})
	}
	return res, nil
}

// messageEitherWay finds the message with key sent in either direction
// between a and b, or nil.
func (e *Engine) messageEitherWay(ctx context.Context, a, b, key string) (*parley.Message, error) {
	for _, dir := range [][2]string{{a, b}, {b, a}} {
		m, err := e.store.MessageGetByKey(ctx, parley.MessageGetByKeyParams{From: dir[0], To: dir[1], MsgKey: key})
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, parley.ErrNotFound) {
			return nil, fmt.Errorf("chat: get message by key: %w", err)
		}
	}
	return nil, nil
}

// Recall recalls a message (openim/admin_msgwithdraw, or a client's
// recall): the App admin at any age, a client only its own message within
// the client recall window (20016 after it). If the message still counted
// as unread for its recipient the count goes down, and the after-recall
// event carries the new total. Both sides are pushed the recall.
func (e *Engine) Recall(ctx context.Context, p RecallParams) error {
	if err := e.requireAccounts(ctx, p.From, parley.ErrFromAccountInvalid, p.To, parley.ErrToAccountInvalid, false); err != nil {
		return err
	}
	if p.MsgKey == "" {
		return parley.Errorf(parley.ErrMsgKeyInvalid, "MsgKey is empty")
	}
	if p.Operator != "" && p.Operator != p.From {
		return parley.Errorf(parley.ErrRecallNotFound, "%q may recall only its own messages, not one from %q", p.Operator, p.From)
	}
	key := parley.MessageGetByKeyParams{From: p.From, To: p.To, MsgKey: p.MsgKey}
	// Looked up outside the transaction first so the common errors cost no
	// write; looked up again inside so two racing recalls count down once.
	m, err := e.recallable(ctx, e.store, key)
	if err != nil {
		return err
	}
	if err := e.withinRecallWindow(p.Operator, m.MsgTime, parley.ErrRecallTimeLimit); err != nil {
		return err
	}
	after := e.enabled(parley.CommandC2CAfterWithdraw)
	events := 0
	ps := e.newPushes()
	err = e.store.InTx(ctx, func(tx parley.Querier) error {
		events = 0
		ps.reset()
		m, err := e.recallable(ctx, tx, key)
		if err != nil {
			return err
		}
		if err := tx.MessageRecall(ctx, m.ID); err != nil {
			return fmt.Errorf("chat: recall: %w", err)
		}
		now := e.now()
		operator := p.Operator
		if operator == "" {
			operator = e.admin
		}
		data, err := marshal(c2cRecallData{
			ConversationType: conversationC2C,
			From:             m.From,
			To:               m.To,
			MsgKey:           m.MsgKey,
			MsgSeq:           m.MsgSeq,
			MsgTime:          m.MsgTime,
			Operator:         operator,
		})
		if err != nil {
			return err
		}
		c, err := appendChange(ctx, tx, parley.C2CConversation(m.From, m.To), parley.ChangeRecall, data, now)
		if err != nil {
			return err
		}
		if m.SyncOtherMachine == parley.SyncNotToSender {
			// The sender never saw the message; the recall is the
			// recipient's only, as the message was.
			c.Only = m.To
		}
		ps.add(tx, c, parley.Audience{Users: []string{m.To, m.From}, SkipSession: p.Origin.SessionID})
		total := -1
		if !m.NoUnread && !m.OnlineOnly {
			conv, err := tx.ConversationGet(ctx, m.To, m.From)
			if err != nil {
				return fmt.Errorf("chat: get the conversation: %w", err)
			}
			if m.MsgTime > conv.ReadTime {
				if err := tx.ConversationAddUnread(ctx, parley.ConversationAddUnreadParams{Owner: m.To, Peer: m.From, Delta: -1}); err != nil {
					return fmt.Errorf("chat: count unread: %w", err)
				}
				if ps.pub != nil {
					if total, err = tx.ConversationUnreadTotal(ctx, m.To); err != nil {
						return fmt.Errorf("chat: count unread: %w", err)
					}
					ps.add(tx, unreadChange(m.To, m.From, max(conv.Unread-1, 0), total, now), parley.Audience{Users: []string{m.To}})
				}
			}
		}
		if !after {
			return nil
		}
		if total < 0 {
			if total, err = tx.ConversationUnreadTotal(ctx, m.To); err != nil {
				return fmt.Errorf("chat: count unread: %w", err)
			}
		}
		body, err := marshal(parley.AfterMsgWithdraw{
			CallbackCommand: parley.CommandC2CAfterWithdraw,
			FromAccount:     m.From,
			ToAccount:       m.To,
			MsgKey:          m.MsgKey,
			UnreadMsgNum:    total,
		})
		if err != nil {
			return err
		}
		if err := tx.EventInsert(ctx, newEvent(parley.CommandC2CAfterWithdraw, parley.C2CConversation(m.From, m.To), body, p.Origin, now)); err != nil {
			return fmt.Errorf("chat: enqueue the after-recall event: %w", err)
		}
		events = 1
		return nil
	})
	if err != nil {
		return err
	}
	ps.flush()
	e.notify(events)
	return nil
}

// withinRecallWindow refuses a client's recall (operator set) of a
// message older than the client recall window, with code.
func (e *Engine) withinRecallWindow(operator string, msgTime int64, code int) error {
	if operator == "" {
		return nil
	}
	age := e.now().Sub(time.Unix(msgTime, 0))
	if age > e.recallWin {
		return parley.Errorf(code, "the message was sent %s ago; a client may recall a message only within %s", age.Truncate(time.Second), e.recallWin)
	}
	return nil
}

func (e *Engine) recallable(ctx context.Context, q parley.Querier, key parley.MessageGetByKeyParams) (*parley.Message, error) {
	m, err := q.MessageGetByKey(ctx, key)
	if errors.Is(err, parley.ErrNotFound) {
		return nil, parley.Errorf(parley.ErrRecallNotFound, "no message %q from %q to %q", key.MsgKey, key.From, key.To)
	}
	if err != nil {
		return nil, fmt.Errorf("chat: get message by key: %w", err)
	}
	if m.Recalled {
		return nil, parley.Errorf(parley.ErrAlreadyRecalled, "message %q has already been recalled", key.MsgKey)
	}
	return m, nil
}

// SetRead marks Report's messages from Peer read up to ReadTime
// (openim/admin_set_msg_read, or a client's read mark); zero means now.
// Read time never moves back. Report's other sessions are pushed the mark.
func (e *Engine) SetRead(ctx context.Context, p SetReadParams) error {
	if err := e.requireAccounts(ctx, p.Report, parley.ErrFromAccountInvalid, p.Peer, parley.ErrToAccountInvalid, false); err != nil {
		return err
	}
	if p.ReadTime < 0 {
		return parley.Errorf(parley.ErrFormat, "MsgReadTime %d is negative", p.ReadTime)
	}
	now := e.now()
	readTime := p.ReadTime
	if readTime == 0 {
		readTime = now.Unix()
	}
	ps := e.newPushes()
	err := e.store.InTx(ctx, func(tx parley.Querier) error {
		ps.reset()
		conv, err := tx.ConversationMarkRead(ctx, parley.ConversationMarkReadParams{Owner: p.Report, Peer: p.Peer, ReadTime: readTime})
		if err != nil {
			return fmt.Errorf("chat: mark read: %w", err)
		}
		total, err := tx.ConversationUnreadTotal(ctx, p.Report)
		if err != nil {
			return fmt.Errorf("chat: count unread: %w", err)
		}
		data, err := marshal(c2cReadData{
			ConversationType: conversationC2C,
			Report:           p.Report,
			Peer:             p.Peer,
			MsgReadTime:      conv.ReadTime,
			UnreadMsgNum:     conv.Unread,
			AllUnread:        total,
		})
		if err != nil {
			return err
		}
		c := &parley.Change{Conversation: parley.C2CConversation(p.Report, p.Peer), Kind: parley.ChangeRead, Only: p.Report, Time: now.UnixMilli(), Data: data}
		if err := tx.ChangeAppend(ctx, c); err != nil {
			return fmt.Errorf("chat: append the read change: %w", err)
		}
		ps.add(tx, c, parley.Audience{Users: []string{p.Report}, SkipSession: p.Origin.SessionID})
		return nil
	})
	if err != nil {
		return err
	}
	ps.flush()
	return nil
}

// Unread answers To's unread counts (openim/get_c2c_unread_msg_num): the
// total over all conversations always, and with Peers one count per
// imported peer and a 70107 error per other peer.
func (e *Engine) Unread(ctx context.Context, p UnreadParams) (UnreadResult, error) {
	if err := ValidateUserID(p.To); err != nil {
		return UnreadResult{}, parley.Errorf(parley.ErrToAccountInvalid, "To_Account: %s", err.(*parley.Error).Info)
	}
	if len(p.Peers) > MaxUnreadPeers {
		return UnreadResult{}, parley.Errorf(parley.ErrTooManyAccounts, "%d peers, more than %d", len(p.Peers), MaxUnreadPeers)
	}
	ids := append([]string{p.To}, p.Peers...)
	found, err := e.store.AccountGetMany(ctx, ids)
	if err != nil {
		return UnreadResult{}, fmt.Errorf("chat: get accounts: %w", err)
	}
	imported := make(map[string]bool, len(found))
	for _, a := range found {
		imported[a.UserID] = true
	}
	if !imported[p.To] {
		return UnreadResult{}, parley.Errorf(parley.ErrToAccountInvalid, "To_Account %q is not imported", p.To)
	}
	var res UnreadResult
	if res.Total, err = e.store.ConversationUnreadTotal(ctx, p.To); err != nil {
		return UnreadResult{}, fmt.Errorf("chat: count unread: %w", err)
	}
	for _, peer := range p.Peers {
		if !imported[peer] {
			res.Errors = append(res.Errors, PeerError{Peer: peer, Code: parley.ErrAccountNotImported})
			continue
		}
		conv, err := e.store.ConversationGet(ctx, p.To, peer)
		if err != nil {
			return UnreadResult{}, fmt.Errorf("chat: get the conversation: %w", err)
		}
		res.Peers = append(res.Peers, PeerUnread{Peer: peer, Unread: conv.Unread})
	}
	return res, nil
}
