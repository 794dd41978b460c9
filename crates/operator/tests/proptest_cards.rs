//! Property test over whole cards, on the configured store (SQLite by
//! default, PostgreSQL with PAYTAP_TEST_DATABASE_URL): cards issued by the
//! host, random paid loads (some whose answer is lost and completed in a
//! new card session), rides at three gates, cards reported lost, gates
//! uploading with repeats and late. At the end every gate has uploaded:
//! for each card, what the operator knows it holds (loads less cleared
//! fares) is the card's own balance, every payment was made once, and the
//! ledger sums to zero with the float holding every load.

mod common;

use std::sync::Arc;

use common::*;
use paytap_operator::{LoadRequest, OperatorError, OperatorHost};
use paytap_purse::Purse;
use paytap_purse::command::PurchaseKind;
use paytap_purse::host::LoadInit;
use paytap_purse::records::DateTime;
use paytap_purse::terminal::{self, split};
use paytap_transit::{GateRecord, tap};
use proptest::prelude::*;

/// Cards in a run.
const CARDS: usize = 3;
/// The loading terminal.
const LOADER: [u8; 6] = [0, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5];

#[derive(Debug, Clone)]
enum Op {
    /// A paid load of `amount`; `lost_answer`: the first answer is lost
    /// and the load completed in a new card session.
    Load {
        card: usize,
        amount: u32,
        lost_answer: bool,
    },
    /// A ride of `fare` at `gate`.
    Ride { card: usize, gate: usize, fare: u32 },
    /// `gate` uploads what it holds (twice if `repeat`).
    Upload { gate: usize, repeat: bool },
    /// The card is reported lost.
    Lost { card: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..CARDS, 1u32..3_000, any::<bool>())
            .prop_map(|(card, amount, lost_answer)| Op::Load { card, amount, lost_answer }),
        4 => (0..CARDS, 0..GATES.len(), 1u32..800)
            .prop_map(|(card, gate, fare)| Op::Ride { card, gate, fare }),
        2 => (0..GATES.len(), any::<bool>()).prop_map(|(gate, repeat)| Op::Upload { gate, repeat }),
        1 => (0..CARDS).prop_map(|card| Op::Lost { card }),
    ]
}

/// The card's answer to INITIALIZE FOR LOAD, with its own random.
fn init_load(p: &mut Purse, amount: u32, random: u32) -> LoadInit {
    let ok = |r: Vec<u8>| {
        let (data, sw) = split(&r).unwrap();
        assert!(sw.is_success(), "card said {:04X}", sw.0);
        data.to_vec()
    };
    ok(p.process(&terminal::select(), [0; 4]));
    let init = ok(p.process(&terminal::init_load(amount, &LOADER), random.to_be_bytes()));
    LoadInit::decode(&init).unwrap()
}

struct World {
    host: OperatorHost,
    purses: Vec<Purse>,
    sams: Vec<paytap_purse::sam::Sam>,
    unsent: Vec<Vec<GateRecord>>,
    batches: usize,
    random: u32,
    loaded: Vec<i64>,
    lost: Vec<bool>,
    /// Loads paid.
    payments: usize,
}

impl World {
    async fn load(&mut self, card: usize, amount: u32, lost_answer: bool) {
        let p = &mut self.purses[card];
        if p.state().balance + amount > beijing().max_balance {
            return;
        }
        self.random += 1;
        let mut req = LoadRequest {
            load_id: format!("l-{}", self.random),
            serial: p.state().public.serial,
            amount,
            terminal: LOADER,
            init: init_load(p, amount, self.random),
            payment: Some(card_payment(TOKEN)),
        };
        let answer = match self.host.load(&req).await {
            Err(OperatorError::Hotlisted) => return assert!(self.lost[card]),
            other => other.unwrap(),
        };
        self.payments += 1;
        let answer = if lost_answer {
            self.random += 1;
            req.init = init_load(p, amount, self.random);
            self.host.load(&req).await.unwrap()
        } else {
            answer
        };
        let resp = p.process(&terminal::credit_load(&answer.at, &answer.mac2), [0; 4]);
        assert!(split(&resp).unwrap().1.is_success());
        self.loaded[card] += i64::from(amount);
    }

    fn ride(&mut self, card: usize, gate: usize, fare: u32) {
        let p = &mut self.purses[card];
        if p.state().balance < fare {
            return;
        }
        let at = DateTime::from_parts(2026, 12, 5, 9, (self.random % 60) as u8, 0).unwrap();
        let r = tap::purchase(
            p,
            &mut self.sams[gate],
            PurchaseKind::Simple,
            fare,
            at,
            || [4; 4],
        );
        self.unsent[gate].push(r.unwrap());
    }

    async fn upload(&mut self, gate: usize, repeat: bool) {
        let records = std::mem::take(&mut self.unsent[gate]);
        self.batches += 1;
        let id = format!("g{gate}-{}", self.batches);
        let first = self.host.upload(&id, &records).await.unwrap();
        assert_eq!(first.accepted, records.len());
        if repeat {
            assert_eq!(self.host.upload(&id, &records).await.unwrap(), first);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn every_card_holds_its_loads_less_its_fares_and_the_ledger_sums_to_zero(
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let f = fixture().await;
            let network = TestNetwork::open(&f.ledger).await;
            let host = f.host.with_payments(Arc::new(network.clone()));
            let mut purses = Vec::new();
            for i in 0..CARDS {
                let fee = card_payment(TOKEN);
                let issued = host.issue(&format!("i-{i}"), &format!("device-{i}"), Some(&fee)).await.unwrap();
                purses.push(Purse::new(issued.state));
            }
            let mut w = World {
                host,
                purses,
                sams: (0..GATES.len()).map(sam).collect(),
                unsent: vec![Vec::new(); GATES.len()],
                batches: 0,
                random: 0,
                loaded: vec![0; CARDS],
                lost: vec![false; CARDS],
                // Each card's fee was paid once.
                payments: CARDS,
            };
            for op in &ops {
                match *op {
                    Op::Load { card, amount, lost_answer } => w.load(card, amount, lost_answer).await,
                    Op::Ride { card, gate, fare } => w.ride(card, gate, fare),
                    Op::Upload { gate, repeat } => w.upload(gate, repeat).await,
                    Op::Lost { card } => {
                        let serial = w.purses[card].state().public.serial;
                        w.host.report_lost(&serial).await.unwrap();
                        w.lost[card] = true;
                    }
                }
            }
            for gate in 0..GATES.len() {
                w.upload(gate, false).await;
            }
            for (card, p) in w.purses.iter().enumerate() {
                let serial = p.state().public.serial;
                w.host.report_lost(&serial).await.unwrap();
                let m = w.host.movable(&serial).await.unwrap();
                assert_eq!(m.loaded, w.loaded[card]);
                assert_eq!(m.balance, p.state().balance, "card {card}");
            }
            let loads: i64 = w.loaded.iter().sum();
            assert_eq!(network.counts(), (w.payments, 0), "each fee and load paid once");
            let r = f.ledger.check_invariants().await.unwrap();
            for (cur, b) in &r.totals {
                assert_eq!(b.debits_posted, b.credits_posted, "{cur}");
            }
            let float = f.ledger.balance("transit:beijing:float").await.unwrap();
            assert_eq!(float.credits_posted - float.debits_posted, loads);
        });
    }
}
