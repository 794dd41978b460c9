//! The transit purse's command parser and card: never panic on any bytes; every
//! answer ends with a status word, and a refused command changes no balance or
//! counter.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paytap_purse::records::PublicData;
use paytap_purse::{MasterKeys, Purse, PurseKey, PurseState, command};

fuzz_target!(|data: &[u8]| {
    let _ = command::parse(data);
    let serial = [0x10, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let masters = MasterKeys {
        load: PurseKey::new([0x11; 16]),
        purchase: PurseKey::new([0x22; 16]),
        tac: PurseKey::new([0x33; 16]),
    };
    let public = PublicData::adult_card(*b"FUZZ-OPR", serial);
    let mut state = PurseState::new(public, masters.derive(&serial), 100_000);
    state.balance = 5_000;
    let mut card = Purse::new(state);
    // Select first, then split the input into commands on a length prefix.
    let _ = card.process(&paytap_purse::terminal::select(), [1, 2, 3, 4]);
    let mut rest = data;
    while let [len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (apdu, next) = tail.split_at(n);
        let before = (
            card.state().balance,
            card.state().online_counter,
            card.state().offline_counter,
        );
        let resp = card.process(apdu, [5, 6, 7, 8]);
        assert!(resp.len() >= 2);
        let sw = u16::from_be_bytes([resp[resp.len() - 2], resp[resp.len() - 1]]);
        if sw != 0x9000 {
            let after = (
                card.state().balance,
                card.state().online_counter,
                card.state().offline_counter,
            );
            assert_eq!(before, after);
        }
        assert!(card.state().balance <= 100_000);
        rest = next;
    }
});
