package chat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/parley-im/parley"
)

// ValidateUserID applies decision 9.7: 1 to 32 bytes of UTF-8 with no
// control characters and no whitespace. The error is a *parley.Error 70402
// whose Info names the problem.
func ValidateUserID(id string) error {
	switch {
	case id == "":
		return parley.Errorf(parley.ErrAccountIllegalParams, "UserID is empty")
	case len(id) > parley.MaxUserIDBytes:
		return parley.Errorf(parley.ErrAccountIllegalParams, "UserID %q is %d bytes, longer than %d", id, len(id), parley.MaxUserIDBytes)
	case !utf8.ValidString(id):
		return parley.Errorf(parley.ErrAccountIllegalParams, "UserID %q is not valid UTF-8", id)
	}
	for _, r := range id {
		if unicode.IsControl(r) {
			return parley.Errorf(parley.ErrAccountIllegalParams, "UserID %q contains a control character", id)
		}
		if unicode.IsSpace(r) {
			return parley.Errorf(parley.ErrAccountIllegalParams, "UserID %q contains whitespace", id)
		}
	}
	return nil
}

// Message element types (spec 5.1).
const (
	elemText     = "TIMTextElem"
	elemLocation = "TIMLocationElem"
	elemFace     = "TIMFaceElem"
	elemCustom   = "TIMCustomElem"
	elemSound    = "TIMSoundElem"
	elemImage    = "TIMImageElem"
	elemFile     = "TIMFileElem"
	elemVideo    = "TIMVideoFileElem"
	elemRelay    = "TIMRelayElem"
)

// maxJSONDepth bounds nesting so a hostile body cannot exhaust the stack;
// a relay of relays of real messages stays far below it.
const maxJSONDepth = 32

// ValidateMsgBody checks a MsgBody against spec section 5.1 and returns it
// compacted: the bytes that are stored and emitted in webhooks.
//
// A body must be a non-empty JSON array (else 90007) of objects, each with a
// MsgType string and a MsgContent object whose fields have the documented
// JSON types (else 90002, with an Info naming the element and field, e.g.
// "MsgBody[1].MsgContent.Latitude must be a number"). Fields not listed
// below pass through unchecked. Duplicate object keys are rejected, because
// receivers disagree on which of them wins. Integer fields must be whole,
// non-negative numbers. Required (R) and optional (o) fields:
//
//	TIMTextElem       Text R
//	TIMLocationElem   Latitude R, Longitude R (numbers), Desc o
//	TIMFaceElem       Index R (integer), Data o
//	TIMCustomElem     Data R, Desc o, Ext o, Sound o; at most one per body
//	TIMSoundElem      Url or UUID (at least one), Size R, Second R, Download_Flag o (2)
//	TIMImageElem      UUID R, ImageFormat R (integer), ImageInfoArray R: a non-empty
//	                  array of {Type (1, 2 or 3), Size, Width, Height, URL} all R
//	TIMFileElem       Url or UUID (at least one), FileSize R, FileName R, Download_Flag o (2)
//	TIMVideoFileElem  VideoUrl or VideoUUID, VideoSize R, VideoSecond R, VideoFormat R,
//	                  ThumbUrl or ThumbUUID, ThumbSize R, ThumbWidth R, ThumbHeight R,
//	                  ThumbFormat R, VideoDownloadFlag o (2), ThumbDownloadFlag o (2)
//	TIMRelayElem      MsgNum R, Title o, CompatibleText o, AbstractList o (strings), and
//	                  exactly one of JsonMsgKey (string) or MsgList: messages
//	                  {From_Account R, To_Account o, GroupId o, MsgSeq o, MsgRandom o,
//	                  MsgTimeStamp o, MsgBody R (validated by these same rules),
//	                  CloudCustomData o}
//
// The Sound, File and Video media elements accept the legacy forms that
// carry only a UUID, which is why a URL is not required on its own. The
// Download_Flag fields are documented as "must be 2" and are held to it.
//
// The size of a body is the sum of the lengths of every value inside the
// MsgContent objects (strings in bytes, numbers and literals as written);
// more than parley.MaxMsgBodyBytes is 80002.
func ValidateMsgBody(raw json.RawMessage) (json.RawMessage, error) {
	b, err := parseMsgBody(raw)
	if err != nil {
		return nil, err
	}
	if len(b.compact) > 0 && len(raw) > 0 && &b.compact[0] == &raw[0] {
		// The input was compact already, so b.compact is the caller's
		// own slice; the result has always been a slice of its own.
		return bytes.Clone(b.compact), nil
	}
	return b.compact, nil
}

// msgBody is a validated MsgBody and what the engine needs from it.
type msgBody struct {
	// compact is the body as stored and emitted. When the input was
	// already compact it is the input itself, not a copy.
	compact json.RawMessage
	tree    []any    // the decoded body, for crc
	texts   []string // every TIMTextElem Text, nested relays included
	size    int
}

// crc is the CRC-32 (IEEE) of the body re-encoded with sorted keys, then
// cloud: what the duplicate check compares, so a retry that orders keys
// differently is still the same message. The canonical form is
// json.Encoder's (SetEscapeHTML(false)), newline included, which is what
// earlier versions hashed and stored.
func (b *msgBody) crc(cloud string) uint32 {
	// Sized for the usual case, where the canonical form is as long as
	// the compact one.
	buf := make([]byte, 0, len(b.compact)+1+len(cloud))
	buf = appendCanonical(buf, b.tree)
	buf = append(buf, '\n')
	buf = append(buf, cloud...)
	return crc32.ChecksumIEEE(buf)
}

func parseMsgBody(raw json.RawMessage) (*msgBody, error) {
	trimmed := bytes.TrimLeft(raw, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, parley.Errorf(parley.ErrMsgBodyNotArray, "MsgBody is not an array")
	}
	if !utf8.Valid(raw) {
		return nil, parley.Errorf(parley.ErrMsgBodyInvalid, "MsgBody is not valid UTF-8")
	}
	v, compact, ok := parseJSON(raw)
	if !ok {
		// The fast parser gives up on anything unusual; json.Decoder
		// decides, and words the error.
		var err error
		if v, err = decodeWithDecoder(raw); err != nil {
			return nil, err
		}
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, parley.Errorf(parley.ErrMsgBodyNotArray, "MsgBody is not an array")
	}
	b := &msgBody{tree: arr}
	if err := b.elements("MsgBody", arr); err != nil {
		return nil, err
	}
	if b.size > parley.MaxMsgBodyBytes {
		return nil, parley.Errorf(parley.ErrMsgBodyTooLarge, "MsgBody is %d bytes, more than %d", b.size, parley.MaxMsgBodyBytes)
	}
	if compact {
		b.compact = raw
		return b, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, parley.Errorf(parley.ErrMsgBodyInvalid, "MsgBody is not valid JSON: %v", err)
	}
	b.compact = buf.Bytes()
	return b, nil
}

// decodeWithDecoder decodes raw with decodeStrict: the reference the fast
// parser follows, and the words of every syntax error.
func decodeWithDecoder(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	v, err := decodeStrict(dec, 0)
	if err != nil {
		return nil, parley.Errorf(parley.ErrMsgBodyInvalid, "MsgBody is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, parley.Errorf(parley.ErrMsgBodyInvalid, "MsgBody is not valid JSON: data after the array")
	}
	return v, nil
}

// decodeStrict decodes one JSON value into []any, map[string]any, string,
// json.Number, bool or nil, rejecting duplicate keys and deep nesting.
func decodeStrict(dec *json.Decoder, depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeStrict(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		case '{':
			obj := map[string]any{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				if _, dup := obj[k]; dup {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				v, err := decodeStrict(dec, depth+1)
				if err != nil {
					return nil, err
				}
				obj[k] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return obj, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return tok, nil
	}
}

// elements validates one MsgBody array found at path.
func (b *msgBody) elements(path string, arr []any) error {
	if len(arr) == 0 {
		return parley.Errorf(parley.ErrMsgBodyInvalid, "%s is empty", path)
	}
	customs := 0
	for i, v := range arr {
		ep := elemPath{path, i}
		el, ok := v.(map[string]any)
		if !ok {
			return parley.Errorf(parley.ErrMsgBodyInvalid, "%s must be an object", ep)
		}
		mt, ok := el["MsgType"].(string)
		if !ok {
			if _, present := el["MsgType"]; !present {
				return parley.Errorf(parley.ErrMsgBodyInvalid, "%s.MsgType is missing", ep)
			}
			return parley.Errorf(parley.ErrMsgBodyInvalid, "%s.MsgType must be a string", ep)
		}
		content, ok := el["MsgContent"].(map[string]any)
		if !ok {
			if _, present := el["MsgContent"]; !present {
				return parley.Errorf(parley.ErrMsgBodyInvalid, "%s.MsgContent is missing", ep)
			}
			return parley.Errorf(parley.ErrMsgBodyInvalid, "%s.MsgContent must be an object", ep)
		}
		c := &fields{at: elemPath{path, i}, name: ".MsgContent", obj: content, body: b}
		switch mt {
		case elemText:
			if s, ok := c.str("Text", true); ok {
				b.texts = append(b.texts, s)
			}
		case elemLocation:
			c.str("Desc", false)
			c.num("Latitude", true)
			c.num("Longitude", true)
		case elemFace:
			c.integer("Index", true)
			c.str("Data", false)
		case elemCustom:
			customs++
			if customs > 1 {
				return parley.Errorf(parley.ErrMsgBodyInvalid, "%s: at most one TIMCustomElem is allowed per message", ep)
			}
			c.str("Data", true)
			c.str("Desc", false)
			c.str("Ext", false)
			c.str("Sound", false)
		case elemSound:
			c.oneOf("Url", "UUID")
			c.integer("Size", true)
			c.integer("Second", true)
			c.downloadFlag("Download_Flag")
		case elemImage:
			c.str("UUID", true)
			c.integer("ImageFormat", true)
			c.imageInfoArray()
		case elemFile:
			c.oneOf("Url", "UUID")
			c.integer("FileSize", true)
			c.str("FileName", true)
			c.downloadFlag("Download_Flag")
		case elemVideo:
			c.oneOf("VideoUrl", "VideoUUID")
			c.integer("VideoSize", true)
			c.integer("VideoSecond", true)
			c.str("VideoFormat", true)
			c.downloadFlag("VideoDownloadFlag")
			c.oneOf("ThumbUrl", "ThumbUUID")
			c.integer("ThumbSize", true)
			c.integer("ThumbWidth", true)
			c.integer("ThumbHeight", true)
			c.str("ThumbFormat", true)
			c.downloadFlag("ThumbDownloadFlag")
		case elemRelay:
			c.relay()
		default:
			return parley.Errorf(parley.ErrMsgBodyInvalid, "%s.MsgType %q is not a supported element type", ep, mt)
		}
		if c.err != nil {
			return c.err
		}
		b.size += valueSize(content)
	}
	return nil
}

// fields checks the fields of one JSON object, keeping the first error so
// each element's rules read as a flat list.
type fields struct {
	// The object's path (e.g. MsgBody[1].MsgContent) is at followed by
	// name. It is spelled out only for an error, so a valid body costs no
	// strings.
	at   elemPath
	name string
	obj  map[string]any
	body *msgBody
	err  error
}

func (c *fields) path() string {
	if c.at.path == "" {
		return c.name
	}
	return c.at.String() + c.name
}

// elemPath is path[index], spelled out only when printed.
type elemPath struct {
	path  string
	index int
}

func (p elemPath) String() string {
	return p.path + "[" + strconv.Itoa(p.index) + "]"
}

func (c *fields) fail(format string, args ...any) {
	if c.err == nil {
		c.err = parley.Errorf(parley.ErrMsgBodyInvalid, format, args...)
	}
}

// get returns the field and whether it is present, once no error is known.
func (c *fields) get(name string, required bool) (any, bool) {
	if c.err != nil {
		return nil, false
	}
	v, ok := c.obj[name]
	if !ok && required {
		c.fail("%s.%s is missing", c.path(), name)
	}
	return v, ok
}

func (c *fields) str(name string, required bool) (string, bool) {
	v, ok := c.get(name, required)
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		c.fail("%s.%s must be a string", c.path(), name)
	}
	return s, ok
}

func (c *fields) num(name string, required bool) {
	v, ok := c.get(name, required)
	if !ok {
		return
	}
	if _, ok := v.(json.Number); !ok {
		c.fail("%s.%s must be a number", c.path(), name)
	}
}

// maxInteger is the largest integer a JavaScript receiver reads exactly.
const maxInteger = 1<<53 - 1

func (c *fields) integer(name string, required bool) (int64, bool) {
	v, ok := c.get(name, required)
	if !ok {
		return 0, false
	}
	n, ok := v.(json.Number)
	if !ok {
		c.fail("%s.%s must be a number", c.path(), name)
		return 0, false
	}
	i, ok := wholeNumber(n)
	if !ok {
		c.fail("%s.%s must be a non-negative integer", c.path(), name)
	}
	return i, ok
}

func wholeNumber(n json.Number) (int64, bool) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, i >= 0 && i <= maxInteger
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != math.Trunc(f) || f < 0 || f > maxInteger {
		return 0, false
	}
	return int64(f), true
}

// oneOf requires at least one of two string fields and types both.
func (c *fields) oneOf(a, b string) {
	_, okA := c.str(a, false)
	_, okB := c.str(b, false)
	if c.err == nil && !okA && !okB {
		c.fail("%s needs %s or %s", c.path(), a, b)
	}
}

func (c *fields) downloadFlag(name string) {
	if f, ok := c.integer(name, false); ok && f != 2 {
		c.fail("%s.%s must be 2", c.path(), name)
	}
}

func (c *fields) imageInfoArray() {
	v, ok := c.get("ImageInfoArray", true)
	if !ok {
		return
	}
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		c.fail("%s.ImageInfoArray must be a non-empty array", c.path())
		return
	}
	outer := c.path()
	for i, item := range arr {
		info, ok := item.(map[string]any)
		if !ok {
			c.fail("%s.ImageInfoArray[%d] must be an object", outer, i)
			return
		}
		ic := fields{at: elemPath{outer + ".ImageInfoArray", i}, obj: info}
		if t, ok := ic.integer("Type", true); ok && (t < 1 || t > 3) {
			ic.fail("%s.Type must be 1, 2 or 3", ic.path())
		}
		ic.integer("Size", true)
		ic.integer("Width", true)
		ic.integer("Height", true)
		ic.str("URL", true)
		if ic.err != nil {
			c.err = ic.err
			return
		}
	}
}

func (c *fields) relay() {
	c.str("Title", false)
	c.integer("MsgNum", true)
	c.str("CompatibleText", false)
	if v, ok := c.get("AbstractList", false); ok {
		arr, ok := v.([]any)
		if !ok {
			c.fail("%s.AbstractList must be an array of strings", c.path())
			return
		}
		for i, s := range arr {
			if _, ok := s.(string); !ok {
				c.fail("%s.AbstractList[%d] must be a string", c.path(), i)
				return
			}
		}
	}
	if c.err != nil {
		return
	}
	_, hasKey := c.obj["JsonMsgKey"]
	list, hasList := c.obj["MsgList"]
	switch {
	case hasKey && hasList:
		c.fail("%s has both MsgList and JsonMsgKey; give one", c.path())
	case hasKey:
		c.str("JsonMsgKey", true)
	case hasList:
		c.msgList(list)
	default:
		c.fail("%s needs MsgList or JsonMsgKey", c.path())
	}
}

func (c *fields) msgList(v any) {
	arr, ok := v.([]any)
	if !ok {
		c.fail("%s.MsgList must be an array", c.path())
		return
	}
	for i, item := range arr {
		mp := elemPath{c.path() + ".MsgList", i}.String()
		m, ok := item.(map[string]any)
		if !ok {
			c.fail("%s must be an object", mp)
			return
		}
		mc := fields{name: mp, obj: m}
		mc.str("From_Account", true)
		mc.str("To_Account", false)
		mc.str("GroupId", false)
		mc.integer("MsgSeq", false)
		mc.integer("MsgRandom", false)
		mc.integer("MsgTimeStamp", false)
		mc.str("CloudCustomData", false)
		if mc.err != nil {
			c.err = mc.err
			return
		}
		body, ok := m["MsgBody"]
		if !ok {
			c.fail("%s.MsgBody is missing", mp)
			return
		}
		inner, ok := body.([]any)
		if !ok {
			c.fail("%s.MsgBody must be an array", mp)
			return
		}
		// The nested size is already part of this element's own size, so
		// it is counted into a scratch body and only the texts are kept.
		nested := &msgBody{}
		if err := nested.elements(mp+".MsgBody", inner); err != nil {
			c.err = err
			return
		}
		c.body.texts = append(c.body.texts, nested.texts...)
	}
}

// valueSize is the length of every value in v, keys not counted.
func valueSize(v any) int {
	switch t := v.(type) {
	case string:
		return len(t)
	case json.Number:
		return len(t)
	case bool:
		if t {
			return 4
		}
		return 5
	case nil:
		return 4
	case []any:
		n := 0
		for _, e := range t {
			n += valueSize(e)
		}
		return n
	case map[string]any:
		n := 0
		for _, e := range t {
			n += valueSize(e)
		}
		return n
	}
	return 0
}
