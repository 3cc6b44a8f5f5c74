-- Erasure (SPEC §3.11). An erased person keeps their rows, anonymised in place (so counts and
-- the audit trail's actions and times remain): `users.erased_at` says so. A member's own
-- request waits out a cooling-off period, cancellable: one pending request per person. A
-- banned member's erasure leaves a tombstone, the SHA-256 of their address in that
-- organisation, so a signup or invitation for it creates nothing.
ALTER TABLE users ADD COLUMN erased_at BIGINT;
CREATE TABLE erasure_requests (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    requested_at BIGINT NOT NULL,
    due_at       BIGINT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'cancelled', 'done')),
    decided_at   BIGINT
);
CREATE UNIQUE INDEX erasure_requests_one_pending ON erasure_requests (user_id) WHERE state = 'pending';
CREATE INDEX erasure_requests_due ON erasure_requests (due_at) WHERE state = 'pending';
CREATE TABLE erasure_tombstones (
    org_id       BIGINT NOT NULL REFERENCES organisations (id),
    address_hash TEXT NOT NULL,
    erased_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, address_hash)
);
