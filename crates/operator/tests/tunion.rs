//! T-Union between operators' hosts on one store and ledger (SQLite by
//! default, PostgreSQL with PAYTAP_TEST_DATABASE_URL): a Beijing member
//! card rides in Shanghai, Shanghai clears it and is paid from Beijing's
//! float in its day's settlement, Beijing learns the trip into the card's
//! history; a forged record is refused; a clone riding in two cities is
//! hotlisted by its issuer; a member's hotlist download names every
//! member's hotlisted cards, a non-member's only its own.

mod common;

use std::sync::Arc;

use paytap_ledger::Ledger;
use paytap_operator::api::{Operators, router};
use paytap_operator::auth::{ApiKeys, CLIENT_HEADER, MAC_HEADER, gate_client, gate_key, sign};
use paytap_operator::wire::WireHotlist;
use paytap_operator::{OperatorHost, OperatorKeys, RejectedRecord, TunionMember};
use paytap_purse::card::TUNION_KEY_INDEX;
use paytap_purse::command::PurchaseKind;
use paytap_purse::host::Host;
use paytap_purse::sam::Sam;
use paytap_purse::{MasterKeys, Purse, PurseKey, TunionMasterKeys};
use paytap_store::Db;
use paytap_transit::config::{Operator, serial_digits};
use paytap_transit::fare::metro_fare;
use paytap_transit::{GateRecord, TransitConfig, tap};
use paytap_types::ManualClock;
use zeroize::Zeroizing;

use common::{DAY, MORNING, at, count, today};

/// A Shanghai gate at People's Square (station 203), and one at Xinzhuang (201).
const SH_GATE: [u8; 6] = *b"GT\x00\xCB\x00\x01";
/// A Beijing gate at Xidan (station 103).
const BJ_GATE: [u8; 6] = *b"GT\x00\x67\x00\x01";
const HOST_TERMINAL: [u8; 6] = [0, 0x11, 0x22, 0x33, 0x44, 0x55];
const GATE_MASTER: [u8; 32] = [7; 32];
const STAFF_KEY: [u8; 32] = [8; 32];

fn op(id: &str) -> Operator {
    TransitConfig::default_operators()
        .operator(id)
        .cloned()
        .unwrap()
}

/// Each city's own master keys.
fn masters(id: &str) -> MasterKeys {
    let b = id.as_bytes()[0];
    MasterKeys {
        load: PurseKey::new([b; 16]),
        purchase: PurseKey::new([b ^ 0x5A; 16]),
        tac: PurseKey::new([b ^ 0xA5; 16].map(|x| x.wrapping_add(b))),
    }
}

fn national() -> TunionMasterKeys {
    TunionMasterKeys {
        purchase: PurseKey::new([0x55; 16]),
        tac: PurseKey::new(*b"national-tac-key"),
    }
}

async fn host(db: &Db, ledger: &Ledger, clock: &ManualClock, id: &str) -> OperatorHost {
    let keys = OperatorKeys {
        masters: masters(id),
        data_key: Zeroizing::new([id.as_bytes()[1]; 32]),
    };
    // Cards issued free here: the card fee is `card_fee.rs`'s.
    let o = Operator {
        card_fee: 0,
        ..op(id)
    };
    let member = o.tunion;
    let h = OperatorHost::open(db.clone(), ledger.clone(), o, keys, Arc::new(clock.clone()))
        .await
        .unwrap();
    if !member {
        return h;
    }
    h.with_tunion(TunionMember {
        masters: national(),
        data_key: Zeroizing::new([0x77; 32]),
        members: TransitConfig::default_operators()
            .members()
            .cloned()
            .collect(),
    })
}

struct World {
    db: Db,
    ledger: Ledger,
    clock: ManualClock,
    beijing: OperatorHost,
    shanghai: OperatorHost,
}

async fn world() -> World {
    let db = Db::for_tests().await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let clock = ManualClock::starting_at(MORNING);
    let beijing = host(&db, &ledger, &clock, "beijing").await;
    let shanghai = host(&db, &ledger, &clock, "shanghai").await;
    World {
        db,
        ledger,
        clock,
        beijing,
        shanghai,
    }
}

/// A card Beijing issues to `device`, with 50.00 loaded at Beijing.
async fn beijing_card(w: &World, device: &str) -> Purse {
    let issued = w.beijing.issue(device, device, None).await.unwrap();
    let keys = issued.state.tunion.clone();
    assert_eq!(
        keys,
        Some(national().derive(&issued.serial)),
        "a member card"
    );
    let mut p = Purse::new(issued.state);
    let host = Host::new(masters("beijing"));
    tap::load(&mut p, &host, 5_000, HOST_TERMINAL, at(0), [9; 4]).unwrap();
    p
}

/// A ride from Xinzhuang (201) to People's Square (203), priced by
/// Shanghai's table, at Shanghai's exit gate under the T-Union key.
fn ride_in_shanghai(p: &mut Purse, sam: &mut Sam, minute: u8) -> GateRecord {
    let fare = metro_fare(&op("shanghai").metro, 201, 203).unwrap();
    let kind = (PurchaseKind::Simple, fare);
    tap::purchase_under(p, sam, TUNION_KEY_INDEX, kind, at(minute), || [3; 4]).unwrap()
}

fn shanghai_sam() -> Sam {
    Sam::new(SH_GATE, masters("shanghai").purchase, 1).with_tunion(national().purchase)
}

fn ride_in_beijing(p: &mut Purse, sam: &mut Sam, minute: u8) -> GateRecord {
    let fare = metro_fare(&op("beijing").metro, 101, 103).unwrap();
    tap::purchase(p, sam, PurchaseKind::Simple, fare, at(minute), || [4; 4]).unwrap()
}

fn beijing_sam() -> Sam {
    Sam::new(BJ_GATE, masters("beijing").purchase, 1)
}

#[tokio::test]
async fn a_beijing_card_in_shanghai_is_paid_from_beijings_float() {
    let w = world().await;
    let mut p = beijing_card(&w, "band-1").await;
    let (mut sh, mut bj) = (shanghai_sam(), beijing_sam());
    let away = [
        ride_in_shanghai(&mut p, &mut sh, 10),
        ride_in_shanghai(&mut p, &mut sh, 20),
    ];
    let home = ride_in_beijing(&mut p, &mut bj, 30);
    let fare = i64::from(away[0].amount);
    assert_eq!(fare, 400, "Shanghai's fare for 14.8 km");

    // Shanghai clears them; twice is once.
    let first = w.shanghai.upload("sh-1", &away).await.unwrap();
    assert_eq!((first.accepted, first.rejected.len()), (2, 0));
    assert_eq!(w.shanghai.upload("sh-1", &away).await.unwrap(), first);
    let again = w.shanghai.upload("sh-2", &away[1..]).await.unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 1));
    // A forged copy and an altered amount: refused.
    let forged = GateRecord {
        terminal_seq: 90,
        tac: [0; 4],
        ..away[0]
    };
    let altered = GateRecord {
        terminal_seq: 91,
        amount: 10,
        ..away[0]
    };
    let out = w.shanghai.upload("sh-3", &[forged, altered]).await.unwrap();
    let refused = |index| RejectedRecord {
        index,
        reason: "tac_invalid".into(),
    };
    assert_eq!(
        (out.accepted, out.rejected),
        (0, vec![refused(0), refused(1)])
    );
    let sql = "SELECT CAST(COUNT(*) AS BIGINT) FROM operator_interchange \
               WHERE issuer = 'beijing' AND acceptor = 'shanghai'";
    assert_eq!(count(&w.db, sql).await, 2);

    // Beijing clears its own gate's record and learns the trips away: the
    // card's counters 0, 1 in Shanghai and 2 at home are one card, no clone.
    assert_eq!(home.counter, 2);
    assert_eq!(w.beijing.upload("bj-1", &[home]).await.unwrap().accepted, 1);
    assert!(w.beijing.hotlist().await.unwrap().is_empty());
    assert!(w.shanghai.hotlist().await.unwrap().is_empty());
    // Its rider sees the trips of both cities, newest first.
    let seen = w.beijing.device_cards("band-1").await.unwrap();
    let by: Vec<Option<&str>> = seen[0]
        .trips
        .iter()
        .map(|t| t.accepted_by.as_deref())
        .collect();
    assert_eq!(by, [None, Some("shanghai"), Some("shanghai")]);
    assert_eq!(seen[0].trips[1].balance_after, 5_000 - 2 * fare);

    // The day settles: Shanghai is paid from Beijing's float, Beijing's own
    // ride from its own; reports sum to the ledger; settling again moves
    // nothing more, as does a restarted host.
    w.clock.advance(DAY);
    let s = w.shanghai.settle(today()).await.unwrap();
    assert_eq!(
        (s.amount.minor, s.records, s.own_amount()),
        (2 * fare, 2, 0)
    );
    assert_eq!(s.transfer_id, None);
    assert_eq!(s.gates.len(), 1);
    assert_eq!(s.gates[0].amount, 2 * fare);
    assert_eq!(s.interchange.len(), 1);
    let i = &s.interchange[0];
    assert_eq!(
        (i.issuer.as_str(), i.records, i.amount),
        ("beijing", 2, 2 * fare)
    );
    assert_eq!(i.transfer_id, "transit:shanghai:settle:20261205:beijing");
    assert_eq!(w.shanghai.settle(today()).await.unwrap(), s);
    let restarted = host(&w.db, &w.ledger, &w.clock, "shanghai").await;
    assert_eq!(restarted.settle(today()).await.unwrap(), s);
    assert_eq!(restarted.report(today()).await.unwrap(), Some(s.clone()));
    let b = w.beijing.settle(today()).await.unwrap();
    assert_eq!(
        (b.amount.minor, b.own_amount()),
        (i64::from(home.amount), i64::from(home.amount))
    );
    assert!(b.interchange.is_empty());

    let balance = |id: String| {
        let ledger = w.ledger.clone();
        async move { ledger.balance(&id).await.unwrap() }
    };
    let (bj_acc, sh_acc) = (w.beijing.accounts(), w.shanghai.accounts());
    let bj_float = balance(bj_acc.float.clone()).await;
    let sh_revenue = balance(sh_acc.revenue.clone()).await;
    let bj_revenue = balance(bj_acc.revenue.clone()).await;
    let sh_float = balance(sh_acc.float.clone()).await;
    assert_eq!(bj_float.debits_posted, 2 * fare + i64::from(home.amount));
    assert_eq!(sh_revenue.credits_posted, 2 * fare);
    assert_eq!(bj_revenue.credits_posted, i64::from(home.amount));
    assert_eq!(sh_float.debits_posted, 0);
    let receipt = w
        .ledger
        .outcome(&i.transfer_id)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        (receipt.debit.as_str(), receipt.credit.as_str()),
        (bj_acc.float.as_str(), sh_acc.revenue.as_str())
    );
    w.ledger.check_invariants().await.unwrap();
}

#[tokio::test]
async fn a_clone_riding_in_shanghai_is_hotlisted_by_beijing() {
    let w = world().await;
    let mut p = beijing_card(&w, "band-2").await;
    let mut twin = p.clone();
    let home = ride_in_beijing(&mut p, &mut beijing_sam(), 5);
    let away = ride_in_shanghai(&mut twin, &mut shanghai_sam(), 6);
    assert_eq!(home.counter, away.counter);
    assert_eq!(w.shanghai.upload("sh-1", &[away]).await.unwrap().flagged, 0);
    assert_eq!(w.beijing.upload("bj-1", &[home]).await.unwrap().accepted, 1);
    let hot = w.beijing.hotlist().await.unwrap();
    assert_eq!(hot.len(), 1);
    assert_eq!(hot[0].serial, home.serial);
    // A restarted Beijing learns it again and keeps it once.
    let restarted = host(&w.db, &w.ledger, &w.clock, "beijing").await;
    assert_eq!(restarted.upload("bj-2", &[]).await.unwrap().accepted, 0);
    assert_eq!(restarted.hotlist().await.unwrap(), hot);
}

/// GET `op`'s hotlist as its gate `terminal`: the card numbers.
async fn gate_hotlist(base: &str, op: &str, terminal: [u8; 6]) -> Vec<String> {
    let path = format!("/transit/v1/{op}/hotlist");
    let key = gate_key(&GATE_MASTER, &terminal);
    let resp = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header(CLIENT_HEADER, gate_client(&terminal))
        .header(MAC_HEADER, sign(&key, "GET", &path, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let list: WireHotlist = resp.json().await.unwrap();
    list.cards.into_iter().map(|c| c.card_number).collect()
}

#[tokio::test]
async fn a_members_gate_downloads_every_members_hotlisted_cards() {
    let w = world().await;
    let lingnan = host(&w.db, &w.ledger, &w.clock, "lingnan").await;
    let p = beijing_card(&w, "band-3").await;
    let serial = p.state().public.serial;
    w.beijing.report_lost(&serial).await.unwrap();
    let mut ops = Operators::new();
    let keys = || ApiKeys::new(Zeroizing::new(GATE_MASTER), Zeroizing::new(STAFF_KEY));
    for h in [w.beijing, w.shanghai, lingnan] {
        ops.insert(Arc::new(h), keys());
    }
    let app = router(Arc::new(ops));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let base = format!("http://{addr}");
    let number = serial_digits(&serial);
    // (operator, its hotlist names the lost Beijing card)
    for (op, names_it) in [("beijing", true), ("shanghai", true), ("lingnan", false)] {
        let cards = gate_hotlist(&base, op, SH_GATE).await;
        assert_eq!(cards.contains(&number), names_it, "{op}: {cards:?}");
    }
}

#[tokio::test]
async fn a_lost_cards_balance_counts_and_waits_for_the_other_members_gates() {
    let w = world().await;
    let mut p = beijing_card(&w, "band-4").await;
    let away = ride_in_shanghai(&mut p, &mut shanghai_sam(), 7);
    assert_eq!(
        w.shanghai.upload("sh-1", &[away]).await.unwrap().accepted,
        1
    );
    w.beijing.report_lost(&away.serial).await.unwrap();
    // Spent in Shanghai; Shanghai's gate has not confirmed the hotlist.
    let m = w.beijing.movable(&away.serial).await.unwrap();
    assert_eq!((m.spent, m.gates_waiting), (i64::from(away.amount), 1));
    w.clock.advance(std::time::Duration::from_secs(60));
    w.shanghai.gate_confirmed(&SH_GATE, 0).await.unwrap();
    let m = w.beijing.movable(&away.serial).await.unwrap();
    assert_eq!((m.spent, m.gates_waiting), (i64::from(away.amount), 0));
}
