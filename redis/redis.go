// Package redis is a wxtoken.Store on Redis (redis/go-redis), for several
// replicas sharing one server.
//
// Every credential is a hash; each compare-and-set (authorizer versions,
// leases, the newest ticket) is a Lua script that also maintains the indexes
// and publishes the change, so a write, its index entries and its
// notification happen in one atomic step. Keys carry the component AppID as a
// hash tag ({wx…}), so that a cluster keeps all of one platform on one slot
// and the scripts never cross slots. The audit log is the exception: its IDs
// increase across platforms, so its keys share the {events} tag instead.
//
// Redis keeps refresh tokens, which cannot be minted again without the
// merchant: run it with AOF or RDB snapshots (see CheckDurability).
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken"
)

// DefaultPrefix starts every key unless WithPrefix says otherwise.
const DefaultPrefix = "wxtoken:"

// Store is a wxtoken.Store on a Redis server.
type Store struct {
	rdb    goredis.UniversalClient
	prefix string
	log    *slog.Logger

	closing   context.Context // done when Close is called: stops every Watch
	stopAll   context.CancelFunc
	watchers  sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ wxtoken.Store = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	prefix string
	log    *slog.Logger
	client []func(*goredis.Options)
}

// WithPrefix starts every key and the notification channel with prefix, so
// that deployments (or tests) can share a server.
func WithPrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithLogger sets where connection trouble of Watch is reported.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithClientOptions adjusts the go-redis options parsed from the URL, for
// settings a URL cannot carry (dial retries, TLS configuration, hooks).
func WithClientOptions(f func(*goredis.Options)) Option {
	return func(o *options) { o.client = append(o.client, f) }
}

// Open connects to the server at url (a go-redis URL such as
// redis://host:6379/0) and checks that it answers.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{prefix: DefaultPrefix, log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.prefix == "" || strings.ContainsAny(o.prefix, "{}") {
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "redis: key prefix %q must be non-empty and free of braces (they would change the hash tag)", o.prefix)
	}
	ropts, err := goredis.ParseURL(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, wxtoken.Errorf(wxtoken.EInvalid, "redis: the store URL cannot be parsed")
	}
	for _, f := range o.client {
		f(ropts)
	}
	rdb := goredis.NewClient(ropts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, wrapErr("connect", err)
	}
	closing, stopAll := context.WithCancel(context.Background())
	return &Store{rdb: rdb, prefix: o.prefix, log: o.log, closing: closing, stopAll: stopAll}, nil
}

// Prefix returns the prefix of every key of the store.
func (s *Store) Prefix() string { return s.prefix }

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	return wrapErr("ping", s.rdb.Ping(ctx).Err())
}

// Close stops every Watch and closes the connections.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopAll()
		s.watchers.Wait()
		s.closeErr = s.rdb.Close()
	})
	return s.closeErr
}

// DurabilityUnknown starts the warning of CheckDurability when the server
// would not say how it persists data.
const DurabilityUnknown = "redis durability could not be checked"

// CheckDurability warns when the server would lose what it holds on a
// restart: with neither AOF (appendonly) nor RDB snapshots (save), every
// refresh token is gone after one, and each merchant has to authorize the
// platform again. It returns "" when the server persists data. Managed
// servers often disable CONFIG; then the warning says that durability could
// not be checked, and err stays nil: only an unreachable server is an error.
func (s *Store) CheckDurability(ctx context.Context) (warning string, err error) {
	get := func(param string) (string, bool, error) {
		m, err := s.rdb.ConfigGet(ctx, param).Result()
		var replyErr goredis.Error
		if errors.As(err, &replyErr) && !errors.Is(err, goredis.Nil) {
			return "", false, nil
		}
		if err != nil {
			return "", false, wrapErr("config get "+param, err)
		}
		v, ok := m[param]
		return v, ok, nil
	}
	aof, aofKnown, err := get("appendonly")
	if err != nil {
		return "", err
	}
	save, saveKnown, err := get("save")
	if err != nil {
		return "", err
	}
	return durabilityWarning(aof, aofKnown, save, saveKnown), nil
}

func durabilityWarning(aof string, aofKnown bool, save string, saveKnown bool) string {
	switch {
	case aofKnown && strings.EqualFold(aof, "yes"):
		return ""
	case saveKnown && strings.TrimSpace(save) != "":
		return ""
	case !aofKnown || !saveKnown:
		return DurabilityUnknown + " (CONFIG GET appendonly/save is not allowed): make sure AOF or RDB snapshots are on, or refresh tokens are lost when the server restarts"
	}
	return "REDIS IS NOT DURABLE: neither AOF (appendonly no) nor RDB snapshots (save \"\") are enabled; " +
		"every refresh token is lost when the server restarts and each merchant must authorize the platform again. " +
		"Enable appendonly yes (or a save schedule)."
}

// Keys. The component AppID sits in braces, the hash tag: a cluster puts all
// keys of one platform on one slot, as the scripts need.
func (s *Store) componentKey(componentAppID, rest string) string {
	return s.prefix + "{" + componentAppID + "}:" + rest
}
func (s *Store) ticketKey(c string) string         { return s.componentKey(c, "ticket") }
func (s *Store) componentTokenKey(c string) string { return s.componentKey(c, "component_token") }
func (s *Store) authorizerKey(c, appID string) string {
	return s.componentKey(c, "authorizer:"+appID)
}
func (s *Store) authorizerIndexKey(c string) string { return s.componentKey(c, "authorizers") }
func (s *Store) dueIndexKey(c string) string        { return s.componentKey(c, "due") }

// leaseKey keeps the lease of a credential with its platform when the name is
// one of wxtoken's lease names; any other name gets a key of its own.
func (s *Store) leaseKey(name string) string {
	rest, ok := strings.CutPrefix(name, "component_token/")
	if !ok {
		rest, ok = strings.CutPrefix(name, "authorizer/")
	}
	component, _, _ := strings.Cut(rest, "/")
	if ok && checkID(component) == nil {
		return s.componentKey(component, "lease:"+name)
	}
	return s.prefix + "lease:" + name
}

// The audit log's keys share one hash tag, so that one script can take the
// next ID of the whole log and append to a platform's stream.
func (s *Store) eventSeqKey() string { return s.prefix + "{events}:seq" }
func (s *Store) componentEventsKey(c string) string {
	return s.prefix + "{events}:component:" + c
}
func (s *Store) authorizerEventsKey(c, appID string) string {
	return s.prefix + "{events}:authorizer:" + c + ":" + appID
}

func (s *Store) channel() string { return s.prefix + "changes" }

// checkID keeps AppIDs from reshaping keys: braces would move the hash tag,
// a colon would make two (component, authorizer) pairs share a key.
func checkID(id string) error {
	if id == "" {
		return errors.New("is empty")
	}
	if strings.ContainsAny(id, "{}:") {
		return errors.New("contains a brace or a colon")
	}
	return nil
}

func checkComponentID(id string) error {
	if err := checkID(id); err != nil {
		return invalidf("component appid %q %v", id, err)
	}
	return nil
}

func checkIDs(componentAppID, appID string) error {
	if err := checkComponentID(componentAppID); err != nil {
		return err
	}
	if err := checkID(appID); err != nil {
		return invalidf("authorizer appid %q %v", appID, err)
	}
	return nil
}

// wrapErr types a Redis error for callers: a failure to reach the server, or
// a server not ready to serve (loading, failing over), is EUnavailable, which
// callers retry; any other reply error is EInternal.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	code := wxtoken.EUnavailable
	var replyErr goredis.Error
	if errors.As(err, &replyErr) && !transientReply(replyErr.Error()) {
		code = wxtoken.EInternal
	}
	return &wxtoken.Error{Code: code, Message: "redis: " + op + " failed", Err: err}
}

func transientReply(msg string) bool {
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "MOVED", "ASK"} {
		if strings.HasPrefix(msg, p+" ") || msg == p {
			return true
		}
	}
	return false
}

func invalidf(format string, args ...any) error {
	return wxtoken.Errorf(wxtoken.EInvalid, "redis: "+format, args...)
}

func notFoundf(format string, args ...any) error {
	return &wxtoken.Error{Code: wxtoken.ENotFound, Message: fmt.Sprintf("redis: "+format, args...)}
}

func conflictf(format string, args ...any) error {
	return &wxtoken.Error{Code: wxtoken.EConflict, Message: fmt.Sprintf("redis: "+format, args...)}
}
