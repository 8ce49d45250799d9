-- Candidate policy modules made active with `POST /v1/policies/{name}/promote`. A promotion
-- applies for as long as the configuration names the same candidate file for that chain entry;
-- a restart re-applies it so that a restart never silently reverts a promotion.

CREATE TABLE policy_promotions (
    cluster     TEXT NOT NULL,
    entry       TEXT NOT NULL,
    candidate   TEXT NOT NULL,                    -- the candidate module file now active
    promoted_at INTEGER NOT NULL,
    PRIMARY KEY (cluster, entry)
) STRICT;
