//! `paytap demo` plays the whole story and exits 0, telling it in words and
//! showing card and token numbers only masked.

mod common;

use common::{up_on_free_ports, wait_for_endpoints};
use std::process::{Command, Output, Stdio};

#[test]
fn demo_plays_the_whole_story() {
    let out = Command::new(env!("CARGO_BIN_EXE_paytap"))
        .arg("demo")
        .env_remove("RUST_LOG")
        .output()
        .expect("run paytap demo");
    check(&out);
}

#[test]
fn demo_plays_against_a_running_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut up = up_on_free_ports(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = wait_for_endpoints(&data)["wallet_url"]
        .as_str()
        .expect("paytap up wrote its wallet URL")
        .to_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_paytap"))
        .args([
            "demo",
            "--against",
            &url,
            "--platform-data-dir",
            data.to_str().unwrap(),
        ])
        .output()
        .expect("run paytap demo");
    let _ = Command::new("kill")
        .args(["-TERM", &up.id().to_string()])
        .status();
    let _ = up.wait();
    check(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Using the platform already running at"));
}

fn check(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "demo failed:\n{stdout}\n{stderr}");
    for line in [
        "[1/20] Start the platform",
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
        "Li presses \"Locate now\"",
        "the phone is at Night Market, Huanghe Road, Shanghai",
        "the phone answered \"Locate now\"",
        "tokens active again; the tap is approved",
        "Pay by QR: scan the shop's code, show your own",
        "DE 22 031 through the switch: APPROVED 00",
        "the merchant's settlement account shows the money",
        "DE 22 032 carrying the code's chip data: APPROVED 00",
        "this code was presented before",
        "the phone's code paid once; shown again, it was refused",
        "device_cannot_hold_cards",
        "A Beijing transit card on the band",
        "the card credits itself. Balance 50.00 CNY",
        "no finger, no unlock, no network",
        "charges the fare by distance",
        "2 records accepted, none refused",
        "the gate stays closed (this card is on the hotlist)",
        "the lost band's card is refused at the gate",
        "paid with the bank card in the phone",
        "onto a new Beijing card",
        "moved to the phone",
        "every currency sums to zero",
        "CNY: debits",
        "Offers and risk: a bank's discount, a first-payment cashback, a burst stopped",
        "saved 10.00 CNY, earned 2.90 CNY",
        "offers:bank:01020000:CNY paid the 10 CNY",
        "DECLINED 1A",
        "The wallet's history says: verify it's you, then pay again (risk: velocity)",
        "The wallet asks the phone at once: \"verify it's you: 6.00 CNY at Metro Kiosk\". Li touches the sensor; the phone answers verified.",
        "the cryptogram vouches for the fingerprint",
        "India: UPI to a contact, a tea stall's QR and its collect request",
        "Priya pays Arjun ₹500.00: success (RRN ",
        "and pays ₹60.00 to Sharma Tea Stall (merchant category 5812)",
        "Priya approves it with her PIN",
        "A wrong PIN: the bank refuses the debit (ZM)",
        "Priya's account holds ₹19200.00; the INR ledger balances",
        "all 20 steps passed",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("DEMO FAILED"));
    // Numbers only masked: no Luhn-valid run of 13+ digits (every card and
    // token number is one) and no run longer than a 16-hex-digit cryptogram.
    // A longer hex word (a keyed fingerprint, a digest in a log line) is
    // not a number: its digit runs are chance.
    for text in [&stdout, &stderr] {
        for line in text.lines() {
            for word in line.split(|c: char| !c.is_ascii_alphanumeric()) {
                check_digit_runs(word, line);
            }
        }
    }
}

/// Longer than a cryptogram (8 bytes in hex).
const CRYPTOGRAM_HEX_DIGITS: usize = 16;

/// Fails on a digit run of `word` that could be a card or token number,
/// unless `word` is a hex string longer than a cryptogram.
fn check_digit_runs(word: &str, line: &str) {
    let digest = word.len() > CRYPTOGRAM_HEX_DIGITS
        && word.chars().all(|c| c.is_ascii_hexdigit())
        && word.chars().any(|c| c.is_ascii_alphabetic());
    if digest {
        return;
    }
    for run in word.split(|c: char| !c.is_ascii_digit()) {
        assert!(
            run.len() < 13
                || (run.len() <= CRYPTOGRAM_HEX_DIGITS && !paytap_types::luhn_valid(run)),
            "a card-number-like digit run {run:?} in the demo output, in the line {line:?}"
        );
    }
}
