package chat

import (
	"encoding/json"
)

// jsonParser decodes a MsgBody into the tree decodeStrict builds ([]any,
// map[string]any, string, json.Number, bool, nil) without json.Decoder's
// cost per token. It is the fast path only: it gives up (ok false) on
// anything it is not sure of, invalid JSON, a duplicate key, nesting past
// maxJSONDepth, and the caller then takes decodeStrict, whose verdict and
// error text stand. It accepts exactly RFC 8259 JSON, which is what
// encoding/json accepts too, so it never takes what decodeStrict refuses.
type jsonParser struct {
	data []byte
	pos  int
	// spaced says the input has whitespace between tokens, so it is not
	// already its compact form.
	spaced bool
}

// parseJSON decodes data, which must be valid UTF-8 (the caller checked),
// as one value with nothing after it but whitespace.
func parseJSON(data []byte) (v any, compact bool, ok bool) {
	p := jsonParser{data: data}
	p.space()
	v, ok = p.value(0)
	if !ok {
		return nil, false, false
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, false, false
	}
	return v, !p.spaced, true
}

func (p *jsonParser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\r', '\n':
			p.pos++
			p.spaced = true
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (any, bool) {
	if depth > maxJSONDepth || p.pos >= len(p.data) {
		return nil, false
	}
	switch c := p.data[p.pos]; {
	case c == '[':
		return p.array(depth)
	case c == '{':
		return p.object(depth)
	case c == '"':
		s, ok := p.string()
		return s, ok
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	}
	return nil, false
}

func (p *jsonParser) literal(lit string) bool {
	if len(p.data)-p.pos < len(lit) || string(p.data[p.pos:p.pos+len(lit)]) != lit {
		return false
	}
	p.pos += len(lit)
	return true
}

func (p *jsonParser) array(depth int) (any, bool) {
	p.pos++ // '['
	arr := []any{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return arr, true
	}
	for {
		p.space()
		v, ok := p.value(depth + 1)
		if !ok {
			return nil, false
		}
		arr = append(arr, v)
		p.space()
		if p.pos >= len(p.data) {
			return nil, false
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return arr, true
		default:
			return nil, false
		}
	}
}

func (p *jsonParser) object(depth int) (any, bool) {
	p.pos++ // '{'
	obj := map[string]any{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return obj, true
	}
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, false
		}
		k, ok := p.string()
		if !ok {
			return nil, false
		}
		if _, dup := obj[k]; dup {
			return nil, false
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, false
		}
		p.pos++
		p.space()
		v, ok := p.value(depth + 1)
		if !ok {
			return nil, false
		}
		obj[k] = v
		p.space()
		if p.pos >= len(p.data) {
			return nil, false
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return obj, true
		default:
			return nil, false
		}
	}
}

// string reads a string token. One without escapes is its bytes (the input
// is valid UTF-8); one with escapes is left to encoding/json, so surrogate
// pairs and lone surrogates decode exactly as decodeStrict decodes them.
func (p *jsonParser) string() (string, bool) {
	start := p.pos
	p.pos++ // '"'
	escaped := false
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; {
		case c == '"':
			p.pos++
			if escaped {
				var s string
				if json.Unmarshal(p.data[start:p.pos], &s) != nil {
					return "", false
				}
				return s, true
			}
			return intern(p.data[start+1 : p.pos-1]), true
		case c == '\\':
			escaped = true
			p.pos += 2 // the escape's first character cannot be '"' closing the string
		case c < 0x20:
			return "", false
		default:
			p.pos++
		}
	}
	return "", false
}

// intern returns the names that every body repeats without allocating.
func intern(b []byte) string {
	switch string(b) {
	case "MsgType":
		return "MsgType"
	case "MsgContent":
		return "MsgContent"
	case "Text":
		return "Text"
	case elemText:
		return elemText
	case "Data":
		return "Data"
	case "Desc":
		return "Desc"
	case "Ext":
		return "Ext"
	case elemCustom:
		return elemCustom
	}
	return string(b)
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? as written.
func (p *jsonParser) number() (any, bool) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	switch {
	case p.pos < len(p.data) && p.data[p.pos] == '0':
		p.pos++
	case p.digits() == 0:
		return nil, false
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if p.digits() == 0 {
			return nil, false
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			return nil, false
		}
	}
	return json.Number(p.data[start:p.pos]), true
}

func (p *jsonParser) digits() int {
	n := 0
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}
