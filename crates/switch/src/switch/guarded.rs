//! A card authorization through the [`PaymentGuard`] port: the risk and
//! offers services see it after routing and before the issuer does. Only
//! when a guard is configured: without one the switch builds no facts and
//! makes no call.

use super::AuthContext;
use crate::routing::BinRange;
use crate::token::TokenHolder;
use paytap_iso8583::{Message, ResponseCode};
use paytap_types::{
    COMMUTER_TRANSPORT_MCC, CardFacts, CardType, Channel, GuardAnswer, GuardOutcome, MerchantFacts,
    Money, PaymentFacts, PaymentGuard,
};

/// Digits of the funding card's number the rules see: its BIN, never more.
const BIN_DIGITS: usize = 6;

/// A card payment's id for the guard: its duplicate key, which a
/// reversal names too (DE 32, DE 41, and DE 90's STAN and DE 7). The
/// transmission time (DE 7, `MMDDhhmmss`) comes first so that the guard's
/// tables, keyed by it, take new payments at the end of their indexes: a
/// group commit then writes a few index pages, not one per terminal.
pub(super) fn payment_id(acquirer: &str, terminal: &str, stan: u32, transmission: &str) -> String {
    format!("card:{transmission}:{acquirer}:{terminal}:{stan:06}")
}

/// Tells the guard an approved authorization was reversed: its offers are
/// refunded (the discount returns to its budget, the cashback is clawed
/// back). Only the payment's id and amount are known here.
pub(super) async fn reversed(
    guard: &dyn PaymentGuard,
    payment_id: String,
    amount: Money,
    at_ms: i64,
) {
    let facts = PaymentFacts::new(payment_id, Channel::Nfc, amount, at_ms);
    guard.finish(&facts, GuardOutcome::Refunded).await;
}

/// What the guard is told of a card authorization. The payment id is the
/// duplicate key (acquirer, terminal, STAN, transmission time), so a
/// retransmission is the same payment. A token's card is known by the
/// funding card's vault id (one card on every device), with the account,
/// the time it was added and whether this is its first payment, all from
/// the token record the token service already read (a card paid without a
/// token has no card facts); and by the funding card's BIN and bank. A
/// cryptogram that vouches for the holder's fingerprint or face meets a
/// biometric step-up. The card is credit when its number is in one of the
/// bank's credit ranges (`bank.1`), debit otherwise.
pub(super) fn facts(
    request: &Message,
    issuer_request: &Message,
    ctx: &AuthContext,
    holder: Option<&TokenHolder>,
    bank: (&str, &[BinRange]),
) -> PaymentFacts {
    let (bank, credit_ranges) = bank;
    let funding = issuer_request.get_str(2).unwrap_or_default();
    let id = payment_id(&ctx.acquirer, &ctx.terminal, ctx.stan, &ctx.transmission);
    let mcc = request
        .merchant_type()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut f = PaymentFacts::new(
        id,
        channel_of(request.pos_entry_mode(), mcc),
        Money::new(ctx.amount, ctx.currency),
        ctx.started,
    );
    f.account_id = holder.and_then(|h| h.account_id.clone());
    f.biometric_verified = holder.is_some_and(|h| h.cdcvm_performed);
    f.card = holder.map(|h| CardFacts {
        fingerprint: h.card.clone(),
        bin: funding.get(..BIN_DIGITS).unwrap_or_default().to_owned(),
        bank: bank.to_owned(),
        card_type: card_type(funding, credit_ranges),
        added_at_ms: h.added_at_ms,
        first_use: h.first_use,
    });
    f.merchant = request.merchant_id().map(|m| MerchantFacts {
        id: m.trim().to_owned(),
        mcc,
    });
    f
}

/// The guard's channel of a card payment: a payment to a transit operator
/// (DE 18 [`COMMUTER_TRANSPORT_MCC`]) is a transit top-up; otherwise by its
/// DE 22, a code read from a screen or paper (`03x`: a phone's code the
/// register scanned, or a shop's code the phone scanned) is a QR payment,
/// anything else a tap.
fn channel_of(pos_entry_mode: Option<&str>, mcc: u16) -> Channel {
    if mcc == COMMUTER_TRANSPORT_MCC {
        return Channel::Transit;
    }
    match pos_entry_mode.and_then(|m| m.get(..2)) {
        Some("03") => Channel::Qr,
        _ => Channel::Nfc,
    }
}

/// Credit when the funding card's number is in one of its bank's credit
/// ranges, debit otherwise.
fn card_type(funding: &str, credit_ranges: &[BinRange]) -> CardType {
    if credit_ranges.iter().any(|r| r.contains(funding)) {
        CardType::Credit
    } else {
        CardType::Debit
    }
}

/// An instant discount and a cashback, when the payment got them.
type Benefits = (Option<Money>, Option<Money>);

fn some(m: Money) -> Option<Money> {
    (m.minor > 0).then_some(m)
}

/// Asks the guard. `Ok` goes on to the issuer, asking for the charge (the
/// amount less any instant discount), with what the payment saves and
/// earns; `Err` is the decline's code and reason (a risk decline's code,
/// or `1A` for a step-up).
pub(super) async fn check(
    guard: &dyn PaymentGuard,
    facts: &PaymentFacts,
    issuer_request: &mut Message,
) -> Result<Benefits, (ResponseCode, String)> {
    match guard.check(facts).await {
        GuardAnswer::Go {
            charge, cashback, ..
        } if charge == facts.amount => Ok((None, some(cashback))),
        GuardAnswer::Go {
            charge,
            discount,
            cashback,
        } => {
            let set = u64::try_from(charge.minor)
                .map_err(|_| "negative charge".to_owned())
                .and_then(|c| issuer_request.set_amount(c).map_err(|e| e.to_string()));
            set.map_err(|e| {
                tracing::error!(payment = %facts.payment_id, error = %e, "discounted charge not set");
                (ResponseCode::SystemMalfunction, "offers".to_owned())
            })?;
            Ok((some(discount), some(cashback)))
        }
        GuardAnswer::StepUp { reason } => {
            let code = ResponseCode::AdditionalAuthenticationRequired;
            Err((
                code,
                format!("{} (risk: {reason})", super::reason_for(code)),
            ))
        }
        GuardAnswer::Decline {
            reason,
            response_code,
        } => {
            let code =
                ResponseCode::from_code(response_code).unwrap_or(ResponseCode::SuspectedFraud);
            Err((
                code,
                format!("{} (risk: {reason})", super::reason_for(code)),
            ))
        }
    }
}

/// Tells the guard how the authorization ended: an approval captures the
/// offers (the card path captures at approval), anything else releases them.
pub(super) async fn finish(guard: &dyn PaymentGuard, facts: &PaymentFacts, approved: bool) {
    let outcome = if approved {
        GuardOutcome::Captured
    } else {
        GuardOutcome::Declined
    };
    guard.finish(facts, outcome).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scanned_code_is_a_qr_payment_and_a_tap_is_nfc() {
        assert_eq!(
            channel_of(Some("031"), 5812),
            Channel::Qr,
            "the phone scanned"
        );
        assert_eq!(
            channel_of(Some("032"), 5411),
            Channel::Qr,
            "the register scanned"
        );
        assert_eq!(channel_of(Some("071"), 5411), Channel::Nfc);
        assert_eq!(channel_of(None, 0), Channel::Nfc);
        assert_eq!(
            channel_of(Some("031"), COMMUTER_TRANSPORT_MCC),
            Channel::Transit,
            "a transit operator's top-up"
        );
    }

    #[test]
    fn a_card_in_its_banks_credit_range_is_credit() {
        let credit = [BinRange::new("6201015", "6201015").expect("range")];
        assert_eq!(card_type("6201015000000001", &credit), CardType::Credit);
        assert_eq!(card_type("6201010000000001", &credit), CardType::Debit);
        assert_eq!(card_type("6201015000000001", &[]), CardType::Debit);
    }
}
