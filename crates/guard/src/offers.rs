//! The durable offers service: every payment's redemption, the budgets and
//! the funders' movements on the ledger.
//!
//! The sans-IO [`OfferEngine`] decides in memory, under one lock held only
//! for that (never across a database call), so two payments never both
//! take the last of a budget. The redemption and the budget's row are then
//! written as one job of the store's group commit
//! ([`paytap_store::batch`]): concurrent payments share one durable commit,
//! and the job commits whole or not at all. The budget row's `CHECK`
//! (`reserved + spent <= total`, see `schema.rs`) makes the database refuse
//! an overspend even from another process: that job alone fails and the
//! engine's reservation returns. Capture, release and refund move the rows
//! the same way. At start the engine is rebuilt by replaying the stored
//! payments in their order.
//!
//! The ledger: each funder has an account per currency
//! (`offers:bank:<id>:<CUR>`, see [`funder_account`]). At capture an instant
//! discount moves from the funder to [`DISCOUNTS_ACCOUNT`] (what is owed to
//! merchants for the part of the price the account holder did not pay), and
//! a cashback from the funder to [`CASHBACK_ACCOUNT`] (owed to account
//! holders); a refund moves both back. Every transfer's id is derived from
//! the payment, offer and step, so a retry posts nothing twice.

use paytap_ledger::{AccountFlags, AccountSpec, Ledger, LedgerError, Transfer};
use paytap_offers::{Applied, BenefitKind, OfferEngine, OfferError, OffersFile, PaymentState};
use paytap_store::Db;
use paytap_store::batch::{Arg, Batcher, Stmt};
use paytap_types::sync::lock;
use paytap_types::{Currency, Money, PaymentFacts};
use std::sync::Mutex;

use crate::{GuardError, settings};

/// The platform's account of discounts owed to merchants, per currency.
pub const DISCOUNTS_ACCOUNT: &str = "offers:discounts";
/// The platform's account of cashback owed to account holders, per currency.
pub const CASHBACK_ACCOUNT: &str = "offers:cashback";
/// At most this many payments are listed in one page of a history.
pub const MAX_LISTED: i64 = 200;

/// The ledger account of a funder (`offers:bank:<id>`) in one currency.
pub fn funder_account(funder_ledger_account: &str, currency: Currency) -> String {
    format!("{funder_ledger_account}:{}", currency.code())
}

/// A platform account (`offers:discounts`, `offers:cashback`) in one currency.
pub fn platform_account(base: &str, currency: Currency) -> String {
    format!("{base}:{}", currency.code())
}

/// One offer redeemed on a payment, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RedeemedOffer {
    /// The offer's id.
    pub offer: String,
    /// The funder's ledger account.
    pub funder_account: String,
    /// `discount` or `cashback`.
    pub kind: String,
    /// How much.
    pub amount: Money,
}

/// A payment's redemption as stored: what it saved and what it earns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Redemption {
    /// The payment.
    pub payment_id: String,
    /// `authorized`, `captured`, `released` or `refunded`.
    pub state: String,
    /// The amount asked.
    pub amount: Money,
    /// What the account holder is charged.
    pub charge: Money,
    /// The instant discounts (`amount - charge`).
    pub discount: Money,
    /// Cashback credited at capture (clawed back on refund).
    pub cashback: Money,
    /// The offers applied.
    pub offers: Vec<RedeemedOffer>,
}

impl Redemption {
    /// A payment that got no offer: charged its whole amount.
    pub fn none(facts: &PaymentFacts) -> Redemption {
        let zero = Money::new(0, facts.amount.currency);
        Redemption {
            payment_id: facts.payment_id.clone(),
            state: "none".into(),
            amount: facts.amount,
            charge: facts.amount,
            discount: zero,
            cashback: zero,
            offers: Vec::new(),
        }
    }
}

/// The offers engine with its redemptions and budgets in the database and
/// its funders on the ledger.
pub struct OffersService {
    pub(crate) db: Db,
    pub(crate) ledger: Ledger,
    /// Group commit of the hot path's writes (a redemption, its capture,
    /// release or refund): concurrent payments share one durable commit.
    pub(crate) writer: Batcher,
    pub(crate) engine: Mutex<OfferEngine>,
    /// Operators' edits, one at a time (each is checked, written to the
    /// database, then made in the engine).
    edits: tokio::sync::Mutex<()>,
}

/// Written out: the writer handle has no `Debug` of its own.
impl std::fmt::Debug for OffersService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffersService")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// The name of the budget row's `CHECK` (see `schema.rs`): a write that
/// fails on it would have overspent the budget.
const BUDGET_CHECK: &str = "offer_budget_not_overspent";

/// Stores a payment that got at least one offer.
const INSERT_PAYMENT: &str = "INSERT INTO offer_payments (payment_id, account, at_ms, facts, \
     state, currency, amount, charge, discount, cashback) \
     VALUES ($1, $2, $3, $4, 'authorized', $5, $6, $7, $8, $9)";

/// Stores one offer applied to a payment.
const INSERT_REDEMPTION: &str = "INSERT INTO offer_redemptions (payment_id, offer_id, \
     funder_account, kind, amount, currency) VALUES ($1, $2, $3, $4, $5, $6)";

/// Reserves part of a budget; the table's `CHECK` refuses an overspend.
const RESERVE: &str = "UPDATE offer_budgets SET reserved = reserved + $1 WHERE offer_id = $2";

/// Moves a stored payment to its next state.
const SET_STATE: &str = "UPDATE offer_payments SET state = $1 WHERE payment_id = $2";

/// A captured payment's reservation is spent.
const SPEND: &str =
    "UPDATE offer_budgets SET reserved = reserved - $1, spent = spent + $1 WHERE offer_id = $2";

/// A released payment's reservation returns.
const UNRESERVE: &str = "UPDATE offer_budgets SET reserved = reserved - $1 WHERE offer_id = $2";

/// A refunded payment's spend returns.
const UNSPEND: &str = "UPDATE offer_budgets SET spent = spent - $1 WHERE offer_id = $2";

/// The budget statement of one offer line: `sql` with the amount and offer.
fn budget_stmt(sql: &'static str, amount: i64, offer: &str) -> Stmt {
    Stmt {
        sql,
        args: vec![Arg::I64(amount), Arg::Text(offer.to_owned())],
    }
}

/// The payment's state and its budgets' rows: the start of a job.
fn state_job(
    payment_id: &str,
    lines: &[Applied],
    to: PaymentState,
    budget_sql: &'static str,
) -> Vec<Stmt> {
    let mut job = Vec::with_capacity(2 + lines.len());
    job.push(Stmt {
        sql: SET_STATE,
        args: vec![
            Arg::Text(state_name(to).to_owned()),
            Arg::Text(payment_id.to_owned()),
        ],
    });
    job.extend(
        lines
            .iter()
            .map(|a| budget_stmt(budget_sql, a.amount.minor, &a.offer)),
    );
    job
}

/// Whether a statement moves a budget's row.
fn is_budget(s: &Stmt) -> bool {
    [RESERVE, SPEND, UNRESERVE, UNSPEND].contains(&s.sql)
}

/// A failed group commit as a guard error: the budget's `CHECK` is
/// [`GuardError::BudgetExhausted`] (another process spent it).
fn write_error(message: String, offers: &[RedeemedOffer]) -> GuardError {
    if message.contains(BUDGET_CHECK) {
        let names: Vec<&str> = offers.iter().map(|o| o.offer.as_str()).collect();
        return GuardError::BudgetExhausted(names.join(","));
    }
    GuardError::Write(message)
}

/// Where a job's budget statements stand in it.
fn budget_positions(job: &[Stmt]) -> Vec<usize> {
    (0..job.len()).filter(|&i| is_budget(&job[i])).collect()
}

/// Every budget statement of a job touched its offer's row (they are
/// created at open, before any payment): a missing one is our bug.
fn check_budget_rows(counts: &[u64], positions: &[usize]) {
    assert!(
        positions.iter().all(|&i| counts.get(i) == Some(&1)),
        "an offer's budget row is missing: {counts:?}"
    );
}

fn kind_name(k: BenefitKind) -> &'static str {
    match k {
        BenefitKind::Discount => "discount",
        BenefitKind::Cashback => "cashback",
    }
}

fn state_name(s: PaymentState) -> &'static str {
    match s {
        PaymentState::Authorized => "authorized",
        PaymentState::Captured => "captured",
        PaymentState::Released => "released",
        PaymentState::Refunded => "refunded",
    }
}

fn sum(applied: &[Applied], kind: BenefitKind) -> i64 {
    applied
        .iter()
        .filter(|a| a.kind == kind)
        .map(|a| a.amount.minor)
        .sum()
}

impl OffersService {
    /// Opens the service on `db` (migrated by the caller with
    /// [`crate::MIGRATIONS`]): the offers' budgets and the funders' ledger
    /// accounts are created if missing, and the stored payments replayed.
    pub async fn open(
        db: Db,
        ledger: Ledger,
        file: OffersFile,
    ) -> Result<OffersService, GuardError> {
        let mut engine = OfferEngine::new(file);
        apply_offer_settings(&db, &mut engine).await?;
        create_accounts(&db, &ledger, &engine).await?;
        replay_unpaused(&db, &mut engine).await?;
        apply_pause_settings(&db, &mut engine).await?;
        crate::points::restore(&db, &ledger, &mut engine).await?;
        Ok(OffersService {
            writer: Batcher::start(db.clone()),
            db,
            ledger,
            engine: Mutex::new(engine),
            edits: tokio::sync::Mutex::new(()),
        })
    }

    /// Applies the offers a payment is eligible for and stores the
    /// redemption; the same `payment_id` again gets the stored one.
    pub async fn authorize(&self, facts: &PaymentFacts) -> Result<Redemption, GuardError> {
        let authorized = lock(&self.engine, "offers engine").authorize(facts);
        let quote = match authorized {
            Ok(q) => q,
            Err(OfferError::Replayed(_)) => {
                return Ok(self
                    .redemption(&facts.payment_id)
                    .await?
                    .unwrap_or_else(|| Redemption::none(facts)));
            }
            Err(e) => return Err(e.into()),
        };
        let currency = quote.amount.currency;
        let redemption = Redemption {
            payment_id: quote.payment_id.clone(),
            state: state_name(PaymentState::Authorized).into(),
            amount: quote.amount,
            charge: quote.charge,
            discount: Money::new(sum(&quote.applied, BenefitKind::Discount), currency),
            cashback: Money::new(sum(&quote.applied, BenefitKind::Cashback), currency),
            offers: quote
                .applied
                .iter()
                .map(|a| RedeemedOffer {
                    offer: a.offer.to_string(),
                    funder_account: funder_account(&a.funder.ledger_account(), currency),
                    kind: kind_name(a.kind).into(),
                    amount: a.amount,
                })
                .collect(),
        };
        if redemption.offers.is_empty() {
            // Nothing reserved, nothing to store: the hot path writes only
            // for payments that got an offer.
            return Ok(redemption);
        }
        if let Err(e) = self.store_authorized(facts, &redemption).await {
            // Nothing was written: what the engine reserved returns.
            tracing::error!(payment = %facts.payment_id, error = %e, "redemption not stored; offers released");
            if let Err(undo) = lock(&self.engine, "offers engine").release(&facts.payment_id) {
                tracing::error!(payment = %facts.payment_id, error = %undo, "offers engine could not release");
            }
            return Err(e);
        }
        Ok(redemption)
    }

    async fn store_authorized(
        &self,
        facts: &PaymentFacts,
        r: &Redemption,
    ) -> Result<(), GuardError> {
        let mut job = Vec::with_capacity(1 + 2 * r.offers.len());
        job.push(Stmt {
            sql: INSERT_PAYMENT,
            args: vec![
                Arg::Text(facts.payment_id.clone()),
                Arg::OptText(facts.account_id.clone()),
                Arg::I64(facts.at_ms),
                Arg::Text(serde_json::to_string(facts)?),
                Arg::Text(r.amount.currency.code().to_owned()),
                Arg::I64(r.amount.minor),
                Arg::I64(r.charge.minor),
                Arg::I64(r.discount.minor),
                Arg::I64(r.cashback.minor),
            ],
        });
        for o in &r.offers {
            job.push(Stmt {
                sql: INSERT_REDEMPTION,
                args: vec![
                    Arg::Text(r.payment_id.clone()),
                    Arg::Text(o.offer.clone()),
                    Arg::Text(o.funder_account.clone()),
                    Arg::Text(o.kind.clone()),
                    Arg::I64(o.amount.minor),
                    Arg::Text(o.amount.currency.code().to_owned()),
                ],
            });
        }
        job.extend(
            r.offers
                .iter()
                .map(|o| budget_stmt(RESERVE, o.amount.minor, &o.offer)),
        );
        let budgets = budget_positions(&job);
        let counts = self
            .writer
            .commit(job)
            .await
            .map_err(|m| write_error(m, &r.offers))?;
        check_budget_rows(&counts, &budgets);
        Ok(())
    }

    /// The payment was approved and captured: the reserved benefits are
    /// spent and the funders pay on the ledger (a discount to the
    /// merchants' account, a cashback to the account holders'). Capturing
    /// again, or a payment without offers, changes nothing. The ledger
    /// posts first, then the payment's state, its budgets and its points
    /// commit as one job: a stored `captured` means the funders paid.
    pub async fn capture(&self, payment_id: &str) -> Result<(), GuardError> {
        let moved = lock(&self.engine, "offers engine").capture(payment_id);
        let Some(settled) = what_moved(moved, Some)? else {
            return Ok(());
        };
        let mut job = Vec::new();
        if !settled.spent.is_empty() {
            self.post(payment_id, &settled.spent, "spend", false)
                .await?;
            job = state_job(payment_id, &settled.spent, PaymentState::Captured, SPEND);
        }
        let points = i64::try_from(settled.points).unwrap_or(i64::MAX);
        job.extend(crate::points::payment_entry(
            payment_id,
            settled.account.as_deref(),
            points,
        ));
        self.commit_state(job).await
    }

    /// Declined or reversed before capture: the reservations return. Nothing
    /// was posted on the ledger yet, so nothing moves there.
    pub async fn release(&self, payment_id: &str) -> Result<(), GuardError> {
        let moved = lock(&self.engine, "offers engine").release(payment_id);
        let Some(returned) = what_moved(moved, |r| Some(r.returned))? else {
            return Ok(());
        };
        let job = state_job(payment_id, &returned, PaymentState::Released, UNRESERVE);
        self.commit_state(job).await
    }

    /// Refunded after capture: each discount returns to its budget and its
    /// funder, each cashback is clawed back to its funder; the state, the
    /// budgets and the points taken back commit as one job after the
    /// ledger's returns.
    pub async fn refund(&self, payment_id: &str) -> Result<(), GuardError> {
        let moved = lock(&self.engine, "offers engine").refund(payment_id);
        let Some(returned) = what_moved(moved, Some)? else {
            return Ok(());
        };
        let mut job = Vec::new();
        if !returned.returned.is_empty() {
            self.post(payment_id, &returned.returned, "return", true)
                .await?;
            job = state_job(
                payment_id,
                &returned.returned,
                PaymentState::Refunded,
                UNSPEND,
            );
        }
        let points = i64::try_from(returned.points).unwrap_or(i64::MAX);
        job.extend(crate::points::payment_entry(
            payment_id,
            returned.account.as_deref(),
            -points,
        ));
        self.commit_state(job).await
    }

    /// The ledger transfers of one step: from each funder (or back to it
    /// when `back`), under ids a retry reuses.
    async fn post(
        &self,
        payment_id: &str,
        lines: &[Applied],
        step: &str,
        back: bool,
    ) -> Result<(), GuardError> {
        for a in lines {
            let funder = funder_account(&a.funder.ledger_account(), a.amount.currency);
            let base = match a.kind {
                BenefitKind::Discount => DISCOUNTS_ACCOUNT,
                BenefitKind::Cashback => CASHBACK_ACCOUNT,
            };
            let other = platform_account(base, a.amount.currency);
            let (debit, credit) = if back {
                (other, funder)
            } else {
                (funder, other)
            };
            let id = format!("offers:{payment_id}:{}:{step}", a.offer);
            self.ledger
                .transfer(Transfer::single(id, debit, credit, a.amount).with_reference(payment_id))
                .await?;
        }
        Ok(())
    }

    /// Commits a capture's, release's or refund's job. Every budget
    /// statement in it must have touched its offer's row.
    async fn commit_state(&self, job: Vec<Stmt>) -> Result<(), GuardError> {
        if job.is_empty() {
            return Ok(());
        }
        let budgets = budget_positions(&job);
        let counts = self.writer.commit(job).await.map_err(GuardError::Write)?;
        check_budget_rows(&counts, &budgets);
        Ok(())
    }

    /// One payment's redemption as stored.
    pub async fn redemption(&self, payment_id: &str) -> Result<Option<Redemption>, GuardError> {
        let row: Option<PaymentRow> = sqlx::query_as(PAYMENT_SELECT_ONE)
            .bind(payment_id)
            .fetch_optional(self.db.pool())
            .await?;
        match row {
            Some(row) => Ok(Some(self.with_offers(row).await?)),
            None => Ok(None),
        }
    }

    /// An account's newest redemptions (at most [`MAX_LISTED`]): what each
    /// payment saved or earned. Only its own.
    pub async fn redemptions_of(&self, account: &str) -> Result<Vec<Redemption>, GuardError> {
        let rows: Vec<PaymentRow> = sqlx::query_as(PAYMENT_SELECT_ACCOUNT)
            .bind(account)
            .bind(MAX_LISTED)
            .fetch_all(self.db.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.with_offers(row).await?);
        }
        Ok(out)
    }

    async fn with_offers(&self, row: PaymentRow) -> Result<Redemption, GuardError> {
        let (payment_id, state, currency, amount, charge, discount, cashback) = row;
        let currency = parse_currency(&currency)?;
        let lines: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT offer_id, funder_account, kind, amount FROM offer_redemptions \
             WHERE payment_id = $1 ORDER BY offer_id",
        )
        .bind(payment_id.as_str())
        .fetch_all(self.db.pool())
        .await?;
        Ok(Redemption {
            payment_id,
            state,
            amount: Money::new(amount, currency),
            charge: Money::new(charge, currency),
            discount: Money::new(discount, currency),
            cashback: Money::new(cashback, currency),
            offers: lines
                .into_iter()
                .map(|(offer, funder_account, kind, minor)| RedeemedOffer {
                    offer,
                    funder_account,
                    kind,
                    amount: Money::new(minor, currency),
                })
                .collect(),
        })
    }

    /// An offer's budget as stored: `(total, reserved, spent)`.
    pub async fn budget(&self, offer: &str) -> Result<Option<(i64, i64, i64)>, GuardError> {
        Ok(
            sqlx::query_as("SELECT total, reserved, spent FROM offer_budgets WHERE offer_id = $1")
                .bind(offer)
                .fetch_optional(self.db.pool())
                .await?,
        )
    }

    /// Pauses or resumes an offer (the operator's switch), at once and
    /// after a restart: the next payment does not get a paused offer
    /// (payments authorized before keep it).
    pub async fn set_paused(&self, offer: &str, paused: bool) -> Result<(), GuardError> {
        let _edit = self.edits.lock().await;
        if lock(&self.engine, "offers engine").budget(offer).is_none() {
            return Err(OfferError::UnknownOffer(offer.into()).into());
        }
        settings::put(
            &self.db,
            &format!("{}{offer}", settings::PAUSED),
            settings::flag(paused),
        )
        .await?;
        lock(&self.engine, "offers engine").set_paused(offer, paused)?;
        tracing::info!(offer, paused, "offer paused or resumed");
        Ok(())
    }

    /// Adds an offer, or replaces the one with its id, from one offer
    /// written as a TOML table in the offers file's schema (the console's
    /// form): checked as the file is (unknown fields, negative amounts, a
    /// cap below zero, a stacking place taken), then stored, then live.
    /// A replaced offer keeps its budget's reservations and spend.
    pub async fn put_offer(&self, text: &str) -> Result<OfferView, GuardError> {
        let offer = paytap_offers::RawOffer::from_toml(text)
            .and_then(paytap_offers::RawOffer::check)
            .map_err(OfferError::from)?;
        let _edit = self.edits.lock().await;
        lock(&self.engine, "offers engine").check_put(&offer)?;
        create_offer_accounts(&self.db, &self.ledger, &offer).await?;
        sqlx::query("UPDATE offer_budgets SET total = $1 WHERE offer_id = $2")
            .bind(offer.limits.budget)
            .bind(&*offer.id)
            .execute(self.db.pool())
            .await?;
        let id = offer.id.to_string();
        settings::put(&self.db, &format!("{}{id}", settings::OFFER), &offer.source).await?;
        let paused = settings::flag(offer.paused);
        settings::put(&self.db, &format!("{}{id}", settings::PAUSED), paused).await?;
        let mut engine = lock(&self.engine, "offers engine");
        engine.put_offer(offer)?;
        tracing::info!(offer = %id, "offer written in the console");
        engine
            .offers()
            .find(|(o, _)| *o.id == *id)
            .map(|(o, b)| OfferView::of(o, b))
            .ok_or_else(|| GuardError::Corrupt(format!("offer {id} vanished")))
    }

    /// Every offer with its budget, in stacking order.
    pub fn offers_view(&self) -> Vec<OfferView> {
        lock(&self.engine, "offers engine")
            .offers()
            .map(|(o, b)| OfferView::of(o, b))
            .collect()
    }

    /// An offer's newest redemptions (at most [`MAX_LISTED`]).
    pub async fn redemptions_of_offer(
        &self,
        offer: &str,
    ) -> Result<Vec<OfferRedemption>, GuardError> {
        let rows: Vec<OfferRedemptionRow> = sqlx::query_as(
            "SELECT p.payment_id, p.account, p.at_ms, p.state, r.kind, r.amount, r.currency \
                 FROM offer_redemptions r JOIN offer_payments p ON p.payment_id = r.payment_id \
                 WHERE r.offer_id = $1 ORDER BY p.at_ms DESC, p.payment_id DESC LIMIT $2",
        )
        .bind(offer)
        .bind(MAX_LISTED)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter()
            .map(|(payment_id, account, at_ms, state, kind, minor, code)| {
                Ok(OfferRedemption {
                    payment_id,
                    account,
                    at_ms,
                    state,
                    kind,
                    amount: Money::new(minor, parse_currency(&code)?),
                })
            })
            .collect()
    }
}

/// One offer as the operator's console shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OfferView {
    /// Its id.
    pub id: String,
    /// What account holders see.
    pub title: String,
    /// The funder's ledger account name (`offers:bank:01020000`).
    pub funder: String,
    /// Its place in the stacking order.
    pub order: u32,
    /// `discount` or `cashback`.
    pub kind: &'static str,
    /// How much, in a line (`10.00 CNY`, `5% up to 20.00 CNY`).
    pub benefit: String,
    /// Whether an operator paused it.
    pub paused: bool,
    /// Its currency.
    pub currency: String,
    /// The budget, minor units.
    pub total_minor: i64,
    /// Held for payments authorized and not yet captured.
    pub reserved_minor: i64,
    /// Paid out, net of refunds.
    pub spent_minor: i64,
    /// What can still be reserved.
    pub left_minor: i64,
    /// The offer as TOML, to edit.
    pub source: String,
}

impl OfferView {
    fn of(o: &paytap_offers::Offer, b: &paytap_offers::Budget) -> OfferView {
        let currency = o.eligibility.currency.unwrap_or(Currency::CNY);
        let benefit = match o.amount {
            paytap_offers::Amount::Fixed(v) => Money::new(v, currency).to_string(),
            paytap_offers::Amount::Percent { bp, cap } => format!(
                "{}.{:02}% up to {}",
                bp / 100,
                bp % 100,
                Money::new(cap, currency)
            ),
        };
        OfferView {
            id: o.id.to_string(),
            title: o.title.clone(),
            funder: o.funder.ledger_account(),
            order: o.order,
            kind: kind_name(o.kind),
            benefit,
            paused: o.paused,
            currency: currency.code().to_owned(),
            total_minor: b.total,
            reserved_minor: b.reserved,
            spent_minor: b.spent,
            left_minor: b.left(),
            source: o.source.clone(),
        }
    }
}

/// One payment that got an offer, for the operator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OfferRedemption {
    /// The payment.
    pub payment_id: String,
    /// The wallet account, if any.
    pub account: Option<String>,
    /// When it was authorized (Unix ms).
    pub at_ms: i64,
    /// `authorized`, `captured`, `released` or `refunded`.
    pub state: String,
    /// `discount` or `cashback`.
    pub kind: String,
    /// What the offer gave.
    pub amount: Money,
}

/// A row of an offer's redemptions: payment, account, time, state, kind,
/// amount and currency.
type OfferRedemptionRow = (String, Option<String>, i64, String, String, i64, String);

type PaymentRow = (String, String, String, i64, i64, i64, i64);

const PAYMENT_SELECT_ONE: &str = "SELECT payment_id, state, currency, amount, charge, discount, \
     cashback FROM offer_payments WHERE payment_id = $1";

const PAYMENT_SELECT_ACCOUNT: &str = "SELECT payment_id, state, currency, amount, charge, \
     discount, cashback FROM offer_payments WHERE account = $1 \
     ORDER BY at_ms DESC, payment_id DESC LIMIT $2";

fn parse_currency(code: &str) -> Result<Currency, GuardError> {
    Currency::from_code(code).map_err(|_| GuardError::Corrupt(format!("currency {code:?}")))
}

/// Each offer's budget row, and the ledger accounts of its funder and of
/// the platform in its currency.
async fn create_accounts(db: &Db, ledger: &Ledger, engine: &OfferEngine) -> Result<(), GuardError> {
    for (offer, _) in engine.offers() {
        create_offer_accounts(db, ledger, offer).await?;
    }
    Ok(())
}

/// One offer's budget row (its total as the offer says, when new), and
/// the ledger accounts of its funder and of the platform in its currency.
async fn create_offer_accounts(
    db: &Db,
    ledger: &Ledger,
    offer: &paytap_offers::Offer,
) -> Result<(), GuardError> {
    sqlx::query(
        "INSERT INTO offer_budgets (offer_id, total, reserved, spent) VALUES ($1, $2, 0, 0) \
         ON CONFLICT (offer_id) DO NOTHING",
    )
    .bind(&*offer.id)
    .bind(offer.limits.budget)
    .execute(db.pool())
    .await?;
    let Some(c) = offer.eligibility.currency else {
        return Ok(());
    };
    let accounts = [
        funder_account(&offer.funder.ledger_account(), c),
        platform_account(DISCOUNTS_ACCOUNT, c),
        platform_account(CASHBACK_ACCOUNT, c),
    ];
    for id in accounts {
        ensure_account(ledger, id, c).await?;
    }
    Ok(())
}

/// A platform or funder account on the ledger, created unless it exists
/// (one that exists with another kind is corrupt data).
pub(crate) async fn ensure_account(
    ledger: &Ledger,
    id: String,
    currency: Currency,
) -> Result<(), GuardError> {
    let spec = AccountSpec::new(id.clone(), id, currency, AccountFlags::None);
    match ledger.create_account(spec).await {
        Ok(_) => Ok(()),
        Err(LedgerError::AccountConflict(id)) => Err(GuardError::Corrupt(format!(
            "ledger account {id} exists with another kind"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// The offers operators wrote in the console, over the file's. One that
/// no longer fits (its stacking place taken by a changed file) is logged
/// and left out.
async fn apply_offer_settings(db: &Db, engine: &mut OfferEngine) -> Result<(), GuardError> {
    for (id, text) in settings::under(db, settings::OFFER).await? {
        let put = paytap_offers::RawOffer::from_toml(&text)
            .map_err(OfferError::from)
            .and_then(|raw| engine.put(raw));
        if let Err(e) = put {
            tracing::error!(offer = %id, error = %e, "an offer written in the console no longer fits; left out");
        }
    }
    Ok(())
}

/// The pauses operators set in the console, over the offers'.
async fn apply_pause_settings(db: &Db, engine: &mut OfferEngine) -> Result<(), GuardError> {
    for (id, flag) in settings::under(db, settings::PAUSED).await? {
        if let Err(e) = engine.set_paused(&id, flag == "1") {
            tracing::warn!(offer = %id, error = %e, "a pause set in the console names no offer now");
        }
    }
    Ok(())
}

/// [`replay`] with every offer live: a pause stops the payments after it,
/// never the ones it followed.
async fn replay_unpaused(db: &Db, engine: &mut OfferEngine) -> Result<(), GuardError> {
    let paused: Vec<String> = engine
        .offers()
        .filter(|(o, _)| o.paused)
        .map(|(o, _)| o.id.to_string())
        .collect();
    for id in &paused {
        engine.set_paused(id, false)?;
    }
    replay(db, engine).await?;
    for id in &paused {
        engine.set_paused(id, true)?;
    }
    Ok(())
}

/// Rebuilds the engine's reservations, usage counts and budgets from the
/// stored payments, in the order they were authorized.
async fn replay(db: &Db, engine: &mut OfferEngine) -> Result<(), GuardError> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT facts, state FROM offer_payments ORDER BY at_ms, payment_id")
            .fetch_all(db.pool())
            .await?;
    for (facts, state) in &rows {
        let facts: PaymentFacts = serde_json::from_str(facts)?;
        let id = facts.payment_id.as_str();
        engine.authorize(&facts)?;
        match state.as_str() {
            "authorized" => {}
            "captured" => {
                engine.capture(id)?;
            }
            "released" => {
                engine.release(id)?;
            }
            "refunded" => {
                engine.capture(id)?;
                engine.refund(id)?;
            }
            other => {
                return Err(GuardError::Corrupt(format!(
                    "offer payment state {other:?}"
                )));
            }
        }
    }
    for (offer, budget) in engine.offers() {
        let stored: Option<(i64, i64)> =
            sqlx::query_as("SELECT reserved, spent FROM offer_budgets WHERE offer_id = $1")
                .bind(&*offer.id)
                .fetch_optional(db.pool())
                .await?;
        if stored != Some((budget.reserved, budget.spent)) {
            tracing::error!(offer = %offer.id, ?stored, reserved = budget.reserved, spent = budget.spent,
                "an offer's budget replayed differs from its stored row (was the offers file changed?)");
        }
    }
    tracing::info!(replayed = rows.len(), "offer redemptions rebuilt");
    Ok(())
}

/// The non-empty part of what the offers engine moved for a payment, or
/// `None` when there is nothing to do: a payment the offers never saw, one
/// already past this step (a repeat answers like the first), or a move
/// that touched no offer.
fn what_moved<T, V: Moved>(
    moved: Result<T, OfferError>,
    part: impl FnOnce(T) -> Option<V>,
) -> Result<Option<V>, GuardError> {
    match moved {
        Ok(m) => Ok(part(m).filter(|v| !v.is_empty())),
        Err(OfferError::UnknownPayment(_) | OfferError::WrongState { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What a capture, release or refund moved, and whether that is nothing.
trait Moved {
    fn is_empty(&self) -> bool;
}

impl<V> Moved for Vec<V> {
    fn is_empty(&self) -> bool {
        <[V]>::is_empty(self)
    }
}

impl Moved for paytap_offers::Settlement {
    fn is_empty(&self) -> bool {
        self.spent.is_empty() && self.points == 0
    }
}

impl Moved for paytap_offers::Returned {
    fn is_empty(&self) -> bool {
        self.returned.is_empty() && self.points == 0
    }
}
