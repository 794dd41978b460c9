//! The transit benchmark without building the whole platform:
//! `cargo run --release -p paytap-transit --example bench_transit`.
//! It has no CPU clock, so the "CPU" figures here are wall time of one
//! thread; `paytap bench transit` reads the process CPU clock.

use paytap_transit::TransitConfig;
use paytap_transit::bench::{BenchOptions, Clocks, run};
use std::time::Instant;

fn main() {
    let config = TransitConfig::default_operators();
    let Some(op) = config.operator("beijing") else {
        eprintln!("no beijing operator in the default configuration");
        std::process::exit(1);
    };
    let start = Instant::now();
    let wall = move || start.elapsed();
    let clocks = Clocks {
        cpu: &wall,
        wall: &wall,
    };
    let opts = BenchOptions {
        taps: 20_000,
        cards: 1_000,
        rounds: 10,
    };
    match run(op, opts, &clocks) {
        Ok(report) => print!("{}", report.table()),
        Err(e) => {
            eprintln!("bench_transit: {e}");
            std::process::exit(1);
        }
    }
}
