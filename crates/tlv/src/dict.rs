//! A small EMV tag dictionary: name and data format of the tags paytap uses
//! (EMV Book 3 Annex A, EMV Book C-2/C-3 for contactless-only tags).
//!
//! The format drives the DOL padding rules of EMV Book 3 §5.4 and the
//! pretty printer of `paytap tools tlv decode`.

use crate::Tag;

/// EMV data element format (EMV Book 3 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Binary.
    B,
    /// Numeric, BCD, right-justified, padded on the left with zeros.
    N,
    /// Compressed numeric, BCD, left-justified, padded on the right with 'F'.
    Cn,
    /// Alphanumeric.
    An,
    /// Alphanumeric special (printable ASCII).
    Ans,
    /// A constructed template.
    Template,
}

/// Dictionary entry for one tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagInfo {
    /// The tag.
    pub tag: Tag,
    /// Its name in EMV Book 3 Annex A.
    pub name: &'static str,
    /// Its data format.
    pub format: Format,
}

const fn e(tag: u32, name: &'static str, format: Format) -> TagInfo {
    TagInfo {
        tag: Tag::from_u32_unchecked(tag),
        name,
        format,
    }
}

use Format::*;

/// The dictionary, sorted by tag value.
pub static DICTIONARY: &[TagInfo] = &[
    e(0x42, "Issuer Identification Number", N),
    e(0x4F, "Application Identifier (AID) - card", B),
    e(0x50, "Application Label", Ans),
    e(0x57, "Track 2 Equivalent Data", B),
    e(0x5A, "Application PAN", Cn),
    e(0x61, "Application Template", Template),
    e(0x6F, "File Control Information (FCI) Template", Template),
    e(0x70, "READ RECORD Response Message Template", Template),
    e(0x71, "Issuer Script Template 1", Template),
    e(0x72, "Issuer Script Template 2", Template),
    e(0x77, "Response Message Template Format 2", Template),
    e(0x80, "Response Message Template Format 1", B),
    e(0x82, "Application Interchange Profile", B),
    e(0x83, "Command Template", B),
    e(0x84, "Dedicated File (DF) Name", B),
    e(0x87, "Application Priority Indicator", B),
    e(0x8A, "Authorisation Response Code", An),
    e(0x8C, "CDOL1", B),
    e(0x8D, "CDOL2", B),
    e(0x8E, "CVM List", B),
    e(0x91, "Issuer Authentication Data", B),
    e(0x94, "Application File Locator (AFL)", B),
    e(0x95, "Terminal Verification Results", B),
    e(0x9A, "Transaction Date", N),
    e(0x9C, "Transaction Type", N),
    e(0xA5, "FCI Proprietary Template", Template),
    e(0x5F20, "Cardholder Name", Ans),
    e(0x5F24, "Application Expiration Date", N),
    e(0x5F25, "Application Effective Date", N),
    e(0x5F28, "Issuer Country Code", N),
    e(0x5F2A, "Transaction Currency Code", N),
    e(0x5F2D, "Language Preference", An),
    e(0x5F34, "PAN Sequence Number", N),
    e(0x5F36, "Transaction Currency Exponent", N),
    e(0x9F02, "Amount, Authorised (Numeric)", N),
    e(0x9F03, "Amount, Other (Numeric)", N),
    e(0x9F06, "Application Identifier (AID) - terminal", B),
    e(0x9F07, "Application Usage Control", B),
    e(0x9F09, "Application Version Number", B),
    e(
        0x9F0A,
        "Application Selection Registered Proprietary Data",
        B,
    ),
    e(0x9F10, "Issuer Application Data", B),
    e(0x9F12, "Application Preferred Name", Ans),
    e(0x9F15, "Merchant Category Code", N),
    e(0x9F16, "Merchant Identifier", Ans),
    e(0x9F19, "Token Requestor ID", N),
    e(0x9F1A, "Terminal Country Code", N),
    e(0x9F1B, "Terminal Floor Limit", B),
    e(0x9F1C, "Terminal Identification", An),
    e(0x9F1E, "Interface Device (IFD) Serial Number", An),
    e(0x9F21, "Transaction Time", N),
    e(0x9F24, "Payment Account Reference", An),
    e(0x9F26, "Application Cryptogram", B),
    e(0x9F27, "Cryptogram Information Data", B),
    e(0x9F2A, "Kernel Identifier", B),
    e(0x9F33, "Terminal Capabilities", B),
    e(0x9F34, "Cardholder Verification Method (CVM) Results", B),
    e(0x9F35, "Terminal Type", N),
    e(0x9F36, "Application Transaction Counter (ATC)", B),
    e(0x9F37, "Unpredictable Number", B),
    e(0x9F38, "Processing Options Data Object List (PDOL)", B),
    e(0x9F39, "Point-of-Service (POS) Entry Mode", N),
    e(0x9F40, "Additional Terminal Capabilities", B),
    e(0x9F41, "Transaction Sequence Counter", N),
    e(0x9F42, "Application Currency Code", N),
    e(0x9F4E, "Merchant Name and Location", Ans),
    e(0x9F66, "Terminal Transaction Qualifiers (TTQ)", B),
    e(0x9F6C, "Card Transaction Qualifiers (CTQ)", B),
    e(0x9F6E, "Form Factor Indicator / Third Party Data", B),
    e(
        0xBF0C,
        "File Control Information (FCI) Issuer Discretionary Data",
        Template,
    ),
];

/// Looks a tag up in the dictionary.
pub fn tag_info(tag: Tag) -> Option<&'static TagInfo> {
    DICTIONARY
        .binary_search_by_key(&tag.value(), |i| i.tag.value())
        .ok()
        .and_then(|i| DICTIONARY.get(i))
}

/// Data format of a tag, `B` when unknown (EMV treats unknown data as binary).
pub fn format_of(tag: Tag) -> Format {
    tag_info(tag).map_or(if tag.is_constructed() { Template } else { B }, |i| {
        i.format
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_consistent() {
        for w in DICTIONARY.windows(2) {
            assert!(w[0].tag.value() < w[1].tag.value(), "{:?}", w[1].tag);
        }
        for i in DICTIONARY {
            assert_eq!(Tag::new(i.tag.value()).unwrap(), i.tag);
            assert_eq!(
                i.tag.is_constructed(),
                i.format == Format::Template,
                "{:?}",
                i.tag
            );
        }
        assert_eq!(
            tag_info(Tag::from_u32_unchecked(0x9F02)).unwrap().format,
            Format::N
        );
        assert_eq!(format_of(Tag::from_u32_unchecked(0x9F7F)), Format::B);
    }
}
