-- Foundation: users, organisations, memberships, sessions, API tokens, audit, settings,
-- rate-limit counters. Times are Unix seconds. Uniqueness lives here, not in code.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    email         TEXT NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    username      TEXT CHECK (username = lower(username) AND length(username) BETWEEN 1 AND 16),
    password_hash TEXT,
    locale        TEXT CHECK (locale IN ('en', 'ro')),
    staff_role    TEXT CHECK (staff_role IN ('support', 'admin')),
    created_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE organisations (
    id           BIGSERIAL PRIMARY KEY,
    slug         TEXT NOT NULL CHECK (slug = lower(slug) AND length(slug) BETWEEN 2 AND 63),
    name         TEXT NOT NULL CHECK (length(trim(name)) > 0),
    kind         TEXT NOT NULL CHECK (kind IN ('individual', 'company', 'nonprofit')),
    company_name TEXT,
    signup       TEXT NOT NULL DEFAULT 'closed' CHECK (signup IN ('closed', 'open')),
    activation   TEXT NOT NULL DEFAULT 'manual' CHECK (activation IN ('automatic', 'manual')),
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX organisations_slug_key ON organisations (lower(slug));

CREATE TABLE memberships (
    id           BIGSERIAL PRIMARY KEY,
    org_id       BIGINT NOT NULL REFERENCES organisations (id),
    user_id      BIGINT NOT NULL REFERENCES users (id),
    role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    status       TEXT NOT NULL CHECK (status IN ('pending', 'active', 'suspended', 'banned')),
    plan         TEXT,
    member_since BIGINT,
    renews_at    BIGINT,
    created_at   BIGINT NOT NULL,
    UNIQUE (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE audit_events (
    id            BIGSERIAL PRIMARY KEY,
    at            BIGINT NOT NULL,
    actor_user_id BIGINT REFERENCES users (id),
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    target        TEXT,
    org_id        BIGINT REFERENCES organisations (id),
    client_ip     TEXT,
    user_agent    TEXT,
    details       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_org ON audit_events (org_id, id);
CREATE INDEX audit_events_action ON audit_events (action, id);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE rate_limits (
    bucket       TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    hits         BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
