//! Fuzz the ISO 8583 decoder and the frame decoder: no input may panic, and every
//! message that decodes must re-encode to bytes that decode to the same message.
//! Every decoded message is also MAC-checked (no panic), and once signed it
//! verifies, also after a round trip through the wire.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paytap_iso8583::mac::{self, AcquirerKey};
use paytap_iso8583::{FrameDecoder, Message};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let again = m.encode();
        assert_eq!(
            Message::decode(&again).expect("re-encoded message decodes"),
            m
        );
        let _ = format!("{m:?}");
        let key = AcquirerKey::from_bytes([0x5A; 16]);
        let _ = mac::verify(&m, &key);
        let mut signed = m.clone();
        mac::sign(&mut signed, &key);
        if signed.has(32) {
            assert_eq!(mac::verify(&signed, &key), Ok(()));
            let wire = Message::decode(&signed.encode()).expect("signed message decodes");
            assert_eq!(mac::verify(&wire, &key), Ok(()));
        }
    }
    let mut dec = FrameDecoder::new(4096);
    for chunk in data.chunks(7) {
        dec.push(chunk);
        loop {
            match dec.next_frame() {
                Ok(Some(frame)) => {
                    let _ = Message::decode(&frame);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
