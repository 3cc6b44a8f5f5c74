-- Events out (SPEC §3.7): endpoints per organisation, the events written in the transaction of
-- the change that caused them, and one delivery per event and subscribed endpoint.

-- Each membership numbers its events; this is the number of the last one.
ALTER TABLE memberships ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;

-- `secret` is kept in clear: signing needs it. During a rotation the previous secret signs
-- too, until `previous_until`. `disabled_reason` says why Portico disabled it (a 410).
CREATE TABLE webhook_endpoints (
    id              INTEGER PRIMARY KEY,
    org_id          BIGINT NOT NULL REFERENCES organisations (id),
    url             TEXT NOT NULL,
    event_types     TEXT NOT NULL,
    enabled         BIGINT NOT NULL DEFAULT 1,
    secret          TEXT NOT NULL,
    previous_secret TEXT,
    previous_until  BIGINT,
    disabled_reason TEXT,
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    deleted_at      BIGINT
);
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, id);

-- `message_id` (`msg_…`) is the `webhook-id` of every delivery of the event, stable across
-- retries. `seq` is the membership's number for it (0 for a test event).
CREATE TABLE webhook_events (
    id            INTEGER PRIMARY KEY,
    message_id    TEXT NOT NULL UNIQUE,
    org_id        BIGINT NOT NULL REFERENCES organisations (id),
    membership_id BIGINT REFERENCES memberships (id),
    seq           BIGINT NOT NULL,
    type          TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX webhook_events_org ON webhook_events (org_id, id);

-- A delivery is claimed with a lease as the email outbox's messages are. Deliveries about one
-- membership to one endpoint go in `seq` order: one waits while an earlier one is unfinished.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    event_id         BIGINT NOT NULL REFERENCES webhook_events (id),
    endpoint_id      BIGINT NOT NULL REFERENCES webhook_endpoints (id),
    membership_id    BIGINT,
    seq              BIGINT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'delivered', 'failed', 'dead')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms  BIGINT NOT NULL,
    lease_until_ms   BIGINT,
    claim_token      TEXT,
    last_status      BIGINT,
    last_error       TEXT,
    response_excerpt TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms) WHERE state IN ('pending', 'failed');
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (lease_until_ms) WHERE state = 'sending';
CREATE INDEX webhook_deliveries_unfinished ON webhook_deliveries (endpoint_id, membership_id, seq)
    WHERE state IN ('pending', 'sending', 'failed');
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
