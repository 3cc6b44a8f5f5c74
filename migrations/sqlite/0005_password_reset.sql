-- Password reset requests: like signup, the request only records the attempt; the mail worker
-- sends a link if the address has an account, so the answer never tells.
CREATE TABLE password_reset_requests (
    id             INTEGER PRIMARY KEY,
    email          TEXT NOT NULL,
    locale         TEXT NOT NULL,
    state          TEXT NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'processed')),
    charged_bucket TEXT,
    charged_window BIGINT,
    created_at     BIGINT NOT NULL,
    processed_at   BIGINT
);
CREATE INDEX password_reset_requests_new ON password_reset_requests (id) WHERE state = 'new';
