//! `paytap tools transit`: the published PBOC purse vectors, named-field load and
//! purchase commands, and clear failures on bad input.

mod common;

use common::ok;

fn last_word(s: &str) -> &str {
    s.split_whitespace().last().unwrap_or("")
}

fn fails(args: &[&str], needle: &str) {
    let err = common::fails(args, None);
    assert!(err.contains(needle), "{args:?}: {err}");
}

const KEY: &str = "11223344556677888877665544332211";

fn t<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["tools", "transit"];
    v.extend_from_slice(args);
    v
}

#[test]
fn published_vectors_by_hand() {
    assert_eq!(
        ok(
            &t(&["session-key", "--key", KEY, "--data", "1122334400008000"]),
            None
        ),
        "9B1D924E05595603"
    );
    assert_eq!(
        ok(
            &t(&["session-key", "--key", KEY, "--data", "1122334400000001"]),
            None
        ),
        "003238ABC57659DD"
    );
    assert_eq!(
        ok(
            &t(&[
                "mac",
                "--session-key",
                "9B1D924E05595603",
                "--data",
                "000000000000100001001122334455"
            ]),
            None
        ),
        "2988AE5A"
    );
    assert_eq!(
        ok(
            &t(&[
                "mac",
                "--session-key",
                "9B1D924E05595603",
                "--data",
                "000010000100112233445520111221214822"
            ]),
            None
        ),
        "3A845BF0"
    );
    let j: serde_json::Value = serde_json::from_str(&ok(
        &t(&[
            "mac",
            "--session-key",
            "9B1D924E05595603",
            "--data",
            "000000000000100001001122334455",
            "--json",
        ]),
        None,
    ))
    .unwrap();
    assert_eq!(j["mac"], "2988AE5A");
}

#[test]
fn tac_is_the_mac_under_left_xor_right() {
    // Halves 1122334455667788 ⊕ 8877665544332211 = 9955551111555599.
    let tac = ok(
        &t(&[
            "tac",
            "--key",
            KEY,
            "--data",
            "000010000100112233445520111221214822",
        ]),
        None,
    );
    let mac = ok(
        &t(&[
            "mac",
            "--session-key",
            "9955551111555599",
            "--data",
            "000010000100112233445520111221214822",
        ]),
        None,
    );
    assert_eq!(tac, mac);
}

#[test]
fn load_from_named_fields() {
    let args = t(&[
        "load",
        "--key",
        KEY,
        "--tac-key",
        KEY,
        "--random",
        "11223344",
        "--online-counter",
        "0000",
        "--balance",
        "0",
        "--amount",
        "4096",
        "--type",
        "01",
        "--terminal",
        "001122334455",
        "--date",
        "20111221",
        "--time",
        "214822",
    ]);
    let out = ok(&args, None);
    assert!(out.contains("session_key 9B1D924E05595603"), "{out}");
    assert!(out.contains("mac1 2988AE5A"), "{out}");
    assert!(out.contains("mac2 3A845BF0"), "{out}");
    // TAC over new balance 00001000 ‖ counter 0000 ‖ amount ‖ type ‖ terminal ‖ date ‖ time.
    let tac = ok(
        &t(&[
            "tac",
            "--key",
            KEY,
            "--data",
            "000010000000000010000100112233445520111221214822",
        ]),
        None,
    );
    assert_eq!(last_word(&out), tac);
    let mut json_args = args.clone();
    json_args.push("--json");
    let j: serde_json::Value = serde_json::from_str(&ok(&json_args, None)).unwrap();
    assert_eq!(
        (j["mac1"].as_str(), j["mac2"].as_str(), j["tac"].as_str()),
        (Some("2988AE5A"), Some("3A845BF0"), Some(tac.as_str()))
    );
}

#[test]
fn purchase_from_named_fields() {
    let out = ok(
        &t(&[
            "purchase",
            "--key",
            KEY,
            "--tac-key",
            KEY,
            "--random",
            "11223344",
            "--offline-counter",
            "0000",
            "--terminal-seq",
            "00000001",
            "--amount",
            "4096",
            "--terminal",
            "001122334455",
            "--date",
            "20111221",
            "--time",
            "214822",
        ]),
        None,
    );
    assert!(out.contains("session_key 003238ABC57659DD"), "{out}");
    let mac1 = ok(
        &t(&[
            "mac",
            "--session-key",
            "003238ABC57659DD",
            "--data",
            "000010000600112233445520111221214822",
        ]),
        None,
    );
    let mac2 = ok(
        &t(&[
            "mac",
            "--session-key",
            "003238ABC57659DD",
            "--data",
            "00001000",
        ]),
        None,
    );
    let tac = ok(
        &t(&[
            "tac",
            "--key",
            KEY,
            "--data",
            "00001000060011223344550000000120111221214822",
        ]),
        None,
    );
    assert!(out.contains(&format!("mac1 {mac1}")), "{out}");
    assert!(out.contains(&format!("mac2 {mac2}")), "{out}");
    assert_eq!(last_word(&out), tac);
}

#[test]
fn bad_input_is_a_clear_error() {
    fails(
        &t(&["session-key", "--key", "1122", "--data", "1122334400008000"]),
        "--key must be 32 hex digits",
    );
    fails(
        &t(&["session-key", "--key", KEY, "--data", "11223344000080"]),
        "--data must be 16 hex digits",
    );
    fails(
        &t(&["mac", "--session-key", "9B1D924E05595603", "--data", "zz"]),
        "--data is not valid hex",
    );
    fails(
        &t(&["tac", "--key", KEY, "--data", "123"]),
        "--data is not valid hex",
    );
    let base = [
        "load",
        "--key",
        KEY,
        "--random",
        "11223344",
        "--online-counter",
        "0000",
        "--amount",
        "4096",
        "--terminal",
        "001122334455",
        "--time",
        "214822",
    ];
    let mut bad_date = t(&base);
    bad_date.extend_from_slice(&["--date", "20111321", "--balance", "0"]);
    fails(&bad_date, "BCD calendar date");
    let mut bad_type = t(&base);
    bad_type.extend_from_slice(&["--date", "20111221", "--type", "06", "--balance", "0"]);
    // A load takes a load's types only: clap refuses the value and lists them.
    fails(&bad_type, "invalid value '06' for '--type <TYPE>'");
    fails(&bad_type, "[possible values: 01, 02]");
    let mut overflow = t(&base);
    overflow.extend_from_slice(&["--date", "20111221", "--balance", "4294967295"]);
    fails(&overflow, "overflows");
}
