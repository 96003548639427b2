-- Console sign-in sessions. The browser holds the session id (256 random
-- bits) in a cookie; the table keeps only its SHA-256, so a copy of the
-- database signs nobody in. The CSRF token is stored as is: it is checked
-- beside the cookie and opens nothing alone.
CREATE TABLE console_sessions (
    id            INTEGER PRIMARY KEY,
    id_sha256     TEXT NOT NULL UNIQUE,
    consultant_id INTEGER NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    csrf_token    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
CREATE INDEX console_sessions_consultant ON console_sessions (consultant_id);
