//! The emulator control API: loopback-only routes that stand in for the
//! world outside the platform (a bank's mail, the phone's SMS inbox) and
//! show the ledger, for the demo and the end-to-end tests.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use paytap_issuer::Product;
use paytap_network::RunningNetwork;
use serde_json::json;

/// A card issued through the emulator control API.
#[derive(serde::Deserialize)]
struct IssueBody {
    bank_id: String,
    /// `debit` or `credit`.
    product: String,
    holder_name: String,
    /// Opening balance (debit) or credit limit (credit), minor units.
    amount_minor: i64,
    /// Put the number in the bank's passcode step-up test range.
    #[serde(default)]
    step_up: bool,
    #[serde(default)]
    single_transaction_limit_minor: Option<i64>,
    #[serde(default)]
    no_cvm_limit_minor: Option<i64>,
}

pub(crate) type ApiResult =
    Result<axum::response::Response, (axum::http::StatusCode, axum::Json<serde_json::Value>)>;

pub(crate) fn api_error(
    status: axum::http::StatusCode,
    message: impl std::fmt::Display,
) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    (
        status,
        axum::Json(
            serde_json::json!({ "error": { "code": "emulator", "message": message.to_string() } }),
        ),
    )
}

pub(crate) fn no_store(v: serde_json::Value) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        axum::Json(v),
    )
        .into_response()
}

pub(crate) fn loopback_only(
    addr: SocketAddr,
) -> Result<(), (axum::http::StatusCode, axum::Json<serde_json::Value>)> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(api_error(
            axum::http::StatusCode::FORBIDDEN,
            "the emulator API answers loopback clients only",
        ))
    }
}

/// The emulator control API (see the module documentation of `platform`):
///
/// * `GET /emulator/v1/info`: switch address and the banks (id, name, currency);
/// * `POST /emulator/v1/cards`: a bank issues a card and "mails" it (number,
///   expiry, CVV in the response, as printed on the plastic: `expiry` is
///   `MM/YY`, what `paytap device add-card --expiry` takes; `expiry_yymm`
///   the bank's record form);
/// * `GET /emulator/v1/sms`: the emulated phone's SMS inbox (ID&V passcodes);
/// * `GET /emulator/v1/ledger`: accounts, transfers and per-currency totals;
/// * `GET /emulator/v1/ledger/accounts/{id}`: one ledger account's balance
///   (an offer funder's `offers:bank:<id>:CNY`, a merchant's settlement);
/// * `GET /emulator/v1/offers/{id}/budget`: an offer's budget (total,
///   reserved, spent), when offers are on;
/// * `PUT /emulator/v1/console/operators/{login}`: the operator's console
///   gets an operator with this password (`{"password": …}`), as the
///   people who run paytap would be given one ([`console_router`]).
///
/// A route table; the handlers follow it, one per resource.
pub fn emulator_router(net: Arc<RunningNetwork>) -> axum::Router {
    axum::Router::new()
        .route("/emulator/v1/info", get(info))
        .route("/emulator/v1/cards", post(issue_card))
        .route("/emulator/v1/sms", get(sms))
        .route("/emulator/v1/ledger", get(ledger))
        .route("/emulator/v1/ledger/accounts/{id}", get(ledger_account))
        .route("/emulator/v1/offers/{id}/budget", get(offer_budget))
        .with_state(net)
}

/// `GET /emulator/v1/info`.
async fn info(
    State(net): State<Arc<RunningNetwork>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> ApiResult {
    loopback_only(peer)?;
    let banks: Vec<_> = net
        .issuer()
        .config()
        .banks
        .iter()
        .map(|b| json!({ "id": b.id, "name": b.name, "currency": b.currency.code() }))
        .collect();
    Ok(no_store(
        json!({ "switch_addr": net.switch_addr().to_string(), "banks": banks }),
    ))
}

/// `POST /emulator/v1/cards`.
async fn issue_card(
    State(net): State<Arc<RunningNetwork>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Json(b): axum::Json<IssueBody>,
) -> ApiResult {
    loopback_only(peer)?;
    let product: Product = b.product.parse().map_err(|_| {
        api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "product is debit or credit",
        )
    })?;
    let bank = net
        .issuer()
        .bank(&b.bank_id)
        .map_err(|e| api_error(StatusCode::NOT_FOUND, e))?
        .clone();
    let mut req =
        paytap_issuer::IssueCard::new(&b.bank_id, product, &b.holder_name, b.amount_minor);
    req.step_up_range = b.step_up;
    if b.single_transaction_limit_minor.is_some() || b.no_cvm_limit_minor.is_some() {
        let mut limits = bank.limits;
        if let Some(l) = b.single_transaction_limit_minor {
            limits.single_transaction = l;
        }
        if let Some(l) = b.no_cvm_limit_minor {
            limits.no_cvm_limit = l;
        }
        req.limits = Some(limits);
    }
    let card = net
        .issue_card(req)
        .await
        .map_err(|e| api_error(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    Ok(no_store(json!({
        "card_id": card.card_id,
        "bank_id": card.bank_id,
        "bank_name": bank.name,
        "pan": card.pan.expose(),
        "expiry": card.expiry_yymm.to_string(),
        "expiry_yymm": card.expiry_yymm,
        "cvv": card.cvv.expose().as_str(),
        "last4": card.pan.last4(),
    })))
}

/// `GET /emulator/v1/sms`.
async fn sms(
    State(net): State<Arc<RunningNetwork>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> ApiResult {
    loopback_only(peer)?;
    let messages: Vec<_> = net
        .sms_outbox()
        .messages()
        .iter()
        .map(|m| json!({ "verification_id": m.verification_id, "to": m.destination, "code": m.code.expose().as_str() }))
        .collect();
    Ok(no_store(json!({ "messages": messages })))
}

/// `GET /emulator/v1/ledger`.
async fn ledger(
    State(net): State<Arc<RunningNetwork>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> ApiResult {
    loopback_only(peer)?;
    let r = net
        .ledger()
        .check_invariants()
        .await
        .map_err(|e| api_error(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let totals: Vec<_> = r
        .totals
        .iter()
        .map(|(c, b)| {
            json!({
                "currency": c.code(),
                "debits_posted": b.debits_posted,
                "credits_posted": b.credits_posted,
                "debits_pending": b.debits_pending,
                "credits_pending": b.credits_pending,
            })
        })
        .collect();
    Ok(no_store(
        json!({ "accounts": r.accounts, "transfers": r.transfers, "totals": totals }),
    ))
}

async fn ledger_account(
    State(net): State<Arc<RunningNetwork>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> ApiResult {
    loopback_only(peer)?;
    let b = net
        .ledger()
        .balance(&id)
        .await
        .map_err(|e| api_error(StatusCode::NOT_FOUND, e))?;
    Ok(no_store(json!({
        "id": id,
        "debits_posted": b.debits_posted,
        "credits_posted": b.credits_posted,
        "debits_pending": b.debits_pending,
        "credits_pending": b.credits_pending,
    })))
}

async fn offer_budget(
    State(net): State<Arc<RunningNetwork>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(id): Path<String>,
) -> ApiResult {
    loopback_only(peer)?;
    let offers = net
        .guard()
        .and_then(|g| g.offers.as_ref())
        .ok_or_else(|| api_error(StatusCode::NOT_FOUND, "offers are off"))?;
    let (total, reserved, spent) = offers
        .budget(&id)
        .await
        .map_err(|e| api_error(StatusCode::INTERNAL_SERVER_ERROR, e))?
        .ok_or_else(|| api_error(StatusCode::NOT_FOUND, format!("no offer {id:?}")))?;
    Ok(no_store(json!({
        "id": id, "total_minor": total, "reserved_minor": reserved, "spent_minor": spent,
    })))
}

/// The operator's console's part of the emulator API (module
/// documentation of [`emulator_router`]).
pub fn console_router(console: Arc<paytap_console::Console>) -> axum::Router {
    axum::Router::new()
        .route(
            "/emulator/v1/console/operators/{login}",
            axum::routing::put(put_operator),
        )
        .with_state(console)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorBody {
    password: String,
}

/// `PUT /emulator/v1/console/operators/{login}`.
async fn put_operator(
    State(console): State<Arc<paytap_console::Console>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(login): Path<String>,
    axum::Json(b): axum::Json<OperatorBody>,
) -> ApiResult {
    loopback_only(peer)?;
    let password = paytap_types::Secret::new(b.password);
    console
        .operators()
        .set(&login, &password)
        .await
        .map_err(|e| api_error(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    Ok(no_store(json!({ "login": login })))
}
