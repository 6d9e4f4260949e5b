package redis

import (
	"context"
	"errors"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/changefeed"
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
	return changefeed.Start(ctx, &s.watchers, func(feed *changefeed.Feed) {
		defer cancel()
		defer stop()
		defer unblock()
		defer ps.Close()
		s.receive(ctx, ps, feed)
	}), nil
}

func (s *Store) receive(ctx context.Context, ps *goredis.PubSub, feed *changefeed.Feed) {
	var backoff changefeed.Backoff
	lost := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, changefeed.HealthInterval)
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
			if !backoff.Wait(ctx) {
				return
			}
			continue
		}
		backoff.Reset()
		switch m := msg.(type) {
		case *goredis.Subscription:
			// The first confirmation was read in Watch; any later one is a
			// subscription renewed on a new connection.
			if m.Kind == "subscribe" {
				if lost {
					s.log.InfoContext(ctx, "redis watch: reconnected", "prefix", s.prefix)
				}
				lost = false
				feed.PushResync()
			}
		case *goredis.Message:
			c, ok := changefeed.Decode(m.Payload)
			if !ok {
				s.log.WarnContext(ctx, "redis watch: ignoring a message that is not a change", "prefix", s.prefix)
				continue
			}
			feed.Push(c)
		}
	}
}
