//! The emulator control API's India routes (loopback only, beside
//! [`super::emulator::emulator_router`]): what a test lab has of India's
//! banks and billers besides the product.
//!
//! * `POST /emulator/v1/upi-accounts`: a bank opens a savings account
//!   (holder, mobile number, opening balance in paise) and the holder's UPI
//!   id is put in the switch's directory, bound now;
//! * `GET /emulator/v1/upi-accounts/{ifsc}/{account_number}`: its balance;
//! * `GET /emulator/v1/inr-ledger`: the INR ledger's totals (debits and
//!   credits, posted and pending), which must be equal;
//! * `PUT /emulator/v1/billers/{id}`: a biller or operator goes down
//!   (`{"down": true}`), refuses payments (`{"refusing": true}`), or back.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use paytap_upi::Vpa;
use paytap_upi::xml::{Account, AccountNumber, Ifsc};
use paytap_upid::DirectoryEntry;
use serde::Deserialize;
use serde_json::json;

use super::India;
use super::emulator::{ApiResult, api_error, loopback_only, no_store};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBody {
    bank_id: String,
    holder: String,
    mobile: String,
    opening_paise: i64,
    vpa: String,
}

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
        .route("/emulator/v1/upi-accounts", post(open_account))
        .route(
            "/emulator/v1/upi-accounts/{ifsc}/{account_number}",
            get(balance),
        )
        .route("/emulator/v1/inr-ledger", get(inr_ledger))
        .route("/emulator/v1/billers/{id}", put(set_biller))
        .with_state(india)
}

fn unprocessable(e: impl std::fmt::Display) -> (StatusCode, axum::Json<serde_json::Value>) {
    api_error(StatusCode::UNPROCESSABLE_ENTITY, e)
}

/// `POST /emulator/v1/upi-accounts`.
async fn open_account(
    State(india): State<Arc<India>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Json(b): axum::Json<OpenBody>,
) -> ApiResult {
    loopback_only(peer)?;
    let vpa = Vpa::new(&b.vpa).map_err(unprocessable)?;
    let opened = india
        .banks
        .open_account(&b.bank_id, &b.holder, &b.mobile, b.opening_paise)
        .await
        .map_err(unprocessable)?;
    let account = Account {
        ifsc: Ifsc::new(&opened.ifsc).map_err(unprocessable)?,
        number: AccountNumber::new(&opened.account_number).map_err(unprocessable)?,
        kind: Some("SAVINGS".to_owned()),
    };
    let entry = DirectoryEntry {
        vpa,
        account,
        bound_at: Some(paytap_store::now_millis()),
    };
    india
        .upi
        .register(&entry)
        .await
        .map_err(|e| api_error(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(no_store(json!({
        "bank_id": opened.bank_id,
        "ifsc": opened.ifsc,
        "account_number": opened.account_number,
        "vpa": b.vpa,
    })))
}

/// `GET /emulator/v1/upi-accounts/{ifsc}/{account_number}`.
async fn balance(
    State(india): State<Arc<India>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((ifsc, number)): Path<(String, String)>,
) -> ApiResult {
    loopback_only(peer)?;
    let paise = india
        .banks
        .balance(&ifsc, &number)
        .await
        .map_err(|e| api_error(StatusCode::NOT_FOUND, e))?;
    Ok(no_store(json!({ "balance_paise": paise })))
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
