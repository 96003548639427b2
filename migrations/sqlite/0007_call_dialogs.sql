-- Calls are keyed by their dialog, not by the Call-ID alone: the Call-ID
-- plus the caller's From tag, as the proxy reports dialogs. Anyone can
-- send an INVITE reusing a logged call's Call-ID; with another From tag it
-- is another call and must get its own row, not overwrite the first.
--
-- SQLite cannot drop a column's UNIQUE constraint, so the three tables
-- keyed by Call-ID (the call log, call-backs, contacts made from calls)
-- are rebuilt with every row kept; rows logged before this migration get
-- an empty From tag. The migration runner turns foreign keys off around
-- this (dropping `contacts` would otherwise cascade to its participants)
-- and checks them before committing.

CREATE TABLE calls_new (
    id               INTEGER PRIMARY KEY,
    call_id          TEXT NOT NULL,
    direction        TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    from_uri         TEXT NOT NULL,
    to_uri           TEXT NOT NULL,
    caller_number    TEXT,
    caller_class     TEXT NOT NULL,
    provider_id      INTEGER,
    provider_user_id INTEGER,
    protocol_id      INTEGER,
    -- The consultant who answered (inbound) or placed the call (outbound).
    consultant_id    INTEGER,
    consultant       TEXT,
    rule             TEXT NOT NULL,
    route            TEXT NOT NULL CHECK (route IN ('owner', 'team', 'ura', 'uri', 'rejected')),
    outcome          TEXT CHECK (outcome IN ('answered', 'busy', 'no_answer', 'cancelled', 'failed')),
    final_code       INTEGER,
    started_at       INTEGER NOT NULL,
    ringing_at       INTEGER,
    answered_at      INTEGER,
    ended_at         INTEGER,
    ended_by         TEXT,
    detail           TEXT NOT NULL,
    -- The caller's From tag: with call_id, the dialog.
    from_tag         TEXT NOT NULL DEFAULT ''
);
INSERT INTO calls_new (id, call_id, direction, from_uri, to_uri, caller_number, caller_class,
    provider_id, provider_user_id, protocol_id, consultant_id, consultant, rule, route, outcome,
    final_code, started_at, ringing_at, answered_at, ended_at, ended_by, detail, from_tag)
SELECT id, call_id, direction, from_uri, to_uri, caller_number, caller_class,
    provider_id, provider_user_id, protocol_id, consultant_id, consultant, rule, route, outcome,
    final_code, started_at, ringing_at, answered_at, ended_at, ended_by, detail, ''
FROM calls;
DROP TABLE calls;
ALTER TABLE calls_new RENAME TO calls;
CREATE UNIQUE INDEX calls_dialog ON calls (call_id, from_tag);
CREATE INDEX calls_started ON calls (started_at);
CREATE INDEX calls_provider ON calls (provider_id, started_at);
CREATE INDEX calls_consultant ON calls (consultant_id, started_at);

CREATE TABLE callbacks_new (
    id            INTEGER PRIMARY KEY,
    call_id       TEXT NOT NULL,
    consultant_id INTEGER NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    provider_id   INTEGER,
    protocol_id   INTEGER,
    caller_number TEXT,
    reason        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'cancelled')),
    created_at    INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    closed_at     INTEGER,
    contact_id    INTEGER REFERENCES contacts (id) ON DELETE SET NULL,
    -- With call_id, the call (dialog) that owes this call-back.
    from_tag      TEXT NOT NULL DEFAULT ''
);
INSERT INTO callbacks_new (id, call_id, consultant_id, provider_id, protocol_id, caller_number,
    reason, status, created_at, due_at, closed_at, contact_id, from_tag)
SELECT id, call_id, consultant_id, provider_id, protocol_id, caller_number,
    reason, status, created_at, due_at, closed_at, contact_id, ''
FROM callbacks;
DROP TABLE callbacks;
ALTER TABLE callbacks_new RENAME TO callbacks;
CREATE UNIQUE INDEX callbacks_dialog ON callbacks (call_id, from_tag);
CREATE INDEX callbacks_consultant ON callbacks (consultant_id, status, due_at);
CREATE INDEX callbacks_created ON callbacks (created_at);

CREATE TABLE contacts_new (
    id               INTEGER PRIMARY KEY,
    -- triggered: it happened (a call came in, a chat started);
    -- scheduled: planned ahead (a call-back, a meeting).
    kind             TEXT NOT NULL CHECK (kind IN ('triggered', 'scheduled')),
    channel          TEXT NOT NULL CHECK (channel IN ('phone', 'chat', 'email', 'meeting', 'other')),
    direction        TEXT CHECK (direction IN ('inbound', 'outbound')),
    status           TEXT NOT NULL CHECK (status IN ('scheduled', 'open', 'done', 'missed', 'abandoned', 'cancelled')),
    -- Why a call was missed (busy, no_answer, ura) or how a contact ended.
    reason           TEXT,
    consultant_id    INTEGER REFERENCES consultants (id) ON DELETE SET NULL,
    provider_id      INTEGER REFERENCES providers (id) ON DELETE SET NULL,
    provider_user_id INTEGER REFERENCES provider_users (id) ON DELETE SET NULL,
    protocol_id      INTEGER REFERENCES protocols (id) ON DELETE SET NULL,
    -- Set for contacts made from calls: one contact per call (dialog, with
    -- call_from_tag).
    call_id          TEXT,
    planned_start    INTEGER,
    planned_end      INTEGER,
    -- When the phone started ringing (calls), then the realised span.
    rang_at          INTEGER,
    started_at       INTEGER,
    ended_at         INTEGER,
    wait_ms          INTEGER,
    -- interrupted: open when the process stopped; expired: no BYE came.
    flag             TEXT CHECK (flag IN ('interrupted', 'expired')),
    room_id          INTEGER REFERENCES rooms (id) ON DELETE SET NULL,
    agenda           TEXT,
    notes            TEXT,
    source           TEXT NOT NULL CHECK (source IN ('call', 'manual', 'callback')),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    -- The From tag of the call that made the contact ('' otherwise).
    call_from_tag    TEXT NOT NULL DEFAULT '',
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
    ''
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
