-- A call-back the owner honoured by phone is closed by that call: the
-- Call-ID of the answered call between the owner and the client, so the
-- call-back list can say which conversation closed it (and a call-back
-- closed by hand has none).
ALTER TABLE callbacks ADD COLUMN closed_by_call TEXT;
