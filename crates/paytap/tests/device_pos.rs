//! `paytap device` and `paytap pos` as separate processes against a running
//! platform: enrol, add cards (green and passcode paths), the secure element
//! file holding nothing in clear, receipts for approvals and declines, and
//! the NFC field over TCP between a device process and a POS process. Also
//! `paytap up` starting, writing endpoints.json and stopping on SIGTERM.

#[path = "../src/platform.rs"]
#[allow(dead_code)]
mod platform;

mod common;

use common::{BIN, up_on_free_ports, wait_for_endpoints};

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use paytap_issuer::{IssueCard, IssuedCard, Limits, Product};
use platform::{Platform, PlatformOptions};

const EMAIL: &str = "wang.fang@example.com";
const PASSWORD: &str = "a long enough password";
/// The device keystores' passphrase, as a device's unlock secret.
const KEYSTORE_PASSPHRASE: &str = "the phone's unlock passphrase";

/// The platform's `acquirers.toml`: the terminal processes sign on with
/// the demo acquirer's key from it.
static ACQUIRER_KEYS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn keys() -> &'static str {
    ACQUIRER_KEYS.get().expect("platform started")
}

/// `paytap ARGS` as the device's owner runs it: with the keystore
/// passphrase, without a password in the environment.
fn device_command() -> Command {
    let mut c = Command::new(BIN);
    c.env("PAYTAP_KEYSTORE_PASSPHRASE", KEYSTORE_PASSPHRASE)
        .env_remove("PAYTAP_PASSWORD");
    c
}

fn paytap(args: &[&str]) -> Output {
    device_command().args(args).output().expect("run paytap")
}

/// The keystore is the passphrase kind (KDF 2 in its header: Argon2id)
/// and no key file lies anywhere in its directory.
fn assert_passphrase_keystore(keystore: &Path) {
    const KDF_AT: usize = 5;
    const KDF_ARGON2ID: u8 = 2;
    let bytes = std::fs::read(keystore).unwrap();
    assert_eq!(bytes.get(..4), Some(b"PTSE".as_slice()));
    assert_eq!(bytes.get(KDF_AT), Some(&KDF_ARGON2ID));
    let dir = keystore.parent().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name();
        assert!(
            !name.to_string_lossy().ends_with(".key"),
            "a key file beside the keystore: {name:?}"
        );
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// No card or token number anywhere: no run of 13 or more digits that is a
/// Luhn-valid number (every card and token number is; a 12-digit RRN is
/// shorter) and no run longer than 16 digits. A 16-hex-digit cryptogram that
/// happens to be mostly digits is neither, so it cannot trip this by chance.
fn assert_no_card_numbers(s: &str) {
    for run in s.split(|c: char| !c.is_ascii_digit()) {
        assert!(
            run.len() < 13 || (run.len() <= 16 && !paytap_types::luhn_valid(run)),
            "a card-number-like digit run in: {s}"
        );
    }
}

async fn issue(p: &Platform, bank: &str, step_up: bool) -> IssuedCard {
    let mut req = IssueCard::new(bank, Product::Debit, "WANG FANG", 500_000);
    req.step_up_range = step_up;
    req.limits = Some(Limits {
        single_transaction: 200_000,
        daily: 1_000_000,
        velocity_count: 100,
        velocity_window_secs: 3600,
        no_cvm_limit: 30_000,
    });
    p.net.issue_card(req).await.unwrap()
}

/// A card as the emulator API mails it: what a user copies into
/// `paytap device add-card`.
struct Mailed {
    pan: String,
    expiry: String,
    cvv: String,
    last4: String,
}

/// A bank issues a card through the emulator API, with the same limits as
/// [`issue`].
async fn issue_by_emulator(wallet_url: &str, bank: &str) -> Mailed {
    let url = format!("{}/emulator/v1/cards", wallet_url.trim_end_matches('/'));
    let body = serde_json::json!({
        "bank_id": bank, "product": "debit", "holder_name": "WANG FANG",
        "amount_minor": 500_000, "single_transaction_limit_minor": 200_000,
        "no_cvm_limit_minor": 30_000,
    });
    let v: serde_json::Value = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = |k: &str| {
        v[k].as_str()
            .unwrap_or_else(|| panic!("{k} in {v}"))
            .to_owned()
    };
    let (expiry, yymm) = (s("expiry"), s("expiry_yymm"));
    // The printed form, MM/YY, of the bank's YYMM.
    assert_eq!(expiry, format!("{}/{}", &yymm[2..4], &yymm[..2]), "{v}");
    Mailed {
        pan: s("pan"),
        expiry,
        cvv: s("cvv"),
        last4: s("last4"),
    }
}

fn mm_yy(c: &IssuedCard) -> String {
    c.expiry_yymm.to_string()
}

/// The device's id, as `paytap device cards` prints it.
fn device_id_of(keystore: &str) -> String {
    let o = paytap(&["device", "cards", "--keystore", keystore]);
    text(&o)
        .split("(device ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .expect("the device id")
        .to_owned()
}

/// Waits until the wallet lists a place named `place` that came by
/// `source` (sync, payment, ...) among the device's places; panics with
/// the places it has otherwise.
async fn wait_for_place(url: &str, token: &str, device_id: &str, source: &str, place: &str) {
    let url = format!(
        "{}/api/v1/devices/{device_id}/places",
        url.trim_end_matches('/')
    );
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        last = reqwest::Client::new()
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap();
        let found = last["places"].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["source"] == source && p["place"] == place)
        });
        if found {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {source} place {place:?} in {last}");
}

/// Runs `paytap` with `args` off the async runtime.
async fn run(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        paytap(&args)
    })
    .await
}

/// `paytap device add-card` with a card's details, for WANG FANG.
async fn add_card(keystore: &str, pan: &str, expiry: &str, cvv: &str) -> Output {
    run(&[
        "device",
        "add-card",
        "--keystore",
        keystore,
        "--pan",
        pan,
        "--expiry",
        expiry,
        "--cvv",
        cvv,
        "--name",
        "WANG FANG",
    ])
    .await
}

/// `paytap pos charge` through `switch` with the test acquirer's key, and
/// `more` arguments (the card's keystore or NFC field, options).
async fn charge(switch: &str, amount: &str, merchant: &str, more: &[&str]) -> Output {
    let key_file = keys();
    let args = [
        "pos",
        "charge",
        "--acquirer-key-file",
        key_file,
        "--switch",
        switch,
        "--amount",
        amount,
        "--merchant",
        merchant,
    ];
    run(&[&args[..], more].concat()).await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn device_and_pos_processes_pay_through_the_platform() {
    let dir = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformOptions::loopback(dir.path().join("data")))
        .await
        .unwrap();
    let _ = ACQUIRER_KEYS.set(
        dir.path()
            .join("data")
            .join("acquirers.toml")
            .to_string_lossy()
            .into_owned(),
    );
    let green = issue_by_emulator(&p.wallet_url, "01020000").await;
    let yellow = issue(&p, "01020000", true).await;
    let ks = dir.path().join("phone.se");
    let ks_s = ks.to_str().unwrap().to_owned();
    let url = p.wallet_url.clone();
    let switch = p.switch_addr.to_string();

    // Enrol.
    let o = run(&[
        "device",
        "enrol",
        "--wallet",
        &url,
        "--email",
        EMAIL,
        "--password",
        PASSWORD,
        "--type",
        "phone",
        "--name",
        "Wang's phone",
        "--keystore",
        &ks_s,
        "--register",
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("enrolled phone"));
    assert_passphrase_keystore(&ks);
    let k = ks_s.clone();
    let device_id = blocking(move || device_id_of(&k)).await;
    let mut client = paytap_device::WalletClient::new(&url).unwrap();
    let token = client
        .login(EMAIL, PASSWORD)
        .await
        .unwrap()
        .token
        .expose()
        .clone();

    // Green path, with the expiry exactly as the emulator API printed it.
    let o = add_card(&ks_s, &green.pan, &green.expiry, &green.cvv).await;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("installed token"), "{}", text(&o));
    assert_no_card_numbers(&text(&o));

    // Red path: a wrong CVV is refused by the bank, nothing is added.
    let (pan, exp) = (yellow.pan.expose().to_owned(), mm_yy(&yellow));
    let wrong_cvv = if yellow.cvv.expose().as_str() == "000" {
        "111"
    } else {
        "000"
    };
    let o = add_card(&ks_s, &pan, &exp, wrong_cvv).await;
    // Refused by the other side: exit 1.
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("wallet refused (4"), "{}", text(&o));
    assert_no_card_numbers(&text(&o));

    // Passcode path: the first call stops at the passcode, the second finishes.
    let o = add_card(&ks_s, &pan, &exp, yellow.cvv.expose()).await;
    // Waiting for the passcode is a step-up, not a failure: exit 3.
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = text(&o);
    let pending = out
        .split("--pending ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("pending id printed")
        .to_owned();
    let code = p
        .net
        .sms_outbox()
        .messages()
        .last()
        .expect("an OTP was sent")
        .code
        .expose()
        .clone();
    let finish = ["device", "add-card", "--keystore", &ks_s];
    let o = run(&[&finish[..], &["--pending", &pending, "--otp", &code]].concat()).await;
    assert!(o.status.success(), "{}", text(&o));

    // A sync tells the wallet where the device is.
    let o = run(&[
        "device",
        "sync",
        "--keystore",
        &ks_s,
        "--lat",
        "30.2590",
        "--lon",
        "120.1483",
        "--place",
        "West Lake, Hangzhou",
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    wait_for_place(&url, &token, &device_id, "sync", "West Lake, Hangzhou").await;

    let o = run(&["device", "cards", "--keystore", &ks_s]).await;
    assert!(o.status.success());
    let cards = text(&o);
    assert_eq!(cards.matches("card •••• ").count(), 2, "{cards}");
    assert!(cards.contains(&green.last4) && cards.contains(yellow.pan.last4()));
    assert_no_card_numbers(&cards);

    // The secure element file holds no card number, token number or key in clear.
    let bytes = std::fs::read(&ks).unwrap();
    let lossy = String::from_utf8_lossy(&bytes);
    assert!(!lossy.contains(&green.pan) && !lossy.contains(yellow.pan.expose()));
    assert!(!lossy.contains("icc_mk") && !lossy.contains("token_pan") && !lossy.contains("629"));

    // A verified tap: approved, ARPC checked by the card.
    let tap = ["--keystore", &ks_s];
    let verified = ["--keystore", &ks_s, "--verified"];
    let cny = ["--currency", "CNY", "--keystore", &ks_s, "--verified"];
    let o = charge(&switch, "12.50", "Hema Fresh", &cny).await;
    let r = text(&o);
    assert_eq!(o.status.code(), Some(0), "{r}");
    assert!(
        r.contains("APPROVED") && r.contains("response 00") && r.contains("ARPC checked: yes"),
        "{r}"
    );
    assert!(r.contains("12.50 CNY") && r.contains("Hema Fresh"), "{r}");
    assert!(r.contains("owner verified: yes, on the device"), "{r}");
    assert_no_card_numbers(&r);
    // The device tapped in the POS's process told the wallet where it paid:
    // the place its last sync gave it.
    wait_for_place(&url, &token, &device_id, "payment", "West Lake, Hangzhou").await;

    // Without the fingerprint, up to the card's no-CVM limit (300.00 CNY):
    // the low-value path, approved.
    let o = charge(&switch, "12.50", "Hema Fresh", &tap).await;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(
            "owner verified: no, not needed: 12.50 CNY is within the no-CVM limit of 300.00 CNY"
        ),
        "{}",
        text(&o)
    );
    // Above it: "see phone", nothing sent.
    let o = charge(&switch, "500.00", "Hema Fresh", &tap).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("See phone"), "{}", text(&o));
    // A terminal with a lower no-CVM limit than the card's asks for the
    // owner on the same low-value tap: the stricter limit wins.
    let strict = ["--cvm-limit", "10.00", "--keystore", &ks_s, "--json"];
    let o = charge(&switch, "12.50", "Hema Fresh", &strict).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verification"], "required", "{}", text(&o));
    assert_eq!(v["no_cvm_limit_minor"], 1000);

    // Beyond the card's limit: declined by the bank with its code.
    let o = charge(&switch, "3000.00", "Hema Fresh", &verified).await;
    let r = text(&o);
    assert_eq!(o.status.code(), Some(1), "{r}");
    assert!(r.contains("DECLINED") && r.contains("response 61"), "{r}");

    // The NFC field over TCP: the device in one process, the POS in another;
    // the same process keeps the wallet's command channel open.
    let mut field = device_command()
        .args([
            "device",
            "field",
            "--keystore",
            &ks_s,
            "--listen",
            "127.0.0.1:0",
            "--verified",
            "--commands",
            "--lat",
            "31.2222",
            "--lon",
            "121.4581",
            "--place",
            "Metro Kiosk, Jing'an",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = field.stdout.take().unwrap();
    let (addr, lines) = blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next().unwrap().unwrap();
        (
            first
                .strip_prefix("nfc field: ")
                .expect("field address printed")
                .to_owned(),
            lines,
        )
    })
    .await;
    let o = charge(&switch, "8.80", "Metro Kiosk", &["--nfc", &addr, "--json"]).await;
    let r = text(&o);
    assert_eq!(o.status.code(), Some(0), "{r}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["approved"], true);
    assert_eq!(v["arpc"], "verified");
    assert_eq!(v["verification"], "owner_verified");
    assert_eq!(v["amount"]["minor"], 880);
    // While it serves the field, the phone obeys "locate".
    let locate = client.send_command(&device_id, "locate").await.unwrap();
    let (tap_line, located) = blocking(move || {
        let (mut tap, mut located) = (None, None);
        for l in lines.map_while(Result::ok) {
            if l.starts_with("tap:") {
                tap = Some(l);
            } else if l.starts_with("locate:") {
                located = Some(l);
            }
            if tap.is_some() && located.is_some() {
                break;
            }
        }
        (tap, located)
    })
    .await;
    let located = located.unwrap_or_default();
    assert!(
        located.contains("locate: reported Metro Kiosk, Jing'an"),
        "{located}"
    );
    let answered = client.commands(&device_id).await.unwrap();
    let c = answered.iter().find(|c| c.id == locate.id).unwrap();
    assert_eq!(c.state, "acknowledged", "{c:?}");
    // The payment told the wallet where the device paid (reported after the tap).
    wait_for_place(&url, &token, &device_id, "payment", "Metro Kiosk, Jing'an").await;
    field.kill().unwrap();
    let _ = field.wait();
    // Showing a code to a register is paying too: the wallet hears where.
    let o = run(&[
        "device",
        "heartbeat",
        "--keystore",
        &ks_s,
        "--lat",
        "31.1880",
        "--lon",
        "121.4370",
        "--place",
        "Tea House, Xuhui",
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&[
        "device",
        "show",
        "--keystore",
        &ks_s,
        "--verified",
        "--json",
    ])
    .await;
    assert!(o.status.success(), "{}", text(&o));
    wait_for_place(&url, &token, &device_id, "payment", "Tea House, Xuhui").await;
    let tap_line = tap_line.unwrap_or_default();
    assert!(
        tap_line.contains("ARQC") && tap_line.contains("user verified: true"),
        "{tap_line}"
    );

    // The wallet recorded the payments for the account.
    let mut n = 0;
    for _ in 0..200 {
        n = client.transactions(20).await.unwrap().len();
        if n >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(n, 4, "three approvals and one decline reached the wallet");

    // Find my device: the phone keeps its channel open and obeys.
    let mut listener = device_command()
        .args(["device", "listen", "--count", "2", "--keystore", &ks_s])
        .args(["--lat", "31.2304", "--lon", "121.4737", "--accuracy", "15"])
        .args(["--place", "People's Square, Shanghai"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let locate = client.send_command(&device_id, "locate").await.unwrap();
    let sound = client.send_command(&device_id, "sound").await.unwrap();
    let mut stdout = listener.stdout.take().unwrap();
    let said = blocking(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    })
    .await;
    assert!(listener.wait().unwrap().success(), "{said}");
    assert!(
        said.contains("locate: reported People's Square, Shanghai (31.23040, 121.47370) ±15 m"),
        "{said}"
    );
    assert!(said.contains("beep"), "{said}");
    let list = client.commands(&device_id).await.unwrap();
    for id in [&locate.id, &sound.id] {
        let c = list.iter().find(|c| &c.id == id).unwrap();
        assert_eq!(c.state, "acknowledged", "{c:?}");
    }
    p.shutdown().await;
}

#[test]
fn up_writes_endpoints_serves_the_wallet_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let mut up = up_on_free_ports(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ep = wait_for_endpoints(&data);
    let url = ep["wallet_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"));
    assert!(
        ep["switch_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    for f in ["network.db", "wallet-cn.db", "wallet-in.db"] {
        assert!(data.join(f).exists(), "{f} created on first run");
    }
    let ks = dir.path().join("watch.se");
    let o = paytap(&[
        "device",
        "enrol",
        "--wallet",
        &url,
        "--email",
        EMAIL,
        "--password",
        PASSWORD,
        "--type",
        "watch",
        "--name",
        "watch",
        "--keystore",
        ks.to_str().unwrap(),
        "--register",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_passphrase_keystore(&ks);
    let o = paytap(&[
        "device",
        "heartbeat",
        "--keystore",
        ks.to_str().unwrap(),
        "--lat",
        "39.9",
        "--lon",
        "116.4",
        "--place",
        "Beijing",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("is active"), "{}", text(&o));
    let st = Command::new("kill")
        .args(["-TERM", &up.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = up.wait().unwrap();
    assert!(status.success(), "paytap up exits cleanly on SIGTERM");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut up.stdout.take().unwrap(), &mut out).unwrap();
    assert!(
        out.contains("wallet: http://127.0.0.1:")
            && out.contains("switch: 127.0.0.1:")
            && out.contains("stopped"),
        "{out}"
    );
}
