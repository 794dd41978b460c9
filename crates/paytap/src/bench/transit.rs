//! `paytap bench transit`: the transit benchmark ([`paytap_transit::bench`])
//! with this process's clocks.

use clap::Args as ClapArgs;
use paytap_transit::TransitConfig;
use paytap_transit::bench::{BenchOptions, Clocks, run as run_bench};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(ClapArgs)]
pub struct TransitArgs {
    /// Taps to make (each leaves one gate record).
    #[arg(long, default_value_t = 20_000)]
    taps: usize,
    /// Cards the taps are spread over.
    #[arg(long, default_value_t = 1_000)]
    cards: usize,
    /// Times the records are cleared, each by a fresh clearing.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Operator whose cards and fares are used.
    #[arg(long, default_value = "beijing")]
    operator: String,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: TransitArgs) -> anyhow::Result<ExitCode> {
    let config = TransitConfig::default_operators();
    let Some(op) = config.operator(&a.operator) else {
        anyhow::bail!("--operator: no operator {:?}", a.operator);
    };
    let opts = BenchOptions {
        taps: a.taps,
        cards: a.cards,
        rounds: a.rounds,
    };
    if !a.json {
        eprintln!(
            "{} taps over {} {} cards, then {} clearing rounds ...",
            a.taps, a.cards, op.id, a.rounds
        );
    }
    let start = Instant::now();
    let wall = move || start.elapsed();
    let clocks = Clocks {
        cpu: &process_cpu_time,
        wall: &wall,
    };
    let report = run_bench(op, opts, &clocks)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(ExitCode::SUCCESS)
}

/// User plus system CPU time of this process (`CLOCK_PROCESS_CPUTIME_ID`);
/// zero where the platform does not tell.
fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(ts.tv_nsec).unwrap_or(0);
    Duration::new(secs, nanos)
}
