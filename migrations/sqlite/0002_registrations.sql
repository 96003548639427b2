-- Registrar bindings, written behind the in-memory location table so a
-- restart keeps consultants reachable. Times are UTC milliseconds.
CREATE TABLE registrations (
    aor           TEXT NOT NULL,
    contact       TEXT NOT NULL,
    q             INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    registered_at INTEGER NOT NULL,
    source        TEXT NOT NULL,
    transport     TEXT NOT NULL CHECK (transport IN ('udp', 'tcp')),
    call_id       TEXT NOT NULL,
    cseq          INTEGER NOT NULL,
    user_agent    TEXT,
    PRIMARY KEY (aor, contact)
);
CREATE INDEX registrations_expires ON registrations (expires_at);
