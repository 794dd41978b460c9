//! A merchant's details, their limits (what an EMVCo merchant-presented
//! code and ISO 8583 DE 42/43 can carry), and the codes it shows.

use paytap_qr::QrError;
use paytap_types::Currency;
use serde::{Deserialize, Serialize};

/// Longest merchant id: ISO 8583 DE 42 (card acceptor identification code)
/// is 15 characters, and the QR template carries the same id.
pub const MAX_MERCHANT_ID_LEN: usize = 15;
/// Longest merchant name (EMVCo MPM ID "59").
pub const MAX_NAME_LEN: usize = 25;
/// Longest city (EMVCo MPM ID "60").
pub const MAX_CITY_LEN: usize = 15;

/// What the caller asks for: the merchant as the acquirer signs it up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantSpec {
    /// Caller-chosen id: 1 to [`MAX_MERCHANT_ID_LEN`] ASCII letters, digits
    /// or `-`. Creating the same id again answers the stored merchant.
    pub id: String,
    /// Trading name, 1 to [`MAX_NAME_LEN`] characters.
    pub name: String,
    /// City, 1 to [`MAX_CITY_LEN`] characters.
    pub city: String,
    /// ISO 18245 merchant category code, four digits.
    pub mcc: String,
    /// The currency the merchant is paid in.
    pub currency: Currency,
    /// ISO 3166-1 alpha-2 country, two capital letters.
    pub country: String,
}

/// Why a [`MerchantSpec`] is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The id is empty, too long or has other characters.
    #[error("id must be 1-15 ASCII letters, digits or '-'")]
    Id,
    /// The name is empty, too long or has control characters.
    #[error("name must be 1-25 characters without control characters")]
    Name,
    /// The city is empty, too long or has control characters.
    #[error("city must be 1-15 characters without control characters")]
    City,
    /// The MCC is not four digits.
    #[error("mcc must be four digits (ISO 18245)")]
    Mcc,
    /// The country is not two capital letters.
    #[error("country must be two capital letters (ISO 3166-1 alpha-2)")]
    Country,
}

fn text_ok(s: &str, max: usize) -> bool {
    let n = s.chars().count();
    n > 0 && n <= max && !s.chars().any(char::is_control) && s.trim() == s
}

impl MerchantSpec {
    /// Checks every field against its limit.
    pub fn validate(&self) -> Result<(), SpecError> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= MAX_MERCHANT_ID_LEN
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !id_ok {
            return Err(SpecError::Id);
        }
        if !text_ok(&self.name, MAX_NAME_LEN) {
            return Err(SpecError::Name);
        }
        if !text_ok(&self.city, MAX_CITY_LEN) {
            return Err(SpecError::City);
        }
        if self.mcc.len() != 4 || !self.mcc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SpecError::Mcc);
        }
        if self.country.len() != 2 || !self.country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(SpecError::Country);
        }
        Ok(())
    }
}

/// A stored merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Merchant {
    /// Its details, as created.
    #[serde(flatten)]
    pub spec: MerchantSpec,
    /// The acquirer that signed it up (its ISO 8583 DE 32 id).
    pub acquirer: String,
    /// Its settlement account on the ledger.
    pub account: String,
    /// When it was created (Unix milliseconds).
    pub created_at: i64,
}

impl Merchant {
    /// The merchant as a QR code names it.
    pub fn qr(&self) -> paytap_qr::merchant::Merchant {
        paytap_qr::merchant::Merchant {
            id: self.spec.id.clone(),
            name: self.spec.name.clone(),
            city: self.spec.city.clone(),
            mcc: self.spec.mcc.clone(),
            currency: self.spec.currency.numeric(),
            country: self.spec.country.clone(),
        }
    }

    /// The static code (no amount: the buyer types it).
    pub fn static_code(&self) -> Result<String, QrError> {
        paytap_qr::merchant::static_code(&self.qr())
    }

    /// A dynamic code for one sale of `amount_minor` (in the merchant's
    /// currency) with the bill reference `bill`.
    pub fn dynamic_code(&self, amount_minor: u64, bill: &str) -> Result<String, QrError> {
        paytap_qr::merchant::dynamic_code(&self.qr(), amount_minor, bill)
    }
}
