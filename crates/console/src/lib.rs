//! The operator's console: the people who run paytap's offers and risk
//! rules, apart from the wallet's account holders.
//!
//! Each data region has its own risk and offers services ([`RegionGuard`]:
//! the China region's on the network's database, India's on the `in`
//! region's database with its INR ledger); every page and API call works
//! on one region's, chosen with `?region=<code>` (the first region when the
//! request names none), and reads and changes it through that region's own
//! services, so nothing of one region's data is copied to another's
//! database.
//!
//! * [`operators`]: operator accounts (Argon2id passwords, as account
//!   holders'), sessions with their own `op_` tokens and their own cookie;
//!   an account holder's session is never an operator's.
//! * [`throttle`]: failed sign-ins buy a login cooldowns (the account
//!   holders' backoff rule, counted in the database), `429` with
//!   `Retry-After` on the API, a message on the sign-in page.
//! * `api`: the JSON API under `/console/api/v1` (bearer token): sign in,
//!   offers created or edited from a TOML table, paused and resumed, an
//!   offer's redemptions and budget, risk decisions with the rules that
//!   fired, the rules with their thresholds, their text replaced, a rule's
//!   shadow mode.
//! * `pages`: the same as server-rendered pages under `/console` (session
//!   cookie `pt_console`, CSRF tokens on every form), in English and
//!   Chinese (`i18n`).
//!
//! What operators change is made durable and live by `paytap-guard`
//! (`guard_settings`, over the rules and offers files). A request without
//! an operator's session gets `401` and changes nothing; an invalid offer
//! or rules text gets `422` with the checker's message and changes
//! nothing.
#![deny(missing_docs)]

mod api;
mod i18n;
pub mod operators;
mod pages;
mod schema;
pub mod throttle;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use paytap_guard::Guard;
use paytap_types::{Clock, SystemClock};
use paytap_web::CsrfKey;
use std::sync::Arc;

pub use operators::{Operators, Session};
pub use schema::MIGRATIONS;

/// Largest request body: a whole rules file fits many times over.
pub const MAX_BODY: usize = 64 * 1024;

/// Why a console call failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The database.
    #[error(transparent)]
    Store(#[from] paytap_store::StoreError),
    /// The risk and offers services.
    #[error(transparent)]
    Guard(#[from] paytap_guard::GuardError),
    /// Input that is not acceptable, with the reason.
    #[error("{0}")]
    Invalid(String),
    /// A region the console does not have.
    #[error("no region {0:?}")]
    UnknownRegion(String),
    /// Too many password checks at once.
    #[error("busy: try again in a moment")]
    Busy,
    /// The login's cooldown runs after repeated failed sign-ins
    /// ([`throttle`]); it may try again after the wait.
    #[error(
        "too many failed sign-ins for this login: try again in {}",
        paytap_wallet::error::wait_text(*retry_after_secs)
    )]
    TooManyAttempts {
        /// Seconds until the login may try again.
        retry_after_secs: u64,
    },
    /// Our own failure.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for ConsoleError {
    fn from(e: sqlx::Error) -> Self {
        ConsoleError::Store(e.into())
    }
}

/// One data region's risk and offers services, as the console shows them.
pub struct RegionGuard {
    /// The region's code (`cn`, `in`): what `?region=` names.
    pub code: String,
    /// Its guard, on the region's own database (`None`: risk and offers
    /// are off there, and its pages say so).
    pub guard: Option<Arc<Guard>>,
}

impl RegionGuard {
    /// Region `code` with its guard.
    pub fn new(code: &str, guard: Option<Arc<Guard>>) -> RegionGuard {
        RegionGuard {
            code: code.to_owned(),
            guard,
        }
    }

    fn offers(&self) -> Option<&paytap_guard::OffersService> {
        self.guard.as_ref().and_then(|g| g.offers.as_ref())
    }

    fn risk(&self) -> Option<&paytap_guard::RiskService> {
        self.guard.as_ref().and_then(|g| g.risk.as_ref())
    }
}

/// The query every console page and API call takes: the region it works
/// on (`None`: the first region).
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct RegionQuery {
    region: Option<String>,
}

/// The console: its operators and each region's guard.
pub struct Console {
    operators: Operators,
    regions: Vec<RegionGuard>,
    csrf: CsrfKey,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let codes: Vec<&str> = self.regions.iter().map(|r| r.code.as_str()).collect();
        f.debug_struct("Console")
            .field("operators", &self.operators)
            .field("regions", &codes)
            .finish_non_exhaustive()
    }
}

impl Console {
    /// The console over `operators` and the guards of `regions`; the first
    /// region is the one a request that names none works on.
    ///
    /// # Panics
    /// If `regions` is empty or names a region twice (the caller's own
    /// list, not input).
    pub fn new(operators: Operators, regions: Vec<RegionGuard>) -> Console {
        assert!(!regions.is_empty(), "the console has at least one region");
        let mut codes: Vec<&str> = regions.iter().map(|r| r.code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), regions.len(), "each region once");
        Console {
            operators,
            regions,
            csrf: CsrfKey::random(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The same console reading the time from `clock` (tests move it
    /// instead of waiting).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Console {
        self.clock = clock;
        self
    }

    /// Now, Unix ms.
    fn now_ms(&self) -> i64 {
        self.clock.now_millis()
    }

    /// The operators, to add one.
    pub fn operators(&self) -> &Operators {
        &self.operators
    }

    /// The regions, the default first.
    pub fn regions(&self) -> &[RegionGuard] {
        &self.regions
    }

    /// The region a request asked for, or the first when it named none.
    fn region(&self, q: &RegionQuery) -> Result<&RegionGuard, ConsoleError> {
        match q.region.as_deref() {
            None => Ok(&self.regions[0]),
            Some(code) => self
                .regions
                .iter()
                .find(|r| r.code == code)
                .ok_or_else(|| ConsoleError::UnknownRegion(code.to_owned())),
        }
    }
}

/// The console's routes (`/console`, `/console/api/v1`), to merge into the
/// site.
pub fn router(console: Arc<Console>) -> Router {
    api::routes()
        .merge(pages::routes())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(console)
}
