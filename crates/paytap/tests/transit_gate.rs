//! Transit with separate processes against `paytap up`: a band and a phone
//! with a bank card enrol, a Beijing card is issued into the band sealed to
//! its key, topped up over the operator API and paid with the phone's bank
//! card through the card network (the operator as merchant), and shown
//! with its balance and log; a top-up whose answer is lost is completed on
//! the next sync, or refunded to the bank card, paid once either way; it
//! rides through `paytap gate` (entry, exit with the fare by distance, each
//! kept with its TAC), the gate uploads (a failed upload resends the same
//! batch: counted once); its owner sees the card, its trips and top-up on
//! the wallet's API, reports the band lost there, and the gate downloads
//! the hotlist and refuses the card.

mod common;
#[path = "../src/platform.rs"]
#[allow(dead_code)]
mod platform;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{BIN, KillOnDrop, up_on_test_storage, wait_for_endpoints};
use serde_json::Value;

const EMAIL: &str = "li.na@example.com";
const PASSWORD: &str = "a long enough password";
/// The band's keystore passphrase.
const KEYSTORE_PASSPHRASE: &str = "the band's unlock passphrase";

fn paytap(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("PAYTAP_KEYSTORE_PASSPHRASE", KEYSTORE_PASSPHRASE)
        .env_remove("PAYTAP_PASSWORD")
        .stdin(Stdio::null())
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

/// The JSON a successful `--json` run printed.
fn json(args: &[&str]) -> Value {
    let o = paytap(args);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&o)))
}

/// A running platform, an enrolled band and a phone with a bank card.
struct World {
    _up: KillOnDrop,
    wallet: String,
    transit: String,
    band: String,
    phone: String,
    dir: tempfile::TempDir,
}

/// The phone's debit card's opening balance, fen.
const OPENING_BALANCE: i64 = 100_000;

/// Enrols a device of `kind`; the first one signs the account up.
fn enrol(wallet: &str, kind: &str, keystore: &str, first: bool) {
    let mut args = vec![
        "device",
        "enrol",
        "--wallet",
        wallet,
        "--email",
        EMAIL,
        "--password",
        PASSWORD,
        "--type",
        kind,
        "--name",
        kind,
        "--keystore",
        keystore,
    ];
    if first {
        args.push("--register");
    }
    let o = paytap(&args);
    assert!(o.status.success(), "{}", text(&o));
}

/// A debit card from the emulated bank, added to the phone.
fn add_bank_card(wallet: &str, phone: &str) {
    let body = format!(
        r#"{{"bank_id":"01020000","product":"debit","holder_name":"LI NA","amount_minor":{OPENING_BALANCE}}}"#
    );
    let (status, answer) = http(wallet, "POST", "/emulator/v1/cards", &body);
    assert_eq!(status, 200, "{answer}");
    let card: Value = serde_json::from_str(&answer).unwrap();
    let o = paytap(&[
        "device",
        "add-card",
        "--keystore",
        phone,
        "--pan",
        card["pan"].as_str().unwrap(),
        "--expiry",
        card["expiry"].as_str().unwrap(),
        "--cvv",
        card["cvv"].as_str().unwrap(),
        "--name",
        "LI NA",
    ]);
    assert!(o.status.success(), "{}", text(&o));
}

fn start() -> World {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = up_on_test_storage(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = KillOnDrop(up);
    let ep = wait_for_endpoints(&data);
    let wallet = ep["wallet_url"].as_str().unwrap().to_owned();
    let transit = ep["transit_url"].as_str().unwrap().to_owned();
    let band = dir.path().join("band.se").to_str().unwrap().to_owned();
    let phone = dir.path().join("phone.se").to_str().unwrap().to_owned();
    enrol(&wallet, "band", &band, true);
    enrol(&wallet, "phone", &phone, false);
    add_bank_card(&wallet, &phone);
    World {
        _up: up,
        wallet,
        transit,
        band,
        phone,
        dir,
    }
}

fn cards(w: &World) -> Value {
    json(&[
        "device",
        "transit",
        "cards",
        "--keystore",
        &w.band,
        "--json",
    ])
}

fn dir(w: &World) -> &Path {
    w.dir.path()
}

/// Issues a Beijing card to the band and loads `amount`; its number.
fn issue_and_load(w: &World, amount: &str) -> String {
    let issued = json(&[
        "device",
        "transit",
        "issue",
        "--keystore",
        &w.band,
        "--transit",
        &w.transit,
        "--operator",
        "beijing",
        "--pay-with",
        &w.phone,
        "--verified",
        "--json",
    ]);
    json(&load_args(w, &w.transit, amount));
    issued["card"]["card_number"].as_str().unwrap().to_owned()
}

/// `paytap device transit load` of `amount` on the band through
/// `transit`, paid with the phone's card, the owner's finger on it.
/// `device transit issue` of a Beijing card into `keystore`, its fee paid
/// by the device `pay_with` (default: itself), with the owner's finger
/// when `verified`.
fn issue_args<'a>(
    transit: &'a str,
    keystore: &'a str,
    pay_with: Option<&'a str>,
    verified: bool,
) -> Vec<&'a str> {
    let mut args = vec![
        "device",
        "transit",
        "issue",
        "--keystore",
        keystore,
        "--transit",
        transit,
        "--operator",
        "beijing",
        "--json",
    ];
    if let Some(payer) = pay_with {
        args.extend(["--pay-with", payer]);
    }
    if verified {
        args.push("--verified");
    }
    args
}

fn load_args<'a>(w: &'a World, transit: &'a str, amount: &'a str) -> Vec<&'a str> {
    vec![
        "device",
        "transit",
        "load",
        "--keystore",
        &w.band,
        "--transit",
        transit,
        "--amount",
        amount,
        "--pay-with",
        &w.phone,
        "--verified",
        "--json",
    ]
}

/// `paytap gate SUB` at `station` with the platform's keyring; the output.
fn gate(w: &World, sub: &str, station: &str, extra: &[&str]) -> Output {
    let data = dir(w).join("data");
    let gate_dir = dir(w).join(format!("gate-{station}"));
    let mut args = vec![
        "gate",
        sub,
        "--station",
        station,
        "--data-dir",
        data.to_str().unwrap(),
        "--gate-dir",
        gate_dir.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
    paytap(&refs)
}

fn gate_json(w: &World, sub: &str, station: &str, extra: &[&str]) -> Value {
    let o = gate(w, sub, station, extra);
    assert!(o.status.success(), "gate {sub}: {}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Reports `card` lost to the Beijing operator, unsigned or as its back
/// office (the staff key from the platform's keyring); the status code.
fn report_lost(w: &World, card: &str, signed: bool) -> u16 {
    use paytap_operator::auth::{CLIENT_HEADER, MAC_HEADER, STAFF, sign};
    let path = "/transit/v1/beijing/lost";
    let body = format!(r#"{{"card_number":"{card}"}}"#);
    let keyring =
        paytap_vault::Keyring::load(&dir(w).join("data").join(paytap_vault::KEY_FILE)).unwrap();
    let key = platform::transit::staff_api_key(&keyring, "beijing");
    let mac = sign(&key, "POST", path, body.as_bytes());
    let headers = format!("{CLIENT_HEADER}: {STAFF}\r\n{MAC_HEADER}: {mac}\r\n");
    let headers = if signed { headers.as_str() } else { "" };
    http_with(&w.transit, ("POST", path), headers, &body).0
}

/// A wallet API session of the account.
fn wallet_session(w: &World) -> String {
    let body = format!(r#"{{"login":"{EMAIL}","password":"{PASSWORD}"}}"#);
    let (status, answer) = http(&w.wallet, "POST", "/api/v1/sessions", &body);
    assert_eq!(status, 201, "{answer}");
    let v: Value = serde_json::from_str(&answer).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// `GET /api/v1/transit/cards` of the account.
fn transit_cards(w: &World, token: &str) -> Vec<Value> {
    let auth = format!("Authorization: Bearer {token}\r\n");
    let (status, answer) = http_with(&w.wallet, ("GET", "/api/v1/transit/cards"), &auth, "");
    assert_eq!(status, 200, "{answer}");
    let v: Value = serde_json::from_str(&answer).unwrap();
    v["cards"].as_array().unwrap().clone()
}

fn text_of(v: &[Value]) -> String {
    serde_json::to_string(v).unwrap()
}

/// One plain HTTP/1.1 request to `base`; the status code and the body.
fn http(base: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    http_with(base, (method, path), "", body)
}

/// [`http`] with more header lines.
fn http_with(base: &str, (method, path): (&str, &str), headers: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).unwrap().parse().unwrap();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

/// The net balance of a ledger account (credits less debits, posted).
fn account(w: &World, id: &str) -> i64 {
    let (status, body) = http(
        &w.wallet,
        "GET",
        &format!("/emulator/v1/ledger/accounts/{id}"),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["credits_posted"].as_i64().unwrap() - v["debits_posted"].as_i64().unwrap()
}

/// Every currency of the ledger sums to zero.
fn assert_ledger_balances(w: &World) {
    let (status, body) = http(&w.wallet, "GET", "/emulator/v1/ledger", "");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    for t in v["totals"].as_array().unwrap() {
        assert_eq!(t["debits_posted"], t["credits_posted"], "{t}");
        assert_eq!(t["debits_pending"], t["credits_pending"], "{t}");
    }
}

/// A proxy in front of the operators' API that forwards every request and
/// loses the answer to every one but a `GET` (the field lost after the
/// operator answered); its base URL.
fn answer_losing_proxy(transit: &str) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = transit
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let mut reader = BufReader::new(conn);
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                let end = line == "\r\n";
                if !line.to_ascii_lowercase().starts_with("connection:") {
                    head.push_str(&line);
                }
                if end {
                    break;
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let head = head.replacen("\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1);
            let mut up = std::net::TcpStream::connect(&upstream).unwrap();
            up.write_all(head.as_bytes()).unwrap();
            up.write_all(&body).unwrap();
            let mut answer = Vec::new();
            let _ = up.read_to_end(&mut answer);
            if head.starts_with("GET ") {
                let _ = reader.get_mut().write_all(&answer);
            }
            // Otherwise the rider's connection is dropped without an answer.
        }
    });
    format!("http://{addr}/")
}

#[test]
fn a_band_gets_a_beijing_card_and_tops_it_up() {
    let w = start();
    assert!(dir(&w).exists());
    let none = cards(&w);
    assert_eq!(none["cards"], serde_json::json!([]));

    // A top-up before any card is refused, clearly.
    let o = paytap(&[
        "device",
        "transit",
        "load",
        "--keystore",
        &w.band,
        "--transit",
        &w.transit,
        "--amount",
        "50.00",
    ]);
    assert!(!o.status.success());
    assert!(text(&o).contains("no transit card"), "{}", text(&o));

    // Beijing charges a card fee: the band has no bank card to pay it,
    // and the phone pays only with the owner's finger.
    let o = paytap(&issue_args(&w.transit, &w.band, None, true));
    assert!(!o.status.success(), "{}", text(&o));
    let o = paytap(&issue_args(&w.transit, &w.band, Some(&w.phone), false));
    assert!(text(&o).contains("fingerprint"), "{}", text(&o));
    assert_eq!(account(&w, "merchant:tr-beijing:settlement"), 0);
    assert_eq!(cards(&w)["cards"].as_array().map(Vec::len), Some(0));
    // Paid and issued, the answer lost: the band keeps the issue and asks
    // it again as it was; the operator answers the same card, and the fee
    // is paid once.
    let lossy = answer_losing_proxy(&w.transit);
    let o = paytap(&issue_args(&lossy, &w.band, Some(&w.phone), true));
    assert!(text(&o).contains("kept"), "{}", text(&o));
    assert_eq!(account(&w, "merchant:tr-beijing:settlement"), 2_000);
    let issued = json(&issue_args(&w.transit, &w.band, None, false));
    assert_eq!(issued["operator"], "beijing");
    assert_eq!(issued["fee"], 2_000);
    assert_eq!(issued["card"]["balance"], 0);
    // The fee went through the network to the operator as merchant: its
    // money, not the card's stored value.
    assert_eq!(account(&w, "merchant:tr-beijing:settlement"), 2_000);
    assert_eq!(account(&w, "transit:beijing:float"), 0);
    let number = issued["card"]["card_number"].as_str().unwrap().to_owned();
    assert_eq!(number.len(), 20);

    // Without the owner's finger on the phone, nothing is paid or loaded.
    let mut unverified = load_args(&w, &w.transit, "50.00");
    unverified.retain(|a| *a != "--verified");
    let o = paytap(&unverified);
    assert!(!o.status.success());
    assert!(text(&o).contains("fingerprint"), "{}", text(&o));

    let loaded = json(&load_args(&w, &w.transit, "50.00"));
    assert_eq!(loaded["balance"], 5_000);
    assert_eq!(loaded["card_number"], number.as_str());
    // The payment went through the network to the operator as merchant,
    // and on to its float.
    assert_eq!(account(&w, "merchant:tr-beijing:settlement"), 2_000);
    assert_eq!(account(&w, "transit:beijing:float"), 5_000);
    assert_ledger_balances(&w);

    // The card shows the balance and the load in its log; nothing pending.
    let c = cards(&w);
    let card = &c["cards"][0];
    assert_eq!(card["balance"], 5_000);
    assert_eq!(card["online_counter"], 1);
    assert_eq!(card["log"][0]["type"], 2);
    assert_eq!(card["log"][0]["amount"], 5_000);
    assert_eq!(c["pending_load"], Value::Null);

    // Above the operator's maximum: the card refuses to start the load and
    // nothing changes.
    let o = paytap(&load_args(&w, &w.transit, "5000.00"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("refused"), "{}", text(&o));
    assert_eq!(cards(&w)["cards"][0]["balance"], 5_000);

    // An unknown operator is a clear refusal.
    let o = paytap(&[
        "device",
        "transit",
        "issue",
        "--keystore",
        &w.band,
        "--transit",
        &w.transit,
        "--operator",
        "atlantis",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("unknown_operator"), "{}", text(&o));
}

#[test]
fn a_band_rides_through_the_gates_which_upload_and_refuse_it_once_lost() {
    let w = start();
    let card = issue_and_load(&w, "50.00");
    let keystore = ["--keystore", w.band.as_str()];

    // An exit without an entry is refused and charges nothing.
    let o = gate(&w, "tap", "105", &[keystore[0], keystore[1], "--exit"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(cards(&w)["cards"][0]["balance"], 5_000);

    // In at Pingguoyuan (101), out at Guomao (105): the fare by distance.
    let entry = gate_json(&w, "tap", "101", &keystore);
    assert_eq!(
        (entry["opened"].as_bool(), entry["fare"].as_u64()),
        (Some(true), Some(0))
    );
    let beijing = paytap_transit::TransitConfig::default_operators()
        .operator("beijing")
        .cloned()
        .unwrap();
    let fare = paytap_transit::fare::metro_fare(&beijing.metro, 101, 105).unwrap();
    assert!(fare > 0);
    let exit = gate_json(&w, "tap", "105", &[keystore[0], keystore[1], "--exit"]);
    assert_eq!(exit["fare"], fare);
    assert_eq!(exit["balance"], 5_000 - fare);
    assert_eq!(exit["card_number"], card.as_str());
    assert_eq!(cards(&w)["cards"][0]["balance"], 5_000 - fare);
    // A second entry at the same gate: its SAM's next terminal sequence.
    let second = gate_json(&w, "tap", "101", &keystore);
    assert_eq!(
        second["terminal_seq"].as_u64(),
        entry["terminal_seq"].as_u64().map(|s| s + 1)
    );
    // The band's sync tells the wallet what its card holds: every tap
    // counted, while the operator has cleared none of them yet.
    let o = paytap(&["device", "sync", "--keystore", &w.band]);
    assert!(o.status.success(), "{}", text(&o));
    let listed = transit_cards(&w, &wallet_session(&w));
    assert_eq!(
        (
            listed[0]["balance"].as_i64(),
            listed[0]["device_balance"].as_i64()
        ),
        (Some(5_000), Some(i64::from(5_000 - fare))),
        "{}",
        text_of(&listed)
    );

    // The entry gate's records are sealed: no card number in its file.
    let db = std::fs::read(dir(&w).join("gate-101/gate.db")).unwrap();
    assert!(!db.windows(card.len()).any(|win| win == card.as_bytes()));

    // The exit gate cannot reach the operator: its batch id is fixed and
    // nothing is lost; the next upload sends the same batch, counted once.
    let o = gate(&w, "upload", "105", &["--transit", "http://127.0.0.1:9/"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("sent again"), "{}", text(&o));
    let up = gate_json(&w, "upload", "105", &["--transit", &w.transit]);
    assert_eq!(
        (
            up["batches"].as_u64(),
            up["accepted"].as_u64(),
            up["unsent"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    let again = gate_json(&w, "upload", "105", &["--transit", &w.transit]);
    assert_eq!(
        (again["batches"].as_u64(), again["records"].as_u64()),
        (Some(0), Some(1))
    );
    let up = gate_json(&w, "upload", "101", &["--transit", &w.transit]);
    assert_eq!(up["accepted"], 2);

    // Clearing found nothing wrong with the card: the hotlist is empty.
    let list = gate_json(&w, "hotlist", "101", &["--transit", &w.transit]);
    assert_eq!(list["cards"], 0);

    // The owner sees the card on the web site's API as the operator
    // cleared it: the top-up, the entry and the exit with their fares.
    let token = wallet_session(&w);
    let seen = transit_cards(&w, &token);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let c = &seen[0];
    assert_eq!(
        (
            c["operator"].as_str(),
            c["status"].as_str(),
            c["device_kind"].as_str()
        ),
        (Some("beijing"), Some("active"), Some("band"))
    );
    assert_eq!(c["last_digits"].as_str(), Some(&card[card.len() - 4..]));
    assert_eq!(c["balance"], 5_000 - fare);
    let kinds: Vec<&str> = c["trips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["entry", "exit", "entry"]);
    assert_eq!(c["trips"][1]["amount"], fare);
    assert_eq!(c["top_ups"][0]["amount"], 5_000);
    assert!(
        !text_of(&seen).contains(&card),
        "the card number left the operator"
    );

    // Nobody but the operator's back office reports a card lost; the owner
    // reports the band lost in the wallet, which hotlists its card: the
    // gate downloads the hotlist and refuses it.
    assert_eq!(report_lost(&w, &card, false), 401);
    let band_id = c["device_id"].as_str().unwrap().to_owned();
    let (status, body) = http_with(
        &w.wallet,
        ("POST", &format!("/api/v1/devices/{band_id}/suspend")),
        &format!("Authorization: Bearer {token}\r\n"),
        r#"{"reason":"lost"}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(transit_cards(&w, &token)[0]["status"], "lost");
    // The back office saying so again changes nothing.
    assert_eq!(report_lost(&w, &card, true), 204);
    let list = gate_json(&w, "hotlist", "101", &["--transit", &w.transit]);
    assert_eq!(list["cards"], 1);
    let o = gate(&w, "tap", "101", &keystore);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let refused: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(refused["opened"], false);
    assert!(refused["refused"].as_str().unwrap().contains("hotlist"));
    assert_eq!(cards(&w)["cards"][0]["balance"], 5_000 - fare);
    assert_eq!(cards(&w)["cards"][0]["offline_counter"], 3);

    // The owner moves the lost card's balance onto a new Beijing card in
    // the phone: ordered on the wallet, taken by the phone's sync once
    // both gates have confirmed the hotlist with nothing left to upload.
    let issued = json(&issue_args(&w.transit, &w.phone, None, true));
    let phone_card = issued["card"]["card_number"].as_str().unwrap().to_owned();
    let listed = transit_cards(&w, &token);
    let id_on = |on_band: bool| {
        listed
            .iter()
            .find(|c| (c["device_id"] == band_id.as_str()) == on_band)
            .map(|c| c["card_id"].as_str().unwrap().to_owned())
            .expect("a card")
    };
    let (from, to) = (id_on(true), id_on(false));
    let auth = format!("Authorization: Bearer {token}\r\n");
    let (status, body) = http_with(
        &w.wallet,
        ("POST", &format!("/api/v1/transit/cards/{from}/move")),
        &auth,
        &format!(r#"{{"to_card_id":"{to}"}}"#),
    );
    assert_eq!(status, 200, "{body}");
    let order: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(order["amount"], 5_000 - fare);
    // Gate 105 has not downloaded the hotlist since the loss: the move waits.
    let sync = [
        "device",
        "transit",
        "sync",
        "--keystore",
        &w.phone,
        "--transit",
        &w.transit,
        "--json",
    ];
    let waiting = json(&sync);
    assert_eq!(waiting["moves"][0]["gates_waiting"], 1, "{waiting}");
    assert!(waiting["moves"][0]["balance"].is_null());
    gate_json(&w, "hotlist", "105", &["--transit", &w.transit]);
    let taken = json(&sync);
    assert_eq!(taken["moves"][0]["balance"], 5_000 - fare, "{taken}");
    let phone_cards = json(&[
        "device",
        "transit",
        "cards",
        "--keystore",
        &w.phone,
        "--json",
    ]);
    assert_eq!(phone_cards["cards"][0]["card_number"], phone_card.as_str());
    assert_eq!(phone_cards["cards"][0]["balance"], 5_000 - fare);
    // Once: the next sync takes nothing; the wallet shows it moved.
    assert_eq!(json(&sync)["moves"], serde_json::json!([]));
    let after = transit_cards(&w, &token);
    let band_card = after
        .iter()
        .find(|c| c["card_id"] == from.as_str())
        .unwrap();
    assert_eq!(band_card["moved"], true);
    assert_ledger_balances(&w);
}

#[test]
fn a_beijing_band_rides_in_shanghai_but_not_at_lingnan_and_not_once_lost() {
    let w = start();
    let card = issue_and_load(&w, "50.00");
    let at = |op: &'static str, exit: bool| {
        let mut a = vec!["--keystore", w.band.as_str(), "--operator", op];
        if exit {
            a.push("--exit");
        }
        a
    };
    // Lingnan Pass is no T-Union member: it takes only its own cards.
    let o = gate(&w, "tap", "601", &at("lingnan", false));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let refused: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(refused["refused"].as_str().unwrap().contains("T-Union"));

    // In at Xinzhuang (201), out at People's Square (203), Shanghai's fare.
    let entry = gate_json(&w, "tap", "201", &at("shanghai", false));
    assert_eq!(
        (entry["opened"].as_bool(), entry["fare"].as_u64()),
        (Some(true), Some(0))
    );
    let shanghai = paytap_transit::TransitConfig::default_operators()
        .operator("shanghai")
        .cloned()
        .unwrap();
    let fare = paytap_transit::fare::metro_fare(&shanghai.metro, 201, 203).unwrap();
    let exit = gate_json(&w, "tap", "203", &at("shanghai", true));
    assert_eq!(
        (exit["fare"].as_u64(), exit["card_number"].as_str()),
        (Some(u64::from(fare)), Some(card.as_str()))
    );
    assert_eq!(cards(&w)["cards"][0]["balance"], 5_000 - fare);

    // Shanghai's gates upload to Shanghai, which clears the Beijing card.
    for station in ["201", "203"] {
        let up = gate_json(
            &w,
            "upload",
            station,
            &["--operator", "shanghai", "--transit", &w.transit],
        );
        assert_eq!(
            (up["accepted"].as_u64(), up["rejected"].as_u64()),
            (Some(1), Some(0)),
            "{up}"
        );
    }

    // The rider's wallet lists the ride in Shanghai on the Beijing card,
    // naming the member whose gate took it.
    let listed = transit_cards(&w, &wallet_session(&w));
    let trips = listed[0]["trips"].as_array().unwrap();
    let away: Vec<_> = trips
        .iter()
        .filter_map(|t| t["accepted_by"]["operator"].as_str())
        .collect();
    assert_eq!(away, ["shanghai", "shanghai"], "{}", text_of(&listed));
    assert_eq!(
        trips[0]["accepted_by"]["name"],
        shanghai.name.as_str(),
        "{}",
        text_of(&listed)
    );

    // Beijing hotlists the card; Shanghai's gate downloads it and refuses it.
    assert_eq!(report_lost(&w, &card, true), 204);
    let list = gate_json(
        &w,
        "hotlist",
        "201",
        &["--operator", "shanghai", "--transit", &w.transit],
    );
    assert_eq!(list["cards"], 1);
    let o = gate(&w, "tap", "201", &at("shanghai", false));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let refused: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(refused["refused"].as_str().unwrap().contains("hotlist"));
    assert_eq!(cards(&w)["cards"][0]["balance"], 5_000 - fare);
    assert_ledger_balances(&w);
}

#[test]
fn a_top_up_whose_answer_is_lost_is_completed_or_refunded_and_paid_once() {
    let w = start();
    issue_and_load(&w, "10.00");
    let lossy = answer_losing_proxy(&w.transit);
    let transit = w.transit.clone();
    let sync = |what: &str| {
        json(&[
            "device",
            "transit",
            what,
            "--keystore",
            &w.band,
            "--transit",
            &transit,
            "--json",
        ])
    };

    // Paid, answered, the answer lost: the card is not credited and the
    // band keeps the top-up pending; no other top-up starts meanwhile.
    let o = paytap(&load_args(&w, &lossy, "20.00"));
    assert!(!o.status.success(), "{}", text(&o));
    let c = cards(&w);
    assert_eq!(c["cards"][0]["balance"], 1_000);
    assert!(c["pending_load"].is_string(), "{c}");
    let o = paytap(&load_args(&w, &w.transit, "5.00"));
    assert!(text(&o).contains("not finished"), "{}", text(&o));
    assert_eq!(account(&w, "transit:beijing:float"), 3_000);

    // The next sync credits it in a new card session, without paying again.
    let done = sync("sync");
    assert_eq!(
        (done["outcome"].as_str(), done["amount"].as_u64()),
        (Some("credited"), Some(3_000))
    );
    assert_eq!(cards(&w)["pending_load"], Value::Null);
    assert_eq!(account(&w, "transit:beijing:float"), 3_000);
    assert_eq!(sync("sync")["outcome"], "nothing");

    // Lost again, and this time the rider cancels: the operator refunds
    // it and the network reverses the payment to the bank card.
    let o = paytap(&load_args(&w, &lossy, "7.00"));
    assert!(!o.status.success(), "{}", text(&o));
    assert_eq!(account(&w, "transit:beijing:float"), 3_700);
    let done = sync("cancel");
    assert_eq!(
        (done["outcome"].as_str(), done["amount"].as_u64()),
        (Some("refunded"), Some(700))
    );
    let c = cards(&w);
    assert_eq!(
        (c["cards"][0]["balance"].as_u64(), &c["pending_load"]),
        (Some(3_000), &Value::Null)
    );
    assert_eq!(account(&w, "transit:beijing:float"), 3_000);
    // Only the card fee stays with the operator as merchant.
    assert_eq!(account(&w, "merchant:tr-beijing:settlement"), 2_000);
    assert_ledger_balances(&w);
}
