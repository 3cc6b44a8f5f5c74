-- Invitations into organisations, and the emailed tokens of every flow (only their SHA-256 is
-- stored). At most one pending invitation per (organisation, email), by a partial unique index.

CREATE TABLE invitations (
    id            BIGSERIAL PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES organisations (id),
    email         TEXT NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    locale        TEXT CHECK (locale IN ('en', 'ro')),
    state         TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'revoked', 'expired')),
    invited_by    BIGINT REFERENCES users (id),
    inviter       TEXT NOT NULL,
    expires_at    BIGINT NOT NULL,
    send_count    BIGINT NOT NULL DEFAULT 1,
    accepted_by   BIGINT REFERENCES users (id),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX invitations_one_pending ON invitations (org_id, email) WHERE state = 'pending';
CREATE INDEX invitations_org ON invitations (org_id, id);

CREATE TABLE tokens (
    id           BIGSERIAL PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    purpose      TEXT NOT NULL CHECK (purpose IN ('invitation', 'email_verification', 'password_reset')),
    subject_kind TEXT NOT NULL,
    subject_id   BIGINT NOT NULL,
    email        TEXT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    revoked_at   BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX tokens_subject ON tokens (purpose, subject_kind, subject_id);
CREATE INDEX tokens_email ON tokens (email);

-- The rate-limit window an email was charged to, so a message that is never delivered gives
-- its allowance back.
ALTER TABLE outbox ADD COLUMN charged_bucket TEXT;
ALTER TABLE outbox ADD COLUMN charged_window BIGINT;
