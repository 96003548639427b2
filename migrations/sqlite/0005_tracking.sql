-- Time tracking: contacts (calls, chats, e-mail, meetings; triggered or
-- scheduled), tasks with planned and realised time, their categories, an
-- audit trail of edits, work plans, working hours, rooms and absences.
-- Timestamps are UTC milliseconds; ISO weeks are text like 2026-W49.

CREATE TABLE rooms (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    capacity INTEGER CHECK (capacity IS NULL OR capacity > 0)
);

CREATE TABLE contacts (
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
    -- Set for contacts made from calls: one contact per call.
    call_id          TEXT UNIQUE,
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
    CHECK (ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at),
    CHECK (planned_end IS NULL OR planned_start IS NULL OR planned_end > planned_start)
);
CREATE INDEX contacts_consultant_started ON contacts (consultant_id, started_at);
CREATE INDEX contacts_started ON contacts (started_at);
CREATE INDEX contacts_planned ON contacts (planned_start);
CREATE INDEX contacts_room ON contacts (room_id, planned_start);
CREATE INDEX contacts_protocol ON contacts (protocol_id);

-- Other consultants taking part in a meeting.
CREATE TABLE contact_participants (
    contact_id    INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    consultant_id INTEGER NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    PRIMARY KEY (contact_id, consultant_id)
);
CREATE INDEX contact_participants_consultant ON contact_participants (consultant_id);

CREATE TABLE task_categories (
    name    TEXT PRIMARY KEY CHECK (length(trim(name)) > 0),
    builtin INTEGER NOT NULL DEFAULT 0 CHECK (builtin IN (0, 1))
);

CREATE TABLE tasks (
    id              INTEGER PRIMARY KEY,
    consultant_id   INTEGER NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    category        TEXT NOT NULL REFERENCES task_categories (name) ON UPDATE CASCADE,
    protocol_id     INTEGER REFERENCES protocols (id) ON DELETE SET NULL,
    title           TEXT NOT NULL DEFAULT '',
    notes           TEXT,
    status          TEXT NOT NULL CHECK (status IN ('planned', 'running', 'done', 'cancelled')),
    planned_start   INTEGER,
    planned_minutes INTEGER CHECK (planned_minutes IS NULL OR planned_minutes > 0),
    started_at      INTEGER,
    ended_at        INTEGER,
    -- manual; schedule (placed by protocall schedule); rule (created by a
    -- process rule, e.g. communicate completion when a protocol closes).
    source          TEXT NOT NULL CHECK (source IN ('manual', 'schedule', 'rule')),
    iso_week        TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK (ended_at IS NULL OR started_at IS NULL OR ended_at >= started_at),
    CHECK ((status = 'running') = (started_at IS NOT NULL AND ended_at IS NULL))
);
CREATE INDEX tasks_consultant_started ON tasks (consultant_id, started_at);
CREATE INDEX tasks_consultant_status ON tasks (consultant_id, status);
CREATE INDEX tasks_planned ON tasks (consultant_id, planned_start);
CREATE INDEX tasks_protocol ON tasks (protocol_id, category);

-- Who changed which time, when.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    entity    TEXT NOT NULL,
    entity_id INTEGER NOT NULL,
    field     TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    actor     TEXT NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);

CREATE TABLE work_plans (
    consultant_id INTEGER NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    iso_week      TEXT NOT NULL CHECK (length(iso_week) = 8),
    category      TEXT NOT NULL REFERENCES task_categories (name) ON UPDATE CASCADE,
    minutes       INTEGER NOT NULL CHECK (minutes > 0),
    PRIMARY KEY (consultant_id, iso_week, category)
);

-- A consultant's own working hours; weekdays without a row use the
-- configured default.
CREATE TABLE working_hours (
    consultant_id INTEGER NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    weekday       INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    ranges        TEXT NOT NULL,
    PRIMARY KEY (consultant_id, weekday)
);

-- Leave and other absences (whole days, inclusive), for capacity.
CREATE TABLE absences (
    id            INTEGER PRIMARY KEY,
    consultant_id INTEGER NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    first_day     TEXT NOT NULL CHECK (length(first_day) = 10),
    last_day      TEXT NOT NULL CHECK (length(last_day) = 10),
    reason        TEXT NOT NULL DEFAULT '',
    CHECK (first_day <= last_day)
);
CREATE INDEX absences_consultant ON absences (consultant_id, first_day);

-- A call-back is also a scheduled contact of its owner.
ALTER TABLE callbacks ADD COLUMN contact_id INTEGER REFERENCES contacts (id) ON DELETE SET NULL;

-- The process's kinds of work (more can be added in the config).
INSERT INTO task_categories (name, builtin) VALUES
    ('gin', 1),                     -- incident management (GIN)
    ('support-monitoring', 1),
    ('consulting-maintenance', 1),
    ('post-consulting', 1),
    ('conference', 1),
    ('documentation', 1),
    ('review', 1),
    ('meeting', 1),
    ('video-recording', 1),
    ('knowledge-base', 1),
    ('bug-identification', 1),
    ('request-delivery', 1),
    ('ati', 1),
    ('communicate-completion', 1),  -- rule 4: tell the client it is done
    ('call-back', 1);
