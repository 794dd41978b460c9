//! `paytap device bills` and `paytap device recharge` against `paytap up`:
//! an India account's phone fetches a BESCOM bill and pays it over UPI,
//! recharges a Jio number (refunded while Jio is down, confirmed after),
//! a retried payment key pays nothing twice, and bad input is refused with
//! its rule.

mod common;

use common::{BIN, KillOnDrop, up_on_free_ports, wait_for_endpoints};
use serde_json::{Value, json};
use std::process::{Command, Output, Stdio};

const EMAIL: &str = "asha@example.in";
const PASSWORD: &str = "a long enough password";
const VPA: &str = "asha.cli@paytap";

/// `paytap args…` with the keystore's passphrase in the environment.
fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("PAYTAP_KEYSTORE_PASSPHRASE", "phone passphrase")
        .env("PAYTAP_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .expect("run paytap")
}

/// The JSON a run printed, which must have succeeded.
fn json_of(args: &[&str]) -> Value {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON")
}

async fn send(req: reqwest::RequestBuilder, body: Value) -> Value {
    let r = req.json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.unwrap()
}

#[tokio::test]
async fn a_phone_pays_a_bill_and_recharges_a_number() {
    let http = reqwest::Client::new();
    let post = |url: String, body: Value| send(http.post(url), body);
    let put = |url: String, body: Value| send(http.put(url), body);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _up = KillOnDrop(up_on_free_ports(&data).spawn().unwrap());
    let wallet = wait_for_endpoints(&data)["wallet_url"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    post(
        format!("{wallet}/api/v1/accounts"),
        json!({ "login": EMAIL, "password": PASSWORD, "display_name": "Asha", "region": "in" }),
    )
    .await;
    post(
        format!("{wallet}/emulator/v1/upi-accounts"),
        json!({ "bank_id": "63560001", "holder": "Asha Rao", "mobile": "9876543210",
                "opening_paise": 1_000_000, "vpa": VPA }),
    )
    .await;
    let ks = dir.path().join("phone.se");
    let ks = ks.to_str().unwrap();
    let enrol = run(&[
        "device",
        "enrol",
        "--wallet",
        &wallet,
        "--email",
        EMAIL,
        "--type",
        "phone",
        "--name",
        "Asha's phone",
        "--keystore",
        ks,
    ]);
    assert!(
        enrol.status.success(),
        "{}",
        String::from_utf8_lossy(&enrol.stderr)
    );
    let on = ["--keystore", ks, "--json"];

    let billers = json_of(&[&["device", "bills", "billers"][..], &on].concat());
    assert_eq!(billers["billers"].as_array().unwrap().len(), 7);
    let bad = run(&[
        &[
            "device",
            "bills",
            "fetch",
            "--biller",
            "BESCOM",
            "--param",
            "account_id=12",
        ][..],
        &on,
    ]
    .concat());
    assert_eq!(bad.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert!(
        err["error"].as_str().unwrap().contains("must be 10 digits"),
        "{err}"
    );
    let bill = json_of(
        &[
            &[
                "device",
                "bills",
                "fetch",
                "--biller",
                "BESCOM",
                "--param",
                "account_id=4417730923",
            ][..],
            &on,
        ]
        .concat(),
    );
    let fetch_id = bill["fetch_id"].as_str().unwrap();
    let pay = [
        &[
            "device",
            "bills",
            "pay",
            "--fetch-id",
            fetch_id,
            "--vpa",
            VPA,
            "--key",
            "cli-1",
        ][..],
        &on,
    ]
    .concat();
    let paid = json_of(&pay);
    assert_eq!(paid["state"], "confirmed");
    assert_eq!(json_of(&pay), paid, "the same key answers the same receipt");

    let plans = json_of(
        &[
            &["device", "recharge", "plans", "--mobile", "7019555123"][..],
            &on,
        ]
        .concat(),
    );
    assert_eq!(
        (plans["operator"].as_str(), plans["circle"].as_str()),
        (Some("JIO"), Some("KA"))
    );
    put(
        format!("{wallet}/emulator/v1/billers/JIO"),
        json!({ "down": true }),
    )
    .await;
    let recharge = |key: &str| {
        run(&[
            &[
                "device",
                "recharge",
                "pay",
                "--mobile",
                "7019555123",
                "--plan",
                "JIO299",
                "--vpa",
                VPA,
                "--key",
                key,
            ][..],
            &on,
        ]
        .concat())
    };
    let refunded = recharge("cli-2");
    assert_eq!(
        refunded.status.code(),
        Some(1),
        "a refunded recharge exits 1"
    );
    let r: Value = serde_json::from_slice(&refunded.stdout).unwrap();
    assert_eq!(r["state"], "refunded");
    put(
        format!("{wallet}/emulator/v1/billers/JIO"),
        json!({ "down": false }),
    )
    .await;
    assert!(recharge("cli-3").status.success());
    let receipts = json_of(&[&["device", "bills", "receipts"][..], &on].concat());
    assert_eq!(receipts["receipts"].as_array().unwrap().len(), 3);
}
