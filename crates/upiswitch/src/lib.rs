//! # paytap-upiswitch
//!
//! The central UPI switch's handling of one transaction, sans-IO: events in
//! (messages received, timers fired, with the instant), actions out (messages
//! to send, timers to set, outcomes to record). The service around it owns the
//! HTTP endpoints, the address directory, persistence and the clock.
//!
//! A payment (PAY from the payer's PSP; COLLECT from a merchant's PSP once the
//! payer approves; REFUND from a merchant's PSP for an earlier payment) goes:
//!
//! ```text
//! ReqPay ─▶ DEBIT to the remitter bank ─▶ CREDIT to the beneficiary bank ─▶ RespPay SUCCESS
//!             │ FAILURE: RespPay FAILURE      │ FAILURE: REVERSAL ─▶ RespPay FAILURE
//!             │ no answer: REVERSAL           │ no answer: RespPay DEEMED, then ReqChkTxn
//!                                             │   until the bank knows: SUCCESS, or REVERSAL
//! ```
//!
//! Invariants: a transaction id is debited at most once (a repeated request gets
//! the answer already given, a different request under the same id is refused);
//! every debit ends credited or reversed; every transaction reaches exactly one
//! final [`Outcome`]. They rest on what the banks promise, which the emulated
//! banks must keep:
//! - a repeated DEBIT, CREDIT or REVERSAL of one transaction id is the same
//!   operation (idempotent);
//! - a REVERSAL of a debit not (yet) made is answered SUCCESS and makes any later
//!   DEBIT of that id fail;
//! - a status check answered FAILURE makes any later CREDIT of that id fail.
//!
//! Limits ([`limits`]) are checked before the debit: ₹1,00,000 per P2P payment
//! and per day, ₹2,00,000 per merchant payment, ₹5,000 in the first 24 hours
//! after the payer's device was bound. Only merchants may collect.
#![deny(missing_docs)]
// Rupee amounts are written the Indian way, lakhs and crores, then paise:
// `1_00_000_00` is ₹1,00,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

pub mod codes;
pub mod limits;
mod messages;
mod state;
mod switch;

pub use limits::PayerFacts;
pub use state::{Outcome, State, Timer, Transaction};
pub use switch::{Action, Dest, Event, Switch, SwitchError};

#[cfg(test)]
mod tests;
