-- Replicas of one installation (several `wicket serve` processes on one database) and the
-- policy reload generation they follow.
--
-- `replicas`: one row per replica, written by its heartbeat: when it started, when it was last
-- seen (the store's clock), the reload generation it has applied and the generation of its own
-- policy set, and the module digests it serves (JSON: cluster -> [{entry, digest}] in chain
-- order). A replica that stopped cleanly deletes its row; a dead one's row stays (readers only
-- show rows seen recently) until any heartbeat deletes the rows not seen for a day.
--
-- `reload_generation`: one row, the current reload generation: moved by one on every reload
-- that every replica must follow (`POST /v1/policies/reload`, a promotion, a changed file),
-- with the replica that published it, what triggered it and the module digests it served then.
-- Every replica polls it and reloads its own files when it moves; a replica whose digests differ
-- from these is not ready.

CREATE TABLE replicas (
    id          TEXT PRIMARY KEY,
    started_at  INTEGER NOT NULL,                 -- Unix time, milliseconds
    last_seen   INTEGER NOT NULL,                 -- Unix time, milliseconds
    generation  INTEGER NOT NULL CHECK (generation >= 0),
    serving     INTEGER NOT NULL CHECK (serving >= 0),
    digests     TEXT NOT NULL
) STRICT;

CREATE TABLE reload_generation (
    singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
    generation   INTEGER NOT NULL CHECK (generation >= 1),
    replica      TEXT NOT NULL,
    trigger      TEXT NOT NULL,
    digests      TEXT NOT NULL,
    published_at INTEGER NOT NULL                 -- Unix time, milliseconds
) STRICT;
