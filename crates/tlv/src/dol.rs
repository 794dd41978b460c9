//! Data Object Lists (PDOL, CDOL1/2, DDOL): EMV Book 3 §5.4.
//!
//! A DOL is a concatenation of tag + length pairs (no values). The data the
//! other side builds from it is the concatenation of the values, each forced
//! to the requested length:
//!
//! * shorter numeric (`n`) values are padded on the left with zero bytes,
//!   compressed numeric (`cn`) on the right with `0xFF`, everything else on the
//!   right with `0x00`;
//! * longer `n` values lose their leftmost bytes, all others their rightmost;
//! * a tag the source does not know (or a constructed tag) yields zero bytes.

use crate::dict::{Format, format_of};
use crate::{Tag, TlvError, parse_length, parse_tag};

/// One DOL entry: the tag asked for and the length it must occupy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DolEntry {
    /// The data object asked for.
    pub tag: Tag,
    /// The number of bytes it must occupy in the concatenated data.
    pub len: usize,
}

/// Largest length accepted for a single DOL entry (a DOL length is one byte in
/// practice; BER allows more and is accepted up to this bound).
pub const MAX_DOL_ENTRY_LEN: usize = 255;

/// Parses a DOL (the value of tag 9F38, 8C, 8D...).
pub fn parse_dol(input: &[u8]) -> Result<Vec<DolEntry>, TlvError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        let rest = input.get(pos..).unwrap_or(&[]);
        let (tag, tl) = parse_tag(rest, pos)?;
        let (len, ll) = parse_length(rest.get(tl..).unwrap_or(&[]), pos + tl)?;
        if len > MAX_DOL_ENTRY_LEN {
            return Err(TlvError::LengthOverflow {
                offset: pos + tl,
                length: len as u64,
                available: MAX_DOL_ENTRY_LEN,
            });
        }
        out.push(DolEntry { tag, len });
        pos += tl + ll;
    }
    Ok(out)
}

/// Encodes a DOL back to bytes.
pub fn encode_dol(entries: &[DolEntry]) -> Result<Vec<u8>, TlvError> {
    let mut out = Vec::with_capacity(entries.len() * 3);
    for e in entries {
        e.tag.write(&mut out);
        crate::write_length(e.len, &mut out)?;
    }
    Ok(out)
}

/// Total length of the data a DOL asks for.
pub fn dol_data_len(entries: &[DolEntry]) -> usize {
    entries.iter().map(|e| e.len).sum()
}

/// Appends one value, forced to `len` bytes by the §5.4 rules for `format`.
pub fn fit_value(value: &[u8], len: usize, format: Format, out: &mut Vec<u8>) {
    use std::cmp::Ordering::*;
    match (value.len().cmp(&len), format) {
        (Equal, _) => out.extend_from_slice(value),
        (Less, Format::N) => {
            out.resize(out.len() + (len - value.len()), 0);
            out.extend_from_slice(value);
        }
        (Less, Format::Cn) => {
            out.extend_from_slice(value);
            out.resize(out.len() + (len - value.len()), 0xFF);
        }
        (Less, _) => {
            out.extend_from_slice(value);
            out.resize(out.len() + (len - value.len()), 0);
        }
        (Greater, Format::N) => {
            out.extend_from_slice(value.get(value.len() - len..).unwrap_or(&[]))
        }
        (Greater, _) => out.extend_from_slice(value.get(..len).unwrap_or(&[])),
    }
}

/// Builds the DOL data from a tag → value source, using the built-in
/// dictionary for each tag's format.
pub fn build_dol_data<'a, F>(entries: &[DolEntry], source: F) -> Vec<u8>
where
    F: Fn(Tag) -> Option<&'a [u8]>,
{
    build_dol_data_with(entries, source, format_of)
}

/// As [`build_dol_data`] with a caller-supplied format lookup.
pub fn build_dol_data_with<'a, F, G>(entries: &[DolEntry], source: F, format: G) -> Vec<u8>
where
    F: Fn(Tag) -> Option<&'a [u8]>,
    G: Fn(Tag) -> Format,
{
    let mut out = Vec::with_capacity(dol_data_len(entries));
    for e in entries {
        match (e.tag.is_constructed(), source(e.tag)) {
            (false, Some(v)) => fit_value(v, e.len, format(e.tag), &mut out),
            _ => out.resize(out.len() + e.len, 0),
        }
    }
    out
}

/// Splits DOL data back into per-tag values (the inverse of
/// [`build_dol_data`] on the receiving side). Errors when `data` is not
/// exactly as long as the DOL asks.
pub fn split_dol_data<'d>(
    entries: &[DolEntry],
    data: &'d [u8],
) -> Result<Vec<(Tag, &'d [u8])>, TlvError> {
    let need = dol_data_len(entries);
    if data.len() != need {
        return if data.len() < need {
            Err(TlvError::Truncated {
                offset: data.len(),
                needed: need - data.len(),
            })
        } else {
            Err(TlvError::TrailingBytes {
                count: data.len() - need,
            })
        };
    }
    let mut pos = 0;
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let v = data.get(pos..pos + e.len).ok_or(TlvError::Truncated {
            offset: pos,
            needed: e.len,
        })?;
        out.push((e.tag, v));
        pos += e.len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags;

    #[test]
    fn parse_and_build_pdol() {
        let pdol = hex::decode("9F66049F02069F03069F1A0295055F2A029A039C019F3704").unwrap();
        let dol = parse_dol(&pdol).unwrap();
        assert_eq!(dol.len(), 9);
        assert_eq!(
            dol[0],
            DolEntry {
                tag: tags::TTQ,
                len: 4
            }
        );
        assert_eq!(encode_dol(&dol).unwrap(), pdol);
        let amount = [0x12, 0x34];
        let un = [1, 2, 3, 4, 5, 6];
        let data = build_dol_data(&dol, |t| match t {
            tags::AMOUNT => Some(&amount[..]),
            tags::UN => Some(&un[..]),
            _ => None,
        });
        assert_eq!(data.len(), 33);
        // n: left padded
        assert_eq!(&data[4..10], &[0, 0, 0, 0, 0x12, 0x34]);
        // b: truncated on the right
        assert_eq!(&data[29..33], &[1, 2, 3, 4]);
        let split = split_dol_data(&dol, &data).unwrap();
        assert_eq!(split[1], (tags::AMOUNT, &data[4..10]));
        assert!(split_dol_data(&dol, &data[1..]).is_err());
    }

    #[test]
    fn fit_rules() {
        let mut o = Vec::new();
        fit_value(&[0x01, 0x23, 0x45], 2, Format::N, &mut o);
        assert_eq!(o, [0x23, 0x45]);
        o.clear();
        fit_value(&[0x12, 0x34], 4, Format::Cn, &mut o);
        assert_eq!(o, [0x12, 0x34, 0xFF, 0xFF]);
        o.clear();
        fit_value(b"AB", 4, Format::An, &mut o);
        assert_eq!(o, [b'A', b'B', 0, 0]);
        o.clear();
        fit_value(b"ABCD", 2, Format::Ans, &mut o);
        assert_eq!(o, b"AB");
    }

    #[test]
    fn bad_dols() {
        assert!(parse_dol(&[0x9F]).is_err());
        assert!(parse_dol(&[0x9F, 0x02]).is_err());
        assert!(parse_dol(&[0x9F, 0x02, 0x82, 0x10, 0x00]).is_err());
        assert!(parse_dol(&[0x00, 0x01]).is_err());
    }
}
