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
