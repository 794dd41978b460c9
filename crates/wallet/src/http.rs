//! The wallet's HTTP JSON API under `/api/v1` (axum), a thin layer over
//! [`Wallet`].
//!
//! * Authentication: `Authorization: Bearer <session token>` from
//!   `POST /api/v1/sessions`.
//! * Errors: `{"error": {"code": "...", "message": "..."}}` with a 4xx/5xx
//!   status; malformed JSON, missing fields and wrong types are 400/422,
//!   bodies over [`BODY_LIMIT`] are 413. Digits runs long enough to be card
//!   numbers are cut out of any message derived from the request before it
//!   is returned or logged.
//! * Idempotency: every POST and DELETE that creates or changes something
//!   accepts `Idempotency-Key` (1 to 255 visible ASCII characters). The first
//!   successful (2xx) response is stored with the key, per caller (the
//!   account; for registration, the request body's fingerprint), and a
//!   retry with the same key, method, path and body gets it back with
//!   `Idempotent-Replayed: true`; the same key on another method or path is
//!   refused with 409, with another body with 422 ([`crate::idempotency`]).
//!   Failed requests
//!   change nothing and are not stored, so a retry runs again. Login is the
//!   exception: its response holds a session token, which is never stored,
//!   so each login creates a session.
//! * Password hashing (register, login) is bounded ([`crate::limits`]):
//!   beyond the bound the answer is 503 with `Retry-After`; a throttled
//!   login is 429 with `Retry-After` ([`crate::throttle`]).
//! * `GET /api/v1/events` is a server-sent event stream (`event: payment`)
//!   of the account's new payments.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use paytap_types::Secret;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::client_addr;
use crate::error::WalletError;
use crate::idempotency::{Call, Fingerprinted, idempotent};
use crate::model::*;
use crate::service::Wallet;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Every route of the API as (method, path template); the OpenAPI document
/// describes exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/points"),
    ("post", "/api/v1/points/redemptions"),
    ("get", "/api/v1/transit/cards"),
    ("post", "/api/v1/transit/cards/{card_id}/move"),
    ("put", "/api/v1/devices/{device_id}/transit-readings"),
    ("post", "/api/v1/accounts"),
    ("get", "/api/v1/account"),
    ("post", "/api/v1/sessions"),
    ("delete", "/api/v1/sessions/current"),
    ("get", "/api/v1/devices"),
    ("post", "/api/v1/devices"),
    ("get", "/api/v1/devices/{device_id}"),
    ("post", "/api/v1/devices/{device_id}/heartbeat"),
    ("get", "/api/v1/devices/{device_id}/location"),
    ("post", "/api/v1/devices/{device_id}/suspend"),
    ("post", "/api/v1/devices/{device_id}/resume"),
    ("post", "/api/v1/devices/{device_id}/wipe"),
    ("get", "/api/v1/devices/{device_id}/places"),
    ("get", "/api/v1/devices/{device_id}/commands"),
    ("post", "/api/v1/devices/{device_id}/commands"),
    ("get", "/api/v1/devices/{device_id}/commands/stream"),
    (
        "post",
        "/api/v1/devices/{device_id}/commands/{command_id}/ack",
    ),
    ("get", "/api/v1/devices/{device_id}/provisioning"),
    ("get", "/api/v1/devices/{device_id}/cards"),
    ("post", "/api/v1/devices/{device_id}/cards"),
    (
        "post",
        "/api/v1/devices/{device_id}/pending-cards/{pending_id}/otp",
    ),
    (
        "post",
        "/api/v1/devices/{device_id}/cards/{card_id}/default",
    ),
    ("delete", "/api/v1/devices/{device_id}/cards/{card_id}"),
    ("get", "/api/v1/transactions"),
    ("get", "/api/v1/upi/keys"),
    ("get", "/api/v1/upi/bindings"),
    ("post", "/api/v1/upi/bindings"),
    ("post", "/api/v1/upi/bindings/{binding_id}/pin-otp"),
    ("post", "/api/v1/upi/bindings/{binding_id}/pin"),
    ("get", "/api/v1/upi/ids"),
    ("post", "/api/v1/upi/ids"),
    ("get", "/api/v1/upi/payments"),
    ("post", "/api/v1/upi/payments"),
    ("get", "/api/v1/upi/payments/{txn_id}"),
    ("get", "/api/v1/upi/collects"),
    ("post", "/api/v1/upi/collects/{txn_id}/approve"),
    ("post", "/api/v1/upi/collects/{txn_id}/decline"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/billers"),
    ("post", "/api/v1/bills/fetch"),
    ("get", "/api/v1/bills/reminders"),
    ("post", "/api/v1/bills/payments"),
    ("get", "/api/v1/bills/receipts"),
    ("get", "/api/v1/bills/receipts/{payment_id}"),
    ("get", "/api/v1/recharge/plans"),
    ("post", "/api/v1/recharge/payments"),
    ("get", "/api/v1/openapi.json"),
];

/// The API router (state applied), to serve alone or merge with the web
/// site's router (it sets no fallback, so merging is safe). Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` to enable the
/// per-address failed-login limit; without connect info only the
/// per-account lockout applies.
pub fn router(wallet: Wallet) -> Router {
    Router::new()
        .route("/api/v1/accounts", post(register))
        .route("/api/v1/account", get(me))
        .route("/api/v1/sessions", post(login))
        .route("/api/v1/sessions/current", delete(logout))
        .route("/api/v1/devices", get(list_devices).post(create_device))
        .route("/api/v1/devices/{device_id}", get(get_device))
        .route("/api/v1/devices/{device_id}/heartbeat", post(heartbeat))
        .route("/api/v1/devices/{device_id}/location", get(location))
        .route("/api/v1/devices/{device_id}/suspend", post(suspend))
        .route("/api/v1/devices/{device_id}/resume", post(resume))
        .route("/api/v1/devices/{device_id}/wipe", post(wipe))
        .route(
            "/api/v1/devices/{device_id}/provisioning",
            get(provisioning),
        )
        .route(
            "/api/v1/devices/{device_id}/cards",
            get(list_cards).post(add_card),
        )
        .route(
            "/api/v1/devices/{device_id}/pending-cards/{pending_id}/otp",
            post(submit_otp),
        )
        .route(
            "/api/v1/devices/{device_id}/cards/{card_id}/default",
            post(set_default),
        )
        .route(
            "/api/v1/devices/{device_id}/cards/{card_id}",
            delete(remove_card),
        )
        .route("/api/v1/transactions", get(transactions))
        .route("/api/v1/events", get(events))
        .route("/api/v1/openapi.json", get(openapi))
        .merge(crate::locate_api::routes())
        .merge(crate::bills_api::routes())
        .merge(crate::points::routes())
        .merge(crate::transit::routes())
        .merge(crate::upi_api::routes())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(wallet)
}

// ----- errors ----------------------------------------------------------------

/// An API error response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: redact_digits(&message.into()),
            retry_after: None,
        }
    }

    /// A body that could not be read (too large, or it stopped coming).
    pub(crate) fn from_bytes_rejection(status: StatusCode, text: String) -> Self {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return body_too_large();
        }
        ApiError::new(status, "invalid_request", text)
    }
}

fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("the request body is larger than {} KiB", BODY_LIMIT / 1024),
    )
}

impl From<WalletError> for ApiError {
    fn from(e: WalletError) -> Self {
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            // Internal details go to the log only.
            tracing::error!(error = ?e, "request failed");
        }
        let message = match &e {
            WalletError::Invalid { field, message } => format!("{field}: {message}"),
            other => other.public_message(),
        };
        let mut api = ApiError::new(status, e.code(), message);
        api.retry_after = e.retry_after_secs();
        api
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::info!(status = self.status.as_u16(), code = self.code, message = %self.message, "request refused");
        }
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Cleans a message derived from a request before it is returned or
/// logged: values a parser quoted back (`` `987` ``, `string "..."`) are
/// replaced by `…` unless they are plain words (field and variant names),
/// and any remaining run of 6 or more digits becomes `[digits removed]`. So
/// a card number, CVV or passcode sent with the wrong JSON type never
/// leaves the process.
pub fn redact_digits(s: &str) -> String {
    redact_runs(&redact_quoted(s))
}

fn is_word(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_alphabetic() || c == '_' || c == '-' || c == ' ')
}

fn redact_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    loop {
        // The next quoted value: `...` or "...".
        let next = rest.char_indices().find(|(_, c)| *c == '`' || *c == '"');
        let Some((start, q)) = next else {
            out.push_str(rest);
            return out;
        };
        let after = &rest[start + 1..];
        let Some(len) = after.find(q) else {
            out.push_str(rest);
            return out;
        };
        let value = &after[..len];
        out.push_str(&rest[..start]);
        out.push(q);
        out.push_str(if is_word(value) { value } else { "…" });
        out.push(q);
        rest = &after[len + 1..];
    }
}

fn redact_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 6 {
            out.push_str("[digits removed]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

// ----- extractors --------------------------------------------------------------

/// A JSON body whose rejections are API errors.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes =
            axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), state)
                .await
                .map_err(|rej| ApiError::from_bytes_rejection(rej.status(), rej.body_text()))?;
        let req = Request::from_parts(parts, axum::body::Body::from(bytes.clone()));
        let v = match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => v,
            Err(rej) => return Err(json_rejection(rej)),
        };
        require_object(&bytes)?;
        Ok(ApiJson(v))
    }
}

/// Every request body is a JSON object. serde also reads a struct from an
/// array of its fields (and `[]` as a struct whose fields all have
/// defaults), which no client of this API means.
fn require_object(json: &[u8]) -> Result<(), ApiError> {
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "the request body must be a JSON object",
        )),
    }
}

fn json_rejection(rej: JsonRejection) -> ApiError {
    let status = rej.status();
    match rej {
        JsonRejection::JsonDataError(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            source_text(&e.body_text()),
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!(
                "the request body is not valid JSON: {}",
                source_text(&e.body_text())
            ),
        ),
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => {
            body_too_large()
        }
        other => ApiError::new(status, "invalid_request", other.body_text()),
    }
}

/// The part of an axum rejection text after its generic prefix.
fn source_text(s: &str) -> String {
    s.split_once(": ").map_or(s, |(_, rest)| rest).to_string()
}

/// A query string whose rejections are API errors.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(rej) => Err(query_rejection(rej)),
        }
    }
}

fn query_rejection(rej: QueryRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!("invalid query string: {}", source_text(&rej.body_text())),
    )
}

/// The logged-in account of a request (`Authorization: Bearer ...`).
pub struct Authed {
    pub principal: Principal,
    pub(crate) token: String,
}

impl Drop for Authed {
    fn drop(&mut self) {
        self.token.zeroize();
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

impl FromRequestParts<Wallet> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, wallet: &Wallet) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or(WalletError::Unauthenticated)?;
        let principal = wallet.authenticate(token).await?;
        Ok(Authed {
            principal,
            token: token.to_string(),
        })
    }
}

/// The caller's address when the server was started with connect info:
/// the TCP peer, or the `X-Forwarded-For` client when the peer is a
/// trusted proxy ([`crate::client_addr`]).
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl FromRequestParts<Wallet> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, w: &Wallet) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip());
        let trusted = &w.config().trusted_proxies;
        Ok(ClientIp(peer.map(|p| {
            client_addr::client_address(p, &parts.headers, trusted)
        })))
    }
}

// ----- idempotency -------------------------------------------------------------

/// The fingerprint of a request without a body.
fn no_body(w: &Wallet) -> String {
    w.fingerprint(b"")
}

pub(crate) fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| WalletError::Internal(e.to_string()).into())
}

// ----- request bodies --------------------------------------------------------------

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct RegisterBody {
    login: String,
    password: String,
    display_name: String,
    #[serde(default, deserialize_with = "crate::body::present")]
    #[zeroize(skip)]
    language: Option<Language>,
    #[serde(default, deserialize_with = "crate::body::present")]
    region: Option<String>,
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct LoginBody {
    login: String,
    password: String,
}

#[derive(Deserialize)]
struct DeviceBody {
    kind: DeviceKind,
    name: String,
    model: String,
    /// Standard base64 of the X25519 public key.
    public_key: String,
}

#[derive(Deserialize, Default)]
struct HeartbeatBody {
    #[serde(default, deserialize_with = "crate::body::present")]
    lat: Option<f64>,
    #[serde(default, deserialize_with = "crate::body::present")]
    lon: Option<f64>,
    #[serde(default, deserialize_with = "crate::body::present")]
    accuracy_m: Option<f64>,
    #[serde(default, deserialize_with = "crate::body::present")]
    place: Option<String>,
    /// Why the device reports: `heartbeat` (default), `sync`, `payment`.
    #[serde(default)]
    source: crate::locate_api::HeartbeatSource,
}

#[derive(Deserialize)]
struct SuspendBody {
    reason: SuspendReason,
}

#[derive(Deserialize)]
struct CardBody {
    pan: Secret<String>,
    expiry: String,
    cvv: Secret<String>,
    cardholder_name: Secret<String>,
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
struct OtpBody {
    code: String,
}

#[derive(Deserialize)]
struct TxQuery {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
}

// ----- handlers ----------------------------------------------------------------------

async fn register(
    State(w): State<Wallet>,
    headers: HeaderMap,
    Fingerprinted { body, fingerprint }: Fingerprinted<RegisterBody>,
) -> Result<Response, ApiError> {
    let region = body
        .region
        .clone()
        .unwrap_or_else(|| w.config().default_region.clone());
    if w.db(&region).is_err() {
        return Err(WalletError::invalid(
            "region",
            format!(
                "unknown region; choose one of: {}",
                w.regions().collect::<Vec<_>>().join(", ")
            ),
        )
        .into());
    }
    // No caller yet: the key is scoped to the request itself.
    let scope = format!("register:{fingerprint}");
    let call = Call {
        region: &region,
        scope: &scope,
        method: Method::POST,
        path: "/api/v1/accounts",
        fingerprint: &fingerprint,
    };
    let w2 = w.clone();
    idempotent(&w, call, &headers, || async move {
        let account = w2.register(new_account(&body)).await?;
        Ok((StatusCode::CREATED, to_value(&account)?))
    })
    .await
}

fn new_account(body: &RegisterBody) -> NewAccount {
    NewAccount {
        login: body.login.clone(),
        password: Secret::new(body.password.clone()),
        display_name: body.display_name.clone(),
        language: body.language.unwrap_or(Language::En),
        region: body.region.clone(),
    }
}

async fn login(
    State(w): State<Wallet>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    let session = w.login(&body.login, &body.password, ip).await?;
    let v = to_value(&session)?;
    let mut resp = (StatusCode::CREATED, axum::Json(v)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

async fn logout(State(w): State<Wallet>, auth: Authed) -> Result<Response, ApiError> {
    w.logout(&auth.token).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn me(State(w): State<Wallet>, auth: Authed) -> Result<Response, ApiError> {
    let account = w.account(&auth.principal).await?;
    Ok(axum::Json(to_value(&account)?).into_response())
}

async fn list_devices(State(w): State<Wallet>, auth: Authed) -> Result<Response, ApiError> {
    let devices = w.devices(&auth.principal).await?;
    Ok(axum::Json(json!({ "devices": devices })).into_response())
}

/// The key scope of a logged-in caller's request.
pub(crate) fn call<'a>(
    p: &'a Principal,
    method: Method,
    path: &'a str,
    fingerprint: &'a str,
) -> Call<'a> {
    Call {
        region: &p.region,
        scope: &p.account_id,
        method,
        path,
        fingerprint,
    }
}

async fn create_device(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Fingerprinted { body, fingerprint }: Fingerprinted<DeviceBody>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let c = call(p, Method::POST, "/api/v1/devices", &fingerprint);
    idempotent(&w, c, &headers, || async {
        let d = w
            .register_device(
                p,
                NewDevice {
                    kind: body.kind,
                    name: body.name.clone(),
                    model: body.model.clone(),
                    public_key_b64: body.public_key.clone(),
                },
            )
            .await?;
        Ok((StatusCode::CREATED, to_value(&d)?))
    })
    .await
}

async fn get_device(
    State(w): State<Wallet>,
    auth: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let d = w.device(&auth.principal, &id).await?;
    Ok(axum::Json(to_value(&d)?).into_response())
}

async fn heartbeat(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Fingerprinted { body, fingerprint }: Fingerprinted<HeartbeatBody>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let path = format!("/api/v1/devices/{id}/heartbeat");
    let c = call(p, Method::POST, &path, &fingerprint);
    idempotent(&w, c, &headers, || async {
        let beat = Heartbeat {
            lat: body.lat,
            lon: body.lon,
            accuracy_m: body.accuracy_m,
            place: body.place.clone(),
        };
        w.report_contact(p, &id, &beat, body.source.contact())
            .await?;
        let d = w.device(p, &id).await?;
        Ok((StatusCode::OK, to_value(&d)?))
    })
    .await
}

async fn location(
    State(w): State<Wallet>,
    auth: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let d = w.device(&auth.principal, &id).await?;
    Ok(axum::Json(json!({
        "device_id": d.id,
        "last_seen_at": d.last_seen_at,
        "location": d.location,
    }))
    .into_response())
}

async fn suspend(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Fingerprinted { body, fingerprint }: Fingerprinted<SuspendBody>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let path = format!("/api/v1/devices/{id}/suspend");
    let c = call(p, Method::POST, &path, &fingerprint);
    idempotent(&w, c, &headers, || async {
        let d = w.suspend_device(p, &id, body.reason).await?;
        Ok((StatusCode::OK, to_value(&d)?))
    })
    .await
}

async fn resume(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let path = format!("/api/v1/devices/{id}/resume");
    let fp = no_body(&w);
    idempotent(&w, call(p, Method::POST, &path, &fp), &headers, || async {
        let d = w.resume_device(p, &id).await?;
        Ok((StatusCode::OK, to_value(&d)?))
    })
    .await
}

async fn wipe(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let path = format!("/api/v1/devices/{id}/wipe");
    let fp = no_body(&w);
    idempotent(&w, call(p, Method::POST, &path, &fp), &headers, || async {
        let d = w.wipe_device(p, &id).await?;
        Ok((StatusCode::OK, to_value(&d)?))
    })
    .await
}

async fn provisioning(
    State(w): State<Wallet>,
    auth: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let items = w.provisioning_payloads(&auth.principal, &id).await?;
    let mut resp = axum::Json(json!({ "device_id": id, "items": items })).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

async fn list_cards(
    State(w): State<Wallet>,
    auth: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let cards = w.cards(&auth.principal, &id).await?;
    Ok(axum::Json(json!({ "cards": cards })).into_response())
}

async fn add_card(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
    Fingerprinted { body, fingerprint }: Fingerprinted<CardBody>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let path = format!("/api/v1/devices/{id}/cards");
    let c = call(p, Method::POST, &path, &fingerprint);
    idempotent(&w, c, &headers, || async {
        let req = NewCard {
            pan: body.pan.clone(),
            expiry: body.expiry.clone(),
            cvv: body.cvv.clone(),
            cardholder_name: body.cardholder_name.clone(),
        };
        let outcome = w.add_card(p, &id, &req).await?;
        let status = match outcome {
            AddCardOutcome::Provisioned { .. } => StatusCode::CREATED,
            AddCardOutcome::OtpRequired { .. } => StatusCode::ACCEPTED,
        };
        Ok((status, to_value(&outcome)?))
    })
    .await
}

async fn submit_otp(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path((id, pending_id)): Path<(String, String)>,
    Fingerprinted { body, fingerprint }: Fingerprinted<OtpBody>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let path = format!("/api/v1/devices/{id}/pending-cards/{pending_id}/otp");
    let c = call(p, Method::POST, &path, &fingerprint);
    idempotent(&w, c, &headers, || async {
        let card = w.submit_otp(p, &id, &pending_id, &body.code).await?;
        let outcome = AddCardOutcome::Provisioned { card };
        Ok((StatusCode::CREATED, to_value(&outcome)?))
    })
    .await
}

async fn set_default(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path((id, card_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let path = format!("/api/v1/devices/{id}/cards/{card_id}/default");
    let fp = no_body(&w);
    idempotent(&w, call(p, Method::POST, &path, &fp), &headers, || async {
        let card = w.set_default_card(p, &id, &card_id).await?;
        Ok((StatusCode::OK, to_value(&card)?))
    })
    .await
}

async fn remove_card(
    State(w): State<Wallet>,
    auth: Authed,
    headers: HeaderMap,
    Path((id, card_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let p = &auth.principal;
    let path = format!("/api/v1/devices/{id}/cards/{card_id}");
    let fp = no_body(&w);
    idempotent(
        &w,
        call(p, Method::DELETE, &path, &fp),
        &headers,
        || async {
            let card = w.remove_card(p, &id, &card_id).await?;
            Ok((StatusCode::OK, to_value(&card)?))
        },
    )
    .await
}

async fn transactions(
    State(w): State<Wallet>,
    auth: Authed,
    ApiQuery(q): ApiQuery<TxQuery>,
) -> Result<Response, ApiError> {
    let page = w
        .transactions(&auth.principal, q.limit.unwrap_or(20), q.cursor.as_deref())
        .await?;
    Ok(axum::Json(to_value(&page)?).into_response())
}

async fn events(State(w): State<Wallet>, auth: Authed) -> Result<Response, ApiError> {
    let feed = w.subscribe_payments(&auth.principal).await?;
    let token = zeroize::Zeroizing::new(auth.token.clone());
    let stream = futures::stream::unfold((feed, w, token), |(mut feed, w, token)| async move {
        let t = feed.next().await?;
        // A stream does not outlive its session (expired or logged out).
        if w.authenticate(&token).await.is_err() {
            return None;
        }
        let ev = Event::default()
            .event("payment")
            .id(t.id.clone())
            .json_data(&t)
            .unwrap_or_else(|_| Event::default().event("error"));
        Some((Ok::<Event, Infallible>(ev), (feed, w, token)))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

async fn openapi() -> Response {
    let mut resp = axum::Json(crate::openapi::document()).into_response();
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_values_are_redacted() {
        assert_eq!(
            redact_digits(
                "invalid type: integer `6212345678901232`, expected a string at line 1 column 30"
            ),
            "invalid type: integer `…`, expected a string at line 1 column 30"
        );
        assert_eq!(
            redact_digits("cvv: invalid type: integer `987`, expected a string"),
            "cvv: invalid type: integer `…`, expected a string"
        );
        assert_eq!(
            redact_digits("lat: invalid type: string \"6212 3456\", expected f64"),
            "lat: invalid type: string \"…\", expected f64"
        );
        assert_eq!(
            redact_digits(
                "kind: unknown variant `tablet`, expected one of `phone`, `watch`, `band`"
            ),
            "kind: unknown variant `tablet`, expected one of `phone`, `watch`, `band`"
        );
        assert_eq!(redact_digits("missing field `cvv`"), "missing field `cvv`");
        assert_eq!(redact_digits("12345 ok"), "12345 ok");
        assert_eq!(redact_digits("x123456"), "x[digits removed]");
        assert_eq!(
            redact_digits("unterminated `6212345678901232"),
            "unterminated `[digits removed]"
        );
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }
}

#[cfg(test)]
mod props {
    use super::redact_digits;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn no_long_digit_run_survives(s in ".{0,80}") {
            let out = redact_digits(&s);
            let mut run = 0;
            for c in out.chars() {
                run = if c.is_ascii_digit() { run + 1 } else { 0 };
                prop_assert!(run < 6, "{out}");
            }
        }
    }
}
