-- Phones may register over TLS (RFC 3261 §26): the transport column
-- accepts 'tls'.
ALTER TABLE registrations DROP CONSTRAINT registrations_transport_check;
ALTER TABLE registrations ADD CONSTRAINT registrations_transport_check
    CHECK (transport IN ('udp', 'tcp', 'tls'));
