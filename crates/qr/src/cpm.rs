//! EMV QR Code Specification for Payment Systems, Consumer-Presented Mode (EMVCo
//! CPM v1.0): a base64 (RFC 4648) encoded BER-TLV payload:
//!
//! ```text
//! 85 "CPV01"                              payload format indicator (first)
//! 61 application template (1..n)         4F ADF name (mandatory), 50, 57, 5A, 5F20,
//!                                         5F2D, 5F50, 9F08, 9F19, 9F24, 9F25 ...
//!    63 application specific transparent 9F26 cryptogram, 9F27 CID, 9F36 ATC,
//!       template                          9F10 IAD, 9F37 UN, 82 AIP ...
//! 62 common data template (0..1)          same data objects, with
//!    64 common data transparent template
//! ```
//!
//! Track 2 equivalent data (57), the application PAN (5A) and the cardholder name
//! (5F20) are never printed by `Debug`.

use crate::QrError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use paytap_tlv::{Tag, iter, write_tlv};
use std::fmt;

/// Tag 85 payload format indicator.
pub const PAYLOAD_FORMAT_INDICATOR: Tag = Tag::from_u32_unchecked(0x85);
/// Tag 61 application template.
pub const APPLICATION_TEMPLATE: Tag = Tag::from_u32_unchecked(0x61);
/// Tag 62 common data template.
pub const COMMON_DATA_TEMPLATE: Tag = Tag::from_u32_unchecked(0x62);
/// Tag 63 application specific transparent template.
pub const APPLICATION_TRANSPARENT: Tag = Tag::from_u32_unchecked(0x63);
/// Tag 64 common data transparent template.
pub const COMMON_TRANSPARENT: Tag = Tag::from_u32_unchecked(0x64);

const SENSITIVE: &[u32] = &[0x57, 0x5A, 0x5F20];

/// The data of one application template (61) or of the common data template (62),
/// in payload order, with its transparent template (63 or 64).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CpmTemplate {
    /// The template's primitive data objects, in payload order.
    pub data: Vec<(Tag, Vec<u8>)>,
    /// The contents of its transparent template (63 or 64), in payload order.
    pub transparent: Vec<(Tag, Vec<u8>)>,
}

impl CpmTemplate {
    /// An empty template.
    pub fn new() -> CpmTemplate {
        CpmTemplate::default()
    }

    /// Add a data object (builder style).
    pub fn with(mut self, tag: u32, value: impl Into<Vec<u8>>) -> CpmTemplate {
        self.data.push((Tag::from_u32_unchecked(tag), value.into()));
        self
    }

    /// Add an object to the transparent template (builder style).
    pub fn with_transparent(mut self, tag: u32, value: impl Into<Vec<u8>>) -> CpmTemplate {
        self.transparent
            .push((Tag::from_u32_unchecked(tag), value.into()));
        self
    }

    /// The value of a data object of this template (not of its transparent template).
    pub fn get(&self, tag: u32) -> Option<&[u8]> {
        self.data
            .iter()
            .find(|(t, _)| t.value() == tag)
            .map(|(_, v)| v.as_slice())
    }

    /// The value of an object of the transparent template.
    pub fn get_transparent(&self, tag: u32) -> Option<&[u8]> {
        self.transparent
            .iter()
            .find(|(t, _)| t.value() == tag)
            .map(|(_, v)| v.as_slice())
    }

    /// 4F application definition file name (AID).
    pub fn aid(&self) -> Option<&[u8]> {
        self.get(0x4F)
    }
    /// 50 application label.
    pub fn label(&self) -> Option<&str> {
        std::str::from_utf8(self.get(0x50)?).ok()
    }
    /// 5F2D language preference.
    pub fn language(&self) -> Option<&str> {
        std::str::from_utf8(self.get(0x5F2D)?).ok()
    }
    /// 9F08 application version number.
    pub fn app_version(&self) -> Option<&[u8]> {
        self.get(0x9F08)
    }
    /// 9F19 token requestor id.
    pub fn token_requestor_id(&self) -> Option<&[u8]> {
        self.get(0x9F19)
    }
    /// 9F25 last four digits of the PAN (2 bytes BCD) as a string.
    pub fn pan_last4(&self) -> Option<String> {
        let v = self.get(0x9F25)?;
        if v.len() == 2 {
            Some(hex::encode(v))
        } else {
            None
        }
    }
    /// 9F26 application cryptogram.
    pub fn cryptogram(&self) -> Option<&[u8]> {
        self.get_transparent(0x9F26)
    }
    /// 9F27 cryptogram information data.
    pub fn cid(&self) -> Option<u8> {
        match self.get_transparent(0x9F27)? {
            [c] => Some(*c),
            _ => None,
        }
    }
    /// 9F36 application transaction counter.
    pub fn atc(&self) -> Option<u16> {
        match self.get_transparent(0x9F36)? {
            [a, b] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }
    /// 9F10 issuer application data.
    pub fn iad(&self) -> Option<&[u8]> {
        self.get_transparent(0x9F10)
    }
    /// 82 application interchange profile.
    pub fn aip(&self) -> Option<&[u8]> {
        self.get_transparent(0x82)
    }
    /// 9F37 unpredictable number.
    pub fn unpredictable_number(&self) -> Option<&[u8]> {
        self.get_transparent(0x9F37)
    }

    fn parse(
        value: &[u8],
        transparent_tag: Tag,
        context: &'static str,
    ) -> Result<CpmTemplate, QrError> {
        let mut t = CpmTemplate::default();
        let mut saw_transparent = false;
        for item in iter(value) {
            let item = item?;
            if item.tag == transparent_tag {
                if saw_transparent {
                    return Err(QrError::CpmDuplicate(item.tag.value()));
                }
                saw_transparent = true;
                for inner in iter(item.value) {
                    let inner = inner?;
                    if inner.tag.is_constructed() {
                        return Err(QrError::CpmUnexpected {
                            tag: inner.tag.value(),
                            context: "transparent template",
                        });
                    }
                    if t.transparent.iter().any(|(x, _)| *x == inner.tag) {
                        return Err(QrError::CpmDuplicate(inner.tag.value()));
                    }
                    t.transparent.push((inner.tag, inner.value.to_vec()));
                }
            } else if item.tag.is_constructed() {
                return Err(QrError::CpmUnexpected {
                    tag: item.tag.value(),
                    context,
                });
            } else {
                if t.data.iter().any(|(x, _)| *x == item.tag) {
                    return Err(QrError::CpmDuplicate(item.tag.value()));
                }
                t.data.push((item.tag, item.value.to_vec()));
            }
        }
        Ok(t)
    }

    fn encode(&self, tag: Tag, transparent_tag: Tag, out: &mut Vec<u8>) -> Result<(), QrError> {
        let mut body = Vec::new();
        for (t, v) in &self.data {
            if t.is_constructed() {
                return Err(QrError::CpmUnexpected {
                    tag: t.value(),
                    context: "template data",
                });
            }
            write_tlv(*t, v, &mut body)?;
        }
        if !self.transparent.is_empty() {
            let mut inner = Vec::new();
            for (t, v) in &self.transparent {
                write_tlv(*t, v, &mut inner)?;
            }
            write_tlv(transparent_tag, &inner, &mut body)?;
        }
        write_tlv(tag, &body, out)?;
        Ok(())
    }
}

impl fmt::Debug for CpmTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |(t, v): &(Tag, Vec<u8>)| {
            let val = if SENSITIVE.contains(&t.value()) {
                "<redacted>".to_owned()
            } else {
                hex::encode_upper(v)
            };
            format!("{:X}={}", t.value(), val)
        };
        f.debug_struct("CpmTemplate")
            .field("data", &self.data.iter().map(show).collect::<Vec<_>>())
            .field(
                "transparent",
                &self.transparent.iter().map(show).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// A consumer-presented QR payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cpm {
    /// Application templates (61), at least one.
    pub applications: Vec<CpmTemplate>,
    /// Common data template (62).
    pub common: Option<CpmTemplate>,
    /// Other top-level objects after the format indicator (kept verbatim).
    pub other: Vec<(Tag, Vec<u8>)>,
}

impl Cpm {
    /// Decode the base64 text of a CPM QR code.
    pub fn parse(text: &str) -> Result<Cpm, QrError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| QrError::Base64)?;
        Cpm::decode(&bytes)
    }

    /// Decode the BER-TLV bytes and validate the structure.
    pub fn decode(bytes: &[u8]) -> Result<Cpm, QrError> {
        let mut items = iter(bytes);
        match items.next() {
            Some(Ok(first)) if first.tag == PAYLOAD_FORMAT_INDICATOR => {
                if first.value != b"CPV01" {
                    return Err(QrError::CpmFormatIndicator);
                }
            }
            Some(Err(e)) => return Err(e.into()),
            _ => return Err(QrError::CpmFormatIndicator),
        }
        let mut cpm = Cpm::default();
        for item in items {
            let item = item?;
            if item.tag == APPLICATION_TEMPLATE {
                cpm.applications.push(CpmTemplate::parse(
                    item.value,
                    APPLICATION_TRANSPARENT,
                    "application template",
                )?);
            } else if item.tag == COMMON_DATA_TEMPLATE {
                if cpm.common.is_some() {
                    return Err(QrError::CpmDuplicate(0x62));
                }
                cpm.common = Some(CpmTemplate::parse(
                    item.value,
                    COMMON_TRANSPARENT,
                    "common data template",
                )?);
            } else if item.tag == PAYLOAD_FORMAT_INDICATOR {
                return Err(QrError::CpmDuplicate(0x85));
            } else {
                cpm.other.push((item.tag, item.value.to_vec()));
            }
        }
        cpm.validate()?;
        Ok(cpm)
    }

    /// Structural rules: one or more application templates, each with an ADF name,
    /// and track 2 equivalent data or an application PAN somewhere.
    pub fn validate(&self) -> Result<(), QrError> {
        if self.applications.is_empty() {
            return Err(QrError::CpmMissing(0x61));
        }
        if self.applications.iter().any(|a| a.aid().is_none()) {
            return Err(QrError::CpmMissing(0x4F));
        }
        let has_account = |t: &CpmTemplate| t.get(0x57).is_some() || t.get(0x5A).is_some();
        if !self.applications.iter().any(has_account)
            && !self.common.as_ref().is_some_and(has_account)
        {
            return Err(QrError::CpmMissing(0x5A));
        }
        Ok(())
    }

    /// Encode to BER-TLV bytes.
    pub fn encode(&self) -> Result<Vec<u8>, QrError> {
        self.validate()?;
        let mut out = Vec::with_capacity(128);
        write_tlv(PAYLOAD_FORMAT_INDICATOR, b"CPV01", &mut out)?;
        for a in &self.applications {
            a.encode(APPLICATION_TEMPLATE, APPLICATION_TRANSPARENT, &mut out)?;
        }
        if let Some(c) = &self.common {
            c.encode(COMMON_DATA_TEMPLATE, COMMON_TRANSPARENT, &mut out)?;
        }
        for (t, v) in &self.other {
            write_tlv(*t, v, &mut out)?;
        }
        Ok(out)
    }

    /// Encode to the base64 text put in the QR code.
    pub fn to_base64(&self) -> Result<String, QrError> {
        Ok(STANDARD.encode(self.encode()?))
    }
}
