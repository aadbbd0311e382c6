package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/parley-im/parley"
)

// Scenarios: what the clients send and which after-callback is timed.
const (
	// ScenarioC2C: openim/sendmsg between random pairs of users, timing
	// C2C.CallbackAfterSendMsg.
	ScenarioC2C = "c2c"
	// ScenarioGroup: group_open_http_svc/send_group_msg from a random
	// member to a random one of Options.Groups groups, timing
	// Group.CallbackAfterSendMsg. Each group's webhooks are delivered in
	// order, one at a time, so this also measures what per-conversation
	// ordering costs.
	ScenarioGroup = "group"
	// ScenarioExtension: openim_msg_ext_http_svc/set_key_values on a
	// random one of Options.Messages C2C messages (one of ten keys, as the
	// App admin), timing C2C.CallbackAfterC2CMsgExtension.
	ScenarioExtension = "extension"
)

// Scenarios lists the scenarios Run knows.
var Scenarios = []string{ScenarioC2C, ScenarioGroup, ScenarioExtension}

// scenario is one kind of load: the request the clients send and how an
// acknowledged request is matched with the webhook it causes. Keys are
// opaque strings both sides compute the same way.
type scenario struct {
	name    string
	command string // the after-callback whose receipt is timed
	path    string // the REST resource, e.g. /v4/openim/sendmsg
	// next returns a request body and a tag ackKey needs to name the
	// webhook (the group, the message), since answers do not repeat it.
	next func() (body []byte, tag string)
	// ackKey names the webhook a successful answer causes.
	ackKey func(tag string, answer []byte) (string, error)
	// webhookKey names a received webhook of command; "" when it names none.
	webhookKey func(body []byte) string
	// baselineReply is what the bare handler of the baseline answers: a
	// successful answer of path, which ackKey accepts.
	baselineReply []byte
}

var errNoKey = errors.New("the answer names no webhook")

func c2cScenario(g *loadGen) *scenario {
	return &scenario{
		name:    ScenarioC2C,
		command: parley.CommandC2CAfterSendMsg,
		path:    "/v4/openim/sendmsg",
		next:    func() ([]byte, string) { return g.randomBody(), "" },
		ackKey: func(_ string, answer []byte) (string, error) {
			var a struct{ MsgKey string }
			if json.Unmarshal(answer, &a) != nil || a.MsgKey == "" {
				return "", errNoKey
			}
			return a.MsgKey, nil
		},
		webhookKey: func(body []byte) string {
			var b struct{ MsgKey string }
			json.Unmarshal(body, &b)
			return b.MsgKey
		},
		baselineReply: []byte(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"MsgTime":1,"MsgKey":"1_1_1"}`),
	}
}

// groupID names the bench's i-th group.
func groupID(i int) string { return "bench_group_" + strconv.Itoa(i) }

func groupScenario(g *loadGen, groups int) *scenario {
	return &scenario{
		name:    ScenarioGroup,
		command: parley.CommandGroupAfterSendMsg,
		path:    "/v4/group_open_http_svc/send_group_msg",
		next: func() ([]byte, string) {
			id := groupID(rand.IntN(groups))
			b := make([]byte, 0, 224)
			b = append(b, `{"GroupId":"`...)
			b = append(b, id...)
			b = append(b, `","From_Account":"`...)
			b = append(b, g.users[rand.IntN(len(g.users))]...)
			b = append(b, `","Random":`...)
			b = strconv.AppendUint(b, uint64(rand.Uint32()), 10)
			b = append(b, `,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello from parley bench"}}]}`...)
			return b, id
		},
		ackKey: func(tag string, answer []byte) (string, error) {
			var a struct{ MsgSeq uint64 }
			if json.Unmarshal(answer, &a) != nil || a.MsgSeq == 0 {
				return "", errNoKey
			}
			return tag + "#" + strconv.FormatUint(a.MsgSeq, 10), nil
		},
		webhookKey: func(body []byte) string {
			var b struct {
				GroupID string `json:"GroupId"`
				MsgSeq  uint64
			}
			json.Unmarshal(body, &b)
			if b.GroupID == "" {
				return ""
			}
			return b.GroupID + "#" + strconv.FormatUint(b.MsgSeq, 10)
		},
		baselineReply: []byte(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"MsgTime":1,"MsgSeq":1}`),
	}
}

// extensionTarget is one message of the extension scenario's pool.
type extensionTarget struct {
	from, to, msgKey string
}

func extensionScenario(pool []extensionTarget) *scenario {
	return &scenario{
		name:    ScenarioExtension,
		command: parley.CommandC2CAfterExtension,
		path:    "/v4/openim_msg_ext_http_svc/set_key_values",
		next: func() ([]byte, string) {
			m := pool[rand.IntN(len(pool))]
			b := make([]byte, 0, 256)
			b = append(b, `{"From_Account":"`...)
			b = append(b, m.from...)
			b = append(b, `","To_Account":"`...)
			b = append(b, m.to...)
			b = append(b, `","MsgKey":"`...)
			b = append(b, m.msgKey...)
			b = append(b, `","OperateType":1,"ExtensionList":[{"Key":"k`...)
			b = strconv.AppendInt(b, int64(rand.IntN(10)), 10)
			b = append(b, `","Value":"`...)
			b = strconv.AppendUint(b, uint64(rand.Uint32()), 10)
			b = append(b, `","Seq":0}]}`...)
			return b, m.msgKey
		},
		ackKey: func(tag string, answer []byte) (string, error) {
			var a struct {
				ExtensionList []struct {
					ErrorCode int
					Extension parley.ExtensionKV
				}
			}
			if json.Unmarshal(answer, &a) != nil || len(a.ExtensionList) == 0 || a.ExtensionList[0].ErrorCode != 0 {
				return "", errNoKey
			}
			return tag + "#" + strconv.FormatUint(a.ExtensionList[0].Extension.Seq, 10), nil
		},
		webhookKey: func(body []byte) string {
			var b struct {
				MsgKey string
				Seq    uint64
			}
			json.Unmarshal(body, &b)
			if b.MsgKey == "" {
				return ""
			}
			return b.MsgKey + "#" + strconv.FormatUint(b.Seq, 10)
		},
		baselineReply: []byte(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"ExtensionList":[{"ErrorCode":0,"Extension":{"Key":"k0","Value":"1","Seq":1}}]}`),
	}
}

// setupGroups creates the bench's groups with every user as a member. A
// group left by an earlier run against the same server is reused: the
// create answers 10021, and adding members already in it changes nothing.
func (g *loadGen) setupGroups(ctx context.Context, base, query string, groups int) error {
	for i := range groups {
		id := groupID(i)
		body, _ := json.Marshal(map[string]any{"GroupId": id, "Type": parley.GroupPublic, "Name": "bench"})
		var reply envelope
		errKey, sample := g.post(ctx, base+"/v4/group_open_http_svc/create_group"+query+randomParam(), body, &reply)
		if errKey != "" && errKey != strconv.Itoa(parley.ErrGroupIDTaken) {
			return fmt.Errorf("bench: creating group %s: %s: %s", id, errKey, sample)
		}
		for start := 0; start < len(g.users); start += parley.MaxAddMembers {
			var members []map[string]string
			for _, u := range g.users[start:min(start+parley.MaxAddMembers, len(g.users))] {
				members = append(members, map[string]string{"Member_Account": u})
			}
			body, _ := json.Marshal(map[string]any{"GroupId": id, "Silence": 1, "MemberList": members})
			if errKey, sample := g.post(ctx, base+"/v4/group_open_http_svc/add_group_member"+query+randomParam(), body, &reply); errKey != "" {
				return fmt.Errorf("bench: adding members to %s: %s: %s", id, errKey, sample)
			}
		}
	}
	return nil
}

// setupMessages sends n messages that accept extensions, between
// consecutive users, and returns them.
func (g *loadGen) setupMessages(ctx context.Context, base, query string, n int) ([]extensionTarget, error) {
	pool := make([]extensionTarget, 0, n)
	for i := range n {
		from, to := g.users[i%len(g.users)], g.users[(i+1)%len(g.users)]
		var b strings.Builder
		fmt.Fprintf(&b, `{"From_Account":%q,"To_Account":%q,"MsgRandom":%d,"SupportMessageExtension":1,`, from, to, rand.Uint32())
		b.WriteString(`"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"vote here"}}]}`)
		var reply sendReply
		if errKey, sample := g.post(ctx, base+"/v4/openim/sendmsg"+query+randomParam(), []byte(b.String()), &reply); errKey != "" {
			return nil, fmt.Errorf("bench: sending the extension scenario's messages: %s: %s", errKey, sample)
		}
		pool = append(pool, extensionTarget{from: from, to: to, msgKey: reply.MsgKey})
	}
	return pool, nil
}

// randomParam is the value of the URL's trailing random= parameter.
func randomParam() string { return strconv.FormatUint(uint64(rand.Uint32()), 10) }
