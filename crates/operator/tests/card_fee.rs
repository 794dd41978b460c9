//! The card fee of an issue: paid once through the network before the
//! card is personalised, never without the rider's bank card, refunded
//! when the issue is refused after the payment, and nothing for a free
//! operator's card.

mod common;

use std::sync::Arc;

use common::*;
use paytap_operator::pay::PaymentFailure;
use paytap_operator::{OperatorError, OperatorHost};
use paytap_transit::TransitConfig;
use paytap_transit::config::Operator;

/// Beijing's fee in the default configuration: 20 yuan.
const FEE: i64 = 2_000;

async fn paying(f: &Fixture, op: Operator) -> (OperatorHost, TestNetwork) {
    let network = TestNetwork::open(&f.ledger).await;
    let host = open_host_for(&f.db, &f.ledger, &f.clock, op)
        .await
        .with_payments(Arc::new(network.clone()));
    (host, network)
}

async fn merchant_holds(f: &Fixture) -> i64 {
    let b = f.ledger.balance(MERCHANT_ACCOUNT).await.unwrap();
    b.credits_posted - b.debits_posted
}

async fn issued(f: &Fixture) -> i64 {
    count(&f.db, "SELECT COUNT(*) FROM operator_issued").await
}

#[tokio::test]
async fn the_fee_is_paid_once_before_the_card_and_never_without_a_card() {
    let f = fixture().await;
    let (host, network) = paying(&f, beijing()).await;
    assert_eq!(i64::from(beijing().card_fee), FEE);

    // No bank card: refused, nothing paid, no number taken.
    let e = host.issue("issue-1", "band-1", None).await.unwrap_err();
    assert!(matches!(e, OperatorError::FeeUnpaid(2_000)), "{e}");
    // A card the bank declines: refused with the bank's code, no card.
    let declined = card_payment(DECLINED_TOKEN);
    let e = host
        .issue("issue-2", "band-1", Some(&declined))
        .await
        .unwrap_err();
    assert!(
        matches!(e, OperatorError::Payment(PaymentFailure::Declined { ref code, .. }) if code == "51"),
        "{e}"
    );
    assert_eq!(issued(&f).await, 0);

    // Paid: the card, and the fee on the operator's merchant account.
    let paid = card_payment(TOKEN);
    let card = host.issue("issue-3", "band-1", Some(&paid)).await.unwrap();
    assert_eq!((card.fee, card.state.balance), (2_000, 0));
    assert_eq!(merchant_holds(&f).await, FEE);
    // The answer lost, the same issue again: the same card, nothing paid.
    let again = host.issue("issue-3", "band-1", Some(&paid)).await.unwrap();
    assert_eq!(again.serial, card.serial);
    assert_eq!((network.counts(), merchant_holds(&f).await), ((1, 0), FEE));

    // A second Beijing card for the band: refused before any payment.
    let e = host
        .issue("issue-4", "band-1", Some(&paid))
        .await
        .unwrap_err();
    assert!(matches!(e, OperatorError::DeviceHasCard(_)), "{e}");
    assert_eq!(network.counts(), (1, 0));
    let fee: (i64,) = sqlx::query_as("SELECT fee FROM operator_issued WHERE issue_id = 'issue-3'")
        .fetch_one(f.db.pool())
        .await
        .unwrap();
    assert_eq!(fee.0, FEE);
    assert_balanced(&f).await;
}

#[tokio::test]
async fn a_fee_paid_for_an_issue_refused_afterwards_is_refunded() {
    let f = fixture().await;
    // A range of one card: the second issue pays, then finds no number.
    let mut op = beijing();
    op.card_last = op.card_first.clone();
    let (host, network) = paying(&f, op).await;
    let paid = card_payment(TOKEN);
    host.issue("issue-1", "phone-1", Some(&paid)).await.unwrap();
    let e = host
        .issue("issue-2", "phone-2", Some(&paid))
        .await
        .unwrap_err();
    assert!(matches!(e, OperatorError::RangeExhausted), "{e}");
    assert_eq!(network.counts(), (2, 1), "the second fee paid and refunded");
    assert_eq!(merchant_holds(&f).await, FEE);
    assert_eq!(issued(&f).await, 1);
    assert_balanced(&f).await;
}

#[tokio::test]
async fn a_free_operators_card_needs_no_payment() {
    let f = fixture().await;
    let shenzhen = TransitConfig::default_operators()
        .operator("shenzhen")
        .cloned()
        .unwrap();
    assert_eq!(shenzhen.card_fee, 0);
    let (host, network) = paying(&f, shenzhen).await;
    let card = host.issue("issue-1", "watch-1", None).await.unwrap();
    assert_eq!(card.fee, 0);
    assert_eq!(network.counts(), (0, 0));
}

async fn assert_balanced(f: &Fixture) {
    let r = f.ledger.check_invariants().await.unwrap();
    for (cur, b) in &r.totals {
        assert_eq!(b.debits_posted, b.credits_posted, "{cur}");
    }
}
