-- Phones may register over TLS (RFC 3261 §26): the transport column
-- accepts 'tls'. SQLite changes a CHECK only by rebuilding the table.
CREATE TABLE registrations_new (
    aor           TEXT NOT NULL,
    contact       TEXT NOT NULL,
    q             INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    registered_at INTEGER NOT NULL,
    source        TEXT NOT NULL,
    transport     TEXT NOT NULL CHECK (transport IN ('udp', 'tcp', 'tls')),
    call_id       TEXT NOT NULL,
    cseq          INTEGER NOT NULL,
    user_agent    TEXT,
    PRIMARY KEY (aor, contact)
);
INSERT INTO registrations_new
    SELECT aor, contact, q, expires_at, registered_at, source, transport,
           call_id, cseq, user_agent
    FROM registrations;
DROP TABLE registrations;
ALTER TABLE registrations_new RENAME TO registrations;
CREATE INDEX registrations_expires ON registrations (expires_at);
