//! Helpers for the JSON bodies the API reads.
//!
//! The OpenAPI description types an optional field as "may be absent", not
//! "may be null": `{"accuracy_m": null}` is a malformed body, and the API
//! answers it with 422 like any other. serde's `Option<T>` accepts both, so
//! such fields read through [`present`].

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

/// Reads an optional field that, when present, must hold a `T`: use with
/// `#[serde(default, deserialize_with = "crate::body::present")]`. An absent
/// field is `None` (through `default`); an explicit `null` is refused.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<T>::deserialize(d)? {
        Some(value) => Ok(Some(value)),
        None => Err(D::Error::custom(NULL_REFUSED)),
    }
}

/// What a client hears for an explicit `null`.
const NULL_REFUSED: &str = "null is not a value here: leave the field out instead";

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Body {
        #[serde(default, deserialize_with = "super::present")]
        n: Option<f64>,
    }

    fn check(json: &str, expect: Option<Option<f64>>) {
        let got = serde_json::from_str::<Body>(json).ok().map(|b| b.n);
        assert_eq!(got, expect, "{json}");
    }

    #[test]
    fn absent_is_none_a_value_is_some_and_null_is_refused() {
        check("{}", Some(None));
        check(r#"{"n": 2.5}"#, Some(Some(2.5)));
        check(r#"{"n": null}"#, None);
        let e = serde_json::from_str::<Body>(r#"{"n": null}"#).unwrap_err();
        assert!(e.is_data(), "a data error (422), not a syntax error (400)");
        assert!(e.to_string().contains("leave the field out"), "{e}");
        check(r#"{"n": "x"}"#, None);
    }
}
