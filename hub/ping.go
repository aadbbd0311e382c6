package hub

import (
	"time"
)

// pinger spreads the sessions' pings over the interval: the interval is
// cut into len(buckets) slots of length slot, and a session is in bucket
// n % len(buckets), pinged when a slot of that bucket begins. Slots are
// counted on the clock (Config.Now) from the Unix epoch, so a tick that
// comes late, or a clock that jumps forward, pings every bucket whose slot
// began since the previous round, each once.
type pinger struct {
	slot    time.Duration
	buckets [][]*Session // guarded by Hub.mu
	// start is the slot New began in. It is read in New rather than by
	// the goroutine, which may start after the clock has moved on.
	start int64
}

// maxPingBuckets bounds the buckets, so a long interval does not make
// thousands of mostly empty ones.
const maxPingBuckets = 1024

func newPinger(interval time.Duration, now time.Time) *pinger {
	slot := max(interval/maxPingBuckets, min(time.Second, interval/10))
	p := &pinger{slot: slot, buckets: make([][]*Session, max(1, interval/slot))}
	p.start = p.slotAt(now)
	return p
}

func (p *pinger) bucket(n uint64) int { return int(n % uint64(len(p.buckets))) }

// add and remove keep a session in its bucket; Hub.mu must be held.
func (p *pinger) add(s *Session) {
	b := p.bucket(s.n)
	s.pingIdx = len(p.buckets[b])
	p.buckets[b] = append(p.buckets[b], s)
}

func (p *pinger) remove(s *Session) {
	b := p.buckets[p.bucket(s.n)]
	last := len(b) - 1
	moved := b[last]
	b[s.pingIdx] = moved
	moved.pingIdx = s.pingIdx
	b[last] = nil
	p.buckets[p.bucket(s.n)] = b[:last]
}

// slotAt numbers the slot that holds t.
func (p *pinger) slotAt(t time.Time) int64 { return t.UnixNano() / int64(p.slot) }

// ping is the pinger's goroutine.
func (h *Hub) ping() {
	defer h.loops.Done()
	p := h.pinger
	ticker := time.NewTicker(p.slot)
	defer ticker.Stop()
	last := p.start
	var batch []*Session // reused from round to round
	for {
		select {
		case <-h.stop:
			return
		case <-ticker.C:
		}
		now := p.slotAt(h.cfg.Now())
		if now < last {
			// The clock went back: go on from where it is now rather
			// than wait for it to catch up, pinging no one meanwhile.
			last = now
			continue
		}
		for slot := max(last+1, now-int64(len(p.buckets))+1); slot <= now; slot++ {
			b := int(((slot % int64(len(p.buckets))) + int64(len(p.buckets))) % int64(len(p.buckets)))
			// Copied under the lock and pinged after it, so Register and
			// Close are not held up by a bucket of thousands.
			h.mu.RLock()
			batch = append(batch[:0], p.buckets[b]...)
			h.mu.RUnlock()
			for _, s := range batch {
				s.requestPing()
			}
		}
		clear(batch)
		last = now
	}
}
