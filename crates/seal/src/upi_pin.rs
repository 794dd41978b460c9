//! The UPI PIN block: a PIN sealed by the payer's device to its bank's PIN
//! key (the key `ListKeys` hands out), bound to what it authorizes.
//!
//! The block is a [`seal`](crate::seal) box whose plaintext is the PIN's
//! digits and whose associated data names the purpose and the id it is for
//! (`paytap upi pin v1|DEBIT|<transaction id>`, or `SETPIN` and the bank's
//! OTP verification id), so a block captured on the way cannot authorize
//! another payment or set another PIN. Only the bank holds the key that
//! opens it: the PSP and the switch carry it without reading it.

use crate::{DeviceKey, SealError, open, seal};
use paytap_types::Secret;

/// What a PIN block authorizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinPurpose {
    /// A debit of the payer's account, for one transaction id.
    Debit,
    /// Setting (or resetting) the UPI PIN, for one OTP verification id.
    SetPin,
}

impl PinPurpose {
    fn as_str(self) -> &'static str {
        match self {
            PinPurpose::Debit => "DEBIT",
            PinPurpose::SetPin => "SETPIN",
        }
    }
}

/// Digits a UPI PIN may have: 4 or 6, as NPCI allows.
pub const PIN_LENGTHS: [usize; 2] = [4, 6];

/// Whether `pin` is a UPI PIN's shape: 4 or 6 ASCII digits.
pub fn pin_well_formed(pin: &str) -> bool {
    PIN_LENGTHS.contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

fn aad(purpose: PinPurpose, id: &str) -> Vec<u8> {
    format!("paytap upi pin v1|{}|{id}", purpose.as_str()).into_bytes()
}

/// Seals `pin` to the bank key `bank_public` for `purpose` and `id`.
pub fn seal_pin(
    bank_public: &[u8; 32],
    purpose: PinPurpose,
    id: &str,
    pin: &Secret<String>,
) -> Result<Vec<u8>, SealError> {
    seal(bank_public, &aad(purpose, id), pin.expose().as_bytes())
}

/// Opens a PIN block with the bank's key, for `purpose` and `id` only.
pub fn open_pin(
    key: &DeviceKey,
    purpose: PinPurpose,
    id: &str,
    block: &[u8],
) -> Result<Secret<String>, SealError> {
    let digits = open(key, &aad(purpose, id), block)?;
    let pin = String::from_utf8(digits.to_vec()).map_err(|_| SealError::Malformed)?;
    Ok(Secret::new(pin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_opens_only_for_its_purpose_and_id() {
        let bank = DeviceKey::generate().unwrap();
        let pin = Secret::new("1357".to_owned());
        let block = seal_pin(&bank.public(), PinPurpose::Debit, "T1", &pin).unwrap();
        let opened = open_pin(&bank, PinPurpose::Debit, "T1", &block).unwrap();
        assert_eq!(opened.expose(), "1357");
        assert_eq!(
            open_pin(&bank, PinPurpose::Debit, "T2", &block).unwrap_err(),
            SealError::Open
        );
        assert_eq!(
            open_pin(&bank, PinPurpose::SetPin, "T1", &block).unwrap_err(),
            SealError::Open
        );
        let other = DeviceKey::generate().unwrap();
        assert!(open_pin(&other, PinPurpose::Debit, "T1", &block).is_err());
    }

    #[test]
    fn pins_are_four_or_six_digits() {
        for ok in ["1234", "123456"] {
            assert!(pin_well_formed(ok));
        }
        for bad in ["", "123", "12345", "1234567", "12a4", "١٢٣٤"] {
            assert!(!pin_well_formed(bad), "{bad}");
        }
    }
}
