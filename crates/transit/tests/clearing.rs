//! Clearing of gate records made by real purses and SAMs: honest taps, repeated
//! and reordered uploads, forged and altered records, cloned cards; and a
//! property test of random taps and uploads.

use paytap_purse::command::PurchaseKind;
use paytap_purse::host::Host;
use paytap_purse::records::{DateTime, PublicData, SERIAL_LEN, TYPE_COMPOUND, TYPE_LOAD};
use paytap_purse::sam::Sam;
use paytap_purse::{MasterKeys, Purse, PurseKey, PurseState};
use paytap_transit::clearing::{BatchOutcome, Flag, MAX_BATCH, Rejection};
use paytap_transit::config::serial_from_digits;
use paytap_transit::{Clearing, GateRecord, TransitConfig, tap};
use proptest::prelude::*;

const GATES: [[u8; 6]; 3] = [[1, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 2], [1, 0, 0, 0, 0, 3]];
const HOST_TERMINAL: [u8; 6] = [0, 0x11, 0x22, 0x33, 0x44, 0x55];
const TOP_UP: u32 = 5_000;

fn masters() -> MasterKeys {
    MasterKeys {
        load: PurseKey::new([0x11; 16]),
        purchase: PurseKey::new([0x22; 16]),
        tac: PurseKey::new(*b"beijing-tac-key!"),
    }
}

fn at(day: u8, minute: u8) -> DateTime {
    DateTime::from_parts(2026, 12, day, 8, minute, 0).unwrap()
}

fn serial(n: u32) -> [u8; SERIAL_LEN] {
    serial_from_digits(&format!("1000310499{n:010}")).unwrap()
}

fn clearing() -> Clearing {
    let op = TransitConfig::default_operators()
        .operator("beijing")
        .cloned()
        .unwrap();
    Clearing::new(op, masters().tac)
}

/// A Beijing card with `TOP_UP` loaded.
fn card(serial: [u8; SERIAL_LEN]) -> Purse {
    let public = PublicData::adult_card(*b"BJ-METRO", serial);
    let mut p = Purse::new(PurseState::new(public, masters().derive(&serial), 100_000));
    top_up(&mut p);
    p
}

fn top_up(p: &mut Purse) {
    let host = Host::new(masters());
    tap::load(p, &host, TOP_UP, HOST_TERMINAL, at(1, 0), [9; 4]).unwrap();
}

fn sam(gate: usize) -> Sam {
    Sam::new(GATES[gate], masters().purchase, 1)
}

fn ride(p: &mut Purse, s: &mut Sam, amount: u32, when: DateTime) -> GateRecord {
    tap::purchase(p, s, PurchaseKind::Simple, amount, when, || [7; 4]).unwrap()
}

fn one(out: &BatchOutcome) -> Option<Rejection> {
    out.rejected.first().map(|(_, r)| *r)
}

#[test]
fn honest_taps_are_totalled_per_gate_and_day() {
    let mut p = card(serial(1));
    let (mut g0, mut g1) = (sam(0), sam(1));
    let recs = [
        ride(&mut p, &mut g0, 300, at(5, 1)),
        ride(&mut p, &mut g1, 400, at(5, 2)),
        ride(&mut p, &mut g0, 500, at(6, 3)),
    ];
    let mut c = clearing();
    let out = c.submit(&recs);
    assert_eq!((out.accepted, out.duplicates), (3, 0));
    assert!(out.rejected.is_empty() && out.flagged.is_empty());
    let t = c.totals();
    assert_eq!((t.total, t.records), (1200, 3));
    assert_eq!(t.per_gate[&GATES[0]], 800);
    assert_eq!(t.per_gate[&GATES[1]], 400);
    assert_eq!(t.per_day[&at(5, 0).date], 700);
    assert_eq!(t.per_day[&at(6, 0).date], 500);
    assert!(c.hotlist().is_empty());
}

#[test]
fn a_compound_metro_record_clears_like_a_purchase() {
    let mut p = card(serial(8));
    let mut g = sam(2);
    let r = tap::purchase(
        &mut p,
        &mut g,
        PurchaseKind::Compound,
        500,
        at(5, 9),
        || [5; 4],
    );
    let r = r.unwrap();
    assert_eq!(r.type_id, TYPE_COMPOUND);
    let mut c = clearing();
    assert_eq!(c.submit(&[r]).accepted, 1);
    assert_eq!(c.totals().per_gate[&GATES[2]], 500);
}

#[test]
fn a_batch_uploaded_twice_counts_once() {
    let mut p = card(serial(2));
    let mut g = sam(0);
    let recs: Vec<_> = (0..4)
        .map(|i| ride(&mut p, &mut g, 300, at(5, i)))
        .collect();
    let mut c = clearing();
    c.submit(&recs[..2]);
    let again = c.submit(&recs);
    assert_eq!((again.accepted, again.duplicates), (2, 2));
    let mut reversed = recs.clone();
    reversed.reverse();
    assert_eq!(c.submit(&reversed).duplicates, 4);
    assert_eq!(c.totals().total, 1200);
}

/// A change made to a record.
type Edit = fn(&mut GateRecord);

#[test]
fn forged_and_altered_records_are_refused() {
    let mut p = card(serial(3));
    let mut g = sam(0);
    let r = ride(&mut p, &mut g, 300, at(5, 1));
    let mut c = clearing();
    let cases: [(&str, Edit, Rejection); 6] = [
        ("tac", |r| r.tac[0] ^= 1, Rejection::TacInvalid),
        ("amount", |r| r.amount += 100, Rejection::TacInvalid),
        ("terminal", |r| r.terminal[5] = 9, Rejection::TacInvalid),
        ("time", |r| r.at = at(5, 2), Rejection::TacInvalid),
        (
            "type",
            |r| r.type_id = TYPE_LOAD,
            Rejection::NotAPurchase(TYPE_LOAD),
        ),
        (
            "balance",
            |r| r.balance_before = 100,
            Rejection::AmountAboveBalance,
        ),
    ];
    for (what, edit, why) in cases {
        let mut bad = r;
        edit(&mut bad);
        assert_eq!(one(&c.submit(&[bad])), Some(why), "{what}");
    }
    assert_eq!(c.totals().total, 0);
    assert_eq!(c.submit(&[r]).accepted, 1);
    // The counter and balance are not under the TAC: a changed copy of a
    // cleared transaction is refused, not counted again.
    let mut moved = r;
    moved.counter += 5;
    assert_eq!(one(&c.submit(&[moved])), Some(Rejection::Altered));
    assert_eq!(c.totals().total, 300);
}

#[test]
fn another_operators_card_is_refused() {
    let shanghai = serial_from_digits("20000000000000000042").unwrap();
    let mut p = card(shanghai);
    let r = ride(&mut p, &mut sam(0), 300, at(5, 1));
    assert_eq!(one(&clearing().submit(&[r])), Some(Rejection::NotOurCard));
}

#[test]
fn a_cloned_card_is_hotlisted_in_any_upload_order() {
    let mut real = card(serial(4));
    let mut clone = Purse::new(real.state().clone());
    let a = ride(&mut real, &mut sam(0), 300, at(5, 1));
    let b = ride(&mut clone, &mut sam(1), 400, at(5, 2));
    assert_eq!(a.counter, b.counter);
    for batch in [[a, b], [b, a]] {
        let mut c = clearing();
        let out = c.submit(&batch);
        assert_eq!(out.accepted, 2);
        assert_eq!(out.flagged, [(serial(4), Flag::CounterReused(a.counter))]);
        assert!(c.is_hotlisted(&serial(4)));
        assert_eq!(c.totals().total, 700);
    }
}

#[test]
fn balances_that_do_not_chain_are_flagged_but_a_load_between_is_not() {
    let mut p = card(serial(5));
    let mut g = sam(0);
    let first = ride(&mut p, &mut g, 300, at(5, 1));
    top_up(&mut p);
    let second = ride(&mut p, &mut g, 300, at(5, 2));
    let mut c = clearing();
    assert!(c.submit(&[second, first]).flagged.is_empty());

    let mut p = card(serial(6));
    let first = ride(&mut p, &mut g, 300, at(5, 1));
    let mut second = ride(&mut p, &mut g, 300, at(5, 2));
    second.balance_before -= 100;
    for batch in [[first, second], [second, first]] {
        let out = clearing().submit(&batch);
        assert_eq!(out.flagged, [(serial(6), Flag::Unchained(second.counter))]);
    }
}

#[test]
fn an_oversized_batch_is_refused_whole() {
    let mut p = card(serial(7));
    let r = ride(&mut p, &mut sam(0), 300, at(5, 1));
    let mut c = clearing();
    let out = c.submit(&vec![r; MAX_BATCH + 1]);
    assert_eq!(one(&out), Some(Rejection::BatchTooLarge));
    assert_eq!(c.totals().records, 0);
}

#[derive(Clone, Debug)]
enum Op {
    Tap {
        card: usize,
        gate: usize,
        amount: u32,
    },
    Load {
        card: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..GATES.len(), 0..600u32)
            .prop_map(|(card, gate, amount)| Op::Tap { card, gate, amount }),
        1 => (0..3usize).prop_map(|card| Op::Load { card }),
    ]
}

/// Runs the operations; returns every record the gates kept.
fn ride_all(ops: &[Op]) -> Vec<GateRecord> {
    let mut cards: Vec<Purse> = (0..3).map(|i| card(serial(100 + i))).collect();
    let mut sams: Vec<Sam> = (0..GATES.len()).map(sam).collect();
    let mut recs = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match *op {
            Op::Tap { card, gate, amount } => {
                let when = at(5 + (i % 3) as u8, (i % 60) as u8);
                let kind = PurchaseKind::Simple;
                let p = &mut cards[card];
                // A tap the card refuses (balance too low) leaves no record.
                if let Ok(r) = tap::purchase(p, &mut sams[gate], kind, amount, when, || [3; 4]) {
                    recs.push(r);
                }
            }
            Op::Load { card } => top_up(&mut cards[card]),
        }
    }
    recs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn repeated_and_reordered_uploads_count_each_fare_once(
        ops in prop::collection::vec(op(), 1..40),
        uploads in prop::collection::vec(prop::collection::vec(any::<prop::sample::Index>(), 0..30), 1..6),
        forge in any::<prop::sample::Index>(),
    ) {
        let recs = ride_all(&ops);
        prop_assume!(!recs.is_empty());
        let mut c = clearing();
        let mut sent = std::collections::HashSet::new();
        for batch in &uploads {
            let b: Vec<GateRecord> = batch.iter().map(|i| *i.get(&recs)).collect();
            sent.extend(b.iter().map(GateRecord::id));
            let out = c.submit(&b);
            prop_assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        }
        let mut forged = *forge.get(&recs);
        forged.tac[3] ^= 0x80;
        prop_assert_eq!(one(&c.submit(&[forged])), Some(Rejection::TacInvalid));
        let expect: u64 = recs
            .iter()
            .filter(|r| sent.contains(&r.id()))
            .map(|r| u64::from(r.amount))
            .sum();
        let t = c.totals();
        prop_assert_eq!(t.total, expect);
        prop_assert_eq!(t.records as usize, sent.len());
        prop_assert!(c.hotlist().is_empty(), "{:?}", c.hotlist());
        // Everything uploaded once more, in reverse: nothing new.
        let mut all = recs.clone();
        all.reverse();
        let out = c.submit(&all);
        prop_assert_eq!(out.accepted + out.duplicates, recs.len());
        prop_assert_eq!(c.totals().total, recs.iter().map(|r| u64::from(r.amount)).sum::<u64>());
    }
}

/// One change a faulty or hostile gate might make to a record.
fn mutate(r: &mut GateRecord, what: u8, x: u32) {
    match what % 7 {
        0 => r.tac[(x % 4) as usize] ^= 1 | x as u8,
        1 => r.amount = r.amount.wrapping_add(1 + x % 1000),
        2 => r.terminal_seq = r.terminal_seq.wrapping_add(1 + x),
        3 => r.terminal[(x % 6) as usize] ^= 1,
        4 => r.counter = r.counter.wrapping_add(1 + x as u16),
        5 => r.balance_before = x,
        _ => r.serial[9] ^= 1 + (x as u8 & 0x0F),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn tampered_uploads_never_count_a_transaction_no_card_made(
        ops in prop::collection::vec(op(), 1..30),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), any::<u32>()), 0..20),
        order in any::<u64>(),
    ) {
        let recs = ride_all(&ops);
        prop_assume!(!recs.is_empty());
        let mut upload = recs.clone();
        for (i, what, x) in &edits {
            let mut r = *i.get(&recs);
            mutate(&mut r, *what, *x);
            upload.push(r);
        }
        let k = (order as usize) % upload.len();
        upload.rotate_left(k);
        let mut c = clearing();
        c.submit(&upload);
        let genuine: std::collections::HashMap<_, _> = recs.iter().map(|r| (r.id(), r.amount)).collect();
        for r in c.accepted() {
            prop_assert_eq!(genuine.get(&r.id()), Some(&r.amount), "{:?}", r);
        }
        let t = c.totals();
        prop_assert_eq!(t.records as usize, genuine.len());
        prop_assert_eq!(t.total, genuine.values().map(|a| u64::from(*a)).sum::<u64>());
    }
}
