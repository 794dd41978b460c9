//! Reads of the pending transfers still open, for the owners of holds that
//! check them against their own records (the issuer at start:
//! `paytap_issuer`'s reconciliation). Paged by id, so a caller holds one
//! page at a time however many holds are open.

use crate::{Currency, Ledger, LedgerError, PendingState};
use sqlx::Row;
use std::collections::HashMap;

/// A pending transfer neither posted nor voided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPending {
    pub id: String,
    pub debit: String,
    pub credit: String,
    pub amount: i64,
    pub currency: Currency,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl Ledger {
    /// When the newest transfer was written (Unix milliseconds); `None` on
    /// an empty ledger.
    pub async fn newest_transfer_at(&self) -> Result<Option<i64>, LedgerError> {
        let (at,): (Option<i64>,) = sqlx::query_as("SELECT MAX(created_at) FROM ledger_transfers")
            .fetch_one(self.db().pool())
            .await?;
        Ok(at)
    }

    /// Up to `limit` open pending transfers whose id starts with `prefix`
    /// (no `%` or `_` in it), created at or after `since`, with ids after
    /// `after`, in id order: the next page starts after the last id of this
    /// one.
    pub async fn open_pending_page(
        &self,
        prefix: &str,
        since: i64,
        after: &str,
        limit: i64,
    ) -> Result<Vec<OpenPending>, LedgerError> {
        let rows = sqlx::query(
            "SELECT id, debit, credit, amount, currency, created_at FROM ledger_transfers \
             WHERE kind = 'pending' AND status = 'ok' AND pending_state = 'pending' \
             AND id LIKE $1 AND created_at >= $2 AND id > $3 ORDER BY id LIMIT $4",
        )
        .bind(format!("{prefix}%"))
        .bind(since)
        .bind(after)
        .bind(limit)
        .fetch_all(self.db().pool())
        .await?;
        rows.iter()
            .map(|r| {
                let currency: String = r.try_get("currency")?;
                Ok(OpenPending {
                    id: r.try_get("id")?,
                    debit: r.try_get::<Option<String>, _>("debit")?.unwrap_or_default(),
                    credit: r
                        .try_get::<Option<String>, _>("credit")?
                        .unwrap_or_default(),
                    amount: r.try_get("amount")?,
                    currency: Currency::from_code(&currency)
                        .map_err(|_| LedgerError::Corrupt(format!("currency {currency:?}")))?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Where each of `ids` stands that is a successful pending transfer;
    /// the others (unknown ids, refused transfers) are absent.
    pub async fn pending_states(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, PendingState>, LedgerError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, pending_state FROM ledger_transfers WHERE kind = 'pending' \
             AND status = 'ok' AND id IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query_as::<_, (String, Option<String>)>(sqlx::AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(id.as_str());
        }
        let mut out = HashMap::with_capacity(ids.len());
        for (id, state) in q.fetch_all(self.db().pool()).await? {
            let state = state.ok_or_else(|| LedgerError::Corrupt(format!("{id}: no state")))?;
            out.insert(id, PendingState::from_code(&state)?);
        }
        Ok(out)
    }
}
