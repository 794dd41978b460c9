//! Show to pay on `paytap up`: `POST /acquirer/v1/presented-payments`,
//! where a shop's register sends the code a phone showed it
//! ([`paytap_acquirer::presented::PresentedPayment`]: its merchant, the
//! amount, the code's text, an idempotency key it chose).
//!
//! The register is the acquirer's terminal: the request is signed as the
//! merchant API's are (`platform/merchants.rs`: `X-Acquirer-Id`,
//! `X-Acquirer-Mac` over method, path and body), `401` otherwise with
//! nothing read or written, and the merchant must be the signing
//! acquirer's. The acquirer sends the `0200` (DE 22 `032`) through the
//! switch ([`super::scan::NetworkSwitch`]).
//!
//! Answers: `200` with the outcome (approved or declined by the network,
//! as for a scanned code), `404` an unknown merchant, `409` a code
//! presented before (`code_reused`), `422` an unreadable code, an expired
//! one (`expired`), a key used for another payment or a malformed body,
//! `504` no answer in time (retry with the same key).
//!
//! `PUT /acquirer/v1/register-batches/{batch_id}` (signed the same way)
//! takes a register's queued operations (`{"operations": [<the body
//! above>, …]}`, at most
//! [`paytap_acquirer::batches::MAX_BATCH_OPERATIONS`]) under a batch id
//! the register chose: `200` with `{"batch_id", "results": [{"idempotency_key",
//! "outcome", "error", "message", "settled"}]}`, the same again for the
//! same batch; `422` the id uploaded before with other operations
//! (`batch_altered`) or a malformed batch.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use paytap_acquirer::batches::Batch;
use paytap_acquirer::payments::QrPayments;
use paytap_acquirer::presented::PresentedPayment;
use paytap_network::RunningNetwork;

use super::merchants::signed_json;
use super::scan::{NetworkSwitch, failure};

/// Where a register posts a shown code's payment.
pub const PRESENTED_PAYMENTS_PATH: &str = "/acquirer/v1/presented-payments";
/// Where a register uploads a batch (`/{batch_id}` after it).
pub const REGISTER_BATCHES_PATH: &str = "/acquirer/v1/register-batches";
/// Largest request body: a batch of at most 50 operations of a code
/// (≤ 1,024 characters) and a few fields each.
const MAX_BODY_BYTES: usize = 96 * 1024;

#[derive(Clone)]
struct Api {
    net: Arc<RunningNetwork>,
    payments: QrPayments,
    switch: Arc<NetworkSwitch>,
}

async fn pay(State(api): State<Api>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    let path = PRESENTED_PAYMENTS_PATH;
    let (acquirer, p) =
        match signed_json::<PresentedPayment>(&api.net, &method, path, &headers, &body) {
            Ok(r) => r,
            Err(r) => return *r,
        };
    let now = paytap_store::now_millis() / 1000;
    match api
        .payments
        .pay_presented(&p, &acquirer, now, api.switch.as_ref())
        .await
    {
        Ok(o) => (StatusCode::OK, axum::Json(o)).into_response(),
        Err(e) => {
            tracing::info!(key = %p.idempotency_key, merchant = %p.merchant, error = %e, "shown-code payment refused");
            failure(&e)
        }
    }
}

async fn upload(
    State(api): State<Api>,
    method: Method,
    headers: HeaderMap,
    Path(batch_id): Path<String>,
    body: Bytes,
) -> Response {
    let path = format!("{REGISTER_BATCHES_PATH}/{batch_id}");
    let (acquirer, b) = match signed_json::<Batch>(&api.net, &method, &path, &headers, &body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    let now = paytap_store::now_millis() / 1000;
    match api
        .payments
        .upload_batch(&batch_id, &b, &acquirer, now, api.switch.as_ref())
        .await
    {
        Ok(results) => axum::Json(serde_json::json!({ "batch_id": batch_id, "results": results }))
            .into_response(),
        Err(e) => {
            tracing::info!(batch_id, error = %e, "register batch refused");
            failure(&e)
        }
    }
}

/// The show-to-pay routes (module documentation).
pub fn router(net: Arc<RunningNetwork>, payments: QrPayments) -> axum::Router {
    axum::Router::new()
        .route(PRESENTED_PAYMENTS_PATH, axum::routing::post(pay))
        .route(
            "/acquirer/v1/register-batches/{batch_id}",
            axum::routing::put(upload),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Api {
            switch: Arc::new(NetworkSwitch::new(net.clone())),
            net,
            payments,
        })
}
