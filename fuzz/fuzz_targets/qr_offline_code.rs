//! Fuzz the band's offline code parser (the binary record, and the Base64
//! of its EMVCo consumer-presented envelope): no input may panic, every
//! record that decodes re-encodes to the same bytes, and the register's
//! verifier refuses it without panicking (the fuzzer cannot forge signatures).
#![no_main]
use libfuzzer_sys::fuzz_target;
use paytap_qr::offline::{OfflineCode, Platform, RegisterVerifier};

fuzz_target!(|data: &[u8]| {
    if let Ok(code) = OfflineCode::decode(data) {
        assert_eq!(&code.encode()[..], data, "decoded code re-encodes exactly");
        let mut r = RegisterVerifier::new(Platform::from_secret(&[1; 32]).public_key());
        let _ = r.verify(&code, code.time);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = OfflineCode::from_base64(text);
    }
});
