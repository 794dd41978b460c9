//! The emulator control API's UPI routes (loopback only, beside
//! `emulator.rs`): what stands in for the banks' branches and the
//! merchants' aggregator (PayU) in the demo and the end-to-end tests.
//!
//! * `POST /emulator/v1/upi/accounts`: a bank opens a savings account for
//!   a holder and a mobile number, and hands over its debit card (number
//!   and expiry, once);
//! * `POST /emulator/v1/upi/merchants`: PayU signs a shop up: an account at
//!   a bank, its UPI ID (`name@payu`) in the switch's directory;
//! * `POST /emulator/v1/upi/collects`: the shop's collect request to a
//!   payer's UPI ID, as PayU sends it to the switch;
//! * `GET /emulator/v1/upi/balance/{ifsc}/{account}`: a savings account's
//!   balance, in paise.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use paytap_issuer::UpiBanks;
use paytap_upi::Vpa;
use paytap_upi::xml::{
    Account, AccountNumber, Amount, Head, Ifsc, Mcc, MsgId, OrgId, Party, PartyType, ReqPay,
    Timestamp, Txn, TxnId, TxnType,
};
use paytap_upid::{DirectoryEntry, IssuerBanks, UpiSwitch};
use serde::Deserialize;
use serde_json::{Value, json};

/// The org id the emulated aggregator signs its messages with.
const AGGREGATOR_ORG: &str = "PAYU";
/// The handle of the aggregator's merchant UPI IDs.
const AGGREGATOR_HANDLE: &str = "payu";

#[derive(Clone)]
struct Lab {
    banks: Arc<UpiBanks>,
    switch: Arc<UpiSwitch<IssuerBanks>>,
}

type LabResult = Result<Json<Value>, (StatusCode, Json<Value>)>;

fn refused(status: StatusCode, message: impl std::fmt::Display) -> (StatusCode, Json<Value>) {
    tracing::info!(%message, "UPI emulator request refused");
    (
        status,
        Json(json!({ "error": { "code": "emulator", "message": message.to_string() } })),
    )
}

fn loopback(peer: SocketAddr) -> Result<(), (StatusCode, Json<Value>)> {
    if peer.ip().is_loopback() {
        Ok(())
    } else {
        Err(refused(
            StatusCode::FORBIDDEN,
            "the emulator API answers loopback clients only",
        ))
    }
}

/// The routes over the banks and the switch.
pub fn router(banks: Arc<UpiBanks>, switch: Arc<UpiSwitch<IssuerBanks>>) -> Router {
    Router::new()
        .route("/emulator/v1/upi/accounts", post(open_account))
        .route("/emulator/v1/upi/merchants", post(merchant))
        .route("/emulator/v1/upi/collects", post(collect))
        .route("/emulator/v1/upi/balance/{ifsc}/{account}", get(balance))
        .with_state(Lab { banks, switch })
}

#[derive(Deserialize)]
struct AccountBody {
    bank_id: String,
    holder: String,
    mobile: String,
    #[serde(default)]
    opening_paise: i64,
}

async fn open_account(
    State(lab): State<Lab>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(b): Json<AccountBody>,
) -> LabResult {
    loopback(peer)?;
    let a = lab
        .banks
        .open_account(&b.bank_id, &b.holder, &b.mobile, b.opening_paise)
        .await
        .map_err(|e| refused(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let card = a.debit_card.as_ref().map(|c| {
        json!({ "pan": c.pan.expose(), "expiry": c.expiry.to_string(), "last6": c.last6().expose() })
    });
    Ok(Json(json!({
        "bank_id": a.bank_id, "ifsc": a.ifsc, "account_number": a.account_number,
        "mobile": a.mobile, "holder": a.holder, "debit_card": card,
    })))
}

#[derive(Deserialize)]
struct MerchantBody {
    /// The name before `@payu`.
    name: String,
    display_name: String,
    bank_id: String,
    mcc: String,
    mobile: String,
}

async fn merchant(
    State(lab): State<Lab>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(b): Json<MerchantBody>,
) -> LabResult {
    loopback(peer)?;
    let bad = |e: &dyn std::fmt::Display| refused(StatusCode::UNPROCESSABLE_ENTITY, e);
    let vpa = Vpa::new(&format!("{}@{AGGREGATOR_HANDLE}", b.name)).map_err(|e| bad(&e))?;
    Mcc::new(&b.mcc).map_err(|e| bad(&e))?;
    let a = lab
        .banks
        .open_account(&b.bank_id, &b.display_name, &b.mobile, 0)
        .await
        .map_err(|e| bad(&e))?;
    let entry = DirectoryEntry {
        vpa: vpa.clone(),
        account: Account {
            ifsc: Ifsc::new(&a.ifsc).map_err(|e| bad(&e))?,
            number: AccountNumber::new(&a.account_number).map_err(|e| bad(&e))?,
            kind: Some("CURRENT".into()),
        },
        bound_at: None,
    };
    lab.switch.register(&entry).await.map_err(|e| bad(&e))?;
    let link = format!(
        "upi://pay?pa={vpa}&pn={}&mc={}&cu=INR",
        percent_encoded(&b.display_name),
        b.mcc
    );
    Ok(Json(json!({
        "vpa": vpa.as_str(), "ifsc": a.ifsc, "account_number": a.account_number,
        "static_link": link,
    })))
}

fn percent_encoded(s: &str) -> String {
    let mut out = String::new();
    paytap_upi::percent_encode(s, &mut out);
    out
}

#[derive(Deserialize)]
struct CollectBody {
    txn_id: String,
    /// The merchant's UPI ID (`name@payu`).
    merchant: String,
    merchant_name: String,
    mcc: String,
    payer: String,
    amount_paise: u64,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    expire_after_minutes: Option<u32>,
}

async fn collect(
    State(lab): State<Lab>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(b): Json<CollectBody>,
) -> LabResult {
    loopback(peer)?;
    let bad = |e: &dyn std::fmt::Display| refused(StatusCode::UNPROCESSABLE_ENTITY, e);
    let mut payee = Party::person(Vpa::new(&b.merchant).map_err(|e| bad(&e))?);
    payee.kind = PartyType::Entity;
    payee.code = Mcc::new(&b.mcc).map_err(|e| bad(&e))?;
    payee.name = Some(b.merchant_name.clone());
    payee.amount = Some(Amount {
        paise: b.amount_paise,
    });
    let now = paytap_types::system_millis();
    let id = TxnId::new(&b.txn_id).map_err(|e| bad(&e))?;
    let mut txn = Txn::new(id, Timestamp::from_unix_millis(now), TxnType::Collect);
    txn.note = b.note.clone();
    txn.expire_after_minutes = b.expire_after_minutes;
    let req = ReqPay {
        head: Head {
            ver: "2.0".into(),
            ts: Timestamp::from_unix_millis(now),
            org_id: OrgId::new(AGGREGATOR_ORG).expect("letters"),
            msg_id: MsgId::new(&format!("M{}", b.txn_id)).map_err(|e| bad(&e))?,
        },
        txn,
        payer: Party::person(Vpa::new(&b.payer).map_err(|e| bad(&e))?),
        payees: vec![payee],
    };
    let answer = lab
        .switch
        .pay(req)
        .await
        .map_err(|e| refused(StatusCode::SERVICE_UNAVAILABLE, e))?;
    // A collect request waits for its payer: an answer now is a refusal.
    match answer {
        None => Ok(Json(json!({ "txn_id": b.txn_id, "status": "waiting" }))),
        Some(r) => Ok(Json(json!({
            "txn_id": b.txn_id, "status": "failed",
            "error_code": r.resp.err_code.as_ref().map(|c| c.as_str()),
        }))),
    }
}

async fn balance(
    State(lab): State<Lab>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((ifsc, account)): Path<(String, String)>,
) -> LabResult {
    loopback(peer)?;
    let paise = lab
        .banks
        .balance(&ifsc, &account)
        .await
        .map_err(|e| refused(StatusCode::NOT_FOUND, e))?;
    Ok(Json(
        json!({ "ifsc": ifsc, "account_number": account, "paise": paise }),
    ))
}
