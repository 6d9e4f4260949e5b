package sqlite

import (
	"context"
	"sync"

	"github.com/wxtoken/wxtoken"
)

// Watch delivers the changes this Store writes. A SQLite file has one
// writing process in practice, so an in-process fan-out is the whole story;
// another process writing the same file is not seen.
func (s *Store) Watch(ctx context.Context) (<-chan wxtoken.Change, error) {
	return s.hub.subscribe(ctx)
}

// hub fans changes out to watchers without ever blocking a writer: a watcher
// whose buffer is full is marked, and its own goroutine sends it a
// ChangeResync as soon as it reads again.
type hub struct {
	buffer int
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
	done   chan struct{}
}

type subscriber struct {
	ch     chan wxtoken.Change
	missed chan struct{} // holds a mark while a resync is owed
}

func newHub(buffer int) *hub {
	return &hub{buffer: buffer, subs: map[*subscriber]struct{}{}, done: make(chan struct{})}
}

func (h *hub) subscribe(ctx context.Context) (<-chan wxtoken.Change, error) {
	sub := &subscriber{ch: make(chan wxtoken.Change, h.buffer), missed: make(chan struct{}, 1)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, wxtoken.Errorf(wxtoken.EUnavailable, "sqlite store is closed")
	}
	h.subs[sub] = struct{}{}
	h.mu.Unlock()

	go func() {
		// Unsubscribe before closing: publish sends only under h.mu to
		// subscribers still in the map, so nothing sends on a closed channel.
		defer func() {
			h.mu.Lock()
			delete(h.subs, sub)
			h.mu.Unlock()
			close(sub.ch)
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-h.done:
				return
			case <-sub.missed:
				select {
				case sub.ch <- wxtoken.Change{Kind: wxtoken.ChangeResync}:
				case <-ctx.Done():
					return
				case <-h.done:
					return
				}
			}
		}
	}()
	return sub.ch, nil
}

func (h *hub) publish(c wxtoken.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs {
		select {
		case sub.ch <- c:
		default:
			select {
			case sub.missed <- struct{}{}:
			default: // a resync is already owed
			}
		}
	}
}

// close ends every watch; their goroutines close the channels.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}
