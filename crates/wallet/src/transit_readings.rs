//! What a device reads off its own transit cards: the balance and counters
//! its secure element holds, reported at each sync
//! (`PUT /api/v1/devices/{device_id}/transit-readings`,
//! [`Wallet::report_transit_readings`]).
//!
//! The operator's balance ([`crate::TransitCard::balance`]) counts only the
//! fares its gates have uploaded; the card's own balance already counts
//! every tap. The rider sees both: [`crate::TransitCard::device_balance`]
//! and when the device read it. A report replaces the device's earlier one
//! whole (a card no longer in the secure element drops out), so repeating
//! it changes nothing: the request is idempotent by nature. A card is
//! named by its number's last digits, as the wallet knows its transit
//! cards; the number itself never reaches the wallet.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::WalletError;
use crate::http::{ApiError, Authed};
use crate::idempotency::Fingerprinted;
use crate::model::Principal;
use crate::service::Wallet;

/// Most cards one report names: a secure element holds at most eight
/// transit purses (`paytap_device::se::MAX_PURSES`).
pub const MAX_READINGS: usize = 8;
/// Digits of a card number the wallet knows.
const LAST_DIGITS: usize = 4;
/// The highest balance or counter a purse can hold (its fields are 32
/// bits; counters 16).
const MAX_PURSE_VALUE: i64 = u32::MAX as i64;

/// One card as the device read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitReading {
    /// The card number's last four digits.
    pub last_digits: String,
    /// The card's own balance, minor units.
    pub balance: i64,
    /// Its offline (purchase) counter.
    pub offline_counter: i64,
    /// Its online (load) counter.
    pub online_counter: i64,
}

/// A device's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitReadings {
    /// Every transit card in the device's secure element.
    pub cards: Vec<TransitReading>,
}

/// The first thing wrong with a report.
fn check(readings: &[TransitReading]) -> Result<(), WalletError> {
    let invalid = |message: String| WalletError::Invalid {
        field: "cards",
        message,
    };
    if readings.len() > MAX_READINGS {
        return Err(invalid(format!("at most {MAX_READINGS} cards")));
    }
    for (i, r) in readings.iter().enumerate() {
        let digits =
            r.last_digits.len() == LAST_DIGITS && r.last_digits.bytes().all(|b| b.is_ascii_digit());
        if !digits {
            return Err(invalid(format!("card {i}: last_digits must be 4 digits")));
        }
        let in_range = |v: i64| (0..=MAX_PURSE_VALUE).contains(&v);
        if !(in_range(r.balance) && in_range(r.offline_counter) && in_range(r.online_counter)) {
            return Err(invalid(format!(
                "card {i}: balance and counters must be 0 to {MAX_PURSE_VALUE}"
            )));
        }
        if readings[..i].iter().any(|o| o.last_digits == r.last_digits) {
            return Err(invalid(format!("card {i}: named twice")));
        }
    }
    Ok(())
}

impl Wallet {
    /// Replaces what `device_id` (the account's) last read off its transit
    /// cards with `readings`, read now.
    pub async fn report_transit_readings(
        &self,
        p: &Principal,
        device_id: &str,
        readings: &[TransitReading],
    ) -> Result<(), WalletError> {
        check(readings)?;
        self.device(p, device_id).await?;
        let db = self.db(&p.region)?;
        let now = self.now();
        let mut tx = db.begin_write().await?;
        sqlx::query("DELETE FROM wallet_transit_readings WHERE device_id = $1")
            .bind(device_id)
            .execute(&mut *tx)
            .await?;
        for r in readings {
            sqlx::query(
                "INSERT INTO wallet_transit_readings \
                 (device_id, last_digits, balance, offline_counter, online_counter, read_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(device_id)
            .bind(&r.last_digits)
            .bind(r.balance)
            .bind(r.offline_counter)
            .bind(r.online_counter)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// What `device_id` last read off its cards, and when (Unix ms).
    pub(crate) async fn transit_readings(
        &self,
        p: &Principal,
        device_id: &str,
    ) -> Result<Vec<(TransitReading, i64)>, WalletError> {
        let db = self.db(&p.region)?;
        let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT last_digits, balance, offline_counter, online_counter, read_at \
             FROM wallet_transit_readings WHERE device_id = $1",
        )
        .bind(device_id)
        .fetch_all(db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(last_digits, balance, offline_counter, online_counter, at)| {
                    let r = TransitReading {
                        last_digits,
                        balance,
                        offline_counter,
                        online_counter,
                    };
                    (r, at)
                },
            )
            .collect())
    }
}

/// `PUT /api/v1/devices/{device_id}/transit-readings`.
pub(crate) async fn put_readings(
    State(w): State<Wallet>,
    auth: Authed,
    Path(device_id): Path<String>,
    Fingerprinted { body, .. }: Fingerprinted<TransitReadings>,
) -> Result<Response, ApiError> {
    w.report_transit_readings(&auth.principal, &device_id, &body.cards)
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(last: &str, balance: i64) -> TransitReading {
        TransitReading {
            last_digits: last.into(),
            balance,
            offline_counter: 2,
            online_counter: 1,
        }
    }

    #[test]
    fn reports_are_checked_whole() {
        let nine: Vec<_> = (0..9).map(|i| reading(&format!("000{i}"), 1)).collect();
        let cases: [(Vec<TransitReading>, bool); 6] = [
            (vec![], true),
            (vec![reading("0007", 4_400), reading("0042", 0)], true),
            (vec![reading("007", 1)], false),
            (vec![reading("00a7", 1)], false),
            (vec![reading("0007", -1)], false),
            (vec![reading("0007", 1), reading("0007", 2)], false),
        ];
        for (input, ok) in cases {
            assert_eq!(check(&input).is_ok(), ok, "{input:?}");
        }
        assert!(check(&nine).is_err());
    }
}
