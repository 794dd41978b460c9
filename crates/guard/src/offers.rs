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
use std::collections::BTreeSet;
use std::sync::Mutex;

use crate::GuardError;

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
    db: Db,
    ledger: Ledger,
    /// Group commit of the hot path's writes (a redemption, its capture,
    /// release or refund): concurrent payments share one durable commit.
    writer: Batcher,
    engine: Mutex<OfferEngine>,
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

/// A failed group commit as a guard error: the budget's `CHECK` is
/// [`GuardError::BudgetExhausted`] (another process spent it).
fn write_error(message: String, offers: &[RedeemedOffer]) -> GuardError {
    if message.contains(BUDGET_CHECK) {
        let names: Vec<&str> = offers.iter().map(|o| o.offer.as_str()).collect();
        return GuardError::BudgetExhausted(names.join(","));
    }
    GuardError::Write(message)
}

/// Every budget statement of a job touched its offer's row (they are
/// created at open, before any payment): a missing one is our bug.
fn check_budget_rows(counts: &[u64], budget_from: usize) {
    assert!(
        counts.len() >= budget_from && counts[budget_from..].iter().all(|&n| n == 1),
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
        create_accounts(&db, &ledger, &engine).await?;
        replay(&db, &mut engine).await?;
        Ok(OffersService {
            writer: Batcher::start(db.clone()),
            db,
            ledger,
            engine: Mutex::new(engine),
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
        let budget_from = job.len();
        job.extend(
            r.offers
                .iter()
                .map(|o| budget_stmt(RESERVE, o.amount.minor, &o.offer)),
        );
        let counts = self
            .writer
            .commit(job)
            .await
            .map_err(|m| write_error(m, &r.offers))?;
        check_budget_rows(&counts, budget_from);
        Ok(())
    }

    /// The payment was approved and captured: the reserved benefits are
    /// spent and the funders pay on the ledger (a discount to the
    /// merchants' account, a cashback to the account holders'). Capturing
    /// again, or a payment without offers, changes nothing.
    pub async fn capture(&self, payment_id: &str) -> Result<(), GuardError> {
        let moved = lock(&self.engine, "offers engine").capture(payment_id);
        let Some(spent) = what_moved(moved, |s| s.spent)? else {
            return Ok(());
        };
        self.post(payment_id, &spent, "spend", false).await?;
        self.move_state(payment_id, &spent, PaymentState::Captured, SPEND)
            .await
    }

    /// Declined or reversed before capture: the reservations return. Nothing
    /// was posted on the ledger yet, so nothing moves there.
    pub async fn release(&self, payment_id: &str) -> Result<(), GuardError> {
        let moved = lock(&self.engine, "offers engine").release(payment_id);
        let Some(returned) = what_moved(moved, |r| r.returned)? else {
            return Ok(());
        };
        self.move_state(payment_id, &returned, PaymentState::Released, UNRESERVE)
            .await
    }

    /// Refunded after capture: each discount returns to its budget and its
    /// funder, each cashback is clawed back to its funder.
    pub async fn refund(&self, payment_id: &str) -> Result<(), GuardError> {
        let moved = lock(&self.engine, "offers engine").refund(payment_id);
        let Some(returned) = what_moved(moved, |r| r.returned)? else {
            return Ok(());
        };
        self.post(payment_id, &returned, "return", true).await?;
        self.move_state(payment_id, &returned, PaymentState::Refunded, UNSPEND)
            .await
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

    /// The payment's state and its budgets' rows, one group-commit job.
    async fn move_state(
        &self,
        payment_id: &str,
        lines: &[Applied],
        to: PaymentState,
        budget_sql: &'static str,
    ) -> Result<(), GuardError> {
        let mut job = Vec::with_capacity(1 + lines.len());
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
        let counts = self.writer.commit(job).await.map_err(GuardError::Write)?;
        check_budget_rows(&counts, 1);
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

    /// Pauses or resumes an offer (the operator's switch): the next payment
    /// does not get a paused offer.
    pub fn set_paused(&self, offer: &str, paused: bool) -> Result<(), GuardError> {
        lock(&self.engine, "offers engine").set_paused(offer, paused)?;
        tracing::info!(offer, paused, "offer paused or resumed");
        Ok(())
    }
}

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
    let mut accounts = BTreeSet::new();
    for (offer, budget) in engine.offers() {
        sqlx::query(
            "INSERT INTO offer_budgets (offer_id, total, reserved, spent) VALUES ($1, $2, 0, 0) \
             ON CONFLICT (offer_id) DO NOTHING",
        )
        .bind(&*offer.id)
        .bind(budget.total)
        .execute(db.pool())
        .await?;
        if let Some(c) = offer.eligibility.currency {
            accounts.insert(funder_account(&offer.funder.ledger_account(), c));
            accounts.insert(platform_account(DISCOUNTS_ACCOUNT, c));
            accounts.insert(platform_account(CASHBACK_ACCOUNT, c));
        }
    }
    for id in accounts {
        let code = id.rsplit(':').next().unwrap_or_default();
        let currency = parse_currency(code)?;
        match ledger
            .create_account(AccountSpec::new(
                id.clone(),
                id.clone(),
                currency,
                AccountFlags::None,
            ))
            .await
        {
            Ok(_) => {}
            Err(LedgerError::AccountConflict(id)) => {
                return Err(GuardError::Corrupt(format!(
                    "ledger account {id} exists with another kind"
                )));
            }
            Err(e) => return Err(e.into()),
        }
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
fn what_moved<T, V>(
    moved: Result<T, OfferError>,
    part: impl FnOnce(T) -> Vec<V>,
) -> Result<Option<Vec<V>>, GuardError> {
    match moved {
        Ok(m) => Ok(Some(part(m)).filter(|v| !v.is_empty())),
        Err(OfferError::UnknownPayment(_) | OfferError::WrongState { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
