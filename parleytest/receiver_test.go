package parleytest_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/parleytest"
)

func post(t *testing.T, u, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Parley-Event-Id", "evt_1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReceiverRecordsAndReplies(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	before := time.Now()

	status, body := post(t, rcv.URL+"/hook?SdkAppid=1400000001&CallbackCommand=C2C.CallbackAfterSendMsg", `{"a":1}`)
	if status != http.StatusOK || body != parleytest.OKReply {
		t.Errorf("default reply = %d %q, want 200 %q", status, body, parleytest.OKReply)
	}

	rcv.SetReply(http.StatusInternalServerError, "nope")
	status, body = post(t, rcv.URL, `{"b":2}`)
	if status != http.StatusInternalServerError || body != "nope" {
		t.Errorf("after SetReply: %d %q, want 500 nope", status, body)
	}

	rcv.SetHandler(func(r parleytest.Request) (int, string) { return http.StatusAccepted, string(r.Body) })
	status, body = post(t, rcv.URL, `{"c":3}`)
	if status != http.StatusAccepted || body != `{"c":3}` {
		t.Errorf("after SetHandler: %d %q, want 202 echo", status, body)
	}

	reqs := rcv.WaitFor(t, 3, time.Second)
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(reqs))
	}
	first := reqs[0]
	if got := first.Query.Get("CallbackCommand"); got != "C2C.CallbackAfterSendMsg" {
		t.Errorf("Query CallbackCommand = %q", got)
	}
	if got := first.Header.Get("X-Parley-Event-Id"); got != "evt_1" {
		t.Errorf("Header X-Parley-Event-Id = %q", got)
	}
	if string(first.Body) != `{"a":1}` || string(reqs[2].Body) != `{"c":3}` {
		t.Errorf("bodies %q, %q: not recorded in arrival order", first.Body, reqs[2].Body)
	}
	if first.At.Before(before) || reqs[2].At.Before(first.At) {
		t.Errorf("receipt times out of order: %v, %v (test began %v)", first.At, reqs[2].At, before)
	}
}

func TestReceiverWaitForWakesOnArrival(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	var wg sync.WaitGroup
	const n = 20
	for i := range n {
		wg.Go(func() {
			resp, err := http.Post(rcv.URL, "application/json", strings.NewReader(strings.Repeat("x", i)))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	got := rcv.WaitFor(t, n, 10*time.Second)
	if len(got) < n {
		t.Fatalf("WaitFor returned %d requests, want %d", len(got), n)
	}
	wg.Wait()
	if len(rcv.Requests()) != n {
		t.Errorf("Requests() = %d, want %d", len(rcv.Requests()), n)
	}
}

// TestReceiverHoldsRequests checks that a blocking handler holds the
// sender, as before-send tests need, while the request is already
// recorded.
func TestReceiverHoldsRequests(t *testing.T) {
	rcv := parleytest.NewReceiver(t)
	release := make(chan struct{})
	rcv.SetHandler(func(parleytest.Request) (int, string) {
		<-release
		return http.StatusOK, parleytest.OKReply
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Post(rcv.URL, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
	}()
	rcv.WaitFor(t, 1, 10*time.Second)
	select {
	case <-done:
		t.Fatal("the request finished while its handler was blocked")
	default:
	}
	close(release)
	<-done
}
