//! The UPI page: an account of India sees its UPI IDs, its UPI payments and
//! a shop's request waiting for it (approved on the phone, where the PIN is
//! typed), in English, Chinese and Hindi; an account of China has no UPI
//! page.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::{Client, PW, Site, site};
use paytap_issuer::{IssuerConfig, UpiBanks};
use paytap_ledger::Ledger;
use paytap_seal::upi_pin::{PinPurpose, seal_pin};
use paytap_store::Db;
use paytap_types::{Secret, SystemClock};
use paytap_upi::Vpa;
use paytap_upi::xml::*;
use paytap_upid::{DirectoryEntry, IssuerBanks, UpiSwitch};
use paytap_upipsp::{InProcess, NewBinding, PayRequest, PinSetting, Psp, PspConfig};
use paytap_wallet::{Language, NewAccount};

const PRIYA: &str = "priya@example.in";
const UPI_PIN: &str = "8642";

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn entry(vpa: &str, a: &paytap_issuer::UpiAccount) -> DirectoryEntry {
    DirectoryEntry {
        vpa: Vpa::new(vpa).unwrap(),
        account: Account {
            ifsc: Ifsc::new(&a.ifsc).unwrap(),
            number: AccountNumber::new(&a.account_number).unwrap(),
            kind: None,
        },
        bound_at: None,
    }
}

/// Priya pays Ravi ₹250 from `priya@paytap`; a tea shop asks her for ₹99.
async fn priya_pays(psp: &Psp, banks: &UpiBanks, sw: &UpiSwitch<IssuerBanks>, owner: &str) {
    let priya = banks
        .open_account("63560001", "Priya", "9876501234", 1_000_00)
        .await
        .unwrap();
    let ravi = banks
        .open_account("63560002", "Ravi", "9876505678", 0)
        .await
        .unwrap();
    sw.register(&entry("ravi@okhdfc", &ravi)).await.unwrap();
    sw.register(&entry("chai@payu", &ravi)).await.unwrap();
    let device = paytap_seal::DeviceKey::generate().unwrap();
    let bind = NewBinding {
        device_id: "priya-phone".into(),
        device_key: paytap_seal::public_key_to_base64(&device.public()),
        mobile: "9876501234".into(),
    };
    let b = psp.bind(owner, &bind).await.unwrap();
    psp.create_id(owner, &b[0].binding_id, "priya")
        .await
        .unwrap();
    let key = psp.list_keys()[0].public;
    let mut sms = banks.subscribe_otp();
    let otp = psp.request_pin_otp(owner, &b[0].binding_id).await.unwrap();
    let pin = Secret::new(UPI_PIN.to_owned());
    let card = priya.debit_card.as_ref().unwrap();
    let set = PinSetting {
        card_last6: card.last6(),
        card_expiry: card.expiry.to_string(),
        verification_id: otp.verification_id.clone(),
        otp: sms.recv().await.unwrap().code,
        pin_block: b64(&seal_pin(&key, PinPurpose::SetPin, &otp.verification_id, &pin).unwrap()),
    };
    psp.set_pin(owner, &b[0].binding_id, set).await.unwrap();
    let pay = PayRequest {
        txn_id: "WEB1".into(),
        from: "priya@paytap".into(),
        to: Some("ravi@okhdfc".into()),
        mobile: None,
        link: None,
        amount_paise: Some(250_00),
        note: None,
        pin_block: b64(&seal_pin(&key, PinPurpose::Debit, "WEB1", &pin).unwrap()),
    };
    assert_eq!(psp.pay(owner, &pay).await.unwrap().status, "success");
    let mut shop = Party::person(Vpa::new("chai@payu").unwrap());
    shop.kind = PartyType::Entity;
    shop.code = Mcc::new("5812").unwrap();
    shop.name = Some("Chai Point".into());
    shop.amount = Some(Amount { paise: 99_00 });
    let now = paytap_types::system_millis();
    let ask = ReqPay {
        head: Head {
            ver: "2.0".into(),
            ts: Timestamp::from_unix_millis(now),
            org_id: OrgId::new("PAYU").unwrap(),
            msg_id: MsgId::new("MWEBC1").unwrap(),
        },
        txn: Txn::new(
            TxnId::new("WEBC1").unwrap(),
            Timestamp::from_unix_millis(now),
            TxnType::Collect,
        ),
        payer: Party::person(Vpa::new("priya@paytap").unwrap()),
        payees: vec![shop],
    };
    assert!(sw.pay(ask).await.unwrap().is_none(), "waits for Priya");
}

/// A site with UPI attached where Priya, an India account speaking
/// `language`, has paid and been asked to pay; signed in.
async fn priya_signed_in(language: Language) -> (Site, Client) {
    let site = site().await;
    let db = Db::for_tests().await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let banks = UpiBanks::open(
        db.clone(),
        ledger,
        &IssuerConfig::default_banks(),
        &[4; 32],
        &Secret::new([4; 32]),
    )
    .await
    .unwrap();
    let banks = Arc::new(banks);
    let sw = UpiSwitch::open(
        db.clone(),
        IssuerBanks::new(banks.clone()),
        Arc::new(SystemClock),
        OrgId::new("NPCI").unwrap(),
    )
    .await
    .unwrap();
    let sw = Arc::new(sw);
    let links = Arc::new(InProcess::new(banks.clone(), sw.clone()));
    let psp = Psp::open(
        db,
        links,
        Arc::new(SystemClock),
        PspConfig::default(),
        &[6; 32],
    )
    .await
    .unwrap();
    site.wallet.attach_upi(psp.clone()).unwrap();
    site.wallet
        .register(NewAccount {
            login: PRIYA.into(),
            password: Secret::new(PW.into()),
            display_name: "Priya".into(),
            language,
            region: Some("in".into()),
        })
        .await
        .unwrap();
    let s = site.wallet.login(PRIYA, PW, None).await.unwrap();
    let p = site.wallet.authenticate(s.token.expose()).await.unwrap();
    priya_pays(&psp, &banks, &sw, &p.account_id).await;

    let mut c = Client::default();
    c.sign_in(&site.app, PRIYA, PW).await;
    (site, c)
}

#[tokio::test]
async fn an_india_account_sees_its_upi_in_english_and_chinese() {
    let (site, mut c) = priya_signed_in(Language::En).await;
    let r = c.get(&site.app, "/upi").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for text in [
        "href=\"/upi\"",
        "priya@paytap",
        "ravi@okhdfc",
        "₹250.00 INR",
        "Paid",
        "Chai Point",
        "₹99.00",
        "your UPI PIN is only ever typed there",
    ] {
        assert!(r.body.contains(text), "missing {text:?} in\n{}", r.body);
    }
    let r = c
        .post(
            &site.app,
            "/language",
            &[("csrf", &r.csrf()), ("lang", "zh"), ("next", "/upi")],
        )
        .await;
    assert_eq!(r.location(), "/upi");
    let r = c.get(&site.app, "/upi").await;
    for text in [
        "您的 UPI ID",
        "已付款",
        "等待您处理的收款请求",
        "Chai Point",
    ] {
        assert!(r.body.contains(text), "missing {text:?} in\n{}", r.body);
    }

    // An account of China has no UPI page, and no link to one.
    let li = site.li(Language::En).await;
    let mut c = Client::default();
    c.sign_in(&site.app, &li.login, PW).await;
    assert!(
        !c.get(&site.app, "/devices")
            .await
            .body
            .contains("href=\"/upi\"")
    );
    assert_eq!(c.get(&site.app, "/upi").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_hindi_account_sees_its_upi_in_hindi() {
    let (site, mut c) = priya_signed_in(Language::Hi).await;
    let r = c.get(&site.app, "/upi").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let u = paytap_web::i18n::Lang::Hi.upi();
    for text in [
        "<html lang=\"hi\">",
        u.ids_title,
        u.collects_title,
        u.approve_on_phone,
        u.status_success,
        "आपकी UPI ID",
        "भुगतान हो गया",
        "priya@paytap",
        "ravi@okhdfc",
        "₹250.00 INR",
        "Chai Point",
        "₹99.00",
    ] {
        assert!(r.body.contains(text), "missing {text:?} in\n{}", r.body);
    }
    assert!(!r.body.contains("Your UPI IDs"), "{}", r.body);
}
