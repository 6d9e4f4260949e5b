package wxtoken

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock is where the lifecycle reads time and waits for it. Nothing in the
// lifecycle calls time.Now or time.Sleep: tests and the emulator run hours of
// token lifetimes in milliseconds by driving a ManualClock, and a cluster under
// test shares an accelerated ScaledClock.
type Clock interface {
	Now() time.Time
	// NewTimer fires once, after d has passed on this clock.
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the lifecycle uses.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

// Sleep waits d on clock c, or until ctx is done.
func Sleep(ctx context.Context, c Clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := c.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C():
		return nil
	}
}

// SystemClock is the wall clock.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now() }

func (SystemClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }

// ScaledClock runs Scale times faster than the wall clock from the wall-clock
// instant Origin on: at wall time w it reads Origin + (w-Origin)*Scale. Two
// processes given the same Origin and Scale agree on the virtual time without
// talking to each other, which is how a cluster under test shares an
// accelerated clock with the emulator. Scale 1 is the wall clock.
type ScaledClock struct {
	Origin time.Time
	Scale  float64
}

// NewScaledClock returns a clock that runs scale times faster than the wall
// clock since the instant origin (zero: now).
func NewScaledClock(origin time.Time, scale float64) *ScaledClock {
	if origin.IsZero() {
		origin = time.Now()
	}
	if scale <= 0 {
		scale = 1
	}
	return &ScaledClock{Origin: origin, Scale: scale}
}

func (c *ScaledClock) Now() time.Time {
	elapsed := time.Since(c.Origin)
	return c.Origin.Add(time.Duration(float64(elapsed) * c.Scale))
}

func (c *ScaledClock) NewTimer(d time.Duration) Timer {
	ch := make(chan time.Time, 1)
	t := time.AfterFunc(time.Duration(float64(d)/c.Scale), func() {
		ch <- c.Now()
	})
	return &scaledTimer{t: t, ch: ch}
}

type scaledTimer struct {
	t  *time.Timer
	ch chan time.Time
}

func (s *scaledTimer) C() <-chan time.Time { return s.ch }
func (s *scaledTimer) Stop() bool          { return s.t.Stop() }

// ManualClock only moves when told to. Timers fire, in deadline order, when
// Advance or Set passes their deadline.
type ManualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
	// waiters are woken whenever a timer is added, so that a test can wait
	// until the code under test has gone to sleep before advancing.
	waiters []chan struct{}
}

// NewManualClock returns a clock standing at start.
func NewManualClock(start time.Time) *ManualClock {
	return &ManualClock{now: start}
}

func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *ManualClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{clock: c, deadline: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		t.fired = true
		return t
	}
	c.timers = append(c.timers, t)
	for _, w := range c.waiters {
		close(w)
	}
	c.waiters = nil
	return t
}

// Advance moves the clock forward by d and fires every timer that falls due.
func (c *ManualClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	c.Set(target)
}

// Set moves the clock to t (never backwards) and fires the timers due by then,
// each at its own deadline, earliest first.
func (c *ManualClock) Set(t time.Time) {
	for {
		c.mu.Lock()
		sort.Slice(c.timers, func(i, j int) bool { return c.timers[i].deadline.Before(c.timers[j].deadline) })
		if len(c.timers) == 0 || c.timers[0].deadline.After(t) {
			if t.After(c.now) {
				c.now = t
			}
			c.mu.Unlock()
			return
		}
		next := c.timers[0]
		c.timers = c.timers[1:]
		if next.deadline.After(c.now) {
			c.now = next.deadline
		}
		next.fired = true
		next.ch <- c.now
		c.mu.Unlock()
	}
}

// Pending returns the number of timers not yet fired.
func (c *ManualClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitForTimers blocks until at least n timers are pending or ctx is done. It
// lets a test advance time only once the code under test is waiting on it.
func (c *ManualClock) WaitForTimers(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		if len(c.timers) >= n {
			c.mu.Unlock()
			return nil
		}
		w := make(chan struct{})
		c.waiters = append(c.waiters, w)
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w:
		}
	}
}

type manualTimer struct {
	clock    *ManualClock
	deadline time.Time
	ch       chan time.Time
	fired    bool
}

func (t *manualTimer) C() <-chan time.Time { return t.ch }

func (t *manualTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.fired {
		return false
	}
	for i, other := range c.timers {
		if other == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			break
		}
	}
	t.fired = true
	return true
}
