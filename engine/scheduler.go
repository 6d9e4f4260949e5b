package engine

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"
)

// scheduler is the due-time index of authorizer refreshes: one heap ordered by
// due time and one timer for its head, rather than a timer per account, so a
// million accounts cost a million small heap items and one goroutine.
type scheduler struct {
	clock wxtoken.Clock
	mu    sync.Mutex
	items dueHeap
	index map[string]*dueItem
	wake  chan struct{}
}

type dueItem struct {
	appID string
	due   time.Time
	pos   int
	// failures counts consecutive failed refreshes, for backoff.
	failures int
}

func newScheduler(clock wxtoken.Clock) *scheduler {
	return &scheduler{clock: clock, index: map[string]*dueItem{}, wake: make(chan struct{}, 1)}
}

// schedule sets appID's next refresh to due, replacing any earlier plan, and
// clears its failure count (a successful write brought the new due time).
func (s *scheduler) schedule(appID string, due time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(appID, due)
	s.index[appID].failures = 0
}

// retry plans the next attempt after a failure and returns the attempt number.
func (s *scheduler) retry(appID string, delay func(attempt int) time.Duration) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.index[appID]
	failures := 1
	if it != nil {
		failures = it.failures + 1
	}
	s.setLocked(appID, s.clock.Now().Add(delay(failures)))
	s.index[appID].failures = failures
	return failures
}

func (s *scheduler) setLocked(appID string, due time.Time) {
	if it, ok := s.index[appID]; ok {
		it.due = due
		if it.pos >= 0 {
			heap.Fix(&s.items, it.pos)
		} else {
			heap.Push(&s.items, it)
		}
	} else {
		it := &dueItem{appID: appID, due: due}
		s.index[appID] = it
		heap.Push(&s.items, it)
	}
	if s.items[0].appID == appID {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *scheduler) remove(appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.index[appID]; ok {
		if it.pos >= 0 {
			heap.Remove(&s.items, it.pos)
		}
		delete(s.index, appID)
	}
}

// popDue takes every item due at now off the heap (they stay in the index, so
// a later schedule call re-inserts them) and returns the time of the next one.
func (s *scheduler) popDue(now time.Time, max int) (due []string, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.items) > 0 && !s.items[0].due.After(now) && len(due) < max {
		it := heap.Pop(&s.items).(*dueItem)
		due = append(due, it.appID)
	}
	if len(s.items) > 0 {
		next = s.items[0].due
	}
	return due, next
}

// dueHeap is a min-heap of items by due time.
type dueHeap []*dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pos = i
	h[j].pos = j
}
func (h *dueHeap) Push(x any) {
	it := x.(*dueItem)
	it.pos = len(*h)
	*h = append(*h, it)
}
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.pos = -1
	return it
}

// schedulerLoop refreshes authorizers as they fall due, at most
// cfg.Concurrency at a time.
func (e *Engine) schedulerLoop(ctx context.Context) {
	sem := make(chan struct{}, e.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	// The in-memory heap follows the store's notifications; a periodic sweep
	// of the store's own due index catches any notification that was lost
	// (a dropped subscription, a write by a replica of an older version).
	sweepEvery := e.margin / 2
	nextSweep := e.clock.Now().Add(sweepEvery)
	for {
		now := e.clock.Now()
		if !now.Before(nextSweep) {
			e.sweep(ctx, now)
			nextSweep = now.Add(sweepEvery)
		}
		due, next := e.sched.popDue(now, cap(sem))
		for _, appID := range due {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			e.busy.Add(1)
			go func(appID string) {
				defer func() { <-sem; wg.Done(); e.busy.Add(-1) }()
				e.refreshScheduled(ctx, appID)
			}(appID)
		}
		if len(due) > 0 {
			continue // more may be due already
		}
		if next.IsZero() || nextSweep.Before(next) {
			next = nextSweep
		}
		timer := e.clock.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C():
		case <-e.sched.wake:
			timer.Stop()
		}
	}
}

// jitter returns a random duration in [0, d).
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}

// ensure re-inserts appID at due if a refresh popped it and nothing has
// scheduled it since, so that no authorizer falls out of the index.
func (s *scheduler) ensure(appID string, due time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if it, ok := s.index[appID]; ok && it.pos < 0 {
		s.setLocked(appID, due)
	}
}

// sweep reloads from the store every authorizer due within the refresh
// margin, so that the heap cannot miss one whose change notification was lost.
func (e *Engine) sweep(ctx context.Context, now time.Time) {
	due, err := e.store.DueAuthorizers(ctx, e.appID, now.Add(e.margin), 1000)
	if err != nil {
		e.log.Warn("sweep of the store's due index failed", "err", err)
		return
	}
	for _, a := range due {
		e.remember(a)
	}
}
