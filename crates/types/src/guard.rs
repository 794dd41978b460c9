//! [`PaymentGuard`]: the one port every payment kind calls on its way to
//! the issuer or bank, so that the risk engine and the offers run on every
//! payment. A card tap (the switch), a QR payment, a UPI payment or a
//! transit top-up fills one [`PaymentFacts`], asks [`PaymentGuard::check`]
//! before the money moves, and tells [`PaymentGuard::finish`] how it ended.
//! The implementation (`paytap-guard`) stores every decision and
//! redemption; a payment kind without a guard does no extra work.

use crate::{Money, PaymentFacts};
use std::future::Future;
use std::pin::Pin;

/// A boxed future, as the port's methods return (no async-trait crate).
pub type GuardFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the guard says about a payment before it goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardAnswer {
    /// Go on, charging `charge` (the amount less any instant discount).
    Go {
        /// What the account holder is charged.
        charge: Money,
        /// The instant discounts already off the charge.
        discount: Money,
        /// Cashback credited once the payment is captured.
        cashback: Money,
    },
    /// Verify the account holder again (biometric or OTP) before going on.
    StepUp {
        /// The risk reason (`velocity`, `cooling_off`, …).
        reason: &'static str,
    },
    /// Refuse the payment.
    Decline {
        /// The risk reason (`velocity`, `impossible_travel`, …).
        reason: &'static str,
        /// The ISO 8583 response code (DE 39) the decline carries.
        response_code: &'static str,
    },
}

/// How a payment the guard let through ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardOutcome {
    /// Approved and captured: discounts are spent, cashback is credited.
    Captured,
    /// Declined by the issuer or bank, or reversed before capture:
    /// everything reserved returns.
    Declined,
    /// Refunded after capture: the discount returns to its budget and the
    /// cashback is clawed back.
    Refunded,
}

/// The risk and offers services every payment passes through.
pub trait PaymentGuard: Send + Sync + 'static {
    /// Decides on a payment before the issuer or bank sees it; asked again
    /// with the same `payment_id`, answers what it answered the first time.
    fn check<'a>(&'a self, facts: &'a PaymentFacts) -> GuardFuture<'a, GuardAnswer>;

    /// Tells the guard how a payment ended. Repeating it changes nothing.
    fn finish<'a>(&'a self, facts: &'a PaymentFacts, outcome: GuardOutcome) -> GuardFuture<'a, ()>;
}
