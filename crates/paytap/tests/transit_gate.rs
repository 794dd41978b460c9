//! Transit with separate processes against `paytap up`: a band enrols, a
//! Beijing card is issued into it sealed to its key, topped up from the
//! device over the operator API, and shown with its balance and log; it
//! rides through `paytap gate` (entry, exit with the fare by distance, each
//! kept with its TAC), the gate uploads (a failed upload resends the same
//! batch: counted once), downloads the hotlist and refuses the lost card.

mod common;

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

/// A running platform and an enrolled band.
struct World {
    _up: KillOnDrop,
    transit: String,
    band: String,
    dir: tempfile::TempDir,
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
    let o = paytap(&[
        "device",
        "enrol",
        "--wallet",
        &wallet,
        "--email",
        EMAIL,
        "--password",
        PASSWORD,
        "--type",
        "band",
        "--name",
        "band",
        "--keystore",
        &band,
        "--register",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    World {
        _up: up,
        transit,
        band,
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
        "--json",
    ]);
    json(&[
        "device",
        "transit",
        "load",
        "--keystore",
        &w.band,
        "--transit",
        &w.transit,
        "--amount",
        amount,
        "--json",
    ]);
    issued["card"]["card_number"].as_str().unwrap().to_owned()
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

/// POSTs a JSON body to the operators' API with a plain HTTP/1.1 request;
/// the status code.
fn post(w: &World, path: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let host = w
        .transit
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let mut conn = std::net::TcpStream::connect(host).unwrap();
    write!(
        conn,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    answer.split(' ').nth(1).unwrap().parse().unwrap()
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
        "--json",
    ]);
    assert_eq!(issued["operator"], "beijing");
    assert_eq!(issued["card"]["balance"], 0);
    let number = issued["card"]["card_number"].as_str().unwrap().to_owned();
    assert_eq!(number.len(), 20);

    let loaded = json(&[
        "device",
        "transit",
        "load",
        "--keystore",
        &w.band,
        "--transit",
        &w.transit,
        "--amount",
        "50.00",
        "--json",
    ]);
    assert_eq!(loaded["balance"], 5_000);
    assert_eq!(loaded["card_number"], number.as_str());

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
    let o = paytap(&[
        "device",
        "transit",
        "load",
        "--keystore",
        &w.band,
        "--transit",
        &w.transit,
        "--amount",
        "5000.00",
    ]);
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

    // Reported lost: the gate downloads the hotlist and refuses the card.
    let status = post(
        &w,
        "/transit/v1/beijing/lost",
        &format!(r#"{{"card_number":"{card}"}}"#),
    );
    assert_eq!(status, 204);
    let list = gate_json(&w, "hotlist", "101", &["--transit", &w.transit]);
    assert_eq!(list["cards"], 1);
    let o = gate(&w, "tap", "101", &keystore);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let refused: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(refused["opened"], false);
    assert!(refused["refused"].as_str().unwrap().contains("hotlist"));
    assert_eq!(cards(&w)["cards"][0]["balance"], 5_000 - fare);
    assert_eq!(cards(&w)["cards"][0]["offline_counter"], 3);
}
