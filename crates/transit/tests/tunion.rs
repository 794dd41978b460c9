//! T-Union clearing between operators: a Beijing member card debited at
//! Shanghai's gates under the national key, cleared by Shanghai, learned by
//! Beijing; forged records and non-members refused; a card riding in two
//! cities never looks like a clone, a real clone still does.

use paytap_purse::card::TUNION_KEY_INDEX;
use paytap_purse::command::PurchaseKind;
use paytap_purse::host::Host;
use paytap_purse::records::{DateTime, PublicData, SERIAL_LEN};
use paytap_purse::sam::Sam;
use paytap_purse::{MasterKeys, Purse, PurseKey, PurseState, TunionMasterKeys};
use paytap_transit::clearing::{Flag, Rejection};
use paytap_transit::config::{Operator, serial_from_digits};
use paytap_transit::{Clearing, GateRecord, TransitConfig, tap};
use proptest::prelude::*;

const BJ_GATE: [u8; 6] = *b"GT\x00\x65\x00\x01";
const SH_GATES: [[u8; 6]; 2] = [*b"GT\x00\xC9\x00\x01", *b"GT\x00\xCA\x00\x01"];
const HOST_TERMINAL: [u8; 6] = [0, 0x11, 0x22, 0x33, 0x44, 0x55];
const TOP_UP: u32 = 5_000;

fn masters(city: u8) -> MasterKeys {
    MasterKeys {
        load: PurseKey::new([city; 16]),
        purchase: PurseKey::new([city ^ 0x0F; 16]),
        tac: PurseKey::new([city ^ 0xF0; 16].map(|b| b.rotate_left(u32::from(city % 7)))),
    }
}

const BEIJING: u8 = 0x10;
const SHANGHAI: u8 = 0x20;

fn national() -> TunionMasterKeys {
    TunionMasterKeys {
        purchase: PurseKey::new([0x55; 16]),
        tac: PurseKey::new(*b"national-tac-key"),
    }
}

fn op(id: &str) -> Operator {
    TransitConfig::default_operators()
        .operator(id)
        .cloned()
        .unwrap()
}

fn members() -> Vec<Operator> {
    TransitConfig::default_operators()
        .members()
        .cloned()
        .collect()
}

fn member_clearing(id: &str, city: u8) -> Clearing {
    Clearing::new(op(id), masters(city).tac).with_tunion(national().tac, members())
}

fn at(minute: u8) -> DateTime {
    DateTime::from_parts(2026, 12, 5, 8, minute % 60, 0).unwrap()
}

fn serial(n: u32) -> [u8; SERIAL_LEN] {
    serial_from_digits(&format!("1000310499{n:010}")).unwrap()
}

/// A Beijing member card with `TOP_UP` loaded.
fn card(serial: [u8; SERIAL_LEN]) -> Purse {
    let public = PublicData::adult_card(*b"BEIJING ", serial);
    let state = PurseState::new(public, masters(BEIJING).derive(&serial), 100_000)
        .with_tunion(national().derive(&serial));
    let mut p = Purse::new(state);
    top_up(&mut p);
    p
}

fn top_up(p: &mut Purse) {
    let host = Host::new(masters(BEIJING));
    tap::load(p, &host, TOP_UP, HOST_TERMINAL, at(0), [9; 4]).unwrap();
}

fn beijing_sam() -> Sam {
    Sam::new(BJ_GATE, masters(BEIJING).purchase, 1).with_tunion(national().purchase)
}

fn shanghai_sam(gate: usize) -> Sam {
    Sam::new(SH_GATES[gate], masters(SHANGHAI).purchase, 1).with_tunion(national().purchase)
}

/// A ride at Beijing's own gate (own key) or Shanghai's (T-Union key).
fn ride(p: &mut Purse, sam: &mut Sam, at_home: bool, amount: u32, minute: u8) -> GateRecord {
    let key = if at_home {
        paytap_purse::card::KEY_INDEX
    } else {
        TUNION_KEY_INDEX
    };
    let kind = (PurchaseKind::Simple, amount);
    tap::purchase_under(p, sam, key, kind, at(minute), || [7; 4]).unwrap()
}

#[test]
fn shanghai_clears_a_beijing_card_and_refuses_what_it_should() {
    let mut p = card(serial(1));
    let mut sh = shanghai_sam(0);
    let r = ride(&mut p, &mut sh, false, 400, 5);
    let forged = GateRecord {
        tac: [0; 4],
        terminal_seq: 9,
        ..r
    };
    let altered = GateRecord {
        amount: 40,
        terminal_seq: 10,
        ..r
    };
    // A Shanghai clearing that is no member, and Lingnan, not a member.
    let plain_shanghai = || Clearing::new(op("shanghai"), masters(SHANGHAI).tac);
    let lingnan = || Clearing::new(op("lingnan"), masters(0x60).tac);
    let member = || member_clearing("shanghai", SHANGHAI);
    type Make = fn() -> Clearing;
    // (clearing, record, verdict)
    let table: [(Make, GateRecord, Result<bool, Rejection>); 5] = [
        (member, r, Ok(true)),
        (member, forged, Err(Rejection::TacInvalid)),
        (member, altered, Err(Rejection::TacInvalid)),
        (plain_shanghai, r, Err(Rejection::NotOurCard)),
        (lingnan, r, Err(Rejection::NotOurCard)),
    ];
    for (make, record, expect) in table {
        let mut c = make();
        assert_eq!(c.clear_one(&record, &mut Vec::new()), expect, "{record:?}");
    }
    let mut c = member();
    assert_eq!(
        c.issuer_of(&r.serial).map(|o| o.id.as_str()),
        Some("beijing")
    );
    assert_eq!(c.submit(&[r, r]).duplicates, 1);
    assert_eq!((c.totals().total, c.totals().records), (400, 1));
    // Beijing's clearing would not count it as its own sale: its TAC is not
    // under Beijing's city key.
    let mut bj = member_clearing("beijing", BEIJING);
    assert_eq!(
        bj.clear_one(&r, &mut Vec::new()),
        Err(Rejection::TacInvalid)
    );
    // It learns it instead: filed, not counted; twice is once.
    assert_eq!(bj.learn(&r), Ok(vec![]));
    assert_eq!(bj.learn(&r), Ok(vec![]));
    assert_eq!(bj.learn(&forged), Err(Rejection::TacInvalid));
    assert_eq!((bj.totals().total, bj.accepted().count()), (0, 0));
    // Shanghai learns nothing of a card that is not its own.
    assert_eq!(c.learn(&r), Err(Rejection::NotOurCard));
}

#[test]
fn a_clone_riding_in_another_city_is_flagged_by_the_issuer() {
    let mut p = card(serial(2));
    let mut twin = p.clone();
    let (mut bj_sam, mut sh) = (beijing_sam(), shanghai_sam(0));
    let home = ride(&mut p, &mut bj_sam, true, 300, 1);
    let away = ride(&mut twin, &mut sh, false, 300, 2);
    assert_eq!(home.counter, away.counter);
    let mut bj = member_clearing("beijing", BEIJING);
    let mut shc = member_clearing("shanghai", SHANGHAI);
    assert_eq!(bj.submit(&[home]).accepted, 1);
    assert_eq!(shc.submit(&[away]).accepted, 1);
    // Each city alone sees nothing wrong; the issuer, told of the trip, does.
    assert!(shc.hotlist().is_empty());
    assert_eq!(bj.learn(&away), Ok(vec![Flag::CounterReused(home.counter)]));
    assert!(bj.is_hotlisted(&home.serial));
}

proptest! {
    /// A card riding in Beijing and Shanghai in any order, with top-ups at
    /// home: every record is cleared by the city whose gate took it, the
    /// issuer learns the others, nobody flags it, and the two cities'
    /// totals are everything the card paid.
    #[test]
    fn a_card_riding_in_two_cities_is_no_clone(
        rides in proptest::collection::vec((any::<bool>(), 100u32..700, any::<bool>()), 1..40),
        order in any::<u64>(),
    ) {
        let mut p = card(serial(3));
        let mut bj_sam = beijing_sam();
        let mut sh_sams = [shanghai_sam(0), shanghai_sam(1)];
        let (mut home, mut away) = (Vec::new(), Vec::new());
        let mut paid = 0u64;
        for (i, (at_home, amount, load)) in rides.into_iter().enumerate() {
            // A top-up when asked (within the maximum) or when needed.
            if (load && p.state().balance <= 50_000) || p.state().balance < amount {
                top_up(&mut p);
            }
            if at_home {
                home.push(ride(&mut p, &mut bj_sam, true, amount, i as u8));
            } else {
                let s = &mut sh_sams[i % 2];
                away.push(ride(&mut p, s, false, amount, i as u8));
            }
            paid += u64::from(amount);
        }
        let mut bj = member_clearing("beijing", BEIJING);
        let mut sh = member_clearing("shanghai", SHANGHAI);
        let out = sh.submit(&away);
        prop_assert!(out.rejected.is_empty() && out.flagged.is_empty());
        // Beijing's uploads and what it learns of Shanghai's, interleaved.
        let mut flags = Vec::new();
        let (mut h, mut a) = (home.iter(), away.iter());
        for bit in 0..home.len() + away.len() {
            let from_away = match (h.len(), a.len()) {
                (0, _) => true,
                (_, 0) => false,
                _ => order >> (bit % 64) & 1 == 1,
            };
            if from_away {
                let r = a.next().unwrap();
                flags.extend(bj.learn(r).unwrap().into_iter().map(|f| (r.serial, f)));
            } else {
                prop_assert_eq!(bj.clear_one(h.next().unwrap(), &mut flags), Ok(true));
            }
        }
        prop_assert!(flags.is_empty(), "{:?}", flags);
        prop_assert!(bj.hotlist().is_empty() && sh.hotlist().is_empty());
        prop_assert_eq!(bj.totals().total + sh.totals().total, paid);
        prop_assert_eq!(sh.totals().records as usize, away.len());
        prop_assert_eq!(bj.accepted().count(), home.len());
    }
}
