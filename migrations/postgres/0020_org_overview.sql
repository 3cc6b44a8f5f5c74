-- The organisation overview (SPEC §3.12): its figures are read through indexes, so the page and
-- GET /api/v1/orgs/{slug}/stats stay fast with 100 000 members. Every status change of a
-- membership is kept as a row (the audit trail has them too, but as text about an address):
-- leaves per month are changes away from 'active'. Earlier changes come from the audit trail.
CREATE TABLE status_changes (
    id            BIGSERIAL PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES organisations (id),
    membership_id BIGINT NOT NULL REFERENCES memberships (id),
    from_status   TEXT NOT NULL,
    to_status     TEXT NOT NULL,
    at            BIGINT NOT NULL
);
CREATE INDEX status_changes_org_at ON status_changes (org_id, from_status, at);
CREATE INDEX status_changes_membership ON status_changes (membership_id);

INSERT INTO status_changes (org_id, membership_id, from_status, to_status, at)
SELECT a.org_id, m.id, (a.details::json ->> 'from'), (a.details::json ->> 'to'), a.at
FROM audit_events a
JOIN users u ON lower(u.email) = lower(a.target)
JOIN memberships m ON m.org_id = a.org_id AND m.user_id = u.id
WHERE a.action = 'member.status_changed' AND (a.details::json ->> 'from') IS NOT NULL AND (a.details::json ->> 'to') IS NOT NULL
ORDER BY a.id;

-- Members by status (and paying ones), and joins (first activation) per month.
CREATE INDEX memberships_org_status ON memberships (org_id, status, subscription_status);
CREATE INDEX memberships_org_since ON memberships (org_id, member_since) WHERE member_since IS NOT NULL;
-- Failed and dead webhook deliveries per endpoint.
CREATE INDEX webhook_deliveries_troubled ON webhook_deliveries (endpoint_id, state) WHERE state IN ('failed', 'dead');
