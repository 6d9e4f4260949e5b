package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxtoken/wxtoken"
)

// Watch tuning. Reconnection waits are real time, not the lifecycle's
// clock: they pace connection attempts to a server, whatever the virtual time.
const (
	feedCapacity = 1024
	// healthInterval bounds how long a silently dead connection (a peer gone
	// without closing TCP) goes unnoticed.
	healthInterval = 30 * time.Second
	backoffMin     = 50 * time.Millisecond
	backoffMax     = 5 * time.Second
)

// Watch listens on the schema's channel on a connection of its own. It
// returns once LISTEN is in place, so every write that commits afterwards is
// delivered. When the connection is lost it reconnects with backoff until ctx
// is done, and then delivers ChangeResync for what it may have missed.
func (s *Store) Watch(ctx context.Context) (<-chan wxtoken.Change, error) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.closing, cancel)
	conn, err := s.listen(ctx)
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
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
		s.listenLoop(ctx, conn, feed)
	}()
	return out, nil
}

func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.connCfg)
	if err != nil {
		return nil, wrapErr("watch: connect", err)
	}
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, wrapErr("watch: listen", err)
	}
	return conn, nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx) //nolint:errcheck // the connection is being dropped either way
}

func (s *Store) listenLoop(ctx context.Context, conn *pgx.Conn, feed *changeFeed) {
	for {
		err := s.receive(ctx, conn, feed)
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		s.log.WarnContext(ctx, "postgres watch: connection lost; reconnecting", "schema", s.schema, "err", err)
		for wait := backoffMin; ; wait = min(2*wait, backoffMax) {
			// Jitter keeps replicas that lost the server together from
			// reconnecting in lockstep.
			if !sleep(ctx, wait/2+rand.N(wait/2+1)) {
				return
			}
			if conn, err = s.listen(ctx); err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			s.log.DebugContext(ctx, "postgres watch: reconnect failed", "schema", s.schema, "err", err)
		}
		s.log.InfoContext(ctx, "postgres watch: reconnected", "schema", s.schema)
		feed.pushResync()
	}
}

// receive feeds notifications until the connection fails or ctx is done.
func (s *Store) receive(ctx context.Context, conn *pgx.Conn, feed *changeFeed) error {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, healthInterval)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			var c change
			if json.Unmarshal([]byte(n.Payload), &c) != nil || c.Kind == "" {
				s.log.WarnContext(ctx, "postgres watch: ignoring a notification that is not a change", "schema", s.schema)
				continue
			}
			feed.push(wxtoken.Change{Kind: c.Kind, ComponentAppID: c.ComponentAppID, AppID: c.AppID, Version: c.Version})
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
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
