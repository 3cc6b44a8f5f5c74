-- OpenID Connect Back-Channel Logout 1.0: a logout token for each ended sign-in of a client with
-- a back-channel logout URI, queued in the transaction that ended it and delivered by the
-- workers of every `serve` process with a lease, like webhook deliveries. The token is signed
-- at delivery (the signing keys live outside the transaction).
CREATE TABLE oidc_logouts (
    id              BIGSERIAL PRIMARY KEY,
    client_pk       BIGINT NOT NULL REFERENCES oidc_clients (id),
    user_id         BIGINT NOT NULL REFERENCES users (id),
    sid             TEXT NOT NULL,
    reason          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'failed', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    claim_token     TEXT,
    lease_until_ms  BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX oidc_logouts_due ON oidc_logouts (state, next_attempt_ms);
CREATE INDEX oidc_logouts_client ON oidc_logouts (client_pk, id);
