//! Card numbers at rest: the tables name a card by a keyed fingerprint
//! (HMAC-SHA256, so equal cards join and nobody without the key can test a
//! guess), and keep its number only sealed (AES-256-GCM, bound to operator
//! and fingerprint) in `operator_cards`, opened when the host rebuilds its
//! clearing state or a gate downloads the hotlist.

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use paytap_purse::records::SERIAL_LEN;
use sha2::Sha256;
use zeroize::Zeroizing;

/// Bytes of a fingerprint kept (128 bits: no collision among any number
/// of cards an operator issues).
pub const FINGERPRINT_LEN: usize = 16;

/// Why a sealed card number could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardSealError {
    /// Not hex, not ours, or altered.
    #[error("sealed card number of {0} does not open")]
    Open(String),
    /// The system's random source failed.
    #[error("sealing a card number failed")]
    Seal,
}

/// The operator's two card-data keys, derived from one 32-byte data key
/// (from the vault's keyring).
pub(crate) struct CardCipher {
    fingerprint: Zeroizing<[u8; 32]>,
    seal: Zeroizing<[u8; 32]>,
}

impl CardCipher {
    /// Derives the fingerprint and sealing keys (HKDF-SHA256).
    pub(crate) fn new(data_key: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"paytap-operator"), data_key);
        let mut fingerprint = Zeroizing::new([0u8; 32]);
        let mut seal = Zeroizing::new([0u8; 32]);
        // 32 bytes is always a valid HKDF-SHA256 output length.
        hk.expand(b"card fingerprint v1", fingerprint.as_mut_slice())
            .expect("32 bytes is a valid HKDF-SHA256 output");
        hk.expand(b"card seal v1", seal.as_mut_slice())
            .expect("32 bytes is a valid HKDF-SHA256 output");
        Self { fingerprint, seal }
    }

    /// The card's fingerprint, lowercase hex.
    pub(crate) fn fingerprint(&self, serial: &[u8; SERIAL_LEN]) -> String {
        let Ok(mut mac) =
            <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(self.fingerprint.as_slice())
        else {
            // HMAC takes keys of any length.
            unreachable!("HMAC-SHA256 accepts a 32-byte key")
        };
        mac.update(serial);
        hex::encode(&mac.finalize().into_bytes()[..FINGERPRINT_LEN])
    }

    /// The card number sealed for `operator`'s row `card`, hex.
    pub(crate) fn seal(
        &self,
        operator: &str,
        card: &str,
        serial: &[u8; SERIAL_LEN],
    ) -> Result<String, CardSealError> {
        paytap_seal::at_rest::seal(&self.seal, &aad(operator, card), serial)
            .map(hex::encode)
            .map_err(|_| CardSealError::Seal)
    }

    /// The card number of a [`CardCipher::seal`] output.
    pub(crate) fn open(
        &self,
        operator: &str,
        card: &str,
        sealed: &str,
    ) -> Result<[u8; SERIAL_LEN], CardSealError> {
        let bad = || CardSealError::Open(card.to_owned());
        let bytes = hex::decode(sealed).map_err(|_| bad())?;
        let plain = paytap_seal::at_rest::open(&self.seal, &aad(operator, card), &bytes)
            .map_err(|_| bad())?;
        <[u8; SERIAL_LEN]>::try_from(plain.as_slice()).map_err(|_| bad())
    }
}

fn aad(operator: &str, card: &str) -> Vec<u8> {
    format!("paytap-operator card {operator} {card}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_keyed_and_seals_are_bound() {
        let a = CardCipher::new(&[1; 32]);
        let b = CardCipher::new(&[2; 32]);
        let serial = [0x10, 0, 0x31, 0x04, 0x99, 0, 0, 0, 0x12, 0x34];
        let fp = a.fingerprint(&serial);
        assert_eq!(fp.len(), 2 * FINGERPRINT_LEN);
        assert_eq!(fp, a.fingerprint(&serial));
        assert_ne!(fp, b.fingerprint(&serial));
        let sealed = a.seal("beijing", &fp, &serial).unwrap();
        assert!(!sealed.contains("1000310499"));
        assert_eq!(a.open("beijing", &fp, &sealed), Ok(serial));
        for (cipher, op, card) in [
            (&b, "beijing", fp.as_str()),
            (&a, "wuhan", fp.as_str()),
            (&a, "beijing", "00"),
        ] {
            assert!(cipher.open(op, card, &sealed).is_err());
        }
    }
}
