package chat

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/internal/jsonx"
)

// The encoders below write what encoding/json writes with SetEscapeHTML(false),
// byte for byte, for the few shapes the send path emits. They exist because
// the reflection-driven encoder costs more than the rest of building a
// message; TestAfterSendBodyIsEncodingJSON and TestBodyCRCIsCanonical hold
// them to encoding/json.

// appendCanonical appends v, a tree decoded by parseJSON, as
// json.Encoder.Encode (SetEscapeHTML(false)) writes it, without the
// trailing newline: object keys sorted bytewise, numbers as written.
func appendCanonical(dst []byte, v any) []byte {
	switch t := v.(type) {
	case string:
		return jsonx.AppendString(dst, t)
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
			dst = jsonx.AppendString(dst, k)
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
	b = jsonx.AppendString(b, m.From)
	b = append(b, `,"To_Account":`...)
	b = jsonx.AppendString(b, m.To)
	b = append(b, `,"MsgSeq":`...)
	b = strconv.AppendUint(b, uint64(m.MsgSeq), 10)
	b = append(b, `,"MsgRandom":`...)
	b = strconv.AppendUint(b, uint64(m.MsgRandom), 10)
	b = append(b, `,"MsgTime":`...)
	b = strconv.AppendInt(b, m.MsgTime, 10)
	b = append(b, `,"MsgKey":`...)
	b = jsonx.AppendString(b, m.MsgKey)
	b = append(b, `,"OnlineOnlyFlag":`...)
	b = strconv.AppendInt(b, int64(boolInt(m.OnlineOnly)), 10)
	b = append(b, `,"SendMsgResult":`...)
	b = strconv.AppendInt(b, int64(result), 10)
	b = append(b, `,"ErrorInfo":`...)
	b = jsonx.AppendString(b, info)
	b = append(b, `,"UnreadMsgNum":`...)
	split := len(b)
	// m.Body is compact (parseMsgBody made it so), which is what
	// encoding/json writes for a json.RawMessage.
	b = append(b, `,"MsgBody":`...)
	b = append(b, m.Body...)
	if m.CloudCustomData != "" {
		b = append(b, `,"CloudCustomData":`...)
		b = jsonx.AppendString(b, m.CloudCustomData)
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
