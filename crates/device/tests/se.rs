//! The secure element emulator: taps through the EMV kernel, user
//! verification, the no-CVM path, ATC write-ahead, issuer authentication,
//! nothing in clear at rest, and the NFC field over TCP.

use std::net::TcpListener;
use std::time::Duration;

use paytap_device::{
    Device, DeviceError, DeviceKind, FieldTransport, Finger, KeystoreKey, serve_tap,
};
use paytap_emv::kernel::TryAgainReason;
use paytap_emv::{
    EmvKey, Kernel, Outcome, TdesKey, TerminalConfig, Transaction, TxnDate, verify_arqc,
};
use paytap_seal::ProvisioningPayload;
use paytap_testkit::card_payload as payload;
use paytap_types::Secret;

const TOKEN: &str = "6295000000000018";
const TOKEN2: &str = "6295010000000017";
const MK: &str = "0123456789ABCDEFFEDCBA9876543210";
const MK2: &str = "00112233445566778899AABBCCDDEEFF";
const DEVICE_ID: &str = "dev_test_1";

fn phone(dir: &std::path::Path) -> (Device, KeystoreKey) {
    let path = dir.join("phone.se");
    let key = KeystoreKey::key_file_for(&path);
    let mut d = Device::create(&path, &key, DeviceKind::Phone, "Li's phone", "emulated").unwrap();
    d.set_enrolment(DEVICE_ID, "http://127.0.0.1:1/", "li@example.com")
        .unwrap();
    (d, key)
}

fn provision(d: &mut Device, p: &ProvisioningPayload) {
    let sealed = p.seal_to(&d.public_key(), DEVICE_ID).unwrap();
    d.install(&p.token_ref, &sealed, false).unwrap();
}

fn txn(amount: u64, un: [u8; 4]) -> Transaction {
    Transaction::purchase(amount, 156, TxnDate::parse("261123").unwrap(), un)
}

fn mk(h: &str) -> EmvKey {
    EmvKey::Tdes(TdesKey::from_hex(h).unwrap())
}

#[test]
fn verified_tap_gives_an_arqc_the_issuer_verifies_and_atc_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _) = phone(dir.path());
    provision(&mut d, &payload("tok_a", TOKEN, MK, 0));
    let kernel = Kernel::new(TerminalConfig::default());
    let owner = d.owner_finger();
    let mut acs = Vec::new();
    for (i, un) in [[1, 2, 3, 4], [9, 9, 9, 9]].into_iter().enumerate() {
        let mut tap = d.tap(Some(&owner)).unwrap();
        let out = kernel.run(&mut tap, &txn(1250, un)).unwrap();
        let Outcome::OnlineRequest {
            icc_data, pan, atc, ..
        } = out
        else {
            panic!("expected ARQC, got {out:?}")
        };
        assert_eq!(pan.expose(), TOKEN);
        assert_eq!(atc, i as u16 + 1);
        let v = verify_arqc(&mk(MK), &icc_data, *b"00").unwrap();
        assert!(v.cdcvm_performed);
        assert!(tap.report().user_verified);
        acs.push(v.arqc);
        // Issuer authentication: the ARPC for this ARQC is accepted, a wrong one is not.
        let mut ext = vec![0x00, 0x82, 0x00, 0x00, 0x0A];
        ext.extend_from_slice(&v.arpc);
        ext.extend_from_slice(&v.arc);
        assert_eq!(tap.process(&ext), vec![0x90, 0x00]);
        assert_eq!(tap.report().issuer_authenticated, Some(true));
        let mut bad = ext.clone();
        bad[6] ^= 1;
        // Only one EXTERNAL AUTHENTICATE per ARQC.
        assert_eq!(tap.process(&bad), vec![0x69, 0x85]);
    }
    assert_ne!(acs[0], acs[1], "the cryptogram changes from tap to tap");
    assert_eq!(d.cards()[0].atc, 2);
}

#[test]
fn wrong_arpc_is_refused_by_the_card() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _) = phone(dir.path());
    provision(&mut d, &payload("tok_a", TOKEN, MK, 0));
    let owner = d.owner_finger();
    let mut tap = d.tap(Some(&owner)).unwrap();
    let out = Kernel::new(TerminalConfig::default())
        .run(&mut tap, &txn(100, [5; 4]))
        .unwrap();
    let Outcome::OnlineRequest { icc_data, .. } = out else {
        panic!()
    };
    let v = verify_arqc(&mk(MK), &icc_data, *b"00").unwrap();
    let mut ext = vec![0x00, 0x82, 0x00, 0x00, 0x0A];
    ext.extend_from_slice(&v.arpc);
    ext.extend_from_slice(b"05"); // ARC changed: the ARPC no longer matches
    assert_eq!(tap.process(&ext), vec![0x63, 0x00]);
    assert_eq!(tap.report().issuer_authenticated, Some(false));
    assert_eq!(
        tap.process(&[0x00, 0x82, 0x00, 0x00, 0x02, 0x30, 0x30]),
        vec![0x67, 0x00]
    );
}

#[test]
fn without_the_owners_finger_the_card_refuses_above_the_no_cvm_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _) = phone(dir.path());
    provision(&mut d, &payload("tok_a", TOKEN, MK, 5000));
    let kernel = Kernel::new(TerminalConfig::default());
    let stranger = Finger::stranger().unwrap();
    for finger in [None, Some(&stranger)] {
        let mut tap = d.tap(finger).unwrap();
        let out = kernel.run(&mut tap, &txn(20_000, [1; 4])).unwrap();
        assert_eq!(
            out,
            Outcome::TryAgain {
                reason: TryAgainReason::SeePhone
            }
        );
        assert!(!tap.report().user_verified);
        assert!(!tap.report().no_cvm);
    }
    // Two AACs used two ATCs.
    assert_eq!(d.cards()[0].atc, 2);
}

#[test]
fn low_value_tap_takes_the_no_cvm_path() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _) = phone(dir.path());
    provision(&mut d, &payload("tok_a", TOKEN, MK, 5000));
    let mut tap = d.tap(None).unwrap();
    let out = Kernel::new(TerminalConfig::default())
        .run(&mut tap, &txn(5000, [7; 4]))
        .unwrap();
    let Outcome::OnlineRequest { icc_data, .. } = out else {
        panic!("expected ARQC, got {out:?}")
    };
    let v = verify_arqc(&mk(MK), &icc_data, *b"00").unwrap();
    assert!(!v.cdcvm_performed, "no CVM was performed");
    assert!(tap.report().no_cvm);
    // A limit of zero means never.
    let dir2 = tempfile::tempdir().unwrap();
    let (mut d2, _) = phone(dir2.path());
    provision(&mut d2, &payload("tok_b", TOKEN, MK, 0));
    let mut tap = d2.tap(None).unwrap();
    let out = Kernel::new(TerminalConfig::default())
        .run(&mut tap, &txn(1, [7; 4]))
        .unwrap();
    assert_eq!(
        out,
        Outcome::TryAgain {
            reason: TryAgainReason::SeePhone
        }
    );
}

#[test]
fn no_cvm_grant_does_not_stretch_to_a_different_generate_ac_amount() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _) = phone(dir.path());
    provision(&mut d, &payload("tok_a", TOKEN, MK, 5000));
    let mut tap = d.tap(None).unwrap();
    let aid = hex::decode("A000000333010101").unwrap();
    let mut select = vec![0x00, 0xA4, 0x04, 0x00, aid.len() as u8];
    select.extend_from_slice(&aid);
    select.push(0);
    assert!(tap.process(&select).ends_with(&[0x90, 0x00]));
    // PDOL: 9F66 (4) 9F02 (6) 5F2A (2): 10.00 CNY
    let mut gpo = vec![0x80, 0xA8, 0x00, 0x00, 0x0E, 0x83, 0x0C];
    gpo.extend_from_slice(&[0x36, 0, 0x40, 0]);
    gpo.extend_from_slice(&[0, 0, 0, 0, 0x10, 0x00]);
    gpo.extend_from_slice(&[0x01, 0x56]);
    gpo.push(0);
    assert!(tap.process(&gpo).ends_with(&[0x90, 0x00]));
    assert!(tap.report().no_cvm);
    // CDOL1 data with 9 999.00 CNY instead.
    let mut cdol = Vec::new();
    cdol.extend_from_slice(&[0, 0, 0, 0x99, 0x99, 0x00]); // 9F02
    cdol.extend_from_slice(&[0; 6]); // 9F03
    cdol.extend_from_slice(&[0x01, 0x56]); // 9F1A
    cdol.extend_from_slice(&[0; 5]); // 95
    cdol.extend_from_slice(&[0x01, 0x56]); // 5F2A
    cdol.extend_from_slice(&[0x26, 0x11, 0x23]); // 9A
    cdol.push(0); // 9C
    cdol.extend_from_slice(&[1, 2, 3, 4]); // 9F37
    cdol.push(0x22); // 9F35
    cdol.extend_from_slice(&[0x3F, 0, 0]); // 9F34
    let mut gen_ac = vec![0x80, 0xAE, 0x80, 0x00, cdol.len() as u8];
    gen_ac.extend_from_slice(&cdol);
    gen_ac.push(0);
    assert_eq!(tap.process(&gen_ac), vec![0x69, 0x85]);
    assert!(tap.report().cryptograms.is_empty());
}

#[test]
fn atc_survives_reopening_and_is_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, key) = phone(dir.path());
    provision(&mut d, &payload("tok_a", TOKEN, MK, 0));
    let path = d.keystore_path().to_owned();
    let kernel = Kernel::new(TerminalConfig::default());
    let owner = d.owner_finger();
    {
        let mut tap = d.tap(Some(&owner)).unwrap();
        assert!(matches!(
            kernel.run(&mut tap, &txn(100, [1; 4])).unwrap(),
            Outcome::OnlineRequest { atc: 1, .. }
        ));
    }
    // The process "crashes" here: the in-memory device is dropped without any further write.
    drop(d);
    let mut again = Device::open(&path, &key).unwrap();
    assert_eq!(again.cards()[0].atc, 1);
    let mut tap = again.tap(Some(&owner)).unwrap();
    assert!(matches!(
        kernel.run(&mut tap, &txn(100, [1; 4])).unwrap(),
        Outcome::OnlineRequest { atc: 2, .. }
    ));
}

#[test]
fn keystore_holds_nothing_in_clear_and_refuses_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, key) = phone(dir.path());
    provision(&mut d, &payload("tok_a", TOKEN, MK, 0));
    provision(&mut d, &payload("tok_b", TOKEN2, MK2, 0));
    let path = d.keystore_path().to_owned();
    let device_public = d.public_key();
    drop(d);
    let bytes = std::fs::read(&path).unwrap();
    let text = String::from_utf8_lossy(&bytes).to_ascii_uppercase();
    for needle in [
        TOKEN,
        TOKEN2,
        MK,
        MK2,
        "TOK_A",
        "BANK OF EXAMPLE",
        "LI@EXAMPLE.COM",
        "A000000333010101",
    ] {
        assert!(!text.contains(needle), "{needle} in clear");
    }
    for raw in [
        hex::decode(MK).unwrap(),
        hex::decode(MK2).unwrap(),
        TOKEN.as_bytes().to_vec(),
    ] {
        assert!(!bytes.windows(raw.len()).any(|w| w == raw.as_slice()));
    }
    // The key file is private.
    let KeystoreKey::KeyFile(kp) = &key else {
        panic!()
    };
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(kp).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Every flipped byte makes the file refuse to open.
    for i in [0, 5, 10, 40, bytes.len() / 2, bytes.len() - 1] {
        let mut t = bytes.clone();
        t[i] ^= 0x40;
        std::fs::write(&path, &t).unwrap();
        assert!(Device::open(&path, &key).is_err(), "byte {i}");
    }
    std::fs::write(&path, &bytes).unwrap();
    let d = Device::open(&path, &key).unwrap();
    assert_eq!(d.public_key(), device_public);
    assert_eq!(d.cards().len(), 2);
    // Debug strings carry no secret.
    let dbg = format!("{d:?} {:?} {:?}", d.cards(), d.owner_finger());
    assert!(!dbg.contains(TOKEN) && !dbg.contains(MK) && !dbg.contains("6295000000"));
    // One process at a time: a second open while this one holds it is refused.
    assert!(matches!(
        Device::open(&path, &key),
        Err(DeviceError::Busy(_))
    ));
    drop(d);
    // A world-readable key file is refused.
    std::fs::set_permissions(kp, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        Device::open(&path, &key),
        Err(DeviceError::KeyFilePermissions(_))
    ));
}

#[test]
fn passphrase_keystore_opens_only_with_the_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watch.se");
    let key = KeystoreKey::Passphrase(Secret::new("correct horse".into()));
    assert!(!format!("{key:?}").contains("horse"));
    let d = Device::create(&path, &key, DeviceKind::Watch, "watch", "emulated").unwrap();
    let public = d.public_key();
    drop(d);
    assert_eq!(Device::open(&path, &key).unwrap().public_key(), public);
    let wrong = KeystoreKey::Passphrase(Secret::new("battery staple".into()));
    assert_eq!(
        Device::open(&path, &wrong).unwrap_err(),
        DeviceError::Unlock
    );
    assert!(matches!(
        Device::open(&path, &KeystoreKey::key_file_for(&path)),
        Err(DeviceError::WrongKeyKind(_))
    ));
    assert!(matches!(
        Device::create(&path, &key, DeviceKind::Watch, "w", "m"),
        Err(DeviceError::Exists(_))
    ));
}

#[test]
fn eight_cards_at_most_default_first_and_bands_hold_none() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _) = phone(dir.path());
    let pans = [
        "6295000000000018",
        "6295000000000026",
        "6295000000000034",
        "6295000000000042",
        "6295000000000059",
        "6295000000000067",
        "6295000000000075",
        "6295000000000083",
        "6295000000000091",
    ];
    for (i, pan) in pans.iter().enumerate().take(8) {
        provision(&mut d, &payload(&format!("tok_{i}"), pan, MK, 0));
    }
    let ninth = payload("tok_8", pans[8], MK, 0);
    let sealed = ninth.seal_to(&d.public_key(), DEVICE_ID).unwrap();
    assert_eq!(
        d.install("tok_8", &sealed, false).unwrap_err(),
        DeviceError::Full(8)
    );
    // All eight share the payload AID; each answers to its own AID in the SE.
    let aids: std::collections::HashSet<_> = d.cards().into_iter().map(|c| c.aid_hex).collect();
    assert_eq!(aids.len(), 8);
    // The default card is the one the kernel picks.
    d.set_default("tok_5").unwrap();
    let owner = d.owner_finger();
    let mut tap = d.tap(Some(&owner)).unwrap();
    let out = Kernel::new(TerminalConfig::default())
        .run(&mut tap, &txn(100, [1; 4]))
        .unwrap();
    let Outcome::OnlineRequest { pan, .. } = out else {
        panic!()
    };
    assert_eq!(pan.expose(), pans[5]);
    drop(tap);
    // A payload sealed for another device does not open.
    let other = payload("tok_x", pans[8], MK, 0)
        .seal_to(&d.public_key(), "another_device")
        .unwrap();
    d.remove_card("tok_0").unwrap();
    assert!(matches!(
        d.install("tok_x", &other, false),
        Err(DeviceError::Payload(_))
    ));

    let band_path = dir.path().join("band.se");
    let mut band = Device::create(
        &band_path,
        &KeystoreKey::key_file_for(&band_path),
        DeviceKind::Band,
        "band",
        "m",
    )
    .unwrap();
    band.set_enrolment("band_1", "http://x/", "li").unwrap();
    let sealed = payload("tok_b", pans[0], MK, 0)
        .seal_to(&band.public_key(), "band_1")
        .unwrap();
    assert_eq!(
        band.install("tok_b", &sealed, false).unwrap_err(),
        DeviceError::NoCardTokens("band")
    );
}

#[test]
fn nfc_field_over_tcp_carries_a_whole_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _) = phone(dir.path());
    provision(&mut d, &payload("tok_a", TOKEN, MK, 0));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let owner = d.owner_finger();
        serve_tap(stream, &mut d, Some(&owner)).unwrap()
    });
    let mut field = FieldTransport::connect(addr, Duration::from_secs(10)).unwrap();
    let out = Kernel::new(TerminalConfig::default())
        .run(&mut field, &txn(4200, [3; 4]))
        .unwrap();
    let Outcome::OnlineRequest { icc_data, .. } = out else {
        panic!("expected ARQC, got {out:?}")
    };
    let v = verify_arqc(&mk(MK), &icc_data, *b"00").unwrap();
    let mut ext = vec![0x00, 0x82, 0x00, 0x00, 0x0A];
    ext.extend_from_slice(&v.arpc);
    ext.extend_from_slice(&v.arc);
    use paytap_emv::Transport;
    assert_eq!(field.transceive(&ext).unwrap(), vec![0x90, 0x00]);
    drop(field);
    let report = server.join().unwrap();
    assert!(report.user_verified);
    assert_eq!(report.cryptograms.len(), 1);
    assert_eq!(report.issuer_authenticated, Some(true));
}

#[test]
fn frames_reject_empty_and_truncated_input() {
    use paytap_device::{read_frame, write_frame};
    let mut buf = Vec::new();
    write_frame(&mut buf, &[0x00, 0xA4]).unwrap();
    assert_eq!(buf, vec![0, 2, 0x00, 0xA4]);
    assert_eq!(
        read_frame(&mut buf.as_slice()).unwrap(),
        Some(vec![0x00, 0xA4])
    );
    assert!(write_frame(&mut Vec::new(), &[]).is_err());
    assert!(read_frame(&mut [0u8, 0].as_slice()).is_err());
    assert!(read_frame(&mut [0u8, 5, 1].as_slice()).is_err());
    assert_eq!(read_frame(&mut [].as_slice()).unwrap(), None);
}

/// A phone installs a token for taps and scanned codes (`nfc_qr`) as it
/// installs one for taps, and refuses one that is for shown codes only.
#[test]
fn a_phone_takes_tap_and_scan_tokens_but_not_qr_only_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _) = phone(dir.path());
    let mut both = payload("tok_both", TOKEN, MK, 0);
    both.domain = "nfc_qr".into();
    provision(&mut d, &both);
    let mut qr_only = payload("tok_qr", TOKEN2, MK2, 0);
    qr_only.domain = "qr".into();
    let sealed = qr_only.seal_to(&d.public_key(), DEVICE_ID).unwrap();
    assert!(matches!(
        d.install(&qr_only.token_ref, &sealed, false),
        Err(DeviceError::Domain(domain)) if domain == "qr"
    ));
}
