-- What an organisation requires before a paid membership becomes active, and how long a
-- membership whose payment is past due keeps its access.
ALTER TABLE organisations ADD COLUMN requires_waiver BIGINT NOT NULL DEFAULT 0;
ALTER TABLE organisations ADD COLUMN requires_id_check BIGINT NOT NULL DEFAULT 0;
ALTER TABLE organisations ADD COLUMN past_due_grace_days BIGINT NOT NULL DEFAULT 7;
