//! A band's offline code shown as a QR image and scanned by a register: the
//! text read back from the PNG verifies, and a copy of the same image is
//! refused as a replay.

use paytap_qr::offline::{
    BAND_ID_LEN, Band, Certificate, KEY_ID_LEN, OfflineError, Platform, RegisterVerifier,
    SIGNATURE_LEN, public_key_of,
};
use paytap_qrimage::{read_png, render_png};

const NOW: i64 = 1_800_000_000;

#[test]
fn band_code_through_a_png_verifies_once() {
    let platform = Platform::from_secret(&[1; 32]);
    let band_secret = [2; 32];
    let cert = platform
        .issue(Certificate {
            platform_key_id: [0; KEY_ID_LEN],
            band_id: [5; BAND_ID_LEN],
            serial: 1,
            limit: 50_000,
            currency: 156,
            not_before: NOW - 60,
            not_after: NOW + 3600,
            band_key: public_key_of(&band_secret),
            signature: [0; SIGNATURE_LEN],
        })
        .unwrap();
    let mut band = Band::new(&band_secret, cert, 1).unwrap();
    let png = render_png(&band.make_code(NOW, 2_500).unwrap().to_base64()).unwrap();
    let scanned = read_png(&png).unwrap();
    let mut register = RegisterVerifier::new(platform.public_key());
    let accepted = register.verify_text(&scanned, NOW + 3).unwrap();
    assert_eq!((accepted.amount, accepted.spent), (2_500, 2_500));
    let again = register.verify_text(&read_png(&png).unwrap(), NOW + 4);
    assert!(
        matches!(again, Err(OfflineError::Replayed { .. })),
        "{again:?}"
    );
}
