//! Property tests: built links parse back to themselves; arbitrary text never panics.
use paytap_upi::*;
use proptest::prelude::*;

proptest! {
    #[test]
    fn link_roundtrip(
        user in "[a-zA-Z0-9._-]{1,40}",
        psp in "[a-z0-9][a-z0-9.-]{0,20}",
        name in proptest::option::of("\\PC{1,40}"),
        note in proptest::option::of("[ -~]{1,80}"),
        tr in proptest::option::of("[A-Za-z0-9-]{1,35}"),
        amount in proptest::option::of(1u64..100_000_000_000),
        cu in any::<bool>(),
        extra in proptest::option::of(("x[a-z]{1,8}", "\\PC{0,20}")),
    ) {
        let mut p = UpiPay::new(Vpa::new(&format!("{user}@{psp}")).unwrap());
        p.payee_name = name;
        p.note = note;
        p.tr = tr;
        p.amount = amount;
        p.currency_inr = cu;
        p.other = extra.into_iter().collect();
        let uri = p.to_uri().unwrap();
        prop_assert_eq!(UpiPay::parse(&uri).unwrap(), p);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = UpiPay::parse(&format!("upi://pay?{s}"));
        let _ = UpiPay::parse(&s);
        let _ = percent_decode(&s);
    }
}
