//! `paytap register` as a separate process against a running platform,
//! over the acquirer's merchant API: a merchant signed up twice is one
//! merchant, another merchant under its id is refused, static and dynamic
//! codes come back from a real PNG with the stored details, and requests
//! without the acquirer's MAC read and write nothing.

#[path = "../src/platform.rs"]
#[allow(dead_code)]
mod platform;

use std::path::Path;
use std::process::{Command, Output};

use platform::merchants::{ACQUIRER_HEADER, MAC_HEADER, MERCHANTS_PATH, signed_bytes};
use platform::{Platform, PlatformOptions};

const BIN: &str = env!("CARGO_BIN_EXE_paytap");

fn paytap(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run paytap")
}

fn ok_json(args: &[&str]) -> serde_json::Value {
    let o = paytap(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

async fn start(dir: &Path) -> Platform {
    Platform::start(PlatformOptions::for_tests(dir.join("data")))
        .await
        .unwrap()
}

/// The platform's merchant service, as the API sees it.
async fn merchants(p: &Platform) -> paytap_acquirer::Merchants {
    paytap_acquirer::Merchants::open(p.net.db().clone(), p.net.ledger().clone())
        .await
        .unwrap()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// `paytap register merchant` for the tea house, against `url`.
fn sign_up(url: &str, data: &str, name: &str) -> Output {
    paytap(&[
        "register",
        "merchant",
        "--platform",
        url,
        "--data-dir",
        data,
        "--json",
        "--id",
        "TEA-01",
        "--name",
        name,
        "--city",
        "Beijing",
        "--mcc",
        "5814",
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_signs_up_a_merchant_once_and_prints_its_codes() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path()).await;
    let url = p.wallet_url.clone();
    let data = dir.path().join("data").to_string_lossy().into_owned();
    let (u, d) = (url.clone(), data.clone());
    let (first, again, other) = blocking(move || {
        (
            sign_up(&u, &d, "Tea House"),
            sign_up(&u, &d, "Tea House"),
            sign_up(&u, &d, "Noodle Bar"),
        )
    })
    .await;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(m["id"], "TEA-01");
    assert_eq!(m["acquirer"], paytap_types::DEMO_ACQUIRER_ID);
    assert_eq!(m["account"], "merchant:TEA-01:settlement");
    assert_eq!(
        first.stdout, again.stdout,
        "a retry answers the same merchant"
    );
    assert_eq!(
        other.status.code(),
        Some(1),
        "another merchant under the id"
    );
    let said = String::from_utf8_lossy(&other.stdout);
    assert!(
        said.contains("409") && said.contains("other details"),
        "{said}"
    );
    let stored = merchants(&p).await.get("TEA-01").await.unwrap();
    assert_eq!(stored.spec.name, "Tea House");
    let account = p.net.ledger().account(&stored.account).await.unwrap();
    assert_eq!(account.spec.currency, paytap_types::Currency::CNY);

    let png = dir.path().join("sale.png").to_string_lossy().into_owned();
    let (u, d, f) = (url.clone(), data.clone(), png.clone());
    let (fixed, sale, read) = blocking(move || {
        let fixed = ok_json(&[
            "register",
            "code",
            "--merchant",
            "TEA-01",
            "--platform",
            &u,
            "--data-dir",
            &d,
            "--json",
        ]);
        let sale = ok_json(&[
            "register",
            "code",
            "--merchant",
            "TEA-01",
            "--amount",
            "12.34",
            "--bill",
            "B-0001",
            "--png",
            &f,
            "--platform",
            &u,
            "--data-dir",
            &d,
            "--json",
        ]);
        let read = ok_json(&["tools", "qr", "read", "--image", &f, "--json"]);
        (fixed, sale, read)
    })
    .await;
    assert_eq!(fixed["kind"], "static");
    let code = paytap_qr::Mpm::parse(fixed["payload"].as_str().unwrap()).unwrap();
    assert_eq!(code.amount, None);
    assert_eq!(
        paytap_qr::merchant::paytap_merchant_id(&code),
        Some("TEA-01")
    );
    assert_eq!(sale["kind"], "dynamic");
    assert_eq!(read["payload"], sale["payload"], "the PNG holds the code");
    assert_eq!(read["fields"]["paytap_merchant_id"], "TEA-01");
    assert_eq!(read["fields"]["merchant_name"], "Tea House");
    let code = paytap_qr::Mpm::parse(sale["payload"].as_str().unwrap()).unwrap();
    assert_eq!(code.amount, Some(1234));
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_without_the_acquirers_mac_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = start(dir.path()).await;
    let http = reqwest::Client::new();
    let url = format!("{}{}", p.wallet_url.trim_end_matches('/'), MERCHANTS_PATH);
    let body = br#"{"id":"X-1","name":"Shop","city":"Shanghai","mcc":"5411"}"#.to_vec();
    let key = p.net.acquirer_key(paytap_types::DEMO_ACQUIRER_ID).unwrap();
    let good = hex::encode(paytap_iso8583::mac::sign_bytes(
        &signed_bytes("POST", MERCHANTS_PATH, &body),
        &key,
    ));
    let post = |id: &str, mac: &str, body: Vec<u8>| {
        http.post(&url)
            .header(ACQUIRER_HEADER, id)
            .header(MAC_HEADER, mac)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let check = |status: reqwest::StatusCode, expect: u16| assert_eq!(status.as_u16(), expect);
    let unsigned = http.post(&url).body(body.clone()).send().await.unwrap();
    check(unsigned.status(), 401);
    let wrong = post(
        paytap_types::DEMO_ACQUIRER_ID,
        "0011223344556677",
        body.clone(),
    );
    check(wrong.await.unwrap().status(), 401);
    let stranger = post("99999999999", &good, body.clone());
    check(stranger.await.unwrap().status(), 401);
    let mut altered = body.clone();
    altered[8] = b'Y';
    let altered = post(paytap_types::DEMO_ACQUIRER_ID, &good, altered);
    check(altered.await.unwrap().status(), 401);
    assert!(
        merchants(&p).await.get("X-1").await.is_err(),
        "nothing written"
    );
    check(
        post(paytap_types::DEMO_ACQUIRER_ID, &good, body)
            .await
            .unwrap()
            .status(),
        201,
    );

    let bad = br#"{"id":"X-2","name":"Shop","city":"Shanghai","mcc":"54"}"#.to_vec();
    let mac = hex::encode(paytap_iso8583::mac::sign_bytes(
        &signed_bytes("POST", MERCHANTS_PATH, &bad),
        &key,
    ));
    let r = post(paytap_types::DEMO_ACQUIRER_ID, &mac, bad)
        .await
        .unwrap();
    check(r.status(), 422);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("mcc"),
        "{v}"
    );

    let path = format!("{MERCHANTS_PATH}/NOBODY");
    let mac = hex::encode(paytap_iso8583::mac::sign_bytes(
        &signed_bytes("GET", &path, b""),
        &key,
    ));
    let r = http
        .get(format!("{}{path}", p.wallet_url.trim_end_matches('/')))
        .header(ACQUIRER_HEADER, paytap_types::DEMO_ACQUIRER_ID)
        .header(MAC_HEADER, mac)
        .send()
        .await
        .unwrap();
    check(r.status(), 404);
    p.shutdown().await;
}
