//! Random offline spending by two bands, one of them cloned (its key and
//! counter copied onto a second device), at three registers; each
//! register's queue uploaded in batches delayed, repeated and reordered.
//! Whatever the order: every operation is paid at most once, no band
//! account pays more than its funds (its limit here), the reserve pays
//! no more than it holds, and the ledger nets to zero.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

const LIMIT: i64 = 10_000;
const RESERVE: i64 = 3_000;
const REGISTERS: [(&str, &str); 3] = [("SHOP-A", "t1"), ("SHOP-A", "t2"), ("SHOP-B", "t1")];

#[derive(Debug, Clone)]
struct Spend {
    band: usize,
    clone: bool,
    register: usize,
    amount: u64,
}

fn spend() -> impl Strategy<Value = Spend> {
    (0..2usize, any::<bool>(), 0..3usize, 1..4_000u64).prop_map(
        |(band, clone, register, amount)| Spend {
            band,
            clone,
            register,
            amount,
        },
    )
}

/// Runs the spends offline; answers each register's queue.
fn spend_offline(w: &World, bands: &mut [Vec<Band>], spends: &[Spend]) -> Vec<Vec<BandOperation>> {
    let mut registers: Vec<_> = REGISTERS
        .iter()
        .map(|_| RegisterVerifier::new(w.platform.public_key()))
        .collect();
    let mut queues = vec![Vec::new(); REGISTERS.len()];
    for s in spends {
        // Only band 1 has a clone; band 0 is honest.
        let device = usize::from(s.band == 1 && s.clone);
        let Ok(code) = bands[s.band][device].make_code(NOW, s.amount) else {
            continue;
        };
        let text = code.to_base64();
        if registers[s.register].verify_text(&text, NOW).is_ok() {
            let (m, t) = REGISTERS[s.register];
            queues[s.register].push(op(m, t, &text, s.amount));
        }
    }
    queues
}

/// Cuts each queue into batches by `cuts`, then orders them by `order`
/// and repeats those `repeat` picks.
fn schedule(
    queues: &[Vec<BandOperation>],
    cuts: &[usize],
    order: &[usize],
    repeat: &[usize],
) -> Vec<(String, BandBatch)> {
    let mut batches = Vec::new();
    let mut cut = cuts.iter().cycle();
    for (r, q) in queues.iter().enumerate() {
        let mut rest = q.as_slice();
        let mut n = 0;
        while !rest.is_empty() {
            let size = (1 + cut.next().copied().unwrap_or(0)).min(rest.len());
            let (now, later) = rest.split_at(size);
            batches.push((
                format!("r{r}-{n}"),
                BandBatch {
                    operations: now.to_vec(),
                },
            ));
            rest = later;
            n += 1;
        }
    }
    let len = batches.len().max(1);
    let mut sent: Vec<_> = (0..batches.len()).collect();
    for (i, &o) in order.iter().enumerate() {
        sent.swap(i % len, o % len);
    }
    sent.extend(repeat.iter().map(|r| r % len));
    sent.into_iter()
        .filter_map(|i| batches.get(i).cloned())
        .collect()
}

async fn run(spends: Vec<Spend>, cuts: Vec<usize>, order: Vec<usize>, repeat: Vec<usize>) {
    let w = world().await;
    w.bands.fund_reserve("reserve", RESERVE).await.unwrap();
    let mut bands = Vec::new();
    for n in 1..=2u8 {
        let b = ready_band(&w, n, LIMIT, LIMIT).await;
        let copy = Band::new(&[n; 32], b.certificate().clone(), b.next_counter()).unwrap();
        bands.push(vec![b, copy]);
    }
    let queues = spend_offline(&w, &mut bands, &spends);
    let mut answers: HashMap<String, Vec<BandResult>> = HashMap::new();
    let mut paid: HashMap<(String, u64, String), i64> = HashMap::new();
    for (id, batch) in schedule(&queues, &cuts, &order, &repeat) {
        let results = w.bands.upload(&id, &batch, ACQ, NOW + 600).await.unwrap();
        if let Some(first) = answers.get(&id) {
            assert_eq!(
                first, &results,
                "batch {id} uploaded again answers the same"
            );
        }
        for (r, o) in results.iter().zip(&batch.operations) {
            if r.paid {
                let key = (
                    r.band_id.clone().unwrap(),
                    r.counter.unwrap(),
                    format!("{}/{}", o.merchant, o.register),
                );
                paid.insert(key, i64::try_from(o.amount_minor).unwrap());
            }
        }
        answers.insert(id, results);
    }
    let total: i64 = paid.values().sum();
    let merchants = balance(&w, &crate::settlement_account("SHOP-A")).await
        + balance(&w, &crate::settlement_account("SHOP-B")).await;
    assert_eq!(
        merchants, total,
        "each paid operation credited exactly once"
    );
    assert!(
        total <= 2 * LIMIT + RESERVE,
        "never more than the limits and the reserve"
    );
    for n in 1..=2u8 {
        assert!(balance(&w, &band_account(&band_id(n))).await >= 0);
    }
    assert!(balance(&w, &reserve_account(BAND_CURRENCY)).await >= 0);
    let honest = w.bands.view(&band_id(1)).await.unwrap();
    assert_eq!(
        honest.status,
        BandStatus::On,
        "an honest band is never caught"
    );
    let report = w.bands.ledger().check_invariants().await.unwrap();
    for t in report.totals.values() {
        assert_eq!(t.debits_posted, t.credits_posted, "the ledger sums to zero");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn offline_spending_never_pays_more_than_it_holds(
        spends in proptest::collection::vec(spend(), 1..24),
        cuts in proptest::collection::vec(0..4usize, 1..6),
        order in proptest::collection::vec(any::<usize>(), 0..12),
        repeat in proptest::collection::vec(any::<usize>(), 0..4),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(spends, cuts, order, repeat));
    }
}
