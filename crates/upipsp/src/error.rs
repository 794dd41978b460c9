//! What the PSP answers instead of a payment.

use paytap_store::StoreError;

/// A request the PSP did not carry out. A payment the switch or a bank
/// refused is not an error: it is a [`crate::Payment`] with its code.
#[derive(Debug, thiserror::Error)]
pub enum PspError {
    /// Bad input: which field, and why.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        message: &'static str,
    },
    /// Refused with a UPI error code (`ZH` unknown address, `U69` an expired
    /// collect request, ...).
    #[error("{message} ({code})")]
    Refused {
        /// The UPI error code.
        code: &'static str,
        /// In words.
        message: &'static str,
    },
    /// The transaction id is already another request's (`DT`).
    #[error("transaction id already used for another request")]
    DuplicateTxnId,
    /// No such binding, UPI ID, payment or collect request of this user.
    #[error("not found")]
    NotFound,
    /// The UPI ID is already someone's.
    #[error("that UPI ID is taken")]
    Taken,
    /// The bank or the switch could not be reached or failed.
    #[error("UPI unavailable: {0}")]
    Unavailable(String),
    /// The PSP's database failed.
    #[error("PSP store: {0}")]
    Store(#[from] StoreError),
    /// Stored data this code did not write.
    #[error("stored PSP data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for PspError {
    fn from(e: sqlx::Error) -> Self {
        PspError::Store(StoreError::Sql(e))
    }
}

impl From<crate::links::LinkError> for PspError {
    fn from(e: crate::links::LinkError) -> Self {
        PspError::Unavailable(e.0)
    }
}

impl PspError {
    pub(crate) fn invalid(field: &'static str, message: &'static str) -> PspError {
        PspError::Invalid { field, message }
    }
}
