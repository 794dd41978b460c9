//! The transit operators' side of the stored-value card (sans-IO): who the
//! operators are, what a ride costs, and the clearing of what gates upload.
//!
//! * [`config`]: the six default operators (`operators.toml`, embedded) or a
//!   file that replaces them: card number range, city code, fares, minimum
//!   balance to enter, maximum balance. Master keys are not in this file: the
//!   caller passes them in (from the vault's keyring).
//! * [`fare`]: pure fare functions (flat bus fare, metro fare by distance,
//!   transfer discount within a time window).
//! * [`clearing`]: verifies each uploaded gate record's TAC with the purse
//!   crate's crypto, drops duplicates, rejects forged and altered records,
//!   flags cloned cards onto a hotlist, and totals per gate and per day.
//! * [`tap`]: an in-process tap and load against a [`paytap_purse::Purse`]
//!   (tests, benchmarks).
//! * [`bench`]: the core of `paytap bench transit` (clocks passed in).
#![deny(missing_docs)]

pub mod bench;
pub mod clearing;
pub mod config;
pub mod fare;
pub mod tap;

pub use clearing::{Clearing, GateRecord, Rejection};
pub use config::{Operator, TransitConfig};
