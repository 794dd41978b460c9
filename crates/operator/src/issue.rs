//! Issuing a card: the next number of the operator's range, personalised
//! (public data, per-card keys derived from the master keys, a T-Union
//! member's the national purchase and TAC keys too, the operator's
//! maximum balance) for one device, idempotent by the caller's issue id.
//! A device holds at most one live card of each operator (city): another
//! is refused while its card is not on the hotlist; once it is (the device
//! was lost, or the card cloned), the device may be issued a new one.
//!
//! Where the operator charges a card fee (`card_fee`), the issue carries
//! the rider's bank card and the fee is paid through the network first,
//! under a key made of the issue id ([`crate::pay::fee_key`]), so a
//! retried issue never pays twice. The money stays on the operator's
//! merchant settlement account: it is the operator's, not stored value.
//! A fee paid for an issue that is then refused (the device got a card of
//! the city meanwhile, the range ran out) is refunded before the refusal
//! is answered. An issue whose answer was lost is finished by asking again
//! with the same issue id: the card comes back and nothing is paid again.

use paytap_purse::PurseState;
use paytap_purse::records::{PublicData, SERIAL_LEN};
use paytap_store::batch::Arg;
use paytap_transit::config::{Operator, serial_from_digits};
use paytap_types::Money;

use crate::pay::{CardPayment, PaymentRequest, fee_key};
use crate::{Day, OperatorError, OperatorHost, check_id, schema};

/// Years a newly issued card is valid for.
pub const CARD_VALIDITY_YEARS: u32 = 10;
/// The card type of an issued card (file 0x15 byte 8): a standard adult card.
pub const CARD_TYPE_ADULT: u8 = 1;

/// A card personalised for a device.
#[derive(Debug)]
pub struct IssuedCard {
    /// The card number (application serial), BCD.
    pub serial: [u8; SERIAL_LEN],
    /// The purse as the device's secure element installs it: keys included,
    /// balance zero, counters at zero. Only ever sent sealed to the device.
    pub state: PurseState,
    /// The card fee the operator charges for it, minor units.
    pub fee: u32,
}

impl OperatorHost {
    /// Issues the next card of the operator's range to `device_id`, its
    /// card fee paid with `payment` (required when the operator charges
    /// one). The same `issue_id` again answers the same card (personalised
    /// afresh, balance zero: the device installs it once) and pays nothing
    /// again; with another device it is [`OperatorError::IssueConflict`].
    pub async fn issue(
        &self,
        issue_id: &str,
        device_id: &str,
        payment: Option<&CardPayment>,
    ) -> Result<IssuedCard, OperatorError> {
        check_id("issue id", issue_id)?;
        check_id("device id", device_id)?;
        let (number, issued_at) = match self.stored_issue(issue_id, device_id).await? {
            Some(found) => found,
            None => self.issue_new(issue_id, device_id, payment).await?,
        };
        let serial = nth_serial(&self.operator, number).ok_or(OperatorError::RangeExhausted)?;
        let public = public_data(&self.operator, serial, Day::of_millis(issued_at));
        let mut state = PurseState::new(
            public,
            self.masters.derive(&serial),
            self.operator.max_balance,
        );
        // A member's card carries the national keys: other members' gates
        // accept it.
        if let Some(keys) = self.tunion_card_keys(&serial) {
            state = state.with_tunion(keys);
        }
        Ok(IssuedCard {
            serial,
            state,
            fee: self.operator.card_fee,
        })
    }

    /// A new issue: refused before any payment if the device holds a live
    /// card of the city; the fee paid; the number taken, or the fee given
    /// back when it cannot be.
    async fn issue_new(
        &self,
        issue_id: &str,
        device_id: &str,
        payment: Option<&CardPayment>,
    ) -> Result<(i64, i64), OperatorError> {
        let mut conn = self.db.pool().acquire().await?;
        self.refuse_second_card(&mut conn, device_id).await?;
        drop(conn);
        let fee = self.fee_payment(issue_id, payment)?;
        if let Some(req) = &fee {
            self.pay_fee(req).await?;
        }
        // The state lock serialises issues, so numbers are handed out in
        // order; it is not held while the network answers.
        let allocated = {
            let _guard = self.state.lock().await;
            match self.stored_issue(issue_id, device_id).await? {
                Some(found) => Ok(found),
                None => self.allocate(issue_id, device_id).await,
            }
        };
        if let (Err(why), Some(req)) = (&allocated, &fee) {
            self.refund_fee(req, why).await?;
        }
        allocated
    }

    /// The fee's payment request, if the operator charges one; a fee
    /// without the card to pay it is [`OperatorError::FeeUnpaid`].
    fn fee_payment<'a>(
        &'a self,
        issue_id: &str,
        payment: Option<&'a CardPayment>,
    ) -> Result<Option<PaymentRequest<'a>>, OperatorError> {
        let fee = self.operator.card_fee;
        if fee == 0 {
            return Ok(None);
        }
        let card = payment.ok_or(OperatorError::FeeUnpaid(fee))?;
        Ok(Some(PaymentRequest {
            operator: &self.operator,
            key: fee_key(&self.operator.id, issue_id),
            amount: Money::new(i64::from(fee), self.operator.currency),
            card,
        }))
    }

    async fn pay_fee(&self, req: &PaymentRequest<'_>) -> Result<(), OperatorError> {
        let payments = self
            .payments
            .as_ref()
            .ok_or(OperatorError::PaymentsUnavailable)?;
        payments.pay(req).await.inspect_err(|e| {
            tracing::info!(operator = %self.operator.id, error = %e, "card fee not approved");
        })?;
        Ok(())
    }

    /// Gives back a fee paid for an issue refused after the payment.
    async fn refund_fee(
        &self,
        req: &PaymentRequest<'_>,
        why: &OperatorError,
    ) -> Result<(), OperatorError> {
        let payments = self
            .payments
            .as_ref()
            .ok_or(OperatorError::PaymentsUnavailable)?;
        tracing::info!(operator = %self.operator.id, reason = %why, "issue refused after its fee: refunding");
        payments.refund(req).await.inspect_err(|e| {
            tracing::error!(operator = %self.operator.id, error = %e,
                "refunding a card fee failed: the issue id pays it back when asked again");
        })?;
        Ok(())
    }

    /// The number and time of an earlier issue under this id.
    async fn stored_issue(
        &self,
        issue_id: &str,
        device_id: &str,
    ) -> Result<Option<(i64, i64)>, OperatorError> {
        let row: Option<(String, i64, i64)> = sqlx::query_as(
            "SELECT device_id, number, created_at FROM operator_issued \
             WHERE operator = $1 AND issue_id = $2",
        )
        .bind(self.operator.id.as_str())
        .bind(issue_id)
        .fetch_optional(self.db.pool())
        .await?;
        match row {
            Some((device, _, _)) if device != device_id => {
                tracing::warn!(operator = %self.operator.id, "issue id reused for another device");
                Err(OperatorError::IssueConflict(issue_id.to_owned()))
            }
            Some((_, number, at)) => Ok(Some((number, at))),
            None => Ok(None),
        }
    }

    /// Takes the next number of the range for a new issue, in one
    /// transaction with the card's sealed row; refused while the device
    /// holds a live card of the operator.
    async fn allocate(&self, issue_id: &str, device_id: &str) -> Result<(i64, i64), OperatorError> {
        let op = self.operator.id.as_str();
        let mut tx = self.db.begin_write().await?;
        self.refuse_second_card(&mut tx, device_id).await?;
        let (next,): (Option<i64>,) = sqlx::query_as(
            "SELECT CAST(MAX(number) + 1 AS BIGINT) FROM operator_issued WHERE operator = $1",
        )
        .bind(op)
        .fetch_one(&mut *tx)
        .await?;
        let number = next.unwrap_or(0);
        let Some(serial) = nth_serial(&self.operator, number) else {
            tracing::error!(operator = op, "card number range exhausted");
            return Err(OperatorError::RangeExhausted);
        };
        let card = self.cipher.fingerprint(&serial);
        let sealed = self.cipher.seal(op, &card, &serial)?;
        let now = self.clock.now_millis();
        schema::CARDS
            .execute(
                &mut tx,
                self.db.backend(),
                &[vec![
                    Arg::Text(op.into()),
                    Arg::Text(card.clone()),
                    Arg::Text(sealed),
                ]],
            )
            .await?;
        sqlx::query(
            "INSERT INTO operator_issued \
             (operator, issue_id, device_id, number, card, created_at, fee) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(op)
        .bind(issue_id)
        .bind(device_id)
        .bind(number)
        .bind(card)
        .bind(now)
        .bind(i64::from(self.operator.card_fee))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(operator = op, number, "card issued");
        Ok((number, now))
    }

    /// Refused while the device holds a live card of the operator (one
    /// not on the hotlist).
    async fn refuse_second_card(
        &self,
        conn: &mut sqlx::AnyConnection,
        device_id: &str,
    ) -> Result<(), OperatorError> {
        let op = self.operator.id.as_str();
        let live: Option<(i64,)> = sqlx::query_as(
            "SELECT i.number FROM operator_issued i WHERE i.operator = $1 AND i.device_id = $2 \
             AND NOT EXISTS (SELECT 1 FROM operator_hotlist h \
                             WHERE h.operator = i.operator AND h.card = i.card) \
             ORDER BY i.number LIMIT 1",
        )
        .bind(op)
        .bind(device_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((number,)) = live else {
            return Ok(());
        };
        let held = nth_serial(&self.operator, number)
            .map(|s| paytap_transit::config::serial_digits(&s))
            .unwrap_or_default();
        tracing::info!(
            operator = op,
            "a second card of the operator for one device: refused"
        );
        Err(OperatorError::DeviceHasCard(held))
    }
}

/// The `n`th card number of the operator's range (0 is the first), if it
/// is in the range.
pub fn nth_serial(op: &Operator, n: i64) -> Option<[u8; SERIAL_LEN]> {
    let first: u128 = op.card_first.parse().ok()?;
    let number = first.checked_add(u128::try_from(n).ok()?)?;
    let serial = serial_from_digits(&format!("{number:020}"))?;
    op.owns_card(&serial).then_some(serial)
}

/// File 0x15 of a card issued on `day`: the operator's name in its first
/// eight bytes, the city code, valid from `day` for
/// [`CARD_VALIDITY_YEARS`].
fn public_data(op: &Operator, serial: [u8; SERIAL_LEN], day: Day) -> PublicData {
    let mut name = [b' '; 8];
    for (o, c) in name.iter_mut().zip(op.id.bytes()) {
        *o = c.to_ascii_uppercase();
    }
    let from = day.number();
    let to = from + CARD_VALIDITY_YEARS * 10_000;
    PublicData {
        operator: name,
        serial,
        valid_from: bcd4(from),
        valid_to: bcd4(to),
        city: bcd2(&op.city_code),
        card_type: CARD_TYPE_ADULT,
    }
}

/// `YYYYMMDD` as four BCD bytes.
fn bcd4(yyyymmdd: u32) -> [u8; 4] {
    let d = serial_digits_of(&format!("{yyyymmdd:08}"));
    [d[0], d[1], d[2], d[3]]
}

/// A four-digit city code as two BCD bytes (zeros if it is not digits: the
/// configuration was checked when loaded).
fn bcd2(code: &str) -> [u8; 2] {
    let d = serial_digits_of(&format!("{code:0>4}"));
    [d[0], d[1]]
}

/// Decimal digits packed two to a byte.
fn serial_digits_of(digits: &str) -> Vec<u8> {
    digits
        .as_bytes()
        .chunks(2)
        .map(|p| {
            let hi = p[0].wrapping_sub(b'0') & 0x0F;
            let lo = p.get(1).map_or(0, |c| c.wrapping_sub(b'0') & 0x0F);
            (hi << 4) | lo
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use paytap_transit::TransitConfig;
    use paytap_transit::config::serial_digits;

    fn beijing() -> Operator {
        TransitConfig::default_operators()
            .operator("beijing")
            .cloned()
            .unwrap()
    }

    #[test]
    fn numbers_come_from_the_range_in_order() {
        let op = beijing();
        let first = nth_serial(&op, 0).unwrap();
        assert_eq!(serial_digits(&first), op.card_first);
        let second = nth_serial(&op, 1).unwrap();
        assert!(second > first);
        assert_eq!(nth_serial(&op, -1), None);
        let span: u128 =
            op.card_last.parse::<u128>().unwrap() - op.card_first.parse::<u128>().unwrap();
        let last = nth_serial(&op, i64::try_from(span).unwrap()).unwrap();
        assert_eq!(serial_digits(&last), op.card_last);
        assert_eq!(nth_serial(&op, i64::try_from(span + 1).unwrap()), None);
    }

    #[test]
    fn public_data_names_the_city_and_ten_years() {
        let op = beijing();
        let p = public_data(&op, [0x10; 10], Day::from_number(20261205).unwrap());
        assert_eq!(p.valid_from, [0x20, 0x26, 0x12, 0x05]);
        assert_eq!(p.valid_to, [0x20, 0x36, 0x12, 0x05]);
        assert_eq!(hex::encode(p.city), op.city_code);
        assert_eq!(&p.operator, b"BEIJING ");
    }
}
