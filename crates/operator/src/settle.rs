//! Settlement of a business day: what its records add up to, per gate,
//! fixed in one database transaction, then one ledger transfer from the
//! operator's float to its revenue under an id made of operator and day.
//! A T-Union member's day also holds fares its gates took from other
//! members' cards: the rider's stored value is at the issuer, so those move
//! from each issuer's float to this operator's revenue, one transfer per
//! issuer under an id made of operator, day and issuer. The per-gate
//! report covers every record; the own and interchange transfers sum to it.

use paytap_ledger::Transfer;
use paytap_store::Db;
use paytap_types::Money;
use serde::Serialize;

use crate::upload::stored_day;
use crate::{Accounts, Day, OperatorError, OperatorHost};

/// Most days one [`OperatorHost::settle_due`] settles: a month of days a
/// stopped platform left; the next run takes the rest.
pub const MAX_DAYS_PER_RUN: i64 = 31;

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

/// What a settled day took from one issuer's cards (T-Union).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InterchangeTotal {
    /// The member that issued the cards.
    pub issuer: String,
    /// Records of its cards accepted that day.
    pub records: u64,
    /// Their fares, minor units: moved from its float to our revenue.
    pub amount: i64,
    /// The ledger transfer's id (also its reference).
    pub transfer_id: String,
}

/// A settled business day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Settlement {
    /// The operator.
    pub operator: String,
    /// The business day.
    pub day: Day,
    /// What moved to revenue: from the float (our own cards) and from
    /// issuers' floats ([`Settlement::interchange`]).
    pub amount: Money,
    /// Records settled.
    pub records: u64,
    /// The ledger transfer's id (also its reference) of the own cards'
    /// part; `None` when they had nothing to settle.
    pub transfer_id: Option<String>,
    /// Per gate, by terminal id; the amounts sum to `amount`.
    pub gates: Vec<GateTotal>,
    /// Per issuing member (T-Union), by id; with the own part they sum to
    /// `amount`.
    pub interchange: Vec<InterchangeTotal>,
}

impl Settlement {
    /// The own cards' part: `amount` less the interchange.
    pub fn own_amount(&self) -> i64 {
        self.amount.minor - self.interchange.iter().map(|i| i.amount).sum::<i64>()
    }
}

impl OperatorHost {
    /// The ledger transfer id (and reference) of a day's settlement.
    pub fn settlement_id(&self, day: Day) -> String {
        format!("transit:{}:settle:{day}", self.operator.id)
    }

    /// The ledger transfer id (and reference) of what a day's settlement
    /// takes from `issuer`'s float.
    pub fn interchange_id(&self, day: Day, issuer: &str) -> String {
        format!("{}:{issuer}", self.settlement_id(day))
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

    /// Settles every business day that is over and holds records not yet
    /// settled, oldest first (at most [`MAX_DAYS_PER_RUN`]), and settles
    /// the newest settled day again: a stop between a day's totals and its
    /// ledger transfers leaves them to post, and posting is idempotent.
    /// What it settled, in that order.
    pub async fn settle_due(&self) -> Result<Vec<Settlement>, OperatorError> {
        let op = self.operator.id.as_str();
        let today = Day::of_millis(self.clock.now_millis());
        let (newest,): (Option<i64>,) = sqlx::query_as(
            "SELECT CAST(MAX(business_day) AS BIGINT) FROM operator_settlements WHERE operator = $1",
        )
        .bind(op)
        .fetch_one(self.db.pool())
        .await?;
        let open: Vec<(i64,)> = sqlx::query_as(
            "SELECT DISTINCT r.business_day FROM operator_records r \
             WHERE r.operator = $1 AND r.business_day < $2 AND NOT EXISTS \
               (SELECT 1 FROM operator_settlements s \
                WHERE s.operator = r.operator AND s.business_day = r.business_day) \
             ORDER BY r.business_day LIMIT $3",
        )
        .bind(op)
        .bind(i64::from(today.number()))
        .bind(MAX_DAYS_PER_RUN)
        .fetch_all(self.db.pool())
        .await?;
        let days = newest.into_iter().chain(open.into_iter().map(|(d,)| d));
        let mut settled = Vec::new();
        for n in days {
            let day = u32::try_from(n)
                .ok()
                .and_then(Day::from_number)
                .ok_or_else(|| OperatorError::Corrupt(format!("business day {n}")))?;
            settled.push(self.settle(day).await?);
        }
        Ok(settled)
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
        let foreign: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT issuer, CAST(COUNT(*) AS BIGINT), CAST(SUM(amount) AS BIGINT) \
             FROM operator_records WHERE operator = $1 AND business_day = $2 AND issuer <> '' \
             GROUP BY issuer ORDER BY issuer",
        )
        .bind(op)
        .bind(n)
        .fetch_all(&mut *tx)
        .await?;
        let interchange: Vec<InterchangeTotal> = foreign
            .into_iter()
            .map(|(issuer, records, amount)| InterchangeTotal {
                transfer_id: self.interchange_id(day, &issuer),
                issuer,
                records: records.unsigned_abs(),
                amount,
            })
            .collect();
        for i in &interchange {
            sqlx::query(
                "INSERT INTO operator_settlement_interchange (operator, business_day, issuer, \
                 amount, records, transfer_id) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(op)
            .bind(n)
            .bind(i.issuer.as_str())
            .bind(i.amount)
            .bind(i.records as i64)
            .bind(i.transfer_id.as_str())
            .execute(&mut *tx)
            .await?;
        }
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
        Ok(self.settlement(day, (amount, records, id), gates, interchange))
    }

    /// A settlement of its parts; the own part's transfer only if it moves
    /// something.
    fn settlement(
        &self,
        day: Day,
        (amount, records, id): (i64, u64, String),
        gates: Vec<GateTotal>,
        interchange: Vec<InterchangeTotal>,
    ) -> Settlement {
        let mut s = Settlement {
            operator: self.operator.id.clone(),
            day,
            amount: Money::new(amount, self.operator.currency),
            records,
            transfer_id: None,
            gates,
            interchange,
        };
        assert!(s.own_amount() >= 0, "interchange within the day's total");
        s.transfer_id = (s.own_amount() > 0).then_some(id);
        s
    }

    /// The day's transfer on the ledger: the same id and content every
    /// time, so a retry after a crash moves nothing twice.
    async fn post(&self, s: &Settlement) -> Result<(), OperatorError> {
        if let Some(id) = &s.transfer_id {
            let own = Money::new(s.own_amount(), self.operator.currency);
            self.move_fares(id, &self.accounts.float, own).await?;
        }
        for i in s.interchange.iter().filter(|i| i.amount > 0) {
            let from = Accounts::of(&i.issuer).float;
            let amount = Money::new(i.amount, self.operator.currency);
            self.move_fares(&i.transfer_id, &from, amount).await?;
        }
        Ok(())
    }

    /// One transfer of fares from `float` to our revenue under `id`.
    async fn move_fares(&self, id: &str, float: &str, amount: Money) -> Result<(), OperatorError> {
        let t = Transfer::single(id.to_owned(), float, self.accounts.revenue.as_str(), amount)
            .with_reference(id.to_owned());
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
        let foreign: Vec<(String, i64, i64, String)> = sqlx::query_as(
            "SELECT issuer, records, amount, transfer_id FROM operator_settlement_interchange \
             WHERE operator = $1 AND business_day = $2 ORDER BY issuer",
        )
        .bind(op)
        .bind(n)
        .fetch_all(&mut *tx)
        .await?;
        tx.rollback().await?;
        let gates: Vec<GateTotal> = gates.into_iter().map(GateTotal::from_row).collect();
        let interchange: Vec<InterchangeTotal> = foreign
            .into_iter()
            .map(|(issuer, records, amount, transfer_id)| InterchangeTotal {
                issuer,
                records: records.unsigned_abs(),
                amount,
                transfer_id,
            })
            .collect();
        let foreign_sum: i64 = interchange.iter().map(|i| i.amount).sum();
        if gates.iter().map(|g| g.amount).sum::<i64>() != amount || foreign_sum > amount {
            return Err(OperatorError::Corrupt(format!(
                "settlement of {day}: gate or interchange totals do not sum to {amount}"
            )));
        }
        let parts = (amount, records.unsigned_abs(), id);
        Ok(Some(self.settlement(day, parts, gates, interchange)))
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
