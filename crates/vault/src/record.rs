//! The card data the vault protects, and its plaintext encoding (which only
//! ever exists in memory, inside a zeroizing buffer).

use crate::VaultError;
use paytap_types::{Pan, Secret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub use paytap_types::Expiry;

/// Longest cardholder name accepted (bytes of UTF-8).
pub const MAX_NAME: usize = 64;

/// What the vault stores for one card. `Debug` shows the masked PAN only;
/// the name is wiped on drop and redacted from `Debug`.
#[derive(Clone, Debug, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct CardRecord {
    #[zeroize(skip)]
    pub pan: Pan,
    #[zeroize(skip)]
    pub expiry: Expiry,
    /// Cardholder name as embossed (at most [`MAX_NAME`] bytes, no control
    /// characters).
    pub name: Secret<String>,
}

const FORMAT: u8 = 1;

impl CardRecord {
    pub fn new(pan: Pan, expiry: Expiry, name: impl Into<String>) -> Result<Self, VaultError> {
        let r = CardRecord {
            pan,
            expiry,
            name: Secret::new(name.into()),
        };
        r.validate()?;
        Ok(r)
    }

    pub(crate) fn validate(&self) -> Result<(), VaultError> {
        let name = self.name.expose();
        if name.len() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(VaultError::InvalidName);
        }
        Ok(())
    }

    /// `format(1) | pan_len(1) | pan digits | YYMM(4) | name_len(2, BE) | name`.
    pub(crate) fn encode(&self) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        self.validate()?;
        let pan = self.pan.expose().as_bytes();
        let name = self.name.expose().as_bytes();
        let mut out = Zeroizing::new(Vec::with_capacity(8 + pan.len() + name.len()));
        out.push(FORMAT);
        out.push(u8::try_from(pan.len()).map_err(|_| VaultError::CorruptRecord)?);
        out.extend_from_slice(pan);
        out.extend_from_slice(self.expiry.yymm().as_bytes());
        let len = u16::try_from(name.len()).map_err(|_| VaultError::InvalidName)?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(name);
        Ok(out)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<CardRecord, VaultError> {
        let bad = || VaultError::CorruptRecord;
        if bytes.first() != Some(&FORMAT) {
            return Err(bad());
        }
        let pan_len = usize::from(*bytes.get(1).ok_or_else(bad)?);
        let pan = bytes.get(2..2 + pan_len).ok_or_else(bad)?;
        let pan = std::str::from_utf8(pan).map_err(|_| bad())?;
        let pan = Pan::parse(pan).map_err(|_| bad())?;
        let rest = bytes.get(2 + pan_len..).ok_or_else(bad)?;
        let yymm = std::str::from_utf8(rest.get(..4).ok_or_else(bad)?).map_err(|_| bad())?;
        let expiry = Expiry::parse(yymm).map_err(|_| bad())?;
        let len = rest.get(4..6).ok_or_else(bad)?;
        let len = usize::from(u16::from_be_bytes([
            *len.first().ok_or_else(bad)?,
            *len.get(1).ok_or_else(bad)?,
        ]));
        let name = rest.get(6..6 + len).ok_or_else(bad)?;
        if rest.len() != 6 + len {
            return Err(bad());
        }
        let name = Secret::new(std::str::from_utf8(name).map_err(|_| bad())?.to_string());
        Ok(CardRecord { pan, expiry, name })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn expiry_validates_month() {
        assert_eq!(
            Expiry::parse("2912").map(|e| e.yymm()).ok(),
            Some("2912".into())
        );
        assert_eq!(
            Expiry::parse("3001").map(|e| e.to_string()).ok(),
            Some("01/30".into())
        );
        for bad in ["2913", "2900", "291", "29120", "ab12", "", "-112"] {
            assert!(Expiry::parse(bad).is_err(), "{bad}");
        }
        assert!(Expiry::new(100, 1).is_err());
    }

    #[test]
    fn encoding_round_trips_and_debug_hides_data() {
        let pan = Pan::parse("6212345678901232").unwrap();
        let r = CardRecord::new(pan, Expiry::parse("2805").unwrap(), "ZHANG WEI").unwrap();
        let enc = r.encode().unwrap();
        assert_eq!(CardRecord::decode(&enc).unwrap(), r);
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("6212345678901232"));
        assert!(!dbg.contains("ZHANG"));
        assert!(dbg.contains("621234******1232"));
        // Truncated or extended encodings are refused.
        for n in 0..enc.len() {
            assert!(CardRecord::decode(&enc[..n]).is_err());
        }
        let mut longer = enc.to_vec();
        longer.push(0);
        assert!(CardRecord::decode(&longer).is_err());
    }

    #[test]
    fn name_rules() {
        let pan = Pan::parse("6212345678901232").unwrap();
        let exp = Expiry::parse("2805").unwrap();
        assert!(CardRecord::new(pan.clone(), exp, "A\nB").is_err());
        assert!(CardRecord::new(pan.clone(), exp, "X".repeat(MAX_NAME + 1)).is_err());
        assert!(CardRecord::new(pan, exp, "").is_ok());
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = CardRecord::decode(&bytes);
        }
    }
}
