package hub

import (
	"fmt"
	"sync"
)

// Session is one registered client connection. Pushes and replies go
// through its bounded queue to its Transport, written by a goroutine that
// runs only while the queue has something to write.
type Session struct {
	hub  *Hub
	info SessionInfo
	t    Transport
	n    uint64 // registration number: the ID and the ping bucket derive from it

	// Guarded by hub.mu.
	u          *user // nil once unregistered
	subAt      uint64
	subscribed bool
	pingIdx    int // index in the ping bucket

	// Guarded by mu.
	mu      sync.Mutex
	closed  bool
	writing bool // a writer goroutine is running
	pingDue bool
	queue   ring
	bytes   int           // bytes in queue
	done    chan struct{} // made by Done or left nil; closed on close
}

// ID returns the session's ID: short, unique within the hub, and unlikely
// to be one of another hub's. Pass it as parley.Audience.SkipSession. It
// is formatted at each call (the Session does not keep the string, to stay
// small); keep it if it is needed often.
func (s *Session) ID() string { return s.hub.sessionID(s.n) }

// Info returns what Register was given.
func (s *Session) Info() SessionInfo { return s.info }

// Send queues msg (a reply) behind the pushes queued so far, so a client
// sees replies and pushes in the order the server produced them. msg must
// not be modified afterwards. Send returns false if the session is
// closed. A queue overflow closes the session with CloseSlowConsumer, as
// a push overflow does, and returns false.
func (s *Session) Send(msg []byte) bool { return s.push(msg) }

// Close unregisters the session and closes its transport with code and
// reason. Queued messages are dropped. Idempotent: only the first call
// closes the transport.
func (s *Session) Close(code int, reason string) {
	s.mu.Lock()
	first := s.shut()
	s.mu.Unlock()
	if first {
		s.finish(code, reason)
	}
}

// Done returns a channel closed when the session is closed.
func (s *Session) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		if s.closed {
			return s.hub.doneChan
		}
		// Made on demand: an idle session that nobody waits on holds none.
		s.done = make(chan struct{})
	}
	return s.done
}

// shut marks s closed and drops its queue; it reports whether s was open.
// s.mu must be held.
func (s *Session) shut() bool {
	if s.closed {
		return false
	}
	s.closed = true
	s.pingDue = false
	s.queue.reset()
	s.bytes = 0
	if s.done != nil {
		close(s.done)
	}
	return true
}

// finish does the rest of closing, once shut has: unregister, then close
// the transport (which makes a blocked Write return). No lock is held.
func (s *Session) finish(code int, reason string) {
	h := s.hub
	h.mu.Lock()
	h.detach(s)
	h.mu.Unlock()
	s.t.Close(code, reason)
}

// push queues msg, starting the writer if the queue was idle. On overflow
// it closes the session without waiting for its transport: the closing is
// handed to a goroutine, so the dispatcher that found the overflow goes on
// with the others at once.
func (s *Session) push(msg []byte) bool {
	h := s.hub
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	var reason string
	switch {
	case s.queue.len() >= h.cfg.QueueMessages:
		reason = fmt.Sprintf("slow consumer: %d messages queued", s.queue.len())
	case s.queue.len() > 0 && s.bytes+len(msg) > h.cfg.QueueBytes:
		reason = fmt.Sprintf("slow consumer: %d bytes queued", s.bytes)
	}
	if reason != "" {
		s.shut()
		// Added under s.mu, which Hub.Close's close of s waits for, so the
		// Add happens before Hub.Close waits on sessWG.
		h.sessWG.Add(1)
		s.mu.Unlock()
		h.slow.Add(1)
		h.log.Warn("hub: slow consumer cut off", "session", s.ID(), "user", s.info.User, "remote", s.info.RemoteAddr, "reason", reason)
		go func() {
			defer h.sessWG.Done()
			s.finish(CloseSlowConsumer, reason)
		}()
		return false
	}
	s.queue.push(msg, h.cfg.QueueMessages)
	s.bytes += len(msg)
	s.startWriter()
	s.mu.Unlock()
	return true
}

// requestPing asks the writer for a ping. A ping already due is not
// doubled.
func (s *Session) requestPing() {
	s.mu.Lock()
	if !s.closed {
		s.pingDue = true
		s.startWriter()
	}
	s.mu.Unlock()
}

// startWriter starts the writer unless it runs. s.mu must be held and s
// open.
func (s *Session) startWriter() {
	if s.writing {
		return
	}
	s.writing = true
	s.hub.sessWG.Add(1)
	go s.write()
}

// write is the writer: it sends what is queued, a due ping first, with no
// lock held (through WriteBatch several messages at a time when the
// transport has it, else one at a time), and returns when there is nothing left,
// releasing the queue's buffer so that an idle session holds none.
func (s *Session) write() {
	defer s.hub.sessWG.Done()
	bw, _ := s.t.(BatchWriter)
	var batch [][]byte // reused while the writer runs, dropped when it exits
	for {
		s.mu.Lock()
		if s.closed {
			s.writing = false
			s.mu.Unlock()
			return
		}
		var msg []byte
		ping := s.pingDue
		switch {
		case ping:
			s.pingDue = false
		case s.queue.len() > 1 && bw != nil:
			batch = batch[:0]
			size := 0
			for s.queue.len() > 0 && len(batch) < maxBatchMessages && size < maxBatchBytes {
				m := s.queue.pop()
				s.bytes -= len(m)
				size += len(m)
				batch = append(batch, m)
			}
		case s.queue.len() > 0:
			msg = s.queue.pop()
			s.bytes -= len(msg)
		default:
			s.writing = false
			s.queue.reset()
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()

		var err error
		what := "write"
		switch {
		case ping:
			what = "ping"
			err = s.t.Ping()
		case len(batch) > 0:
			err = bw.WriteBatch(batch)
			clear(batch) // the messages are the queue's no longer
			batch = batch[:0]
		default:
			err = s.t.Write(msg)
		}
		if err != nil {
			s.hub.log.Debug("hub: transport failed", "session", s.ID(), "user", s.info.User, "remote", s.info.RemoteAddr, "op", what, "err", err)
			s.Close(closeWriteFailed, what+" failed")
			return
		}
	}
}

// A writer's batch: at most this many messages, and it stops adding once
// it holds maxBatchBytes. Small enough that one batch is one writev of a
// few hundred KB; large enough that a busy session writes rarely.
const (
	maxBatchMessages = 64
	maxBatchBytes    = 256 << 10
)

// ring is a FIFO of messages that grows by doubling and is released by
// reset.
type ring struct {
	buf        [][]byte
	head, size int
}

func (r *ring) len() int { return r.size }

// push appends msg; limit caps the buffer's growth and is above r.len().
func (r *ring) push(msg []byte, limit int) {
	if r.size == len(r.buf) {
		grown := make([][]byte, min(max(4, 2*len(r.buf)), limit))
		n := copy(grown, r.buf[r.head:])
		copy(grown[n:], r.buf[:r.head])
		r.buf, r.head = grown, 0
	}
	r.buf[(r.head+r.size)%len(r.buf)] = msg
	r.size++
}

func (r *ring) pop() []byte {
	msg := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return msg
}

func (r *ring) reset() { *r = ring{} }
