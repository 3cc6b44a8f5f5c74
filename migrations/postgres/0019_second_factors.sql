-- Second factors (SPEC §3.10). One TOTP per user: its secret sealed with a key derived from the
-- secret key, usable once confirmed with a code; `last_step` is the last 30-second step whose
-- code was accepted, so a code is accepted once (a later step only). Recovery codes are stored
-- as SHA-256 and used once. A sign-in that passed the password but not yet the second factor
-- is a pending sign-in, never a session: no page or API accepts it. Sessions record how they
-- were signed in (`amr`, as in OpenID Connect) and when a factor was last checked in them.
CREATE TABLE totp_factors (
    user_id       BIGINT PRIMARY KEY REFERENCES users (id),
    secret_sealed TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    confirmed_at  BIGINT,
    last_step     BIGINT NOT NULL DEFAULT 0,
    last_used_at  BIGINT
);
CREATE TABLE recovery_codes (
    code_hash  TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);
CREATE TABLE pending_sign_ins (
    id_hash    TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id),
    next_path  TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pending_sign_ins_user ON pending_sign_ins (user_id);
-- Passkeys (WebAuthn): each a credential of a user, named by them; the credential as
-- webauthn-rs keeps it (JSON, with its counter). A user's handle for authenticators is a
-- random UUID, not their id or address. A ceremony's state waits between its two requests in
-- `webauthn_challenges`: it expires and is taken once.
ALTER TABLE users ADD COLUMN webauthn_handle TEXT;
CREATE UNIQUE INDEX users_webauthn_handle ON users (webauthn_handle) WHERE webauthn_handle IS NOT NULL;
CREATE TABLE passkeys (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    cred_id      TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    credential   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);
CREATE TABLE webauthn_challenges (
    id_hash    TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('register', 'authenticate', 'discover')),
    user_id    BIGINT REFERENCES users (id),
    state      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges (expires_at);
-- An organisation may require a second factor from its owners and admins, or from everyone.
ALTER TABLE organisations ADD COLUMN second_factor TEXT NOT NULL DEFAULT 'none'
    CHECK (second_factor IN ('none', 'admins', 'everyone'));
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE sessions ADD COLUMN verified_at BIGINT;
