//! EMV-flavoured BER-TLV and Data Object Lists (sans-IO).
//!
//! This crate owns the byte-level data-object layer every EMV message uses:
//!
//! * [`Tag`], lengths and [`Tlv`] trees: EMV Book 3 Annex B (BER-TLV per
//!   ISO/IEC 8825-1 as restricted by EMV): tags of up to four bytes, definite
//!   lengths in short form or long form with up to four length bytes,
//!   constructed templates nested up to [`MAX_DEPTH`] levels.
//! * [`dol`]: PDOL/CDOL/DDOL parsing and the concatenated data the terminal
//!   (or card) builds from them, following EMV Book 3 §5.4.
//! * [`dict`]: a small EMV tag dictionary (name and data format) used for
//!   pretty printing and for the DOL padding rules.
//!
//! Every decoder returns a typed [`TlvError`]; nothing here panics on
//! untrusted input.
#![deny(missing_docs)]

pub mod dict;
pub mod dol;

pub use dict::{Format, TagInfo, tag_info};
pub use dol::{DolEntry, build_dol_data, parse_dol};

use std::fmt;

/// Deepest nesting of constructed templates the decoder accepts.
pub const MAX_DEPTH: usize = 16;

/// Errors for malformed BER-TLV or DOL input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// The input ended inside a tag, a length or a value.
    #[error("truncated TLV: needed {needed} more byte(s) at offset {offset}")]
    Truncated {
        /// Where the incomplete item starts.
        offset: usize,
        /// How many more bytes it needs.
        needed: usize,
    },
    /// The tag is not a valid EMV tag (0x00/0xFF first byte, or longer than 4 bytes).
    #[error("invalid tag at offset {offset}")]
    BadTag {
        /// Where the tag starts.
        offset: usize,
    },
    /// Indefinite length (0x80) or more than four length bytes.
    #[error("unsupported length encoding 0x{first:02X} at offset {offset}")]
    BadLength {
        /// Where the length starts.
        offset: usize,
        /// Its first byte.
        first: u8,
    },
    /// A length that does not fit in memory addressing or exceeds the enclosing template.
    #[error("length {length} at offset {offset} overflows the available {available} byte(s)")]
    LengthOverflow {
        /// Where the length starts.
        offset: usize,
        /// The length the encoding claims.
        length: u64,
        /// The bytes actually left for the value.
        available: usize,
    },
    /// Bytes left after a single TLV object was expected to end.
    #[error("{count} trailing byte(s) after the TLV object")]
    TrailingBytes {
        /// How many bytes are left over.
        count: usize,
    },
    /// Constructed templates nested deeper than [`MAX_DEPTH`].
    #[error("templates nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A DOL entry names a constructed tag or is otherwise unusable.
    #[error("invalid DOL entry at offset {offset}")]
    BadDol {
        /// Where the entry starts.
        offset: usize,
    },
    /// A value too long to encode (more than 2^32-1 bytes).
    #[error("value of {0} bytes is too long to encode")]
    ValueTooLong(usize),
}

/// An EMV tag: up to four raw tag bytes held big-endian in a `u32`
/// (`0x9F02` for Amount, Authorised; `0x6F` for the FCI template).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag(u32);

impl Tag {
    /// Builds a tag from its numeric form, validating the BER structure.
    pub fn new(raw: u32) -> Result<Self, TlvError> {
        let bytes = raw.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count().min(3);
        let slice = bytes.get(skip..).unwrap_or(&[]);
        match parse_tag(slice, 0) {
            Ok((tag, used)) if used == slice.len() => Ok(tag),
            _ => Err(TlvError::BadTag { offset: 0 }),
        }
    }

    /// For compile-time constants of known-good tags. Does not validate.
    pub const fn from_u32_unchecked(raw: u32) -> Self {
        Tag(raw)
    }

    /// The numeric form (`0x9F02`).
    pub const fn value(self) -> u32 {
        self.0
    }

    /// Number of bytes the tag occupies on the wire.
    pub const fn len(self) -> usize {
        if self.0 > 0xFF_FFFF {
            4
        } else if self.0 > 0xFFFF {
            3
        } else if self.0 > 0xFF {
            2
        } else {
            1
        }
    }

    /// Tags are never empty; present for clippy symmetry with `len`.
    pub const fn is_empty(self) -> bool {
        false
    }

    /// The first (class/constructed) byte.
    pub const fn first_byte(self) -> u8 {
        (self.0 >> (8 * (self.len() - 1))) as u8
    }

    /// Bit 6 of the first byte: the value is itself a TLV sequence.
    pub const fn is_constructed(self) -> bool {
        self.first_byte() & 0x20 != 0
    }

    /// Appends the tag bytes to `out`.
    pub fn write(self, out: &mut Vec<u8>) {
        let b = self.0.to_be_bytes();
        out.extend_from_slice(b.get(4 - self.len()..).unwrap_or(&[]));
    }

    /// The tag bytes.
    pub fn to_vec(self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4);
        self.write(&mut v);
        v
    }

    /// Parses a tag from hex such as `"9F02"`.
    pub fn from_hex(s: &str) -> Result<Self, TlvError> {
        let bytes = hex::decode(s).map_err(|_| TlvError::BadTag { offset: 0 })?;
        match parse_tag(&bytes, 0) {
            Ok((tag, used)) if used == bytes.len() => Ok(tag),
            _ => Err(TlvError::BadTag { offset: 0 }),
        }
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({self})")
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$X}", self.0, width = self.len() * 2)
    }
}

/// Parses one tag at `offset` (used for error positions). Returns the tag and
/// the number of bytes consumed.
pub fn parse_tag(input: &[u8], offset: usize) -> Result<(Tag, usize), TlvError> {
    let first = *input
        .first()
        .ok_or(TlvError::Truncated { offset, needed: 1 })?;
    if first == 0x00 || first == 0xFF {
        return Err(TlvError::BadTag { offset });
    }
    let mut raw = u32::from(first);
    let mut used = 1;
    if first & 0x1F == 0x1F {
        loop {
            let b = *input.get(used).ok_or(TlvError::Truncated {
                offset: offset + used,
                needed: 1,
            })?;
            if used >= 4 {
                return Err(TlvError::BadTag { offset });
            }
            raw = (raw << 8) | u32::from(b);
            used += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    Ok((Tag(raw), used))
}

/// Parses a definite length at `offset`. Returns the length and the bytes consumed.
pub fn parse_length(input: &[u8], offset: usize) -> Result<(usize, usize), TlvError> {
    let first = *input
        .first()
        .ok_or(TlvError::Truncated { offset, needed: 1 })?;
    if first < 0x80 {
        return Ok((usize::from(first), 1));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 4 {
        return Err(TlvError::BadLength { offset, first });
    }
    let bytes = input.get(1..1 + n).ok_or(TlvError::Truncated {
        offset: offset + 1,
        needed: (1 + n).saturating_sub(input.len()),
    })?;
    let len = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    let len = usize::try_from(len).map_err(|_| TlvError::LengthOverflow {
        offset,
        length: len,
        available: 0,
    })?;
    Ok((len, 1 + n))
}

/// Appends a BER definite length (minimal form) to `out`.
pub fn write_length(len: usize, out: &mut Vec<u8>) -> Result<(), TlvError> {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len <= 0xFFFF {
        out.push(0x82);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else if len <= 0xFF_FFFF {
        out.push(0x83);
        out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    } else {
        let l = u32::try_from(len).map_err(|_| TlvError::ValueTooLong(len))?;
        out.push(0x84);
        out.extend_from_slice(&l.to_be_bytes());
    }
    Ok(())
}

/// Appends a primitive TLV (tag, minimal length, value) to `out`.
///
/// Panic-free for any value shorter than 4 GiB; longer values are impossible
/// in EMV and are rejected with [`TlvError::ValueTooLong`].
pub fn write_tlv(tag: Tag, value: &[u8], out: &mut Vec<u8>) -> Result<(), TlvError> {
    tag.write(out);
    write_length(value.len(), out)?;
    out.extend_from_slice(value);
    Ok(())
}

/// One TLV item borrowed from the input, as yielded by [`iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawTlv<'a> {
    /// The object's tag.
    pub tag: Tag,
    /// Its value bytes, still encoded if the tag is constructed.
    pub value: &'a [u8],
}

/// Zero-allocation iterator over a flat sequence of TLV objects.
pub struct Iter<'a> {
    input: &'a [u8],
    pos: usize,
    base: usize,
    failed: bool,
}

/// Iterates the top-level TLV objects of `input` without allocating. Stops
/// after the first error.
pub fn iter(input: &[u8]) -> Iter<'_> {
    Iter {
        input,
        pos: 0,
        base: 0,
        failed: false,
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<RawTlv<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.input.len() {
            return None;
        }
        let r = read_raw(self.input, self.pos, self.base);
        match r {
            Ok((item, next)) => {
                self.pos = next;
                Some(Ok(item))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

fn read_raw(input: &[u8], pos: usize, base: usize) -> Result<(RawTlv<'_>, usize), TlvError> {
    let rest = input.get(pos..).unwrap_or(&[]);
    let (tag, tl) = parse_tag(rest, base + pos)?;
    let (len, ll) = parse_length(rest.get(tl..).unwrap_or(&[]), base + pos + tl)?;
    let start = pos + tl + ll;
    let available = input.len().saturating_sub(start);
    if len > available {
        return Err(TlvError::LengthOverflow {
            offset: base + pos + tl,
            length: len as u64,
            available,
        });
    }
    let value = input.get(start..start + len).ok_or(TlvError::Truncated {
        offset: base + start,
        needed: len,
    })?;
    Ok((RawTlv { tag, value }, start + len))
}

/// Finds the first top-level object with `tag` in a flat TLV sequence.
pub fn find_flat(input: &[u8], tag: Tag) -> Result<Option<&[u8]>, TlvError> {
    for item in iter(input) {
        let item = item?;
        if item.tag == tag {
            return Ok(Some(item.value));
        }
    }
    Ok(None)
}

/// The value of a decoded TLV: raw bytes, or the children of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A primitive object's value bytes.
    Primitive(Vec<u8>),
    /// A constructed template's child objects, in order.
    Constructed(Vec<Tlv>),
}

/// A decoded TLV object (a tree node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// The object's tag.
    pub tag: Tag,
    /// Its value: bytes, or children for a template.
    pub value: Value,
}

impl Tlv {
    /// A primitive object.
    pub fn primitive(tag: Tag, value: impl Into<Vec<u8>>) -> Self {
        Tlv {
            tag,
            value: Value::Primitive(value.into()),
        }
    }

    /// A constructed template holding `children`.
    pub fn constructed(tag: Tag, children: Vec<Tlv>) -> Self {
        Tlv {
            tag,
            value: Value::Constructed(children),
        }
    }

    /// Primitive bytes, or `None` for a template.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Value::Primitive(v) => Some(v),
            Value::Constructed(_) => None,
        }
    }

    /// Children of a template (empty for a primitive).
    pub fn children(&self) -> &[Tlv] {
        match &self.value {
            Value::Primitive(_) => &[],
            Value::Constructed(c) => c,
        }
    }

    /// Direct child with `tag`.
    pub fn child(&self, tag: Tag) -> Option<&Tlv> {
        self.children().iter().find(|c| c.tag == tag)
    }

    /// Encodes this object (minimal lengths) and appends it to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), TlvError> {
        match &self.value {
            Value::Primitive(v) => write_tlv(self.tag, v, out),
            Value::Constructed(children) => {
                let mut inner = Vec::new();
                for c in children {
                    c.encode_into(&mut inner)?;
                }
                write_tlv(self.tag, &inner, out)
            }
        }
    }

    /// Encodes this object to a new vector.
    pub fn encode(&self) -> Result<Vec<u8>, TlvError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Decodes exactly one TLV object; trailing bytes are an error.
    pub fn decode(input: &[u8]) -> Result<Tlv, TlvError> {
        let (tlv, used) = decode_one(input, 0, 0)?;
        if used != input.len() {
            return Err(TlvError::TrailingBytes {
                count: input.len() - used,
            });
        }
        Ok(tlv)
    }

    /// Depth-first search of this subtree (including itself) for `tag`.
    pub fn find(&self, tag: Tag) -> Option<&Tlv> {
        if self.tag == tag {
            return Some(self);
        }
        self.children().iter().find_map(|c| c.find(tag))
    }
}

fn decode_one(input: &[u8], base: usize, depth: usize) -> Result<(Tlv, usize), TlvError> {
    let (raw, used) = read_raw(input, 0, base)?;
    let value_offset = base + used - raw.value.len();
    let value = if raw.tag.is_constructed() {
        if depth >= MAX_DEPTH {
            return Err(TlvError::TooDeep);
        }
        Value::Constructed(decode_seq(raw.value, value_offset, depth + 1)?)
    } else {
        Value::Primitive(raw.value.to_vec())
    };
    Ok((
        Tlv {
            tag: raw.tag,
            value,
        },
        used,
    ))
}

fn decode_seq(input: &[u8], base: usize, depth: usize) -> Result<Vec<Tlv>, TlvError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        let rest = input.get(pos..).unwrap_or(&[]);
        let (tlv, used) = decode_one(rest, base + pos, depth)?;
        out.push(tlv);
        pos += used;
    }
    Ok(out)
}

/// Decodes a sequence of TLV objects (e.g. a DE 55 field or a record body)
/// into trees.
pub fn decode(input: &[u8]) -> Result<Vec<Tlv>, TlvError> {
    decode_seq(input, 0, 0)
}

/// Encodes a sequence of trees.
pub fn encode(items: &[Tlv]) -> Result<Vec<u8>, TlvError> {
    let mut out = Vec::new();
    for t in items {
        t.encode_into(&mut out)?;
    }
    Ok(out)
}

/// Follows a tag path through nested templates: `find_path(&tree, &[0x6F, 0xA5, 0x50])`.
pub fn find_path<'a>(items: &'a [Tlv], path: &[Tag]) -> Option<&'a Tlv> {
    let (first, rest) = path.split_first()?;
    let hit = items.iter().find(|t| t.tag == *first)?;
    if rest.is_empty() {
        Some(hit)
    } else {
        find_path(hit.children(), rest)
    }
}

/// Depth-first search of a sequence of trees for `tag`.
pub fn find(items: &[Tlv], tag: Tag) -> Option<&Tlv> {
    items.iter().find_map(|t| t.find(tag))
}

/// Incremental encoder for building responses: `Builder::new().primitive(..).template(..)`.
#[derive(Debug, Default, Clone)]
pub struct Builder {
    buf: Vec<u8>,
}

impl Builder {
    /// An empty encoder.
    pub fn new() -> Self {
        Builder {
            buf: Vec::with_capacity(64),
        }
    }

    /// Appends a primitive object.
    pub fn primitive(mut self, tag: Tag, value: &[u8]) -> Self {
        // Values built in-process are far below 4 GiB; an oversized value is
        // dropped rather than panicking.
        let _ = write_tlv(tag, value, &mut self.buf);
        self
    }

    /// Appends a template whose contents are produced by `f`.
    pub fn template(mut self, tag: Tag, f: impl FnOnce(Builder) -> Builder) -> Self {
        let inner = f(Builder::new()).buf;
        // As in `primitive`: far below the 4 GiB a TLV length can say.
        let _ = write_tlv(tag, &inner, &mut self.buf);
        self
    }

    /// Appends already-encoded TLV bytes.
    pub fn raw(mut self, encoded: &[u8]) -> Self {
        self.buf.extend_from_slice(encoded);
        self
    }

    /// The encoded objects, in the order they were appended.
    pub fn build(self) -> Vec<u8> {
        self.buf
    }
}

/// Well-known EMV tags used across paytap.
pub mod tags {
    use super::Tag;
    macro_rules! t {
        ($($(#[$doc:meta])* $name:ident = $v:expr),* $(,)?) => {
            $($(#[$doc])* pub const $name: Tag = Tag::from_u32_unchecked($v);)*
        };
    }
    t! {
        /// Application Identifier (AID) - card (`4F`).
        AID = 0x4F,
        /// Application Label (`50`).
        APP_LABEL = 0x50,
        /// Track 2 Equivalent Data (`57`).
        TRACK2_EQ = 0x57,
        /// Application PAN (`5A`).
        PAN = 0x5A,
        /// File Control Information (FCI) Template (`6F`).
        FCI = 0x6F,
        /// READ RECORD Response Message Template (`70`).
        RECORD = 0x70,
        /// Response Message Template Format 2 (`77`).
        RESP_FMT2 = 0x77,
        /// Response Message Template Format 1 (`80`).
        RESP_FMT1 = 0x80,
        /// Application Interchange Profile (`82`).
        AIP = 0x82,
        /// Dedicated File (DF) Name (`84`).
        DF_NAME = 0x84,
        /// Issuer Authentication Data (`91`).
        ISSUER_AUTH_DATA = 0x91,
        /// Terminal Verification Results (`95`).
        TVR = 0x95,
        /// Transaction Date (`9A`).
        TXN_DATE = 0x9A,
        /// Transaction Type (`9C`).
        TXN_TYPE = 0x9C,
        /// FCI Proprietary Template (`A5`).
        FCI_PROPRIETARY = 0xA5,
        /// Application File Locator (AFL) (`94`).
        AFL = 0x94,
        /// Processing Options Data Object List (PDOL) (`9F38`).
        PDOL = 0x9F38,
        /// CDOL1 (`8C`).
        CDOL1 = 0x8C,
        /// CDOL2 (`8D`).
        CDOL2 = 0x8D,
        /// Application Priority Indicator (`87`).
        APP_PRIORITY = 0x87,
        /// Application Template (`61`).
        DIR_ENTRY = 0x61,
        /// File Control Information (FCI) Issuer Discretionary Data (`BF0C`).
        FCI_ISSUER_DISC = 0xBF0C,
        /// Application Expiration Date (`5F24`).
        EXPIRY = 0x5F24,
        /// Application Effective Date (`5F25`).
        EFFECTIVE = 0x5F25,
        /// Transaction Currency Code (`5F2A`).
        CURRENCY = 0x5F2A,
        /// PAN Sequence Number (`5F34`).
        PSN = 0x5F34,
        /// Issuer Country Code (`5F28`).
        ISSUER_COUNTRY = 0x5F28,
        /// Amount, Authorised (Numeric) (`9F02`).
        AMOUNT = 0x9F02,
        /// Amount, Other (Numeric) (`9F03`).
        AMOUNT_OTHER = 0x9F03,
        /// Application Version Number (`9F09`).
        APP_VERSION = 0x9F09,
        /// Issuer Application Data (`9F10`).
        IAD = 0x9F10,
        /// Terminal Country Code (`9F1A`).
        TERM_COUNTRY = 0x9F1A,
        /// Interface Device (IFD) Serial Number (`9F1E`).
        IFD_SERIAL = 0x9F1E,
        /// Application Cryptogram (`9F26`).
        AC = 0x9F26,
        /// Cryptogram Information Data (`9F27`).
        CID = 0x9F27,
        /// Terminal Capabilities (`9F33`).
        TERM_CAPS = 0x9F33,
        /// Cardholder Verification Method (CVM) Results (`9F34`).
        CVM_RESULTS = 0x9F34,
        /// Terminal Type (`9F35`).
        TERM_TYPE = 0x9F35,
        /// Application Transaction Counter (ATC) (`9F36`).
        ATC = 0x9F36,
        /// Unpredictable Number (`9F37`).
        UN = 0x9F37,
        /// Additional Terminal Capabilities (`9F40`).
        ADD_TERM_CAPS = 0x9F40,
        /// Merchant Name and Location (`9F4E`).
        MERCHANT_NAME = 0x9F4E,
        /// Terminal Transaction Qualifiers (TTQ) (`9F66`).
        TTQ = 0x9F66,
        /// Card Transaction Qualifiers (CTQ) (`9F6C`).
        CTQ = 0x9F6C,
        /// Form Factor Indicator / Third Party Data (`9F6E`).
        FFI = 0x9F6E,
        /// Merchant Category Code (`9F15`).
        MCC = 0x9F15,
        /// Kernel Identifier (`9F2A`).
        KERNEL_ID = 0x9F2A,
        /// Command Template (`83`).
        PDOL_DATA = 0x83,
        /// Authorisation Response Code (`8A`).
        ARC = 0x8A,
        /// CVM List (`8E`).
        CVM_LIST = 0x8E,
        /// Application Usage Control (`9F07`).
        AUC = 0x9F07,
        /// Cardholder Name (`5F20`).
        CARDHOLDER_NAME = 0x5F20,
        /// Application Preferred Name (`9F12`).
        APP_PREF_NAME = 0x9F12,
        /// Language Preference (`5F2D`).
        LANG_PREF = 0x5F2D,
        /// Terminal Floor Limit (`9F1B`).
        TERM_FLOOR = 0x9F1B,
        /// Application Currency Code (`9F42`).
        APP_CURRENCY = 0x9F42,
        /// Terminal Identification (`9F1C`).
        TERMINAL_ID = 0x9F1C,
        /// Merchant Identifier (`9F16`).
        MERCHANT_ID = 0x9F16,
        /// Point-of-Service (POS) Entry Mode (`9F39`).
        POS_ENTRY = 0x9F39,
        /// Transaction Sequence Counter (`9F41`).
        TXN_SEQ = 0x9F41,
        /// Transaction Time (`9F21`).
        TXN_TIME = 0x9F21,
        /// Transaction Currency Exponent (`5F36`).
        TXN_CURRENCY_EXP = 0x5F36,
        /// Issuer Script Template 1 (`71`).
        ISSUER_SCRIPT_71 = 0x71,
        /// Issuer Script Template 2 (`72`).
        ISSUER_SCRIPT_72 = 0x72,
        /// Application Selection Registered Proprietary Data (`9F0A`).
        CAPP_ISSUER_DISC = 0x9F0A,
        /// Token Requestor ID (`9F19`).
        TOKEN_REQ_ID = 0x9F19,
        /// Payment Account Reference (`9F24`).
        PAR = 0x9F24,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_parse_and_print() {
        let (t, n) = parse_tag(&[0x9F, 0x02, 0x06], 0).unwrap();
        assert_eq!((t.value(), n), (0x9F02, 2));
        assert_eq!(t.to_string(), "9F02");
        assert_eq!(Tag::from_hex("BF0C").unwrap().len(), 2);
        assert!(Tag::from_hex("9F").is_err());
        assert!(Tag::new(0x9F).is_err());
        assert!(Tag::new(0x9F8102).is_ok());
        assert!(!Tag::new(0x9F02).unwrap().is_constructed());
        assert!(tags::FCI.is_constructed());
        assert_eq!(parse_tag(&[0x00], 3), Err(TlvError::BadTag { offset: 3 }));
        assert_eq!(
            parse_tag(&[0x1F, 0x81, 0x82, 0x83, 0x04], 0),
            Err(TlvError::BadTag { offset: 0 })
        );
    }

    #[test]
    fn lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 65535, 65536, 0x01_00_00_00] {
            let mut out = Vec::new();
            write_length(len, &mut out).unwrap();
            assert_eq!(parse_length(&out, 0).unwrap(), (len, out.len()));
        }
        assert_eq!(
            parse_length(&[0x80], 0),
            Err(TlvError::BadLength {
                offset: 0,
                first: 0x80
            })
        );
        assert_eq!(
            parse_length(&[0x85, 0, 0, 0, 0, 1], 0),
            Err(TlvError::BadLength {
                offset: 0,
                first: 0x85
            })
        );
        assert!(matches!(
            parse_length(&[0x82, 0x01], 0),
            Err(TlvError::Truncated { .. })
        ));
    }

    #[test]
    fn decode_fci_tree() {
        let fci = hex::decode("6F1A840E325041592E5359532E4444463031A508BF0C059F0A020001").unwrap();
        let tree = Tlv::decode(&fci).unwrap();
        assert_eq!(tree.tag, tags::FCI);
        let name = find_path(std::slice::from_ref(&tree), &[tags::FCI, tags::DF_NAME]).unwrap();
        assert_eq!(name.bytes().unwrap(), b"2PAY.SYS.DDF01");
        assert!(tree.find(tags::FCI_ISSUER_DISC).is_some());
        assert_eq!(tree.encode().unwrap(), fci);
    }

    #[test]
    fn malformed() {
        assert!(matches!(decode(&[0x9F]), Err(TlvError::Truncated { .. })));
        assert!(matches!(
            decode(&[0x5A, 0x05, 1, 2]),
            Err(TlvError::LengthOverflow { .. })
        ));
        assert!(matches!(
            Tlv::decode(&[0x5A, 0x01, 1, 0x00]),
            Err(TlvError::TrailingBytes { count: 1 })
        ));
        let mut deep = vec![0x5A, 0x00];
        for _ in 0..=MAX_DEPTH {
            let mut n = vec![0x70];
            write_length(deep.len(), &mut n).unwrap();
            n.extend_from_slice(&deep);
            deep = n;
        }
        assert_eq!(decode(&deep), Err(TlvError::TooDeep));
        assert!(matches!(
            decode(&[0x70, 0x03, 0x5A, 0x05, 0x00]),
            Err(TlvError::LengthOverflow { .. })
        ));
    }

    #[test]
    fn builder_and_flat_iter() {
        let b = Builder::new()
            .primitive(tags::AMOUNT, &[0, 0, 0, 0, 0x12, 0x34])
            .template(tags::RESP_FMT2, |b| b.primitive(tags::AIP, &[0x19, 0x80]))
            .build();
        let items: Vec<_> = iter(&b).collect::<Result<_, _>>().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            find_flat(&b, tags::AMOUNT).unwrap().unwrap(),
            &[0, 0, 0, 0, 0x12, 0x34]
        );
        let tree = decode(&b).unwrap();
        assert_eq!(
            find(&tree, tags::AIP).unwrap().bytes().unwrap(),
            &[0x19, 0x80]
        );
        assert_eq!(encode(&tree).unwrap(), b);
    }
}
