//! UPI over the wallet API, on real HTTP, against the emulated banks and the
//! UPI switch: binding by mobile number, the PIN set with the debit card and
//! the bank's OTP, UPI IDs, paying a contact (by UPI ID and by mobile
//! number) and a shop (its QR image), a merchant's collect requests
//! (approved, declined, expired), refunds, limits and bad input. After each,
//! the INR ledger balances.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Resp, Server, server};
use paytap_issuer::{IssuerConfig, UpiAccount, UpiBanks};
use paytap_ledger::Ledger;
use paytap_seal::upi_pin::{PinPurpose, seal_pin};
use paytap_store::Db;
use paytap_types::{Currency, ManualClock, Secret};
use paytap_upi::Vpa;
use paytap_upi::xml::*;
use paytap_upid::{DirectoryEntry, IssuerBanks, UpiSwitch};
use paytap_upipsp::{InProcess, Psp, PspConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const ICICI: &str = "63560001";
const HDFC: &str = "63560002";
const PIN: &str = "2468";
const DAY: Duration = Duration::from_secs(86_400);

struct Upi {
    s: Server,
    /// The banks', the switch's and the UPI app's clock (the wallet's
    /// sessions keep their own, so a day passing logs no one out).
    clock: ManualClock,
    ledger: Ledger,
    banks: Arc<UpiBanks>,
    switch: Arc<UpiSwitch<IssuerBanks>>,
    asha: UpiAccount,
    ravi: UpiAccount,
    shop: UpiAccount,
}

fn secret(s: &str) -> Secret<String> {
    Secret::new(s.to_owned())
}

/// A wallet with UPI attached; Asha (ICICI, ₹2,00,000) and Ravi (HDFC) hold
/// accounts with their mobile numbers, and a shop takes payments at
/// `chai@payu` (HDFC).
async fn upi() -> Upi {
    let s = server().await;
    let db = Db::for_tests().await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let banks = UpiBanks::open(
        db.clone(),
        ledger.clone(),
        &IssuerConfig::default_banks(),
        &[3; 32],
        &Secret::new([3; 32]),
    )
    .await
    .unwrap();
    let asha = banks
        .open_account(ICICI, "Asha", "9876543210", 2_00_000_00)
        .await
        .unwrap();
    let ravi = banks
        .open_account(HDFC, "Ravi", "9123456780", 0)
        .await
        .unwrap();
    let shop = banks
        .open_account(HDFC, "Chai Shop", "9000000009", 0)
        .await
        .unwrap();
    let banks = Arc::new(banks);
    let clock = ManualClock::starting_at(1_796_617_800_000);
    let switch = UpiSwitch::open(
        db,
        IssuerBanks::new(banks.clone()),
        Arc::new(clock.clone()),
        OrgId::new("NPCI").unwrap(),
    )
    .await
    .unwrap();
    let switch = Arc::new(switch);
    let entry = DirectoryEntry {
        vpa: Vpa::new("chai@payu").unwrap(),
        account: account(&shop),
        bound_at: None,
    };
    switch.register(&entry).await.unwrap();
    let links = Arc::new(InProcess::new(banks.clone(), switch.clone()));
    let psp = Psp::open(
        s.india.clone(),
        links,
        Arc::new(clock.clone()),
        PspConfig::default(),
        &[6; 32],
    )
    .await
    .unwrap();
    s.wallet.attach_upi(psp).unwrap();
    Upi {
        s,
        clock,
        ledger,
        banks,
        switch,
        asha,
        ravi,
        shop,
    }
}

fn account(a: &UpiAccount) -> Account {
    Account {
        ifsc: Ifsc::new(&a.ifsc).unwrap(),
        number: AccountNumber::new(&a.account_number).unwrap(),
        kind: Some("SAVINGS".into()),
    }
}

/// A user of the wallet in India with a bound phone.
struct User {
    token: String,
    binding: String,
}

impl Upi {
    /// Registers `login` in India, binds a phone by `mobile`.
    async fn user(&self, login: &str, mobile: &str) -> User {
        let r = self.s.register(login, Some("in")).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let r = self.s.login(login, "correct horse battery").await;
        let token = r.body["token"].as_str().unwrap().to_owned();
        let (device, key) = self.s.device(&token, "phone").await;
        let body = json!({"device_id": device, "device_key": STANDARD.encode(key.public()),
                          "mobile": mobile});
        let r = self.s.post(&token, "/api/v1/upi/bindings", body).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let binding = r.body["bindings"][0]["binding_id"]
            .as_str()
            .unwrap()
            .to_owned();
        User { token, binding }
    }

    /// The bank's key from ListKeys, as the device reads it.
    async fn key(&self, u: &User, ifsc: &str) -> [u8; 32] {
        let r = self.s.get(&u.token, "/api/v1/upi/keys").await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let keys = r.body["keys"].as_array().unwrap();
        let k = keys
            .iter()
            .find(|k| ifsc.starts_with(k["bank"].as_str().unwrap()))
            .unwrap();
        let bytes = STANDARD.decode(k["public_key"].as_str().unwrap()).unwrap();
        bytes.try_into().unwrap()
    }

    async fn set_pin(&self, u: &User, holder: &UpiAccount, last6: &str) -> Resp {
        let mut sms = self.banks.subscribe_otp();
        let path = format!("/api/v1/upi/bindings/{}/pin-otp", u.binding);
        let r = self.s.post(&u.token, &path, json!({})).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let verification = r.body["verification_id"].as_str().unwrap().to_owned();
        let code = sms.recv().await.unwrap().code;
        let key = self.key(u, &holder.ifsc).await;
        let block = seal_pin(&key, PinPurpose::SetPin, &verification, &secret(PIN)).unwrap();
        let card = holder.debit_card.as_ref().unwrap();
        let body = json!({
            "card_last6": last6, "card_expiry": card.expiry.to_string(),
            "verification_id": verification, "otp": code.expose(),
            "pin_block": STANDARD.encode(block),
        });
        let path = format!("/api/v1/upi/bindings/{}/pin", u.binding);
        self.s.post(&u.token, &path, body).await
    }

    /// Binds, sets the PIN, makes `name@paytap`.
    async fn ready(&self, login: &str, holder: &UpiAccount, name: &str) -> User {
        let u = self.user(login, &holder.mobile).await;
        let last6 = holder.debit_card.as_ref().unwrap().last6();
        let r = self.set_pin(&u, holder, last6.expose()).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        let body = json!({"binding_id": u.binding, "name": name});
        let r = self.s.post(&u.token, "/api/v1/upi/ids", body).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        u
    }

    async fn block(&self, u: &User, txn_id: &str, pin: &str) -> String {
        let key = self.key(u, &self.asha.ifsc).await;
        STANDARD.encode(seal_pin(&key, PinPurpose::Debit, txn_id, &secret(pin)).unwrap())
    }

    /// Asha pays: `to` holds the payee fields.
    async fn pay(&self, u: &User, txn_id: &str, mut to: Value, pin: &str) -> Resp {
        to["txn_id"] = json!(txn_id);
        to["from"] = json!("asha@paytap");
        to["pin_block"] = json!(self.block(u, txn_id, pin).await);
        self.s.post(&u.token, "/api/v1/upi/payments", to).await
    }

    async fn balance(&self, a: &UpiAccount) -> i64 {
        self.banks
            .balance(&a.ifsc, &a.account_number)
            .await
            .unwrap()
    }

    /// Money is never lost or created.
    async fn balanced(&self) {
        let report = self.ledger.check_invariants().await.unwrap();
        let inr = report.totals[&Currency::INR];
        assert_eq!(inr.debits_posted, inr.credits_posted, "{report:?}");
    }

    /// The shop's PSP (PayU) asks `payer` for `paise`: a COLLECT at the switch.
    async fn collect(&self, id: &str, paise: u64, minutes: Option<u32>) {
        let mut payee = Party::person(Vpa::new("chai@payu").unwrap());
        payee.kind = PartyType::Entity;
        payee.code = Mcc::new("5812").unwrap();
        payee.name = Some("Chai Shop".into());
        payee.amount = Some(Amount { paise });
        let now = self.clock.now_millis();
        let mut txn = Txn::new(
            TxnId::new(id).unwrap(),
            Timestamp::from_unix_millis(now),
            TxnType::Collect,
        );
        txn.expire_after_minutes = minutes;
        txn.note = Some("Masala chai".into());
        let req = ReqPay {
            head: head(&format!("M{id}"), now),
            txn,
            payer: Party::person(Vpa::new("asha@paytap").unwrap()),
            payees: vec![payee],
        };
        assert!(
            self.switch.pay(req).await.unwrap().is_none(),
            "waits for the payer"
        );
    }
}

fn head(msg: &str, now: i64) -> Head {
    Head {
        ver: "2.0".into(),
        ts: Timestamp::from_unix_millis(now),
        org_id: OrgId::new("PAYU").unwrap(),
        msg_id: MsgId::new(msg).unwrap(),
    }
}

use paytap_types::Clock as _;

#[tokio::test]
async fn bind_set_a_pin_and_pay_a_contact() {
    let e = upi().await;
    let asha = e.ready("asha@example.in", &e.asha, "asha").await;
    e.ready("ravi@example.in", &e.ravi, "ravi").await;
    let r = e.s.get(&asha.token, "/api/v1/upi/bindings").await;
    let b = &r.body["bindings"][0];
    assert!(
        b["account_masked"]
            .as_str()
            .unwrap()
            .ends_with(&e.asha.account_number[8..])
    );
    assert!(!b.to_string().contains(&e.asha.account_number), "masked");

    // A new binding pays at most ₹5,000 for a day.
    let r = e
        .pay(
            &asha,
            "T1",
            json!({"to": "ravi@paytap", "amount_paise": 6_000_00}),
            PIN,
        )
        .await;
    assert_eq!(
        (r.status, &r.body["status"], &r.body["error_code"]),
        (200, &json!("failed"), &json!("Z8")),
        "{:?}",
        r.body
    );
    let r = e
        .pay(
            &asha,
            "T2",
            json!({"to": "ravi@paytap", "amount_paise": 250_00, "note": "lunch"}),
            PIN,
        )
        .await;
    assert_eq!(r.body["status"], "success", "{:?}", r.body);
    assert_eq!(r.body["rrn"].as_str().unwrap().len(), 12);
    assert_eq!(e.balance(&e.ravi).await, 250_00);

    // The same request again is the same payment; another under its id is refused.
    let again = e
        .pay(
            &asha,
            "T2",
            json!({"to": "ravi@paytap", "amount_paise": 250_00, "note": "lunch"}),
            PIN,
        )
        .await;
    assert_eq!(again.body, r.body);
    let clash = e
        .pay(
            &asha,
            "T2",
            json!({"to": "ravi@paytap", "amount_paise": 1_00}),
            PIN,
        )
        .await;
    assert_eq!((clash.status, clash.code()), (409, "DT"));
    assert_eq!(e.balance(&e.ravi).await, 250_00);

    // By mobile number.
    let r = e
        .pay(
            &asha,
            "T3",
            json!({"mobile": "9123456780", "amount_paise": 50_00}),
            PIN,
        )
        .await;
    assert_eq!(
        (&r.body["status"], &r.body["payee_vpa"]),
        (&json!("success"), &json!("ravi@paytap"))
    );

    // After a day, the lakh a day for people.
    e.clock.advance(DAY);
    let r = e
        .pay(
            &asha,
            "T4",
            json!({"to": "ravi@paytap", "amount_paise": 1_00_001_00}),
            PIN,
        )
        .await;
    assert_eq!(r.body["error_code"], "Z8");
    let r = e
        .pay(
            &asha,
            "T5",
            json!({"to": "ravi@paytap", "amount_paise": 60_000_00}),
            PIN,
        )
        .await;
    assert_eq!(r.body["status"], "success");
    let r = e
        .pay(
            &asha,
            "T6",
            json!({"to": "ravi@paytap", "amount_paise": 40_001_00}),
            PIN,
        )
        .await;
    assert_eq!(r.body["error_code"], "Z8", "over the day's lakh");
    assert_eq!(e.balance(&e.ravi).await, 60_300_00);

    let r = e.s.get(&asha.token, "/api/v1/upi/payments").await;
    assert_eq!(r.body["payments"].as_array().unwrap().len(), 6);
    let r = e.s.get(&asha.token, "/api/v1/upi/payments/T2").await;
    assert_eq!(r.body["status"], "success");
    e.balanced().await;
}

#[tokio::test]
async fn wrong_pins_lock_the_pin_for_the_day() {
    let e = upi().await;
    let asha = e.ready("asha@example.in", &e.asha, "asha").await;
    e.ready("ravi@example.in", &e.ravi, "ravi").await;
    let to = || json!({"to": "ravi@paytap", "amount_paise": 10_00});
    let r = e.pay(&asha, "W1", to(), "1111").await;
    assert_eq!(
        (&r.body["status"], &r.body["error_code"]),
        (&json!("failed"), &json!("ZM"))
    );
    assert_eq!(
        e.pay(&asha, "W2", to(), "1111").await.body["error_code"],
        "ZM"
    );
    assert_eq!(
        e.pay(&asha, "W3", to(), "1111").await.body["error_code"],
        "Z6"
    );
    assert_eq!(e.pay(&asha, "W4", to(), PIN).await.body["error_code"], "Z6");
    e.clock.advance(DAY);
    assert_eq!(
        e.pay(&asha, "W5", to(), PIN).await.body["status"],
        "success"
    );
    assert_eq!(e.balance(&e.ravi).await, 10_00);
    e.balanced().await;
}

#[tokio::test]
async fn a_shop_s_qr_code_pays_the_shop() {
    let e = upi().await;
    let asha = e.ready("asha@example.in", &e.asha, "asha").await;
    e.clock.advance(DAY);
    // A static code: the payer types the amount.
    let link = "upi://pay?pa=chai@payu&pn=Chai%20Shop&mc=5812&cu=INR";
    let png = paytap_qrimage::render_png(link).unwrap();
    let scanned = paytap_qrimage::read_png(&png).unwrap();
    let r = e
        .pay(
            &asha,
            "Q1",
            json!({"link": scanned, "amount_paise": 40_00}),
            PIN,
        )
        .await;
    assert_eq!(r.body["status"], "success", "{:?}", r.body);
    assert_eq!(
        (&r.body["mcc"], &r.body["payee_name"]),
        (&json!("5812"), &json!("Chai Shop"))
    );
    let r = e.pay(&asha, "Q2", json!({"link": scanned}), PIN).await;
    assert_eq!(
        (r.status, r.code()),
        (422, "invalid_request"),
        "a static code needs an amount"
    );

    // A dynamic code carries the amount and the order.
    let link = "upi://pay?pa=chai@payu&pn=Chai%20Shop&mc=5812&tr=ORDER77&am=120.00&cu=INR";
    let r = e
        .pay(
            &asha,
            "Q3",
            json!({"link": link, "amount_paise": 100_00}),
            PIN,
        )
        .await;
    assert_eq!(r.status, 422, "not the code's amount");
    let r = e.pay(&asha, "Q4", json!({"link": link}), PIN).await;
    assert_eq!(
        (&r.body["status"], &r.body["reference"]),
        (&json!("success"), &json!("ORDER77"))
    );
    assert_eq!(e.balance(&e.shop).await, 160_00);

    // The shop refunds the dynamic code's payment, linked to it.
    let now = e.clock.now_millis();
    let mut txn = Txn::new(
        TxnId::new("RF1").unwrap(),
        Timestamp::from_unix_millis(now),
        TxnType::Refund,
    );
    txn.org_txn_id = Some(TxnId::new("Q4").unwrap());
    let mut payer = Party::person(Vpa::new("chai@payu").unwrap());
    payer.account = Some(account(&e.shop));
    let mut payee = Party::person(Vpa::new("asha@paytap").unwrap());
    payee.amount = Some(Amount { paise: 120_00 });
    let refund = ReqPay {
        head: head("MRF1", now),
        txn,
        payer,
        payees: vec![payee],
    };
    let r = e.switch.pay(refund.clone()).await.unwrap().unwrap();
    assert_eq!(r.resp.result, ResultCode::Success);
    assert_eq!(e.balance(&e.shop).await, 40_00);
    // Not twice.
    let mut twice = refund;
    twice.txn.id = TxnId::new("RF2").unwrap();
    twice.head.msg_id = MsgId::new("MRF2").unwrap();
    let r = e.switch.pay(twice).await.unwrap().unwrap();
    assert_eq!(r.resp.err_code.as_ref().map(|c| c.as_str()), Some("RF"));
    assert_eq!(e.balance(&e.asha).await, 2_00_000_00 - 40_00);
    e.balanced().await;
}

#[tokio::test]
async fn merchant_collects_are_approved_declined_or_expire() {
    let e = upi().await;
    let asha = e.ready("asha@example.in", &e.asha, "asha").await;
    e.collect("C1", 99_00, None).await;
    e.collect("C2", 15_00, None).await;
    e.collect("C3", 20_00, Some(1)).await;
    let r = e.s.get(&asha.token, "/api/v1/upi/collects").await;
    let open = r.body["collects"].as_array().unwrap();
    assert_eq!(open.len(), 3, "{:?}", r.body);
    assert_eq!(open[0]["txn_id"], "C3", "soonest to expire first");

    let body = json!({"pin_block": e.block(&asha, "C1", PIN).await});
    let r =
        e.s.post(&asha.token, "/api/v1/upi/collects/C1/approve", body)
            .await;
    assert_eq!(
        (&r.body["status"], &r.body["kind"]),
        (&json!("success"), &json!("collect")),
        "{:?}",
        r.body
    );
    assert_eq!(e.balance(&e.shop).await, 99_00);

    let r =
        e.s.post(&asha.token, "/api/v1/upi/collects/C2/decline", json!({}))
            .await;
    assert_eq!(
        (&r.body["status"], &r.body["error_code"]),
        (&json!("failed"), &json!("ZA"))
    );
    let body = json!({"pin_block": e.block(&asha, "C2", PIN).await});
    let r =
        e.s.post(&asha.token, "/api/v1/upi/collects/C2/approve", body)
            .await;
    assert_eq!((r.status, r.code()), (422, "ZA"), "already answered");

    e.clock.advance(Duration::from_secs(120));
    e.switch.fire_due().await.unwrap();
    let body = json!({"pin_block": e.block(&asha, "C3", PIN).await});
    let r =
        e.s.post(&asha.token, "/api/v1/upi/collects/C3/approve", body)
            .await;
    assert_eq!((r.status, r.code()), (422, "U69"), "{:?}", r.body);
    assert!(
        e.s.get(&asha.token, "/api/v1/upi/collects").await.body["collects"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(e.balance(&e.shop).await, 99_00);
    e.balanced().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_answer_and_moves_nothing() {
    let e = upi().await;
    let asha = e.ready("asha@example.in", &e.asha, "asha").await;
    let r = e
        .pay(
            &asha,
            "B1",
            json!({"to": "nobody@paytap", "amount_paise": 1_00}),
            PIN,
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "ZH"));
    let r = e
        .pay(
            &asha,
            "B2",
            json!({"to": "not a upi id", "amount_paise": 1_00}),
            PIN,
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_request"));
    let r = e
        .pay(
            &asha,
            "B3",
            json!({"mobile": "9999999999", "amount_paise": 1_00}),
            PIN,
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "ZH"));
    let r = e
        .pay(
            &asha,
            "B4",
            json!({"link": "upi://pay?am=1.00", "amount_paise": 1_00}),
            PIN,
        )
        .await;
    assert_eq!(r.status, 422);
    let r = e
        .pay(
            &asha,
            "B 5",
            json!({"to": "asha@paytap", "amount_paise": 1_00}),
            PIN,
        )
        .await;
    assert_eq!(r.status, 422, "a transaction id is letters and digits");
    // A UPI ID taken, and a bad one.
    let body = json!({"binding_id": asha.binding, "name": "asha"});
    assert_eq!(
        e.s.post(&asha.token, "/api/v1/upi/ids", body).await.status,
        409
    );
    let body = json!({"binding_id": asha.binding, "name": "A!"});
    assert_eq!(
        e.s.post(&asha.token, "/api/v1/upi/ids", body).await.status,
        422
    );
    // Setting a PIN with another card's digits.
    let r = e.set_pin(&asha, &e.asha, "000000").await;
    assert_eq!((r.status, r.code()), (422, "CM"));
    // An account outside India pays no UPI.
    let cn = e.s.account("li@example.cn").await;
    let r = e.s.get(&cn, "/api/v1/upi/keys").await;
    assert_eq!((r.status, r.code()), (422, "region"));
    // Another user's binding is not found.
    let ravi = e.user("ravi@example.in", &e.ravi.mobile).await;
    let body = json!({"binding_id": asha.binding, "name": "sneaky"});
    assert_eq!(
        e.s.post(&ravi.token, "/api/v1/upi/ids", body).await.status,
        404
    );
    assert_eq!(
        e.s.get(&ravi.token, "/api/v1/upi/payments/B1").await.status,
        404
    );
    assert_eq!(e.balance(&e.asha).await, 2_00_000_00);
    e.balanced().await;
}
