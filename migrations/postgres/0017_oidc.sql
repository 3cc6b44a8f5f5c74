-- Sign in elsewhere with Portico: the OpenID Connect provider (SPEC §3.9).

-- Signing keys. One `active` key per algorithm signs; a `next` key is published in the JWKS
-- before it signs; `retired` keys stay published until the tokens they signed have expired.
-- `private_key` is the PKCS#8 key encrypted (AES-256-GCM) with a key derived from the secret
-- key; `public_jwk` is what the JWKS shows.
CREATE TABLE oidc_keys (
    id           BIGSERIAL PRIMARY KEY,
    kid          TEXT NOT NULL UNIQUE,
    alg          TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    private_key  TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at   BIGINT
);
CREATE UNIQUE INDEX oidc_keys_one_active ON oidc_keys (alg) WHERE state = 'active';
CREATE UNIQUE INDEX oidc_keys_one_next ON oidc_keys (alg) WHERE state = 'next';

-- Relying parties of an organisation. `secret_hash` is NULL for a public client.
-- Lists are JSON arrays. `requires_authorisation` / `requires_role`: who may sign in besides
-- being an active member.
CREATE TABLE oidc_clients (
    id                        BIGSERIAL PRIMARY KEY,
    org_id                    BIGINT NOT NULL REFERENCES organisations (id),
    client_id                 TEXT NOT NULL UNIQUE,
    name                      TEXT NOT NULL,
    secret_hash               TEXT,
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    backchannel_logout_uri    TEXT,
    pkce_required             BIGINT NOT NULL DEFAULT 1,
    first_party               BIGINT NOT NULL DEFAULT 0,
    requires_authorisation    TEXT,
    requires_role             TEXT,
    id_token_alg              TEXT NOT NULL DEFAULT 'RS256',
    enabled                   BIGINT NOT NULL DEFAULT 1,
    created_by                TEXT NOT NULL,
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL,
    deleted_at                BIGINT
);
CREATE INDEX oidc_clients_org ON oidc_clients (org_id, id);

-- The `sub` of a user: random, stable, the same for every client.
ALTER TABLE users ADD COLUMN oidc_sub TEXT;
CREATE UNIQUE INDEX users_oidc_sub ON users (oidc_sub);

-- A grant: what one code exchange started. Its access and refresh tokens (a refresh token
-- rotates within it: the family) are revoked with it.
CREATE TABLE oidc_grants (
    id            BIGSERIAL PRIMARY KEY,
    client_pk     BIGINT NOT NULL REFERENCES oidc_clients (id),
    user_id       BIGINT NOT NULL REFERENCES users (id),
    membership_id BIGINT NOT NULL REFERENCES memberships (id),
    scope         TEXT NOT NULL,
    sid           TEXT NOT NULL,
    auth_time     BIGINT NOT NULL,
    amr           TEXT NOT NULL,
    nonce         TEXT,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoked_reason TEXT
);
CREATE INDEX oidc_grants_membership ON oidc_grants (membership_id, revoked_at);
CREATE INDEX oidc_grants_user ON oidc_grants (user_id, revoked_at);

-- Authorization codes: single-use, short-lived; `grant_id` is the grant an exchange made, which
-- a second use of the code revokes.
CREATE TABLE oidc_codes (
    code_hash      TEXT PRIMARY KEY,
    client_pk      BIGINT NOT NULL REFERENCES oidc_clients (id),
    user_id        BIGINT NOT NULL REFERENCES users (id),
    membership_id  BIGINT NOT NULL REFERENCES memberships (id),
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT,
    nonce          TEXT,
    scope          TEXT NOT NULL,
    sid            TEXT NOT NULL,
    auth_time      BIGINT NOT NULL,
    amr            TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT,
    grant_id       BIGINT
);
CREATE INDEX oidc_codes_expiry ON oidc_codes (expires_at);

-- Access and refresh tokens, opaque; only their SHA-256 is stored. A refresh token is used
-- once (`used_at`): presenting it again revokes its grant.
CREATE TABLE oidc_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id   BIGINT NOT NULL REFERENCES oidc_grants (id),
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX oidc_tokens_grant ON oidc_tokens (grant_id);
CREATE INDEX oidc_tokens_expiry ON oidc_tokens (expires_at);

-- Consent to a client that is not first-party, for a set of scopes.
CREATE TABLE oidc_consents (
    user_id    BIGINT NOT NULL REFERENCES users (id),
    client_pk  BIGINT NOT NULL REFERENCES oidc_clients (id),
    scope      TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_pk)
);
