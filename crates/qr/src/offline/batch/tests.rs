use super::*;
use crate::offline::{BAND_ID_LEN, Band, KEY_ID_LEN, Platform, SIGNATURE_LEN, public_key_of};
use proptest::prelude::*;

const NOW: i64 = 1_800_000_000;
/// The identity point's encoding: a key of small order.
const IDENTITY: [u8; 32] = SMALL_ORDER_Y[0];

fn platform() -> Platform {
    Platform::from_secret(&[1; 32])
}

fn unsigned(n: u8, band_key: [u8; 32]) -> Certificate {
    Certificate {
        platform_key_id: [0; KEY_ID_LEN],
        band_id: [n; BAND_ID_LEN],
        serial: 1,
        limit: 1_000_000,
        currency: 156,
        not_before: NOW - 3600,
        not_after: NOW + 3600,
        band_key,
        signature: [0; SIGNATURE_LEN],
    }
}

fn band(n: u8, p: &Platform) -> Band {
    let secret = [n; 32];
    let cert = p.issue(unsigned(n, public_key_of(&secret))).unwrap();
    Band::new(&secret, cert, 1).unwrap()
}

/// How a code of a test batch is made.
#[derive(Debug, Clone, Copy)]
enum Made {
    /// By band `n`, as it should be.
    Good(u8),
    /// Its signature's `R` altered.
    ForgedSignature,
    /// Its amount raised after signing.
    AlteredAmount,
    /// Its certificate signed by another platform.
    ForeignCertificate,
    /// Its certificate's limit raised after signing.
    AlteredCertificate,
    /// Under a certificate for a key of small order, with the trivial
    /// signature (`R` the identity, `S` zero) the cofactorless equation
    /// accepts.
    WeakKey,
}

fn make(how: Made, counter: u64) -> OfflineCode {
    let p = platform();
    let mut b = band(7, &p);
    match how {
        Made::Good(n) => band(n, &p).make_code(NOW, counter).unwrap(),
        Made::ForgedSignature => {
            let mut c = b.make_code(NOW, counter).unwrap();
            c.signature[0] ^= 1;
            c
        }
        Made::AlteredAmount => {
            let mut c = b.make_code(NOW, counter).unwrap();
            c.amount += 1;
            c
        }
        Made::ForeignCertificate => band(7, &Platform::from_secret(&[3; 32]))
            .make_code(NOW, counter)
            .unwrap(),
        Made::AlteredCertificate => {
            let mut c = b.make_code(NOW, counter).unwrap();
            c.certificate.limit += 1;
            c
        }
        Made::WeakKey => {
            let mut signature = [0; SIGNATURE_LEN];
            signature[..32].copy_from_slice(&IDENTITY);
            OfflineCode {
                counter,
                time: NOW,
                amount: counter,
                certificate: p.issue(unsigned(9, IDENTITY)).unwrap(),
                signature,
            }
        }
    }
}

/// What checking the code alone answers: the batch must answer the same.
fn alone(code: &OfflineCode) -> Result<(), OfflineError> {
    code.certificate.verify(&platform().public_key())?;
    code.verify_signature()
}

fn check(made: &[Made], expect: &[Result<(), OfflineError>]) {
    let codes: Vec<OfflineCode> = (1..).zip(made).map(|(n, m)| make(*m, n)).collect();
    let refs: Vec<&OfflineCode> = codes.iter().collect();
    let got = verify_codes(&refs, &platform().public_key(), |_| false);
    assert_eq!(got, expect, "{made:?}");
    let one_by_one: Vec<_> = codes.iter().map(alone).collect();
    assert_eq!(got, one_by_one, "{made:?}: the batch answers as each alone");
}

#[test]
fn each_code_gets_the_answer_it_gets_alone() {
    use Made::*;
    use OfflineError::*;
    check(&[], &[]);
    check(&[Good(1)], &[Ok(())]);
    check(
        &[Good(1), Good(2), Good(1), Good(3)],
        &[Ok(()), Ok(()), Ok(()), Ok(())],
    );
    check(
        &[Good(1), ForgedSignature, Good(2), Good(1)],
        &[Ok(()), Err(BadCodeSignature), Ok(()), Ok(())],
    );
    check(
        &[
            AlteredAmount,
            Good(1),
            ForeignCertificate,
            AlteredCertificate,
        ],
        &[
            Err(BadCodeSignature),
            Ok(()),
            Err(UnknownPlatformKey),
            Err(BadCertificateSignature),
        ],
    );
    check(&[Good(1), WeakKey], &[Ok(()), Err(BadCodeSignature)]);
    check(
        &[WeakKey, WeakKey],
        &[Err(BadCodeSignature), Err(BadCodeSignature)],
    );
}

#[test]
fn a_weak_key_s_trivial_signature_would_pass_the_batch_equation() {
    // Why a key of small order is kept out of the batch: the equation
    // alone accepts the trivial signature, `verify_strict` does not.
    let code = make(Made::WeakKey, 1);
    let key = VerifyingKey::from_bytes(&IDENTITY).unwrap();
    let message = [CODE_DOMAIN, &code.body()].concat();
    let signature = Signature::from_bytes(&code.signature);
    assert!(ed25519_dalek::verify_batch(&[&message], &[signature], &[key]).is_ok());
    assert!(key.verify_strict(&message, &signature).is_err());
    assert_eq!(alone(&code), Err(OfflineError::BadCodeSignature));
}

#[test]
fn a_certificate_verified_before_is_not_checked_again() {
    let p = platform();
    let mut code = band(1, &p).make_code(NOW, 1).unwrap();
    code.certificate.signature[5] ^= 1;
    let key = p.public_key();
    let known = |c: &Certificate| c.band_id == [1; BAND_ID_LEN];
    // The band's signature covers the altered certificate bytes too, so
    // only the caller's word lets the certificate through.
    assert_eq!(
        verify_codes(&[&code], &key, known),
        [Err(OfflineError::BadCodeSignature)]
    );
    assert_eq!(
        verify_codes(&[&code], &key, |_| false),
        [Err(OfflineError::BadCertificateSignature)]
    );
}

#[test]
fn the_small_order_table_holds_the_eight_points() {
    for y in SMALL_ORDER_Y {
        for sign in [0, 0x80] {
            let mut bytes = y;
            bytes[31] |= sign;
            // y = 1 and y = p - 1 have x = 0: their sign bit set is not a
            // canonical encoding, and may not decode.
            if let Ok(key) = VerifyingKey::from_bytes(&bytes) {
                assert!(key.is_weak(), "{bytes:02x?}");
            }
        }
    }
    let good = platform().public_key();
    assert!(!good.is_weak());
    assert!(!SMALL_ORDER_Y.contains(good.as_bytes()));
}

#[test]
fn below_prime_compares_little_endian_numbers() {
    let check = |y: [u8; 32], expect: bool| assert_eq!(below_prime(&y), expect, "{y:?}");
    let mut p_minus_1 = FIELD_PRIME;
    p_minus_1[0] -= 1;
    let mut p_plus_1 = FIELD_PRIME;
    p_plus_1[0] += 1;
    check([0; 32], true);
    check(p_minus_1, true);
    check(FIELD_PRIME, false);
    check(p_plus_1, false);
    check([0xFF; 32], false);
    let mut high = [0; 32];
    high[31] = 0x7F;
    check(high, true);
}

fn made() -> impl Strategy<Value = Made> {
    prop_oneof![
        4 => (1u8..4).prop_map(Made::Good),
        1 => Just(Made::ForgedSignature),
        1 => Just(Made::AlteredAmount),
        1 => Just(Made::ForeignCertificate),
        1 => Just(Made::AlteredCertificate),
        1 => Just(Made::WeakKey),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_mix_answers_as_each_code_alone(made in proptest::collection::vec(made(), 0..12)) {
        let codes: Vec<OfflineCode> = (1..).zip(&made).map(|(n, m)| make(*m, n)).collect();
        let refs: Vec<&OfflineCode> = codes.iter().collect();
        let got = verify_codes(&refs, &platform().public_key(), |_| false);
        let one_by_one: Vec<_> = codes.iter().map(alone).collect();
        prop_assert_eq!(got, one_by_one);
    }
}
