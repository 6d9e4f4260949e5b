package sqlite

import (
	"database/sql"
	"log/slog"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func TestLoadMigrationsRejectsMalformedSets(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name string
		fs   fstest.MapFS
		ok   bool
	}{
		{"embedded set", nil, true},
		{"gap", fstest.MapFS{"migrations/0001_a.sql": file("SELECT 1"), "migrations/0003_c.sql": file("SELECT 1")}, false},
		{"duplicate version", fstest.MapFS{"migrations/0001_a.sql": file("SELECT 1"), "migrations/0001_b.sql": file("SELECT 1")}, false},
		{"no number", fstest.MapFS{"migrations/init.sql": file("SELECT 1")}, false},
		{"not from 1", fstest.MapFS{"migrations/0002_b.sql": file("SELECT 1")}, false},
		{"empty", fstest.MapFS{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.fs == nil {
				_, err = loadMigrations(migrationFiles)
			} else {
				_, err = loadMigrations(tc.fs)
			}
			if (err == nil) != tc.ok {
				t.Fatalf("loadMigrations: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestFailedMigrationLeavesSchemaAsItWas(t *testing.T) {
	ctx := t.Context()
	db, err := sql.Open("sqlite", dsn(filepath.Join(t.TempDir(), "m.db"), false, 0, false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	log := slog.New(slog.DiscardHandler)
	ms := []migration{
		{version: 1, name: "one", sql: `CREATE TABLE one (a INTEGER)`},
		{version: 2, name: "two", sql: `CREATE TABLE two (a INTEGER); INSERT INTO missing VALUES (1);`},
	}
	if err := migrate(ctx, db, ms, log); err == nil {
		t.Fatal("a failing migration reported success")
	}
	var tables []string
	rows, err := db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('one', 'two') ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) != 1 || tables[0] != "one" {
		t.Fatalf("tables after failed migration 2: %v, want [one]", tables)
	}
	var newest int
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&newest); err != nil || newest != 1 {
		t.Fatalf("recorded version %d, %v; want 1", newest, err)
	}

	// Fixed, it applies, and running again changes nothing.
	ms[1].sql = `CREATE TABLE two (a INTEGER)`
	for range 2 {
		if err := migrate(ctx, db, ms, log); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("schema_migrations rows %d, %v; want 2", n, err)
	}
}
