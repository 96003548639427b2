-- Contacts that no person typed and no call made: threads read from the
-- desk's mailbox ('mail') and conversations posted by a chat bridge
-- ('chat'). And the "which provider?" step of the process for contacts
-- from someone unknown: unidentified → identified as not a client, or as
-- a client (a call or a manual contact with a known provider is
-- 'identified' from the start; NULL for rows before this migration).
--
-- SQLite changes a CHECK only by rebuilding the table; every row and
-- index is kept (the runner turns foreign keys off around it).
CREATE TABLE contacts_new (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('triggered', 'scheduled')),
    channel          TEXT NOT NULL CHECK (channel IN ('phone', 'chat', 'email', 'meeting', 'other')),
    direction        TEXT CHECK (direction IN ('inbound', 'outbound')),
    status           TEXT NOT NULL CHECK (status IN ('scheduled', 'open', 'done', 'missed', 'abandoned', 'cancelled')),
    reason           TEXT,
    consultant_id    INTEGER REFERENCES consultants (id) ON DELETE SET NULL,
    provider_id      INTEGER REFERENCES providers (id) ON DELETE SET NULL,
    provider_user_id INTEGER REFERENCES provider_users (id) ON DELETE SET NULL,
    protocol_id      INTEGER REFERENCES protocols (id) ON DELETE SET NULL,
    call_id          TEXT,
    planned_start    INTEGER,
    planned_end      INTEGER,
    rang_at          INTEGER,
    started_at       INTEGER,
    ended_at         INTEGER,
    wait_ms          INTEGER,
    flag             TEXT CHECK (flag IN ('interrupted', 'expired')),
    room_id          INTEGER REFERENCES rooms (id) ON DELETE SET NULL,
    agenda           TEXT,
    notes            TEXT,
    source           TEXT NOT NULL CHECK (source IN ('call', 'manual', 'callback', 'mail', 'chat')),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    call_from_tag    TEXT NOT NULL DEFAULT '',
    identification   TEXT CHECK (identification IN ('unidentified', 'identified', 'not_client', 'client')),
    CHECK (ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at),
    CHECK (planned_end IS NULL OR planned_start IS NULL OR planned_end > planned_start)
);
INSERT INTO contacts_new (id, kind, channel, direction, status, reason, consultant_id,
    provider_id, provider_user_id, protocol_id, call_id, planned_start, planned_end, rang_at,
    started_at, ended_at, wait_ms, flag, room_id, agenda, notes, source, created_at, updated_at,
    call_from_tag)
SELECT id, kind, channel, direction, status, reason, consultant_id,
    provider_id, provider_user_id, protocol_id, call_id, planned_start, planned_end, rang_at,
    started_at, ended_at, wait_ms, flag, room_id, agenda, notes, source, created_at, updated_at,
    call_from_tag
FROM contacts;
DROP TABLE contacts;
ALTER TABLE contacts_new RENAME TO contacts;
CREATE UNIQUE INDEX contacts_call_dialog ON contacts (call_id, call_from_tag);
CREATE INDEX contacts_consultant_started ON contacts (consultant_id, started_at);
CREATE INDEX contacts_started ON contacts (started_at);
CREATE INDEX contacts_planned ON contacts (planned_start);
CREATE INDEX contacts_room ON contacts (room_id, planned_start);
CREATE INDEX contacts_protocol ON contacts (protocol_id);
CREATE INDEX contacts_rang ON contacts (rang_at);
