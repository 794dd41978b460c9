//! UPI payments through the [`PaymentGuard`] port: the risk and offers
//! services see each payment the payer's app sends (a PAY, or the approval
//! of a merchant's or biller's collect request) before it leaves, and hear
//! how it ended once the switch answers for good.
//!
//! What the guard is told: channel `upi`, or `bills` for a collect request
//! whose payee is one of the billers' collection addresses; the payer's
//! UPI ID (the instrument: its velocity and blocklist key) with the time
//! its binding was made (the new-binding cooling-off); the wallet account
//! (the PSP's owner); the bound device (a phone); the payee as the
//! merchant, by its UPI ID and category code; the amount in rupees; the
//! region `in`; and whether this is the account's first payment on the
//! channel. The payment's id is `upi:<txn id>`: asked again under the same
//! transaction id, the guard answers what it answered the first time.
//!
//! UPI moves the payer's own amount: an instant discount cannot apply (the
//! `in` region's guard carries cashback offers only), and a cashback is
//! credited on the INR ledger once the payment succeeded.

use crate::model::Payment;
use crate::store::BindingRow;
use paytap_types::{
    Channel, Currency, DeviceFacts, DeviceKind, GuardAnswer, MerchantFacts, Money, PaymentFacts,
    PaymentGuard, UpiFacts,
};
use std::collections::HashSet;
use std::sync::Arc;

/// The code of a payment the risk checks refused (NPCI's "risk threshold
/// exceeded"): nothing was sent to the switch or a bank.
pub const RISK_DECLINED: &str = "U16";
/// The code of a payment the risk checks want the payer to confirm again
/// (paytap's own, chosen not to collide with NPCI's): verify it is you,
/// then approve again. Nothing was sent to the switch or a bank.
pub const STEP_UP: &str = "RV";
/// The data region of every UPI payment.
const REGION: &str = "in";

/// The guard a [`crate::Psp`] asks, and the billers' collection addresses
/// (a collect request from one of them is a bill payment).
pub(crate) struct GuardLink {
    pub guard: Arc<dyn PaymentGuard>,
    pub billers: HashSet<String>,
}

impl GuardLink {
    /// `bills` for an approved collect request of a biller, `upi` otherwise.
    pub fn channel(&self, kind: &str, payee: &str) -> Channel {
        if kind == "collect" && self.billers.contains(payee) {
            Channel::Bills
        } else {
            Channel::Upi
        }
    }

    /// What the guard is told of `p`, paid by `owner` from binding `b`
    /// (unknown once the binding is gone: no device, no binding time).
    pub fn facts(
        &self,
        owner: &str,
        p: &Payment,
        b: Option<&BindingRow>,
        first_on_channel: bool,
    ) -> PaymentFacts {
        let amount = Money::new(
            i64::try_from(p.amount_paise).unwrap_or(i64::MAX),
            Currency::INR,
        );
        let channel = self.channel(&p.kind, &p.payee_vpa);
        let id = paytap_types::upi_payment_id(&p.txn_id);
        let mut f = PaymentFacts::new(id, channel, amount, p.created_at);
        f.account_id = Some(owner.to_owned());
        f.region = Some(REGION.to_owned());
        f.upi = Some(UpiFacts {
            vpa: p.payer_vpa.clone(),
            bound_at_ms: b.map(|b| b.bound_at),
        });
        f.device = b.map(|b| DeviceFacts {
            id: b.device_id.clone(),
            kind: DeviceKind::Phone,
            enrolled_at_ms: None,
        });
        f.merchant = Some(MerchantFacts {
            id: p.payee_vpa.clone(),
            mcc: p.mcc.parse().unwrap_or(0),
        });
        f.first_on_channel = first_on_channel;
        f
    }
}

/// What the guard said, for the PSP: go on with the cashback it promises
/// (paise, when any), or the refusal the payer sees.
pub(crate) fn verdict(txn_id: &str, answer: GuardAnswer) -> Result<Option<u64>, crate::PspError> {
    match answer {
        GuardAnswer::Go {
            discount, cashback, ..
        } => {
            if discount.minor > 0 {
                // The amount is the payer's to send: a discount offer on
                // UPI is a configuration mistake, and the payer pays it all.
                tracing::warn!(
                    txn_id,
                    discount = discount.minor,
                    "an instant discount cannot apply to a UPI payment"
                );
            }
            Ok(u64::try_from(cashback.minor).ok().filter(|c| *c > 0))
        }
        GuardAnswer::StepUp { reason } => {
            tracing::info!(
                txn_id,
                reason,
                "UPI payment refused: the payer must verify again"
            );
            Err(crate::PspError::Refused {
                code: STEP_UP,
                message: "unusual activity on this UPI ID: verify it is you, then approve again",
            })
        }
        GuardAnswer::Decline { reason, .. } => {
            tracing::info!(txn_id, reason, "UPI payment refused by the risk checks");
            Err(crate::PspError::Refused {
                code: RISK_DECLINED,
                message: "declined by the risk checks",
            })
        }
    }
}
