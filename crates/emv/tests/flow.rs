//! Card ↔ kernel ↔ issuer: complete transactions through the in-process
//! transport, property tests over amounts and ATCs, and tamper detection.

use paytap_emv::card::{CardState, MAX_CARDS};
use paytap_emv::crypto::{derive_icc_mk, derive_icc_mk_aes};
use paytap_emv::kernel::{KernelError, TryAgainReason};
use paytap_emv::verify::{VerifyError, verify_arqc_with_imk};
use paytap_emv::*;
use paytap_tlv::{Builder, tags};
use proptest::prelude::*;

const IMK: &str = "0123456789ABCDEFFEDCBA9876543210";
const PAN: &str = "6212345678901234";
const AID: &[u8] = &[0xA0, 0x00, 0x00, 0x03, 0x33, 0x01, 0x01, 0x02];

fn imk() -> TdesKey {
    TdesKey::from_hex(IMK).unwrap()
}

fn profile(aid: &[u8], pan: &str, atc: u16, aes: bool) -> CardProfile {
    let mk = if aes {
        EmvKey::Aes(derive_icc_mk_aes(&AesKey::from_slice(&[0x5A; 16]).unwrap(), pan, 1).unwrap())
    } else {
        EmvKey::Tdes(derive_icc_mk(&imk(), pan, 1).unwrap())
    };
    let mut p = CardProfile::new(
        aid.to_vec(),
        "PAYTAP DEBIT",
        TokenPan::new(pan).unwrap(),
        Expiry::new(30, 12).unwrap(),
        1,
        mk,
    );
    p.initial_atc = atc;
    p
}

fn se_with(p: CardProfile) -> SecureElement {
    let mut se = SecureElement::new();
    se.add_card(ContactlessCard::new(p).unwrap()).unwrap();
    se
}

fn txn(amount: u64, un: [u8; 4]) -> Transaction {
    Transaction::purchase(amount, 156, TxnDate::parse("261123").unwrap(), un)
}

fn online(o: Outcome) -> (Vec<u8>, u16, Vec<u8>) {
    match o {
        Outcome::OnlineRequest {
            icc_data,
            atc,
            track2,
            ..
        } => (icc_data, atc, track2),
        other => panic!("expected online request, got {other:?}"),
    }
}

/// Replaces the value of `tag` in a flat DE 55 list.
fn tamper(de55: &[u8], tag: paytap_tlv::Tag, value: &[u8]) -> Vec<u8> {
    let mut b = Builder::new();
    for item in paytap_tlv::iter(de55) {
        let item = item.unwrap();
        b = b.primitive(item.tag, if item.tag == tag { value } else { item.value });
    }
    b.build()
}

#[test]
fn full_transaction_verifies_at_issuer() {
    let mut se = se_with(profile(AID, PAN, 41, false));
    let kernel = Kernel::new(TerminalConfig::default());
    se.set_user_verified(true);
    let out = kernel
        .run(&mut DirectTransport(&mut se), &txn(12_345, [1, 2, 3, 4]))
        .unwrap();
    let Outcome::OnlineRequest {
        icc_data,
        pan,
        psn,
        expiry,
        aid,
        cid,
        atc,
        ..
    } = out
    else {
        panic!("not online")
    };
    assert_eq!(
        (
            pan.expose(),
            psn,
            expiry.yymm().as_str(),
            aid.as_slice(),
            cid,
            atc
        ),
        (PAN, Some(1), "3012", AID, 0x80, 42)
    );
    let v = verify_arqc_with_imk(&imk(), PAN, 1, &icc_data, *b"00").unwrap();
    assert_eq!(v.atc, 42);
    assert!(v.cdcvm_performed);
    assert_eq!(v.response_icc_data.len(), 12);
    assert_eq!(&v.response_icc_data[..2], &[0x91, 0x0A]);
    // The session key handed back is the one for this ATC: an ARPC over
    // another response code needs no second derivation.
    let mk = EmvKey::Tdes(derive_icc_mk(&imk(), PAN, 1).unwrap());
    assert_eq!(v.session_key, crypto::derive_session_key(&mk, 42));
    assert_eq!(
        crypto::arpc_method_1(&v.session_key, v.arqc, *b"00"),
        v.arpc
    );
    // user verification was consumed by that transaction
    let out = kernel
        .run(&mut DirectTransport(&mut se), &txn(12_345, [1, 2, 3, 4]))
        .unwrap();
    assert_eq!(
        out,
        Outcome::TryAgain {
            reason: TryAgainReason::SeePhone
        }
    );
    assert_eq!(se.cards()[0].atc(), 43, "the ATC moves on an AAC too");
}

#[test]
fn tampering_is_detected() {
    let mut se = se_with(profile(AID, PAN, 7, false));
    se.set_user_verified(true);
    let (de55, _, _) = online(
        Kernel::new(TerminalConfig::default())
            .run(&mut DirectTransport(&mut se), &txn(500, [9, 9, 9, 9]))
            .unwrap(),
    );
    assert!(verify_arqc_with_imk(&imk(), PAN, 1, &de55, *b"00").is_ok());
    for (tag, v) in [
        (tags::AMOUNT, &[0, 0, 0, 0, 0x05, 0x01][..]),
        (tags::UN, &[9, 9, 9, 8][..]),
        (tags::ATC, &[0, 9][..]),
        (tags::CURRENCY, &[0x08, 0x40][..]),
    ] {
        let bad = tamper(&de55, tag, v);
        assert_eq!(
            verify_arqc_with_imk(&imk(), PAN, 1, &bad, *b"00"),
            Err(VerifyError::BadCryptogram),
            "{tag}"
        );
    }
    // a different card key
    assert_eq!(
        verify_arqc_with_imk(&imk(), "6212345678901235", 1, &de55, *b"00"),
        Err(VerifyError::BadCryptogram)
    );
    // structural problems
    assert!(matches!(
        verify_arqc_with_imk(&imk(), PAN, 1, &de55[..de55.len() - 1], *b"00"),
        Err(VerifyError::Tlv(_))
    ));
}

#[test]
fn aes_card_verifies() {
    let p = profile(AID, PAN, 0, true);
    let mk = p.icc_mk.clone();
    let mut se = se_with(p);
    se.set_user_verified(true);
    let (de55, atc, _) = online(
        Kernel::new(TerminalConfig::default())
            .run(&mut DirectTransport(&mut se), &txn(1, [0; 4]))
            .unwrap(),
    );
    assert_eq!(atc, 1);
    assert!(verify_arqc(&mk, &de55, *b"00").is_ok());
    let tdes = EmvKey::Tdes(derive_icc_mk(&imk(), PAN, 1).unwrap());
    assert_eq!(
        verify_arqc(&tdes, &de55, *b"00"),
        Err(VerifyError::AlgorithmMismatch)
    );
}

#[test]
fn wallet_without_cdcvm_requirement_and_ppse_priority() {
    let mut p1 = profile(AID, PAN, 0, false);
    p1.requires_cdcvm = false;
    let aid2 = [0xA0, 0x00, 0x00, 0x00, 0x04, 0x10, 0x10];
    let mut p2 = profile(&aid2, "5413330089010012", 100, false);
    p2.requires_cdcvm = false;
    let mut se = se_with(p1);
    se.add_card(ContactlessCard::new(p2).unwrap()).unwrap();
    let k = Kernel::new(TerminalConfig::default());
    let out = k
        .run(&mut DirectTransport(&mut se), &txn(10, [1; 4]))
        .unwrap();
    assert!(matches!(out, Outcome::OnlineRequest { ref aid, .. } if aid == AID));
    se.set_default(&aid2).unwrap();
    let out = k
        .run(&mut DirectTransport(&mut se), &txn(10, [1; 4]))
        .unwrap();
    let Outcome::OnlineRequest {
        aid, atc, icc_data, ..
    } = out
    else {
        panic!()
    };
    assert_eq!((aid.as_slice(), atc), (&aid2[..], 101));
    let v = verify_arqc_with_imk(&imk(), "5413330089010012", 1, &icc_data, *b"05").unwrap();
    assert!(!v.cdcvm_performed);
    assert!(
        se.add_card(ContactlessCard::new(profile(AID, PAN, 0, false)).unwrap())
            .is_err(),
        "duplicate AID"
    );
    for i in 0..(MAX_CARDS - 2) {
        let aid = [0xA0, 0, 0, 0, 0x99, i as u8];
        se.add_card(ContactlessCard::new(profile(&aid, PAN, 0, false)).unwrap())
            .unwrap();
    }
    assert!(
        se.add_card(ContactlessCard::new(profile(&[0xA0, 0, 0, 0, 0x98], PAN, 0, false)).unwrap())
            .is_err()
    );
}

#[test]
fn atc_exhaustion() {
    let mut se = se_with(profile(AID, PAN, 0xFFFE, false));
    let k = Kernel::new(TerminalConfig::default());
    se.set_user_verified(true);
    let (_, atc, _) = online(
        k.run(&mut DirectTransport(&mut se), &txn(1, [0; 4]))
            .unwrap(),
    );
    assert_eq!(atc, 0xFFFF);
    se.set_user_verified(true);
    let err = k
        .run(&mut DirectTransport(&mut se), &txn(1, [0; 4]))
        .unwrap_err();
    assert!(matches!(err, KernelError::BadStatus { command: "GENERATE AC", sw } if sw.0 == 0x6985));
}

fn sw(resp: &[u8]) -> u16 {
    u16::from_be_bytes([resp[resp.len() - 2], resp[resp.len() - 1]])
}

#[test]
fn card_status_words() {
    let mut se = se_with(profile(AID, PAN, 0, false));
    // GPO before SELECT
    assert_eq!(sw(&se.process(&[0x80, 0xA8, 0, 0, 2, 0x83, 0, 0])), 0x6985);
    // unknown INS, wrong CLA
    assert_eq!(sw(&se.process(&[0x00, 0xCA, 0x9F, 0x36, 0])), 0x6D00);
    assert_eq!(sw(&se.process(&[0x90, 0xA4, 4, 0, 1, 1])), 0x6E00);
    assert_eq!(sw(&se.process(&[0x00, 0xA8, 0, 0, 2, 0x83, 0])), 0x6E00);
    // malformed APDU
    assert_eq!(sw(&se.process(&[0x00, 0xA4, 4])), 0x6700);
    // SELECT with wrong P1/P2, unknown AID
    assert_eq!(sw(&se.process(&[0x00, 0xA4, 0x02, 0x00, 1, 1])), 0x6A86);
    assert_eq!(
        sw(&se.process(&[0x00, 0xA4, 4, 0, 5, 0xA0, 0, 0, 0, 1, 0])),
        0x6A82
    );
    // SELECT AID, then GPO with wrong PDOL length
    let mut sel = vec![0x00, 0xA4, 4, 0, AID.len() as u8];
    sel.extend_from_slice(AID);
    sel.push(0);
    assert_eq!(sw(&se.process(&sel)), 0x9000);
    assert_eq!(se.cards()[0].state(), CardState::Selected);
    assert_eq!(sw(&se.process(&[0x80, 0xA8, 0, 0, 2, 0x83, 0, 0])), 0x6700);
    assert_eq!(sw(&se.process(&[0x80, 0xA8, 1, 0, 2, 0x83, 0, 0])), 0x6A86);
    // READ RECORD and GENERATE AC before GPO
    assert_eq!(sw(&se.process(&[0x00, 0xB2, 1, 0x0C, 0])), 0x6985);
    assert_eq!(sw(&se.process(&[0x80, 0xAE, 0x80, 0, 1, 0, 0])), 0x6985);
    let mut gpo = vec![0x80, 0xA8, 0, 0, 14, 0x83, 12];
    gpo.extend_from_slice(&[0; 12]);
    gpo.push(0);
    assert_eq!(sw(&se.process(&gpo)), 0x9000);
    assert_eq!(sw(&se.process(&[0x00, 0xB2, 2, 0x0C, 0])), 0x6A83);
    assert_eq!(sw(&se.process(&[0x00, 0xB2, 1, 0x14, 0])), 0x6A83);
    assert_eq!(sw(&se.process(&[0x00, 0xB2, 1, 0x0D, 0])), 0x6A86);
    assert_eq!(sw(&se.process(&[0x00, 0xB2, 1, 0x0C, 0])), 0x9000);
    // GENERATE AC with wrong CDOL1 data length, bad P1
    assert_eq!(sw(&se.process(&[0x80, 0xAE, 0x80, 0, 1, 0, 0])), 0x6700);
    assert_eq!(sw(&se.process(&[0x80, 0xAE, 0xC0, 0, 1, 0, 0])), 0x6A86);
    let mut gen_ac = vec![0x80, 0xAE, 0x80, 0, 33];
    gen_ac.extend_from_slice(&[0; 33]);
    gen_ac.push(0);
    let r = se.process(&gen_ac);
    assert_eq!(sw(&r), 0x9000);
    // No user verification: AAC.
    let t = paytap_tlv::Tlv::decode(&r[..r.len() - 2]).unwrap();
    assert_eq!(t.child(tags::CID).unwrap().bytes().unwrap(), &[0x00]);
    // a second GENERATE AC is out of order
    assert_eq!(sw(&se.process(&gen_ac)), 0x6985);
}

#[test]
fn kernel_rejects_card_misbehaviour() {
    struct Scripted(Vec<Vec<u8>>);
    impl Transport for Scripted {
        fn transceive(&mut self, _: &[u8]) -> Result<Vec<u8>, kernel::TransportError> {
            if self.0.is_empty() {
                Err(kernel::TransportError("field lost".into()))
            } else {
                Ok(self.0.remove(0))
            }
        }
    }
    let k = Kernel::new(TerminalConfig::default());
    let t = txn(1, [0; 4]);
    assert!(matches!(
        k.run(&mut Scripted(vec![vec![0x6A, 0x82]]), &t),
        Err(KernelError::BadStatus { .. })
    ));
    assert!(matches!(
        k.run(&mut Scripted(vec![vec![0x90]]), &t),
        Err(KernelError::NoStatusWord { .. })
    ));
    assert!(matches!(
        k.run(&mut Scripted(vec![vec![0x6F, 0x05, 0x90, 0x00]]), &t),
        Err(KernelError::MalformedTlv { .. })
    ));
    assert!(matches!(
        k.run(&mut Scripted(vec![vec![0x6F, 0x00, 0x90, 0x00]]), &t),
        Err(KernelError::MissingTag { .. })
    ));
    assert_eq!(
        k.run(&mut Scripted(vec![]), &t),
        Ok(Outcome::TryAgain {
            reason: TryAgainReason::Communication("field lost".into())
        })
    );
    let big = Transaction {
        amount_minor: 1_000_000_000_000,
        ..t
    };
    assert!(matches!(
        k.run(&mut Scripted(vec![]), &big),
        Err(KernelError::BadTransaction(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_tap_changes_the_cryptogram(amount in 0u64..=999_999_999_999, atc in 0u16..0xFFF0, un in any::<[u8; 4]>(), aes in any::<bool>()) {
        let p = profile(AID, PAN, atc, aes);
        let mk = p.icc_mk.clone();
        let mut se = se_with(p);
        let k = Kernel::new(TerminalConfig::default());
        let mut seen = Vec::new();
        for i in 0..3u16 {
            se.set_user_verified(true);
            let (de55, got_atc, _) = online(k.run(&mut DirectTransport(&mut se), &txn(amount, un)).unwrap());
            prop_assert_eq!(got_atc, atc + 1 + i);
            let v = verify_arqc(&mk, &de55, *b"00").unwrap();
            prop_assert!(!seen.contains(&v.arqc));
            seen.push(v.arqc);
        }
    }
}
