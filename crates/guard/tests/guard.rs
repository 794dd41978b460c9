//! The guard's services on a real database (SQLite, or PostgreSQL with
//! `PAYTAP_TEST_DATABASE_URL`): decisions and redemptions stored, budgets
//! never overspent under concurrent payments, the funders' ledger
//! movements equal to the benefits, and the state rebuilt at start.

use paytap_guard::{Guard, MIGRATIONS, OffersService, RiskService};
use paytap_ledger::Ledger;
use paytap_offers::OffersFile;
use paytap_risk::{Outcome, RiskRules, Verdict};
use paytap_store::Db;
use paytap_types::{
    CardFacts, CardType, Channel, Currency, GuardAnswer, GuardOutcome, MerchantFacts, Money,
    PaymentFacts,
};
use std::sync::Arc;

/// 2026-12-07 10:00 UTC, a Monday.
const T0: i64 = 1_796_637_600_000;

const RULES: &str = r#"
[[velocity]]
name = "card-burst"
key = "card"
window_secs = 60
max_count = 3
action = "decline"

[[velocity]]
name = "card-pair"
key = "card"
window_secs = 60
max_count = 1
action = "step_up_otp"
shadow = true
"#;

fn offers_with_budget(budget: &str) -> OffersFile {
    OffersFile::from_toml(&format!(
        r#"
[[offer]]
id = "bank-10-off"
title = "10 CNY off 50 at supermarkets"
funder = {{ kind = "bank", id = "01020000" }}
order = 10
currency = "CNY"
[offer.eligible]
mccs = [5411]
min_amount = "50.00"
[offer.benefit]
kind = "discount"
fixed = "10.00"
[offer.limits]
budget = "{budget}"

[[offer]]
id = "first-card-5pc"
title = "5% back on a card's first payment"
funder = {{ kind = "platform", id = "paytap" }}
order = 20
currency = "CNY"
[offer.eligible]
first_card_use = true
[offer.benefit]
kind = "cashback"
percent = "5"
cap = "20.00"
[offer.limits]
budget = "1000.00"
"#
    ))
    .expect("test offers are valid")
}

fn payment(
    id: &str,
    card: &str,
    minor: i64,
    mcc: u16,
    first_use: bool,
    at_ms: i64,
) -> PaymentFacts {
    let mut f = PaymentFacts::new(id, Channel::Nfc, Money::new(minor, Currency::CNY), at_ms);
    f.account_id = Some(format!("acct-{card}"));
    f.card = Some(CardFacts {
        fingerprint: card.into(),
        bin: "622202".into(),
        bank: "01020000".into(),
        card_type: CardType::Debit,
        added_at_ms: None,
        first_use,
    });
    f.merchant = Some(MerchantFacts {
        id: "shop-1".into(),
        mcc,
    });
    f
}

async fn db() -> Db {
    let db = Db::for_tests().await.expect("test database");
    db.migrate(MIGRATIONS).await.expect("guard migrations");
    db
}

async fn risk(db: &Db, now: i64) -> RiskService {
    let rules = RiskRules::from_toml(RULES).expect("test rules are valid");
    RiskService::open(db.clone(), rules, now)
        .await
        .expect("risk service")
}

#[tokio::test]
async fn every_decision_is_stored_with_its_rules_and_a_retry_gets_it_back() {
    let db = db().await;
    let risk = risk(&db, T0).await;
    let mut verdicts = Vec::new();
    for i in 0..5 {
        let f = payment(
            &format!("p{i}"),
            "card-a",
            1_000,
            5999,
            false,
            T0 + i * 1_000,
        );
        let d = risk.decide(&f).await.expect("decide");
        if d.verdict == Verdict::Approve {
            assert!(risk.record(&f, Outcome::Approved).await.expect("record"));
            assert!(
                !risk.record(&f, Outcome::Approved).await.expect("again"),
                "told twice, moved once"
            );
        }
        verdicts.push(d.verdict);
    }
    let decline = Verdict::Decline {
        reason: paytap_risk::ReasonCode::Velocity,
    };
    assert_eq!(
        verdicts,
        vec![
            Verdict::Approve,
            Verdict::Approve,
            Verdict::Approve,
            decline,
            decline
        ]
    );
    // The shadow rule fired from the second payment on and changed nothing.
    let second = risk.stored("p1").await.expect("read").expect("stored");
    assert!(
        second
            .decision
            .fired
            .iter()
            .any(|f| &*f.rule == "card-pair" && f.shadow)
    );
    assert_eq!(second.decision.verdict, Verdict::Approve);
    assert_eq!(second.outcome.as_deref(), Some("approved"));
    // A retry of a declined payment gets the stored decision.
    let retry = payment("p3", "card-a", 1_000, 5999, false, T0 + 3_000);
    assert_eq!(risk.decide(&retry).await.expect("retry").verdict, decline);
    // The account holder sees only their own decisions.
    assert_eq!(
        risk.decisions_of("acct-card-a").await.expect("list").len(),
        5
    );
    assert!(
        risk.decisions_of("acct-card-b")
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn the_rules_state_survives_a_restart() {
    let db = db().await;
    {
        let risk = risk(&db, T0).await;
        for i in 0..3 {
            let f = payment(&format!("p{i}"), "card-a", 1_000, 5999, false, T0 + i);
            assert_eq!(
                risk.decide(&f).await.expect("decide").verdict,
                Verdict::Approve
            );
            risk.record(&f, Outcome::Approved).await.expect("record");
        }
    }
    let risk = risk(&db, T0 + 10).await;
    let f = payment("p3", "card-a", 1_000, 5999, false, T0 + 10);
    assert!(matches!(
        risk.decide(&f).await.expect("decide").verdict,
        Verdict::Decline { .. }
    ));
}

async fn offers(db: &Db, budget: &str) -> (OffersService, Ledger) {
    let ledger = Ledger::open(db.clone()).await.expect("ledger");
    let s = OffersService::open(db.clone(), ledger.clone(), offers_with_budget(budget))
        .await
        .expect("offers service");
    (s, ledger)
}

async fn net(ledger: &Ledger, id: &str) -> i64 {
    let b = ledger.balance(id).await.expect("balance");
    b.credits_posted - b.debits_posted
}

#[tokio::test]
async fn a_discount_and_a_cashback_move_the_funders_and_a_refund_moves_them_back() {
    let db = db().await;
    let (svc, ledger) = offers(&db, "100.00").await;
    let f = payment("p1", "card-a", 6_000, 5411, true, T0);
    let r = svc.authorize(&f).await.expect("authorize");
    assert_eq!(r.charge.minor, 5_000, "10 CNY off");
    assert_eq!(r.discount.minor, 1_000);
    assert_eq!(r.cashback.minor, 250, "5% of the 50 CNY charged");
    assert_eq!(
        svc.budget("bank-10-off").await.expect("b"),
        Some((10_000, 1_000, 0))
    );
    // A replayed authorization answers the stored redemption and moves nothing.
    assert_eq!(svc.authorize(&f).await.expect("replay"), r);
    assert_eq!(
        svc.budget("bank-10-off").await.expect("b"),
        Some((10_000, 1_000, 0))
    );
    assert_eq!(
        net(&ledger, "offers:bank:01020000:CNY").await,
        0,
        "nothing before capture"
    );

    svc.capture("p1").await.expect("capture");
    svc.capture("p1")
        .await
        .expect("captured twice moves nothing");
    assert_eq!(
        svc.budget("bank-10-off").await.expect("b"),
        Some((10_000, 0, 1_000))
    );
    assert_eq!(net(&ledger, "offers:bank:01020000:CNY").await, -1_000);
    assert_eq!(net(&ledger, "offers:platform:paytap:CNY").await, -250);
    assert_eq!(net(&ledger, "offers:discounts:CNY").await, 1_000);
    assert_eq!(net(&ledger, "offers:cashback:CNY").await, 250);
    let listed = svc.redemptions_of("acct-card-a").await.expect("history");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, "captured");

    svc.refund("p1").await.expect("refund");
    assert_eq!(
        svc.budget("bank-10-off").await.expect("b"),
        Some((10_000, 0, 0))
    );
    for account in [
        "offers:bank:01020000:CNY",
        "offers:platform:paytap:CNY",
        "offers:discounts:CNY",
        "offers:cashback:CNY",
    ] {
        assert_eq!(net(&ledger, account).await, 0, "{account} after the refund");
    }
    assert_eq!(
        svc.redemption("p1")
            .await
            .expect("r")
            .expect("stored")
            .state,
        "refunded"
    );
}

#[tokio::test]
async fn a_declined_payment_returns_its_reservation_and_moves_no_money() {
    let db = db().await;
    let (svc, ledger) = offers(&db, "100.00").await;
    let f = payment("p1", "card-a", 6_000, 5411, false, T0);
    assert_eq!(
        svc.authorize(&f).await.expect("authorize").discount.minor,
        1_000
    );
    svc.release("p1").await.expect("release");
    assert_eq!(
        svc.budget("bank-10-off").await.expect("b"),
        Some((10_000, 0, 0))
    );
    assert_eq!(net(&ledger, "offers:bank:01020000:CNY").await, 0);
    // A payment that gets no offer stores nothing and is charged in full.
    let small = payment("p2", "card-a", 4_000, 5411, false, T0 + 1);
    let r = svc.authorize(&small).await.expect("authorize");
    assert_eq!((r.charge.minor, r.discount.minor), (4_000, 0));
    assert_eq!(svc.redemption("p2").await.expect("r"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_payments_racing_for_the_last_of_a_budget_never_exceed_it() {
    const PAYMENTS: i64 = 40;
    let db = db().await;
    // Room for exactly three 10 CNY discounts.
    let (svc, ledger) = offers(&db, "30.00").await;
    let svc = Arc::new(svc);
    let tasks: Vec<_> = (0..PAYMENTS)
        .map(|i| {
            let svc = svc.clone();
            tokio::spawn(async move {
                let f = payment(
                    &format!("p{i}"),
                    &format!("card-{i}"),
                    6_000,
                    5411,
                    false,
                    T0 + i,
                );
                let r = svc.authorize(&f).await.expect("authorize");
                svc.capture(&f.payment_id).await.expect("capture");
                r.discount.minor
            })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        granted += t.await.expect("task");
    }
    assert_eq!(granted, 3_000, "three discounts and no more");
    assert_eq!(
        svc.budget("bank-10-off").await.expect("b"),
        Some((3_000, 0, 3_000))
    );
    assert_eq!(net(&ledger, "offers:bank:01020000:CNY").await, -3_000);
    drop(svc);
    // Restarted, the budget is still spent.
    let (again, _) = offers(&db, "30.00").await;
    let f = payment("late", "card-x", 6_000, 5411, false, T0 + 1_000);
    assert_eq!(
        again.authorize(&f).await.expect("authorize").discount.minor,
        0
    );
}

#[tokio::test]
async fn the_funders_ledger_movements_equal_the_benefits_net_of_refunds() {
    let db = db().await;
    let (svc, ledger) = offers(&db, "1000.00").await;
    // A fixed mix of fates: capture, release, capture then refund.
    let mut expected = 0;
    for i in 0..12i64 {
        let f = payment(
            &format!("p{i}"),
            &format!("card-{i}"),
            5_000 + i * 700,
            5411,
            i % 2 == 0,
            T0 + i,
        );
        let r = svc.authorize(&f).await.expect("authorize");
        let benefit = r.discount.minor + r.cashback.minor;
        match i % 3 {
            0 => {
                svc.capture(&f.payment_id).await.expect("capture");
                expected += benefit;
            }
            1 => svc.release(&f.payment_id).await.expect("release"),
            _ => {
                svc.capture(&f.payment_id).await.expect("capture");
                svc.refund(&f.payment_id).await.expect("refund");
            }
        }
    }
    assert!(expected > 0);
    let funders = net(&ledger, "offers:bank:01020000:CNY").await
        + net(&ledger, "offers:platform:paytap:CNY").await;
    let owed =
        net(&ledger, "offers:discounts:CNY").await + net(&ledger, "offers:cashback:CNY").await;
    assert_eq!((-funders, owed), (expected, expected));
}

#[tokio::test]
async fn the_guard_declines_before_offers_and_settles_after() {
    let db = db().await;
    let (svc, ledger) = offers(&db, "100.00").await;
    let guard = Guard {
        risk: Some(risk(&db, T0).await),
        offers: Some(svc),
    };
    for i in 0..3 {
        let f = payment(&format!("p{i}"), "card-a", 6_000, 5411, false, T0 + i);
        match guard.check_payment(&f).await {
            GuardAnswer::Go { charge, .. } => assert_eq!(charge.minor, 5_000),
            other => panic!("payment {i}: {other:?}"),
        }
        guard.finish_payment(&f, GuardOutcome::Captured).await;
    }
    let f = payment("p3", "card-a", 6_000, 5411, false, T0 + 3);
    assert_eq!(
        guard.check_payment(&f).await,
        GuardAnswer::Decline {
            reason: "velocity",
            response_code: "65"
        }
    );
    guard.finish_payment(&f, GuardOutcome::Declined).await;
    let offers = guard.offers.as_ref().expect("offers on");
    assert_eq!(
        offers.budget("bank-10-off").await.expect("b"),
        Some((10_000, 0, 3_000)),
        "the declined payment reserved nothing"
    );
    assert_eq!(net(&ledger, "offers:bank:01020000:CNY").await, -3_000);
}

#[tokio::test]
async fn the_database_refuses_a_second_process_overspending_a_budget() {
    let db = db().await;
    // Room for one discount; two services (two processes) on one database.
    let (first, _) = offers(&db, "10.00").await;
    let (second, ledger) = offers(&db, "10.00").await;
    let a = payment("a", "card-a", 6_000, 5411, false, T0);
    let b = payment("b", "card-b", 6_000, 5411, false, T0 + 1);
    assert_eq!(
        first.authorize(&a).await.expect("first").discount.minor,
        1_000
    );
    assert!(matches!(
        second.authorize(&b).await,
        Err(paytap_guard::GuardError::BudgetExhausted(_))
    ));
    assert_eq!(
        second.redemption("b").await.expect("r"),
        None,
        "nothing stored"
    );
    assert_eq!(
        first.budget("bank-10-off").await.expect("b"),
        Some((1_000, 1_000, 0))
    );
    assert_eq!(net(&ledger, "offers:bank:01020000:CNY").await, 0);
}
