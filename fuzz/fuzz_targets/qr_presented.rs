//! Fuzz the reader of a phone's shown code (`paytap_qr::presented::PhoneCode`):
//! no input may panic, and a code that reads and re-encodes must read back
//! equal (within the length limit), with the same time and ATC.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paytap_qr::presented::{MAX_CODE_LEN, PhoneCode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(code) = PhoneCode::read(text) else {
        return;
    };
    // A code re-encodes without what paytap does not read (other templates)
    // and with its own label; one whose month is not a month does not.
    if let Ok(again) = code.to_base64()
        && again.len() <= MAX_CODE_LEN
    {
        let back = PhoneCode::read(&again).expect("a re-encoded code reads");
        assert_eq!(back, code);
        assert_eq!(back.made_at(), code.made_at());
        assert_eq!(back.atc(), code.atc());
    }
});
