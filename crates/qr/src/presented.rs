//! paytap's profile of the EMVCo consumer-presented code (CPM v1.0) that a
//! phone shows to pay online: one code per payment, made by its secure
//! element after the owner's finger, scanned by the shop's register.
//!
//! ```text
//! 85 "CPV01"
//! 61 application template
//!    4F   the card application's AID
//!    50   application label "paytap"
//!    5A   the token number (BCD, F-padded)
//!    5F24 the token's expiry (YYMMDD, the month's last day)
//!    5F34 PAN sequence number (when the card has one)
//!    57   track 2 equivalent data (the token's)
//!    63   application specific transparent template: the chip data the
//!         acquirer sends in DE 55 (9F26 ARQC, 9F27, 9F10, 9F36 ATC, 82,
//!         9F37 and the other inputs of the cryptogram), verbatim
//! ```
//!
//! **Expiry.** A code is made before the register knows the amount, so
//! its cryptogram covers an amount of zero (EMVCo CPM: the amount is not
//! known when the code is shown; the issuer's limits and the owner's
//! verification apply to DE 4). What bounds a code's life is the
//! unpredictable number 9F37: CPM has no terminal to choose it, so the
//! phone sets it to the time it made the code (Unix seconds, big-endian,
//! [`unpredictable_number`]). The cryptogram covers 9F37, so the time
//! cannot be changed without the token service refusing the ARQC, and the
//! acquirer refuses a code older than [`CODE_LIFETIME_SECS`] or dated more
//! than [`MAX_CLOCK_AHEAD_SECS`] ahead of its clock ([`check_fresh`]).
//! The ATC makes each code different; the acquirer refuses a code
//! presented a second time, and the token service refuses a reused ATC.

use crate::QrError;
use crate::cpm::{Cpm, CpmTemplate};
use paytap_tlv::{iter, write_tlv};

/// How long a shown code may be paid with, from the time it binds.
pub const CODE_LIFETIME_SECS: i64 = 60;
/// How far ahead of the acquirer's clock a phone's clock may be.
pub const MAX_CLOCK_AHEAD_SECS: i64 = 5;
/// The longest code text a register may send (Base64).
pub const MAX_CODE_LEN: usize = 1024;
/// The application label a paytap phone shows (tag 50).
pub const LABEL: &str = "paytap";

const TAG_AID: u32 = 0x4F;
const TAG_LABEL: u32 = 0x50;
const TAG_PAN: u32 = 0x5A;
const TAG_EXPIRY: u32 = 0x5F24;
const TAG_PSN: u32 = 0x5F34;
const TAG_TRACK2: u32 = 0x57;
const TAG_UN: u32 = 0x9F37;
/// What the chip data must hold for the token service to check it.
const REQUIRED_CHIP_TAGS: &[u32] = &[0x9F26, 0x9F27, 0x9F10, 0x9F36, 0x82, TAG_UN];

/// The card data of one shown code: what the acquirer puts into its `0200`.
/// The token number and track 2 are a payment credential for one minute:
/// `Debug` redacts them.
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneCode {
    /// The card application's AID (4F).
    pub aid: Vec<u8>,
    /// The token number, digits (5A; DE 2).
    pub token: String,
    /// The token's expiry, `YYMM` (5F24; DE 14).
    pub expiry_yymm: String,
    /// PAN sequence number (5F34; DE 23).
    pub psn: Option<u8>,
    /// Track 2 equivalent data as hex digits with its `D` separator (57; DE 35).
    pub track2: String,
    /// The chip data, a flat TLV list (63; DE 55).
    pub icc_data: Vec<u8>,
}

impl std::fmt::Debug for PhoneCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneCode")
            .field("aid", &hex::encode_upper(&self.aid))
            .field("token", &"<redacted>")
            .field("expiry_yymm", &self.expiry_yymm)
            .field("psn", &self.psn)
            .field("track2", &"<redacted>")
            .field("icc_data", &hex::encode_upper(&self.icc_data))
            .finish()
    }
}

/// The unpredictable number a phone puts in the code it makes at `now`
/// (Unix seconds): the time, big-endian.
pub fn unpredictable_number(now: i64) -> [u8; 4] {
    let secs = u32::try_from(now.max(0)).unwrap_or(u32::MAX);
    secs.to_be_bytes()
}

/// Why a shown code may not be paid now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stale {
    /// Older than [`CODE_LIFETIME_SECS`].
    #[error("the code expired {0} s ago: show a new one")]
    Expired(i64),
    /// Dated ahead of the acquirer's clock by more than [`MAX_CLOCK_AHEAD_SECS`].
    #[error("the code is dated {0} s in the future")]
    Future(i64),
}

/// Whether a code made at `made_at` may be paid at `now` (Unix seconds).
pub fn check_fresh(made_at: i64, now: i64) -> Result<(), Stale> {
    let age = now - made_at;
    if age > CODE_LIFETIME_SECS {
        return Err(Stale::Expired(age - CODE_LIFETIME_SECS));
    }
    if -age > MAX_CLOCK_AHEAD_SECS {
        return Err(Stale::Future(-age));
    }
    Ok(())
}

fn bcd_digits(digits: &str) -> Result<Vec<u8>, QrError> {
    let mut s = digits.to_owned();
    if !s.len().is_multiple_of(2) {
        s.push('F');
    }
    hex::decode(&s).map_err(|_| QrError::CpmMissing(TAG_PAN))
}

fn last_day(yy: u8, mm: u8) -> u8 {
    match mm {
        2 if yy.is_multiple_of(4) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn expiry_bytes(yymm: &str) -> Result<Vec<u8>, QrError> {
    let bad = QrError::CpmMissing(TAG_EXPIRY);
    let two = |i: usize| -> Option<u8> { yymm.get(i..i + 2)?.parse().ok() };
    let (Some(yy), Some(mm), 4) = (two(0), two(2), yymm.len()) else {
        return Err(bad);
    };
    if !(1..=12).contains(&mm) {
        return Err(bad);
    }
    hex::decode(format!("{yymm}{:02}", last_day(yy, mm))).map_err(|_| bad)
}

impl PhoneCode {
    /// The time the code binds (its unpredictable number), Unix seconds.
    pub fn made_at(&self) -> Option<i64> {
        let un = self.chip(TAG_UN)?;
        let b: [u8; 4] = un.try_into().ok()?;
        Some(i64::from(u32::from_be_bytes(b)))
    }

    /// The ATC of the code's cryptogram.
    pub fn atc(&self) -> Option<u16> {
        let b: [u8; 2] = self.chip(0x9F36)?.try_into().ok()?;
        Some(u16::from_be_bytes(b))
    }

    fn chip(&self, tag: u32) -> Option<&[u8]> {
        iter(&self.icc_data)
            .filter_map(Result::ok)
            .find(|i| i.tag.value() == tag)
            .map(|i| i.value)
    }

    /// The EMVCo CPM payload of this code.
    pub fn to_cpm(&self) -> Result<Cpm, QrError> {
        let mut app = CpmTemplate::new()
            .with(TAG_AID, self.aid.clone())
            .with(TAG_LABEL, LABEL.as_bytes().to_vec())
            .with(TAG_PAN, bcd_digits(&self.token)?)
            .with(TAG_EXPIRY, expiry_bytes(&self.expiry_yymm)?);
        if let Some(psn) = self.psn {
            app = app.with(TAG_PSN, vec![psn]);
        }
        app = app.with(TAG_TRACK2, bcd_digits(&self.track2)?);
        for item in iter(&self.icc_data) {
            let item = item?;
            if item.tag.is_constructed() {
                return Err(QrError::CpmUnexpected {
                    tag: item.tag.value(),
                    context: "chip data",
                });
            }
            app.transparent.push((item.tag, item.value.to_vec()));
        }
        Ok(Cpm {
            applications: vec![app],
            common: None,
            other: Vec::new(),
        })
    }

    /// The Base64 text the phone shows as a QR code.
    pub fn to_base64(&self) -> Result<String, QrError> {
        self.to_cpm()?.to_base64()
    }

    /// Reads a shown code's text: a valid CPM whose first application
    /// template carries the token, its expiry, track 2 and the chip data
    /// the token service needs.
    pub fn read(text: &str) -> Result<PhoneCode, QrError> {
        if text.len() > MAX_CODE_LEN {
            return Err(QrError::CpmUnexpected {
                tag: 0x85,
                context: "a code longer than paytap's limit",
            });
        }
        let cpm = Cpm::parse(text)?;
        let app = cpm.applications.first().ok_or(QrError::CpmMissing(0x61))?;
        let need = |tag: u32| app.get(tag).ok_or(QrError::CpmMissing(tag));
        let token = unpad(need(TAG_PAN)?).ok_or(QrError::CpmMissing(TAG_PAN))?;
        let expiry = hex::encode(need(TAG_EXPIRY)?);
        let expiry_yymm = match expiry.get(..4) {
            Some(e) if expiry.len() == 6 && e.bytes().all(|b| b.is_ascii_digit()) => e.to_owned(),
            _ => return Err(QrError::CpmMissing(TAG_EXPIRY)),
        };
        let psn = match app.get(TAG_PSN) {
            Some([p]) => Some(*p),
            Some(_) => return Err(QrError::CpmMissing(TAG_PSN)),
            None => None,
        };
        let track2 = hex::encode_upper(need(TAG_TRACK2)?)
            .trim_end_matches('F')
            .to_owned();
        let mut icc_data = Vec::new();
        for tag in REQUIRED_CHIP_TAGS {
            app.get_transparent(*tag).ok_or(QrError::CpmMissing(*tag))?;
        }
        for (tag, value) in &app.transparent {
            write_tlv(*tag, value, &mut icc_data)?;
        }
        Ok(PhoneCode {
            aid: need(TAG_AID)?.to_vec(),
            token,
            expiry_yymm,
            psn,
            track2,
            icc_data,
        })
    }
}

/// BCD digits with trailing `F` padding, as a string of 12 to 19 digits.
fn unpad(bcd: &[u8]) -> Option<String> {
    let s = hex::encode_upper(bcd);
    let digits = s.trim_end_matches('F');
    let ok = (12..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| digits.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use paytap_tlv::Tag;

    fn chip(un: [u8; 4]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut put =
            |t: u32, v: &[u8]| write_tlv(Tag::from_u32_unchecked(t), v, &mut out).unwrap();
        put(0x9F02, &[0; 6]);
        put(0x9F26, &[1, 2, 3, 4, 5, 6, 7, 8]);
        put(0x9F27, &[0x80]);
        put(0x9F10, &[0x0F; 16]);
        put(0x9F36, &[0, 7]);
        put(0x82, &[0x19, 0x80]);
        put(0x9F37, &un);
        out
    }

    fn code(un: [u8; 4]) -> PhoneCode {
        PhoneCode {
            aid: vec![0xA0, 0, 0, 0, 0x03, 0x10, 0x10],
            token: "4895370012345678".into(),
            expiry_yymm: "2902".into(),
            psn: Some(1),
            track2: "4895370012345678D29022010000000000000".into(),
            icc_data: chip(un),
        }
    }

    #[test]
    fn a_code_reads_back_as_made() {
        let c = code(unpredictable_number(1_796_605_323));
        let text = c.to_base64().unwrap();
        let back = PhoneCode::read(&text).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.made_at(), Some(1_796_605_323));
        assert_eq!(back.atc(), Some(7));
        let cpm = Cpm::parse(&text).unwrap();
        assert_eq!(
            cpm.applications[0].get(TAG_EXPIRY),
            Some(&[0x29, 0x02, 0x28][..])
        );
        assert!(!format!("{back:?}").contains("4895370012345678"));
    }

    #[test]
    fn freshness_is_a_minute_with_a_little_clock_skew() {
        let check = |made: i64, now: i64, expect: Result<(), Stale>| {
            assert_eq!(check_fresh(made, now), expect, "made {made} now {now}");
        };
        check(1_000, 1_000, Ok(()));
        check(1_000, 1_060, Ok(()));
        check(1_000, 1_061, Err(Stale::Expired(1)));
        check(1_005, 1_000, Ok(()));
        check(1_006, 1_000, Err(Stale::Future(6)));
    }

    #[test]
    fn codes_without_what_the_payment_needs_are_refused() {
        let c = code([0; 4]);
        let strip = |tag: u32| {
            let mut cpm = c.to_cpm().unwrap();
            cpm.applications[0].data.retain(|(t, _)| t.value() != tag);
            cpm.applications[0]
                .transparent
                .retain(|(t, _)| t.value() != tag);
            PhoneCode::read(&cpm.to_base64().unwrap())
        };
        for tag in [TAG_EXPIRY, TAG_TRACK2, 0x9F26, 0x9F36, TAG_UN] {
            assert_eq!(strip(tag), Err(QrError::CpmMissing(tag)), "{tag:X}");
        }
        assert!(PhoneCode::read("not base64!").is_err());
        assert!(PhoneCode::read(&"A".repeat(MAX_CODE_LEN + 4)).is_err());
        let mut short = c.clone();
        short.token = "1234".into();
        assert_eq!(
            PhoneCode::read(&short.to_base64().unwrap()),
            Err(QrError::CpmMissing(TAG_PAN))
        );
    }
}
