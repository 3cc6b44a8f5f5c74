-- The email outbox: a message is written in the same transaction as the change that causes it
-- and delivered by a worker. Times ending in _ms are Unix milliseconds. Once a message is sent
-- or dead its bodies (which may hold secret links) are set to NULL; the metadata stays.

CREATE TABLE outbox (
    id              BIGSERIAL PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    recipient       TEXT NOT NULL,
    template        TEXT NOT NULL,
    locale          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body_text       TEXT,
    body_html       TEXT,
    state           TEXT NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'dead')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    lease_until_ms  BIGINT,
    claim_token     TEXT,
    last_error      TEXT,
    belongs_to_kind TEXT,
    belongs_to_id   BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX outbox_due ON outbox (next_attempt_ms) WHERE state IN ('queued', 'failed');
CREATE INDEX outbox_leased ON outbox (lease_until_ms) WHERE state = 'sending';
CREATE INDEX outbox_belongs_to ON outbox (belongs_to_kind, belongs_to_id, id);
CREATE INDEX outbox_recipient ON outbox (recipient, id);

-- With no SMTP server configured, "delivery" puts the message here, for the /dev/mail viewer.
CREATE TABLE dev_mailbox (
    id           BIGSERIAL PRIMARY KEY,
    message_id   TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    subject      TEXT NOT NULL,
    headers      TEXT NOT NULL,
    body_text    TEXT NOT NULL,
    body_html    TEXT NOT NULL,
    delivered_at BIGINT NOT NULL
);
