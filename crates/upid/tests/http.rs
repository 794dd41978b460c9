//! The switch's XML endpoints over real HTTP: a payment, its status, address
//! validation, and the input refused (unsigned, signed by an unknown PSP
//! or in another's name, oversized, too deep, entities, the wrong message).
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

mod common;

use paytap_issuer::{IssuerConfig, UpiAccount, UpiBanks};
use paytap_ledger::Ledger;
use paytap_store::Db;
use paytap_types::SystemClock;
use paytap_upi::Vpa;
use paytap_upi::xml::*;
use paytap_upid::{DirectoryEntry, IssuerBanks, UpiSwitch, http};
use std::sync::Arc;

const ICICI: &str = "63560001";
const HDFC: &str = "63560002";
/// The PSP the tests speak as, and the key the switch knows it by.
const PSP: &str = "PAYTAP";
const PSP_KEY: [u8; 32] = [3; 32];

fn account(a: &UpiAccount) -> Account {
    Account {
        ifsc: Ifsc::new(&a.ifsc).unwrap(),
        number: AccountNumber::new(&a.account_number).unwrap(),
        kind: Some("SAVINGS".into()),
    }
}

fn vpa(s: &str) -> Vpa {
    Vpa::new(s).unwrap()
}

fn head(msg: &str) -> Head {
    Head {
        ver: "2.0".into(),
        ts: Timestamp::from_unix_millis(paytap_types::system_millis()),
        org_id: OrgId::new("PAYTAP").unwrap(),
        msg_id: MsgId::new(msg).unwrap(),
    }
}

fn txn(id: &str, kind: TxnType) -> Txn {
    Txn::new(
        TxnId::new(id).unwrap(),
        Timestamp::from_unix_millis(paytap_types::system_millis()),
        kind,
    )
}

/// A switch over the emulated banks on a loopback port; Asha (ICICI, ₹10,000)
/// and Ravi (HDFC) are in its directory; with Asha's PIN block for `HT1`.
async fn serve() -> (String, UpiAccount, Cred) {
    let db = Db::for_tests().await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let banks = UpiBanks::open(
        db.clone(),
        ledger,
        &IssuerConfig::default_banks(),
        &[7u8; 32],
        &paytap_types::Secret::new([7; 32]),
    )
    .await
    .unwrap();
    let asha = banks
        .open_account(ICICI, "Asha", "9876543210", 10_000_00)
        .await
        .unwrap();
    common::set_pin(&banks, &asha, common::PIN).await;
    let cred = common::pin_cred(&banks, &asha.ifsc, "HT1", common::PIN);
    let ravi = banks
        .open_account(HDFC, "Ravi", "9123456780", 0)
        .await
        .unwrap();
    let banks = IssuerBanks::new(Arc::new(banks));
    let sw = UpiSwitch::open(
        db,
        banks,
        Arc::new(SystemClock),
        OrgId::new("NPCI").unwrap(),
    )
    .await
    .unwrap();
    for (addr, a) in [("asha@paytap", &asha), ("ravi@paytap", &ravi)] {
        let entry = DirectoryEntry {
            vpa: vpa(addr),
            account: account(a),
            bound_at: Some(0),
        };
        sw.register(&entry).await.unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let keys = http::PspKeys::new([(PSP.to_owned(), PSP_KEY)]);
    let app = http::router(Arc::new(sw), keys);
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, asha, cred)
}

/// Posts `body` to endpoint `api`, signed as [`PSP`].
async fn post(base: &str, api: &str, body: impl Into<Vec<u8>>) -> (u16, String) {
    let body = body.into();
    let signature = paytap_upi::sign::sign(PSP, &PSP_KEY, &body);
    post_signed(base, api, body, Some(signature)).await
}

async fn post_signed(
    base: &str,
    api: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> (u16, String) {
    let mut req = reqwest::Client::new().post(format!("{base}/upi/switch/{api}"));
    if let Some(s) = signature {
        req = req.header(paytap_upi::sign::SIGNATURE_HEADER, s);
    }
    let r = req.body(body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn post_msg(base: &str, msg: Message) -> (u16, Message) {
    let (status, body) = post(base, msg.name(), encode(&msg).unwrap()).await;
    (status, decode(body.as_bytes()).expect(&body))
}

#[tokio::test]
async fn a_payment_its_status_and_address_validation() {
    let (base, asha, cred) = serve().await;
    let mut payer = Party::person(vpa("asha@paytap"));
    payer.account = Some(account(&asha));
    payer.creds = vec![cred];
    let mut payee = Party::person(vpa("ravi@paytap"));
    payee.amount = Some(Amount { paise: 120_00 });
    let pay = ReqPay {
        head: head("M1"),
        txn: txn("HT1", TxnType::Pay),
        payer: payer.clone(),
        payees: vec![payee],
    };
    let (status, answer) = post_msg(&base, Message::ReqPay(pay)).await;
    let Message::RespPay(r) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!((status, r.resp.result), (200, ResultCode::Success));
    assert_eq!(r.txn.cust_ref.as_ref().map(|c| c.as_str().len()), Some(12));

    let mut chk = txn("HC1", TxnType::ChkTxn);
    chk.org_txn_id = Some(TxnId::new("HT1").unwrap());
    let (_, answer) = post_msg(
        &base,
        Message::ReqChkTxn(ReqChkTxn {
            head: head("M2"),
            txn: chk,
        }),
    )
    .await;
    let Message::RespChkTxn(r) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(r.resp.result, ResultCode::Success);

    for (addr, want) in [
        ("ravi@paytap", ResultCode::Success),
        ("nobody@paytap", ResultCode::Failure),
    ] {
        let val = ReqValAdd {
            head: head("M3"),
            txn: txn("HV1", TxnType::ValAdd),
            payer: payer.clone(),
            payee: Party::person(vpa(addr)),
        };
        let (_, answer) = post_msg(&base, Message::ReqValAdd(val)).await;
        let Message::RespValAdd(r) = answer else {
            panic!("{answer:?}")
        };
        assert_eq!(r.resp.result, want, "{addr}");
        assert_eq!(r.ifsc.is_some(), want == ResultCode::Success);
    }
}

#[tokio::test]
async fn bad_xml_is_refused_with_a_reason() {
    let (base, _, _) = serve().await;
    let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
    assert_eq!(post(&base, "ReqPay", big).await.0, 413);
    let deep = format!(
        "<upi:ReqPay xmlns:upi=\"{NAMESPACE}\">{}{}</upi:ReqPay>",
        "<a>".repeat(MAX_DEPTH + 1),
        "</a>".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(post(&base, "ReqPay", deep).await.0, 400);
    let entity = format!(
        "<!DOCTYPE x [<!ENTITY e \"boom\">]><upi:ReqPay xmlns:upi=\"{NAMESPACE}\">&e;</upi:ReqPay>"
    );
    assert_eq!(post(&base, "ReqPay", entity).await.0, 400);
    let (status, body) = post(&base, "ReqPay", "not xml").await;
    assert_eq!(status, 400);
    assert!(body.starts_with("malformed UPI XML"), "{body}");
    let mut chk = txn("HC2", TxnType::ChkTxn);
    chk.org_txn_id = Some(TxnId::new("HT9").unwrap());
    let wrong = encode(&Message::ReqChkTxn(ReqChkTxn {
        head: head("M4"),
        txn: chk,
    }))
    .unwrap();
    let (status, body) = post(&base, "ReqPay", wrong).await;
    assert_eq!(status, 400);
    assert!(body.contains("takes ReqPay"), "{body}");
}

#[tokio::test]
async fn only_a_registered_psp_speaking_in_its_own_name_is_heard() {
    let (base, asha, cred) = serve().await;
    let mut payer = Party::person(vpa("asha@paytap"));
    payer.account = Some(account(&asha));
    payer.creds = vec![cred];
    let mut payee = Party::person(vpa("ravi@paytap"));
    payee.amount = Some(Amount { paise: 1_00 });
    let pay = |org: &str| {
        let mut head = head("M9");
        head.org_id = OrgId::new(org).unwrap();
        let req = ReqPay {
            head,
            txn: txn("HT1", TxnType::Pay),
            payer: payer.clone(),
            payees: vec![payee.clone()],
        };
        encode(&Message::ReqPay(req)).unwrap().into_bytes()
    };
    let body = pay(PSP);
    let (status, text) = post_signed(&base, "ReqPay", body.clone(), None).await;
    assert_eq!(status, 401, "{text}");
    let stranger = paytap_upi::sign::sign("EVILPSP", &PSP_KEY, &body);
    assert_eq!(
        post_signed(&base, "ReqPay", body.clone(), Some(stranger))
            .await
            .0,
        401
    );
    let forged = paytap_upi::sign::sign(PSP, &[4; 32], &body);
    assert_eq!(
        post_signed(&base, "ReqPay", body.clone(), Some(forged))
            .await
            .0,
        401
    );
    // Signed by the PSP, but in another org's name.
    let (status, text) = post(&base, "ReqPay", pay("PAYU")).await;
    assert_eq!(status, 403, "{text}");
    // Nothing reached the switch: the same transaction id is still free.
    let (status, answer) = post(&base, "ReqPay", body).await;
    let answer = decode(answer.as_bytes()).unwrap();
    let Message::RespPay(r) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!((status, r.resp.result), (200, ResultCode::Success));
}
