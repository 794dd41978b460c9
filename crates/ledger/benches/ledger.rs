//! Durable transfers per second through group commit, with 1, 64 and 512
//! concurrent callers, beside the store's raw durable append rate (single-row
//! inserts, the same number per transaction). SQLite file by default;
//! PostgreSQL with PAYTAP_TEST_DATABASE_URL.
//!
//! `cargo bench -p paytap-ledger` prints criterion's measurements and then a
//! side-by-side table.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use paytap_ledger::{Ledger, bench};
use paytap_store::Db;
use std::time::Duration;

const CALLERS: [usize; 3] = [1, 64, 512];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn ledger_benches(c: &mut Criterion) {
    let rt = runtime();
    let ledger = rt.block_on(async {
        Ledger::open(Db::for_tests().await.expect("database"))
            .await
            .expect("ledger")
    });
    let mut group = c.benchmark_group("durable");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    for callers in CALLERS {
        group.bench_with_input(
            BenchmarkId::new("transfer_group_commit", callers),
            &callers,
            |b, &callers| {
                b.to_async(&rt).iter_custom(|iters| {
                    let ledger = ledger.clone();
                    async move {
                        let n = usize::try_from(iters).unwrap_or(usize::MAX).max(callers);
                        let rate = bench::transfer_rate(&ledger, n, callers)
                            .await
                            .expect("transfers");
                        // Scale to the requested iteration count.
                        rate.elapsed.mul_f64(iters as f64 / n as f64)
                    }
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("raw_append", callers),
            &callers,
            |b, &batch| {
                b.to_async(&rt).iter_custom(|iters| {
                    let db = ledger.db().clone();
                    async move {
                        let n = usize::try_from(iters).unwrap_or(usize::MAX).max(1);
                        bench::raw_append_rate(&db, n, batch)
                            .await
                            .expect("append")
                            .elapsed
                    }
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, ledger_benches);

/// One fixed-size run per configuration, printed side by side.
fn summary() {
    let rt = runtime();
    rt.block_on(async {
        let db = Db::for_tests().await.expect("database");
        let ledger = Ledger::open(db.clone()).await.expect("ledger");
        println!();
        println!(
            "{:>8}  {:>16}  {:>16}  {:>6}",
            "callers", "transfers/s", "raw appends/s", "ratio"
        );
        for callers in CALLERS {
            let n = (callers * 40).clamp(2_000, 40_000);
            let t = bench::transfer_rate(&ledger, n, callers)
                .await
                .expect("transfers");
            let a = bench::raw_append_rate(&db, n, callers)
                .await
                .expect("append");
            println!(
                "{callers:>8}  {:>16.0}  {:>16.0}  {:>6.2}",
                t.per_second(),
                a.per_second(),
                t.per_second() / a.per_second().max(1.0)
            );
        }
        ledger.check_invariants().await.expect("invariants");
    });
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::args().any(|a| a == "--bench") {
        summary();
    }
}
