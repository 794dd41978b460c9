//! Card, SAM and host together: loads, purchases, compound trips, torn purchases,
//! bad input; and a property test of random sequences.

use paytap_purse::card::{LOG_RECORDS, PersistFailed};
use paytap_purse::command::{PurchaseKind, SFI_LOG, SFI_PUBLIC, SFI_TRIPS};
use paytap_purse::host::{Host, LoadInit};
use paytap_purse::records::{
    DateTime, LogRecord, PublicData, TRIP_ENTRY, TYPE_COMPOUND, TYPE_LOAD, TYPE_PURCHASE,
    TripRecord,
};
use paytap_purse::sam::Sam;
use paytap_purse::terminal::{self, Next, PurchaseFlow, Receipt, Torn, split};
use paytap_purse::{MasterKeys, Purse, PurseKey, PurseState};
use proptest::prelude::*;

const MAX_BALANCE: u32 = 100_000;
const SERIAL: [u8; 10] = [0x10, 0x00, 0x31, 0x04, 0x99, 0x00, 0x00, 0x00, 0x12, 0x34];
const GATE: [u8; 6] = [0x01, 0x00, 0x00, 0x00, 0x00, 0x07];
const HOST_TERMINAL: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];

fn masters() -> MasterKeys {
    MasterKeys {
        load: PurseKey::new([0x11; 16]),
        purchase: PurseKey::new([0x22; 16]),
        tac: PurseKey::new(
            [0x34; 8]
                .into_iter()
                .chain([0x43; 8])
                .collect::<Vec<_>>()
                .try_into()
                .unwrap(),
        ),
    }
}

fn at() -> DateTime {
    DateTime::from_parts(2026, 12, 5, 8, 30, 0).unwrap()
}

fn purse() -> Purse {
    let public = PublicData::adult_card(*b"BJ-METRO", SERIAL);
    Purse::new(PurseState::new(
        public,
        masters().derive(&SERIAL),
        MAX_BALANCE,
    ))
}

fn sam() -> Sam {
    Sam::new(GATE, masters().purchase.clone(), 1)
}

/// Sends an APDU, expects success, returns the data.
fn send(p: &mut Purse, apdu: &[u8], rnd: u32) -> Vec<u8> {
    let r = p.process(apdu, rnd.to_be_bytes());
    let (d, sw) = split(&r).unwrap();
    assert!(sw.is_success(), "{} -> {sw:?}", hex::encode(apdu));
    d.to_vec()
}

fn sw_of(r: &[u8]) -> u16 {
    split(r).unwrap().1.0
}

/// A full online load through the host; returns the status word of CREDIT.
fn load(p: &mut Purse, host: &Host, amount: u32, rnd: u32) -> Result<(), u16> {
    send(p, &terminal::select(), rnd);
    let r = p.process(
        &terminal::init_load(amount, &HOST_TERMINAL),
        rnd.to_be_bytes(),
    );
    let (d, sw) = split(&r).unwrap();
    if !sw.is_success() {
        return Err(sw.0);
    }
    let s = host
        .begin_load(&SERIAL, LoadInit::decode(d).unwrap(), amount, HOST_TERMINAL)
        .unwrap();
    let r = p.process(
        &terminal::credit_load(&at(), &s.mac2(&at())),
        rnd.to_be_bytes(),
    );
    let (d, sw) = split(&r).unwrap();
    if !sw.is_success() {
        return Err(sw.0);
    }
    host.verify_load_tac(&s, &at(), d.try_into().unwrap())
        .unwrap();
    Ok(())
}

/// Runs the gate's purchase flow; `lose_debit_answer` drops the DEBIT answer.
fn purchase(
    p: &mut Purse,
    sam: &mut Sam,
    kind: PurchaseKind,
    amount: u32,
    torn: Option<Torn>,
    lose_debit_answer: bool,
    rnd: u32,
) -> Result<Receipt, Result<Torn, u16>> {
    let trip = (kind == PurchaseKind::Compound).then(|| TripRecord {
        kind: TRIP_ENTRY,
        terminal: GATE,
        at: at(),
        amount,
        balance: 0,
    });
    let (mut flow, mut apdu) = PurchaseFlow::new(kind, amount, at(), trip, torn);
    p.reset();
    loop {
        let lost = flow.torn();
        let r = p.process(&apdu, rnd.to_be_bytes());
        if lose_debit_answer && let Some(t) = lost {
            return Err(Ok(t));
        }
        match flow.on_response(&r, sam) {
            Ok(Next::Send(a)) => apdu = a,
            Ok(Next::Done(receipt)) => return Ok(receipt),
            Err(e) => {
                return Err(Err(match e {
                    paytap_purse::terminal::PurchaseError::Card(sw) => sw.0,
                    _ => 0,
                }));
            }
        }
    }
}

#[test]
fn load_then_purchase_then_read_log() {
    let host = Host::new(masters());
    let mut p = purse();
    let mut s = sam();
    load(&mut p, &host, 5000, 1).unwrap();
    let r = purchase(&mut p, &mut s, PurchaseKind::Simple, 300, None, false, 2).unwrap();
    assert_eq!(
        (r.amount, r.balance_after, r.counter, r.recovered),
        (300, 4700, 0, false)
    );
    host.verify_purchase_tac(
        &SERIAL,
        300,
        TYPE_PURCHASE,
        &GATE,
        r.terminal_seq,
        &at(),
        &r.tac,
    )
    .unwrap();
    send(&mut p, &terminal::select(), 0);
    assert_eq!(
        send(&mut p, &terminal::get_balance(), 0),
        4700u32.to_be_bytes()
    );
    let newest = LogRecord::decode(&send(&mut p, &terminal::read_record(SFI_LOG, 1), 0)).unwrap();
    assert_eq!(
        (newest.kind, newest.amount, newest.terminal),
        (TYPE_PURCHASE, 300, GATE)
    );
    let older = LogRecord::decode(&send(&mut p, &terminal::read_record(SFI_LOG, 2), 0)).unwrap();
    assert_eq!(
        (older.kind, older.amount, older.counter),
        (TYPE_LOAD, 5000, 0)
    );
    assert_eq!(
        sw_of(&p.process(&terminal::read_record(SFI_LOG, 3), [0; 4])),
        0x6A83
    );
    let public = PublicData::decode(&send(&mut p, &terminal::read_binary(SFI_PUBLIC), 0)).unwrap();
    assert_eq!(public.serial, SERIAL);
}

#[test]
fn compound_purchase_writes_trip_record() {
    let host = Host::new(masters());
    let mut p = purse();
    let mut s = sam();
    load(&mut p, &host, 1000, 1).unwrap();
    let r = purchase(&mut p, &mut s, PurchaseKind::Compound, 400, None, false, 2).unwrap();
    assert_eq!(r.type_id, TYPE_COMPOUND);
    host.verify_purchase_tac(
        &SERIAL,
        400,
        TYPE_COMPOUND,
        &GATE,
        r.terminal_seq,
        &at(),
        &r.tac,
    )
    .unwrap();
    send(&mut p, &terminal::select(), 0);
    let trip = TripRecord::decode(&send(&mut p, &terminal::read_record(SFI_TRIPS, 1), 0)).unwrap();
    assert_eq!(
        (trip.kind, trip.amount, trip.balance),
        (TRIP_ENTRY, 400, 600)
    );
}

#[test]
fn torn_purchase_is_recovered_and_never_charged_twice() {
    let host = Host::new(masters());
    let mut p = purse();
    let mut s = sam();
    load(&mut p, &host, 1000, 1).unwrap();
    let torn = purchase(&mut p, &mut s, PurchaseKind::Simple, 250, None, true, 2)
        .unwrap_err()
        .unwrap();
    assert_eq!(p.state().balance, 750, "the debit happened on the card");
    let r = purchase(
        &mut p,
        &mut s,
        PurchaseKind::Simple,
        250,
        Some(torn),
        false,
        3,
    )
    .unwrap();
    assert!(r.recovered);
    assert_eq!(
        (r.amount, r.balance_after, r.counter, r.terminal_seq),
        (250, 750, 0, torn.terminal_seq)
    );
    host.verify_purchase_tac(
        &SERIAL,
        250,
        TYPE_PURCHASE,
        &GATE,
        r.terminal_seq,
        &at(),
        &r.tac,
    )
    .unwrap();
    assert_eq!(p.state().balance, 750, "recovery charged nothing");
    assert_eq!(p.state().offline_counter, 1);
}

#[test]
fn torn_before_the_card_debited_simply_retries() {
    let host = Host::new(masters());
    let mut p = purse();
    let mut s = sam();
    load(&mut p, &host, 1000, 1).unwrap();
    let torn = Torn {
        serial: SERIAL,
        counter: 0,
        terminal_seq: 99,
        balance_before: 1000,
    };
    let r = purchase(
        &mut p,
        &mut s,
        PurchaseKind::Simple,
        250,
        Some(torn),
        false,
        3,
    )
    .unwrap();
    assert!(!r.recovered);
    assert_eq!(p.state().balance, 750);
}

#[test]
fn a_metro_entry_is_a_compound_purchase_of_zero() {
    let host = Host::new(masters());
    let mut p = purse();
    let mut s = sam();
    load(&mut p, &host, 1000, 1).unwrap();
    // The entry: nothing charged, its trip record written, its TAC good.
    let r = purchase(&mut p, &mut s, PurchaseKind::Compound, 0, None, false, 2).unwrap();
    assert_eq!((r.amount, r.balance_after), (0, 1000));
    host.verify_purchase_tac(
        &SERIAL,
        0,
        TYPE_COMPOUND,
        &GATE,
        r.terminal_seq,
        &at(),
        &r.tac,
    )
    .unwrap();
    send(&mut p, &terminal::select(), 0);
    let trip = TripRecord::decode(&send(&mut p, &terminal::read_record(SFI_TRIPS, 1), 0)).unwrap();
    assert_eq!(
        (trip.kind, trip.amount, trip.balance),
        (TRIP_ENTRY, 0, 1000)
    );
    // A simple purchase of zero is refused at INITIALIZE.
    assert_eq!(
        purchase(&mut p, &mut s, PurchaseKind::Simple, 0, None, false, 3).unwrap_err(),
        Err(0x6A80)
    );
    // A compound purchase of zero without its entry record: refused at DEBIT.
    send(&mut p, &terminal::select(), 0);
    send(
        &mut p,
        &terminal::init_purchase(PurchaseKind::Compound, 0, &GATE),
        4,
    );
    let debit = p.process(&terminal::debit(9, &at(), &[0; 4]), [4; 4]);
    assert_eq!(sw_of(&debit), 0x6985);
    assert_eq!(p.state().balance, 1000);
}

fn check(p: &mut Purse, apdu: &str, expect: u16) {
    let r = p.process(&hex::decode(apdu.replace(' ', "")).unwrap(), [9, 9, 9, 9]);
    assert_eq!(sw_of(&r), expect, "{apdu}");
}

#[test]
fn bad_input_table() {
    let host = Host::new(masters());
    let mut p = purse();
    check(&mut p, "805C000204", 0x6985); // not selected
    check(&mut p, "00A4040008A000000632010106", 0x6A82);
    check(&mut p, "00A4040008A000000632010105", 0x9000);
    check(&mut p, "00B0960000", 0x6A82); // unknown file
    check(&mut p, "00B095FF00", 0x6B00); // offset past end
    check(&mut p, "00B201D400", 0x6A82);
    check(&mut p, "805200000B 20261205 083000 00000000 04", 0x6985); // credit without init
    check(
        &mut p,
        "805401000F 00000001 20261205 083000 00000000 08",
        0x6985,
    ); // debit without init
    check(&mut p, "805001020B 01 00000001 010000000007 0F", 0x9401); // empty purse
    check(&mut p, "805000020B 02 00000001 001122334455 10", 0x9403); // key index
    check(&mut p, "805000020B 01 00000000 001122334455 10", 0x6A80); // zero amount
    check(
        &mut p,
        &format!("805000020B 01 {:08X} 001122334455 10", MAX_BALANCE + 1),
        0x6985,
    ); // above maximum
    check(&mut p, "805000020B 01 FFFFFFFF 001122334455 10", 0x6985); // overflow
    check(&mut p, "805000020B 01 00000064 001122334455 10", 0x9000);
    check(&mut p, "805200000B 20261205 083000 00000000 04", 0x9302); // wrong MAC2
    check(&mut p, "805200000B 20261205 083000 00000000 04", 0x6985); // session gone after MAC error
    check(&mut p, "805A000602 0000 08", 0x9406); // nothing to prove
    check(&mut p, "805A000202 0000 08", 0x6A86);
    check(&mut p, "80DC01F00100", 0x6700);
    assert_eq!(p.state().balance, 0);
    assert_eq!(p.state().online_counter, 0);
    // A replayed CREDIT (a completed load's MAC2 sent again on a new session) is refused.
    let d = send(&mut p, &terminal::init_load(100, &HOST_TERMINAL), 5);
    let s = host
        .begin_load(&SERIAL, LoadInit::decode(&d).unwrap(), 100, HOST_TERMINAL)
        .unwrap();
    let credit = terminal::credit_load(&at(), &s.mac2(&at()));
    send(&mut p, &credit, 5);
    send(&mut p, &terminal::init_load(100, &HOST_TERMINAL), 5);
    assert_eq!(
        sw_of(&p.process(&credit, [0; 4])),
        0x9302,
        "same random, new counter: new session key"
    );
    assert_eq!((p.state().balance, p.state().online_counter), (100, 1));
    // Wrong MAC1 on DEBIT.
    check(&mut p, "805001020B 01 00000001 010000000007 0F", 0x9000);
    check(
        &mut p,
        "805401000F 00000001 20261205 083000 00000000 08",
        0x9302,
    );
    assert_eq!(p.state().balance, 100);
}

#[test]
fn failed_persist_rolls_back_and_answers_6581() {
    let host = Host::new(masters());
    let mut p = purse();
    send(&mut p, &terminal::select(), 0);
    let d = send(&mut p, &terminal::init_load(500, &HOST_TERMINAL), 1);
    let s = host
        .begin_load(&SERIAL, LoadInit::decode(&d).unwrap(), 500, HOST_TERMINAL)
        .unwrap();
    let r = p.process_with(
        &terminal::credit_load(&at(), &s.mac2(&at())),
        [0; 4],
        |_| Err(PersistFailed),
    );
    assert_eq!(sw_of(&r), 0x6581);
    assert_eq!((p.state().balance, p.state().online_counter), (0, 0));
    load(&mut p, &host, 500, 2).unwrap();
    assert_eq!((p.state().balance, p.state().online_counter), (500, 1));
}

#[test]
fn log_keeps_the_last_records_only() {
    let host = Host::new(masters());
    let mut p = purse();
    for i in 0..(LOG_RECORDS as u32 + 3) {
        load(&mut p, &host, 1, i).unwrap();
    }
    assert_eq!(p.state().log.len(), LOG_RECORDS);
    assert_eq!(p.state().log[0].counter, LOG_RECORDS as u16 + 2);
}

#[derive(Clone, Debug)]
enum Op {
    Load(u32),
    Buy(u32, bool),
    Torn(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u32..30_000).prop_map(Op::Load),
        (1u32..2_000, any::<bool>()).prop_map(|(a, c)| Op::Buy(a, c)),
        (1u32..2_000).prop_map(Op::Torn),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn balance_is_loads_minus_purchases(ops in proptest::collection::vec(op(), 1..40)) {
        let host = Host::new(masters());
        let mut p = purse();
        let mut s = sam();
        let (mut loaded, mut spent) = (0u64, 0u64);
        let mut seen = std::collections::HashSet::new();
        let mut last = (p.state().online_counter, p.state().offline_counter);
        for (i, op) in ops.into_iter().enumerate() {
            let rnd = i as u32;
            match op {
                Op::Load(a) => if load(&mut p, &host, a, rnd).is_ok() { loaded += u64::from(a) },
                Op::Buy(a, compound) => {
                    let kind = if compound { PurchaseKind::Compound } else { PurchaseKind::Simple };
                    if let Ok(r) = purchase(&mut p, &mut s, kind, a, None, false, rnd) {
                        prop_assert!(seen.insert(r.counter), "counter reused");
                        spent += u64::from(r.amount);
                    }
                }
                Op::Torn(a) => {
                    if let Err(Ok(t)) = purchase(&mut p, &mut s, PurchaseKind::Simple, a, None, true, rnd) {
                        let r = purchase(&mut p, &mut s, PurchaseKind::Simple, a, Some(t), false, rnd + 1000).unwrap();
                        prop_assert!(r.recovered);
                        prop_assert!(seen.insert(r.counter), "counter reused");
                        spent += u64::from(r.amount);
                    }
                }
            }
            let now = (p.state().online_counter, p.state().offline_counter);
            prop_assert!(now.0 >= last.0 && now.1 >= last.1);
            last = now;
            prop_assert_eq!(u64::from(p.state().balance), loaded - spent);
            prop_assert!(p.state().balance <= MAX_BALANCE);
        }
        prop_assert_eq!(u64::from(p.state().offline_counter), seen.len() as u64);
    }
}

#[test]
fn state_survives_encode_decode_and_refuses_corruption() {
    let host = Host::new(masters());
    let mut p = purse();
    let mut s = sam();
    load(&mut p, &host, 5000, 1).unwrap();
    purchase(&mut p, &mut s, PurchaseKind::Compound, 300, None, false, 2).unwrap();
    let bytes = p.state().encode();
    assert_eq!(PurseState::decode(&bytes).as_ref(), Ok(p.state()));
    let check = |b: &[u8], why: &'static str| {
        assert_eq!(
            PurseState::decode(b).map(|_| ()),
            Err(paytap_purse::card::CorruptState(why))
        )
    };
    check(&bytes[..bytes.len() - 1], "truncated");
    check(&[bytes.as_slice(), &[0]].concat(), "trailing bytes");
    let mut v = bytes.clone();
    v[0] = 9;
    check(&v, "unknown format");
    let mut v = bytes.clone();
    v[1 + 30 + 48 + 4] = 0xFF; // balance above the maximum
    check(&v, "balance");
    check(&[], "truncated");
}
