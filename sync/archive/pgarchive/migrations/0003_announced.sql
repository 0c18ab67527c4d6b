-- The highest head each till has announced in a status it signed
-- (Announce), and when the store learned it: a record stored at that seq
-- with other bytes, a later status with another hash or a lower head, and
-- records announced that do not come are alarms. NULL: nothing announced.
-- The columns are nullable and without a default: adding them rewrites no
-- row.
ALTER TABLE tills
	ADD COLUMN announced_seq     bigint,
	ADD COLUMN announced_hash    bytea,        -- SHA-256 of record announced_seq, as the till announced it
	ADD COLUMN announced_at      timestamptz,  -- the status's own time
	ADD COLUMN announced_learned timestamptz,  -- when the store learned it: the outbox_stale clock runs from it
	ADD COLUMN announced_awaited boolean;      -- announced_seq > wm_seq: records announced and not stored yet

-- The tills the stale sweep reads: those still awaiting records they
-- announced. The predicate is announced_awaited rather than announced_seq >
-- wm_seq: a column in an index's predicate keeps the updates that change
-- it from being HOT, and every Put changes wm_seq, while announced_awaited
-- changes only when an announced head is kept or its records arrive.
CREATE INDEX tills_awaited ON tills (announced_learned) WHERE announced_awaited;
