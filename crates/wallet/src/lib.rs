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
//! * [`WalletNetwork`] ([`port`]) is how the wallet reaches the card network
//!   (issuer ID&V and the token service, EMV Payment Tokenisation
//!   framework roles); the network side implements it.
//!
//! Storage is per region ([`paytap_store::Regions`], `cn` and `in`): every
//! row about an account lives in its region's database ([`schema`]).

pub mod auth;
pub mod clock;
pub mod error;
pub mod http;
pub mod model;
pub mod openapi;
pub mod port;
pub mod schema;
pub mod service;

pub use auth::PasswordParams;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::WalletError;
pub use http::router;
pub use model::*;
pub use port::{
    Actor, BoxFuture, CardDetails, CardExpiry, DeviceBinding, IdvDecision, NetworkError,
    OtpDecision, ProvisionedCard, StateReason, TokenState, WalletNetwork,
};
pub use service::{PaymentFeed, Wallet, WalletConfig, validate_card};
