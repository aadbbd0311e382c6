package usersig_test

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/usersig"
)

// The reproducible vector of spec section 6.
const (
	specSDKAppID   = 1400000000
	specKey        = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
	specID         = "xiaojun"
	specTime       = 1700000000
	specExpire     = 15552000
	specHMACHex    = "2ef03b77f230ee04ac9ec92f5730433ce0820dbb8d0b0e061f04c2d1b8a9f81e"
	specSig        = "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="
	specLevel9     = "eNqrVgrxCdYrSy1SslIy0jNQ0gHzM1NS80oy0zLBwhWZiflZpXlQqeKU7MSCgswUJStDEwMogMikVhRkFqUCxU1NTY3goiWZuSAxc1S1xZnpQJN9yhzNU-Q9y83Tg4vzirPLwqqcXAL8nZ1dkkr9nMtN3D3KQ5wNkjILtJ1MbJVqAa3HMfI_"
	specLevel0     = "eAEBqwBU-3siVExTLnZlciI6IjIuMCIsIlRMUy5pZGVudGlmaWVyIjoieGlhb2p1biIsIlRMUy5zZGthcHBpZCI6MTQwMDAwMDAwMCwiVExTLmV4cGlyZSI6MTU1NTIwMDAsIlRMUy50aW1lIjoxNzAwMDAwMDAwLCJUTFMuc2lnIjoiTHZBN2QvSXc3Z1NzbnNrdlZ6QkRQT0NDRGJ1TkN3NEdId1RDMGJpcCtCND0ifa3HMfI_"
	specPython     = "eJyrVgrxCdYrSy1SslJQMtIzUNJRAItkpqTmlWSmZUIkKjIT87NK82CSxSnZiQUFmSlAKUMTAyiAyqVWFGQWpYJkTE1NjRDiJZm5YFFzNPXFmekgG3zKHM1T9D3LzdODi-OKs8vCqpxcAvydnV2SSv2cy03cPcpDnA2SMgu0nUxslWoBHdYzUg__"
	specUserBufSig = "Im15dLZ7jHelhF6mNjTZkjYEA1fu0NUjUnXyvlZjBQs="
)

type vector struct {
	Lib        string `json:"lib"`
	SDKAppID   uint64 `json:"sdkappid"`
	Key        string `json:"key"`
	Identifier string `json:"identifier"`
	Time       int64  `json:"time"`
	Expire     int64  `json:"expire"`
	UserSig    string `json:"usersig"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	b, err := os.ReadFile("testdata/usersig-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

// specVectors are the section 6 UserSigs, all of the same ticket.
func specVectors() []vector {
	var vs []vector
	for _, s := range []string{specLevel9, specLevel0, specPython} {
		vs = append(vs, vector{Lib: "spec", SDKAppID: specSDKAppID, Key: specKey, Identifier: specID, Time: specTime, Expire: specExpire, UserSig: s})
	}
	return vs
}

// otherKey differs from key in its last character.
func otherKey(key string) string {
	last := key[len(key)-1]
	if last == 'x' {
		last = 'y'
	} else {
		last = 'x'
	}
	return key[:len(key)-1] + string(last)
}

func checkVector(t *testing.T, v vector) {
	t.Helper()
	at := func(sec int64) time.Time { return time.Unix(sec, 0) }
	end := v.Time + v.Expire
	tests := []struct {
		name string
		p    usersig.VerifyParams
		want error
	}{
		{"issue time", usersig.VerifyParams{SDKAppID: v.SDKAppID, Key: v.Key, Identifier: v.Identifier, Now: at(v.Time)}, nil},
		{"last valid second", usersig.VerifyParams{SDKAppID: v.SDKAppID, Key: v.Key, Identifier: v.Identifier, Now: at(end)}, nil},
		{"one second late", usersig.VerifyParams{SDKAppID: v.SDKAppID, Key: v.Key, Identifier: v.Identifier, Now: at(end + 1)}, usersig.ErrExpired},
		{"wrong key", usersig.VerifyParams{SDKAppID: v.SDKAppID, Key: otherKey(v.Key), Identifier: v.Identifier, Now: at(v.Time)}, usersig.ErrBadSignature},
		{"wrong identifier", usersig.VerifyParams{SDKAppID: v.SDKAppID, Key: v.Key, Identifier: v.Identifier + "x", Now: at(v.Time)}, usersig.ErrIdentifierMismatch},
		{"wrong sdkappid", usersig.VerifyParams{SDKAppID: v.SDKAppID + 1, Key: v.Key, Identifier: v.Identifier, Now: at(v.Time)}, usersig.ErrSDKAppIDMismatch},
		{"expects a userbuf", usersig.VerifyParams{SDKAppID: v.SDKAppID, Key: v.Key, Identifier: v.Identifier, Now: at(v.Time), UserBuf: []byte{}}, usersig.ErrUserBufMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.p.UserSig = v.UserSig
			got := usersig.Verify(tt.p)
			if !errors.Is(got, tt.want) || (tt.want == nil) != (got == nil) {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("decode", func(t *testing.T) {
		s, err := usersig.Decode(v.UserSig)
		if err != nil {
			t.Fatal(err)
		}
		want := usersig.Sig{Identifier: v.Identifier, SDKAppID: v.SDKAppID, Time: v.Time, Expire: v.Expire, Sig: s.Sig}
		if !sigEqual(*s, want) {
			t.Fatalf("Decode = %+v, want %+v", *s, want)
		}
		if got, want := s.Sig, refMAC(v.Key, *s); !bytes.Equal(got, want) {
			t.Fatalf("TLS.sig = %x, want %x", got, want)
		}
	})
}

func TestVectorsFile(t *testing.T) {
	for i, v := range loadVectors(t) {
		t.Run(fmt.Sprintf("%d_%s_%s_%d", i, v.Lib, v.Identifier, v.Expire), func(t *testing.T) { checkVector(t, v) })
	}
}

func TestSpecVectors(t *testing.T) {
	for i, v := range specVectors() {
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkVector(t, v) })
	}
	for _, s := range []string{specLevel9, specLevel0, specPython} {
		d, err := usersig.Decode(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(d.Sig); got != specHMACHex {
			t.Errorf("HMAC = %s, want %s", got, specHMACHex)
		}
		if got := base64.StdEncoding.EncodeToString(d.Sig); got != specSig {
			t.Errorf("TLS.sig = %s, want %s", got, specSig)
		}
	}
}

// Gen writes the same document as the spec's level-0 vector, byte for byte.
func TestGenMatchesSpecLevel0(t *testing.T) {
	got, err := usersig.Gen(usersig.GenParams{SDKAppID: specSDKAppID, Key: specKey, Identifier: specID, Expire: specExpire, Time: time.Unix(specTime, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if got != specLevel0 {
		t.Fatalf("Gen = %s\nwant  %s", got, specLevel0)
	}
}

func TestGenUserBufVector(t *testing.T) {
	p := usersig.GenParams{SDKAppID: specSDKAppID, Key: specKey, Identifier: specID, Expire: specExpire, Time: time.Unix(specTime, 0), UserBuf: []byte{0x05}}
	us, err := usersig.Gen(p)
	if err != nil {
		t.Fatal(err)
	}
	d, err := usersig.Decode(us)
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.StdEncoding.EncodeToString(d.Sig); got != specUserBufSig {
		t.Fatalf("TLS.sig = %s, want %s", got, specUserBufSig)
	}
	if !bytes.Equal(d.UserBuf, []byte{0x05}) {
		t.Fatalf("UserBuf = %x, want 05", d.UserBuf)
	}
	if doc := inflate(t, us); !strings.Contains(doc, `"TLS.userbuf":"BQ=="`) {
		t.Fatalf("document %s lacks TLS.userbuf BQ==", doc)
	}
}

func TestGenVerifyRoundTrip(t *testing.T) {
	issued := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		p    usersig.GenParams
	}{
		{"plain", usersig.GenParams{SDKAppID: 1400000001, Key: "secret", Identifier: "administrator", Expire: 86400, Time: issued}},
		{"userbuf", usersig.GenParams{SDKAppID: 1400000001, Key: "secret", Identifier: "alice", Expire: 60, Time: issued, UserBuf: []byte("\x00\x01room-7\xff")}},
		{"empty userbuf", usersig.GenParams{SDKAppID: 1, Key: "2", Identifier: "3", Expire: 4, Time: issued, UserBuf: []byte{}}},
		{"json-special identifier", usersig.GenParams{SDKAppID: 7, Key: "k", Identifier: `<a&"b">\é`, Expire: 1, Time: issued}},
		{"max sdkappid", usersig.GenParams{SDKAppID: 1<<64 - 1, Key: "k", Identifier: "u", Expire: 1 << 40, Time: issued}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			us, err := usersig.Gen(tt.p)
			if err != nil {
				t.Fatal(err)
			}
			vp := usersig.VerifyParams{UserSig: us, SDKAppID: tt.p.SDKAppID, Key: tt.p.Key, Identifier: tt.p.Identifier, UserBuf: tt.p.UserBuf}
			end := issued.Unix() + tt.p.Expire // Duration would overflow for long lifetimes
			for _, now := range []time.Time{issued, time.Unix(end, 0)} {
				vp.Now = now
				if err := usersig.Verify(vp); err != nil {
					t.Fatalf("Verify at %v: %v", now, err)
				}
			}
			vp.Now = time.Unix(end+1, 0)
			if err := usersig.Verify(vp); !errors.Is(err, usersig.ErrExpired) {
				t.Fatalf("Verify one second late = %v, want ErrExpired", err)
			}
			d, err := usersig.Decode(us)
			if err != nil {
				t.Fatal(err)
			}
			want := usersig.Sig{Identifier: tt.p.Identifier, SDKAppID: tt.p.SDKAppID, Time: issued.Unix(), Expire: tt.p.Expire, UserBuf: tt.p.UserBuf, Sig: refMAC(tt.p.Key, usersig.Sig{Identifier: tt.p.Identifier, SDKAppID: tt.p.SDKAppID, Time: issued.Unix(), Expire: tt.p.Expire, UserBuf: tt.p.UserBuf})}
			if !sigEqual(*d, want) {
				t.Fatalf("Decode = %+v, want %+v", *d, want)
			}
		})
	}
}

func TestGenZeroTimeIsNow(t *testing.T) {
	before := time.Now().Unix()
	us, err := usersig.Gen(usersig.GenParams{SDKAppID: 1, Key: "k", Identifier: "u", Expire: 10})
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Unix()
	d, err := usersig.Decode(us)
	if err != nil {
		t.Fatal(err)
	}
	if d.Time < before || d.Time > after {
		t.Fatalf("Time = %d, want within [%d, %d]", d.Time, before, after)
	}
	if err := usersig.Verify(usersig.VerifyParams{UserSig: us, SDKAppID: 1, Key: "k", Identifier: "u"}); err != nil {
		t.Fatalf("Verify with zero Now: %v", err)
	}
}

func TestGenRejects(t *testing.T) {
	ok := usersig.GenParams{SDKAppID: 1400000000, Key: "k", Identifier: "u", Expire: 60}
	tests := []struct {
		name   string
		modify func(*usersig.GenParams)
		wantIn string
	}{
		{"zero sdkappid", func(p *usersig.GenParams) { p.SDKAppID = 0 }, "SDKAppID is zero"},
		{"empty key", func(p *usersig.GenParams) { p.Key = "" }, "key is empty"},
		{"empty identifier", func(p *usersig.GenParams) { p.Identifier = "" }, "identifier is empty"},
		{"newline in identifier", func(p *usersig.GenParams) { p.Identifier = "a\nTLS.sdkappid:1" }, "newline"},
		{"invalid UTF-8 identifier", func(p *usersig.GenParams) { p.Identifier = "a\xffb" }, "UTF-8"},
		{"zero expire", func(p *usersig.GenParams) { p.Expire = 0 }, "expire must be positive, got 0"},
		{"negative expire", func(p *usersig.GenParams) { p.Expire = -5 }, "expire must be positive, got -5"},
		{"too long", func(p *usersig.GenParams) { p.UserBuf = make([]byte, usersig.MaxLen) }, "more than the 4096 Verify accepts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.modify(&p)
			got, err := usersig.Gen(p)
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Fatalf("Gen = %q, %v; want an error containing %q", got, err, tt.wantIn)
			}
		})
	}
	if _, err := usersig.Gen(ok); err != nil {
		t.Fatalf("Gen(valid) = %v", err)
	}
}

// Checks run in Tencent's order, so a ticket wrong in several ways reports
// the first.
func TestVerifyCheckOrder(t *testing.T) {
	issued := time.Unix(specTime, 0)
	late := issued.Add((specExpire + 1) * time.Second)
	base := usersig.VerifyParams{UserSig: specLevel9, SDKAppID: specSDKAppID, Key: specKey, Identifier: specID, Now: issued}
	tests := []struct {
		name   string
		modify func(*usersig.VerifyParams)
		want   error
	}{
		{"everything wrong", func(p *usersig.VerifyParams) {
			p.SDKAppID, p.Identifier, p.Now, p.Key, p.UserBuf = 9, "bob", late, "other", []byte{1}
		}, usersig.ErrSDKAppIDMismatch},
		{"identifier, expiry, userbuf, key", func(p *usersig.VerifyParams) { p.Identifier, p.Now, p.Key, p.UserBuf = "bob", late, "other", []byte{1} }, usersig.ErrIdentifierMismatch},
		{"expiry, userbuf, key", func(p *usersig.VerifyParams) { p.Now, p.Key, p.UserBuf = late, "other", []byte{1} }, usersig.ErrExpired},
		{"userbuf, key", func(p *usersig.VerifyParams) { p.Key, p.UserBuf = "other", []byte{1} }, usersig.ErrUserBufMismatch},
		{"key", func(p *usersig.VerifyParams) { p.Key = "other" }, usersig.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.modify(&p)
			got := usersig.Verify(p)
			if !errors.Is(got, tt.want) {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
			for _, other := range []error{usersig.ErrMalformed, usersig.ErrSDKAppIDMismatch, usersig.ErrIdentifierMismatch, usersig.ErrExpired} {
				if other != tt.want && errors.Is(got, other) {
					t.Fatalf("Verify = %v, also matches %v", got, other)
				}
			}
		})
	}
}

func TestVerifyUserBuf(t *testing.T) {
	issued := time.Unix(specTime, 0)
	gen := func(buf []byte) string {
		us, err := usersig.Gen(usersig.GenParams{SDKAppID: 5, Key: "k", Identifier: "u", Expire: 10, Time: issued, UserBuf: buf})
		if err != nil {
			t.Fatal(err)
		}
		return us
	}
	tests := []struct {
		name      string
		sigBuf    []byte
		expectBuf []byte
		want      error
	}{
		{"none, none", nil, nil, nil},
		{"same", []byte("abc"), []byte("abc"), nil},
		{"empty, empty", []byte{}, []byte{}, nil},
		{"has one, none expected", []byte("abc"), nil, usersig.ErrUserBufMismatch},
		{"empty, none expected", []byte{}, nil, usersig.ErrUserBufMismatch},
		{"none, one expected", nil, []byte("abc"), usersig.ErrUserBufMismatch},
		{"none, empty expected", nil, []byte{}, usersig.ErrUserBufMismatch},
		{"different", []byte("abc"), []byte("abd"), usersig.ErrUserBufMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := usersig.Verify(usersig.VerifyParams{UserSig: gen(tt.sigBuf), SDKAppID: 5, Key: "k", Identifier: "u", Now: issued, UserBuf: tt.expectBuf})
			if !errors.Is(got, tt.want) || (tt.want == nil) != (got == nil) {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
			if tt.want != nil && !errors.Is(got, usersig.ErrBadSignature) {
				t.Fatalf("Verify = %v, want it to match ErrBadSignature too", got)
			}
		})
	}
}

// The empty userbuf of the Python and PHP libraries is signed as an empty
// line, and a document that drops the key no longer verifies.
func TestVerifyEmptyUserBufIsSigned(t *testing.T) {
	d := usersig.Sig{Identifier: "u", SDKAppID: 5, Time: specTime, Expire: 10, UserBuf: []byte{}}
	sig := b64(refMAC("k", d))
	with := zlibB64(t, fmt.Sprintf(`{"TLS.ver":"2.0","TLS.identifier":"u","TLS.sdkappid":5,"TLS.expire":10,"TLS.time":%d,"TLS.userbuf":"","TLS.sig":%q}`, specTime, sig), zlib.DefaultCompression)
	without := zlibB64(t, fmt.Sprintf(`{"TLS.ver":"2.0","TLS.identifier":"u","TLS.sdkappid":5,"TLS.expire":10,"TLS.time":%d,"TLS.sig":%q}`, specTime, sig), zlib.DefaultCompression)
	p := usersig.VerifyParams{UserSig: with, SDKAppID: 5, Key: "k", Identifier: "u", Now: time.Unix(specTime, 0), UserBuf: []byte{}}
	if err := usersig.Verify(p); err != nil {
		t.Fatalf("Verify(with empty userbuf) = %v", err)
	}
	p.UserSig, p.UserBuf = without, nil
	if err := usersig.Verify(p); !errors.Is(err, usersig.ErrBadSignature) {
		t.Fatalf("Verify(userbuf dropped) = %v, want ErrBadSignature", err)
	}
}

// Generators differ in key order, whitespace and zlib level; all verify.
func TestVerifyTolerantEncodings(t *testing.T) {
	sig := specSig
	docs := []struct {
		name string
		json string
	}{
		{"go order with newline", `{"TLS.ver":"2.0","TLS.identifier":"xiaojun","TLS.sdkappid":1400000000,"TLS.expire":15552000,"TLS.time":1700000000,"TLS.sig":"` + sig + `"}` + "\n"},
		{"sorted keys", `{"TLS.expire":15552000,"TLS.identifier":"xiaojun","TLS.sdkappid":1400000000,"TLS.sig":"` + sig + `","TLS.time":1700000000,"TLS.ver":"2.0"}`},
		{"pretty", "{\n\t\"TLS.sig\" : \"" + sig + "\",\r\n  \"TLS.time\" : 1700000000 ,\n\"TLS.expire\":15552000,\"TLS.sdkappid\":1400000000,\"TLS.identifier\":\"xiaojun\",\"TLS.ver\":\"2.0\"\n}\n"},
		{"no ver", `{"TLS.identifier":"xiaojun","TLS.sdkappid":1400000000,"TLS.expire":15552000,"TLS.time":1700000000,"TLS.sig":"` + sig + `"}`},
		{"unknown key", `{"TLS.ver":"2.0","TLS.identifier":"xiaojun","TLS.sdkappid":1400000000,"TLS.expire":15552000,"TLS.time":1700000000,"TLS.sig":"` + sig + `","TLS.extra":[1,{"a":null}]}`},
		{"escaped identifier", `{"TLS.ver":"2.0","TLS.identifier":"xiao\u006aun","TLS.sdkappid":1400000000,"TLS.expire":15552000,"TLS.time":1700000000,"TLS.sig":"` + strings.ReplaceAll(sig, "/", `\/`) + `"}`},
	}
	for _, d := range docs {
		for _, level := range []int{zlib.NoCompression, zlib.BestSpeed, zlib.DefaultCompression, zlib.BestCompression} {
			t.Run(fmt.Sprintf("%s/level%d", d.name, level), func(t *testing.T) {
				us := zlibB64(t, d.json, level)
				err := usersig.Verify(usersig.VerifyParams{UserSig: us, SDKAppID: specSDKAppID, Key: specKey, Identifier: specID, Now: time.Unix(specTime, 0)})
				if err != nil {
					t.Fatalf("Verify = %v", err)
				}
			})
		}
	}
	t.Run("standard base64 alphabet", func(t *testing.T) {
		std := strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(specLevel9)
		if std == specLevel9 {
			t.Fatal("vector has no substituted characters")
		}
		if err := usersig.Verify(usersig.VerifyParams{UserSig: std, SDKAppID: specSDKAppID, Key: specKey, Identifier: specID, Now: time.Unix(specTime, 0)}); err != nil {
			t.Fatalf("Verify = %v", err)
		}
	})
}

func TestDecodeMalformed(t *testing.T) {
	doc := func(fields string) string {
		return zlibB64(t, "{"+fields+"}", zlib.DefaultCompression)
	}
	const (
		id  = `"TLS.identifier":"xiaojun"`
		app = `"TLS.sdkappid":1400000000`
		tm  = `"TLS.time":1700000000`
		exp = `"TLS.expire":15552000`
		sig = `"TLS.sig":"` + specSig + `"`
	)
	join := func(fs ...string) string { return doc(strings.Join(fs, ",")) }
	raw, err := base64.StdEncoding.DecodeString(strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(specLevel0))
	if err != nil {
		t.Fatal(err)
	}
	enc := func(b []byte) string {
		return strings.NewReplacer("+", "*", "/", "-", "=", "_").Replace(base64.StdEncoding.EncodeToString(b))
	}
	badSum := bytes.Clone(raw)
	badSum[len(badSum)-1] ^= 1
	badBody := bytes.Clone(raw)
	badBody[20] ^= 0x20 // a byte of JSON in a stored block

	tests := []struct {
		name   string
		in     string
		wantIn string
	}{
		{"empty", "", "empty"},
		{"not base64", "this is not base64!", "not base64"},
		{"bad padding", specLevel9[:len(specLevel9)-1], "not base64"},
		{"truncated text", specLevel9[:len(specLevel9)/2], "not base64"},
		{"truncated stream", enc(raw[:len(raw)-20]), "zlib"},
		{"truncated checksum", enc(raw[:len(raw)-2]), "zlib"},
		{"bad checksum", enc(badSum), "zlib"},
		{"flipped body byte", enc(badBody), "zlib"},
		{"trailing bytes", enc(append(bytes.Clone(raw), 0, 0)), "2 bytes after the zlib stream"},
		{"base64 of non-zlib", enc([]byte("hello, world; no zlib here")), "not zlib"},
		{"zlib of non-JSON", zlibB64(t, "TLS.identifier:xiaojun", 6), "JSON"},
		{"zlib of nothing", zlibB64(t, "", 6), "JSON"},
		{"JSON null", zlibB64(t, "null", 6), "null"},
		{"JSON array", zlibB64(t, "[1,2]", 6), "JSON"},
		{"trailing JSON", zlibB64(t, "{"+strings.Join([]string{id, app, tm, exp, sig}, ",")+"} {}", 6), "JSON"},
		{"no identifier", join(app, tm, exp, sig), "no TLS.identifier"},
		{"no sdkappid", join(id, tm, exp, sig), "no TLS.sdkappid"},
		{"no time", join(id, app, exp, sig), "no TLS.time"},
		{"no expire", join(id, app, tm, sig), "no TLS.expire"},
		{"no sig", join(id, app, tm, exp), "no TLS.sig"},
		{"keys differ in case", join(`"tls.identifier":"xiaojun"`, app, tm, exp, sig), "no TLS.identifier"},
		{"legacy v1 keys", join(`"TLS.ver":"2.0"`, id, `"TLS.sdk_appid":"1400000000"`, `"TLS.expire_after":"180"`, tm, sig), "no TLS.sdkappid"},
		{"sdkappid as string", join(id, `"TLS.sdkappid":"1400000000"`, tm, exp, sig), "want a number"},
		{"sdkappid negative", join(id, `"TLS.sdkappid":-1`, tm, exp, sig), "not an unsigned"},
		{"sdkappid too big", join(id, `"TLS.sdkappid":18446744073709551616`, tm, exp, sig), "not an unsigned"},
		{"time fraction", join(id, app, `"TLS.time":1700000000.5`, exp, sig), "not a 64-bit integer"},
		{"time exponent", join(id, app, `"TLS.time":1.7e9`, exp, sig), "not a 64-bit integer"},
		{"expire as string", join(id, app, tm, `"TLS.expire":"15552000"`, sig), "want a number"},
		{"expire null", join(id, app, tm, `"TLS.expire":null`, sig), "want a number"},
		{"identifier number", join(`"TLS.identifier":7`, app, tm, exp, sig), "want a string"},
		{"ver 3", join(`"TLS.ver":"3.0"`, id, app, tm, exp, sig), "TLS.ver"},
		{"ver number", join(`"TLS.ver":2.0`, id, app, tm, exp, sig), "TLS.ver"},
		{"sig not base64", join(id, app, tm, exp, `"TLS.sig":"%%%"`), "TLS.sig is not base64"},
		{"sig short", join(id, app, tm, exp, `"TLS.sig":"AAAA"`), "3 bytes"},
		{"userbuf null", join(id, app, tm, exp, sig, `"TLS.userbuf":null`), "TLS.userbuf is null"},
		{"userbuf not base64", join(id, app, tm, exp, sig, `"TLS.userbuf":"B"`), "TLS.userbuf is not base64"},
		{"huge", strings.Repeat("A", 1<<20), "longer than the 4096"},
		{"one over the cap", strings.Repeat("A", usersig.MaxLen+1), "longer than the 4096"},
		{"zlib bomb", zlibB64(t, strings.Repeat("\x00", 1<<20), zlib.BestCompression), "inflates to more than"},
		{"big zlib bomb", zlibB64(t, strings.Repeat(" ", 8<<20), zlib.BestCompression), "longer than the 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := usersig.Decode(tt.in)
			if !errors.Is(err, usersig.ErrMalformed) || !strings.Contains(err.Error(), tt.wantIn) {
				t.Fatalf("Decode = %+v, %v; want ErrMalformed containing %q", s, err, tt.wantIn)
			}
			verr := usersig.Verify(usersig.VerifyParams{UserSig: tt.in, SDKAppID: specSDKAppID, Key: specKey, Identifier: specID, Now: time.Unix(specTime, 0)})
			if !errors.Is(verr, usersig.ErrMalformed) {
				t.Fatalf("Verify = %v, want ErrMalformed", verr)
			}
		})
	}
}

// A UserSig that inflates to a megabyte costs a bounded amount of memory.
func TestDecodeBombMemory(t *testing.T) {
	bomb := zlibB64(t, strings.Repeat("\x00", 1<<20), zlib.BestCompression)
	if len(bomb) > usersig.MaxLen {
		t.Fatalf("bomb is %d bytes, over the input cap; it would not reach the inflater", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if _, err := usersig.Decode(bomb); !errors.Is(err, usersig.ErrMalformed) {
		t.Fatalf("Decode = %v, want ErrMalformed", err)
	}
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(256<<10); got > limit {
		t.Fatalf("Decode allocated %d bytes, want at most %d", got, limit)
	}
}

func TestVerifyEmptyKey(t *testing.T) {
	err := usersig.Verify(usersig.VerifyParams{UserSig: specLevel9, SDKAppID: specSDKAppID, Identifier: specID, Now: time.Unix(specTime, 0)})
	if err == nil || !strings.Contains(err.Error(), "key is empty") {
		t.Fatalf("Verify = %v, want a key error", err)
	}
}

// A ticket whose time+expire overflows never expires rather than wrapping
// into the past.
func TestVerifyExpiryOverflow(t *testing.T) {
	const maxInt64 = 1<<63 - 1
	us, err := usersig.Gen(usersig.GenParams{SDKAppID: 1, Key: "k", Identifier: "u", Expire: maxInt64, Time: time.Unix(specTime, 0)})
	if err != nil {
		t.Fatal(err)
	}
	err = usersig.Verify(usersig.VerifyParams{UserSig: us, SDKAppID: 1, Key: "k", Identifier: "u", Now: time.Unix(specTime+1e12, 0)})
	if err != nil {
		t.Fatalf("Verify = %v", err)
	}
}

func BenchmarkVerify(b *testing.B) {
	p := usersig.VerifyParams{UserSig: specLevel9, SDKAppID: specSDKAppID, Key: specKey, Identifier: specID, Now: time.Unix(specTime, 0)}
	b.ReportAllocs()
	for b.Loop() {
		if err := usersig.Verify(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGen(b *testing.B) {
	p := usersig.GenParams{SDKAppID: specSDKAppID, Key: specKey, Identifier: specID, Expire: specExpire, Time: time.Unix(specTime, 0)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := usersig.Gen(p); err != nil {
			b.Fatal(err)
		}
	}
}

// refMAC is an independent statement of spec section 6, step 2-3.
func refMAC(key string, s usersig.Sig) []byte {
	content := fmt.Sprintf("TLS.identifier:%s\nTLS.sdkappid:%d\nTLS.time:%d\nTLS.expire:%d\n", s.Identifier, s.SDKAppID, s.Time, s.Expire)
	if s.UserBuf != nil {
		content += "TLS.userbuf:" + b64(s.UserBuf) + "\n"
	}
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(content))
	return h.Sum(nil)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// zlibB64 encodes a document the way other generators do.
func zlibB64(t testing.TB, doc string, level int) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := zlib.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer("+", "*", "/", "-", "=", "_").Replace(base64.StdEncoding.EncodeToString(buf.Bytes()))
}

func inflate(t testing.TB, us string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(us))
	if err != nil {
		t.Fatal(err)
	}
	r, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := out.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// sigEqual compares decoded tickets, telling a nil UserBuf from an empty one.
func sigEqual(a, b usersig.Sig) bool {
	return a.Identifier == b.Identifier && a.SDKAppID == b.SDKAppID && a.Time == b.Time && a.Expire == b.Expire &&
		(a.UserBuf == nil) == (b.UserBuf == nil) && bytes.Equal(a.UserBuf, b.UserBuf) && bytes.Equal(a.Sig, b.Sig)
}
