package chat_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parley-im/parley"
	"github.com/parley-im/parley/chat"
)

func TestValidateUserID(t *testing.T) {
	tests := []struct {
		id     string
		ok     bool
		reason string // a word the error must contain
	}{
		{"alice", true, ""},
		{"a", true, ""},
		{"user_01-x.y@z", true, ""},
		{"用户", true, ""},
		{strings.Repeat("x", 32), true, ""},
		{"", false, "empty"},
		{strings.Repeat("x", 33), false, "longer"},
		{strings.Repeat("用", 11), false, "longer"}, // 33 bytes
		{"a b", false, "whitespace"},
		{"a\u3000b", false, "whitespace"},
		{"a\tb", false, "control"},
		{"a\x00b", false, "control"},
		{"a\u0085b", false, "control"},
		{"a\xffb", false, "UTF-8"},
	}
	for _, tt := range tests {
		err := chat.ValidateUserID(tt.id)
		if tt.ok {
			if err != nil {
				t.Errorf("ValidateUserID(%q) = %v, want nil", tt.id, err)
			}
			continue
		}
		var pe *parley.Error
		if !errors.As(err, &pe) || pe.Code != parley.ErrAccountIllegalParams {
			t.Errorf("ValidateUserID(%q) = %v, want a 70402 error", tt.id, err)
			continue
		}
		if !strings.Contains(pe.Info, tt.reason) {
			t.Errorf("ValidateUserID(%q) info = %q, want it to mention %q", tt.id, pe.Info, tt.reason)
		}
	}
}

// el builds one MsgBody element with content given as JSON.
func el(msgType, content string) string {
	return fmt.Sprintf(`{"MsgType":%q,"MsgContent":%s}`, msgType, content)
}

func body(elems ...string) json.RawMessage {
	return json.RawMessage("[" + strings.Join(elems, ",") + "]")
}

const (
	imageOK = `{"UUID":"1853095_D61040894AC3DE44CDFFFB3EC7EB720F","ImageFormat":1,"ImageInfoArray":[` +
		`{"Type":1,"Size":1853095,"Width":2448,"Height":3264,"URL":"https://x/1.jpg"},` +
		`{"Type":3,"Size":8923,"Width":150,"Height":200,"URL":"https://x/3.jpg"}]}`
	videoOK = `{"VideoUrl":"https://x/v.mp4","VideoUUID":"v1","VideoSize":1194603,"VideoSecond":5,"VideoFormat":"mp4",` +
		`"VideoDownloadFlag":2,"ThumbUrl":"https://x/t.jpg","ThumbUUID":"t1","ThumbSize":13907,"ThumbWidth":720,` +
		`"ThumbHeight":1280,"ThumbFormat":"JPG","ThumbDownloadFlag":2}`
)

func TestValidateMsgBody(t *testing.T) {
	text := el("TIMTextElem", `{"Text":"hi"}`)
	tests := []struct {
		name string
		body json.RawMessage
		code int    // 0 = valid
		info string // a substring of the error's Info
	}{
		// Valid bodies, one per element type and the optional forms.
		{"text", body(text), 0, ""},
		{"empty text", body(el("TIMTextElem", `{"Text":""}`)), 0, ""},
		{"text with extra fields", body(el("TIMTextElem", `{"Text":"hi","Extra":{"a":[1]}}`)), 0, ""},
		{"element extra field", json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"},"Foo":1}]`), 0, ""},
		{"location", body(el("TIMLocationElem", `{"Desc":"here","Latitude":22.54,"Longitude":-113.93}`)), 0, ""},
		{"location no desc", body(el("TIMLocationElem", `{"Latitude":0,"Longitude":0}`)), 0, ""},
		{"face", body(el("TIMFaceElem", `{"Index":1,"Data":"content"}`)), 0, ""},
		{"face no data", body(el("TIMFaceElem", `{"Index":0}`)), 0, ""},
		{"custom", body(el("TIMCustomElem", `{"Data":"msg","Desc":"notification","Ext":"url","Sound":"dingdong.aiff"}`)), 0, ""},
		{"custom data only", body(el("TIMCustomElem", `{"Data":""}`)), 0, ""},
		{"sound", body(el("TIMSoundElem", `{"Url":"https://x/s.m4a","UUID":"s1","Size":62351,"Second":1,"Download_Flag":2}`)), 0, ""},
		{"sound legacy", body(el("TIMSoundElem", `{"UUID":"s1","Size":62351,"Second":1}`)), 0, ""},
		{"image", body(el("TIMImageElem", imageOK)), 0, ""},
		{"file", body(el("TIMFileElem", `{"Url":"https://x/f","UUID":"f1","FileSize":1773552,"FileName":"file:///private/a.doc","Download_Flag":2}`)), 0, ""},
		{"file uuid only", body(el("TIMFileElem", `{"UUID":"f1","FileSize":1,"FileName":"a"}`)), 0, ""},
		{"video", body(el("TIMVideoFileElem", videoOK)), 0, ""},
		{"relay with list", body(el("TIMRelayElem", `{"Title":"Chat history","MsgNum":2,"CompatibleText":"upgrade","AbstractList":["a: hi","b: yo"],`+
			`"MsgList":[{"From_Account":"a","To_Account":"b","MsgSeq":1,"MsgRandom":2,"MsgTimeStamp":1700000000,"MsgBody":[`+text+`]},`+
			`{"From_Account":"b","To_Account":"a","MsgBody":[`+el("TIMFaceElem", `{"Index":3}`)+`],"CloudCustomData":"c"}]}`)), 0, ""},
		{"relay with key", body(el("TIMRelayElem", `{"Title":"t","MsgNum":40,"JsonMsgKey":"k"}`)), 0, ""},
		{"several elements", body(text, el("TIMFaceElem", `{"Index":1}`), el("TIMCustomElem", `{"Data":"d"}`), text), 0, ""},
		{"integer as float", body(el("TIMFaceElem", `{"Index":1.0}`)), 0, ""},
		{"integer exponent", body(el("TIMFaceElem", `{"Index":1e3}`)), 0, ""},

		// Not an array.
		{"empty input", json.RawMessage(``), parley.ErrMsgBodyNotArray, "array"},
		{"object", json.RawMessage(`{"MsgType":"TIMTextElem"}`), parley.ErrMsgBodyNotArray, "array"},
		{"string", json.RawMessage(`"hi"`), parley.ErrMsgBodyNotArray, "array"},
		{"null", json.RawMessage(`null`), parley.ErrMsgBodyNotArray, "array"},

		// Structure.
		{"empty array", json.RawMessage(`[]`), parley.ErrMsgBodyInvalid, "MsgBody is empty"},
		{"broken json", json.RawMessage(`[{"MsgType":]`), parley.ErrMsgBodyInvalid, "JSON"},
		{"trailing data", json.RawMessage(`[` + text + `] []`), parley.ErrMsgBodyInvalid, "after"},
		{"invalid utf8", json.RawMessage("[" + el("TIMTextElem", "{\"Text\":\"\xff\"}") + "]"), parley.ErrMsgBodyInvalid, "UTF-8"},
		{"duplicate key", body(el("TIMTextElem", `{"Text":"a","Text":"b"}`)), parley.ErrMsgBodyInvalid, "duplicate"},
		{"element not object", json.RawMessage(`[` + text + `,"x"]`), parley.ErrMsgBodyInvalid, "MsgBody[1] must be an object"},
		{"no MsgType", json.RawMessage(`[{"MsgContent":{}}]`), parley.ErrMsgBodyInvalid, "MsgBody[0].MsgType is missing"},
		{"MsgType number", json.RawMessage(`[{"MsgType":1,"MsgContent":{}}]`), parley.ErrMsgBodyInvalid, "MsgBody[0].MsgType must be a string"},
		{"no MsgContent", json.RawMessage(`[{"MsgType":"TIMTextElem"}]`), parley.ErrMsgBodyInvalid, "MsgBody[0].MsgContent is missing"},
		{"MsgContent string", json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":"hi"}]`), parley.ErrMsgBodyInvalid, "MsgBody[0].MsgContent must be an object"},
		{"unknown type", body(el("TIMGroupTipElem", `{}`)), parley.ErrMsgBodyInvalid, `"TIMGroupTipElem" is not a supported`},
		{"two custom", body(el("TIMCustomElem", `{"Data":"1"}`), text, el("TIMCustomElem", `{"Data":"2"}`)), parley.ErrMsgBodyInvalid, "MsgBody[2]: at most one TIMCustomElem"},
		{"too deep", json.RawMessage(`[` + el("TIMTextElem", `{"Text":"x","X":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`) + `]`), parley.ErrMsgBodyInvalid, "deeper"},

		// Fields, element by element.
		{"text missing", body(el("TIMTextElem", `{}`)), parley.ErrMsgBodyInvalid, "MsgBody[0].MsgContent.Text is missing"},
		{"text number", body(text, el("TIMTextElem", `{"Text":5}`)), parley.ErrMsgBodyInvalid, "MsgBody[1].MsgContent.Text must be a string"},
		{"location latitude string", body(text, el("TIMLocationElem", `{"Latitude":"22.5","Longitude":1}`)), parley.ErrMsgBodyInvalid, "MsgBody[1].MsgContent.Latitude must be a number"},
		{"location no longitude", body(el("TIMLocationElem", `{"Latitude":1}`)), parley.ErrMsgBodyInvalid, "Longitude is missing"},
		{"location desc number", body(el("TIMLocationElem", `{"Desc":1,"Latitude":1,"Longitude":1}`)), parley.ErrMsgBodyInvalid, "Desc must be a string"},
		{"face no index", body(el("TIMFaceElem", `{"Data":"x"}`)), parley.ErrMsgBodyInvalid, "Index is missing"},
		{"face index string", body(el("TIMFaceElem", `{"Index":"1"}`)), parley.ErrMsgBodyInvalid, "Index must be a number"},
		{"face index fraction", body(el("TIMFaceElem", `{"Index":1.5}`)), parley.ErrMsgBodyInvalid, "Index must be a non-negative integer"},
		{"face index negative", body(el("TIMFaceElem", `{"Index":-1}`)), parley.ErrMsgBodyInvalid, "non-negative integer"},
		{"face data number", body(el("TIMFaceElem", `{"Index":1,"Data":2}`)), parley.ErrMsgBodyInvalid, "Data must be a string"},
		{"custom no data", body(el("TIMCustomElem", `{"Desc":"x"}`)), parley.ErrMsgBodyInvalid, "Data is missing"},
		{"custom data object", body(el("TIMCustomElem", `{"Data":{}}`)), parley.ErrMsgBodyInvalid, "Data must be a string"},
		{"custom ext number", body(el("TIMCustomElem", `{"Data":"","Ext":1}`)), parley.ErrMsgBodyInvalid, "Ext must be a string"},
		{"custom sound bool", body(el("TIMCustomElem", `{"Data":"","Sound":true}`)), parley.ErrMsgBodyInvalid, "Sound must be a string"},
		{"sound no url or uuid", body(el("TIMSoundElem", `{"Size":1,"Second":1}`)), parley.ErrMsgBodyInvalid, "needs Url or UUID"},
		{"sound size string", body(el("TIMSoundElem", `{"UUID":"s","Size":"1","Second":1}`)), parley.ErrMsgBodyInvalid, "Size must be a number"},
		{"sound no second", body(el("TIMSoundElem", `{"UUID":"s","Size":1}`)), parley.ErrMsgBodyInvalid, "Second is missing"},
		{"sound flag 1", body(el("TIMSoundElem", `{"UUID":"s","Size":1,"Second":1,"Download_Flag":1}`)), parley.ErrMsgBodyInvalid, "Download_Flag must be 2"},
		{"image no uuid", body(el("TIMImageElem", `{"ImageFormat":1,"ImageInfoArray":[]}`)), parley.ErrMsgBodyInvalid, "UUID is missing"},
		{"image format string", body(el("TIMImageElem", `{"UUID":"u","ImageFormat":"JPG","ImageInfoArray":[]}`)), parley.ErrMsgBodyInvalid, "ImageFormat must be a number"},
		{"image no array", body(el("TIMImageElem", `{"UUID":"u","ImageFormat":1}`)), parley.ErrMsgBodyInvalid, "ImageInfoArray is missing"},
		{"image empty array", body(el("TIMImageElem", `{"UUID":"u","ImageFormat":1,"ImageInfoArray":[]}`)), parley.ErrMsgBodyInvalid, "ImageInfoArray must be a non-empty array"},
		{"image info not object", body(el("TIMImageElem", `{"UUID":"u","ImageFormat":1,"ImageInfoArray":[1]}`)), parley.ErrMsgBodyInvalid, "ImageInfoArray[0] must be an object"},
		{"image info width string", body(el("TIMImageElem", `{"UUID":"u","ImageFormat":1,"ImageInfoArray":[`+
			`{"Type":1,"Size":1,"Width":1,"Height":1,"URL":"u"},{"Type":2,"Size":1,"Width":"1","Height":1,"URL":"u"}]}`)),
			parley.ErrMsgBodyInvalid, "MsgBody[0].MsgContent.ImageInfoArray[1].Width must be a number"},
		{"image info no url", body(el("TIMImageElem", `{"UUID":"u","ImageFormat":1,"ImageInfoArray":[{"Type":1,"Size":1,"Width":1,"Height":1}]}`)),
			parley.ErrMsgBodyInvalid, "ImageInfoArray[0].URL is missing"},
		{"image info type 4", body(el("TIMImageElem", `{"UUID":"u","ImageFormat":1,"ImageInfoArray":[{"Type":4,"Size":1,"Width":1,"Height":1,"URL":"u"}]}`)),
			parley.ErrMsgBodyInvalid, "Type must be 1, 2 or 3"},
		{"file no name", body(el("TIMFileElem", `{"Url":"u","FileSize":1}`)), parley.ErrMsgBodyInvalid, "FileName is missing"},
		{"file size string", body(el("TIMFileElem", `{"Url":"u","FileSize":"1","FileName":"a"}`)), parley.ErrMsgBodyInvalid, "FileSize must be a number"},
		{"file no url or uuid", body(el("TIMFileElem", `{"FileSize":1,"FileName":"a"}`)), parley.ErrMsgBodyInvalid, "needs Url or UUID"},
		{"file url number", body(el("TIMFileElem", `{"Url":1,"FileSize":1,"FileName":"a"}`)), parley.ErrMsgBodyInvalid, "Url must be a string"},
		{"video no size", body(el("TIMVideoFileElem", strings.Replace(videoOK, `"VideoSize":1194603,`, "", 1))), parley.ErrMsgBodyInvalid, "VideoSize is missing"},
		{"video format number", body(el("TIMVideoFileElem", strings.Replace(videoOK, `"VideoFormat":"mp4"`, `"VideoFormat":1`, 1))), parley.ErrMsgBodyInvalid, "VideoFormat must be a string"},
		{"video no thumb", body(el("TIMVideoFileElem", strings.NewReplacer(`"ThumbUrl":"https://x/t.jpg",`, "", `"ThumbUUID":"t1",`, "").Replace(videoOK))), parley.ErrMsgBodyInvalid, "needs ThumbUrl or ThumbUUID"},
		{"video thumb flag", body(el("TIMVideoFileElem", strings.Replace(videoOK, `"ThumbDownloadFlag":2`, `"ThumbDownloadFlag":0`, 1))), parley.ErrMsgBodyInvalid, "ThumbDownloadFlag must be 2"},
		{"video height string", body(el("TIMVideoFileElem", strings.Replace(videoOK, `"ThumbHeight":1280`, `"ThumbHeight":"1280"`, 1))), parley.ErrMsgBodyInvalid, "ThumbHeight must be a number"},
		{"relay no msgnum", body(el("TIMRelayElem", `{"JsonMsgKey":"k"}`)), parley.ErrMsgBodyInvalid, "MsgNum is missing"},
		{"relay neither", body(el("TIMRelayElem", `{"MsgNum":1}`)), parley.ErrMsgBodyInvalid, "needs MsgList or JsonMsgKey"},
		{"relay both", body(el("TIMRelayElem", `{"MsgNum":1,"JsonMsgKey":"k","MsgList":[]}`)), parley.ErrMsgBodyInvalid, "both"},
		{"relay abstract number", body(el("TIMRelayElem", `{"MsgNum":1,"JsonMsgKey":"k","AbstractList":["a",2]}`)), parley.ErrMsgBodyInvalid, "AbstractList[1] must be a string"},
		{"relay list item no from", body(el("TIMRelayElem", `{"MsgNum":1,"MsgList":[{"MsgBody":[`+text+`]}]}`)), parley.ErrMsgBodyInvalid, "MsgList[0].From_Account is missing"},
		{"relay nested invalid", body(el("TIMRelayElem", `{"MsgNum":1,"MsgList":[{"From_Account":"a","MsgBody":[`+el("TIMLocationElem", `{"Latitude":"x","Longitude":1}`)+`]}]}`)),
			parley.ErrMsgBodyInvalid, "MsgBody[0].MsgContent.MsgList[0].MsgBody[0].MsgContent.Latitude must be a number"},
		{"relay nested empty", body(el("TIMRelayElem", `{"MsgNum":1,"MsgList":[{"From_Account":"a","MsgBody":[]}]}`)), parley.ErrMsgBodyInvalid, "MsgList[0].MsgBody is empty"},

		// Size: the values, not the JSON around them.
		{"12 KB text", body(el("TIMTextElem", `{"Text":"`+strings.Repeat("x", parley.MaxMsgBodyBytes)+`"}`)), 0, ""},
		{"over 12 KB text", body(el("TIMTextElem", `{"Text":"`+strings.Repeat("x", parley.MaxMsgBodyBytes+1)+`"}`)), parley.ErrMsgBodyTooLarge, "12288"},
		{"over 12 KB over elements", body(el("TIMTextElem", `{"Text":"`+strings.Repeat("x", 6000)+`"}`),
			el("TIMCustomElem", `{"Data":"`+strings.Repeat("y", 6000)+`","Desc":"`+strings.Repeat("z", 289)+`"}`)), parley.ErrMsgBodyTooLarge, "12289"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := chat.ValidateMsgBody(tt.body)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				if !json.Valid(got) {
					t.Fatalf("result %s is not valid JSON", got)
				}
				return
			}
			var pe *parley.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *parley.Error %d", err, tt.code)
			}
			if pe.Code != tt.code || !strings.Contains(pe.Info, tt.info) {
				t.Fatalf("err = %d %q, want %d containing %q", pe.Code, pe.Info, tt.code, tt.info)
			}
		})
	}
}

func TestValidateMsgBodyCompacts(t *testing.T) {
	in := json.RawMessage(" [ {\"MsgType\" : \"TIMTextElem\",\n \"MsgContent\": {\"Text\": \"a <b> & c\"} } ]\n")
	got, err := chat.ValidateMsgBody(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"a <b> & c"}}]`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestValidateMsgBodySyntax: every JSON value is accepted in a field left
// unchecked, and everything else is refused as invalid JSON.
func TestValidateMsgBodySyntax(t *testing.T) {
	valid := []string{
		`0`, `-0`, `-0.0e+0`, `12.50`, `1E-7`, `123456789012345678901234567890`, `true`, `false`, `null`,
		`""`, `"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00\ud800"`, "\"raw   é 😀 \x7f\"",
		`[]`, `{}`, `[1,[2,[3]],{"a":{"b":[]}}]`, " [ 1 , { \"a\" : null } ] ", "\t\r\n1",
	}
	invalid := []string{
		`01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `0x1`, `NaN`, `tru`, `nul`, `truex`, `[1,]`, `[,1]`, `[1 2]`,
		`{"a":1,}`, `{"a" 1}`, `{a:1}`, `{"a":}`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"ctl \x01\"", "\"tab\t\"",
		`"unterminated`, `[`, `{`, `'a'`, "\v1", "\f1",
	}
	const wrap = `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x","Extra":%s}}]`
	for _, v := range valid {
		if _, err := chat.ValidateMsgBody(json.RawMessage(fmt.Sprintf(wrap, v))); err != nil {
			t.Errorf("Extra %s: %v, want it accepted", v, err)
		}
	}
	for _, v := range invalid {
		body := fmt.Sprintf(wrap, v)
		_, err := chat.ValidateMsgBody(json.RawMessage(body))
		var pe *parley.Error
		if !errors.As(err, &pe) || pe.Code != parley.ErrMsgBodyInvalid || !strings.HasPrefix(pe.Info, "MsgBody is not valid JSON: ") {
			t.Errorf("Extra %s: %v, want 90002 not valid JSON", v, err)
			continue
		}
		if json.Valid([]byte(body)) {
			t.Errorf("Extra %s: encoding/json accepts it", v)
		}
	}
}

func FuzzValidateMsgBody(f *testing.F) {
	for _, s := range []string{
		`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]`,
		`[{"MsgType":"TIMLocationElem","MsgContent":{"Latitude":1.5,"Longitude":2}}]`,
		`[{"MsgType":"TIMImageElem","MsgContent":` + imageOK + `}]`,
		`[{"MsgType":"TIMVideoFileElem","MsgContent":` + videoOK + `}]`,
		`[{"MsgType":"TIMRelayElem","MsgContent":{"MsgNum":1,"MsgList":[{"From_Account":"a","MsgBody":[{"MsgType":"TIMFaceElem","MsgContent":{"Index":1}}]}]}}]`,
		`[{"MsgType":"TIMCustomElem","MsgContent":{"Data":"x"}},{"MsgType":"TIMCustomElem","MsgContent":{"Data":"y"}}]`,
		`[]`, `{}`, `[1]`, `[{"MsgType":"TIMTextElem","MsgContent":{"Text":"a","Text":"b"}}]`, `[[[[`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := chat.ValidateMsgBody(in)
		if err != nil {
			var pe *parley.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *parley.Error", err)
			}
			switch pe.Code {
			case parley.ErrMsgBodyInvalid, parley.ErrMsgBodyNotArray, parley.ErrMsgBodyTooLarge:
			default:
				t.Fatalf("unexpected code %d", pe.Code)
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("accepted %q, which is not JSON", in)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, in); err != nil || string(got) != compact.String() {
			t.Fatalf("accepted %q as %q, want its compact form %q", in, got, compact.Bytes())
		}
		var arr []map[string]any
		if err := json.Unmarshal(got, &arr); err != nil {
			t.Fatalf("accepted body %q is not a JSON array of objects: %v", got, err)
		}
		if len(arr) == 0 {
			t.Fatalf("accepted an empty body %q", got)
		}
		again, err := chat.ValidateMsgBody(got)
		if err != nil || string(again) != string(got) {
			t.Fatalf("revalidating %q = %q, %v; want it unchanged", got, again, err)
		}
	})
}

func BenchmarkValidateMsgBody(b *testing.B) {
	for _, bc := range []struct {
		name string
		body json.RawMessage
	}{
		{"text", json.RawMessage(`[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello from parley bench"}}]`)},
		{"spaced", json.RawMessage(`[ {"MsgType": "TIMTextElem", "MsgContent": {"Text": "hello from parley bench"}} ]`)},
		{"image", json.RawMessage(`[{"MsgType":"TIMImageElem","MsgContent":` + imageOK + `}]`)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := chat.ValidateMsgBody(bc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
