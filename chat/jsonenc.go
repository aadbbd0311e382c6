package chat

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/parley-im/parley"
)

// The encoders below write what encoding/json writes with SetEscapeHTML(false),
// byte for byte, for the few shapes the send path emits. They exist because
// the reflection-driven encoder costs more than the rest of building a
// message; TestAfterSendBodyIsEncodingJSON and TestBodyCRCIsCanonical hold
// them to encoding/json.

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as encoding/json encodes a string without
// HTML escaping: quotes, backslashes and control characters escaped, invalid
// UTF-8 replaced by \ufffd, and U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendCanonical appends v, a tree decoded by parseJSON, as
// json.Encoder.Encode (SetEscapeHTML(false)) writes it, without the
// trailing newline: object keys sorted bytewise, numbers as written.
func appendCanonical(dst []byte, v any) []byte {
	switch t := v.(type) {
	case string:
		return appendJSONString(dst, t)
	case json.Number:
		return append(dst, t...)
	case bool:
		return strconv.AppendBool(dst, t)
	case nil:
		return append(dst, "null"...)
	case []any:
		dst = append(dst, '[')
		for i, e := range t {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendCanonical(dst, e)
		}
		return append(dst, ']')
	case map[string]any:
		var scratch [8]string
		keys := scratch[:0]
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = appendCanonical(dst, t[k])
		}
		return append(dst, '}')
	}
	panic("chat: appendCanonical: unexpected type in a decoded tree")
}

// afterSendBody is the body of an after-send event as marshal would encode
// parley.AfterSendMsg, cut where the UnreadMsgNum value goes, so the part
// that needs the transaction is one number.
type afterSendBody struct {
	buf   []byte // the whole body without the UnreadMsgNum value
	split int    // where the value goes
}

func newAfterSendBody(m *parley.Message, result int, info string) afterSendBody {
	b := make([]byte, 0, 256+len(m.From)+len(m.To)+len(info)+len(m.Body)+len(m.CloudCustomData))
	b = append(b, `{"CallbackCommand":"`+parley.CommandC2CAfterSendMsg+`","From_Account":`...)
	b = appendJSONString(b, m.From)
	b = append(b, `,"To_Account":`...)
	b = appendJSONString(b, m.To)
	b = append(b, `,"MsgSeq":`...)
	b = strconv.AppendUint(b, uint64(m.MsgSeq), 10)
	b = append(b, `,"MsgRandom":`...)
	b = strconv.AppendUint(b, uint64(m.MsgRandom), 10)
	b = append(b, `,"MsgTime":`...)
	b = strconv.AppendInt(b, m.MsgTime, 10)
	b = append(b, `,"MsgKey":`...)
	b = appendJSONString(b, m.MsgKey)
	b = append(b, `,"OnlineOnlyFlag":`...)
	b = strconv.AppendInt(b, int64(boolInt(m.OnlineOnly)), 10)
	b = append(b, `,"SendMsgResult":`...)
	b = strconv.AppendInt(b, int64(result), 10)
	b = append(b, `,"ErrorInfo":`...)
	b = appendJSONString(b, info)
	b = append(b, `,"UnreadMsgNum":`...)
	split := len(b)
	// m.Body is compact (parseMsgBody made it so), which is what
	// encoding/json writes for a json.RawMessage.
	b = append(b, `,"MsgBody":`...)
	b = append(b, m.Body...)
	if m.CloudCustomData != "" {
		b = append(b, `,"CloudCustomData":`...)
		b = appendJSONString(b, m.CloudCustomData)
	}
	b = append(b, '}')
	return afterSendBody{buf: b, split: split}
}

// with returns the body with unread as UnreadMsgNum, in a new slice.
func (a afterSendBody) with(unread int) []byte {
	out := make([]byte, 0, len(a.buf)+20)
	out = append(out, a.buf[:a.split]...)
	out = strconv.AppendInt(out, int64(unread), 10)
	return append(out, a.buf[a.split:]...)
}
