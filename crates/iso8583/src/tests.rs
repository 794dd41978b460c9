use super::*;

fn pan() -> Pan {
    Pan::new("4761739001010010").unwrap()
}

#[test]
fn known_answer_0800_echo() {
    let mut m = Message::new(Mti::NETWORK_REQUEST);
    m.set_transmission_datetime(11, 23, 9, 30, 0).unwrap();
    m.set_stan(1).unwrap();
    m.set_network_management_code(NetworkManagementCode::EchoTest)
        .unwrap();
    let mut expected = b"0800".to_vec();
    expected.extend_from_slice(&hex::decode("82200000000000000400000000000000").unwrap());
    expected.extend_from_slice(b"1123093000000001301");
    assert_eq!(m.encode(), expected);
    let d = Message::decode(&expected).unwrap();
    assert_eq!(d, m);
    assert_eq!(
        d.network_management_code(),
        Some(NetworkManagementCode::EchoTest)
    );
    assert_eq!(d.stan(), Some(1));
}

#[test]
fn known_answer_0100_llvar() {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_pan(&pan()).unwrap();
    m.set_processing_code("000000").unwrap();
    m.set_amount(1000).unwrap();
    let mut expected = b"0100".to_vec();
    expected.extend_from_slice(&hex::decode("7000000000000000").unwrap());
    expected.extend_from_slice(b"164761739001010010000000000000001000");
    assert_eq!(m.encode(), expected);
    assert_eq!(m.encoded_len(), expected.len());
    let d = Message::decode(&expected).unwrap();
    assert_eq!(d.pan().unwrap().expose(), "4761739001010010");
    assert_eq!(d.amount(), Some(1000));
}

#[test]
fn binary_lllvar_de55_and_mac() {
    let mut m = Message::new(Mti::FINANCIAL_REQUEST);
    m.set_icc_data(&[0x9f, 0x26, 0x08, 0, 1, 2, 3, 4, 5, 6, 7])
        .unwrap();
    m.set(64, [0xAAu8; 8]).unwrap();
    let wire = m.encode();
    // DE 55 bit is byte 6 bit 0x02 (bit 55); DE 64 is the last bit of the primary bitmap.
    assert_eq!(&wire[4..12], &hex::decode("0000000000000201").unwrap()[..]);
    assert_eq!(&wire[12..15], b"011");
    let d = Message::decode(&wire).unwrap();
    assert_eq!(d.icc_data().unwrap().len(), 11);
    assert_eq!(d.get(64), Some(&[0xAA; 8][..]));
}

#[test]
fn typed_fields_roundtrip() {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_pan(&pan()).unwrap();
    m.set_processing_code("000000").unwrap();
    m.set_amount(999_999_999_999).unwrap();
    m.set_transmission_datetime(12, 31, 23, 59, 59).unwrap();
    m.set_stan(999_999).unwrap();
    m.set_local_time(23, 59, 58).unwrap();
    m.set_local_date(2, 29).unwrap();
    m.set_expiry(30, 6).unwrap();
    m.set_merchant_type("5411").unwrap();
    m.set_pos_entry_mode("071").unwrap();
    m.set_pan_sequence_number(1).unwrap();
    m.set_acquirer_id("1234").unwrap();
    m.set_track2("4761739001010010=30062010000000000").unwrap();
    m.set_rrn("332909123456").unwrap();
    m.set_terminal_id("T1").unwrap();
    m.set_merchant_id("M1").unwrap();
    m.set_name_location("Shop", "Berlin", "DE").unwrap();
    m.set_currency(978).unwrap();
    m.set_token_data(&TokenData {
        token_requestor_id: Some("40010030273".into()),
        assurance_level: Some(5),
        funding_pan_last4: Some("1234".into()),
    })
    .unwrap();
    m.set_verification_results(&VerificationResults {
        cryptogram: Some(CheckResult::Passed),
        cdcvm: Some(CheckResult::Passed),
        atc: Some(CheckResult::NotChecked),
    })
    .unwrap();
    let d = Message::decode(&m.encode()).unwrap();
    assert_eq!(d, m);
    assert_eq!(d.amount(), Some(999_999_999_999));
    assert_eq!(d.local_time(), Some((23, 59, 58)));
    assert_eq!(d.local_date(), Some((2, 29)));
    assert_eq!(d.expiry(), Some((30, 6)));
    assert_eq!(d.pan_sequence_number(), Some(1));
    assert_eq!(d.terminal_id(), Some("T1      "));
    assert_eq!(d.merchant_id(), Some("M1             "));
    assert_eq!(d.name_location().unwrap().len(), 40);
    assert_eq!(d.currency(), Some(978));
    assert_eq!(d.get_str(62), Some("01011400100302730200205030041234"));
    assert_eq!(d.token_data().unwrap().unwrap().assurance_level, Some(5));
    assert_eq!(
        d.verification_results().unwrap().unwrap().cdcvm,
        Some(CheckResult::Passed)
    );
}

#[test]
fn response_helper_copies_echo_fields() {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_pan(&pan()).unwrap();
    m.set_amount(5).unwrap();
    m.set_stan(42).unwrap();
    m.set_merchant_type("5411").unwrap();
    let mut r = m.response().unwrap();
    assert_eq!(r.mti(), Mti::AUTHORIZATION_RESPONSE);
    assert_eq!(r.stan(), Some(42));
    assert_eq!(r.amount(), Some(5));
    assert!(!r.has(18));
    r.set_response_code(ResponseCode::InsufficientFunds)
        .unwrap();
    let d = Message::decode(&r.encode()).unwrap();
    assert_eq!(d.response_code(), Some(ResponseCode::InsufficientFunds));
    assert!(d.response().is_none());
}

#[test]
fn mti_response_mapping() {
    for (req, resp) in [
        ("0100", "0110"),
        ("0200", "0210"),
        ("0400", "0410"),
        ("0420", "0430"),
        ("0800", "0810"),
    ] {
        let m = Mti::from_str(req).unwrap();
        assert!(m.is_request());
        assert_eq!(m.response().unwrap().as_str(), resp);
        assert!(Mti::from_str(resp).unwrap().response().is_none());
    }
    assert_eq!(Mti::from_str("010A"), Err(Error::InvalidMti));
    assert_eq!(Mti::from_str("01000"), Err(Error::InvalidMti));
    assert_eq!(Mti::AUTHORIZATION_REQUEST.class(), 1);
}

#[test]
fn every_mti_constant_reads_back_and_answers_with_its_pair() {
    let pairs = [
        (
            Mti::AUTHORIZATION_REQUEST,
            Mti::AUTHORIZATION_RESPONSE,
            "0100",
        ),
        (
            Mti::AUTHORIZATION_ADVICE,
            Mti::AUTHORIZATION_ADVICE_RESPONSE,
            "0120",
        ),
        (Mti::FINANCIAL_REQUEST, Mti::FINANCIAL_RESPONSE, "0200"),
        (
            Mti::FINANCIAL_ADVICE,
            Mti::FINANCIAL_ADVICE_RESPONSE,
            "0220",
        ),
        (Mti::REVERSAL_REQUEST, Mti::REVERSAL_RESPONSE, "0400"),
        (Mti::REVERSAL_ADVICE, Mti::REVERSAL_ADVICE_RESPONSE, "0420"),
        (Mti::NETWORK_REQUEST, Mti::NETWORK_RESPONSE, "0800"),
    ];
    for (request, response, digits) in pairs {
        assert_eq!(Mti::from_str(digits), Ok(request));
        assert_eq!(request.as_str(), digits);
        assert_eq!(request.response(), Some(response));
    }
    // A typo is an error, never some default type.
    for typo in ["O100", "100", "", "01 0", "0x10"] {
        assert_eq!(Mti::from_str(typo), Err(Error::InvalidMti), "{typo:?}");
    }
}

#[test]
fn reversal_with_original_data() {
    let mut m = Message::new(Mti::REVERSAL_ADVICE);
    let o = OriginalData {
        mti: Mti::AUTHORIZATION_REQUEST,
        stan: 123,
        transmission_datetime: "1123093000".into(),
        acquirer_id: "1234".into(),
        forwarding_id: String::new(),
    };
    m.set_original_data(&o).unwrap();
    assert_eq!(
        m.get_str(90),
        Some("010000012311230930000000000123400000000000")
    );
    let d = Message::decode(&m.encode()).unwrap();
    let back = d.original_data().unwrap();
    assert_eq!(back.stan, 123);
    assert_eq!(back.acquirer_id, "00000001234");
}

#[test]
fn set_validation_errors() {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    assert_eq!(m.set(1, [0u8; 8]), Err(Error::ReservedField(1)));
    assert_eq!(m.set(65, [0u8; 8]), Err(Error::ReservedField(65)));
    assert_eq!(m.set(0, "x"), Err(Error::ReservedField(0)));
    assert_eq!(m.set(129, "x"), Err(Error::ReservedField(129)));
    assert_eq!(
        m.set(3, "00000A"),
        Err(Error::Field {
            field: 3,
            reason: FieldError::BadCharacter {
                attribute: "n",
                position: 5
            }
        })
    );
    assert_eq!(
        m.set(3, "0000"),
        Err(Error::Field {
            field: 3,
            reason: FieldError::WrongLength {
                expected: 6,
                actual: 4
            }
        })
    );
    assert_eq!(
        m.set(2, "47617390010100101234"),
        Err(Error::Field {
            field: 2,
            reason: FieldError::TooLong {
                max: 19,
                actual: 20
            }
        })
    );
    assert!(m.set(37, "ABC-12345678").is_err(), "an excludes '-'");
    assert!(
        m.set(41, "TERM\n001").is_err(),
        "ans excludes control chars"
    );
    assert!(m.set(28, "X00000100").is_err(), "x+n needs C or D");
    assert!(m.set(28, "D00000100").is_ok());
    assert!(m.set(35, "4761=2512X").is_err());
    assert!(m.set_amount(MAX_AMOUNT_MINOR).is_ok());
    assert!(m.set_amount(MAX_AMOUNT_MINOR + 1).is_err());
    assert_eq!(
        MAX_AMOUNT_MINOR.to_string().len(),
        AMOUNT_DIGITS,
        "DE 4's limit is its widest n12 value"
    );
    assert_eq!((MAX_AMOUNT_MINOR + 1).to_string().len(), AMOUNT_DIGITS + 1);
    assert!(m.set_stan(1_000_000).is_err());
    assert!(m.set_local_time(24, 0, 0).is_err());
    assert!(m.set_local_date(13, 1).is_err());
    assert!(m.set_expiry(25, 0).is_err());
    assert!(
        m.set_name_location("a name that is much too long", "x", "DE")
            .is_err()
    );
    assert!(m.set_icc_data(&[0u8; 256]).is_err());
    assert!(m.fields().next().is_none() || m.has(28));
}

#[test]
fn decode_errors() {
    let mut good = Message::new(Mti::AUTHORIZATION_REQUEST);
    good.set_pan(&pan()).unwrap();
    good.set_processing_code("000000").unwrap();
    let wire = good.encode();

    assert!(matches!(
        Message::decode(b"01"),
        Err(Error::Truncated { .. })
    ));
    assert_eq!(
        Message::decode(b"01x0\0\0\0\0\0\0\0\0"),
        Err(Error::InvalidMti)
    );
    assert!(matches!(
        Message::decode(&wire[..wire.len() - 1]),
        Err(Error::Truncated { .. })
    ));
    let mut trailing = wire.clone();
    trailing.push(b'0');
    assert_eq!(Message::decode(&trailing), Err(Error::TrailingBytes(1)));
    let mut bad_len = wire.clone();
    bad_len[12] = b'x';
    assert_eq!(
        Message::decode(&bad_len),
        Err(Error::BadLengthPrefix { field: 2 })
    );
    let mut too_long = wire.clone();
    too_long[12] = b'2';
    assert!(matches!(
        Message::decode(&too_long),
        Err(Error::Field {
            field: 2,
            reason: FieldError::TooLong { .. }
        })
    ));
    let mut bad_digit = wire.clone();
    let last = bad_digit.len() - 1;
    bad_digit[last] = b'A';
    assert!(matches!(
        Message::decode(&bad_digit),
        Err(Error::Field {
            field: 3,
            reason: FieldError::BadCharacter { .. }
        })
    ));
    // secondary bitmap announced but missing
    let mut sec = b"0100".to_vec();
    sec.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(
        Message::decode(&sec),
        Err(Error::Truncated { .. })
    ));
    // tertiary bitmap
    sec.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(Message::decode(&sec), Err(Error::TertiaryBitmap));
}

#[test]
fn debug_and_errors_never_show_the_pan() {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_pan(&pan()).unwrap();
    m.set_track2("4761739001010010=30062010000000000").unwrap();
    let dbg = format!("{m:?}");
    assert!(!dbg.contains("4761739001010010"), "{dbg}");
    assert!(dbg.contains("476173******0010"), "{dbg}");
    assert_eq!(format!("{:?}", pan()), "Pan(476173******0010)");
    assert_eq!(pan().to_string(), "476173******0010");
    let mut wire = m.encode();
    let n = wire.len();
    wire[n - 1] = b'X';
    let err = Message::decode(&wire).unwrap_err().to_string();
    assert!(!err.contains("4761739001"), "{err}");
}

#[test]
fn pan_checks() {
    assert!(pan().luhn_valid());
    assert!(!Pan::new("4761739001010011").unwrap().luhn_valid());
    assert!(Pan::new("47617390010").is_err());
    assert!(Pan::new("4761739001010010123").is_ok());
    assert!(Pan::new("47617390010100101234").is_err());
    assert!(Pan::new("4761 7390 0101 0010").is_err());
    assert_eq!(pan().last4(), "0010");
    assert_eq!(pan().bin(), "476173");
}

#[test]
fn frame_roundtrip_and_stream() {
    let mut m = Message::new(Mti::NETWORK_REQUEST);
    m.set_network_management_code(NetworkManagementCode::SignOn)
        .unwrap();
    let body = m.encode();
    let mut stream = Vec::new();
    encode_frame(&body, &mut stream).unwrap();
    encode_frame(&body, &mut stream).unwrap();
    assert_eq!(&stream[..2], &(body.len() as u16).to_be_bytes());
    assert_eq!(decode_frame(&stream[..2 + body.len()]).unwrap(), &body[..]);

    let mut dec = FrameDecoder::new(4096);
    let mut got = Vec::new();
    for b in &stream {
        dec.push(std::slice::from_ref(b));
        while let Some(f) = dec.next_frame().unwrap() {
            got.push(f);
        }
    }
    assert_eq!(got, vec![body.clone(), body.clone()]);
    assert_eq!(dec.buffered(), 0);
}

#[test]
fn frame_errors() {
    let mut out = Vec::new();
    assert_eq!(encode_frame(&[], &mut out), Err(Error::EmptyFrame));
    assert!(matches!(
        encode_frame(&vec![0u8; 65536], &mut out),
        Err(Error::FrameTooLong { .. })
    ));
    assert_eq!(decode_frame(&[0, 0]), Err(Error::EmptyFrame));
    assert!(matches!(decode_frame(&[0]), Err(Error::Truncated { .. })));
    assert!(matches!(
        decode_frame(&[0, 3, 1]),
        Err(Error::Truncated { .. })
    ));
    assert_eq!(decode_frame(&[0, 1, 1, 2]), Err(Error::TrailingBytes(1)));
    let mut dec = FrameDecoder::new(100);
    dec.push(&[0x01, 0x00]);
    assert_eq!(
        dec.next_frame(),
        Err(Error::FrameTooLong { len: 256, max: 100 })
    );
    let mut dec = FrameDecoder::new(100);
    dec.push(&[0, 0]);
    assert_eq!(dec.next_frame(), Err(Error::EmptyFrame));
}

#[test]
fn subelement_errors() {
    assert!(Subelements::parse(48, b"0100").is_err());
    assert!(Subelements::parse(48, b"01005abc").is_err());
    assert!(Subelements::parse(48, b"0A003abc").is_err());
    let s = Subelements::parse(48, b"01003abc02000").unwrap();
    assert_eq!(s.get(1), Some("abc"));
    assert_eq!(s.get(2), Some(""));
    assert_eq!(s.encode(), "01003abc02000");
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set(62, "01003abc").unwrap();
    assert!(m.token_data().is_err());
    m.set(63, "01001Q").unwrap();
    assert!(m.verification_results().is_err());
    assert!(
        m.set_token_data(&TokenData {
            token_requestor_id: Some("123".into()),
            ..Default::default()
        })
        .is_err()
    );
}

#[test]
fn codes_roundtrip() {
    for c in ResponseCode::ALL {
        assert_eq!(ResponseCode::from_code(c.code()), Some(*c));
    }
    for c in NetworkManagementCode::ALL {
        assert_eq!(NetworkManagementCode::from_code(c.code()), Some(*c));
    }
    assert!(ResponseCode::Approved.is_approved());
    assert_eq!(ResponseCode::from_code("XX"), None);
}

#[test]
fn field_table_is_complete_and_ordered() {
    for (i, f) in FIELDS.iter().enumerate() {
        assert_eq!(usize::from(f.number), i + 1);
        assert!(f.kind.max() > 0);
    }
    assert_eq!(field_spec(0), None);
    assert_eq!(field_spec(129), None);
}

#[test]
fn published_field_table_matches_the_codec() {
    let published: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/iso8583-fields.json")).unwrap();
    assert_eq!(published, field_table_json());
}

#[test]
fn additional_data_and_missing_fields() {
    let mut m = Message::new(Mti::NETWORK_REQUEST);
    assert_eq!(m.require(70), Err(Error::MissingField(70)));
    assert_eq!(m.require_str(48), Err(Error::MissingField(48)));
    let key_change = Subelements(vec![
        (11, "A1B2C3".into()),
        (10, "0123456789ABCDEF0123456789ABCDEF".into()),
    ]);
    m.set_additional_data(&key_change).unwrap();
    assert_eq!(
        m.get_str(48),
        Some("100320123456789ABCDEF0123456789ABCDEF11006A1B2C3")
    );
    let back = Message::decode(&m.encode()).unwrap();
    let sub = back.additional_data().unwrap().unwrap();
    assert_eq!(sub.get(11), Some("A1B2C3"));
    let dup = Subelements(vec![(1, "a".into()), (1, "b".into())]);
    assert_eq!(
        m.set_additional_data(&dup),
        Err(Error::Subelement {
            field: 48,
            offset: 0
        })
    );
    m.remove(48);
    assert!(!m.has(48));
    assert_eq!(m.additional_data(), Ok(None));
}

#[test]
fn overwriting_an_element_reuses_its_slot() {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set(48, "abcdef").unwrap();
    m.set(3, "000000").unwrap();
    for i in 0..1000u32 {
        m.set_stan(i).unwrap();
        m.set(48, "xyz").unwrap();
    }
    assert_eq!(m.get_str(48), Some("xyz"));
    assert_eq!(m.stan(), Some(999));
    assert_eq!(m.get_str(3), Some("000000"));
    m.set(48, "a longer value than before").unwrap();
    let d = Message::decode(&m.encode()).unwrap();
    assert_eq!(d.get_str(48), Some("a longer value than before"));
    assert_eq!(d.stan(), Some(999));
}

#[test]
fn an_instant_sets_the_transmission_and_local_date_time_fields() {
    let at = time::macros::datetime!(2026-02-03 04:05:06 UTC);
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_transmission_datetime_at(at).unwrap();
    m.set_local_datetime_at(at).unwrap();
    assert_eq!(m.transmission_datetime(), Some("0203040506"));
    assert_eq!(m.get_str(12), Some("040506"));
    assert_eq!(m.local_date(), Some((2, 3)));
}
