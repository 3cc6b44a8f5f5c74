-- Door access (SPEC §3.6) and the authorisation and timed-suspension parts of §3.8.

-- Authorisations: an optional validity period and prerequisites (a JSON array of catalogue
-- names). A grant expires at granted_at + valid_days; expiry_noted is set once the scheduler
-- has recorded the expiry as an access-list change.
ALTER TABLE org_authorisations ADD COLUMN valid_days BIGINT CHECK (valid_days IS NULL OR valid_days BETWEEN 1 AND 3650);
ALTER TABLE org_authorisations ADD COLUMN requires TEXT NOT NULL DEFAULT '[]';
ALTER TABLE member_authorisations ADD COLUMN expires_at BIGINT;
ALTER TABLE member_authorisations ADD COLUMN expiry_noted BIGINT NOT NULL DEFAULT 0;
CREATE INDEX member_authorisations_expiry ON member_authorisations (expires_at) WHERE expiry_noted = 0;

-- A suspension staff set to end by itself.
ALTER TABLE memberships ADD COLUMN suspended_until BIGINT;
CREATE INDEX memberships_suspended_until ON memberships (suspended_until) WHERE suspended_until IS NOT NULL;

-- Door and tool controllers. Only the SHA-256 of a device token is stored. What each device
-- last told us it holds (version, when, from where) is the proof a revocation reached it.
CREATE TABLE devices (
    id            INTEGER PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES organisations (id),
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    requires      TEXT,
    token_hash    TEXT NOT NULL UNIQUE,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    last_seen_at  BIGINT,
    last_address  TEXT,
    last_agent    TEXT,
    held_version  TEXT,
    -- The newest access change the device is known to hold a list after.
    synced_change BIGINT NOT NULL DEFAULT 0,
    synced_at     BIGINT
);
CREATE INDEX devices_org ON devices (org_id, id);

-- Every change of an organisation's access lists, with its cause. removes = 1 when it took a
-- credential off the lists (a status change away from active, a key removed, an authorisation
-- revoked or expired, a device's requirement changed): those are the revocations whose arrival
-- at each device is shown.
CREATE TABLE access_changes (
    id            INTEGER PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES organisations (id),
    at            BIGINT NOT NULL,
    removes       BIGINT NOT NULL CHECK (removes IN (0, 1)),
    cause         TEXT NOT NULL,
    membership_id BIGINT,
    detail        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX access_changes_org ON access_changes (org_id, id);

-- When each device first held a list made after a revocation.
CREATE TABLE access_pickups (
    change_id    BIGINT NOT NULL REFERENCES access_changes (id),
    device_id    BIGINT NOT NULL REFERENCES devices (id),
    picked_up_at BIGINT NOT NULL,
    PRIMARY KEY (change_id, device_id)
);
CREATE INDEX access_pickups_device ON access_pickups (device_id, change_id);
