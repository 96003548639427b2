-- Calls are keyed by their dialog, not by the Call-ID alone: the Call-ID
-- plus the caller's From tag, as the proxy reports dialogs. Anyone can
-- send an INVITE reusing a logged call's Call-ID; with another From tag it
-- is another call and must get its own row, not overwrite the first.
-- Rows logged before this migration keep their place with an empty tag.

ALTER TABLE calls ADD COLUMN from_tag TEXT NOT NULL DEFAULT '';
ALTER TABLE calls DROP CONSTRAINT calls_call_id_key;
CREATE UNIQUE INDEX calls_dialog ON calls (call_id, from_tag);

-- With call_id, the call (dialog) that owes the call-back.
ALTER TABLE callbacks ADD COLUMN from_tag TEXT NOT NULL DEFAULT '';
ALTER TABLE callbacks DROP CONSTRAINT callbacks_call_id_key;
CREATE UNIQUE INDEX callbacks_dialog ON callbacks (call_id, from_tag);

-- The From tag of the call that made the contact ('' otherwise): one
-- contact per call dialog.
ALTER TABLE contacts ADD COLUMN call_from_tag TEXT NOT NULL DEFAULT '';
ALTER TABLE contacts DROP CONSTRAINT contacts_call_id_key;
CREATE UNIQUE INDEX contacts_call_dialog ON contacts (call_id, call_from_tag);
