package ws

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/internal/jsonx"
)

// MaxIDBytes bounds a request's id: the client's correlation token, echoed
// in every reply, so it must stay small.
const MaxIDBytes = 64

// maxOpEcho bounds how much of an unknown op an error reply quotes back.
const maxOpEcho = 32

// Request is one request frame: {"op","id","data"}.
type Request struct {
	Op string
	// ID is the client's token, echoed in the reply; "" if it sent none.
	ID string
	// Data is the request's data object as sent, or nil when it was
	// absent or null (which means {}).
	Data json.RawMessage
}

// DecodeRequest parses one request frame. It refuses (with a
// *parley.Error of code 90001 saying why) anything but a JSON object with
// a non-empty string op, an optional string id of at most MaxIDBytes and
// an optional data object. Other members are ignored. On a refusal the
// returned Request still carries the id when it could be read, so the
// error reply can be matched to its request.
func DecodeRequest(frame []byte) (Request, error) {
	var req Request
	trimmed := bytes.TrimSpace(frame)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return req, parley.Errorf(parley.ErrJSONParse, "a request must be a JSON object")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &members); err != nil {
		return req, parley.Errorf(parley.ErrJSONParse, "a request must be a JSON object: %v", err)
	}
	if raw, ok := members["id"]; ok && !isNull(raw) {
		var id string
		if json.Unmarshal(raw, &id) != nil {
			return req, parley.Errorf(parley.ErrJSONParse, "id must be a string")
		}
		if len(id) > MaxIDBytes {
			return req, parley.Errorf(parley.ErrJSONParse, "id is %d bytes; at most %d are allowed", len(id), MaxIDBytes)
		}
		req.ID = id
	}
	raw, ok := members["op"]
	if !ok || isNull(raw) {
		return req, parley.Errorf(parley.ErrJSONParse, "op is required")
	}
	if json.Unmarshal(raw, &req.Op) != nil {
		return req, parley.Errorf(parley.ErrJSONParse, "op must be a string")
	}
	if req.Op == "" {
		return req, parley.Errorf(parley.ErrJSONParse, "op must not be empty")
	}
	if raw, ok := members["data"]; ok && !isNull(raw) {
		// json.Unmarshal checked the whole frame, so a member that starts
		// with '{' is a well-formed object.
		if raw[0] != '{' {
			return req, parley.Errorf(parley.ErrJSONParse, "data must be a JSON object")
		}
		req.Data = raw
	}
	return req, nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// EncodePush is the push frame of c, {"op":"push","event","seq","data"},
// with c.Data appended as it is: the engine built it once, and every
// recipient shares the frame (it is hub.Config.Encode).
func EncodePush(c *parley.Change) []byte {
	data := c.Data
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	b := make([]byte, 0, len(`{"op":"push","event":"","seq":,"data":}`)+len(c.Kind)+20+len(data))
	b = append(b, `{"op":"push","event":`...)
	b = jsonx.AppendString(b, c.Kind)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, c.Seq, 10)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// encodeReply is the reply frame to the request id: ActionStatus OK with
// data (a JSON object, or nil for none) when code is 0, else FAIL with
// code and info and no data.
func encodeReply(id string, code int, info string, data []byte) []byte {
	status := "OK"
	if code != 0 {
		status = "FAIL"
		data = nil
	}
	b := make([]byte, 0, 80+len(id)+len(info)+len(data))
	b = append(b, `{"op":"reply"`...)
	if id != "" {
		b = append(b, `,"id":`...)
		b = jsonx.AppendString(b, id)
	}
	b = append(b, `,"ActionStatus":"`...)
	b = append(b, status...)
	b = append(b, `","ErrorCode":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"ErrorInfo":`...)
	b = jsonx.AppendString(b, info)
	if len(data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, data...)
	}
	return append(b, '}')
}

// encodeKick is the frame that tells a client why it is about to be
// closed: ErrorCode is the close code that follows.
func encodeKick(code int, info string) []byte {
	b := make([]byte, 0, 48+len(info))
	b = append(b, `{"op":"kick","ErrorCode":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"ErrorInfo":`...)
	b = jsonx.AppendString(b, info)
	return append(b, '}')
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
