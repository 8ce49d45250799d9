-- Wicket's state on PostgreSQL: the same tables and columns as SQLite's schema after its
-- migration 0009 (host/migrations/*.sql), so that `wicket store migrate` copies rows as they
-- are and both engines answer every query alike. Times are Unix milliseconds (UTC); JSON is
-- kept as text, byte for byte as written (the audit chain hashes those bytes). Text that is
-- ordered or compared (ids, names) uses the "C" collation: byte order, as SQLite's.

CREATE TABLE requests (
    id                TEXT COLLATE "C" PRIMARY KEY,
    requester_subject TEXT COLLATE "C" NOT NULL,
    requester_issuer  TEXT COLLATE "C" NOT NULL,
    cluster           TEXT COLLATE "C" NOT NULL,
    namespaces        TEXT NOT NULL,              -- JSON array of names
    access            TEXT NOT NULL,              -- JSON: {"access": {"role": ..} | {"rules": [..]}, "cluster_rules": [..]}
    duration_seconds  BIGINT NOT NULL CHECK (duration_seconds > 0),
    reason            TEXT NOT NULL,
    context           TEXT NOT NULL,              -- JSON object of strings
    state             TEXT COLLATE "C" NOT NULL CHECK (state IN ('received', 'pending-approval',
                          'approved', 'provisioning', 'active', 'revoking', 'expiring',
                          'expired', 'revoked', 'denied', 'failed')),
    verdict           TEXT,                       -- JSON: the chain's combined decision
    grant_json        TEXT,                       -- JSON: what was provisioned
    expires_at        BIGINT,
    error             TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    modules           TEXT NOT NULL DEFAULT '[]', -- JSON array: each module's part in the verdict
    due_at            BIGINT                      -- when this request's timer fires
);

CREATE INDEX requests_by_created ON requests (created_at, id);
CREATE INDEX requests_by_requester
    ON requests (requester_issuer, requester_subject, created_at, id);
CREATE INDEX requests_live_by_state_expiry ON requests (state, expires_at, created_at, id)
    WHERE state IN ('received', 'pending-approval', 'approved', 'provisioning', 'active',
                    'revoking', 'expiring');
-- The timers to arm, soonest first.
CREATE INDEX requests_due ON requests (due_at) WHERE due_at IS NOT NULL;

CREATE TABLE provisioned_objects (
    request_id TEXT COLLATE "C" NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    kind       TEXT COLLATE "C" NOT NULL,
    namespace  TEXT COLLATE "C" NOT NULL,        -- '' for cluster-scoped objects
    name       TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT,
    -- The order objects were recorded in (SQLite's rowid).
    position   BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (request_id, kind, namespace, name)
);

CREATE INDEX provisioned_objects_in_order ON provisioned_objects (request_id, position);

CREATE TABLE policy_promotions (
    cluster     TEXT COLLATE "C" NOT NULL,
    entry       TEXT COLLATE "C" NOT NULL,
    candidate   TEXT NOT NULL,                    -- the candidate module file now active
    promoted_at BIGINT NOT NULL,
    PRIMARY KEY (cluster, entry)
);

-- The hash-chained audit log. Every replica appends under the chain lock (a transaction-level
-- advisory lock taken as each write transaction begins, see `store/postgres/session.rs`), and
-- the schema makes a fork unstorable whatever a writer does: one event per `seq`, and no two
-- events after the same one (`prev_hash`).
CREATE TABLE audit_events (
    seq        BIGINT PRIMARY KEY CHECK (seq > 0), -- 1, 2, 3, ... without gaps
    time       BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    request_id TEXT COLLATE "C",
    actor      TEXT NOT NULL,                     -- canonical JSON
    details    TEXT NOT NULL,                     -- canonical JSON
    prev_hash  TEXT NOT NULL UNIQUE,
    hash       TEXT NOT NULL UNIQUE
);

CREATE INDEX audit_events_by_request ON audit_events (request_id, seq);
CREATE INDEX audit_events_by_time ON audit_events (time);

-- The audit log is append-only: the database refuses to change or remove an event.
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- This installation's id (see SQLite's migration 0007): 32 lowercase hex digits, made once.
CREATE TABLE installation (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    id         TEXT NOT NULL CHECK (id ~ '^[0-9a-f]{32}$'),
    created_at BIGINT NOT NULL                    -- Unix time, milliseconds
);

INSERT INTO installation (singleton, id, created_at)
VALUES (1, replace(gen_random_uuid()::text, '-', ''),
        (extract(epoch FROM now()) * 1000)::bigint);
