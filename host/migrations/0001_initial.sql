-- Wicket's state: access requests, their verdicts, what was provisioned for them, and the
-- hash-chained audit log. Times are Unix milliseconds (UTC).

CREATE TABLE requests (
    id                TEXT PRIMARY KEY NOT NULL,
    requester_subject TEXT NOT NULL,
    requester_issuer  TEXT NOT NULL,
    cluster           TEXT NOT NULL,
    namespaces        TEXT NOT NULL,              -- JSON array of names
    access            TEXT NOT NULL,              -- JSON: {"access": {"role": ..} | {"rules": [..]}, "cluster_rules": [..]}
    duration_seconds  INTEGER NOT NULL CHECK (duration_seconds > 0),
    reason            TEXT NOT NULL,
    context           TEXT NOT NULL,              -- JSON object of strings
    state             TEXT NOT NULL CHECK (state IN ('received', 'pending-approval', 'approved',
                          'provisioning', 'active', 'expired', 'revoked', 'denied', 'failed')),
    verdict           TEXT,                       -- JSON: the chain's combined decision
    grant_json        TEXT,                       -- JSON: what was provisioned
    expires_at        INTEGER,
    error             TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
) STRICT;

CREATE INDEX requests_by_requester ON requests (requester_issuer, requester_subject, created_at);
CREATE INDEX requests_by_created ON requests (created_at, id);
CREATE INDEX requests_by_state_expiry ON requests (state, expires_at);

CREATE TABLE module_verdicts (
    request_id  TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,                 -- place in the chain, from 0
    module      TEXT NOT NULL,
    digest      TEXT NOT NULL,
    decision    TEXT,                             -- JSON; NULL when the module failed
    duration_us INTEGER NOT NULL,
    error       TEXT,
    PRIMARY KEY (request_id, position)
) STRICT;

CREATE TABLE provisioned_objects (
    request_id TEXT NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    namespace  TEXT NOT NULL,                     -- '' for cluster-scoped objects
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER,
    PRIMARY KEY (request_id, kind, namespace, name)
) STRICT;

CREATE TABLE audit_events (
    seq        INTEGER PRIMARY KEY NOT NULL,      -- 1, 2, 3, ... without gaps
    time       INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    request_id TEXT,
    actor      TEXT NOT NULL,                     -- canonical JSON
    details    TEXT NOT NULL,                     -- canonical JSON
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
) STRICT;

CREATE INDEX audit_events_by_request ON audit_events (request_id, seq);

-- The audit log is append-only: the database refuses to change or remove an event.
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
