-- Protocols can be reopened. Each reopen undoes a close: the protocol is
-- open again (closed_at NULL) and this table keeps when, by whom, and the
-- close it undid, so the weekly report can say how many protocols were
-- reopened in a week and rule 4 can tell this round of an attendance from
-- the one before.
CREATE TABLE protocol_reopens (
    id          INTEGER PRIMARY KEY,
    protocol_id INTEGER NOT NULL REFERENCES protocols (id) ON DELETE CASCADE,
    reopened_at INTEGER NOT NULL,
    -- The closed_at the reopen cleared.
    closed_at   INTEGER NOT NULL,
    actor       TEXT NOT NULL
);
CREATE INDEX protocol_reopens_at ON protocol_reopens (reopened_at);
CREATE INDEX protocol_reopens_protocol ON protocol_reopens (protocol_id, reopened_at);

-- A protocol opened without a category is a support attendance (the
-- desk's default; see docs/api.md). Until now rule 4 applied to every
-- protocol, so the uncategorised ones are filed as support to keep it
-- applying to them when they close.
UPDATE protocols SET category = 'support' WHERE trim(category) = '';
