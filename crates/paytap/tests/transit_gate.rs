//! Transit with separate processes against `paytap up`: a band enrols, a
//! Beijing card is issued into it sealed to its key, topped up from the
//! device over the operator API, and shown with its balance and log.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{BIN, KillOnDrop, up_on_free_ports, wait_for_endpoints};
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
    let up = up_on_free_ports(&data)
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
    assert!(!o.status.success());
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
    assert!(!o.status.success());
    assert!(text(&o).contains("unknown_operator"), "{}", text(&o));
}
