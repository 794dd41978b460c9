//! The card path through the risk and offers services: a tap's
//! authorization asks risk before the issuer sees it (a velocity burst is
//! declined with its code, and holds nothing), and an instant discount
//! reduces what the issuer holds while the funder pays it on the ledger.
//! Runs on SQLite, and on PostgreSQL with PAYTAP_TEST_DATABASE_URL.

mod common;

use common::*;
use paytap_issuer::Product;
use paytap_network::*;
use paytap_offers::OffersFile;
use paytap_risk::RiskRules;
use paytap_store::Db;

const RULES: &str = r#"
[[velocity]]
name = "card-burst"
key = "card"
window_secs = 60
max_count = 2
action = "decline"
"#;

const OFFERS: &str = r#"
[[offer]]
id = "icbc-10-off"
title = "ICBC: 10 CNY off 50 CNY at supermarkets"
funder = { kind = "bank", id = "01020000" }
order = 10
currency = "CNY"
[offer.eligible]
banks = ["01020000"]
mccs = [5411]
min_amount = "50.00"
[offer.benefit]
kind = "discount"
fixed = "10.00"
[offer.limits]
budget = "100000.00"
"#;

async fn guarded() -> Net {
    let mut c = config(Db::for_tests().await.unwrap());
    c.guard = GuardConfig {
        risk: Some(RiskRules::from_toml(RULES).unwrap()),
        offers: Some(OffersFile::from_toml(OFFERS).unwrap()),
    };
    let mut n = start_with(c).await;
    n.merchant.mcc = "5411".into();
    n
}

#[tokio::test]
async fn a_supermarket_tap_is_charged_less_and_the_bank_pays_the_discount() {
    let n = guarded().await;
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    let before = n.available(&phone).await;
    let mut events = n.net.subscribe();
    assert_eq!(code(&n.pay(&mut phone, 6_000).await), "00");
    let ev = events.recv().await.unwrap();
    assert_eq!(ev.amount.minor, 6_000, "the wallet sees the price");
    assert_eq!(ev.saved.map(|m| m.minor), Some(1_000), "and what it saved");
    assert_eq!(ev.earned, None);
    assert_eq!(
        n.available(&phone).await,
        before - 5_000,
        "60 CNY less the 10 CNY off"
    );
    let guard = n.net.guard().expect("guard on");
    let offers = guard.offers.as_ref().expect("offers on");
    assert_eq!(
        offers.budget("icbc-10-off").await.unwrap(),
        Some((10_000_000, 0, 1_000))
    );
    let funder = n
        .net
        .ledger()
        .balance("offers:bank:01020000:CNY")
        .await
        .unwrap();
    assert_eq!(funder.debits_posted - funder.credits_posted, 1_000);
    // A small payment gets no discount.
    assert_eq!(code(&n.pay(&mut phone, 1_000).await), "00");
    assert_eq!(n.available(&phone).await, before - 6_000);
    n.assert_ledger().await;
}

#[tokio::test]
async fn a_burst_of_taps_is_declined_for_velocity_before_the_issuer() {
    let n = guarded().await;
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    let before = n.available(&phone).await;
    for _ in 0..2 {
        assert_eq!(code(&n.pay(&mut phone, 1_000).await), "00");
    }
    let mut events = n.net.subscribe();
    let declined = n.pay(&mut phone, 6_000).await;
    assert_eq!(code(&declined), "65", "exceeds frequency");
    assert_eq!(
        n.available(&phone).await,
        before - 2_000,
        "no hold for the declined tap"
    );
    let ev = events.recv().await.unwrap();
    assert!(!ev.approved);
    assert_eq!(
        ev.reason,
        "too many payments in a short time (risk: velocity)"
    );
    let stored: Vec<(String, Option<String>)> = paytap_store::sqlx::query_as(
        "SELECT verdict, reason FROM risk_decisions ORDER BY at_ms, decided_at",
    )
    .fetch_all(n.net.db().pool())
    .await
    .unwrap();
    let offers = n.net.guard().unwrap().offers.as_ref().unwrap();
    assert_eq!(
        offers.budget("icbc-10-off").await.unwrap(),
        Some((10_000_000, 0, 0)),
        "nothing reserved"
    );
    assert_eq!(stored.len(), 3, "every decision stored");
    assert_eq!(
        stored[2],
        ("decline".to_owned(), Some("velocity".to_owned()))
    );
    n.assert_ledger().await;
}

#[tokio::test]
async fn a_reversed_discounted_tap_releases_its_hold_and_returns_the_discount() {
    let n = guarded().await;
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    let before = n.available(&phone).await;
    let (_, req) = n.tap(&mut phone, 6_000);
    assert_eq!(code(&n.send(&req).await), "00");
    assert_eq!(n.available(&phone).await, before - 5_000);
    let answer = n.send(&n.reversal_of(&req)).await;
    assert_eq!(code(&answer), "00");
    assert_eq!(
        n.available(&phone).await,
        before,
        "the hold of the charge is released"
    );
    let offers = n.net.guard().unwrap().offers.as_ref().unwrap();
    assert_eq!(
        offers.budget("icbc-10-off").await.unwrap(),
        Some((10_000_000, 0, 0)),
        "the discount returns"
    );
    let funder = n
        .net
        .ledger()
        .balance("offers:bank:01020000:CNY")
        .await
        .unwrap();
    assert_eq!(
        funder.debits_posted, funder.credits_posted,
        "and its funder is paid back"
    );
    n.assert_ledger().await;
}

fn rule_names(c: &GuardConfig) -> Vec<String> {
    let rules = c.risk.as_ref().expect("risk on");
    rules.rules.iter().map(|r| r.name.to_string()).collect()
}

fn offer_ids(c: &GuardConfig) -> Vec<String> {
    let offers = c.offers.as_ref().expect("offers on");
    offers.offers.iter().map(|o| o.id.to_string()).collect()
}

#[test]
fn a_data_directory_runs_the_default_rules_and_offers_unless_its_files_replace_them() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = GuardConfig::for_data_dir(dir.path()).unwrap();
    assert_eq!(
        rule_names(&defaults),
        rule_names(&GuardConfig::defaults()),
        "no file: the embedded rules"
    );
    assert!(offer_ids(&defaults).contains(&"icbc-supermarket-10-off-50".to_owned()));

    std::fs::write(dir.path().join(RISK_RULES_FILE), RULES).unwrap();
    std::fs::write(dir.path().join(OFFERS_FILE), OFFERS).unwrap();
    let replaced = GuardConfig::for_data_dir(dir.path()).unwrap();
    assert_eq!(rule_names(&replaced), ["card-burst"]);
    assert_eq!(offer_ids(&replaced), ["icbc-10-off"]);
}

#[test]
fn a_data_directory_file_that_does_not_parse_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(OFFERS_FILE),
        "[[offer]]\nid = \"x\"\nbogus = 1\n",
    )
    .unwrap();
    let err = GuardConfig::for_data_dir(dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains(OFFERS_FILE), "{err}");
    std::fs::remove_file(dir.path().join(OFFERS_FILE)).unwrap();
    std::fs::write(dir.path().join(RISK_RULES_FILE), "[[velocity]]\nname = 1\n").unwrap();
    let err = GuardConfig::for_data_dir(dir.path())
        .unwrap_err()
        .to_string();
    assert!(err.contains(RISK_RULES_FILE), "{err}");
}

/// The product's guard: the embedded default rules and offers.
async fn with_defaults() -> Net {
    let mut c = config(Db::for_tests().await.unwrap());
    c.guard = GuardConfig::defaults();
    let mut n = start_with(c).await;
    n.merchant.mcc = "5411".into();
    n
}

/// What a tap saved and earned, in fen, as the wallet is told.
async fn benefits(n: &Net, phone: &mut common::Phone, amount: i64) -> (Option<i64>, Option<i64>) {
    let mut events = n.net.subscribe();
    assert_eq!(code(&n.pay(phone, amount).await), "00");
    let ev = events.recv().await.unwrap();
    (ev.saved.map(|m| m.minor), ev.earned.map(|m| m.minor))
}

#[tokio::test]
async fn the_default_offers_match_a_real_tap_by_its_account_and_its_cards_first_use() {
    let n = with_defaults().await;
    let mut first = n.phone(ICBC, Product::Debit, 100_000).await;
    assert_eq!(
        benefits(&n, &mut first, 6_000).await,
        (Some(1_000), Some(250)),
        "10 CNY off at the supermarket, and 5% of the 50 CNY charged back on the card's first payment"
    );
    assert_eq!(
        benefits(&n, &mut first, 6_000).await,
        (None, None),
        "the discount is once per account per day; the cashback once per card"
    );
    let mut second = n.phone(ICBC, Product::Debit, 100_000).await;
    assert_eq!(
        benefits(&n, &mut second, 6_000).await,
        (None, Some(300)),
        "another card of the same account: its own first payment, the account's discount already used today"
    );
    let guard = n.net.guard().expect("guard on");
    let risk = guard.risk.as_ref().expect("risk on");
    assert_eq!(
        risk.decisions_of(ACCOUNT).await.unwrap().len(),
        3,
        "every decision is filed under the account the token was provisioned for"
    );
    let funder = n
        .net
        .ledger()
        .balance("offers:bank:01020000:CNY")
        .await
        .unwrap();
    assert_eq!(
        funder.debits_posted - funder.credits_posted,
        1_000,
        "the bank paid the one discount"
    );
    n.assert_ledger().await;
}

const CREDIT_OFFER: &str = r#"
[[offer]]
id = "credit-5-off"
title = "5 CNY off with a credit card"
funder = { kind = "platform", id = "paytap" }
order = 10
currency = "CNY"
[offer.eligible]
card_types = ["credit"]
[offer.benefit]
kind = "discount"
fixed = "5.00"
[offer.limits]
budget = "1000.00"
"#;

#[tokio::test]
async fn an_offer_for_credit_cards_knows_the_card_type_from_the_banks_credit_range() {
    let mut c = config(Db::for_tests().await.unwrap());
    c.guard = GuardConfig {
        risk: None,
        offers: Some(OffersFile::from_toml(CREDIT_OFFER).unwrap()),
    };
    let n = start_with(c).await;
    let mut credit = n.phone(ICBC, Product::Credit, 100_000).await;
    let mut debit = n.phone(ICBC, Product::Debit, 100_000).await;
    assert_eq!(
        benefits(&n, &mut credit, 2_000).await,
        (Some(500), None),
        "a credit card gets the credit card offer"
    );
    assert_eq!(
        benefits(&n, &mut debit, 2_000).await,
        (None, None),
        "a debit card of the same bank does not"
    );
    n.assert_ledger().await;
}
