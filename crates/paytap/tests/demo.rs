//! `paytap demo` plays the whole story and exits 0, telling it in words and
//! showing card and token numbers only masked.

use std::process::Command;

#[test]
fn demo_plays_the_whole_story() {
    let out = Command::new(env!("CARGO_BIN_EXE_paytap"))
        .arg("demo")
        .env_remove("RUST_LOG")
        .output()
        .expect("run paytap demo");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for line in [
        "[1/14] Start the platform",
        "Register an account with the wallet",
        "Register a phone and a band",
        "one-time passcode step-up",
        "wants proof it is really Li",
        "A ninth card: refused",
        "card_limit_reached",
        "Tap to pay with a fingerprint",
        "APPROVED 00",
        "ARPC checked: yes (verified by the card)",
        "The cryptogram changed from",
        "A purchase beyond the card's limit",
        "declined by the bank: ",
        "the replay is rejected",
        "The phone is lost",
        "Transaction not permitted",
        "tokens active again; the tap is approved",
        "device_cannot_hold_cards",
        "every currency sums to zero",
        "CNY: debits",
        "all 14 steps passed",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("DEMO FAILED"));
    // Numbers only masked: no run of 13+ digits anywhere (card and token numbers have 16).
    for text in [&stdout, &stderr] {
        let mut run = 0;
        for c in text.chars() {
            run = if c.is_ascii_digit() { run + 1 } else { 0 };
            assert!(run < 13, "a card-number-like digit run in the demo output");
        }
    }
}
