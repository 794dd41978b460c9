//! The UPI routes of the wallet API, over the attached UPI app
//! ([`paytap_upipsp::Psp`]), merged into [`crate::http::router`]:
//!
//! * `GET /api/v1/upi/keys`: the banks' PIN keys (ListKeys);
//! * `GET|POST /api/v1/upi/bindings`: bind this device to the accounts of
//!   a mobile number;
//! * `POST /api/v1/upi/bindings/{id}/pin-otp` and `.../pin`: the bank's
//!   OTP, then the PIN set with the debit card and the OTP;
//! * `GET|POST /api/v1/upi/ids`: UPI IDs (`name@paytap`);
//! * `GET|POST /api/v1/upi/payments`, `GET /api/v1/upi/payments/{txn_id}`:
//!   pay, the history, one payment (its status checked while open);
//! * `GET /api/v1/upi/collects`, `POST .../{txn_id}/approve|decline`: the
//!   merchants' collect requests.
//!
//! UPI pays in rupees from accounts of the `in` region only: an account of
//! another region is refused (`422 region`). A refusal with a UPI error code
//! (`ZH` unknown UPI ID, `ZM` wrong PIN at setting, `U69` expired collect,
//! ...) has that code as its `code`; a payment the switch or the bank
//! declined is not an error but a payment with `status: failed` and its
//! `error_code`. Where the platform's risk checks run (`paytap up`), a
//! payment or a collect approval they refuse is `U16` (declined) or `RV`
//! (unusual activity: the payer verifies it is them, then approves again;
//! asked again under the same `txn_id` the answer stays, so a new payment
//! takes a new `txn_id`); nothing reached the switch or the bank. A
//! payment's `earned_paise` is the cashback it earned once it succeeded.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use paytap_upipsp::{NewBinding, PayRequest, PinSetting, Psp, PspError};
use serde::Deserialize;
use serde_json::json;

use crate::http::{ApiError, Authed, call, to_value};
use crate::idempotency::{Fingerprinted, idempotent};
use crate::model::Principal;
use crate::service::Wallet;

/// The region whose accounts pay with UPI.
pub const UPI_REGION: &str = "in";

pub(crate) fn routes() -> Router<Wallet> {
    Router::new()
        .route("/api/v1/upi/keys", get(keys))
        .route("/api/v1/upi/bindings", get(bindings).post(bind))
        .route("/api/v1/upi/bindings/{binding_id}/pin-otp", post(pin_otp))
        .route("/api/v1/upi/bindings/{binding_id}/pin", post(set_pin))
        .route("/api/v1/upi/ids", get(ids).post(create_id))
        .route("/api/v1/upi/payments", get(payments).post(pay))
        .route("/api/v1/upi/payments/{txn_id}", get(payment))
        .route("/api/v1/upi/collects", get(collects))
        .route("/api/v1/upi/collects/{txn_id}/approve", post(approve))
        .route("/api/v1/upi/collects/{txn_id}/decline", post(decline))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdBody {
    binding_id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    pin_block: String,
}

/// The UPI app for `p`: attached, and `p` an account of India.
fn psp<'a>(w: &'a Wallet, p: &Principal) -> Result<&'a Psp, ApiError> {
    if p.region != UPI_REGION {
        tracing::info!(region = %p.region, "UPI refused to an account outside India");
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "region",
            "UPI pays in rupees from accounts in India only",
        ));
    }
    w.inner.upi.get().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "upi_unavailable",
            "UPI is not served here",
        )
    })
}

impl From<PspError> for ApiError {
    fn from(e: PspError) -> Self {
        let (status, code) = match &e {
            PspError::Invalid { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            PspError::Refused { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, *code),
            PspError::DuplicateTxnId => (StatusCode::CONFLICT, "DT"),
            PspError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            PspError::Taken => (StatusCode::CONFLICT, "taken"),
            PspError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "upi_unavailable"),
            PspError::Store(_) | PspError::Corrupt(_) => {
                tracing::error!(error = %e, "UPI request failed");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                );
            }
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "UPI request failed");
        }
        ApiError::new(status, code, e.to_string())
    }
}

fn json_ok(v: serde_json::Value) -> Response {
    axum::Json(v).into_response()
}

async fn keys(State(w): State<Wallet>, auth: Authed) -> Result<Response, ApiError> {
    let psp = psp(&w, &auth.principal)?;
    let keys: Vec<_> = psp
        .list_keys()
        .into_iter()
        .map(|k| {
            json!({
                "bank": k.bank,
                "ki": k.ki,
                "public_key": public_key_b64(&k.public),
            })
        })
        .collect();
    Ok(json_ok(json!({ "keys": keys })))
}

fn public_key_b64(k: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(k)
}

async fn bindings(State(w): State<Wallet>, auth: Authed) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let list = psp(&w, p)?.bindings(&p.account_id).await?;
    Ok(json_ok(json!({ "bindings": list })))
}

async fn bind(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Fingerprinted { body, fingerprint }: Fingerprinted<NewBinding>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let psp = psp(&w, p)?;
    let c = call(p, Method::POST, "/api/v1/upi/bindings", &fingerprint);
    idempotent(&w, c, &headers, || async {
        let list = psp.bind(&p.account_id, &body).await?;
        Ok((StatusCode::CREATED, json!({ "bindings": list })))
    })
    .await
}

async fn pin_otp(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Fingerprinted { fingerprint, .. }: Fingerprinted<Empty>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let psp = psp(&w, p)?;
    let path = format!("/api/v1/upi/bindings/{id}/pin-otp");
    let c = call(p, Method::POST, &path, &fingerprint);
    idempotent(&w, c, &headers, || async {
        let otp = psp.request_pin_otp(&p.account_id, &id).await?;
        let v = json!({ "verification_id": otp.verification_id, "destination": otp.destination });
        Ok((StatusCode::CREATED, v))
    })
    .await
}

async fn set_pin(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Fingerprinted { body, fingerprint }: Fingerprinted<PinSetting>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let psp = psp(&w, p)?;
    let path = format!("/api/v1/upi/bindings/{id}/pin");
    let c = call(p, Method::POST, &path, &fingerprint);
    idempotent(&w, c, &headers, || async {
        psp.set_pin(&p.account_id, &id, body).await?;
        Ok((StatusCode::OK, json!({ "binding_id": id, "pin_set": true })))
    })
    .await
}

async fn ids(State(w): State<Wallet>, auth: Authed) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let list = psp(&w, p)?.ids(&p.account_id).await?;
    Ok(json_ok(json!({ "ids": list })))
}

async fn create_id(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Fingerprinted { body, fingerprint }: Fingerprinted<IdBody>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let psp = psp(&w, p)?;
    let c = call(p, Method::POST, "/api/v1/upi/ids", &fingerprint);
    idempotent(&w, c, &headers, || async {
        let id = psp
            .create_id(&p.account_id, &body.binding_id, &body.name)
            .await?;
        Ok((StatusCode::CREATED, to_value(&id)?))
    })
    .await
}

async fn payments(State(w): State<Wallet>, auth: Authed) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let list = psp(&w, p)?.payments(&p.account_id).await?;
    Ok(json_ok(json!({ "payments": list })))
}

async fn pay(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Fingerprinted { body, fingerprint }: Fingerprinted<PayRequest>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let psp = psp(&w, p)?;
    let c = call(p, Method::POST, "/api/v1/upi/payments", &fingerprint);
    idempotent(&w, c, &headers, || async {
        let paid = psp.pay(&p.account_id, &body).await?;
        Ok((StatusCode::OK, to_value(&paid)?))
    })
    .await
}

async fn payment(
    State(w): State<Wallet>,
    auth: Authed,
    Path(txn_id): Path<String>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let paid = psp(&w, p)?.payment(&p.account_id, &txn_id).await?;
    Ok(json_ok(to_value(&paid)?))
}

async fn collects(State(w): State<Wallet>, auth: Authed) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let list = psp(&w, p)?.collects(&p.account_id).await?;
    Ok(json_ok(json!({ "collects": list })))
}

async fn approve(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path(txn_id): Path<String>,
    Fingerprinted { body, fingerprint }: Fingerprinted<ApproveBody>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let psp = psp(&w, p)?;
    let path = format!("/api/v1/upi/collects/{txn_id}/approve");
    let c = call(p, Method::POST, &path, &fingerprint);
    idempotent(&w, c, &headers, || async {
        let paid = psp.approve(&p.account_id, &txn_id, &body.pin_block).await?;
        Ok((StatusCode::OK, to_value(&paid)?))
    })
    .await
}

async fn decline(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path(txn_id): Path<String>,
    Fingerprinted { fingerprint, .. }: Fingerprinted<Empty>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let psp = psp(&w, p)?;
    let path = format!("/api/v1/upi/collects/{txn_id}/decline");
    let c = call(p, Method::POST, &path, &fingerprint);
    idempotent(&w, c, &headers, || async {
        let paid = psp.decline(&p.account_id, &txn_id).await?;
        Ok((StatusCode::OK, to_value(&paid)?))
    })
    .await
}
