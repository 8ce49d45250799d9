-- Requests are listed newest first by `(created_at, id)`, and a paging cursor names the
-- `(created_at, id)` of the last request of a page, rather than the table's rowid: an order
-- that is the same on every database engine and every replica (a rowid is SQLite's own, and
-- says only in which order one database stored them). One index for everyone's list and one
-- for a requester's answer a page, cursor included, with one seek and no sort.

CREATE INDEX requests_by_created ON requests (created_at, id);
DROP INDEX requests_by_requester;
CREATE INDEX requests_by_requester
    ON requests (requester_issuer, requester_subject, created_at, id);
