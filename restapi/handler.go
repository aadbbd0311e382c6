// Package restapi is parley's Tencent-compatible server REST surface:
// POST /v4/{service}/{command}?sdkappid=&identifier=&usersig=&random=&contenttype=json,
// called by an app backend as the App admin.
//
// Every answer is HTTP 200 with a JSON body that starts with Tencent's
// envelope, {"ActionStatus","ErrorInfo","ErrorCode"} in that order, followed
// by the command's own fields. Errors become answers in exactly one place
// (answerFor): a *parley.Error gives its code and Info, anything else is
// 91000 and its cause is logged, never sent.
//
// Request bodies are decoded one level deep and every field's JSON type is
// checked by hand, so a wrongly typed field gets the code Tencent gives that
// field (90005 for MsgRandom, 90031 for SyncOtherMachine, ...). Integers
// must be JSON integers; a number sent as a string is rejected (spec
// decision 9.9). Unknown fields are ignored.
package restapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

// Engine is what the REST surface needs of the chat engine; *chat.Engine
// implements it.
type Engine interface {
	AccountImport(ctx context.Context, a parley.Account) error
	AccountImportMany(ctx context.Context, accounts []parley.Account) (failed []string, err error)
	AccountDelete(ctx context.Context, ids []string) ([]chat.AccountResult, error)
	AccountCheck(ctx context.Context, ids []string) ([]chat.AccountStatus, error)
	SendC2C(ctx context.Context, p chat.SendParams) (chat.SendResult, error)
	BatchSendC2C(ctx context.Context, p chat.BatchSendParams) (chat.BatchSendResult, error)
	Roam(ctx context.Context, p chat.RoamParams) (chat.RoamResult, error)
	Recall(ctx context.Context, p chat.RecallParams) error
	SetRead(ctx context.Context, p chat.SetReadParams) error
	Unread(ctx context.Context, p chat.UnreadParams) (chat.UnreadResult, error)

	CreateGroup(ctx context.Context, p chat.CreateGroupParams) (groupID string, err error)
	GetGroupInfo(ctx context.Context, groupIDs []string) ([]chat.GroupInfo, error)
	AddGroupMembers(ctx context.Context, p chat.AddMembersParams) ([]chat.MemberResult, error)
	DeleteGroupMembers(ctx context.Context, p chat.DeleteMembersParams) error
	GetGroupMembers(ctx context.Context, p chat.GetMembersParams) (chat.GetMembersResult, error)
	DestroyGroup(ctx context.Context, groupID string) error
	SendGroup(ctx context.Context, p chat.SendGroupParams) (chat.SendGroupResult, error)
	RecallGroup(ctx context.Context, p chat.RecallGroupParams) ([]chat.RecallResult, error)
	GroupHistory(ctx context.Context, p chat.GroupHistoryParams) (chat.GroupHistoryResult, error)

	SetExtensions(ctx context.Context, p chat.SetExtensionsParams) (chat.SetExtensionsResult, error)
	GetExtensions(ctx context.Context, p chat.GetExtensionsParams) (chat.GetExtensionsResult, error)
}

const (
	// DefaultMaxBodyBytes is the body cap when Config.MaxBodyBytes is zero.
	DefaultMaxBodyBytes = 1 << 20
	// MaxSendBodyBytes caps the raw request of sendmsg, batchsendmsg and
	// send_group_msg: a MsgBody may hold 12 KB of content, which JSON
	// escaping can grow several times, and nothing legitimate is larger.
	MaxSendBodyBytes = 64 << 10
	// DefaultUserSigCacheSize is the number of verified UserSigs kept when
	// Config.UserSigCacheSize is zero.
	DefaultUserSigCacheSize = 1024
)

// Config configures a Handler.
type Config struct {
	// Engine runs the commands. Required.
	Engine Engine
	// SDKAppID, SecretKey and Admin identify the app: requests must carry
	// this sdkappid and a UserSig for the Admin signed with SecretKey.
	// All required.
	SDKAppID  uint64
	SecretKey string
	Admin     string
	// MaxBodyBytes caps request bodies. Zero means 1 MiB. sendmsg,
	// batchsendmsg and send_group_msg are capped at MaxSendBodyBytes (or
	// this, if smaller).
	MaxBodyBytes int64
	// UserSigCacheSize bounds the cache of verified UserSigs, which spares
	// steady traffic a zlib inflate and an HMAC per request. Zero means
	// DefaultUserSigCacheSize; negative turns the cache off.
	UserSigCacheSize int
	// Now is the clock UserSig expiry is checked against. Nil means
	// time.Now.
	Now func() time.Time
	// Logger receives one debug line per request, a warning per failed
	// request and the cause of every internal error. Nil discards.
	Logger *slog.Logger
	// Outbox serves parley's own parley_webhook commands (see
	// webhookadmin.go). Nil leaves the service out: 60009.
	Outbox Outbox
	// OnEventsDue is called after replay_event or recover_events made
	// events due, to wake the delivery worker. Nil calls nothing.
	OnEventsDue func()
}

// Handler serves the REST API. It is safe for concurrent use.
type Handler struct {
	engine       Engine
	sdkAppID     uint64
	secretKey    string
	admin        string
	maxBodyBytes int64
	now          func() time.Time
	log          *slog.Logger
	sigs         *sigCache
	routes       map[string]route
	outbox       Outbox
	onEventsDue  func()
}

// route is one service/command.
type route struct {
	service string
	// limit is the body cap in bytes.
	limit int64
	// badJSON is the code for an empty or unparsable body: openim and the
	// extension service use 90001, the group service 10011, accounts the
	// generic 60003.
	badJSON int
	serve   func(h *Handler, c *call) (any, error)
}

// call is one decoded request as an endpoint sees it.
type call struct {
	ctx    context.Context
	f      fields
	origin parley.Origin
	// user is the logged-in user of a client session's request; "" for
	// REST calls, which are the App admin's.
	user string
}

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	var problems []string
	if cfg.Engine == nil {
		problems = append(problems, "Engine is required")
	}
	if cfg.SDKAppID == 0 {
		problems = append(problems, "SDKAppID is required")
	}
	if cfg.SecretKey == "" {
		problems = append(problems, "SecretKey is required")
	}
	if cfg.Admin == "" {
		problems = append(problems, "Admin is required")
	} else if err := chat.ValidateUserID(cfg.Admin); err != nil {
		problems = append(problems, fmt.Sprintf("Admin %q is not a valid UserID", cfg.Admin))
	}
	if cfg.MaxBodyBytes < 0 {
		problems = append(problems, fmt.Sprintf("MaxBodyBytes must not be negative, got %d", cfg.MaxBodyBytes))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("restapi: invalid config: %s", strings.Join(problems, "; "))
	}

	h := &Handler{
		engine:       cfg.Engine,
		sdkAppID:     cfg.SDKAppID,
		secretKey:    cfg.SecretKey,
		admin:        cfg.Admin,
		maxBodyBytes: cfg.MaxBodyBytes,
		now:          cfg.Now,
		log:          cfg.Logger,
		outbox:       cfg.Outbox,
		onEventsDue:  cfg.OnEventsDue,
	}
	if h.maxBodyBytes == 0 {
		h.maxBodyBytes = DefaultMaxBodyBytes
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	switch size := cfg.UserSigCacheSize; {
	case size == 0:
		h.sigs = newSigCache(DefaultUserSigCacheSize)
	case size > 0:
		h.sigs = newSigCache(size)
	}
	h.routes = h.buildRoutes()
	return h, nil
}

func (h *Handler) buildRoutes() map[string]route {
	sendLimit := min(h.maxBodyBytes, MaxSendBodyBytes)
	account := func(fn func(*Handler, *call) (any, error)) route {
		return route{service: "im_open_login_svc", limit: h.maxBodyBytes, badJSON: parley.ErrBodyJSON, serve: fn}
	}
	openim := func(limit int64, fn func(*Handler, *call) (any, error)) route {
		return route{service: "openim", limit: limit, badJSON: parley.ErrJSONParse, serve: fn}
	}
	group := func(limit int64, fn func(*Handler, *call) (any, error)) route {
		return route{service: "group_open_http_svc", limit: limit, badJSON: parley.ErrGroupJSONParse, serve: fn}
	}
	extension := func(fn func(*Handler, *call) (any, error)) route {
		return route{service: "openim_msg_ext_http_svc", limit: h.maxBodyBytes, badJSON: parley.ErrJSONParse, serve: fn}
	}
	return map[string]route{
		"im_open_login_svc/account_import":      account((*Handler).accountImport),
		"im_open_login_svc/multiaccount_import": account((*Handler).multiAccountImport),
		"im_open_login_svc/account_delete":      account((*Handler).accountDelete),
		"im_open_login_svc/account_check":       account((*Handler).accountCheck),
		"openim/sendmsg":                        openim(sendLimit, (*Handler).sendMsg),
		"openim/batchsendmsg":                   openim(sendLimit, (*Handler).batchSendMsg),
		"openim/admin_getroammsg":               openim(h.maxBodyBytes, (*Handler).getRoamMsg),
		"openim/admin_msgwithdraw":              openim(h.maxBodyBytes, (*Handler).msgWithdraw),
		"openim/admin_set_msg_read":             openim(h.maxBodyBytes, (*Handler).setMsgRead),
		"openim/get_c2c_unread_msg_num":         openim(h.maxBodyBytes, (*Handler).unreadMsgNum),

		"group_open_http_svc/create_group":          group(h.maxBodyBytes, (*Handler).createGroup),
		"group_open_http_svc/get_group_info":        group(h.maxBodyBytes, (*Handler).getGroupInfo),
		"group_open_http_svc/add_group_member":      group(h.maxBodyBytes, (*Handler).addGroupMember),
		"group_open_http_svc/delete_group_member":   group(h.maxBodyBytes, (*Handler).deleteGroupMember),
		"group_open_http_svc/get_group_member_info": group(h.maxBodyBytes, (*Handler).getGroupMemberInfo),
		"group_open_http_svc/destroy_group":         group(h.maxBodyBytes, (*Handler).destroyGroup),
		"group_open_http_svc/send_group_msg":        group(sendLimit, (*Handler).sendGroupMsg),
		"group_open_http_svc/group_msg_recall":      group(h.maxBodyBytes, (*Handler).groupMsgRecall),
		"group_open_http_svc/group_msg_get_simple":  group(h.maxBodyBytes, (*Handler).groupMsgGetSimple),

		"openim_msg_ext_http_svc/set_key_values":       extension((*Handler).setKeyValues),
		"openim_msg_ext_http_svc/get_key_values":       extension((*Handler).getKeyValues),
		"openim_msg_ext_http_svc/group_set_key_values": extension((*Handler).groupSetKeyValues),
		"openim_msg_ext_http_svc/group_get_key_values": extension((*Handler).groupGetKeyValues),

		"parley_webhook/list_events":    h.webhookRoute((*Handler).listEvents),
		"parley_webhook/get_event":      h.webhookRoute((*Handler).getEvent),
		"parley_webhook/replay_event":   h.webhookRoute((*Handler).replayEvent),
		"parley_webhook/recover_events": h.webhookRoute((*Handler).recoverEvents),
	}
}

// ServeHTTP answers one REST call. It never writes anything but HTTP 200
// and an envelope.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	resource := strings.TrimPrefix(r.URL.Path, "/v4/")
	var (
		result any
		err    error
	)
	func() {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			}
		}()
		result, err = h.serve(r, resource)
	}()
	code, info := h.answerFor(err, resource)
	if h.writeAnswer(w, code, info, result) != nil {
		// The connection is gone; there is no one left to tell.
		return
	}
	level := slog.LevelDebug
	if code != 0 {
		level = slog.LevelWarn
	}
	if h.log.Enabled(r.Context(), level) {
		h.log.Log(r.Context(), level, "restapi request",
			"resource", resource, "code", code, "info", info,
			"remote", r.RemoteAddr, "duration", time.Since(start))
	}
}

func (h *Handler) serve(r *http.Request, resource string) (any, error) {
	if r.Method != http.MethodPost {
		return nil, parley.Errorf(parley.ErrHTTPParse, "method %s not allowed: the REST API accepts POST only", r.Method)
	}
	rt, ok := h.routes[resource]
	if !ok || !strings.HasPrefix(r.URL.Path, "/v4/") {
		return nil, parley.Errorf(parley.ErrBadResource, "invalid service or command in URL: %q", r.URL.Path)
	}
	if err := h.authenticate(r); err != nil {
		return nil, err
	}
	body, err := readBody(r, rt.limit)
	if err != nil {
		return nil, err
	}
	f, ok := decodeObject(body)
	if !ok {
		return nil, parley.NewError(rt.badJSON)
	}
	return rt.serve(h, &call{ctx: r.Context(), f: f, origin: originOf(r)})
}

// readBody reads at most limit bytes of the body; a longer body is 93000.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	tooLong := func() error {
		return parley.Errorf(parley.ErrJSONTooLong, "request body exceeds the limit of %d bytes", limit)
	}
	if r.ContentLength > limit {
		return nil, tooLong()
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		// ReadFrom wants MinRead bytes free before each read, the one
		// that sees EOF included: without them it reallocates.
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, parley.Errorf(parley.ErrHTTPParse, "cannot read the request body: %v", err)
	}
	if n > limit {
		return nil, tooLong()
	}
	return buf.Bytes(), nil
}

// originOf says where a REST call came from for the webhooks it causes:
// the direct peer's address (no proxy headers are trusted, decision 9.8)
// and the RESTAPI platform.
func originOf(r *http.Request) parley.Origin {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return parley.Origin{ClientIP: host, OptPlatform: parley.OptPlatformREST}
}

// answerFor is the one table from errors to answers, logging the cause of
// an internal error.
func (h *Handler) answerFor(err error, resource string) (code int, info string) {
	code, info, internal := ErrorAnswer(err)
	if internal {
		h.log.Error("restapi internal error", "resource", resource, "err", err)
	}
	return code, info
}

// ErrorAnswer is the one table from errors to answers, shared by the REST
// surface and client sessions: 0 and "" for nil; the code and Info of a
// *parley.Error (its standard text when Info is empty); for anything else
// 91000 and its standard text, with internal set: the caller logs the
// cause, which is never sent.
func ErrorAnswer(err error) (code int, info string, internal bool) {
	if err == nil {
		return 0, "", false
	}
	var pe *parley.Error
	if errors.As(err, &pe) && pe.Code != 0 {
		info = pe.Info
		if info == "" {
			info = parley.ErrorText(pe.Code)
		}
		return pe.Code, info, false
	}
	return parley.ErrInternal, parley.ErrorText(parley.ErrInternal), true
}

// writeAnswer writes the envelope in Tencent's key order, then the fields
// of result (a struct or nil) after it. A failed answer carries the
// envelope only.
func (h *Handler) writeAnswer(w http.ResponseWriter, code int, info string, result any) error {
	status := "OK"
	if code != 0 {
		status = "FAIL"
		result = nil
	}
	buf := make([]byte, 0, 256)
	buf = append(buf, `{"ActionStatus":"`...)
	buf = append(buf, status...)
	buf = append(buf, `","ErrorInfo":`...)
	buf, err := appendJSON(buf, info)
	if err != nil {
		return err
	}
	buf = append(buf, `,"ErrorCode":`...)
	buf = strconv.AppendInt(buf, int64(code), 10)
	if result != nil {
		if buf, err = appendMembers(buf, result); err != nil {
			h.log.Error("restapi cannot encode answer", "err", err)
			return h.writeAnswer(w, parley.ErrInternal, parley.ErrorText(parley.ErrInternal), nil)
		}
	}
	buf = append(buf, '}')
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(buf)))
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(buf)
	return err
}

// appendJSON appends v as encoding/json encodes it without HTML escaping,
// which keeps message text byte for byte as sent. A string needing no
// escapes, the usual case, skips the encoder.
func appendJSON(dst []byte, v any) ([]byte, error) {
	if s, ok := v.(string); ok && plainString(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"'), nil
	}
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return dst, err
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil // Encode's newline
}

// plainString reports whether s is printable ASCII without '"' or '\\',
// which encoding/json writes between quotes as it is.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// membersAppender is a result that writes its own JSON members, as
// encoding/json would encode them, each preceded by a comma.
type membersAppender interface {
	appendMembers(dst []byte) []byte
}

// appendMembers appends the members of result, a struct, each preceded by
// a comma: the object encoding/json makes of it, without its braces.
func appendMembers(dst []byte, result any) ([]byte, error) {
	if a, ok := result.(membersAppender); ok {
		return a.appendMembers(dst), nil
	}
	mark := len(dst)
	out, err := appendJSON(dst, result)
	if err != nil {
		return dst, err
	}
	// out[mark:] is "{...}": its members, without the braces.
	members := bytes.TrimSpace(out[mark+1 : len(out)-1])
	if len(members) == 0 {
		return out[:mark], nil
	}
	n := copy(out[mark+1:], members)
	out[mark] = ','
	return out[:mark+1+n], nil
}
