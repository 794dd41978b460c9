//! The states of one bill payment or recharge, from the request to the
//! biller's (or operator's) confirmation or the refund, and the one step
//! that moves each state on. The service stores the state before taking the
//! step, so a crash or a retried request resumes where it stopped: money
//! taken is either confirmed by the biller or given back, never kept
//! without a bill paid, and never taken twice.

use crate::BbpsError;
use serde::Serialize;

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayState {
    /// Recorded; the charge not yet asked for.
    Started,
    /// The charge was asked for and its outcome is not known yet (an
    /// unanswered request, a UPI DEEMED): asked again (the same id) until
    /// known.
    Charging,
    /// The money was taken; the biller has not confirmed yet.
    Paid,
    /// The biller confirmed the payment with its reference. Final.
    Confirmed,
    /// The biller was down or refused: the money is being given back.
    Refunding,
    /// The money was given back. Final.
    Refunded,
    /// The charge was refused: nothing was taken. Final.
    Declined,
}

/// What the service does next for a payment in a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Ask the rail (UPI or card) to take the money, under the payment's id.
    Charge,
    /// Tell the biller the bill is paid and ask for its reference.
    Fulfil,
    /// Give the money back: a UPI refund, or a card reversal.
    Refund,
}

/// What a step came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepOutcome {
    /// The charge took the money.
    Charged,
    /// The charge was refused.
    ChargeDeclined,
    /// The charge's outcome is not known yet.
    ChargeUnknown,
    /// The biller confirmed.
    Fulfilled,
    /// The biller is down or refused the payment.
    FulfilFailed,
    /// The money is back with the payer.
    Refunded,
    /// The refund did not go through yet: tried again later.
    RefundPending,
}

impl PayState {
    /// Every state.
    pub const ALL: [PayState; 7] = [
        PayState::Started,
        PayState::Charging,
        PayState::Paid,
        PayState::Confirmed,
        PayState::Refunding,
        PayState::Refunded,
        PayState::Declined,
    ];

    /// The word in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PayState::Started => "started",
            PayState::Charging => "charging",
            PayState::Paid => "paid",
            PayState::Confirmed => "confirmed",
            PayState::Refunding => "refunding",
            PayState::Refunded => "refunded",
            PayState::Declined => "declined",
        }
    }

    /// Whether nothing more will happen.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            PayState::Confirmed | PayState::Refunded | PayState::Declined
        )
    }

    /// The step this state calls for, if any.
    pub fn step(self) -> Option<Step> {
        match self {
            PayState::Started | PayState::Charging => Some(Step::Charge),
            PayState::Paid => Some(Step::Fulfil),
            PayState::Refunding => Some(Step::Refund),
            PayState::Confirmed | PayState::Refunded | PayState::Declined => None,
        }
    }

    /// The state after `outcome` of this state's step. An outcome that is
    /// not one of this state's step is our own bug, and an error here.
    pub fn after(self, outcome: StepOutcome) -> Result<PayState, BbpsError> {
        use StepOutcome as O;
        let next = match (self.step(), outcome) {
            (Some(Step::Charge), O::Charged) => PayState::Paid,
            (Some(Step::Charge), O::ChargeDeclined) => PayState::Declined,
            (Some(Step::Charge), O::ChargeUnknown) => PayState::Charging,
            (Some(Step::Fulfil), O::Fulfilled) => PayState::Confirmed,
            (Some(Step::Fulfil), O::FulfilFailed) => PayState::Refunding,
            (Some(Step::Refund), O::Refunded) => PayState::Refunded,
            (Some(Step::Refund), O::RefundPending) => PayState::Refunding,
            _ => return Err(BbpsError::Transition(self.as_str())),
        };
        Ok(next)
    }
}

impl std::str::FromStr for PayState {
    type Err = BbpsError;

    fn from_str(s: &str) -> Result<PayState, BbpsError> {
        PayState::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or(BbpsError::UnknownState)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn outcome() -> impl Strategy<Value = StepOutcome> {
        prop_oneof![
            Just(StepOutcome::Charged),
            Just(StepOutcome::ChargeDeclined),
            Just(StepOutcome::ChargeUnknown),
            Just(StepOutcome::Fulfilled),
            Just(StepOutcome::FulfilFailed),
            Just(StepOutcome::Refunded),
            Just(StepOutcome::RefundPending),
        ]
    }

    #[test]
    fn the_words_read_back() {
        for s in PayState::ALL {
            assert_eq!(s.as_str().parse::<PayState>().unwrap(), s);
        }
    }

    proptest! {
        /// Whatever the rails and billers answer, a payment whose money was
        /// taken ends confirmed or refunded, never declined; one whose money
        /// was never taken never ends confirmed or refunded.
        #[test]
        fn money_taken_is_confirmed_or_given_back(outcomes in prop::collection::vec(outcome(), 0..20)) {
            let mut state = PayState::Started;
            let mut taken = false;
            for o in outcomes {
                let Ok(next) = state.after(o) else { continue };
                prop_assert!(!state.is_final());
                taken |= next == PayState::Paid;
                state = next;
            }
            if state.is_final() {
                prop_assert_eq!(taken, state != PayState::Declined);
            }
            if taken {
                prop_assert!(state != PayState::Declined && state != PayState::Charging);
            }
        }
    }
}
