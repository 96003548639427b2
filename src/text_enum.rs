//! Closed sets of words that rows store as text and the API shows as
//! strings (a status, a direction, a source): the one macro that gives
//! each set its enum, and the error for a word outside the set. The enums
//! themselves live with the concept they describe; the store converts its
//! text columns into them when it reads a row and writes `as_str()` back,
//! so a comparison with a misspelt literal cannot compile.

/// A word that is not one of its set's: read from a database edited by
/// hand, or sent by a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a {what} (one of {})", expected.join(", "))]
pub struct UnknownWord {
    /// What the set is, for people: "task status".
    pub what: &'static str,
    pub value: String,
    /// The set's words, in their declared order.
    pub expected: &'static [&'static str],
}

/// Declares a closed set of words as an enum with `ALL`, `NAMES`,
/// `as_str()`, `Display`, `FromStr` (with [`UnknownWord`]) and serde under
/// the same words, so the stored text, the JSON and the Rust name agree.
///
/// ```ignore
/// text_enum! {
///     /// What a task is doing.
///     pub enum TaskStatus as "task status" {
///         Planned = "planned",
///         Running = "running",
///     }
/// }
/// ```
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident as $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $word)] $variant, )+
        }

        impl $name {
            /// Every member, in declared order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The words, in the order of `ALL`.
            pub const NAMES: &'static [&'static str] = &[$($word),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::text_enum::UnknownWord;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok($name::$variant),)+
                    other => Err($crate::text_enum::UnknownWord {
                        what: $what,
                        value: other.to_string(),
                        expected: Self::NAMES,
                    }),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::text_enum! {
        /// Two words to exercise the macro.
        enum Sample as "sample" {
            One = "one",
            TwoWords = "two_words",
        }
    }

    #[test]
    fn every_word_round_trips_through_text_and_json() {
        for (s, name) in Sample::ALL.iter().zip(Sample::NAMES) {
            assert_eq!(s.as_str(), *name);
            assert_eq!(name.parse::<Sample>(), Ok(*s));
            assert_eq!(s.to_string(), *name);
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<Sample>(&json).unwrap(), *s);
        }
    }

    #[test]
    fn an_unknown_word_is_a_typed_error_listing_the_set() {
        let e = "One".parse::<Sample>().unwrap_err();
        assert_eq!(e.what, "sample");
        assert_eq!(e.value, "One");
        assert_eq!(
            e.to_string(),
            "`One` is not a sample (one of one, two_words)"
        );
        assert!(serde_json::from_str::<Sample>("\"three\"").is_err());
    }
}
