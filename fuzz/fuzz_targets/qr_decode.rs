//! Fuzz the EMVCo QR decoders (MPM text and CPM base64/BER-TLV): no input may panic,
//! and every payload that decodes must re-encode to a payload that decodes equal.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paytap_qr::{Cpm, Mpm};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = Cpm::decode(data) {
        let again = c.encode().expect("decoded CPM re-encodes");
        assert_eq!(Cpm::decode(&again).expect("re-encoded CPM decodes"), c);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(m) = Mpm::parse(text) {
            let again = m.encode().expect("decoded MPM re-encodes");
            assert_eq!(Mpm::parse(&again).expect("re-encoded MPM parses"), m);
        }
        let _ = paytap_qr::decode(text);
    }
});
