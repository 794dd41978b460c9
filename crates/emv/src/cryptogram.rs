//! The one definition of what an application cryptogram covers, and the
//! layout of the Issuer Application Data (tag 9F10) and Card Verification
//! Results that paytap cards emit. Used by both [`crate::card`] (to compute
//! the ARQC) and [`crate::verify`] (to recompute it at the issuer), so the two
//! cannot drift apart.
//!
//! ## Cryptogram input (EMV Book 2 §8.1.1, recommended minimum set)
//!
//! `9F02 (6) ‖ 9F03 (6) ‖ 9F1A (2) ‖ 95 (5) ‖ 5F2A (2) ‖ 9A (3) ‖ 9C (1) ‖
//! 9F37 (4) ‖ 82 (2) ‖ 9F36 (2) ‖ CVR (5)`: the terminal data in the order of
//! Book 2 Table 26, then the card's AIP, ATC and the CVR from the IAD (as CCD
//! cryptogram versions do). Values are forced to length by the DOL rules of
//! Book 3 §5.4; an absent value counts as zeros (and will then not verify).
//!
//! ## Issuer Application Data (16 bytes, CCD Format A style)
//!
//! | byte | content |
//! |---|---|
//! | 1 | `0F`: length of the EMVCo-defined part that follows |
//! | 2 | Common Core Identifier: `A5` = format A, TDES cryptogram version; `A6` = format A, AES |
//! | 3 | Derivation Key Index |
//! | 4–8 | Card Verification Results (below) |
//! | 9–16 | counters: ATC of the last online-approved transaction (2), then zeros |
//!
//! ## Card Verification Results (5 bytes)
//!
//! | byte / bits | meaning |
//! |---|---|
//! | 1 b6–b5 | AC type returned in GENERATE AC: `00` AAC, `01` TC, `10` ARQC |
//! | 1 b2 | issuer authentication not performed on the last online transaction |
//! | 4 b8 | **CDCVM performed**: the wallet verified the user on the device (fingerprint, face, passcode) |
//! | 4 b7 | **CDCVM required but not performed**: the wallet demands it and none was given (the card answered AAC) |
//! | 4 b6 | ATC near exhaustion (fewer than 256 left) |
//! | 2, 3, 5 | reserved, zero |

use paytap_tlv::{DolEntry, Tag, build_dol_data, tags};

/// The data elements of the cryptogram input, in order, with their lengths.
pub const AC_INPUT: &[DolEntry] = &[
    DolEntry {
        tag: tags::AMOUNT,
        len: 6,
    },
    DolEntry {
        tag: tags::AMOUNT_OTHER,
        len: 6,
    },
    DolEntry {
        tag: tags::TERM_COUNTRY,
        len: 2,
    },
    DolEntry {
        tag: tags::TVR,
        len: 5,
    },
    DolEntry {
        tag: tags::CURRENCY,
        len: 2,
    },
    DolEntry {
        tag: tags::TXN_DATE,
        len: 3,
    },
    DolEntry {
        tag: tags::TXN_TYPE,
        len: 1,
    },
    DolEntry {
        tag: tags::UN,
        len: 4,
    },
    DolEntry {
        tag: tags::AIP,
        len: 2,
    },
    DolEntry {
        tag: tags::ATC,
        len: 2,
    },
];

/// Terminal-sourced elements of [`AC_INPUT`] (a card's CDOL1 must ask for all of them).
pub const AC_TERMINAL_TAGS: &[Tag] = &[
    tags::AMOUNT,
    tags::AMOUNT_OTHER,
    tags::TERM_COUNTRY,
    tags::TVR,
    tags::CURRENCY,
    tags::TXN_DATE,
    tags::TXN_TYPE,
    tags::UN,
];

/// Length of the cryptogram input.
pub const AC_INPUT_LEN: usize = 33 + CVR_LEN;

/// Builds the cryptogram input from a tag → value source (AIP and ATC
/// included) and the CVR. The single function both card and issuer call.
pub fn cryptogram_input<'a, F>(source: F, cvr: &Cvr) -> Vec<u8>
where
    F: Fn(Tag) -> Option<&'a [u8]>,
{
    let mut data = build_dol_data(AC_INPUT, source);
    data.extend_from_slice(&cvr.0);
    data
}

/// Length of the CVR.
pub const CVR_LEN: usize = 5;
/// Length of the IAD paytap cards emit.
pub const IAD_LEN: usize = 16;
/// CCI for the TDES cryptogram version.
pub const CCI_TDES: u8 = 0xA5;
/// CCI for the AES cryptogram version.
pub const CCI_AES: u8 = 0xA6;

/// The application cryptogram type (CID b8–b7, CVR byte 1 b6–b5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcType {
    /// Application Authentication Cryptogram: the transaction is declined.
    Aac,
    /// Transaction Certificate: the transaction is approved offline.
    Tc,
    /// Authorisation Request Cryptogram: the card asks to go online.
    Arqc,
}

impl AcType {
    /// The Cryptogram Information Data byte (9F27) for this type.
    pub const fn cid(self) -> u8 {
        match self {
            AcType::Aac => 0x00,
            AcType::Tc => 0x40,
            AcType::Arqc => 0x80,
        }
    }

    /// Decodes b8–b7 of a CID or of GENERATE AC P1; `None` for the RFU value `11`.
    pub const fn from_bits(b: u8) -> Option<Self> {
        match b & 0xC0 {
            0x00 => Some(AcType::Aac),
            0x40 => Some(AcType::Tc),
            0x80 => Some(AcType::Arqc),
            _ => None,
        }
    }
}

/// Card Verification Results (see the module documentation for the layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cvr(pub [u8; CVR_LEN]);

impl Cvr {
    /// The CVR for an AC type and the byte 4 CDCVM and ATC flags; byte 1 b2
    /// (issuer authentication not performed) is always set.
    pub fn new(
        ac: AcType,
        cdcvm_performed: bool,
        cdcvm_missing: bool,
        atc_near_limit: bool,
    ) -> Self {
        let mut c = [0u8; CVR_LEN];
        c[0] = match ac {
            AcType::Aac => 0x00,
            AcType::Tc => 0x10,
            AcType::Arqc => 0x20,
        } | 0x02;
        c[3] = (u8::from(cdcvm_performed) << 7)
            | (u8::from(cdcvm_missing) << 6)
            | (u8::from(atc_near_limit) << 5);
        Cvr(c)
    }
    /// The AC type in byte 1 b6–b5; `None` for the RFU value.
    pub fn ac_type(&self) -> Option<AcType> {
        AcType::from_bits((self.0[0] << 2) & 0xC0)
    }
    /// Byte 4 b8: the cardholder was verified on the device (CDCVM).
    pub fn cdcvm_performed(&self) -> bool {
        self.0[3] & 0x80 != 0
    }
    /// Byte 4 b7: CDCVM was required but not performed.
    pub fn cdcvm_required_not_performed(&self) -> bool {
        self.0[3] & 0x40 != 0
    }
    /// Byte 4 b6: the ATC is close to its limit.
    pub fn atc_near_limit(&self) -> bool {
        self.0[3] & 0x20 != 0
    }
}

/// Issuer Application Data as paytap cards lay it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Iad {
    /// Common Core Identifier (byte 2): the cryptogram version.
    pub cci: u8,
    /// Derivation Key Index (byte 3).
    pub dki: u8,
    /// Card Verification Results (bytes 4–8).
    pub cvr: Cvr,
    /// ATC of the last online-approved transaction (bytes 9–10).
    pub last_online_atc: u16,
}

/// Errors decoding an IAD.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IadError {
    /// An IAD that is not [`IAD_LEN`] bytes (its length).
    #[error("issuer application data must be {IAD_LEN} bytes, got {0}")]
    Length(usize),
    #[error("unsupported IAD format (byte 1 {len:02X}, CCI {cci:02X})")]
    /// A first byte other than `0F` or an unknown CCI.
    Format {
        /// The first byte (length of the EMVCo part).
        len: u8,
        /// The Common Core Identifier.
        cci: u8,
    },
}

impl Iad {
    /// The 16 IAD bytes as tag 9F10 carries them.
    pub fn encode(&self) -> [u8; IAD_LEN] {
        let mut b = [0u8; IAD_LEN];
        b[0] = 0x0F;
        b[1] = self.cci;
        b[2] = self.dki;
        b[3..8].copy_from_slice(&self.cvr.0);
        b[8..10].copy_from_slice(&self.last_online_atc.to_be_bytes());
        b
    }

    /// Decodes tag 9F10's value.
    pub fn parse(b: &[u8]) -> Result<Self, IadError> {
        let b: &[u8; IAD_LEN] = b.try_into().map_err(|_| IadError::Length(b.len()))?;
        if b[0] != 0x0F || !matches!(b[1], CCI_TDES | CCI_AES) {
            return Err(IadError::Format {
                len: b[0],
                cci: b[1],
            });
        }
        let mut cvr = [0u8; CVR_LEN];
        cvr.copy_from_slice(&b[3..8]);
        Ok(Iad {
            cci: b[1],
            dki: b[2],
            cvr: Cvr(cvr),
            last_online_atc: u16::from_be_bytes([b[8], b[9]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iad_roundtrip_and_flags() {
        let iad = Iad {
            cci: CCI_TDES,
            dki: 1,
            cvr: Cvr::new(AcType::Arqc, true, false, false),
            last_online_atc: 7,
        };
        let enc = iad.encode();
        assert_eq!(Iad::parse(&enc).unwrap(), iad);
        assert!(iad.cvr.cdcvm_performed());
        assert_eq!(iad.cvr.ac_type(), Some(AcType::Arqc));
        assert!(Iad::parse(&enc[1..]).is_err());
        let aac = Cvr::new(AcType::Aac, false, true, true);
        assert_eq!(aac.ac_type(), Some(AcType::Aac));
        assert!(
            aac.cdcvm_required_not_performed() && aac.atc_near_limit() && !aac.cdcvm_performed()
        );
        assert_eq!(
            AC_INPUT.iter().map(|e| e.len).sum::<usize>() + CVR_LEN,
            AC_INPUT_LEN
        );
    }
}
