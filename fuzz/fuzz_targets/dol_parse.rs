//! DOL parser and DOL data builder: never panic; built data has exactly the
//! requested length and splits back per entry.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paytap_tlv::dol;

fuzz_target!(|data: &[u8]| {
    let (dol_bytes, values) = data.split_at(data.len() / 2);
    if let Ok(entries) = dol::parse_dol(dol_bytes) {
        assert_eq!(dol::parse_dol(&dol::encode_dol(&entries).expect("encode")).expect("reparse"), entries);
        let built = dol::build_dol_data(&entries, |t| if t.value() % 2 == 0 { Some(values) } else { None });
        assert_eq!(built.len(), dol::dol_data_len(&entries));
        assert_eq!(dol::split_dol_data(&entries, &built).expect("split").len(), entries.len());
    }
});
