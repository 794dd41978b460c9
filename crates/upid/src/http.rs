//! The switch's XML endpoints over HTTP, as a PSP meets them:
//! `POST /upi/switch/ReqPay`, `/upi/switch/ReqChkTxn`, `/upi/switch/ReqValAdd`,
//! each body one UPI XML message, each answered with the response message
//! (`application/xml`), or, for a payment still in flight, `202` and an `Ack`
//! (a repeat of the request answers once the transaction has an outcome).
//!
//! Only a registered PSP is heard: each request carries its org id and an
//! HMAC-SHA256 of the body under that PSP's key ([`paytap_upi::sign`]),
//! checked before the body is parsed (`401` and a log line otherwise), and
//! the message's `Head@orgId` must be the org that signed it (`403`), so a
//! PSP speaks only in its own name.
//!
//! Bodies above [`MAX_MESSAGE_BYTES`] are refused `413` before they are read;
//! the codec refuses nesting past its depth limit and any DTD or entity
//! declaration; either, or a message of the wrong kind, is `400` with the
//! reason and a log line.

use crate::banks::Banks;
use crate::service::UpiSwitch;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use paytap_types::Secret;
use paytap_upi::sign::{SIGNATURE_HEADER, verify};
pub use paytap_upi::xml::MAX_MESSAGE_BYTES;
use paytap_upi::xml::{
    Ack, Head, Mcc, Message, MsgId, OrgId, PartyType, ReqValAdd, Resp, RespValAdd, ResultCode,
    Timestamp, XmlError, decode, encode,
};
use paytap_upiswitch::codes;
use std::collections::HashMap;
use std::sync::Arc;

/// The org id the switch signs its address answers with.
const SWITCH_ORG: &str = "NPCI";

/// The PSPs the switch hears, each org id with its signing key.
#[derive(Clone, Default)]
pub struct PspKeys(Arc<HashMap<String, Secret<[u8; 32]>>>);

impl PspKeys {
    /// The registered PSPs: `(org id, key)`.
    pub fn new(keys: impl IntoIterator<Item = (String, [u8; 32])>) -> PspKeys {
        let map = keys.into_iter().map(|(o, k)| (o, Secret::new(k))).collect();
        PspKeys(Arc::new(map))
    }

    fn key(&self, org: &str) -> Option<[u8; 32]> {
        self.0.get(org).map(|k| *k.expose())
    }
}

/// What the handlers share.
struct Api<B: Banks> {
    sw: Arc<UpiSwitch<B>>,
    keys: PspKeys,
}

impl<B: Banks> Clone for Api<B> {
    fn clone(&self) -> Self {
        Api {
            sw: self.sw.clone(),
            keys: self.keys.clone(),
        }
    }
}

/// The endpoints over `sw`, heard from the PSPs of `keys`.
pub fn router<B: Banks>(sw: Arc<UpiSwitch<B>>, keys: PspKeys) -> Router {
    Router::new()
        .route("/upi/switch/ReqPay", post(req_pay::<B>))
        .route("/upi/switch/ReqChkTxn", post(req_chk_txn::<B>))
        .route("/upi/switch/ReqValAdd", post(req_val_add::<B>))
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
        .with_state(Api { sw, keys })
}

/// The message of a request signed by a registered PSP in its own name,
/// or the answer refusing it (`401`, `403`, `400`).
fn signed_message<B: Banks>(
    api: &Api<B>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Message, Box<Response>> {
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let org = verify(header, body, |org| api.keys.key(org)).map_err(|e| {
        tracing::info!(error = %e, bytes = body.len(), "UPI request refused: not signed by a registered PSP");
        Box::new((StatusCode::UNAUTHORIZED, format!("{e}\n")).into_response())
    })?;
    let msg = read(body).map_err(|e| Box::new(refused(&e, body.len())))?;
    let named = msg.head().map(|h| h.org_id.as_str());
    if named != Some(org) {
        tracing::info!(signed_by = org, named = ?named, "UPI request refused: signed by another org than its head names");
        let text = format!("signed by {org}, but the message is from {named:?}\n");
        return Err(Box::new((StatusCode::FORBIDDEN, text).into_response()));
    }
    Ok(msg)
}

async fn req_pay<B: Banks>(State(api): State<Api<B>>, headers: HeaderMap, body: Bytes) -> Response {
    let req = match signed_message(&api, &headers, &body) {
        Ok(Message::ReqPay(r)) => r,
        Ok(other) => return wrong_kind("ReqPay", &other),
        Err(r) => return *r,
    };
    let (msg_id, ts) = (req.head.msg_id.clone(), req.head.ts.clone());
    match api.sw.pay(req).await {
        Ok(Some(resp)) => xml(StatusCode::OK, &Message::RespPay(resp)),
        Ok(None) => {
            let ack = Ack {
                api: "ReqPay".to_owned(),
                req_msg_id: msg_id,
                err: None,
                ts,
            };
            xml(StatusCode::ACCEPTED, &Message::Ack(ack))
        }
        Err(e) => failed("ReqPay", &e),
    }
}

async fn req_chk_txn<B: Banks>(
    State(api): State<Api<B>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match signed_message(&api, &headers, &body) {
        Ok(Message::ReqChkTxn(r)) => r,
        Ok(other) => return wrong_kind("ReqChkTxn", &other),
        Err(r) => return *r,
    };
    match api.sw.status(req).await {
        Ok(Some(resp)) => xml(StatusCode::OK, &Message::RespChkTxn(resp)),
        Ok(None) => failed("ReqChkTxn", &"no answer"),
        Err(e) => failed("ReqChkTxn", &e),
    }
}

async fn req_val_add<B: Banks>(
    State(api): State<Api<B>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = match signed_message(&api, &headers, &body) {
        Ok(Message::ReqValAdd(r)) => r,
        Ok(other) => return wrong_kind("ReqValAdd", &other),
        Err(r) => return *r,
    };
    match api.sw.resolve(&req.payee.addr).await {
        Ok(entry) => xml(StatusCode::OK, &val_add_answer(&req, entry)),
        Err(e) => failed("ReqValAdd", &e),
    }
}

/// The answer to an address validation: the IFSC and kind of a known
/// address, `ZH` for an unknown one.
fn val_add_answer(req: &ReqValAdd, entry: Option<crate::DirectoryEntry>) -> Message {
    let known = entry.is_some();
    let mut resp = Resp::new(
        req.head.msg_id.clone(),
        if known {
            ResultCode::Success
        } else {
            ResultCode::Failure
        },
    );
    if !known {
        tracing::info!(addr = %req.payee.addr, "UPI address validation: unknown address");
        resp.err_code = paytap_upi::xml::ErrCode::new(codes::INVALID_ADDRESS).ok();
    }
    let tail = req.head.msg_id.as_str();
    let msg_id = format!("V{}", &tail[tail.len().saturating_sub(34)..]);
    Message::RespValAdd(RespValAdd {
        head: Head {
            ver: "2.0".to_owned(),
            ts: Timestamp::from_unix_millis(paytap_types::system_millis()),
            org_id: OrgId::new(SWITCH_ORG).expect("letters"),
            msg_id: MsgId::new(&msg_id).expect("letters and digits, at most 35"),
        },
        txn: req.txn.clone(),
        resp,
        code: known.then(Mcc::person),
        kind: known.then_some(PartyType::Person),
        ifsc: entry.map(|e| e.account.ifsc),
    })
}

/// A body read as a UPI message.
fn read(body: &[u8]) -> Result<Message, XmlError> {
    decode(body)
}

/// The `400` for a body that is not a UPI message.
fn refused(e: &XmlError, bytes: usize) -> Response {
    tracing::info!(error = %e, bytes, "UPI XML refused");
    (StatusCode::BAD_REQUEST, format!("malformed UPI XML: {e}\n")).into_response()
}

fn wrong_kind(expected: &str, got: &Message) -> Response {
    tracing::info!(
        expected,
        got = got.name(),
        "UPI message at the wrong endpoint"
    );
    let body = format!("this endpoint takes {expected}, not {}\n", got.name());
    (StatusCode::BAD_REQUEST, body).into_response()
}

fn failed(api: &str, e: &dyn std::fmt::Display) -> Response {
    tracing::error!(api, error = %e, "UPI switch request failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the switch could not answer; retry\n",
    )
        .into_response()
}

fn xml(status: StatusCode, msg: &Message) -> Response {
    match encode(msg) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response(),
        Err(e) => failed(msg.name(), &e),
    }
}
