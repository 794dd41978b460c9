//! The HTTP routes of bills and prepaid recharge (India accounts), merged
//! into [`crate::http::router`] when the platform attached a bill service
//! ([`crate::service::Wallet::attach_bills`]):
//!
//! * `GET /api/v1/billers`: the billers and the customer parameters each
//!   asks for;
//! * `POST /api/v1/bills/fetch`: a biller's bill for the given parameters;
//! * `GET /api/v1/bills/reminders`: unpaid bills due soon or overdue;
//! * `POST /api/v1/bills/payments`: pay a fetched bill over UPI;
//! * `GET /api/v1/recharge/plans`: a number's operator and circle (guessed
//!   from its series) and the plans sold there;
//! * `POST /api/v1/recharge/payments`: recharge a prepaid number over UPI;
//! * `GET /api/v1/bills/receipts`, `GET /api/v1/bills/receipts/{payment_id}`.
//!
//! Over UPI, a payment is a collect request from the biller's aggregator to
//! the given UPI ID: its owner approves it in their UPI app with the UPI
//! PIN (`/api/v1/upi/collects/{payment_id}/approve`), and the receipt is
//! `charging` until then (reading it asks the switch again). The bill
//! service never sees the PIN, and a UPI ID that is not the payer's moves
//! nothing unless its owner approves.
//!
//! Payments need an `Idempotency-Key`: the bill service is idempotent by it
//! within the account (the same key and request answer the same receipt,
//! another request under it is 422). Bad input is 422 with the rule it
//! broke; an account outside the `in` region is 403.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use paytap_bbps::{BbpsError, Category, ParamKind};
use paytap_bills::{BillService, BillsError, PayMethod, Payer, RechargeRequest};
use paytap_upi::Vpa;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::http::{ApiError, ApiJson, ApiQuery, Authed, to_value};
use crate::idempotency::idempotency_key;
use crate::service::Wallet;

pub(crate) fn routes() -> Router<Wallet> {
    Router::new()
        .route("/api/v1/billers", get(billers))
        .route("/api/v1/bills/fetch", post(fetch))
        .route("/api/v1/bills/reminders", get(reminders))
        .route("/api/v1/bills/payments", post(pay_bill))
        .route("/api/v1/bills/receipts", get(receipts))
        .route("/api/v1/bills/receipts/{payment_id}", get(receipt))
        .route("/api/v1/recharge/plans", get(plans))
        .route("/api/v1/recharge/payments", post(recharge))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FetchBody {
    biller_id: String,
    params: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayBillBody {
    fetch_id: String,
    /// The payer's UPI id.
    vpa: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RechargeBody {
    mobile: String,
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    circle: Option<String>,
    plan_id: String,
    vpa: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlansQuery {
    mobile: Option<String>,
    operator: Option<String>,
    circle: Option<String>,
}

fn bills_error(e: BillsError) -> ApiError {
    let (status, code) = match &e {
        BillsError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        BillsError::UnknownBill => (StatusCode::NOT_FOUND, "not_found"),
        BillsError::AlreadyPaid => (StatusCode::CONFLICT, "already_paid"),
        BillsError::KeyReused => (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
        BillsError::BadKey => (StatusCode::BAD_REQUEST, "invalid_request"),
        BillsError::BillerDown => (StatusCode::SERVICE_UNAVAILABLE, "biller_unavailable"),
        BillsError::BillerRefused(_) => (StatusCode::UNPROCESSABLE_ENTITY, "biller_refused"),
        BillsError::NotInIndia(_) => (StatusCode::FORBIDDEN, "region_not_supported"),
        BillsError::CardsUnavailable => (StatusCode::UNPROCESSABLE_ENTITY, "method_unavailable"),
        BillsError::Store(_)
        | BillsError::Corrupt(_)
        | BillsError::Seal(_)
        | BillsError::Payers(_)
        | BillsError::NoCollection(_) => {
            tracing::error!(error = %e, "bill service failed");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the bill service failed; retry",
            );
        }
    };
    tracing::info!(code, error = %e, "bill request refused");
    ApiError::new(status, code, e.to_string())
}

/// The attached bill service, or 404: this deployment has no bills.
fn service(w: &Wallet) -> Result<Arc<BillService>, ApiError> {
    w.bills().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "bills are not served here",
        )
    })
}

fn payer(auth: &Authed) -> Payer<'_> {
    Payer {
        account_id: &auth.principal.account_id,
        region: &auth.principal.region,
    }
}

/// The payer's UPI id as the method, its account from the switch's
/// directory (the PSP's record of the address).
async fn upi_method(s: &BillService, vpa: &str) -> Result<PayMethod, ApiError> {
    let invalid = |m: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", m);
    let vpa = Vpa::new(vpa).map_err(|_| invalid("vpa: not a UPI id (name@psp)"))?;
    let account = s
        .payer_account(&vpa)
        .await
        .map_err(bills_error)?
        .ok_or_else(|| invalid("vpa: no such UPI id"))?;
    Ok(PayMethod::Upi {
        payer: vpa,
        account,
    })
}

fn required_key(headers: &HeaderMap) -> Result<String, ApiError> {
    idempotency_key(headers)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a payment needs an Idempotency-Key",
        )
    })
}

fn kind_name(k: ParamKind) -> &'static str {
    match k {
        ParamKind::Digits => "digits",
        ParamKind::Alphanumeric => "alphanumeric",
        ParamKind::Mobile => "mobile",
    }
}

async fn billers(State(w): State<Wallet>, _auth: Authed) -> Result<Response, ApiError> {
    let s = service(&w)?;
    let list: Vec<Value> = s
        .catalogue()
        .all()
        .map(|b| {
            let params: Vec<Value> = b
                .params
                .iter()
                .map(|p| {
                    json!({ "name": p.name, "label": p.label, "kind": kind_name(p.kind),
                                 "min": p.min, "max": p.max, "rule": p.rule() })
                })
                .collect();
            json!({ "id": b.id, "name": b.name, "category": b.category.as_str(), "params": params })
        })
        .collect();
    let categories: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
    Ok(axum::Json(json!({ "categories": categories, "billers": list })).into_response())
}

async fn fetch(
    State(w): State<Wallet>,
    auth: Authed,
    ApiJson(body): ApiJson<FetchBody>,
) -> Result<Response, ApiError> {
    let s = service(&w)?;
    let bill = s
        .fetch(payer(&auth), &body.biller_id, &body.params)
        .await
        .map_err(bills_error)?;
    Ok(axum::Json(to_value(&bill)?).into_response())
}

async fn reminders(State(w): State<Wallet>, auth: Authed) -> Result<Response, ApiError> {
    let s = service(&w)?;
    let due = s
        .reminders(&auth.principal.account_id)
        .await
        .map_err(bills_error)?;
    Ok(axum::Json(json!({ "reminders": to_value(&due)? })).into_response())
}

async fn pay_bill(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PayBillBody>,
) -> Result<Response, ApiError> {
    let s = service(&w)?;
    let key = required_key(&headers)?;
    payer(&auth).region_check().map_err(bills_error)?;
    let method = upi_method(&s, &body.vpa).await?;
    let r = s
        .pay_bill(payer(&auth), &key, &body.fetch_id, method)
        .await
        .map_err(bills_error)?;
    Ok((StatusCode::CREATED, axum::Json(to_value(&r)?)).into_response())
}

async fn recharge(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RechargeBody>,
) -> Result<Response, ApiError> {
    let s = service(&w)?;
    let key = required_key(&headers)?;
    payer(&auth).region_check().map_err(bills_error)?;
    let method = upi_method(&s, &body.vpa).await?;
    let req = RechargeRequest {
        mobile: body.mobile,
        operator: body.operator,
        circle: body.circle,
        plan_id: body.plan_id,
    };
    let r = s
        .recharge(payer(&auth), &key, &req, method)
        .await
        .map_err(bills_error)?;
    Ok((StatusCode::CREATED, axum::Json(to_value(&r)?)).into_response())
}

async fn receipts(State(w): State<Wallet>, auth: Authed) -> Result<Response, ApiError> {
    let s = service(&w)?;
    let list = s
        .receipts(&auth.principal.account_id)
        .await
        .map_err(bills_error)?;
    Ok(axum::Json(json!({ "receipts": to_value(&list)? })).into_response())
}

async fn receipt(
    State(w): State<Wallet>,
    auth: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let s = service(&w)?;
    let r = s
        .receipt(&auth.principal.account_id, &id)
        .await
        .map_err(bills_error)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such payment"))?;
    Ok(axum::Json(to_value(&r)?).into_response())
}

async fn plans(
    State(w): State<Wallet>,
    _auth: Authed,
    ApiQuery(q): ApiQuery<PlansQuery>,
) -> Result<Response, ApiError> {
    let s = service(&w)?;
    let r = s.recharges();
    let detected = match &q.mobile {
        Some(m) => r.detect(m).map_err(|e| bills_error(e.into()))?,
        None => None,
    };
    let operator = q
        .operator
        .or_else(|| detected.as_ref().map(|d| d.operator.clone()));
    let circle = q
        .circle
        .or_else(|| detected.as_ref().map(|d| d.circle.clone()));
    let (Some(operator), Some(circle)) = (operator, circle) else {
        return Err(bills_error(BbpsError::OperatorNotDetected.into()));
    };
    let plans = r
        .plans(&operator, &circle)
        .map_err(|e| bills_error(e.into()))?;
    Ok(axum::Json(json!({
        "detected": detected,
        "operator": operator,
        "circle": circle,
        "plans": plans,
    }))
    .into_response())
}
