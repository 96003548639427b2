-- Protocols kept in step with the desk's system of record (its tickets).
--
-- An external protocol number IS protocall's protocol number
-- (protocols.number, already unique): the desk quotes one number to the
-- client, in e-mail and on the phone, so a second `external_ref` column
-- would only let the two drift apart. A protocol the system of record
-- opens first is created here under its number; one opened here keeps the
-- number protocall gave it, which the system of record may adopt.
--
-- source_updated_at: the system of record's own update time (Unix ms) of
-- the last change applied from it. An event or pulled record older than
-- it is acknowledged and ignored, which puts events that arrive out of
-- order back in the order they happened there. NULL: never synced.
ALTER TABLE protocols ADD COLUMN source_updated_at INTEGER;

-- Every event taken in, by the sender's event id, so the same event twice
-- changes nothing (a replay after the signature memory is gone, a retry
-- after a lost answer). outcome: applied | stale.
CREATE TABLE protocol_sync_events (
    event_id          TEXT PRIMARY KEY,
    number            TEXT NOT NULL,
    kind              TEXT NOT NULL,
    source_updated_at INTEGER NOT NULL,
    outcome           TEXT NOT NULL CHECK (outcome IN ('applied', 'stale')),
    source            TEXT NOT NULL,
    received_at       INTEGER NOT NULL
);
CREATE INDEX protocol_sync_events_number ON protocol_sync_events (number);

-- Events that named a provider or consultant protocall does not know (or
-- would leave rule 4 without anyone to tell the client): nothing of them
-- was applied; a person matches them (adds the provider, the consultant's
-- e-mail) and the next event or pull for the protocol applies. An event
-- applied for the same protocol with a later update time settles them.
CREATE TABLE protocol_sync_pending (
    id                INTEGER PRIMARY KEY,
    event_id          TEXT NOT NULL UNIQUE,
    number            TEXT NOT NULL,
    kind              TEXT NOT NULL,
    source_updated_at INTEGER NOT NULL,
    missing           TEXT NOT NULL,
    payload           TEXT NOT NULL,
    source            TEXT NOT NULL,
    received_at       INTEGER NOT NULL
);
CREATE INDEX protocol_sync_pending_number ON protocol_sync_pending (number);
