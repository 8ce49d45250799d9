-- Listing one requester's requests (`GET /v1/requests` for anyone but an admin) goes newest
-- first, by (created_at, id), and pages with a cursor on both. The index 0001 made stopped at
-- `created_at`, and the list query's `? IS NULL OR ...` terms kept SQLite from using it at all:
-- every such list walked all requests by time, filtering by requester. The list query now names
-- only the filters it has, and this index answers a requester's page, cursor included, with one
-- seek and no sort.

DROP INDEX requests_by_requester;
CREATE INDEX requests_by_requester
    ON requests (requester_issuer, requester_subject, created_at, id);
