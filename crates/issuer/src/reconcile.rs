//! Start-time reconciliation of the authorization records with the ledger's
//! holds.
//!
//! An approval writes two things in parallel, its record (`issuer_auths`,
//! state `held`) and its hold (the ledger's pending transfer
//! `hold:<hold key>`), and is answered only once both are durable
//! ([`crate::auth`]). A crash between the two commits (with a database per
//! component, or in two group commits of one database) leaves one without
//! the other; so can a failed write whose undo failed too. Such a half was
//! never answered as an approval, so [`Issuer::open`] resolves it before the
//! issuer takes any request, and logs each one:
//!
//! * a `held` authorization record whose hold the ledger does not have
//!   becomes `failed` (`96`, no hold): nothing is held for it, and a
//!   duplicate is answered `96`;
//! * an open hold of an authorization whose record is missing or not `held`
//!   is voided under `void:<hold key>` (the id a reversal uses, so a
//!   reversal arriving later is the same no-op); where there was no record,
//!   a `failed` one is written, so a repeat of the request under the same
//!   key is answered `96` instead of approving against a voided hold;
//! * a stand-in advice (`…:0120`) is different: the switch's approval binds
//!   the bank, and the switch delivers the advice again until the bank
//!   acknowledges it. Its record without a hold gets the hold (or becomes
//!   the decline the ledger says it is); its hold without a record is left
//!   for the advice, which writes the record when it comes again.
//!
//! A hold already posted or voided while its record still says `held` is
//! not a missing half: the capture, reversal or expiry that resolved it is
//! retried (by clearing, the switch's store and forward, the expiry sweep)
//! and finishes the record, as the ledger answers its repeat.
//!
//! What is read is bounded: the records still `held` and the holds still
//! open, of the last [`WINDOW_MILLIS`] before the newest row of each table
//! (a crash leaves halves only among the authorizations in flight when it
//! happened), a page at a time. Each table is read once without an index
//! (as the start's key-filter scan reads `issuer_auths` already); another
//! index on either table would cost a page per group commit on the
//! authorization path. It assumes, like the rest of the issuer, that this
//! process alone writes these records.

use crate::auth::Stored;
use crate::error::IssuerError;
use crate::service::Issuer;
use crate::state::AuthState;
use paytap_ledger::{OpenPending, PendingState};
use std::collections::HashMap;

/// How far before the newest record (and the newest ledger transfer) the
/// start looks for halves: an authorization's two writes start within
/// microseconds of each other, and each ends within the store's busy limit
/// (10 s), so ten minutes is sixty times what separates them.
pub const WINDOW_MILLIS: i64 = 10 * 60 * 1000;

/// Records or holds read per page (also the size of one ledger lookup).
const PAGE: i64 = 500;

/// The ledger's id of the hold of `hold_key`.
const HOLD_PREFIX: &str = "hold:";

/// What a start's reconciliation resolved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// `held` records without their hold, now `failed`.
    pub records_failed: u64,
    /// Stand-in records without their hold, whose hold is now placed (or
    /// refused by the ledger).
    pub holds_placed: u64,
    /// Open holds without a `held` record, now voided.
    pub holds_voided: u64,
}

/// `hold_key, kind, card_id, amount, hold_id, created_at` of a `held` record.
type HeldRow = (String, String, String, i64, Option<String>, i64);

impl Issuer {
    /// Finds and resolves every half-written approval (see the module
    /// documentation). Run by [`Issuer::open`] before anything else; a
    /// second run finds nothing.
    pub(crate) async fn reconcile(&self) -> Result<Reconciled, IssuerError> {
        let mut done = Reconciled::default();
        self.records_without_holds(&mut done).await?;
        self.holds_without_records(&mut done).await?;
        if done != Reconciled::default() {
            tracing::warn!(
                records_failed = done.records_failed,
                holds_placed = done.holds_placed,
                holds_voided = done.holds_voided,
                "authorizations half written before the last stop resolved"
            );
        }
        Ok(done)
    }

    async fn records_without_holds(&self, done: &mut Reconciled) -> Result<(), IssuerError> {
        let (newest,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(created_at) FROM issuer_auths WHERE state = 'held'")
                .fetch_one(self.db.pool())
                .await?;
        let Some(newest) = newest else {
            return Ok(());
        };
        let since = newest.saturating_sub(WINDOW_MILLIS);
        let mut after = String::new();
        loop {
            let rows: Vec<HeldRow> = sqlx::query_as(
                "SELECT hold_key, kind, card_id, amount, hold_id, created_at FROM issuer_auths \
                 WHERE state = 'held' AND created_at >= $1 AND hold_key > $2 \
                 ORDER BY hold_key LIMIT $3",
            )
            .bind(since)
            .bind(&after)
            .bind(PAGE)
            .fetch_all(self.db.pool())
            .await?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            after = last.0.clone();
            let ids: Vec<String> = rows.iter().filter_map(|r| r.4.clone()).collect();
            let holds = self.ledger.pending_states(&ids).await?;
            for row in rows {
                let held = row.4.as_ref().and_then(|id| holds.get(id));
                if held.is_none() {
                    self.resolve_record(row, done).await?;
                } else if held != Some(&PendingState::Pending) {
                    tracing::info!(hold_key = %row.0, "held record of a resolved hold; its capture, reversal or expiry finishes it");
                }
            }
        }
    }

    /// A `held` record whose hold the ledger does not have.
    async fn resolve_record(&self, row: HeldRow, done: &mut Reconciled) -> Result<(), IssuerError> {
        let (hold_key, kind, card_id, amount, hold_id, created_at) = row;
        if kind == "advice" {
            let card = self
                .cached_card(&card_id)
                .await?
                .ok_or(IssuerError::UnknownCard)?;
            let stored = Stored {
                card_id,
                amount,
                created_at,
                response_code: "00".into(),
                approval_code: None,
                hold_id,
                state: AuthState::Held,
            };
            let refused = self.confirm_held(&stored, &hold_key, &card).await?;
            tracing::warn!(%hold_key, refused = ?refused.map(|c| c.code()), "stand-in record without its hold: hold placed");
            done.holds_placed += 1;
            return Ok(());
        }
        sqlx::query(
            "UPDATE issuer_auths SET state = 'failed', response_code = '96', \
             approval_code = NULL, hold_id = NULL, updated_at = $1 \
             WHERE hold_key = $2 AND state = 'held'",
        )
        .bind(self.now())
        .bind(&hold_key)
        .execute(self.db.pool())
        .await?;
        self.windows.remove(&card_id, created_at, amount);
        tracing::warn!(%hold_key, "approval record without its hold: marked failed (96)");
        done.records_failed += 1;
        Ok(())
    }

    async fn holds_without_records(&self, done: &mut Reconciled) -> Result<(), IssuerError> {
        let Some(newest) = self.ledger.newest_transfer_at().await? else {
            return Ok(());
        };
        let since = newest.saturating_sub(WINDOW_MILLIS);
        let mut after = String::new();
        loop {
            let page = self
                .ledger
                .open_pending_page(HOLD_PREFIX, since, &after, PAGE)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = last.id.clone();
            let states = self.record_states(&page).await?;
            for hold in page {
                let Some(hold_key) = hold.id.strip_prefix(HOLD_PREFIX) else {
                    continue;
                };
                let Some((bank_id, card_id)) = self.card_of(&hold.debit) else {
                    // Not a card account of this issuer's banks.
                    continue;
                };
                let record = states.get(hold_key).map(String::as_str);
                match record.map(str::parse::<AuthState>) {
                    Some(Ok(AuthState::Held)) => {}
                    Some(Ok(AuthState::Captured)) => {
                        tracing::error!(%hold_key, "captured record with an open hold; left for review");
                    }
                    None if hold_key.ends_with(":0120") => {
                        tracing::info!(%hold_key, "stand-in hold without its record; the advice writes it when delivered again");
                    }
                    _ => {
                        let hold_key = hold_key.to_owned();
                        self.void_hold("void", &hold_key, hold.id.clone()).await?;
                        if record.is_none() {
                            self.record_failed(&hold_key, &hold, bank_id, card_id)
                                .await?;
                        }
                        tracing::warn!(%hold_key, record = record.unwrap_or("none"), "open hold without its approval record: voided");
                        done.holds_voided += 1;
                    }
                }
            }
        }
    }

    /// The states of the records of `holds`, by hold key.
    async fn record_states(
        &self,
        holds: &[OpenPending],
    ) -> Result<HashMap<String, String>, IssuerError> {
        let keys: Vec<&str> = holds
            .iter()
            .filter_map(|h| h.id.strip_prefix(HOLD_PREFIX))
            .collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT hold_key, state FROM issuer_auths WHERE hold_key IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
        for k in keys {
            q = q.bind(k);
        }
        Ok(q.fetch_all(self.db.pool()).await?.into_iter().collect())
    }

    /// `(bank id, card id)` of a card account `issuer:<bank>:card:<card>` of
    /// a configured bank.
    fn card_of<'a>(&self, account: &'a str) -> Option<(&'a str, &'a str)> {
        let rest = account.strip_prefix("issuer:")?;
        let (bank, card) = rest.split_once(":card:")?;
        self.config.bank(bank)?;
        Some((bank, card))
    }

    /// Records the voided hold's authorization as failed where there was no
    /// record, so a repeat under the same key is answered `96`.
    async fn record_failed(
        &self,
        hold_key: &str,
        hold: &OpenPending,
        bank_id: &str,
        card_id: &str,
    ) -> Result<(), IssuerError> {
        sqlx::query(
            "INSERT INTO issuer_auths (hold_key, txn_key, card_id, bank_id, kind, amount, \
             currency, response_code, approval_code, hold_id, state, created_at, updated_at) \
             VALUES ($1, NULL, $2, $3, 'auth', $4, $5, '96', NULL, NULL, 'failed', $6, $7) \
             ON CONFLICT (hold_key) DO NOTHING",
        )
        .bind(hold_key)
        .bind(card_id)
        .bind(bank_id)
        .bind(hold.amount)
        .bind(hold.currency.code())
        .bind(hold.created_at)
        .bind(self.now())
        .execute(self.db.pool())
        .await?;
        crate::auth::remember_keys(&self.seen, hold_key, None);
        Ok(())
    }
}
