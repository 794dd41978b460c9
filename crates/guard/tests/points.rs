//! Rewards points on a real database (SQLite, or PostgreSQL with
//! `PAYTAP_TEST_DATABASE_URL`): earned at capture by bank and channel,
//! kept across a restart, taken back on a refund, redeemed as cashback on
//! the ledger once per key, and refused beyond what is held.

use paytap_guard::{GuardError, MIGRATIONS, OffersService};
use paytap_ledger::Ledger;
use paytap_offers::{OffersFile, PointsError};
use paytap_store::Db;
use paytap_types::{CardFacts, CardType, Channel, Currency, Money, PaymentFacts};

const POINTS: &str = r#"
[points]
min_redeem = 100
value = { CNY = "0.01" }

[[points.rule]]
bank = "01020000"
channel = "nfc"
rate_bp = 20000

[[points.rule]]
rate_bp = 10000
"#;

const ACCOUNT: &str = "acct-1";

fn payment(id: &str, bank: &str, minor: i64) -> PaymentFacts {
    let mut f = PaymentFacts::new(id, Channel::Nfc, Money::new(minor, Currency::CNY), 1_000);
    f.account_id = Some(ACCOUNT.into());
    f.card = Some(CardFacts {
        fingerprint: "card-1".into(),
        bin: "620101".into(),
        bank: bank.into(),
        card_type: CardType::Debit,
        added_at_ms: None,
        first_use: false,
    });
    f
}

async fn open(db: &Db, ledger: &Ledger) -> OffersService {
    OffersService::open(
        db.clone(),
        ledger.clone(),
        OffersFile::from_toml(POINTS).unwrap(),
    )
    .await
    .expect("offers service")
}

async fn paid(s: &OffersService, f: &PaymentFacts) {
    s.authorize(f).await.expect("authorize");
    s.capture(&f.payment_id).await.expect("capture");
}

#[tokio::test]
async fn points_are_earned_kept_taken_back_and_redeemed_as_cashback() {
    let db = Db::for_tests().await.unwrap();
    db.migrate(MIGRATIONS).await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let s = open(&db, &ledger).await;
    // ICBC by tap: two points a yuan; another bank: one.
    paid(&s, &payment("p1", "01020000", 10_000)).await;
    paid(&s, &payment("p2", "01030000", 5_000)).await;
    s.capture("p2").await.expect("a repeated capture");
    assert_eq!(s.points(ACCOUNT).await.unwrap().points, 250);

    // A restart rebuilds the balance from the journal.
    drop(s);
    let s = open(&db, &ledger).await;
    let held = s.points(ACCOUNT).await.unwrap();
    assert_eq!(held.points, 250);
    assert_eq!(held.entries.len(), 2);

    // A refund takes back what the payment earned.
    paid(&s, &payment("p3", "01030000", 3_000)).await;
    assert_eq!(s.points(ACCOUNT).await.unwrap().points, 280);
    s.refund("p3").await.expect("refund");
    s.refund("p3").await.expect("a repeated refund");
    assert_eq!(s.points(ACCOUNT).await.unwrap().points, 250);

    // Redeemed: 200 points are 2 CNY of cashback, paid by the platform.
    let cny = Currency::CNY;
    let back = s.redeem_points(ACCOUNT, 200, cny, "r1").await.unwrap();
    assert_eq!(back, Money::new(200, cny));
    assert_eq!(
        s.redeem_points(ACCOUNT, 200, cny, "r1").await.unwrap(),
        back,
        "the same key answers the first redemption"
    );
    assert_eq!(s.points(ACCOUNT).await.unwrap().points, 50);
    let paid_out = ledger.balance("offers:points:CNY").await.unwrap();
    assert_eq!(paid_out.debits_posted - paid_out.credits_posted, 200);
    let owed = ledger.balance("offers:cashback:CNY").await.unwrap();
    assert_eq!(owed.credits_posted - owed.debits_posted, 200);

    // Beyond what is held, below the smallest redemption, no value: refused.
    let refused = s.redeem_points(ACCOUNT, 100, cny, "r2").await;
    assert!(matches!(
        refused,
        Err(GuardError::Points(PointsError::NotEnough { held: 50, .. }))
    ));
    let refused = s.redeem_points(ACCOUNT, 10, cny, "r3").await;
    assert!(matches!(
        refused,
        Err(GuardError::Points(PointsError::BelowMinimum(100)))
    ));
    let refused = s.redeem_points(ACCOUNT, 100, Currency::INR, "r4").await;
    assert!(matches!(
        refused,
        Err(GuardError::Points(PointsError::NoValue(_)))
    ));
    assert_eq!(s.points(ACCOUNT).await.unwrap().points, 50, "nothing moved");
    drop(s);
    let s = open(&db, &ledger).await;
    assert_eq!(s.points(ACCOUNT).await.unwrap().points, 50);
}
