//! ISO/IEC 7816-4 application protocol data units (sans-IO).
//!
//! This crate owns the APDU layer between a terminal and a card (ISO/IEC
//! 7816-4:2020 §5.1 command-response pairs): command APDUs in the four cases,
//! short and extended Lc/Le, response APDUs and [`StatusWord`]s with their
//! standard meanings (§5.6). Parsers return a typed [`ApduError`] for every
//! malformed input and never panic.
#![deny(missing_docs)]

use std::fmt;

/// Errors for malformed APDUs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApduError {
    /// A command shorter than CLA INS P1 P2 (its length).
    #[error("command APDU shorter than the 4-byte header ({0} bytes)")]
    TooShort(usize),
    /// A body after the header that is no valid Lc/data/Le combination.
    #[error("command APDU body of {len} bytes matches no ISO 7816-4 case")]
    BadLength {
        /// The body's length.
        len: usize,
    },
    /// An extended Lc of `0000`, which ISO 7816-4 forbids.
    #[error("extended Lc of zero is not allowed")]
    ZeroLc,
    /// A response without its two status bytes (its length).
    #[error("response APDU shorter than the 2-byte status word ({0} bytes)")]
    NoStatusWord(usize),
    /// Command data longer than an extended Lc can state (its length).
    #[error("command data of {0} bytes exceeds 65535")]
    DataTooLong(usize),
    /// An Le of zero or above the extended maximum of 65536.
    #[error("Le of {0} exceeds 65536")]
    LeTooLarge(usize),
}

/// The four command cases of ISO/IEC 7816-3 §12.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// No data, no response data.
    One,
    /// No command data, response data expected (Le).
    Two,
    /// Command data (Lc), no response data.
    Three,
    /// Command data and response data.
    Four,
}

/// A parsed command APDU that borrows its data from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandView<'a> {
    /// Class byte (CLA).
    pub cla: u8,
    /// Instruction byte (INS).
    pub ins: u8,
    /// Parameter byte P1.
    pub p1: u8,
    /// Parameter byte P2.
    pub p2: u8,
    /// Command data (the Lc bytes; empty in cases 1 and 2).
    pub data: &'a [u8],
    /// Maximum response length: `Some(256)` for a short Le of `00`,
    /// `Some(65536)` for an extended Le of `0000`.
    pub le: Option<usize>,
    /// Whether Lc/Le used the extended (three-byte) form.
    pub extended: bool,
}

impl<'a> CommandView<'a> {
    /// Parses a command APDU (ISO/IEC 7816-4 §5.1, short and extended forms).
    pub fn parse(b: &'a [u8]) -> Result<Self, ApduError> {
        let (header, body) = match (b.get(..4), b.get(4..)) {
            (Some(h), Some(body)) => (h, body),
            _ => return Err(ApduError::TooShort(b.len())),
        };
        let (cla, ins, p1, p2) = match header {
            [a, b, c, d] => (*a, *b, *c, *d),
            _ => return Err(ApduError::TooShort(b.len())),
        };
        let mk = |data, le, extended| CommandView {
            cla,
            ins,
            p1,
            p2,
            data,
            le,
            extended,
        };
        let short_le = |x: u8| if x == 0 { 256 } else { usize::from(x) };
        let ext_le = |h: u8, l: u8| {
            let v = usize::from(u16::from_be_bytes([h, l]));
            if v == 0 { 65536 } else { v }
        };
        let bad = ApduError::BadLength { len: body.len() };
        match body {
            [] => Ok(mk(&[], None, false)),
            [le] => Ok(mk(&[], Some(short_le(*le)), false)),
            [0, h, l] => Ok(mk(&[], Some(ext_le(*h, *l)), true)),
            [0, h, l, rest @ ..] => {
                let lc = usize::from(u16::from_be_bytes([*h, *l]));
                if lc == 0 {
                    return Err(ApduError::ZeroLc);
                }
                if rest.len() == lc {
                    Ok(mk(rest, None, true))
                } else if rest.len() == lc + 2 {
                    let data = rest.get(..lc).ok_or(bad.clone())?;
                    match rest.get(lc..) {
                        Some([lh, ll]) => Ok(mk(data, Some(ext_le(*lh, *ll)), true)),
                        _ => Err(bad),
                    }
                } else {
                    Err(bad)
                }
            }
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                if lc == 0 {
                    return Err(ApduError::ZeroLc);
                }
                if rest.len() == lc {
                    Ok(mk(rest, None, false))
                } else if rest.len() == lc + 1 {
                    let data = rest.get(..lc).ok_or(bad.clone())?;
                    let le = *rest.get(lc).ok_or(bad)?;
                    Ok(mk(data, Some(short_le(le)), false))
                } else {
                    Err(bad)
                }
            }
        }
    }

    /// The ISO case of this command.
    pub fn case(&self) -> Case {
        match (self.data.is_empty(), self.le.is_some()) {
            (true, false) => Case::One,
            (true, true) => Case::Two,
            (false, false) => Case::Three,
            (false, true) => Case::Four,
        }
    }

    /// Copies into an owned [`CommandApdu`].
    pub fn to_owned(&self) -> CommandApdu {
        CommandApdu {
            cla: self.cla,
            ins: self.ins,
            p1: self.p1,
            p2: self.p2,
            data: self.data.to_vec(),
            le: self.le,
        }
    }
}

/// An owned command APDU, for building commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandApdu {
    /// Class byte (CLA).
    pub cla: u8,
    /// Instruction byte (INS).
    pub ins: u8,
    /// Parameter byte P1.
    pub p1: u8,
    /// Parameter byte P2.
    pub p2: u8,
    /// Command data (Lc is its length).
    pub data: Vec<u8>,
    /// Maximum response length expected, if any (256 or 65536 encode as zero).
    pub le: Option<usize>,
}

impl CommandApdu {
    /// A case 1 command: header only, no data and no Le.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        CommandApdu {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    /// Sets the command data.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Sets the maximum response length expected.
    pub fn with_le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    /// Parses an owned command.
    pub fn parse(b: &[u8]) -> Result<Self, ApduError> {
        CommandView::parse(b).map(|v| v.to_owned())
    }

    /// Encodes the command, using the short form whenever Lc ≤ 255 and Le ≤ 256
    /// and the extended form otherwise.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ApduError> {
        let n = self.data.len();
        if n > 65535 {
            return Err(ApduError::DataTooLong(n));
        }
        if let Some(le) = self.le
            && (le == 0 || le > 65536)
        {
            return Err(ApduError::LeTooLarge(le));
        }
        let extended = n > 255 || self.le.is_some_and(|le| le > 256);
        let mut out = Vec::with_capacity(4 + 3 + n + 2);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if extended {
            out.push(0);
            if n > 0 {
                out.extend_from_slice(&(n as u16).to_be_bytes());
                out.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                out.extend_from_slice(&((le % 65536) as u16).to_be_bytes());
            }
        } else {
            if n > 0 {
                out.push(n as u8);
                out.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                out.push((le % 256) as u8);
            }
        }
        Ok(out)
    }
}

/// A status word SW1-SW2 (ISO/IEC 7816-4 §5.6).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// `9000`: normal processing.
    pub const SUCCESS: Self = Self(0x9000);
    /// `6283`: warning: selected file invalidated.
    pub const WARNING_SELECTED_FILE_INVALIDATED: Self = Self(0x6283);
    /// `6300`: warning: verification failed.
    pub const VERIFICATION_FAILED: Self = Self(0x6300);
    /// `6700`: wrong length.
    pub const WRONG_LENGTH: Self = Self(0x6700);
    /// `6982`: security status not satisfied.
    pub const SECURITY_STATUS_NOT_SATISFIED: Self = Self(0x6982);
    /// `6983`: authentication method blocked.
    pub const AUTH_METHOD_BLOCKED: Self = Self(0x6983);
    /// `6985`: conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: Self = Self(0x6985);
    /// `6986`: command not allowed (no current EF).
    pub const COMMAND_NOT_ALLOWED: Self = Self(0x6986);
    /// `6A80`: incorrect parameters in the command data field.
    pub const WRONG_DATA: Self = Self(0x6A80);
    /// `6A81`: function not supported.
    pub const FUNCTION_NOT_SUPPORTED: Self = Self(0x6A81);
    /// `6A82`: file or application not found.
    pub const FILE_NOT_FOUND: Self = Self(0x6A82);
    /// `6A83`: record not found.
    pub const RECORD_NOT_FOUND: Self = Self(0x6A83);
    /// `6A84`: not enough memory space in the file.
    pub const NOT_ENOUGH_MEMORY: Self = Self(0x6A84);
    /// `6A86`: incorrect parameters P1-P2.
    pub const INCORRECT_P1P2: Self = Self(0x6A86);
    /// `6A88`: referenced data or reference data not found.
    pub const REFERENCED_DATA_NOT_FOUND: Self = Self(0x6A88);
    /// `6B00`: wrong parameters P1-P2.
    pub const WRONG_P1P2: Self = Self(0x6B00);
    /// `6D00`: instruction code not supported or invalid.
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    /// `6E00`: class not supported.
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);
    /// `6F00`: no precise diagnosis.
    pub const NO_PRECISE_DIAGNOSIS: Self = Self(0x6F00);

    /// The status word from its two bytes.
    pub const fn new(sw1: u8, sw2: u8) -> Self {
        Self(((sw1 as u16) << 8) | sw2 as u16)
    }
    /// The first status byte (the category).
    pub const fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }
    /// The second status byte (the detail).
    pub const fn sw2(self) -> u8 {
        self.0 as u8
    }
    /// SW1 then SW2, as they end a response.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }
    /// `9000`, or `61xx` (more data available).
    pub const fn is_success(self) -> bool {
        self.0 == 0x9000 || self.sw1() == 0x61
    }
    /// `62xx` / `63xx` warnings.
    pub const fn is_warning(self) -> bool {
        matches!(self.sw1(), 0x62 | 0x63)
    }

    /// A human-readable meaning.
    pub fn name(self) -> &'static str {
        match (self.sw1(), self.sw2()) {
            (0x90, 0x00) => "normal processing",
            (0x61, _) => "normal processing, more response bytes available (SW2)",
            (0x62, 0x83) => "warning: selected file invalidated",
            (0x62, 0x81) => "warning: part of returned data may be corrupted",
            (0x62, 0x82) => "warning: end of file or record reached before Le bytes",
            (0x62, _) => "warning: state of non-volatile memory unchanged",
            (0x63, 0x00) => "warning: verification failed",
            (0x63, x) if x & 0xF0 == 0xC0 => {
                "warning: verification failed, counter in SW2 low nibble"
            }
            (0x63, _) => "warning: state of non-volatile memory changed",
            (0x64, _) => "execution error: state of non-volatile memory unchanged",
            (0x65, _) => "execution error: state of non-volatile memory changed",
            (0x67, 0x00) => "wrong length",
            (0x68, 0x81) => "logical channel not supported",
            (0x68, 0x82) => "secure messaging not supported",
            (0x68, _) => "functions in CLA not supported",
            (0x69, 0x81) => "command incompatible with file structure",
            (0x69, 0x82) => "security status not satisfied",
            (0x69, 0x83) => "authentication method blocked",
            (0x69, 0x84) => "reference data not usable",
            (0x69, 0x85) => "conditions of use not satisfied",
            (0x69, 0x86) => "command not allowed (no current EF)",
            (0x69, _) => "command not allowed",
            (0x6A, 0x80) => "incorrect parameters in the command data field",
            (0x6A, 0x81) => "function not supported",
            (0x6A, 0x82) => "file or application not found",
            (0x6A, 0x83) => "record not found",
            (0x6A, 0x84) => "not enough memory space in the file",
            (0x6A, 0x86) => "incorrect parameters P1-P2",
            (0x6A, 0x88) => "referenced data or reference data not found",
            (0x6A, _) => "wrong parameters P1-P2",
            (0x6B, 0x00) => "wrong parameters P1-P2",
            (0x6C, _) => "wrong Le field (SW2 gives the exact length)",
            (0x6D, 0x00) => "instruction code not supported or invalid",
            (0x6E, 0x00) => "class not supported",
            (0x6F, 0x00) => "no precise diagnosis",
            _ => "unknown status word",
        }
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SW({:04X})", self.0)
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({})", self.0, self.name())
    }
}

/// A response APDU borrowing its data from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseView<'a> {
    /// The response data before the status word.
    pub data: &'a [u8],
    /// The trailing status word.
    pub sw: StatusWord,
}

impl<'a> ResponseView<'a> {
    /// Splits response bytes into data and the trailing status word.
    pub fn parse(b: &'a [u8]) -> Result<Self, ApduError> {
        match b {
            [data @ .., sw1, sw2] => Ok(ResponseView {
                data,
                sw: StatusWord::new(*sw1, *sw2),
            }),
            _ => Err(ApduError::NoStatusWord(b.len())),
        }
    }
}

/// An owned response APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseApdu {
    /// The response data before the status word.
    pub data: Vec<u8>,
    /// The trailing status word.
    pub sw: StatusWord,
}

impl ResponseApdu {
    /// A response with data and a status word.
    pub fn new(data: impl Into<Vec<u8>>, sw: StatusWord) -> Self {
        ResponseApdu {
            data: data.into(),
            sw,
        }
    }
    /// A response with a status word only.
    pub fn status(sw: StatusWord) -> Self {
        ResponseApdu {
            data: Vec::new(),
            sw,
        }
    }
    /// Parses an owned response: data, then the two status bytes.
    pub fn parse(b: &[u8]) -> Result<Self, ApduError> {
        ResponseView::parse(b).map(|v| ResponseApdu {
            data: v.data.to_vec(),
            sw: v.sw,
        })
    }
    /// Encodes the response: data, then SW1 SW2.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_short() {
        let c1 = CommandView::parse(&[0x00, 0xA4, 0x04, 0x00]).unwrap();
        assert_eq!(c1.case(), Case::One);
        let c2 = CommandView::parse(&[0x00, 0xB2, 0x01, 0x0C, 0x00]).unwrap();
        assert_eq!((c2.case(), c2.le), (Case::Two, Some(256)));
        let c3 = CommandView::parse(&[0x80, 0xA8, 0x00, 0x00, 0x02, 0x83, 0x00]).unwrap();
        assert_eq!((c3.case(), c3.data), (Case::Three, &[0x83, 0x00][..]));
        let c4 = CommandView::parse(&[0x80, 0xA8, 0x00, 0x00, 0x02, 0x83, 0x00, 0x00]).unwrap();
        assert_eq!((c4.case(), c4.le), (Case::Four, Some(256)));
    }

    #[test]
    fn cases_extended() {
        let c2 = CommandView::parse(&[0, 0xB0, 0, 0, 0, 0x01, 0x00]).unwrap();
        assert_eq!(
            (c2.case(), c2.le, c2.extended),
            (Case::Two, Some(256), true)
        );
        let c2z = CommandView::parse(&[0, 0xB0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(c2z.le, Some(65536));
        let mut c3 = vec![0, 0xD6, 0, 0, 0, 0x01, 0x00];
        c3.extend(std::iter::repeat_n(0xAB, 256));
        let v = CommandView::parse(&c3).unwrap();
        assert_eq!((v.case(), v.data.len()), (Case::Three, 256));
        c3.extend([0x00, 0x10]);
        let v = CommandView::parse(&c3).unwrap();
        assert_eq!((v.case(), v.le), (Case::Four, Some(16)));
        assert_eq!(CommandApdu::parse(&c3).unwrap().to_bytes().unwrap(), c3);
    }

    #[test]
    fn malformed() {
        assert_eq!(
            CommandView::parse(&[0, 0xA4, 4]),
            Err(ApduError::TooShort(3))
        );
        assert!(matches!(
            CommandView::parse(&[0, 0xA4, 4, 0, 5, 1, 2]),
            Err(ApduError::BadLength { .. })
        ));
        assert_eq!(
            CommandView::parse(&[0, 0xA4, 4, 0, 0, 0, 0, 1]),
            Err(ApduError::ZeroLc)
        );
        assert!(matches!(
            CommandView::parse(&[0, 0xA4, 4, 0, 0, 0, 2, 1]),
            Err(ApduError::BadLength { .. })
        ));
        assert_eq!(
            ResponseApdu::parse(&[0x90]),
            Err(ApduError::NoStatusWord(1))
        );
        assert_eq!(
            CommandApdu::new(0, 0, 0, 0).with_le(0).to_bytes(),
            Err(ApduError::LeTooLarge(0))
        );
    }

    #[test]
    fn status_words() {
        let r = ResponseApdu::parse(&[0x01, 0x6A, 0x82]).unwrap();
        assert_eq!(r.sw, StatusWord::FILE_NOT_FOUND);
        assert_eq!(r.sw.name(), "file or application not found");
        assert_eq!(
            StatusWord(0x63C2).name(),
            "warning: verification failed, counter in SW2 low nibble"
        );
        assert!(StatusWord(0x6110).is_success());
        assert!(StatusWord::WARNING_SELECTED_FILE_INVALIDATED.is_warning());
        assert_eq!(
            format!("{}", StatusWord::SUCCESS),
            "9000 (normal processing)"
        );
        assert_eq!(r.to_bytes(), vec![0x01, 0x6A, 0x82]);
    }
}
