-- Several instances sharing one desk (the [cluster] section).
--
-- A binding change is stamped with when it was written, so an instance
-- reads only what changed since its last look. A removed binding stays a
-- while as a row that has expired (expires_at = when it was removed), so
-- the other instances see the removal too; old ones are swept.
ALTER TABLE registrations ADD COLUMN changed_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX registrations_changed ON registrations (changed_at);

-- Which instance wrote a call and its contact: a restarted instance closes
-- only the contacts it left open, never those of an instance still running.
ALTER TABLE calls ADD COLUMN instance TEXT NOT NULL DEFAULT 'default';
ALTER TABLE contacts ADD COLUMN instance TEXT NOT NULL DEFAULT 'default';

-- Each instance's heartbeat and the consultants it has in a call, so the
-- others skip them when routing and stop doing so when it dies; and how
-- many directory changes it has made, so the others reload theirs when
-- that moves.
CREATE TABLE cluster_instances (
    name                 TEXT PRIMARY KEY,
    in_call              TEXT NOT NULL DEFAULT '',
    heartbeat_at         BIGINT NOT NULL,
    directory_generation BIGINT NOT NULL DEFAULT 0
);
