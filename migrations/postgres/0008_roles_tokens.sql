-- Roles and scoped tokens.
--
-- One person, one SIP login, one role: the role sits on the consultant
-- record (managers and admins are consultants of the desk too).
ALTER TABLE consultants ADD COLUMN role TEXT NOT NULL DEFAULT 'consultant'
    CHECK (role IN ('consultant', 'manager', 'admin'));

-- Tokens get a kind (api: the Authorization header; feed: one
-- consultant's calendar feed, read-only, in a URL), a role, an optional
-- owner, an optional expiry and a revocation time. Revoked tokens are kept
-- for the listing, so a name is unique among live tokens only. Tokens made
-- before roles existed were all-powerful: they stay admin tokens without
-- an owner.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_name_key;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_name_check CHECK (length(trim(name)) > 0);
ALTER TABLE api_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'feed'));
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'admin'
    CHECK (role IN ('consultant', 'manager', 'admin'));
ALTER TABLE api_tokens ADD COLUMN consultant_id BIGINT REFERENCES consultants (id) ON DELETE CASCADE;
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN revoked_at BIGINT;
-- Only admin tokens may be ownerless (automation); a consultant's or
-- manager's rights are a person's, and a feed is someone's calendar.
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_owner_check
    CHECK (consultant_id IS NOT NULL OR (kind = 'api' AND role = 'admin'));
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;
CREATE INDEX api_tokens_consultant ON api_tokens (consultant_id, kind);
