package restapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
	"github.com/parley-im/parley/parleytest"
	"github.com/parley-im/parley/restapi"
	"github.com/parley-im/parley/usersig"
)

func TestEnvelope(t *testing.T) {
	e := setup(t)

	ok := e.post(t, "im_open_login_svc", "account_import", map[string]any{"UserID": "alice"})
	if got, want := string(ok.Raw), `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`; got != want {
		t.Errorf("OK answer = %s, want %s", got, want)
	}

	fail := e.post(t, "openim", "sendmsg", "{")
	if got, want := string(fail.Raw), `{"ActionStatus":"FAIL","ErrorInfo":"Fail to Parse json data of body, Please check it","ErrorCode":90001}`; got != want {
		t.Errorf("FAIL answer = %s, want %s", got, want)
	}

	// A command's own fields come after the envelope, every integer a number.
	e.importAccounts(t, "bob")
	sent := e.sendText(t, "alice", "bob", 7, "hi")
	if got, want := strings.Join(sent.Keys, ","), "MsgTime,MsgKey,MsgId"; got != want {
		t.Errorf("sendmsg fields = %s, want %s", got, want)
	}
	if !bytes.HasPrefix(sent.Raw, []byte(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"MsgTime":`)) {
		t.Errorf("sendmsg answer = %s", sent.Raw)
	}
	num(t, sent.Fields["MsgTime"])
}

func TestAuthErrors(t *testing.T) {
	e := setup(t)
	now := e.clock.Now()
	gen := func(p usersig.GenParams) string {
		if p.SDKAppID == 0 {
			p.SDKAppID = appID
		}
		if p.Key == "" {
			p.Key = secret
		}
		if p.Identifier == "" {
			p.Identifier = admin
		}
		if p.Expire == 0 {
			p.Expire = 3600
		}
		if p.Time.IsZero() {
			p.Time = now
		}
		return genSig(t, p)
	}
	tests := []struct {
		name       string
		identifier string
		sig        string
		want       int
	}{
		{"valid", admin, gen(usersig.GenParams{}), 0},
		{"expired", admin, gen(usersig.GenParams{Time: now.Add(-2 * time.Hour)}), parley.ErrUserSigExpired},
		{"expires this second is still valid", admin, gen(usersig.GenParams{Time: now.Add(-time.Hour)}), 0},
		{"not base64 zlib", admin, "this-is-not-a-usersig", parley.ErrUserSigInvalid},
		{"truncated", admin, e.sig[:len(e.sig)/2], parley.ErrUserSigInvalid},
		{"signed with another key", admin, gen(usersig.GenParams{Key: "another-key"}), parley.ErrUserSigVerify},
		{"identifier is not the sig's", admin, gen(usersig.GenParams{Identifier: "alice"}), parley.ErrUserSigIdentifier},
		{"sig of another app", admin, gen(usersig.GenParams{SDKAppID: appID + 1}), parley.ErrUserSigSDKAppID},
		{"valid sig of a non-admin", "alice", gen(usersig.GenParams{Identifier: "alice"}), parley.ErrNeedAdmin},
		{"userbuf not expected", admin, gen(usersig.GenParams{UserBuf: []byte{5}}), parley.ErrUserSigVerify},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := e.adminQuery()
			q.Set("identifier", tt.identifier)
			q.Set("usersig", tt.sig)
			before := e.snapshot(t)
			a := e.postQuery(t, "im_open_login_svc", "account_import", q, `{"UserID":"newbie"}`)
			a.wantCode(t, tt.want)
			if tt.want != 0 {
				if after := e.snapshot(t); after != before {
					t.Errorf("a refused call changed the store:\nbefore\n%s\nafter\n%s", before, after)
				}
			}
			if strings.Contains(a.Info, tt.sig) {
				t.Errorf("ErrorInfo leaks the usersig: %s", a.Info)
			}
		})
	}
}

// A cached verification must still honour the sig's expiry.
func TestCachedUserSigExpires(t *testing.T) {
	for _, size := range []int{0, -1} {
		t.Run(fmt.Sprintf("cache size %d", size), func(t *testing.T) {
			e := setup(t, func(o *options) { o.cacheSize = size })
			start := e.clock.Now()
			e.sig = genSig(t, usersig.GenParams{SDKAppID: appID, Key: secret, Identifier: admin, Expire: 60, Time: start})
			check := `{"CheckItem":[{"UserID":"alice"}]}`
			for range 3 {
				e.post(t, "im_open_login_svc", "account_check", check).ok(t)
			}
			e.clock.Set(start.Add(60 * time.Second))
			e.post(t, "im_open_login_svc", "account_check", check).ok(t)
			e.clock.Set(start.Add(61 * time.Second))
			e.post(t, "im_open_login_svc", "account_check", check).wantCode(t, parley.ErrUserSigExpired)
			e.post(t, "im_open_login_svc", "account_check", check).wantCode(t, parley.ErrUserSigExpired)
			// A wrong identifier with a cached sig is not let through.
			e.clock.Set(start)
			e.post(t, "im_open_login_svc", "account_check", check).ok(t)
			q := e.adminQuery()
			q.Set("identifier", "alice")
			e.postQuery(t, "im_open_login_svc", "account_check", q, check).wantCode(t, parley.ErrUserSigIdentifier)
		})
	}
}

// Many distinct sigs pass through a small cache; each is still verified.
func TestUserSigCacheBounded(t *testing.T) {
	e := setup(t, func(o *options) { o.cacheSize = 4 })
	start := e.clock.Now()
	check := `{"CheckItem":[{"UserID":"alice"}]}`
	for i := range 20 {
		e.sig = genSig(t, usersig.GenParams{SDKAppID: appID, Key: secret, Identifier: admin, Expire: int64(100 + i), Time: start})
		e.post(t, "im_open_login_svc", "account_check", check).ok(t)
	}
	e.sig = genSig(t, usersig.GenParams{SDKAppID: appID, Key: "wrong", Identifier: admin, Expire: 100, Time: start})
	e.post(t, "im_open_login_svc", "account_check", check).wantCode(t, parley.ErrUserSigVerify)
}

func TestQueryParams(t *testing.T) {
	e := setup(t)
	tests := []struct {
		name string
		edit func(q url.Values)
		want int
	}{
		{"all present", func(url.Values) {}, 0},
		{"sdkappid missing", func(q url.Values) { q.Del("sdkappid") }, parley.ErrSDKAppIDMissing},
		{"sdkappid empty", func(q url.Values) { q.Set("sdkappid", "") }, parley.ErrSDKAppIDMissing},
		{"sdkappid not a number", func(q url.Values) { q.Set("sdkappid", "14000x") }, parley.ErrSDKAppIDInvalid},
		{"sdkappid of another app", func(q url.Values) { q.Set("sdkappid", "1400000002") }, parley.ErrSDKAppIDInvalid},
		{"identifier missing", func(q url.Values) { q.Del("identifier") }, parley.ErrURLParams},
		{"usersig missing", func(q url.Values) { q.Del("usersig") }, parley.ErrURLParams},
		{"usersig empty", func(q url.Values) { q.Set("usersig", "") }, parley.ErrURLParams},
		{"contenttype not json", func(q url.Values) { q.Set("contenttype", "xml") }, parley.ErrURLParams},
		{"contenttype JSON upper case", func(q url.Values) { q.Set("contenttype", "JSON") }, parley.ErrURLParams},
		{"contenttype absent", func(q url.Values) { q.Del("contenttype") }, 0},
		{"random absent", func(q url.Values) { q.Del("random") }, 0},
		{"random 0", func(q url.Values) { q.Set("random", "0") }, 0},
		{"random 4294967295", func(q url.Values) { q.Set("random", "4294967295") }, 0},
		{"random 4294967296", func(q url.Values) { q.Set("random", "4294967296") }, parley.ErrURLParams},
		{"random negative", func(q url.Values) { q.Set("random", "-1") }, parley.ErrURLParams},
		{"random not a number", func(q url.Values) { q.Set("random", "abc") }, parley.ErrURLParams},
		{"random empty", func(q url.Values) { q.Set("random", "") }, parley.ErrURLParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := e.adminQuery()
			tt.edit(q)
			e.postQuery(t, "im_open_login_svc", "account_check", q, `{"CheckItem":[{"UserID":"alice"}]}`).wantCode(t, tt.want)
		})
	}
}

// Clients differ: some URL-encode the usersig, some paste it raw.
func TestUserSigEncodings(t *testing.T) {
	e := setup(t)
	var everyByte strings.Builder
	for i := 0; i < len(e.sig); i++ {
		fmt.Fprintf(&everyByte, "%%%02X", e.sig[i])
	}
	// Some clients keep the standard base64 alphabet and paste it raw: its
	// '+' arrives as a query space.
	toStd := strings.NewReplacer("*", "+", "-", "/", "_", "=")
	var std string
	for i := 0; !strings.Contains(std, "+"); i++ {
		std = toStd.Replace(genSig(t, usersig.GenParams{SDKAppID: appID, Key: secret, Identifier: admin, Expire: int64(86400 + i), Time: e.clock.Now()}))
	}
	for name, encoded := range map[string]string{
		"standard alphabet, raw": std,
		"raw":                    e.sig,
		"QueryEscape":            url.QueryEscape(e.sig),
		"every byte %XX":         everyByte.String(),
	} {
		t.Run(name, func(t *testing.T) {
			raw := fmt.Sprintf("%s/v4/im_open_login_svc/account_check?sdkappid=%d&identifier=%s&usersig=%s&random=4294967295&contenttype=json",
				e.srv.URL, appID, admin, encoded)
			do(t, http.MethodPost, raw, []byte(`{"CheckItem":[{"UserID":"alice"}]}`)).ok(t)
		})
	}
}

func TestUnknownResource(t *testing.T) {
	e := setup(t)
	for _, path := range []string{
		"/v4/openim/nosuchcommand",
		"/v4/nosuchservice/sendmsg",
		"/v4/openim",
		"/v4/openim/sendmsg/extra",
		"/v3/openim/sendmsg",
		"/",
		"/favicon.ico",
	} {
		t.Run(path, func(t *testing.T) {
			a := do(t, http.MethodPost, e.srv.URL+path+"?"+e.adminQuery().Encode(), []byte(`{}`))
			a.wantCode(t, parley.ErrBadResource)
			if !strings.Contains(a.Info, path) {
				t.Errorf("ErrorInfo %q does not name %s", a.Info, path)
			}
		})
	}
}

func TestMethodNotPost(t *testing.T) {
	e := setup(t)
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		t.Run(method, func(t *testing.T) {
			do(t, method, e.url("openim", "sendmsg", e.adminQuery()), nil).wantCode(t, parley.ErrHTTPParse)
		})
	}
	// HEAD cannot carry a body; it still gets HTTP 200 and no HTML.
	resp, err := http.Head(e.url("openim", "sendmsg", e.adminQuery()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("HEAD: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestBodyLimits(t *testing.T) {
	e := setup(t, func(o *options) { o.maxBody = 256 << 10 })
	e.importAccounts(t, "alice", "bob")
	pad := func(n int) string {
		// A valid sendmsg padded with an ignored field up to n bytes.
		base := `{"From_Account":"alice","To_Account":"bob","MsgRandom":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}],"Pad":""}`
		return strings.Replace(base, `"Pad":""`, `"Pad":"`+strings.Repeat("x", n-len(base))+`"`, 1)
	}
	tests := []struct {
		name, service, command, body string
		chunked                      bool
		want                         int
	}{
		{"sendmsg at 64 KiB", "openim", "sendmsg", pad(64 << 10), false, 0},
		{"sendmsg over 64 KiB", "openim", "sendmsg", pad(64<<10 + 1), false, parley.ErrJSONTooLong},
		{"sendmsg over 64 KiB, chunked", "openim", "sendmsg", pad(64<<10 + 1), true, parley.ErrJSONTooLong},
		{"batchsendmsg over 64 KiB", "openim", "batchsendmsg", pad(64<<10 + 1), false, parley.ErrJSONTooLong},
		{"account_check under MaxBodyBytes", "im_open_login_svc", "account_check", `{"CheckItem":[{"UserID":"alice"}],"Pad":"` + strings.Repeat("x", 200<<10) + `"}`, false, 0},
		{"account_check over MaxBodyBytes", "im_open_login_svc", "account_check", `{"CheckItem":[{"UserID":"alice"}],"Pad":"` + strings.Repeat("x", 256<<10) + `"}`, false, parley.ErrJSONTooLong},
		{"account_check over MaxBodyBytes, chunked", "im_open_login_svc", "account_check", `{"Pad":"` + strings.Repeat("x", 256<<10) + `"}`, true, parley.ErrJSONTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.snapshot(t)
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, err := http.NewRequest(http.MethodPost, e.url(tt.service, tt.command, e.adminQuery()), body)
			if err != nil {
				t.Fatal(err)
			}
			a := roundTrip(t, req)
			a.wantCode(t, tt.want)
			if tt.want == parley.ErrJSONTooLong {
				if !strings.Contains(a.Info, "bytes") {
					t.Errorf("ErrorInfo %q does not say the limit", a.Info)
				}
				if after := e.snapshot(t); after != before {
					t.Errorf("an oversized call changed the store")
				}
			}
		})
	}
	// The default cap is 1 MiB.
	d := setup(t)
	big := `{"CheckItem":[{"UserID":"alice"}],"Pad":"` + strings.Repeat("x", 1<<20) + `"}`
	d.post(t, "im_open_login_svc", "account_check", big).wantCode(t, parley.ErrJSONTooLong)
}

func TestBadJSONBody(t *testing.T) {
	e := setup(t)
	e.importAccounts(t, "alice")
	before := e.snapshot(t)
	bodies := []string{"", " ", "{", "null", "[]", `"x"`, "1", `{"UserID":"a"} trailing`, `{"UserID":"a"}{}`, "{'UserID':'a'}"}
	for _, resource := range []struct {
		service, command string
		want             int
	}{
		{"openim", "sendmsg", parley.ErrJSONParse},
		{"openim", "batchsendmsg", parley.ErrJSONParse},
		{"openim", "admin_getroammsg", parley.ErrJSONParse},
		{"openim", "admin_msgwithdraw", parley.ErrJSONParse},
		{"openim", "admin_set_msg_read", parley.ErrJSONParse},
		{"openim", "get_c2c_unread_msg_num", parley.ErrJSONParse},
		{"im_open_login_svc", "account_import", parley.ErrBodyJSON},
		{"im_open_login_svc", "multiaccount_import", parley.ErrBodyJSON},
		{"im_open_login_svc", "account_delete", parley.ErrBodyJSON},
		{"im_open_login_svc", "account_check", parley.ErrBodyJSON},
	} {
		for _, body := range bodies {
			t.Run(resource.command+"/"+body, func(t *testing.T) {
				e.post(t, resource.service, resource.command, body).wantCode(t, resource.want)
			})
		}
	}
	if e.snapshot(t) != before {
		t.Errorf("bad bodies changed the store")
	}
}

// fakeEngine stands in where a test is about the handler, not the engine.
// Methods not set panic (a nil embedded interface).
type fakeEngine struct {
	restapi.Engine
	send  func(context.Context, chat.SendParams) (chat.SendResult, error)
	check func(context.Context, []string) ([]chat.AccountStatus, error)
}

func (f *fakeEngine) SendC2C(ctx context.Context, p chat.SendParams) (chat.SendResult, error) {
	return f.send(ctx, p)
}

func (f *fakeEngine) AccountCheck(ctx context.Context, ids []string) ([]chat.AccountStatus, error) {
	return f.check(ctx, ids)
}

func TestInternalErrorsAreNotLeaked(t *testing.T) {
	var logs bytes.Buffer
	fake := &fakeEngine{
		send: func(context.Context, chat.SendParams) (chat.SendResult, error) {
			return chat.SendResult{}, errors.New("disk on fire at /var/secret")
		},
		check: func(context.Context, []string) ([]chat.AccountStatus, error) {
			var m map[string]int
			m["boom"]++ // a bug: nil map write
			return nil, nil
		},
	}
	h, err := restapi.New(restapi.Config{
		Engine: fake, SDKAppID: appID, SecretKey: secret, Admin: admin,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{handler: h, clock: parleytest.NewClock(time.Now())}
	e.srv = newServer(t, h)
	e.sig = genSig(t, usersig.GenParams{SDKAppID: appID, Key: secret, Identifier: admin, Expire: 3600})

	a := e.post(t, "openim", "sendmsg", obj("To_Account", `"bob"`, "MsgRandom", "1", "MsgBody", `[]`))
	a.wantCode(t, parley.ErrInternal)
	if strings.Contains(a.Info, "disk") {
		t.Errorf("ErrorInfo leaks the cause: %q", a.Info)
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("the cause was not logged:\n%s", logs.String())
	}

	e.post(t, "im_open_login_svc", "account_check", `{"CheckItem":[{"UserID":"alice"}]}`).wantCode(t, parley.ErrInternal)
	if !strings.Contains(logs.String(), "panic") {
		t.Errorf("the panic was not logged:\n%s", logs.String())
	}
	// The server is still serving.
	e.post(t, "openim", "nosuch", `{}`).wantCode(t, parley.ErrBadResource)
	if strings.Contains(logs.String(), e.sig) {
		t.Errorf("a usersig was logged")
	}
}

func TestNewValidatesConfig(t *testing.T) {
	fake := &fakeEngine{}
	valid := restapi.Config{Engine: fake, SDKAppID: appID, SecretKey: secret, Admin: admin}
	if _, err := restapi.New(valid); err != nil {
		t.Fatalf("New(valid) = %v", err)
	}
	tests := []struct {
		name string
		edit func(*restapi.Config)
		want string
	}{
		{"no engine", func(c *restapi.Config) { c.Engine = nil }, "Engine"},
		{"no sdkappid", func(c *restapi.Config) { c.SDKAppID = 0 }, "SDKAppID"},
		{"no key", func(c *restapi.Config) { c.SecretKey = "" }, "SecretKey"},
		{"no admin", func(c *restapi.Config) { c.Admin = "" }, "Admin"},
		{"bad admin", func(c *restapi.Config) { c.Admin = "two words" }, "Admin"},
		{"negative body cap", func(c *restapi.Config) { c.MaxBodyBytes = -1 }, "MaxBodyBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.edit(&cfg)
			_, err := restapi.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}
