//! # paytap-switch: the card network
//!
//! The switch sits between acquirers (POS terminals and their processors)
//! and issuers. It owns:
//!
//! * the acquirer side ([`server`]): a TCP listener speaking ISO 8583:1987
//!   in 2-byte length-prefixed frames (`paytap_iso8583::frame`), many
//!   concurrent terminals per connection, answers matched by the terminal
//!   through DE 41 + DE 11; acquirers sign on with a MAC-signed `0800` and
//!   sign every message ([`auth`], [`Acquirers`]); anonymous connections
//!   are bounded and short-lived ([`admission`]);
//! * routing by BIN ([`routing`]): card ranges go to their issuer, token
//!   ranges to the token service ([`TokenService`]) first and then to the
//!   issuer of the funding card; unknown BIN → `92`;
//! * duplicate detection: the same (DE 32, DE 41, DE 11, DE 7) gets the first
//!   answer again and never a second hold;
//! * issuer time limits and stand-in processing ([`StandInRules`]), with
//!   store-and-forward reversals (`0400`) and stand-in advices (`0120`) so no
//!   money stays held when an issuer's answer is late or lost;
//! * the message log and clearing ([`log`]): every request/response pair
//!   with the masked card number, and end-of-day net settlement positions per
//!   issuer and acquirer that sum to zero per currency, plus the capture
//!   (`0220`) of approved, un-reversed authorizations at the issuers;
//! * a [`paytap_types::PaymentEvent`] for every authorization outcome, on a
//!   tokio broadcast channel;
//! * what an operator's metrics read ([`Stats`], [`counts`]): answers by
//!   message, channel and response code with their latency, stand-ins,
//!   reversals, and the depth of the log and store-and-forward queues.
//!
//! Issuers are reached through [`IssuerLink`] (in-process, or
//! [`TcpIssuerLink`]); the wire contract with issuers is in [`link`].
//! Card numbers never reach a log line, an error, a `Debug` string or the
//! database: the log keeps `622200******1234`.

pub mod admission;
pub mod auth;
pub mod config;
pub mod counts;
pub mod frames;
pub mod link;
pub mod log;
pub mod routing;
pub mod seal;
pub mod server;
mod switch;
pub mod token;

pub use auth::Acquirers;
pub use config::{IssuerRoute, StandInRules, SwitchConfig};
pub use link::{IssuerLink, LinkError, STAND_IN_INDICATOR, TcpIssuerLink, serve_issuer};
pub use log::{ClearingReport, LogKind, LogStatus, LoggedMessage, MessageLog, Party, Position};
pub use routing::{BinRange, Route, RoutingError, RoutingTable};
pub use seal::ForwardKey;
pub use server::{RunningSwitch, serve, serve_on};
pub use switch::{
    MAX_FORWARDS_QUEUED, Stats, Switch, SwitchError, SwitchParts, reason_for, utc_day,
};
pub use token::{
    Detokenized, TokenCompletion, TokenDecision, TokenHolder, TokenRefusal, TokenService,
    TokenWrites,
};

/// Re-exported so implementors of the ports need no direct dependency.
pub use futures::future::BoxFuture;
pub use paytap_iso8583 as iso8583;
