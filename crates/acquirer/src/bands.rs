//! The band's offline account: a payment account for one band with its own
//! limit, funds held on the ledger, and the offline credential the band
//! pays with (see [`paytap_qr::offline`]).
//!
//! * [`BandAccounts::open`]: one account per band id, for its owner, with a
//!   limit of at most [`MAX_LIMIT_MINOR`] (2,000 CNY; [`DEFAULT_LIMIT_MINOR`]
//!   is 500), the band's public key (made in its secure element) and a
//!   ledger account `band:<id>:account` that cannot go below zero.
//! * [`BandAccounts::fund`]: moves money onto it from a funding account (an
//!   approved card payment's settlement, or a balance), idempotent by key.
//! * [`BandAccounts::sync`]: the band, through the phone, reports the codes
//!   it made since its last sync and gets a new certificate with a higher
//!   serial: its limit is the smaller of the account's limit and what the
//!   held funds still cover once every reported, not yet uploaded code is
//!   counted. This restores the band's offline allowance.
//! * [`BandAccounts::revoke`] turns the band off (its owner, from the web
//!   site) and [`BandAccounts::revocations`] is the list registers download.
//! * [`upload`]: a register's batch of offline operations, verified and
//!   settled from the band account to each merchant ([`decide`] says who
//!   pays for a double spend).
//!
//! Tables: `acquirer_bands`, `acquirer_band_serials`,
//! `acquirer_band_operations`, `acquirer_band_reserve`,
//! `acquirer_band_spends` (migrations in [`crate::MIGRATIONS`]).

pub mod decide;
pub mod upload;

use std::sync::Arc;

use paytap_ledger::{AccountFlags, AccountSpec, Ledger, LedgerError, Receipt, Transfer};
use paytap_qr::offline::{
    BAND_ID_LEN, BandId, Certificate, KEY_ID_LEN, MAX_CLOCK_SKEW_SECS, PUBLIC_KEY_LEN, Platform,
    SIGNATURE_LEN,
};
use paytap_store::Db;
use paytap_types::{Currency, Money};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::{AcquirerError, Merchants};

/// Highest limit a band account may have: 2,000 CNY, in fen.
pub const MAX_LIMIT_MINOR: i64 = 200_000;
/// The limit of a band account opened without one: 500 CNY, in fen.
pub const DEFAULT_LIMIT_MINOR: i64 = 50_000;
/// The one currency band accounts hold (the limits above are in it).
pub const BAND_CURRENCY: Currency = Currency::CNY;
/// How long a certificate is valid: a band syncs through the phone well
/// within a week, and an unsynced band stops paying after it.
pub const CERT_VALIDITY_SECS: i64 = 7 * 24 * 3600;
/// Most codes a band reports at one sync (its secure element's log).
pub const MAX_REPORTED_CODES: usize = paytap_qr::offline::MAX_UNSYNCED_CODES;
/// Longest owner (the wallet account's id).
pub const MAX_OWNER_LEN: usize = 64;
/// Longest funding idempotency key.
pub const MAX_FUND_KEY_LEN: usize = 64;

paytap_types::text_enum! {
    /// A band account's state.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum BandStatus {
        /// Pays offline.
        On = "on",
        /// Turned off or caught double spending: its credential is revoked.
        Revoked = "revoked",
    }
}

/// Why a band account request was refused.
#[derive(Debug, thiserror::Error)]
pub enum BandError {
    /// The request's fields are out of their limits.
    #[error("invalid band request: {0}")]
    Invalid(String),
    /// No band account has this id.
    #[error("no band account {0}")]
    NotFound(String),
    /// The band id is taken by an account with other details.
    #[error("band {0} already has an account with other details")]
    Conflict(String),
    /// The band is revoked: it gets no certificate.
    #[error("band {0} is revoked")]
    Revoked(String),
    /// The held funds cover no offline spending.
    #[error("band {0} has no funds left to spend offline")]
    NoFunds(String),
    /// A batch id uploaded again with other operations.
    #[error("batch {0:?} was uploaded before with other operations")]
    BatchAltered(String),
    /// The funding account refused the debit.
    #[error("funding refused: {0}")]
    Declined(String),
    /// The merchants, ledger or database failed; nothing was committed.
    #[error(transparent)]
    Acquirer(#[from] AcquirerError),
}

impl From<sqlx::Error> for BandError {
    fn from(e: sqlx::Error) -> Self {
        BandError::Acquirer(e.into())
    }
}

impl From<LedgerError> for BandError {
    fn from(e: LedgerError) -> Self {
        BandError::Acquirer(e.into())
    }
}

impl From<paytap_store::StoreError> for BandError {
    fn from(e: paytap_store::StoreError) -> Self {
        BandError::Acquirer(e.into())
    }
}

/// A band account as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BandView {
    /// The band id, hex.
    pub band_id: String,
    /// The owner's wallet account.
    pub owner: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Most the band may spend offline between syncs, minor units.
    pub limit_minor: i64,
    /// Funds held for the band and not yet paid out, minor units.
    pub balance_minor: i64,
    /// Codes the band reported at its syncs that no register has uploaded
    /// yet: their sum, minor units.
    pub not_uploaded_minor: i64,
    /// `on` or `revoked`.
    pub status: BandStatus,
    /// Why it was revoked (`turned_off`, `double_spend`).
    pub status_reason: Option<String>,
    /// The newest certificate's serial (0 before the first sync).
    pub serial: i64,
    /// The bill reference a funding payment's code must carry to fund this
    /// band ([`funding_reference`]).
    pub funding_reference: String,
}

/// Hex digits of the band id in its funding reference: 64 bits, so no one
/// can open a band whose reference matches another's, and `BAND-` and
/// them fit the 25 characters of an EMVCo bill reference.
const FUNDING_REFERENCE_HEX: usize = 16;

/// The bill reference of a payment that funds `band`: the dynamic code
/// the owner pays names the band, so a payment funds the band it was made
/// for and no other, whoever presents its key.
pub fn funding_reference(band: &BandId) -> String {
    let id = hex::encode(band);
    format!("BAND-{}", &id[..FUNDING_REFERENCE_HEX])
}

/// The ledger account a band's funds are held in.
pub fn band_account(band: &BandId) -> String {
    format!("band:{}:account", hex::encode(band))
}

/// The platform's risk reserve for band double spends, per currency.
pub fn reserve_account(currency: Currency) -> String {
    format!("platform:band-reserve:{}", currency.code())
}

/// Where the reserve's money comes from (the platform's own funds).
pub fn reserve_funding_account(currency: Currency) -> String {
    format!("platform:band-reserve-funding:{}", currency.code())
}

/// A band id from its hex text.
pub fn parse_band_id(text: &str) -> Result<BandId, BandError> {
    let bytes = hex::decode(text)
        .ok()
        .filter(|b| b.len() == BAND_ID_LEN)
        .ok_or_else(|| BandError::Invalid(format!("a band id is {BAND_ID_LEN} bytes in hex")))?;
    let mut id = [0u8; BAND_ID_LEN];
    id.copy_from_slice(&bytes);
    Ok(id)
}

/// The band account service: owns the band tables, holds the funds on the
/// ledger, signs certificates with the platform's key.
#[derive(Clone)]
pub struct BandAccounts {
    merchants: Merchants,
    platform: Arc<Platform>,
    verified: Arc<upload::VerifiedCertificates>,
}

/// One band account's row.
#[derive(Debug, Clone)]
pub(crate) struct BandRow {
    pub(crate) owner: String,
    pub(crate) limit: i64,
    pub(crate) band_key: String,
    pub(crate) serial: i64,
    pub(crate) status: BandStatus,
    pub(crate) status_reason: Option<String>,
    pub(crate) revoked_at: Option<i64>,
    pub(crate) funded: i64,
    pub(crate) paid: i64,
}

const SELECT_BAND: &str = "SELECT owner, limit_minor, band_key, serial, status, status_reason, \
                           revoked_at, funded, paid FROM acquirer_bands WHERE band_id = $1";

pub(crate) async fn load_band<'e, E>(ex: E, band: &BandId) -> Result<Option<BandRow>, BandError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let Some(row) = sqlx::query(SELECT_BAND)
        .bind(hex::encode(band))
        .fetch_optional(ex)
        .await?
    else {
        return Ok(None);
    };
    let status: String = row.try_get("status")?;
    Ok(Some(BandRow {
        owner: row.try_get("owner")?,
        limit: row.try_get("limit_minor")?,
        band_key: row.try_get("band_key")?,
        serial: row.try_get("serial")?,
        status: status
            .parse()
            .map_err(|e| AcquirerError::Corrupt(format!("band status: {e}")))?,
        status_reason: row.try_get("status_reason")?,
        revoked_at: row.try_get("revoked_at")?,
        funded: row.try_get("funded")?,
        paid: row.try_get("paid")?,
    }))
}

impl BandAccounts {
    /// The service over the merchants' database and ledger, signing with
    /// `platform` (the key registers trust). Opens the reserve's ledger
    /// accounts.
    pub async fn open(merchants: Merchants, platform: Arc<Platform>) -> Result<Self, BandError> {
        let ledger = merchants.ledger();
        for (id, flags) in [
            (
                reserve_account(BAND_CURRENCY),
                AccountFlags::DebitsMustNotExceedCredits,
            ),
            (reserve_funding_account(BAND_CURRENCY), AccountFlags::None),
        ] {
            ledger
                .create_account(AccountSpec::new(&id, id.clone(), BAND_CURRENCY, flags))
                .await?;
        }
        sqlx::query(
            "INSERT INTO acquirer_band_reserve (currency, funded, paid) VALUES ($1, 0, 0) \
             ON CONFLICT (currency) DO NOTHING",
        )
        .bind(BAND_CURRENCY.code())
        .execute(merchants.db().pool())
        .await?;
        Ok(BandAccounts {
            merchants,
            platform,
            verified: Arc::default(),
        })
    }

    pub(crate) fn db(&self) -> &Db {
        self.merchants.db()
    }

    pub(crate) fn ledger(&self) -> &Ledger {
        self.merchants.ledger()
    }

    pub(crate) fn merchants(&self) -> &Merchants {
        &self.merchants
    }

    pub(crate) fn verified_certificates(&self) -> &upload::VerifiedCertificates {
        &self.verified
    }

    /// The public key registers verify certificates with.
    pub fn platform_key(&self) -> ed25519_dalek::VerifyingKey {
        self.platform.public_key()
    }

    /// Opens the account of `band` for `owner` with `limit` (minor units of
    /// [`BAND_CURRENCY`], [`DEFAULT_LIMIT_MINOR`] when `None`) and the
    /// band's public key. Opening the same band again with the same details
    /// answers the stored account; other details are a conflict.
    pub async fn open_band(
        &self,
        owner: &str,
        band: &BandId,
        band_key: &[u8; PUBLIC_KEY_LEN],
        limit: Option<i64>,
    ) -> Result<BandView, BandError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT_MINOR);
        if !(1..=MAX_LIMIT_MINOR).contains(&limit) {
            return Err(BandError::Invalid(format!(
                "the limit is 1 to {MAX_LIMIT_MINOR} minor units (2,000 CNY)"
            )));
        }
        if owner.is_empty() || owner.len() > MAX_OWNER_LEN {
            return Err(BandError::Invalid(format!(
                "the owner is 1-{MAX_OWNER_LEN} bytes"
            )));
        }
        ed25519_dalek::VerifyingKey::from_bytes(band_key)
            .map_err(|_| BandError::Invalid("the band key is not an Ed25519 point".into()))?;
        let account = band_account(band);
        self.ledger()
            .create_account(AccountSpec::new(
                &account,
                format!("band {} offline account", hex::encode(band)),
                BAND_CURRENCY,
                AccountFlags::DebitsMustNotExceedCredits,
            ))
            .await?;
        sqlx::query(
            "INSERT INTO acquirer_bands (band_id, owner, currency, limit_minor, band_key, serial, \
             status, status_reason, revoked_at, funded, paid, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, 'on', NULL, NULL, 0, 0, $6) \
             ON CONFLICT (band_id) DO NOTHING",
        )
        .bind(hex::encode(band))
        .bind(owner)
        .bind(BAND_CURRENCY.code())
        .bind(limit)
        .bind(hex::encode(band_key))
        .bind(paytap_store::now_millis())
        .execute(self.db().pool())
        .await?;
        let row = self.band(band).await?;
        if row.owner != owner || row.limit != limit || row.band_key != hex::encode(band_key) {
            return Err(BandError::Conflict(hex::encode(band)));
        }
        tracing::info!(band = %hex::encode(band), limit, "band account open");
        self.view(band).await
    }

    pub(crate) async fn band(&self, band: &BandId) -> Result<BandRow, BandError> {
        load_band(self.db().pool(), band)
            .await?
            .ok_or_else(|| BandError::NotFound(hex::encode(band)))
    }

    /// Moves `amount` (minor units) from `source` onto the band account,
    /// once per `key` (across every band: a key another band used is a
    /// conflict): a retry moves nothing again.
    pub async fn fund(
        &self,
        band: &BandId,
        key: &str,
        source: &str,
        amount: i64,
    ) -> Result<BandView, BandError> {
        let key_ok = !key.is_empty()
            && key.len() <= MAX_FUND_KEY_LEN
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !key_ok || amount <= 0 {
            return Err(BandError::Invalid(format!(
                "a funding has a key of 1-{MAX_FUND_KEY_LEN} letters, digits, '-' or '_' and \
                 a positive amount"
            )));
        }
        self.band(band).await?;
        let account = band_account(band);
        // One namespace for every band: a key funds one band, once.
        let id = format!("band-fund:{key}");
        let moved = self
            .ledger()
            .transfer(Transfer::single(
                id,
                source,
                &account,
                Money::new(amount, BAND_CURRENCY),
            ))
            .await;
        declined(moved, band)?;
        self.record_funds(band).await?;
        self.view(band).await
    }

    /// Copies the band account's credits on the ledger (only fundings
    /// credit it) into its row, which decisions read.
    async fn record_funds(&self, band: &BandId) -> Result<(), BandError> {
        let credited = self
            .ledger()
            .balance(&band_account(band))
            .await?
            .credits_posted;
        sqlx::query(
            "UPDATE acquirer_bands SET funded = CASE WHEN funded < $1 THEN $1 ELSE funded END \
             WHERE band_id = $2",
        )
        .bind(credited)
        .bind(hex::encode(band))
        .execute(self.db().pool())
        .await?;
        Ok(())
    }

    /// Moves `amount` from the platform's funds into the risk reserve, once
    /// per `key`.
    pub async fn fund_reserve(&self, key: &str, amount: i64) -> Result<(), BandError> {
        if amount <= 0 || key.is_empty() || key.len() > MAX_FUND_KEY_LEN {
            return Err(BandError::Invalid(
                "a reserve funding needs a key and an amount".into(),
            ));
        }
        self.ledger()
            .transfer(Transfer::single(
                format!("band-reserve:fund:{key}"),
                reserve_funding_account(BAND_CURRENCY),
                reserve_account(BAND_CURRENCY),
                Money::new(amount, BAND_CURRENCY),
            ))
            .await?;
        let credited = self
            .ledger()
            .balance(&reserve_account(BAND_CURRENCY))
            .await?
            .credits_posted;
        sqlx::query(
            "UPDATE acquirer_band_reserve SET funded = CASE WHEN funded < $1 THEN $1 ELSE funded \
             END WHERE currency = $2",
        )
        .bind(credited)
        .bind(BAND_CURRENCY.code())
        .execute(self.db().pool())
        .await?;
        Ok(())
    }

    /// The band's sync through the phone (module documentation): stores the
    /// codes it reports (`(counter, amount)`), and signs its next
    /// certificate, valid from `now` for [`CERT_VALIDITY_SECS`].
    pub async fn sync(
        &self,
        band: &BandId,
        reported: &[(u64, u64)],
        now: i64,
    ) -> Result<Certificate, BandError> {
        if reported.len() > MAX_REPORTED_CODES {
            return Err(BandError::Invalid(format!(
                "a sync reports at most {MAX_REPORTED_CODES} codes"
            )));
        }
        let id = hex::encode(band);
        let mut tx = self.db().begin_write().await?;
        let row = load_band(&mut *tx, band)
            .await?
            .ok_or_else(|| BandError::NotFound(id.clone()))?;
        if row.status == BandStatus::Revoked {
            return Err(BandError::Revoked(id));
        }
        for &(counter, amount) in reported {
            let (Ok(counter), Ok(amount)) = (i64::try_from(counter), i64::try_from(amount)) else {
                return Err(BandError::Invalid("a reported code is out of range".into()));
            };
            sqlx::query(
                "INSERT INTO acquirer_band_spends (band_id, counter, amount) VALUES ($1, $2, $3) \
                 ON CONFLICT (band_id, counter) DO NOTHING",
            )
            .bind(&id)
            .bind(counter)
            .bind(amount)
            .execute(&mut *tx)
            .await?;
        }
        let outstanding = not_uploaded(&mut *tx, &id).await?;
        let available = row.funded - row.paid - outstanding;
        let limit = row.limit.min(available);
        if limit <= 0 {
            return Err(BandError::NoFunds(id));
        }
        let serial = row.serial + 1;
        sqlx::query("UPDATE acquirer_bands SET serial = $1 WHERE band_id = $2")
            .bind(serial)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO acquirer_band_serials (band_id, serial, limit_minor, spent) \
             VALUES ($1, $2, $3, 0)",
        )
        .bind(&id)
        .bind(serial)
        .bind(limit)
        .execute(&mut *tx)
        .await?;
        let cert = self.certificate(band, &row, serial, limit, now)?;
        tx.commit().await?;
        tracing::info!(band = %id, serial, limit, outstanding, "band synced: certificate issued");
        Ok(cert)
    }

    fn certificate(
        &self,
        band: &BandId,
        row: &BandRow,
        serial: i64,
        limit: i64,
        now: i64,
    ) -> Result<Certificate, BandError> {
        let corrupt = |what: &str| AcquirerError::Corrupt(format!("band {what}"));
        let key: [u8; PUBLIC_KEY_LEN] = hex::decode(&row.band_key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| corrupt("key"))?;
        let unsigned = Certificate {
            platform_key_id: [0; KEY_ID_LEN],
            band_id: *band,
            serial: u32::try_from(serial).map_err(|_| corrupt("serial"))?,
            limit: u64::try_from(limit).map_err(|_| corrupt("limit"))?,
            currency: BAND_CURRENCY.numeric(),
            not_before: now - MAX_CLOCK_SKEW_SECS,
            not_after: now + CERT_VALIDITY_SECS,
            band_key: key,
            signature: [0; SIGNATURE_LEN],
        };
        self.platform
            .issue(unsigned)
            .map_err(|e| BandError::Acquirer(AcquirerError::Corrupt(e.to_string())))
    }

    /// Turns the band off: its credential is revoked (registers refuse it
    /// once they have the list) and it gets no new certificate. Idempotent.
    pub async fn revoke(&self, band: &BandId, reason: &str, now: i64) -> Result<(), BandError> {
        self.band(band).await?;
        sqlx::query(
            "UPDATE acquirer_bands SET status = 'revoked', status_reason = $1, revoked_at = $2 \
             WHERE band_id = $3 AND status = 'on'",
        )
        .bind(reason)
        .bind(now)
        .bind(hex::encode(band))
        .execute(self.db().pool())
        .await?;
        tracing::info!(band = %hex::encode(band), reason, "band revoked");
        Ok(())
    }

    /// Every revoked band: the list registers download.
    pub async fn revocations(&self) -> Result<Vec<String>, BandError> {
        let rows = sqlx::query(
            "SELECT band_id FROM acquirer_bands WHERE status = 'revoked' ORDER BY band_id",
        )
        .fetch_all(self.db().pool())
        .await?;
        rows.iter()
            .map(|r| r.try_get("band_id").map_err(BandError::from))
            .collect()
    }

    /// The band accounts of an owner.
    pub async fn of_owner(&self, owner: &str) -> Result<Vec<BandView>, BandError> {
        let rows = sqlx::query("SELECT band_id FROM acquirer_bands WHERE owner = $1")
            .bind(owner)
            .fetch_all(self.db().pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let id: String = r.try_get("band_id")?;
            out.push(self.view(&parse_band_id(&id)?).await?);
        }
        Ok(out)
    }

    /// The band account as its owner sees it.
    pub async fn view(&self, band: &BandId) -> Result<BandView, BandError> {
        let row = self.band(band).await?;
        let id = hex::encode(band);
        let not_uploaded_minor = not_uploaded(self.db().pool(), &id).await?;
        Ok(BandView {
            band_id: id,
            owner: row.owner,
            currency: BAND_CURRENCY.code().into(),
            limit_minor: row.limit,
            balance_minor: row.funded - row.paid,
            not_uploaded_minor,
            status: row.status,
            status_reason: row.status_reason,
            serial: row.serial,
            funding_reference: funding_reference(band),
        })
    }
}

/// One settled (or refused) band operation, as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BandOperationView {
    /// The code's counter.
    pub counter: i64,
    /// The register that uploaded it.
    pub register: String,
    /// The merchant.
    pub merchant: String,
    /// Minor units of [`BAND_CURRENCY`].
    pub amount_minor: i64,
    /// When the band made the code (Unix seconds).
    pub code_time: i64,
    /// Paid to the merchant (from the account or the reserve).
    pub paid: bool,
    /// `account` or `reserve` when paid.
    pub source: Option<String>,
    /// Why it was refused or counted as a double spend.
    pub reason: Option<String>,
    /// A double spend.
    pub double_spend: bool,
}

/// A read of `acquirer_band_operations` with what [`operation_view`]
/// needs, and the rest of the statement.
macro_rules! select_operations {
    ($rest:literal) => {
        concat!(
            "SELECT counter, register, merchant, amount, code_time, source, reason, \
             double_spend FROM acquirer_band_operations ",
            $rest
        )
    };
}

/// Most operations [`BandAccounts::operations`] answers: a page of a
/// hundred and one more, which tells a history whether another page
/// follows.
pub const MAX_LISTED_OPERATIONS: i64 = 101;

/// Where a page of [`BandAccounts::operations_before`] starts: the
/// operations strictly before (`code_time`, `counter`, `register`) in the
/// band's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationsBefore {
    /// The code's time, Unix seconds.
    pub code_time: i64,
    /// The code's counter.
    pub counter: i64,
    /// The register that uploaded it.
    pub register: String,
}

impl OperationsBefore {
    /// From the newest operation on.
    pub fn newest() -> Self {
        OperationsBefore {
            code_time: i64::MAX,
            counter: i64::MAX,
            register: String::new(),
        }
    }
}

impl BandAccounts {
    /// The band's newest uploaded operations (at most `limit`, bounded by
    /// [`MAX_LISTED_OPERATIONS`]), newest code first.
    pub async fn operations(
        &self,
        band: &BandId,
        limit: i64,
    ) -> Result<Vec<BandOperationView>, BandError> {
        self.operations_before(band, &OperationsBefore::newest(), limit)
            .await
    }

    /// The band's uploaded operations before `before`, newest code first
    /// (code time, counter, register, descending), at most `limit`
    /// (bounded by [`MAX_LISTED_OPERATIONS`]).
    pub async fn operations_before(
        &self,
        band: &BandId,
        before: &OperationsBefore,
        limit: i64,
    ) -> Result<Vec<BandOperationView>, BandError> {
        let rows = sqlx::query(select_operations!(
            "WHERE band_id = $1 AND (code_time < $2 \
             OR (code_time = $2 AND (counter < $3 OR (counter = $3 AND register < $4)))) \
             ORDER BY code_time DESC, counter DESC, register DESC LIMIT $5"
        ))
        .bind(hex::encode(band))
        .bind(before.code_time)
        .bind(before.counter)
        .bind(&before.register)
        .bind(limit.clamp(1, MAX_LISTED_OPERATIONS))
        .fetch_all(self.db().pool())
        .await?;
        rows.iter()
            .map(operation_view)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(BandError::from)
    }

    /// The band's operations with these (counter, register) keys, as
    /// uploaded, in the order asked; a key never uploaded is left out.
    /// One primary-key read each: an upload's own operations, however old
    /// their codes.
    pub async fn operations_with(
        &self,
        band: &BandId,
        keys: &[(i64, String)],
    ) -> Result<Vec<BandOperationView>, BandError> {
        let band_hex = hex::encode(band);
        let mut out = Vec::with_capacity(keys.len());
        for (counter, register) in keys {
            let row = sqlx::query(select_operations!(
                "WHERE band_id = $1 AND counter = $2 AND register = $3"
            ))
            .bind(&band_hex)
            .bind(*counter)
            .bind(register)
            .fetch_optional(self.db().pool())
            .await?;
            if let Some(r) = row {
                out.push(operation_view(&r)?);
            }
        }
        Ok(out)
    }
}

fn operation_view(r: &sqlx::any::AnyRow) -> Result<BandOperationView, sqlx::Error> {
    let source: Option<String> = r.try_get("source")?;
    Ok(BandOperationView {
        counter: r.try_get("counter")?,
        register: r.try_get("register")?,
        merchant: r.try_get("merchant")?,
        amount_minor: r.try_get("amount")?,
        code_time: r.try_get("code_time")?,
        paid: source.is_some(),
        source,
        reason: r.try_get("reason")?,
        double_spend: r.try_get::<i64, _>("double_spend")? != 0,
    })
}

/// The sum of the codes a band reported that no register uploaded yet.
async fn not_uploaded<'e, E>(ex: E, band_hex: &str) -> Result<i64, BandError>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(s.amount), 0) AS BIGINT) AS total FROM acquirer_band_spends s \
         WHERE s.band_id = $1 AND NOT EXISTS (SELECT 1 FROM acquirer_band_operations o \
         WHERE o.band_id = s.band_id AND o.counter = s.counter)",
    )
    .bind(band_hex)
    .fetch_one(ex)
    .await?;
    Ok(row.try_get("total")?)
}

/// A funding the ledger refused (the source lacks funds, or is unknown) is
/// the payer's refusal, told by its code.
fn declined(moved: Result<Receipt, LedgerError>, band: &BandId) -> Result<(), BandError> {
    match moved {
        Ok(_) => Ok(()),
        Err(LedgerError::Rejected(r)) => {
            tracing::info!(band = %hex::encode(band), code = r.code(), "band funding refused");
            Err(BandError::Declined(r.code().into()))
        }
        Err(LedgerError::IdempotencyConflict(key)) => {
            tracing::info!(band = %hex::encode(band), key, "a funding key used for another band");
            Err(BandError::Conflict(key))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
