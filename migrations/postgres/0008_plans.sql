-- Membership plans of an organisation, each a Stripe price. A plan is never deleted (memberships
-- and events refer to it); it is deactivated. One plan per price and organisation.
CREATE TABLE plans (
    id            BIGSERIAL PRIMARY KEY,
    org_id        BIGINT NOT NULL REFERENCES organisations (id),
    name          TEXT NOT NULL,
    price_id      TEXT NOT NULL,
    display_price TEXT NOT NULL,
    interval      TEXT NOT NULL CHECK (interval IN ('day', 'week', 'month', 'year')),
    active        BIGINT NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at    BIGINT NOT NULL,
    UNIQUE (org_id, price_id)
);
CREATE INDEX plans_org ON plans (org_id, id);
