-- A grant being revoked is in a state of its own, `revoking`, until its teardown succeeds (a
-- revocation whose teardown fails no longer leaves the grant `active` with no timer), and so is
-- an expired grant whose teardown failed, `expiring`. Every request a timer guards carries that
-- timer's time in `due_at`, written in the same statement as the state it guards:
-- `provisioning` → the deadline after which an abandoned provisioning is rolled back; `active` →
-- `expires_at`; `revoking` and `expiring` → the next teardown attempt. Timers are armed again
-- from these rows on start and by the reconciler. `NULL` in every other state.
--
-- SQLite cannot change a CHECK constraint in place, so `requests` is rebuilt (rowids kept: lists
-- go in rowid order, migration 0006), and `provisioned_objects`, whose foreign key names it, with
-- it (dropping `requests` with foreign keys on would cascade to its rows).

CREATE TABLE requests_new (
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
                          'provisioning', 'active', 'revoking', 'expiring', 'expired', 'revoked',
                          'denied', 'failed')),
    verdict           TEXT,                       -- JSON: the chain's combined decision
    grant_json        TEXT,                       -- JSON: what was provisioned
    expires_at        INTEGER,
    error             TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    modules           TEXT NOT NULL DEFAULT '[]', -- JSON array: each module's part in the verdict
    due_at            INTEGER                     -- when this request's timer fires (see above)
) STRICT;

INSERT INTO requests_new (rowid, id, requester_subject, requester_issuer, cluster, namespaces,
    access, duration_seconds, reason, context, state, verdict, grant_json, expires_at, error,
    created_at, updated_at, modules, due_at)
SELECT rowid, id, requester_subject, requester_issuer, cluster, namespaces, access,
    duration_seconds, reason, context, state, verdict, grant_json, expires_at, error, created_at,
    updated_at, modules, CASE WHEN state = 'active' THEN expires_at END
FROM requests;

CREATE TABLE provisioned_objects_new (
    request_id TEXT NOT NULL REFERENCES requests_new (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    namespace  TEXT NOT NULL,                     -- '' for cluster-scoped objects
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deleted_at INTEGER,
    PRIMARY KEY (request_id, kind, namespace, name)
) STRICT;

INSERT INTO provisioned_objects_new SELECT * FROM provisioned_objects;

DROP TABLE provisioned_objects;
DROP TABLE requests;
-- Renaming also renames the foreign key's target in `provisioned_objects_new`.
ALTER TABLE requests_new RENAME TO requests;
ALTER TABLE provisioned_objects_new RENAME TO provisioned_objects;

CREATE INDEX requests_by_requester ON requests (requester_issuer, requester_subject);
CREATE INDEX requests_live_by_state_expiry ON requests (state, expires_at, created_at, id)
    WHERE state IN ('received', 'pending-approval', 'approved', 'provisioning', 'active',
                    'revoking', 'expiring');
-- The timers to arm, soonest first.
CREATE INDEX requests_due ON requests (due_at) WHERE due_at IS NOT NULL;
