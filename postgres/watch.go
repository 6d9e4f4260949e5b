package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/internal/changefeed"
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
	return changefeed.Start(ctx, &s.watchers, func(feed *changefeed.Feed) {
		defer cancel()
		defer stop()
		s.listenLoop(ctx, conn, feed)
	}), nil
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

func (s *Store) listenLoop(ctx context.Context, conn *pgx.Conn, feed *changefeed.Feed) {
	for {
		err := s.receive(ctx, conn, feed)
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		s.log.WarnContext(ctx, "postgres watch: connection lost; reconnecting", "schema", s.schema, "err", err)
		var backoff changefeed.Backoff
		for {
			if !backoff.Wait(ctx) {
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
		feed.PushResync()
	}
}

// receive feeds notifications until the connection fails or ctx is done.
func (s *Store) receive(ctx context.Context, conn *pgx.Conn, feed *changefeed.Feed) error {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, changefeed.HealthInterval)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			c, ok := changefeed.Decode(n.Payload)
			if !ok {
				s.log.WarnContext(ctx, "postgres watch: ignoring a notification that is not a change", "schema", s.schema)
				continue
			}
			feed.Push(c)
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
