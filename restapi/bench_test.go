package restapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/restapi"
	"github.com/parley-im/parley/usersig"
)

// BenchmarkSendMsg drives sendmsg over real HTTP into the real engine and
// SQLite store, from many concurrent clients, and reports requests/s.
func BenchmarkSendMsg(b *testing.B) {
	e := setup(b)
	e.importAccounts(b, "alice", "bob")
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}}
	defer client.CloseIdleConnections()
	target := e.url("openim", "sendmsg", e.adminQuery())
	var random atomic.Uint32

	b.SetParallelism(32) // goroutines per core: enough in flight for group commit
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := fmt.Sprintf(`{"From_Account":"alice","To_Account":"bob","MsgRandom":%d,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello, bob"}}]}`, random.Add(1))
			resp, err := client.Post(target, "application/json", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.HasPrefix(raw, []byte(`{"ActionStatus":"OK"`)) {
				b.Errorf("answer %s", raw)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkUserSig shows what the verified-UserSig cache saves per request:
// the same cheap call with the cache on and off, without network or
// database in the way.
func BenchmarkUserSig(b *testing.B) {
	now := time.Unix(1_750_000_000, 0)
	sig, err := usersig.Gen(usersig.GenParams{SDKAppID: appID, Key: secret, Identifier: admin, Expire: 86400, Time: now})
	if err != nil {
		b.Fatal(err)
	}
	target := "/v4/im_open_login_svc/account_check?sdkappid=" + fmt.Sprint(appID) + "&identifier=" + admin + "&usersig=" + sig + "&random=1&contenttype=json"
	body := []byte(`{"CheckItem":[{"UserID":"alice"}]}`)
	for _, bc := range []struct {
		name string
		size int
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			h, err := restapi.New(restapi.Config{
				Engine: checkingEngine{b}, SDKAppID: appID, SecretKey: secret, Admin: admin,
				UserSigCacheSize: bc.size, Now: func() time.Time { return now },
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body)))
					if !bytes.HasPrefix(rec.Body.Bytes(), []byte(`{"ActionStatus":"OK"`)) {
						b.Errorf("answer %s", rec.Body.Bytes())
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}
