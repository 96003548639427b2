-- Directory of the consulting desk: providers, their numbers and people,
-- consultants, protocols and admin API tokens.
-- Timestamps are INTEGER milliseconds since the Unix epoch, UTC: exact to the
-- millisecond and identical on SQLite and PostgreSQL.
-- Contract dates are ISO 8601 calendar dates (YYYY-MM-DD) in the desk's zone.
-- Flags are INTEGER 0/1 here (BOOLEAN on PostgreSQL): sqlx's Any driver cannot
-- decode a column SQLite declares BOOLEAN.

CREATE TABLE providers (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL CHECK (length(trim(name)) > 0),
    tax_id               TEXT UNIQUE,
    consulting           INTEGER NOT NULL DEFAULT 0 CHECK (consulting IN (0, 1)),
    contract_valid_from  TEXT CHECK (contract_valid_from IS NULL OR length(contract_valid_from) = 10),
    contract_valid_until TEXT CHECK (contract_valid_until IS NULL OR length(contract_valid_until) = 10),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    CHECK (contract_valid_from IS NULL OR contract_valid_until IS NULL
           OR contract_valid_from <= contract_valid_until)
);
CREATE INDEX providers_name ON providers (name);

CREATE TABLE provider_users (
    id          INTEGER PRIMARY KEY,
    provider_id INTEGER NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    name        TEXT NOT NULL CHECK (length(trim(name)) > 0),
    email       TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (provider_id, name)
);

CREATE TABLE provider_numbers (
    id          INTEGER PRIMARY KEY,
    provider_id INTEGER NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    user_id     INTEGER REFERENCES provider_users (id) ON DELETE CASCADE,
    e164        TEXT NOT NULL UNIQUE CHECK (e164 LIKE '+%'),
    label       TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX provider_numbers_provider ON provider_numbers (provider_id);
CREATE INDEX provider_numbers_user ON provider_numbers (user_id);

CREATE TABLE consultants (
    id                    INTEGER PRIMARY KEY,
    name                  TEXT NOT NULL CHECK (length(trim(name)) > 0),
    sip_username          TEXT NOT NULL UNIQUE,
    ha1_md5               TEXT NOT NULL CHECK (length(ha1_md5) = 32),
    ha1_sha256            TEXT NOT NULL CHECK (length(ha1_sha256) = 64),
    email                 TEXT,
    weekly_capacity_hours DOUBLE PRECISION NOT NULL DEFAULT 40 CHECK (weekly_capacity_hours >= 0),
    active                INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);

CREATE TABLE protocols (
    id          INTEGER PRIMARY KEY,
    number      TEXT NOT NULL UNIQUE,
    provider_id INTEGER NOT NULL REFERENCES providers (id) ON DELETE RESTRICT,
    owner_id    INTEGER REFERENCES consultants (id) ON DELETE SET NULL,
    category    TEXT NOT NULL DEFAULT '',
    subject     TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    opened_at   INTEGER NOT NULL,
    due_at      INTEGER,
    closed_at   INTEGER,
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX protocols_owner_status ON protocols (owner_id, status);
CREATE INDEX protocols_provider_status ON protocols (provider_id, status);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL
);
