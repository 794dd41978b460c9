//! The switch's limits and timers, each with its reason, and the limit check.

use crate::codes;

/// Largest person-to-person payment: ₹1,00,000, NPCI's P2P limit per transaction.
pub const P2P_MAX_PER_TXN_PAISE: u64 = 1_00_000_00;
/// Most a payer may pay people in one day: ₹1,00,000 (NPCI's daily P2P limit).
pub const P2P_MAX_PER_DAY_PAISE: u64 = 1_00_000_00;
/// Largest payment to a merchant: ₹2,00,000, NPCI's general P2M limit.
pub const P2M_MAX_PER_TXN_PAISE: u64 = 2_00_000_00;
/// Largest payment in the first [`NEW_BINDING_WINDOW_MS`] after the payer's
/// device was bound: ₹5,000, the cooling-off cap UPI apps apply so that a
/// stolen SIM cannot empty an account at once.
pub const NEW_BINDING_MAX_PAISE: u64 = 5_000_00;
/// How long a binding counts as new: 24 hours.
pub const NEW_BINDING_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// How long the remitter bank has to answer a debit before the switch reverses
/// it: 30 s, UPI's debit timeout.
pub const DEBIT_TIMEOUT_MS: i64 = 30_000;
/// How long the beneficiary bank has to answer a credit before the
/// transaction is DEEMED: 30 s.
pub const CREDIT_TIMEOUT_MS: i64 = 30_000;
/// How often an unanswered reversal is sent again: a reversal must land, and
/// the bank treats a repeat as the same reversal.
pub const REVERSAL_RETRY_MS: i64 = 60_000;
/// How often a DEEMED transaction's credit is checked again (ReqChkTxn).
pub const CHECK_RETRY_MS: i64 = 60_000;
/// How long a collect request stays open when it names no expiry: 30 minutes.
pub const DEFAULT_COLLECT_EXPIRY_MINUTES: u32 = 30;

/// What the switch's service knows about the payer, passed in with a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayerFacts {
    /// When the payer's device binding was made (Unix milliseconds); `None` when
    /// the payer pays from no bound device (a merchant's refund).
    pub bound_at: Option<i64>,
    /// What the payer has already paid to people today, in paise.
    pub p2p_paid_today: u64,
}

/// Check `amount` against the limits: `to_person` for a payment to a person.
/// `Err` carries the error code.
pub fn check(
    now: i64,
    amount: u64,
    to_person: bool,
    payer: &PayerFacts,
) -> Result<(), &'static str> {
    let new_binding = payer
        .bound_at
        .is_some_and(|at| now.saturating_sub(at) < NEW_BINDING_WINDOW_MS);
    if new_binding && amount > NEW_BINDING_MAX_PAISE {
        return Err(codes::LIMIT_EXCEEDED);
    }
    if to_person {
        if amount > P2P_MAX_PER_TXN_PAISE
            || payer.p2p_paid_today.saturating_add(amount) > P2P_MAX_PER_DAY_PAISE
        {
            return Err(codes::LIMIT_EXCEEDED);
        }
    } else if amount > P2M_MAX_PER_TXN_PAISE {
        return Err(codes::LIMIT_EXCEEDED);
    }
    Ok(())
}
