-- A member's history reads the audit events about one address (SPEC §3.4): by target, newest
-- first.
CREATE INDEX audit_events_target ON audit_events (target, id);
