//! The secure element / card application fed arbitrary APDU sequences: never
//! panics, always answers with at least a status word.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paytap_emv::crypto::derive_icc_mk;
use paytap_emv::*;

fn element() -> Option<SecureElement> {
    let imk = TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").ok()?;
    let mk = derive_icc_mk(&imk, "6212345678901234", 1).ok()?;
    let p = CardProfile::new(
        vec![0xA0, 0, 0, 3, 0x33, 1, 1, 2],
        "PAYTAP",
        TokenPan::new("6212345678901234").ok()?,
        Expiry::new(30, 12).ok()?,
        1,
        EmvKey::Tdes(mk),
    );
    let mut se = SecureElement::new();
    se.add_card(ContactlessCard::new(p).ok()?).ok()?;
    Some(se)
}

fuzz_target!(|data: &[u8]| {
    let Some(mut se) = element() else { return };
    // Input: a sequence of [len][flags][apdu bytes...] frames.
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let Some((&flags, tail)) = tail.split_first() else { break };
        let n = usize::from(len).min(tail.len());
        let (apdu, next) = tail.split_at(n);
        se.set_user_verified(flags & 1 == 1);
        let resp = se.process(apdu);
        assert!(resp.len() >= 2);
        rest = next;
    }
});
