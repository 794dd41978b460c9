//! `paytap bench risk` and `paytap bench offers`: the risk engine's and the
//! offers engine's benchmarks ([`paytap_risk::bench`],
//! [`paytap_offers::bench`]) with this process's wall clock.

use clap::Args as ClapArgs;
use std::process::ExitCode;
use std::time::Instant;

#[derive(ClapArgs)]
pub struct RiskArgs {
    /// Decisions to time (each followed by its recorded outcome).
    #[arg(long, default_value_t = 200_000)]
    decisions: usize,
    /// Accounts paying (one device and card each, a second card for one in four).
    #[arg(long, default_value_t = 50_000)]
    accounts: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(ClapArgs)]
pub struct OffersArgs {
    /// Payments to authorize and capture.
    #[arg(long, default_value_t = 100_000)]
    payments: usize,
    /// Live offers to match against (the three defaults among them).
    #[arg(long, default_value_t = 1_000)]
    offers: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run_risk(a: RiskArgs) -> anyhow::Result<ExitCode> {
    use paytap_risk::bench::{BenchOptions, run};
    if !a.json {
        eprintln!(
            "{} decisions under the default rules, {} accounts ...",
            a.decisions, a.accounts
        );
    }
    let start = Instant::now();
    let wall = move || start.elapsed();
    let opts = BenchOptions {
        decisions: a.decisions,
        accounts: a.accounts,
    };
    let report = run(opts, &wall)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_offers(a: OffersArgs) -> anyhow::Result<ExitCode> {
    use paytap_offers::bench::{BenchOptions, run};
    if !a.json {
        eprintln!(
            "{} payments matched against {} live offers ...",
            a.payments, a.offers
        );
    }
    let start = Instant::now();
    let wall = move || start.elapsed();
    let opts = BenchOptions {
        payments: a.payments,
        offers: a.offers,
    };
    let report = run(opts, &wall)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(ExitCode::SUCCESS)
}
