//! A risk step-up reaches the phone.
//!
//! When the risk engine steps a card payment up, the network declines it
//! with DE 39 [`STEP_UP_CODE`] ("verify it's you, then pay again"). Recording
//! such a payment ([`Wallet::record_payment`]) queues, in the same
//! transaction, one device command of kind
//! [`CommandKind::VerifyPayment`] for the device that paid. The command
//! carries what the phone shows ([`PaymentToVerify`]: merchant, amount,
//! the payment's id in the history) and travels like every other command
//! ([`crate::locate`]): the device asks its owner's biometric and answers
//! `verified` (acknowledged) or `refused` (failed); a verified phone makes
//! its next tap with the consumer device CVM, which the risk rule accepts.
//!
//! * **One per payment.** The command names its payment (`payment_id`, a
//!   unique column): a payment event recorded twice queues one command.
//! * **Only the wallet asks.** The owner cannot queue this kind through
//!   the API; an approved payment or any other decline queues nothing.
//! * **Bounded.** A device whose queue is full ([`MAX_OPEN_COMMANDS`]) is
//!   not asked; the payment is still recorded.

use paytap_store::Tx;
use paytap_types::{DeviceStatus, Money};
use serde::{Deserialize, Serialize};

use crate::error::WalletError;
use crate::locate::{CommandKind, MAX_OPEN_COMMANDS, trim_finished};
use crate::model::Transaction;
use crate::service::{Wallet, new_id};

/// DE 39 of a payment the risk engine stepped up: additional
/// authentication required.
pub const STEP_UP_CODE: &str = "1A";

/// What the phone shows when it asks its owner to verify a payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentToVerify {
    /// The payment's id in the account's history.
    pub payment_id: String,
    pub merchant_name: String,
    pub amount: Money,
    /// Decimal amount, e.g. `12.50`.
    pub amount_display: String,
}

impl PaymentToVerify {
    /// What a stepped-up payment asks the phone; `None` for any other.
    pub fn of(t: &Transaction) -> Option<PaymentToVerify> {
        (!t.approved && t.response_code == STEP_UP_CODE).then(|| PaymentToVerify {
            payment_id: t.id.clone(),
            merchant_name: t.merchant_name.clone(),
            amount: t.amount,
            amount_display: t.amount.decimal(),
        })
    }
}

/// Reads a command's stored `payment` column.
pub(crate) fn stored_payment(json: Option<String>) -> Result<Option<PaymentToVerify>, WalletError> {
    json.map(|j| {
        serde_json::from_str(&j)
            .map_err(|e| WalletError::Internal(format!("stored payment of a command: {e}")))
    })
    .transpose()
}

impl Wallet {
    /// Queues, inside the transaction that records `t`, the command asking
    /// `t`'s device to verify it, when `t` was stepped up. Returns whether
    /// a command was queued (the caller rings the device's channel after
    /// the commit).
    pub(crate) async fn ask_to_verify(
        &self,
        tx: &mut Tx,
        account_id: &str,
        t: &Transaction,
    ) -> Result<bool, WalletError> {
        let Some(ask) = PaymentToVerify::of(t) else {
            return Ok(false);
        };
        let Some(open) = open_commands(tx, &t.device_id).await? else {
            tracing::info!(account = %account_id, device = %t.device_id, payment = %t.id, "step-up not sent: the device is reported lost or gone");
            return Ok(false);
        };
        if open >= MAX_OPEN_COMMANDS {
            tracing::warn!(account = %account_id, device = %t.device_id, payment = %t.id, "step-up not sent: the device's command queue is full");
            return Ok(false);
        }
        let json = serde_json::to_string(&ask)
            .map_err(|e| WalletError::Internal(format!("payment to verify: {e}")))?;
        let id = new_id();
        let res = sqlx::query(
            "INSERT INTO wallet_device_commands (id, account_id, device_id, kind, state, created_at, \
             payment_id, payment) VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(account_id)
        .bind(&t.device_id)
        .bind(CommandKind::VerifyPayment.as_str())
        .bind(self.now())
        .bind(&t.id)
        .bind(json)
        .execute(&mut **tx)
        .await?;
        if res.rows_affected() == 0 {
            return Ok(false);
        }
        trim_finished(tx, &t.device_id).await?;
        tracing::info!(account = %account_id, device = %t.device_id, command = %id, payment = %t.id, "step-up sent to the device");
        Ok(true)
    }
}

/// The device's open commands, its row locked first (PostgreSQL) so that
/// two writers for one device count in turn; `None` when the device is not
/// active (reported lost: its next tap cannot pay, so it is not asked).
async fn open_commands(tx: &mut Tx, device_id: &str) -> Result<Option<i64>, WalletError> {
    let locked = sqlx::query("UPDATE wallet_devices SET id = id WHERE id = $1 AND status = $2")
        .bind(device_id)
        .bind(DeviceStatus::Active.as_str())
        .execute(&mut **tx)
        .await?;
    if locked.rows_affected() == 0 {
        return Ok(None);
    }
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM wallet_device_commands \
         WHERE device_id = $1 AND state IN ('queued', 'delivered')",
    )
    .bind(device_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paytap_types::Currency;

    fn payment(approved: bool, code: &str) -> Transaction {
        Transaction {
            id: "ev1".into(),
            device_id: "d".into(),
            card_id: "c".into(),
            card_last4: "4242".into(),
            bank_name: "ICBC".into(),
            merchant_name: "Corner Shop".into(),
            merchant_id: "m".into(),
            terminal_id: "t".into(),
            amount: Money::new(1250, Currency::CNY),
            amount_display: "12.50".into(),
            approved,
            response_code: code.into(),
            reason: String::new(),
            kind: "purchase".into(),
            at: 1,
            saved: Money::new(0, Currency::CNY),
            earned: Money::new(0, Currency::CNY),
            channel: "card".into(),
            band_outcome: None,
        }
    }

    #[test]
    fn only_a_step_up_asks_the_phone() {
        let ask = PaymentToVerify::of(&payment(false, "1A")).unwrap();
        assert_eq!(
            (ask.payment_id.as_str(), ask.merchant_name.as_str()),
            ("ev1", "Corner Shop")
        );
        assert_eq!(
            (ask.amount, ask.amount_display.as_str()),
            (Money::new(1250, Currency::CNY), "12.50")
        );
        assert_eq!(PaymentToVerify::of(&payment(true, "00")), None);
        assert_eq!(PaymentToVerify::of(&payment(false, "51")), None);
    }
}
