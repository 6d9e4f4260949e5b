package redis

import (
	"context"
	"sync"

	"github.com/wxtoken/wxtoken"
)

// changeFeed sits between a notification source that must never block (a
// subscriber that stops reading is disconnected by the server once its
// output buffer is full) and a reader that may be slow. Up to max changes wait for the reader;
// past that the queue collapses into one ChangeResync, which tells the reader
// to reload everything, the dropped changes included.
type changeFeed struct {
	mu     sync.Mutex
	queue  []wxtoken.Change
	resync bool
	max    int
	wake   chan struct{}
}

func newChangeFeed(max int) *changeFeed {
	return &changeFeed{max: max, wake: make(chan struct{}, 1)}
}

func (f *changeFeed) push(c wxtoken.Change) {
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

// pushResync replaces whatever waits with a ChangeResync.
func (f *changeFeed) pushResync() {
	f.mu.Lock()
	f.queue, f.resync = nil, true
	f.mu.Unlock()
	f.signal()
}

func (f *changeFeed) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *changeFeed) next() (wxtoken.Change, bool) {
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

// run hands the changes to out until ctx is done, then closes out.
func (f *changeFeed) run(ctx context.Context, out chan<- wxtoken.Change) {
	defer close(out)
	for {
		c, ok := f.next()
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
