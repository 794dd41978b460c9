//! Token domain restriction controls (EMV Payment Tokenisation Specification
//! §3.6 "token domain restriction controls"), checked against the POS entry
//! mode of ISO 8583:1987 DE 22 (positions 1–2, PAN entry mode).
//!
//! | domain | accepted DE 22 PAN entry modes |
//! |---|---|
//! | [`Domain::Nfc`] device token | `07` contactless chip (EMV) only |
//! | [`Domain::Qr`] QR token | `03` bar code / QR only |
//! | [`Domain::NfcQr`] a phone's device token | `07` contactless chip, and `03` for the QR channel: `031` the merchant's code its owner scans, `032` the code the phone shows and the shop's register scans (both cryptograms made by the same secure element) |
//!
//! Never accepted for any token: `01` manual key entry, `02`/`90` magnetic
//! stripe, `91` contactless magnetic stripe, `05` contact chip, `80`
//! fallback, or anything else.

use serde::{Deserialize, Serialize};

/// Where a token may be presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// A device token in a phone or watch secure element: contactless EMV at a POS.
    Nfc,
    /// A QR (consumer-presented code) token.
    Qr,
    /// A device token in a phone's secure element: contactless EMV at a
    /// POS, and the merchant-presented QR codes the phone scans (a phone
    /// has a camera; a watch has none).
    NfcQr,
}

/// DE 22 PAN entry mode for contactless chip.
pub const ENTRY_CONTACTLESS_CHIP: &str = "07";
/// DE 22 PAN entry mode for bar code / QR.
pub const ENTRY_QR: &str = "03";

impl Domain {
    pub const fn as_str(self) -> &'static str {
        match self {
            Domain::Nfc => "nfc",
            Domain::Qr => "qr",
            Domain::NfcQr => "nfc_qr",
        }
    }

    pub fn parse(s: &str) -> Option<Domain> {
        match s {
            "nfc" => Some(Domain::Nfc),
            "qr" => Some(Domain::Qr),
            "nfc_qr" => Some(Domain::NfcQr),
            _ => None,
        }
    }

    /// Whether a transaction with DE 22 = `pos_entry_mode` (3 digits, or at
    /// least the 2-digit PAN entry mode) may use a token of this domain.
    pub fn allows_entry_mode(self, pos_entry_mode: &str) -> bool {
        let Some(pan_mode) = pos_entry_mode.get(..2) else {
            return false;
        };
        if !pos_entry_mode.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        match self {
            Domain::Nfc => pan_mode == ENTRY_CONTACTLESS_CHIP,
            Domain::Qr => pan_mode == ENTRY_QR,
            Domain::NfcQr => pan_mode == ENTRY_CONTACTLESS_CHIP || pan_mode == ENTRY_QR,
        }
    }
}

impl std::fmt::Display for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_token_is_contactless_chip_only() {
        assert!(Domain::Nfc.allows_entry_mode("071"));
        assert!(Domain::Nfc.allows_entry_mode("072"));
        for m in [
            "011", "012", "021", "901", "911", "051", "031", "801", "001", "7", "", "0x1", "07a",
        ] {
            assert!(!Domain::Nfc.allows_entry_mode(m), "{m}");
        }
    }

    #[test]
    fn qr_token_is_qr_only() {
        assert!(Domain::Qr.allows_entry_mode("031"));
        for m in ["071", "011", "901", "911", "051", "03", "3"] {
            let expect = m == "03";
            assert_eq!(Domain::Qr.allows_entry_mode(m), expect, "{m}");
        }
    }

    #[test]
    fn phone_token_is_contactless_or_scanned_qr() {
        for m in ["071", "072", "031", "032"] {
            assert!(Domain::NfcQr.allows_entry_mode(m), "{m}");
        }
        for m in [
            "011", "021", "901", "911", "051", "801", "001", "0x1", "03a",
        ] {
            assert!(!Domain::NfcQr.allows_entry_mode(m), "{m}");
        }
    }

    #[test]
    fn names_round_trip() {
        for d in [Domain::Nfc, Domain::Qr, Domain::NfcQr] {
            assert_eq!(Domain::parse(d.as_str()), Some(d));
        }
        assert_eq!(Domain::parse("NFC"), None);
    }
}
