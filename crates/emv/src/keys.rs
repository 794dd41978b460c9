//! Key types for EMV symmetric cryptography.
//!
//! Every key keeps its bytes in a [`Secret`]: wiped on drop, printed as
//! `TdesKey(Secret([REDACTED] [u8; 16]))` in `Debug`, compared in constant
//! time; there is no `Display`. Byte access is explicit through `expose()` so that every use of
//! raw key material is visible in review.

use paytap_types::Secret;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Errors for key material of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A TDES key that is not 16 bytes (its length).
    #[error("a double-length TDES key has 16 bytes, got {0}")]
    TdesLength(usize),
    /// An AES key that is not 16, 24 or 32 bytes (its length).
    #[error("an AES key has 16, 24 or 32 bytes, got {0}")]
    AesLength(usize),
    /// Key text that is not hexadecimal.
    #[error("key is not valid hexadecimal")]
    Hex,
}

/// A double-length (112-bit, 2-key) Triple DES key, as used for EMV issuer
/// master keys, ICC master keys and session keys.
#[derive(Clone, PartialEq, Eq, Debug, Zeroize, ZeroizeOnDrop)]
pub struct TdesKey(Secret<[u8; 16]>);

impl TdesKey {
    /// The key from its 16 bytes (K1 ‖ K2).
    pub fn new(bytes: [u8; 16]) -> Self {
        TdesKey(Secret::new(bytes))
    }

    /// The key from a slice, which must be 16 bytes.
    pub fn from_slice(b: &[u8]) -> Result<Self, KeyError> {
        <[u8; 16]>::try_from(b)
            .map(TdesKey::new)
            .map_err(|_| KeyError::TdesLength(b.len()))
    }

    /// The key from hexadecimal text (surrounding whitespace ignored).
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let mut v = hex::decode(s.trim()).map_err(|_| KeyError::Hex)?;
        let k = Self::from_slice(&v);
        v.zeroize();
        k
    }

    /// The raw key bytes.
    pub fn expose(&self) -> &[u8; 16] {
        self.0.expose()
    }

    /// Sets every byte to odd parity (DES keys carry a parity bit in bit 0).
    pub fn with_odd_parity(mut self) -> Self {
        adjust_odd_parity(self.0.expose_mut());
        self
    }

    /// Key check value: the first 3 bytes of the key encrypting eight zero bytes.
    pub fn kcv(&self) -> [u8; 3] {
        let e = crate::crypto::tdes_encrypt_block(self, [0u8; 8]);
        [e[0], e[1], e[2]]
    }
}

/// An AES key of 128, 192 or 256 bits.
#[derive(Clone, PartialEq, Eq, Debug, Zeroize, ZeroizeOnDrop)]
pub struct AesKey {
    bytes: Secret<[u8; 32]>,
    len: u8,
}

impl AesKey {
    /// The key from a slice of 16, 24 or 32 bytes.
    pub fn from_slice(b: &[u8]) -> Result<Self, KeyError> {
        if !matches!(b.len(), 16 | 24 | 32) {
            return Err(KeyError::AesLength(b.len()));
        }
        let mut bytes = [0u8; 32];
        bytes
            .get_mut(..b.len())
            .ok_or(KeyError::AesLength(b.len()))?
            .copy_from_slice(b);
        Ok(AesKey {
            bytes: Secret::new(bytes),
            len: b.len() as u8,
        })
    }

    /// The key from hexadecimal text (surrounding whitespace ignored).
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        let mut v = hex::decode(s.trim()).map_err(|_| KeyError::Hex)?;
        let k = Self::from_slice(&v);
        v.zeroize();
        k
    }

    /// The raw key bytes (16, 24 or 32 of them).
    pub fn expose(&self) -> &[u8] {
        self.bytes
            .expose()
            .get(..usize::from(self.len))
            .unwrap_or(&[])
    }

    /// Key length in bytes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Never true; present for clippy symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// AES key check value: first 3 bytes of the CMAC of an empty message
    /// (ANSI X9.24-1:2017 style KCV for AES).
    pub fn kcv(&self) -> [u8; 3] {
        let m = crate::crypto::aes_cmac(self, &[]);
        [m[0], m[1], m[2]]
    }
}

/// A key of either EMV algorithm family.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum EmvKey {
    /// A double-length Triple DES key.
    Tdes(TdesKey),
    /// An AES key.
    Aes(AesKey),
}

impl EmvKey {
    /// Whether this is an AES key.
    pub fn is_aes(&self) -> bool {
        matches!(self, EmvKey::Aes(_))
    }

    /// The raw key bytes.
    pub fn expose(&self) -> &[u8] {
        match self {
            EmvKey::Tdes(k) => k.expose(),
            EmvKey::Aes(k) => k.expose(),
        }
    }
}

impl From<TdesKey> for EmvKey {
    fn from(k: TdesKey) -> Self {
        EmvKey::Tdes(k)
    }
}

impl From<AesKey> for EmvKey {
    fn from(k: AesKey) -> Self {
        EmvKey::Aes(k)
    }
}

/// Sets odd parity on every byte (bit 0 is the DES parity bit).
pub fn adjust_odd_parity(bytes: &mut [u8]) {
    for b in bytes {
        if b.count_ones() % 2 == 0 {
            *b ^= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_debug_and_parity() {
        let k = TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        assert_eq!(format!("{k:?}"), "TdesKey(Secret([REDACTED] [u8; 16]))");
        assert_eq!(
            format!("{:?}", EmvKey::from(k.clone())),
            "Tdes(TdesKey(Secret([REDACTED] [u8; 16])))"
        );
        let a = AesKey::from_slice(&[7u8; 24]).unwrap();
        assert_eq!(
            format!("{a:?}"),
            "AesKey { bytes: Secret([REDACTED] [u8; 32]), len: 24 }"
        );
        assert_eq!(a.expose().len(), 24);
        assert_eq!(AesKey::from_slice(&[0; 20]), Err(KeyError::AesLength(20)));
        assert_eq!(TdesKey::from_hex("00"), Err(KeyError::TdesLength(1)));
        let p = TdesKey::new([0u8; 16]).with_odd_parity();
        assert_eq!(p.expose(), &[1u8; 16]);
        // KCV of the classic test key 0123456789ABCDEFFEDCBA9876543210 is 08D7B4.
        assert_eq!(k.kcv(), [0x08, 0xD7, 0xB4]);
    }
}
