//! A register's batch of band operations taken offline, settled.
//!
//! [`BandAccounts::upload`]:
//!
//! 1. fingerprints the batch with the SHA-256 of the acquirer and its
//!    operations;
//! 2. checks each operation alone: the code parses, its certificate is the
//!    platform's, its signature the band's, the amount is within the code's,
//!    the code's time within the certificate's validity, the merchant the
//!    signing acquirer's and in the band's currency. An operation that fails
//!    is refused with its reason and stored nowhere (uploading it again
//!    gives the same answer). The signatures of the whole batch are checked
//!    together ([`paytap_qr::offline::verify_codes`]: one Ed25519 batch
//!    verification, and each signature alone only when that fails, so a
//!    forged code is refused and its neighbours are not), and a certificate
//!    verified by an earlier batch is not verified again
//!    ([`MAX_VERIFIED_CERTIFICATES`] remembered);
//! 3. in one write transaction, which first claims the batch id with its
//!    fingerprint (the same id with other operations is refused and
//!    nothing settled; claiming in the same commit as the decisions saves
//!    an upload one durable commit), in the order of band, counter and
//!    register, decides each new operation ([`super::decide`]) and stores it under
//!    (band, counter, register) with who pays, the band's, the certificate
//!    serial's and the reserve's running totals beside it; a double spend
//!    revokes the band. An operation stored before answers its stored
//!    decision: nothing is decided or paid twice. The operations stored
//!    under the batch's codes are read in one statement and the new ones
//!    written in one ([`paytap_store::bulk`]);
//! 4. moves each paid operation's money on the ledger, from the band
//!    account or the reserve to the merchant's settlement account (transfer
//!    `band-op:<band>:<counter>:<merchant>/<register>`, idempotent), all at
//!    once through the ledger's group commit, then marks them moved (one
//!    statement). A crash before that mark is healed by the register's
//!    retry of the batch, which moves what is not marked.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use paytap_ledger::{LedgerError, Transfer};
use paytap_qr::offline::{BandId, CERT_LEN, Certificate, OfflineCode, OfflineError, verify_codes};
use paytap_store::Backend;
use paytap_store::batch::Arg;
use paytap_store::bulk::{Bulk, encode_rows};
use paytap_types::Money;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::decide::{Decision, Facts, Reason, Source, decide};
use super::{
    BAND_CURRENCY, BandAccounts, BandError, BandRow, BandStatus, band_account, load_band,
    reserve_account,
};
use crate::batches::{batch_fingerprint, check_batch_id, claim_in};
use crate::payments::PaymentError;
use crate::{AcquirerError, Merchant};

/// Most operations in one band batch (a register uploads more in several).
pub const MAX_BAND_BATCH_OPERATIONS: usize = 500;
/// Longest register id (its terminal id at the merchant).
pub const MAX_REGISTER_ID_LEN: usize = 32;
/// Longest code text a register may send (a band code is shorter).
pub const MAX_CODE_TEXT_LEN: usize = 512;

/// Most certificates remembered as verified between batches, by their
/// bytes' SHA-256 (32 bytes each, a few megabytes in all). A band's
/// certificate lasts until its next sync and comes back in the uploads of
/// every register it paid at; when the set is full it is emptied and fills
/// again, so a certificate is at worst verified once more.
pub const MAX_VERIFIED_CERTIFICATES: usize = 100_000;

/// Certificates whose platform signature and content were verified, shared
/// by the clones of one [`BandAccounts`].
#[derive(Default)]
pub(crate) struct VerifiedCertificates(Mutex<HashSet<[u8; 32]>>);

impl VerifiedCertificates {
    fn contains(&self, cert: &Certificate) -> bool {
        let hash = cert_hash(&cert.encode());
        self.set().contains(&hash)
    }

    fn remember<'a>(&self, certs: impl Iterator<Item = &'a [u8; CERT_LEN]>) {
        let hashes: Vec<[u8; 32]> = certs.map(cert_hash).collect();
        let mut set = self.set();
        for hash in hashes {
            if set.len() >= MAX_VERIFIED_CERTIFICATES {
                set.clear();
            }
            set.insert(hash);
        }
        assert!(set.len() <= MAX_VERIFIED_CERTIFICATES);
    }

    fn set(&self) -> MutexGuard<'_, HashSet<[u8; 32]>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn cert_hash(bytes: &[u8; CERT_LEN]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// One band code a register took offline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BandOperation {
    /// The register's id at its merchant.
    pub register: String,
    /// The merchant whose register it is.
    pub merchant: String,
    /// The code's text as scanned.
    pub code: String,
    /// The amount taken, in minor units (at most the code's).
    pub amount_minor: u64,
    /// When the register took it (its clock, Unix seconds).
    pub taken_at: i64,
}

/// What a register uploads.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BandBatch {
    /// The operations, each once.
    pub operations: Vec<BandOperation>,
}

/// What became of one operation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BandResult {
    /// The band, when the code could be read.
    pub band_id: Option<String>,
    /// The code's counter, when it could be read.
    pub counter: Option<u64>,
    /// The merchant and register.
    pub merchant: String,
    /// The register's id.
    pub register: String,
    /// The merchant was paid.
    pub paid: bool,
    /// Who paid.
    pub source: Option<Source>,
    /// Why it was refused, or why it was a double spend.
    pub reason: Option<String>,
    /// The code was spent twice (the band is revoked).
    pub double_spend: bool,
    /// The ledger transfer to the merchant.
    pub transfer: Option<String>,
}

impl From<PaymentError> for BandError {
    fn from(e: PaymentError) -> Self {
        match e {
            PaymentError::BatchAltered(id) => BandError::BatchAltered(id),
            PaymentError::Acquirer(e) => BandError::Acquirer(e),
            other => BandError::Invalid(other.to_string()),
        }
    }
}

/// The batch id an upload claims, with its acquirer and the SHA-256 of
/// both and its operations.
struct Claim<'a> {
    batch_id: &'a str,
    acquirer: &'a str,
    fingerprint: String,
}

/// An operation that passed every check of its own.
struct Checked {
    index: usize,
    band: BandId,
    counter: u64,
    serial: i64,
    limit: i64,
    amount: i64,
    code_time: i64,
    merchant: Merchant,
    register: String,
}

impl Checked {
    fn key(&self) -> String {
        format!("{}/{}", self.merchant.spec.id, self.register)
    }

    fn transfer_id(&self) -> String {
        format!(
            "band-op:{}:{}:{}",
            hex::encode(self.band),
            self.counter,
            self.key()
        )
    }
}

/// The running state of one band during a batch.
struct BandState {
    row: BandRow,
    touched: bool,
}

/// The running totals a batch's transaction keeps.
#[derive(Default)]
struct Totals {
    bands: HashMap<BandId, Option<BandState>>,
    serials: HashMap<(BandId, i64), Option<(i64, bool)>>,
    reserve_funded: i64,
    reserve_paid: i64,
}

/// A paid operation whose ledger transfer is to be made.
struct Move {
    band: BandId,
    counter: u64,
    key: String,
    transfer: String,
    debit: String,
    credit: String,
    amount: i64,
}

fn refused(op: &BandOperation, code: Option<(BandId, u64)>, reason: &str) -> BandResult {
    BandResult {
        band_id: code.map(|(band, _)| hex::encode(band)),
        counter: code.map(|(_, counter)| counter),
        merchant: op.merchant.clone(),
        register: op.register.clone(),
        paid: false,
        source: None,
        reason: Some(reason.to_owned()),
        double_spend: false,
        transfer: None,
    }
}

impl BandAccounts {
    /// Settles a register's batch (module documentation), uploaded by the
    /// register of `acquirer` at `now` (Unix seconds).
    pub async fn upload(
        &self,
        batch_id: &str,
        batch: &BandBatch,
        acquirer: &str,
        now: i64,
    ) -> Result<Vec<BandResult>, BandError> {
        check_batch_id(batch_id)?;
        if batch.operations.is_empty() || batch.operations.len() > MAX_BAND_BATCH_OPERATIONS {
            return Err(BandError::Invalid(format!(
                "a band batch holds 1-{MAX_BAND_BATCH_OPERATIONS} operations"
            )));
        }
        let body = serde_json::to_vec(batch).expect("a BandBatch always serializes");
        let claim = Claim {
            batch_id,
            acquirer,
            fingerprint: batch_fingerprint(acquirer, &[b"band\0".as_slice(), &body].concat()),
        };
        let mut results: Vec<Option<BandResult>> = vec![None; batch.operations.len()];
        let mut checked = self.check_all(batch, acquirer, &mut results).await?;
        checked.sort_by_key(|a| (a.band, a.counter, a.key()));
        let moves = self
            .decide_all(&claim, batch, &checked, now, &mut results)
            .await?;
        self.make_moves(&moves).await?;
        let paid = results.iter().flatten().filter(|r| r.paid).count();
        tracing::info!(
            batch_id,
            acquirer,
            operations = batch.operations.len(),
            paid,
            "band batch settled"
        );
        Ok(results
            .into_iter()
            .map(|r| r.expect("every operation of a batch gets a result"))
            .collect())
    }

    /// Step 2: the checks each operation passes alone; the signatures of
    /// every code of the batch (and of their certificates not verified
    /// before) are checked together.
    async fn check_all(
        &self,
        batch: &BandBatch,
        acquirer: &str,
        results: &mut [Option<BandResult>],
    ) -> Result<Vec<Checked>, BandError> {
        let merchants = self.merchants_of(batch, acquirer).await?;
        let parsed: Vec<Result<OfflineCode, Refusal>> =
            batch.operations.iter().map(parse_one).collect();
        let codes: Vec<&OfflineCode> = parsed.iter().filter_map(|p| p.as_ref().ok()).collect();
        let mut verdicts = self.verify_signatures(&codes).into_iter();
        let mut checked = Vec::with_capacity(batch.operations.len());
        for (index, (op, code)) in batch.operations.iter().zip(parsed).enumerate() {
            let outcome = code.and_then(|code| {
                let verdict = verdicts.next().expect("one verdict per code read");
                check_one(index, op, &code, verdict, merchants[&op.merchant].clone())
            });
            match outcome {
                Ok(c) => checked.push(c),
                Err((code, reason)) => {
                    tracing::info!(merchant = %op.merchant, register = %op.register, reason, "band operation refused");
                    results[index] = Some(refused(op, code, reason));
                }
            }
        }
        Ok(checked)
    }

    /// Each merchant a batch names, when it is the signing acquirer's.
    async fn merchants_of(
        &self,
        batch: &BandBatch,
        acquirer: &str,
    ) -> Result<HashMap<String, Option<Merchant>>, BandError> {
        let mut merchants = HashMap::new();
        for op in &batch.operations {
            if merchants.contains_key(&op.merchant) {
                continue;
            }
            let m = match self.merchants().get(&op.merchant).await {
                Ok(m) if m.acquirer == acquirer => Some(m),
                Ok(_) | Err(AcquirerError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            merchants.insert(op.merchant.clone(), m);
        }
        Ok(merchants)
    }

    /// The verdict of each code's certificate and signature, checked
    /// together ([`paytap_qr::offline::verify_codes`]); certificates
    /// verified by an earlier batch are not checked again, and those this
    /// one verifies are remembered.
    fn verify_signatures(&self, codes: &[&OfflineCode]) -> Vec<Result<(), OfflineError>> {
        let verified = self.verified_certificates();
        let verdicts = verify_codes(codes, &self.platform_key(), |c| verified.contains(c));
        let passed: HashSet<[u8; CERT_LEN]> = codes
            .iter()
            .zip(&verdicts)
            .filter(|(_, v)| matches!(v, Ok(()) | Err(OfflineError::BadCodeSignature)))
            .map(|(code, _)| code.certificate.encode())
            .collect();
        verified.remember(passed.iter());
        verdicts
    }

    /// Step 3: one write transaction deciding every new operation: the
    /// operations stored before for the batch's codes are read in one
    /// statement, and the new ones written in one.
    async fn decide_all(
        &self,
        claim: &Claim<'_>,
        batch: &BandBatch,
        checked: &[Checked],
        now: i64,
        results: &mut [Option<BandResult>],
    ) -> Result<Vec<Move>, BandError> {
        let batch_id = claim.batch_id;
        let backend = self.db().backend();
        let mut tx = self.db().begin_write().await?;
        let mut totals = lock_reserve(&mut tx).await?;
        let operations = batch.operations.len();
        claim_in(
            &mut tx,
            batch_id,
            claim.acquirer,
            &claim.fingerprint,
            operations,
        )
        .await?;
        let mut stored = load_stored(&mut tx, backend, checked).await?;
        let mut rows = Vec::new();
        let mut moves = Vec::new();
        for c in checked {
            let op = &batch.operations[c.index];
            let (result, mv) = match stored.find(c) {
                Some(s) => {
                    let (result, mv) = from_decision(c, &s.decision);
                    (result, mv.filter(|_| !s.moved))
                }
                None => match self
                    .decide_new(&mut tx, &mut totals, &stored, c, now)
                    .await?
                {
                    Some(d) => {
                        rows.push(insert_args(batch_id, c, &d)?);
                        stored.add(c, d);
                        from_decision(c, &d)
                    }
                    None => (None, None),
                },
            };
            moves.extend(mv);
            results[c.index] = Some(result.unwrap_or_else(|| refused(op, None, "unknown_band")));
        }
        INSERT_OPERATIONS
            .execute(&mut tx, backend, rows.iter().map(Vec::as_slice))
            .await?;
        write_totals(&mut tx, &totals).await?;
        tx.commit().await?;
        Ok(moves)
    }

    /// The decision on an operation not stored before, counted in the
    /// running totals; `None` when its band has no account.
    async fn decide_new(
        &self,
        tx: &mut paytap_store::Tx,
        totals: &mut Totals,
        stored: &Stored,
        c: &Checked,
        now: i64,
    ) -> Result<Option<Decision>, BandError> {
        let band = band_state(tx, totals, &c.band).await?;
        let Some((revoked_at, account_available)) =
            band.map(|b| (b.row.revoked_at, b.row.funded - b.row.paid))
        else {
            return Ok(None);
        };
        let facts = Facts {
            amount: c.amount,
            code_time: c.code_time,
            revoked_at,
            counter_settled_elsewhere: stored.elsewhere(c),
            serial_spent: serial_spent(tx, totals, c).await?,
            serial_limit: c.limit,
            account_available,
            reserve_available: totals.reserve_funded - totals.reserve_paid,
        };
        let d = decide(&facts);
        apply(totals, c, &d, now);
        if d.double_spend {
            tracing::warn!(band = %hex::encode(c.band), counter = c.counter, merchant = %c.merchant.spec.id, reason = ?d.reason, "band double spend: credential revoked");
        }
        Ok(Some(d))
    }

    /// Step 4: the ledger transfers, then their mark.
    async fn make_moves(&self, moves: &[Move]) -> Result<(), BandError> {
        let ledger = self.ledger();
        let sent = futures::future::join_all(moves.iter().map(|m| {
            ledger.transfer(Transfer::single(
                m.transfer.clone(),
                m.debit.clone(),
                m.credit.clone(),
                Money::new(m.amount, BAND_CURRENCY),
            ))
        }))
        .await;
        let mut moved = Vec::with_capacity(moves.len());
        let mut failure = None;
        for (m, r) in moves.iter().zip(sent) {
            match r {
                Ok(_) => moved.push(vec![
                    Arg::Text(hex::encode(m.band)),
                    Arg::I64(counter_i64(m.counter)?),
                    Arg::Text(m.key.clone()),
                ]),
                Err(LedgerError::Rejected(r)) => {
                    tracing::error!(transfer = %m.transfer, code = r.code(), "the ledger refused a band transfer its rows allowed");
                    failure = Some(BandError::Acquirer(AcquirerError::Corrupt(format!(
                        "band transfer {} refused: {}",
                        m.transfer,
                        r.code()
                    ))));
                }
                Err(e) => failure = Some(e.into()),
            }
        }
        if !moved.is_empty() {
            let mut tx = self.db().begin_write().await?;
            MARK_MOVED
                .execute(
                    &mut tx,
                    self.db().backend(),
                    moved.iter().map(Vec::as_slice),
                )
                .await?;
            tx.commit().await?;
        }
        failure.map_or(Ok(()), Err)
    }
}

/// Why an operation failed its own checks, with its band and counter when
/// the code could be read.
type Refusal = (Option<(BandId, u64)>, &'static str);

/// An operation's register id and code text, and the code read from it.
fn parse_one(op: &BandOperation) -> Result<OfflineCode, Refusal> {
    let register_ok = !op.register.is_empty()
        && op.register.len() <= MAX_REGISTER_ID_LEN
        && op
            .register
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !register_ok || op.code.len() > MAX_CODE_TEXT_LEN {
        return Err((None, "invalid"));
    }
    OfflineCode::from_base64(&op.code).map_err(|_| (None, "bad_code"))
}

/// The checks after the code is read, in order: its certificate and
/// signature (`verdict`), the amount, the code's time, the merchant.
fn check_one(
    index: usize,
    op: &BandOperation,
    code: &OfflineCode,
    verdict: Result<(), OfflineError>,
    merchant: Option<Merchant>,
) -> Result<Checked, Refusal> {
    let cert = &code.certificate;
    let who = Some((cert.band_id, code.counter));
    let with = |reason| Err((who, reason));
    match verdict {
        Ok(()) => {}
        Err(OfflineError::UnknownPlatformKey) => return with("unknown_platform_key"),
        Err(OfflineError::BadCodeSignature) => return with("bad_signature"),
        Err(_) => return with("bad_certificate"),
    }
    if op.amount_minor == 0 || op.amount_minor > code.amount {
        return with("bad_amount");
    }
    if code.time < cert.not_before || code.time > cert.not_after {
        return with("expired");
    }
    let Some(merchant) = merchant.filter(|m| m.spec.currency.numeric() == cert.currency) else {
        return with("unknown_merchant");
    };
    let (Ok(amount), Ok(limit)) = (i64::try_from(op.amount_minor), i64::try_from(cert.limit))
    else {
        return with("bad_amount");
    };
    Ok(Checked {
        index,
        band: cert.band_id,
        counter: code.counter,
        serial: i64::from(cert.serial),
        limit,
        amount,
        code_time: code.time,
        merchant,
        register: op.register.clone(),
    })
}

/// Takes the reserve's row lock first (every band batch does, so two
/// batches never wait on each other's bands in opposite orders) and reads it.
async fn lock_reserve(tx: &mut paytap_store::Tx) -> Result<Totals, BandError> {
    sqlx::query("UPDATE acquirer_band_reserve SET paid = paid WHERE currency = $1")
        .bind(BAND_CURRENCY.code())
        .execute(&mut **tx)
        .await?;
    let row = sqlx::query("SELECT funded, paid FROM acquirer_band_reserve WHERE currency = $1")
        .bind(BAND_CURRENCY.code())
        .fetch_one(&mut **tx)
        .await?;
    Ok(Totals {
        reserve_funded: row.try_get("funded")?,
        reserve_paid: row.try_get("paid")?,
        ..Totals::default()
    })
}

async fn band_state<'t>(
    tx: &mut paytap_store::Tx,
    totals: &'t mut Totals,
    band: &BandId,
) -> Result<Option<&'t BandState>, BandError> {
    if !totals.bands.contains_key(band) {
        let row = load_band(&mut **tx, band).await?;
        let state = row.map(|row| BandState {
            row,
            touched: false,
        });
        totals.bands.insert(*band, state);
    }
    Ok(totals.bands[band].as_ref())
}

async fn serial_spent(
    tx: &mut paytap_store::Tx,
    totals: &mut Totals,
    c: &Checked,
) -> Result<i64, BandError> {
    let key = (c.band, c.serial);
    if let Some(known) = totals.serials.get(&key) {
        return Ok(known.map_or(0, |(s, _)| s));
    }
    let row =
        sqlx::query("SELECT spent FROM acquirer_band_serials WHERE band_id = $1 AND serial = $2")
            .bind(hex::encode(c.band))
            .bind(c.serial)
            .fetch_optional(&mut **tx)
            .await?;
    let spent = row.map(|r| r.try_get::<i64, _>("spent")).transpose()?;
    totals.serials.insert(key, spent.map(|s| (s, false)));
    // A serial the platform signed always has its row (written in the same
    // transaction as the certificate); none means nothing settled under it.
    Ok(spent.unwrap_or(0))
}

fn counter_i64(counter: u64) -> Result<i64, BandError> {
    i64::try_from(counter)
        .map_err(|_| BandError::Invalid("a code's counter is out of range".into()))
}

/// Counts a decision in the batch's running totals.
fn apply(totals: &mut Totals, c: &Checked, d: &Decision, now: i64) {
    let band = totals
        .bands
        .get_mut(&c.band)
        .and_then(Option::as_mut)
        .expect("a decided operation's band was loaded");
    if d.double_spend && band.row.status == BandStatus::On {
        band.row.status = BandStatus::Revoked;
        band.row.status_reason = Some("double_spend".into());
        band.row.revoked_at = Some(now);
        band.touched = true;
    }
    match d.source {
        Some(Source::Account) => {
            band.row.paid += c.amount;
            band.touched = true;
        }
        Some(Source::Reserve) => totals.reserve_paid += c.amount,
        None => return,
    }
    let serial = totals
        .serials
        .entry((c.band, c.serial))
        .or_insert(Some((0, false)));
    let (spent, _) = serial.get_or_insert((0, false));
    *serial = Some((*spent + c.amount, true));
}

/// An operation's row for [`INSERT_OPERATIONS`].
fn insert_args(batch_id: &str, c: &Checked, d: &Decision) -> Result<Vec<Arg>, BandError> {
    Ok(vec![
        Arg::Text(hex::encode(c.band)),
        Arg::I64(counter_i64(c.counter)?),
        Arg::Text(c.key()),
        Arg::Text(c.merchant.spec.id.clone()),
        Arg::I64(c.amount),
        Arg::I64(c.serial),
        Arg::I64(c.code_time),
        Arg::Text(batch_id.to_owned()),
        Arg::OptText(d.source.map(|s| s.as_str().to_owned())),
        Arg::OptText(d.reason.map(|r| r.as_str().to_owned())),
        Arg::I64(i64::from(d.double_spend)),
        Arg::OptText(d.source.map(|_| c.transfer_id())),
        Arg::I64(paytap_store::now_millis()),
    ])
}

/// Writes the running totals back: bands, serials, reserve.
async fn write_totals(tx: &mut paytap_store::Tx, totals: &Totals) -> Result<(), BandError> {
    for (band, state) in &totals.bands {
        let Some(s) = state.as_ref().filter(|s| s.touched) else {
            continue;
        };
        sqlx::query(
            "UPDATE acquirer_bands SET paid = $1, status = $2, status_reason = $3, \
             revoked_at = $4 WHERE band_id = $5",
        )
        .bind(s.row.paid)
        .bind(s.row.status.as_str())
        .bind(s.row.status_reason.as_deref())
        .bind(s.row.revoked_at)
        .bind(hex::encode(band))
        .execute(&mut **tx)
        .await?;
    }
    for ((band, serial), state) in &totals.serials {
        let Some((spent, true)) = state else { continue };
        sqlx::query(
            "UPDATE acquirer_band_serials SET spent = $1 WHERE band_id = $2 AND serial = $3",
        )
        .bind(spent)
        .bind(hex::encode(band))
        .bind(serial)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query("UPDATE acquirer_band_reserve SET paid = $1 WHERE currency = $2")
        .bind(totals.reserve_paid)
        .bind(BAND_CURRENCY.code())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// An operation stored before this batch or decided by it.
struct StoredOp {
    /// Its merchant and register ([`Checked::key`]).
    key: String,
    decision: Decision,
    /// Its money was moved on the ledger.
    moved: bool,
}

/// The operations stored under the (band, counter) pairs of a batch, read
/// in its transaction and kept up to date as it decides.
#[derive(Default)]
struct Stored(HashMap<(BandId, u64), Vec<StoredOp>>);

impl Stored {
    /// The operation stored for `c`'s band, counter and register.
    fn find(&self, c: &Checked) -> Option<&StoredOp> {
        let key = c.key();
        self.0
            .get(&(c.band, c.counter))?
            .iter()
            .find(|s| s.key == key)
    }

    /// `c`'s band and counter are stored for another register.
    fn elsewhere(&self, c: &Checked) -> bool {
        let key = c.key();
        self.0
            .get(&(c.band, c.counter))
            .is_some_and(|all| all.iter().any(|s| s.key != key))
    }

    fn add(&mut self, c: &Checked, decision: Decision) {
        self.0
            .entry((c.band, c.counter))
            .or_default()
            .push(StoredOp {
                key: c.key(),
                decision,
                moved: false,
            });
    }
}

/// Reads, in one statement, every operation stored under the (band,
/// counter) pairs of `checked`.
async fn load_stored(
    tx: &mut paytap_store::Tx,
    backend: Backend,
    checked: &[Checked],
) -> Result<Stored, BandError> {
    let pairs: HashSet<(BandId, u64)> = checked.iter().map(|c| (c.band, c.counter)).collect();
    let mut args = Vec::with_capacity(pairs.len());
    for (band, counter) in &pairs {
        args.push([
            Arg::Text(hex::encode(band)),
            Arg::I64(counter_i64(*counter)?),
        ]);
    }
    if args.is_empty() {
        return Ok(Stored::default());
    }
    let sql = match backend {
        Backend::Sqlite => SELECT_STORED_SQLITE,
        Backend::Postgres => SELECT_STORED_POSTGRES,
    };
    let rows = sqlx::query(sql)
        .bind(encode_rows(args.iter().map(|a| a.as_slice())))
        .fetch_all(&mut **tx)
        .await?;
    let mut stored = Stored::default();
    for row in rows {
        let (band, counter, op) = stored_op(&row)?;
        stored.0.entry((band, counter)).or_default().push(op);
    }
    Ok(stored)
}

/// `[band_id, counter]` pairs in, their stored operations out.
const SELECT_STORED_SQLITE: &str = "SELECT o.band_id, o.counter, o.register, o.source, o.reason, \
     o.double_spend, o.transfer_done FROM jsonb_each(jsonb($1)) AS j \
     JOIN acquirer_band_operations AS o ON o.band_id = j.value->>0 AND o.counter = j.value->>1";
/// [`SELECT_STORED_SQLITE`] in PostgreSQL's words.
const SELECT_STORED_POSTGRES: &str = "SELECT o.band_id, o.counter, o.register, o.source, \
     o.reason, o.double_spend, o.transfer_done FROM jsonb_array_elements($1::jsonb) AS r \
     JOIN acquirer_band_operations AS o ON o.band_id = r->>0 AND o.counter = (r->>1)::bigint";

fn stored_op(row: &sqlx::any::AnyRow) -> Result<(BandId, u64, StoredOp), BandError> {
    let corrupt = |e: String| AcquirerError::Corrupt(format!("band operation: {e}"));
    let band = super::parse_band_id(&row.try_get::<String, _>("band_id")?)
        .map_err(|e| corrupt(e.to_string()))?;
    let counter =
        u64::try_from(row.try_get::<i64, _>("counter")?).map_err(|e| corrupt(e.to_string()))?;
    let source: Option<String> = row.try_get("source")?;
    let reason: Option<String> = row.try_get("reason")?;
    let decision = Decision {
        source: source
            .map(|s| s.parse())
            .transpose()
            .map_err(|e: paytap_types::UnknownText| corrupt(e.to_string()))?,
        reason: reason
            .map(|s| s.parse::<Reason>())
            .transpose()
            .map_err(|e| corrupt(e.to_string()))?,
        double_spend: row.try_get::<i64, _>("double_spend")? != 0,
    };
    let op = StoredOp {
        key: row.try_get("register")?,
        decision,
        moved: row.try_get::<i64, _>("transfer_done")? != 0,
    };
    Ok((band, counter, op))
}

/// New operations, in [`insert_args`] order.
const INSERT_OPERATIONS: Bulk = Bulk {
    name: "acquirer_band_operations insert",
    sqlite: "INSERT INTO acquirer_band_operations (band_id, counter, register, merchant, amount, \
             serial, code_time, batch_id, source, reason, double_spend, transfer, transfer_done, \
             created_at) SELECT j.value->>0, j.value->>1, j.value->>2, j.value->>3, j.value->>4, \
             j.value->>5, j.value->>6, j.value->>7, j.value->>8, j.value->>9, j.value->>10, \
             j.value->>11, 0, j.value->>12 FROM jsonb_each(jsonb($1)) AS j",
    postgres: "INSERT INTO acquirer_band_operations (band_id, counter, register, merchant, \
               amount, serial, code_time, batch_id, source, reason, double_spend, transfer, \
               transfer_done, created_at) SELECT r->>0, (r->>1)::bigint, r->>2, r->>3, \
               (r->>4)::bigint, (r->>5)::bigint, (r->>6)::bigint, r->>7, r->>8, r->>9, \
               (r->>10)::bigint, r->>11, 0, (r->>12)::bigint \
               FROM jsonb_array_elements($1::jsonb) AS r",
    sqlite_row: "INSERT INTO acquirer_band_operations (band_id, counter, register, merchant, \
                 amount, serial, code_time, batch_id, source, reason, double_spend, transfer, \
                 transfer_done, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0, ?13)",
};

/// `[band_id, counter, register]`: operations whose money was moved.
const MARK_MOVED: Bulk = Bulk {
    name: "acquirer_band_operations moved",
    sqlite: "UPDATE acquirer_band_operations SET transfer_done = 1 \
             FROM jsonb_each(jsonb($1)) AS j \
             WHERE acquirer_band_operations.band_id = j.value->>0 \
             AND acquirer_band_operations.counter = j.value->>1 \
             AND acquirer_band_operations.register = j.value->>2",
    postgres: "UPDATE acquirer_band_operations SET transfer_done = 1 \
               FROM jsonb_array_elements($1::jsonb) AS r \
               WHERE band_id = r->>0 AND counter = (r->>1)::bigint AND register = r->>2",
    sqlite_row: "UPDATE acquirer_band_operations SET transfer_done = 1 \
                 WHERE band_id = ?1 AND counter = ?2 AND register = ?3",
};

fn from_decision(c: &Checked, d: &Decision) -> (Option<BandResult>, Option<Move>) {
    let transfer = d.source.map(|_| c.transfer_id());
    let mv = d.source.map(|s| Move {
        band: c.band,
        counter: c.counter,
        key: c.key(),
        transfer: c.transfer_id(),
        debit: match s {
            Source::Account => band_account(&c.band),
            Source::Reserve => reserve_account(BAND_CURRENCY),
        },
        credit: c.merchant.account.clone(),
        amount: c.amount,
    });
    let result = BandResult {
        band_id: Some(hex::encode(c.band)),
        counter: Some(c.counter),
        merchant: c.merchant.spec.id.clone(),
        register: c.register.clone(),
        paid: d.source.is_some(),
        source: d.source,
        reason: d.reason.map(|r| r.as_str().to_owned()),
        double_spend: d.double_spend,
        transfer,
    };
    (Some(result), mv)
}
