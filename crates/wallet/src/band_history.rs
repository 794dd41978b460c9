//! A band's offline payments in its owner's history.
//!
//! A band pays offline from its own band account with QR codes that the
//! shops' registers upload later; each uploaded code is settled (paid from
//! the band account or the platform's reserve) or refused. Those accounts
//! live in another service, reached through [`BandHistory`], which the
//! platform attaches with [`Wallet::attach_band_history`]. The history
//! ([`Wallet::transactions`]) merges them with the card payments by time:
//! one row per uploaded operation, channel [`CHANNEL_BAND`], kind
//! [`KIND_OFFLINE_QR`], the device the band is, the shop's register as the
//! terminal and the outcome in [`Transaction::band_outcome`].
//!
//! Only the account's own bands are asked about (its band devices, at most
//! [`MAX_BANDS_IN_HISTORY`]), and the port answers nothing for a band its
//! owner does not hold. Without a port the history holds card payments
//! only.
//!
//! Operations just uploaded also reach the owner's live feed
//! ([`Wallet::publish_band_operations`], called by the platform after a
//! register's batch is settled).
//!
//! A band row's id is `band:<device id>:<counter, 20 digits>:<register>`,
//! so rows of one instant order as the band's operations do (time, counter,
//! register) and the history's cursor (time and id of the last row shown)
//! tells each band where to go on ([`bound_for`]).

use std::sync::Arc;

use paytap_types::Money;
use serde::{Deserialize, Serialize};

use crate::port::{BoxFuture, NetworkError};
use crate::{Principal, Transaction, Wallet, WalletError};

/// Most band devices of one account whose payments the history lists.
pub const MAX_BANDS_IN_HISTORY: i64 = 16;
/// [`Transaction::channel`] of a card payment.
pub const CHANNEL_CARD: &str = "card";
/// [`Transaction::channel`] of a band's offline payment.
pub const CHANNEL_BAND: &str = "band";
/// [`Transaction::kind`] of a band's offline payment: a QR code the band
/// showed, taken by a register offline.
pub const KIND_OFFLINE_QR: &str = "offline_qr";

/// What became of one uploaded band operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BandOutcome {
    /// Paid to the shop from the band account.
    Paid,
    /// Paid to the shop from the platform's reserve (the band account did
    /// not cover it).
    PaidFromReserve,
    /// Refused: the shop was not paid (see the row's `reason`).
    Refused,
    /// A copied code or spending over the limit across registers: the band
    /// was turned off (the row's `approved` tells whether the shop was paid).
    DoubleSpend,
}

impl BandOutcome {
    /// Every outcome, in the API's order.
    pub const ALL: [BandOutcome; 4] = [
        BandOutcome::Paid,
        BandOutcome::PaidFromReserve,
        BandOutcome::Refused,
        BandOutcome::DoubleSpend,
    ];

    /// Its text in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            BandOutcome::Paid => "paid",
            BandOutcome::PaidFromReserve => "paid_from_reserve",
            BandOutcome::Refused => "refused",
            BandOutcome::DoubleSpend => "double_spend",
        }
    }
}

/// One settled or refused operation of a band, as its account keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandOperation {
    /// The code's counter on the band.
    pub counter: i64,
    /// The register that took the code.
    pub register: String,
    /// The merchant's id.
    pub merchant: String,
    pub amount: Money,
    /// When the band made the code (Unix seconds).
    pub code_time: i64,
    /// The shop was paid (from the account or the reserve).
    pub paid: bool,
    /// Paid from the platform's reserve.
    pub from_reserve: bool,
    /// Counted as a double spend.
    pub double_spend: bool,
    /// Why it was refused or counted as a double spend
    /// (`same_code_elsewhere`, `over_limit`, `revoked`, `uncovered`).
    pub reason: Option<String>,
}

impl BandOperation {
    /// Its outcome: a double spend first, then refused, then who paid.
    pub fn outcome(&self) -> BandOutcome {
        match (self.double_spend, self.paid, self.from_reserve) {
            (true, _, _) => BandOutcome::DoubleSpend,
            (false, false, _) => BandOutcome::Refused,
            (false, true, true) => BandOutcome::PaidFromReserve,
            (false, true, false) => BandOutcome::Paid,
        }
    }
}

/// Where a page of one band's operations starts: the operations strictly
/// before (`time`, `counter`, `register`) in the band's order (code time,
/// then counter, then register).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandBound {
    /// Unix seconds.
    pub time: i64,
    pub counter: i64,
    pub register: String,
}

/// How the wallet reaches the band accounts (the platform implements it).
pub trait BandHistory: Send + Sync {
    /// The settled or refused operations of the band that is `owner`'s
    /// device `device_id`, before `before`, newest first, at most `limit`;
    /// none when that band is not `owner`'s or has no account.
    fn operations<'a>(
        &'a self,
        owner: &'a str,
        device_id: &'a str,
        before: BandBound,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<BandOperation>, String>>;
}

fn prefix(device_id: &str) -> String {
    format!("band:{device_id}:")
}

/// The history id of a band operation.
pub fn band_row_id(device_id: &str, counter: i64, register: &str) -> String {
    format!("{}{counter:020}:{register}", prefix(device_id))
}

/// Where the band `device_id` goes on after the history row (`at`
/// milliseconds, `id`): its operations that sort after that row in the
/// history's order (time, then id, both descending).
pub fn bound_for(device_id: &str, at: i64, id: &str) -> BandBound {
    let secs = at.div_euclid(1000);
    // Every operation of that second sorts before a row later in it.
    let all = |time| BandBound {
        time,
        counter: i64::MAX,
        register: String::new(),
    };
    let none = |time| BandBound {
        time,
        counter: i64::MIN,
        register: String::new(),
    };
    if at.rem_euclid(1000) != 0 {
        return all(secs);
    }
    let p = prefix(device_id);
    let own = id
        .strip_prefix(&p)
        .and_then(|rest| rest.split_once(':'))
        .and_then(|(c, r)| Some((c.parse::<i64>().ok()?, r)));
    match own {
        Some((counter, register)) => BandBound {
            time: secs,
            counter,
            register: register.to_owned(),
        },
        // Another row of that instant: this band's rows all sort on the
        // same side of it.
        None if p.as_str() < id => all(secs),
        None => none(secs),
    }
}

fn row(device_id: &str, op: BandOperation) -> Transaction {
    let outcome = op.outcome();
    Transaction {
        id: band_row_id(device_id, op.counter, &op.register),
        device_id: device_id.to_owned(),
        card_id: String::new(),
        card_last4: String::new(),
        bank_name: String::new(),
        merchant_name: op.merchant.clone(),
        merchant_id: op.merchant,
        terminal_id: op.register,
        amount: op.amount,
        amount_display: op.amount.decimal(),
        approved: op.paid,
        response_code: String::new(),
        reason: op.reason.unwrap_or_default(),
        kind: KIND_OFFLINE_QR.to_owned(),
        at: op.code_time.saturating_mul(1000),
        saved: Money::new(0, op.amount.currency),
        earned: Money::new(0, op.amount.currency),
        channel: CHANNEL_BAND.to_owned(),
        band_outcome: Some(outcome),
    }
}

/// The history's order: newest first, then by id, descending.
pub(crate) fn merge(mut rows: Vec<Transaction>, more: Vec<Transaction>) -> Vec<Transaction> {
    rows.extend(more);
    rows.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
    rows
}

/// The default of [`Transaction::channel`] for rows written before it.
pub(crate) fn card_channel() -> String {
    CHANNEL_CARD.to_owned()
}

impl Wallet {
    /// Lists the account's band payments in its history over `port` (once;
    /// a second attach is ignored with a warning).
    pub fn attach_band_history(&self, port: Arc<dyn BandHistory>) {
        if self.inner.band_history.set(port).is_err() {
            tracing::warn!("a band history was already attached");
        }
    }

    /// The account's band devices, oldest first, at most
    /// [`MAX_BANDS_IN_HISTORY`].
    async fn band_devices(&self, p: &Principal) -> Result<Vec<String>, WalletError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM wallet_devices WHERE account_id = $1 AND kind = $2 \
             ORDER BY created_at, id LIMIT $3",
        )
        .bind(&p.account_id)
        .bind(paytap_types::DeviceKind::Band.as_str())
        .bind(MAX_BANDS_IN_HISTORY)
        .fetch_all(self.db(&p.region)?.pool())
        .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Band operations just uploaded (settled or refused) reach the live
    /// feed of `owner` ([`Wallet::subscribe_payments`]) as the history rows
    /// they are, for the owner's band device `is_band` picks (the band
    /// accounts name a band by an id made from its device id). The history
    /// already holds them; this only tells the subscribers of this
    /// process. How many rows were sent (none when no band of the owner
    /// matches).
    pub async fn publish_band_operations(
        &self,
        owner: &str,
        is_band: impl Fn(&str) -> bool,
        ops: Vec<BandOperation>,
    ) -> Result<usize, WalletError> {
        let Some((device, db)) = self.owners_band(owner, is_band).await? else {
            return Ok(0);
        };
        let n = ops.len();
        for op in ops {
            self.publish(&db, owner.to_owned(), row(&device, op)).await;
        }
        Ok(n)
    }

    /// The band device of account `owner` (in whichever region holds it)
    /// that `is_band` picks, with that region's database.
    async fn owners_band(
        &self,
        owner: &str,
        is_band: impl Fn(&str) -> bool,
    ) -> Result<Option<(String, paytap_store::Db)>, WalletError> {
        for (_, db) in self.inner.regions.iter() {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT id FROM wallet_devices WHERE account_id = $1 AND kind = $2 \
                 ORDER BY created_at, id LIMIT $3",
            )
            .bind(owner)
            .bind(paytap_types::DeviceKind::Band.as_str())
            .bind(MAX_BANDS_IN_HISTORY)
            .fetch_all(db.pool())
            .await?;
            if let Some((id,)) = rows.into_iter().find(|(id,)| is_band(id)) {
                return Ok(Some((id, db.clone())));
            }
        }
        Ok(None)
    }

    /// The account's band rows after the history row (`at`, `id`), newest
    /// first, at most `limit` of each band.
    pub(crate) async fn band_rows(
        &self,
        p: &Principal,
        at: i64,
        id: &str,
        limit: u32,
    ) -> Result<Vec<Transaction>, WalletError> {
        let Some(port) = self.inner.band_history.get() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for device in self.band_devices(p).await? {
            let before = bound_for(&device, at, id);
            let ops = port
                .operations(&p.account_id, &device, before, limit)
                .await
                .map_err(|e| {
                    tracing::error!(account = %p.account_id, device = %device, error = %e, "band payments unavailable");
                    WalletError::Network(NetworkError::Unavailable("band accounts".into()))
                })?;
            out.extend(ops.into_iter().map(|op| row(&device, op)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paytap_types::Currency;

    fn op(counter: i64, register: &str, code_time: i64) -> BandOperation {
        BandOperation {
            counter,
            register: register.into(),
            merchant: "TEA-01".into(),
            amount: Money::new(1_200, Currency::CNY),
            code_time,
            paid: true,
            from_reserve: false,
            double_spend: false,
            reason: None,
        }
    }

    /// A bound keeps exactly the operations that sort after the row.
    fn keeps(b: &BandBound, o: &BandOperation) -> bool {
        (o.code_time, o.counter, o.register.as_str()) < (b.time, b.counter, b.register.as_str())
    }

    #[test]
    fn a_bound_keeps_the_rows_after_the_cursor_in_the_history_order() {
        let ops = [
            op(1, "R1", 100),
            op(2, "R1", 100),
            op(2, "R2", 100),
            op(3, "R1", 101),
            op(4, "R1", 99),
        ];
        let rows: Vec<_> = ops.iter().map(|o| row("dev_b", o.clone())).collect();
        let others = [
            (100_000, "band:dev_a:x".to_string()),
            (100_000, "band:dev_c:x".to_string()),
            (100_500, "zzz".to_string()),
            (100_000, "0000".to_string()),
            (i64::MAX, String::new()),
        ];
        let cursors = rows.iter().map(|r| (r.at, r.id.clone())).chain(others);
        for (at, id) in cursors {
            let b = bound_for("dev_b", at, &id);
            for (o, r) in ops.iter().zip(&rows) {
                let after = (r.at, r.id.as_str()) < (at, id.as_str());
                assert_eq!(keeps(&b, o), after, "{at} {id} {r:?}");
            }
        }
    }

    #[test]
    fn the_outcome_names_a_double_spend_first() {
        let mut o = op(1, "R1", 100);
        assert_eq!(o.outcome(), BandOutcome::Paid);
        o.from_reserve = true;
        assert_eq!(o.outcome(), BandOutcome::PaidFromReserve);
        o.double_spend = true;
        assert_eq!(o.outcome(), BandOutcome::DoubleSpend);
        o = op(1, "R1", 100);
        o.paid = false;
        assert_eq!(o.outcome(), BandOutcome::Refused);
        let json = serde_json::to_value(BandOutcome::PaidFromReserve).unwrap();
        assert_eq!(json, "paid_from_reserve");
    }
}
