//! What the engine decides: plain values the payment path acts on and the
//! console shows.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What a rule does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Ask the account holder to verify again on the device (fingerprint,
    /// face, device PIN).
    StepUpBiometric,
    /// Send a one-time password to the account holder's phone.
    StepUpOtp,
    /// Refuse the payment.
    Decline,
}

impl Action {
    /// The name in the rules file (`step_up_biometric`, `step_up_otp`,
    /// `decline`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::StepUpBiometric => "step_up_biometric",
            Action::StepUpOtp => "step_up_otp",
            Action::Decline => "decline",
        }
    }
}

/// Why a payment was stepped up or declined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// Too many payments, or too much, in a window.
    Velocity,
    /// A new device, card or binding paying too much too soon.
    CoolingOff,
    /// Two places too far apart for the time between them.
    ImpossibleTravel,
    /// An amount far above the account's own history.
    UnusualAmount,
    /// Many declines in a row.
    DeclinesInRow,
    /// A device, card, UPI id or merchant on a blocklist.
    Blocklisted,
}

impl ReasonCode {
    /// The stable name stored with the decision.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Velocity => "velocity",
            ReasonCode::CoolingOff => "cooling_off",
            ReasonCode::ImpossibleTravel => "impossible_travel",
            ReasonCode::UnusualAmount => "unusual_amount",
            ReasonCode::DeclinesInRow => "declines_in_row",
            ReasonCode::Blocklisted => "blocklisted",
        }
    }

    /// The ISO 8583 response code (DE 39) a decline carries: `65` (activity
    /// count exceeded) for velocity, `62` (restricted) for a blocklist, `59`
    /// (suspected fraud) otherwise.
    pub fn response_code(self) -> &'static str {
        match self {
            ReasonCode::Velocity => "65",
            ReasonCode::Blocklisted => "62",
            _ => "59",
        }
    }
}

/// The engine's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "verdict")]
pub enum Verdict {
    /// Go on to the issuer or bank.
    Approve,
    /// Verify the account holder again, then go on.
    StepUp {
        /// Biometric or OTP.
        method: StepUpMethod,
        /// The reason of the strongest rule that asked for it.
        reason: ReasonCode,
    },
    /// Refuse, with a reason.
    Decline {
        /// The reason of the first declining rule.
        reason: ReasonCode,
    },
}

/// How a step-up verifies the account holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepUpMethod {
    /// On the device: fingerprint, face or device PIN.
    Biometric,
    /// A one-time password to the registered phone.
    Otp,
}

impl Verdict {
    /// The ISO 8583 response code for the payment path: `00` approve,
    /// `1A` (additional customer authentication required) step up, the
    /// reason's code for a decline.
    pub fn response_code(&self) -> &'static str {
        match self {
            Verdict::Approve => "00",
            Verdict::StepUp { .. } => "1A",
            Verdict::Decline { reason } => reason.response_code(),
        }
    }
}

/// One rule that fired, for the explanation stored with the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fired {
    /// The rule's name in the rules file (`blocklist` for the blocklists).
    pub rule: Arc<str>,
    /// What it did, or in shadow mode would have done.
    pub action: Action,
    /// Why.
    pub reason: ReasonCode,
    /// Whether it ran in shadow mode (recorded, not acted on).
    pub shadow: bool,
    /// The figures behind it, for people: "6 payments in 60 s (at most 5)".
    pub detail: String,
}

/// The decision on one payment: the verdict and every rule that fired,
/// shadow rules included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What to do.
    pub verdict: Verdict,
    /// The rules that fired, in evaluation order.
    pub fired: Vec<Fired>,
}

impl Decision {
    /// The verdict from the rules that fired: the strongest action of the
    /// rules not in shadow mode (decline over OTP over biometric), with the
    /// reason of the first rule that asked for it. Shadow rules never count.
    pub fn from_fired(fired: Vec<Fired>) -> Decision {
        let strongest =
            fired
                .iter()
                .filter(|f| !f.shadow)
                .fold(None::<&Fired>, |best, f| match best {
                    Some(b) if b.action >= f.action => Some(b),
                    _ => Some(f),
                });
        let verdict = match strongest {
            None => Verdict::Approve,
            Some(f) => match f.action {
                Action::Decline => Verdict::Decline { reason: f.reason },
                Action::StepUpOtp => Verdict::StepUp {
                    method: StepUpMethod::Otp,
                    reason: f.reason,
                },
                Action::StepUpBiometric => Verdict::StepUp {
                    method: StepUpMethod::Biometric,
                    reason: f.reason,
                },
            },
        };
        Decision { verdict, fired }
    }
}

/// How the payment ended, told to the engine after the fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The payment was approved (by the issuer or bank, after any step-up).
    Approved,
    /// The payment was declined (by this engine, a failed step-up, or the
    /// issuer or bank).
    Declined,
}
