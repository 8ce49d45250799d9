-- This installation's id, generated once when the database is created (or brought up to this
-- version) and shared by every process that uses the database. Every Kubernetes object Wicket
-- creates is labelled `wicket.dev/installation=<id>` (with `wicket.dev/cluster=<entry>`), and
-- the reconciler and teardown select by these labels, so that one Wicket never touches another
-- installation's objects on a shared cluster. 32 lowercase hex digits: a valid label value.

CREATE TABLE installation (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    id         TEXT NOT NULL CHECK (length(id) = 32 AND id NOT GLOB '*[^0-9a-f]*'),
    created_at INTEGER NOT NULL                   -- Unix time, milliseconds
) STRICT;

INSERT INTO installation (singleton, id, created_at)
VALUES (1, lower(hex(randomblob(16))), CAST(strftime('%s', 'now') AS INTEGER) * 1000);
