//! Stored advices at rest.
//!
//! A stand-in advice (`0120`) carries the card number (DE 2) and expiry
//! (DE 14) the issuer needs to find the account, so it cannot be kept in
//! clear like a reversal. With a [`ForwardKey`] the switch stores it anyway:
//! the row's `message` column holds the advice with every card-data element
//! removed (for audits: MTI, amount, DE 37) and `sealed` holds the whole
//! advice encrypted with AES-256-GCM ([`paytap_seal::at_rest`]), the row id
//! plus a version label as associated data, so a sealed advice copied into
//! another row does not open. Without a key, advices are kept in memory
//! only.

use paytap_seal::{SealError, at_rest};
use paytap_types::Secret;
use zeroize::Zeroizing;

const AAD_LABEL: &[u8] = b"paytap switch forward v1:";

/// Data elements that are cardholder data or sensitive authentication data
/// (PAN, expiry, track 2, track 1, PIN block, ICC data): removed from the
/// clear copy of a sealed advice.
pub(crate) const CARD_DATA: [u8; 6] = [2, 14, 35, 45, 52, 55];

/// The key stored advices are sealed with (e.g. `Keyring::subkey`).
#[derive(Clone, Debug)]
pub struct ForwardKey {
    key: Secret<[u8; 32]>,
}

impl ForwardKey {
    pub fn new(key: Zeroizing<[u8; 32]>) -> ForwardKey {
        ForwardKey {
            key: Secret::new(*key),
        }
    }

    fn aad(id: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(AAD_LABEL.len() + id.len());
        aad.extend_from_slice(AAD_LABEL);
        aad.extend_from_slice(id.as_bytes());
        aad
    }

    /// `plain` sealed ([`at_rest::seal`]) and bound to row `id`.
    pub fn seal(&self, id: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        at_rest::seal(self.key.expose(), &Self::aad(id), plain)
    }

    /// The plaintext of a [`ForwardKey::seal`] output for row `id`.
    pub fn open(&self, id: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        at_rest::open(self.key.expose(), &Self::aad(id), sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> ForwardKey {
        ForwardKey::new(Zeroizing::new([b; 32]))
    }

    #[test]
    fn opens_only_with_its_key_and_row() {
        let k = key(7);
        let sealed = k.seal("fwd-1", b"6212345678901234").unwrap();
        assert!(
            !sealed
                .windows(16)
                .any(|w| w == b"6212345678901234".as_slice())
        );
        assert_eq!(&**k.open("fwd-1", &sealed).unwrap(), b"6212345678901234");
        assert_eq!(k.open("fwd-2", &sealed), Err(SealError::Open));
        assert_eq!(key(8).open("fwd-1", &sealed), Err(SealError::Open));
        let mut bent = sealed.clone();
        let last = bent.len() - 1;
        bent[last] ^= 1;
        assert_eq!(k.open("fwd-1", &bent), Err(SealError::Open));
        assert_eq!(k.open("fwd-1", &sealed[..5]), Err(SealError::Malformed));
        assert_ne!(
            k.seal("fwd-1", b"x").unwrap(),
            k.seal("fwd-1", b"x").unwrap()
        );
        let shown = format!("{k:?}");
        assert!(
            shown.contains("REDACTED") && !shown.contains('7'),
            "{shown}"
        );
    }
}
