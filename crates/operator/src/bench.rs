//! The durable half of `paytap bench transit`: the gate records cleared
//! through an [`OperatorHost`] (TAC checks, the tables, one transaction per
//! batch), the business day settled on the ledger, and the store's raw
//! append rate measured on the same database in the same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use paytap_ledger::Ledger;
use paytap_purse::MasterKeys;
use paytap_store::Db;
use paytap_transit::clearing::{GateRecord, MAX_BATCH};
use paytap_transit::config::Operator;
use paytap_types::ManualClock;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::{Day, OperatorError, OperatorHost, OperatorKeys};

/// The instant the bench's batches are cleared at: 2026-12-05 10:00 in
/// Beijing (the day the bench's taps are dated).
pub const BENCH_MILLIS: i64 = 1_796_436_000_000;
/// A day in milliseconds: the bench settles once its day is over.
const DAY_MILLIS: u64 = 86_400_000;

/// What the durable clearing measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DurableFigures {
    /// Records uploaded.
    pub records: usize,
    /// Upload batches (one transaction each).
    pub batches: usize,
    /// Records per batch.
    pub batch: usize,
    /// Records accepted.
    pub accepted: usize,
    /// Records refused.
    pub rejected: usize,
    /// Cards on the hotlist afterwards.
    pub hotlisted: usize,
    /// Wall time of uploads and settlement.
    #[serde(skip)]
    pub elapsed: Duration,
    /// Records cleared per second of wall time, settlement included.
    pub clearing_per_sec: f64,
    /// Process CPU µs per record cleared (all threads: the host, the
    /// database's, the ledger's writer).
    pub clearing_cpu_us: f64,
    /// The day's settlement on the ledger, minor units.
    pub settled_minor: i64,
    /// Gates in the day's report (their totals sum to `settled_minor`).
    pub report_gates: usize,
    /// The ledger's invariants held afterwards.
    pub ledger_invariants: bool,
    /// Durable single-row appends per second on the same database,
    /// `batch` rows per commit.
    pub raw_append_per_sec: f64,
    /// `clearing_per_sec / raw_append_per_sec`.
    pub ratio_to_raw_append: f64,
}

/// Clears `records` through a fresh host for `op` on `db` (TACs under
/// `masters.tac`), `batch` records per upload, settles the day, then
/// measures the raw append rate of `raw_rows` rows on the same database.
/// `cpu` reads the process's CPU time.
pub async fn run(
    cpu: &dyn Fn() -> Duration,
    db: Db,
    op: &Operator,
    masters: MasterKeys,
    records: &[GateRecord],
    batch: usize,
    raw_rows: usize,
) -> Result<DurableFigures, OperatorError> {
    let batch = batch.clamp(1, MAX_BATCH);
    let ledger = Ledger::open(db.clone()).await?;
    let clock = ManualClock::starting_at(BENCH_MILLIS);
    let keys = OperatorKeys {
        masters,
        data_key: Zeroizing::new([0x42; 32]),
    };
    let host = OperatorHost::open(
        db.clone(),
        ledger.clone(),
        op.clone(),
        keys,
        Arc::new(clock.clone()),
    )
    .await?;
    let (start, cpu0) = (Instant::now(), cpu());
    let (mut accepted, mut rejected, mut batches) = (0, 0, 0);
    for (i, chunk) in records.chunks(batch).enumerate() {
        let r = host.upload(&format!("bench-{i}"), chunk).await?;
        accepted += r.accepted;
        rejected += r.rejected.len();
        batches += 1;
    }
    clock.advance(Duration::from_millis(DAY_MILLIS));
    let settlement = host.settle(Day::of_millis(BENCH_MILLIS)).await?;
    let (elapsed, clear_cpu) = (start.elapsed(), cpu().saturating_sub(cpu0));
    let hotlisted = host.hotlist().await?.len();
    let ledger_invariants = ledger.check_invariants().await.is_ok();
    let raw = paytap_ledger::bench::raw_append_rate(&db, raw_rows.max(batch), batch).await?;
    let clearing_per_sec = records.len() as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    let raw_append_per_sec = raw.per_second();
    Ok(DurableFigures {
        records: records.len(),
        batches,
        batch,
        accepted,
        rejected,
        hotlisted,
        elapsed,
        clearing_per_sec,
        clearing_cpu_us: clear_cpu.as_secs_f64() * 1e6 / records.len().max(1) as f64,
        settled_minor: settlement.amount.minor,
        report_gates: settlement.gates.len(),
        ledger_invariants,
        raw_append_per_sec,
        ratio_to_raw_append: if raw_append_per_sec > 0.0 {
            clearing_per_sec / raw_append_per_sec
        } else {
            0.0
        },
    })
}
