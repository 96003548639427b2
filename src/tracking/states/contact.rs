//! A contact's kind, channel, direction, status and source.

crate::text_enum! {
    /// Whether the contact came to the desk (a call, a mail) or was
    /// planned (a call-back, a meeting).
    #[derive(Default)]
    pub enum ContactKind as "contact kind" {
        #[default]
        Triggered = "triggered",
        Scheduled = "scheduled",
    }
}

crate::text_enum! {
    /// How the desk and the client met.
    #[derive(Default)]
    pub enum ContactChannel as "contact channel" {
        #[default]
        Phone = "phone",
        Chat = "chat",
        Email = "email",
        Meeting = "meeting",
        Other = "other",
    }
}

crate::text_enum! {
    /// Who started a contact: the client (inbound) or the desk (outbound).
    /// Calls also know `internal`; that one is the call log's.
    pub enum ContactDirection as "contact direction" {
        Inbound = "inbound",
        Outbound = "outbound",
    }
}

crate::text_enum! {
    /// Where a contact is in its life.
    #[derive(Default)]
    pub enum ContactStatus as "contact status" {
        #[default]
        Scheduled = "scheduled",
        Open = "open",
        Done = "done",
        Missed = "missed",
        Abandoned = "abandoned",
        Cancelled = "cancelled",
    }
}

crate::text_enum! {
    /// What made a contact: a call, a person, a call-back owed, the mail
    /// intake or the chat bridge.
    #[derive(Default)]
    pub enum ContactSource as "contact source" {
        Call = "call",
        #[default]
        Manual = "manual",
        Callback = "callback",
        Mail = "mail",
        Chat = "chat",
    }
}

impl ContactSource {
    /// Contacts the desk's channels made on their own: their times are the
    /// channel's record, not a person's timer.
    pub fn is_automatic(self) -> bool {
        matches!(
            self,
            ContactSource::Call | ContactSource::Mail | ContactSource::Chat
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(all: &[T], names: &[&str])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::str::FromStr + std::fmt::Display,
        <T as std::str::FromStr>::Err: std::fmt::Debug,
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        assert_eq!(all.len(), names.len());
        for (v, name) in all.iter().zip(names) {
            assert_eq!(v.to_string(), *name);
            assert_eq!(name.parse::<T>().unwrap(), *v);
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(name));
            assert_eq!(
                serde_json::from_value::<T>(serde_json::json!(name)).unwrap(),
                *v
            );
        }
    }

    #[test]
    fn contact_words_round_trip_and_match_the_stored_text() {
        assert_eq!(ContactKind::NAMES, ["triggered", "scheduled"]);
        assert_eq!(
            ContactChannel::NAMES,
            ["phone", "chat", "email", "meeting", "other"]
        );
        assert_eq!(ContactDirection::NAMES, ["inbound", "outbound"]);
        assert_eq!(
            ContactStatus::NAMES,
            [
                "scheduled",
                "open",
                "done",
                "missed",
                "abandoned",
                "cancelled"
            ]
        );
        assert_eq!(
            ContactSource::NAMES,
            ["call", "manual", "callback", "mail", "chat"]
        );
        round_trip(ContactKind::ALL, ContactKind::NAMES);
        round_trip(ContactChannel::ALL, ContactChannel::NAMES);
        round_trip(ContactDirection::ALL, ContactDirection::NAMES);
        round_trip(ContactStatus::ALL, ContactStatus::NAMES);
        round_trip(ContactSource::ALL, ContactSource::NAMES);
    }

    #[test]
    fn an_unknown_contact_word_is_refused_by_name() {
        for (what, e) in [
            ("contact kind", "adhoc".parse::<ContactKind>().unwrap_err()),
            (
                "contact channel",
                "fax".parse::<ContactChannel>().unwrap_err(),
            ),
            (
                "contact direction",
                "internal".parse::<ContactDirection>().unwrap_err(),
            ),
            (
                "contact status",
                "Open".parse::<ContactStatus>().unwrap_err(),
            ),
            (
                "contact source",
                "phone".parse::<ContactSource>().unwrap_err(),
            ),
        ] {
            assert_eq!(e.what, what);
            assert!(e.to_string().contains(what), "{e}");
        }
    }

    #[test]
    fn calls_mail_and_chat_are_the_automatic_sources() {
        let automatic: Vec<_> = ContactSource::ALL
            .iter()
            .filter(|s| s.is_automatic())
            .map(|s| s.as_str())
            .collect();
        assert_eq!(automatic, ["call", "mail", "chat"]);
    }
}
