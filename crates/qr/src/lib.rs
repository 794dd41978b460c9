//! # paytap-qr
//!
//! EMVCo QR Code Specification for Payment Systems, sans-IO:
//!
//! - [`mpm`]: Merchant-Presented Mode (v1.1): `ID LEN VALUE` text with a
//!   CRC-16/CCITT-FALSE in ID "63"; parse, validate and build ([`Mpm`]).
//! - [`cpm`]: Consumer-Presented Mode (v1.0): base64 of BER-TLV with application
//!   templates, token data and cryptogram; parse and build ([`Cpm`]).
//! - [`merchant`]: paytap's static and dynamic merchant codes (its merchant
//!   account template `com.paytap`).
//! - [`offline`]: the band's offline code: a platform-signed certificate, a
//!   per-payment code signed by the band, and the register's verifier.
//! - [`presented`]: paytap's profile of the consumer-presented code a
//!   phone shows to pay online (token, chip data, a time-bound
//!   unpredictable number) and its freshness check.
//! - [`decode`]: auto-detects which of the two a scanned text is.
#![deny(missing_docs)]

pub mod cpm;
pub mod crc;
pub mod currency;
pub mod merchant;
pub mod mpm;
pub mod offline;
pub mod presented;

pub use cpm::{Cpm, CpmTemplate};
pub use crc::crc16_ccitt_false;
pub use mpm::{
    AdditionalData, MerchantAccount, MerchantLanguage, Mpm, PointOfInitiation, SubField, Tip,
};

use thiserror::Error;

/// Every way a QR payload can be rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QrError {
    /// A data object runs past the end of the payload.
    #[error("data object truncated at offset {offset}")]
    Truncated {
        /// Where the data object starts in the payload.
        offset: usize,
    },
    /// An ID that is not two digits.
    #[error("invalid data object ID at offset {offset}")]
    InvalidId {
        /// Where the ID starts in the payload.
        offset: usize,
    },
    /// A length that is not two digits.
    #[error("invalid data object length at offset {offset}")]
    InvalidLength {
        /// Where the length starts in the payload.
        offset: usize,
    },
    /// ID "00" payload format indicator is not the first object.
    #[error("payload format indicator (ID 00) must come first")]
    PayloadFormatNotFirst,
    /// ID "63" CRC is not the last object.
    #[error("CRC (ID 63) must be the last data object")]
    CrcNotLast,
    /// The CRC is not four hexadecimal digits.
    #[error("CRC (ID 63) must be four hexadecimal digits")]
    BadCrcFormat,
    /// The CRC does not match the payload.
    #[error("CRC mismatch: payload says {stated:04X}, computed {computed:04X}")]
    CrcMismatch {
        /// The CRC the payload carries.
        stated: u16,
        /// The CRC computed over the payload.
        computed: u16,
    },
    /// A data object appears twice.
    #[error("data object {0:02} appears more than once")]
    Duplicate(u8),
    /// A sub-object appears twice in a template.
    #[error("template {id:02}: sub-object {sub:02} repeated or reserved")]
    DuplicateSubField {
        /// The template's ID.
        id: u8,
        /// The repeated or reserved sub-object's ID.
        sub: u8,
    },
    /// A mandatory data object is absent.
    #[error("mandatory data object {0:02} is missing")]
    Missing(u8),
    /// A mandatory sub-object of a template is absent.
    #[error("template {id:02}: mandatory sub-object {sub:02} is missing")]
    MissingSubField {
        /// The template's ID.
        id: u8,
        /// The missing sub-object's ID.
        sub: u8,
    },
    /// No merchant account information (IDs 02-51).
    #[error("at least one merchant account information object (IDs 02-51) is required")]
    MissingMerchantAccount,
    /// A value of the wrong length.
    #[error("data object {id:02}: length {actual} outside 1..={max}")]
    BadLength {
        /// The data object's ID.
        id: u8,
        /// Its maximum length.
        max: usize,
        /// The value's length.
        actual: usize,
    },
    /// A value that violates the rules of its data object.
    #[error("data object {id:02}: {reason}")]
    Invalid {
        /// The data object's ID.
        id: u8,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A template whose content is not valid `ID LEN VALUE` objects.
    #[error("template {id:02}: {source}")]
    InTemplate {
        /// The template's ID.
        id: u8,
        /// What is wrong inside it.
        source: Box<QrError>,
    },
    /// CPM text that is not base64.
    #[error("consumer-presented payload is not valid base64")]
    Base64,
    /// CPM bytes that are not valid BER-TLV.
    #[error("consumer-presented payload: {0}")]
    Tlv(#[from] paytap_tlv::TlvError),
    /// CPM payload that does not start with 85 "CPV01".
    #[error("consumer-presented payload must start with payload format indicator 85 \"CPV01\"")]
    CpmFormatIndicator,
    /// A mandatory CPM data object is missing.
    #[error("consumer-presented payload: mandatory tag {0:X} is missing")]
    CpmMissing(u32),
    /// A CPM data object appears twice where only one is allowed.
    #[error("consumer-presented payload: tag {0:X} repeated")]
    CpmDuplicate(u32),
    /// A CPM template containing a template where only primitives are allowed.
    #[error("consumer-presented payload: unexpected constructed tag {tag:X} in {context}")]
    CpmUnexpected {
        /// The constructed tag.
        tag: u32,
        /// The template it appears in.
        context: &'static str,
    },
}

/// A scanned QR payload of either mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrPayload {
    /// A merchant-presented code (`ID LEN VALUE` text).
    Merchant(Box<Mpm>),
    /// A consumer-presented code (base64 BER-TLV).
    Consumer(Cpm),
}

/// Decode a scanned text: merchant-presented when it starts with the payload
/// format indicator `"000201"`, otherwise consumer-presented base64.
pub fn decode(text: &str) -> Result<QrPayload, QrError> {
    if text.starts_with("00") {
        Mpm::parse(text).map(|m| QrPayload::Merchant(Box::new(m)))
    } else {
        Cpm::parse(text).map(QrPayload::Consumer)
    }
}

#[cfg(test)]
mod tests;
