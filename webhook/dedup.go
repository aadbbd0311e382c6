package webhook

import (
	"container/list"
	"sync"
	"time"
)

// Claim is what a [Dedup] knows about an event id.
type Claim int

const (
	// ClaimNew: the id was not seen; the caller now holds it and must
	// Complete or Release it.
	ClaimNew Claim = iota
	// ClaimInFlight: another request with this id is being handled.
	ClaimInFlight
	// ClaimDone: an earlier request with this id was handled.
	ClaimDone
)

// Dedup remembers event ids so that a callback func sees each event once
// although parley delivers at least once (a retry after a timeout, a
// replay, a restart mid-attempt). Implementations must be safe for
// concurrent use; one backed by a shared store (Redis, SQL) lets several
// replicas of a backend share it.
type Dedup interface {
	// Claim marks id as in flight if it is new.
	Claim(id string) Claim
	// Complete marks a claimed id as handled.
	Complete(id string)
	// Release forgets a claimed id, so that the retry is handled.
	Release(id string)
}

// MemoryDedupConfig configures [NewMemoryDedup].
type MemoryDedupConfig struct {
	// Capacity bounds the ids kept; the oldest go first. Zero means
	// 100000.
	Capacity int
	// TTL is how long an id is remembered. Zero means 48 hours: parley's
	// default retry schedule spans about 28 hours.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MemoryDedup is a bounded in-process [Dedup]: ids expire after the TTL
// and the oldest are evicted beyond the capacity, so a duplicate arriving
// later than that is handled again.
type MemoryDedup struct {
	capacity int
	ttl      time.Duration
	now      func() time.Time

	mu    sync.Mutex
	ids   map[string]*list.Element
	order list.List // of *dedupEntry, most recently touched at the front
}

type dedupEntry struct {
	id      string
	done    bool
	expires time.Time
}

// NewMemoryDedup returns an empty MemoryDedup.
func NewMemoryDedup(cfg MemoryDedupConfig) *MemoryDedup {
	d := &MemoryDedup{capacity: cfg.Capacity, ttl: cfg.TTL, now: cfg.Now, ids: make(map[string]*list.Element)}
	if d.capacity <= 0 {
		d.capacity = 100000
	}
	if d.ttl <= 0 {
		d.ttl = 48 * time.Hour
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// Claim implements [Dedup].
func (d *MemoryDedup) Claim(id string) Claim {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	d.expire(now)
	if el, ok := d.ids[id]; ok {
		if el.Value.(*dedupEntry).done {
			return ClaimDone
		}
		return ClaimInFlight
	}
	d.ids[id] = d.order.PushFront(&dedupEntry{id: id, expires: now.Add(d.ttl)})
	for d.order.Len() > d.capacity {
		d.remove(d.order.Back())
	}
	return ClaimNew
}

// Complete implements [Dedup].
func (d *MemoryDedup) Complete(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	el, ok := d.ids[id]
	if !ok {
		// Evicted while in flight: remember it anyway.
		el = d.order.PushFront(&dedupEntry{id: id})
		d.ids[id] = el
	}
	e := el.Value.(*dedupEntry)
	e.done, e.expires = true, now.Add(d.ttl)
	d.order.MoveToFront(el)
	for d.order.Len() > d.capacity {
		d.remove(d.order.Back())
	}
}

// Release implements [Dedup].
func (d *MemoryDedup) Release(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.ids[id]; ok && !el.Value.(*dedupEntry).done {
		d.remove(el)
	}
}

// Len is the number of ids remembered, expired ones included until the
// next Claim.
func (d *MemoryDedup) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.order.Len()
}

// expire drops expired entries from the back. Every touch pushes to the
// front with expiry now+TTL, so the list is in expiry order.
func (d *MemoryDedup) expire(now time.Time) {
	for el := d.order.Back(); el != nil && !now.Before(el.Value.(*dedupEntry).expires); el = d.order.Back() {
		d.remove(el)
	}
}

func (d *MemoryDedup) remove(el *list.Element) {
	delete(d.ids, el.Value.(*dedupEntry).id)
	d.order.Remove(el)
}
