//! A call-back's status.

crate::text_enum! {
    /// Whether a call-back is still owed.
    #[derive(Default)]
    pub enum CallbackStatus as "call-back status" {
        #[default]
        Pending = "pending",
        Done = "done",
        Cancelled = "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_statuses_round_trip_and_match_the_stored_text() {
        assert_eq!(CallbackStatus::NAMES, ["pending", "done", "cancelled"]);
        for (s, name) in CallbackStatus::ALL.iter().zip(CallbackStatus::NAMES) {
            assert_eq!(s.as_str(), *name);
            assert_eq!(name.parse::<CallbackStatus>().unwrap(), *s);
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(name));
        }
        let e = "open".parse::<CallbackStatus>().unwrap_err();
        assert_eq!((e.what, e.value.as_str()), ("call-back status", "open"));
    }
}
