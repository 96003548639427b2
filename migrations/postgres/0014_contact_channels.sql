-- Contacts that no person typed and no call made: threads read from the
-- desk's mailbox ('mail') and conversations posted by a chat bridge
-- ('chat'). And the "which provider?" step of the process for contacts
-- from someone unknown: unidentified → identified as not a client, or as
-- a client (NULL for rows before this migration).
ALTER TABLE contacts DROP CONSTRAINT contacts_source_check;
ALTER TABLE contacts ADD CONSTRAINT contacts_source_check
    CHECK (source IN ('call', 'manual', 'callback', 'mail', 'chat'));
ALTER TABLE contacts ADD COLUMN identification TEXT
    CHECK (identification IN ('unidentified', 'identified', 'not_client', 'client'));
