//! A task's status and where it came from.

crate::text_enum! {
    /// Where a task is in its life. The store's CHECK keeps the column to
    /// these words, and holds a start without an end for `Running` only.
    #[derive(Default)]
    pub enum TaskStatus as "task status" {
        #[default]
        Planned = "planned",
        Running = "running",
        Done = "done",
        Cancelled = "cancelled",
    }
}

crate::text_enum! {
    /// Who made a task: a person, the week's schedule, or a rule of the
    /// process (rule 4's follow-up).
    #[derive(Default)]
    pub enum TaskSource as "task source" {
        #[default]
        Manual = "manual",
        Schedule = "schedule",
        Rule = "rule",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text_enum::UnknownWord;

    fn round_trip<T>(all: &[T], names: &[&str])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::str::FromStr<Err = UnknownWord>,
        T: serde::Serialize + serde::de::DeserializeOwned + std::fmt::Display,
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
    fn task_words_round_trip_and_match_the_stored_text() {
        assert_eq!(
            TaskStatus::NAMES,
            ["planned", "running", "done", "cancelled"]
        );
        assert_eq!(TaskSource::NAMES, ["manual", "schedule", "rule"]);
        round_trip(TaskStatus::ALL, TaskStatus::NAMES);
        round_trip(TaskSource::ALL, TaskSource::NAMES);
    }

    #[test]
    fn an_unknown_task_word_is_refused_by_name() {
        let e = "Running".parse::<TaskStatus>().unwrap_err();
        assert_eq!((e.what, e.value.as_str()), ("task status", "Running"));
        let e = "import".parse::<TaskSource>().unwrap_err();
        assert_eq!((e.what, e.value.as_str()), ("task source", "import"));
    }
}
