//! The ISO 8583:1987 data element table, as data.
//!
//! Every data element 1..=128 of ISO 8583:1987 clause 4.3 (table 1 "Data element
//! directory") with its format (fixed, LLVAR, LLLVAR), its attribute (n, a, an,
//! ans, b, z, x+n) and its maximum length, plus the list of paytap messages that
//! carry it. The codec reads nothing but this table, and `docs/iso8583-fields.json`
//! is checked against it by a test, so the published wire format and the code
//! cannot drift apart.
//!
//! Length units: for binary (`b`) elements a length is a number of bytes; for
//! every other attribute it is a number of ASCII characters.

use serde::Serialize;

/// How the length of a data element is determined (ISO 8583:1987 clause 4.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthKind {
    /// Always exactly this many characters (bytes for binary elements).
    Fixed(u16),
    /// Two ASCII digits of length, then up to this many characters.
    LlVar(u16),
    /// Three ASCII digits of length, then up to this many characters.
    LllVar(u16),
}

impl LengthKind {
    /// Maximum length of the value (not counting a length prefix).
    pub const fn max(self) -> u16 {
        match self {
            LengthKind::Fixed(n) | LengthKind::LlVar(n) | LengthKind::LllVar(n) => n,
        }
    }

    /// Number of ASCII digits in the length prefix (0 for fixed elements).
    pub const fn prefix_digits(self) -> usize {
        match self {
            LengthKind::Fixed(_) => 0,
            LengthKind::LlVar(_) => 2,
            LengthKind::LllVar(_) => 3,
        }
    }

    /// Name used in the published field table: `fixed`, `LLVAR` or `LLLVAR`.
    pub const fn label(self) -> &'static str {
        match self {
            LengthKind::Fixed(_) => "fixed",
            LengthKind::LlVar(_) => "LLVAR",
            LengthKind::LllVar(_) => "LLLVAR",
        }
    }
}

/// The attribute of a data element (ISO 8583:1987 clause 4.1, "Representation").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `n`: ASCII digits 0-9.
    Numeric,
    /// `a`: ASCII letters and space.
    Alpha,
    /// `an`: ASCII letters, digits and space.
    AlphaNumeric,
    /// `ans`: printable ASCII 0x20..=0x7E.
    AlphaNumericSpecial,
    /// `ns`: digits and printable special characters (no letters).
    NumericSpecial,
    /// `b`: raw bytes.
    Binary,
    /// `z`: track 2 / track 3 code set; paytap sends digits with `=` (or `D`) as the
    /// field separator.
    Track2,
    /// `x+n`: a `C` (credit) or `D` (debit) sign followed by digits.
    SignedNumeric,
}

impl Encoding {
    /// The ISO attribute abbreviation used in the published field table.
    pub const fn label(self) -> &'static str {
        match self {
            Encoding::Numeric => "n",
            Encoding::Alpha => "a",
            Encoding::AlphaNumeric => "an",
            Encoding::AlphaNumericSpecial => "ans",
            Encoding::NumericSpecial => "ns",
            Encoding::Binary => "b",
            Encoding::Track2 => "z",
            Encoding::SignedNumeric => "x+n",
        }
    }

    /// Is this byte allowed at position `pos` of a value with this attribute?
    #[inline]
    pub const fn allows(self, pos: usize, b: u8) -> bool {
        match self {
            Encoding::Numeric => b.is_ascii_digit(),
            Encoding::Alpha => b.is_ascii_alphabetic() || b == b' ',
            Encoding::AlphaNumeric => b.is_ascii_alphanumeric() || b == b' ',
            Encoding::AlphaNumericSpecial => b >= 0x20 && b <= 0x7e,
            Encoding::NumericSpecial => b >= 0x20 && b <= 0x7e && !b.is_ascii_alphabetic(),
            Encoding::Binary => true,
            Encoding::Track2 => b.is_ascii_digit() || b == b'=' || b == b'D',
            Encoding::SignedNumeric => {
                if pos == 0 {
                    b == b'C' || b == b'D'
                } else {
                    b.is_ascii_digit()
                }
            }
        }
    }
}

/// One row of the data element table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Data element number, 1..=128.
    pub number: u8,
    /// ISO 8583:1987 name (paytap's use in brackets for private/reserved elements).
    pub name: &'static str,
    /// Fixed or variable length, with the maximum.
    pub kind: LengthKind,
    /// Attribute (character set).
    pub encoding: Encoding,
    /// MTIs of the paytap messages that carry this element.
    pub used_in: &'static [&'static str],
}

/// A serialisable view of one row, the shape of `docs/iso8583-fields.json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldSpecDoc {
    /// Data element number, 1..=128.
    pub number: u8,
    /// ISO 8583:1987 name.
    pub name: &'static str,
    /// Length kind: fixed, LLVAR or LLLVAR.
    pub kind: &'static str,
    /// Fixed length, or the maximum of a variable one.
    pub max_length: u16,
    /// Attribute (character set), as the standard writes it.
    pub encoding: &'static str,
    /// MTIs of the paytap messages that carry this element.
    pub used_in: &'static [&'static str],
}

impl FieldSpec {
    /// The published-table view of this row.
    pub fn doc(&self) -> FieldSpecDoc {
        FieldSpecDoc {
            number: self.number,
            name: self.name,
            kind: self.kind.label(),
            max_length: self.kind.max(),
            encoding: self.encoding.label(),
            used_in: self.used_in,
        }
    }
}

/// The spec of data element `number` (1..=128), or `None` outside that range.
#[inline]
pub fn field_spec(number: u8) -> Option<&'static FieldSpec> {
    if number == 0 {
        return None;
    }
    FIELDS.get(usize::from(number) - 1)
}

use Encoding::*;
use LengthKind::*;

const NONE: &[&str] = &[];
const ALL: &[&str] = &[
    "0100", "0110", "0200", "0210", "0400", "0410", "0420", "0430", "0800", "0810",
];
const FIN: &[&str] = &[
    "0100", "0110", "0200", "0210", "0400", "0410", "0420", "0430",
];
const FIN_REQ: &[&str] = &["0100", "0200", "0400", "0420"];
const AUTH_REQ: &[&str] = &["0100", "0200"];
const AUTH: &[&str] = &["0100", "0110", "0200", "0210"];
const RESP: &[&str] = &["0110", "0210", "0410", "0430", "0810"];
const REV: &[&str] = &["0400", "0410", "0420", "0430"];
const NET: &[&str] = &["0800", "0810"];

const fn f(
    number: u8,
    name: &'static str,
    kind: LengthKind,
    encoding: Encoding,
    used_in: &'static [&'static str],
) -> FieldSpec {
    FieldSpec {
        number,
        name,
        kind,
        encoding,
        used_in,
    }
}

/// The full ISO 8583:1987 data element table, indexed by `number - 1`.
#[rustfmt::skip]
pub static FIELDS: [FieldSpec; 128] = [
    f(1, "Bitmap, secondary", Fixed(8), Binary, ALL),
    f(2, "Primary account number (PAN)", LlVar(19), Numeric, FIN),
    f(3, "Processing code", Fixed(6), Numeric, FIN),
    f(4, "Amount, transaction", Fixed(12), Numeric, FIN),
    f(5, "Amount, settlement", Fixed(12), Numeric, NONE),
    f(6, "Amount, cardholder billing", Fixed(12), Numeric, NONE),
    f(7, "Transmission date and time", Fixed(10), Numeric, ALL),
    f(8, "Amount, cardholder billing fee", Fixed(8), Numeric, NONE),
    f(9, "Conversion rate, settlement", Fixed(8), Numeric, NONE),
    f(10, "Conversion rate, cardholder billing", Fixed(8), Numeric, NONE),
    f(11, "Systems trace audit number", Fixed(6), Numeric, ALL),
    f(12, "Time, local transaction", Fixed(6), Numeric, FIN_REQ),
    f(13, "Date, local transaction", Fixed(4), Numeric, FIN_REQ),
    f(14, "Date, expiration", Fixed(4), Numeric, AUTH_REQ),
    f(15, "Date, settlement", Fixed(4), Numeric, NONE),
    f(16, "Date, conversion", Fixed(4), Numeric, NONE),
    f(17, "Date, capture", Fixed(4), Numeric, NONE),
    f(18, "Merchant type", Fixed(4), Numeric, AUTH_REQ),
    f(19, "Acquiring institution country code", Fixed(3), Numeric, NONE),
    f(20, "PAN extended, country code", Fixed(3), Numeric, NONE),
    f(21, "Forwarding institution country code", Fixed(3), Numeric, NONE),
    f(22, "Point of service entry mode", Fixed(3), Numeric, AUTH_REQ),
    f(23, "Card sequence number", Fixed(3), Numeric, AUTH_REQ),
    f(24, "Network international identifier", Fixed(3), Numeric, NONE),
    f(25, "Point of service condition code", Fixed(2), Numeric, AUTH_REQ),
    f(26, "Point of service PIN capture code", Fixed(2), Numeric, NONE),
    f(27, "Authorization identification response length", Fixed(1), Numeric, NONE),
    f(28, "Amount, transaction fee", Fixed(9), SignedNumeric, NONE),
    f(29, "Amount, settlement fee", Fixed(9), SignedNumeric, NONE),
    f(30, "Amount, transaction processing fee", Fixed(9), SignedNumeric, NONE),
    f(31, "Amount, settlement processing fee", Fixed(9), SignedNumeric, NONE),
    f(32, "Acquiring institution identification code", LlVar(11), Numeric, FIN_REQ),
    f(33, "Forwarding institution identification code", LlVar(11), Numeric, NONE),
    f(34, "Primary account number, extended", LlVar(28), NumericSpecial, NONE),
    f(35, "Track 2 data", LlVar(37), Track2, AUTH_REQ),
    f(36, "Track 3 data", LllVar(104), Numeric, NONE),
    f(37, "Retrieval reference number", Fixed(12), AlphaNumeric, FIN),
    f(38, "Authorization identification response", Fixed(6), AlphaNumeric, &["0110", "0210", "0400", "0420"]),
    f(39, "Response code", Fixed(2), AlphaNumeric, RESP),
    f(40, "Service restriction code", Fixed(3), AlphaNumeric, NONE),
    f(41, "Card acceptor terminal identification", Fixed(8), AlphaNumericSpecial, FIN),
    f(42, "Card acceptor identification code", Fixed(15), AlphaNumericSpecial, FIN),
    f(43, "Card acceptor name/location", Fixed(40), AlphaNumericSpecial, AUTH_REQ),
    f(44, "Additional response data", LlVar(25), AlphaNumeric, NONE),
    f(45, "Track 1 data", LlVar(76), AlphaNumeric, NONE),
    f(46, "Additional data - ISO", LllVar(999), AlphaNumeric, NONE),
    f(47, "Additional data - national", LllVar(999), AlphaNumeric, NONE),
    f(48, "Additional data - private (paytap subelements)", LllVar(999), AlphaNumericSpecial, &["0100", "0200", "0800", "0810"]),
    f(49, "Currency code, transaction", Fixed(3), Numeric, FIN),
    f(50, "Currency code, settlement", Fixed(3), Numeric, NONE),
    f(51, "Currency code, cardholder billing", Fixed(3), Numeric, NONE),
    f(52, "Personal identification number (PIN) data", Fixed(8), Binary, NONE),
    f(53, "Security related control information", Fixed(16), Numeric, NONE),
    f(54, "Additional amounts", LllVar(120), AlphaNumeric, NONE),
    f(55, "Reserved ISO (paytap: ICC system related data, BER-TLV)", LllVar(255), Binary, &["0100", "0110", "0200", "0210", "0400", "0420"]),
    f(56, "Reserved ISO", LllVar(999), AlphaNumericSpecial, NONE),
    f(57, "Reserved national", LllVar(999), AlphaNumericSpecial, NONE),
    f(58, "Reserved national", LllVar(999), AlphaNumericSpecial, NONE),
    f(59, "Reserved national", LllVar(999), AlphaNumericSpecial, NONE),
    f(60, "Reserved national", LllVar(999), AlphaNumericSpecial, NONE),
    f(61, "Reserved private", LllVar(999), AlphaNumericSpecial, NONE),
    f(62, "Reserved private (paytap: token data subelements)", LllVar(999), AlphaNumericSpecial, AUTH_REQ),
    f(63, "Reserved private (paytap: verification results subelements)", LllVar(999), AlphaNumericSpecial, AUTH),
    f(64, "Message authentication code (MAC)", Fixed(8), Binary, NONE),
    f(65, "Bitmap, tertiary", Fixed(8), Binary, NONE),
    f(66, "Settlement code", Fixed(1), Numeric, NONE),
    f(67, "Extended payment code", Fixed(2), Numeric, NONE),
    f(68, "Receiving institution country code", Fixed(3), Numeric, NONE),
    f(69, "Settlement institution country code", Fixed(3), Numeric, NONE),
    f(70, "Network management information code", Fixed(3), Numeric, NET),
    f(71, "Message number", Fixed(4), Numeric, NONE),
    f(72, "Message number, last", Fixed(4), Numeric, NONE),
    f(73, "Date, action", Fixed(6), Numeric, NONE),
    f(74, "Credits, number", Fixed(10), Numeric, NONE),
    f(75, "Credits, reversal number", Fixed(10), Numeric, NONE),
    f(76, "Debits, number", Fixed(10), Numeric, NONE),
    f(77, "Debits, reversal number", Fixed(10), Numeric, NONE),
    f(78, "Transfer, number", Fixed(10), Numeric, NONE),
    f(79, "Transfer, reversal number", Fixed(10), Numeric, NONE),
    f(80, "Inquiries, number", Fixed(10), Numeric, NONE),
    f(81, "Authorizations, number", Fixed(10), Numeric, NONE),
    f(82, "Credits, processing fee amount", Fixed(12), Numeric, NONE),
    f(83, "Credits, transaction fee amount", Fixed(12), Numeric, NONE),
    f(84, "Debits, processing fee amount", Fixed(12), Numeric, NONE),
    f(85, "Debits, transaction fee amount", Fixed(12), Numeric, NONE),
    f(86, "Credits, amount", Fixed(16), Numeric, NONE),
    f(87, "Credits, reversal amount", Fixed(16), Numeric, NONE),
    f(88, "Debits, amount", Fixed(16), Numeric, NONE),
    f(89, "Debits, reversal amount", Fixed(16), Numeric, NONE),
    f(90, "Original data elements", Fixed(42), Numeric, REV),
    f(91, "File update code", Fixed(1), AlphaNumeric, NONE),
    f(92, "File security code", Fixed(2), AlphaNumeric, NONE),
    f(93, "Response indicator", Fixed(5), AlphaNumeric, NONE),
    f(94, "Service indicator", Fixed(7), AlphaNumeric, NONE),
    f(95, "Replacement amounts", Fixed(42), AlphaNumeric, NONE),
    f(96, "Message security code", Fixed(8), Binary, NONE),
    f(97, "Amount, net settlement", Fixed(17), SignedNumeric, NONE),
    f(98, "Payee", Fixed(25), AlphaNumericSpecial, NONE),
    f(99, "Settlement institution identification code", LlVar(11), Numeric, NONE),
    f(100, "Receiving institution identification code", LlVar(11), Numeric, NONE),
    f(101, "File name", LlVar(17), AlphaNumericSpecial, NONE),
    f(102, "Account identification 1", LlVar(28), AlphaNumericSpecial, NONE),
    f(103, "Account identification 2", LlVar(28), AlphaNumericSpecial, NONE),
    f(104, "Transaction description", LllVar(100), AlphaNumericSpecial, NONE),
    f(105, "Reserved ISO", LllVar(999), AlphaNumericSpecial, NONE),
    f(106, "Reserved ISO", LllVar(999), AlphaNumericSpecial, NONE),
    f(107, "Reserved ISO", LllVar(999), AlphaNumericSpecial, NONE),
    f(108, "Reserved ISO", LllVar(999), AlphaNumericSpecial, NONE),
    f(109, "Reserved ISO", LllVar(999), AlphaNumericSpecial, NONE),
    f(110, "Reserved ISO", LllVar(999), AlphaNumericSpecial, NONE),
    f(111, "Reserved ISO", LllVar(999), AlphaNumericSpecial, NONE),
    f(112, "Reserved national", LllVar(999), AlphaNumericSpecial, NONE),
    f(113, "Reserved national", LllVar(999), AlphaNumericSpecial, NONE),
    f(114, "Reserved national", LllVar(999), AlphaNumericSpecial, NONE),
    f(115, "Reserved national", LllVar(999), AlphaNumericSpecial, NONE),
    f(116, "Reserved national", LllVar(999), AlphaNumericSpecial, NONE),
    f(117, "Reserved national", LllVar(999), AlphaNumericSpecial, NONE),
    f(118, "Reserved national", LllVar(999), AlphaNumericSpecial, NONE),
    f(119, "Reserved national", LllVar(999), AlphaNumericSpecial, NONE),
    f(120, "Reserved private", LllVar(999), AlphaNumericSpecial, NONE),
    f(121, "Reserved private", LllVar(999), AlphaNumericSpecial, NONE),
    f(122, "Reserved private", LllVar(999), AlphaNumericSpecial, NONE),
    f(123, "Reserved private", LllVar(999), AlphaNumericSpecial, NONE),
    f(124, "Reserved private", LllVar(999), AlphaNumericSpecial, NONE),
    f(125, "Reserved private", LllVar(999), AlphaNumericSpecial, NONE),
    f(126, "Reserved private", LllVar(999), AlphaNumericSpecial, NONE),
    f(127, "Reserved private", LllVar(999), AlphaNumericSpecial, NONE),
    f(128, "Message authentication code (MAC)", Fixed(8), Binary, NONE),
];
