//! Message authentication between an acquirer and the switch: AES-128-CMAC
//! (NIST SP 800-38B) under the acquirer's 16-byte key, truncated to its
//! first 8 bytes and carried in the message authentication code element.
//!
//! * **Which element.** DE 64 when the message has no secondary bitmap,
//!   DE 128 when it has one (an element 65–128 is present). The MAC is
//!   the last element either way. A message with a secondary bitmap that
//!   carries DE 64 has no valid MAC.
//! * **Over what.** The message as paytap encodes it (`Message::encode`:
//!   MTI, bitmaps, elements in bit order) *with* the MAC element's bitmap
//!   bit set and *without* the MAC element's 8 value bytes. As the MAC is
//!   the last element, that is the whole encoded message but its last 8
//!   bytes.
//! * **Whose key.** The acquirer named by DE 32 (acquiring institution
//!   id): [`verify`] refuses a message without DE 32, so the receiver
//!   always knows which key it checked.
//!
//! Sans-IO: no clock, no randomness (keys come from the caller).

use crate::Message;
use aes::Aes128;
use cipher::KeyInit;
use cmac::{Cmac, Mac};
use paytap_types::Secret;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bytes of the MAC on the wire (DE 64 / DE 128 are `b 8`).
pub const MAC_LEN: usize = 8;

/// Bytes of an acquirer's key (AES-128).
pub const ACQUIRER_KEY_LEN: usize = 16;

/// The element that carries the MAC when there is no secondary bitmap.
pub const MAC_FIELD_PRIMARY: u8 = 64;
/// The element that carries the MAC when there is a secondary bitmap.
pub const MAC_FIELD_SECONDARY: u8 = 128;

/// An acquirer's message authentication key. Zeroized on drop, never shown
/// by `Debug` (a [`Secret`]).
#[derive(Clone, Debug, Zeroize, ZeroizeOnDrop)]
pub struct AcquirerKey(Secret<[u8; ACQUIRER_KEY_LEN]>);

impl AcquirerKey {
    /// A key from its 16 bytes.
    pub fn from_bytes(bytes: [u8; ACQUIRER_KEY_LEN]) -> AcquirerKey {
        AcquirerKey(Secret::new(bytes))
    }

    /// A key from 32 hex digits.
    pub fn from_hex(hex_digits: &str) -> Result<AcquirerKey, MacError> {
        let mut key = [0u8; ACQUIRER_KEY_LEN];
        hex::decode_to_slice(hex_digits.trim(), &mut key).map_err(|_| MacError::BadKey)?;
        Ok(AcquirerKey(Secret::new(key)))
    }

    /// The key as 32 hex digits (for the key file only).
    pub fn to_hex(&self) -> String {
        hex::encode_upper(self.0.expose())
    }

    fn cmac(&self) -> Cmac<Aes128> {
        <Cmac<Aes128> as KeyInit>::new(&(*self.0.expose()).into())
    }
}

/// Why a message's MAC was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// DE 32 is absent, so no acquirer key applies.
    #[error("data element 32 (acquiring institution) is missing: no key to check the MAC with")]
    MissingAcquirer,
    /// The MAC element the bitmap calls for (DE 64, or DE 128 with a
    /// secondary bitmap) is absent.
    #[error("message authentication code (DE 64/128) is missing")]
    MissingMac,
    /// The MAC does not match the message under the acquirer's key.
    #[error("message authentication code does not match")]
    WrongMac,
    /// A key that is not 32 hex digits.
    #[error("an acquirer key is 32 hex digits")]
    BadKey,
}

/// The element that carries the MAC of `message`: DE 128 when it has a
/// secondary bitmap, DE 64 otherwise.
pub fn mac_field(message: &Message) -> u8 {
    if (65..=128).any(|f| message.has(f)) {
        MAC_FIELD_SECONDARY
    } else {
        MAC_FIELD_PRIMARY
    }
}

/// Sign `message` under `key`: any MAC it carried is replaced by the
/// AES-CMAC of its encoding (module documentation) in DE 64 or DE 128.
pub fn sign(message: &mut Message, key: &AcquirerKey) {
    message.remove(MAC_FIELD_PRIMARY);
    message.remove(MAC_FIELD_SECONDARY);
    let field = mac_field(message);
    // The bit must be set while the MAC is computed; the placeholder value
    // is left out of the input and then overwritten in place.
    let set = message.set(field, [0u8; MAC_LEN]);
    debug_assert!(set.is_ok(), "DE 64/128 take 8 bytes");
    let tag = compute(message, field, key);
    let set = message.set(field, tag);
    debug_assert!(set.is_ok(), "DE 64/128 take 8 bytes");
}

/// Check `message`'s MAC under `key` (the key of the acquirer its DE 32
/// names).
pub fn verify(message: &Message, key: &AcquirerKey) -> Result<(), MacError> {
    if !message.has(32) {
        return Err(MacError::MissingAcquirer);
    }
    let field = mac_field(message);
    let got = message.get(field).ok_or(MacError::MissingMac)?;
    if field == MAC_FIELD_SECONDARY && message.has(MAC_FIELD_PRIMARY) {
        // A second MAC element would be outside the authenticated input.
        return Err(MacError::WrongMac);
    }
    let want = compute(message, field, key);
    if bool::from(want.as_slice().ct_eq(got)) {
        Ok(())
    } else {
        Err(MacError::WrongMac)
    }
}

/// The acquirer's MAC over any bytes (the same AES-CMAC truncated to
/// [`MAC_LEN`]): what authenticates an acquirer's requests outside ISO 8583,
/// such as its merchant API calls over HTTP.
pub fn sign_bytes(data: &[u8], key: &AcquirerKey) -> [u8; MAC_LEN] {
    let mut mac = key.cmac();
    mac.update(data);
    truncate(&mac.finalize().into_bytes())
}

/// Checks [`sign_bytes`]' MAC `got` over `data` in constant time.
pub fn verify_bytes(data: &[u8], got: &[u8], key: &AcquirerKey) -> Result<(), MacError> {
    let want = sign_bytes(data, key);
    if got.len() == MAC_LEN && bool::from(want.as_slice().ct_eq(got)) {
        Ok(())
    } else {
        Err(MacError::WrongMac)
    }
}

fn truncate(tag: &[u8]) -> [u8; MAC_LEN] {
    let mut out = [0u8; MAC_LEN];
    for (o, t) in out.iter_mut().zip(tag.iter()) {
        *o = *t;
    }
    out
}

fn compute(message: &Message, field: u8, key: &AcquirerKey) -> [u8; MAC_LEN] {
    let mut mac = key.cmac();
    message.encode_pieces_without(field, |piece| mac.update(piece));
    truncate(&mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mti;

    fn key() -> AcquirerKey {
        AcquirerKey::from_hex("2B7E151628AED2A6ABF7158809CF4F3C").unwrap()
    }

    fn sign_on() -> Message {
        let mut m = Message::new(Mti::NETWORK_REQUEST);
        m.set(7, "1205130800").unwrap();
        m.set(11, "000001").unwrap();
        m.set(32, "10000000001").unwrap();
        m.set(70, "001").unwrap();
        m
    }

    /// NIST SP 800-38B's AES-128 examples (key 2B7E...4F3C), truncated to
    /// [`MAC_LEN`]: the empty message and one block.
    #[test]
    fn bytes_are_signed_with_the_nist_cmac() {
        assert_eq!(hex::encode(sign_bytes(b"", &key())), "bb1d6929e9593728");
        let block = hex::decode("6bc1bee22e409f96e93d7e117393172a").unwrap();
        let tag = sign_bytes(&block, &key());
        assert_eq!(hex::encode(tag), "070a16b46b4d4144");
        assert_eq!(verify_bytes(&block, &tag, &key()), Ok(()));
        assert_eq!(
            verify_bytes(b"other", &tag, &key()),
            Err(MacError::WrongMac)
        );
        assert_eq!(
            verify_bytes(&block, &tag[..7], &key()),
            Err(MacError::WrongMac)
        );
    }

    /// Fixed vector, checked independently with Python `cryptography`:
    /// `cmac.CMAC(algorithms.AES(key))` over the encoded message without
    /// its last 8 bytes, first 8 bytes of the tag (see the test body).
    #[test]
    fn sign_on_vector() {
        let mut m = sign_on();
        sign(&mut m, &key());
        let wire = m.encode();
        // import cmac, algorithms from cryptography.hazmat.primitives(.ciphers);
        // c = cmac.CMAC(algorithms.AES(bytes.fromhex("2B7E1516...4F3C")))
        // c.update(wire[:-8]); c.finalize()[:8].hex() == "d56d042b0eab40fa"
        assert_eq!(
            hex::encode_upper(&wire),
            concat!(
                "30383030",             // "0800"
                "8220000100000000",     // bits 1, 7, 11, 32
                "0400000000000001",     // bits 70, 128
                "31323035313330383030", // DE 7
                "303030303031",         // DE 11
                "3131",
                "3130303030303030303031", // DE 32 (LLVAR)
                "303031",                 // DE 70 sign-on
                "D56D042B0EAB40FA",       // DE 128 MAC
            )
        );
    }

    #[test]
    fn signed_messages_verify_and_round_trip() {
        let mut m = sign_on();
        sign(&mut m, &key());
        assert_eq!(verify(&m, &key()), Ok(()));
        let decoded = Message::decode(&m.encode()).unwrap();
        assert_eq!(verify(&decoded, &key()), Ok(()));
        // The MAC is the last 8 bytes of the encoding.
        let wire = m.encode();
        assert_eq!(&wire[wire.len() - MAC_LEN..], m.get(128).unwrap());
    }

    #[test]
    fn primary_only_message_uses_de_64() {
        let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
        m.set(11, "000002").unwrap();
        m.set(32, "10000000001").unwrap();
        sign(&mut m, &key());
        assert!(m.has(64) && !m.has(128));
        assert_eq!(verify(&m, &key()), Ok(()));
        // Adding a secondary element moves the MAC to DE 128 on re-signing.
        m.set(90, "0".repeat(42)).unwrap();
        assert_eq!(verify(&m, &key()), Err(MacError::MissingMac));
        sign(&mut m, &key());
        assert!(!m.has(64) && m.has(128));
        assert_eq!(verify(&m, &key()), Ok(()));
    }

    #[test]
    fn refusals_are_named() {
        let mut m = sign_on();
        assert_eq!(verify(&m, &key()), Err(MacError::MissingMac));
        sign(&mut m, &key());
        let other = AcquirerKey::from_bytes([7; 16]);
        assert_eq!(verify(&m, &other), Err(MacError::WrongMac));
        let mut tampered = m.clone();
        tampered.set(11, "000009").unwrap();
        assert_eq!(verify(&tampered, &key()), Err(MacError::WrongMac));
        let mut anonymous = m.clone();
        anonymous.remove(32);
        assert_eq!(verify(&anonymous, &key()), Err(MacError::MissingAcquirer));
        let mut both = m.clone();
        both.set(64, [0u8; 8]).unwrap();
        assert_eq!(verify(&both, &key()), Err(MacError::WrongMac));
    }

    #[test]
    fn key_is_redacted_and_parsed() {
        assert_eq!(
            format!("{:?}", key()),
            "AcquirerKey(Secret([REDACTED] [u8; 16]))"
        );
        assert_eq!(key().to_hex(), "2B7E151628AED2A6ABF7158809CF4F3C");
        assert!(matches!(AcquirerKey::from_hex("00"), Err(MacError::BadKey)));
    }
}
