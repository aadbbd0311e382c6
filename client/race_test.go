package client_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/internal/websocket"
)

// A scripted server sends what a real one may: the push of a change (seq 3,
// after one bob cannot see, seq 2) and right behind it the own frame of
// bob's next change (seq 4). The push makes the client sync, and the page
// holds bob's own change: it must not come back to bob as an Event, even
// when the client took the push and the own frame from its queue together.
func TestOwnChangeInTheSameBatchAsAGap(t *testing.T) {
	const conv = "C2Calice"
	message := func(from, to, text string, seq int) string {
		return `{"ConversationType":"C2C","From_Account":"` + from + `","To_Account":"` + to + `","MsgSeq":` + strconv.Itoa(seq) +
			`,"MsgRandom":1,"MsgTime":1,"MsgKey":"k` + strconv.Itoa(seq) + `","MsgId":"i","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"` + text + `"}}],"CloudCustomData":"","OnlineOnlyFlag":0,"SupportMessageExtension":0,"IsNeedReadReceipt":0}`
	}
	synced := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Upgrade(w, r, websocket.UpgradeOptions{})
		if err != nil {
			return
		}
		defer conn.CloseNow()
		for {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var req struct {
				Op, ID string
				Data   json.RawMessage
			}
			if json.Unmarshal(msg, &req) != nil {
				return
			}
			reply := func(data string) {
				conn.WriteMessage(websocket.OpText, []byte(`{"op":"reply","id":"`+req.ID+`","ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","data":`+data+`}`))
			}
			switch req.Op {
			case "login":
				reply(`{"SessionID":"s1","ServerTime":1,"HeartbeatInterval":30}`)
			case "conversations":
				reply(`{"ConversationList":[{"ConversationID":"` + conv + `","Type":"C2C","Peer_Account":"alice","Seq":1,"UnreadMsgNum":0,"ReadTime":0}]}`)
				// The push of 3, then the own frame of 4, in one write,
				// so that the client's orderer most likely takes both at
				// once.
				conn.WriteMessages(websocket.OpText, [][]byte{
					[]byte(`{"op":"push","event":"message","seq":3,"data":` + message("alice", "bob", "pong", 3) + `}`),
					[]byte(`{"op":"own","conversation":"` + conv + `","seq":4}`),
				})
			case "sync":
				reply(`{"Changes":[{"event":"message","seq":3,"data":` + message("alice", "bob", "pong", 3) + `},` +
					`{"event":"message","seq":4,"data":` + message("bob", "alice", "ping again", 4) + `}],"Head":4,"Complete":1}`)
				close(synced)
			case "ping":
				reply(`{"ServerTime":1}`)
			default:
				reply(`{}`)
			}
		}
	}))
	defer srv.Close()

	c, err := client.Dial(ctx, client.Config{URL: "ws" + strings.TrimPrefix(srv.URL, "http"), SDKAppID: 1, UserID: "bob", UserSig: "sig", Platform: "Web"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := next(t, c)
	if m, err := e.Message(); err != nil || e.Seq != 3 || m.From != "alice" {
		t.Fatalf("first event %+v (%v), want alice's pong at seq 3", e, err)
	}
	<-synced
	// The orderer moves past bob's own change once the sync page is in;
	// poll for that, then make sure the change did not come as an Event.
	deadline := time.Now().Add(wait)
	for c.Cursors()[conv] != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("cursor %d, want 4", c.Cursors()[conv])
		}
		time.Sleep(time.Millisecond) // poll interval
	}
	quiet(t, c)
}
