//! The band's offline code, sans-IO.
//!
//! A band has a screen and no camera, and pays without the phone or the
//! network. The platform gives it a [`Certificate`] (band id, which is also
//! its band account's, the certificate's serial, limit in minor units and
//! currency, validity, the band's Ed25519 public key), signed with the
//! platform's Ed25519 key. For each payment the band makes an
//! [`OfflineCode`]: a counter that never repeats, the time, the amount it
//! allows and its certificate, signed with the band's own key. The code is a
//! fixed-length binary record ([`CODE_LEN`] bytes), carried in a QR code as
//! an EMVCo consumer-presented payload ([`CODE_TEXT_LEN`] characters of
//! standard Base64 over BER-TLV: `85 "CPV01"`, then an application template
//! `61` with the band application's ADF name `4F` ([`BAND_AID`]) and a
//! transparent template `63` holding the record under the private tag
//! `DF60`). Every length in it is fixed, so the envelope is compared byte for
//! byte: a reader that follows EMVCo CPM parses it, and this one accepts
//! nothing else.
//!
//! Each sync of the band through the phone gets a certificate with a higher
//! serial, which restores its offline allowance: a register counts a band's
//! spending per serial and refuses a certificate older than one it has seen.
//!
//! A cash register checks a code offline with [`RegisterVerifier`]: the
//! platform's public key, the counters it has seen and the spending it knows of
//! for each band, and the revoked bands. It is pure state; the register stores
//! each accepted operation durably and may reload what it knew with
//! [`RegisterVerifier::restore`].
//!
//! Signatures use Ed25519 (RFC 8032) over a domain-separation prefix and the
//! exact bytes of the record, verified strictly (no malleable signatures, no
//! weak keys). Times are Unix seconds supplied by the caller. The platform,
//! settling a register's upload of many codes, checks their signatures
//! together with [`verify_codes`] (Ed25519 batch verification, each code
//! answered as alone).
//!
//! Byte layout (all integers big-endian):
//!
//! ```text
//! certificate (CERT_LEN = 151):
//!   version u8 | platform key id [8] | band id [16] | serial u32 | limit u64
//!   | currency u16 | not before i64 | not after i64 | band public key [32]
//!   | signature [64]
//! code (CODE_LEN = 240):
//!   version u8 | counter u64 | time i64 | amount u64 | certificate [151]
//!   | signature [64]
//! ```
#![deny(missing_docs)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use std::collections::{HashMap, HashSet};
use thiserror::Error;

/// Version byte of the certificate and code layouts.
pub const FORMAT_VERSION: u8 = 1;
/// A code older than this (by its own time) is refused as stale.
pub const MAX_CODE_AGE_SECS: i64 = 60;
/// A code dated further than this in the register's future is refused.
pub const MAX_CLOCK_SKEW_SECS: i64 = 30;
/// Longest validity the platform signs a certificate for.
pub const MAX_CERT_VALIDITY_SECS: i64 = 30 * 24 * 3600;
/// Bytes of the platform key id: the first bytes of the platform public key.
pub const KEY_ID_LEN: usize = 8;
/// Bytes of a band id.
pub const BAND_ID_LEN: usize = 16;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Bytes of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Signed part of a certificate.
pub const CERT_BODY_LEN: usize = 1 + KEY_ID_LEN + BAND_ID_LEN + 4 + 8 + 2 + 8 + 8 + PUBLIC_KEY_LEN;
/// A whole certificate.
pub const CERT_LEN: usize = CERT_BODY_LEN + SIGNATURE_LEN;
/// Signed part of a code.
pub const CODE_BODY_LEN: usize = 1 + 8 + 8 + 8 + CERT_LEN;
/// A whole code.
pub const CODE_LEN: usize = CODE_BODY_LEN + SIGNATURE_LEN;
/// ADF name (tag 4F) of the band's offline application: a proprietary AID
/// (`F0`, then "PTBAND").
pub const BAND_AID: [u8; 7] = [0xF0, b'P', b'T', b'B', b'A', b'N', b'D'];
/// The private tag that carries the record in the transparent template.
pub const RECORD_TAG: [u8; 2] = [0xDF, 0x60];
/// Bytes of the CPM envelope before the record: `85 05 "CPV01"`,
/// `61 82 01 00`, `4F 07 AID`, `63 81 F4`, `DF60 81 F0`.
pub const ENVELOPE_PREFIX_LEN: usize = 7 + 4 + 2 + BAND_AID.len() + 3 + 4;
/// A code as the CPM payload's bytes.
pub const CODE_PAYLOAD_LEN: usize = ENVELOPE_PREFIX_LEN + CODE_LEN;
/// A code as Base64 text (standard alphabet, padded).
pub const CODE_TEXT_LEN: usize = CODE_PAYLOAD_LEN.div_ceil(3) * 4;
/// Most bands one register keeps counters and spending for.
pub const MAX_BANDS_TRACKED: usize = 1_000_000;
/// Most codes a band keeps in its log between syncs (and reports at one):
/// a week of a busy band's payments; a full log refuses new codes until the
/// band syncs.
pub const MAX_UNSYNCED_CODES: usize = 1_000;
/// Most revoked bands one register keeps.
pub const MAX_REVOKED: usize = 1_000_000;

const CERT_DOMAIN: &[u8] = b"paytap band certificate v1\0";
const CODE_DOMAIN: &[u8] = b"paytap band code v1\0";

/// A band's identifier.
pub type BandId = [u8; BAND_ID_LEN];

/// Every way an offline code, its certificate or its issuance is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OfflineError {
    /// The text is not standard Base64.
    #[error("offline code is not valid base64")]
    Base64,
    /// The record has the wrong length.
    #[error("offline code must be {expected} bytes, got {actual}")]
    Length {
        /// Bytes a record of this kind has.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// An unknown layout version.
    #[error("offline code version {0} is not supported (expected {FORMAT_VERSION})")]
    Version(u8),
    /// The certificate names another platform key.
    #[error("certificate was signed by an unknown platform key")]
    UnknownPlatformKey,
    /// The certificate's signature does not verify.
    #[error("certificate signature is invalid")]
    BadCertificateSignature,
    /// The code's signature does not verify with the band's key.
    #[error("code signature is invalid")]
    BadCodeSignature,
    /// The certificate's content is not acceptable.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(&'static str),
    /// The register's time is before the certificate's validity.
    #[error("certificate is not valid before {not_before}")]
    NotYetValid {
        /// Start of validity.
        not_before: i64,
    },
    /// The register's time is after the certificate's validity.
    #[error("certificate expired at {not_after}")]
    Expired {
        /// End of validity.
        not_after: i64,
    },
    /// The code is older than [`MAX_CODE_AGE_SECS`].
    #[error("code is stale: made {age_secs} s ago (at most {MAX_CODE_AGE_SECS} s)")]
    Stale {
        /// How old the code is.
        age_secs: i64,
    },
    /// The code is dated in the future beyond [`MAX_CLOCK_SKEW_SECS`].
    #[error("code is dated {ahead_secs} s in the future")]
    FromFuture {
        /// How far ahead.
        ahead_secs: i64,
    },
    /// The counter is not above the last one this register accepted.
    #[error("counter {counter} replayed or gone backwards (last accepted {last})")]
    Replayed {
        /// The code's counter.
        counter: u64,
        /// The highest counter this register accepted from the band.
        last: u64,
    },
    /// Accepting the code would exceed the band's limit.
    #[error("over limit: {spent} spent + {amount} > limit {limit}")]
    OverLimit {
        /// Spending this register knows of.
        spent: u64,
        /// The code's amount.
        amount: u64,
        /// The certificate's limit.
        limit: u64,
    },
    /// The band is revoked.
    #[error("band is revoked")]
    Revoked,
    /// The code's certificate is older than one this register has seen.
    #[error("certificate serial {serial} superseded by serial {seen}")]
    Superseded {
        /// The code's certificate serial.
        serial: u32,
        /// The newest serial this register has seen for the band.
        seen: u32,
    },
    /// The payload is not the band code's EMVCo consumer-presented envelope.
    #[error("not a band code: the consumer-presented envelope does not match")]
    Envelope,
    /// A code for nothing.
    #[error("amount must be greater than zero")]
    ZeroAmount,
    /// The band has used every counter value.
    #[error("band counter exhausted")]
    CounterExhausted,
    /// The band's key is not the one its certificate names.
    #[error("band key does not match its certificate")]
    BandKeyMismatch,
    /// The register tracks [`MAX_BANDS_TRACKED`] bands or revokes [`MAX_REVOKED`].
    #[error("register state is full")]
    Full,
}

/// The platform's certificate for a band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// First [`KEY_ID_LEN`] bytes of the platform public key that signed it.
    pub platform_key_id: [u8; KEY_ID_LEN],
    /// The band, and its band account.
    pub band_id: BandId,
    /// The certificate's issue number for this band: each sync's is higher.
    pub serial: u32,
    /// Most the band may spend offline, in minor units of `currency`.
    pub limit: u64,
    /// ISO 4217 numeric currency of `limit` and of every code's amount.
    pub currency: u16,
    /// Start of validity (Unix seconds, inclusive).
    pub not_before: i64,
    /// End of validity (Unix seconds, inclusive).
    pub not_after: i64,
    /// The band's Ed25519 public key.
    pub band_key: [u8; PUBLIC_KEY_LEN],
    /// The platform's Ed25519 signature over the body.
    pub signature: [u8; SIGNATURE_LEN],
}

/// One payment's code, made and signed by the band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineCode {
    /// Strictly increasing per band.
    pub counter: u64,
    /// When the band made it (Unix seconds).
    pub time: i64,
    /// Most the register may take, in minor units of the certificate's currency.
    pub amount: u64,
    /// The band's certificate.
    pub certificate: Certificate,
    /// The band's Ed25519 signature over the body.
    pub signature: [u8; SIGNATURE_LEN],
}

/// A little-endian-free cursor over a fixed-length record (lengths are checked
/// before reading, so reads cannot run out).
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[self.at..self.at + N]);
        self.at += N;
        out
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take())
    }
    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take())
    }
}

fn check_len(bytes: &[u8], expected: usize) -> Result<(), OfflineError> {
    if bytes.len() != expected {
        return Err(OfflineError::Length {
            expected,
            actual: bytes.len(),
        });
    }
    match bytes[0] {
        FORMAT_VERSION => Ok(()),
        v => Err(OfflineError::Version(v)),
    }
}

/// The key id a platform public key is named by in certificates.
pub fn key_id(key: &VerifyingKey) -> [u8; KEY_ID_LEN] {
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&key.as_bytes()[..KEY_ID_LEN]);
    id
}

impl Certificate {
    /// The signed body: version and every field but the signature.
    pub fn body(&self) -> [u8; CERT_BODY_LEN] {
        let mut b = Vec::with_capacity(CERT_BODY_LEN);
        b.push(FORMAT_VERSION);
        b.extend_from_slice(&self.platform_key_id);
        b.extend_from_slice(&self.band_id);
        b.extend_from_slice(&self.serial.to_be_bytes());
        b.extend_from_slice(&self.limit.to_be_bytes());
        b.extend_from_slice(&self.currency.to_be_bytes());
        b.extend_from_slice(&self.not_before.to_be_bytes());
        b.extend_from_slice(&self.not_after.to_be_bytes());
        b.extend_from_slice(&self.band_key);
        b.try_into()
            .expect("certificate body has CERT_BODY_LEN bytes")
    }

    /// The certificate's bytes.
    pub fn encode(&self) -> [u8; CERT_LEN] {
        let mut out = [0u8; CERT_LEN];
        out[..CERT_BODY_LEN].copy_from_slice(&self.body());
        out[CERT_BODY_LEN..].copy_from_slice(&self.signature);
        out
    }

    /// Parse a certificate's bytes (signature not checked).
    pub fn decode(bytes: &[u8]) -> Result<Certificate, OfflineError> {
        check_len(bytes, CERT_LEN)?;
        let mut r = Reader { bytes, at: 1 };
        Ok(Certificate {
            platform_key_id: r.take(),
            band_id: r.take(),
            serial: u32::from_be_bytes(r.take()),
            limit: r.u64(),
            currency: u16::from_be_bytes(r.take()),
            not_before: r.i64(),
            not_after: r.i64(),
            band_key: r.take(),
            signature: r.take(),
        })
    }

    /// Check the platform's signature and the content rules.
    pub fn verify(&self, platform: &VerifyingKey) -> Result<(), OfflineError> {
        if self.platform_key_id != key_id(platform) {
            return Err(OfflineError::UnknownPlatformKey);
        }
        let msg = [CERT_DOMAIN, &self.body()].concat();
        platform
            .verify_strict(&msg, &Signature::from_bytes(&self.signature))
            .map_err(|_| OfflineError::BadCertificateSignature)?;
        check_content(self)
    }
}

/// The rules a certificate's content follows, signed or not.
fn check_content(c: &Certificate) -> Result<(), OfflineError> {
    if c.limit == 0 {
        return Err(OfflineError::InvalidCertificate(
            "limit must be greater than zero",
        ));
    }
    if c.currency == 0 || c.currency > 999 {
        return Err(OfflineError::InvalidCertificate(
            "currency is ISO 4217 numeric 1-999",
        ));
    }
    let span = c.not_after.checked_sub(c.not_before);
    if !matches!(span, Some(s) if s > 0 && s <= MAX_CERT_VALIDITY_SECS) {
        return Err(OfflineError::InvalidCertificate(
            "validity must be positive and at most MAX_CERT_VALIDITY_SECS",
        ));
    }
    Ok(())
}

/// The platform's side: signs band certificates.
pub struct Platform {
    key: SigningKey,
}

impl Platform {
    /// A platform signer from its 32-byte Ed25519 secret key.
    pub fn from_secret(secret: &[u8; 32]) -> Platform {
        Platform {
            key: SigningKey::from_bytes(secret),
        }
    }

    /// The public key registers verify with.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Sign a certificate for a band.
    pub fn issue(&self, unsigned: Certificate) -> Result<Certificate, OfflineError> {
        let mut c = unsigned;
        c.platform_key_id = key_id(&self.public_key());
        VerifyingKey::from_bytes(&c.band_key)
            .map_err(|_| OfflineError::InvalidCertificate("band key is not an Ed25519 point"))?;
        check_content(&c)?;
        let msg = [CERT_DOMAIN, &c.body()].concat();
        c.signature = self.key.sign(&msg).to_bytes();
        Ok(c)
    }
}

/// The Ed25519 public key of a 32-byte secret key (a band's, for its
/// certificate).
pub fn public_key_of(secret: &[u8; 32]) -> [u8; PUBLIC_KEY_LEN] {
    SigningKey::from_bytes(secret).verifying_key().to_bytes()
}

/// The band's side: its key, its certificate, its next counter and what it
/// has allowed under this certificate (it never allows more than the
/// certificate's limit: only a copy of its key could).
pub struct Band {
    key: SigningKey,
    certificate: Certificate,
    next_counter: u64,
    spent: u64,
}

impl Band {
    /// A band from its 32-byte Ed25519 secret key, its certificate and the
    /// next counter value it may use (kept by its secure element).
    pub fn new(
        secret: &[u8; 32],
        certificate: Certificate,
        next_counter: u64,
    ) -> Result<Band, OfflineError> {
        let key = SigningKey::from_bytes(secret);
        if key.verifying_key().as_bytes() != &certificate.band_key {
            return Err(OfflineError::BandKeyMismatch);
        }
        Ok(Band {
            key,
            certificate,
            next_counter,
            spent: 0,
        })
    }

    /// The same band having already allowed `spent` under its certificate
    /// (as its secure element recorded).
    pub fn with_spent(mut self, spent: u64) -> Band {
        self.spent = spent;
        self
    }

    /// The band's certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The counter the next code will carry.
    pub fn next_counter(&self) -> u64 {
        self.next_counter
    }

    /// What the band has allowed under its certificate.
    pub fn spent(&self) -> u64 {
        self.spent
    }

    /// Make and sign the code for one payment of at most `amount`.
    pub fn make_code(&mut self, now: i64, amount: u64) -> Result<OfflineCode, OfflineError> {
        if amount == 0 {
            return Err(OfflineError::ZeroAmount);
        }
        let limit = self.certificate.limit;
        let total = self.spent.checked_add(amount).filter(|t| *t <= limit);
        let Some(total) = total else {
            return Err(OfflineError::OverLimit {
                spent: self.spent,
                amount,
                limit,
            });
        };
        let counter = self.next_counter;
        self.next_counter = counter
            .checked_add(1)
            .ok_or(OfflineError::CounterExhausted)?;
        let mut code = OfflineCode {
            counter,
            time: now,
            amount,
            certificate: self.certificate.clone(),
            signature: [0; SIGNATURE_LEN],
        };
        let msg = [CODE_DOMAIN, &code.body()].concat();
        code.signature = self.key.sign(&msg).to_bytes();
        self.spent = total;
        Ok(code)
    }
}

impl OfflineCode {
    /// The signed body: version, counter, time, amount, certificate.
    pub fn body(&self) -> [u8; CODE_BODY_LEN] {
        let mut b = Vec::with_capacity(CODE_BODY_LEN);
        b.push(FORMAT_VERSION);
        b.extend_from_slice(&self.counter.to_be_bytes());
        b.extend_from_slice(&self.time.to_be_bytes());
        b.extend_from_slice(&self.amount.to_be_bytes());
        b.extend_from_slice(&self.certificate.encode());
        b.try_into().expect("code body has CODE_BODY_LEN bytes")
    }

    /// The code's bytes.
    pub fn encode(&self) -> [u8; CODE_LEN] {
        let mut out = [0u8; CODE_LEN];
        out[..CODE_BODY_LEN].copy_from_slice(&self.body());
        out[CODE_BODY_LEN..].copy_from_slice(&self.signature);
        out
    }

    /// The code as the Base64 text a QR code carries (the CPM envelope).
    pub fn to_base64(&self) -> String {
        let mut payload = Vec::with_capacity(CODE_PAYLOAD_LEN);
        payload.extend_from_slice(&envelope_prefix());
        payload.extend_from_slice(&self.encode());
        debug_assert_eq!(payload.len(), CODE_PAYLOAD_LEN);
        B64.encode(payload)
    }

    /// Parse a code's bytes (signatures not checked).
    pub fn decode(bytes: &[u8]) -> Result<OfflineCode, OfflineError> {
        check_len(bytes, CODE_LEN)?;
        let mut r = Reader { bytes, at: 1 };
        let counter = r.u64();
        let time = r.i64();
        let amount = r.u64();
        let cert: [u8; CERT_LEN] = r.take();
        Ok(OfflineCode {
            counter,
            time,
            amount,
            certificate: Certificate::decode(&cert)?,
            signature: r.take(),
        })
    }

    /// Parse the Base64 text of a code (signatures not checked).
    pub fn from_base64(text: &str) -> Result<OfflineCode, OfflineError> {
        let text = text.trim();
        if text.len() != CODE_TEXT_LEN {
            return Err(OfflineError::Length {
                expected: CODE_TEXT_LEN,
                actual: text.len(),
            });
        }
        let bytes = B64.decode(text).map_err(|_| OfflineError::Base64)?;
        if bytes.len() != CODE_PAYLOAD_LEN {
            return Err(OfflineError::Length {
                expected: CODE_PAYLOAD_LEN,
                actual: bytes.len(),
            });
        }
        let (prefix, record) = bytes.split_at(ENVELOPE_PREFIX_LEN);
        if prefix != envelope_prefix() {
            return Err(OfflineError::Envelope);
        }
        OfflineCode::decode(record)
    }

    /// Check the band's signature with the key its certificate names (the
    /// certificate's own signature is [`Certificate::verify`]'s).
    pub fn verify_signature(&self) -> Result<(), OfflineError> {
        let key = VerifyingKey::from_bytes(&self.certificate.band_key)
            .map_err(|_| OfflineError::BadCodeSignature)?;
        let msg = [CODE_DOMAIN, &self.body()].concat();
        key.verify_strict(&msg, &Signature::from_bytes(&self.signature))
            .map_err(|_| OfflineError::BadCodeSignature)
    }
}

/// The CPM envelope's bytes before the record (every length is fixed):
/// the envelope of a record of zeros, up to the record.
fn envelope_prefix() -> [u8; ENVELOPE_PREFIX_LEN] {
    let tag = paytap_tlv::Tag::from_u32_unchecked;
    let tlv = |t: u32, value: &[u8], out: &mut Vec<u8>| {
        paytap_tlv::write_tlv(tag(t), value, out).expect("the envelope's lengths are in range");
    };
    let mut record = Vec::new();
    tlv(
        u32::from(u16::from_be_bytes(RECORD_TAG)),
        &[0; CODE_LEN],
        &mut record,
    );
    let mut template = Vec::new();
    tlv(0x4F, &BAND_AID, &mut template);
    tlv(0x63, &record, &mut template);
    let mut payload = Vec::with_capacity(CODE_PAYLOAD_LEN);
    tlv(0x85, b"CPV01", &mut payload);
    tlv(0x61, &template, &mut payload);
    payload[..payload.len() - CODE_LEN]
        .try_into()
        .expect("envelope prefix has ENVELOPE_PREFIX_LEN bytes")
}

/// What a register knows of one band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BandSeen {
    /// Serial of the newest certificate accepted: `spent` counts under it.
    pub serial: u32,
    /// Highest counter accepted.
    pub last_counter: u64,
    /// Sum of the amounts accepted under certificate `serial`, in minor units.
    pub spent: u64,
}

/// A code the register accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The band.
    pub band_id: BandId,
    /// The code's counter.
    pub counter: u64,
    /// The amount taken, in minor units of `currency`.
    pub amount: u64,
    /// ISO 4217 numeric.
    pub currency: u16,
    /// The band's spending this register knows of, this code included.
    pub spent: u64,
    /// The band's limit.
    pub limit: u64,
}

/// A cash register's offline check of band codes: pure state.
pub struct RegisterVerifier {
    platform: VerifyingKey,
    bands: HashMap<BandId, BandSeen>,
    revoked: HashSet<BandId>,
    /// Each band's certificate as last verified, byte for byte: the platform
    /// signature of the same certificate is not checked again.
    verified: HashMap<BandId, [u8; CERT_LEN]>,
}

impl RegisterVerifier {
    /// A register that trusts this platform public key.
    pub fn new(platform: VerifyingKey) -> RegisterVerifier {
        RegisterVerifier {
            platform,
            bands: HashMap::new(),
            revoked: HashSet::new(),
            verified: HashMap::new(),
        }
    }

    /// Revoke a band (from the downloaded revocation list).
    pub fn revoke(&mut self, band: BandId) -> Result<(), OfflineError> {
        if self.revoked.len() >= MAX_REVOKED && !self.revoked.contains(&band) {
            return Err(OfflineError::Full);
        }
        self.revoked.insert(band);
        Ok(())
    }

    /// What this register knows of a band.
    pub fn seen(&self, band: &BandId) -> Option<BandSeen> {
        self.bands.get(band).copied()
    }

    /// Reload what this register knew of a band (from its durable store).
    pub fn restore(&mut self, band: BandId, seen: BandSeen) -> Result<(), OfflineError> {
        if self.bands.len() >= MAX_BANDS_TRACKED && !self.bands.contains_key(&band) {
            return Err(OfflineError::Full);
        }
        self.bands.insert(band, seen);
        Ok(())
    }

    /// Verify a certificate's platform signature unless these exact bytes
    /// were verified before for its band.
    fn check_certificate(&mut self, cert: &Certificate) -> Result<(), OfflineError> {
        let bytes = cert.encode();
        if self.verified.get(&cert.band_id) == Some(&bytes) {
            return Ok(());
        }
        cert.verify(&self.platform)?;
        if self.verified.len() < MAX_BANDS_TRACKED || self.verified.contains_key(&cert.band_id) {
            self.verified.insert(cert.band_id, bytes);
        }
        Ok(())
    }

    /// Parse and verify the Base64 text of a code.
    pub fn verify_text(&mut self, text: &str, now: i64) -> Result<Accepted, OfflineError> {
        self.verify(&OfflineCode::from_base64(text)?, now)
    }

    /// Verify a code at `now` (Unix seconds) and, when it is accepted, count
    /// its counter and amount. A refused code changes nothing.
    pub fn verify(&mut self, code: &OfflineCode, now: i64) -> Result<Accepted, OfflineError> {
        let cert = &code.certificate;
        self.check_certificate(cert)?;
        if self.revoked.contains(&cert.band_id) {
            return Err(OfflineError::Revoked);
        }
        check_validity(cert, now)?;
        code.verify_signature()?;
        check_fresh(code.time, now)?;
        let seen = self.seen(&cert.band_id);
        let next = admit(code, seen)?;
        self.restore(cert.band_id, next)?;
        Ok(Accepted {
            band_id: cert.band_id,
            counter: code.counter,
            amount: code.amount,
            currency: cert.currency,
            spent: next.spent,
            limit: cert.limit,
        })
    }
}

fn check_validity(cert: &Certificate, now: i64) -> Result<(), OfflineError> {
    if now < cert.not_before {
        return Err(OfflineError::NotYetValid {
            not_before: cert.not_before,
        });
    }
    if now > cert.not_after {
        return Err(OfflineError::Expired {
            not_after: cert.not_after,
        });
    }
    Ok(())
}

fn check_fresh(time: i64, now: i64) -> Result<(), OfflineError> {
    let age = now.saturating_sub(time);
    if age > MAX_CODE_AGE_SECS {
        return Err(OfflineError::Stale { age_secs: age });
    }
    if age < -MAX_CLOCK_SKEW_SECS {
        return Err(OfflineError::FromFuture {
            ahead_secs: age.saturating_neg(),
        });
    }
    Ok(())
}

/// The band's state after accepting `code`, or why it cannot be accepted.
/// A newer certificate (after a sync) starts its spending from zero.
fn admit(code: &OfflineCode, seen: Option<BandSeen>) -> Result<BandSeen, OfflineError> {
    if code.amount == 0 {
        return Err(OfflineError::ZeroAmount);
    }
    let serial = code.certificate.serial;
    if let Some(s) = seen {
        if code.counter <= s.last_counter {
            return Err(OfflineError::Replayed {
                counter: code.counter,
                last: s.last_counter,
            });
        }
        if serial < s.serial {
            return Err(OfflineError::Superseded {
                serial,
                seen: s.serial,
            });
        }
    }
    let spent = seen.filter(|s| s.serial == serial).map_or(0, |s| s.spent);
    let limit = code.certificate.limit;
    let total = spent.checked_add(code.amount).filter(|t| *t <= limit);
    let Some(total) = total else {
        return Err(OfflineError::OverLimit {
            spent,
            amount: code.amount,
            limit,
        });
    };
    debug_assert!(total <= limit && total > spent);
    Ok(BandSeen {
        serial,
        last_counter: code.counter,
        spent: total,
    })
}

mod batch;
pub use batch::verify_codes;

#[cfg(test)]
mod tests;
