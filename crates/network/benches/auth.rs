//! Authorizations through switch → token service → issuer → ledger with
//! durable commits, over loopback TCP from 64 concurrent terminals, beside
//! the store's raw durable append rate. `cargo bench -p paytap-network`
//! prints criterion's throughput and then a side-by-side table with
//! p50/p99 latency (the same numbers `paytap bench auth` prints).

use criterion::{Criterion, Throughput, criterion_group};
use paytap_network::bench::{AuthBenchOptions, PreparedAuthBench};
use std::time::Duration;

/// The same allocator as the `paytap` binary, so both measure the same thing.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TERMINALS: usize = 64;
const PER_TERMINAL: usize = 4_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn auth(c: &mut Criterion) {
    let rt = runtime();
    let opts = AuthBenchOptions {
        concurrency: TERMINALS,
        split_databases: std::env::var_os("PAYTAP_BENCH_SPLIT_DBS").is_some(),
        database_url: std::env::var("PAYTAP_BENCH_DATABASE_URL").ok(),
        ..AuthBenchOptions::default()
    };
    let prepared = rt
        .block_on(PreparedAuthBench::prepare(&opts, PER_TERMINAL))
        .expect("network");
    let prepared = std::sync::Arc::new(tokio::sync::Mutex::new(prepared));
    let mut group = c.benchmark_group("authorization");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(1));
    group.bench_function("switch_tsp_issuer_ledger_64_terminals", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let prepared = prepared.clone();
            async move {
                let mut p = prepared.lock().await;
                let m = p.drive(Duration::from_secs(3600), Some(iters)).await;
                m.elapsed
            }
        })
    });
    group.finish();
    let p = rt.block_on(async {
        let mut p = prepared.lock().await;
        p.drive(Duration::from_secs(5), None).await
    });
    let (raw, batch, _) = rt
        .block_on(async {
            let owned = std::sync::Arc::try_unwrap(prepared)
                .ok()
                .expect("sole owner")
                .into_inner();
            owned.finish(50_000).await
        })
        .expect("raw append");
    let n = (p.approved + p.declined) as f64;
    let rate = n / p.elapsed.as_secs_f64().max(1e-9);
    println!(
        "\nauthorizations: {rate:.0}/s  p50 {:.2} ms  p99 {:.2} ms  ({} approved, {} declined, {} errors)\n\
         raw durable append ({batch} rows/commit): {raw:.0} rows/s\nratio {:.3}",
        p.percentile_ms(0.5),
        p.percentile_ms(0.99),
        p.approved,
        p.declined,
        p.errors,
        rate / raw.max(1e-9)
    );
}

criterion_group!(benches, auth);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
