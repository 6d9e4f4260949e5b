// Package postgres is a wxtoken.Store on PostgreSQL (jackc/pgx), for several
// replicas sharing one database: compare-and-set writes and leases are single
// conditional statements, and every write of a credential is announced with
// pg_notify in the same statement, so that Watch in any replica sees it.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wxtoken/wxtoken"
)

// DefaultSchema is where the tables live unless WithSchema says otherwise.
const DefaultSchema = "wxtoken"

// Schema names are spliced into SQL and into the NOTIFY channel name (at most
// 63 bytes with its suffix), so they are kept to plain lower-case identifiers.
var schemaPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// Store is a wxtoken.Store on a PostgreSQL database.
type Store struct {
	pool    *pgxpool.Pool
	connCfg *pgx.ConnConfig // for the dedicated LISTEN connections of Watch
	schema  string
	channel string
	log     *slog.Logger

	// closing stops the Watch goroutines when Close is called before their
	// contexts are done.
	closing   context.Context
	stopAll   context.CancelFunc
	watchers  sync.WaitGroup
	closeOnce sync.Once
}

var _ wxtoken.Store = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	schema string
	log    *slog.Logger
}

// WithSchema keeps the tables in the named schema (created if missing), so
// that several platforms' deployments or tests can share a database.
// It sets the sessions' search_path, overriding one given in the URL.
func WithSchema(name string) Option { return func(o *options) { o.schema = name } }

// WithLogger sets where connection trouble of Watch is reported.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Open connects to the database at url (a pgx URL such as
// postgres://user@host:5432/db?sslmode=disable), applies the migrations that
// are missing, and returns the store. Replicas may Open at the same time: the
// migrations run under an advisory lock.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{schema: DefaultSchema, log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if !schemaPattern.MatchString(o.schema) {
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "postgres: schema name %q is not a lower-case identifier of at most 48 characters", o.schema)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "postgres: the store URL cannot be parsed")
	}
	// Unqualified table names in every query resolve to the schema.
	cfg.ConnConfig.RuntimeParams["search_path"] = o.schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrapErr("connect", err)
	}
	closing, stopAll := context.WithCancel(context.Background())
	s := &Store{
		pool:    pool,
		connCfg: cfg.ConnConfig.Copy(),
		schema:  o.schema,
		channel: o.schema + "_changes",
		log:     o.log,
		closing: closing,
		stopAll: stopAll,
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Schema returns the schema the tables are in.
func (s *Store) Schema() string { return s.schema }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return wrapErr("ping", s.pool.Ping(ctx))
}

// Close stops every Watch and closes the connections.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopAll()
		s.watchers.Wait()
		s.pool.Close()
	})
	return nil
}

// wrapErr types a database error for callers: trouble reaching the database
// (or a server shutting down, or a transient serialization failure) is
// EUnavailable, which callers retry; anything else is EInternal. The pgx error
// stays reachable with errors.As; its text carries no values of the row.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	code := wxtoken.EUnavailable
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !transientSQLState(pgErr.Code) {
		code = wxtoken.EInternal
	}
	return &wxtoken.Error{Code: code, Message: "postgres: " + op + " failed", Err: err}
}

func transientSQLState(code string) bool {
	switch {
	case len(code) < 2:
		return false
	case code[:2] == "08", // connection exception
		code[:2] == "53",                    // insufficient resources (too many connections…)
		code[:2] == "57" && code != "57014", // operator intervention (shutdown), but not a query cancelled on purpose
		code == "40001", code == "40P01":    // serialization failure, deadlock
		return true
	}
	return false
}

func invalidf(format string, args ...any) error {
	return wxtoken.Errorf(wxtoken.EInvalid, "postgres: "+format, args...)
}

func notFoundf(format string, args ...any) error {
	return &wxtoken.Error{Code: wxtoken.ENotFound, Message: fmt.Sprintf("postgres: "+format, args...)}
}

func conflictf(format string, args ...any) error {
	return &wxtoken.Error{Code: wxtoken.EConflict, Message: fmt.Sprintf("postgres: "+format, args...)}
}
