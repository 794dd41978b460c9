//! paytap wallet service: a Mi Account-style wallet for phones, watches and
//! bands.
//!
//! * [`Wallet`] ([`service`]) is the service layer: plain async methods for
//!   accounts and sessions, devices and "find my device", cards (issuer ID&V
//!   green / yellow with a one-time passcode / red, then token provisioning,
//!   at most 8 cards per device), lost-or-stolen suspend / resume / wipe,
//!   and the payment history with live notifications. The web site calls it
//!   directly.
//! * [`router`] ([`http`]) is the HTTP JSON API under `/api/v1` on top of it,
//!   with its OpenAPI 3.1 description at `/api/v1/openapi.json`.
//! * [`upi_api`]: the UPI app's routes (`/api/v1/upi`), over the
//!   [`paytap_upipsp::Psp`] attached with [`Wallet::attach_upi`].
//! * [`band_history`]: a band's offline payments in its owner's history,
//!   over the [`BandHistory`] port attached with
//!   [`Wallet::attach_band_history`].
//! * [`transit`]: the account's transit cards (`/api/v1/transit/cards`) and
//!   a lost device's cards hotlisted, over the [`TransitCards`] port
//!   attached with [`Wallet::attach_transit`].
//! * [`step_up`]: a payment the risk engine stepped up (DE 39 `1A`)
//!   queues a `verify_payment` command for the device that paid.
//! * [`WalletNetwork`] ([`port`]) is how the wallet reaches the card network
//!   (issuer ID&V and the token service, EMV Payment Tokenisation
//!   framework roles); the network side implements it.
//!
//! Storage is per region ([`paytap_store::Regions`], `cn` and `in`): every
//! row about an account lives in its region's database ([`schema`]).
//!
//! Choices, stated once:
//! * **Not found, never forbidden.** A device, card or pending card of
//!   another account answers 404 exactly like an id that does not exist, so
//!   ids cannot be probed; nothing is read or changed.
//! * **Sessions** are 256-bit random bearer tokens, stored as SHA-256 only,
//!   with an absolute expiry (12 h by default, [`WalletConfig::session_ttl`]);
//!   use does not extend them. Logout deletes the session.
//! * **Passwords**: Argon2id, per-account random salt, m = 19 MiB, t = 2,
//!   p = 1 by default ([`PasswordParams`]). At most a few hashes run at
//!   once; beyond a short queue the answer is 503 with `Retry-After`
//!   ([`limits`]). Wrong passwords slow further attempts from the same
//!   address with growing delays (429 with `Retry-After`), never a lock
//!   the owner cannot pass: an address the account signed in from keeps
//!   its own budget ([`throttle`]). `X-Forwarded-For` is believed only
//!   from configured proxies ([`client_addr`]).
//! * **Login directory**: none. A login is looked up region by region (no
//!   region stores another's personal data); a session token names its
//!   region (`pt_cn_...`).
//! * **Card data**: the wallet never stores a card number or CVV. The
//!   details of a card waiting for its one-time passcode stay in memory
//!   (wiped on drop) until the passcode is checked or `otp_ttl` passes.
//! * **Idempotency**: see [`http`]; stored responses are kept for
//!   [`service::IDEMPOTENCY_RETENTION`] ([`Wallet::purge_expired`]).

#![recursion_limit = "256"]

pub mod auth;
pub mod band_history;
mod bills_api;
mod body;
pub mod client_addr;
pub mod error;
mod feed;
pub mod http;
pub mod idempotency;
pub mod limits;
pub mod locate;
mod locate_api;
pub mod model;
pub mod openapi;
pub mod points;
pub mod port;
pub mod schema;
pub mod server;
pub mod service;
pub mod signin;
pub mod step_up;
pub mod throttle;
pub mod transit;
pub mod transit_readings;
pub mod upi_api;

pub use auth::PasswordParams;
pub use band_history::{BandBound, BandHistory, BandOperation, BandOutcome};
pub use client_addr::TrustedProxies;
pub use error::WalletError;
pub use http::router;
pub use limits::HashGate;
pub use locate::{
    CommandAnswer, CommandKind, CommandState, ContactKind, DeviceCommand, MAX_KEPT_COMMANDS,
    MAX_OPEN_COMMANDS, MAX_PLACES_PER_DEVICE, Place,
};
pub use model::*;
pub use paytap_types::{Clock, ManualClock, SystemClock};
pub use port::{
    Actor, BoxFuture, CardDetails, DeviceBinding, IdvDecision, NetworkError, OtpDecision,
    ProvisionedCard, StateReason, TokenState, WalletNetwork,
};
pub use server::{ServerLimits, serve};
pub use service::{PaymentFeed, Wallet, WalletConfig, validate_card};
pub use step_up::{PaymentToVerify, STEP_UP_CODE};
pub use transit::{
    TransitAcceptor, TransitCard, TransitCardList, TransitCards, TransitFailure, TransitMoveOrder,
    TransitTopUp, TransitTrip,
};
pub use transit_readings::{TransitReading, TransitReadings};
