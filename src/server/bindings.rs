//! Bindings to rows and back: the location table's write-behind copy in
//! the store, and the rows read back at start-up and from other instances.

use crate::sip::location::{Binding, LocationChange};
use crate::sip::transport::Proto;
use crate::store::{RegistrationRow, Store};

pub(super) fn binding_row(b: &Binding) -> RegistrationRow {
    RegistrationRow {
        aor: b.aor.clone(),
        contact: b.contact.clone(),
        q: i64::from(b.q),
        expires_at_ms: b.expires_at_ms,
        registered_at_ms: b.registered_at_ms,
        source: b.source.to_string(),
        transport: match b.proto {
            Proto::Udp => "udp".into(),
            Proto::Tcp => "tcp".into(),
            Proto::Tls => "tls".into(),
        },
        call_id: b.call_id.clone(),
        cseq: i64::from(b.cseq),
        user_agent: b.user_agent.clone(),
    }
}

pub(crate) fn row_binding(r: RegistrationRow) -> Option<Binding> {
    Some(Binding {
        aor: r.aor,
        contact: r.contact,
        q: u16::try_from(r.q).ok()?,
        expires_at_ms: r.expires_at_ms,
        registered_at_ms: r.registered_at_ms,
        source: r.source.parse().ok()?,
        proto: match r.transport.as_str() {
            "tcp" => Proto::Tcp,
            "tls" => Proto::Tls,
            _ => Proto::Udp,
        },
        // A connection does not survive a restart; the phone's next
        // REGISTER brings a new one (until then a TLS binding is not
        // reachable: we open no TLS connections).
        conn: None,
        call_id: r.call_id,
        cseq: u32::try_from(r.cseq).ok()?,
        user_agent: r.user_agent,
    })
}

pub(super) async fn persist(store: &Store, change: LocationChange) {
    let result = match &change {
        LocationChange::Upsert(b) => store.upsert_registration(&binding_row(b)).await,
        // The row expires by the clock for every reader, and is swept
        // later; writing the removal could erase a refresh another
        // instance stored a moment ago.
        LocationChange::Remove { expired: true, .. } => Ok(()),
        LocationChange::Remove { aor, contact, .. } => {
            store.delete_registration(aor, contact).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "binding change not persisted");
    }
}
