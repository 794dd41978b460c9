//! The risk and offers services every payment passes through.
//!
//! The sans-IO engines (`paytap-risk`, `paytap-offers`) decide; this crate
//! makes their decisions durable and implements the one port every payment
//! kind calls, [`paytap_types::PaymentGuard`]:
//!
//! * [`risk::RiskService`]: each decision stored with every rule that fired
//!   (shadow rules included) before it is acted on; the state the rules need
//!   rebuilt at start from the decisions whose outcome is known.
//! * [`offers::OffersService`]: each payment's redemption, the budgets
//!   (never overspent: one in-memory lock, and a `CHECK` on the budget's
//!   row in the database), written through the store's group commit, and
//!   the funders' movements on the ledger.
//! * [`points`]: rewards points as a journal (`points_entries`), earned at
//!   capture, taken back on a refund, redeemed as cashback on the ledger.
//! * [`Guard`]: both behind the port. Risk first: a declined or stepped-up
//!   payment reserves no offer.
//!
//! Tables (`schema.rs`, SQLite and PostgreSQL): `risk_decisions`,
//! `offer_payments`, `offer_redemptions`, `offer_budgets`, and
//! `guard_settings` (`settings.rs`: what operators changed in the console,
//! kept over the rules and offers files and read at start after them).
#![deny(missing_docs)]

pub mod offers;
pub mod points;
pub mod risk;
mod schema;
mod settings;

pub use offers::{OfferRedemption, OfferView, OffersService, Redemption};
pub use paytap_offers::OfferError;
pub use points::{PointsBalance, PointsEntry};
pub use risk::{ConsoleDecision, RiskService, RuleView, RulesView, StoredDecision};
pub use schema::MIGRATIONS;

use paytap_risk::{Outcome, Verdict};
use paytap_types::{GuardAnswer, GuardFuture, GuardOutcome, PaymentFacts, PaymentGuard};

/// Why a guard call failed.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// The database.
    #[error(transparent)]
    Store(#[from] paytap_store::StoreError),
    /// The ledger.
    #[error(transparent)]
    Ledger(#[from] paytap_ledger::LedgerError),
    /// The offers engine refused the call.
    #[error(transparent)]
    Offer(#[from] paytap_offers::OfferError),
    /// Risk rules an operator wrote are not valid.
    #[error(transparent)]
    Rules(#[from] paytap_risk::ConfigError),
    /// Points do not move (too few held, below the smallest redemption,
    /// no value in the currency).
    #[error(transparent)]
    Points(#[from] paytap_offers::PointsError),
    /// A caller's value that is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// No risk rule has this name.
    #[error("no risk rule {0:?}")]
    UnknownRule(String),
    /// A stored row could not be read back.
    #[error("stored value unreadable: {0}")]
    Json(#[from] serde_json::Error),
    /// A group commit failed (the writer's message).
    #[error("guard write not committed: {0}")]
    Write(String),
    /// A stored value that cannot be.
    #[error("corrupt guard data: {0}")]
    Corrupt(String),
    /// The database refused a reservation the engine made (another process
    /// spent the budget): the payment goes on without the offer.
    #[error("offer {0:?}: budget exhausted in the database")]
    BudgetExhausted(String),
}

impl From<sqlx::Error> for GuardError {
    fn from(e: sqlx::Error) -> Self {
        GuardError::Store(e.into())
    }
}

/// The risk and offers services together, behind [`PaymentGuard`]. Either
/// may be off (`None`): a payment then skips it entirely.
#[derive(Debug, Default)]
pub struct Guard {
    /// The risk service, when risk is on.
    pub risk: Option<RiskService>,
    /// The offers service, when offers are on.
    pub offers: Option<OffersService>,
}

impl Guard {
    /// Risk, then offers: a payment the risk engine does not approve
    /// reserves no offer. A failure of the risk service declines nothing
    /// by itself (it is logged and the payment goes on: the issuer still
    /// decides); a failure of the offers service charges the full amount.
    ///
    /// When the engine approves, its decision is stored while the offers
    /// are reserved (both writes share the store's group commit); the
    /// answer waits for both. Should the stored decision be another (a
    /// retried payment decided otherwise before), that one is answered and
    /// the offers are released.
    pub async fn check_payment(&self, facts: &PaymentFacts) -> GuardAnswer {
        let Some(risk) = &self.risk else {
            return self.offers_answer(facts).await;
        };
        let decision = risk.evaluate(facts);
        if decision.verdict != Verdict::Approve {
            let stored = risk.store(facts, decision).await;
            return match stored_verdict(facts, stored) {
                Some(answer) => answer,
                None => self.offers_answer(facts).await,
            };
        }
        let (stored, answer) = tokio::join!(risk.store(facts, decision), self.offers_answer(facts));
        match stored_verdict(facts, stored) {
            None => answer,
            Some(refused) => {
                self.settle_offers(facts, GuardOutcome::Declined).await;
                refused
            }
        }
    }

    /// What the offers give the payment: the charge, the discount and the
    /// cashback (the whole amount and nothing when offers are off or fail).
    async fn offers_answer(&self, facts: &PaymentFacts) -> GuardAnswer {
        let zero = paytap_types::Money::new(0, facts.amount.currency);
        let redemption = match &self.offers {
            None => None,
            Some(offers) => match offers.authorize(facts).await {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::error!(payment = %facts.payment_id, error = %e, "offers not applied");
                    None
                }
            },
        };
        match redemption {
            Some(r) => GuardAnswer::Go {
                charge: r.charge,
                discount: r.discount,
                cashback: r.cashback,
            },
            None => GuardAnswer::Go {
                charge: facts.amount,
                discount: zero,
                cashback: zero,
            },
        }
    }

    /// How the payment ended: the risk state moves, and the offers are
    /// captured, released or refunded. The two are independent, so their
    /// writes run at once and share the store's group commit.
    pub async fn finish_payment(&self, facts: &PaymentFacts, outcome: GuardOutcome) {
        tokio::join!(
            self.record_risk(facts, outcome),
            self.settle_offers(facts, outcome)
        );
    }

    async fn record_risk(&self, facts: &PaymentFacts, outcome: GuardOutcome) {
        let Some(risk) = &self.risk else { return };
        let o = match outcome {
            GuardOutcome::Captured => Outcome::Approved,
            GuardOutcome::Declined => Outcome::Declined,
            GuardOutcome::Refunded => return,
        };
        if let Err(e) = risk.record(facts, o).await {
            tracing::error!(payment = %facts.payment_id, error = %e, "risk outcome not recorded");
        }
    }

    async fn settle_offers(&self, facts: &PaymentFacts, outcome: GuardOutcome) {
        let Some(offers) = &self.offers else { return };
        let id = facts.payment_id.as_str();
        let done = match outcome {
            GuardOutcome::Captured => offers.capture(id).await,
            GuardOutcome::Declined => offers.release(id).await,
            GuardOutcome::Refunded => offers.refund(id).await,
        };
        if let Err(e) = done {
            tracing::error!(payment = %id, error = %e, ?outcome, "offers not settled");
        }
    }
}

/// The answer of a stored risk decision that stops the payment (a step-up
/// or a decline); `None` when it goes on (approved, or the decision could
/// not be stored: logged, and the issuer still decides).
fn stored_verdict(
    facts: &PaymentFacts,
    stored: Result<paytap_risk::Decision, GuardError>,
) -> Option<GuardAnswer> {
    let decision = match stored {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(payment = %facts.payment_id, error = %e, "risk decision not stored; the payment goes on");
            return None;
        }
    };
    match decision.verdict {
        Verdict::Approve => None,
        Verdict::StepUp { reason, .. } => Some(GuardAnswer::StepUp {
            reason: reason.as_str(),
        }),
        Verdict::Decline { reason } => Some(GuardAnswer::Decline {
            reason: reason.as_str(),
            response_code: reason.response_code(),
        }),
    }
}

impl PaymentGuard for Guard {
    fn check<'a>(&'a self, facts: &'a PaymentFacts) -> GuardFuture<'a, GuardAnswer> {
        Box::pin(self.check_payment(facts))
    }

    fn finish<'a>(&'a self, facts: &'a PaymentFacts, outcome: GuardOutcome) -> GuardFuture<'a, ()> {
        Box::pin(self.finish_payment(facts, outcome))
    }
}
