//! Rewards points, durable: the offers engine's points book (earned on a
//! captured payment by bank and channel, taken back on its refund) kept as
//! a journal, `points_entries`, one entry per payment's earning, per
//! refund's taking back and per redemption. An account's balance is the sum
//! of its entries; the book is rebuilt from the journal at start.
//!
//! A redemption is cashback on the ledger: from the platform's points
//! account (`offers:points:<CUR>`, what the platform pays for the points it
//! gave) to the account holders' cashback account
//! ([`crate::offers::CASHBACK_ACCOUNT`]). Every entry's id is derived from
//! its cause (`earn:<payment>`, `back:<payment>`, `redeem:<account>:<key>`),
//! so a retried capture, refund or redemption moves nothing twice.

use paytap_ledger::{Ledger, Transfer};
use paytap_offers::OfferEngine;
use paytap_store::Db;
use paytap_store::batch::{Arg, Stmt};
use paytap_types::sync::lock;
use paytap_types::{Currency, Money};

use crate::GuardError;
use crate::offers::{CASHBACK_ACCOUNT, OffersService, ensure_account, platform_account};

/// The platform's account that pays for redeemed points, per currency.
pub const POINTS_ACCOUNT: &str = "offers:points";
/// The longest idempotency key of a redemption.
pub const MAX_KEY_LEN: usize = 64;
/// At most this many entries are listed in one page.
pub const MAX_LISTED: i64 = 200;

/// Stores one journal entry once.
const INSERT_ENTRY: &str = "INSERT INTO points_entries (entry_id, account, points, kind, \
     payment_id, currency, amount, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (entry_id) DO NOTHING";

/// A journal row: kind, points, payment, currency, amount, time.
type EntryRow = (
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
);

/// One journal entry, for the account holder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PointsEntry {
    /// `earned`, `taken_back` or `redeemed`.
    pub kind: String,
    /// Points in (positive) or out (negative).
    pub points: i64,
    /// The payment that earned or lost them.
    pub payment_id: Option<String>,
    /// The cashback a redemption paid.
    pub cashback: Option<Money>,
    /// When (Unix ms).
    pub at_ms: i64,
}

/// An account's points.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PointsBalance {
    /// Points held.
    pub points: u64,
    /// The newest entries (at most [`MAX_LISTED`]).
    pub entries: Vec<PointsEntry>,
}

/// The journal entry of the points a payment earned (`points > 0`, at
/// capture) or lost (`points < 0`, on its refund), for the capture's or
/// refund's job. Nothing for no points or no account.
pub(crate) fn payment_entry(payment_id: &str, account: Option<&str>, points: i64) -> Option<Stmt> {
    let account = account?;
    if points == 0 {
        return None;
    }
    let (prefix, kind) = if points > 0 {
        ("earn", "earned")
    } else {
        ("back", "taken_back")
    };
    Some(Stmt {
        sql: INSERT_ENTRY,
        args: vec![
            Arg::Text(format!("{prefix}:{payment_id}")),
            Arg::Text(account.to_owned()),
            Arg::I64(points),
            Arg::Text(kind.to_owned()),
            Arg::OptText(Some(payment_id.to_owned())),
            Arg::OptText(None),
            Arg::OptI64(None),
            Arg::I64(paytap_store::now_millis()),
        ],
    })
}

impl OffersService {
    /// An account's points and its newest entries.
    pub async fn points(&self, account: &str) -> Result<PointsBalance, GuardError> {
        let held = lock(&self.engine, "offers engine")
            .points()
            .balance(account);
        let rows: Vec<EntryRow> = sqlx::query_as(
            "SELECT kind, points, payment_id, currency, amount, at_ms FROM points_entries \
                 WHERE account = $1 ORDER BY at_ms DESC, entry_id DESC LIMIT $2",
        )
        .bind(account)
        .bind(MAX_LISTED)
        .fetch_all(self.db.pool())
        .await?;
        let mut entries = Vec::with_capacity(rows.len());
        for (kind, points, payment_id, currency, amount, at_ms) in rows {
            let cashback = match (currency, amount) {
                (Some(c), Some(a)) => Some(Money::new(a, currency_of(&c)?)),
                _ => None,
            };
            entries.push(PointsEntry {
                kind,
                points,
                payment_id,
                cashback,
                at_ms,
            });
        }
        Ok(PointsBalance {
            points: held,
            entries,
        })
    }

    /// Redeems `points` of `account` as cashback in `currency`, once per
    /// `key` (the same key again answers the first redemption and moves
    /// nothing). The points leave the book, the entry is journaled, then
    /// the platform's points account pays the cashback on the ledger.
    pub async fn redeem_points(
        &self,
        account: &str,
        points: u64,
        currency: Currency,
        key: &str,
    ) -> Result<Money, GuardError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(GuardError::Invalid(format!(
                "a redemption's key is 1 to {MAX_KEY_LEN} bytes"
            )));
        }
        let entry_id = format!("redeem:{account}:{key}");
        if let Some(done) = self.redeemed(&entry_id).await? {
            return Ok(done);
        }
        let cashback = lock(&self.engine, "offers engine")
            .points_mut()
            .redeem(account, points, currency)?;
        let minus = -i64::try_from(points).unwrap_or(i64::MAX);
        let stored = sqlx::query(INSERT_ENTRY)
            .bind(&entry_id)
            .bind(account)
            .bind(minus)
            .bind("redeemed")
            .bind(None::<String>)
            .bind(currency.code())
            .bind(cashback.minor)
            .bind(paytap_store::now_millis())
            .execute(self.db.pool())
            .await;
        let inserted = match stored {
            Ok(r) => r.rows_affected() == 1,
            Err(e) => {
                lock(&self.engine, "offers engine")
                    .points_mut()
                    .undo_redeem(account, points);
                return Err(e.into());
            }
        };
        if !inserted {
            // A concurrent call with the same key stored it first.
            lock(&self.engine, "offers engine")
                .points_mut()
                .undo_redeem(account, points);
            return self
                .redeemed(&entry_id)
                .await?
                .ok_or_else(|| GuardError::Corrupt(format!("{entry_id} vanished")));
        }
        self.pay_cashback(&entry_id, cashback).await?;
        tracing::info!(account, points, cashback = %cashback, "points redeemed");
        Ok(cashback)
    }

    /// The cashback a stored redemption paid, posting it again if it was
    /// not (a retry after the ledger failed: the transfer's id is the
    /// entry's, so it posts once).
    async fn redeemed(&self, entry_id: &str) -> Result<Option<Money>, GuardError> {
        let row: Option<(Option<String>, Option<i64>)> =
            sqlx::query_as("SELECT currency, amount FROM points_entries WHERE entry_id = $1")
                .bind(entry_id)
                .fetch_optional(self.db.pool())
                .await?;
        let Some((Some(code), Some(minor))) = row else {
            return Ok(None);
        };
        let cashback = Money::new(minor, currency_of(&code)?);
        self.pay_cashback(entry_id, cashback).await?;
        Ok(Some(cashback))
    }

    async fn pay_cashback(&self, entry_id: &str, cashback: Money) -> Result<(), GuardError> {
        if cashback.minor == 0 {
            return Ok(());
        }
        let from = platform_account(POINTS_ACCOUNT, cashback.currency);
        let to = platform_account(CASHBACK_ACCOUNT, cashback.currency);
        self.ledger
            .transfer(
                Transfer::single(format!("points:{entry_id}"), from, to, cashback)
                    .with_reference(entry_id),
            )
            .await?;
        Ok(())
    }
}

fn currency_of(code: &str) -> Result<Currency, GuardError> {
    Currency::from_code(code).map_err(|_| GuardError::Corrupt(format!("currency {code:?}")))
}

/// At start: the points book from the journal, and the ledger accounts
/// redemptions move (the platform's points account and the cashback
/// account in each currency points are worth something in).
pub(crate) async fn restore(
    db: &Db,
    ledger: &Ledger,
    engine: &mut OfferEngine,
) -> Result<(), GuardError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT account, CAST(SUM(points) AS BIGINT) FROM points_entries GROUP BY account",
    )
    .fetch_all(db.pool())
    .await?;
    let balances = rows.into_iter().map(|(account, sum)| {
        if sum < 0 {
            tracing::error!(account, sum, "a points balance below zero in the journal");
        }
        (account, u64::try_from(sum).unwrap_or(0))
    });
    engine.points_mut().restore(balances)?;
    let currencies: Vec<Currency> = engine.points().values().iter().map(|(c, _)| *c).collect();
    for c in currencies {
        for base in [POINTS_ACCOUNT, CASHBACK_ACCOUNT] {
            ensure_account(ledger, platform_account(base, c), c).await?;
        }
    }
    Ok(())
}
