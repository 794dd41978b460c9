//! The merchant service on the test database (SQLite, or PostgreSQL with
//! `PAYTAP_TEST_DATABASE_URL`).

use super::*;
use paytap_qr::{Mpm, PointOfInitiation};
use paytap_types::Currency;

const ACQ: &str = "10000000001";

fn spec(id: &str) -> MerchantSpec {
    MerchantSpec {
        id: id.into(),
        name: "Tea House".into(),
        city: "Beijing".into(),
        mcc: "5814".into(),
        currency: Currency::CNY,
        country: "CN".into(),
    }
}

async fn service() -> Merchants {
    let db = Db::for_tests().await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    Merchants::open(db, ledger).await.unwrap()
}

#[tokio::test]
async fn creation_is_idempotent_and_opens_the_settlement_account() {
    let m = service().await;
    let (first, created) = m.create(ACQ, spec("M-1")).await.unwrap();
    assert!(created);
    assert_eq!(first.account, "merchant:M-1:settlement");
    assert_eq!(first.acquirer, ACQ);
    let (again, created) = m.create(ACQ, spec("M-1")).await.unwrap();
    assert!(!created, "a retry creates nothing");
    assert_eq!(again, first);
    assert_eq!(m.get("M-1").await.unwrap(), first);
    let account = m.ledger.account(&first.account).await.unwrap();
    assert_eq!(account.spec.currency, Currency::CNY);
}

#[tokio::test]
async fn the_same_id_with_other_details_is_a_conflict() {
    let m = service().await;
    m.create(ACQ, spec("M-2")).await.unwrap();
    let mut other = spec("M-2");
    other.name = "Noodle Bar".into();
    assert!(matches!(
        m.create(ACQ, other).await,
        Err(AcquirerError::Conflict(id)) if id == "M-2"
    ));
    assert_eq!(m.get("M-2").await.unwrap().spec.name, "Tea House");
    assert!(
        matches!(
            m.create("20000000002", spec("M-2")).await,
            Err(AcquirerError::Conflict(_))
        ),
        "another acquirer's id"
    );
}

#[tokio::test]
async fn an_unknown_merchant_is_not_found() {
    let m = service().await;
    assert!(matches!(
        m.get("nobody").await,
        Err(AcquirerError::NotFound(_))
    ));
}

fn check(change: impl Fn(&mut MerchantSpec), expect: SpecError) {
    let mut s = spec("M-3");
    change(&mut s);
    assert_eq!(s.validate(), Err(expect), "{s:?}");
}

#[test]
fn bad_details_are_refused_by_name() {
    check(|s| s.id = String::new(), SpecError::Id);
    check(
        |s| s.id = "x".repeat(MAX_MERCHANT_ID_LEN + 1),
        SpecError::Id,
    );
    check(|s| s.id = "has space".into(), SpecError::Id);
    check(|s| s.name = String::new(), SpecError::Name);
    check(|s| s.name = "n".repeat(MAX_NAME_LEN + 1), SpecError::Name);
    check(|s| s.name = "tab\there".into(), SpecError::Name);
    check(|s| s.city = "c".repeat(MAX_CITY_LEN + 1), SpecError::City);
    check(|s| s.mcc = "58a4".into(), SpecError::Mcc);
    check(|s| s.mcc = "58140".into(), SpecError::Mcc);
    check(|s| s.country = "cn".into(), SpecError::Country);
    assert_eq!(spec("M-3").validate(), Ok(()));
}

#[tokio::test]
async fn invalid_details_create_nothing() {
    let m = service().await;
    let mut s = spec("M-4");
    s.mcc = "abc".into();
    assert!(matches!(
        m.create(ACQ, s).await,
        Err(AcquirerError::Invalid(SpecError::Mcc))
    ));
    assert!(matches!(
        m.get("M-4").await,
        Err(AcquirerError::NotFound(_))
    ));
}

#[tokio::test]
async fn codes_carry_the_stored_merchant() {
    let m = service().await;
    let (shop, _) = m.create(ACQ, spec("M-5")).await.unwrap();
    let fixed = Mpm::parse(&shop.static_code().unwrap()).unwrap();
    assert_eq!(fixed.point_of_initiation, Some(PointOfInitiation::Static));
    assert_eq!(paytap_qr::merchant::paytap_merchant_id(&fixed), Some("M-5"));
    assert_eq!(fixed.merchant_name, "Tea House");
    assert_eq!(fixed.mcc, "5814");
    assert_eq!(fixed.currency, 156);
    let sale = Mpm::parse(&shop.dynamic_code(1234, "B-7").unwrap()).unwrap();
    assert_eq!(sale.amount, Some(1234));
    let bill = sale.additional_data.unwrap().bill_number;
    assert_eq!(bill.as_deref(), Some("B-7"));
}

/// The `0200` of a scanned-code payment, field by field.
#[tokio::test]
async fn a_scanned_code_payment_becomes_a_financial_request() {
    use crate::payments::{ENTRY_MODE_SCANNED, ScanPayment, build_financial};
    use paytap_iso8583::Mti;
    let m = service().await;
    let (shop, _) = m.create(ACQ, spec("M-9")).await.unwrap();
    let p = ScanPayment {
        idempotency_key: "k".into(),
        code: shop.dynamic_code(1_234, "B").unwrap(),
        amount_minor: 1_234,
        token: "6234560000000003".into(),
        expiry: "2907".into(),
        psn: Some(1),
        track2: "6234560000000003D2907201".into(),
        icc_data: "9F2608AABBCCDDEEFF0011".into(),
    };
    let amount = paytap_types::Money::new(1_234, Currency::CNY);
    // 2026-12-07 01:02:03 UTC.
    let msg = build_financial(
        &p,
        &shop,
        amount,
        ENTRY_MODE_SCANNED,
        ("Q0000001", 42, 1_796_605_323),
    )
    .unwrap();
    assert_eq!(msg.mti(), Mti::FINANCIAL_REQUEST);
    let check =
        |field: u8, expect: &str| assert_eq!(msg.get_str(field), Some(expect), "DE {field}");
    check(3, "000000");
    check(4, "000000001234");
    check(7, "1207010203");
    check(11, "000042");
    check(14, "2907");
    check(18, "5814");
    check(22, ENTRY_MODE_SCANNED);
    check(32, ACQ);
    check(41, "Q0000001");
    check(42, "M-9            ");
    check(49, "156");
    assert_eq!(msg.get(55), Some(&hex::decode(&p.icc_data).unwrap()[..]));
    // The same inputs make the same message: a resend is a duplicate.
    let again = build_financial(
        &p,
        &shop,
        amount,
        ENTRY_MODE_SCANNED,
        ("Q0000001", 42, 1_796_605_323),
    )
    .unwrap();
    assert_eq!(again.encode(), msg.encode());
    let bad = ScanPayment {
        expiry: "29".into(),
        ..p
    };
    assert!(build_financial(&bad, &shop, amount, ENTRY_MODE_SCANNED, ("Q0000001", 42, 0)).is_err());
}
