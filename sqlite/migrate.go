package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema step, applied once, in order, in its own
// transaction.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, p := range entries { // fs.Glob sorts
		base := path.Base(p)
		num, name, ok := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlite: migration %s is not named NNNN_name.sql", base)
		}
		if len(ms) > 0 && v != ms[len(ms)-1].version+1 {
			return nil, fmt.Errorf("sqlite: migration %s: version %d does not follow %d", base, v, ms[len(ms)-1].version)
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	if len(ms) == 0 || ms[0].version != 1 {
		return nil, fmt.Errorf("sqlite: migrations must start at version 1")
	}
	return ms, nil
}

// migrate applies the migrations not yet recorded in schema_migrations. Each
// runs in an immediate transaction that also records it, so two processes
// opening a new file at once apply it once, and a failing step leaves the
// schema as it was before that step.
func migrate(ctx context.Context, db *sql.DB, ms []migration, log *slog.Logger) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL DEFAULT (unixepoch())
	) STRICT`); err != nil {
		return dbError("create schema_migrations", err)
	}
	var newest sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil {
		return dbError("read schema version", err)
	}
	if known := ms[len(ms)-1].version; newest.Int64 > int64(known) {
		// An older binary must not write to a schema it does not know.
		return fmt.Errorf("sqlite: database schema version %d is newer than this binary's %d", newest.Int64, known)
	}
	for _, m := range ms {
		if err := applyMigration(ctx, db, m, log); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, m migration, log *slog.Logger) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return dbError("begin migration", err)
	}
	defer tx.Rollback()
	var applied int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&applied); err != nil {
		return dbError("read schema_migrations", err)
	}
	if applied > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("sqlite: migration %04d_%s: %w", m.version, m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, m.version, m.name); err != nil {
		return dbError("record migration", err)
	}
	if err := tx.Commit(); err != nil {
		return dbError("commit migration", err)
	}
	log.InfoContext(ctx, "applied schema migration", "version", m.version, "name", m.name)
	return nil
}
