//! The command line's own contract: one error prefix for clap's usage
//! errors and the commands' errors, exit code 2 for both, errors as JSON on
//! stdout under `--json`, and `--help` listing an enumeration's values.

use std::process::{Command, Output};

fn paytap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paytap"))
        .args(args)
        .env_remove("PAYTAP_PASSWORD")
        .output()
        .expect("run paytap")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The one JSON object a failed `--json` command prints on stdout.
fn json_error(o: &Output) -> serde_json::Value {
    let out = String::from_utf8_lossy(&o.stdout);
    let mut lines = out.lines();
    let v = serde_json::from_str(lines.next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: stdout {out:?}, stderr {:?}", stderr(o)));
    assert_eq!(lines.next(), None, "one line: {out}");
    v
}

#[test]
fn usage_errors_and_command_errors_share_one_prefix_and_exit_2() {
    // clap's usage error: an unknown option.
    let o = paytap(&["tools", "tlv", "decode", "9F0100", "--no-such-option"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("paytap: error: unexpected argument '--no-such-option'"),
        "{err}"
    );
    assert!(!err.contains("\nerror:"), "{err}");
    // A value outside an enumeration.
    let o = paytap(&[
        "device",
        "enrol",
        "--wallet",
        "http://127.0.0.1:1",
        "--email",
        "a@example.com",
        "--password",
        "a long enough password",
        "--type",
        "tablet",
        "--name",
        "x",
        "--keystore",
        "unused.se",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("paytap: error: invalid value 'tablet'"),
        "{err}"
    );
    assert!(err.contains("phone, watch, band"), "{err}");
    // The command's own error: bad input.
    let o = paytap(&["tools", "tlv", "decode", "ZZ"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.starts_with("paytap: error: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn with_json_an_error_is_one_json_object_on_stdout() {
    let o = paytap(&["tools", "tlv", "decode", "ZZ", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let v = json_error(&o);
    assert_eq!(v["exit_code"], 2, "{v}");
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    // A usage error under --json, too.
    let o = paytap(&["tools", "tlv", "decode", "9F0100", "--json", "--bogus"]);
    assert_eq!(o.status.code(), Some(2));
    let v = json_error(&o);
    assert_eq!(v["exit_code"], 2, "{v}");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("'--bogus'")),
        "{v}"
    );
    // A command without --json still speaks text.
    let o = paytap(&["tools", "tlv", "decode", "ZZ"]);
    assert!(o.stdout.is_empty());
}

#[test]
fn help_lists_the_values_of_an_enumeration() {
    let o = paytap(&["device", "enrol", "-h"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(
        help.contains("[possible values: phone, watch, band]"),
        "{help}"
    );
    let o = paytap(&["pos", "charge", "-h"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("CNY, HKD, INR"), "{help}");
}

#[test]
fn with_json_a_payment_that_cannot_reach_the_other_side_is_one_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("acquirers.toml");
    std::fs::write(
        &keys,
        "[[acquirer]]\nid = \"10000000001\"\nkey = \"00112233445566778899AABBCCDDEEFF\"\n",
    )
    .unwrap();
    // Port 1 on loopback: nothing listens there.
    let o = Command::new(env!("CARGO_BIN_EXE_paytap"))
        .current_dir(dir.path())
        .args([
            "pos",
            "charge",
            "--amount",
            "1.00",
            "--json",
            "--acquirer-key-file",
        ])
        .arg(&keys)
        .args(["--nfc", "127.0.0.1:1", "--switch", "127.0.0.1:1"])
        .output()
        .expect("run paytap");
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let v = json_error(&o);
    assert_eq!(v["exit_code"], 4, "{v}");
    assert!(
        v["error"]
            .as_str()
            .is_some_and(|e| e.contains("127.0.0.1:1")),
        "{v}"
    );
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn bench_auth_says_when_max_rate_capped_the_run() {
    // Cryptograms for 20 authorizations a second: the run reaches that
    // cap at once, so what it measured is the cap.
    let o = paytap(&[
        "bench",
        "auth",
        "--seconds",
        "1",
        "--max-rate",
        "20",
        "--concurrency",
        "2",
        "--connections",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("the report is JSON");
    assert_eq!(v["capped_by_max_rate"], true, "{v}");
    assert!(
        v["warning"]
            .as_str()
            .is_some_and(|w| w.contains("--max-rate")),
        "{v}"
    );
    // Without --json the warning goes to stderr.
    let o = paytap(&[
        "bench",
        "auth",
        "--seconds",
        "1",
        "--max-rate",
        "20",
        "--concurrency",
        "2",
        "--connections",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("paytap: warning: "), "{}", stderr(&o));
}
