//! A risk step-up reaches the phone: a payment declined `1A` queues one
//! `verify_payment` command for the device that paid, with what the phone
//! shows; the device's answer finishes it; nothing else queues one.
//! Runs on SQLite, or on PostgreSQL with `PAYTAP_TEST_DATABASE_URL`.

mod common;

use common::*;
use paytap_types::{Currency, Money, PaymentEvent};
use serde_json::{Value, json};

fn event(id: &str, token_ref: &str, approved: bool, code: &str) -> PaymentEvent {
    PaymentEvent {
        event_id: id.into(),
        token_ref: token_ref.into(),
        merchant_name: "FamilyMart".into(),
        merchant_id: "M7".into(),
        terminal_id: "T7".into(),
        amount: Money::new(2000, Currency::CNY),
        approved,
        response_code: code.into(),
        reason: "verify it's you, then pay again (risk: velocity)".into(),
        kind: "purchase".into(),
        at_millis: 1_700_000_000_000,
        saved: None,
        earned: None,
    }
}

async fn commands(s: &Server, t: &str, dev: &str) -> Vec<Value> {
    let r = s.get(t, &format!("/api/v1/devices/{dev}/commands")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["commands"].as_array().unwrap().clone()
}

/// An account with a phone holding one card; returns (session, device, token ref).
async fn phone_with_card(s: &Server, login: &str, number: &str) -> (String, String, String) {
    let t = s.account(login).await;
    let (dev, _) = s.device(&t, "phone").await;
    let p = pan(number);
    s.net.issue(&p, "Bank S", Path::Green);
    let card = s.add_card(&t, &dev, &p).await.body["card"].clone();
    let token_ref = card["token_ref"].as_str().unwrap().to_owned();
    (t, dev, token_ref)
}

#[tokio::test]
async fn a_step_up_asks_the_phone_once_and_the_phone_answers() {
    let s = server().await;
    let (t, dev, token_ref) = phone_with_card(&s, "step1@example.com", "8000000000101").await;
    let ev = event("risk-1", &token_ref, false, "1A");
    assert!(s.wallet.record_payment(&ev).await.unwrap().is_some());
    // The same event again (a redelivery) asks nothing more.
    assert!(s.wallet.record_payment(&ev).await.unwrap().is_none());

    let list = commands(&s, &t, &dev).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let c = &list[0];
    assert_eq!(
        (c["kind"].as_str(), c["state"].as_str()),
        (Some("verify_payment"), Some("queued"))
    );
    assert_eq!(c["payment"]["payment_id"], "risk-1");
    assert_eq!(c["payment"]["merchant_name"], "FamilyMart");
    assert_eq!(
        c["payment"]["amount"],
        json!({"minor": 2000, "currency": "CNY"})
    );
    assert_eq!(c["payment"]["amount_display"], "20.00");

    // The phone asked its owner, who touched the sensor.
    let id = c["id"].as_str().unwrap();
    let ack = format!("/api/v1/devices/{dev}/commands/{id}/ack");
    let r = s
        .post(&t, &ack, json!({"ok": true, "detail": "verified"}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (r.body["state"].as_str(), r.body["detail"].as_str()),
        (Some("acknowledged"), Some("verified"))
    );
    assert_eq!(r.body["payment"]["payment_id"], "risk-1");
    // A contrary answer afterwards is refused.
    let r = s
        .post(&t, &ack, json!({"ok": false, "detail": "refused"}))
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);

    // A second step-up is a second question, refused this time.
    let ev2 = event("risk-2", &token_ref, false, "1A");
    s.wallet.record_payment(&ev2).await.unwrap().unwrap();
    let list = commands(&s, &t, &dev).await;
    let second = list
        .iter()
        .find(|c| c["payment"]["payment_id"] == "risk-2")
        .unwrap();
    let id = second["id"].as_str().unwrap();
    let ack = format!("/api/v1/devices/{dev}/commands/{id}/ack");
    let r = s
        .post(&t, &ack, json!({"ok": false, "detail": "refused"}))
        .await;
    assert_eq!(
        (r.body["state"].as_str(), r.body["detail"].as_str()),
        (Some("failed"), Some("refused"))
    );
}

#[tokio::test]
async fn other_payments_ask_nothing_and_the_owner_cannot_ask() {
    let s = server().await;
    let (t, dev, token_ref) = phone_with_card(&s, "step2@example.com", "8000000000119").await;
    for (id, approved, code) in [("ok-1", true, "00"), ("nsf-1", false, "51")] {
        let ev = event(id, &token_ref, approved, code);
        s.wallet.record_payment(&ev).await.unwrap().unwrap();
    }
    assert_eq!(commands(&s, &t, &dev).await, Vec::<Value>::new());

    let r = s
        .post(
            &t,
            &format!("/api/v1/devices/{dev}/commands"),
            json!({"kind": "verify_payment"}),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(commands(&s, &t, &dev).await.is_empty());

    // A phone reported lost is not asked about a stepped-up payment.
    let r = s.suspend(&t, &dev, "lost").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let ev = event("risk-lost", &token_ref, false, "1A");
    s.wallet.record_payment(&ev).await.unwrap().unwrap();
    assert!(commands(&s, &t, &dev).await.is_empty());
}
