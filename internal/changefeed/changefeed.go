// Package changefeed carries wxtoken.Change notifications from a shared
// store's server (PostgreSQL NOTIFY, Redis pub/sub) to a Watch reader: the
// payload format on the wire, a queue between a source that must never block
// and a reader that may be slow, and the pacing of reconnection attempts.
package changefeed

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
)

// Tuning shared by the stores' watches. Reconnection waits are real time, not
// the lifecycle's clock: they pace connection attempts to a server, whatever
// the virtual time.
const (
	// Capacity is how many changes wait for a slow reader before they
	// collapse into one ChangeResync.
	Capacity = 1024
	// HealthInterval bounds how long a silently dead connection (a peer gone
	// without closing TCP) goes unnoticed: after that long without a message
	// the connection is pinged.
	HealthInterval = 30 * time.Second
	backoffMin     = 50 * time.Millisecond
	backoffMax     = 5 * time.Second
	outBuffer      = 16
)

// Feed sits between a notification source that must never block (a
// PostgreSQL LISTEN connection falls behind, and the server's queue fills, if
// it is not read; a Redis subscriber that stops reading is disconnected once
// its output buffer is full) and a reader that may be slow. Up to max changes
// wait for the reader; past that the queue collapses into one ChangeResync,
// which tells the reader to reload everything, the dropped changes included.
type Feed struct {
	mu     sync.Mutex
	queue  []wxtoken.Change
	resync bool
	max    int
	wake   chan struct{}
}

// New returns a Feed that holds up to max changes.
func New(max int) *Feed {
	return &Feed{max: max, wake: make(chan struct{}, 1)}
}

// Push queues c; it never blocks.
func (f *Feed) Push(c wxtoken.Change) {
	f.mu.Lock()
	switch {
	case f.resync:
		// The reader reloads everything at the pending resync anyway.
	case len(f.queue) >= f.max:
		f.queue, f.resync = nil, true
	default:
		f.queue = append(f.queue, c)
	}
	f.mu.Unlock()
	f.signal()
}

// PushResync replaces whatever waits with a ChangeResync.
func (f *Feed) PushResync() {
	f.mu.Lock()
	f.queue, f.resync = nil, true
	f.mu.Unlock()
	f.signal()
}

func (f *Feed) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Next takes the change that waits longest, if any.
func (f *Feed) Next() (wxtoken.Change, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resync {
		f.resync = false
		return wxtoken.Change{Kind: wxtoken.ChangeResync}, true
	}
	if len(f.queue) == 0 {
		return wxtoken.Change{}, false
	}
	c := f.queue[0]
	f.queue = f.queue[1:]
	return c, true
}

// Run hands the changes to out until ctx is done, then closes out.
func (f *Feed) Run(ctx context.Context, out chan<- wxtoken.Change) {
	defer close(out)
	for {
		c, ok := f.Next()
		if !ok {
			select {
			case <-f.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case out <- c:
		case <-ctx.Done():
			return
		}
	}
}

// Start is the body of a store's Watch once its source is connected: source
// runs on a goroutine of its own, pushing into a Feed of Capacity, and the
// returned channel delivers what it pushes until ctx is done. Both goroutines
// are counted in wg, so that the store's Close can wait for them.
func Start(ctx context.Context, wg *sync.WaitGroup, source func(*Feed)) <-chan wxtoken.Change {
	feed := New(Capacity)
	out := make(chan wxtoken.Change, outBuffer)
	wg.Add(2)
	go func() {
		defer wg.Done()
		feed.Run(ctx, out)
	}()
	go func() {
		defer wg.Done()
		source(feed)
	}()
	return out
}

// payload is the wire form of a Change: which record was written, never its
// value.
type payload struct {
	Kind           wxtoken.ChangeKind `json:"kind"`
	ComponentAppID string             `json:"component_appid"`
	AppID          string             `json:"appid,omitempty"`
	Version        int64              `json:"version,omitempty"`
}

// Encode returns the notification payload announcing c.
func Encode(c wxtoken.Change) string {
	b, _ := json.Marshal(payload{Kind: c.Kind, ComponentAppID: c.ComponentAppID, AppID: c.AppID, Version: c.Version})
	return string(b)
}

// Decode reads a payload written by Encode; ok is false for anything else.
func Decode(s string) (c wxtoken.Change, ok bool) {
	var p payload
	if json.Unmarshal([]byte(s), &p) != nil || p.Kind == "" {
		return wxtoken.Change{}, false
	}
	return wxtoken.Change{Kind: p.Kind, ComponentAppID: p.ComponentAppID, AppID: p.AppID, Version: p.Version}, true
}

// Backoff paces reconnection attempts: each Wait is twice as long as the one
// before, up to a cap, until Reset.
type Backoff struct {
	wait time.Duration
}

// Wait sleeps the next backoff, or reports false when ctx is done first.
func (b *Backoff) Wait(ctx context.Context) bool {
	if b.wait == 0 {
		b.wait = backoffMin
	}
	wait := b.wait
	b.wait = min(2*b.wait, backoffMax)
	// Jitter keeps replicas that lost the server together from reconnecting
	// in lockstep.
	return sleep(ctx, wait/2+rand.N(wait/2+1))
}

// Reset starts the next Wait from the shortest backoff again.
func (b *Backoff) Reset() { b.wait = 0 }

// sleep waits d, or reports false when ctx is done first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
