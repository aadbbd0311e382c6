package chat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/parley-im/parley"
)

// Message extensions (openim_msg_ext_http_svc) are key-value pairs on a
// message sent with SupportMessageExtension 1, versioned for
// compare-and-set (spec 4.3, decision 9.1).
//
// # Versions
//
// A message has one extension Seq. Every operation that applies anything
// raises it by 1 and stamps every KV it touched with the new value; the
// webhook and the answer carry it. An operator other than the App admin
// names, per KV, the Seq it last read (0 for a key it has not seen); a KV
// whose Seq differs from the stored one (0 when absent) is not applied
// and is answered with 23001 and the KV as it is. An operation that
// applies nothing changes nothing: no Seq, no webhook.
//
// # Concurrency
//
// The state, the current KVs, every per-KV check, the 300-KV cap, the
// write and the webhook of one operation are read and written in one
// store transaction, and nothing read outside it decides anything, so
// concurrent writers of one message serialize: of writers that read the
// same Seq exactly one wins, and no write is lost.

// extensionFetch is one more KV than a get page holds: the extra one says
// whether the page is complete and whether its last Seq goes on.
const extensionFetch = parley.MaxExtensionKVsPerGet + 1

// extensionMessage is the message an extension call names, found.
type extensionMessage struct {
	target       string
	conversation string
	command      string
	c2c          *parley.Message // nil for a group message
	groupID      string
	msgSeq       uint64
}

// webhook is the after-extension body of an operation that applied kvs
// (never nil) and raised the message's Seq to seq.
func (m extensionMessage) webhook(op int, kvs []parley.ExtensionKV, seq uint64, now time.Time) any {
	if m.c2c != nil {
		return parley.C2CMsgExtension{
			CallbackCommand: m.command,
			FromAccount:     m.c2c.From,
			ToAccount:       m.c2c.To,
			MsgKey:          m.c2c.MsgKey,
			OperateType:     op,
			ExtensionList:   kvs,
			Seq:             seq,
			EventTime:       now.UnixMilli(),
		}
	}
	return parley.GroupMsgExtension{
		CallbackCommand: m.command,
		GroupID:         m.groupID,
		MsgSeq:          m.msgSeq,
		OperateType:     op,
		ExtensionList:   kvs,
		Seq:             seq,
		EventTime:       now.UnixMilli(),
	}
}

// SetExtensions applies one extension operation to a message
// (set_key_values, group_set_key_values): it sets or deletes the KVs
// given, or clears them all. Each KV given gets a result in order; a clear
// has none. A deleted KV is removed, and deleting an absent key is applied
// too. The after-extension webhook lists the applied KVs (Value "" for a
// deletion, [] for a clear) and commits with them.
func (e *Engine) SetExtensions(ctx context.Context, p SetExtensionsParams) (SetExtensionsResult, error) {
	ref, err := e.checkExtensionRef(p.Ref)
	if err != nil {
		return SetExtensionsResult{}, err
	}
	if err := checkExtensionOp(p.OperateType, p.KVs); err != nil {
		return SetExtensionsResult{}, err
	}
	admin := e.isAdminOperator(p.Operator)
	after := e.enabled(extensionCommand(ref))
	now := e.now()
	var (
		res     SetExtensionsResult
		refused error
		events  int
	)
	ps := e.newPushes()
	err = e.store.InTx(ctx, func(tx parley.Querier) error {
		res, refused, events = SetExtensionsResult{}, nil, 0
		ps.reset()
		m, err := e.findExtensionMessage(ctx, tx, ref, p.Operator)
		if err != nil {
			return extensionRefusal(err, &refused)
		}
		state, err := tx.ExtensionStateGet(ctx, m.target)
		if err != nil {
			return fmt.Errorf("chat: get the extension state: %w", err)
		}
		w, err := planExtensionWrite(ctx, tx, m.target, state, p, admin)
		if err != nil {
			return extensionRefusal(err, &refused)
		}
		res.Results = w.results
		if w.appliesNothing() {
			res.Seq = state.Seq
			return nil
		}
		if err := tx.ExtensionWrite(ctx, w.params); err != nil {
			return fmt.Errorf("chat: write the extensions: %w", err)
		}
		res.Seq = w.params.Seq
		if err := e.pushExtension(ctx, tx, m, p, w, now, ps); err != nil {
			return err
		}
		if !after {
			return nil
		}
		body, err := marshal(m.webhook(p.OperateType, w.applied, w.params.Seq, now))
		if err != nil {
			return err
		}
		if err := tx.EventInsert(ctx, newEvent(m.command, m.conversation, body, p.Origin, now)); err != nil {
			return fmt.Errorf("chat: enqueue the after-extension event: %w", err)
		}
		events = 1
		return nil
	})
	if err != nil {
		return SetExtensionsResult{}, err
	}
	if refused != nil {
		return SetExtensionsResult{}, refused
	}
	ps.flush()
	e.notify(events)
	return res, nil
}

// pushExtension logs an applied extension operation as a change of the
// message's conversation and has it pushed to the conversation's online
// sessions.
func (e *Engine) pushExtension(ctx context.Context, tx parley.Querier, m extensionMessage, p SetExtensionsParams, w extensionWrite, now time.Time, ps *pushes) error {
	operator := p.Operator
	if operator == "" {
		operator = e.admin
	}
	d := extensionData{
		Operator:      operator,
		OperateType:   p.OperateType,
		ExtensionList: w.applied,
		Seq:           w.params.Seq,
	}
	a := parley.Audience{SkipSession: p.Origin.SessionID}
	if m.c2c != nil {
		d.ConversationType = conversationC2C
		d.From, d.To, d.MsgKey = m.c2c.From, m.c2c.To, m.c2c.MsgKey
		a.Users = []string{m.c2c.From, m.c2c.To}
	} else {
		d.ConversationType = conversationGroup
		d.GroupID, d.MsgSeq = m.groupID, m.msgSeq
		a.GroupID = m.groupID
	}
	data, err := marshal(d)
	if err != nil {
		return err
	}
	c, err := appendChange(ctx, tx, m.conversation, parley.ChangeExtension, data, now)
	if err != nil {
		return err
	}
	ps.add(tx, c, a)
	return nil
}

// extensionWrite is a planned operation: what to store, what the webhook
// lists and what to answer.
type extensionWrite struct {
	params  parley.ExtensionWriteParams
	applied []parley.ExtensionKV // never nil: the webhook's [] for a clear
	results []ExtensionResult
}

// appliesNothing reports whether every KV failed its Seq check: then
// nothing is written and no webhook fires.
func (w extensionWrite) appliesNothing() bool { return !w.params.Clear && len(w.applied) == 0 }

// planExtensionWrite checks each KV of p against what target holds and
// plans the write of those that pass. An *parley.Error refuses the whole
// call.
func planExtensionWrite(ctx context.Context, tx parley.Querier, target string, state parley.ExtensionState, p SetExtensionsParams, admin bool) (extensionWrite, error) {
	w := extensionWrite{
		params:  parley.ExtensionWriteParams{Target: target, Seq: state.Seq + 1},
		applied: make([]parley.ExtensionKV, 0, len(p.KVs)),
	}
	if p.OperateType == parley.ExtensionClear {
		w.params.Clear = true
		return w, nil
	}
	keys := make([]string, len(p.KVs))
	for i, kv := range p.KVs {
		keys[i] = kv.Key
	}
	stored, err := tx.ExtensionGetKeys(ctx, target, keys)
	if err != nil {
		return extensionWrite{}, fmt.Errorf("chat: get the extensions: %w", err)
	}
	current := make(map[string]parley.ExtensionKV, len(stored))
	for _, kv := range stored {
		current[kv.Key] = kv
	}
	count := state.Count
	w.results = make([]ExtensionResult, len(p.KVs))
	for i, kv := range p.KVs {
		cur, exists := current[kv.Key]
		if !exists {
			cur = parley.ExtensionKV{Key: kv.Key}
		}
		if !admin && kv.Seq != cur.Seq {
			w.results[i] = ExtensionResult{Code: parley.ErrExtensionConflict, KV: cur}
			continue
		}
		done := parley.ExtensionKV{Key: kv.Key, Seq: w.params.Seq}
		if p.OperateType == parley.ExtensionSet {
			done.Value = kv.Value
			w.params.Put = append(w.params.Put, done)
			if !exists {
				count++
			}
		} else {
			w.params.Delete = append(w.params.Delete, kv.Key)
			if exists {
				count--
			}
		}
		w.results[i] = ExtensionResult{KV: done}
		w.applied = append(w.applied, done)
	}
	if count > parley.MaxExtensionKVsPerMessage {
		return extensionWrite{}, parley.Errorf(parley.ErrFormat, "the message would have %d extension KVs, more than %d", count, parley.MaxExtensionKVsPerMessage)
	}
	return w, nil
}

// GetExtensions returns a page of a message's extensions (get_key_values,
// group_get_key_values): the KVs with Seq >= StartSeq by Seq then Key, at
// most 200, never splitting the KVs of one Seq between pages, so the next
// page starts at the last Seq + 1.
func (e *Engine) GetExtensions(ctx context.Context, p GetExtensionsParams) (GetExtensionsResult, error) {
	ref, err := e.checkExtensionRef(p.Ref)
	if err != nil {
		return GetExtensionsResult{}, err
	}
	var (
		res     GetExtensionsResult
		refused error
	)
	// Read in one transaction so that LatestSeq, ClearSeq and the KVs are
	// one version of the message, not parts of two.
	err = e.store.InTx(ctx, func(tx parley.Querier) error {
		res, refused = GetExtensionsResult{}, nil
		m, err := e.findExtensionMessage(ctx, tx, ref, p.Operator)
		if err != nil {
			return extensionRefusal(err, &refused)
		}
		state, err := tx.ExtensionStateGet(ctx, m.target)
		if err != nil {
			return fmt.Errorf("chat: get the extension state: %w", err)
		}
		kvs, err := tx.ExtensionList(ctx, parley.ExtensionListParams{Target: m.target, StartSeq: p.StartSeq, Limit: extensionFetch})
		if err != nil {
			return fmt.Errorf("chat: list the extensions: %w", err)
		}
		res = extensionPage(state, kvs)
		return nil
	})
	if err != nil {
		return GetExtensionsResult{}, err
	}
	if refused != nil {
		return GetExtensionsResult{}, refused
	}
	return res, nil
}

// extensionPage cuts kvs, up to extensionFetch of them in (Seq, Key)
// order, to one page.
func extensionPage(state parley.ExtensionState, kvs []parley.ExtensionKV) GetExtensionsResult {
	res := GetExtensionsResult{Complete: true, LatestSeq: state.Seq, ClearSeq: state.ClearSeq, KVs: kvs}
	if len(kvs) > parley.MaxExtensionKVsPerGet {
		res.Complete = false
		n := parley.MaxExtensionKVsPerGet
		if last := kvs[n-1].Seq; kvs[n].Seq == last {
			for n > 0 && kvs[n-1].Seq == last {
				n--
			}
			// One operation touches at most 20 KVs, so a Seq never fills a
			// page; should a store hold more, splitting it beats a page
			// that never moves on.
			if n == 0 {
				n = parley.MaxExtensionKVsPerGet
			}
		}
		res.KVs = kvs[:n]
	}
	if res.KVs == nil {
		res.KVs = []parley.ExtensionKV{}
	}
	return res
}

// extensionCommand is the after-extension webhook of ref's kind.
func extensionCommand(ref MessageRef) string {
	if ref.GroupID != "" {
		return parley.CommandGroupAfterExtension
	}
	return parley.CommandC2CAfterExtension
}

// checkExtensionRef checks the shape of ref, before any read: it returns
// ref with the C2C sender defaulted to the App admin.
func (e *Engine) checkExtensionRef(ref MessageRef) (MessageRef, error) {
	if ref.GroupID != "" {
		if err := checkGroupID(ref.GroupID); err != nil {
			return MessageRef{}, err
		}
		if ref.MsgSeq == 0 {
			return MessageRef{}, parley.Errorf(parley.ErrFormat, "MsgSeq must be a positive integer")
		}
		return ref, nil
	}
	if ref.From == "" {
		ref.From = e.admin
	}
	if err := ValidateUserID(ref.From); err != nil {
		return MessageRef{}, parley.Errorf(parley.ErrFromAccountInvalid, "From_Account: %s", err.(*parley.Error).Info)
	}
	if err := ValidateUserID(ref.To); err != nil {
		return MessageRef{}, parley.Errorf(parley.ErrToAccountInvalid, "To_Account: %s", err.(*parley.Error).Info)
	}
	if ref.MsgKey == "" {
		return MessageRef{}, parley.Errorf(parley.ErrMsgKeyInvalid, "MsgKey is empty")
	}
	return ref, nil
}

// checkExtensionOp checks an operation's shape (decision E2). A clear
// takes no KVs: any given are ignored.
func checkExtensionOp(op int, kvs []parley.ExtensionKV) error {
	switch op {
	case parley.ExtensionSet, parley.ExtensionDel:
	case parley.ExtensionClear:
		return nil
	default:
		return parley.Errorf(parley.ErrFormat, "OperateType %d is not 1 (set), 2 (delete) or 3 (clear)", op)
	}
	switch {
	case len(kvs) == 0:
		return parley.Errorf(parley.ErrFormat, "ExtensionList is required for OperateType %d", op)
	case len(kvs) > parley.MaxExtensionKVsPerCall:
		return parley.Errorf(parley.ErrFormat, "ExtensionList has %d KVs, more than %d", len(kvs), parley.MaxExtensionKVsPerCall)
	}
	seen := make(map[string]bool, len(kvs))
	for _, kv := range kvs {
		switch {
		case kv.Key == "":
			return parley.Errorf(parley.ErrFormat, "an extension Key is empty")
		case len(kv.Key) > parley.MaxExtensionKeyBytes:
			return parley.Errorf(parley.ErrFormat, "extension Key %q is %d bytes, longer than %d", kv.Key, len(kv.Key), parley.MaxExtensionKeyBytes)
		case len(kv.Value) > parley.MaxExtensionValueBytes:
			return parley.Errorf(parley.ErrFormat, "the Value of extension Key %q is %d bytes, longer than %d", kv.Key, len(kv.Value), parley.MaxExtensionValueBytes)
		case op == parley.ExtensionSet && kv.Value == "":
			return parley.Errorf(parley.ErrFormat, "the Value of extension Key %q is empty", kv.Key)
		case seen[kv.Key]:
			return parley.Errorf(parley.ErrFormat, "extension Key %q is given twice", kv.Key)
		}
		seen[kv.Key] = true
	}
	return nil
}

// isAdminOperator reports whether operator is the App admin, whose writes
// skip the per-KV Seq check and who may touch any conversation's messages.
func (e *Engine) isAdminOperator(operator string) bool {
	return operator == "" || operator == e.admin
}

// findExtensionMessage finds the message ref names, through q, and checks
// that operator may touch its extensions. The checks, in the order of
// decision E2: the accounts or the group, the message, recalled, sent
// without SupportMessageExtension, operator outside the conversation.
func (e *Engine) findExtensionMessage(ctx context.Context, q parley.Querier, ref MessageRef, operator string) (extensionMessage, error) {
	admin := e.isAdminOperator(operator)
	if ref.GroupID != "" {
		return e.findGroupExtensionMessage(ctx, q, ref, operator, admin)
	}
	if err := e.requireAccountsIn(ctx, q, ref.From, parley.ErrFromAccountInvalid, ref.To, parley.ErrToAccountInvalid, false); err != nil {
		return extensionMessage{}, err
	}
	m, err := q.MessageGetByKey(ctx, parley.MessageGetByKeyParams{From: ref.From, To: ref.To, MsgKey: ref.MsgKey})
	if errors.Is(err, parley.ErrNotFound) {
		return extensionMessage{}, parley.Errorf(parley.ErrMsgKeyInvalid, "no message %q from %q to %q", ref.MsgKey, ref.From, ref.To)
	}
	if err != nil {
		return extensionMessage{}, fmt.Errorf("chat: get message by key: %w", err)
	}
	switch {
	case m.Recalled:
		return extensionMessage{}, parley.Errorf(parley.ErrAlreadyRecalled, "message %q has been recalled", m.MsgKey)
	case !m.SupportExtension:
		return extensionMessage{}, parley.Errorf(parley.ErrBadRequestPacket, "message %q was not sent with SupportMessageExtension 1", m.MsgKey)
	case !admin && operator != m.From && operator != m.To:
		return extensionMessage{}, parley.Errorf(parley.ErrBadRequestPacket, "%q is neither the sender nor the recipient of message %q", operator, m.MsgKey)
	}
	return extensionMessage{
		target:       parley.C2CExtensionTarget(m.ID),
		conversation: parley.C2CConversation(m.From, m.To),
		command:      extensionCommand(ref),
		c2c:          m,
	}, nil
}

func (e *Engine) findGroupExtensionMessage(ctx context.Context, q parley.Querier, ref MessageRef, operator string, admin bool) (extensionMessage, error) {
	g, err := q.GroupGet(ctx, ref.GroupID)
	if errors.Is(err, parley.ErrNotFound) {
		return extensionMessage{}, parley.Errorf(parley.ErrGroupNotFound, "group %q does not exist", ref.GroupID)
	}
	if err != nil {
		return extensionMessage{}, fmt.Errorf("chat: get the group: %w", err)
	}
	// Spec decision 9.5: every type but AVChatRoom, whose messages are
	// not kept for anyone to come back to.
	if g.Type == parley.GroupAVChatRoom {
		return extensionMessage{}, parley.Errorf(parley.ErrGroupNotPermitted, "%s groups have no message extensions", g.Type)
	}
	m, err := q.GroupMessageGet(ctx, ref.GroupID, ref.MsgSeq)
	if errors.Is(err, parley.ErrNotFound) {
		return extensionMessage{}, parley.Errorf(parley.ErrGroupRecallNotFound, "group %q has no message %d", ref.GroupID, ref.MsgSeq)
	}
	if err != nil {
		return extensionMessage{}, fmt.Errorf("chat: get the group message: %w", err)
	}
	switch {
	case m.Recalled:
		return extensionMessage{}, parley.Errorf(parley.ErrAlreadyRecalled, "message %d of group %q has been recalled", m.MsgSeq, m.GroupID)
	case !m.SupportExtension:
		return extensionMessage{}, parley.Errorf(parley.ErrBadRequestPacket, "message %d of group %q was not sent with SupportMessageExtension 1", m.MsgSeq, m.GroupID)
	}
	if !admin {
		_, err := q.GroupMemberGet(ctx, ref.GroupID, operator)
		if errors.Is(err, parley.ErrNotFound) {
			return extensionMessage{}, parley.Errorf(parley.ErrGroupNotPermitted, "%q is not a member of group %q", operator, ref.GroupID)
		}
		if err != nil {
			return extensionMessage{}, fmt.Errorf("chat: get the group member: %w", err)
		}
	}
	return extensionMessage{
		target:       parley.GroupExtensionTarget(m.GroupID, m.MsgSeq),
		conversation: parley.GroupConversation(m.GroupID),
		command:      extensionCommand(ref),
		groupID:      m.GroupID,
		msgSeq:       m.MsgSeq,
	}, nil
}

// extensionRefusal sorts an error met inside a transaction before anything was
// written: a *parley.Error is the caller's answer, kept in refused while
// the fn succeeds, which spares the rest of a group-committed batch a
// re-run; anything else fails the fn.
func extensionRefusal(err error, refused *error) error {
	var perr *parley.Error
	if errors.As(err, &perr) {
		*refused = err
		return nil
	}
	return err
}
