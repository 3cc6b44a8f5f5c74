-- One row that `serve` and `/readyz` update to prove the database takes writes.
CREATE TABLE health_probe (
    id         BIGINT PRIMARY KEY,
    checked_at BIGINT NOT NULL
);
INSERT INTO health_probe (id, checked_at) VALUES (1, 0);

-- Interactive email (verification, password reset: someone is waiting for it) goes out before
-- bulk email (invitations): 0 = interactive, 1 = bulk. The worker also keeps part of its
-- capacity for interactive mail, so thousands of queued invitations never hold it up.
ALTER TABLE outbox ADD COLUMN priority SMALLINT NOT NULL DEFAULT 1;
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (priority, next_attempt_ms) WHERE state IN ('queued', 'failed');
