-- Self-service signup and the member record. The record's parts are created in the same
-- transaction as the membership. Credentials are unique per organisation among live ones.

ALTER TABLE organisations ADD COLUMN min_age BIGINT NOT NULL DEFAULT 0;

-- The organisation's catalogue of authorisations (tools, areas) that can be granted.
CREATE TABLE org_authorisations (
    org_id BIGINT NOT NULL REFERENCES organisations (id),
    name   TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    PRIMARY KEY (org_id, name)
);

CREATE TABLE member_records (
    membership_id     BIGINT PRIMARY KEY REFERENCES memberships (id),
    first_name        TEXT NOT NULL DEFAULT '',
    last_name         TEXT NOT NULL DEFAULT '',
    preferred_name    TEXT,
    pronouns          TEXT,
    birthday          TEXT,
    phone             TEXT,
    emergency_contact TEXT,
    chat_handle       TEXT,
    storage           TEXT,
    custom_fields     TEXT NOT NULL DEFAULT '{}',
    updated_at        BIGINT NOT NULL
);

CREATE TABLE member_agreements (
    id            INTEGER PRIMARY KEY,
    membership_id BIGINT NOT NULL REFERENCES memberships (id),
    kind          TEXT NOT NULL CHECK (kind IN ('terms', 'waiver', 'id_check')),
    version       TEXT NOT NULL,
    recorded_by   TEXT NOT NULL,
    recorded_at   BIGINT NOT NULL
);
CREATE INDEX member_agreements_membership ON member_agreements (membership_id);

-- Append-only: there is no UPDATE or DELETE of notes anywhere in the code.
CREATE TABLE member_notes (
    id            INTEGER PRIMARY KEY,
    membership_id BIGINT NOT NULL REFERENCES memberships (id),
    text          TEXT NOT NULL CHECK (length(text) BETWEEN 1 AND 4000),
    author        TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX member_notes_membership ON member_notes (membership_id, id);

CREATE TABLE member_credentials (
    id            INTEGER PRIMARY KEY,
    membership_id BIGINT NOT NULL REFERENCES memberships (id),
    org_id        BIGINT NOT NULL REFERENCES organisations (id),
    tag           TEXT NOT NULL CHECK (length(tag) = 10),
    added_by      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    removed_at    BIGINT
);
CREATE UNIQUE INDEX member_credentials_live ON member_credentials (org_id, tag) WHERE removed_at IS NULL;
CREATE INDEX member_credentials_membership ON member_credentials (membership_id);

CREATE TABLE member_authorisations (
    membership_id BIGINT NOT NULL REFERENCES memberships (id),
    name          TEXT NOT NULL,
    granted_by    TEXT NOT NULL,
    granted_at    BIGINT NOT NULL,
    PRIMARY KEY (membership_id, name)
);

-- Every POST of the signup email step only records a request; the mail worker decides which
-- email it gets (verification, or "you already have an account"), so both answers cost the same.
CREATE TABLE signup_requests (
    id           INTEGER PRIMARY KEY,
    org_id       BIGINT NOT NULL REFERENCES organisations (id),
    email        TEXT NOT NULL,
    locale       TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'processed')),
    charged_bucket TEXT,
    charged_window BIGINT,
    created_at   BIGINT NOT NULL,
    processed_at BIGINT
);
CREATE INDEX signup_requests_new ON signup_requests (id) WHERE state = 'new';
