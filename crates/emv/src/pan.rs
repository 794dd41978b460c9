//! Token PANs held by cards: digits that never appear in clear in `Debug` or
//! `Display` (first six and last four only) and are zeroized on drop.

use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A (token) primary account number of 12–19 decimal digits.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct TokenPan(String);

/// A PAN that is not 12–19 decimal digits. Carries no digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a PAN is 12 to 19 decimal digits")]
pub struct BadPan;

impl TokenPan {
    /// The PAN from its digits, which must be 12 to 19 decimal digits.
    pub fn new(digits: &str) -> Result<Self, BadPan> {
        if (12..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(TokenPan(digits.to_owned()))
        } else {
            Err(BadPan)
        }
    }

    /// Decodes a PAN from its `cn` form (tag 5A: BCD, padded with `F`).
    pub fn from_cn(bytes: &[u8]) -> Result<Self, BadPan> {
        let mut s = String::with_capacity(bytes.len() * 2);
        for nib in bytes.iter().flat_map(|b| [b >> 4, b & 0x0F]) {
            match nib {
                0..=9 => s.push(char::from(b'0' + nib)),
                0x0F => break,
                _ => return Err(BadPan),
            }
        }
        let r = Self::new(&s);
        s.zeroize();
        r
    }

    /// The digits. Every call site is a place where the clear PAN is handled.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The `cn` encoding (tag 5A).
    pub fn to_cn(&self) -> Vec<u8> {
        let d = self.0.as_bytes();
        d.chunks(2)
            .map(|c| {
                let hi = c.first().map_or(0x0F, |x| x - b'0');
                let lo = c.get(1).map_or(0x0F, |x| x - b'0');
                (hi << 4) | lo
            })
            .collect()
    }

    /// `476173******0119`.
    pub fn masked(&self) -> String {
        paytap_types::mask_digits(&self.0)
    }
}

impl fmt::Debug for TokenPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenPan({})", self.masked())
    }
}

impl fmt::Display for TokenPan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_and_cn() {
        let p = TokenPan::new("4761739001010119").unwrap();
        assert_eq!(format!("{p:?}"), "TokenPan(476173******0119)");
        assert_eq!(p.to_string(), "476173******0119");
        assert_eq!(TokenPan::from_cn(&p.to_cn()).unwrap(), p);
        let odd = TokenPan::new("6212345678901234567").unwrap();
        assert_eq!(odd.to_cn().last(), Some(&0x7F));
        assert_eq!(TokenPan::from_cn(&odd.to_cn()).unwrap(), odd);
        assert!(TokenPan::new("12345").is_err());
        assert!(TokenPan::from_cn(&[0x12, 0xA4]).is_err());
    }
}
