-- Several processes (replicas) on one database: each due timer is claimed through the database
-- before it is driven, so that it fires once, somewhere. A claim names its holder (a replica id)
-- and lasts until `claim_until` (Unix milliseconds), renewed while its holder works; an expired
-- claim is free for any replica to take over. Writing a new timer (`due_at`) clears the claim.
--
-- Requests being decided or provisioned (`received`, `approved`, `provisioning`) carry a due time
-- that the process working on them keeps moving ahead: it only passes once that work was
-- abandoned, and then their timer fails them (rolling back what was created). Those rows without
-- one (made by an older version) are due at once, as that version's restart failed them.
--
-- `leases`: named leases (the reconciler's), one holder at a time until `until`.

ALTER TABLE requests ADD COLUMN claimed_by TEXT;
ALTER TABLE requests ADD COLUMN claim_until INTEGER;

UPDATE requests SET due_at = updated_at
WHERE state IN ('received', 'approved', 'provisioning') AND due_at IS NULL;

CREATE TABLE leases (
    name   TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    until  INTEGER NOT NULL
) STRICT;
