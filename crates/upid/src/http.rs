//! The switch's XML endpoints over HTTP, as a PSP meets them:
//! `POST /upi/switch/ReqPay`, `/upi/switch/ReqChkTxn`, `/upi/switch/ReqValAdd`,
//! each body one UPI XML message, each answered with the response message
//! (`application/xml`), or, for a payment still in flight, `202` and an `Ack`
//! (a repeat of the request answers once the transaction has an outcome).
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
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
pub use paytap_upi::xml::MAX_MESSAGE_BYTES;
use paytap_upi::xml::{
    Ack, Head, Mcc, Message, MsgId, OrgId, PartyType, ReqValAdd, Resp, RespValAdd, ResultCode,
    Timestamp, XmlError, decode, encode,
};
use paytap_upiswitch::codes;
use std::sync::Arc;

/// The org id the switch signs its address answers with.
const SWITCH_ORG: &str = "NPCI";

/// The endpoints over `sw`.
pub fn router<B: Banks>(sw: Arc<UpiSwitch<B>>) -> Router {
    Router::new()
        .route("/upi/switch/ReqPay", post(req_pay::<B>))
        .route("/upi/switch/ReqChkTxn", post(req_chk_txn::<B>))
        .route("/upi/switch/ReqValAdd", post(req_val_add::<B>))
        .layer(DefaultBodyLimit::max(MAX_MESSAGE_BYTES))
        .with_state(sw)
}

async fn req_pay<B: Banks>(State(sw): State<Arc<UpiSwitch<B>>>, body: Bytes) -> Response {
    let req = match read(&body) {
        Ok(Message::ReqPay(r)) => r,
        Ok(other) => return wrong_kind("ReqPay", &other),
        Err(e) => return refused(&e, body.len()),
    };
    let (msg_id, ts) = (req.head.msg_id.clone(), req.head.ts.clone());
    match sw.pay(req).await {
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

async fn req_chk_txn<B: Banks>(State(sw): State<Arc<UpiSwitch<B>>>, body: Bytes) -> Response {
    let req = match read(&body) {
        Ok(Message::ReqChkTxn(r)) => r,
        Ok(other) => return wrong_kind("ReqChkTxn", &other),
        Err(e) => return refused(&e, body.len()),
    };
    match sw.status(req).await {
        Ok(Some(resp)) => xml(StatusCode::OK, &Message::RespChkTxn(resp)),
        Ok(None) => failed("ReqChkTxn", &"no answer"),
        Err(e) => failed("ReqChkTxn", &e),
    }
}

async fn req_val_add<B: Banks>(State(sw): State<Arc<UpiSwitch<B>>>, body: Bytes) -> Response {
    let req = match read(&body) {
        Ok(Message::ReqValAdd(r)) => r,
        Ok(other) => return wrong_kind("ReqValAdd", &other),
        Err(e) => return refused(&e, body.len()),
    };
    match sw.resolve(&req.payee.addr).await {
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
