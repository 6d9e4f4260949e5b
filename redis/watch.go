package redis

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken"
)

// Watch tuning. Reconnection waits are real time, not the lifecycle's
// clock: they pace connection attempts to a server, whatever the virtual time.
const (
	feedCapacity = 1024
	// healthInterval bounds how long a silently dead connection (a peer gone
	// without closing TCP) goes unnoticed: after that long without a message
	// the subscription is pinged.
	healthInterval = 30 * time.Second
	backoffMin     = 50 * time.Millisecond
	backoffMax     = 5 * time.Second
)

// Watch subscribes to the store's channel. It returns once the subscription
// is confirmed, so every write made afterwards is delivered. go-redis
// reconnects a dropped subscription and subscribes again; messages published
// in between are lost, so each renewed subscription delivers ChangeResync.
func (s *Store) Watch(ctx context.Context) (<-chan wxtoken.Change, error) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closing, cancel)
	ps := s.rdb.Subscribe(ctx, s.channel())
	if _, err := ps.ReceiveTimeout(ctx, 10*time.Second); err != nil {
		ps.Close()
		stop()
		cancel()
		return nil, wrapErr("watch: subscribe", err)
	}
	// Receiving blocks on the socket and does not watch ctx: closing the
	// subscription is what ends it.
	unblock := context.AfterFunc(ctx, func() { ps.Close() })

	feed := newChangeFeed(feedCapacity)
	out := make(chan wxtoken.Change, 16)
	s.watchers.Add(2)
	go func() {
		defer s.watchers.Done()
		feed.run(ctx, out)
	}()
	go func() {
		defer s.watchers.Done()
		defer cancel()
		defer stop()
		defer unblock()
		defer ps.Close()
		s.receive(ctx, ps, feed)
	}()
	return out, nil
}

func (s *Store) receive(ctx context.Context, ps *goredis.PubSub, feed *changeFeed) {
	wait := backoffMin
	lost := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthInterval)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() {
				// Quiet for a while: a ping makes a dead connection fail
				// the next receive, and go-redis then reconnects.
				ps.Ping(ctx) //nolint:errcheck // its failure shows in the next receive
				continue
			}
			if !lost {
				s.log.WarnContext(ctx, "redis watch: subscription lost; reconnecting", "prefix", s.prefix, "err", err)
				lost = true
			}
			// Jitter keeps replicas that lost the server together from
			// reconnecting in lockstep.
			if !sleep(ctx, wait/2+rand.N(wait/2+1)) {
				return
			}
			wait = min(2*wait, backoffMax)
			continue
		}
		wait = backoffMin
		switch m := msg.(type) {
		case *goredis.Subscription:
			// The first confirmation was read in Watch; any later one is a
			// subscription renewed on a new connection.
			if m.Kind == "subscribe" {
				if lost {
					s.log.InfoContext(ctx, "redis watch: reconnected", "prefix", s.prefix)
				}
				lost = false
				feed.pushResync()
			}
		case *goredis.Message:
			var c change
			if json.Unmarshal([]byte(m.Payload), &c) != nil || c.Kind == "" {
				s.log.WarnContext(ctx, "redis watch: ignoring a message that is not a change", "prefix", s.prefix)
				continue
			}
			feed.push(wxtoken.Change{Kind: c.Kind, ComponentAppID: c.ComponentAppID, AppID: c.AppID, Version: c.Version})
		}
	}
}

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
