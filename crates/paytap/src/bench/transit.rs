//! `paytap bench transit`: the transit benchmark with this process's
//! clocks. The taps and an in-memory clearing are
//! [`paytap_transit::bench`]; then the same records are cleared durably by
//! an operator host ([`paytap_operator::bench`]: TAC checks, the tables, one
//! transaction per batch, the day settled on the ledger) on a fresh
//! database, beside the store's raw append rate on that database.

use clap::Args as ClapArgs;
use clap::builder::{PossibleValue, PossibleValuesParser};
use paytap_store::Db;
use paytap_transit::TransitConfig;
use paytap_transit::bench::{BATCH, BenchOptions, Clocks, masters, run_keeping_records};
use serde::Serialize;
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
    /// Times the records are cleared in memory, each by a fresh clearing.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Records per upload batch in the durable clearing.
    #[arg(long, default_value_t = BATCH)]
    batch: usize,
    /// Operator whose cards and fares are used (the operators of the
    /// embedded operators.toml).
    #[arg(long, default_value = "beijing", value_parser = operator_ids())]
    operator: String,
    /// Clear durably on this (empty) database, e.g.
    /// postgres://user@host/db, instead of a fresh SQLite file.
    #[arg(long)]
    database_url: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// `--operator`: the ids of the embedded operators, each with its name,
/// listed by `--help`.
fn operator_ids() -> PossibleValuesParser {
    PossibleValuesParser::new(
        TransitConfig::default_operators()
            .operators
            .into_iter()
            .map(|o| PossibleValue::new(o.id).help(o.name)),
    )
}

/// The figures, one JSON object (the shape of `paytap bench auth --json`).
#[derive(Debug, Clone, Serialize)]
struct Report {
    operator: String,
    taps: usize,
    refused_taps: usize,
    cards: usize,
    /// CPU µs per tap: card, SAM and gate driver in process.
    tap_cpu_us: f64,
    tap_wall_us: f64,
    records: usize,
    batch: usize,
    batches: usize,
    /// Durable clearing: records per second of wall time (TAC checks,
    /// tables, one transaction per batch, the day's ledger settlement).
    clearing_per_sec: f64,
    /// Process CPU µs per durably cleared record.
    clearing_cpu_us: f64,
    /// The sans-IO clearing alone, in memory.
    memory_clearing_per_sec: f64,
    memory_rounds: usize,
    accepted: usize,
    rejected: usize,
    hotlisted: usize,
    settled_minor: i64,
    report_gates: usize,
    ledger_invariants: bool,
    ledger_settlement: bool,
    /// Durable single-row appends per second on the same database,
    /// `raw_append_batch` per commit.
    raw_append_per_sec: f64,
    raw_append_batch: usize,
    /// `clearing_per_sec / raw_append_per_sec`.
    ratio_to_raw_append: f64,
    /// `SQLite`, or the database given by URL.
    backend: String,
}

impl Report {
    fn table(&self) -> String {
        format!(
            "transit taps ({} cards of {}, in process: card + SAM + gate driver)\n\
             \x20 {:>10.1} µs of CPU per tap   {:.1} µs wall   {} taps, {} refused\n\
             clearing in memory (sans-IO: TAC check, duplicates, card history)\n\
             \x20 {:>10.0} records/s   {} records x {} rounds\n\
             clearing, durable ({}: TAC check, tables, {} records per transaction, ledger settlement)\n\
             \x20 {:>10.0} records/s   {:.2} µs of CPU per record   {} batches\n\
             \x20 {} accepted, {} rejected, {} hotlisted; settled {} fen over {} gates; ledger invariants {}\n\
             raw append on the same database ({} rows per commit)\n\
             \x20 {:>10.0} rows/s   clearing / raw append = {:.2}\n\
             targets: tap < 1000 µs of CPU, clearing >= 100000 records/s and >= 0.5 x raw append\n",
            self.cards,
            self.operator,
            self.tap_cpu_us,
            self.tap_wall_us,
            self.taps,
            self.refused_taps,
            self.memory_clearing_per_sec,
            self.records,
            self.memory_rounds,
            self.backend,
            self.batch,
            self.clearing_per_sec,
            self.clearing_cpu_us,
            self.batches,
            self.accepted,
            self.rejected,
            self.hotlisted,
            self.settled_minor,
            self.report_gates,
            if self.ledger_invariants {
                "hold"
            } else {
                "BROKEN"
            },
            self.raw_append_batch,
            self.raw_append_per_sec,
            self.ratio_to_raw_append,
        )
    }
}

pub fn run(a: TransitArgs) -> anyhow::Result<ExitCode> {
    let config = TransitConfig::default_operators();
    let Some(op) = config.operator(&a.operator) else {
        anyhow::bail!("--operator: no operator {:?}", a.operator);
    };
    if !(1..=paytap_transit::clearing::MAX_BATCH).contains(&a.batch) {
        anyhow::bail!(
            "--batch must be 1 to {}",
            paytap_transit::clearing::MAX_BATCH
        );
    }
    let opts = BenchOptions {
        taps: a.taps,
        cards: a.cards,
        rounds: a.rounds,
    };
    if !a.json {
        eprintln!(
            "{} taps over {} {} cards, {} clearing rounds in memory, then durably ...",
            a.taps, a.cards, op.id, a.rounds
        );
    }
    let start = Instant::now();
    let wall = move || start.elapsed();
    let clocks = Clocks {
        cpu: &process_cpu_time,
        wall: &wall,
    };
    let (memory, records) = run_keeping_records(op, opts, &clocks)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let (db, backend) = rt.block_on(async {
        match &a.database_url {
            Some(url) => Ok::<_, anyhow::Error>((Db::connect(url).await?, url.clone())),
            None => {
                let path = dir.path().join("operator-bench.db");
                let db = Db::connect(&format!("sqlite://{}", path.display())).await?;
                Ok((db, "SQLite".to_owned()))
            }
        }
    })?;
    let durable = rt.block_on(paytap_operator::bench::run(
        &process_cpu_time,
        db.clone(),
        op,
        masters(),
        &records,
        a.batch,
        records.len(),
    ))?;
    rt.block_on(db.close());
    let report = Report {
        operator: memory.operator,
        taps: memory.taps,
        refused_taps: memory.refused_taps,
        cards: memory.cards,
        tap_cpu_us: memory.tap_cpu_us,
        tap_wall_us: memory.tap_wall_us,
        records: durable.records,
        batch: durable.batch,
        batches: durable.batches,
        clearing_per_sec: durable.clearing_per_sec,
        clearing_cpu_us: durable.clearing_cpu_us,
        memory_clearing_per_sec: memory.clearing_per_sec,
        memory_rounds: memory.rounds,
        accepted: durable.accepted,
        rejected: durable.rejected,
        hotlisted: durable.hotlisted,
        settled_minor: durable.settled_minor,
        report_gates: durable.report_gates,
        ledger_invariants: durable.ledger_invariants,
        ledger_settlement: true,
        raw_append_per_sec: durable.raw_append_per_sec,
        raw_append_batch: durable.batch,
        ratio_to_raw_append: durable.ratio_to_raw_append,
        backend,
    };
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
    #[allow(unsafe_code, reason = "clock_gettime(2) has no safe wrapper")]
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(ts.tv_nsec).unwrap_or(0);
    Duration::new(secs, nanos)
}
