package webhook_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/webhook"
)

func TestMemoryDedupExpiresAfterTheTTL(t *testing.T) {
	at := now
	d := webhook.NewMemoryDedup(webhook.MemoryDedupConfig{TTL: time.Hour, Now: func() time.Time { return at }})
	if got := d.Claim("evt_1"); got != webhook.ClaimNew {
		t.Fatalf("first Claim = %v, want ClaimNew", got)
	}
	if got := d.Claim("evt_1"); got != webhook.ClaimInFlight {
		t.Fatalf("Claim in flight = %v, want ClaimInFlight", got)
	}
	d.Complete("evt_1")
	at = at.Add(time.Hour - time.Second)
	if got := d.Claim("evt_1"); got != webhook.ClaimDone {
		t.Fatalf("Claim within the TTL = %v, want ClaimDone", got)
	}
	at = at.Add(time.Second)
	if got := d.Claim("evt_1"); got != webhook.ClaimNew {
		t.Fatalf("Claim after the TTL = %v, want ClaimNew", got)
	}
}

func TestMemoryDedupIsBounded(t *testing.T) {
	d := webhook.NewMemoryDedup(webhook.MemoryDedupConfig{Capacity: 3, Now: clock})
	for i := range 5 {
		id := fmt.Sprint("evt_", i)
		d.Claim(id)
		d.Complete(id)
	}
	if got, want := d.Len(), 3; got != want {
		t.Errorf("Len = %d, want %d", got, want)
	}
	if got := d.Claim("evt_4"); got != webhook.ClaimDone {
		t.Errorf("newest id: Claim = %v, want ClaimDone", got)
	}
	if got := d.Claim("evt_0"); got != webhook.ClaimNew {
		t.Errorf("evicted id: Claim = %v, want ClaimNew", got)
	}
}

func TestMemoryDedupReleaseForgetsOnlyInFlightIDs(t *testing.T) {
	d := webhook.NewMemoryDedup(webhook.MemoryDedupConfig{Now: clock})
	d.Claim("evt_1")
	d.Release("evt_1")
	if got := d.Claim("evt_1"); got != webhook.ClaimNew {
		t.Errorf("Claim after Release = %v, want ClaimNew", got)
	}
	d.Complete("evt_1")
	d.Release("evt_1")
	if got := d.Claim("evt_1"); got != webhook.ClaimDone {
		t.Errorf("Claim after Complete and Release = %v, want ClaimDone", got)
	}
}

func TestMemoryDedupGrantsEachIDOnceUnderConcurrency(t *testing.T) {
	d := webhook.NewMemoryDedup(webhook.MemoryDedupConfig{})
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range 200 {
				id := fmt.Sprint("evt_", i)
				if d.Claim(id) == webhook.ClaimNew {
					granted.Add(1)
					d.Complete(id)
				}
			}
		})
	}
	wg.Wait()
	if got, want := granted.Load(), int64(200); got != want {
		t.Errorf("ids granted %d times, want %d", got, want)
	}
}
