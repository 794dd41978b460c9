//! Rewards points in the wallet: the account's balance and newest entries
//! (`GET /api/v1/points`) and a redemption as cashback
//! (`POST /api/v1/points/redemptions`, `{"points", "currency"}`). The
//! account's region decides who keeps them (earned per payment by bank and
//! channel, taken back on a refund): the [`PointsKeeper`] attached for the
//! region ([`Wallet::attach_points`]: India's risk and offers services, on
//! the `in` region's database and INR ledger), else the card network
//! through [`crate::WalletNetwork`]. A redemption is idempotent twice over:
//! the wallet's `Idempotency-Key` record, and the keeper's own key (the
//! header's hash, or a fresh one without a header).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use paytap_types::{Currency, Money};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::error::WalletError;
use crate::http::{ApiError, Authed, call, to_value};
use crate::idempotency::{Fingerprinted, idempotent};
use crate::model::Principal;
use crate::port::{BoxFuture, NetworkError};
use crate::service::Wallet;

/// The most points one redemption takes.
pub const MAX_REDEEMED: u64 = 100_000_000;

/// An account's points, as the network keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Points {
    /// Points held.
    pub points: u64,
    /// The newest entries.
    pub entries: Vec<PointsEntry>,
}

/// One entry of an account's points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsEntry {
    /// `earned`, `taken_back` or `redeemed`.
    pub kind: String,
    /// Points in (positive) or out (negative).
    pub points: i64,
    /// The payment that earned or lost them.
    pub payment_id: Option<String>,
    /// The cashback a redemption paid.
    pub cashback: Option<Money>,
    /// When (Unix ms).
    pub at: i64,
}

/// What a redemption paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redeemed {
    /// Points redeemed.
    pub points: u64,
    /// The cashback they paid.
    pub cashback: Money,
}

/// Who keeps the rewards points of one region's accounts, when the card
/// network does not: the same two calls as [`crate::WalletNetwork`]'s.
pub trait PointsKeeper: Send + Sync {
    /// The account's points and their newest entries; `Unavailable` when
    /// the region keeps none.
    fn points<'a>(&'a self, account_id: &'a str) -> BoxFuture<'a, Result<Points, NetworkError>>;

    /// Redeems `points` of the account as cashback in `currency`, once per
    /// `key`; too few points, or points without value in the currency, is
    /// `Rejected`.
    fn redeem_points<'a>(
        &'a self,
        account_id: &'a str,
        points: u64,
        currency: Currency,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Money, NetworkError>>;
}

/// The keepers attached, by region.
#[derive(Default)]
pub(crate) struct Keepers(RwLock<HashMap<String, Arc<dyn PointsKeeper>>>);

impl Keepers {
    fn of(&self, region: &str) -> Option<Arc<dyn PointsKeeper>> {
        paytap_types::sync::read(&self.0, "points keepers")
            .get(region)
            .cloned()
    }
}

impl Wallet {
    /// Has `keeper` keep the points of the accounts of `region` (instead
    /// of the card network); a second keeper for a region replaces the
    /// first.
    pub fn attach_points(&self, region: &str, keeper: Arc<dyn PointsKeeper>) {
        let replaced = paytap_types::sync::write(&self.inner.points.0, "points keepers")
            .insert(region.to_owned(), keeper);
        if replaced.is_some() {
            tracing::warn!(region, "a points keeper was replaced");
        }
    }

    /// The account's points, from its region's keeper.
    pub async fn points(&self, p: &Principal) -> Result<Points, WalletError> {
        let held = match self.inner.points.of(&p.region) {
            Some(keeper) => keeper.points(&p.account_id).await,
            None => self.inner.network.points(&p.account_id).await,
        };
        Ok(held?)
    }

    /// Redeems points as cashback, once per `key`.
    pub async fn redeem_points(
        &self,
        p: &Principal,
        points: u64,
        currency: &str,
        key: &str,
    ) -> Result<Redeemed, WalletError> {
        if points == 0 || points > MAX_REDEEMED {
            return Err(WalletError::invalid(
                "points",
                format!("redeem 1 to {MAX_REDEEMED} points"),
            ));
        }
        let currency = Currency::from_code(currency)
            .map_err(|_| WalletError::invalid("currency", "an ISO 4217 code, e.g. CNY"))?;
        let paid = match self.inner.points.of(&p.region) {
            Some(keeper) => {
                keeper
                    .redeem_points(&p.account_id, points, currency, key)
                    .await
            }
            None => {
                self.inner
                    .network
                    .redeem_points(&p.account_id, points, currency, key)
                    .await
            }
        };
        match paid {
            Ok(cashback) => Ok(Redeemed { points, cashback }),
            Err(NetworkError::Rejected(why)) => Err(WalletError::invalid("points", why)),
            Err(e) => Err(e.into()),
        }
    }
}

pub(crate) fn routes() -> Router<Wallet> {
    Router::new()
        .route("/api/v1/points", get(points))
        .route("/api/v1/points/redemptions", post(redeem))
}

async fn points(State(w): State<Wallet>, auth: Authed) -> Result<Response, ApiError> {
    let points = w.points(&auth.principal).await?;
    Ok(axum::Json(to_value(&points)?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeemBody {
    points: u64,
    currency: String,
}

async fn redeem(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Fingerprinted { body, fingerprint }: Fingerprinted<RedeemBody>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let key = match headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        Some(k) => crate::auth::token_hash(&format!("{}:{k}", p.account_id)),
        None => crate::auth::token_hash(&crate::auth::new_session_token("redeem")),
    };
    let c = call(p, Method::POST, "/api/v1/points/redemptions", &fingerprint);
    idempotent(&w, c, &headers, || async {
        let r = w
            .redeem_points(p, body.points, &body.currency, &key)
            .await?;
        Ok((StatusCode::CREATED, to_value(&r)?))
    })
    .await
}
