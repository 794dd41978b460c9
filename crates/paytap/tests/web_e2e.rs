//! The account holder's web site in a real browser: Debian's headless
//! Chromium driven through chromedriver (WebDriver) against a real
//! `paytap up` on loopback, with the emulated phone (`paytap device`) and
//! POS (`paytap pos charge`) as separate processes.
//!
//! The story: a bank issues two cards; Li registers, enrols a phone and a
//! band and adds the cards to the phone; in the browser Li signs in, sees
//! the devices and cards, turns payments off on the phone; a tap from the
//! phone is declined and the history says why; Li turns payments back on,
//! and the next tap is approved and appears on the open payments page
//! without a reload. Han, a second account, can neither see nor change
//! Li's devices, by URL or by editing a form. Screenshots of the main pages
//! go to `target/screenshots/`.
//!
//! Needs /usr/bin/chromium and /usr/bin/chromedriver: run `.ci/browser`
//! (it installs them with apt-get). Without them this test fails, saying so.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use paytap_network::paytap_issuer::{IssueCard, Product};
use paytap_network::{Network, NetworkConfig};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PW: &str = "correct horse battery";
/// Upper bound for anything the test waits on (startup, a page, a row).
const PATIENCE: Duration = Duration::from_secs(60);

/// The device keystores' passphrase (every `paytap device` and `paytap pos
/// --keystore` needs one; `paytap up` ignores it).
const KEYSTORE_PASSPHRASE: &str = "the test devices' unlock passphrase";

fn paytap() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_paytap"));
    c.env("PAYTAP_KEYSTORE_PASSPHRASE", KEYSTORE_PASSPHRASE);
    c
}

fn screenshots_dir() -> PathBuf {
    // target/<profile>/paytap -> target/screenshots
    let exe = Path::new(env!("CARGO_BIN_EXE_paytap"));
    let target = exe
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    dir
}

/// A child process killed when dropped.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            // SIGTERM first so `paytap up` can stop cleanly.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        eprintln!("stopping {} by force", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_until<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// chromedriver on a free port.
fn start_chromedriver() -> (Proc, u16) {
    for bin in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is not installed: run .ci/browser (it installs Debian's chromium and \
             chromium-driver with apt-get) before the web site's browser tests"
        );
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let proc = Proc {
        name: "chromedriver",
        child,
    };
    wait_until("chromedriver to listen", || {
        TcpStream::connect(("127.0.0.1", port)).ok()
    });
    (proc, port)
}

async fn browser(driver_port: u16) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--lang=en-US",
                "--window-size=1280,900",
                "--force-device-scale-factor=1",
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver_port}"))
        .await
        .expect("a Chromium session through chromedriver")
}

/// A card as the bank handed it to its holder.
struct BankCard {
    pan: String,
    expiry_mm_yy: String,
    cvv: String,
    bank_name: String,
    bank_name_zh: String,
}

impl BankCard {
    fn last4(&self) -> &str {
        &self.pan[self.pan.len() - 4..]
    }
}

/// The banks issue cards before the platform runs (as a bank mails a card):
/// the network is opened in-process on the data directory, two cards are
/// issued at two banks (the CNY banks with the longest and the shortest
/// names, so the card art is checked with both), and it is shut down again.
async fn issue_cards(data_dir: &Path) -> Vec<BankCard> {
    let mut config = NetworkConfig::for_data_dir(data_dir)
        .await
        .expect("network config for the data dir");
    config.switch_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut cny: Vec<_> = config
        .issuers
        .banks
        .iter()
        .filter(|b| b.currency.code() == "CNY")
        .collect();
    cny.sort_by_key(|b| std::cmp::Reverse(b.name.len()));
    let banks: Vec<(String, String, String)> = [cny.first(), cny.last()]
        .into_iter()
        .flatten()
        .map(|b| {
            let zh = b
                .name_zh
                .clone()
                .expect("every default bank has a Chinese name");
            (b.id.clone(), b.name.clone(), zh)
        })
        .collect();
    assert_eq!(banks.len(), 2, "two CNY banks in the default configuration");
    let db = config.db.clone();
    let net = Network::start(config).await.expect("network starts");
    let mut cards = Vec::new();
    for (bank_id, bank_name, bank_name_zh) in banks {
        let issued = net
            .issue_card(IssueCard::new(&bank_id, Product::Debit, "LI LEI", 500_000))
            .await
            .expect("the bank issues a card");
        cards.push(BankCard {
            pan: issued.pan.expose().to_string(),
            expiry_mm_yy: issued.expiry_yymm.to_string(),
            cvv: issued.cvv.expose().clone(),
            bank_name,
            bank_name_zh,
        });
    }
    net.shutdown().await;
    db.close().await;
    cards
}

/// `paytap up` on port 0; returns the process and (wallet URL, switch address).
fn start_platform(data_dir: &Path) -> (Proc, String, String) {
    let child = common::up_on_free_ports(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start paytap up");
    let mut proc = Proc {
        name: "paytap up",
        child,
    };
    let endpoints = data_dir.join("endpoints.json");
    let v: Value = wait_until("paytap up to write endpoints.json", || {
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("`paytap up` exited early with {status}");
        }
        let text = std::fs::read_to_string(&endpoints).ok()?;
        serde_json::from_str(&text).ok()
    });
    let wallet = v["wallet_url"]
        .as_str()
        .expect("wallet_url")
        .trim_end_matches('/')
        .to_string();
    let switch = v["switch_addr"].as_str().expect("switch_addr").to_string();
    (proc, wallet, switch)
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run paytap")
}

fn ok(cmd: &mut Command, what: &str) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{what} failed ({}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn api(
    http: &reqwest::Client,
    wallet: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, format!("{wallet}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("wallet API reachable");
    let status = resp.status().as_u16();
    let v = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, v)
}

async fn register(http: &reqwest::Client, wallet: &str, login: &str, name: &str) -> String {
    let (status, body) = api(
        http,
        wallet,
        reqwest::Method::POST,
        "/api/v1/accounts",
        None,
        Some(json!({"login": login, "password": PW, "display_name": name, "language": "en"})),
    )
    .await;
    assert_eq!(status, 201, "register {login}: {body}");
    let (status, body) = api(
        http,
        wallet,
        reqwest::Method::POST,
        "/api/v1/sessions",
        None,
        Some(json!({"login": login, "password": PW})),
    )
    .await;
    assert_eq!(status, 201, "login {login}: {body}");
    body["token"].as_str().expect("token").to_string()
}

/// `paytap pos charge` with the phone's keystore, signed with the platform's demo acquirer key (from its data directory); `true` when approved.
fn tap(switch: &str, data_dir: &Path, keystore: &Path, amount: &str, merchant: &str) -> bool {
    tap_in(switch, data_dir, keystore, (amount, "CNY"), merchant)
}

/// [`tap`] in another currency: `(amount, ISO 4217 code)`.
fn tap_in(
    switch: &str,
    data_dir: &Path,
    keystore: &Path,
    (amount, currency): (&str, &str),
    merchant: &str,
) -> bool {
    let out = run(paytap()
        .args(["pos", "charge", "--switch", switch, "--amount", amount])
        .arg("--data-dir")
        .arg(data_dir)
        .args([
            "--currency",
            currency,
            "--merchant",
            merchant,
            "--mcc",
            "5411",
        ])
        .arg("--keystore")
        .arg(keystore)
        .arg("--verified"));
    match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        other => panic!(
            "paytap pos charge failed ({other:?}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let path = screenshots_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

async fn sign_in(c: &Client, wallet: &str, login: &str) {
    c.goto(&format!("{wallet}/login")).await.unwrap();
    c.find(Locator::Css("#login"))
        .await
        .unwrap()
        .send_keys(login)
        .await
        .unwrap();
    c.find(Locator::Css("#password"))
        .await
        .unwrap()
        .send_keys(PW)
        .await
        .unwrap();
    c.find(Locator::Css("#sign-in"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(c, "/devices").await;
}

async fn wait_for_path(c: &Client, path: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let url = c.current_url().await.unwrap();
        if url.path() == path {
            return;
        }
        assert!(Instant::now() < deadline, "still at {url}, expected {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The page's text. A click that submits a form may still be loading the
/// next page (same URL) when this is called, so a missing or stale `body`
/// is waited for, up to [`PATIENCE`].
async fn body_text(c: &Client) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let attempt = async { c.find(Locator::Css("body")).await?.text().await }.await;
        match attempt {
            Ok(text) => return text,
            Err(e) => {
                assert!(Instant::now() < deadline, "page body never loaded: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Waits until the page shows `needle` (after a navigation that keeps the URL).
async fn wait_for_text(c: &Client, needle: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if body_text(c).await.contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed {needle:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn page_source(c: &Client) -> String {
    c.source().await.unwrap()
}

/// No card number in the page: none of the funding PANs, and no run of 13
/// or more digits (the shortest card or token number; ids are UUIDs, whose
/// longest digit run is 12).
fn assert_no_pan(html: &str, cards: &[BankCard]) {
    for card in cards {
        assert!(
            !html.contains(&card.pan),
            "a full card number is on the page"
        );
    }
    let mut run = 0;
    for (i, ch) in html.char_indices() {
        run = if ch.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 13 {
            let from = html.floor_char_boundary(i.saturating_sub(80));
            panic!("a 13+ digit number is on the page: ...{}", &html[from..=i]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_holder_turns_payments_off_and_on_in_a_real_browser() {
    let (_driver, driver_port) = start_chromedriver();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cards = issue_cards(&data).await;
    let (_up, wallet, switch) = start_platform(&data);
    let http = reqwest::Client::new();

    // Li: an account, a phone with both cards, a band. Han: another account
    // with a phone of his own.
    let li_token = register(&http, &wallet, "li.lei@example.com", "Li Lei").await;
    register(&http, &wallet, "han.mei@example.com", "Han Mei").await;
    let phone_ks = tmp.path().join("li-phone.keystore");
    let band_ks = tmp.path().join("li-band.keystore");
    let han_ks = tmp.path().join("han-phone.keystore");
    for (login, kind, name, ks) in [
        ("li.lei@example.com", "phone", "Li's phone", &phone_ks),
        ("li.lei@example.com", "band", "Li's band", &band_ks),
        ("han.mei@example.com", "phone", "Han's phone", &han_ks),
    ] {
        ok(
            paytap()
                .args([
                    "device",
                    "enrol",
                    "--wallet",
                    &wallet,
                    "--email",
                    login,
                    "--password",
                    PW,
                ])
                .args(["--type", kind, "--name", name, "--keystore"])
                .arg(ks),
            "paytap device enrol",
        );
    }
    for card in &cards {
        ok(
            paytap()
                .args(["device", "add-card", "--keystore"])
                .arg(&phone_ks)
                .args([
                    "--pan",
                    &card.pan,
                    "--expiry",
                    &card.expiry_mm_yy,
                    "--cvv",
                    &card.cvv,
                ])
                .args(["--name", "LI LEI"]),
            "paytap device add-card",
        );
    }
    ok(
        paytap()
            .args(["device", "sync", "--keystore"])
            .arg(&phone_ks),
        "paytap device sync",
    );
    ok(
        paytap()
            .args(["device", "heartbeat", "--keystore"])
            .arg(&phone_ks)
            .args([
                "--lat",
                "31.2304",
                "--lon",
                "121.4737",
                "--place",
                "Huangpu, Shanghai",
            ])
            .args(["--password", PW]),
        "paytap device heartbeat",
    );
    let (status, devices) = api(
        &http,
        &wallet,
        reqwest::Method::GET,
        "/api/v1/devices",
        Some(&li_token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{devices}");
    let list = devices["devices"].as_array().cloned().unwrap_or_default();
    let phone_id = list
        .iter()
        .find(|d| d["kind"] == "phone")
        .and_then(|d| d["id"].as_str())
        .expect("Li's phone in the API")
        .to_string();

    // A tap before anything: approved; one above a thousand yuan; one in
    // dollars, which the card's bank (a yuan bank) declines.
    assert!(
        tap(&switch, &data, &phone_ks, "8.80", "Corner Bakery"),
        "first tap approved"
    );
    assert!(
        tap(&switch, &data, &phone_ks, "1234.50", "Electronics Mall"),
        "a large tap approved"
    );
    assert!(
        !tap_in(&switch, &data, &phone_ks, ("20.00", "USD"), "Duty Free"),
        "a tap in dollars with a yuan card declined"
    );

    // ---- Li in the browser ------------------------------------------------
    let li = browser(driver_port).await;
    li.goto(&format!("{wallet}/login")).await.unwrap();
    shot(&li, "01-sign-in").await;
    sign_in(&li, &wallet, "li.lei@example.com").await;
    let text = body_text(&li).await;
    assert!(text.contains("Your devices"), "{text}");
    assert!(
        text.contains("Li's phone") && text.contains("Li's band"),
        "{text}"
    );
    assert!(
        text.contains("near Huangpu, Shanghai"),
        "last seen place: {text}"
    );
    for card in &cards {
        assert!(text.contains(&format!("•••• {}", card.last4())), "{text}");
        assert!(text.contains(&card.bank_name), "{text}");
    }
    assert_no_pan(&page_source(&li).await, &cards);
    shot(&li, "02-devices").await;

    li.goto(&format!("{wallet}/cards")).await.unwrap();
    assert!(body_text(&li).await.contains("Your cards"));
    assert_no_pan(&page_source(&li).await, &cards);
    shot(&li, "03-cards").await;
    check_layout(&li, &wallet, &phone_id, "desktop").await;
    check_history(&li, &wallet, &cards, Lang::En).await;
    find_my_device(&li, &wallet, &phone_id, &phone_ks).await;

    // Turn off payments on the phone, through the confirmation step, with
    // the keyboard: the first Tab reaches the skip link, Enter activates.
    li.goto(&format!("{wallet}/devices")).await.unwrap();
    let tab = char::from(Key::Tab).to_string();
    let enter = char::from(Key::Enter).to_string();
    li.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys(&tab)
        .await
        .unwrap();
    let focused = li
        .execute("return document.activeElement.className;", vec![])
        .await
        .unwrap();
    assert_eq!(focused, json!("skip"), "the skip link comes first");
    li.find(Locator::Css(&format!(
        "[data-device-id=\"{phone_id}\"] [data-action=\"turn-off\"]"
    )))
    .await
    .unwrap()
    .send_keys(&enter)
    .await
    .unwrap();
    wait_for_path(&li, &format!("/devices/{phone_id}/turn-off")).await;
    assert!(
        body_text(&li)
            .await
            .contains("Turn off payments on Li's phone?")
    );
    shot(&li, "04-turn-off-confirm").await;
    li.find(Locator::Css("#reason-lost"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    li.find(Locator::Css("#confirm-turn-off"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&li, "/devices").await;
    let text = body_text(&li).await;
    assert!(
        text.contains("Payments are turned off on Li's phone."),
        "{text}"
    );
    assert!(text.contains("Payments off: reported lost"), "{text}");
    shot(&li, "05-devices-payments-off").await;

    // Every card on the phone shows one badge, "Paused", the default one
    // too.
    li.goto(&format!("{wallet}/cards")).await.unwrap();
    wait_js(&li, PAUSED_FLAGS_SHOWN).await;
    shot(&li, "05-cards-paused").await;
    // On a phone too: the paused default card says so, inside its card.
    li.set_window_size(390, 844).await.unwrap();
    li.goto(&format!("{wallet}/cards")).await.unwrap();
    wait_js(&li, PAUSED_FLAGS_SHOWN).await;
    shot(&li, "05-cards-paused-phone-width").await;

    // A path the site does not serve: its own 404 page, at both widths.
    for (width, height, label) in [(390, 844, "phone-width"), (1280, 900, "desktop")] {
        li.set_window_size(width, height).await.unwrap();
        li.goto(&format!("{wallet}/no-such-page")).await.unwrap();
        let text = body_text(&li).await;
        assert!(text.contains("Page not found"), "{label}: {text}");
        shot(&li, &format!("05-not-found-{label}")).await;
    }

    // The phone's next tap is declined, and the history says why.
    assert!(
        !tap(&switch, &data, &phone_ks, "12.50", "Fresh Market"),
        "tap on a disabled device declined"
    );
    li.goto(&format!("{wallet}/payments")).await.unwrap();
    let row = wait_row(&li, "Fresh Market", true).await;
    assert!(row.contains("Declined"), "{row}");
    assert!(
        row.to_lowercase().contains("suspended"),
        "declined because payments are off on the device: {row}"
    );
    assert!(
        row.contains("payments are turned off on this device"),
        "in words a person understands: {row}"
    );
    assert!(row.contains("12.50") && row.contains("CNY"), "{row}");
    let declined_html = page_source(&li).await;
    assert!(declined_html.contains("data-result=\"declined\""));
    assert_no_pan(&declined_html, &cards);
    eprintln!("declined row: {row}");

    // Turn payments back on.
    li.goto(&format!("{wallet}/devices")).await.unwrap();
    li.find(Locator::Css(&format!(
        "[data-device-id=\"{phone_id}\"] [data-action=\"turn-on\"]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_for_path(&li, "/devices").await;
    wait_for_text(&li, "Payments are on again for Li's phone.").await;
    li.set_window_size(390, 844).await.unwrap();
    wait_for_text(&li, "Payments are on again for Li's phone.").await;
    shot(&li, "05-payments-on-again-phone-width").await;
    li.set_window_size(1280, 900).await.unwrap();

    // The payments page is open; the next tap appears without a reload.
    li.goto(&format!("{wallet}/payments")).await.unwrap();
    li.execute("window.__sameDocument = 'yes';", vec![])
        .await
        .unwrap();
    wait_js(
        &li,
        "return document.body.getAttribute('data-live') === 'open';",
    )
    .await;
    assert!(
        tap(&switch, &data, &phone_ks, "23.00", "Tea House"),
        "tap after turning back on approved"
    );
    let row = wait_row(&li, "Tea House", false).await;
    assert!(row.contains("Approved"), "{row}");
    let same = li
        .execute("return window.__sameDocument || 'reloaded';", vec![])
        .await
        .unwrap();
    assert_eq!(
        same,
        json!("yes"),
        "the new payment appeared without a reload"
    );
    shot(&li, "06-payments-live").await;

    // Readable on a phone-sized screen, and in Chinese.
    li.set_window_size(390, 844).await.unwrap();
    check_layout(&li, &wallet, &phone_id, "phone").await;
    check_history(&li, &wallet, &cards, Lang::En).await;
    li.goto(&format!("{wallet}/devices")).await.unwrap();
    shot(&li, "07-devices-phone-width").await;
    li.find(Locator::Css(".lang-switch button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&li, "/devices").await;
    wait_for_text(&li, "我的设备").await;
    shot(&li, "08-devices-zh-phone-width").await;
    check_layout(&li, &wallet, &phone_id, "zh-phone").await;
    check_history(&li, &wallet, &cards, Lang::Zh).await;
    li.goto(&format!("{wallet}/payments")).await.unwrap();
    shot(&li, "09-payments-zh-phone-width").await;
    li.set_window_size(1280, 900).await.unwrap();
    check_history(&li, &wallet, &cards, Lang::Zh).await;
    shot(&li, "09-payments-zh-desktop").await;
    li.close().await.unwrap();

    // ---- Han cannot see or change Li's devices ------------------------------
    let han = browser(driver_port).await;
    sign_in(&han, &wallet, "han.mei@example.com").await;
    let text = body_text(&han).await;
    assert!(text.contains("Han's phone"), "{text}");
    assert!(!text.contains("Li's phone"), "{text}");
    // By editing the URL.
    for path in [
        format!("/devices/{phone_id}"),
        format!("/devices/{phone_id}/turn-off"),
    ] {
        han.goto(&format!("{wallet}{path}")).await.unwrap();
        let text = body_text(&han).await;
        assert!(text.contains("Page not found"), "{path}: {text}");
        assert!(!text.contains("Li's phone"), "{text}");
    }
    // By editing a form: Han's own turn-off form, pointed at Li's phone.
    han.goto(&format!("{wallet}/devices")).await.unwrap();
    han.find(Locator::Css("[data-action=\"turn-off\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    han.find(Locator::Css("#turn-off-form")).await.unwrap();
    han.execute(
        "document.getElementById('turn-off-form').action = '/devices/' + arguments[0] + '/turn-off';",
        vec![json!(phone_id)],
    )
    .await
    .unwrap();
    han.find(Locator::Css("#confirm-turn-off"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&han, &format!("/devices/{phone_id}/turn-off")).await;
    assert!(body_text(&han).await.contains("Page not found"));
    shot(&han, "10-other-account-not-found").await;
    han.close().await.unwrap();

    // Li's phone is untouched: still on, and it still pays.
    let (status, dev) = api(
        &http,
        &wallet,
        reqwest::Method::GET,
        &format!("/api/v1/devices/{phone_id}"),
        Some(&li_token),
        None,
    )
    .await;
    assert_eq!(status, 200, "{dev}");
    assert_eq!(dev["status"], "active", "{dev}");
    assert!(
        tap(&switch, &data, &phone_ks, "3.50", "Newsstand"),
        "Li's phone still pays"
    );
}

/// Every card on the page shows exactly one visible badge, "Paused", the
/// default card too, and the badge lies inside its card (the card clips
/// what overflows it).
const PAUSED_FLAGS_SHOWN: &str = "const arts = [...document.querySelectorAll('.card-art')];
     return arts.length > 0
       && arts.some(a => a.getAttribute('aria-label').includes('Default'))
       && arts.every(a => {
         const shown = [...a.querySelectorAll('.ca-flag')].filter(f => f.checkVisibility());
         if (shown.length !== 1 || shown[0].textContent !== 'Paused') return false;
         const c = a.getBoundingClientRect(), f = shown[0].getBoundingClientRect();
         return f.width > 0 && f.left >= c.left && f.right <= c.right
           && f.top >= c.top && f.bottom <= c.bottom;
       });";

/// Find my device in the browser, at desktop and phone widths: the device
/// page draws the last place on its own map (an inline SVG, nothing
/// fetched), "Locate now" queues a command, the phone listening on its
/// channel answers with where it is, and the page shows the command
/// acknowledged and the new place.
async fn find_my_device(c: &Client, wallet: &str, phone_id: &str, phone_ks: &Path) {
    c.goto(&format!("{wallet}/devices/{phone_id}"))
        .await
        .unwrap();
    wait_js(
        c,
        "const m = document.querySelector('#find svg.map');
         return m !== null && m.checkVisibility() && m.getBoundingClientRect().width > 100;",
    )
    .await;
    assert!(body_text(c).await.contains("Huangpu, Shanghai"));
    let html = page_source(c).await;
    assert!(
        !html.contains("<img") && !html.contains("<script src"),
        "nothing fetched: {html}"
    );
    c.find(Locator::Css("[data-action=\"locate\"]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(c, "return document.querySelector('#commands li[data-kind=\"locate\"][data-state=\"queued\"]') !== null;").await;
    shot(c, "03-find-device-locate-queued").await;
    ok(
        paytap()
            .args(["device", "listen", "--count", "1", "--keystore"])
            .arg(phone_ks)
            .args(["--lat", "31.2397", "--lon", "121.4998", "--accuracy", "12"])
            .args(["--place", "Lujiazui, Shanghai", "--password", PW]),
        "paytap device listen",
    );
    c.goto(&format!("{wallet}/devices/{phone_id}"))
        .await
        .unwrap();
    wait_js(c, "return document.querySelector('#commands li[data-kind=\"locate\"][data-state=\"acknowledged\"]') !== null;").await;
    assert!(body_text(c).await.contains("Lujiazui, Shanghai"));
    show_find(c).await;
    shot(c, "03-find-device-desktop").await;
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{wallet}/devices/{phone_id}"))
        .await
        .unwrap();
    wait_js(
        c,
        "const m = document.querySelector('#find svg.map');
         return m !== null && m.getBoundingClientRect().right <= window.innerWidth;",
    )
    .await;
    show_find(c).await;
    shot(c, "03-find-device-phone-width").await;
    c.set_window_size(1280, 900).await.unwrap();
}

/// Scrolls the device page to its "Find my device" map, for the
/// screenshot.
async fn show_find(c: &Client) {
    c.execute(
        "document.querySelector('#find svg.map').scrollIntoView({block: 'center'});",
        vec![],
    )
    .await
    .unwrap();
}

/// Waits until a history row with `merchant` is on the page (reloading it
/// between looks when `reload`); returns the row's text.
async fn wait_row(c: &Client, merchant: &str, reload: bool) -> String {
    let script = "var rows = document.querySelectorAll('#payments-body tr'); \
                  for (var i = 0; i < rows.length; i++) { \
                    if (rows[i].textContent.indexOf(arguments[0]) >= 0) { return rows[i].innerText; } \
                  } return null;";
    let deadline = Instant::now() + PATIENCE;
    loop {
        let v = c.execute(script, vec![json!(merchant)]).await.unwrap();
        if let Some(s) = v.as_str() {
            return s.to_string();
        }
        assert!(Instant::now() < deadline, "no payment row for {merchant}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        if reload {
            c.refresh().await.unwrap();
        }
    }
}

async fn wait_js(c: &Client, script: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if c.execute(script, vec![]).await.unwrap() == json!(true) {
            return;
        }
        assert!(Instant::now() < deadline, "gave up waiting for: {script}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rectangles within this many CSS pixels are the same size.
const SAME_SIZE_PX: f64 = 0.5;

/// The layout checks, at the window's current size (`label` names the
/// screenshots): every card of one size whatever the bank's name, no badge
/// over a card's digits, and the turn-off confirmation within the first
/// screen, above the first card.
async fn check_layout(c: &Client, wallet: &str, phone_id: &str, label: &str) {
    for path in ["/devices", "/cards"] {
        c.goto(&format!("{wallet}{path}")).await.unwrap();
        let v = c
            .execute(
                "const size = (sel) => [...document.querySelectorAll(sel)].map(a => {
                   const r = a.getBoundingClientRect(); return [r.width, r.height]; });
                 const overlaps = [...document.querySelectorAll('.card-art')].filter(a => {
                   const n = a.querySelector('.ca-number').getBoundingClientRect();
                   return [...a.querySelectorAll('.ca-flag')].some(f => {
                     const r = f.getBoundingClientRect();
                     return r.width > 0 && r.left < n.right && n.left < r.right
                       && r.top < n.bottom && n.top < r.bottom; }); }).length;
                 const flags = document.querySelectorAll('.ca-flag').length;
                 return { small: size('.card-art.small'), large: size('.card-art:not(.small)'),
                          overlaps, flags };",
                vec![],
            )
            .await
            .unwrap();
        for kind in ["small", "large"] {
            let sizes: Vec<(f64, f64)> = v[kind]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (s[0].as_f64().unwrap(), s[1].as_f64().unwrap()))
                .collect();
            if let Some(first) = sizes.first() {
                assert!(
                    sizes.iter().all(|s| (s.0 - first.0).abs() < SAME_SIZE_PX
                        && (s.1 - first.1).abs() < SAME_SIZE_PX),
                    "{label} {path}: cards of different sizes: {sizes:?}"
                );
            }
        }
        assert!(
            v["flags"].as_u64().unwrap() > 0,
            "{label} {path}: a badge to check"
        );
        assert_eq!(
            v["overlaps"],
            json!(0),
            "{label} {path}: a badge covers the digits"
        );
        shot(c, &format!("11-{label}{}", path.replace('/', "-"))).await;
    }
    c.goto(&format!("{wallet}/devices/{phone_id}/turn-off"))
        .await
        .unwrap();
    let v = c
        .execute(
            "const b = document.getElementById('confirm-turn-off').getBoundingClientRect();
             const card = document.querySelector('.card-art');
             return { bottom: b.bottom, top: b.top, height: window.innerHeight,
                      card: card ? card.getBoundingClientRect().top : null };",
            vec![],
        )
        .await
        .unwrap();
    let bottom = v["bottom"].as_f64().unwrap();
    assert!(
        bottom <= v["height"].as_f64().unwrap(),
        "{label}: the confirmation needs scrolling: {v}"
    );
    if let Some(card) = v["card"].as_f64() {
        assert!(
            v["top"].as_f64().unwrap() < card,
            "{label}: the confirmation after the cards: {v}"
        );
    }
    shot(c, &format!("12-{label}-turn-off")).await;
}

/// The payments page in `lang`: amounts with thousands separators, the
/// device that paid, the decline reason in words a person understands,
/// the banks by their names in the language, and the site's icon.
async fn check_history(c: &Client, wallet: &str, cards: &[BankCard], lang: Lang) {
    c.goto(&format!("{wallet}/payments")).await.unwrap();
    let large = wait_row(c, "Electronics Mall", false).await;
    assert!(large.contains("1,234.50"), "thousands separator: {large}");
    assert!(
        large.contains("Li's phone"),
        "the device that paid: {large}"
    );
    let dollars = wait_row(c, "Duty Free", false).await;
    let (reason, network_words) = match lang {
        Lang::En => ("This card can't pay in USD", "ransaction not supported"),
        Lang::Zh => ("此卡不能用 USD 支付", "ransaction not supported"),
    };
    assert!(dollars.contains(reason), "{dollars}");
    assert!(!dollars.contains(network_words), "{dollars}");
    // The default card paid; every card is on the devices page.
    let names = |card: &BankCard| match lang {
        Lang::En => (card.bank_name.clone(), card.bank_name_zh.clone()),
        Lang::Zh => (card.bank_name_zh.clone(), card.bank_name.clone()),
    };
    let (shown, other) = names(&cards[0]);
    assert!(large.contains(&shown) && !large.contains(&other), "{large}");
    c.goto(&format!("{wallet}/devices")).await.unwrap();
    let text = body_text(c).await;
    for card in cards {
        let (shown, other) = names(card);
        assert!(text.contains(&shown), "{shown} on the devices page: {text}");
        assert!(
            !text.contains(&other),
            "{other} on the devices page: {text}"
        );
    }
    let icon = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const link = document.querySelector('link[rel=\"icon\"]');
             fetch(link.href).then(r => done(new URL(link.href).pathname + ' ' + r.status
               + ' ' + r.headers.get('content-type')));",
            vec![],
        )
        .await
        .unwrap();
    let icon = icon.as_str().unwrap_or_default();
    assert!(
        icon.starts_with("/assets/favicon.svg 200 image/svg+xml"),
        "the site's icon: {icon}"
    );
}

/// The site's languages, as the checks above expect them.
#[derive(Clone, Copy)]
enum Lang {
    En,
    Zh,
}
