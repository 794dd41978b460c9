//! Command and response APDU parsers: never panic; parsed commands re-encode
//! to bytes that parse to the same command.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paytap_apdu::{CommandApdu, ResponseApdu};

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = CommandApdu::parse(data) {
        let enc = c.to_bytes().expect("encode");
        assert_eq!(CommandApdu::parse(&enc).expect("reparse"), c);
    }
    if let Ok(r) = ResponseApdu::parse(data) {
        assert_eq!(r.to_bytes(), data);
        let _ = r.sw.name();
    }
});
