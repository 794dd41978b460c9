//! Property tests: command and response APDUs round-trip in short and extended form.

use paytap_apdu::{Case, CommandApdu, CommandView, ResponseApdu, StatusWord};
use proptest::prelude::*;

proptest! {
    #[test]
    fn commands_roundtrip(cla: u8, ins: u8, p1: u8, p2: u8,
                          data in prop::collection::vec(any::<u8>(), 0..600),
                          le in prop::option::of(1usize..=65536)) {
        let c = CommandApdu { cla, ins, p1, p2, data: data.clone(), le };
        let bytes = c.to_bytes().unwrap();
        let v = CommandView::parse(&bytes).unwrap();
        prop_assert_eq!(v.to_owned(), c);
        let expect_case = match (data.is_empty(), le.is_some()) {
            (true, false) => Case::One,
            (true, true) => Case::Two,
            (false, false) => Case::Three,
            (false, true) => Case::Four,
        };
        prop_assert_eq!(v.case(), expect_case);
        prop_assert_eq!(v.extended, data.len() > 255 || le.is_some_and(|l| l > 256));
    }

    #[test]
    fn responses_roundtrip(data in prop::collection::vec(any::<u8>(), 0..300), sw: u16) {
        let r = ResponseApdu::new(data, StatusWord(sw));
        prop_assert_eq!(ResponseApdu::parse(&r.to_bytes()).unwrap(), r);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(c) = CommandApdu::parse(&bytes) {
            prop_assert_eq!(CommandApdu::parse(&c.to_bytes().unwrap()).unwrap(), c);
        }
        let _ = ResponseApdu::parse(&bytes).map(|r| r.sw.name());
    }
}
