-- Times are unix nanoseconds; NULL is the zero time.
-- Secret columns hold whatever the caller gives: package sealed seals them
-- before they get here.

CREATE TABLE tickets (
	component_appid TEXT PRIMARY KEY,
	value           TEXT NOT NULL,
	created_at      INTEGER,
	received_at     INTEGER
) STRICT;

CREATE TABLE component_tokens (
	component_appid TEXT PRIMARY KEY,
	access_token    TEXT NOT NULL,
	expires_at      INTEGER,
	obtained_at     INTEGER
) STRICT;

CREATE TABLE authorizers (
	component_appid         TEXT NOT NULL,
	appid                   TEXT NOT NULL,
	state                   TEXT NOT NULL,
	refresh_token           TEXT NOT NULL,
	access_token            TEXT NOT NULL,
	access_token_expires_at INTEGER,
	func_info               TEXT NOT NULL, -- JSON array of ints
	account_info            TEXT NOT NULL, -- JSON of wxtoken.AccountInfo
	authorized_at           INTEGER,
	last_refresh_at         INTEGER,
	last_error              TEXT NOT NULL,
	updated_at              INTEGER,
	last_event_at           INTEGER,
	auth_code_digest        TEXT NOT NULL,
	version                 INTEGER NOT NULL,
	-- due_at orders the scheduler's work: an account without a token is due
	-- before any other, hence the smallest integer.
	due_at INTEGER NOT NULL GENERATED ALWAYS AS (
		CASE WHEN access_token = '' OR access_token_expires_at IS NULL
		THEN -9223372036854775808
		ELSE access_token_expires_at END
	) VIRTUAL,
	PRIMARY KEY (component_appid, appid)
) STRICT, WITHOUT ROWID;

CREATE INDEX authorizers_due ON authorizers (component_appid, state, due_at, appid);
CREATE INDEX authorizers_state ON authorizers (component_appid, state, appid);

CREATE TABLE leases (
	name       TEXT PRIMARY KEY,
	owner      TEXT NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT so that an ID is never handed out twice, even after the
-- newest events were deleted: readers page with AfterID.
CREATE TABLE events (
	id               INTEGER PRIMARY KEY AUTOINCREMENT,
	component_appid  TEXT NOT NULL,
	authorizer_appid TEXT NOT NULL,
	kind             TEXT NOT NULL,
	detail           TEXT NOT NULL,
	at               INTEGER
) STRICT;

CREATE INDEX events_component ON events (component_appid, id);
CREATE INDEX events_authorizer ON events (component_appid, authorizer_appid, id);
