//! Property tests: random valid field sets round-trip; random bytes never panic.
use paytap_iso8583::{Encoding, FIELDS, FrameDecoder, LengthKind, Message, Mti, encode_frame};
use proptest::prelude::*;

fn value_for(field: u8) -> BoxedStrategy<Vec<u8>> {
    let spec = &FIELDS[usize::from(field - 1)];
    let (min, max) = match spec.kind {
        LengthKind::Fixed(n) => (usize::from(n), usize::from(n)),
        LengthKind::LlVar(n) | LengthKind::LllVar(n) => (0, usize::from(n).min(60)),
    };
    let chars: Vec<u8> = match spec.encoding {
        Encoding::Numeric => (b'0'..=b'9').collect(),
        Encoding::Alpha => (b'a'..=b'z').chain([b' ']).collect(),
        Encoding::AlphaNumeric => (b'0'..=b'9').chain(b'A'..=b'Z').chain([b' ']).collect(),
        Encoding::AlphaNumericSpecial => (0x20u8..=0x7e).collect(),
        Encoding::NumericSpecial => (0x20u8..=0x40).collect(),
        Encoding::Track2 => (b'0'..=b'9').chain([b'=', b'D']).collect(),
        Encoding::SignedNumeric => (b'0'..=b'9').collect(),
        Encoding::Binary => (0u8..=255).collect(),
    };
    let signed = spec.encoding == Encoding::SignedNumeric;
    proptest::collection::vec(proptest::sample::select(chars), min..=max)
        .prop_map(move |mut v| {
            if signed && !v.is_empty() {
                v[0] = b'C';
            }
            v
        })
        .boxed()
}

fn message() -> impl Strategy<Value = (String, Vec<(u8, Vec<u8>)>)> {
    let mti = proptest::sample::select(vec![
        "0100", "0110", "0200", "0210", "0400", "0410", "0420", "0430", "0800", "0810",
    ]);
    let fields =
        proptest::collection::btree_set((2u8..=128).prop_filter("bitmap", |f| *f != 65), 0..30)
            .prop_flat_map(|set| {
                set.into_iter()
                    .map(|f| value_for(f).prop_map(move |v| (f, v)))
                    .collect::<Vec<_>>()
            });
    (mti.prop_map(String::from), fields)
}

proptest! {
    #[test]
    fn random_field_sets_roundtrip((mti, fields) in message()) {
        let mut m = Message::new(Mti::from_str(&mti).unwrap());
        for (f, v) in &fields {
            m.set(*f, v).unwrap();
        }
        let wire = m.encode();
        prop_assert_eq!(wire.len(), m.encoded_len());
        let d = Message::decode(&wire).unwrap();
        prop_assert_eq!(&d, &m);
        for (f, v) in &fields {
            prop_assert_eq!(d.get(*f), Some(&v[..]));
        }
        prop_assert_eq!(d.encode(), wire);
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Message::decode(&data);
        let mut dec = FrameDecoder::new(1024);
        dec.push(&data);
        while let Ok(Some(f)) = dec.next_frame() {
            let _ = Message::decode(&f);
        }
    }

    #[test]
    fn frames_survive_arbitrary_chunking(
        bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..200), 1..5),
        chunk in 1usize..50,
    ) {
        let mut stream = Vec::new();
        for b in &bodies {
            encode_frame(b, &mut stream).unwrap();
        }
        let mut dec = FrameDecoder::new(1024);
        let mut got = Vec::new();
        for c in stream.chunks(chunk) {
            dec.push(c);
            while let Some(f) = dec.next_frame().unwrap() {
                got.push(f);
            }
        }
        prop_assert_eq!(got, bodies);
    }
}
