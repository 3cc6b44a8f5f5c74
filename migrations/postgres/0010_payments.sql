-- What Stripe has told us about a membership's payment. `payment_ref` is the opaque reference
-- sent to Stripe as `client_reference_id` and subscription metadata: the only thing a payment
-- is bound by. `subscription_seen` is the `created` time of the newest Stripe event applied
-- for the subscription, so an older event arriving late changes nothing.
ALTER TABLE memberships ADD COLUMN payment_ref TEXT;
ALTER TABLE memberships ADD COLUMN stripe_customer TEXT;
ALTER TABLE memberships ADD COLUMN stripe_subscription TEXT;
ALTER TABLE memberships ADD COLUMN subscription_status TEXT;
ALTER TABLE memberships ADD COLUMN subscription_seen BIGINT;
ALTER TABLE memberships ADD COLUMN plan_id BIGINT REFERENCES plans (id);
ALTER TABLE memberships ADD COLUMN paid_at BIGINT;
ALTER TABLE memberships ADD COLUMN past_due_since BIGINT;
-- 1 while the membership is suspended because of its payment (a later payment lifts it); a
-- suspension by staff stays until staff lift it.
ALTER TABLE memberships ADD COLUMN suspended_for_payment BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX memberships_payment_ref ON memberships (payment_ref) WHERE payment_ref IS NOT NULL;
CREATE UNIQUE INDEX memberships_subscription ON memberships (stripe_subscription)
    WHERE stripe_subscription IS NOT NULL;
CREATE INDEX memberships_past_due ON memberships (past_due_since) WHERE past_due_since IS NOT NULL;
-- The ledger's filters (type, outcome) for the staff view.
CREATE INDEX stripe_events_type ON stripe_events (type, created);
