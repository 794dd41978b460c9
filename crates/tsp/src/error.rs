//! Errors of the token service's management API, and the typed refusals of
//! detokenize-and-verify (each with its ISO 8583:1987 response code).

use crate::lifecycle::TokenState;
use paytap_iso8583::{CheckResult, ResponseCode, VerificationResults};

/// A management call (provisioning, lifecycle, queries) failed.
#[derive(Debug, thiserror::Error)]
pub enum TspError {
    #[error("unknown token reference")]
    UnknownToken,
    #[error("no token range is configured for issuer {0:?}")]
    NoRange(String),
    #[error("no token issuer master key is configured for issuer {0:?}")]
    NoKey(String),
    #[error("token range: {0}")]
    Range(#[from] crate::number::RangeError),
    #[error("the card already has a token on this device ({0})")]
    AlreadyProvisioned(String),
    #[error("lifecycle does not allow {from} -> {to}")]
    IllegalTransition { from: TokenState, to: TokenState },
    #[error("token requestor id must be 11 digits")]
    BadRequestorId,
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    #[error("could not find a free token number")]
    Exhausted,
    #[error("card not found in the vault")]
    CardNotFound,
    #[error("vault: {0}")]
    Vault(#[from] paytap_vault::VaultError),
    #[error("sealing the provisioning payload: {0}")]
    Seal(#[from] paytap_seal::SealError),
    #[error("key derivation: {0}")]
    Crypto(#[from] paytap_emv::crypto::CryptoError),
    #[error("token service store: {0}")]
    Store(#[from] paytap_store::StoreError),
    #[error("stored token data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for TspError {
    fn from(e: sqlx::Error) -> Self {
        TspError::Store(paytap_store::StoreError::Sql(e))
    }
}

/// Why detokenize-and-verify refused an authorization. The mapping to DE 39
/// is [`Refusal::response_code`] (documented in the crate root).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("DE 2 is not a token this service issued")]
    UnknownToken,
    #[error("token is not yet active")]
    Inactive,
    #[error("token is suspended")]
    Suspended,
    #[error("token is deleted")]
    Deleted,
    #[error("POS entry mode not allowed for this token's domain")]
    DomainRestricted,
    #[error("token expired")]
    Expired,
    #[error("ATC already used (replayed cryptogram)")]
    AtcReplayed,
    #[error("ATC outside the accepted window")]
    AtcOutOfWindow,
    #[error("application cryptogram does not verify")]
    CryptogramInvalid,
    #[error("request lacks or garbles a required element (DE 2, DE 22, DE 55)")]
    Format,
    #[error("token service failure")]
    System,
}

impl Refusal {
    /// The ISO 8583:1987 DE 39 value for this refusal.
    pub const fn response_code(self) -> ResponseCode {
        match self {
            Refusal::UnknownToken => ResponseCode::InvalidCardNumber,
            Refusal::Inactive => ResponseCode::ReferToIssuer,
            Refusal::Suspended => ResponseCode::NotPermittedToCardholder,
            Refusal::Deleted => ResponseCode::RestrictedCard,
            Refusal::DomainRestricted => ResponseCode::NotPermittedToTerminal,
            Refusal::Expired => ResponseCode::ExpiredCard,
            Refusal::AtcReplayed | Refusal::AtcOutOfWindow => ResponseCode::DoNotHonour,
            Refusal::CryptogramInvalid => ResponseCode::SecurityViolation,
            Refusal::Format => ResponseCode::FormatError,
            Refusal::System => ResponseCode::SystemMalfunction,
        }
    }

    /// A sentence for receipts and the wallet's history.
    pub const fn reason(self) -> &'static str {
        match self {
            Refusal::UnknownToken => "unknown card number",
            Refusal::Inactive => "card not yet activated in the wallet",
            Refusal::Suspended => "card suspended in the wallet",
            Refusal::Deleted => "card removed from the wallet",
            Refusal::DomainRestricted => "card not accepted with this entry method",
            Refusal::Expired => "card expired",
            Refusal::AtcReplayed => "payment data was already used",
            Refusal::AtcOutOfWindow => "payment counter out of range",
            Refusal::CryptogramInvalid => "payment data could not be verified",
            Refusal::Format => "malformed payment request",
            Refusal::System => "token service unavailable",
        }
    }
}

/// DE 63 for a refusal: which check failed, when one did.
pub fn refusal_verification(refusal: Refusal) -> Option<VerificationResults> {
    let failed = Some(CheckResult::Failed);
    match refusal {
        Refusal::CryptogramInvalid => Some(VerificationResults {
            cryptogram: failed,
            ..Default::default()
        }),
        Refusal::AtcReplayed | Refusal::AtcOutOfWindow => Some(VerificationResults {
            cryptogram: Some(CheckResult::Passed),
            atc: failed,
            ..Default::default()
        }),
        _ => None,
    }
}
