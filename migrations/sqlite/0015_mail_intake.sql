-- The desk's mailbox as protocall reads it (`crate::intake`).
--
-- mail_threads: one per conversation that came into the inbox; its
-- contact is the triggered e-mail contact, its first reply (read from the
-- Sent folder) closes the contact's waiting time. `identification` is the
-- "which provider?" step: 'unidentified' threads are the unmatched list.
-- `flag_reasons` is the union, comma-separated, of what the thread's
-- replies lacked (no_team_copy, no_protocol_number).
CREATE TABLE mail_threads (
    id               INTEGER PRIMARY KEY,
    root_message_id  TEXT NOT NULL UNIQUE,
    subject          TEXT NOT NULL,
    -- The subject with Re:/RES:/Fwd: stripped and lower-cased: a message
    -- without In-Reply-To from the same sender with the same key joins.
    subject_key      TEXT NOT NULL,
    sender           TEXT NOT NULL,
    provider_id      INTEGER REFERENCES providers (id) ON DELETE SET NULL,
    provider_user_id INTEGER REFERENCES provider_users (id) ON DELETE SET NULL,
    protocol_id      INTEGER REFERENCES protocols (id) ON DELETE SET NULL,
    contact_id       INTEGER REFERENCES contacts (id) ON DELETE SET NULL,
    identification   TEXT NOT NULL CHECK (identification IN ('unidentified', 'identified', 'not_client', 'client')),
    received_at      INTEGER NOT NULL,
    first_reply_at   INTEGER,
    flag_reasons     TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX mail_threads_sender_subject ON mail_threads (sender, subject_key);
CREATE INDEX mail_threads_identification ON mail_threads (identification, received_at);

-- Every message read, once per folder: a re-read folder (new UIDVALIDITY)
-- is deduplicated by Message-ID (a hash of the raw message when it has
-- none). Flagged replies carry their reasons and the time they were sent,
-- for the weekly count.
CREATE TABLE mail_messages (
    id           INTEGER PRIMARY KEY,
    folder       TEXT NOT NULL,
    uid_validity BIGINT NOT NULL,
    uid          BIGINT NOT NULL,
    message_id   TEXT NOT NULL,
    thread_id    INTEGER REFERENCES mail_threads (id) ON DELETE SET NULL,
    result       TEXT NOT NULL CHECK (result IN ('imported', 'joined', 'reply', 'outgoing', 'unparseable')),
    sent_at      INTEGER,
    flag_reasons TEXT,
    seen_at      INTEGER NOT NULL,
    UNIQUE (folder, message_id)
);
CREATE INDEX mail_messages_message_id ON mail_messages (message_id);
CREATE INDEX mail_messages_flagged ON mail_messages (flag_reasons, sent_at);

-- The high-water mark per folder: written in the transaction of the rows
-- made from the messages it covers, so a crash can neither import twice
-- nor skip.
CREATE TABLE mail_folders (
    folder       TEXT PRIMARY KEY,
    uid_validity BIGINT NOT NULL,
    last_uid     BIGINT NOT NULL,
    synced_at    INTEGER NOT NULL
);
