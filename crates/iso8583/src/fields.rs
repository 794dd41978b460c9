//! Typed accessors for the data elements paytap uses, and the layouts of paytap's
//! private-use elements (DE 48, DE 62, DE 63).
//!
//! Private-use elements carry a sequence of subelements, each
//! `id (2 ASCII digits) | length (3 ASCII digits) | value (ans)`, ids ascending.

use crate::{Error, FieldError, Message, Pan};

/// Digits of DE 4, the transaction amount (n12).
pub const AMOUNT_DIGITS: usize = 12;

/// The largest amount DE 4 can carry, in minor units: twelve nines. A
/// terminal refuses a larger charge before it reaches the card.
pub const MAX_AMOUNT_MINOR: u64 = 999_999_999_999;

fn digits(n: u64, width: usize, what: &'static str) -> Result<String, Error> {
    let s = format!("{n:0width$}");
    if s.len() != width {
        return Err(Error::Field {
            field: 0,
            reason: FieldError::OutOfRange(what),
        });
    }
    Ok(s)
}

fn parse_u64(v: &str) -> Option<u64> {
    v.parse().ok()
}

fn with_field(field: u8, e: Error) -> Error {
    match e {
        Error::Field { field: 0, reason } => Error::Field { field, reason },
        other => other,
    }
}

/// A range check shared by the setters (calendar fields, the amount).
fn check(cond: bool, field: u8, what: &'static str) -> Result<(), Error> {
    if cond {
        Ok(())
    } else {
        Err(Error::Field {
            field,
            reason: FieldError::OutOfRange(what),
        })
    }
}

impl Message {
    /// DE 2 primary account number (or token).
    pub fn pan(&self) -> Option<Pan> {
        Pan::new(self.get_str(2)?).ok()
    }
    /// Set DE 2.
    pub fn set_pan(&mut self, pan: &Pan) -> Result<(), Error> {
        self.set(2, pan.expose())
    }

    /// DE 3 processing code (6 digits: transaction type, from account, to account).
    pub fn processing_code(&self) -> Option<&str> {
        self.get_str(3)
    }
    /// Set DE 3.
    pub fn set_processing_code(&mut self, code: &str) -> Result<(), Error> {
        self.set(3, code)
    }

    /// DE 4 transaction amount in minor units of DE 49's currency.
    pub fn amount(&self) -> Option<u64> {
        parse_u64(self.get_str(4)?)
    }
    /// Set DE 4 (at most [`MAX_AMOUNT_MINOR`] minor units).
    pub fn set_amount(&mut self, minor_units: u64) -> Result<(), Error> {
        const TOO_LARGE: &str = "amount exceeds 12 digits";
        check(minor_units <= MAX_AMOUNT_MINOR, 4, TOO_LARGE)?;
        let s = digits(minor_units, AMOUNT_DIGITS, TOO_LARGE).map_err(|e| with_field(4, e))?;
        self.set(4, s)
    }

    /// DE 7 transmission date and time, `MMDDhhmmss` (UTC).
    pub fn transmission_datetime(&self) -> Option<&str> {
        self.get_str(7)
    }
    /// Set DE 7 from its parts.
    pub fn set_transmission_datetime(
        &mut self,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Result<(), Error> {
        check(
            (1..=12).contains(&month) && (1..=31).contains(&day),
            7,
            "invalid date",
        )?;
        check(hour < 24 && minute < 60 && second < 60, 7, "invalid time")?;
        self.set(
            7,
            format!("{month:02}{day:02}{hour:02}{minute:02}{second:02}"),
        )
    }

    /// DE 11 systems trace audit number.
    pub fn stan(&self) -> Option<u32> {
        self.get_str(11)?.parse().ok()
    }
    /// Set DE 11 (0..=999 999).
    pub fn set_stan(&mut self, stan: u32) -> Result<(), Error> {
        let s =
            digits(u64::from(stan), 6, "STAN exceeds 6 digits").map_err(|e| with_field(11, e))?;
        self.set(11, s)
    }

    /// DE 12 local transaction time as (hour, minute, second).
    pub fn local_time(&self) -> Option<(u8, u8, u8)> {
        let v = self.get_str(12)?;
        Some((
            v.get(0..2)?.parse().ok()?,
            v.get(2..4)?.parse().ok()?,
            v.get(4..6)?.parse().ok()?,
        ))
    }
    /// Set DE 12 `hhmmss`.
    pub fn set_local_time(&mut self, hour: u8, minute: u8, second: u8) -> Result<(), Error> {
        check(hour < 24 && minute < 60 && second < 60, 12, "invalid time")?;
        self.set(12, format!("{hour:02}{minute:02}{second:02}"))
    }

    /// DE 13 local transaction date as (month, day).
    pub fn local_date(&self) -> Option<(u8, u8)> {
        let v = self.get_str(13)?;
        Some((v.get(0..2)?.parse().ok()?, v.get(2..4)?.parse().ok()?))
    }
    /// Set DE 13 `MMDD`.
    pub fn set_local_date(&mut self, month: u8, day: u8) -> Result<(), Error> {
        check(
            (1..=12).contains(&month) && (1..=31).contains(&day),
            13,
            "invalid date",
        )?;
        self.set(13, format!("{month:02}{day:02}"))
    }

    /// Set DE 7 from the instant `at` (in `at`'s own offset: UTC for the
    /// network's transmission time).
    pub fn set_transmission_datetime_at(&mut self, at: time::OffsetDateTime) -> Result<(), Error> {
        self.set_transmission_datetime(
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
        )
    }

    /// Set DE 12 and DE 13, the terminal's local time and date, from the
    /// instant `at`.
    pub fn set_local_datetime_at(&mut self, at: time::OffsetDateTime) -> Result<(), Error> {
        self.set_local_time(at.hour(), at.minute(), at.second())?;
        self.set_local_date(u8::from(at.month()), at.day())
    }

    /// DE 14 expiration date as (year within century, month).
    pub fn expiry(&self) -> Option<(u8, u8)> {
        let v = self.get_str(14)?;
        Some((v.get(0..2)?.parse().ok()?, v.get(2..4)?.parse().ok()?))
    }
    /// Set DE 14 `YYMM`.
    pub fn set_expiry(&mut self, year: u8, month: u8) -> Result<(), Error> {
        check(
            year < 100 && (1..=12).contains(&month),
            14,
            "invalid expiry",
        )?;
        self.set(14, format!("{year:02}{month:02}"))
    }

    /// DE 18 merchant type (ISO 18245 merchant category code).
    pub fn merchant_type(&self) -> Option<&str> {
        self.get_str(18)
    }
    /// Set DE 18.
    pub fn set_merchant_type(&mut self, mcc: &str) -> Result<(), Error> {
        self.set(18, mcc)
    }

    /// DE 22 point of service entry mode (e.g. `071` contactless chip, PIN capable).
    pub fn pos_entry_mode(&self) -> Option<&str> {
        self.get_str(22)
    }
    /// Set DE 22.
    pub fn set_pos_entry_mode(&mut self, mode: &str) -> Result<(), Error> {
        self.set(22, mode)
    }

    /// DE 23 card (PAN) sequence number.
    pub fn pan_sequence_number(&self) -> Option<u16> {
        self.get_str(23)?.parse().ok()
    }
    /// Set DE 23 (0..=999).
    pub fn set_pan_sequence_number(&mut self, psn: u16) -> Result<(), Error> {
        let s = digits(u64::from(psn), 3, "PSN exceeds 3 digits").map_err(|e| with_field(23, e))?;
        self.set(23, s)
    }

    /// DE 32 acquiring institution identification code.
    pub fn acquirer_id(&self) -> Option<&str> {
        self.get_str(32)
    }
    /// Set DE 32.
    pub fn set_acquirer_id(&mut self, id: &str) -> Result<(), Error> {
        self.set(32, id)
    }

    /// DE 35 track 2 equivalent data (sensitive: holds the PAN).
    pub fn track2(&self) -> Option<&str> {
        self.get_str(35)
    }
    /// Set DE 35 (digits with `=` or `D` separator).
    pub fn set_track2(&mut self, track2: &str) -> Result<(), Error> {
        self.set(35, track2)
    }

    /// DE 37 retrieval reference number.
    pub fn rrn(&self) -> Option<&str> {
        self.get_str(37)
    }
    /// Set DE 37 (12 alphanumeric characters).
    pub fn set_rrn(&mut self, rrn: &str) -> Result<(), Error> {
        self.set(37, rrn)
    }

    /// DE 38 authorization identification response (approval code).
    pub fn auth_id_response(&self) -> Option<&str> {
        self.get_str(38)
    }
    /// Set DE 38 (6 alphanumeric characters).
    pub fn set_auth_id_response(&mut self, code: &str) -> Result<(), Error> {
        self.set(38, code)
    }

    /// DE 39 response code.
    pub fn response_code(&self) -> Option<crate::ResponseCode> {
        crate::ResponseCode::from_code(self.get_str(39)?)
    }
    /// Set DE 39.
    pub fn set_response_code(&mut self, code: crate::ResponseCode) -> Result<(), Error> {
        self.set(39, code.code())
    }

    /// DE 41 card acceptor terminal identification (8 characters).
    pub fn terminal_id(&self) -> Option<&str> {
        self.get_str(41)
    }
    /// Set DE 41; shorter values are padded with spaces on the right.
    pub fn set_terminal_id(&mut self, id: &str) -> Result<(), Error> {
        self.set(41, pad_right(id, 8))
    }

    /// DE 42 card acceptor identification code (15 characters).
    pub fn merchant_id(&self) -> Option<&str> {
        self.get_str(42)
    }
    /// Set DE 42; shorter values are padded with spaces on the right.
    pub fn set_merchant_id(&mut self, id: &str) -> Result<(), Error> {
        self.set(42, pad_right(id, 15))
    }

    /// DE 43 card acceptor name/location (40 characters: name 25, city 13, country 2).
    pub fn name_location(&self) -> Option<&str> {
        self.get_str(43)
    }
    /// Set DE 43 from name (≤ 25), city (≤ 13) and ISO 3166 alpha-2 country.
    pub fn set_name_location(
        &mut self,
        name: &str,
        city: &str,
        country: &str,
    ) -> Result<(), Error> {
        check(
            name.len() <= 25 && city.len() <= 13 && country.len() == 2,
            43,
            "name ≤ 25, city ≤ 13, country 2 characters",
        )?;
        let v = format!("{}{}{}", pad_right(name, 25), pad_right(city, 13), country);
        self.set(43, v)
    }

    /// DE 49 transaction currency (ISO 4217 numeric).
    pub fn currency(&self) -> Option<u16> {
        self.get_str(49)?.parse().ok()
    }
    /// Set DE 49 (ISO 4217 numeric code, e.g. 978 for EUR).
    pub fn set_currency(&mut self, numeric: u16) -> Result<(), Error> {
        let s = digits(u64::from(numeric), 3, "currency exceeds 3 digits")
            .map_err(|e| with_field(49, e))?;
        self.set(49, s)
    }

    /// DE 55 ICC system related data (EMV BER-TLV bytes).
    pub fn icc_data(&self) -> Option<&[u8]> {
        self.get(55)
    }
    /// Set DE 55 (at most 255 bytes).
    pub fn set_icc_data(&mut self, tlv: &[u8]) -> Result<(), Error> {
        self.set(55, tlv)
    }

    /// DE 70 network management information code.
    pub fn network_management_code(&self) -> Option<crate::NetworkManagementCode> {
        crate::NetworkManagementCode::from_code(self.get_str(70)?)
    }
    /// Set DE 70.
    pub fn set_network_management_code(
        &mut self,
        code: crate::NetworkManagementCode,
    ) -> Result<(), Error> {
        self.set(70, code.code())
    }

    /// DE 90 original data elements.
    pub fn original_data(&self) -> Option<OriginalData> {
        OriginalData::parse(self.get_str(90)?)
    }
    /// Set DE 90.
    pub fn set_original_data(&mut self, o: &OriginalData) -> Result<(), Error> {
        self.set(90, o.encode()?)
    }

    /// DE 48 paytap additional data subelements.
    pub fn additional_data(&self) -> Result<Option<Subelements>, Error> {
        self.get(48).map(|v| Subelements::parse(48, v)).transpose()
    }
    /// Set DE 48 from subelements (ids ascending; see docs/wire-format.md for the
    /// paytap layout: 01 wallet id, 02 form factor, 10 key change, 11 key check value).
    pub fn set_additional_data(&mut self, s: &Subelements) -> Result<(), Error> {
        let mut sorted = s.0.clone();
        sorted.sort_by_key(|(id, _)| *id);
        for w in sorted.windows(2) {
            if let [(a, _), (b, _)] = w
                && a == b
            {
                return Err(Error::Subelement {
                    field: 48,
                    offset: 0,
                });
            }
        }
        if sorted.iter().any(|(id, v)| *id > 99 || v.len() > 999) {
            return Err(Error::Subelement {
                field: 48,
                offset: 0,
            });
        }
        self.set(48, Subelements(sorted).encode())
    }

    /// DE 62 paytap token data.
    pub fn token_data(&self) -> Result<Option<TokenData>, Error> {
        match self.get(62) {
            None => Ok(None),
            Some(v) => TokenData::from_subelements(&Subelements::parse(62, v)?).map(Some),
        }
    }
    /// Set DE 62.
    pub fn set_token_data(&mut self, t: &TokenData) -> Result<(), Error> {
        self.set(62, t.to_subelements()?.encode())
    }
    /// DE 63 paytap verification results.
    pub fn verification_results(&self) -> Result<Option<VerificationResults>, Error> {
        match self.get(63) {
            None => Ok(None),
            Some(v) => VerificationResults::from_subelements(&Subelements::parse(63, v)?).map(Some),
        }
    }
    /// Set DE 63.
    pub fn set_verification_results(&mut self, v: &VerificationResults) -> Result<(), Error> {
        self.set(63, v.to_subelements().encode())
    }
}

fn pad_right(s: &str, n: usize) -> String {
    format!("{s:<n$}")
}

/// DE 90 original data elements (ISO 8583:1987): original MTI (4), original STAN (6),
/// original transmission date and time (10), original acquirer id (11, zero-filled
/// on the left), original forwarding institution id (11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalData {
    /// The original message's type indicator.
    pub mti: crate::Mti,
    /// The original systems trace audit number (DE 11).
    pub stan: u32,
    /// The original transmission date and time, `MMDDhhmmss` (DE 7).
    pub transmission_datetime: String,
    /// The original acquiring institution id (DE 32).
    pub acquirer_id: String,
    /// The original forwarding institution id (DE 33).
    pub forwarding_id: String,
}

impl OriginalData {
    fn parse(v: &str) -> Option<OriginalData> {
        Some(OriginalData {
            mti: crate::Mti::from_str(v.get(0..4)?).ok()?,
            stan: v.get(4..10)?.parse().ok()?,
            transmission_datetime: v.get(10..20)?.to_owned(),
            acquirer_id: v.get(20..31)?.to_owned(),
            forwarding_id: v.get(31..42)?.to_owned(),
        })
    }

    /// The 42-digit encoding.
    pub fn encode(&self) -> Result<String, Error> {
        let bad = |what| Error::Field {
            field: 90,
            reason: FieldError::OutOfRange(what),
        };
        if self.transmission_datetime.len() != 10 {
            return Err(bad("original transmission date/time must be 10 digits"));
        }
        if self.acquirer_id.len() > 11 || self.forwarding_id.len() > 11 {
            return Err(bad("institution ids are at most 11 digits"));
        }
        let stan = digits(u64::from(self.stan), 6, "STAN exceeds 6 digits")
            .map_err(|e| with_field(90, e))?;
        Ok(format!(
            "{}{}{}{:0>11}{:0>11}",
            self.mti, stan, self.transmission_datetime, self.acquirer_id, self.forwarding_id
        ))
    }
}

/// A private-use element's subelements: `(id, value)` pairs, ids 00..=99.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subelements(pub Vec<(u8, String)>);

impl Subelements {
    /// Parse `id(2) len(3) value` repeated to the end of the element.
    pub fn parse(field: u8, v: &[u8]) -> Result<Subelements, Error> {
        let mut out = Vec::new();
        let mut pos = 0;
        let bad = |offset| Error::Subelement { field, offset };
        while pos < v.len() {
            let head = v.get(pos..pos + 5).ok_or(bad(pos))?;
            if !head.iter().all(u8::is_ascii_digit) {
                return Err(bad(pos));
            }
            let id = (head[0] - b'0') * 10 + (head[1] - b'0');
            let len = usize::from(head[2] - b'0') * 100
                + usize::from(head[3] - b'0') * 10
                + usize::from(head[4] - b'0');
            let val = v.get(pos + 5..pos + 5 + len).ok_or(bad(pos))?;
            let val = std::str::from_utf8(val).map_err(|_| bad(pos + 5))?;
            out.push((id, val.to_owned()));
            pos += 5 + len;
        }
        Ok(Subelements(out))
    }

    /// The value of subelement `id`.
    pub fn get(&self, id: u8) -> Option<&str> {
        self.0
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| v.as_str())
    }

    /// Encode (values longer than 999 characters are the caller's bug and are cut by
    /// `Message::set`'s length check on the element).
    pub fn encode(&self) -> String {
        let mut s = String::new();
        for (id, v) in &self.0 {
            s.push_str(&format!("{:02}{:03}{}", id % 100, v.len().min(999), v));
        }
        s
    }
}

/// DE 62 token data (paytap layout): subelement 01 token requestor id (n11),
/// 02 token assurance level (n2), 03 last four digits of the funding PAN (n4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenData {
    /// Subelement 01: the token requestor id (n11).
    pub token_requestor_id: Option<String>,
    /// Subelement 02: the token assurance level (n2).
    pub assurance_level: Option<u8>,
    /// Subelement 03: the last four digits of the funding PAN (n4).
    pub funding_pan_last4: Option<String>,
}

impl TokenData {
    fn from_subelements(s: &Subelements) -> Result<TokenData, Error> {
        let bad = |what| Error::Field {
            field: 62,
            reason: FieldError::OutOfRange(what),
        };
        let digits_of = |v: &str, n: usize, what| {
            if v.len() == n && v.bytes().all(|b| b.is_ascii_digit()) {
                Ok(v.to_owned())
            } else {
                Err(bad(what))
            }
        };
        Ok(TokenData {
            token_requestor_id: s
                .get(1)
                .map(|v| digits_of(v, 11, "token requestor id is n11"))
                .transpose()?,
            assurance_level: s
                .get(2)
                .map(|v| {
                    digits_of(v, 2, "assurance level is n2")
                        .and_then(|d| d.parse().map_err(|_| bad("assurance level")))
                })
                .transpose()?,
            funding_pan_last4: s
                .get(3)
                .map(|v| digits_of(v, 4, "PAN last 4 is n4"))
                .transpose()?,
        })
    }

    fn to_subelements(&self) -> Result<Subelements, Error> {
        let mut v = Vec::new();
        let bad = |what| Error::Field {
            field: 62,
            reason: FieldError::OutOfRange(what),
        };
        if let Some(t) = &self.token_requestor_id {
            if t.len() != 11 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("token requestor id is n11"));
            }
            v.push((1, t.clone()));
        }
        if let Some(a) = self.assurance_level {
            v.push((
                2,
                digits(u64::from(a), 2, "assurance level is n2").map_err(|e| with_field(62, e))?,
            ));
        }
        if let Some(l) = &self.funding_pan_last4 {
            if l.len() != 4 || !l.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("PAN last 4 is n4"));
            }
            v.push((3, l.clone()));
        }
        Ok(Subelements(v))
    }
}

/// Outcome of a check, as carried in DE 63.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckResult {
    /// `Y`: performed and passed.
    Passed,
    /// `N`: performed and failed.
    Failed,
    /// `U`: not performed.
    NotChecked,
}

impl CheckResult {
    fn code(self) -> &'static str {
        match self {
            CheckResult::Passed => "Y",
            CheckResult::Failed => "N",
            CheckResult::NotChecked => "U",
        }
    }
    fn parse(v: &str) -> Option<CheckResult> {
        match v {
            "Y" => Some(CheckResult::Passed),
            "N" => Some(CheckResult::Failed),
            "U" => Some(CheckResult::NotChecked),
            _ => None,
        }
    }
}

/// DE 63 verification results (paytap layout): subelement 01 application cryptogram
/// (ARQC) verification, 02 consumer device CVM (on-device user verification)
/// performed, 03 ATC within the expected window; each `Y`/`N`/`U`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerificationResults {
    /// Subelement 01: ARQC verification.
    pub cryptogram: Option<CheckResult>,
    /// Subelement 02: consumer device CVM performed.
    pub cdcvm: Option<CheckResult>,
    /// Subelement 03: ATC within the expected window.
    pub atc: Option<CheckResult>,
}

impl VerificationResults {
    fn from_subelements(s: &Subelements) -> Result<VerificationResults, Error> {
        let get = |id| {
            s.get(id)
                .map(|v| {
                    CheckResult::parse(v).ok_or(Error::Field {
                        field: 63,
                        reason: FieldError::OutOfRange("check result must be Y, N or U"),
                    })
                })
                .transpose()
        };
        Ok(VerificationResults {
            cryptogram: get(1)?,
            cdcvm: get(2)?,
            atc: get(3)?,
        })
    }

    fn to_subelements(&self) -> Subelements {
        let mut v = Vec::new();
        for (id, r) in [(1u8, self.cryptogram), (2, self.cdcvm), (3, self.atc)] {
            if let Some(r) = r {
                v.push((id, r.code().to_owned()));
            }
        }
        Subelements(v)
    }
}
