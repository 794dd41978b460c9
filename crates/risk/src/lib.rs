//! The fraud and risk engine (sans-IO): a decision on every payment before
//! the issuer or bank sees it.
//!
//! Every payment kind fills one [`PaymentFacts`] (channel, amount, the card
//! by fingerprint and BIN, device, account, UPI id, merchant and MCC, region,
//! place, time) and asks [`RiskEngine::decide`]: approve, step up (biometric
//! or OTP), or decline with a [`ReasonCode`]. The [`Decision`] carries every
//! rule that fired, shadow rules included, for the explanation stored with
//! it. When the payment has ended, [`RiskEngine::record`] is told the
//! [`Outcome`]; only then does the state move.
//!
//! * [`config`]: the rules file (`rules.toml`, embedded as the default):
//!   velocity per card, device, account, UPI id and merchant (count and sum
//!   over sliding windows), cooling-off after a new device, card or UPI
//!   binding, impossible travel (haversine distance over time against a
//!   configurable speed), an amount far above the account's own history,
//!   declines in a row, and blocklists. Any rule may run in shadow mode.
//! * [`engine`]: deciding and recording.
//! * [`state`]: what is remembered per key, bounded by named constants with
//!   eviction.
//! * [`decision`]: the plain values the payment path acts on.
//! * [`geo`]: great-circle distance.
//! * [`bench`]: the core of `paytap bench risk` (the clock passed in).
//!
//! No clock is read, no socket or database touched: time is the payment's
//! `at_ms`, and the service that runs the engine stores its decisions.
#![deny(missing_docs)]

pub mod bench;
pub mod config;
pub mod decision;
pub mod engine;
pub mod geo;
pub mod state;

pub use config::{ConfigError, KeyKind, RiskRules, Rule, RuleKind};
pub use decision::{Action, Decision, Fired, Outcome, ReasonCode, StepUpMethod, Verdict};
pub use engine::{BlockError, ListKind, RiskEngine};
pub use paytap_types::PaymentFacts;
