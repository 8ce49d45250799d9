-- Several replicas on one database (SQLite's migrations 0010 and 0011, in one step).
--
-- Each due timer is claimed through the database before it is driven, so that it fires once,
-- somewhere: a claim names its holder (a replica id) and lasts until `claim_until` (Unix
-- milliseconds), renewed while its holder works; an expired claim is free for any replica to
-- take over (`FOR UPDATE SKIP LOCKED`, `store/postgres/claims.rs`). Writing a new timer
-- (`due_at`) clears the claim. Requests being decided or provisioned (`received`, `approved`,
-- `provisioning`) carry a due time the replica working on them keeps moving ahead; rows without
-- one are due at once.
--
-- `leases`: named leases (the reconciler's), one holder at a time until `until`.
--
-- `replicas`: each replica's heartbeat (what it serves, when it was last seen);
-- `reload_generation`: the one policy reload generation every replica follows.

ALTER TABLE requests ADD COLUMN claimed_by TEXT COLLATE "C";
ALTER TABLE requests ADD COLUMN claim_until BIGINT;

UPDATE requests SET due_at = updated_at
WHERE state IN ('received', 'approved', 'provisioning') AND due_at IS NULL;

CREATE TABLE leases (
    name   TEXT COLLATE "C" PRIMARY KEY,
    holder TEXT COLLATE "C" NOT NULL,
    until  BIGINT NOT NULL
);

CREATE TABLE replicas (
    id          TEXT COLLATE "C" PRIMARY KEY,
    started_at  BIGINT NOT NULL,                  -- Unix time, milliseconds
    last_seen   BIGINT NOT NULL,                  -- Unix time, milliseconds
    generation  BIGINT NOT NULL CHECK (generation >= 0),
    serving     BIGINT NOT NULL CHECK (serving >= 0),
    digests     TEXT NOT NULL                     -- JSON: cluster -> [{entry, digest}]
);

CREATE TABLE reload_generation (
    singleton    SMALLINT PRIMARY KEY CHECK (singleton = 1),
    generation   BIGINT NOT NULL CHECK (generation >= 1),
    replica      TEXT NOT NULL,
    trigger      TEXT NOT NULL,
    digests      TEXT NOT NULL,
    published_at BIGINT NOT NULL                  -- Unix time, milliseconds
);
