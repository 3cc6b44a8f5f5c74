-- Staff accounts and account self-service (issue 14): a disabled account cannot sign in and
-- its sessions and API tokens are ended; sessions say where they were opened and when they
-- were last used, so people can recognise and end their own.
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE sessions ADD COLUMN client_ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;
CREATE INDEX api_tokens_user ON api_tokens (user_id);
