-- Each module's part in a request's verdict moves into the request's row, as a JSON array in
-- chain order: `[{"module", "digest", "decision" (JSON, null when the module failed),
-- "duration_us", "error"}, ...]`. The parts are written once, with the verdict, and only ever
-- read with their request, so a table of their own (its rows and its primary-key index, at a
-- random place since request ids are random) cost a denied request three of the ~12 pages its
-- one transaction wrote to the WAL, for nothing a query needed. Existing parts are copied
-- over; the table is then dropped.

ALTER TABLE requests ADD COLUMN modules TEXT NOT NULL DEFAULT '[]';

UPDATE requests SET modules = (
    SELECT json_group_array(json_object(
               'module', module,
               'digest', digest,
               'decision', json(decision),
               'duration_us', duration_us,
               'error', error
           ) ORDER BY position)
    FROM module_verdicts
    WHERE module_verdicts.request_id = requests.id
)
WHERE EXISTS (SELECT 1 FROM module_verdicts WHERE module_verdicts.request_id = requests.id);

DROP TABLE module_verdicts;
