//! The POS against a device's secure element and a scripted switch that
//! verifies the ARQC with the token's ICC master key.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use paytap_device::{Device, DeviceKind, KeystoreKey};
use paytap_emv::{EmvKey, TdesKey, verify_arqc};
use paytap_iso8583::{FrameDecoder, Message, Mti, ResponseCode, encode_frame};
use paytap_pos::saf::ReversalStore;
use paytap_pos::{ArpcCheck, Pos, TerminalProfile, Verification};
use paytap_testkit::card_payload;
use paytap_types::{Currency, Money};

const TOKEN: &str = "6295000000000018";
const MK: &str = "0123456789ABCDEFFEDCBA9876543210";

#[derive(Clone, Copy)]
enum Script {
    Answer(ResponseCode),
    /// Answer with an ARPC that does not match.
    BadArpc,
    Silent,
    /// Answers nothing at all, not even reversals.
    Dead,
}

/// A one-connection-at-a-time switch; reports every request it got.
fn fake_switch(script: Script) -> (SocketAddr, mpsc::Receiver<Message>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut dec = FrameDecoder::new(65535);
            let mut buf = [0u8; 4096];
            'conn: loop {
                let n = match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                dec.push(&buf[..n]);
                while let Ok(Some(frame)) = dec.next_frame() {
                    let req = Message::decode(&frame).unwrap();
                    let _ = tx.send(req.clone());
                    let mut resp = req.response().unwrap();
                    if let Script::Dead = script {
                        continue 'conn;
                    }
                    if req.mti() == Mti::REVERSAL_REQUEST {
                        resp.set_response_code(ResponseCode::Approved).unwrap();
                    } else {
                        let code = match script {
                            Script::Silent | Script::Dead => continue 'conn,
                            Script::Answer(c) => c,
                            Script::BadArpc => ResponseCode::Approved,
                        };
                        let mk = EmvKey::Tdes(TdesKey::from_hex(MK).unwrap());
                        let arc: [u8; 2] = code.code().as_bytes().try_into().unwrap();
                        let v = verify_arqc(&mk, req.icc_data().unwrap(), arc).unwrap();
                        let mut de55 = v.response_icc_data.clone();
                        if let Script::BadArpc = script {
                            de55[3] ^= 0xFF;
                        }
                        resp.set_response_code(code).unwrap();
                        if code.is_approved() {
                            resp.set_auth_id_response("A1B2C3").unwrap();
                        }
                        resp.set_icc_data(&de55).unwrap();
                    }
                    let mut out = Vec::new();
                    encode_frame(&resp.encode(), &mut out).unwrap();
                    s.write_all(&out).unwrap();
                }
            }
        }
    });
    (addr, rx)
}

fn phone(dir: &std::path::Path) -> Device {
    phone_with_no_cvm_limit(dir, 0)
}

/// A phone whose card pays without verification up to `no_cvm_limit`
/// minor units.
fn phone_with_no_cvm_limit(dir: &std::path::Path, no_cvm_limit: i64) -> Device {
    let path = dir.join("phone.se");
    let mut d = Device::create(
        &path,
        &KeystoreKey::key_file_for(&path),
        DeviceKind::Phone,
        "phone",
        "emulated",
    )
    .unwrap();
    d.set_enrolment("dev_1", "http://127.0.0.1:1/", "li@example.com")
        .unwrap();
    let p = card_payload("tok_a", TOKEN, MK, no_cvm_limit);
    let sealed = p.seal_to(&d.public_key(), "dev_1").unwrap();
    d.install("tok_a", &sealed, true).unwrap();
    d
}

fn cny(s: &str) -> Money {
    Money::parse(s, Currency::CNY).unwrap()
}

#[test]
fn approved_charge_sends_a_complete_0100_and_checks_the_arpc() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = phone(dir.path());
    let (addr, requests) = fake_switch(Script::Answer(ResponseCode::Approved));
    let pos = Pos::new(TerminalProfile::default(), addr).unwrap();
    let owner = d.owner_finger();
    let mut tap = d.tap(Some(&owner)).unwrap();
    let r = pos.charge(&mut tap, cny("12.50")).unwrap();
    assert!(r.approved, "{r}");
    assert_eq!(r.response_code.as_deref(), Some("00"));
    assert_eq!(r.arpc, ArpcCheck::Verified);
    assert_eq!(r.masked_token.as_deref(), Some("629500******0018"));
    assert_eq!(r.approval_code.as_deref(), Some("A1B2C3"));
    assert_eq!(r.verification, Verification::OwnerVerified);
    let text = r.to_string();
    assert!(
        text.contains("APPROVED")
            && text.contains("12.50 CNY")
            && text.contains("ARPC checked: yes")
            && text.contains("owner verified: yes, on the device (fingerprint or face, CDCVM)"),
        "{text}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["verification"], "owner_verified");
    assert!(!text.contains(TOKEN));
    let req = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(req.mti(), Mti::AUTHORIZATION_REQUEST);
    for f in [
        2u8, 3, 4, 7, 11, 12, 13, 14, 18, 22, 23, 32, 35, 37, 41, 42, 43, 49, 55,
    ] {
        assert!(req.has(f), "DE {f} missing");
    }
    assert_eq!(req.get_str(2), Some(TOKEN));
    assert_eq!(req.amount(), Some(1250));
    assert_eq!(req.currency(), Some(156));
    assert_eq!(req.pos_entry_mode(), Some("071"));
    assert_eq!(req.expiry(), Some((29, 11)));
    assert!(req.track2().unwrap().starts_with(&format!("{TOKEN}D2911")));
    assert_eq!(req.terminal_id().map(str::trim), Some("PTPOS001"));
}

#[test]
fn declined_charge_prints_the_code_and_its_meaning() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = phone(dir.path());
    let (addr, _rx) = fake_switch(Script::Answer(ResponseCode::InsufficientFunds));
    let pos = Pos::new(TerminalProfile::default(), addr).unwrap();
    let owner = d.owner_finger();
    let mut tap = d.tap(Some(&owner)).unwrap();
    let r = pos.charge(&mut tap, cny("99999.00")).unwrap();
    assert!(!r.approved);
    assert_eq!(r.response_code.as_deref(), Some("51"));
    assert_eq!(r.meaning, "Not sufficient funds");
    assert_eq!(r.arpc, ArpcCheck::Verified);
    assert!(r.to_string().contains("DECLINED"));
}

#[test]
fn unverified_tap_never_reaches_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = phone(dir.path());
    let (addr, requests) = fake_switch(Script::Answer(ResponseCode::Approved));
    let pos = Pos::new(TerminalProfile::default(), addr).unwrap();
    let mut tap = d.tap(None).unwrap();
    let r = pos.charge(&mut tap, cny("12.50")).unwrap();
    assert!(!r.approved);
    assert!(r.meaning.starts_with("See phone"));
    assert_eq!(r.verification, Verification::Required);
    assert_eq!(r.arpc, ArpcCheck::NotApplicable);
    assert!(requests.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn an_unverified_tap_within_the_no_cvm_limit_says_why_it_went_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = phone_with_no_cvm_limit(dir.path(), 30_000);
    let (addr, requests) = fake_switch(Script::Answer(ResponseCode::Approved));
    let pos = Pos::new(TerminalProfile::default(), addr).unwrap();
    let mut tap = d.tap(None).unwrap();
    let r = pos.charge(&mut tap, cny("12.50")).unwrap();
    assert!(r.approved, "{r}");
    assert_eq!(r.verification, Verification::NoCvmLimit);
    assert_eq!(r.no_cvm_limit_minor, Some(30_000));
    let text = r.to_string();
    assert!(
        text.contains(
            "owner verified: no, not needed: 12.50 CNY is within the no-CVM limit of 300.00 CNY"
        ),
        "{text}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["verification"], "no_cvm_limit");
    assert_eq!(json["no_cvm_limit_minor"], 30_000);
    assert!(requests.recv_timeout(Duration::from_secs(5)).is_ok());
    // Above the limit the same unverified tap needs the owner.
    let mut tap = d.tap(None).unwrap();
    let r = pos.charge(&mut tap, cny("300.01")).unwrap();
    assert!(!r.approved);
    assert_eq!(r.verification, Verification::Required);
}

#[test]
fn the_no_cvm_limit_on_the_receipt_is_grouped_as_the_demo_prints_money() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = phone_with_no_cvm_limit(dir.path(), 500_000);
    let (addr, _rx) = fake_switch(Script::Answer(ResponseCode::Approved));
    let pos = Pos::new(TerminalProfile::default(), addr)
        .unwrap()
        .with_no_cvm_limit(cny("2500.00"))
        .unwrap();
    let mut tap = d.tap(None).unwrap();
    let r = pos.charge(&mut tap, cny("1234.50")).unwrap();
    assert!(r.approved, "{r}");
    assert!(
        r.to_string()
            .contains("1,234.50 CNY is within the no-CVM limit of 2,500.00 CNY"),
        "{r}"
    );
    assert_eq!(
        serde_json::to_value(&r).unwrap()["no_cvm_limit_minor"],
        250_000
    );
}

#[test]
fn an_unverified_tap_above_the_terminals_limit_but_within_the_cards_needs_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    // The card would pay up to 1 000.00 CNY without verification; the
    // terminal asks for it above its default 300.00 CNY.
    let mut d = phone_with_no_cvm_limit(dir.path(), 100_000);
    let (addr, requests) = fake_switch(Script::Answer(ResponseCode::Approved));
    let pos = Pos::new(TerminalProfile::default(), addr).unwrap();
    assert_eq!(pos.no_cvm_limit(Currency::CNY), Some(cny("300.00")));
    let mut tap = d.tap(None).unwrap();
    let r = pos.charge(&mut tap, cny("300.01")).unwrap();
    assert!(!r.approved);
    assert!(r.meaning.starts_with("See phone"), "{r}");
    assert_eq!(r.verification, Verification::Required);
    assert!(!tap.report().no_cvm);
    assert!(requests.recv_timeout(Duration::from_millis(300)).is_err());
    // At the terminal's limit, the card's own no-CVM path still applies.
    let mut tap = d.tap(None).unwrap();
    let r = pos.charge(&mut tap, cny("300.00")).unwrap();
    assert!(r.approved, "{r}");
    assert_eq!(r.verification, Verification::NoCvmLimit);
    // A terminal that allows more leaves the card's limit to decide.
    let lenient = Pos::new(TerminalProfile::default(), addr)
        .unwrap()
        .with_no_cvm_limit(cny("2000.00"))
        .unwrap();
    let mut tap = d.tap(None).unwrap();
    assert!(lenient.charge(&mut tap, cny("800.00")).unwrap().approved);
    let mut tap = d.tap(None).unwrap();
    let r = lenient.charge(&mut tap, cny("1000.01")).unwrap();
    assert_eq!(r.verification, Verification::Required);
}

#[test]
fn a_bad_no_cvm_limit_is_refused() {
    let (addr, _rx) = fake_switch(Script::Answer(ResponseCode::Approved));
    let pos = || Pos::new(TerminalProfile::default(), addr).unwrap();
    assert!(
        pos()
            .with_no_cvm_limit(Money::new(-1, Currency::CNY))
            .is_err()
    );
    assert!(
        pos()
            .with_no_cvm_limit(Money::new(1_000_000_000_000, Currency::CNY))
            .is_err()
    );
    let zero = pos().with_no_cvm_limit(cny("0")).unwrap();
    assert_eq!(zero.no_cvm_limit(Currency::CNY), Some(cny("0")));
}

#[test]
fn no_answer_in_time_sends_a_reversal() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = phone(dir.path());
    let (addr, requests) = fake_switch(Script::Silent);
    let mut pos = Pos::new(TerminalProfile::default(), addr).unwrap();
    pos.response_timeout = Duration::from_millis(300);
    let owner = d.owner_finger();
    let mut tap = d.tap(Some(&owner)).unwrap();
    let r = pos.charge(&mut tap, cny("12.50")).unwrap();
    assert!(!r.approved);
    assert!(r.reversed);
    let auth = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    let rev = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(rev.mti(), Mti::REVERSAL_REQUEST);
    let od = rev.original_data().unwrap();
    assert_eq!(od.mti, Mti::AUTHORIZATION_REQUEST);
    assert_eq!(Some(od.stan), auth.stan());
    assert_eq!(
        Some(od.transmission_datetime.as_str()),
        auth.transmission_datetime()
    );
    assert_eq!(rev.amount(), auth.amount());
}

#[test]
fn approval_with_a_forged_arpc_is_declined_and_reversed() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = phone(dir.path());
    let (addr, requests) = fake_switch(Script::BadArpc);
    let pos = Pos::new(TerminalProfile::default(), addr).unwrap();
    let owner = d.owner_finger();
    let mut tap = d.tap(Some(&owner)).unwrap();
    let r = pos.charge(&mut tap, cny("12.50")).unwrap();
    assert!(!r.approved);
    assert_eq!(r.arpc, ArpcCheck::Failed);
    assert!(r.reversed);
    let _auth = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(
        requests.recv_timeout(Duration::from_secs(5)).unwrap().mti(),
        Mti::REVERSAL_REQUEST
    );
}

#[test]
fn bad_amounts_and_profiles_are_refused() {
    let (addr, _rx) = fake_switch(Script::Answer(ResponseCode::Approved));
    let bad = TerminalProfile {
        terminal_id: "TOO-LONG-ID".into(),
        ..TerminalProfile::default()
    };
    assert!(Pos::new(bad, addr).is_err());
    let dir = tempfile::tempdir().unwrap();
    let mut d = phone(dir.path());
    let pos = Pos::new(TerminalProfile::default(), addr).unwrap();
    let mut tap = d.tap(None).unwrap();
    assert!(pos.charge(&mut tap, Money::new(0, Currency::CNY)).is_err());
    assert!(pos.charge(&mut tap, Money::new(-5, Currency::CNY)).is_err());
}

#[test]
fn an_unacknowledged_reversal_is_stored_and_resent_after_a_terminal_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = phone(dir.path());
    let term = dir.path().join("terminal");
    let (dead, requests) = fake_switch(Script::Dead);
    let mut pos = Pos::new(TerminalProfile::default(), dead)
        .unwrap()
        .with_reversal_store(ReversalStore::open(&term).unwrap());
    pos.response_timeout = Duration::from_millis(300);
    let owner = d.owner_finger();
    let mut tap = d.tap(Some(&owner)).unwrap();
    let r = pos.charge(&mut tap, cny("12.50")).unwrap();
    assert!(!r.approved);
    assert!(!r.reversed, "nobody acknowledged it");
    assert!(r.reversal_stored);
    assert!(
        r.meaning.contains("stored and will be resent"),
        "{}",
        r.meaning
    );
    assert!(r.to_string().contains("reversal stored, will be resent"));
    let auth = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    drop(pos);

    // The terminal restarts against a switch that answers: the stored
    // reversal goes first, for the original's STAN and time.
    let (live, requests) = fake_switch(Script::Answer(ResponseCode::Approved));
    let store = ReversalStore::open(&term).unwrap();
    assert_eq!(store.pending().unwrap().len(), 1);
    let pos = Pos::new(TerminalProfile::default(), live)
        .unwrap()
        .with_reversal_store(store.clone());
    let f = pos.flush_reversals().unwrap();
    assert_eq!((f.acknowledged, f.remaining), (1, 0));
    let rev = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(rev.mti(), Mti::REVERSAL_REQUEST);
    let od = rev.original_data().unwrap();
    assert_eq!(Some(od.stan), auth.stan());
    assert_eq!(
        Some(od.transmission_datetime.as_str()),
        auth.transmission_datetime()
    );
    assert_eq!(rev.get_str(2), auth.get_str(2), "DE 2 routes it");
    assert!(store.pending().unwrap().is_empty());
    // Nothing in clear on disk: the token number is sealed.
    for e in std::fs::read_dir(term.join("reversals")).unwrap() {
        let b = std::fs::read(e.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&b).contains(TOKEN));
    }
}

#[test]
fn a_definitive_answer_leaves_nothing_stored() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = phone(dir.path());
    let term = dir.path().join("terminal");
    for script in [
        Script::Answer(ResponseCode::Approved),
        Script::Answer(ResponseCode::InsufficientFunds),
    ] {
        let (addr, requests) = fake_switch(script);
        let pos = Pos::new(TerminalProfile::default(), addr)
            .unwrap()
            .with_reversal_store(ReversalStore::open(&term).unwrap());
        let owner = d.owner_finger();
        let mut tap = d.tap(Some(&owner)).unwrap();
        let r = pos.charge(&mut tap, cny("1.00")).unwrap();
        assert!(!r.reversed && !r.reversal_stored);
        assert!(pos.reversal_store().pending().unwrap().is_empty());
        assert_eq!(
            requests.recv_timeout(Duration::from_secs(5)).unwrap().mti(),
            Mti::AUTHORIZATION_REQUEST
        );
        assert!(
            requests.recv_timeout(Duration::from_millis(200)).is_err(),
            "no reversal sent"
        );
    }
}
