package usersig_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/usersig"
)

func addSeeds(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.UserSig)
	}
	for _, v := range specVectors() {
		f.Add(v.UserSig)
	}
	for _, buf := range [][]byte{nil, {}, {0x05}, []byte("room-42")} {
		us, err := usersig.Gen(usersig.GenParams{SDKAppID: specSDKAppID, Key: specKey, Identifier: "fuzz", Expire: 60, Time: time.Unix(specTime, 0), UserBuf: buf})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(us)
	}
	for _, s := range []string{"", "eJw_", "eAEBAAD__wAAAAE_", "not base64"} {
		f.Add(s)
	}
}

// genDomain reports whether Gen accepts tickets with these fields.
func genDomain(s *usersig.Sig) bool {
	return s.SDKAppID != 0 && s.Identifier != "" && utf8.ValidString(s.Identifier) &&
		!strings.Contains(s.Identifier, "\n") && s.Expire > 0 &&
		!time.Unix(s.Time, 0).IsZero() // the zero Time means "now" to Gen
}

// regen re-issues d's ticket under key and decodes it.
func regen(t *testing.T, d *usersig.Sig, key string) (string, *usersig.Sig) {
	t.Helper()
	us, err := usersig.Gen(usersig.GenParams{SDKAppID: d.SDKAppID, Key: key, Identifier: d.Identifier, Expire: d.Expire, Time: time.Unix(d.Time, 0), UserBuf: d.UserBuf})
	if err != nil {
		if strings.Contains(err.Error(), "Verify accepts") {
			return "", nil // fields too long to re-encode as stored blocks
		}
		t.Fatalf("Gen(%+v) = %v", *d, err)
	}
	d2, err := usersig.Decode(us)
	if err != nil {
		t.Fatalf("Decode(Gen(%+v)) = %v", *d, err)
	}
	return us, d2
}

func FuzzDecode(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in string) {
		d, err := usersig.Decode(in)
		if err != nil {
			if d != nil || !errors.Is(err, usersig.ErrMalformed) {
				t.Fatalf("Decode = %v, %v; want nil, ErrMalformed", d, err)
			}
			return
		}
		if len(d.Sig) != 32 {
			t.Fatalf("Sig is %d bytes", len(d.Sig))
		}
		if !genDomain(d) {
			return
		}
		_, d2 := regen(t, d, "k")
		if d2 == nil {
			return
		}
		d2.Sig = d.Sig
		if !sigEqual(*d, *d2) {
			t.Fatalf("fields changed on the way through Gen:\n got %+v\nwant %+v", *d2, *d)
		}
	})
}

func FuzzVerify(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in string) {
		p := usersig.VerifyParams{UserSig: in, SDKAppID: specSDKAppID, Key: specKey, Identifier: specID, Now: time.Unix(specTime, 0)}
		d, derr := usersig.Decode(in)
		if derr == nil {
			p.SDKAppID, p.Identifier, p.Now, p.UserBuf = d.SDKAppID, d.Identifier, time.Unix(d.Time, 0), d.UserBuf
		}
		err := usersig.Verify(p)
		kinds := 0
		for _, k := range []error{usersig.ErrMalformed, usersig.ErrSDKAppIDMismatch, usersig.ErrIdentifierMismatch, usersig.ErrExpired, usersig.ErrBadSignature} {
			if errors.Is(err, k) {
				kinds++
			}
		}
		if err != nil && kinds != 1 {
			t.Fatalf("Verify = %v: matches %d sentinels, want 1", err, kinds)
		}
		if (derr != nil) != errors.Is(err, usersig.ErrMalformed) {
			t.Fatalf("Decode = %v but Verify = %v", derr, err)
		}
		if err != nil {
			return
		}
		// It verifies: its fields must re-issue to the very same HMAC.
		if !genDomain(d) {
			return
		}
		us, d2 := regen(t, d, specKey)
		if d2 == nil {
			return
		}
		if !sigEqual(*d, *d2) || !bytes.Equal(d.Sig, d2.Sig) {
			t.Fatalf("round trip changed the ticket:\n got %+v\nwant %+v", *d2, *d)
		}
		p.UserSig = us
		if err := usersig.Verify(p); err != nil {
			t.Fatalf("Verify(re-issued) = %v", err)
		}
	})
}
