// Package usersig generates and verifies Tencent Cloud Chat UserSigs in the
// TLS-Sig v2 format (HMAC-SHA256), the ticket that authenticates every REST
// call and client login.
//
// A UserSig is a JSON document naming the identifier, the SDKAppID, the
// issue time and the lifetime, signed with HMAC-SHA256 under the app's
// secret key, zlib-compressed and base64-encoded with the alphabet
// `*`, `-`, `_` in place of `+`, `/`, `=`. Generators differ in key order,
// whitespace and compression level, so many strings encode the same ticket:
// Verify decodes the document and recomputes the HMAC from its fields, and
// never compares UserSig strings.
//
// The package depends on the standard library only and holds no state.
package usersig

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/adler32"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Verification failures. Each maps to one Tencent error code; errors
// returned by Verify and Decode wrap exactly one of them with detail.
var (
	// ErrMalformed: the UserSig cannot be decoded (70003).
	ErrMalformed = errors.New("usersig: malformed")
	// ErrSDKAppIDMismatch: the UserSig was issued for another app (70014).
	ErrSDKAppIDMismatch = errors.New("usersig: SDKAppID mismatch")
	// ErrIdentifierMismatch: the UserSig was issued for another user (70013).
	ErrIdentifierMismatch = errors.New("usersig: identifier mismatch")
	// ErrExpired: the UserSig's lifetime is over (70001).
	ErrExpired = errors.New("usersig: expired")
	// ErrBadSignature: the HMAC does not match; usually the UserSig was
	// signed with another key (70009).
	ErrBadSignature = errors.New("usersig: bad signature")
	// ErrUserBufMismatch: the UserSig carries a userbuf the verifier did not
	// expect, lacks one it expected, or carries a different one. It wraps
	// ErrBadSignature, because Tencent has no code of its own for it and
	// 70009 ("verify failed") is the nearest.
	ErrUserBufMismatch = fmt.Errorf("%w: userbuf mismatch", ErrBadSignature)
)

// GenParams are the inputs of Gen.
type GenParams struct {
	SDKAppID   uint64
	Key        string // the app's secret key, used as its ASCII bytes (not hex-decoded)
	Identifier string
	Expire     int64     // lifetime in seconds; must be positive
	Time       time.Time // issue time; zero means now
	// UserBuf is optional opaque data bound into the signature (TRTC uses
	// it for PrivateMapKey). nil means none; a non-nil empty slice is
	// signed as an empty userbuf, as the Python and PHP libraries do.
	UserBuf []byte
}

// Gen returns a UserSig for p.
//
// The JSON is compact, with the official Go library's key order, and is
// wrapped in a zlib stream of stored (uncompressed, level 0) blocks. Level 0
// is what Tencent's own Go library emits, so every Tencent verifier accepts
// it; the document is ~200 bytes with little redundancy, so compressing
// would save only ~100 characters, while a compress/flate writer costs about
// a megabyte of allocation per call (or a package-level pool, which parley
// does not keep). Writing stored blocks directly also makes the output
// deterministic: equal params give equal UserSigs.
func Gen(p GenParams) (string, error) {
	switch {
	case p.SDKAppID == 0:
		return "", errors.New("usersig: gen: SDKAppID is zero")
	case p.Key == "":
		return "", errors.New("usersig: gen: key is empty")
	case p.Identifier == "":
		return "", errors.New("usersig: gen: identifier is empty")
	case !utf8.ValidString(p.Identifier):
		// JSON would carry U+FFFD where the HMAC saw the raw bytes.
		return "", fmt.Errorf("usersig: gen: identifier %q is not valid UTF-8", p.Identifier)
	case strings.Contains(p.Identifier, "\n"):
		// A newline would let the identifier forge lines of the signed content.
		return "", fmt.Errorf("usersig: gen: identifier %q contains a newline", p.Identifier)
	case p.Expire <= 0:
		return "", fmt.Errorf("usersig: gen: expire must be positive, got %d", p.Expire)
	}
	t := p.Time
	if t.IsZero() {
		t = time.Now()
	}
	s := Sig{
		Identifier: p.Identifier,
		SDKAppID:   p.SDKAppID,
		Time:       t.Unix(),
		Expire:     p.Expire,
		UserBuf:    p.UserBuf,
	}
	s.Sig = s.mac(p.Key)

	doc := struct {
		Ver        string  `json:"TLS.ver"`
		Identifier string  `json:"TLS.identifier"`
		SDKAppID   uint64  `json:"TLS.sdkappid"`
		Expire     int64   `json:"TLS.expire"`
		Time       int64   `json:"TLS.time"`
		UserBuf    *string `json:"TLS.userbuf,omitempty"`
		Sig        string  `json:"TLS.sig"`
	}{
		Ver:        version,
		Identifier: s.Identifier,
		SDKAppID:   s.SDKAppID,
		Expire:     s.Expire,
		Time:       s.Time,
		Sig:        base64.StdEncoding.EncodeToString(s.Sig),
	}
	if s.UserBuf != nil {
		ub := base64.StdEncoding.EncodeToString(s.UserBuf)
		doc.UserBuf = &ub
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("usersig: gen: %w", err)
	}
	out := encodeAlphabet.Replace(base64.StdEncoding.EncodeToString(zlibStored(js)))
	if len(out) > MaxLen {
		// Never hand out a ticket Verify would refuse.
		return "", fmt.Errorf("usersig: gen: UserSig would be %d bytes, more than the %d Verify accepts (identifier or userbuf too long)", len(out), MaxLen)
	}
	return out, nil
}

// VerifyParams are the inputs of Verify.
type VerifyParams struct {
	UserSig    string
	SDKAppID   uint64
	Key        string
	Identifier string
	Now        time.Time // zero means now
	// UserBuf is the userbuf the UserSig must carry. nil means it must
	// carry none, as in Tencent's VerifyUserSig; non-nil (even empty) means
	// it must carry exactly these bytes, as in VerifyUserSigWithBuf.
	UserBuf []byte
}

// Verify checks that p.UserSig is a valid ticket for p.Identifier in app
// p.SDKAppID at time p.Now, signed with p.Key. Like Tencent's verifier it
// checks, in order, the SDKAppID, the identifier, the expiry (valid through
// time+expire inclusive), the userbuf and last the HMAC, so a caller learns
// the most specific reason. Every failure wraps one of the Err* sentinels.
func Verify(p VerifyParams) error {
	if p.Key == "" {
		return errors.New("usersig: verify: key is empty")
	}
	s, err := Decode(p.UserSig)
	if err != nil {
		return err
	}
	if s.SDKAppID != p.SDKAppID {
		return fmt.Errorf("%w: UserSig is for SDKAppID %d, not %d", ErrSDKAppIDMismatch, s.SDKAppID, p.SDKAppID)
	}
	if s.Identifier != p.Identifier {
		return fmt.Errorf("%w: UserSig is for %q, not %q", ErrIdentifierMismatch, s.Identifier, p.Identifier)
	}
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	if end, ok := s.end(); ok && now.Unix() > end {
		return fmt.Errorf("%w: issued at %d for %d s, valid until %s, now is %s", ErrExpired,
			s.Time, s.Expire, time.Unix(end, 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	switch {
	case p.UserBuf == nil && s.UserBuf != nil:
		return fmt.Errorf("%w: UserSig carries a userbuf of %d bytes, none expected", ErrUserBufMismatch, len(s.UserBuf))
	case p.UserBuf != nil && s.UserBuf == nil:
		return fmt.Errorf("%w: UserSig carries no userbuf", ErrUserBufMismatch)
	case !bytes.Equal(p.UserBuf, s.UserBuf):
		return fmt.Errorf("%w: UserSig carries a different userbuf", ErrUserBufMismatch)
	}
	if !hmac.Equal(s.mac(p.Key), s.Sig) {
		return fmt.Errorf("%w: HMAC-SHA256 of the fields does not match TLS.sig (signed with another key?)", ErrBadSignature)
	}
	return nil
}

// end returns the last Unix second at which s is valid; ok is false when
// time+expire overflows upwards, that is, the ticket never expires.
func (s *Sig) end() (end int64, ok bool) {
	if s.Expire > 0 && s.Time > math.MaxInt64-s.Expire {
		return 0, false
	}
	if s.Expire < 0 && s.Time < math.MinInt64-s.Expire {
		return math.MinInt64, true
	}
	return s.Time + s.Expire, true
}

// mac is HMAC-SHA256 under key over the content lines of spec section 6.
// Every line, the last included, ends with a newline.
func (s *Sig) mac(key string) []byte {
	b := make([]byte, 0, 128+base64.StdEncoding.EncodedLen(len(s.UserBuf)))
	b = append(b, "TLS.identifier:"...)
	b = append(b, s.Identifier...)
	b = append(b, "\nTLS.sdkappid:"...)
	b = strconv.AppendUint(b, s.SDKAppID, 10)
	b = append(b, "\nTLS.time:"...)
	b = strconv.AppendInt(b, s.Time, 10)
	b = append(b, "\nTLS.expire:"...)
	b = strconv.AppendInt(b, s.Expire, 10)
	b = append(b, '\n')
	if s.UserBuf != nil {
		b = append(b, "TLS.userbuf:"...)
		b = base64.StdEncoding.AppendEncode(b, s.UserBuf)
		b = append(b, '\n')
	}
	h := hmac.New(sha256.New, []byte(key))
	h.Write(b)
	return h.Sum(nil)
}

// zlibStored wraps data in an RFC 1950 stream of stored deflate blocks.
func zlibStored(data []byte) []byte {
	const maxBlock = math.MaxUint16
	sum := adler32.Checksum(data)
	out := make([]byte, 0, 2+len(data)+5*(len(data)/maxBlock+1)+4)
	// CMF 0x78: deflate with a 32 KiB window; FLG 0x01: level "fastest",
	// no dictionary, check bits making 0x7801 a multiple of 31.
	out = append(out, 0x78, 0x01)
	for {
		n := min(len(data), maxBlock)
		last := n == len(data)
		var final byte
		if last {
			final = 1 // BFINAL; BTYPE 00 = stored
		}
		out = append(out, final)
		out = binary.LittleEndian.AppendUint16(out, uint16(n))
		out = binary.LittleEndian.AppendUint16(out, ^uint16(n))
		out = append(out, data[:n]...)
		data = data[n:]
		if last {
			break
		}
	}
	return binary.BigEndian.AppendUint32(out, sum)
}
