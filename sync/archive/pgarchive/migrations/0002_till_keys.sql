-- Each till's enrolled public key, so that every receiver sharing the
-- database verifies with the same keys, and a till enrolled once is known
-- to all of them without a restart. NULL: never enrolled (a till only
-- seen). Both columns are nullable and without a default: adding them
-- rewrites no row, and a row that gets a key is updated in place.
ALTER TABLE tills
	ADD COLUMN key    bytea,        -- Ed25519 public key, 32 bytes
	ADD COLUMN key_at timestamptz;  -- when that key was enrolled
