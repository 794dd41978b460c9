//! Token numbers (EMV Payment Tokenisation §2.1: a token has the shape of a
//! PAN, ISO/IEC 7812-1): a token BIN prefix from the issuer's token range,
//! random digits, and the Luhn check digit (ISO/IEC 7812-1 annex B).
//!
//! Uniqueness and "never equal to a PAN" are enforced by the caller
//! ([`crate::Tsp`]) against the vault's keyed fingerprints; this module only
//! makes well-formed candidates.

use paytap_types::{Pan, luhn_check_digit};
use rand::RngExt;

/// A token BIN range: every token number starts with `prefix` and has `length` digits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenRange {
    /// Issuer that owns the range (the issuer processor's bank id).
    pub issuer_id: String,
    /// Leading digits, 6 to 11 of them.
    pub prefix: String,
    /// Token length, 13 to 19 (16 by default).
    #[serde(default = "default_len")]
    pub length: usize,
}

fn default_len() -> usize {
    16
}

/// Why a token range is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("token range prefix must be 6 to 11 digits")]
    Prefix,
    #[error("token length must be 13 to 19 and leave at least 4 random digits")]
    Length,
}

impl TokenRange {
    pub fn new(issuer_id: &str, prefix: &str, length: usize) -> Result<TokenRange, RangeError> {
        let r = TokenRange {
            issuer_id: issuer_id.to_owned(),
            prefix: prefix.to_owned(),
            length,
        };
        r.validate()?;
        Ok(r)
    }

    pub fn validate(&self) -> Result<(), RangeError> {
        if !(6..=11).contains(&self.prefix.len())
            || !self.prefix.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(RangeError::Prefix);
        }
        // prefix + at least 4 random digits + check digit.
        if !(13..=19).contains(&self.length) || self.length < self.prefix.len() + 5 {
            return Err(RangeError::Length);
        }
        Ok(())
    }

    /// Whether `digits` falls in this range.
    pub fn contains(&self, digits: &str) -> bool {
        digits.len() == self.length && digits.starts_with(&self.prefix)
    }

    /// A random Luhn-valid candidate token number in this range.
    pub fn candidate(&self, rng: &mut impl rand::Rng) -> Result<Pan, RangeError> {
        self.validate()?;
        let mut body = String::with_capacity(self.length);
        body.push_str(&self.prefix);
        while body.len() < self.length - 1 {
            let d: u8 = rng.random_range(0..10);
            body.push(char::from(b'0' + d));
        }
        let check = luhn_check_digit(&body).ok_or(RangeError::Prefix)?;
        body.push(check);
        Pan::parse(&body).map_err(|_| RangeError::Length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paytap_types::luhn_valid;
    use proptest::prelude::*;

    #[test]
    fn rejects_bad_ranges() {
        assert_eq!(TokenRange::new("b", "62", 16), Err(RangeError::Prefix));
        assert_eq!(TokenRange::new("b", "62a901", 16), Err(RangeError::Prefix));
        assert_eq!(TokenRange::new("b", "629101", 12), Err(RangeError::Length));
        assert_eq!(
            TokenRange::new("b", "62910123456", 15),
            Err(RangeError::Length)
        );
        assert!(TokenRange::new("b", "629101", 16).is_ok());
    }

    proptest! {
        #[test]
        fn candidates_are_luhn_valid_and_in_range(seed in any::<u64>(), len in 13usize..=19) {
            use rand::SeedableRng;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let r = TokenRange::new("b", "629101", len).unwrap();
            let t = r.candidate(&mut rng).unwrap();
            prop_assert!(luhn_valid(t.expose()));
            prop_assert!(r.contains(t.expose()));
            prop_assert_eq!(t.len(), len);
        }
    }

    #[test]
    fn candidates_spread_out() {
        let r = TokenRange::new("b", "629101", 16).unwrap();
        let mut rng = rand::rng();
        let set: std::collections::HashSet<String> = (0..1000)
            .map(|_| r.candidate(&mut rng).unwrap().expose().to_owned())
            .collect();
        assert!(set.len() > 990);
    }
}
