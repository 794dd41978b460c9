//! `paytap bench transit`: a small run's JSON object has the figures the
//! issue names, and says honestly what it does not measure.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paytap"))
        .args(["bench", "transit"])
        .args(args)
        .output()
        .expect("run paytap bench transit")
}

#[test]
fn a_small_run_prints_one_json_object() {
    let out = run(&["--taps", "200", "--cards", "10", "--rounds", "1", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert!(v["tap_cpu_us"].as_f64().is_some_and(|x| x > 0.0));
    assert!(v["clearing_per_sec"].as_f64().is_some_and(|x| x > 0.0));
    assert_eq!(v["accepted"], 200);
    assert_eq!(v["rejected"], 0);
    assert_eq!(v["hotlisted"], 0);
    // Clearing settles on the ledger, so the store's raw append rate of the
    // same run stands beside it.
    assert_eq!(v["ledger_settlement"], true);
    let raw = v["raw_append_per_sec"].as_f64().expect("raw append rate");
    assert!(raw > 0.0);
    let ratio = v["ratio_to_raw_append"].as_f64().expect("ratio");
    let clearing = v["clearing_per_sec"].as_f64().unwrap();
    assert!(
        (ratio - clearing / raw).abs() < 1e-6 * ratio.max(1.0),
        "{v}"
    );
}

#[test]
fn bad_options_fail_clearly() {
    for (args, needle) in [
        (&["--taps", "0"][..], "--taps"),
        (&["--cards", "0"][..], "--cards"),
        (&["--operator", "atlantis"][..], "--operator"),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn the_operators_are_listed_in_help_and_in_the_error() {
    let out = run(&["--operator", "atlantis"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid value 'atlantis'") && err.contains("beijing, shanghai, shenzhen"),
        "{err}"
    );
    let help = run(&["--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("beijing") && help.contains("Beijing Yikatong"),
        "{help}"
    );
}
