//! UPI from the phone, with separate processes against `paytap up`: the
//! banks open Asha's and Ravi's accounts and PayU signs a tea shop up (the
//! emulator API); each phone enrols in India, binds by its mobile number and
//! makes its UPI ID, Asha sets her PIN with the bank's OTP (read from the
//! emulated SMS inbox) and her debit card; she pays Ravi, scans the shop's
//! QR image and pays, approves the shop's collect request, and a wrong PIN
//! is refused. Then `paytap device bills` and `paytap device recharge`: she
//! fetches her BESCOM bill and pays it over UPI (PayU's collect request,
//! approved with her PIN), recharges a Jio number (refunded while Jio is
//! down, confirmed after), a retried payment key pays nothing twice, and
//! bad input is refused with its rule. The balances follow, and the INR
//! ledger sums to zero.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

mod common;

use std::process::{Output, Stdio};

use common::{KillOnDrop, paytap_device, printed, up_on_free_ports, wait_for_endpoints};
use serde_json::{Value, json};

const PASSWORD: &str = "a long enough password";
const KEYSTORE_PASSPHRASE: &str = "the phone's unlock passphrase";
const PIN: &str = "2468";
const ICICI: &str = "63560001";
const HDFC: &str = "63560002";

fn paytap(args: &[&str]) -> Output {
    paytap_device(args, KEYSTORE_PASSPHRASE)
}

fn text(o: &Output) -> String {
    printed(o)
}

/// What a `--json` run printed, with its exit code.
fn run_json(args: &[&str]) -> (i32, Value) {
    let o = paytap(args);
    let v =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&o)));
    (o.status.code().unwrap_or(-1), v)
}

fn ok_json(args: &[&str]) -> Value {
    let (code, v) = run_json(args);
    assert_eq!(code, 0, "{args:?}: {v}");
    v
}

/// The emulator API (loopback only), as the tests' bank branch and PayU.
struct Lab {
    base: String,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Lab {
    fn post(&self, path: &str, body: Value) -> Value {
        self.rt.block_on(async {
            let r = self
                .http
                .post(format!("{}{path}", self.base))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
            r.json().await.unwrap()
        })
    }

    fn put(&self, path: &str, body: Value) {
        self.rt.block_on(async {
            let r = self
                .http
                .put(format!("{}{path}", self.base))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "{path}: {}", r.status());
        })
    }

    fn get(&self, path: &str) -> Value {
        self.rt.block_on(async {
            let r = self
                .http
                .get(format!("{}{path}", self.base))
                .send()
                .await
                .unwrap();
            r.json().await.unwrap()
        })
    }

    fn balance(&self, a: &Value) -> i64 {
        let path = format!(
            "/emulator/v1/upi/balance/{}/{}",
            a["ifsc"].as_str().unwrap(),
            a["account_number"].as_str().unwrap()
        );
        self.get(&path)["paise"].as_i64().unwrap()
    }

    /// The SMS code sent for `verification_id`, once the gateway has it.
    fn sms(&self, verification_id: &str) -> String {
        for _ in 0..500 {
            let inbox = self.get("/emulator/v1/sms");
            let found = inbox["messages"]
                .as_array()
                .unwrap()
                .iter()
                .rev()
                .find(|m| m["verification_id"] == verification_id)
                .and_then(|m| m["code"].as_str())
                .map(str::to_owned);
            if let Some(code) = found {
                return code;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("the OTP was never texted")
    }
}

/// Enrols a phone in India at `keystore`, binds `mobile`, makes `name`.
fn phone(wallet: &str, keystore: &str, email: &str, mobile: &str, name: &str) {
    let o = paytap(&[
        "device",
        "enrol",
        "--wallet",
        wallet,
        "--email",
        email,
        "--password",
        PASSWORD,
        "--type",
        "phone",
        "--name",
        "phone",
        "--keystore",
        keystore,
        "--register",
        "--region",
        "in",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let bound = ok_json(&[
        "device",
        "upi",
        "bind",
        "--keystore",
        keystore,
        "--mobile",
        mobile,
        "--name",
        name,
        "--json",
    ]);
    assert_eq!(bound["id"]["vpa"], format!("{name}@paytap"));
}

#[test]
fn a_phone_binds_sets_its_pin_and_pays_a_contact_a_shop_and_a_collect() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up_on_free_ports(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _up = KillOnDrop(up);
    let ep = wait_for_endpoints(&data);
    let wallet = ep["wallet_url"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let lab = Lab {
        base: wallet.clone(),
        rt: tokio::runtime::Runtime::new().unwrap(),
        http: reqwest::Client::new(),
    };
    let asha_ac = lab.post(
        "/emulator/v1/upi/accounts",
        json!({"bank_id": ICICI, "holder": "Asha", "mobile": "9876543210", "opening_paise": 10_000_00}),
    );
    let ravi_ac = lab.post(
        "/emulator/v1/upi/accounts",
        json!({"bank_id": HDFC, "holder": "Ravi", "mobile": "9123456780"}),
    );
    let shop = lab.post(
        "/emulator/v1/upi/merchants",
        json!({"name": "chai", "display_name": "Chai Point", "bank_id": HDFC, "mcc": "5812",
               "mobile": "9000000009"}),
    );
    let asha = dir.path().join("asha.se").to_str().unwrap().to_owned();
    let ravi = dir.path().join("ravi.se").to_str().unwrap().to_owned();
    phone(&wallet, &asha, "asha@example.in", "9876543210", "asha");
    phone(&wallet, &ravi, "ravi@example.in", "9123456780", "ravi");

    // The PIN: the bank's OTP first (exit 3: waiting for it), then the card.
    let (code, otp) = run_json(&["device", "upi", "set-pin", "--keystore", &asha, "--json"]);
    assert_eq!(code, 3, "{otp}");
    let verification = otp["verification_id"].as_str().unwrap();
    let sms = lab.sms(verification);
    let card = &asha_ac["debit_card"];
    let set = ok_json(&[
        "device",
        "upi",
        "set-pin",
        "--keystore",
        &asha,
        "--card-last6",
        card["last6"].as_str().unwrap(),
        "--expiry",
        card["expiry"].as_str().unwrap(),
        "--otp",
        &sms,
        "--verification",
        verification,
        "--pin",
        PIN,
        "--json",
    ]);
    assert_eq!(set["pin_set"], true);

    let paid = ok_json(&[
        "device",
        "upi",
        "pay",
        "--keystore",
        &asha,
        "--to",
        "ravi@paytap",
        "--amount",
        "250",
        "--pin",
        PIN,
        "--json",
    ]);
    assert_eq!(paid["status"], "success");
    let status = ok_json(&[
        "device",
        "upi",
        "status",
        "--keystore",
        &asha,
        "--txn",
        paid["txn_id"].as_str().unwrap(),
        "--json",
    ]);
    assert_eq!(status["rrn"], paid["rrn"]);

    // A wrong PIN: refused by the bank, exit 1, nothing moves.
    let (code, wrong) = run_json(&[
        "device",
        "upi",
        "pay",
        "--keystore",
        &asha,
        "--mobile",
        "9123456780",
        "--amount",
        "1",
        "--pin",
        "1111",
        "--json",
    ]);
    assert_eq!((code, &wrong["error_code"]), (1, &json!("ZM")), "{wrong}");

    // The shop's QR, as an image on the counter; a static code: Asha types ₹40.
    let png = dir.path().join("chai.png");
    std::fs::write(&png, paytap_png(shop["static_link"].as_str().unwrap())).unwrap();
    let scanned = ok_json(&[
        "device",
        "upi",
        "scan",
        "--keystore",
        &asha,
        "--image",
        png.to_str().unwrap(),
        "--amount",
        "40.00",
        "--pin",
        PIN,
        "--json",
    ]);
    assert_eq!(
        (&scanned["status"], &scanned["payee_name"]),
        (&json!("success"), &json!("Chai Point"))
    );

    // The shop asks for ₹99 (PayU's collect); Asha approves with her PIN.
    let asked = lab.post(
        "/emulator/v1/upi/collects",
        json!({"txn_id": "PAYUC1", "merchant": "chai@payu", "merchant_name": "Chai Point",
               "mcc": "5812", "payer": "asha@paytap", "amount_paise": 99_00, "note": "Order 12"}),
    );
    assert_eq!(asked["status"], "waiting");
    let list = ok_json(&["device", "upi", "collects", "--keystore", &asha, "--json"]);
    assert_eq!(list["collects"][0]["txn_id"], "PAYUC1");
    let approved = ok_json(&[
        "device",
        "upi",
        "approve",
        "--keystore",
        &asha,
        "--txn",
        "PAYUC1",
        "--pin",
        PIN,
        "--json",
    ]);
    assert_eq!(approved["status"], "success");

    assert_eq!(lab.balance(&asha_ac), 10_000_00 - 250_00 - 40_00 - 99_00);
    assert_eq!(lab.balance(&ravi_ac), 250_00);
    assert_eq!(lab.balance(&shop), 139_00);
    bills_from_the_phone(&lab, &asha, &asha_ac);
    let ledger = lab.get("/emulator/v1/ledger");
    let inr = ledger["totals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["currency"] == "INR")
        .cloned()
        .unwrap_or_else(|| panic!("{ledger}"));
    assert_eq!(inr["debits_posted"], inr["credits_posted"], "{inr}");
}

/// `paytap device bills` and `paytap device recharge` from Asha's phone
/// (keystore `ks`): every UPI payment waits for her approval of PayU's
/// collect request with her PIN.
fn bills_from_the_phone(lab: &Lab, ks: &str, account: &Value) {
    let on = ["--keystore", ks, "--json"];
    let billers = ok_json(&with(&["device", "bills", "billers"], &on));
    assert_eq!(billers["billers"].as_array().unwrap().len(), 7);
    let bad = with(
        &[
            "device",
            "bills",
            "fetch",
            "--biller",
            "BESCOM",
            "--param",
            "account_id=12",
        ],
        &on,
    );
    let (code, err) = run_json(&bad);
    assert_eq!(code, 1, "{err}");
    assert!(
        err["error"].as_str().unwrap().contains("must be 10 digits"),
        "{err}"
    );
    let fetch = with(
        &[
            "device",
            "bills",
            "fetch",
            "--biller",
            "BESCOM",
            "--param",
            "account_id=4417730923",
        ],
        &on,
    );
    let bill = ok_json(&fetch);
    let amount = bill["amount"]["minor"].as_i64().unwrap();
    let before = lab.balance(account);

    let fetch_id = bill["fetch_id"].as_str().unwrap();
    let pay = with(
        &[
            "device",
            "bills",
            "pay",
            "--fetch-id",
            fetch_id,
            "--vpa",
            "asha@paytap",
            "--key",
            "cli-1",
        ],
        &on,
    );
    let asked = ok_json(&pay);
    assert_eq!(asked["state"], "charging", "waits for Asha: {asked}");
    assert_eq!(
        lab.balance(account),
        before,
        "nothing taken before approval"
    );
    approve(ks, &asked);
    let paid = ok_json(&pay);
    assert_eq!(paid["state"], "confirmed", "{paid}");
    assert!(paid["biller_ref"].as_str().unwrap().starts_with("BBPS"));
    assert_eq!(ok_json(&pay), paid, "the same key answers the same receipt");

    let plans = ok_json(&with(
        &["device", "recharge", "plans", "--mobile", "7019555123"],
        &on,
    ));
    assert_eq!(
        (plans["operator"].as_str(), plans["circle"].as_str()),
        (Some("JIO"), Some("KA"))
    );
    let recharge = |key: &str| {
        let args = [
            "device",
            "recharge",
            "pay",
            "--mobile",
            "7019555123",
            "--plan",
            "JIO299",
        ];
        ok_json(&with(
            &[&args[..], &["--vpa", "asha@paytap", "--key", key]].concat(),
            &on,
        ))
    };
    lab.put("/emulator/v1/billers/JIO", json!({ "down": true }));
    approve(ks, &recharge("cli-2"));
    let receipts = ok_json(&with(&["device", "bills", "receipts"], &on));
    assert_eq!(receipts["receipts"][0]["state"], "refunded", "{receipts}");
    lab.put("/emulator/v1/billers/JIO", json!({ "down": false }));
    approve(ks, &recharge("cli-3"));
    let receipts = ok_json(&with(&["device", "bills", "receipts"], &on));
    let states: Vec<&str> = receipts["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["confirmed", "refunded", "confirmed"]);
    assert_eq!(lab.balance(account), before - amount - 299_00);
}

/// `args` and then `on`.
fn with<'a>(args: &[&'a str], on: &[&'a str]) -> Vec<&'a str> {
    [args, on].concat()
}

/// Asha approves the collect request of payment `asked` with her PIN.
fn approve(ks: &str, asked: &Value) {
    let txn = asked["payment_id"].as_str().unwrap();
    let args = [
        "device",
        "upi",
        "approve",
        "--keystore",
        ks,
        "--txn",
        txn,
        "--pin",
        PIN,
        "--json",
    ];
    assert_eq!(ok_json(&args)["status"], "success");
}

/// The shop's code as the PNG the till prints (`paytap tools qr render`).
fn paytap_png(link: &str) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("code.png");
    let o = paytap(&[
        "tools",
        "qr",
        "render",
        "--payload",
        link,
        "--png",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::read(path).unwrap()
}
