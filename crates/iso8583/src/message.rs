//! The message: an MTI plus up to 127 data elements, encoded in paytap's wire format
//! (see `docs/wire-format.md`):
//!
//! ```text
//! MTI (4 ASCII digits) | primary bitmap (8 bytes) | [secondary bitmap (8 bytes)] | elements in bit order
//! ```
//!
//! Numeric and character elements are ASCII; LLVAR/LLLVAR length prefixes are 2/3
//! ASCII digits counting characters (bytes for binary elements); binary elements
//! (bitmaps, DE 52, DE 55, DE 64, DE 96, DE 128) are raw bytes.
//!
//! Storage is one byte buffer plus a fixed table of (offset, length) spans, so a
//! message costs one allocation however many elements it holds, and decoding copies
//! the input once.

use crate::spec::{Encoding, FieldSpec, LengthKind, field_spec};
use crate::{Error, FieldError, Mti};
use std::fmt;
use zeroize::Zeroize;

#[derive(Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

/// An ISO 8583:1987 message.
#[derive(Clone)]
pub struct Message {
    mti: Mti,
    /// Bit `n - 1` set when data element `n` is present.
    present: u128,
    spans: [Span; 128],
    buf: Vec<u8>,
}

/// Elements whose value is never shown by `Debug`: PAN, PAN extended, track data,
/// PIN block, and the paytap token data element.
const SENSITIVE: &[u8] = &[2, 34, 35, 36, 45, 52, 62];

impl Message {
    /// An empty message of this type.
    pub fn new(mti: Mti) -> Message {
        Message {
            mti,
            present: 0,
            spans: [Span::default(); 128],
            buf: Vec::with_capacity(256),
        }
    }

    /// The message type indicator.
    pub fn mti(&self) -> Mti {
        self.mti
    }

    /// Change the message type indicator (e.g. when turning a request into its response).
    pub fn set_mti(&mut self, mti: Mti) {
        self.mti = mti;
    }

    /// Is data element `field` present?
    pub fn has(&self, field: u8) -> bool {
        (1..=128).contains(&field) && self.present & (1u128 << (field - 1)) != 0
    }

    /// The numbers of the present data elements, ascending (bitmaps excluded).
    pub fn fields(&self) -> impl Iterator<Item = u8> + '_ {
        (2u8..=128).filter(move |&n| self.has(n))
    }

    /// Validate `value` against the spec of `field` and store it. Character elements
    /// take ASCII; binary elements take raw bytes. Fixed-length elements must have
    /// exactly their length (the typed setters pad for you).
    pub fn set(&mut self, field: u8, value: impl AsRef<[u8]>) -> Result<(), Error> {
        let value = value.as_ref();
        let spec = settable_spec(field)?;
        validate(spec, value).map_err(|reason| Error::Field { field, reason })?;
        let idx = usize::from(field - 1);
        let old = self.spans[idx];
        let reuse = self.has(field) && value.len() <= old.len as usize;
        // Overwrite in place when the new value fits the old slot, so setting the
        // same element repeatedly does not grow the buffer.
        let start = match self
            .buf
            .get_mut(old.start as usize..old.start as usize + value.len())
        {
            Some(slot) if reuse => {
                slot.copy_from_slice(value);
                old.start as usize
            }
            _ => {
                let start = self.buf.len();
                self.buf.extend_from_slice(value);
                start
            }
        };
        self.spans[idx] = Span {
            start: start as u32,
            len: value.len() as u32,
        };
        self.present |= 1u128 << (field - 1);
        Ok(())
    }

    /// Remove data element `field` (no-op when absent).
    pub fn remove(&mut self, field: u8) {
        if (2..=128).contains(&field) {
            self.present &= !(1u128 << (field - 1));
        }
    }

    /// The raw value of data element `field` (ASCII for character elements).
    #[inline]
    pub fn get(&self, field: u8) -> Option<&[u8]> {
        if !self.has(field) {
            return None;
        }
        let s = self.spans[usize::from(field - 1)];
        self.buf
            .get(s.start as usize..s.start as usize + s.len as usize)
    }

    /// The value of a character data element as `&str` (`None` when absent or binary).
    pub fn get_str(&self, field: u8) -> Option<&str> {
        let spec = field_spec(field)?;
        if spec.encoding == Encoding::Binary {
            return None;
        }
        std::str::from_utf8(self.get(field)?).ok()
    }

    /// The value of a data element, or `Error::MissingField`.
    pub fn require(&self, field: u8) -> Result<&[u8], Error> {
        self.get(field).ok_or(Error::MissingField(field))
    }

    /// The value of a character data element as `&str`, or `Error::MissingField`.
    pub fn require_str(&self, field: u8) -> Result<&str, Error> {
        self.get_str(field).ok_or(Error::MissingField(field))
    }

    /// Size of the encoded message in bytes.
    pub fn encoded_len(&self) -> usize {
        let mut n = 4 + 8;
        if self.present >> 64 != 0 {
            n += 8;
        }
        let mut rest = self.present;
        while rest != 0 {
            let idx = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            n += FIELDS_KIND[idx].prefix_digits() + self.spans[idx].len as usize;
        }
        n
    }

    /// Encode into a fresh buffer.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Append the encoding to `out`. Every stored value was validated by `set` or
    /// `decode`, so encoding cannot fail.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        self.encode_pieces(None, |piece| out.extend_from_slice(piece));
    }

    /// Feed the encoding of this message to `sink` in pieces, leaving out
    /// the value of data element `skip` (its bitmap bit and, for variable
    /// elements, its length prefix stay in). The concatenated pieces equal
    /// [`Message::encode`] without that value; nothing is allocated. The
    /// message authentication code is computed over this (`crate::mac`).
    pub(crate) fn encode_pieces_without(&self, skip: u8, sink: impl FnMut(&[u8])) {
        self.encode_pieces(Some(skip), sink);
    }

    /// The one encoder: MTI, bitmaps, then each present element's length
    /// prefix and value, in pieces, the value of `skip` (if any) left out.
    fn encode_pieces(&self, skip: Option<u8>, mut sink: impl FnMut(&[u8])) {
        sink(self.mti.as_bytes());
        let secondary = self.present >> 64 != 0;
        let mut bits = self.present & !1 & !(1u128 << 64);
        if secondary {
            bits |= 1;
        }
        // Bit 1 is the most significant bit of the first bitmap byte.
        sink(&(bits as u64).reverse_bits().to_be_bytes());
        if secondary {
            sink(&((bits >> 64) as u64).reverse_bits().to_be_bytes());
        }
        let mut rest = bits & !1;
        while rest != 0 {
            let idx = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let s = self.spans[idx];
            let value = self
                .buf
                .get(s.start as usize..s.start as usize + s.len as usize)
                .unwrap_or(&[]);
            let n = value.len();
            let digits = [
                b'0' + (n / 100 % 10) as u8,
                b'0' + (n / 10 % 10) as u8,
                b'0' + (n % 10) as u8,
            ];
            match FIELDS_KIND[idx] {
                LengthKind::Fixed(_) => {}
                LengthKind::LlVar(_) => sink(&digits[1..]),
                LengthKind::LllVar(_) => sink(&digits),
            }
            if skip.map(usize::from) != Some(idx + 1) {
                sink(value);
            }
        }
    }

    /// Decode one message (without frame prefix). Every element is checked against
    /// the field table; trailing bytes are an error.
    pub fn decode(input: &[u8]) -> Result<Message, Error> {
        let mti = Mti::from_bytes(input.get(..4).ok_or(Error::Truncated {
            offset: 0,
            needed: 4 - input.len().min(4),
        })?)?;
        let primary = read_bitmap(input, 4)?;
        let mut bits = u128::from(primary.reverse_bits());
        let mut pos = 12;
        if bits & 1 != 0 {
            let secondary = read_bitmap(input, 12)?;
            bits |= u128::from(secondary.reverse_bits()) << 64;
            pos = 20;
        }
        if bits & (1u128 << 64) != 0 {
            return Err(Error::TertiaryBitmap);
        }
        let mut msg = Message {
            mti,
            present: bits & !1,
            spans: [Span::default(); 128],
            buf: input.to_vec(),
        };
        let mut rest = bits & !1;
        while rest != 0 {
            let idx = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            let field = idx as u8 + 1;
            let spec = &crate::spec::FIELDS[idx];
            let len = match spec.kind {
                LengthKind::Fixed(n) => usize::from(n),
                LengthKind::LlVar(_) => read_len(input, &mut pos, 2, field)?,
                LengthKind::LllVar(_) => read_len(input, &mut pos, 3, field)?,
            };
            let value = input.get(pos..pos + len).ok_or(Error::Truncated {
                offset: pos,
                needed: pos + len - input.len().min(pos + len),
            })?;
            validate(spec, value).map_err(|reason| Error::Field { field, reason })?;
            msg.spans[idx] = Span {
                start: pos as u32,
                len: len as u32,
            };
            pos += len;
        }
        if pos != input.len() {
            return Err(Error::TrailingBytes(input.len() - pos));
        }
        Ok(msg)
    }

    /// Start the response to this request: the response MTI, and the elements a
    /// response echoes (DE 2, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49, 70, 90).
    /// Returns `None` when this message is itself a response.
    pub fn response(&self) -> Option<Message> {
        let mti = self.mti.response()?;
        let mut r = Message::new(mti);
        for f in [2u8, 3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49, 70, 90] {
            if let Some(v) = self.get(f) {
                let start = r.buf.len();
                r.buf.extend_from_slice(v);
                r.spans[usize::from(f - 1)] = Span {
                    start: start as u32,
                    len: v.len() as u32,
                };
                r.present |= 1u128 << (f - 1);
            }
        }
        Some(r)
    }
}

impl Drop for Message {
    fn drop(&mut self) {
        // The buffer may hold a PAN or track data.
        self.buf.zeroize();
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.mti == other.mti
            && self.present == other.present
            && self.fields().all(|f| self.get(f) == other.get(f))
    }
}

impl Eq for Message {}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_struct("Message");
        m.field("mti", &self.mti);
        for field in self.fields() {
            let name = LABELS[usize::from(field - 1)];
            let value = self.get(field).unwrap_or(&[]);
            if SENSITIVE.contains(&field) {
                if field == 2 {
                    match std::str::from_utf8(value)
                        .ok()
                        .and_then(|s| crate::Pan::new(s).ok())
                    {
                        Some(pan) => m.field(name, &pan.masked()),
                        None => m.field(name, &"<redacted>"),
                    };
                } else {
                    m.field(name, &"<redacted>");
                }
            } else if crate::spec::FIELDS[usize::from(field - 1)].encoding == Encoding::Binary {
                m.field(name, &hex::encode_upper(value));
            } else {
                m.field(name, &String::from_utf8_lossy(value));
            }
        }
        m.finish()
    }
}

macro_rules! labels {
    ($($n:literal)*) => { [$(concat!("de", $n)),*] };
}
const LABELS: [&str; 128] = labels!(
    1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
    33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64
    65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92 93 94 95 96
    97 98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 114 115 116 117 118 119 120 121 122 123 124 125 126 127 128
);

const FIELDS_KIND: [LengthKind; 128] = {
    let mut out = [LengthKind::Fixed(0); 128];
    let mut i = 0;
    while i < 128 {
        out[i] = crate::spec::FIELDS[i].kind;
        i += 1;
    }
    out
};

fn settable_spec(field: u8) -> Result<&'static FieldSpec, Error> {
    if field == 1 || field == 65 {
        return Err(Error::ReservedField(field));
    }
    field_spec(field).ok_or(Error::ReservedField(field))
}

/// Check a value against a field spec: length bounds and character set.
#[inline]
pub fn validate(spec: &FieldSpec, value: &[u8]) -> Result<(), FieldError> {
    match spec.kind {
        LengthKind::Fixed(n) => {
            if value.len() != usize::from(n) {
                return Err(FieldError::WrongLength {
                    expected: n,
                    actual: value.len(),
                });
            }
        }
        LengthKind::LlVar(max) | LengthKind::LllVar(max) => {
            if value.len() > usize::from(max) {
                return Err(FieldError::TooLong {
                    max,
                    actual: value.len(),
                });
            }
        }
    }
    if spec.encoding != Encoding::Binary {
        for (position, &b) in value.iter().enumerate() {
            if !spec.encoding.allows(position, b) {
                return Err(FieldError::BadCharacter {
                    attribute: spec.encoding.label(),
                    position,
                });
            }
        }
    }
    Ok(())
}

fn read_bitmap(input: &[u8], at: usize) -> Result<u64, Error> {
    let b = input.get(at..at + 8).ok_or(Error::Truncated {
        offset: at,
        needed: at + 8 - input.len().min(at + 8),
    })?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_be_bytes(a))
}

fn read_len(input: &[u8], pos: &mut usize, digits: usize, field: u8) -> Result<usize, Error> {
    let p = input.get(*pos..*pos + digits).ok_or(Error::Truncated {
        offset: *pos,
        needed: *pos + digits - input.len().min(*pos + digits),
    })?;
    let mut n = 0usize;
    for &b in p {
        if !b.is_ascii_digit() {
            return Err(Error::BadLengthPrefix { field });
        }
        n = n * 10 + usize::from(b - b'0');
    }
    *pos += digits;
    let max = FIELDS_KIND[usize::from(field - 1)].max();
    if n > usize::from(max) {
        return Err(Error::Field {
            field,
            reason: FieldError::TooLong { max, actual: n },
        });
    }
    Ok(n)
}
