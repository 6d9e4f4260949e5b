-- Times are unix nanoseconds in bigint, NULL for Go's zero time: timestamptz
-- keeps microseconds only, and a store must hand back exactly the expiry it was
-- given (callers compare tokens and times read back with the ones they wrote).

CREATE TABLE tickets (
    component_appid text PRIMARY KEY,
    value           text NOT NULL,
    created_at      bigint,
    received_at     bigint
);

CREATE TABLE component_tokens (
    component_appid text PRIMARY KEY,
    access_token    text NOT NULL,
    expires_at      bigint,
    obtained_at     bigint
);

CREATE TABLE authorizers (
    component_appid         text   NOT NULL,
    appid                   text   NOT NULL,
    state                   text   NOT NULL,
    refresh_token           text   NOT NULL,
    access_token            text   NOT NULL,
    access_token_expires_at bigint,
    func_info               bigint[],
    account_info            jsonb  NOT NULL,
    authorized_at           bigint,
    last_refresh_at         bigint,
    last_error              text   NOT NULL,
    updated_at              bigint,
    last_event_at           bigint,
    auth_code_digest        text   NOT NULL,
    version                 bigint NOT NULL CHECK (version > 0),
    -- The scheduler's sort key: an authorizer without a token is due before
    -- any with one, so it sorts as the smallest bigint.
    due_at bigint NOT NULL GENERATED ALWAYS AS (
        CASE WHEN access_token = '' OR access_token_expires_at IS NULL
             THEN -9223372036854775808
             ELSE access_token_expires_at END) STORED,
    PRIMARY KEY (component_appid, appid)
);

CREATE INDEX authorizers_due ON authorizers (component_appid, state, due_at, appid);

CREATE TABLE leases (
    name       text   PRIMARY KEY,
    owner      text   NOT NULL,
    expires_at bigint NOT NULL
);

CREATE TABLE events (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    component_appid  text NOT NULL,
    authorizer_appid text NOT NULL,
    kind             text NOT NULL,
    detail           text NOT NULL,
    at               bigint
);

CREATE INDEX events_component ON events (component_appid, id);
CREATE INDEX events_authorizer ON events (component_appid, authorizer_appid, id);
