//! Settlement of a business day: what its records add up to, per gate,
//! fixed in one database transaction, then one ledger transfer from the
//! operator's float to its revenue under an id made of operator and day.

use paytap_ledger::Transfer;
use paytap_store::Db;
use paytap_types::Money;
use serde::Serialize;

use crate::upload::stored_day;
use crate::{Day, OperatorError, OperatorHost};

/// One gate's share of a settled day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GateTotal {
    /// The gate's terminal id, hex.
    pub terminal: String,
    /// Records accepted from it that day.
    pub records: u64,
    /// Their fares, minor units.
    pub amount: i64,
}

impl GateTotal {
    /// A `(terminal, records, amount)` row, as counted or as stored.
    fn from_row((terminal, records, amount): (String, i64, i64)) -> GateTotal {
        GateTotal {
            terminal,
            records: records.unsigned_abs(),
            amount,
        }
    }
}

/// A settled business day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Settlement {
    /// The operator.
    pub operator: String,
    /// The business day.
    pub day: Day,
    /// What moved from float to revenue.
    pub amount: Money,
    /// Records settled.
    pub records: u64,
    /// The ledger transfer's id (also its reference); `None` when the day
    /// had nothing to settle.
    pub transfer_id: Option<String>,
    /// Per gate, by terminal id; the amounts sum to `amount`.
    pub gates: Vec<GateTotal>,
}

impl OperatorHost {
    /// The ledger transfer id (and reference) of a day's settlement.
    pub fn settlement_id(&self, day: Day) -> String {
        format!("transit:{}:settle:{day}", self.operator.id)
    }

    /// Settles business day `day` (see the crate documentation). Settling
    /// it again answers the same settlement and moves nothing more.
    pub async fn settle(&self, day: Day) -> Result<Settlement, OperatorError> {
        let mut state = self.state.lock().await;
        self.fresh(&mut state).await?;
        let settlement = match self.report(day).await? {
            Some(s) => s,
            None => {
                if day >= self.business_day(&state) {
                    tracing::warn!(operator = %self.operator.id, %day, "settlement of an open day refused");
                    return Err(OperatorError::DayOpen(day));
                }
                self.close_day(day).await?
            }
        };
        state.last_settled = state.last_settled.max(Some(day));
        drop(state);
        self.post(&settlement).await?;
        Ok(settlement)
    }

    /// Fixes the day's totals: the settlement row and its gate rows, from
    /// the records, in one transaction.
    async fn close_day(&self, day: Day) -> Result<Settlement, OperatorError> {
        let op = self.operator.id.as_str();
        let n = i64::from(day.number());
        let mut tx = self.db.begin_write().await?;
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT terminal, CAST(COUNT(*) AS BIGINT), CAST(SUM(amount) AS BIGINT) \
             FROM operator_records WHERE operator = $1 AND business_day = $2 \
             GROUP BY terminal ORDER BY terminal",
        )
        .bind(op)
        .bind(n)
        .fetch_all(&mut *tx)
        .await?;
        let gates: Vec<GateTotal> = rows.into_iter().map(GateTotal::from_row).collect();
        let amount: i64 = gates.iter().map(|g| g.amount).sum();
        let records: u64 = gates.iter().map(|g| g.records).sum();
        let id = self.settlement_id(day);
        sqlx::query(
            "INSERT INTO operator_settlements (operator, business_day, amount, records, \
             transfer_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(op)
        .bind(n)
        .bind(amount)
        .bind(records as i64)
        .bind(id.as_str())
        .bind(self.clock.now_millis())
        .execute(&mut *tx)
        .await?;
        for g in &gates {
            sqlx::query(
                "INSERT INTO operator_settlement_gates (operator, business_day, terminal, \
                 amount, records) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(op)
            .bind(n)
            .bind(g.terminal.as_str())
            .bind(g.amount)
            .bind(g.records as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        tracing::info!(operator = op, %day, amount, records, "business day closed");
        Ok(Settlement {
            operator: op.to_owned(),
            day,
            amount: Money::new(amount, self.operator.currency),
            records,
            transfer_id: (amount > 0).then_some(id),
            gates,
        })
    }

    /// The day's transfer on the ledger: the same id and content every
    /// time, so a retry after a crash moves nothing twice.
    async fn post(&self, s: &Settlement) -> Result<(), OperatorError> {
        let Some(id) = &s.transfer_id else {
            return Ok(());
        };
        let t = Transfer::single(
            id.clone(),
            self.accounts.float.as_str(),
            self.accounts.revenue.as_str(),
            s.amount,
        )
        .with_reference(id.clone());
        self.ledger.transfer(t).await?;
        Ok(())
    }

    /// The settlement of `day` as it was fixed, if the day is settled.
    pub async fn report(&self, day: Day) -> Result<Option<Settlement>, OperatorError> {
        let op = self.operator.id.as_str();
        let n = i64::from(day.number());
        let mut tx = self.db.begin().await?;
        let row: Option<(i64, i64, String)> = sqlx::query_as(
            "SELECT amount, records, transfer_id FROM operator_settlements \
             WHERE operator = $1 AND business_day = $2",
        )
        .bind(op)
        .bind(n)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((amount, records, id)) = row else {
            return Ok(None);
        };
        let gates: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT terminal, records, amount FROM operator_settlement_gates \
             WHERE operator = $1 AND business_day = $2 ORDER BY terminal",
        )
        .bind(op)
        .bind(n)
        .fetch_all(&mut *tx)
        .await?;
        tx.rollback().await?;
        let gates: Vec<GateTotal> = gates.into_iter().map(GateTotal::from_row).collect();
        if gates.iter().map(|g| g.amount).sum::<i64>() != amount {
            return Err(OperatorError::Corrupt(format!(
                "settlement of {day}: gate totals do not sum to {amount}"
            )));
        }
        Ok(Some(Settlement {
            operator: op.to_owned(),
            day,
            amount: Money::new(amount, self.operator.currency),
            records: records.unsigned_abs(),
            transfer_id: (amount > 0).then_some(id),
            gates,
        }))
    }
}

/// The newest settled business day of `operator`.
pub(crate) async fn last_settled(db: &Db, operator: &str) -> Result<Option<Day>, OperatorError> {
    let (n,): (Option<i64>,) = sqlx::query_as(
        "SELECT CAST(MAX(business_day) AS BIGINT) FROM operator_settlements WHERE operator = $1",
    )
    .bind(operator)
    .fetch_one(db.pool())
    .await?;
    n.map(stored_day).transpose()
}
