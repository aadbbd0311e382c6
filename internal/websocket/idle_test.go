package websocket_test

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/websocket"
)

// BenchmarkIdleConn reports the memory (heap in use plus stacks) held per
// idle connection: 2,000 connections, each with its reader blocked in
// ReadMessage. The clients are bare TCP connections in the same process,
// so their sockets count too; "tcp floor" measures that cost alone (a
// plain TCP server holding each accepted connection, no HTTP, no
// goroutine), to subtract. Run it with -benchtime 1x: an iteration is a
// measurement, not a loop.
func BenchmarkIdleConn(b *testing.B) {
	for _, mode := range []string{"own goroutine", "in handler", "tcp floor"} {
		b.Run(mode, func(b *testing.B) {
			var perConn float64
			for b.Loop() {
				perConn = idleBytesPerConn(b, 2000, mode)
			}
			b.ReportMetric(perConn, "bytes/conn")
		})
	}
}

func inUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

func idleBytesPerConn(b *testing.B, n int, mode string) float64 {
	var (
		reading atomic.Int64
		mu      sync.Mutex
		held    []net.Conn // tcp floor: the server side of each connection
		readers sync.WaitGroup
	)
	read := func(c *websocket.Conn) {
		defer readers.Done()
		reading.Add(1)
		c.ReadMessage()
		c.CloseNow()
	}
	var addr string
	if mode == "tcp floor" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
				reading.Add(1)
			}
		}()
		addr = ln.Addr().String()
	} else {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Upgrade(w, r, websocket.UpgradeOptions{})
			if err != nil {
				return
			}
			readers.Add(1)
			if mode == "in handler" {
				read(c)
			} else {
				go read(c)
			}
		}))
		defer s.Close()
		addr = strings.TrimPrefix(s.URL, "http://")
	}

	before := inUse()
	clients := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
		if mode == "tcp floor" {
			continue
		}
		if _, err := c.Write([]byte(handshakeRequest(addr, ""))); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReaderSize(c, 256), nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			b.Fatalf("handshake: %v %v", resp, err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); reading.Load() < int64(n); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d connections reading", reading.Load(), n)
		}
	}
	after := inUse()

	for _, c := range clients {
		c.Close()
	}
	for _, c := range held {
		c.Close()
	}
	readers.Wait()
	perConn := float64(int64(after)-int64(before)) / float64(n)
	b.Logf("%s: %.0f bytes per idle connection (heap+stack, both ends)", mode, perConn)
	return perConn
}
