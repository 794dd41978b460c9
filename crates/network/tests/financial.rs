//! Single-message financial requests (`0200` → `0210`) end to end over
//! loopback TCP: the switch routes them like a `0100`, the issuer approves
//! and captures at once (the money leaves the cardholder for good), a
//! reversal gives it back, clearing confirms the capture without moving
//! money twice, and an issuer that does not answer is never stood in for.
//! Every test checks the ledger. Runs on SQLite, and on PostgreSQL with
//! PAYTAP_TEST_DATABASE_URL.

mod common;

use common::*;
use paytap_iso8583::{Message, Mti, ResponseCode};
use paytap_issuer::Product;
use paytap_network::paytap_switch::STAND_IN_INDICATOR;
use paytap_store::Db;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A tap turned into the `0200` an acquirer of a single-message system sends.
fn financial(n: &Net, phone: &mut Phone, amount: i64) -> Message {
    let (_, mut m) = n.tap(phone, amount);
    m.set_mti(Mti::FINANCIAL_REQUEST);
    m
}

/// What the ledger holds pending, over every currency.
async fn pending_total(n: &Net) -> i64 {
    let report = n.net.ledger().check_invariants().await.unwrap();
    report.totals.values().map(|b| b.debits_pending).sum()
}

#[tokio::test]
async fn financial_request_moves_the_money_at_once() {
    let n = start().await;
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    let req = financial(&n, &mut phone, 2_500);
    let a = n.send(&req).await;
    assert_eq!(a.mti(), Mti::FINANCIAL_RESPONSE);
    assert_eq!(code(&a), "00");
    assert!(a.auth_id_response().is_some());
    assert_eq!(n.available(&phone).await, 100_000 - 2_500);
    assert_eq!(pending_total(&n).await, 0, "captured, not held");
    // The acquirer did not hear the answer and sends it again: the same
    // answer, the money moved once.
    let again = common::demo_client(&n.net).await.send(&req).await.unwrap();
    assert_eq!(again, a);
    assert_eq!(n.available(&phone).await, 100_000 - 2_500);
    // Clearing counts it in the positions and confirms the capture
    // without moving the money again.
    let rep = n.net.clearing(&n.today()).await.unwrap();
    assert!(rep.balanced(), "{rep:?}");
    assert_eq!(rep.authorizations, 1);
    assert_eq!(rep.capture_pending, 0);
    assert_eq!(n.available(&phone).await, 100_000 - 2_500);
    n.assert_ledger().await;
}

#[tokio::test]
async fn financial_request_declined_moves_nothing() {
    let n = start().await;
    let mut phone = n.phone(CMB, Product::Debit, 1_000).await;
    let a = n.send(&financial(&n, &mut phone, 5_000)).await;
    assert_eq!(a.mti(), Mti::FINANCIAL_RESPONSE);
    assert_eq!(code(&a), ResponseCode::InsufficientFunds.code());
    assert_eq!(n.available(&phone).await, 1_000);
    assert_eq!(pending_total(&n).await, 0);
    n.assert_ledger().await;
}

#[tokio::test]
async fn reversal_of_a_financial_request_gives_the_money_back_once() {
    let n = start().await;
    let mut events = n.net.subscribe();
    let mut phone = n.phone(CMB, Product::Credit, 50_000).await;
    let req = financial(&n, &mut phone, 12_345);
    assert_eq!(code(&n.send(&req).await), "00");
    assert_eq!(n.available(&phone).await, 50_000 - 12_345);
    let rev = n.reversal_of(&req);
    let r = n.send(&rev).await;
    assert_eq!(r.mti(), Mti::REVERSAL_RESPONSE);
    assert_eq!(code(&r), "00");
    assert!(events.recv().await.unwrap().approved);
    assert_eq!(events.recv().await.unwrap().kind, "reversal");
    // The switch tells the issuer behind the answer.
    assert_eq!(
        n.net.switch().drain_forwards(Duration::from_secs(20)).await,
        0
    );
    assert_eq!(n.available(&phone).await, 50_000);
    // A repeated reversal gives nothing back twice.
    assert_eq!(code(&n.send(&n.reversal_of(&req)).await), "00");
    assert_eq!(
        n.net.switch().drain_forwards(Duration::from_secs(20)).await,
        0
    );
    assert_eq!(n.available(&phone).await, 50_000);
    let rep = n.net.clearing(&n.today()).await.unwrap();
    assert_eq!(rep.authorizations, 0);
    n.assert_ledger().await;
}

#[tokio::test]
async fn silent_issuer_is_not_stood_in_for_on_a_financial_request() {
    let mut cfg = config(Db::for_tests().await.unwrap());
    let down = icbc_link_switch(&mut cfg);
    let n = start_with(cfg).await;
    let mut phone = n.phone(ICBC, Product::Debit, 500_000).await;
    down.store(true, Ordering::SeqCst);
    // Within ICBC's stand-in limits, yet no stand-in for a 0200.
    let a = n.send(&financial(&n, &mut phone, 8_000)).await;
    assert_eq!(a.mti(), Mti::FINANCIAL_RESPONSE);
    assert_eq!(code(&a), ResponseCode::IssuerUnavailable.code());
    assert_ne!(a.get_str(60), Some(STAND_IN_INDICATOR));
    let s = n.net.switch().stats();
    assert_eq!(s.stand_in.load(Ordering::Relaxed), 0);
    // The reversal of whatever the issuer might have done waits for it.
    assert_eq!(n.net.switch().pending_forwards(), 1);
    down.store(false, Ordering::SeqCst);
    assert_eq!(
        n.net.switch().drain_forwards(Duration::from_secs(20)).await,
        0
    );
    assert_eq!(n.available(&phone).await, 500_000);
    // A 0100 in the same outage is stood in for as before.
    down.store(true, Ordering::SeqCst);
    let b = n.pay(&mut phone, 8_000).await;
    assert_eq!(code(&b), "00");
    assert_eq!(b.get_str(60), Some(STAND_IN_INDICATOR));
    down.store(false, Ordering::SeqCst);
    assert_eq!(
        n.net.switch().drain_forwards(Duration::from_secs(20)).await,
        0
    );
    assert_eq!(n.available(&phone).await, 500_000 - 8_000);
    n.assert_ledger().await;
}
