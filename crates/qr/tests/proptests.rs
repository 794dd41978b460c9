//! Property tests: built payloads parse back to themselves; arbitrary text never panics.
use paytap_qr::*;
use proptest::prelude::*;

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Za-z0-9 .*-]{{1,{max}}}")).unwrap()
}

fn mpm() -> impl Strategy<Value = Mpm> {
    (
        proptest::option::of(prop_oneof![
            Just(PointOfInitiation::Static),
            Just(PointOfInitiation::Dynamic)
        ]),
        proptest::collection::btree_map(26u8..=51, (text(32), text(20)), 1..4),
        "[0-9]{4}",
        prop_oneof![Just(978u16), Just(392), Just(414), Just(356)],
        proptest::option::of(1u64..10_000_000_000),
        proptest::option::of(prop_oneof![
            Just(Tip::Prompt),
            (1u64..1_000_000).prop_map(Tip::FixedFee),
            (1u16..=9999).prop_map(Tip::PercentageFee)
        ]),
        "[A-Z]{2}",
        text(25),
        text(15),
        proptest::option::of(text(10)),
        proptest::option::of(text(25)),
    )
        .prop_map(
            |(poi, accts, mcc, currency, amount, tip, country, name, city, postal, bill)| Mpm {
                point_of_initiation: poi,
                merchant_accounts: accts
                    .into_iter()
                    .map(|(id, (guid, v))| MerchantAccount {
                        id,
                        value: None,
                        guid: Some(guid),
                        fields: vec![SubField { id: 1, value: v }],
                    })
                    .collect(),
                mcc,
                currency,
                amount,
                tip,
                country,
                merchant_name: name,
                merchant_city: city,
                postal_code: postal,
                additional_data: bill.map(|b| AdditionalData {
                    bill_number: Some(b),
                    ..Default::default()
                }),
                language: None,
                rfu: vec![],
                unreserved: vec![],
            },
        )
}

proptest! {
    #[test]
    fn mpm_roundtrip(m in mpm()) {
        let text = m.encode().unwrap();
        prop_assert_eq!(Mpm::parse(&text).unwrap(), m);
    }

    #[test]
    fn cpm_roundtrip(
        aid in proptest::collection::vec(any::<u8>(), 5..16),
        pan in proptest::collection::vec(any::<u8>(), 8..10),
        crypto in proptest::collection::vec(any::<u8>(), 8..=8),
        atc in any::<u16>(),
    ) {
        let c = Cpm {
            applications: vec![CpmTemplate::new().with(0x4F, aid).with(0x5A, pan)
                .with_transparent(0x9F26, crypto).with_transparent(0x9F36, atc.to_be_bytes())],
            common: None,
            other: vec![],
        };
        let back = Cpm::parse(&c.to_base64().unwrap()).unwrap();
        prop_assert_eq!(back.applications[0].atc(), Some(atc));
        prop_assert_eq!(back, c);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = decode(&s);
        let _ = Mpm::parse(&format!("000201{s}"));
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Cpm::decode(&b);
    }
}
