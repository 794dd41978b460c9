//! Scan to pay with separate processes against a running platform: a shop
//! signs up with `paytap register merchant`, prints a dynamic code as a
//! PNG with `paytap register code`, and a phone (`paytap device enrol`,
//! `add-card`) pays it with `paytap device scan --image` over the
//! acquirer's HTTP endpoint and the switch's ISO 8583. Then a static code
//! with `--amount`, and an unknown merchant, a wrong amount for a dynamic
//! code, a tampered code (bad CRC) and a scan without the owner's finger,
//! each refused with a clear error and nothing moved. The merchant's
//! settlement account holds what was paid, the wallet's history shows the
//! scanned payments, and the ledger balances. (The idempotent retry over
//! the real switch, on SQLite and PostgreSQL, is
//! `crates/network/tests/scan_pay.rs`.)
//!
//! Show to pay: the phone shows a one-time code (`paytap device show
//! --png`, only with the owner's finger), the register takes it for the
//! amount it rang up (`paytap register scan --image`) over the acquirer's
//! signed endpoint and the switch; the same key again answers the same
//! outcome, the code presented again is refused, and a merchant's code is
//! not a phone's. (Expiry, an altered time and a watch's token are
//! `crates/network/tests/show_pay.rs`.)
//!
//! The band's offline account: a band (`paytap device band open`) funded
//! with the phone's card payment to the band funding merchant, synced,
//! pays twice at a register with no network (`paytap register band
//! --image`, verified offline); a copy is refused at that register and
//! taken by a second one; both upload later (`paytap register upload`):
//! the payments settle once, the copy is caught as a double spend, the
//! band is revoked and the second register refuses it after its next
//! `band-sync`. (The settlement rules on SQLite and PostgreSQL are
//! `crates/acquirer/src/bands/tests.rs`.)

#[path = "../src/platform.rs"]
#[allow(dead_code)]
mod platform;

use std::process::{Command, Output};
use std::time::Duration;

use paytap_issuer::{IssueCard, Limits, Product};
use platform::{Platform, PlatformOptions};

const BIN: &str = env!("CARGO_BIN_EXE_paytap");
const EMAIL: &str = "li.na@example.com";
const PASSWORD: &str = "a long enough password";
const KEYSTORE_PASSPHRASE: &str = "the phone's unlock passphrase";

fn paytap(args: &[String]) -> Output {
    Command::new(BIN)
        .env("PAYTAP_KEYSTORE_PASSPHRASE", KEYSTORE_PASSPHRASE)
        .env_remove("PAYTAP_PASSWORD")
        .args(args)
        .output()
        .expect("run paytap")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn run(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || paytap(&args))
        .await
        .unwrap()
}

async fn ok(args: &[&str]) -> String {
    let o = run(args).await;
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct World {
    p: Platform,
    url: String,
    data: String,
    ks: String,
    _dir: tempfile::TempDir,
}

impl World {
    async fn credited(&self, merchant: &str) -> i64 {
        let account = format!("merchant:{merchant}:settlement");
        let b = self.p.net.ledger().balance(&account).await.unwrap();
        assert_eq!(b.debits_posted, 0);
        b.credits_posted
    }

    async fn scan(&self, extra: &[&str]) -> Output {
        let mut args = vec!["device", "scan", "--keystore", &self.ks, "--json"];
        args.extend_from_slice(extra);
        run(&args).await
    }

    async fn assert_ledger(&self) {
        let r = self.p.net.ledger().check_invariants().await.unwrap();
        for (cur, b) in &r.totals {
            assert_eq!(b.debits_posted, b.credits_posted, "{cur} posted");
            assert_eq!(b.debits_pending, b.credits_pending, "{cur} pending");
        }
    }
}

/// The platform, a shop signed up as TEA-01, and an enrolled phone with a
/// debit card of 1,000.00 CNY.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformOptions::for_tests(dir.path().join("data")))
        .await
        .unwrap();
    let url = p.wallet_url.clone();
    let data = dir.path().join("data").to_string_lossy().into_owned();
    let ks = dir.path().join("phone.se").to_string_lossy().into_owned();
    ok(&[
        "register",
        "merchant",
        "--platform",
        &url,
        "--data-dir",
        &data,
        "--json",
        "--id",
        "TEA-01",
        "--name",
        "Tea House",
        "--city",
        "Beijing",
        "--mcc",
        "5814",
    ])
    .await;
    ok(&[
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
        "Li's phone",
        "--keystore",
        &ks,
        "--register",
    ])
    .await;
    let mut req = IssueCard::new("01020000", Product::Debit, "LI NA", 100_000);
    req.limits = Some(Limits {
        single_transaction: 50_000,
        daily: 100_000,
        velocity_count: 100,
        velocity_window_secs: 3600,
        no_cvm_limit: 30_000,
    });
    let card = p.net.issue_card(req).await.unwrap();
    let expiry = card.expiry_yymm.to_string();
    ok(&[
        "device",
        "add-card",
        "--keystore",
        &ks,
        "--pan",
        card.pan.expose(),
        "--expiry",
        &expiry,
        "--cvv",
        card.cvv.expose(),
        "--name",
        "LI NA",
    ])
    .await;
    World {
        p,
        url,
        data,
        ks,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_scans_shop_codes_and_pays_through_the_platform() {
    let w = world().await;
    let png = w
        ._dir
        .path()
        .join("sale.png")
        .to_string_lossy()
        .into_owned();
    ok(&[
        "register",
        "code",
        "--merchant",
        "TEA-01",
        "--amount",
        "12.34",
        "--bill",
        "B-7",
        "--png",
        &png,
        "--platform",
        &w.url,
        "--data-dir",
        &w.data,
        "--json",
    ])
    .await;

    // A dynamic code from its PNG: paid once, the amount the code's.
    let o = w.scan(&["--image", &png, "--verified"]).await;
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["approved"], true, "{v}");
    assert_eq!(v["merchant"], "TEA-01");
    assert_eq!(v["merchant_name"], "Tea House");
    assert_eq!(v["amount_minor"], 1_234);
    assert_eq!(v["bill"], "B-7");
    assert!(
        v["transfer"].as_str().unwrap().starts_with("qr:scan-"),
        "{v}"
    );
    assert_eq!(w.credited("TEA-01").await, 1_234);

    // A static code with the amount typed.
    let fixed = ok(&[
        "register",
        "code",
        "--merchant",
        "TEA-01",
        "--platform",
        &w.url,
        "--data-dir",
        &w.data,
        "--json",
    ])
    .await;
    let fixed: serde_json::Value = serde_json::from_str(&fixed).unwrap();
    let fixed = fixed["payload"].as_str().unwrap().to_owned();
    let o = w
        .scan(&["--payload", &fixed, "--amount", "8.80", "--verified"])
        .await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(w.credited("TEA-01").await, 1_234 + 880);
    // A static code without an amount, and nobody at a terminal to ask.
    let o = w.scan(&["--payload", &fixed, "--verified"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("give --amount"), "{}", text(&o));

    // Refusals: nothing moves.
    let mut other = paytap_acquirer::Merchant {
        spec: paytap_acquirer::MerchantSpec {
            id: "NOBODY".into(),
            name: "Nobody".into(),
            city: "Beijing".into(),
            mcc: "5814".into(),
            currency: paytap_types::Currency::CNY,
            country: "CN".into(),
        },
        acquirer: paytap_types::DEMO_ACQUIRER_ID.into(),
        account: String::new(),
        created_at: 0,
    };
    let unknown = other.dynamic_code(500, "B-8").unwrap();
    let o = w.scan(&["--payload", &unknown, "--verified"]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = text(&o);
    assert!(
        said.contains("no merchant") && said.contains("NOBODY"),
        "{said}"
    );
    assert!(said.contains("unknown_merchant"), "{said}");

    other.spec.id = "TEA-01".into();
    let sale = other.dynamic_code(500, "B-9").unwrap();
    let o = w
        .scan(&["--payload", &sale, "--amount", "4.99", "--verified"])
        .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("the code asks for CNY 5.00, not CNY 4.99"),
        "{}",
        text(&o)
    );

    let tampered = sale.replacen("0103B-9", "0103B-0", 1);
    assert_ne!(tampered, sale);
    let o = w.scan(&["--payload", &tampered, "--verified"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("CRC"), "{}", text(&o));

    let o = w.scan(&["--payload", &sale]).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("fingerprint"), "{}", text(&o));
    assert_eq!(w.credited("TEA-01").await, 1_234 + 880);
    // A watch has no camera.
    let watch = w
        ._dir
        .path()
        .join("watch.se")
        .to_string_lossy()
        .into_owned();
    ok(&[
        "device",
        "enrol",
        "--wallet",
        &w.url,
        "--email",
        EMAIL,
        "--password",
        PASSWORD,
        "--type",
        "watch",
        "--name",
        "Li's watch",
        "--keystore",
        &watch,
    ])
    .await;
    let o = run(&[
        "device",
        "scan",
        "--keystore",
        &watch,
        "--payload",
        &sale,
        "--verified",
    ])
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no camera"), "{}", text(&o));

    // The phone's post is retried as it was sent (its answer was lost):
    // the stored outcome, the money moved once; the same cryptogram under
    // another key is refused by the token service as a replay.
    let sale = other.dynamic_code(250, "B-10").unwrap();
    let ks = w.ks.clone();
    let chip = tokio::task::spawn_blocking(move || {
        let key = paytap_device::KeystoreKey::Passphrase(paytap_types::Secret::new(
            KEYSTORE_PASSPHRASE.to_owned(),
        ));
        let mut phone = paytap_device::Device::open(std::path::Path::new(&ks), &key).unwrap();
        let owner = phone.owner_finger();
        let date = paytap_emv::TxnDate {
            yy: 26,
            mm: 12,
            dd: 7,
        };
        let amount = paytap_types::Money::new(250, paytap_types::Currency::CNY);
        paytap_device::scan::make_cryptogram(&mut phone, Some(&owner), amount, date, [1, 2, 3, 4])
            .unwrap()
    })
    .await
    .unwrap();
    let post =
        |key: &'static str| paytap_device::scan::post_payment(&w.url, key, &sale, 250, &chip);
    let first = post("retry-1").await.unwrap();
    assert!(first.approved, "{first:?}");
    assert_eq!(w.credited("TEA-01").await, 1_234 + 880 + 250);
    assert_eq!(post("retry-1").await.unwrap(), first);
    assert_eq!(w.credited("TEA-01").await, 1_234 + 880 + 250);
    let replay = post("retry-2").await.unwrap();
    assert!(!replay.approved, "{replay:?}");
    assert_eq!(w.credited("TEA-01").await, 1_234 + 880 + 250);
    // Over HTTP, a tampered code is a 422 that names the CRC.
    let bad = post_raw(&w.url, "retry-3", &tampered, &chip).await;
    assert_eq!(bad.0, 422, "{}", bad.1);
    assert!(
        bad.1.contains("bad_code") && bad.1.contains("CRC"),
        "{}",
        bad.1
    );

    // The wallet's history shows the scanned payments, as it shows taps
    // (the replay's decline too).
    let mut client = paytap_device::WalletClient::new(&w.url).unwrap();
    client.login(EMAIL, PASSWORD).await.unwrap();
    let mut items = Vec::new();
    for _ in 0..200 {
        items = client.transactions(20).await.unwrap();
        if items.len() >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(items.len(), 4, "{items:?}");
    assert!(items.iter().all(|i| i.merchant_name == "Tea House"));
    assert_eq!(items.iter().filter(|i| i.approved).count(), 3, "{items:?}");
    w.assert_ledger().await;
}

/// Posts a payment for `code` with `chip` and answers the status and body.
async fn post_raw(
    url: &str,
    key: &str,
    code: &str,
    chip: &paytap_device::scan::ScanCryptogram,
) -> (u16, String) {
    let body = serde_json::json!({
        "idempotency_key": key,
        "code": code,
        "amount_minor": 250,
        "token": chip.token.expose().as_str(),
        "expiry": chip.expiry_yymm,
        "psn": chip.psn,
        "track2": chip.track2.expose().as_str(),
        "icc_data": hex::encode(&chip.icc_data),
    });
    let r = reqwest::Client::new()
        .post(format!(
            "{}/acquirer/v1/qr-payments",
            url.trim_end_matches('/')
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

impl World {
    async fn register_scan(&self, extra: &[&str]) -> Output {
        let mut args = vec![
            "register",
            "scan",
            "--merchant",
            "TEA-01",
            "--platform",
            &self.url,
            "--data-dir",
            &self.data,
            "--json",
        ];
        args.extend_from_slice(extra);
        run(&args).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_shows_a_code_and_the_register_takes_it() {
    let w = world().await;
    let png = w
        ._dir
        .path()
        .join("show.png")
        .to_string_lossy()
        .into_owned();
    let show = [
        "device",
        "show",
        "--keystore",
        &w.ks,
        "--json",
        "--png",
        &png,
    ];

    // Without the owner's finger the secure element makes no code.
    let o = run(&show).await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("fingerprint"), "{}", text(&o));

    let mut verified = show.to_vec();
    verified.push("--verified");
    let shown: serde_json::Value = serde_json::from_str(&ok(&verified).await).unwrap();
    let payload = shown["payload"].as_str().unwrap().to_owned();
    assert_eq!(
        shown["expires_at"].as_i64().unwrap() - shown["made_at"].as_i64().unwrap(),
        60
    );

    // The register reads the code from its image and takes 8.80.
    let o = w
        .register_scan(&["--amount", "8.80", "--image", &png, "--key", "till-1"])
        .await;
    assert!(o.status.success(), "{}", text(&o));
    let first: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(first["approved"], true, "{first}");
    assert_eq!(first["amount_minor"], 880);
    assert_eq!(first["transfer"], "qr:till-1");
    assert_eq!(w.credited("TEA-01").await, 880);

    // The register sends it again (it heard no answer): the same outcome.
    let o = w
        .register_scan(&["--amount", "8.80", "--payload", &payload, "--key", "till-1"])
        .await;
    assert!(o.status.success(), "{}", text(&o));
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again, first);

    // The code presented again, as another sale: refused, nothing moved.
    let o = w
        .register_scan(&["--amount", "8.80", "--payload", &payload, "--key", "till-2"])
        .await;
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("presented before"), "{}", text(&o));

    // A merchant's code is not a phone's: refused before anything is sent.
    let merchant_code = ok(&[
        "register",
        "code",
        "--merchant",
        "TEA-01",
        "--platform",
        &w.url,
        "--data-dir",
        &w.data,
        "--json",
    ])
    .await;
    let merchant_code: serde_json::Value = serde_json::from_str(&merchant_code).unwrap();
    let o = w
        .register_scan(&[
            "--amount",
            "1.00",
            "--payload",
            merchant_code["payload"].as_str().unwrap(),
        ])
        .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("not a paytap phone's payment code"),
        "{}",
        text(&o)
    );
    assert_eq!(w.credited("TEA-01").await, 880);

    // The wallet's history shows the payment.
    let mut client = paytap_device::WalletClient::new(&w.url).unwrap();
    client.login(EMAIL, PASSWORD).await.unwrap();
    let mut items = Vec::new();
    for _ in 0..200 {
        items = client.transactions(20).await.unwrap();
        if !items.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(
        items[0].approved && items[0].merchant_name == "Tea House",
        "{items:?}"
    );
    w.assert_ledger().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_queues_what_it_could_not_send_and_uploads_it_once() {
    let w = world().await;
    let reg = w._dir.path().join("till").to_string_lossy().into_owned();
    let shown = ok(&[
        "device",
        "show",
        "--keystore",
        &w.ks,
        "--json",
        "--verified",
    ])
    .await;
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let payload = shown["payload"].as_str().unwrap().to_owned();

    // The acquirer cannot be reached: the payment waits in the queue.
    let dead = "http://127.0.0.1:9";
    let o = run(&[
        "register",
        "scan",
        "--merchant",
        "TEA-01",
        "--platform",
        dead,
        "--data-dir",
        &w.data,
        "--amount",
        "5.60",
        "--payload",
        &payload,
        "--key",
        "off-1",
        "--register-dir",
        &reg,
    ])
    .await;
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("register upload"), "{}", text(&o));
    assert_eq!(w.credited("TEA-01").await, 0);
    // Uploading while the acquirer is still unreachable keeps it queued.
    let upload = |platform: &str| {
        let args: Vec<String> = [
            "register",
            "upload",
            "--platform",
            platform,
            "--data-dir",
            &w.data,
            "--register-dir",
            &reg,
            "--json",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        async move {
            tokio::task::spawn_blocking(move || paytap(&args))
                .await
                .unwrap()
        }
    };
    let o = upload(dead).await;
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));

    // Online again: one batch, the payment taken once.
    let o = upload(&w.url).await;
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"batches": 1, "paid": 1, "refused": 0, "double_spends": 0, "waiting": 0})
    );
    assert_eq!(w.credited("TEA-01").await, 560);
    // Nothing left: a second upload sends nothing.
    let o = upload(&w.url).await;
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["batches"], 0);

    // Sent directly with the same key (the register's retry), the stored outcome.
    let o = w
        .register_scan(&["--amount", "5.60", "--payload", &payload, "--key", "off-1"])
        .await;
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(w.credited("TEA-01").await, 560);
    w.assert_ledger().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_band_pays_offline_and_the_registers_upload_later() {
    let w = world().await;
    let dir = w._dir.path().to_owned();
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (band, till_1, till_2) = (path("band.se"), path("till-1"), path("till-2"));
    let conn = [
        "--platform",
        w.url.as_str(),
        "--data-dir",
        w.data.as_str(),
        "--json",
    ];
    let json = |out: String| serde_json::from_str::<serde_json::Value>(&out).unwrap();
    ok(&joined(
        &[
            "register",
            "merchant",
            "--id",
            "PAYTAP-BANDS",
            "--name",
            "paytap bands",
            "--city",
            "Beijing",
            "--mcc",
            "6540",
        ],
        &conn,
    ))
    .await;
    ok(&[
        "device",
        "enrol",
        "--wallet",
        &w.url,
        "--email",
        EMAIL,
        "--password",
        PASSWORD,
        "--type",
        "band",
        "--name",
        "Li's band",
        "--keystore",
        &band,
    ])
    .await;
    let opened = json(
        ok(&[
            "device",
            "band",
            "open",
            "--keystore",
            &band,
            "--limit",
            "300.00",
            "--json",
        ])
        .await,
    );
    assert_eq!(
        (
            opened["limit_minor"].as_i64(),
            opened["balance_minor"].as_i64()
        ),
        (Some(30_000), Some(0)),
        "{opened}"
    );
    let code = json(
        ok(&joined(
            &[
                "register",
                "code",
                "--merchant",
                "PAYTAP-BANDS",
                "--amount",
                "100.00",
                "--bill",
                opened["funding_reference"].as_str().unwrap(),
            ],
            &conn,
        ))
        .await,
    );
    // A payment to the funding merchant made for another band funds
    // nothing here, whoever presents its key.
    let elsewhere = json(
        ok(&joined(
            &[
                "register",
                "code",
                "--merchant",
                "PAYTAP-BANDS",
                "--amount",
                "5.00",
                "--bill",
                "BAND-0123456789abcdef",
            ],
            &conn,
        ))
        .await,
    );
    let o = w
        .scan(&[
            "--payload",
            elsewhere["payload"].as_str().unwrap(),
            "--verified",
        ])
        .await;
    assert!(o.status.success(), "{}", text(&o));
    let other: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let refused = run(&[
        "device",
        "band",
        "fund",
        "--keystore",
        &band,
        "--payment-key",
        other["idempotency_key"].as_str().unwrap(),
        "--json",
    ])
    .await;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("no_payment"), "{}", text(&refused));

    let o = w
        .scan(&["--payload", code["payload"].as_str().unwrap(), "--verified"])
        .await;
    assert!(o.status.success(), "{}", text(&o));
    let paid: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let key = paid["idempotency_key"].as_str().unwrap();
    let funded = json(
        ok(&[
            "device",
            "band",
            "fund",
            "--keystore",
            &band,
            "--payment-key",
            key,
            "--json",
        ])
        .await,
    );
    assert_eq!(funded["balance_minor"], 10_000, "{funded}");
    let synced = json(ok(&["device", "band", "sync", "--keystore", &band, "--json"]).await);
    assert_eq!(
        synced["limit_minor"], 10_000,
        "the funds cover less than the limit: {synced}"
    );
    for till in [&till_1, &till_2] {
        online("band-sync", till, &conn).await;
    }

    // Offline: two codes at till 1, read from their images.
    let mut pngs = Vec::new();
    for (n, amount) in [(1, "12.00"), (2, "8.50")] {
        let png = path(&format!("band-{n}.png"));
        ok(&[
            "device",
            "band",
            "code",
            "--keystore",
            &band,
            "--amount",
            amount,
            "--png",
            &png,
            "--json",
        ])
        .await;
        let took = json(
            ok(&[
                "register",
                "band",
                "--register-dir",
                &till_1,
                "--merchant",
                "TEA-01",
                "--amount",
                amount,
                "--image",
                &png,
                "--json",
            ])
            .await,
        );
        assert_eq!(took["accepted"], true, "{took}");
        pngs.push(png);
    }
    let again = run(&[
        "register",
        "band",
        "--register-dir",
        &till_1,
        "--merchant",
        "TEA-01",
        "--amount",
        "8.50",
        "--image",
        &pngs[1],
        "--json",
    ])
    .await;
    assert_eq!(
        again.status.code(),
        Some(1),
        "a copy at the same till: {}",
        text(&again)
    );
    assert!(text(&again).contains("replayed"), "{}", text(&again));
    let copy = json(
        ok(&[
            "register",
            "band",
            "--register-dir",
            &till_2,
            "--register-id",
            "till-2",
            "--merchant",
            "TEA-01",
            "--amount",
            "8.50",
            "--image",
            &pngs[1],
            "--json",
        ])
        .await,
    );
    assert_eq!(
        copy["accepted"], true,
        "another till has not seen it: {copy}"
    );

    // Online again: each till uploads; the owner's live feed hears each
    // operation as it settles.
    let feed = live_feed(&w.url, &session(&w.url, EMAIL, false).await).await;
    let first = online("upload", &till_1, &conn).await;
    assert_eq!(
        (
            first["paid"].as_i64(),
            first["double_spends"].as_i64(),
            first["waiting"].as_i64()
        ),
        (Some(2), Some(0), Some(0)),
        "{first}"
    );
    let again = online("upload", &till_1, &conn).await;
    assert_eq!(again["batches"], 0, "nothing is uploaded twice: {again}");
    let second = online("upload", &till_2, &conn).await;
    assert_eq!(second["double_spends"], 1, "{second}");
    assert_eq!(
        w.credited("TEA-01").await,
        1_200 + 850 + 850,
        "the copy paid from the band's funds"
    );
    let status = json(ok(&["device", "band", "status", "--keystore", &band, "--json"]).await);
    assert_eq!(status["account"]["status"], "revoked", "{status}");
    band_payments_in_the_history(&w.url).await;
    let heard = band_events(feed, 3).await;
    assert!(
        heard
            .iter()
            .all(|e| e["channel"] == "band" && e["kind"] == "offline_qr"),
        "{heard:?}"
    );
    assert_eq!(
        heard
            .iter()
            .filter(|e| e["band_outcome"] == "double_spend")
            .count(),
        1,
        "{heard:?}"
    );
    assert_eq!(
        status["account"]["balance_minor"],
        10_000 - 2_900,
        "{status}"
    );

    // The revocation list reaches till 2: the band's next code is refused.
    let listed = online("band-sync", &till_2, &conn).await;
    assert_eq!(listed["revoked"], 1, "{listed}");
    let next = json(
        ok(&[
            "device",
            "band",
            "code",
            "--keystore",
            &band,
            "--amount",
            "1.00",
            "--json",
        ])
        .await,
    );
    let refused = run(&[
        "register",
        "band",
        "--register-dir",
        &till_2,
        "--merchant",
        "TEA-01",
        "--amount",
        "1.00",
        "--payload",
        next["payload"].as_str().unwrap(),
        "--json",
    ])
    .await;
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("revoked"), "{}", text(&refused));
    w.assert_ledger().await;
}

/// A wallet session's token for `login`, registering the account first
/// when `register` says so.
async fn session(url: &str, login: &str, register: bool) -> String {
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}{path}", url.trim_end_matches('/'));
    let body = serde_json::json!({"login": login, "password": PASSWORD, "display_name": "Wang"});
    if register {
        let r = http.post(api("/api/v1/accounts")).json(&body).send().await;
        assert_eq!(r.unwrap().status().as_u16(), 201);
    }
    let r = http.post(api("/api/v1/sessions")).json(&body).send().await;
    let v: serde_json::Value = r.unwrap().json().await.unwrap();
    v["token"].as_str().expect("a session").to_owned()
}

/// The account's history (`GET /api/v1/transactions`), newest first.
async fn history(url: &str, token: &str) -> Vec<serde_json::Value> {
    let r = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/transactions?limit=100",
            url.trim_end_matches('/')
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    v["items"].as_array().unwrap().clone()
}

/// Li's history holds the band's three uploaded payments (the copy a
/// double spend) beside the card payment that funded it; another
/// account's holds none of them.
/// The account's live payment feed (`GET /api/v1/events`), open.
async fn live_feed(url: &str, token: &str) -> reqwest::Response {
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/events", url.trim_end_matches('/')))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r
}

/// The first `n` band payments the feed sends (each event's JSON).
async fn band_events(mut feed: reqwest::Response, n: usize) -> Vec<serde_json::Value> {
    let mut text = String::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let events = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
            .filter(|e| e["channel"] == "band")
            .collect()
    };
    while events(&text).len() < n {
        let chunk = tokio::time::timeout_at(deadline.into(), feed.chunk())
            .await
            .expect("the live feed heard no band payment")
            .unwrap()
            .expect("the live feed ended");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    events(&text)
}

async fn band_payments_in_the_history(url: &str) {
    let items = history(url, &session(url, EMAIL, false).await).await;
    let band: Vec<_> = items.iter().filter(|i| i["channel"] == "band").collect();
    let seen: Vec<_> = band
        .iter()
        .map(|i| {
            let outcome = i["band_outcome"].as_str().unwrap();
            (
                i["merchant_id"].as_str().unwrap(),
                i["amount"]["minor"].as_i64().unwrap(),
                outcome,
            )
        })
        .collect();
    for want in [
        ("TEA-01", 1_200, "paid"),
        ("TEA-01", 850, "paid"),
        ("TEA-01", 850, "double_spend"),
    ] {
        assert!(seen.contains(&want), "{want:?} in {seen:?}");
    }
    assert_eq!(band.len(), 3, "{items:?}");
    let copy = band
        .iter()
        .find(|i| i["band_outcome"] == "double_spend")
        .unwrap();
    assert_eq!(copy["reason"], "same_code_elsewhere", "{copy}");
    assert_eq!(copy["terminal_id"], "TEA-01/till-2", "{copy}");
    assert!(
        band.iter()
            .all(|i| i["kind"] == "offline_qr" && i["device_id"] == band[0]["device_id"])
    );
    assert!(
        items
            .iter()
            .any(|i| i["channel"] == "card" && i["merchant_id"] == "PAYTAP-BANDS"),
        "the card payment that funded the band: {items:?}"
    );
    let times: Vec<i64> = items.iter().map(|i| i["at"].as_i64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    let theirs = history(url, &session(url, "wang.fang@example.com", true).await).await;
    assert!(theirs.is_empty(), "{theirs:?}");
}

/// `paytap register CMD --register-dir DIR` online, its JSON answer.
async fn online(cmd: &str, dir: &str, conn: &[&str]) -> serde_json::Value {
    let out = ok(&joined(&["register", cmd, "--register-dir", dir], conn)).await;
    serde_json::from_str(&out).unwrap()
}

/// A command's arguments and then the connection's.
fn joined<'a>(args: &[&'a str], conn: &[&'a str]) -> Vec<&'a str> {
    [args, conn].concat()
}
