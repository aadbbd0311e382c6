package hub

import (
	"hash/maphash"
	"sync"

	"github.com/parley-im/parley"
)

// A job is one publish (c set) or one membership change (m set).
type job struct {
	c *parley.Change
	a parley.Audience
	m *membership
}

type membership struct {
	group        string
	joined, left []string
	destroyed    bool
}

// shard is one dispatcher's FIFO queue. Publish appends under mu; the
// dispatcher takes the whole queue at once and hands back the slice it
// drained, so a busy shard allocates nothing per publish and an idle one
// holds no large buffer.
type shard struct {
	mu        sync.Mutex
	q         []job
	publishes int // jobs in q that are publishes: what DispatchQueue bounds
	wake      chan struct{}
	spare     []job // the drained slice, given back by the dispatcher
}

// spareMax is the largest drained queue a shard keeps for reuse; a bigger
// one, left by a burst, goes to the garbage collector.
const spareMax = 1024

// put appends j unless it is a publish and the queue already holds limit
// publishes. The first job into an empty queue wakes the dispatcher.
func (sh *shard) put(j job, limit int) bool {
	sh.mu.Lock()
	if j.c != nil {
		if sh.publishes >= limit {
			sh.mu.Unlock()
			return false
		}
		sh.publishes++
	}
	if sh.q == nil {
		sh.q, sh.spare = sh.spare, nil
	}
	sh.q = append(sh.q, j)
	first := len(sh.q) == 1
	sh.mu.Unlock()
	if first {
		select {
		case sh.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	return true
}

// take empties the queue and returns what it held.
func (sh *shard) take() []job {
	sh.mu.Lock()
	q := sh.q
	sh.q = nil
	sh.publishes = 0
	sh.mu.Unlock()
	return q
}

// recycle gives a drained queue back for reuse.
func (sh *shard) recycle(q []job) {
	if cap(q) > spareMax {
		return
	}
	clear(q)
	sh.mu.Lock()
	if sh.spare == nil {
		sh.spare = q[:0]
	}
	sh.mu.Unlock()
}

func (h *Hub) shardOf(conversation string) *shard {
	return h.shards[maphash.String(h.seed, conversation)%uint64(len(h.shards))]
}

// dispatch is a shard's goroutine: it runs the shard's jobs in order
// until Close.
func (h *Hub) dispatch(sh *shard) {
	defer h.loops.Done()
	var recipients []*Session // reused from job to job
	for {
		select {
		case <-h.stop:
			return
		case <-sh.wake:
		}
		for {
			q := sh.take()
			if len(q) == 0 {
				break
			}
			for _, j := range q {
				select {
				case <-h.stop:
					return
				default:
				}
				if j.m != nil {
					h.applyMembership(j.m)
				} else {
					recipients = h.fanOut(j.c, j.a, recipients[:0])
					clear(recipients) // let closed sessions go
				}
			}
			sh.recycle(q)
		}
	}
}

// fanOut pushes c to its recipients, using buf for their list.
func (h *Hub) fanOut(c *parley.Change, a parley.Audience, buf []*Session) []*Session {
	skip := h.parseSessionID(a.SkipSession)
	add := func(u *user) {
		if !c.VisibleTo(u.id) {
			return
		}
		for _, s := range u.sessions {
			if s.n != skip {
				buf = append(buf, s)
			}
		}
	}
	named := newUserSet(a.Users)

	// The list is copied under the read lock and pushed to after it, so
	// that a session closing for overflow can unregister without waiting
	// for this dispatch, and Register is not held up by the pushes.
	h.mu.RLock()
	for i, id := range a.Users {
		if named.seenBefore(a.Users, i) {
			continue
		}
		if u := h.users[id]; u != nil {
			add(u)
		}
	}
	if a.GroupID != "" {
		for u := range h.groups[a.GroupID] {
			if !named.has(a.Users, u.id) {
				add(u)
			}
		}
	}
	h.mu.RUnlock()

	if len(buf) == 0 {
		return buf
	}
	msg := h.cfg.Encode(c)
	for _, s := range buf {
		s.push(msg)
	}
	h.pushed.Add(uint64(len(buf)))
	return buf
}

// userSet answers membership in an Audience's Users: by scanning the
// slice when it is short (the usual one or two), by a map when it is not.
type userSet map[string]int // user -> index of its first occurrence

const userSetScanMax = 8

func newUserSet(users []string) userSet {
	if len(users) <= userSetScanMax {
		return nil
	}
	set := make(userSet, len(users))
	for i := len(users) - 1; i >= 0; i-- {
		set[users[i]] = i
	}
	return set
}

func (set userSet) has(users []string, id string) bool {
	if set == nil {
		for _, u := range users {
			if u == id {
				return true
			}
		}
		return false
	}
	_, ok := set[id]
	return ok
}

// seenBefore reports whether users[i] occurs earlier in users.
func (set userSet) seenBefore(users []string, i int) bool {
	if set == nil {
		for _, u := range users[:i] {
			if u == users[i] {
				return true
			}
		}
		return false
	}
	return set[users[i]] != i
}
