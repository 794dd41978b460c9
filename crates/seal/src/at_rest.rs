//! Symmetric sealing at rest: AES-256-GCM (NIST SP 800-38D) under a
//! caller's key with a fresh random 96-bit nonce. Output format:
//! `nonce (12) || ciphertext || tag (16)`. Used by the vault for its data
//! keys and records and by the switch for stored advices; each caller binds
//! its own associated data (what the box belongs to). [`keyed_hash`] is the
//! HMAC-SHA256 (RFC 2104) beside it: a subkey under a label, or a keyed
//! fingerprint by which a sealed value is found without being readable.

use crate::SealError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

const NONCE: usize = 12;

/// `nonce || ciphertext || tag` of `plaintext` under `key`, bound to `aad`.
pub fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let nonce = crate::random::<NONCE>()?;
    let ct = Aes256Gcm::new(&(*key).into())
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| SealError::TooLong)?;
    let mut out = Vec::with_capacity(NONCE + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// The plaintext of a [`seal`] output for the same `key` and `aad`.
pub fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let (nonce, ct) = sealed.split_at_checked(NONCE).ok_or(SealError::Malformed)?;
    let nonce = Nonce::try_from(nonce).map_err(|_| SealError::Malformed)?;
    Aes256Gcm::new(&(*key).into())
        .decrypt(&nonce, Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| SealError::Open)
}

/// HMAC-SHA256 of `data` under `key`.
pub fn keyed_hash(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key)
        .expect("HMAC-SHA256 accepts a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_its_key_and_associated_data() {
        let k = [7u8; 32];
        let sealed = seal(&k, b"row-1", b"6212345678901234").unwrap();
        assert_eq!(sealed.len(), 12 + 16 + 16);
        assert!(!sealed.windows(16).any(|w| w == b"6212345678901234"));
        assert_eq!(&**open(&k, b"row-1", &sealed).unwrap(), b"6212345678901234");
        assert_eq!(open(&k, b"row-2", &sealed), Err(SealError::Open));
        assert_eq!(open(&[8u8; 32], b"row-1", &sealed), Err(SealError::Open));
        let mut bent = sealed.clone();
        let last = bent.len() - 1;
        bent[last] ^= 1;
        assert_eq!(open(&k, b"row-1", &bent), Err(SealError::Open));
        assert_eq!(open(&k, b"row-1", &sealed[..5]), Err(SealError::Malformed));
        assert_ne!(seal(&k, b"a", b"x").unwrap(), seal(&k, b"a", b"x").unwrap());
    }

    /// AES-256-GCM known answer: NIST GCM test vector (gcmEncryptExtIV256,
    /// Count 0 with 128-bit plaintext): K = 0^256, IV = 0^96, P = 0^128.
    #[test]
    fn aes256_gcm_known_answer() {
        let ct = Aes256Gcm::new(&[0u8; 32].into())
            .encrypt(
                &Nonce::from([0u8; 12]),
                Payload {
                    msg: &[0u8; 16],
                    aad: b"",
                },
            )
            .unwrap();
        let hex: String = ct.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"
        );
        // And `open` reads that layout: nonce first, then ciphertext and tag.
        let mut boxed = vec![0u8; 12];
        boxed.extend_from_slice(&ct);
        assert_eq!(&**open(&[0u8; 32], b"", &boxed).unwrap(), &[0u8; 16]);
    }

    /// HMAC-SHA256 known answers: RFC 4231 test cases 1 and 2.
    #[test]
    fn keyed_hash_known_answer() {
        let hex = |b: [u8; 32]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(keyed_hash(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(keyed_hash(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
