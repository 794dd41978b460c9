//! The validated scalar fields of UPI messages. Each type can only hold a valid
//! value: construction checks it, and the XML decoder constructs through these.

use super::error::XmlError;
use serde::Serialize;

/// Longest transaction or message id: NPCI ids are 35 characters.
pub const MAX_ID_LEN: usize = 35;
/// Longest organisation id (a PSP's or bank's NPCI-assigned code).
pub const MAX_ORG_ID_LEN: usize = 20;
/// Integer digits an amount may have: up to ₹9,99,99,99,99,999.99, far above any
/// UPI limit, and small enough that paise never overflow a `u64`.
pub const MAX_AMOUNT_INT_DIGITS: usize = 12;
/// Shortest and longest account number (Indian banks use 9 to 18 digits; a little
/// slack on both sides for emulated banks).
pub const ACCOUNT_NUMBER_LEN: std::ops::RangeInclusive<usize> = 6..=20;

macro_rules! alnum_id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validate: 1 to the limit ASCII letters and digits.
            pub fn new(s: &str) -> Result<$name, XmlError> {
                alnum($field, s, $max)?;
                Ok($name(s.to_owned()))
            }

            /// The id.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

alnum_id!(
    /// A transaction id (`Txn@id`), the key every request is idempotent by.
    TxnId,
    "Txn@id",
    MAX_ID_LEN
);
alnum_id!(
    /// A message id (`Head@msgId`, `Resp@reqMsgId`).
    MsgId,
    "Head@msgId",
    MAX_ID_LEN
);
alnum_id!(
    /// An organisation id (`Head@orgId`).
    OrgId,
    "Head@orgId",
    MAX_ORG_ID_LEN
);

fn alnum(field: &'static str, s: &str, max: usize) -> Result<(), XmlError> {
    if s.is_empty() || s.len() > max {
        return Err(XmlError::invalid(field, "wrong length"));
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(XmlError::invalid(field, "only letters and digits"));
    }
    Ok(())
}

/// A retrieval reference number (`Txn@custRef`): exactly 12 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Rrn(String);

impl Rrn {
    /// Validate exactly 12 ASCII digits.
    pub fn new(s: &str) -> Result<Rrn, XmlError> {
        if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(XmlError::invalid(
                "Txn@custRef",
                "an RRN is exactly 12 digits",
            ));
        }
        Ok(Rrn(s.to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IFSC: 4 letters (the bank), `0`, 6 letters or digits (the branch).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Ifsc(String);

impl Ifsc {
    /// Validate the 11-character pattern `AAAA0XXXXXX` (upper case).
    pub fn new(s: &str) -> Result<Ifsc, XmlError> {
        let b = s.as_bytes();
        let ok = b.len() == 11
            && b[..4].iter().all(u8::is_ascii_uppercase)
            && b[4] == b'0'
            && b[5..]
                .iter()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if !ok {
            return Err(XmlError::invalid(
                "IFSC",
                "an IFSC is 4 capital letters, 0, then 6 capital letters or digits",
            ));
        }
        Ok(Ifsc(s.to_owned()))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bank's four letters.
    pub fn bank(&self) -> &str {
        &self.0[..4]
    }
}

/// A bank account number: digits only, 6 to 20 of them (`ACCOUNT_NUMBER_LEN`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AccountNumber(String);

impl AccountNumber {
    /// Validate.
    pub fn new(s: &str) -> Result<AccountNumber, XmlError> {
        if !ACCOUNT_NUMBER_LEN.contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(XmlError::invalid(
                "ACNUM",
                "an account number is 6 to 20 digits",
            ));
        }
        Ok(AccountNumber(s.to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A merchant category code (`code`): 4 digits, `0000` for a person.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Mcc(String);

impl Mcc {
    /// The code a person (not a merchant) carries.
    pub fn person() -> Mcc {
        Mcc("0000".to_owned())
    }

    /// Validate 4 digits.
    pub fn new(s: &str) -> Result<Mcc, XmlError> {
        if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(XmlError::invalid(
                "code",
                "a merchant category code is 4 digits",
            ));
        }
        Ok(Mcc(s.to_owned()))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a merchant's code (anything but `0000`).
    pub fn is_merchant(&self) -> bool {
        self.0 != "0000"
    }
}

/// A UPI error code (`Resp@errCode`, `Ack@err`): 1 to 4 capital letters or digits
/// (`U30`, `ZM`, `XB`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct ErrCode(String);

impl ErrCode {
    /// Validate.
    pub fn new(s: &str) -> Result<ErrCode, XmlError> {
        let ok = (1..=4).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            return Err(XmlError::invalid(
                "errCode",
                "1 to 4 capital letters or digits",
            ));
        }
        Ok(ErrCode(s.to_owned()))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A timestamp (`ts`): RFC 3339 with an offset, as NPCI writes them
/// (`2026-12-06T10:33:49.123+05:30`). Kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// Validate.
    pub fn new(s: &str) -> Result<Timestamp, XmlError> {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
            .map_err(|_| XmlError::invalid("ts", "not an RFC 3339 timestamp with offset"))?;
        Ok(Timestamp(s.to_owned()))
    }

    /// The instant `unix_millis` in India Standard Time (+05:30).
    pub fn from_unix_millis(unix_millis: i64) -> Timestamp {
        let ist = time::UtcOffset::from_hms(5, 30, 0).expect("+05:30 is a valid offset");
        let t =
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_millis) * 1_000_000)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
                .to_offset(ist);
        let s = t
            .format(&time::format_description::well_known::Rfc3339)
            .expect("a valid instant formats as RFC 3339");
        Timestamp(s)
    }

    /// The instant in Unix milliseconds.
    pub fn unix_millis(&self) -> i64 {
        let t =
            time::OffsetDateTime::parse(&self.0, &time::format_description::well_known::Rfc3339)
                .expect("validated on construction");
        (t.unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An amount in INR (`Amount@value`, `Amount@curr="INR"`), held in paise and
/// written with exactly two decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Amount {
    /// Paise (1/100 rupee).
    pub paise: u64,
}

impl Amount {
    /// Parse `"123.45"`: digits, a point, exactly two digits.
    pub fn parse(s: &str) -> Result<Amount, XmlError> {
        let bad = |reason| XmlError::invalid("Amount@value", reason);
        let (int, frac) = s
            .split_once('.')
            .ok_or(bad("an amount is written with exactly two decimals"))?;
        if frac.len() != 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("an amount is written with exactly two decimals"));
        }
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("not a decimal number"));
        }
        if int.len() > MAX_AMOUNT_INT_DIGITS {
            return Err(bad("too large"));
        }
        if int.len() > 1 && int.starts_with('0') {
            return Err(bad("leading zeros"));
        }
        let digits = |s: &str| s.bytes().fold(0u64, |v, b| v * 10 + u64::from(b - b'0'));
        Ok(Amount {
            paise: digits(int) * 100 + digits(frac),
        })
    }

    /// `"123.45"`.
    pub fn to_text(self) -> String {
        format!("{}.{:02}", self.paise / 100, self.paise % 100)
    }
}

/// Check free text: at most `max` characters, no control characters.
pub(crate) fn text(field: &'static str, s: &str, max: usize) -> Result<String, XmlError> {
    if s.chars().count() > max {
        return Err(XmlError::invalid(field, "too long"));
    }
    if s.chars().any(char::is_control) {
        return Err(XmlError::invalid(
            field,
            "control characters are not allowed",
        ));
    }
    Ok(s.to_owned())
}

/// Check Base64 (standard alphabet, padding allowed): at most `max` bytes.
pub(crate) fn base64(field: &'static str, s: &str, max: usize) -> Result<String, XmlError> {
    if s.is_empty() || s.len() > max {
        return Err(XmlError::invalid(field, "wrong length"));
    }
    let body = s.trim_end_matches('=');
    if s.len() - body.len() > 2
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    {
        return Err(XmlError::invalid(field, "not Base64"));
    }
    Ok(s.to_owned())
}
