package ws_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/parley-im/parley/internal/websocket"
)

// BenchmarkIdleConnection measures the memory one idle logged-in
// connection costs: heap and stacks in use after 2,000 raw clients logged
// in, less before, per connection (one user each, already imported). Both ends live in this process, so the
// figure includes the client's side of each connection (a websocket.Conn
// and its socket, no goroutine): an upper bound of the server's share.
// Run it with -benchtime=1x.
func BenchmarkIdleConnection(b *testing.B) {
	const n = 2000
	e := setup(b, nil)
	sigs := make([]string, n)
	for i := range sigs {
		sigs[i] = e.sig(b, userName(i))
		// Imported and read beforehand, so that the store's page cache
		// is warm and not counted.
		if _, err := e.engine.Login(context.Background(), userName(i)); err != nil {
			b.Fatal(err)
		}
	}
	conns := make([]*raw, 0, n)
	heap0, stack0 := inUse()
	b.ResetTimer()
	for i := range n {
		r := dialRaw(b, e.url, websocket.DialOptions{})
		r.send(map[string]any{"op": "login", "id": "L", "data": map[string]any{"SDKAppID": appID, "UserID": userName(i), "UserSig": sigs[i]}})
		r.ok(r.reply("L"))
		conns = append(conns, r)
	}
	b.StopTimer()
	heap1, stack1 := inUse()
	b.ReportMetric(float64(heap1-heap0)/n, "heap-bytes/conn")
	b.ReportMetric(float64(stack1-stack0)/n, "stack-bytes/conn")
	b.ReportMetric(float64(heap1+stack1-heap0-stack0)/n, "bytes/conn")
	b.ReportMetric(0, "ns/op")
	runtime.KeepAlive(conns)
}

func userName(i int) string { return "user" + itoa(i) }

func itoa(i int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}

// inUse is the heap and stack memory in use, after collecting garbage and
// shrinking stacks: each collection halves a stack that uses under a
// quarter of it, and a reader's stack grew deep during the login (the
// store runs on it), so an idle connection's takes a few cycles to come
// back to its size while blocked in a read.
func inUse() (heap, stack uint64) {
	var m runtime.MemStats
	for range 10 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.StackInuse
}
