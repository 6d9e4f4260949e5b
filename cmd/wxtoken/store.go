package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/wxtoken/wxtoken"
	"github.com/wxtoken/wxtoken/postgres"
	"github.com/wxtoken/wxtoken/redis"
	"github.com/wxtoken/wxtoken/sealed"
	"github.com/wxtoken/wxtoken/sqlite"
)

// openStore opens the store named by cfg.store and seals its secrets with the
// master key.
func openStore(ctx context.Context, cfg serveConfig, logger *slog.Logger) (wxtoken.Store, error) {
	rawURL, masterKey, previousMasterKey, componentAppID := cfg.store, cfg.masterKey, cfg.masterKeyPrevious, cfg.componentAppID
	var inner wxtoken.Store
	switch {
	case strings.HasPrefix(rawURL, "sqlite://"):
		// A deep change queue: a burst of refreshes (every account at once
		// after an import) must not overflow it into full reloads.
		s, err := sqlite.OpenURL(ctx, rawURL, sqlite.WithWatchBuffer(8192), sqlite.WithLogger(logger))
		if err != nil {
			return nil, fmt.Errorf("open sqlite store: %w", err)
		}
		inner = s
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		s, err := postgres.Open(ctx, rawURL, postgres.WithSchema(cfg.postgresSchema), postgres.WithLogger(logger))
		if err != nil {
			return nil, fmt.Errorf("open postgres store: %w", err)
		}
		inner = s
	case strings.HasPrefix(rawURL, "redis://"), strings.HasPrefix(rawURL, "rediss://"):
		s, err := redis.Open(ctx, rawURL, redis.WithPrefix(cfg.redisPrefix), redis.WithLogger(logger))
		if err != nil {
			return nil, fmt.Errorf("open redis store: %w", err)
		}
		if warning, err := s.CheckDurability(ctx); err != nil {
			logger.Warn("could not check Redis durability", "err", err)
		} else if warning != "" {
			logger.Warn("REDIS IS NOT DURABLE: refresh tokens can be lost on a Redis restart, and every merchant would have to authorize again", "detail", warning)
		}
		inner = s
	default:
		return nil, usageErrorf("--store: unsupported URL %q: want sqlite://, postgres:// or redis://", storeKind(rawURL)+"://…")
	}
	key, err := sealed.ParseMasterKey(masterKey)
	if err != nil {
		inner.Close()
		return nil, usageErrorf("--master-key: %v", err)
	}
	var older [][]byte
	if previousMasterKey != "" {
		prev, err := sealed.ParseMasterKey(previousMasterKey)
		if err != nil {
			inner.Close()
			return nil, usageErrorf("--master-key-previous: %v", err)
		}
		older = append(older, prev)
	}
	ring, err := sealed.KeyringFromKeys(key, older...)
	if err != nil {
		inner.Close()
		return nil, usageErrorf("master key: %v", err)
	}
	s := sealed.Wrap(inner, ring)
	if previousMasterKey != "" {
		n, err := s.Reseal(ctx, componentAppID)
		if err != nil {
			logger.Warn("resealing secrets under the new master key failed; will retry at next start", "err", err)
		} else {
			logger.Info("secrets resealed under the new master key", "values", n)
		}
	}
	return s, nil
}
