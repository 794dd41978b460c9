//! paytap's merchant-presented codes: a static code (the same for every
//! sale, the buyer types the amount) and a dynamic code (one sale: the amount
//! and a bill reference in ID "62" sub-ID "01"), both carrying paytap's merchant
//! account template (ID [`PAYTAP_TEMPLATE_ID`], globally unique identifier
//! [`PAYTAP_GUI`], merchant id in sub-ID [`MERCHANT_ID_SUB`]) and the CRC that
//! [`Mpm::encode`] appends.

use crate::QrError;
use crate::mpm::{AdditionalData, MerchantAccount, Mpm, PointOfInitiation, SubField};

/// The merchant account information template paytap uses (EMVCo IDs 26-51 are
/// templates with a globally unique identifier in sub-ID "00").
pub const PAYTAP_TEMPLATE_ID: u8 = 26;
/// Globally unique identifier of paytap's template (reverse domain name).
pub const PAYTAP_GUI: &str = "com.paytap";
/// Sub-ID of the acquirer's merchant id inside paytap's template.
pub const MERCHANT_ID_SUB: u8 = 1;
/// Longest merchant id (the template value must stay within 99 characters).
pub const MAX_MERCHANT_ID_LEN: usize = 32;
/// Longest bill reference (EMVCo ID "62" sub-ID "01" is at most 25 characters).
pub const MAX_BILL_REFERENCE_LEN: usize = 25;

/// What a code says about its merchant: the acquirer's merchant record as the
/// code carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    /// The acquirer's merchant id (1..=[`MAX_MERCHANT_ID_LEN`] printable ASCII).
    pub id: String,
    /// Merchant name (ID "59", at most 25 characters).
    pub name: String,
    /// Merchant city (ID "60", at most 15 characters).
    pub city: String,
    /// ISO 18245 merchant category code, four digits (ID "52").
    pub mcc: String,
    /// ISO 4217 numeric currency (ID "53").
    pub currency: u16,
    /// ISO 3166-1 alpha-2 country (ID "58").
    pub country: String,
}

/// A static code: no amount, point of initiation "11".
pub fn static_code(m: &Merchant) -> Result<String, QrError> {
    base(m, PointOfInitiation::Static)?.encode()
}

/// A dynamic code for one sale: `amount` in minor units of the merchant's
/// currency (greater than zero) and the bill reference, point of initiation "12".
pub fn dynamic_code(m: &Merchant, amount: u64, bill: &str) -> Result<String, QrError> {
    if bill.is_empty() || bill.chars().count() > MAX_BILL_REFERENCE_LEN {
        return Err(QrError::BadLength {
            id: 62,
            max: MAX_BILL_REFERENCE_LEN,
            actual: bill.chars().count(),
        });
    }
    let mut mpm = base(m, PointOfInitiation::Dynamic)?;
    mpm.amount = Some(amount);
    mpm.additional_data = Some(AdditionalData {
        bill_number: Some(bill.to_owned()),
        ..AdditionalData::default()
    });
    mpm.encode()
}

/// paytap's merchant id in a parsed code, when the code has paytap's template.
pub fn paytap_merchant_id(mpm: &Mpm) -> Option<&str> {
    let t = mpm
        .merchant_accounts
        .iter()
        .find(|a| a.guid.as_deref() == Some(PAYTAP_GUI))?;
    t.fields
        .iter()
        .find(|f| f.id == MERCHANT_ID_SUB)
        .map(|f| f.value.as_str())
}

fn base(m: &Merchant, poi: PointOfInitiation) -> Result<Mpm, QrError> {
    let id_ok = !m.id.is_empty()
        && m.id.len() <= MAX_MERCHANT_ID_LEN
        && m.id.bytes().all(|b| b.is_ascii_graphic());
    if !id_ok {
        return Err(QrError::Invalid {
            id: PAYTAP_TEMPLATE_ID,
            reason: "merchant id must be 1-32 printable ASCII characters",
        });
    }
    Ok(Mpm {
        point_of_initiation: Some(poi),
        merchant_accounts: vec![MerchantAccount {
            id: PAYTAP_TEMPLATE_ID,
            value: None,
            guid: Some(PAYTAP_GUI.to_owned()),
            fields: vec![SubField {
                id: MERCHANT_ID_SUB,
                value: m.id.clone(),
            }],
        }],
        mcc: m.mcc.clone(),
        currency: m.currency,
        amount: None,
        tip: None,
        country: m.country.clone(),
        merchant_name: m.name.clone(),
        merchant_city: m.city.clone(),
        postal_code: None,
        additional_data: None,
        language: None,
        rfu: Vec::new(),
        unreserved: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> Merchant {
        Merchant {
            id: "M0000001".into(),
            name: "Tea House".into(),
            city: "Beijing".into(),
            mcc: "5814".into(),
            currency: 156,
            country: "CN".into(),
        }
    }

    #[test]
    fn static_code_has_template_and_no_amount() {
        let text = static_code(&shop()).unwrap();
        assert!(text.starts_with("000201010211"), "{text}");
        assert!(text.contains("26260010com.paytap0108M0000001"), "{text}");
        let mpm = Mpm::parse(&text).unwrap();
        assert_eq!(mpm.point_of_initiation, Some(PointOfInitiation::Static));
        assert_eq!(mpm.amount, None);
        assert_eq!(paytap_merchant_id(&mpm), Some("M0000001"));
    }

    #[test]
    fn dynamic_code_carries_amount_and_bill() {
        let text = dynamic_code(&shop(), 12_345, "B-42").unwrap();
        assert!(text.contains("5406123.45"), "{text}");
        assert!(text.contains("62080104B-42"), "{text}");
        let mpm = Mpm::parse(&text).unwrap();
        assert_eq!(mpm.point_of_initiation, Some(PointOfInitiation::Dynamic));
        assert_eq!(mpm.amount, Some(12_345));
        let bill = mpm.additional_data.unwrap().bill_number;
        assert_eq!(bill.as_deref(), Some("B-42"));
    }

    #[test]
    fn a_changed_character_breaks_the_crc() {
        let text = dynamic_code(&shop(), 100, "B1").unwrap();
        let tampered = text.replacen("0102B1", "0102B2", 1);
        assert!(matches!(
            Mpm::parse(&tampered),
            Err(QrError::CrcMismatch { .. })
        ));
    }

    #[test]
    fn bad_builder_input_is_refused() {
        let mut m = shop();
        assert!(dynamic_code(&m, 0, "B1").is_err(), "zero amount");
        assert!(dynamic_code(&m, 1, "").is_err(), "empty bill");
        assert!(dynamic_code(&m, 1, &"x".repeat(26)).is_err(), "long bill");
        m.id = "has space".into();
        assert!(static_code(&m).is_err());
        m.id = "x".repeat(MAX_MERCHANT_ID_LEN + 1);
        assert!(static_code(&m).is_err());
    }

    #[test]
    fn codes_of_other_networks_have_no_paytap_id() {
        let mut mpm = Mpm::parse(&static_code(&shop()).unwrap()).unwrap();
        mpm.merchant_accounts[0].guid = Some("com.other".into());
        assert_eq!(paytap_merchant_id(&mpm), None);
    }
}
