//! The operator hosts' HTTP API: one JSON API for every operator, the
//! operator in the path. Bodies are [`crate::wire`]; a refusal is the
//! wallet's error shape, `{"error": {"code", "message"}}`, with a status
//! that says whose fault it was, and a log line.
//!
//! * `GET  /transit/v1/operators`: the operators served (id, name,
//!   currency, card fee);
//! * `POST /transit/v1/{op}/cards`: issue a card to a device ([`WireIssue`],
//!   carrying the bank card that pays the card fee where there is one; an
//!   issue without it is refused `payment_required`); the purse comes back
//!   sealed to the device's key;
//! * `POST /transit/v1/{op}/loads`: a load's MAC2 ([`WireLoad`], paid by
//!   the bank card it carries; a load without a payment is refused);
//! * `POST /transit/v1/{op}/refunds`: a paid load the card never took,
//!   given back ([`WireLoad`] with the card's fresh INITIALIZE FOR LOAD);
//! * `PUT  /transit/v1/{op}/batches/{batch_id}`: a gate's batch
//!   ([`WireBatch`]), answered by its [`crate::BatchResult`]; signed by
//!   the gate ([`crate::auth`]), whose own records only it may carry;
//! * `GET  /transit/v1/{op}/hotlist`: the hotlist ([`WireHotlist`]), signed
//!   by a gate or the back office; a T-Union member's includes every other
//!   member's hotlisted cards, since its gates accept them;
//! * `POST /transit/v1/{op}/lost`: a card reported lost ([`WireLost`]),
//!   signed by the back office;
//! * `GET  /transit/v1/{op}/cards/{number}/movable`: what a lost card holds
//!   and whether it may move ([`crate::moves::Movable`]), and
//!   `POST /transit/v1/{op}/moves`: its balance loaded onto a card in
//!   another device ([`WireMove`]), both signed by the back office. A
//!   gate's hotlist download says how many records it has not uploaded
//!   (`?unsent=N`), which moves wait for.
//!
//! Loads and refunds need no signature: the card's MAC1 in them is the
//! proof that the caller holds the card (see [`crate::auth`]). A request
//! that should be signed and does not verify is `401`, a signed caller
//! acting beyond its role `403`; nothing is read or written for either.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use paytap_purse::host::LoadInit;
use paytap_transit::config::serial_digits;
use serde_json::json;

use crate::auth::{ApiKeys, CLIENT_HEADER, Client, MAC_HEADER};
use crate::load::date_time_digits;
use crate::pay::PaymentFailure;
use crate::wire::{
    WireBatch, WireHotlist, WireHotlisted, WireIssue, WireIssued, WireLoad, WireLoaded, WireLost,
    WireMove, card_number, hex_array, purse_aad,
};
use crate::{LoadRequest, OperatorError, OperatorHost, Refunded};

/// The hosts the API serves, by operator id.
#[derive(Clone, Default)]
pub struct Operators {
    hosts: BTreeMap<String, Arc<OperatorHost>>,
    keys: BTreeMap<String, Arc<ApiKeys>>,
}

impl Operators {
    /// No operator yet.
    pub fn new() -> Operators {
        Operators::default()
    }

    /// Serves `host` under its operator's id, its callers checked with
    /// `keys`.
    pub fn insert(&mut self, host: Arc<OperatorHost>, keys: ApiKeys) {
        let id = host.operator().id.clone();
        self.keys.insert(id.clone(), Arc::new(keys));
        self.hosts.insert(id, host);
    }

    /// The host of operator `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<OperatorHost>> {
        self.hosts.get(id)
    }

    /// Every host, by operator id.
    pub fn hosts(&self) -> impl Iterator<Item = &Arc<OperatorHost>> {
        self.hosts.values()
    }
}

/// A refusal: status, stable code, a message for a person.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), code = self.code, message = %self.message, "operator request failed");
        } else {
            tracing::info!(status = self.status.as_u16(), code = self.code, message = %self.message, "operator request refused");
        }
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<OperatorError> for ApiError {
    fn from(e: OperatorError) -> ApiError {
        use OperatorError as E;
        let (status, code) = match &e {
            E::BatchId | E::InvalidId(_) | E::BatchTooLarge(_) | E::ZeroLoad => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
            }
            E::BatchConflict(_) | E::LoadConflict(_) | E::IssueConflict(_) => {
                (StatusCode::CONFLICT, "id_conflict")
            }
            E::DeviceHasCard(_) => (StatusCode::CONFLICT, "device_has_card"),
            E::NotOurCard => (StatusCode::UNPROCESSABLE_ENTITY, "not_our_card"),
            E::AboveMaximum { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "above_maximum"),
            E::Mac1Invalid => (StatusCode::UNPROCESSABLE_ENTITY, "mac1_invalid"),
            E::Hotlisted => (StatusCode::FORBIDDEN, "hotlisted"),
            E::LoadPending(_) => (StatusCode::CONFLICT, "load_pending"),
            E::AlreadyCredited(_) => (StatusCode::CONFLICT, "already_credited"),
            E::LoadRefunded(_) => (StatusCode::CONFLICT, "refunded"),
            E::UnknownLoad(_) => (StatusCode::NOT_FOUND, "unknown_load"),
            E::StaleCounter => (StatusCode::UNPROCESSABLE_ENTITY, "stale_counter"),
            E::Payment(PaymentFailure::Declined { .. }) => {
                (StatusCode::PAYMENT_REQUIRED, "payment_declined")
            }
            E::Payment(PaymentFailure::Invalid(_)) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "payment_invalid")
            }
            E::Payment(PaymentFailure::NoAnswer(_)) => {
                (StatusCode::GATEWAY_TIMEOUT, "payment_no_answer")
            }
            E::PaymentsUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "payments_unavailable"),
            E::FeeUnpaid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "payment_required"),
            E::NotRefundable(_) => (StatusCode::CONFLICT, "not_refundable"),
            E::MoveWaiting(_) => (StatusCode::CONFLICT, "move_waiting"),
            E::MoveAmount { .. } => (StatusCode::CONFLICT, "move_amount"),
            E::NotLost => (StatusCode::CONFLICT, "not_lost"),
            E::AlreadyMoved => (StatusCode::CONFLICT, "already_moved"),
            E::UnknownCard(_) => (StatusCode::NOT_FOUND, "unknown_card"),
            E::MoveTarget(_) => (StatusCode::CONFLICT, "move_target"),
            E::MoveOrdered => (StatusCode::CONFLICT, "move_ordered"),
            E::UnknownMove(_) => (StatusCode::NOT_FOUND, "unknown_move"),
            E::RangeExhausted => (StatusCode::CONFLICT, "range_exhausted"),
            E::DayOpen(_) => (StatusCode::CONFLICT, "day_open"),
            E::Ledger(_) | E::Store(_) | E::Corrupt(_) => {
                tracing::error!(error = %e, "operator host failed");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                );
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    match b {
        Ok(Json(v)) => Ok(v),
        Err(e) => Err(ApiError::invalid(format!(
            "the body is not the expected JSON: {}",
            e.body_text()
        ))),
    }
}

fn host(ops: &Operators, id: &str) -> Result<Arc<OperatorHost>, ApiError> {
    ops.get(id).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_operator",
            "no such operator",
        )
    })
}

fn card(s: &str) -> Result<[u8; 10], ApiError> {
    card_number(s).ok_or_else(|| ApiError::invalid("card_number must be 20 digits"))
}

type Ops = State<Arc<Operators>>;

async fn operators(State(ops): Ops) -> Json<serde_json::Value> {
    let list: Vec<_> = ops
        .hosts()
        .map(|h| {
            let o = h.operator();
            json!({"id": o.id, "name": o.name, "currency": o.currency.code(), "card_fee": o.card_fee})
        })
        .collect();
    Json(json!({ "operators": list }))
}

async fn issue(
    State(ops): Ops,
    Path(op): Path<String>,
    b: Result<Json<WireIssue>, JsonRejection>,
) -> Result<Json<WireIssued>, ApiError> {
    let b = body(b)?;
    let host = host(&ops, &op)?;
    let key = paytap_seal::public_key_from_base64(&b.device_public_key)
        .map_err(|_| ApiError::invalid("device_public_key must be a Base64 X25519 key"))?;
    let issued = host
        .issue(&b.issue_id, &b.device_id, b.payment.as_ref())
        .await?;
    let number = serial_digits(&issued.serial);
    let aad = purse_aad(&op, &b.device_id, &number);
    let encoded = zeroize::Zeroizing::new(issued.state.encode());
    let sealed = paytap_seal::seal(&key, &aad, &encoded).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("sealing the purse: {e}"),
        )
    })?;
    Ok(Json(WireIssued {
        card_number: number,
        sealed_purse: STANDARD.encode(sealed),
        fee: issued.fee,
    }))
}

/// The load a body asks for; a load must carry its payment.
fn load_request(b: &WireLoad) -> Result<LoadRequest, ApiError> {
    if b.payment.is_none() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "payment_required",
            "a top-up must be paid with a bank card: payment is missing",
        ));
    }
    any_load(b)
}

/// The load a body describes, paid or not.
fn any_load(b: &WireLoad) -> Result<LoadRequest, ApiError> {
    let init: [u8; 16] =
        hex_array(&b.init).ok_or_else(|| ApiError::invalid("init must be 32 hex digits"))?;
    Ok(LoadRequest {
        load_id: b.load_id.clone(),
        serial: card(&b.card_number)?,
        amount: b.amount,
        terminal: hex_array(&b.terminal)
            .ok_or_else(|| ApiError::invalid("terminal must be 12 hex digits"))?,
        init: LoadInit::decode(&init).map_err(|e| ApiError::invalid(e.to_string()))?,
        payment: b.payment.clone(),
    })
}

/// The wire answer to load `load_id`.
fn loaded(load_id: String, a: &crate::LoadAnswer) -> WireLoaded {
    WireLoaded {
        load_id,
        mac2: hex::encode(a.mac2),
        at: date_time_digits(&a.at),
        new_balance: a.new_balance,
    }
}

async fn load(
    State(ops): Ops,
    Path(op): Path<String>,
    b: Result<Json<WireLoad>, JsonRejection>,
) -> Result<Json<WireLoaded>, ApiError> {
    let b = body(b)?;
    let host = host(&ops, &op)?;
    let a = host.load(&load_request(&b)?).await?;
    Ok(Json(loaded(b.load_id, &a)))
}

async fn refund(
    State(ops): Ops,
    Path(op): Path<String>,
    b: Result<Json<WireLoad>, JsonRejection>,
) -> Result<Json<Refunded>, ApiError> {
    let b = body(b)?;
    let host = host(&ops, &op)?;
    Ok(Json(host.refund_load(&load_request(&b)?).await?))
}

/// One signed request: method, path, headers and body.
struct Signed {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
}

impl Signed {
    fn new((method, uri, headers): (Method, Uri, HeaderMap), body: Bytes) -> Signed {
        Signed {
            method,
            uri,
            headers,
            body,
        }
    }
}

/// The caller of a signed request to operator `op`, or `401`.
fn caller(ops: &Operators, op: &str, r: &Signed) -> Result<Client, ApiError> {
    let keys = ops.keys.get(op).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_operator",
            "no such operator",
        )
    })?;
    let header = |name: &str| r.headers.get(name).and_then(|v| v.to_str().ok());
    let target = r.uri.path_and_query().map_or(r.uri.path(), |p| p.as_str());
    let request = (r.method.as_str(), target, r.body.as_ref());
    keys.verify(header(CLIENT_HEADER), header(MAC_HEADER), request)
        .map_err(|e| {
            tracing::warn!(operator = op, error = %e, "operator API request not authenticated");
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", e.to_string())
        })
}

/// A signed caller acting beyond its role.
fn forbidden(message: &str) -> ApiError {
    tracing::warn!(message, "operator API request beyond the caller's role");
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid(format!("the body is not the expected JSON: {e}")))
}

async fn upload(
    State(ops): Ops,
    Path((op, batch_id)): Path<(String, String)>,
    request: (Method, Uri, HeaderMap),
    body: Bytes,
) -> Result<Response, ApiError> {
    let host = host(&ops, &op)?;
    let signed = Signed::new(request, body);
    let Client::Gate(terminal) = caller(&ops, &op, &signed)? else {
        return Err(forbidden("only a gate uploads batches"));
    };
    let b: WireBatch = json_body(&signed.body)?;
    let records = b
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.decode()
                .map_err(|field| ApiError::invalid(format!("records[{i}].{field} is malformed")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if records.iter().any(|r| r.terminal != terminal) {
        return Err(forbidden("a gate uploads its own records only"));
    }
    let result = host.upload(&batch_id, &records).await?;
    Ok(Json(result).into_response())
}

async fn hotlist(
    State(ops): Ops,
    Path(op): Path<String>,
    request: (Method, Uri, HeaderMap),
) -> Result<Json<WireHotlist>, ApiError> {
    let host = host(&ops, &op)?;
    let signed = Signed::new(request, Bytes::new());
    if let Client::Gate(terminal) = caller(&ops, &op, &signed)? {
        host.gate_confirmed(&terminal, unsent(&signed.uri)?).await?;
    }
    let mut serials: Vec<_> = host.hotlist().await?.iter().map(|e| e.serial).collect();
    if host.is_member() {
        // Our gates take other members' cards: their hotlists too.
        for other in ops
            .hosts()
            .filter(|o| o.is_member() && o.operator().id != op)
        {
            serials.extend(other.hotlist().await?.iter().map(|e| e.serial));
        }
        serials.sort_unstable();
        serials.dedup();
    }
    let cards = serials
        .iter()
        .map(|s| WireHotlisted {
            card_number: serial_digits(s),
        })
        .collect();
    Ok(Json(WireHotlist {
        operator: op,
        cards,
    }))
}

async fn lost(
    State(ops): Ops,
    Path(op): Path<String>,
    request: (Method, Uri, HeaderMap),
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let host = host(&ops, &op)?;
    let signed = Signed::new(request, body);
    staff_only(&ops, &op, &signed)?;
    let b: WireLost = json_body(&signed.body)?;
    host.report_lost(&card(&b.card_number)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `unsent` query parameter of a gate's hotlist download (a gate that
/// does not say has confirmed nothing).
fn unsent(uri: &Uri) -> Result<u64, ApiError> {
    let Some(query) = uri.query() else {
        return Ok(u64::MAX);
    };
    match query.strip_prefix("unsent=").map(str::parse) {
        Some(Ok(n)) => Ok(n),
        _ => Err(ApiError::invalid("the query must be unsent=<number>")),
    }
}

/// A request only the back office may make: `401` or `403` otherwise.
fn staff_only(ops: &Operators, op: &str, r: &Signed) -> Result<(), ApiError> {
    if caller(ops, op, r)? != Client::Staff {
        return Err(forbidden("only the back office may do this"));
    }
    Ok(())
}

async fn movable(
    State(ops): Ops,
    Path((op, number)): Path<(String, String)>,
    request: (Method, Uri, HeaderMap),
) -> Result<Json<crate::moves::Movable>, ApiError> {
    let host = host(&ops, &op)?;
    staff_only(&ops, &op, &Signed::new(request, Bytes::new()))?;
    Ok(Json(host.movable(&card(&number)?).await?))
}

async fn move_balance(
    State(ops): Ops,
    Path(op): Path<String>,
    request: (Method, Uri, HeaderMap),
    body: Bytes,
) -> Result<Json<WireLoaded>, ApiError> {
    let host = host(&ops, &op)?;
    let signed = Signed::new(request, body);
    staff_only(&ops, &op, &signed)?;
    let b: WireMove = json_body(&signed.body)?;
    let from = card(&b.from_card_number)?;
    let a = host
        .move_balance(&b.move_id, &from, &any_load(&b.load)?)
        .await?;
    Ok(Json(loaded(b.load.load_id, &a)))
}

/// The moves ordered onto a card, as its device asks (by the card's
/// number, which only the device holding it knows).
async fn ordered_moves(
    State(ops): Ops,
    Path((op, number)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let host = host(&ops, &op)?;
    let moves = host.ordered_moves(&card(&number)?).await?;
    Ok(Json(json!({ "moves": moves })))
}

/// The receiving device completes an ordered move with a load of its card
/// (no payment: the money is on the float); its MAC1 proves the card.
async fn complete_move(
    State(ops): Ops,
    Path((op, move_id)): Path<(String, String)>,
    b: Result<Json<WireLoad>, JsonRejection>,
) -> Result<Json<WireLoaded>, ApiError> {
    let b = body(b)?;
    let host = host(&ops, &op)?;
    if b.payment.is_some() {
        return Err(ApiError::invalid(
            "a moved balance is not paid: payment must be absent",
        ));
    }
    let a = host.complete_move(&move_id, &any_load(&b)?).await?;
    Ok(Json(loaded(b.load_id, &a)))
}

/// The API's routes over `ops`.
pub fn router(ops: Arc<Operators>) -> Router {
    Router::new()
        .route("/transit/v1/operators", get(operators))
        .route("/transit/v1/{op}/cards", post(issue))
        .route("/transit/v1/{op}/loads", post(load))
        .route("/transit/v1/{op}/refunds", post(refund))
        .route("/transit/v1/{op}/batches/{batch_id}", put(upload))
        .route("/transit/v1/{op}/hotlist", get(hotlist))
        .route("/transit/v1/{op}/lost", post(lost))
        .route("/transit/v1/{op}/cards/{number}/movable", get(movable))
        .route("/transit/v1/{op}/moves", post(move_balance))
        .route("/transit/v1/{op}/cards/{number}/moves", get(ordered_moves))
        .route("/transit/v1/{op}/moves/{move_id}/load", post(complete_move))
        .with_state(ops)
}
