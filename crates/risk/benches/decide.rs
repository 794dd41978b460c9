//! One risk decision under the default rules, against an engine that has
//! seen a population of 10,000 accounts (the stream of `paytap bench risk`);
//! the target is a p99 of at most 20 µs, which `paytap bench risk`
//! reports. Here: the mean of a decision alone, and of a decision with its
//! outcome recorded.

use criterion::{Criterion, criterion_group, criterion_main};
use paytap_risk::Outcome;
use paytap_risk::bench::{BenchOptions, prepare};
use std::hint::black_box;

const OPTIONS: BenchOptions = BenchOptions {
    decisions: 20_000,
    accounts: 10_000,
};

fn decide(c: &mut Criterion) {
    let (engine, stream) = prepare(OPTIONS).expect("options in range");
    let mut g = c.benchmark_group("risk");
    let mut i = 0;
    g.bench_function("decide", |b| {
        b.iter(|| {
            i = (i + 1) % stream.len();
            black_box(engine.decide(&stream[i]))
        })
    });
    let (mut engine, stream) = prepare(OPTIONS).expect("options in range");
    let mut i = 0;
    g.bench_function("decide_and_record", |b| {
        b.iter(|| {
            // The stream wraps round: time moves back, which the windows
            // accept (events are kept in time order).
            i = (i + 1) % stream.len();
            let d = engine.decide(&stream[i]);
            engine.record(&stream[i], Outcome::Approved);
            black_box(d)
        })
    });
    g.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
