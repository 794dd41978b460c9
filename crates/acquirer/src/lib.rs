//! # paytap-acquirer
//!
//! The acquirer's side of QR payments: its **merchants**. A merchant record
//! (id, name, city, ISO 18245 MCC, currency, country) is created once under
//! an id the caller chooses, so a retried creation answers the stored
//! record; the same id with other details is a conflict. Each merchant has
//! a settlement account on the ledger (`merchant:<id>:settlement`,
//! [`settlement_account`]), created before its row, where the QR payments
//! it accepts are credited.
//!
//! [`Merchant::static_code`] and [`Merchant::dynamic_code`] make the EMVCo
//! merchant-presented codes the merchant shows (through `paytap-qr`).
//!
//! [`payments`]: scan to pay, the `0200` of a phone that scanned a code,
//! and the merchant's credit on the ledger.
//!
//! [`presented`]: show to pay, the `0200` of a register that scanned the
//! code a phone shows.
//!
//! [`batches`]: a register's batch of operations whose outcome it does not
//! know, uploaded under an idempotent batch id.
//!
//! [`bands`]: the band's offline account, its credential, and the
//! settlement of the band codes registers took offline.
//!
//! Tables: `acquirer_merchants`, `acquirer_qr_payments`,
//! `acquirer_presented_codes`, `acquirer_register_batches`, and the band
//! tables of [`bands`] ([`MIGRATIONS`]), SQLite and PostgreSQL.
#![deny(missing_docs)]

pub mod bands;
pub mod batches;
mod model;
pub mod payments;
pub mod presented;
pub mod reversal;

pub use model::{
    MAX_CITY_LEN, MAX_MERCHANT_ID_LEN, MAX_NAME_LEN, Merchant, MerchantSpec, SpecError,
};

use paytap_ledger::{AccountFlags, AccountSpec, Ledger, LedgerError};
use paytap_store::{Db, Migration, StoreError};
use sqlx::Row;
use std::sync::Arc;

/// The schema this crate owns.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        component: "acquirer",
        version: 1,
        sql: "CREATE TABLE acquirer_merchants (\
            id TEXT PRIMARY KEY, acquirer TEXT NOT NULL, name TEXT NOT NULL, city TEXT NOT NULL, \
            mcc TEXT NOT NULL, currency TEXT NOT NULL, country TEXT NOT NULL, \
            account TEXT NOT NULL, created_at BIGINT NOT NULL)",
    },
    Migration {
        component: "acquirer",
        version: 2,
        sql: "CREATE TABLE acquirer_qr_payments (\
            idempotency_key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, merchant TEXT NOT NULL, \
            amount BIGINT NOT NULL, currency TEXT NOT NULL, terminal TEXT NOT NULL, \
            stan BIGINT NOT NULL, sent_at BIGINT NOT NULL, response_code TEXT, \
            created_at BIGINT NOT NULL)",
    },
    Migration {
        component: "acquirer",
        version: 3,
        sql: "CREATE TABLE acquirer_presented_codes (\
            code_digest TEXT PRIMARY KEY, idempotency_key TEXT NOT NULL, \
            created_at BIGINT NOT NULL)",
    },
    Migration {
        component: "acquirer",
        version: 4,
        sql: "CREATE TABLE acquirer_register_batches (\
            batch_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, operations BIGINT NOT NULL, \
            created_at BIGINT NOT NULL)",
    },
    Migration {
        component: "acquirer",
        version: 5,
        sql: "CREATE TABLE acquirer_bands (\
            band_id TEXT PRIMARY KEY, owner TEXT NOT NULL, currency TEXT NOT NULL, \
            limit_minor BIGINT NOT NULL, band_key TEXT NOT NULL, serial BIGINT NOT NULL, \
            status TEXT NOT NULL, status_reason TEXT, revoked_at BIGINT, \
            funded BIGINT NOT NULL, paid BIGINT NOT NULL, created_at BIGINT NOT NULL, \
            CHECK (paid <= funded));\
          CREATE INDEX acquirer_bands_owner ON acquirer_bands (owner);\
          CREATE TABLE acquirer_band_serials (\
            band_id TEXT NOT NULL, serial BIGINT NOT NULL, limit_minor BIGINT NOT NULL, \
            spent BIGINT NOT NULL, PRIMARY KEY (band_id, serial));\
          CREATE TABLE acquirer_band_operations (\
            band_id TEXT NOT NULL, counter BIGINT NOT NULL, register TEXT NOT NULL, \
            merchant TEXT NOT NULL, amount BIGINT NOT NULL, serial BIGINT NOT NULL, \
            code_time BIGINT NOT NULL, batch_id TEXT NOT NULL, source TEXT, reason TEXT, \
            double_spend BIGINT NOT NULL, transfer TEXT, transfer_done BIGINT NOT NULL, \
            created_at BIGINT NOT NULL, PRIMARY KEY (band_id, counter, register));\
          CREATE TABLE acquirer_band_reserve (\
            currency TEXT PRIMARY KEY, funded BIGINT NOT NULL, paid BIGINT NOT NULL, \
            CHECK (paid <= funded));\
          CREATE TABLE acquirer_band_spends (\
            band_id TEXT NOT NULL, counter BIGINT NOT NULL, amount BIGINT NOT NULL, \
            PRIMARY KEY (band_id, counter))",
    },
    Migration {
        component: "acquirer",
        version: 6,
        // The bill reference of the dynamic code a payment paid (EMVCo
        // tag 62-01), so a payment can be matched to what it was for.
        sql: "ALTER TABLE acquirer_qr_payments ADD COLUMN bill_reference TEXT",
    },
];

/// The ledger account a merchant's QR payments are credited to.
pub fn settlement_account(merchant_id: &str) -> String {
    format!("merchant:{merchant_id}:settlement")
}

/// Why a merchant could not be created or found.
#[derive(Debug, thiserror::Error)]
pub enum AcquirerError {
    /// The request's details are not a valid merchant.
    #[error("invalid merchant: {0}")]
    Invalid(#[from] SpecError),
    /// The id is taken by a merchant with other details.
    #[error("merchant {0:?} already exists with other details")]
    Conflict(String),
    /// No merchant has this id.
    #[error("no merchant {0:?}")]
    NotFound(String),
    /// The ledger refused or failed to open the settlement account.
    #[error("settlement account: {0}")]
    Ledger(#[from] LedgerError),
    /// The database failed; nothing was committed.
    #[error("acquirer store: {0}")]
    Store(Arc<StoreError>),
    /// A stored row this code did not write.
    #[error("acquirer data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<StoreError> for AcquirerError {
    fn from(e: StoreError) -> Self {
        AcquirerError::Store(Arc::new(e))
    }
}

impl From<sqlx::Error> for AcquirerError {
    fn from(e: sqlx::Error) -> Self {
        AcquirerError::Store(Arc::new(StoreError::Sql(e)))
    }
}

/// The merchant service: owns `acquirer_merchants`, opens settlement
/// accounts on the ledger.
#[derive(Clone)]
pub struct Merchants {
    db: Db,
    ledger: Ledger,
}

const SELECT: &str = "SELECT id, acquirer, name, city, mcc, currency, country, account, created_at \
                      FROM acquirer_merchants WHERE id = $1";

impl Merchants {
    /// Migrates the schema and returns the service.
    pub async fn open(db: Db, ledger: Ledger) -> Result<Merchants, AcquirerError> {
        db.migrate(MIGRATIONS).await?;
        Ok(Merchants { db, ledger })
    }

    /// Creates the merchant `spec` describes, or answers the stored one
    /// when the same id was created with the same details (a retry). The
    /// settlement account is opened first, so a stored merchant always has
    /// one; both steps are idempotent, so a retry after a failure between
    /// them completes the creation.
    ///
    /// Merchant ids are unique across acquirers (a code names its merchant
    /// by id alone): an id another acquirer holds is a conflict too.
    pub async fn create(
        &self,
        acquirer: &str,
        spec: MerchantSpec,
    ) -> Result<(Merchant, bool), AcquirerError> {
        spec.validate()?;
        let account = settlement_account(&spec.id);
        let name = format!("merchant {} settlement", spec.id);
        self.ledger
            .create_account(AccountSpec::new(
                &account,
                name,
                spec.currency,
                AccountFlags::None,
            ))
            .await?;
        let mut tx = self.db.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO acquirer_merchants (id, acquirer, name, city, mcc, currency, country, \
             account, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(spec.id.as_str())
        .bind(acquirer)
        .bind(spec.name.as_str())
        .bind(spec.city.as_str())
        .bind(spec.mcc.as_str())
        .bind(spec.currency.code())
        .bind(spec.country.as_str())
        .bind(account.as_str())
        .bind(paytap_store::now_millis())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(SELECT)
            .bind(spec.id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let stored = from_row(&row)?;
        if stored.spec != spec || stored.acquirer != acquirer {
            tracing::info!(merchant = %spec.id, "merchant id reused with other details: refused");
            return Err(AcquirerError::Conflict(spec.id));
        }
        if inserted {
            tracing::info!(merchant = %spec.id, mcc = %spec.mcc, "merchant created");
        }
        Ok((stored, inserted))
    }

    /// The database the merchants (and their scanned-code payments) live in.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The ledger the settlement accounts are on.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The merchant with id `id`, whichever acquirer holds it (a scanned
    /// code names the merchant alone).
    pub async fn get(&self, id: &str) -> Result<Merchant, AcquirerError> {
        let row = sqlx::query(SELECT)
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| AcquirerError::NotFound(id.to_owned()))?;
        from_row(&row)
    }
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<Merchant, AcquirerError> {
    let currency: String = row.try_get("currency")?;
    let currency = paytap_types::Currency::from_code(&currency)
        .map_err(|_| AcquirerError::Corrupt(format!("unknown currency {currency:?}")))?;
    Ok(Merchant {
        spec: MerchantSpec {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            city: row.try_get("city")?,
            mcc: row.try_get("mcc")?,
            currency,
            country: row.try_get("country")?,
        },
        acquirer: row.try_get("acquirer")?,
        account: row.try_get("account")?,
        created_at: row.try_get("created_at")?,
    })
}

#[cfg(test)]
mod tests;
