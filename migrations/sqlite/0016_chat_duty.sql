-- The chat channel and the duty roster (issue 14).
--
-- duty_slots: who is on chat or e-mail duty, per weekday (0 = Monday) and
-- a range of minutes of the desk's local day [start, end); a PUT of the
-- roster replaces them all. duty_exceptions: for one date (and range),
-- someone else is on duty, or nobody (consultant_id NULL).
CREATE TABLE duty_slots (
    id            INTEGER PRIMARY KEY,
    channel       TEXT NOT NULL CHECK (channel IN ('chat', 'email')),
    weekday       INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    start_minute  INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute    INTEGER NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
    consultant_id INTEGER NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    CHECK (end_minute > start_minute)
);
CREATE INDEX duty_slots_day ON duty_slots (channel, weekday);

CREATE TABLE duty_exceptions (
    id            INTEGER PRIMARY KEY,
    channel       TEXT NOT NULL CHECK (channel IN ('chat', 'email')),
    day           TEXT NOT NULL CHECK (length(day) = 10),
    start_minute  INTEGER NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute    INTEGER NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
    consultant_id INTEGER REFERENCES consultants (id) ON DELETE CASCADE,
    note          TEXT,
    created_at    INTEGER NOT NULL,
    CHECK (end_minute > start_minute)
);
CREATE INDEX duty_exceptions_day ON duty_exceptions (channel, day);

-- A provider user's handle on the desk's chat platform (lower case), the
-- key a chat bridge's events are matched by.
ALTER TABLE provider_users ADD COLUMN chat_handle TEXT;
CREATE UNIQUE INDEX provider_users_chat_handle ON provider_users (chat_handle);

-- One conversation a chat bridge reported, and the contact it became.
CREATE TABLE chat_conversations (
    id                    INTEGER PRIMARY KEY,
    external_id           TEXT NOT NULL UNIQUE,
    handle                TEXT NOT NULL,
    provider_id           INTEGER REFERENCES providers (id) ON DELETE SET NULL,
    provider_user_id      INTEGER REFERENCES provider_users (id) ON DELETE SET NULL,
    protocol_id           INTEGER REFERENCES protocols (id) ON DELETE SET NULL,
    owner_id              INTEGER REFERENCES consultants (id) ON DELETE SET NULL,
    consultant_id         INTEGER REFERENCES consultants (id) ON DELETE SET NULL,
    routed_to             TEXT NOT NULL CHECK (routed_to IN ('owner', 'duty', 'nobody')),
    contact_id            INTEGER REFERENCES contacts (id) ON DELETE SET NULL,
    started_at            INTEGER NOT NULL,
    first_reply_at        INTEGER,
    ended_at              INTEGER,
    alerted_at            INTEGER,
    conference_contact_id INTEGER REFERENCES contacts (id) ON DELETE SET NULL,
    created_at            INTEGER NOT NULL
);
CREATE INDEX chat_conversations_waiting ON chat_conversations (ended_at, first_reply_at, alerted_at);
CREATE INDEX chat_conversations_consultant ON chat_conversations (consultant_id);

-- Every event applied, so the same event posted twice changes nothing.
CREATE TABLE chat_events (
    conversation_id TEXT NOT NULL,
    event           TEXT NOT NULL CHECK (event IN ('started', 'message', 'ended')),
    at              INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, event, at)
);
