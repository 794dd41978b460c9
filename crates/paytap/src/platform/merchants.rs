//! The acquirer's merchant API under `/acquirer/v1`, served by `paytap up`
//! beside the wallet:
//!
//! * `POST /acquirer/v1/merchants`: sign a merchant up (`{"id", "name",
//!   "city", "mcc"}`, optional `"currency"` (default `CNY`) and `"country"`
//!   (default `CN`)). The id is the caller's, so a retry is safe: `201` with
//!   the merchant when created, `200` with the stored one when the same
//!   merchant exists, `409` when the id holds another, `422` for details
//!   out of their limits.
//! * `GET /acquirer/v1/merchants/{id}`: the merchant, `404` when unknown or
//!   another acquirer's.
//! * `GET /acquirer/v1/merchants/{id}/settlement`: its settlement account
//!   on the ledger (`account`, `currency`, `credits_minor` paid in by its
//!   customers, `debits_minor` paid out, `balance_minor`), `404` as above.
//!
//! Every request is signed by an acquirer the switch knows
//! (`acquirers.toml`): header [`ACQUIRER_HEADER`] names it and
//! [`MAC_HEADER`] carries, in hex, its key's AES-CMAC
//! ([`paytap_iso8583::mac::sign_bytes`]) over [`signed_bytes`]: method,
//! path and body. A missing or wrong MAC is `401` and nothing is read or
//! written. A replayed request can only repeat an idempotent creation or
//! a read.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use paytap_acquirer::{AcquirerError, MerchantSpec, Merchants};
use paytap_network::RunningNetwork;
use paytap_types::Currency;
use serde_json::json;

/// Names the acquirer that signs the request (its ISO 8583 DE 32 id).
pub const ACQUIRER_HEADER: &str = "x-acquirer-id";
/// The request's MAC under the acquirer's key, 16 hex digits.
pub const MAC_HEADER: &str = "x-acquirer-mac";
/// Largest request body: a merchant's details are a few hundred bytes.
const MAX_BODY_BYTES: usize = 4096;
/// Where the merchant collection is.
pub const MERCHANTS_PATH: &str = "/acquirer/v1/merchants";

/// What the MAC covers: `METHOD`, a newline, the path, a newline, the body.
pub fn signed_bytes(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(method.len() + path.len() + 2 + body.len());
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(path.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

#[derive(Clone)]
struct Api {
    net: Arc<RunningNetwork>,
    merchants: Merchants,
}

/// The body of a creation.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    id: String,
    name: String,
    city: String,
    mcc: String,
    #[serde(default = "default_currency")]
    currency: Currency,
    #[serde(default = "default_country")]
    country: String,
}

fn default_currency() -> Currency {
    Currency::CNY
}

fn default_country() -> String {
    "CN".to_owned()
}

fn error(status: StatusCode, code: &str, message: impl std::fmt::Display) -> Response {
    let body = json!({ "error": { "code": code, "message": message.to_string() } });
    (status, axum::Json(body)).into_response()
}

/// The signing acquirer's id when the request's MAC is right under its
/// key; otherwise why not (answered by [`unauthenticated`]).
fn authenticate(
    api: &Api,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, &'static str> {
    authenticate_request(&api.net, method, path, headers, body)
}

/// [`authenticate`] for the other acquirer routes of `paytap up`.
pub(crate) fn authenticate_request(
    net: &RunningNetwork,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, &'static str> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let id = text(ACQUIRER_HEADER).ok_or("no acquirer id header")?;
    let mac = text(MAC_HEADER)
        .and_then(|h| hex::decode(h).ok())
        .ok_or("no MAC header of hex digits")?;
    let key = net.acquirer_key(id).ok_or("unknown acquirer")?;
    let data = signed_bytes(method.as_str(), path, body);
    paytap_iso8583::mac::verify_bytes(&data, &mac, &key).map_err(|_| "wrong MAC")?;
    Ok(id.to_owned())
}

/// A signed acquirer request's acquirer and JSON body of type `T`, or the
/// answer refusing it: `401` unsigned (nothing read), `422` malformed.
pub(crate) fn signed_json<T: serde::de::DeserializeOwned>(
    net: &RunningNetwork,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, T), Box<Response>> {
    let acquirer = authenticate_request(net, method, path, headers, body)
        .map_err(|why| Box::new(unauthenticated(path, why)))?;
    let parsed = serde_json::from_slice(body).map_err(|e| {
        tracing::info!(path, error = %e, "acquirer request with a malformed body");
        Box::new(error(StatusCode::UNPROCESSABLE_ENTITY, "malformed", e))
    })?;
    Ok((acquirer, parsed))
}

/// A `401` for a request [`authenticate`] refused, with a log line.
pub(crate) fn unauthenticated(path: &str, why: &str) -> Response {
    tracing::info!(path, why, "acquirer API request refused");
    error(StatusCode::UNAUTHORIZED, "unauthenticated", why)
}

fn failure(e: AcquirerError) -> Response {
    match &e {
        AcquirerError::Invalid(_) => error(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e),
        AcquirerError::Conflict(_) => error(StatusCode::CONFLICT, "conflict", e),
        AcquirerError::NotFound(_) => error(StatusCode::NOT_FOUND, "not_found", e),
        _ => {
            tracing::error!(error = %e, "merchant API failed");
            error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e)
        }
    }
}

async fn create(
    State(api): State<Api>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let acquirer = match authenticate(&api, &method, MERCHANTS_PATH, &headers, &body) {
        Ok(a) => a,
        Err(why) => return unauthenticated(MERCHANTS_PATH, why),
    };
    let b: CreateBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            tracing::info!(error = %e, "merchant creation with a malformed body");
            return error(StatusCode::UNPROCESSABLE_ENTITY, "malformed", e);
        }
    };
    let spec = MerchantSpec {
        id: b.id,
        name: b.name,
        city: b.city,
        mcc: b.mcc,
        currency: b.currency,
        country: b.country,
    };
    match api.merchants.create(&acquirer, spec).await {
        Ok((m, true)) => (StatusCode::CREATED, axum::Json(m)).into_response(),
        Ok((m, false)) => (StatusCode::OK, axum::Json(m)).into_response(),
        Err(e) => {
            tracing::info!(error = %e, acquirer, "merchant not created");
            failure(e)
        }
    }
}

async fn get(
    State(api): State<Api>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let path = format!("{MERCHANTS_PATH}/{id}");
    let acquirer = match authenticate(&api, &method, &path, &headers, b"") {
        Ok(a) => a,
        Err(why) => return unauthenticated(&path, why),
    };
    match api.merchants.get(&id).await {
        Ok(m) if m.acquirer == acquirer => axum::Json(m).into_response(),
        Ok(_) => failure(AcquirerError::NotFound(id)),
        Err(e) => failure(e),
    }
}

async fn settlement(
    State(api): State<Api>,
    method: Method,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let path = format!("{MERCHANTS_PATH}/{id}/settlement");
    let acquirer = match authenticate(&api, &method, &path, &headers, b"") {
        Ok(a) => a,
        Err(why) => return unauthenticated(&path, why),
    };
    let m = match api.merchants.get(&id).await {
        Ok(m) if m.acquirer == acquirer => m,
        Ok(_) => return failure(AcquirerError::NotFound(id)),
        Err(e) => return failure(e),
    };
    match api.merchants.ledger().balance(&m.account).await {
        Ok(b) => axum::Json(json!({
            "account": m.account,
            "currency": m.spec.currency.code(),
            "credits_minor": b.credits_posted,
            "debits_minor": b.debits_posted,
            "balance_minor": b.credits_posted - b.debits_posted,
        }))
        .into_response(),
        Err(e) => failure(AcquirerError::Ledger(e)),
    }
}

/// The merchant API's routes (module documentation).
pub fn router(net: Arc<RunningNetwork>, merchants: Merchants) -> axum::Router {
    use axum::routing::{get as get_route, post};
    axum::Router::new()
        .route(MERCHANTS_PATH, post(create))
        .route("/acquirer/v1/merchants/{id}", get_route(get))
        .route(
            "/acquirer/v1/merchants/{id}/settlement",
            get_route(settlement),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Api { net, merchants })
}
