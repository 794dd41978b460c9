//! Fuzz the UPI XML decoder: no input may panic, and every message that decodes
//! must encode to XML that decodes equal.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paytap_upi::xml::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = decode(data) {
        let xml = encode(&msg).expect("a decoded message encodes");
        assert_eq!(decode(xml.as_bytes()).expect("an encoded message decodes"), msg);
    }
});
