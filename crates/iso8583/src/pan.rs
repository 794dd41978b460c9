//! A primary account number (or a token, which has the same shape) that never shows
//! itself: `Debug` and `Display` print only the first six and last four digits, and
//! the digits are zeroized when the value is dropped.

use crate::FieldError;
use std::fmt;
use zeroize::Zeroize;

/// A PAN or payment token of 12 to 19 digits (ISO/IEC 7812-1).
#[derive(Clone, PartialEq, Eq)]
pub struct Pan(String);

impl Pan {
    /// Accept 12..=19 ASCII digits. The Luhn check digit is not enforced here
    /// (see [`Pan::luhn_valid`]): the network layer decides what to do with it.
    pub fn new(digits: &str) -> Result<Pan, FieldError> {
        if let Some(position) = digits.bytes().position(|b| !b.is_ascii_digit()) {
            return Err(FieldError::BadCharacter {
                attribute: "n",
                position,
            });
        }
        if digits.len() > 19 {
            return Err(FieldError::TooLong {
                max: 19,
                actual: digits.len(),
            });
        }
        if digits.len() < 12 {
            return Err(FieldError::OutOfRange("a PAN has at least 12 digits"));
        }
        Ok(Pan(digits.to_owned()))
    }

    /// The clear digits. Callers must not log or persist them.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last four digits.
    pub fn last4(&self) -> &str {
        self.0.get(self.0.len().saturating_sub(4)..).unwrap_or("")
    }

    /// The issuer identification number (first six digits).
    pub fn bin(&self) -> &str {
        self.0.get(..6).unwrap_or("")
    }

    /// Does the last digit satisfy the Luhn (mod 10) check of ISO/IEC 7812-1 annex B?
    pub fn luhn_valid(&self) -> bool {
        paytap_types::luhn_valid(&self.0)
    }

    /// The masked form `476173******0010`.
    pub fn masked(&self) -> String {
        paytap_types::mask_digits(&self.0)
    }
}

impl Drop for Pan {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}
