-- Roles and scoped tokens.
--
-- One person, one SIP login, one role: the role sits on the consultant
-- record (managers and admins are consultants of the desk too).
ALTER TABLE consultants ADD COLUMN role TEXT NOT NULL DEFAULT 'consultant'
    CHECK (role IN ('consultant', 'manager', 'admin'));

-- Tokens get a kind (api: the Authorization header; feed: one
-- consultant's calendar feed, read-only, in a URL), a role, an optional
-- owner, an optional expiry and a revocation time. Revoked tokens are kept
-- for the listing, so a name is unique among live tokens only; SQLite
-- cannot drop a column's UNIQUE, so the table is rebuilt (nothing refers
-- to it). Tokens made before roles existed were all-powerful: they stay
-- admin tokens without an owner.
CREATE TABLE api_tokens_new (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL CHECK (length(trim(name)) > 0),
    token_sha256  TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'feed')),
    role          TEXT NOT NULL DEFAULT 'admin' CHECK (role IN ('consultant', 'manager', 'admin')),
    consultant_id INTEGER REFERENCES consultants (id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    revoked_at    INTEGER,
    -- Only admin tokens may be ownerless (automation); a consultant's or
    -- manager's rights are a person's, and a feed is someone's calendar.
    CHECK (consultant_id IS NOT NULL OR (kind = 'api' AND role = 'admin'))
);
INSERT INTO api_tokens_new (id, name, token_sha256, kind, role, consultant_id, created_at)
SELECT id, name, token_sha256, 'api', 'admin', NULL, created_at FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;
CREATE INDEX api_tokens_consultant ON api_tokens (consultant_id, kind);
