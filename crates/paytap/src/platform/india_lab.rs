//! The emulator control API's India routes (loopback only, beside
//! [`super::emulator::emulator_router`]): what a test lab has of India's
//! banks and billers besides the product.
//!
//! (A bank's accounts, merchants and collect requests are the UPI lab's,
//! `upi_lab.rs`, under `/emulator/v1/upi/`.)
//!
//! * `GET /emulator/v1/inr-ledger`: the INR ledger's totals (debits and
//!   credits, posted and pending), which must be equal;
//! * `PUT /emulator/v1/billers/{id}`: a biller or operator goes down
//!   (`{"down": true}`), refuses payments (`{"refusing": true}`), or back.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::json;

use super::India;
use super::emulator::{ApiResult, api_error, loopback_only, no_store};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BillerBody {
    #[serde(default)]
    down: bool,
    #[serde(default)]
    refusing: bool,
}

/// The routes, over India's side of the platform.
pub fn india_router(india: Arc<India>) -> axum::Router {
    axum::Router::new()
        .route("/emulator/v1/inr-ledger", get(inr_ledger))
        .route("/emulator/v1/billers/{id}", put(set_biller))
        .with_state(india)
}

/// `PUT /emulator/v1/billers/{id}`.
async fn set_biller(
    State(india): State<Arc<India>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
    axum::Json(b): axum::Json<BillerBody>,
) -> ApiResult {
    loopback_only(peer)?;
    let known =
        india.bills.catalogue().get(&id).is_ok() || india.bills.recharges().operator(&id).is_ok();
    if !known {
        return Err(api_error(
            StatusCode::NOT_FOUND,
            "no such biller or operator",
        ));
    }
    india.billers.set_down(&id, b.down);
    india.billers.set_refusing(&id, b.refusing);
    Ok(no_store(
        json!({ "id": id, "down": b.down, "refusing": b.refusing }),
    ))
}

/// `GET /emulator/v1/inr-ledger`.
async fn inr_ledger(
    State(india): State<Arc<India>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> ApiResult {
    loopback_only(peer)?;
    let report = india
        .ledger
        .check_invariants()
        .await
        .map_err(|e| api_error(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let t = report
        .totals
        .get(&paytap_types::Currency::INR)
        .copied()
        .unwrap_or_default();
    Ok(no_store(json!({
        "debits_posted": t.debits_posted,
        "credits_posted": t.credits_posted,
        "debits_pending": t.debits_pending,
        "credits_pending": t.credits_pending,
    })))
}
