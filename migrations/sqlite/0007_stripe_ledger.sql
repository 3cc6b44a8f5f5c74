-- Every verified Stripe event, stored once (by its id) before anything acts on it. Processing
-- state: `received` (stored, not yet acted on), `processed`, `ignored` (nothing to do) or
-- `failed` (with the error; staff may re-process it).
CREATE TABLE stripe_events (
    id            TEXT PRIMARY KEY,
    type          TEXT NOT NULL,
    created       BIGINT NOT NULL,
    livemode      BIGINT NOT NULL CHECK (livemode IN (0, 1)),
    payload       TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'received'
                  CHECK (state IN ('received', 'processed', 'ignored', 'failed')),
    membership_id BIGINT,
    outcome       TEXT,
    error         TEXT,
    processed_at  BIGINT
);
CREATE INDEX stripe_events_pending ON stripe_events (received_at) WHERE state = 'received';
CREATE INDEX stripe_events_membership ON stripe_events (membership_id, created);
