//! Torn taps at the gate: the field lost between the DEBIT and its answer
//! (the card debited, or not), and the gate's crash between the card's
//! debit and its record, each finished on the card's next tap and charged
//! once.

use paytap_device::{Device, DeviceKind, KeystoreKey};
use paytap_purse::PurseState;
use paytap_purse::records::PublicData;
use paytap_transit::config::serial_from_digits;

use super::*;

const BALANCE: u32 = 5_000;
const ENTRY: u16 = 101;
const EXIT: u16 = 105;

struct World {
    _dir: tempfile::TempDir,
    band: Device,
    entry: Station,
    exit: Station,
}

/// A band with a Beijing card of [`BALANCE`], and two gates of the line.
fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let keyring = Keyring::for_data_dir(&dir.path().join("data")).unwrap();
    let config = TransitConfig::default_operators();
    let op = config.operator("beijing").unwrap().clone();
    let serial = serial_from_digits(&op.card_first).unwrap();
    let keys = crate::platform::transit::master_keys(&keyring, "beijing").derive(&serial);
    let mut state = PurseState::new(
        PublicData::adult_card(*b"BEIJING ", serial),
        keys,
        op.max_balance,
    );
    state.balance = BALANCE;
    let path = dir.path().join("band.se");
    let key = KeystoreKey::key_file_for(&path);
    let mut band = Device::create(&path, &key, DeviceKind::Band, "band", "emulated").unwrap();
    band.install_purse(&state).unwrap();
    let station = |code: u16| {
        let gate_dir = dir.path().join(code.to_string());
        Station::open(&config, "beijing", (code, 1), &gate_dir, &keyring).unwrap()
    };
    let (entry, exit) = (station(ENTRY), station(EXIT));
    World {
        _dir: dir,
        band,
        entry,
        exit,
    }
}

fn balance(d: &Device) -> u32 {
    d.purses().unwrap()[0].balance
}

/// The exit's sale, its DEBIT sent over a field that loses the answer:
/// after the card took it (`debited`) or before it reached the card.
fn torn_exit(w: &mut World, debited: bool) -> u32 {
    let mut tap = w.band.tap(None).unwrap();
    let card = read_card(&mut tap).unwrap();
    let at = now();
    let (fare, trip) = w.exit.price(&card, true, at).unwrap();
    let mut field = |apdu: &[u8]| {
        let is_debit = apdu.get(1) == Some(&0x54);
        match (is_debit, debited) {
            (true, true) => {
                tap.process(apdu);
                Vec::new()
            }
            (true, false) => Vec::new(),
            (false, _) => tap.process(apdu),
        }
    };
    let stopped = w
        .exit
        .purchase(&mut field, Sale { fare, trip, at }, KEY_INDEX)
        .unwrap();
    assert!(stopped.is_err(), "the lost answer stops the purchase");
    assert!(
        w.exit.store.torn().unwrap().is_some(),
        "kept before the DEBIT"
    );
    fare
}

#[test]
fn a_debit_whose_answer_was_lost_is_recovered_on_the_next_tap_and_charged_once() {
    let mut w = world();
    w.entry.tap(&mut w.band, false).unwrap().unwrap();
    let fare = torn_exit(&mut w, true);
    assert_eq!(balance(&w.band), BALANCE - fare, "the card took the DEBIT");
    assert_eq!(
        w.exit.store.counts().unwrap().records,
        0,
        "nothing recorded yet"
    );
    // The rider taps again: the gate proves the torn DEBIT, charges nothing
    // more and keeps the one transaction.
    let passed = w.exit.tap(&mut w.band, true).unwrap().unwrap();
    assert_eq!((passed.fare, passed.balance), (fare, BALANCE - fare));
    assert_eq!(balance(&w.band), BALANCE - fare);
    assert_eq!(w.exit.store.counts().unwrap().records, 1);
    assert!(w.exit.store.torn().unwrap().is_none());
}

#[test]
fn a_debit_lost_before_the_card_took_it_is_charged_once_on_the_next_tap() {
    let mut w = world();
    w.entry.tap(&mut w.band, false).unwrap().unwrap();
    let fare = torn_exit(&mut w, false);
    assert_eq!(balance(&w.band), BALANCE);
    let passed = w.exit.tap(&mut w.band, true).unwrap().unwrap();
    assert_eq!((passed.fare, passed.balance), (fare, BALANCE - fare));
    assert_eq!(balance(&w.band), BALANCE - fare);
    assert_eq!(w.exit.store.counts().unwrap().records, 1);
}

#[test]
fn a_crash_between_the_cards_debit_and_the_record_is_recovered_once() {
    let mut w = world();
    w.entry.tap(&mut w.band, false).unwrap().unwrap();
    // The whole purchase went through, and the gate stopped before its
    // record: the card is debited, the store holds only the torn sale.
    let mut tap = w.band.tap(None).unwrap();
    let card = read_card(&mut tap).unwrap();
    let at = now();
    let (fare, trip) = w.exit.price(&card, true, at).unwrap();
    let mut field = |apdu: &[u8]| tap.process(apdu);
    let record = w
        .exit
        .purchase(&mut field, Sale { fare, trip, at }, KEY_INDEX)
        .unwrap()
        .unwrap();
    drop(tap);
    let gate_dir = w._dir.path().join(EXIT.to_string());
    let keyring = Keyring::for_data_dir(&w._dir.path().join("data")).unwrap();
    let config = TransitConfig::default_operators();
    let restarted = Station::open(&config, "beijing", (EXIT, 1), &gate_dir, &keyring).unwrap();
    assert_eq!(restarted.store.counts().unwrap().records, 0);
    let passed = restarted.tap(&mut w.band, true).unwrap().unwrap();
    assert_eq!(
        (passed.fare, passed.terminal_seq),
        (fare, record.terminal_seq)
    );
    assert_eq!(balance(&w.band), BALANCE - fare);
    assert_eq!(restarted.store.counts().unwrap().records, 1);
}
