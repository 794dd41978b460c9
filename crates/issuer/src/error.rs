//! Errors of the issuer processor's management API. Authorization outcomes
//! are not errors: they are ISO 8583 answers with a response code.

/// A management call failed.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("unknown bank {0:?}")]
    UnknownBank(String),
    #[error("unknown card")]
    UnknownCard,
    #[error("unknown verification")]
    UnknownVerification,
    #[error("no keys configured for bank {0:?}")]
    NoKeys(String),
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    #[error("could not find a free card number in the bank's range")]
    Exhausted,
    #[error("issuer configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("vault: {0}")]
    Vault(#[from] paytap_vault::VaultError),
    #[error("ledger: {0}")]
    Ledger(#[from] paytap_ledger::LedgerError),
    #[error("issuer store: {0}")]
    Store(#[from] paytap_store::StoreError),
    #[error("issuer write failed: {0}")]
    Write(String),
    #[error("stored issuer data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for IssuerError {
    fn from(e: sqlx::Error) -> Self {
        IssuerError::Store(paytap_store::StoreError::Sql(e))
    }
}
