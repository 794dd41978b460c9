//! Property test: random batches drawn from honest, tampered and altered
//! records, uploaded with repeats, some abandoned before they finished and
//! retried; the day's settlement equals the sum of the distinct valid fares
//! and the ledger's invariants hold.

mod common;

use std::collections::BTreeMap;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::LazyLock;
use std::task::Poll;
use std::time::Duration;

use common::*;
use paytap_transit::GateRecord;
use paytap_transit::clearing::TxnId;
use proptest::prelude::*;

/// Honest records the batches draw from.
static POOL: LazyLock<Vec<GateRecord>> = LazyLock::new(|| rides(4, 24));

#[derive(Debug, Clone, Copy)]
enum Pick {
    /// A record as the card made it.
    Honest(usize),
    /// Its amount changed: the TAC no longer verifies.
    Forged(usize),
    /// Its counter changed (not under the TAC): an altered copy.
    Altered(usize),
}

impl Pick {
    fn record(self) -> GateRecord {
        match self {
            Pick::Honest(i) => POOL[i],
            Pick::Forged(i) => GateRecord {
                amount: POOL[i].amount + 1,
                ..POOL[i]
            },
            Pick::Altered(i) => GateRecord {
                counter: POOL[i].counter.wrapping_add(7),
                ..POOL[i]
            },
        }
    }
}

fn pick() -> impl Strategy<Value = Pick> {
    let n = 24usize;
    prop_oneof![
        6 => (0..n).prop_map(Pick::Honest),
        1 => (0..n).prop_map(Pick::Forged),
        1 => (0..n).prop_map(Pick::Altered),
    ]
}

#[derive(Debug, Clone)]
struct Upload {
    picks: Vec<Pick>,
    /// Abandon the first attempt after this many polls.
    abandon_after: Option<usize>,
    /// Upload it once more after it succeeded.
    repeat: bool,
}

fn upload() -> impl Strategy<Value = Upload> {
    (
        prop::collection::vec(pick(), 0..8),
        prop::option::of(0usize..6),
        any::<bool>(),
    )
        .prop_map(|(picks, abandon_after, repeat)| Upload {
            picks,
            abandon_after,
            repeat,
        })
}

async fn abandon_after<F: Future>(fut: F, polls: usize) {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        if poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_ready())).await {
            return;
        }
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn the_settled_total_is_the_sum_of_distinct_valid_fares(
        uploads in prop::collection::vec(upload(), 1..8),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let f = fixture().await;
            let mut valid: BTreeMap<TxnId, u32> = BTreeMap::new();
            for (n, u) in uploads.iter().enumerate() {
                let id = format!("b{n}");
                let records: Vec<GateRecord> = u.picks.iter().map(|p| p.record()).collect();
                if let Some(polls) = u.abandon_after {
                    abandon_after(f.host.upload(&id, &records), polls).await;
                }
                let first = f.host.upload(&id, &records).await.unwrap();
                if u.repeat {
                    assert_eq!(f.host.upload(&id, &records).await.unwrap(), first);
                }
                for p in &u.picks {
                    if let Pick::Honest(i) | Pick::Altered(i) = p {
                        valid.insert(POOL[*i].id(), POOL[*i].amount);
                    }
                }
            }
            f.clock.advance(DAY);
            let s = f.host.settle(today()).await.unwrap();
            let expected: i64 = valid.values().map(|a| i64::from(*a)).sum();
            assert_eq!(s.amount.minor, expected);
            assert_eq!(s.records as usize, valid.len());
            assert_eq!(s.gates.iter().map(|g| g.amount).sum::<i64>(), expected);
            f.ledger.check_invariants().await.unwrap();
        });
    }
}
