//! Property tests: trees and DOLs round-trip; decoding arbitrary bytes never panics.

use paytap_tlv::{Tag, Tlv, decode, dol, encode};
use proptest::prelude::*;

fn tag_strategy(constructed: bool) -> impl Strategy<Value = Tag> {
    let c = if constructed { 0x20u32 } else { 0 };
    prop_oneof![
        // one-byte tags (low 5 bits not all ones)
        (0u32..4, 0u32..0x1F).prop_map(move |(class, n)| Tag::new((class << 6) | c | n.max(1))),
        // two-byte tags
        (0u32..4, 0x1Fu32..0x80)
            .prop_map(move |(class, n)| Tag::new((((class << 6) | c | 0x1F) << 8) | n)),
        // three-byte tags
        (0u32..4, 0x81u32..0xFF, 0u32..0x80).prop_map(move |(class, a, b)| Tag::new(
            (((class << 6) | c | 0x1F) << 16) | (a << 8) | b
        )),
    ]
    .prop_filter_map("valid tag", |t| t.ok())
}

fn tree() -> impl Strategy<Value = Tlv> {
    let leaf = (
        tag_strategy(false),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(t, v)| Tlv::primitive(t, v));
    leaf.prop_recursive(4, 32, 6, |inner| {
        (tag_strategy(true), prop::collection::vec(inner, 0..6))
            .prop_map(|(t, c)| Tlv::constructed(t, c))
    })
}

proptest! {
    #[test]
    fn trees_roundtrip(items in prop::collection::vec(tree(), 0..5)) {
        let bytes = encode(&items).unwrap();
        prop_assert_eq!(decode(&bytes).unwrap(), items);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(t) = decode(&bytes) {
            prop_assert_eq!(decode(&encode(&t).unwrap()).unwrap(), t);
        }
        let _ = dol::parse_dol(&bytes);
    }

    #[test]
    fn dol_roundtrip(entries in prop::collection::vec((tag_strategy(false), 0usize..=255), 0..12),
                     value in prop::collection::vec(any::<u8>(), 0..40)) {
        let entries: Vec<dol::DolEntry> = entries.into_iter().map(|(tag, len)| dol::DolEntry { tag, len }).collect();
        let bytes = dol::encode_dol(&entries).unwrap();
        prop_assert_eq!(&dol::parse_dol(&bytes).unwrap(), &entries);
        let data = dol::build_dol_data(&entries, |_| Some(&value[..]));
        prop_assert_eq!(data.len(), dol::dol_data_len(&entries));
        let split = dol::split_dol_data(&entries, &data).unwrap();
        for (e, (t, v)) in entries.iter().zip(split) {
            prop_assert_eq!(e.tag, t);
            prop_assert_eq!(v.len(), e.len);
        }
    }
}
