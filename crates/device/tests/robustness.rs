//! Property tests: whatever a terminal sends, the secure element answers
//! with a status word and never panics; the no-CVM decision follows the
//! limit exactly; ATCs only ever grow.

use paytap_device::{Device, DeviceKind, KeystoreKey};
use paytap_emv::kernel::TryAgainReason;
use paytap_emv::{
    EmvKey, Kernel, Outcome, TdesKey, TerminalConfig, Transaction, TxnDate, verify_arqc,
};
use paytap_testkit::card_payload;
use proptest::prelude::*;

const MK: &str = "0123456789ABCDEFFEDCBA9876543210";

fn phone(dir: &std::path::Path, no_cvm_limit: i64) -> Device {
    let path = dir.join("p.se");
    let mut d = Device::create(
        &path,
        &KeystoreKey::key_file_for(&path),
        DeviceKind::Phone,
        "p",
        "m",
    )
    .unwrap();
    d.set_enrolment("dev", "http://127.0.0.1:1/", "x@example.com")
        .unwrap();
    let mut p = card_payload("tok", "6295000000000018", MK, no_cvm_limit);
    p.app_label = "UnionPay".into();
    p.card_last4 = "0001".into();
    p.bank_name = "Bank".into();
    let sealed = p.seal_to(&d.public_key(), "dev").unwrap();
    d.install("tok", &sealed, true).unwrap();
    d
}

fn apdu() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        // Well-formed headers of the commands the card knows, with random bodies.
        (
            prop::sample::select(vec![
                (0x00u8, 0xA4u8),
                (0x80, 0xA8),
                (0x00, 0xB2),
                (0x80, 0xAE),
                (0x00, 0x82)
            ]),
            any::<u8>(),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|((cla, ins), p1, p2, data)| {
                let mut v = vec![cla, ins, p1, p2];
                if !data.is_empty() {
                    v.push(data.len() as u8);
                    v.extend_from_slice(&data);
                }
                v.push(0);
                v
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_command_sequence_gets_a_status_word_and_atc_never_goes_back(cmds in proptest::collection::vec(apdu(), 1..24)) {
        let dir = tempfile::tempdir().unwrap();
        let mut d = phone(dir.path(), 5000);
        let owner = d.owner_finger();
        let mut last_atc = d.cards()[0].atc;
        {
            let mut tap = d.tap(Some(&owner)).unwrap();
            let aid = hex::decode("A000000333010101").unwrap();
            let mut select = vec![0x00, 0xA4, 0x04, 0x00, aid.len() as u8];
            select.extend_from_slice(&aid);
            select.push(0);
            prop_assert!(tap.process(&select).ends_with(&[0x90, 0x00]));
            for c in &cmds {
                let r = tap.process(c);
                prop_assert!(r.len() >= 2);
            }
            for (_, atc, _) in &tap.report().cryptograms {
                prop_assert!(*atc > last_atc);
                last_atc = *atc;
            }
        }
        prop_assert!(d.cards()[0].atc >= last_atc);
    }

    #[test]
    fn unverified_taps_pass_exactly_up_to_the_no_cvm_limit(amount in 1u64..20_000, limit in 0i64..10_000) {
        let dir = tempfile::tempdir().unwrap();
        let mut d = phone(dir.path(), limit);
        let mut tap = d.tap(None).unwrap();
        let txn = Transaction::purchase(amount, 156, TxnDate::parse("261123").unwrap(), [1, 2, 3, 4]);
        let out = Kernel::new(TerminalConfig::default()).run(&mut tap, &txn).unwrap();
        if limit > 0 && amount as i64 <= limit {
            let Outcome::OnlineRequest { icc_data, .. } = out else { panic!("expected an ARQC for {amount} <= {limit}") };
            let v = verify_arqc(&EmvKey::Tdes(TdesKey::from_hex(MK).unwrap()), &icc_data, *b"00").unwrap();
            prop_assert!(!v.cdcvm_performed);
        } else {
            prop_assert_eq!(out, Outcome::TryAgain { reason: TryAgainReason::SeePhone });
        }
    }
}
