use super::*;
use proptest::prelude::*;

const NOW: i64 = 1_800_000_000;
const LIMIT: u64 = 50_000;
const CNY: u16 = 156;
const BAND: BandId = [7; BAND_ID_LEN];

fn platform() -> Platform {
    Platform::from_secret(&[1; 32])
}

fn band_secret() -> [u8; 32] {
    [2; 32]
}

fn unsigned(band_key: [u8; 32]) -> Certificate {
    Certificate {
        platform_key_id: [0; KEY_ID_LEN],
        band_id: BAND,
        serial: 1,
        limit: LIMIT,
        currency: CNY,
        not_before: NOW - 3600,
        not_after: NOW + 24 * 3600,
        band_key,
        signature: [0; SIGNATURE_LEN],
    }
}

fn band_with(p: &Platform, edit: impl FnOnce(&mut Certificate)) -> Band {
    let key = SigningKey::from_bytes(&band_secret()).verifying_key();
    let mut c = unsigned(key.to_bytes());
    edit(&mut c);
    let cert = p.issue(c).unwrap();
    Band::new(&band_secret(), cert, 1).unwrap()
}

fn band() -> Band {
    band_with(&platform(), |_| {})
}

fn register() -> RegisterVerifier {
    RegisterVerifier::new(platform().public_key())
}

#[test]
fn layout_lengths() {
    assert_eq!(CERT_LEN, 151);
    assert_eq!(CODE_LEN, 240);
    let code = band().make_code(NOW, 100).unwrap();
    assert_eq!(code.to_base64().len(), CODE_TEXT_LEN);
}

#[test]
fn a_fresh_code_is_accepted_through_its_text() {
    let mut b = band();
    let mut r = register();
    let text = b.make_code(NOW, 1_500).unwrap().to_base64();
    let a = r.verify_text(&text, NOW + 5).unwrap();
    assert_eq!((a.band_id, a.counter, a.amount), (BAND, 1, 1_500));
    assert_eq!((a.currency, a.spent, a.limit), (CNY, 1_500, LIMIT));
    assert_eq!(
        r.seen(&BAND),
        Some(BandSeen {
            serial: 1,
            last_counter: 1,
            spent: 1_500
        })
    );
}

#[test]
fn tampered_code_signature_is_refused() {
    let mut code = band().make_code(NOW, 100).unwrap();
    code.amount = 99;
    assert_eq!(
        register().verify(&code, NOW),
        Err(OfflineError::BadCodeSignature)
    );
    let mut code = band().make_code(NOW, 100).unwrap();
    code.signature[10] ^= 1;
    assert_eq!(
        register().verify(&code, NOW),
        Err(OfflineError::BadCodeSignature)
    );
}

#[test]
fn tampered_certificate_is_refused() {
    let mut code = band().make_code(NOW, 100).unwrap();
    code.certificate.limit = 10 * LIMIT;
    assert_eq!(
        register().verify(&code, NOW),
        Err(OfflineError::BadCertificateSignature)
    );
}

#[test]
fn a_tampered_certificate_is_refused_after_the_genuine_one() {
    let mut b = band();
    let mut r = register();
    r.verify(&b.make_code(NOW, 100).unwrap(), NOW).unwrap();
    let mut code = b.make_code(NOW, 100).unwrap();
    code.certificate.limit = 10 * LIMIT;
    assert_eq!(
        r.verify(&code, NOW),
        Err(OfflineError::BadCertificateSignature)
    );
    r.verify(&b.make_code(NOW, 100).unwrap(), NOW).unwrap();
}

#[test]
fn a_known_certificate_is_still_checked_for_expiry_and_revocation() {
    let mut b = band();
    let mut r = register();
    r.verify(&b.make_code(NOW, 100).unwrap(), NOW).unwrap();
    let later = NOW + 25 * 3600;
    assert!(matches!(
        r.verify(&b.make_code(later, 100).unwrap(), later),
        Err(OfflineError::Expired { .. })
    ));
    r.revoke(BAND).unwrap();
    assert_eq!(
        r.verify(&b.make_code(NOW, 100).unwrap(), NOW),
        Err(OfflineError::Revoked)
    );
}

#[test]
fn certificate_of_another_platform_is_refused() {
    let other = Platform::from_secret(&[9; 32]);
    let code = band_with(&other, |_| {}).make_code(NOW, 100).unwrap();
    assert_eq!(
        register().verify(&code, NOW),
        Err(OfflineError::UnknownPlatformKey)
    );
    // Another key that claims the trusted platform's key id.
    let mut code = code;
    code.certificate.platform_key_id = key_id(&platform().public_key());
    assert_eq!(
        register().verify(&code, NOW),
        Err(OfflineError::BadCertificateSignature)
    );
}

#[test]
fn expired_and_not_yet_valid_certificates_are_refused() {
    let mut b = band_with(&platform(), |c| c.not_after = NOW - 1);
    let code = b.make_code(NOW, 100).unwrap();
    assert_eq!(
        register().verify(&code, NOW),
        Err(OfflineError::Expired { not_after: NOW - 1 })
    );
    let mut b = band_with(&platform(), |c| c.not_before = NOW + 10);
    let code = b.make_code(NOW, 100).unwrap();
    assert_eq!(
        register().verify(&code, NOW),
        Err(OfflineError::NotYetValid {
            not_before: NOW + 10
        })
    );
}

#[test]
fn stale_and_future_codes_are_refused() {
    let mut b = band();
    let mut r = register();
    let old = b.make_code(NOW - MAX_CODE_AGE_SECS - 1, 100).unwrap();
    assert_eq!(
        r.verify(&old, NOW),
        Err(OfflineError::Stale {
            age_secs: MAX_CODE_AGE_SECS + 1
        })
    );
    let edge = b.make_code(NOW - MAX_CODE_AGE_SECS, 100).unwrap();
    assert!(
        r.verify(&edge, NOW).is_ok(),
        "exactly the named age is fresh"
    );
    let future = b.make_code(NOW + MAX_CLOCK_SKEW_SECS + 1, 100).unwrap();
    assert!(matches!(
        r.verify(&future, NOW),
        Err(OfflineError::FromFuture { .. })
    ));
}

#[test]
fn replayed_and_backward_counters_are_refused() {
    let mut b = band();
    let mut r = register();
    let first = b.make_code(NOW, 100).unwrap();
    let second = b.make_code(NOW, 100).unwrap();
    r.verify(&second, NOW).unwrap();
    assert_eq!(
        r.verify(&second, NOW),
        Err(OfflineError::Replayed {
            counter: 2,
            last: 2
        })
    );
    assert_eq!(
        r.verify(&first, NOW),
        Err(OfflineError::Replayed {
            counter: 1,
            last: 2
        })
    );
    assert_eq!(
        r.seen(&BAND).unwrap().spent,
        100,
        "a refusal changes nothing"
    );
}

#[test]
fn spending_over_the_limit_is_refused() {
    let mut b = band();
    let mut r = register();
    r.verify(&b.make_code(NOW, LIMIT - 10).unwrap(), NOW)
        .unwrap();
    assert!(b.make_code(NOW, 11).is_err(), "the band keeps to its limit");
    let mut copy = Band::new(&band_secret(), b.certificate.clone(), b.next_counter()).unwrap();
    let over = copy.make_code(NOW, 11).unwrap();
    assert_eq!(
        r.verify(&over, NOW),
        Err(OfflineError::OverLimit {
            spent: LIMIT - 10,
            amount: 11,
            limit: LIMIT
        })
    );
    r.verify(&b.make_code(NOW, 10).unwrap(), NOW).unwrap();
    assert_eq!(r.seen(&BAND).unwrap().spent, LIMIT);
    assert!(b.make_code(NOW, LIMIT + 1).is_err(), "the band refuses too");
}

#[test]
fn a_newer_certificate_restores_the_allowance_and_an_older_one_is_refused() {
    let p = platform();
    let mut first = band();
    let mut r = register();
    r.verify(&first.make_code(NOW, LIMIT).unwrap(), NOW)
        .unwrap();
    let mut copy = Band::new(
        &band_secret(),
        first.certificate.clone(),
        first.next_counter(),
    )
    .unwrap();
    let old_cert_code = copy.make_code(NOW, 1).unwrap();
    let synced = band_with(&p, |c| c.serial = 2);
    let mut synced =
        Band::new(&band_secret(), synced.certificate, first.next_counter() + 1).unwrap();
    let a = r
        .verify(&synced.make_code(NOW, LIMIT).unwrap(), NOW)
        .unwrap();
    assert_eq!(a.spent, LIMIT, "spending counts afresh under serial 2");
    assert_eq!(
        r.verify(&old_cert_code, NOW),
        Err(OfflineError::Replayed {
            counter: old_cert_code.counter,
            last: synced.next_counter() - 1
        })
    );
    let mut stale = Band::new(&band_secret(), band().certificate, synced.next_counter()).unwrap();
    assert_eq!(
        r.verify(&stale.make_code(NOW, 1).unwrap(), NOW),
        Err(OfflineError::Superseded { serial: 1, seen: 2 })
    );
}

#[test]
fn the_text_is_an_emvco_consumer_presented_payload() {
    let text = band().make_code(NOW, 100).unwrap().to_base64();
    let bytes = B64.decode(&text).unwrap();
    let items: Vec<_> = paytap_tlv::iter(&bytes).map(Result::unwrap).collect();
    assert_eq!(items[0].value, b"CPV01");
    let template: Vec<_> = paytap_tlv::iter(items[1].value)
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        (template[0].tag.value(), template[0].value),
        (0x4F, &BAND_AID[..])
    );
    let transparent: Vec<_> = paytap_tlv::iter(template[1].value)
        .map(Result::unwrap)
        .collect();
    assert_eq!(transparent[0].tag.value(), 0xDF60);
    assert_eq!(
        OfflineCode::decode(transparent[0].value).unwrap().amount,
        100
    );
    let mut other_aid = bytes.clone();
    other_aid[13] ^= 1;
    assert_eq!(
        OfflineCode::from_base64(&B64.encode(other_aid)),
        Err(OfflineError::Envelope)
    );
}

#[test]
fn revoked_band_is_refused() {
    let mut r = register();
    r.revoke(BAND).unwrap();
    let code = band().make_code(NOW, 100).unwrap();
    assert_eq!(r.verify(&code, NOW), Err(OfflineError::Revoked));
}

#[test]
fn bad_certificates_are_not_issued() {
    let p = platform();
    let key = SigningKey::from_bytes(&band_secret())
        .verifying_key()
        .to_bytes();
    let bad: [fn(&mut Certificate); 4] = [
        |c| c.limit = 0,
        |c| c.currency = 1000,
        |c| c.not_after = c.not_before,
        |c| c.not_after = c.not_before + MAX_CERT_VALIDITY_SECS + 1,
    ];
    for edit in bad {
        let mut c = unsigned(key);
        edit(&mut c);
        assert!(matches!(
            p.issue(c),
            Err(OfflineError::InvalidCertificate(_))
        ));
    }
    let cert = p.issue(unsigned(key)).unwrap();
    assert_eq!(
        Band::new(&[3; 32], cert, 1).err(),
        Some(OfflineError::BandKeyMismatch)
    );
}

#[test]
fn band_counter_never_wraps() {
    let p = platform();
    let key = SigningKey::from_bytes(&band_secret()).verifying_key();
    let cert = p.issue(unsigned(key.to_bytes())).unwrap();
    let mut b = Band::new(&band_secret(), cert, u64::MAX).unwrap();
    assert_eq!(b.make_code(NOW, 1), Err(OfflineError::CounterExhausted));
    assert_eq!(b.next_counter(), u64::MAX);
}

#[test]
fn malformed_text_gets_clear_errors() {
    let text = band().make_code(NOW, 100).unwrap().to_base64();
    assert!(matches!(
        OfflineCode::from_base64(&text[..CODE_TEXT_LEN - 4]),
        Err(OfflineError::Length { .. })
    ));
    let mut bad = text.clone();
    bad.replace_range(0..1, "*");
    assert_eq!(OfflineCode::from_base64(&bad), Err(OfflineError::Base64));
    let mut bytes = band().make_code(NOW, 100).unwrap().encode();
    bytes[0] = 2;
    assert_eq!(OfflineCode::decode(&bytes), Err(OfflineError::Version(2)));
    assert!(matches!(
        OfflineCode::decode(&[]),
        Err(OfflineError::Length { .. })
    ));
    let code = OfflineCode::from_base64(&text).unwrap();
    assert_eq!(OfflineCode::decode(&code.encode()).unwrap(), code);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random spending by one band at several registers, with codes shown
    /// again at the same or another register, out of order: no register
    /// ever accepts more than the limit, nor a counter twice.
    #[test]
    fn no_register_accepts_more_than_the_limit(
        ops in proptest::collection::vec((0usize..3, 1u64..=LIMIT / 3, any::<bool>(), 0usize..8), 1..40)
    ) {
        let mut b = band();
        let mut regs: Vec<RegisterVerifier> = (0..3).map(|_| register()).collect();
        let mut accepted: Vec<Vec<u64>> = vec![Vec::new(); 3];
        let mut made: Vec<OfflineCode> = Vec::new();
        for (reg, amount, reuse, back) in ops {
            let code = if reuse && !made.is_empty() {
                made[made.len().saturating_sub(1 + back % made.len())].clone()
            } else {
                // A fresh device under the same key and certificate: the
                // band itself would stop at its limit, a copy would not.
                let mut copy = Band::new(&band_secret(), b.certificate.clone(), b.next_counter()).unwrap();
                let c = copy.make_code(NOW, amount).unwrap();
                b.next_counter = copy.next_counter();
                made.push(c.clone());
                c
            };
            if let Ok(a) = regs[reg].verify(&code, NOW) {
                prop_assert!(accepted[reg].iter().all(|&c| c < a.counter));
                accepted[reg].push(a.counter);
                prop_assert!(a.spent <= LIMIT);
            }
        }
        for (r, counters) in regs.iter().zip(&accepted) {
            let spent = r.seen(&BAND).map_or(0, |s| s.spent);
            prop_assert!(spent <= LIMIT);
            let sum: u64 = counters
                .iter()
                .map(|c| made.iter().find(|m| m.counter == *c).unwrap().amount)
                .sum();
            prop_assert_eq!(sum, spent);
        }
    }
}
