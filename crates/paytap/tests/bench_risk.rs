//! `paytap bench risk` and `paytap bench offers`: a small run's JSON object
//! has the figures the issue names; bad options fail with their name.

use std::process::{Command, Output};

fn run(what: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_paytap"))
        .args(["bench", what])
        .args(args)
        .output()
        .expect("run paytap bench")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn a_small_risk_run_prints_one_json_object() {
    let v = json(&run(
        "risk",
        &["--decisions", "2000", "--accounts", "200", "--json"],
    ));
    assert_eq!(v["decisions"], 2000);
    assert!(v["decide_p99_us"].as_f64().is_some_and(|x| x > 0.0));
    assert!(v["decisions_per_sec"].as_f64().is_some_and(|x| x > 0.0));
    let verdicts = ["approved", "stepped_up", "declined"].map(|k| v[k].as_u64().unwrap_or(0));
    assert_eq!(verdicts.iter().sum::<u64>(), 2000);
    assert_eq!(v["target_p99_us"], 20.0);
}

#[test]
fn a_small_offers_run_prints_one_json_object() {
    let v = json(&run(
        "offers",
        &["--payments", "2000", "--offers", "100", "--json"],
    ));
    assert_eq!(v["payments"], 2000);
    assert_eq!(v["offers"], 100);
    assert!(v["authorize_p99_us"].as_f64().is_some_and(|x| x > 0.0));
    assert!(v["with_offers"].as_u64().is_some_and(|n| n > 0));
}

#[test]
fn bad_options_fail_clearly() {
    for (what, args, needle) in [
        ("risk", &["--decisions", "0"][..], "--decisions"),
        ("risk", &["--accounts", "0"][..], "--accounts"),
        ("offers", &["--offers", "1"][..], "--offers"),
    ] {
        let out = run(what, args);
        assert!(!out.status.success(), "{what} {args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{what} {args:?}: {err}");
    }
}
