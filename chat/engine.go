// Package chat is parley's engine: accounts, one-to-one messages, recall,
// read state and unread counts, groups and their messages, and message
// extensions. It validates what the REST layer decoded, makes the
// synchronous before-send callbacks, and writes each change and the
// after-callback events it causes in one store transaction, so a webhook is
// never lost nor sent for a change that did not commit. It knows nothing of
// HTTP or SQL: it talks to a parley.Store and a Caller.
//
// # Invariants
//
//   - A message, its unread count and its after-send event commit together,
//     or none of them do. So do a group message, its MsgSeq and its event,
//     and an extension write, its Seq and its event.
//   - An extension operation reads the version state, checks every KV and
//     writes in one transaction, so concurrent writers serialize and the
//     message-level Seq has no gaps.
//   - An unread count only ever counts messages that ConversationMarkRead
//     would count: not recalled, not NoUnread, not online-only, and newer
//     than the recipient's read time.
//   - The engine never waits for an after-callback: events are written to
//     the outbox and OnEvents tells the delivery worker to look.
package chat

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parley-im/parley"
)

// Config configures an Engine. Zero fields have the defaults documented on
// each.
type Config struct {
	// Store is required.
	Store parley.Store
	// Admin is the App admin, the sender of sendmsg and batchsendmsg calls
	// that name none. Zero means parley.DefaultAdminName. The admin is
	// imported the first time it sends, as Tencent's admin account exists
	// from the app's creation.
	Admin string
	// Caller makes before-callbacks; nil means none are made.
	Caller Caller
	// CallbackEnabled reports whether a callback command is switched on.
	// nil means none is: no before-callback is made and no event enqueued.
	CallbackEnabled func(command string) bool
	// RejectOnCallbackFailure answers 80003 when a before-callback fails or
	// answers an undocumented code; false delivers the message unchanged.
	RejectOnCallbackFailure bool
	// RestrictedWords are matched case-insensitively as substrings of text
	// elements. Empty words are ignored.
	RestrictedWords []string
	// GroupMsgRate is the most messages per second one group accepts
	// (send_group_msg answers 10023 beyond it). Zero means 40, Tencent's
	// limit; negative means no limit.
	GroupMsgRate int
	// Publisher is told every committed change clients see, to push it to
	// those online. nil means nobody is pushed anything; the changes are
	// logged for clients to sync all the same.
	Publisher Publisher
	// ClientRecallWindow is how long after sending a client may recall its
	// message. Zero means DefaultClientRecallWindow (Tencent's two
	// minutes). The App admin (REST) recalls at any age.
	ClientRecallWindow time.Duration
	// OnEvents is called after a commit that enqueued events. It must not
	// block. nil means nobody is told.
	OnEvents func()
	// Now is the clock. Zero means time.Now.
	Now func() time.Time
	// Rand draws MsgSeq and MsgId digits. It must be safe for concurrent
	// use. Zero means crypto/rand.
	Rand func() uint32
}

// DefaultGroupMsgRate is Tencent's per-group message rate: 40 a second.
const DefaultGroupMsgRate = 40

// Engine runs the chat operations. It holds no goroutines and is safe for
// concurrent use.
type Engine struct {
	store      parley.Store
	admin      string
	caller     Caller
	enabled    func(string) bool
	reject     bool
	restricted []string // lower case
	groupRate  int      // messages per second per group; 0 means no limit
	onEvents   func()
	pub        Publisher
	recallWin  time.Duration
	now        func() time.Time
	rand       func() uint32

	groupLimits groupLimiter // enforces groupRate; see group_send.go
}

// New validates cfg and returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("chat: Config.Store is required")
	}
	e := &Engine{
		store:     cfg.Store,
		admin:     cfg.Admin,
		caller:    cfg.Caller,
		enabled:   cfg.CallbackEnabled,
		reject:    cfg.RejectOnCallbackFailure,
		onEvents:  cfg.OnEvents,
		pub:       cfg.Publisher,
		recallWin: cfg.ClientRecallWindow,
		now:       cfg.Now,
		rand:      cfg.Rand,
	}
	if e.admin == "" {
		e.admin = parley.DefaultAdminName
	}
	if err := ValidateUserID(e.admin); err != nil {
		return nil, fmt.Errorf("chat: Config.Admin: %w", err)
	}
	if e.enabled == nil {
		e.enabled = func(string) bool { return false }
	}
	if e.now == nil {
		e.now = time.Now
	}
	switch {
	case e.recallWin == 0:
		e.recallWin = DefaultClientRecallWindow
	case e.recallWin < 0:
		return nil, fmt.Errorf("chat: Config.ClientRecallWindow %v is negative", cfg.ClientRecallWindow)
	}
	switch {
	case cfg.GroupMsgRate == 0:
		e.groupRate = DefaultGroupMsgRate
	case cfg.GroupMsgRate > 0:
		e.groupRate = cfg.GroupMsgRate
	}
	if e.rand == nil {
		e.rand = cryptoRand
	}
	for _, w := range cfg.RestrictedWords {
		if w = strings.ToLower(strings.TrimSpace(w)); w != "" {
			e.restricted = append(e.restricted, w)
		}
	}
	return e, nil
}

func cryptoRand() uint32 {
	var b [4]byte
	rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return binary.BigEndian.Uint32(b[:])
}

// requireAccounts checks that from and to are valid and imported, answering
// fromCode or toCode (the endpoint's "account invalid" codes) for the first
// that is not. With sending set, a missing App admin is imported on the
// spot instead, which costs nothing on the path of ordinary senders.
func (e *Engine) requireAccounts(ctx context.Context, from string, fromCode int, to string, toCode int, sending bool) error {
	return e.requireAccountsIn(ctx, e.store, from, fromCode, to, toCode, sending)
}

// requireAccountsIn is requireAccounts reading (and importing the admin)
// through q, which may be a transaction.
func (e *Engine) requireAccountsIn(ctx context.Context, q parley.Querier, from string, fromCode int, to string, toCode int, sending bool) error {
	fromName, toName := accountField(fromCode), accountField(toCode)
	if err := ValidateUserID(from); err != nil {
		return parley.Errorf(fromCode, "%s: %s", fromName, err.(*parley.Error).Info)
	}
	if err := ValidateUserID(to); err != nil {
		return parley.Errorf(toCode, "%s: %s", toName, err.(*parley.Error).Info)
	}
	found, err := q.AccountGetMany(ctx, []string{from, to})
	if err != nil {
		return fmt.Errorf("chat: get accounts: %w", err)
	}
	var hasFrom, hasTo bool
	for _, a := range found {
		hasFrom = hasFrom || a.UserID == from
		hasTo = hasTo || a.UserID == to
	}
	if !hasFrom && sending && from == e.admin {
		if _, err := q.AccountUpsert(ctx, parley.Account{UserID: from, CreatedAt: e.now()}); err != nil {
			return fmt.Errorf("chat: import the admin account: %w", err)
		}
		hasFrom = true
	}
	if !hasFrom {
		return parley.Errorf(fromCode, "%s %q is not imported", fromName, from)
	}
	if !hasTo {
		return parley.Errorf(toCode, "%s %q is not imported", toName, to)
	}
	return nil
}

func accountField(code int) string {
	switch code {
	case parley.ErrFromAccountInvalid:
		return "sender"
	case parley.ErrToAccountInvalid:
		return "recipient"
	}
	return "account"
}

func (e *Engine) notify(events int) {
	if events > 0 && e.onEvents != nil {
		e.onEvents()
	}
}
