package usersig

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxLen is the longest UserSig Decode accepts, in bytes. Real UserSigs are
// a few hundred bytes (a TRTC PrivateMapKey userbuf with a 64-byte room name
// stays under 600); the cap keeps hostile input cheap.
const MaxLen = 4096

// maxInflated caps the decompressed document. MaxLen of base64 is at most
// 3 KiB of zlib, which a deflate bomb can blow up to 3 MiB; a genuine
// document is no larger than its stored-block encoding.
const maxInflated = 16 << 10

const version = "2.0"

var (
	encodeAlphabet = strings.NewReplacer("+", "*", "/", "-", "=", "_")
	// Like Tencent's decoder, the standard characters pass through too.
	decodeAlphabet = strings.NewReplacer("*", "+", "-", "/", "_", "=")
)

// Sig is a decoded UserSig.
type Sig struct {
	Identifier string
	SDKAppID   uint64
	Time       int64 // issue time, Unix seconds
	Expire     int64 // lifetime in seconds; valid through Time+Expire
	// UserBuf is nil when the UserSig has no TLS.userbuf and non-nil (maybe
	// empty) when it has one: presence changes the signed content.
	UserBuf []byte
	Sig     []byte // the HMAC-SHA256 from TLS.sig
}

// Decode parses a UserSig without checking its signature, expiry or
// owner; use Verify for that. Every error wraps ErrMalformed.
//
// The JSON may have its keys in any order, any whitespace and unknown keys.
// TLS.sdkappid, TLS.time and TLS.expire must be JSON integers: every
// official library (Go, Python, PHP, Java, Node) writes numbers, and
// Tencent's Go verifier rejects a string there, so a string is malformed.
// TLS.ver may be absent but, if present, must be "2.0".
func Decode(userSig string) (*Sig, error) {
	if userSig == "" {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if len(userSig) > MaxLen {
		return nil, fmt.Errorf("%w: %d bytes, longer than the %d allowed", ErrMalformed, len(userSig), MaxLen)
	}
	z, err := base64.StdEncoding.DecodeString(decodeAlphabet.Replace(userSig))
	if err != nil {
		return nil, fmt.Errorf("%w: not base64: %v", ErrMalformed, err)
	}
	doc, err := inflate(z)
	if err != nil {
		return nil, err
	}
	return parse(doc)
}

func inflate(z []byte) ([]byte, error) {
	br := bytes.NewReader(z)
	zr, err := zlib.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: not zlib: %v", ErrMalformed, err)
	}
	// Reading to EOF is what makes the reader check the Adler-32.
	doc, err := io.ReadAll(io.LimitReader(zr, maxInflated+1))
	if err != nil {
		return nil, fmt.Errorf("%w: zlib: %v", ErrMalformed, err)
	}
	if len(doc) > maxInflated {
		return nil, fmt.Errorf("%w: inflates to more than %d bytes", ErrMalformed, maxInflated)
	}
	// bytes.Reader is an io.ByteReader, so the inflater has read exactly
	// the stream and nothing past it.
	if n := br.Len(); n > 0 {
		return nil, fmt.Errorf("%w: %d bytes after the zlib stream", ErrMalformed, n)
	}
	return doc, nil
}

func parse(doc []byte) (*Sig, error) {
	// A map, not a struct: encoding/json matches struct tags without
	// regard to case, and "tls.SIG" is not a field of this format.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, fmt.Errorf("%w: JSON: %v", ErrMalformed, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%w: JSON is null, not an object", ErrMalformed)
	}
	var s Sig
	if raw, ok := m["TLS.ver"]; ok {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil || v != version {
			return nil, fmt.Errorf("%w: TLS.ver is %s, want %q", ErrMalformed, raw, version)
		}
	}
	var err error
	if s.Identifier, err = str(m, "TLS.identifier"); err != nil {
		return nil, err
	}
	raw, err := num(m, "TLS.sdkappid")
	if err != nil {
		return nil, err
	}
	if s.SDKAppID, err = strconv.ParseUint(raw, 10, 64); err != nil {
		return nil, fmt.Errorf("%w: TLS.sdkappid %s is not an unsigned 64-bit integer", ErrMalformed, raw)
	}
	if s.Time, err = int64Field(m, "TLS.time"); err != nil {
		return nil, err
	}
	if s.Expire, err = int64Field(m, "TLS.expire"); err != nil {
		return nil, err
	}
	if _, ok := m["TLS.userbuf"]; ok {
		if s.UserBuf, err = b64(m, "TLS.userbuf"); err != nil {
			return nil, err
		}
	}
	if s.Sig, err = b64(m, "TLS.sig"); err != nil {
		return nil, err
	}
	if len(s.Sig) != sha256.Size {
		return nil, fmt.Errorf("%w: TLS.sig is %d bytes, an HMAC-SHA256 is %d", ErrMalformed, len(s.Sig), sha256.Size)
	}
	return &s, nil
}

func str(m map[string]json.RawMessage, key string) (string, error) {
	raw, ok := m[key]
	if !ok {
		return "", fmt.Errorf("%w: no %s", ErrMalformed, key)
	}
	var v string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
		return "", fmt.Errorf("%w: %s is %s, want a string", ErrMalformed, key, raw)
	}
	return v, nil
}

// num returns the text of a JSON number.
func num(m map[string]json.RawMessage, key string) (string, error) {
	raw, ok := m[key]
	if !ok {
		return "", fmt.Errorf("%w: no %s", ErrMalformed, key)
	}
	// json.Unmarshal has validated the document, so a value starting with
	// a digit or '-' is a number.
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return "", fmt.Errorf("%w: %s is %s, want a number", ErrMalformed, key, raw)
	}
	return string(raw), nil
}

func int64Field(m map[string]json.RawMessage, key string) (int64, error) {
	raw, err := num(m, key)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %s is not a 64-bit integer", ErrMalformed, key, raw)
	}
	return v, nil
}

func b64(m map[string]json.RawMessage, key string) ([]byte, error) {
	v, err := str(m, key)
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64: %v", ErrMalformed, key, err)
	}
	return b, nil
}
