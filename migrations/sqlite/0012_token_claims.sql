-- A request working on a link (hashing a password, say) reserves it for a short lease, so many
-- concurrent requests with the same link do not all do that work: the others are answered at
-- once. A crashed request's reservation ends with its lease.
ALTER TABLE tokens ADD COLUMN claimed_until BIGINT;
