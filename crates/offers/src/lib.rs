//! Bank promotions, cashback and rewards points (sans-IO): which offers a
//! payment gets, and the money rules around them.
//!
//! Every payment kind fills one [`PaymentFacts`] (the same value the risk
//! engine reads) and calls [`OfferEngine::authorize`]: the eligible offers
//! are applied in their stacking order, each benefit reserved in its
//! offer's budget. Then exactly one of [`OfferEngine::capture`] (spent;
//! points credited), [`OfferEngine::release`] (declined or reversed:
//! returned), and after a capture possibly [`OfferEngine::refund`] (the
//! discount returns to the budget, the cashback is clawed back).
//!
//! * [`config`]: the offers file (`offers.toml`, embedded as the default,
//!   with the three default offers): eligibility (bank, BIN ranges, card
//!   type, device kind, channel, merchant, MCC, region, currency, time
//!   window, days of the week, minimum amount, a card's first use, the
//!   account's first payment on a channel, UPI), the benefit (discount at
//!   authorization or cashback after capture; percentage with a cap, or
//!   fixed), limits (per user and per card per period, a total budget),
//!   the stacking order, and the funder (bank, merchant or platform) with
//!   its ledger account name. Unknown fields, negative amounts, a
//!   percentage without a cap and two offers at one stacking place are
//!   refused.
//! * [`matching`]: eligibility, local days and periods.
//! * [`budget`]: a budget as a state machine: `reserved + spent <= total`
//!   after every call.
//! * [`engine`]: the payments' redemptions, usage limits and funder spend.
//! * [`points`]: rewards points by bank and channel, redeemable as cashback.
//! * [`bench`]: the core of `paytap bench offers` (the clock passed in).
//!
//! No clock is read, no socket or database touched: time is the payment's
//! `at_ms`, and the service that runs the engine stores its state and posts
//! the funders' movements on the ledger.
#![deny(missing_docs)]

pub mod bench;
pub mod budget;
pub mod config;
pub mod engine;
pub mod matching;
pub mod points;

pub use budget::{Budget, BudgetError};
pub use config::{
    Amount, BenefitKind, ConfigError, Funder, FunderKind, Offer, OffersFile, RawOffer,
};
pub use engine::{Applied, OfferEngine, OfferError, PaymentState, Quote, Returned, Settlement};
pub use paytap_types::PaymentFacts;
pub use points::{PointsBook, PointsError};
