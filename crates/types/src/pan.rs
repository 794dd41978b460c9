use serde::{Deserialize, Deserializer, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Why a string is not a card number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PanError {
    #[error("card number must contain only digits")]
    NotDigits,
    #[error("card number must be 12 to 19 digits long, got {0}")]
    Length(usize),
    #[error("card number fails the Luhn check")]
    Luhn,
}

/// A primary account number (ISO/IEC 7812): 12 to 19 digits, Luhn-valid.
///
/// `Debug` and [`Pan::masked`] show the first six and last four digits only;
/// the full number is reachable solely through [`Pan::expose`].
#[derive(Clone, PartialEq, Eq, Hash, Zeroize, ZeroizeOnDrop)]
pub struct Pan(String);

impl Pan {
    /// Parses digits, tolerating spaces and dashes as typed by people.
    pub fn parse(input: &str) -> Result<Pan, PanError> {
        let mut digits = String::with_capacity(19);
        for c in input.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                _ => {
                    digits.zeroize();
                    return Err(PanError::NotDigits);
                }
            }
        }
        let len = digits.len();
        if !(12..=19).contains(&len) {
            digits.zeroize();
            return Err(PanError::Length(len));
        }
        if !luhn_valid(&digits) {
            digits.zeroize();
            return Err(PanError::Luhn);
        }
        Ok(Pan(digits))
    }

    /// The full digits, for the wire (ISO 8583 DE 2) and the vault only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The issuer identification number (first six digits).
    pub fn bin6(&self) -> &str {
        self.0.get(..6).unwrap_or("")
    }

    /// The last four digits, the only part shown to people.
    pub fn last4(&self) -> &str {
        self.0.get(self.0.len().saturating_sub(4)..).unwrap_or("")
    }

    /// `476173******0119`.
    pub fn masked(&self) -> String {
        mask_digits(&self.0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Pan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pan({})", self.masked())
    }
}

/// Serializes masked: a `Pan` inside a JSON response or a log field never
/// leaks. (Deserializing parses and validates the full number.)
impl Serialize for Pan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for Pan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Pan, D::Error> {
        let mut s = String::deserialize(d)?;
        let r = Pan::parse(&s).map_err(serde::de::Error::custom);
        s.zeroize();
        r
    }
}

/// The only printable form of a card or token number: the first six and the
/// last four digits, the rest as `*` (`476173******0119`). Every PAN type in
/// paytap masks itself through this one function.
pub fn mask_digits(digits: &str) -> String {
    let n = digits.len();
    let head = digits.get(..6.min(n)).unwrap_or("");
    let tail = digits
        .get(n.saturating_sub(4).max(head.len())..)
        .unwrap_or("");
    format!("{head}{}{tail}", "*".repeat(n.saturating_sub(10)))
}

/// True if the digit string passes the Luhn (mod 10) check.
pub fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, b) in digits.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// The digit that makes `body` + digit Luhn-valid; `None` if `body` has a
/// non-digit.
pub fn luhn_check_digit(body: &str) -> Option<char> {
    let mut sum = 0u32;
    for (i, b) in body.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let mut d = u32::from(b - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    char::from_digit((10 - sum % 10) % 10, 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_masks() {
        let pan = Pan::parse("6212 3456 7890 1232").unwrap();
        assert_eq!(pan.expose(), "6212345678901232");
        assert_eq!(pan.masked(), "621234******1232");
        assert_eq!(format!("{pan:?}"), "Pan(621234******1232)");
        assert_eq!(serde_json::to_string(&pan).unwrap(), "\"621234******1232\"");
        assert_eq!(pan.last4(), "1232");
    }

    #[test]
    fn masks_every_length_without_revealing_more_than_ten_digits() {
        assert_eq!(mask_digits("6212345678901232"), "621234******1232");
        assert_eq!(mask_digits("6212345678901234567"), "621234*********4567");
        assert_eq!(mask_digits("621234567890"), "621234**7890");
        // Shorter strings never show a digit twice.
        assert_eq!(
            mask_digits("12345678"),
            "12345678".get(..6).unwrap().to_string() + "78"
        );
        assert_eq!(mask_digits(""), "");
    }

    #[test]
    fn rejects_bad_numbers() {
        assert_eq!(Pan::parse("6212345678901233"), Err(PanError::Luhn));
        assert_eq!(Pan::parse("62123456789a1232"), Err(PanError::NotDigits));
        assert_eq!(Pan::parse("12345"), Err(PanError::Length(5)));
        assert_eq!(Pan::parse(""), Err(PanError::Length(0)));
        assert!(serde_json::from_str::<Pan>("\"4111111111111112\"").is_err());
        assert!(serde_json::from_str::<Pan>("\"4111111111111111\"").is_ok());
    }

    proptest! {
        #[test]
        fn check_digit_makes_valid(body in "[0-9]{11,18}") {
            let d = luhn_check_digit(&body).unwrap();
            let full = format!("{body}{d}");
            prop_assert!(luhn_valid(&full));
            prop_assert!(Pan::parse(&full).is_ok());
            // Any single-digit change breaks it.
            let last = full.chars().last().unwrap();
            let other = char::from_digit((last.to_digit(10).unwrap() + 1) % 10, 10).unwrap();
            let changed = format!("{}{}", body, other);
            prop_assert!(!luhn_valid(&changed));
        }

        #[test]
        fn never_panics(s in ".{0,40}") {
            let _ = Pan::parse(&s);
        }
    }
}
