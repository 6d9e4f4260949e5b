// Package sqlite is the embedded default wxtoken.Store, on modernc.org/sqlite
// (pure Go, no cgo) so that the service is one static binary with one file of
// state.
//
// The database runs in WAL mode: readers do not wait for the writer. Writes go
// through a single connection, so that within a process they are serialized
// and a compare-and-set or a lease race never meets SQLITE_BUSY; every write is
// also a single conditional statement, so that several processes sharing one
// file (busy_timeout makes them queue) stay correct too.
//
// Secrets are stored as given: wrap the store with package sealed to encrypt
// them at rest. Times are stored as unix nanoseconds, NULL for the zero time.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken"

	// The driver registers itself as "sqlite".
	_ "modernc.org/sqlite"
)

// MemoryPath opens a private in-memory database, gone when the store closes.
const MemoryPath = ":memory:"

// Option configures Open.
type Option func(*options)

type options struct {
	logger      *slog.Logger
	busyTimeout time.Duration
	watchBuffer int
	maxReaders  int
}

// WithLogger sets where the store logs (migrations applied). The default
// discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithBusyTimeout sets how long a write waits for another process holding the
// database's write lock before it fails. The default is 5 s.
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithWatchBuffer sets how many changes a watcher may fall behind before it is
// sent ChangeResync instead. The default is 64.
func WithWatchBuffer(n int) Option { return func(o *options) { o.watchBuffer = n } }

// Store is a wxtoken.Store on one SQLite database file.
type Store struct {
	path  string
	write *sql.DB // one connection
	read  *sql.DB // the same as write for an in-memory database
	log   *slog.Logger
	hub   *hub

	closeOnce sync.Once
	closeErr  error
}

var _ wxtoken.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and brings its schema
// up to date. path is a file name, or MemoryPath.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{
		logger:      slog.New(slog.DiscardHandler),
		busyTimeout: 5 * time.Second,
		watchBuffer: 64,
		maxReaders:  8,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "sqlite: empty database path")
	}
	if o.watchBuffer < 1 {
		o.watchBuffer = 1
	}
	memory := path == MemoryPath

	write, err := sql.Open("sqlite", dsn(path, memory, o.busyTimeout, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One connection: in-process writes queue here instead of failing with
	// SQLITE_BUSY, and an in-memory database lives in exactly one connection.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	s := &Store{path: path, write: write, read: write, log: o.logger, hub: newHub(o.watchBuffer)}
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		write.Close()
		return nil, err
	}
	if err := migrate(ctx, write, ms, s.log); err != nil {
		write.Close()
		return nil, err
	}
	if !memory {
		read, err := sql.Open("sqlite", dsn(path, memory, o.busyTimeout, true))
		if err != nil {
			write.Close()
			return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
		}
		read.SetMaxOpenConns(o.maxReaders)
		read.SetMaxIdleConns(o.maxReaders)
		s.read = read
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// dsn builds the driver's data source name: a SQLite URI (so that any file
// name survives), with the pragmas every connection needs.
func dsn(path string, memory bool, busy time.Duration, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if !memory {
		q.Add("_pragma", "synchronous(NORMAL)")
		if readOnly {
			q.Add("_pragma", "query_only(1)")
		} else {
			q.Add("_pragma", "journal_mode(WAL)")
		}
	}
	// Transactions take the write lock when they begin, not on their first
	// write, so that two of them never deadlock upgrading a read lock.
	q.Set("_txlock", "immediate")
	name := MemoryPath
	if !memory {
		name = (&url.URL{Path: path}).EscapedPath()
	}
	return "file:" + name + "?" + q.Encode()
}

// OpenURL opens the store named by a URL of the binary's --store flag:
// sqlite://wxtoken.db (relative to the working directory),
// sqlite:///var/lib/wxtoken.db (absolute) or sqlite://:memory:.
func OpenURL(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	path, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return Open(ctx, path, opts...)
}

// ParseURL returns the database path a sqlite:// URL names. The URL's
// "host" is the first segment of a relative path, which net/url does not
// model, so the URL is taken apart by hand.
func ParseURL(rawURL string) (string, error) {
	const scheme = "sqlite://"
	if len(rawURL) < len(scheme) || !strings.EqualFold(rawURL[:len(scheme)], scheme) {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "sqlite: store URL must start with %s", scheme)
	}
	rest := rawURL[len(scheme):]
	if strings.ContainsAny(rest, "?#") {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "sqlite: store URL takes no query or fragment")
	}
	path, err := url.PathUnescape(rest)
	if err != nil {
		return "", wxtoken.Errorf(wxtoken.EInvalid, "sqlite: store URL has a malformed escape")
	}
	switch {
	case path == "" || path == "/":
		return "", wxtoken.Errorf(wxtoken.EInvalid, "sqlite: store URL names no file (sqlite://wxtoken.db, sqlite:///var/lib/wxtoken.db)")
	case strings.ContainsRune(path, 0):
		return "", wxtoken.Errorf(wxtoken.EInvalid, "sqlite: store URL has a NUL byte")
	case strings.HasSuffix(path, "/"):
		return "", wxtoken.Errorf(wxtoken.EInvalid, "sqlite: store URL names a directory, not a file")
	}
	return path, nil
}

// Path returns the database file name (or MemoryPath).
func (s *Store) Path() string { return s.path }

// Ping checks that both connections answer and the schema is there.
func (s *Store) Ping(ctx context.Context) error {
	for _, db := range []*sql.DB{s.write, s.read} {
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			return dbError("ping", err)
		}
	}
	return nil
}

// Close ends every watch and closes the database.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.hub.close()
		var errs []error
		if s.read != s.write {
			errs = append(errs, s.read.Close())
		}
		errs = append(errs, s.write.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// dbError turns a driver failure into the domain's error: the store is
// unavailable, retry later. The driver's text (never a bound value) stays in
// the chain for logs.
func dbError(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return &wxtoken.Error{Code: wxtoken.EUnavailable, Message: "sqlite store: " + op + " failed", Err: err}
}

func notFound(format string, args ...any) error {
	return wxtoken.Errorf(wxtoken.ENotFound, format, args...)
}
