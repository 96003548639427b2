//! Reading request input (a JSON body, a query, a path id) the way the
//! OpenAPI document describes it.
//!
//! The document is JSON Schema (2020-12), and two of its readings differ
//! from serde's defaults: an integer is a number with no fractional part,
//! so `2.0` is the integer 2 (serde refuses a float where it wants an
//! `i64`), in a body as in a query or a path; and an object is an object,
//! while serde fills a struct from a JSON array by position (`[null, null]`
//! would pass for a patch). `Strict` sits between a parsed body and the
//! handler's type, `Text` between a query or path value and it, and both
//! read as the schema does, so a client generated from the document and
//! the handler agree on what a request may be.

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess};
use serde::forward_to_deserialize_any;
use serde_json::{Map, Value};

/// A parsed body, read with the schema's rules (see the module doc).
pub struct Strict(pub Value);

type Error = serde_json::Error;

/// The value of `n` as an integer when JSON Schema calls it one: any
/// number with no fractional part that fits in 64 bits.
fn whole(n: &serde_json::Number) -> Option<Whole> {
    if let Some(i) = n.as_i64() {
        return Some(Whole::Signed(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(Whole::Unsigned(u));
    }
    whole_float(n.as_f64()?).map(Whole::Signed)
}

/// Past 2^53 a float no longer spells one integer (an out-of-range
/// `-9223372036854775809` reads as -2^63), so only floats up to it are
/// taken for integers.
fn whole_float(f: f64) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if f.fract() == 0.0 && (-EXACT..=EXACT).contains(&f) {
        #[allow(clippy::cast_possible_truncation)]
        return Some(f as i64);
    }
    None
}

/// An integer written in a query or a path: digits, or a number with no
/// fractional part (`34359738367.0`, `1e3`) as JSON Schema reads one.
pub fn integer(s: &str) -> Option<i64> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(i);
    }
    // Only the spellings of a JSON number: Rust's float parser also takes
    // `inf`, `NaN` and a leading `+`.
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || b"-.eE+".contains(&b))
        || s.starts_with('+')
    {
        return None;
    }
    whole_float(s.parse::<f64>().ok()?)
}

enum Whole {
    Signed(i64),
    Unsigned(u64),
}

impl Strict {
    /// Hands a number with no fractional part to an integer visitor as an
    /// integer; anything else goes the ordinary way (and is refused there
    /// with serde's message).
    fn integer<'de, V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match &self.0 {
            Value::Number(n) => match whole(n) {
                Some(Whole::Signed(i)) => visitor.visit_i64(i),
                Some(Whole::Unsigned(u)) => visitor.visit_u64(u),
                None => self.0.deserialize_any(visitor),
            },
            _ => self.deserialize_any(visitor),
        }
    }
}

impl<'de> Deserializer<'de> for Strict {
    type Error = Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Items(items.into_iter())),
            Value::Object(fields) => visitor.visit_map(Fields::new(fields)),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(Strict(other)),
        }
    }

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(map) => visitor.visit_map(Fields::new(map)),
            Value::Array(_) => Err(de::Error::invalid_type(de::Unexpected::Seq, &visitor)),
            other => other.deserialize_struct(name, fields, visitor),
        }
    }

    fn deserialize_newtype_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        // The API's enums are plain strings; their payloads hold no
        // integers or structs this reader would need to see.
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn deserialize_i8<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }
    fn deserialize_i16<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }
    fn deserialize_i32<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }
    fn deserialize_i64<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }
    fn deserialize_u8<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }
    fn deserialize_u16<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }
    fn deserialize_u32<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }
    fn deserialize_u64<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.integer(visitor)
    }

    forward_to_deserialize_any! {
        bool i128 u128 f32 f64 char str string bytes byte_buf unit unit_struct
        seq tuple tuple_struct map identifier ignored_any
    }
}

/// An array's items, each read strictly.
struct Items(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Items {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Strict(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

/// An object's members, each value read strictly.
struct Fields {
    iter: serde_json::map::IntoIter,
    value: Option<Value>,
}

impl Fields {
    fn new(map: Map<String, Value>) -> Fields {
        Fields {
            iter: map.into_iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for Fields {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(Strict(v)),
            None => Err(de::Error::custom("a value was asked for before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        n: i64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        id: i64,
        #[serde(default)]
        maybe: Option<i64>,
        #[serde(default)]
        hours: Option<f64>,
        #[serde(default)]
        items: Vec<Inner>,
    }

    fn read<T: for<'de> Deserialize<'de>>(v: Value) -> Result<T, Error> {
        T::deserialize(Strict(v))
    }

    #[test]
    fn whole_floats_are_integers() {
        let b: Body = read(
            serde_json::json!({"id": 101.0, "maybe": -3.0, "hours": 2.0, "items": [{"n": 1e3}]}),
        )
        .unwrap();
        assert_eq!(b.id, 101);
        assert_eq!(b.maybe, Some(-3));
        assert_eq!(b.hours, Some(2.0));
        assert_eq!(b.items, vec![Inner { n: 1000 }]);
    }

    #[test]
    fn fractions_and_out_of_range_numbers_are_not() {
        assert!(read::<Body>(serde_json::json!({"id": 1.5})).is_err());
        assert!(read::<Body>(serde_json::json!({"id": 1e19})).is_err());
        assert!(read::<Body>(serde_json::json!({"id": 9223372036854775808u64})).is_err());
        // -2^63 as a float: exact, but past 2^53 a float spells no one
        // integer, so it is refused like any other.
        assert!(read::<Body>(serde_json::json!({"id": -9.223_372_036_854_776e18})).is_err());
        let b: Body = read(serde_json::json!({"id": i64::MIN})).unwrap();
        assert_eq!(b.id, i64::MIN);
    }

    #[test]
    fn arrays_never_fill_a_struct() {
        assert!(read::<Body>(serde_json::json!([1, null, null, []])).is_err());
        assert!(read::<Body>(serde_json::json!({"id": 1, "items": [[1]]})).is_err());
        assert!(read::<Body>(serde_json::json!({"id": 1, "extra": 1})).is_err());
    }
}

/// One value of a query string, read as the document types it.
pub struct Text(pub String);

impl<'de> IntoDeserializer<'de, de::value::Error> for Text {
    type Deserializer = Text;

    fn into_deserializer(self) -> Text {
        self
    }
}

impl Text {
    fn integer<'de, V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, de::value::Error> {
        match integer(&self.0) {
            Some(i) => visitor.visit_i64(i),
            None => Err(de::Error::invalid_value(
                de::Unexpected::Str(&self.0),
                &"an integer",
            )),
        }
    }
}

impl<'de> Deserializer<'de> for Text {
    type Error = de::value::Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_string(self.0)
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_bool<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0.as_str() {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            other => Err(de::Error::invalid_value(
                de::Unexpected::Str(other),
                &"true or false",
            )),
        }
    }

    fn deserialize_f64<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0.parse::<f64>() {
            Ok(f) if f.is_finite() && !self.0.starts_with('+') => visitor.visit_f64(f),
            _ => Err(de::Error::invalid_value(
                de::Unexpected::Str(&self.0),
                &"a number",
            )),
        }
    }

    fn deserialize_f32<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_enum(self.0.into_deserializer())
    }

    fn deserialize_newtype_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_i8<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.integer(visitor)
    }
    fn deserialize_i16<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.integer(visitor)
    }
    fn deserialize_i32<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.integer(visitor)
    }
    fn deserialize_i64<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.integer(visitor)
    }
    fn deserialize_u8<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.integer(visitor)
    }
    fn deserialize_u16<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.integer(visitor)
    }
    fn deserialize_u32<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.integer(visitor)
    }
    fn deserialize_u64<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.integer(visitor)
    }

    forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct
        seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// Reads a query string into `T`, each value as the document types it.
pub fn query<T: de::DeserializeOwned>(raw: &str) -> Result<T, String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(raw).map_err(|e| e.to_string())?;
    let map = de::value::MapDeserializer::new(pairs.into_iter().map(|(k, v)| (k, Text(v))));
    serde_path_to_error::deserialize(map).map_err(|e| e.to_string())
}

#[cfg(test)]
mod text_tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Q {
        id: Option<i64>,
        on: Option<bool>,
        name: Option<String>,
    }

    #[test]
    fn integers_in_any_json_spelling() {
        assert_eq!(integer("42"), Some(42));
        assert_eq!(integer("34359738367.0"), Some(34_359_738_367));
        assert_eq!(integer("1e3"), Some(1000));
        assert_eq!(integer("+1"), Some(1), "as Rust's integer parser reads it");
        for bad in ["1.5", "inf", "NaN", "+1.0", "", "0x10", "1e300"] {
            assert_eq!(integer(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_query_reads_like_its_schema() {
        let q: Q = query("id=7.0&on=true&name=1.0").unwrap();
        assert_eq!(
            q,
            Q {
                id: Some(7),
                on: Some(true),
                name: Some("1.0".into())
            }
        );
        assert!(query::<Q>("id=7.5").is_err());
        assert!(query::<Q>("on=yes").is_err());
        assert!(query::<Q>("other=1").is_err());
        assert_eq!(
            query::<Q>("").unwrap(),
            Q {
                id: None,
                on: None,
                name: None
            }
        );
    }
}
