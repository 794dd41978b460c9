//! paytap-issuer: the bank emulator behind the paytap card network.
//!
//! * [`config`]: twenty banks by default (`banks.toml`, embedded), each
//!   with card and token BIN ranges, country, currency, stand-in limits,
//!   card limits and ID&V rules; a file can replace them.
//! * [`Issuer`] ([`service`]): cardholder accounts on the double-entry
//!   ledger (debit balance or credit limit), cards (status, expiry, limits)
//!   whose numbers live only in the vault, [`Issuer::issue_card`] for demos
//!   and tests.
//! * Authorization ([`auth`]): ISO 8583:1987 0100/0200 → 0110/0210 with a
//!   ledger hold (a `0200` captured at once: `financial`), 0120 stand-in advices, 0400/0420 reversals, 0220 clearing
//!   captures; card (non-token) ARQC verification with the bank's IMK and
//!   the ARPC (EMV Book 2 §8.1–8.2). The response codes are listed in
//!   [`auth`].
//! * ID&V ([`idv`]): green / yellow (one-time passcode) / red.
//! * [`cvv`]: CVV/CVV2 computed from the bank's CVK, never stored.
//! * [`upi`]: the INR banks' UPI side: savings accounts (account number,
//!   IFSC, mobile) on the ledger, and the switch's DEBIT, CREDIT, REVERSAL
//!   and status check, idempotent by transaction id.
//! * [`reconcile`]: at start, the approvals a crash left half written (a
//!   record without its ledger hold, or a hold without its record) are
//!   found and resolved before any request.
//!
//! The issuer knows nothing of the switch: `paytap-network` adapts
//! [`Issuer::handle`] to the switch's issuer link, in-process or behind a
//! TCP endpoint.
//!
//! ## Hot path and ownership
//!
//! One process owns the issuer tables of a database (as `paytap up` does):
//! authorization records are group-committed by one writer task (one
//! durable commit for many concurrent authorizations, answered only after
//! the commit), the card number → card id mapping (immutable), card rows
//! (written through on every change) and each card's spend window for the daily limit and velocity are kept in memory
//! after first use. Per authorization the database then sees one
//! duplicate lookup, the ledger hold and the batched insert.
//! Work on one card is serialised (limits are exact); different cards run
//! in parallel.

pub mod auth;
use paytap_store::batch;
use paytap_store::cache;
pub mod config;
pub mod cvv;
mod error;
mod financial;
pub mod idv;
pub mod keys;
pub mod reconcile;
pub mod service;
mod state;
pub mod time;
pub mod upi;
pub mod upi_pin;
mod window;

pub use config::{BankConfig, IdvRules, IssuerConfig, Limits, OtpConfig, StandIn};
pub use error::IssuerError;
pub use idv::{IdvDecision, IdvRequest, OtpOutcome, RedReason, Verification, VerificationState};
pub use keys::{BankKeys, IssuerKeys};
pub use paytap_types::Clock;
pub use service::{
    CardInfo, CardStatus, IssueCard, IssuedCard, Issuer, MIGRATIONS, OtpDelivery, Product,
};
pub use upi::{DebitCard, LegResult, UPI_MIGRATIONS, UpiAccount, UpiBanks};
pub use upi_pin::{PinKey, PinOtp, SetPin};
