//! Offer matching over 1,000 live offers (the target: under 20 µs):
//! the offers a payment could get (matching alone), and a whole
//! authorization (matching, limits, budget reservation) released again.

use criterion::{Criterion, criterion_group, criterion_main};
use paytap_offers::bench::{engine_with, payments};
use std::hint::black_box;

const LIVE_OFFERS: usize = 1_000;

fn matching(c: &mut Criterion) {
    let mut engine = engine_with(LIVE_OFFERS);
    let stream = payments(20_000);
    let mut g = c.benchmark_group("offers");
    let mut i = 0;
    g.bench_function("eligible_1000_offers", |b| {
        b.iter(|| {
            i = (i + 1) % stream.len();
            black_box(engine.eligible(&stream[i]).len())
        })
    });
    let mut i = 0;
    g.bench_function("authorize_and_release_1000_offers", |b| {
        b.iter(|| {
            i = (i + 1) % stream.len();
            let q = engine.authorize(&stream[i]).expect("a fresh payment");
            engine
                .release(&stream[i].payment_id)
                .expect("just authorized");
            engine.forget_before(i64::MAX);
            black_box(q)
        })
    });
    g.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
