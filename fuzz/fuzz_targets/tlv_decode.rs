//! BER-TLV decoder: never panics; whatever decodes re-encodes to a tree that
//! decodes to the same tree (lengths are re-encoded in minimal form).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = paytap_tlv::decode(data) {
        let enc = paytap_tlv::encode(&tree).expect("re-encode");
        let again = paytap_tlv::decode(&enc).expect("re-decode");
        assert_eq!(again, tree);
        assert_eq!(paytap_tlv::encode(&again).expect("encode twice"), enc);
    }
    for item in paytap_tlv::iter(data) {
        if item.is_err() {
            break;
        }
    }
});
