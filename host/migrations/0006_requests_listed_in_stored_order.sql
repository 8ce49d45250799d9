-- Requests are listed newest first in the order they were stored, which is the table's own
-- order (its rowid, assigned in insertion order), rather than by `(created_at, id)`. A
-- request is stored once decided, a fraction of a millisecond after it was received, so the
-- two orders differ only between requests received within that fraction of each other.
--
-- The index on `(created_at, id)` that everyone's list walked is dropped: every new request
-- wrote one of the ~8 B-tree pages its transaction commits into it, for a list that only
-- admins call, and the table is already in that order. One requester's list seeks
-- `(requester_issuer, requester_subject)`, whose index entries end with the rowid, so its
-- requests come in stored order too, and the entries are shorter. A paging cursor still names
-- the last request seen; the next page starts before that request's rowid.

DROP INDEX requests_by_created;
DROP INDEX requests_by_requester;
CREATE INDEX requests_by_requester ON requests (requester_issuer, requester_subject);
