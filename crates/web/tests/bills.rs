//! The bills pages of an India account, in-process over the real wallet,
//! the bill service and the UPI switch and banks behind it (SQLite, or
//! PostgreSQL with PAYTAP_TEST_DATABASE_URL): billers by category, a bill
//! fetched and paid through the forms once, its receipt with the biller's
//! reference, reminders, both languages, and what is refused: a China
//! account, a form without its CSRF token, bad customer parameters, a
//! biller that is down, a UPI id the switch does not know. A UPI payment
//! waits for Asha to approve PayU's collect request with her UPI PIN (as
//! her UPI app does), and its receipt says so until then.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

mod common;

/// Setting a holder's UPI PIN at the bank as a phone does, and the PIN
/// block of a debit: the UPI switch's own test helpers.
#[path = "../../upid/tests/common/mod.rs"]
mod pin;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use common::{Client, PW};
use paytap_bbps::{Catalogue, Recharges};
use paytap_bills::{
    BillService, BillServiceParts, BoxFut, Collections, EmulatedBillers, PayerAccounts,
    UpiSwitchPort,
};
use paytap_issuer::{IssuerConfig, UpiAccount, UpiBanks};
use paytap_ledger::Ledger;
use paytap_types::ManualClock;
use paytap_upi::Vpa;
use paytap_upi::xml::{Account, AccountNumber, Ifsc, OrgId, Party, ReqPay, RespPay, TxnId};
use paytap_upid::{DirectoryEntry, IssuerBanks, UpiSwitch};
use paytap_wallet::{Language, NewAccount, Wallet};
use paytap_web::i18n::Lang;
use zeroize::Zeroizing;

/// ICICI Bank: the payer's bank and the aggregator's.
const ICICI: &str = "63560001";
/// Asha's UPI id.
const ASHA_VPA: &str = "asha@paytap";
/// Asha's mobile number at her bank.
const ASHA_MOBILE: &str = "9876543210";
/// Asha's BESCOM account id (the biller's customer parameter).
const BESCOM_ID: &str = "1234567890";
/// 2026-12-14 10:00 IST: two days before BESCOM's bills of the month fall due.
const NOW: i64 = 1_797_222_600_000;
/// The sealing key of the bill service's columns.
const DATA_KEY: [u8; 32] = [9; 32];

/// The switch in process: the bill service's port to it, and its
/// directory as the PSP's record of UPI ids.
struct Switch(Arc<UpiSwitch<IssuerBanks>>);

impl UpiSwitchPort for Switch {
    fn pay(&self, req: ReqPay) -> BoxFut<'_, Result<Option<RespPay>, String>> {
        Box::pin(async move { self.0.pay(req).await.map_err(|e| e.to_string()) })
    }
}

impl PayerAccounts for Switch {
    fn account_of<'a>(&'a self, vpa: &'a Vpa) -> BoxFut<'a, Result<Option<Account>, String>> {
        let found = async move { self.0.resolve(vpa).await.map_err(|e| e.to_string()) };
        Box::pin(async move { Ok(found.await?.map(|entry| entry.account)) })
    }
}

struct India {
    app: Router,
    wallet: Wallet,
    switch: Arc<UpiSwitch<IssuerBanks>>,
    banks: Arc<UpiBanks>,
    asha: UpiAccount,
    billers: Arc<EmulatedBillers>,
}

fn upi_account(a: &UpiAccount) -> Account {
    Account {
        ifsc: Ifsc::new(&a.ifsc).unwrap(),
        number: AccountNumber::new(&a.account_number).unwrap(),
        kind: Some("SAVINGS".into()),
    }
}

/// The site over a wallet with the bill service attached: the switch and
/// the banks on the `in` region's database, Asha with ₹10,000 at ICICI
/// under [`ASHA_VPA`], every biller's collection account registered.
async fn india() -> India {
    let (wallet, _net, db) = common::wallet_and_india().await;
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let config = IssuerConfig::default_banks();
    let banks = Arc::new(
        UpiBanks::open(
            db.clone(),
            ledger,
            &config,
            &[7; 32],
            &paytap_types::Secret::new([7; 32]),
        )
        .await
        .unwrap(),
    );
    let asha = banks
        .open_account(ICICI, "Asha", ASHA_MOBILE, 10_000_00)
        .await
        .unwrap();
    pin::set_pin(&banks, &asha, pin::PIN).await;
    let clock = Arc::new(ManualClock::starting_at(NOW));
    let org = OrgId::new("NPCI").unwrap();
    let issuers = IssuerBanks::new(banks.clone());
    let sw = Arc::new(
        UpiSwitch::open(db.clone(), issuers, clock.clone(), org)
            .await
            .unwrap(),
    );
    let register = |vpa: &str, a: &UpiAccount| DirectoryEntry {
        vpa: Vpa::new(vpa).unwrap(),
        account: upi_account(a),
        bound_at: Some(0),
    };
    sw.register(&register(ASHA_VPA, &asha)).await.unwrap();
    let (catalogue, recharges) = (Catalogue::default_billers(), Recharges::default_operators());
    let mut collections = Collections::new();
    for (vpa, name) in paytap_bbps::collection_addresses(&catalogue, &recharges) {
        let a = banks
            .open_account(ICICI, &name, "9000000001", 0)
            .await
            .unwrap();
        sw.register(&register(&vpa, &a)).await.unwrap();
        collections.insert(&vpa, upi_account(&a));
    }
    let billers = Arc::new(EmulatedBillers::new());
    let service = BillService::open(BillServiceParts {
        db,
        catalogue,
        recharges,
        data_key: Zeroizing::new(DATA_KEY),
        collections,
        upi: Arc::new(Switch(sw.clone())),
        payers: Arc::new(Switch(sw.clone())),
        cards: None,
        billers: billers.clone(),
        clock,
    })
    .await
    .unwrap();
    wallet.attach_bills(Arc::new(service));
    let app = paytap_web::router(wallet.clone());
    India {
        app,
        wallet,
        switch: sw,
        banks,
        asha,
        billers,
    }
}

impl India {
    /// A browser signed in to a new account of `region` speaking `language`.
    async fn signed_in(&self, login: &str, region: &str, language: Language) -> Client {
        let account = NewAccount {
            login: login.into(),
            password: paytap_types::Secret::new(PW.into()),
            display_name: "Asha".into(),
            language,
            region: Some(region.into()),
        };
        self.wallet.register(account).await.unwrap();
        let mut c = Client::default();
        c.sign_in(&self.app, login, PW).await;
        c
    }

    /// Asha's UPI app approves the collect request of the payment whose
    /// receipt is at `receipt_at` with her PIN.
    async fn approve(&self, receipt_at: &str) {
        let payment_id = receipt_at.rsplit('/').next().unwrap();
        let mut payer = Party::person(Vpa::new(ASHA_VPA).unwrap());
        payer.account = Some(upi_account(&self.asha));
        payer.creds = vec![pin::pin_cred(
            &self.banks,
            &self.asha.ifsc,
            payment_id,
            pin::PIN,
        )];
        let txn = TxnId::new(payment_id).unwrap();
        let outcome = self.switch.approve_collect(&txn, payer).await.unwrap();
        assert!(outcome.is_some(), "the switch answered the approval");
    }

    async fn balance(&self) -> i64 {
        let a = &self.asha;
        self.banks
            .balance(&a.ifsc, &a.account_number)
            .await
            .unwrap()
    }
}

/// The wallet account id of `login`.
async fn account_id(site: &India, login: &str) -> String {
    let session = site.wallet.login(login, PW, None).await.unwrap();
    let p = site
        .wallet
        .authenticate(session.token.expose())
        .await
        .unwrap();
    p.account_id
}

/// The value of the hidden field `name` in `page`.
fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).expect(name) + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].to_string()
}

/// Fetches Asha's BESCOM bill through the biller's form; the bill's page.
async fn fetch_bescom(site: &India, c: &mut Client) -> common::Resp {
    let form = c.get(&site.app, "/bills/billers/BESCOM").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let csrf = form.csrf();
    let params = [("csrf", csrf.as_str()), ("account_id", BESCOM_ID)];
    c.post(&site.app, "/bills/billers/BESCOM/fetch", &params)
        .await
}

/// The pay form of a bill's page, sent with `vpa`.
async fn pay(site: &India, c: &mut Client, bill: &common::Resp, vpa: &str) -> common::Resp {
    let form = [
        ("csrf", bill.csrf()),
        ("fetch_id", field(&bill.body, "fetch_id")),
        ("key", field(&bill.body, "key")),
        ("vpa", vpa.to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    c.post(&site.app, "/bills/pay", &form).await
}

/// Nothing of the payer's in clear: the customer's account id at the
/// biller, the mobile number, the bank account number.
fn assert_nothing_leaks(site: &India, page: &str) {
    for secret in [BESCOM_ID, ASHA_MOBILE, site.asha.account_number.as_str()] {
        assert!(!page.contains(secret), "{secret} is on the page");
    }
}

#[tokio::test]
async fn a_bill_is_fetched_and_paid_once_through_the_forms_and_its_receipt_shows_the_reference() {
    let site = india().await;
    let mut c = site.signed_in("asha@example.in", "in", Language::En).await;
    let home = c.get(&site.app, "/bills").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    for shown in [
        "Electricity",
        "Bangalore Electricity Supply Company",
        "Broadband",
        "DTH",
    ] {
        assert!(home.body.contains(shown), "{shown}");
    }
    assert!(home.body.contains("No unpaid bill is due"), "{}", home.body);

    let bill = fetch_bescom(&site, &mut c).await;
    assert_eq!(bill.status, StatusCode::OK, "{}", bill.body);
    assert!(bill.body.contains("2026-12-16"), "due date: {}", bill.body);
    assert!(bill.body.contains("id=\"bill-number\""));
    assert!(bill.body.contains("Pay bill ₹"));
    assert_nothing_leaks(&site, &bill.body);
    assert!(!field(&bill.body, "fetch_id").is_empty());

    // Fetched and unpaid: reminded of, due in two days.
    let home = c.get(&site.app, "/bills").await;
    assert!(home.body.contains("due in 2 days"), "{}", home.body);

    let before = site.balance().await;
    let paid = pay(&site, &mut c, &bill, ASHA_VPA).await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.body);
    let receipt_at = paid.location().to_owned();
    assert!(receipt_at.starts_with("/bills/receipts/"), "{receipt_at}");
    let waiting = c.get(&site.app, &receipt_at).await;
    assert_eq!(waiting.status, StatusCode::OK, "{}", waiting.body);
    assert!(
        waiting.body.contains("approve the request in your UPI app"),
        "{}",
        waiting.body
    );
    assert_eq!(
        site.balance().await,
        before,
        "nothing taken before approval"
    );
    site.approve(&receipt_at).await;
    let receipt = c.get(&site.app, &receipt_at).await;
    assert_eq!(receipt.status, StatusCode::OK, "{}", receipt.body);
    assert!(
        receipt.body.contains("Confirmed by the biller"),
        "{}",
        receipt.body
    );
    assert!(
        receipt.body.contains("id=\"biller-ref\""),
        "{}",
        receipt.body
    );
    assert_nothing_leaks(&site, &receipt.body);
    let charged = before - site.balance().await;
    assert!(charged > 0);

    // The same form sent again pays nothing more and shows the same receipt.
    let again = pay(&site, &mut c, &bill, ASHA_VPA).await;
    assert_eq!(again.location(), receipt_at);
    assert_eq!(before - site.balance().await, charged);

    let home = c.get(&site.app, "/bills").await;
    assert!(home.body.contains(&receipt_at), "{}", home.body);
    assert!(home.body.contains("No unpaid bill is due"), "{}", home.body);
}

#[tokio::test]
async fn the_pages_speak_chinese_with_rupees_grouped_the_indian_way() {
    let site = india().await;
    let mut c = site
        .signed_in("asha.zh@example.in", "in", Language::Zh)
        .await;
    let home = c.get(&site.app, "/bills").await;
    assert_eq!(home.status, StatusCode::OK);
    let b = Lang::Zh.bills();
    assert!(home.body.contains(b.billers_title) && home.body.contains("电费"));
    let bill = fetch_bescom(&site, &mut c).await;
    assert!(bill.body.contains(b.bill_title), "{}", bill.body);
    // The amount the bill service has for it, written the Indian way.
    let service = site.wallet.bills().unwrap();
    let account = account_id(&site, "asha.zh@example.in").await;
    let payer = paytap_bills::Payer {
        account_id: &account,
        region: "in",
    };
    let params = [("account_id".to_owned(), BESCOM_ID.to_owned())].into();
    let fetched = service.fetch(payer, "BESCOM", &params).await.unwrap();
    let shown = paytap_web::i18n::rupees(fetched.amount);
    let amount = format!("id=\"bill-amount\">{shown}<");
    assert!(bill.body.contains(&amount), "{shown}: {}", bill.body);
}

#[tokio::test]
async fn the_pages_speak_hindi_with_rupees_grouped_the_indian_way() {
    let site = india().await;
    let mut c = site
        .signed_in("asha.hi@example.in", "in", Language::Hi)
        .await;
    let home = c.get(&site.app, "/bills").await;
    assert_eq!(home.status, StatusCode::OK);
    let b = Lang::Hi.bills();
    for text in [
        "<html lang=\"hi\">",
        b.bills_title,
        b.billers_title,
        "बिजली",
        "पोस्टपेड मोबाइल",
        "बिल",
        "UPI",
    ] {
        assert!(
            home.body.contains(text),
            "missing {text:?} in\n{}",
            home.body
        );
    }
    assert!(!home.body.contains("Billers<"), "{}", home.body);
    let bill = fetch_bescom(&site, &mut c).await;
    for text in [b.bill_title, b.due_date, b.pay_button, b.vpa_field] {
        assert!(
            bill.body.contains(text),
            "missing {text:?} in\n{}",
            bill.body
        );
    }
    // The amount the bill service has for it, written the Indian way.
    let service = site.wallet.bills().unwrap();
    let account = account_id(&site, "asha.hi@example.in").await;
    let payer = paytap_bills::Payer {
        account_id: &account,
        region: "in",
    };
    let params = [("account_id".to_owned(), BESCOM_ID.to_owned())].into();
    let fetched = service.fetch(payer, "BESCOM", &params).await.unwrap();
    let shown = paytap_web::i18n::rupees(fetched.amount);
    let amount = format!("id=\"bill-amount\">{shown}<");
    assert!(bill.body.contains(&amount), "{shown}: {}", bill.body);

    let recharge = c.get(&site.app, "/recharge").await;
    assert!(
        recharge.body.contains(b.recharge_title),
        "{}",
        recharge.body
    );
    assert!(recharge.body.contains(b.mobile_field), "{}", recharge.body);
}

#[tokio::test]
async fn a_china_account_is_told_bills_are_for_india_accounts() {
    let site = india().await;
    let mut c = site.signed_in("li@example.cn", "cn", Language::En).await;
    let devices = c.get(&site.app, "/devices").await;
    assert!(
        !devices.body.contains("href=\"/bills\""),
        "no bills in its navigation"
    );
    let csrf = devices.csrf();
    for path in ["/bills", "/bills/billers/BESCOM", "/recharge"] {
        let page = c.get(&site.app, path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            page.body.contains(Lang::En.bills().india_only_body),
            "{path}"
        );
    }
    let params = [("csrf", csrf.as_str()), ("account_id", BESCOM_ID)];
    let fetched = c
        .post(&site.app, "/bills/billers/BESCOM/fetch", &params)
        .await;
    assert_eq!(fetched.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn forms_without_their_csrf_token_change_nothing() {
    let site = india().await;
    let mut c = site
        .signed_in("asha.csrf@example.in", "in", Language::En)
        .await;
    let fetched = c
        .post(
            &site.app,
            "/bills/billers/BESCOM/fetch",
            &[("account_id", BESCOM_ID)],
        )
        .await;
    assert_eq!(fetched.status, StatusCode::FORBIDDEN);
    let home = c.get(&site.app, "/bills").await;
    assert!(
        home.body.contains("No unpaid bill is due"),
        "nothing fetched"
    );

    let bill = fetch_bescom(&site, &mut c).await;
    let before = site.balance().await;
    let form = [
        ("csrf", "forged".to_owned()),
        ("fetch_id", field(&bill.body, "fetch_id")),
        ("key", field(&bill.body, "key")),
        ("vpa", ASHA_VPA.to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let paid = c.post(&site.app, "/bills/pay", &form).await;
    assert_eq!(paid.status, StatusCode::FORBIDDEN);
    assert_eq!(site.balance().await, before, "nothing was charged");
}

#[tokio::test]
async fn bad_parameters_a_stranger_s_upi_id_and_a_biller_that_is_down_are_refused_clearly() {
    let site = india().await;
    let mut c = site
        .signed_in("asha.bad@example.in", "in", Language::En)
        .await;
    let csrf = c.get(&site.app, "/bills").await.csrf();
    let short = [("csrf", csrf.as_str()), ("account_id", "12ab")];
    let refused = c
        .post(&site.app, "/bills/billers/BESCOM/fetch", &short)
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("Check what you entered"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("account_id"), "{}", refused.body);
    let unknown = c.get(&site.app, "/bills/billers/NOSUCH").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let bill = fetch_bescom(&site, &mut c).await;
    let before = site.balance().await;
    let stranger = pay(&site, &mut c, &bill, "ravi@paytap").await;
    assert_eq!(stranger.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(stranger.body.contains(Lang::En.bills().no_vpa));
    assert_eq!(site.balance().await, before);

    site.billers.set_down("BESCOM", true);
    let down = fetch_bescom(&site, &mut c).await;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.body
    );
    assert!(down.body.contains(Lang::En.bills().biller_down));
}

/// A Jio number of the Karnataka circle, by its series.
const JIO_KA: &str = "7019123456";

#[tokio::test]
async fn a_jio_number_is_detected_and_recharged_once_with_its_plans_in_both_languages() {
    let site = india().await;
    let mut c = site
        .signed_in("asha.jio@example.in", "in", Language::En)
        .await;
    let form = c.get(&site.app, "/recharge").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let csrf = form.csrf();
    let asked = [("csrf", csrf.as_str()), ("mobile", JIO_KA)];
    let plans = c.post(&site.app, "/recharge/plans", &asked).await;
    assert_eq!(plans.status, StatusCode::OK, "{}", plans.body);
    assert!(
        plans.body.contains("value=\"JIO\" selected"),
        "{}",
        plans.body
    );
    assert!(
        plans.body.contains("value=\"KA\" selected"),
        "{}",
        plans.body
    );
    assert!(plans.body.contains("value=\"JIO299\""), "{}", plans.body);
    assert!(plans.body.contains("₹299.00"), "{}", plans.body);
    assert!(plans.body.contains("******3456"));

    let before = site.balance().await;
    let form = [
        ("csrf", plans.csrf()),
        ("mobile", field(&plans.body, "mobile")),
        ("operator", field(&plans.body, "operator")),
        ("circle", field(&plans.body, "circle")),
        ("plan_id", "JIO299".to_owned()),
        ("key", field(&plans.body, "key")),
        ("vpa", ASHA_VPA.to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let paid = c.post(&site.app, "/recharge/pay", &form).await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.body);
    site.approve(paid.location()).await;
    let again = c.post(&site.app, "/recharge/pay", &form).await;
    assert_eq!(again.location(), paid.location());
    assert_eq!(before - site.balance().await, 299_00, "charged once");
    let receipt = c.get(&site.app, paid.location()).await;
    assert!(
        receipt.body.contains("Confirmed by the biller"),
        "{}",
        receipt.body
    );
    assert!(receipt.body.contains("******3456") && receipt.body.contains("JIO299"));
    assert!(
        !receipt.body.contains(JIO_KA),
        "the number is masked on the receipt"
    );

    let mut zh = site
        .signed_in("asha.jio.zh@example.in", "in", Language::Zh)
        .await;
    let form = zh.get(&site.app, "/recharge").await;
    assert!(form.body.contains(Lang::Zh.bills().recharge_title));
    let unknown = [("csrf", form.csrf()), ("mobile", "6000000000".to_owned())];
    let unknown: Vec<(&str, &str)> = unknown.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let undetected = zh.post(&site.app, "/recharge/plans", &unknown).await;
    assert_eq!(undetected.status, StatusCode::OK, "{}", undetected.body);
    assert!(
        undetected.body.contains(Lang::Zh.bills().not_detected),
        "{}",
        undetected.body
    );
}

#[tokio::test]
async fn a_payment_the_biller_refuses_is_refunded_and_its_receipt_says_why() {
    let site = india().await;
    let mut c = site
        .signed_in("asha.refund@example.in", "in", Language::En)
        .await;
    let bill = fetch_bescom(&site, &mut c).await;
    let before = site.balance().await;
    site.billers.set_refusing("BESCOM", true);
    let paid = pay(&site, &mut c, &bill, ASHA_VPA).await;
    assert_eq!(paid.status, StatusCode::SEE_OTHER, "{}", paid.body);
    site.approve(paid.location()).await;
    let receipt = c.get(&site.app, paid.location()).await;
    assert!(
        receipt.body.contains("data-state=\"refunded\""),
        "{}",
        receipt.body
    );
    assert!(
        receipt.body.contains("Refunded because"),
        "{}",
        receipt.body
    );
    assert!(!receipt.body.contains("id=\"biller-ref\""));
    assert_eq!(site.balance().await, before, "the money is back");
}
