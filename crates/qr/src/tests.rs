use super::*;

/// EMVCo MPM specification v1.1, appendix example (dynamic, CNY, with a Chinese
/// merchant language template).
const SPEC_SAMPLE: &str = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";

/// A JPY (exponent 0) dynamic payload published with an open-source EMVCo QR library.
const JPY_SAMPLE: &str = "0002010102121516ABCDEF123456789052045311530339254039995802JP5906DONGRI6005TOKYO62240104hoge0504fuga0704piyo63043FE6";

/// EMVCo CPM specification v1.0 example: two application templates and a common
/// data template with PAN, cardholder name, language and a cryptogram.
const CPM_SAMPLE: &str = "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcEbVjvEw==";

/// EMVCo CPM example with track 2 equivalent data in the application template.
const CPM_TRACK2: &str = "hQVDUFYwMWEaTwegAAAAVVVVVw8SNFZ4kBI0WNGRIgESNF8=";

fn with_crc(body: &str) -> String {
    let mut s = format!("{body}6304");
    let crc = crc16_ccitt_false(s.as_bytes());
    s.push_str(&format!("{crc:04X}"));
    s
}

const MIN_BODY: &str = "000201021641111111111111115204541153039785802DE5904Shop6006Berlin";

#[test]
fn crc_check_value() {
    // CRC-16/CCITT-FALSE check value over "123456789".
    assert_eq!(crc16_ccitt_false(b"123456789"), 0x29B1);
    assert_eq!(crc16_ccitt_false(b""), 0xFFFF);
}

#[test]
fn emvco_spec_sample() {
    let m = Mpm::parse(SPEC_SAMPLE).unwrap();
    assert_eq!(m.point_of_initiation, Some(PointOfInitiation::Dynamic));
    assert_eq!(m.merchant_accounts.len(), 2);
    let a = &m.merchant_accounts[0];
    assert_eq!((a.id, a.guid.as_deref()), (29, Some("D15600000000")));
    assert_eq!(
        a.fields,
        vec![SubField {
            id: 5,
            value: "A93FO3230Q".into()
        }]
    );
    assert_eq!(m.merchant_accounts[1].guid.as_deref(), Some("D15600000001"));
    assert_eq!(m.mcc, "4111");
    assert_eq!(m.currency, 156);
    assert_eq!(m.amount, Some(2372));
    assert_eq!(m.tip, Some(Tip::Prompt));
    assert_eq!(m.country, "CN");
    assert_eq!(m.merchant_name, "BEST TRANSPORT");
    assert_eq!(m.merchant_city, "BEIJING");
    let l = m.language.as_ref().unwrap();
    assert_eq!((l.preference.as_str(), l.name.as_str()), ("ZH", "最佳运输"));
    assert_eq!(l.city.as_deref(), Some("北京"));
    let add = m.additional_data.as_ref().unwrap();
    assert_eq!(add.store_label.as_deref(), Some("1234"));
    assert_eq!(add.customer_label.as_deref(), Some("***"));
    assert_eq!(add.terminal_label.as_deref(), Some("A6008667"));
    assert_eq!(add.consumer_data_request.as_deref(), Some("ME"));
    assert_eq!(m.unreserved[0].id, 91);
    assert_eq!(m.unreserved[0].guid.as_deref(), Some("A011223344998877"));
    // Re-encoding emits IDs in ascending order, so the text differs from the sample,
    // but it parses back to the same payload with a valid CRC.
    let again = m.encode().unwrap();
    assert_eq!(Mpm::parse(&again).unwrap(), m);
}

#[test]
fn jpy_sample_roundtrips_exactly() {
    let m = Mpm::parse(JPY_SAMPLE).unwrap();
    assert_eq!(m.currency, 392);
    assert_eq!(m.amount, Some(999));
    assert_eq!(
        m.merchant_accounts[0].value.as_deref(),
        Some("ABCDEF1234567890")
    );
    assert_eq!(m.encode().unwrap(), JPY_SAMPLE);
}

#[test]
fn builder_produces_known_text() {
    let m = Mpm {
        point_of_initiation: Some(PointOfInitiation::Static),
        merchant_accounts: vec![MerchantAccount {
            id: 2,
            value: Some("4111111111111111".into()),
            guid: None,
            fields: vec![],
        }],
        mcc: "5411".into(),
        currency: 978,
        amount: Some(1050),
        tip: Some(Tip::PercentageFee(350)),
        country: "DE".into(),
        merchant_name: "Shop".into(),
        merchant_city: "Berlin".into(),
        postal_code: Some("10115".into()),
        additional_data: Some(AdditionalData {
            bill_number: Some("B1".into()),
            ..Default::default()
        }),
        language: None,
        rfu: vec![],
        unreserved: vec![],
    };
    let text = m.encode().unwrap();
    assert_eq!(
        &text[..text.len() - 4],
        "000201010211021641111111111111115204541153039785404\
10.55502035703\
3.55802DE5904Shop6006Berlin6105101156206\
0102B16304"
    );
    assert_eq!(Mpm::parse(&text).unwrap(), m);
}

#[test]
fn minimal_payload_and_three_decimal_currency() {
    let m = Mpm::parse(&with_crc(MIN_BODY)).unwrap();
    assert_eq!(m.point_of_initiation, None);
    assert_eq!(m.amount, None);
    // KWD has three decimals
    let kwd =
        with_crc("00020102164111111111111111520454115303414540612.3455802KW5904Shop6006Kuwait");
    assert_eq!(Mpm::parse(&kwd).unwrap().amount, Some(12345));
}

#[test]
fn mpm_errors() {
    let err = |s: &str| Mpm::parse(s).unwrap_err();
    let mut bad_crc = SPEC_SAMPLE.to_owned();
    bad_crc.replace_range(bad_crc.len() - 4.., "A13B");
    assert!(matches!(err(&bad_crc), QrError::CrcMismatch { .. }));
    let tampered = SPEC_SAMPLE.replace("BEIJING", "BEIJINH");
    assert!(matches!(err(&tampered), QrError::CrcMismatch { .. }));
    assert_eq!(err(&format!("{MIN_BODY}6304zzzz")), QrError::BadCrcFormat);
    assert_eq!(err(MIN_BODY), QrError::CrcNotLast);
    assert_eq!(
        err(&with_crc(&MIN_BODY.replacen("000201", "000202", 1))),
        QrError::Invalid {
            id: 0,
            reason: "payload format indicator must be \"01\""
        }
    );
    assert_eq!(
        err(&with_crc(&format!("{}000201", &MIN_BODY[6..]))),
        QrError::PayloadFormatNotFirst
    );
    assert_eq!(
        err(&with_crc(&format!("{MIN_BODY}6304ABCD"))),
        QrError::CrcNotLast
    );
    assert_eq!(
        err(&with_crc(&format!("{MIN_BODY}52045411"))),
        QrError::Duplicate(52)
    );
    assert_eq!(
        err(&with_crc(&MIN_BODY.replace("52045411", ""))),
        QrError::Missing(52)
    );
    assert_eq!(
        err(&with_crc(&MIN_BODY.replace("02164111111111111111", ""))),
        QrError::MissingMerchantAccount
    );
    assert!(matches!(
        err(&with_crc(&format!("{MIN_BODY}540610.505"))),
        QrError::Invalid { id: 54, .. }
    ));
    assert!(matches!(
        err(&with_crc(&format!("{MIN_BODY}54060.0001"))),
        QrError::Invalid { id: 54, .. }
    ));
    assert!(matches!(
        err(&with_crc(&format!("{MIN_BODY}5404-1.0"))),
        QrError::Invalid { id: 54, .. }
    ));
    assert!(matches!(
        err(&with_crc(&format!("{MIN_BODY}54010"))),
        QrError::Invalid { id: 54, .. }
    ));
    assert_eq!(
        err(&with_crc(&format!("{MIN_BODY}550202"))),
        QrError::Missing(56)
    );
    assert_eq!(
        err(&with_crc(&format!("{MIN_BODY}550203"))),
        QrError::Missing(57)
    );
    assert!(matches!(
        err(&with_crc(&format!("{MIN_BODY}550209"))),
        QrError::Invalid { id: 55, .. }
    ));
    assert!(matches!(
        err(&with_crc(&format!("{MIN_BODY}010213"))),
        QrError::Invalid { id: 1, .. }
    ));
    assert!(matches!(
        err(&with_crc(
            &MIN_BODY.replace("5904Shop", "5926ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        )),
        QrError::BadLength { id: 59, .. }
    ));
    assert!(matches!(
        err(&with_crc(&MIN_BODY.replace("5802DE", "5802de"))),
        QrError::Invalid { id: 58, .. }
    ));
    assert!(matches!(
        err(&with_crc(&format!("{MIN_BODY}26080104abcd"))),
        QrError::MissingSubField { id: 26, sub: 0 }
    ));
    assert!(matches!(
        err(&with_crc(&format!("{MIN_BODY}26060099ab"))),
        QrError::InTemplate { id: 26, .. }
    ));
    assert!(matches!(
        err(&with_crc(&format!("{MIN_BODY}62060902XY"))),
        QrError::Invalid { id: 62, .. }
    ));
    assert!(matches!(
        err(&with_crc(&format!("{MIN_BODY}64060002ZH"))),
        QrError::MissingSubField { id: 64, sub: 1 }
    ));
    assert_eq!(
        err(&with_crc(&format!("{MIN_BODY}26180002A10102ab0102cd"))),
        QrError::DuplicateSubField { id: 26, sub: 1 }
    );
    assert_eq!(err("000x"), QrError::InvalidLength { offset: 2 });
    assert_eq!(err("0002010x"), QrError::InvalidId { offset: 6 });
    assert_eq!(err("00020"), QrError::Truncated { offset: 4 });
}

#[test]
fn builder_rejects_invalid_input() {
    let mut m = Mpm::parse(&with_crc(MIN_BODY)).unwrap();
    m.mcc = "54".into();
    assert!(matches!(m.encode(), Err(QrError::Invalid { id: 52, .. })));
    let mut m = Mpm::parse(&with_crc(MIN_BODY)).unwrap();
    m.merchant_accounts[0].guid = Some("x".into());
    assert!(m.encode().is_err());
    let mut m = Mpm::parse(&with_crc(MIN_BODY)).unwrap();
    m.merchant_accounts.clear();
    assert_eq!(m.encode(), Err(QrError::MissingMerchantAccount));
    let mut m = Mpm::parse(&with_crc(MIN_BODY)).unwrap();
    m.tip = Some(Tip::PercentageFee(10_000));
    assert!(m.encode().is_err());
    let mut m = Mpm::parse(&with_crc(MIN_BODY)).unwrap();
    m.amount = Some(0);
    assert!(m.encode().is_err());
}

#[test]
fn cpm_spec_sample() {
    let c = Cpm::parse(CPM_SAMPLE).unwrap();
    assert_eq!(c.applications.len(), 2);
    assert_eq!(
        c.applications[0].aid(),
        Some(&hex::decode("A0000000555555").unwrap()[..])
    );
    assert_eq!(c.applications[0].label(), Some("Product1"));
    assert_eq!(c.applications[1].label(), Some("Product2"));
    let common = c.common.as_ref().unwrap();
    assert_eq!(
        common.get(0x5A),
        Some(&hex::decode("1234567890123458").unwrap()[..])
    );
    assert_eq!(common.get(0x5F20), Some(&b"CARDHOLDER/EMV"[..]));
    assert_eq!(common.language(), Some("ruesdeen"));
    assert_eq!(
        common.cryptogram(),
        Some(&hex::decode("584FD385FA234BCC").unwrap()[..])
    );
    assert_eq!(common.atc(), Some(1));
    assert_eq!(
        common.iad(),
        Some(&hex::decode("06010A03000000").unwrap()[..])
    );
    assert_eq!(
        common.unpredictable_number(),
        Some(&hex::decode("6D58EF13").unwrap()[..])
    );
    assert_eq!(c.to_base64().unwrap(), CPM_SAMPLE);
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("1234567890123458"), "{dbg}");
    assert!(!dbg.contains("434152444"), "{dbg}");
    assert!(matches!(decode(CPM_SAMPLE), Ok(QrPayload::Consumer(_))));
    assert!(matches!(decode(SPEC_SAMPLE), Ok(QrPayload::Merchant(_))));
}

#[test]
fn cpm_track2_sample_and_builder() {
    let c = Cpm::parse(CPM_TRACK2).unwrap();
    assert_eq!(
        c.applications[0].get(0x57),
        Some(&hex::decode("1234567890123458D191220112345F").unwrap()[..])
    );
    assert_eq!(c.to_base64().unwrap(), CPM_TRACK2);
    let built = Cpm {
        applications: vec![
            CpmTemplate::new()
                .with(0x4F, hex::decode("A0000000555555").unwrap())
                .with(0x57, hex::decode("1234567890123458D191220112345F").unwrap()),
        ],
        common: None,
        other: vec![],
    };
    assert_eq!(built.to_base64().unwrap(), CPM_TRACK2);
    let tokenised = Cpm {
        applications: vec![
            CpmTemplate::new()
                .with(0x4F, hex::decode("A0000000031010").unwrap())
                .with(0x5A, hex::decode("4895370012345678").unwrap())
                .with(0x9F25, hex::decode("1234").unwrap())
                .with_transparent(0x9F26, hex::decode("0102030405060708").unwrap())
                .with_transparent(0x9F27, [0x80])
                .with_transparent(0x9F36, [0x00, 0x2A])
                .with_transparent(0x82, [0x19, 0x80]),
        ],
        common: None,
        other: vec![],
    };
    let back = Cpm::parse(&tokenised.to_base64().unwrap()).unwrap();
    assert_eq!(back, tokenised);
    assert_eq!(back.applications[0].atc(), Some(42));
    assert_eq!(back.applications[0].cid(), Some(0x80));
    assert_eq!(back.applications[0].pan_last4().as_deref(), Some("1234"));
    assert_eq!(back.applications[0].aip(), Some(&[0x19, 0x80][..]));
    assert_eq!(back.applications[0].language(), None);
}

#[test]
fn cpm_errors() {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    assert_eq!(Cpm::parse("not base64!"), Err(QrError::Base64));
    assert_eq!(Cpm::decode(&[]), Err(QrError::CpmFormatIndicator));
    assert_eq!(
        Cpm::decode(&hex::decode("850543505630326100").unwrap()),
        Err(QrError::CpmFormatIndicator)
    );
    assert_eq!(
        Cpm::decode(&hex::decode("85054350563031").unwrap()),
        Err(QrError::CpmMissing(0x61))
    );
    assert_eq!(
        Cpm::decode(&hex::decode("8505435056303161025A00").unwrap()),
        Err(QrError::CpmMissing(0x4F))
    );
    assert_eq!(
        Cpm::decode(&hex::decode("850543505630316103 4F01A0".replace(' ', "").as_str()).unwrap()),
        Err(QrError::CpmMissing(0x5A))
    );
    assert!(matches!(
        Cpm::decode(
            &hex::decode(
                "85054350563031610A4F01A05A01117002 0000"
                    .replace(' ', "")
                    .as_str()
            )
            .unwrap()
        ),
        Err(QrError::CpmUnexpected { tag: 0x70, .. })
    ));
    assert_eq!(
        Cpm::decode(&hex::decode("8505435056303161094F01A05A01115A0111").unwrap()),
        Err(QrError::CpmDuplicate(0x5A))
    );
    assert!(matches!(
        Cpm::decode(&hex::decode("850543505630316110").unwrap()),
        Err(QrError::Tlv(_))
    ));
    assert!(matches!(
        Cpm::parse(&b64(&[0x85, 0x05, 0x43])),
        Err(QrError::Tlv(_))
    ));
    assert_eq!(
        Cpm::decode(
            &hex::decode(
                "85054350563031850543505630316106 4F01A05A0111"
                    .replace(' ', "")
                    .as_str()
            )
            .unwrap()
        ),
        Err(QrError::CpmDuplicate(0x85))
    );
}

#[test]
fn currency_amounts() {
    use crate::currency::*;
    assert_eq!(parse_decimal("23.72", 2), Ok(2372));
    assert_eq!(parse_decimal("23.7", 2), Ok(2370));
    assert_eq!(parse_decimal("23", 2), Ok(2300));
    assert_eq!(parse_decimal("999", 0), Ok(999));
    assert!(parse_decimal("999.5", 0).is_err());
    assert!(parse_decimal("1.", 2).is_err());
    assert!(parse_decimal(".5", 2).is_err());
    assert!(parse_decimal("1e3", 2).is_err());
    assert!(parse_decimal("99999999999999999999", 2).is_err());
    assert_eq!(format_decimal(2372, 2), "23.72");
    assert_eq!(format_decimal(5, 3), "0.005");
    assert_eq!(format_decimal(999, 0), "999");
    assert_eq!(format_decimal_short(1050, 2), "10.5");
    assert_eq!(format_decimal_short(1000, 2), "10");
    assert_eq!(format_decimal_short(5, 3), "0.005");
    assert_eq!(
        format_decimal_short(9_999_999_999_999_000, 3),
        "9999999999999"
    );
    assert_eq!(exponent(392), 0);
    assert_eq!(exponent(414), 3);
    assert_eq!(exponent(978), 2);
}
