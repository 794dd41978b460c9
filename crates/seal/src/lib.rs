//! Sealing secrets to one device, and what the token service seals.
//!
//! A phone, watch or band enrols with an X25519 public key; its private key
//! never leaves the device's secure element. The token service sends each
//! provisioned token to that device as a [`ProvisioningPayload`] sealed with
//! [`seal`]: an ephemeral X25519 key agreement, HKDF-SHA256 to a
//! ChaCha20-Poly1305 key, and authenticated encryption with caller-chosen
//! associated data (e.g. the device id and token reference), so a payload
//! cannot be opened by another device or replayed into another context.
//!
//! Wire format of a sealed box: `version (1 byte = 1) || ephemeral public
//! key (32) || nonce (12) || ciphertext || tag (16)`.
//!
//! [`at_rest`] is the symmetric form, AES-256-GCM under a key the caller
//! holds: the vault's records and data keys, the switch's stored advices.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use paytap_types::Secret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub mod at_rest;
pub mod upi_pin;

const VERSION: u8 = 1;
const INFO: &[u8] = b"paytap seal v1 chacha20poly1305";
const OVERHEAD: usize = 1 + 32 + 12 + 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed box is too short or has an unknown version")]
    Malformed,
    #[error("sealed box does not open with this key and context")]
    Open,
    #[error("system random number generator failed")]
    Random,
    #[error("public key must be 32 bytes")]
    PublicKey,
    #[error("provisioning payload is not valid: {0}")]
    Payload(String),
    #[error("data too long to seal")]
    TooLong,
}

/// A device's X25519 key pair. The secret is zeroized on drop and never
/// printed.
#[derive(Clone)]
pub struct DeviceKey {
    secret: StaticSecret,
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceKey(public={})", hex_short(&self.public()))
    }
}

fn hex_short(b: &[u8; 32]) -> String {
    b.iter()
        .take(4)
        .map(|x| format!("{x:02x}"))
        .collect::<String>()
        + "..."
}

fn random<const N: usize>() -> Result<[u8; N], SealError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| SealError::Random)?;
    Ok(b)
}

impl DeviceKey {
    pub fn generate() -> Result<DeviceKey, SealError> {
        let mut b = random::<32>()?;
        let secret = StaticSecret::from(b);
        b.zeroize();
        Ok(DeviceKey { secret })
    }

    /// Restores a key from its 32 secret bytes (as kept in the keystore).
    pub fn from_bytes(bytes: [u8; 32]) -> DeviceKey {
        DeviceKey {
            secret: StaticSecret::from(bytes),
        }
    }

    /// The secret bytes, for the device's encrypted keystore only.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    pub fn public(&self) -> [u8; 32] {
        PublicKey::from(&self.secret).to_bytes()
    }
}

fn derive_key(shared: &[u8; 32], eph_pub: &[u8; 32], recipient: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph_pub);
    salt[32..].copy_from_slice(recipient);
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut okm = Zeroizing::new([0u8; 32]);
    // 32 bytes is always a valid HKDF-SHA256 output length.
    let _ = hk.expand(INFO, okm.as_mut());
    okm
}

/// Encrypts `plaintext` so only the holder of `recipient`'s secret key can
/// read it, bound to `aad`.
pub fn seal(recipient: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let mut eph_bytes = random::<32>()?;
    let eph = StaticSecret::from(eph_bytes);
    eph_bytes.zeroize();
    let eph_pub = PublicKey::from(&eph).to_bytes();
    let shared = eph.diffie_hellman(&PublicKey::from(*recipient));
    let key = derive_key(shared.as_bytes(), &eph_pub, recipient);
    let cipher = ChaCha20Poly1305::new_from_slice(key.as_ref()).map_err(|_| SealError::Random)?;
    let nonce_bytes = random::<12>()?;
    let nonce = Nonce::from(nonce_bytes);
    let ct = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| SealError::Random)?;
    let mut out = Vec::with_capacity(OVERHEAD + plaintext.len());
    out.push(VERSION);
    out.extend_from_slice(&eph_pub);
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens a box made by [`seal`] for `key` with the same `aad`.
pub fn open(key: &DeviceKey, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.len() < OVERHEAD || sealed.first() != Some(&VERSION) {
        return Err(SealError::Malformed);
    }
    let eph_pub: [u8; 32] = sealed
        .get(1..33)
        .and_then(|s| s.try_into().ok())
        .ok_or(SealError::Malformed)?;
    let nonce_bytes: [u8; 12] = sealed
        .get(33..45)
        .and_then(|s| s.try_into().ok())
        .ok_or(SealError::Malformed)?;
    let ct = sealed.get(45..).ok_or(SealError::Malformed)?;
    let shared = key.secret.diffie_hellman(&PublicKey::from(eph_pub));
    let sym = derive_key(shared.as_bytes(), &eph_pub, &key.public());
    let cipher = ChaCha20Poly1305::new_from_slice(sym.as_ref()).map_err(|_| SealError::Open)?;
    cipher
        .decrypt(&Nonce::from(nonce_bytes), Payload { msg: ct, aad })
        .map(Zeroizing::new)
        .map_err(|_| SealError::Open)
}

/// Parses a base64 (standard alphabet) X25519 public key as sent by devices.
pub fn public_key_from_base64(s: &str) -> Result<[u8; 32], SealError> {
    use base64::Engine;
    let v = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|_| SealError::PublicKey)?;
    v.as_slice().try_into().map_err(|_| SealError::PublicKey)
}

pub fn public_key_to_base64(k: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(k)
}

/// One token as the token service hands it to a device's secure element.
///
/// It carries the token (never the card number) and the token's own ICC
/// master key, from which the secure element derives a session key per
/// transaction (EMV Book 2 A1.3). The issuer master key never leaves the
/// token service. Every field is wiped on drop; `Debug` is redacted.
#[derive(Clone, Debug, Serialize, Deserialize, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct ProvisioningPayload {
    /// The token service's opaque reference for this token.
    pub token_ref: String,
    /// Token PAN digits (a Luhn-valid number from a token BIN range).
    pub token_pan: Secret<String>,
    /// Token expiry, `YYMM`.
    pub expiry_yymm: String,
    /// PAN sequence number (EMV tag 5F34).
    pub psn: u8,
    /// Application identifier, hex (e.g. `A000000333010101`).
    pub aid_hex: String,
    /// Application label shown by the terminal (EMV tag 50).
    pub app_label: String,
    /// `"tdes"` or `"aes"`.
    pub key_kind: String,
    /// The token's ICC master key, hex.
    pub icc_mk_hex: Secret<String>,
    /// First application transaction counter value the card will use.
    pub atc_start: u16,
    /// The wallet requires on-device verification (fingerprint/face) for
    /// every cryptogram above `no_cvm_limit_minor`.
    pub cdcvm_required: bool,
    /// Amounts up to this (minor units of `currency_numeric`) may be paid
    /// without user verification; 0 means never.
    pub no_cvm_limit_minor: i64,
    pub currency_numeric: u16,
    /// Where the token may be used: `"nfc"`, `"qr"` or `"nfc_qr"` (a
    /// phone's: taps and the merchant codes it scans).
    pub domain: String,
    /// What people see: the card's last four digits and the bank.
    pub card_last4: String,
    pub bank_name: String,
}

impl ProvisioningPayload {
    /// Associated data binding a payload to its device and token.
    pub fn aad(device_id: &str, token_ref: &str) -> Vec<u8> {
        format!("paytap-provisioning|{device_id}|{token_ref}").into_bytes()
    }

    /// Serializes and seals this payload to `device_public`.
    pub fn seal_to(&self, device_public: &[u8; 32], device_id: &str) -> Result<Vec<u8>, SealError> {
        let json = Zeroizing::new(
            serde_json::to_vec(self).map_err(|e| SealError::Payload(e.to_string()))?,
        );
        seal(device_public, &Self::aad(device_id, &self.token_ref), &json)
    }

    /// Opens a sealed payload on the device.
    pub fn open_with(
        key: &DeviceKey,
        device_id: &str,
        token_ref: &str,
        sealed: &[u8],
    ) -> Result<ProvisioningPayload, SealError> {
        let json = open(key, &Self::aad(device_id, token_ref), sealed)?;
        let p: ProvisioningPayload =
            serde_json::from_slice(&json).map_err(|e| SealError::Payload(e.to_string()))?;
        if p.token_ref != token_ref {
            return Err(SealError::Payload("token reference mismatch".into()));
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> ProvisioningPayload {
        ProvisioningPayload {
            token_ref: "tok_1".into(),
            token_pan: "6295000000000018".into(),
            expiry_yymm: "2911".into(),
            psn: 1,
            aid_hex: "A000000333010101".into(),
            app_label: "UnionPay Debit".into(),
            key_kind: "tdes".into(),
            icc_mk_hex: "0123456789ABCDEFFEDCBA9876543210".into(),
            atc_start: 1,
            cdcvm_required: true,
            no_cvm_limit_minor: 0,
            currency_numeric: 156,
            domain: "nfc".into(),
            card_last4: "1232".into(),
            bank_name: "Bank of Example".into(),
        }
    }

    #[test]
    fn seals_and_opens_for_the_right_device_only() {
        let dev = DeviceKey::generate().unwrap();
        let other = DeviceKey::generate().unwrap();
        let sealed = payload().seal_to(&dev.public(), "dev_a").unwrap();
        assert_eq!(
            ProvisioningPayload::open_with(&dev, "dev_a", "tok_1", &sealed).unwrap(),
            payload()
        );
        assert_eq!(
            ProvisioningPayload::open_with(&other, "dev_a", "tok_1", &sealed),
            Err(SealError::Open)
        );
        assert_eq!(
            ProvisioningPayload::open_with(&dev, "dev_b", "tok_1", &sealed),
            Err(SealError::Open)
        );
        // No key material or token digits in the box.
        let hay = String::from_utf8_lossy(&sealed).to_string();
        assert!(!hay.contains("6295000000000018"));
        let shown = format!("{:?}", payload());
        assert!(!shown.contains("6295"), "{shown}");
        assert!(!shown.contains("0123456789"), "{shown}");
        // The sealed JSON carries the values themselves, as before.
        let json = serde_json::to_value(payload()).unwrap();
        assert_eq!(json["token_pan"], "6295000000000018");
        assert_eq!(json["icc_mk_hex"], "0123456789ABCDEFFEDCBA9876543210");
        assert!(!format!("{dev:?}").contains(&format!("{:?}", dev.to_bytes())));
    }

    #[test]
    fn every_tampered_byte_is_refused() {
        let dev = DeviceKey::generate().unwrap();
        let sealed = seal(&dev.public(), b"ctx", b"secret").unwrap();
        assert_eq!(&open(&dev, b"ctx", &sealed).unwrap()[..], b"secret");
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(open(&dev, b"ctx", &t).is_err(), "byte {i}");
        }
        for n in 0..OVERHEAD {
            assert_eq!(open(&dev, b"ctx", &sealed[..n]), Err(SealError::Malformed));
        }
    }

    #[test]
    fn key_round_trips_through_bytes_and_base64() {
        let dev = DeviceKey::generate().unwrap();
        let again = DeviceKey::from_bytes(*dev.to_bytes());
        assert_eq!(dev.public(), again.public());
        let b64 = public_key_to_base64(&dev.public());
        assert_eq!(public_key_from_base64(&b64).unwrap(), dev.public());
        assert_eq!(public_key_from_base64("AAAA"), Err(SealError::PublicKey));
    }
}
