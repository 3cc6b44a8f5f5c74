-- The audit log (SPEC §3.4) is read newest first, by time then id, under any one filter and a
-- time range: each filtered column leads an index ending in (at, id), so a page is a bounded
-- range scan in order whichever filter is most selective. These replace the (…, id) indexes.
DROP INDEX audit_events_org;
DROP INDEX audit_events_action;
DROP INDEX audit_events_target;
-- An action prefix is a range (`action >= 'member.' AND action < 'member/'`): byte order, as
-- SQLite compares, not the database's linguistic collation (which ignores punctuation).
ALTER TABLE audit_events ALTER COLUMN action TYPE TEXT COLLATE "C";
CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX audit_events_org ON audit_events (org_id, at, id);
-- An organisation's events of one action (the console's usual view): without it, three
-- moderately selective filters that together match nothing read a whole action's range.
CREATE INDEX audit_events_org_action ON audit_events (org_id, action, at, id);
CREATE INDEX audit_events_action ON audit_events (action, at, id);
CREATE INDEX audit_events_target ON audit_events (target, at, id);
CREATE INDEX audit_events_actor_user ON audit_events (actor_user_id, at, id);
