//! The issuer processor: banks, cardholder accounts on the ledger, cards.
//!
//! Owns the `issuer_cards`, `issuer_auths` and `issuer_idv` tables. Card
//! numbers live only in the vault; issuer tables key by the vault id.
//!
//! Ledger layout per bank (all in the bank's currency):
//!
//! | account id | flags | role |
//! |---|---|---|
//! | `issuer:<bank>:card:<card id>` | debits must not exceed credits | the cardholder's money (debit) or credit line (credit) |
//! | `issuer:<bank>:deposits` | none | counterpart of debit cards' opening balances |
//! | `issuer:<bank>:credit-lines` | none | counterpart of credit cards' limits |
//! | `issuer:<bank>:settlement` | none | what the bank owes the network for captured purchases |
//!
//! A purchase is a pending transfer card → settlement (the hold), posted at
//! clearing or voided by a reversal; a hold neither captured nor reversed
//! is voided after `hold_expiry_days` ([`Issuer::expire_holds`]).

use crate::config::{BankConfig, IssuerConfig, Limits};
use crate::error::IssuerError;
use crate::keys::IssuerKeys;
use crate::state::AuthState;
use paytap_ledger::{AccountFlags, AccountSpec, Ledger, Transfer};
use paytap_store::{Db, Migration, now_millis};
use paytap_types::{Clock, Money, Pan, Secret, SystemClock, luhn_check_digit};
use paytap_vault::{CardRecord, Expiry, Vault};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::sync::Arc;
use tokio::sync::{Mutex, broadcast};
use zeroize::Zeroizing;

/// Schema owned by the issuer processor.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        component: "issuer",
        version: 1,
        sql: "CREATE TABLE issuer_cards (\
            card_id TEXT PRIMARY KEY, \
            bank_id TEXT NOT NULL, \
            product TEXT NOT NULL, \
            account_id TEXT NOT NULL, \
            last4 TEXT NOT NULL, \
            expiry TEXT NOT NULL, \
            psn BIGINT NOT NULL, \
            status TEXT NOT NULL, \
            single_limit BIGINT NOT NULL, \
            daily_limit BIGINT NOT NULL, \
            velocity_count BIGINT NOT NULL, \
            velocity_window_secs BIGINT NOT NULL, \
            no_cvm_limit BIGINT NOT NULL, \
            phone_masked TEXT NOT NULL, \
            last_atc BIGINT NOT NULL, \
            created_at BIGINT NOT NULL);\
          CREATE TABLE issuer_auths (\
            hold_key TEXT PRIMARY KEY, \
            txn_key TEXT, \
            card_id TEXT NOT NULL, \
            bank_id TEXT NOT NULL, \
            kind TEXT NOT NULL, \
            amount BIGINT NOT NULL, \
            currency TEXT NOT NULL, \
            response_code TEXT NOT NULL, \
            approval_code TEXT, \
            hold_id TEXT, \
            state TEXT NOT NULL, \
            created_at BIGINT NOT NULL, \
            updated_at BIGINT NOT NULL);\
          CREATE INDEX issuer_auths_txn ON issuer_auths (txn_key);\
          CREATE INDEX issuer_auths_card ON issuer_auths (card_id, created_at);\
          CREATE TABLE issuer_idv (\
            verification_id TEXT PRIMARY KEY, \
            bank_id TEXT NOT NULL, \
            card_id TEXT, \
            device_id TEXT NOT NULL, \
            account_id TEXT NOT NULL, \
            decision TEXT NOT NULL, \
            state TEXT NOT NULL, \
            reason TEXT, \
            otp_hash {blob}, \
            otp_expires BIGINT, \
            attempts BIGINT NOT NULL, \
            created_at BIGINT NOT NULL);\
          CREATE INDEX issuer_idv_card ON issuer_idv (card_id, created_at)",
    },
    // Transaction keys lead with the transmission time and STAN (DE 7, DE
    // 11) instead of the acquirer, so that a batch of new records lands
    // among the last pages of `issuer_auths_txn` instead of on one page per
    // terminal anywhere in the index. Rewrites
    // `txn:<acq>|<terminal>|<stan>|<DE 7>` to
    // `txn:<DE 7>|<stan>|<acq>|<terminal>`; DE 7 is n10 and DE 11 n6, fixed.
    Migration {
        component: "issuer",
        version: 2,
        sql: "UPDATE issuer_auths \
              SET txn_key = 'txn:' || substr(txn_key, length(txn_key) - 9) || '|' \
                            || substr(txn_key, length(txn_key) - 16, 6) || '|' \
                            || substr(txn_key, 5, length(txn_key) - 22) \
              WHERE txn_key LIKE 'txn:%' AND length(txn_key) >= 25 \
                AND substr(txn_key, length(txn_key) - 10, 1) = '|' \
                AND substr(txn_key, length(txn_key) - 17, 1) = '|'",
    },
    // Spend windows are kept in memory from start (`crate::window`), so
    // nothing looks authorizations up by card any more; the index cost a
    // page per card in every commit.
    Migration {
        component: "issuer",
        version: 3,
        sql: "DROP INDEX issuer_auths_card",
    },
];

/// `hold_key, txn_key, kind, card_id, state, created_at, amount` of
/// `issuer_auths`, read once at start.
type AuthScanRow = (String, Option<String>, String, String, String, i64, i64);

/// How long a newly issued card is valid when the request names no expiry:
/// five years, the usual validity of a payment card.
const CARD_VALIDITY_MONTHS: u32 = 60;

/// Card numbers drawn before issuing gives up: a draw collides only with a
/// number already issued, so 64 failures mean the range is all but full.
const CARD_NUMBER_ATTEMPTS: usize = 64;

paytap_types::text_enum! {
    /// Debit (spends a balance) or credit (spends a limit).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Product {
        Debit = "debit",
        Credit = "credit",
    }
}

/// Whether a number drawn for an ordinary (not step-up test) card of
/// `product` may be used: outside the step-up test ranges, and in the
/// credit ranges exactly when the card is a credit card (a bank without
/// credit ranges numbers both products alike).
fn fits_product(bank: &BankConfig, product: Product, digits: &str) -> bool {
    let test_range = bank
        .idv
        .step_up_prefixes
        .iter()
        .any(|p| digits.starts_with(p.as_str()));
    let credit = bank.is_credit(digits);
    !test_range && (bank.credit_bins.is_empty() || credit == (product == Product::Credit))
}

paytap_types::text_enum! {
    /// A card's status at its bank (`issuer_cards.status`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum CardStatus {
        Active = "active",
        /// Blocked by the bank or the holder (answers `62`).
        Blocked = "blocked",
        /// Reported lost (answers `41`).
        Lost = "lost",
        /// Reported stolen (answers `43`).
        Stolen = "stolen",
    }
}

/// What to issue.
#[derive(Debug, Clone)]
pub struct IssueCard {
    pub bank_id: String,
    pub product: Product,
    pub holder_name: String,
    /// Opening balance (debit) or credit limit (credit), minor units.
    pub amount_minor: i64,
    /// `YYMM`; default five years from now.
    pub expiry_yymm: Option<String>,
    /// Put the number in the bank's ID&V step-up test range.
    pub step_up_range: bool,
    /// Override the bank's default limits.
    pub limits: Option<Limits>,
}

impl IssueCard {
    pub fn new(bank_id: &str, product: Product, holder_name: &str, amount_minor: i64) -> IssueCard {
        IssueCard {
            bank_id: bank_id.to_owned(),
            product,
            holder_name: holder_name.to_owned(),
            amount_minor,
            expiry_yymm: None,
            step_up_range: false,
            limits: None,
        }
    }
}

/// A card as handed to its holder (demo and tests). The PAN masks itself;
/// the CVV is wiped on drop and never printed.
#[derive(Clone, Debug)]
pub struct IssuedCard {
    /// The vault id, the card's key in every issuer table.
    pub card_id: String,
    pub bank_id: String,
    pub pan: Pan,
    /// Valid through the end of this month.
    pub expiry_yymm: Expiry,
    /// CVV2 as printed on the card.
    pub cvv: Secret<String>,
    pub psn: u8,
    pub account_id: String,
}

/// A card's record at its bank (no card number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardInfo {
    pub card_id: String,
    pub bank_id: String,
    pub product: Product,
    pub account_id: String,
    pub last4: String,
    /// Valid through the end of this month (serialized as `YYMM`).
    pub expiry_yymm: Expiry,
    pub psn: u8,
    pub status: CardStatus,
    pub limits: Limits,
    /// Where one-time passcodes go, masked (e.g. `+86 138****1234`).
    pub phone_masked: String,
    pub last_atc: Option<u16>,
}

/// An OTP as the emulated SMS gateway delivers it to the cardholder's phone.
/// `Debug` hides the code.
#[derive(Clone, Debug)]
pub struct OtpDelivery {
    pub verification_id: String,
    pub destination: String,
    pub code: Secret<String>,
}

const STRIPES: usize = 1024;

/// The issuer processor for every configured bank. Cheap to clone.
#[derive(Clone)]
pub struct Issuer {
    pub(crate) db: Db,
    pub(crate) ledger: Ledger,
    pub(crate) vault: Vault,
    pub(crate) config: Arc<IssuerConfig>,
    pub(crate) keys: Arc<IssuerKeys>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Serialises work on one hold key (authorization vs reversal vs capture).
    pub(crate) hold_locks: Arc<Vec<Mutex<()>>>,
    /// Serialises authorizations of one card (limits and velocity).
    pub(crate) card_locks: Arc<Vec<Mutex<()>>>,
    pub(crate) otp_tx: broadcast::Sender<OtpDelivery>,
    pub(crate) writer: crate::batch::Batcher,
    pub(crate) windows: Arc<crate::window::Windows>,
    /// Card rows by card id (this process owns `issuer_cards`).
    pub(crate) cards: Arc<crate::cache::Cache<CardInfo>>,
    /// PAN fingerprint → card id (immutable once issued).
    pub(crate) card_ids: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    /// Every hold key and transaction key in `issuer_auths`: a new
    /// authorization (nearly always) skips the duplicate lookup.
    pub(crate) seen: Arc<paytap_store::keyfilter::KeyFilter>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("banks", &self.config.banks.len())
            .finish_non_exhaustive()
    }
}

pub(crate) fn stripe(key: &str) -> usize {
    // FNV-1a: cheap and stable; only spreads lock contention.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % STRIPES as u64) as usize
}

pub(crate) fn account_id(bank: &str, what: &str) -> String {
    format!("issuer:{bank}:{what}")
}

impl Issuer {
    /// Opens the processor: migrates its tables, creates every bank's
    /// ledger accounts (idempotent) and resolves the approvals a crash left
    /// half written ([`crate::reconcile`]).
    pub async fn open(
        db: Db,
        ledger: Ledger,
        vault: Vault,
        config: IssuerConfig,
        keys: IssuerKeys,
    ) -> Result<Issuer, IssuerError> {
        config.validate()?;
        db.migrate(MIGRATIONS).await?;
        for b in &config.banks {
            if keys.bank(&b.id).is_none() {
                return Err(IssuerError::NoKeys(b.id.clone()));
            }
            for (what, name) in [
                ("settlement", "settlement with the network"),
                ("deposits", "cardholder deposits"),
                ("credit-lines", "credit lines granted"),
            ] {
                ledger
                    .create_account(AccountSpec::new(
                        account_id(&b.id, what),
                        format!("{} {name}", b.short_name),
                        b.currency,
                        AccountFlags::None,
                    ))
                    .await?;
            }
        }
        // One pass over the records: every key for the duplicate filter,
        // and the recent approvals for the spend windows.
        let seen = paytap_store::keyfilter::KeyFilter::new();
        let mut recent = Vec::new();
        {
            use futures::TryStreamExt;
            let since = now_millis() - crate::window::HORIZON_MILLIS;
            let mut rows = sqlx::query_as::<_, AuthScanRow>(
                "SELECT hold_key, txn_key, kind, card_id, state, created_at, amount \
                 FROM issuer_auths",
            )
            .fetch(db.pool());
            while let Some((hold_key, txn_key, kind, card_id, state, created_at, amount)) =
                rows.try_next().await?
            {
                crate::auth::remember_keys(
                    &seen,
                    &hold_key,
                    txn_key.as_deref().filter(|_| kind == "auth"),
                );
                let spent = matches!(
                    state.parse(),
                    Ok(AuthState::Held | AuthState::Captured | AuthState::Settled)
                );
                if created_at >= since && spent {
                    recent.push((card_id, created_at, amount));
                }
            }
        }
        let (otp_tx, _) = broadcast::channel(256);
        let issuer = Issuer {
            db: db.clone(),
            ledger,
            vault,
            config: Arc::new(config),
            keys: Arc::new(keys),
            clock: Arc::new(SystemClock),
            hold_locks: Arc::new((0..STRIPES).map(|_| Mutex::new(())).collect()),
            card_locks: Arc::new((0..STRIPES).map(|_| Mutex::new(())).collect()),
            otp_tx,
            writer: crate::batch::Batcher::start(db.clone()),
            windows: Arc::new(crate::window::Windows::from_rows(recent)),
            cards: Arc::default(),
            card_ids: Arc::default(),
            seen: Arc::new(seen),
        };
        // Before any request: what a crash left half written.
        issuer.reconcile().await?;
        Ok(issuer)
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Issuer {
        self.clock = clock;
        self
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    pub fn bank(&self, bank_id: &str) -> Result<&BankConfig, IssuerError> {
        self.config
            .bank(bank_id)
            .ok_or_else(|| IssuerError::UnknownBank(bank_id.to_owned()))
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// One-time passcodes as the emulated SMS gateway sends them.
    pub fn subscribe_otp(&self) -> broadcast::Receiver<OtpDelivery> {
        self.otp_tx.subscribe()
    }

    /// Issues a card with defaults (see [`IssueCard`]).
    pub async fn issue_card(
        &self,
        bank_id: &str,
        product: Product,
        holder_name: &str,
        amount_minor: i64,
    ) -> Result<IssuedCard, IssuerError> {
        self.issue(IssueCard::new(bank_id, product, holder_name, amount_minor))
            .await
    }

    /// Issues a card: a fresh number in the bank's card range (in its
    /// step-up test range when asked, outside it otherwise), stored in the
    /// vault; a ledger account funded with the opening balance or the
    /// credit limit; CVV2 computed from the bank's CVK.
    pub async fn issue(&self, req: IssueCard) -> Result<IssuedCard, IssuerError> {
        let bank = self.bank(&req.bank_id)?.clone();
        let keys = self
            .keys
            .bank(&bank.id)
            .ok_or_else(|| IssuerError::NoKeys(bank.id.clone()))?;
        if req.amount_minor < 0 {
            return Err(IssuerError::Invalid("amount must not be negative"));
        }
        let now = self.now();
        let expiry_yymm = match &req.expiry_yymm {
            Some(e) => e.clone(),
            None => Expiry::months_after(now, CARD_VALIDITY_MONTHS).yymm(),
        };
        let expiry = Expiry::parse(&expiry_yymm).map_err(paytap_vault::VaultError::from)?;
        let (pan, card_id) = self.new_card_number(&bank, &req, expiry).await?;
        let psn: u8 = 0;
        let account = self.open_card_account(&bank, &req, &card_id, &pan).await?;
        let limits = req.limits.unwrap_or(bank.limits);
        let phone = masked_phone(&bank.country);
        sqlx::query(
            "INSERT INTO issuer_cards (card_id, bank_id, product, account_id, last4, expiry, psn, status, \
             single_limit, daily_limit, velocity_count, velocity_window_secs, no_cvm_limit, phone_masked, \
             last_atc, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, $10, $11, $12, $13, -1, $14)",
        )
        .bind(&card_id)
        .bind(&bank.id)
        .bind(req.product.as_str())
        .bind(&account)
        .bind(pan.last4())
        .bind(&expiry_yymm)
        .bind(i64::from(psn))
        .bind(limits.single_transaction)
        .bind(limits.daily)
        .bind(i64::from(limits.velocity_count))
        .bind(i64::from(limits.velocity_window_secs))
        .bind(limits.no_cvm_limit)
        .bind(&phone)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        let mut cvv = crate::cvv::cvv(
            &keys.cvk,
            pan.expose(),
            &expiry_yymm,
            crate::cvv::CVV2_SERVICE_CODE,
        )
        .ok_or(IssuerError::Invalid("card number too long for CVV"))?;
        tracing::info!(bank = %bank.id, card_id = %card_id, pan = ?pan, product = req.product.as_str(), "card issued");
        Ok(IssuedCard {
            card_id,
            bank_id: bank.id.clone(),
            pan,
            expiry_yymm: expiry,
            cvv: Secret::new(std::mem::take(&mut *cvv)),
            psn,
            account_id: account,
        })
    }

    /// A fresh card number in the bank's card range (its credit range for a
    /// credit card; in its step-up test
    /// range when asked, outside it otherwise), stored in the vault with
    /// its expiry and holder name. Returns the number and its vault id.
    async fn new_card_number(
        &self,
        bank: &BankConfig,
        req: &IssueCard,
        expiry: Expiry,
    ) -> Result<(Pan, String), IssuerError> {
        let prefix = if req.step_up_range {
            bank.idv
                .step_up_prefixes
                .first()
                .cloned()
                .ok_or(IssuerError::Invalid("the bank has no step-up test range"))?
        } else if req.product == Product::Credit
            && let Some(credit) = bank.credit_bins.first()
        {
            credit.clone()
        } else {
            bank.card_bins
                .first()
                .cloned()
                .ok_or(IssuerError::Invalid("the bank has no card BIN"))?
        };
        for _ in 0..CARD_NUMBER_ATTEMPTS {
            let pan = random_pan(&prefix, 16).ok_or(IssuerError::Invalid("bad BIN"))?;
            if !req.step_up_range && !fits_product(bank, req.product, pan.expose()) {
                continue;
            }
            let entry = self
                .vault
                .put(CardRecord::new(
                    pan.clone(),
                    expiry,
                    req.holder_name.clone(),
                )?)
                .await?;
            if !entry.existed {
                return Ok((pan, entry.id));
            }
        }
        Err(IssuerError::Exhausted)
    }

    /// The card's ledger account, funded with the opening balance (debit)
    /// or the credit limit (credit) when the request names one.
    async fn open_card_account(
        &self,
        bank: &BankConfig,
        req: &IssueCard,
        card_id: &str,
        pan: &Pan,
    ) -> Result<String, IssuerError> {
        let account = account_id(&bank.id, &format!("card:{card_id}"));
        self.ledger
            .create_account(AccountSpec::new(
                account.clone(),
                format!(
                    "{} {} card {}",
                    bank.short_name,
                    req.product.as_str(),
                    pan.last4()
                ),
                bank.currency,
                AccountFlags::DebitsMustNotExceedCredits,
            ))
            .await?;
        if req.amount_minor > 0 {
            let from = match req.product {
                Product::Debit => "deposits",
                Product::Credit => "credit-lines",
            };
            self.ledger
                .transfer(
                    Transfer::single(
                        format!("issuer:open:{card_id}"),
                        account_id(&bank.id, from),
                        account.clone(),
                        Money::new(req.amount_minor, bank.currency),
                    )
                    .with_reference(format!("{} opening", req.product.as_str())),
                )
                .await?;
        }
        Ok(account)
    }

    /// A card by vault id.
    pub async fn card(&self, card_id: &str) -> Result<CardInfo, IssuerError> {
        let row = sqlx::query(card_select!("WHERE card_id = $1"))
            .bind(card_id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or(IssuerError::UnknownCard)?;
        card_from_row(&row)
    }

    /// The card with this number, if a configured bank issued it.
    pub async fn find_card(&self, pan: &Pan) -> Result<Option<CardInfo>, IssuerError> {
        if self.config.bank_for_card(pan.expose()).is_none() {
            return Ok(None);
        }
        let Some(id) = self.card_id_of(pan).await? else {
            return Ok(None);
        };
        match self.card(&id).await {
            Ok(c) => Ok(Some(c)),
            Err(IssuerError::UnknownCard) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The vault id of a card number, through an in-memory cache of the
    /// (immutable) fingerprint → id mapping.
    pub(crate) async fn card_id_of(&self, pan: &Pan) -> Result<Option<String>, IssuerError> {
        let fp = self.vault.fingerprint(pan);
        let cached = paytap_types::sync::lock(&self.card_ids, "issuer card ids")
            .get(&fp)
            .cloned();
        if let Some(id) = cached {
            return Ok(Some(id));
        }
        let found = self.vault.find(pan).await?;
        if let Some(id) = &found {
            paytap_types::sync::lock(&self.card_ids, "issuer card ids").insert(fp, id.clone());
        }
        Ok(found)
    }

    /// A card row through the cache (authorization path).
    pub(crate) async fn cached_card(&self, card_id: &str) -> Result<Option<CardInfo>, IssuerError> {
        if let Some(c) = self.cards.get(card_id) {
            return Ok(Some(c));
        }
        let epoch = self.cards.epoch();
        match self.card(card_id).await {
            Ok(c) => {
                self.cards.insert_if(epoch, card_id, c.clone());
                Ok(Some(c))
            }
            Err(IssuerError::UnknownCard) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Changes a card's status (block, report lost or stolen, reactivate).
    pub async fn set_card_status(
        &self,
        card_id: &str,
        status: CardStatus,
    ) -> Result<(), IssuerError> {
        let res = sqlx::query("UPDATE issuer_cards SET status = $1 WHERE card_id = $2")
            .bind(status.as_str())
            .bind(card_id)
            .execute(self.db.pool())
            .await?;
        self.cards.invalidate(card_id);
        if res.rows_affected() == 0 {
            return Err(IssuerError::UnknownCard);
        }
        tracing::info!(card_id, status = status.as_str(), "card status changed");
        Ok(())
    }

    /// Changes a card's limits.
    pub async fn set_card_limits(&self, card_id: &str, limits: Limits) -> Result<(), IssuerError> {
        limits.check().map_err(IssuerError::Invalid)?;
        let res = sqlx::query(
            "UPDATE issuer_cards SET single_limit = $1, daily_limit = $2, velocity_count = $3, \
             velocity_window_secs = $4, no_cvm_limit = $5 WHERE card_id = $6",
        )
        .bind(limits.single_transaction)
        .bind(limits.daily)
        .bind(i64::from(limits.velocity_count))
        .bind(i64::from(limits.velocity_window_secs))
        .bind(limits.no_cvm_limit)
        .bind(card_id)
        .execute(self.db.pool())
        .await?;
        self.cards.invalidate(card_id);
        if res.rows_affected() == 0 {
            return Err(IssuerError::UnknownCard);
        }
        Ok(())
    }

    /// What the card can still spend (balance or remaining credit, holds deducted).
    pub async fn available(&self, card_id: &str) -> Result<Money, IssuerError> {
        let card = self.card(card_id).await?;
        let bank = self.bank(&card.bank_id)?;
        let b = self.ledger.balance(&card.account_id).await?;
        Ok(Money::new(b.available_to_debit(), bank.currency))
    }
}

macro_rules! card_select {
    ($tail:literal) => {
        concat!(
            "SELECT card_id, bank_id, product, account_id, last4, expiry, psn, status, single_limit, \
             daily_limit, velocity_count, velocity_window_secs, no_cvm_limit, phone_masked, last_atc \
             FROM issuer_cards ",
            $tail
        )
    };
}
pub(crate) use card_select;

pub(crate) fn card_from_row(row: &sqlx::any::AnyRow) -> Result<CardInfo, IssuerError> {
    let s = |c: &str| row.try_get::<String, _>(c).map_err(IssuerError::from);
    let i = |c: &str| row.try_get::<i64, _>(c).map_err(IssuerError::from);
    let bad = |w: &str| IssuerError::Corrupt(w.to_owned());
    let last_atc = i("last_atc")?;
    Ok(CardInfo {
        card_id: s("card_id")?,
        bank_id: s("bank_id")?,
        product: s("product")?.parse().map_err(|_| bad("product"))?,
        account_id: s("account_id")?,
        last4: s("last4")?,
        expiry_yymm: Expiry::parse(&s("expiry")?).map_err(|_| bad("expiry"))?,
        psn: u8::try_from(i("psn")?).map_err(|_| bad("psn"))?,
        status: s("status")?.parse().map_err(|_| bad("status"))?,
        limits: Limits {
            single_transaction: i("single_limit")?,
            daily: i("daily_limit")?,
            velocity_count: u32::try_from(i("velocity_count")?).map_err(|_| bad("velocity"))?,
            velocity_window_secs: u32::try_from(i("velocity_window_secs")?)
                .map_err(|_| bad("window"))?,
            no_cvm_limit: i("no_cvm_limit")?,
        },
        phone_masked: s("phone_masked")?,
        last_atc: if last_atc < 0 {
            None
        } else {
            Some(u16::try_from(last_atc).map_err(|_| bad("atc"))?)
        },
    })
}

/// A random Luhn-valid number of `len` digits starting with `prefix`.
pub(crate) fn random_pan(prefix: &str, len: usize) -> Option<Pan> {
    if prefix.len() + 2 > len || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut rng = rand::rng();
    let mut body = Zeroizing::new(String::with_capacity(len));
    body.push_str(prefix);
    while body.len() < len - 1 {
        body.push(char::from(b'0' + rng.random_range(0..10u8)));
    }
    let check = luhn_check_digit(&body)?;
    body.push(check);
    Pan::parse(&body).ok()
}

/// A plausible, already-masked phone number for OTP delivery.
fn masked_phone(country: &str) -> String {
    let mut rng = rand::rng();
    let last4: u16 = rng.random_range(0..10000);
    match country {
        "IN" => format!("+91 98******{last4:04}"),
        _ => format!("+86 138****{last4:04}"),
    }
}
