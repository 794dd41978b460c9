//! Fuzz the UPI link parser: no input may panic, and every link that parses must
//! build to a link that parses equal.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paytap_upi::UpiPay;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for candidate in [text.to_owned(), format!("upi://pay?{text}")] {
            if let Ok(p) = UpiPay::parse(&candidate) {
                let uri = p.to_uri().expect("parsed link builds");
                assert_eq!(UpiPay::parse(&uri).expect("built link parses"), p);
            }
        }
    }
});
