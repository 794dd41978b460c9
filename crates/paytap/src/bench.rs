//! `paytap bench`: throughput and latency measurements.
//!
//! `paytap bench auth [--seconds N] [--concurrency C] [--connections K]
//! [--data-dir DIR] [--json]` starts a whole card network on a fresh SQLite
//! file (durable commits), provisions one token per simulated terminal,
//! pre-generates the cryptograms, drives authorizations over loopback TCP
//! through switch → token service → issuer → ledger, and prints
//! authorizations per second with p50/p99 latency beside the store's raw
//! durable append rate measured in the same run.
//!
//! `paytap bench crash [--kills N] [--terminals T] [--json]` runs the
//! platform as a `paytap up` process, kills it with SIGKILL at random
//! moments while terminals pay, and checks what the terminals heard against
//! the issuers' records, the ledger and clearing ([`crash`]).
//!
//! `paytap bench qr [--codes N] [--json]` times making and verifying the
//! band's offline codes ([`qr`]).
//!
//! `paytap bench transit [--taps N] [--cards C] [--rounds R] [--batch B]
//! [--database-url URL] [--json]` taps real transit purses at gate SAMs in
//! process, clears the records they made in memory and then durably through
//! an operator host (TAC checks, its tables, one transaction per batch, the
//! day settled on the ledger), and prints the CPU time per tap and the
//! records cleared per second beside the store's raw append rate on the same
//! database ([`transit`]).
//!
//! `paytap bench risk [--decisions N] [--accounts A] [--json]` times the risk
//! engine's decisions under the default rules, and `paytap bench offers
//! [--payments N] [--offers K] [--json]` offer matching over K live offers,
//! in process ([`risk`]).
//!
//! `paytap bench upi [--payments N] [--concurrency C] [--database-url URL]
//! [--json]` makes person-to-person UPI payments from the wallet's UPI app
//! through the switch to the remitter and the beneficiary bank, durable,
//! and prints payments per second with p50/p99 beside the store's raw
//! append rate on the same kind of database ([`upi`]).

pub mod crash;
pub mod qr;
pub mod risk;
pub mod transit;
pub mod upi;

use clap::{Args as ClapArgs, Subcommand};
use paytap_network::bench::{AuthBenchOptions, run_auth_bench};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// Authorizations per second through the whole authorization path.
    Auth(AuthArgs),
    /// Kill the platform at random moments while terminals pay; check that
    /// no approval heard is lost and no hold outlives an unheard one.
    Crash(CrashArgs),
    /// Transit: CPU time of a tap (card, SAM, gate) and clearing records per second.
    Transit(transit::TransitArgs),
    /// Microseconds to make and to verify a band's offline code.
    Qr(QrArgs),
    /// Risk decisions per second and µs per decision (default rules).
    Risk(risk::RiskArgs),
    /// Offer matching over many live offers: µs per authorization.
    Offers(risk::OffersArgs),
    /// UPI person-to-person payments per second, app to switch to both banks, durable.
    Upi(upi::UpiArgs),
}

#[derive(ClapArgs)]
struct QrArgs {
    /// Codes to make and verify.
    #[arg(long, default_value_t = 20_000)]
    codes: usize,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(ClapArgs)]
struct CrashArgs {
    /// How many times the platform is killed (SIGKILL) and restarted.
    #[arg(long, default_value_t = 10)]
    kills: u32,
    /// Terminals paying at once (one card and phone each).
    #[arg(long, default_value_t = 4)]
    terminals: usize,
    /// Longest run between two kills, in milliseconds.
    #[arg(long, default_value_t = 2_000)]
    max_uptime_ms: u64,
    /// Keep the data and terminal directories here (default: a temporary
    /// directory, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Repeat a run's random choices (kill moments, amounts).
    #[arg(long)]
    seed: Option<u64>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(ClapArgs)]
struct AuthArgs {
    /// Measurement time in seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Simulated terminals sending at once (one card and token each).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// TCP connections the terminals share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Where the database files go (default: a fresh temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Highest request rate the pre-generated cryptograms must cover.
    #[arg(long, default_value_t = 40_000)]
    max_rate: u64,
    /// Keep everything in one network database file instead of one SQLite
    /// file per component (ledger, issuer, token service, switch).
    #[arg(long)]
    one_database: bool,
    /// Run on this (empty) database instead, e.g. postgres://user@host/db.
    #[arg(long)]
    database_url: Option<String>,
    /// The risk engine on every authorization before its issuer (rules
    /// that the bench's load never trips: the whole path is measured).
    #[arg(long, value_enum, default_value_t = OnOff::Off)]
    risk: OnOff,
    /// Offers on every authorization (a cashback on each, stored, captured
    /// and posted on the ledger).
    #[arg(long, value_enum, default_value_t = OnOff::Off)]
    offers: OnOff,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// A switch on the command line.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OnOff {
    On,
    Off,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Auth(a) => auth(a),
        What::Crash(a) => crash_run(a),
        What::Qr(a) => qr_run(a),
        What::Transit(a) => transit::run(a),
        What::Risk(a) => risk::run_risk(a),
        What::Offers(a) => risk::run_offers(a),
        What::Upi(a) => upi::run(a),
    }
}

/// The wall clock in Unix seconds, for what a bench signs and dates.
pub(crate) fn unix_now() -> i64 {
    paytap_store::now_millis() / 1000
}

fn qr_run(a: QrArgs) -> anyhow::Result<ExitCode> {
    let report = qr::run_qr_bench(a.codes, unix_now())?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(ExitCode::SUCCESS)
}

/// Most kills one run may ask for (each restart takes seconds).
const MAX_KILLS: u32 = 1_000;
/// Most terminals one run may drive (one thread each).
const MAX_TERMINALS: usize = 64;

fn crash_run(a: CrashArgs) -> anyhow::Result<ExitCode> {
    if a.kills > MAX_KILLS {
        anyhow::bail!("--kills must be at most {MAX_KILLS}");
    }
    if a.terminals == 0 || a.terminals > MAX_TERMINALS {
        anyhow::bail!("--terminals must be 1 to {MAX_TERMINALS}");
    }
    crate::logging::init("error");
    if !a.json {
        eprintln!(
            "{} terminals paying, the platform killed {} times ...",
            a.terminals, a.kills
        );
    }
    let report = crash::run_crash(&crash::CrashOptions {
        kills: a.kills,
        terminals: a.terminals,
        max_uptime_ms: a.max_uptime_ms,
        dir: a.dir,
        seed: a.seed,
    })?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn auth(a: AuthArgs) -> anyhow::Result<ExitCode> {
    if !(a.seconds.is_finite() && a.seconds > 0.0 && a.seconds <= 3600.0) {
        anyhow::bail!("--seconds must be between 0 and 3600");
    }
    if a.concurrency == 0 || a.concurrency > 4096 {
        anyhow::bail!("--concurrency must be 1 to 4096");
    }
    let opts = AuthBenchOptions {
        duration: Duration::from_secs_f64(a.seconds),
        concurrency: a.concurrency,
        connections: a.connections.max(1),
        data_dir: a.data_dir,
        max_rate: a.max_rate.max(1),
        split_databases: !a.one_database,
        database_url: a.database_url,
        risk: a.risk == OnOff::On,
        offers: a.offers == OnOff::On,
        ..AuthBenchOptions::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if !a.json {
        eprintln!(
            "preparing: {} terminals, one card and token each, cryptograms for up to {} auth/s ...",
            opts.concurrency, opts.max_rate
        );
    }
    let report = rt.block_on(run_auth_bench(&opts))?;
    let capped = capped_by_max_rate(report.auth_per_sec, opts.max_rate);
    let warning = capped.then(|| {
        format!(
            "{:.0} auth/s is at the --max-rate cap of {}: the run measured the cap, not the platform; raise --max-rate",
            report.auth_per_sec, opts.max_rate
        )
    });
    if a.json {
        let mut json = serde_json::to_value(&report)?;
        if let Some(fields) = json.as_object_mut() {
            fields.insert("capped_by_max_rate".into(), capped.into());
            if let Some(w) = &warning {
                fields.insert("warning".into(), w.as_str().into());
            }
        }
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{}", report.table());
        if let Some(w) = &warning {
            eprintln!("paytap: warning: {w}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Share of `--max-rate` from which a run counts as capped by it: the
/// cryptograms are prepared for that rate, so a run that reaches it may
/// have been held back by it.
const CAPPED_SHARE: f64 = 0.9;

/// Whether a measured rate is (close to) the rate the run was limited to.
fn capped_by_max_rate(auth_per_sec: f64, max_rate: u64) -> bool {
    auth_per_sec >= CAPPED_SHARE * max_rate as f64
}

#[cfg(test)]
mod tests {
    use super::capped_by_max_rate;

    #[test]
    fn a_run_at_its_max_rate_is_called_capped() {
        for (rate, max, capped) in [
            (40_000.0, 40_000, true),
            (36_500.0, 40_000, true),
            (35_000.0, 40_000, false),
            (12_000.0, 40_000, false),
            (1.0, 1, true),
        ] {
            assert_eq!(capped_by_max_rate(rate, max), capped, "{rate} of {max}");
        }
    }
}
