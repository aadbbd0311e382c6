package restapi

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/parley-im/parley"
)

// fields is a request body decoded one level deep. Each endpoint checks the
// JSON type of every field it reads itself, because Tencent answers a field
// of the wrong type with that field's own error code, which a struct decode
// cannot tell apart.
//
// A field that is absent or JSON null counts as absent: SDKs that serialise
// unset optional fields send null, and a required field is missing either
// way.
type fields map[string]json.RawMessage

// decodeObject parses body as one JSON object. ok is false for anything
// else: empty input, invalid JSON, null, an array, a scalar, trailing data.
func decodeObject(body []byte) (fields, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, false
	}
	if f, ok := splitObject(body); ok {
		return f, true
	}
	// The fast path gave up: encoding/json decides.
	var f fields
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, false
	}
	return f, true
}

// splitObject is decodeObject's fast path, for a body that starts with
// '{' and ends without whitespace. It gives the same fields json.Unmarshal
// gives, later duplicates winning, except that each value is a slice of
// body rather than a copy; it gives up (ok false) on anything invalid and
// on keys with escapes or non-ASCII bytes, which it leaves to
// json.Unmarshal. It checks values with the grammar encoding/json's
// scanner applies, so it never accepts a body json.Unmarshal refuses.
func splitObject(body []byte) (f fields, ok bool) {
	s := scanner{data: body}
	s.pos++ // '{'
	f = make(fields, 8)
	s.space()
	if s.peek() == '}' {
		s.pos++
		return f, s.pos == len(body)
	}
	for {
		s.space()
		if s.peek() != '"' {
			return nil, false
		}
		start := s.pos + 1
		for s.pos++; s.pos < len(body) && body[s.pos] != '"'; s.pos++ {
			if c := body[s.pos]; c < 0x20 || c == '\\' || c >= utf8.RuneSelf {
				return nil, false
			}
		}
		if s.pos >= len(body) {
			return nil, false
		}
		key := body[start:s.pos]
		s.pos++
		s.space()
		if s.peek() != ':' {
			return nil, false
		}
		s.pos++
		s.space()
		vstart := s.pos
		if !s.value(0) {
			return nil, false
		}
		f[fieldName(key)] = json.RawMessage(body[vstart:s.pos:s.pos])
		s.space()
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return f, s.pos == len(body)
		default:
			return nil, false
		}
	}
}

// fieldName returns the request fields of the hot endpoints without
// allocating.
func fieldName(b []byte) string {
	switch string(b) {
	case "From_Account":
		return "From_Account"
	case "To_Account":
		return "To_Account"
	case "MsgSeq":
		return "MsgSeq"
	case "MsgRandom":
		return "MsgRandom"
	case "MsgBody":
		return "MsgBody"
	case "SyncOtherMachine":
		return "SyncOtherMachine"
	case "MsgLifeTime":
		return "MsgLifeTime"
	case "CloudCustomData":
		return "CloudCustomData"
	case "OnlineOnlyFlag":
		return "OnlineOnlyFlag"
	}
	return string(b)
}

// maxScanDepth is where scanner gives up and leaves the verdict to
// encoding/json, whose own limit is deeper.
const maxScanDepth = 1000

// scanner checks JSON values with the grammar of encoding/json's scanner:
// RFC 8259, with string contents any bytes from 0x20 up.
type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

// value skips one value, reporting whether it is valid.
func (s *scanner) value(depth int) bool {
	if depth > maxScanDepth {
		return false
	}
	switch c := s.peek(); {
	case c == '"':
		return s.string()
	case c == '{':
		s.pos++
		s.space()
		if s.peek() == '}' {
			s.pos++
			return true
		}
		for {
			s.space()
			if s.peek() != '"' || !s.string() {
				return false
			}
			s.space()
			if s.peek() != ':' {
				return false
			}
			s.pos++
			s.space()
			if !s.value(depth + 1) {
				return false
			}
			s.space()
			switch s.peek() {
			case ',':
				s.pos++
			case '}':
				s.pos++
				return true
			default:
				return false
			}
		}
	case c == '[':
		s.pos++
		s.space()
		if s.peek() == ']' {
			s.pos++
			return true
		}
		for {
			s.space()
			if !s.value(depth + 1) {
				return false
			}
			s.space()
			switch s.peek() {
			case ',':
				s.pos++
			case ']':
				s.pos++
				return true
			default:
				return false
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

func (s *scanner) literal(lit string) bool {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return false
	}
	s.pos += len(lit)
	return true
}

func (s *scanner) string() bool {
	s.pos++ // '"'
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return true
		case c == '\\':
			s.pos++
			switch s.peek() {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos++
			case 'u':
				s.pos++
				for range 4 {
					if !isHex(s.peek()) {
						return false
					}
					s.pos++
				}
			default:
				return false
			}
		case c < 0x20:
			return false
		default:
			s.pos++
		}
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (s *scanner) number() bool {
	if s.peek() == '-' {
		s.pos++
	}
	switch {
	case s.peek() == '0':
		s.pos++
	case s.digits() == 0:
		return false
	}
	if s.peek() == '.' {
		s.pos++
		if s.digits() == 0 {
			return false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.pos++
		if c := s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *scanner) digits() int {
	n := 0
	for c := s.peek(); c >= '0' && c <= '9'; c = s.peek() {
		s.pos++
		n++
	}
	return n
}

func (f fields) raw(name string) (json.RawMessage, bool) {
	raw, ok := f[name]
	if !ok {
		return nil, false
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false
	}
	return raw, true
}

// string reads a JSON string field; any other JSON type is code.
func (f fields) string(name string, code int) (s string, present bool, err error) {
	raw, ok := f.raw(name)
	if !ok {
		return "", false, nil
	}
	s, ok = jsonString(raw)
	if !ok {
		return "", true, parley.Errorf(code, "%s must be a string", name)
	}
	return s, true, nil
}

// uint32 reads an integer field in 0..4294967295; anything else is code.
func (f fields) uint32(name string, code int) (v uint32, present bool, err error) {
	raw, ok := f.raw(name)
	if !ok {
		return 0, false, nil
	}
	if !isJSONInteger(raw) {
		return 0, true, parley.Errorf(code, "%s must be an integer", name)
	}
	n, perr := strconv.ParseUint(string(raw), 10, 32)
	if perr != nil {
		return 0, true, parley.Errorf(code, "%s must be an integer in 0..4294967295", name)
	}
	return uint32(n), true, nil
}

// int reads an integer field that fits in 64 bits; anything else is code.
func (f fields) int(name string, code int) (v int64, present bool, err error) {
	raw, ok := f.raw(name)
	if !ok {
		return 0, false, nil
	}
	n, ok := jsonInt(raw)
	if !ok {
		return 0, true, parley.Errorf(code, "%s must be an integer", name)
	}
	return n, true, nil
}

// flag reads a 0/1 integer field; anything else is code.
func (f fields) flag(name string, code int) (v bool, err error) {
	n, present, err := f.int(name, code)
	switch {
	case err != nil:
		return false, err
	case !present:
		return false, nil
	case n != 0 && n != 1:
		return false, parley.Errorf(code, "%s must be 0 or 1", name)
	}
	return n == 1, nil
}

// array reads a JSON array field without looking at its elements.
func (f fields) array(name string, code int) (elems []json.RawMessage, present bool, err error) {
	raw, ok := f.raw(name)
	if !ok {
		return nil, false, nil
	}
	if raw[0] != '[' {
		return nil, true, parley.Errorf(code, "%s must be an array", name)
	}
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, true, parley.Errorf(code, "%s must be an array", name)
	}
	for i := range elems {
		elems[i] = bytes.TrimSpace(elems[i])
	}
	return elems, true, nil
}

// stringArray reads an array of JSON strings; any other shape is code.
func (f fields) stringArray(name string, code int) (ss []string, present bool, err error) {
	elems, present, err := f.array(name, code)
	if err != nil || !present {
		return nil, present, err
	}
	ss = make([]string, len(elems))
	for i, e := range elems {
		s, ok := jsonString(e)
		if !ok {
			return nil, true, parley.Errorf(code, "%s must be an array of strings", name)
		}
		ss[i] = s
	}
	return ss, true, nil
}

// object reads a JSON object field; any other JSON type is code.
func (f fields) object(name string, code int) (obj fields, present bool, err error) {
	raw, ok := f.raw(name)
	if !ok {
		return nil, false, nil
	}
	obj, ok = decodeObject(raw)
	if !ok {
		return nil, true, parley.Errorf(code, "%s must be an object", name)
	}
	return obj, true, nil
}

func jsonString(raw json.RawMessage) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	if inner := raw[1 : len(raw)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		// The common case: no escapes, so the bytes between the quotes are
		// the string (json.Unmarshal already checked the document).
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// isJSONInteger reports whether raw is a JSON number written without a
// fraction or exponent: integers must be sent as integers (decision 9.9),
// so "1.0", "1e3" and "\"1\"" are all rejected.
func isJSONInteger(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	s := raw
	if s[0] == '-' {
		s = s[1:]
	}
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func jsonInt(raw json.RawMessage) (int64, bool) {
	if !isJSONInteger(raw) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// clampInt converts an int64 that the caller has bounded to int; on 32-bit
// platforms it saturates rather than wraps.
func clampInt(n int64) int {
	if n > math.MaxInt {
		return math.MaxInt
	}
	if n < math.MinInt {
		return math.MinInt
	}
	return int(n)
}
