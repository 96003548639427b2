-- The weekly report reads one week (and the weeks before it) at a time:
-- range scans on these columns instead of full scans.
CREATE INDEX tasks_started ON tasks (started_at);
CREATE INDEX tasks_planned_start ON tasks (planned_start);
CREATE INDEX contacts_rang ON contacts (rang_at);
CREATE INDEX protocols_closed ON protocols (closed_at);
CREATE INDEX callbacks_created ON callbacks (created_at);
