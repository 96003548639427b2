-- Consultant presence set by the consultant (or a manager): routing skips
-- consultants who are not available. "In a call" is derived, not stored.
ALTER TABLE consultants ADD COLUMN presence TEXT NOT NULL DEFAULT 'available'
    CHECK (presence IN ('available', 'dnd', 'away'));
