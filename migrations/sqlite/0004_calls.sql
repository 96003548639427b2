-- The call log: one row per call routing decided, written when the call is
-- answered and again when it ends (or when it fails). What was tried and
-- why is kept as JSON in `detail` (steps, consultants skipped, every
-- branch with its result and times), served by GET /api/calls/{id}.
-- Provider, protocol and consultant ids are not foreign keys: the log keeps
-- what happened even after the directory changes.

CREATE TABLE calls (
    id               INTEGER PRIMARY KEY,
    call_id          TEXT NOT NULL UNIQUE,
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
    detail           TEXT NOT NULL
);
CREATE INDEX calls_started ON calls (started_at);
CREATE INDEX calls_provider ON calls (provider_id, started_at);
CREATE INDEX calls_consultant ON calls (consultant_id, started_at);

-- Call-backs owed by a protocol owner who missed a consulting client's call.
CREATE TABLE callbacks (
    id            INTEGER PRIMARY KEY,
    call_id       TEXT NOT NULL UNIQUE,
    consultant_id INTEGER NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    provider_id   INTEGER,
    protocol_id   INTEGER,
    caller_number TEXT,
    reason        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'cancelled')),
    created_at    INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    closed_at     INTEGER
);
CREATE INDEX callbacks_consultant ON callbacks (consultant_id, status, due_at);
