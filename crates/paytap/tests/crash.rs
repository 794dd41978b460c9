//! The crash test: `paytap bench crash` runs `paytap up` as a process,
//! kills it with SIGKILL at random moments while terminals pay, restarts
//! it, delivers the terminals' stored reversals and checks every approval
//! a terminal heard against the issuers' records, the ledger and clearing
//! (see `src/bench/crash.rs`, the one driver the command and this test
//! share). Bounded for CI: three kills, four terminals, well under a
//! minute on a debug build.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_paytap");

#[test]
fn approvals_heard_survive_kills_and_no_hold_outlives_an_unheard_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "bench",
            "crash",
            "--kills",
            "3",
            "--terminals",
            "4",
            "--max-uptime-ms",
            "1500",
            "--json",
            "--dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run paytap bench crash");
    let text = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["ok"], true);
    assert!(out.status.success());
    assert_eq!(report["kills"], 3);
    assert!(
        report["approvals_heard"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    let heard = report["approvals_heard"].as_u64().unwrap();
    let settled = report["approvals_reversed"].as_u64().unwrap()
        + report["approvals_cleared"].as_u64().unwrap();
    assert_eq!(settled, heard, "every heard approval reversed or cleared");
}
