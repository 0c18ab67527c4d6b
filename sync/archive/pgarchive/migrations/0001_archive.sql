-- The bureau's archive: what the tills sent, where each till's chain
-- stands, what waits for a predecessor, the alarms, and the cross-till
-- index. Identifiers and codes use the "C" collation: they sort byte by
-- byte, as the embedded archive sorts them, whatever the database's locale.

-- One row per till, locked by every Put that brings its records: the lock
-- serializes the till's chain across receivers.
CREATE TABLE tills (
	pharmacy     text COLLATE "C" NOT NULL,
	till         text COLLATE "C" NOT NULL,
	wm_seq       bigint NOT NULL DEFAULT 0,   -- contiguous watermark: 1..wm_seq are stored
	wm_hash      bytea NOT NULL DEFAULT '',   -- SHA-256 of record wm_seq as stored
	count        bigint NOT NULL DEFAULT 0,   -- records stored
	waiting      integer NOT NULL DEFAULT 0,  -- rows in waiting
	last_seen    timestamptz,                 -- last Put that brought one of its records
	status_state text,                        -- latest retained status, as received
	status_head  bigint,
	status_acked bigint,
	status_at    text,
	PRIMARY KEY (pharmacy, till)
) WITH (fillfactor = 50); -- room on each page to update a row in place (HOT): every Put updates its tills' rows

-- Every stored record: the exact bytes the till signed and its signature,
-- with the fields analysts and the bureau's queries read. Partitioned by
-- month of the record's own time (UTC months); records whose month has no
-- partition, and those without a time that parses, are in the default
-- partition. Uniqueness of (pharmacy, till, seq) is the tills lock's: a
-- partitioned table's unique index must hold the partition key.
CREATE TABLE records (
	pharmacy  text COLLATE "C" NOT NULL,
	till      text COLLATE "C" NOT NULL,
	seq       bigint NOT NULL,
	at        timestamptz,
	id        text NOT NULL,
	kind      text NOT NULL,
	card_no   text,
	hash      bytea NOT NULL,
	rec       bytea NOT NULL,
	sig       bytea NOT NULL,
	stored_at timestamptz NOT NULL
) PARTITION BY RANGE (at);
CREATE UNIQUE INDEX records_key ON records (pharmacy, till, seq, at);
CREATE INDEX records_sale_id ON records (id) WHERE kind = 'sale'; -- a return finds its sale
CREATE TABLE records_default PARTITION OF records DEFAULT;

-- One row per line of a stored record, partitioned as records. Its
-- indexes are those the store's queries use (Search, Blocked): each costs
-- every Put, whose lines land all over them; analysts add their own.
CREATE TABLE lines (
	pharmacy       text COLLATE "C" NOT NULL,
	till           text COLLATE "C" NOT NULL,
	seq            bigint NOT NULL,
	line           integer NOT NULL,  -- 0-based index in the record's lines
	at             timestamptz,
	kind           text NOT NULL,     -- the record's
	card_no        text,              -- the record's
	barcode        text NOT NULL,
	med_list_codg  text,
	name           text NOT NULL,
	qty            integer NOT NULL,
	days           integer,
	price_fen      bigint NOT NULL,
	decision       text NOT NULL,
	rule           text,
	pay            text,
	drug_trac_codg text[]
) PARTITION BY RANGE (at);
CREATE INDEX lines_card ON lines (card_no, at) WHERE card_no IS NOT NULL;
CREATE INDEX lines_trace ON lines USING gin (drug_trac_codg);
CREATE INDEX lines_blocked ON lines (at) WHERE kind = 'blocked';
CREATE TABLE lines_default PARTITION OF lines DEFAULT;

-- Records whose predecessor is not stored yet, at most MaxWaiting a till.
CREATE TABLE waiting (
	pharmacy text COLLATE "C" NOT NULL,
	till     text COLLATE "C" NOT NULL,
	seq      bigint NOT NULL,
	hash     bytea NOT NULL,
	prev     text NOT NULL,
	id       text NOT NULL,
	rec      bytea NOT NULL,
	sig      bytea NOT NULL,
	arrived  timestamptz NOT NULL,
	PRIMARY KEY (pharmacy, till, seq)
);

CREATE TABLE alarms (
	id       bigserial PRIMARY KEY,
	kind     text COLLATE "C" NOT NULL,
	pharmacy text COLLATE "C" NOT NULL,
	till     text COLLATE "C" NOT NULL,
	seq      bigint NOT NULL,
	key      text COLLATE "C" NOT NULL,
	detail   text NOT NULL,
	records  jsonb NOT NULL,
	count    integer NOT NULL,
	at       timestamptz NOT NULL,  -- first raised
	last_at  timestamptz NOT NULL,
	UNIQUE (kind, pharmacy, till, seq, key)
);
CREATE INDEX alarms_at ON alarms (at);
CREATE INDEX alarms_till ON alarms (pharmacy, till, id);

-- Cross-till index (archive/cross.go): the unreturned sale holding each
-- traceability code.
CREATE TABLE trace_holders (
	code     text COLLATE "C" PRIMARY KEY,
	pharmacy text COLLATE "C" NOT NULL,
	till     text COLLATE "C" NOT NULL,
	seq      bigint NOT NULL,
	id       text NOT NULL,
	at       timestamptz  -- the sale's time, for retention
);

-- Cross-till index: days of a drug (generic) a card bought with insurance
-- on one calendar day (days since 1970, in the record's offset) at one till,
-- and the last such sale.
CREATE TABLE card_days (
	card     text COLLATE "C" NOT NULL,
	generic  text COLLATE "C" NOT NULL,
	day      bigint NOT NULL,
	pharmacy text COLLATE "C" NOT NULL,
	till     text COLLATE "C" NOT NULL,
	days     bigint NOT NULL,
	last_seq bigint NOT NULL,
	last_id  text NOT NULL,
	PRIMARY KEY (card, generic, day, pharmacy, till)
);
