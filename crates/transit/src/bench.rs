//! The transit benchmark's core (`paytap bench transit`): taps of real purses
//! at real SAMs, then clearing of the records they made. The caller passes
//! the clocks (process CPU time and wall time), so this stays sans-IO.
//!
//! A tap is measured whole, in process: SELECT, READ BINARY, INITIALIZE FOR
//! PURCHASE and DEBIT FOR PURCHASE through [`Purse::process`], with the SAM's
//! MAC1 and MAC2 check and the gate's driver; the card's own share is part of
//! that. Clearing is the TAC check, deduplication and history of
//! [`Clearing::submit`], in memory: no ledger settlement, so there is no raw
//! append rate to compare against.

use paytap_types::XorShift64;
use std::time::Duration;

use paytap_purse::command::PurchaseKind;
use paytap_purse::host::Host;
use paytap_purse::records::{DateTime, PublicData, SERIAL_LEN};
use paytap_purse::sam::Sam;
use paytap_purse::{MasterKeys, Purse, PurseKey, PurseState};
use serde::Serialize;

use crate::clearing::{Clearing, GateRecord, MAX_BATCH};
use crate::config::{Operator, serial_from_digits};
use crate::fare::metro_fare;
use crate::tap;

/// Most taps one run may make.
pub const MAX_TAPS: usize = 10_000_000;
/// Most cards one run may use.
pub const MAX_CARDS: usize = 100_000;
/// Most clearing rounds one run may make.
pub const MAX_ROUNDS: usize = 1_000;
/// Gates the taps are spread over.
pub const GATES: usize = 16;
/// Records per upload batch.
pub const BATCH: usize = 1_000;
const _: () = assert!(BATCH <= MAX_BATCH);

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchOptions {
    /// Taps to make (each leaves one record).
    pub taps: usize,
    /// Cards the taps are spread over.
    pub cards: usize,
    /// Times the records are cleared, each time by a fresh clearing.
    pub rounds: usize,
}

/// The clocks the benchmark reads.
pub struct Clocks<'a> {
    /// CPU time of the process so far.
    pub cpu: &'a dyn Fn() -> Duration,
    /// Wall time since some fixed instant.
    pub wall: &'a dyn Fn() -> Duration,
}

/// Why the benchmark could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BenchError {
    /// An option is out of range.
    #[error("{0}")]
    Options(&'static str),
    /// Setting the cards up failed.
    #[error("card setup failed: {0}")]
    Setup(#[from] tap::TapError),
    /// The operator's metro has no two stations to ride between.
    #[error("the operator's fares: {0}")]
    Fare(#[from] crate::fare::FareError),
}

/// The figures, one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitBenchReport {
    /// The operator whose cards and fares were used.
    pub operator: String,
    /// Taps made.
    pub taps: usize,
    /// Taps the card refused (balance too low); they leave no record.
    pub refused_taps: usize,
    /// Cards used.
    pub cards: usize,
    /// CPU µs per tap: card, SAM and gate driver in process.
    pub tap_cpu_us: f64,
    /// Wall µs per tap.
    pub tap_wall_us: f64,
    /// Records cleared per round.
    pub records: usize,
    /// Clearing rounds.
    pub rounds: usize,
    /// Records cleared per second of wall time (TAC check, deduplication,
    /// card history, totals; in memory).
    pub clearing_per_sec: f64,
    /// CPU µs per cleared record.
    pub clearing_cpu_us: f64,
    /// Records accepted in the last round.
    pub accepted: usize,
    /// Records refused in the last round (0 expected).
    pub rejected: usize,
    /// Cards hotlisted in the last round (0 expected).
    pub hotlisted: usize,
    /// Whether clearing settled on the ledger (not yet: no raw append
    /// rate is reported beside it).
    pub ledger_settlement: bool,
}

impl TransitBenchReport {
    /// A table for people.
    pub fn table(&self) -> String {
        format!(
            "transit taps ({} cards of {}, in process: card + SAM + gate driver)\n\
             \x20 {:>10.1} µs of CPU per tap   {:.1} µs wall   {} taps, {} refused\n\
             clearing (TAC check, duplicates, card history, totals; in memory, no ledger)\n\
             \x20 {:>10.0} records/s   {:.2} µs of CPU per record   {} records x {} rounds\n\
             \x20 {} accepted, {} rejected, {} hotlisted\n\
             targets: tap < 1000 µs of CPU, clearing >= 100000 records/s\n",
            self.cards,
            self.operator,
            self.tap_cpu_us,
            self.tap_wall_us,
            self.taps,
            self.refused_taps,
            self.clearing_per_sec,
            self.clearing_cpu_us,
            self.records,
            self.rounds,
            self.accepted,
            self.rejected,
            self.hotlisted,
        )
    }
}

impl BenchOptions {
    fn check(&self) -> Result<(), BenchError> {
        if !(1..=MAX_TAPS).contains(&self.taps) {
            return Err(BenchError::Options("--taps must be 1 to 10000000"));
        }
        if !(1..=MAX_CARDS).contains(&self.cards) {
            return Err(BenchError::Options("--cards must be 1 to 100000"));
        }
        if !(1..=MAX_ROUNDS).contains(&self.rounds) {
            return Err(BenchError::Options("--rounds must be 1 to 1000"));
        }
        Ok(())
    }
}

/// Fixed benchmark keys (no real operator's): the durable clearing of
/// `paytap bench transit` verifies the records' TACs under `tac`.
pub fn masters() -> MasterKeys {
    MasterKeys {
        load: PurseKey::new([0x4C; 16]),
        purchase: PurseKey::new([0x50; 16]),
        tac: PurseKey::new(*b"bench-tac-key-16"),
    }
}

fn bench_time() -> DateTime {
    DateTime::from_parts(2026, 12, 5, 8, 30, 0).unwrap_or_default()
}

/// Card `i` of the operator's range, loaded to its maximum balance.
fn new_card(op: &Operator, host: &Host, i: usize) -> Result<Purse, BenchError> {
    let first =
        serial_from_digits(&op.card_first).ok_or(BenchError::Options("operator card range"))?;
    let serial = card_serial(first, i);
    if !op.owns_card(&serial) {
        return Err(BenchError::Options(
            "--cards is larger than the operator's range",
        ));
    }
    let public = PublicData::adult_card(*b"PAYTAP-B", serial);
    let state = PurseState::new(public, masters().derive(&serial), op.max_balance);
    let mut p = Purse::new(state);
    tap::load(&mut p, host, op.max_balance, [0; 6], bench_time(), [1; 4])?;
    Ok(p)
}

/// The range's first serial with `i` added to its last six BCD digits.
fn card_serial(first: [u8; SERIAL_LEN], i: usize) -> [u8; SERIAL_LEN] {
    let mut s = first;
    let mut n = i;
    for b in s.iter_mut().rev().take(3) {
        let v = (n % 100) as u8;
        *b = ((v / 10) << 4) | (v % 10);
        n /= 100;
    }
    s
}

/// Runs the benchmark for `op`.
pub fn run(
    op: &Operator,
    opts: BenchOptions,
    clocks: &Clocks,
) -> Result<TransitBenchReport, BenchError> {
    Ok(run_keeping_records(op, opts, clocks)?.0)
}

/// [`run`], also returning the records the taps made (what the durable
/// clearing of `paytap bench transit` then clears).
pub fn run_keeping_records(
    op: &Operator,
    opts: BenchOptions,
    clocks: &Clocks,
) -> Result<(TransitBenchReport, Vec<GateRecord>), BenchError> {
    let taps = tap_records(op, opts, clocks)?;
    let (cpu1, wall1) = ((clocks.cpu)(), (clocks.wall)());
    let records = taps.records;
    let refused = taps.refused;
    let (tap_cpu, tap_wall) = (taps.cpu, taps.wall);
    let mut last = None;
    for _ in 0..opts.rounds {
        last = Some(clear(op, &records));
    }
    let (clear_cpu, clear_wall) = ((clocks.cpu)() - cpu1, (clocks.wall)() - wall1);
    let (accepted, rejected, hotlisted) = last.unwrap_or_default();
    let cleared = (records.len() * opts.rounds).max(1) as f64;
    let report = TransitBenchReport {
        operator: op.id.clone(),
        taps: opts.taps,
        refused_taps: refused,
        cards: opts.cards,
        tap_cpu_us: micros(tap_cpu) / opts.taps as f64,
        tap_wall_us: micros(tap_wall) / opts.taps as f64,
        records: records.len(),
        rounds: opts.rounds,
        clearing_per_sec: cleared / clear_wall.as_secs_f64().max(f64::MIN_POSITIVE),
        clearing_cpu_us: micros(clear_cpu) / cleared,
        accepted,
        rejected,
        hotlisted,
        ledger_settlement: false,
    };
    Ok((report, records))
}

/// The records of `opts.taps` taps and what making them cost.
struct Taps {
    records: Vec<GateRecord>,
    refused: usize,
    cpu: Duration,
    wall: Duration,
}

/// Issues `opts.cards` cards loaded to the maximum and makes `opts.taps`
/// metro taps with them at [`GATES`] gates.
fn tap_records(op: &Operator, opts: BenchOptions, clocks: &Clocks) -> Result<Taps, BenchError> {
    opts.check()?;
    let host = Host::new(masters());
    let mut cards = (0..opts.cards)
        .map(|i| new_card(op, &host, i))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sams: Vec<Sam> = (0..GATES)
        .map(|g| Sam::new([0x01, 0, 0, 0, 0, g as u8], masters().purchase, 1))
        .collect();
    let (cpu0, wall0) = ((clocks.cpu)(), (clocks.wall)());
    let (records, refused) = ride(op, &mut cards, &mut sams, opts.taps)?;
    Ok(Taps {
        records,
        refused,
        cpu: (clocks.cpu)() - cpu0,
        wall: (clocks.wall)() - wall0,
    })
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Makes the taps: random card, gate and metro trip.
fn ride(
    op: &Operator,
    cards: &mut [Purse],
    sams: &mut [Sam],
    taps: usize,
) -> Result<(Vec<GateRecord>, usize), BenchError> {
    let stations = &op.metro.stations;
    let mut rng = XorShift64::new(0x9E37_79B9_7F4A_7C15);
    let mut records = Vec::with_capacity(taps);
    let mut refused = 0;
    for _ in 0..taps {
        let (a, b) = (
            rng.below_usize(stations.len()),
            rng.below_usize(stations.len()),
        );
        let fare = metro_fare(&op.metro, stations[a].code, stations[b].code)?;
        let card = &mut cards[rng.below_usize(cards.len())];
        let sam = &mut sams[rng.below_usize(GATES)];
        let random = (rng.next_u64() as u32).to_be_bytes();
        match tap::purchase(card, sam, PurchaseKind::Simple, fare, bench_time(), || {
            random
        }) {
            Ok(r) => records.push(r),
            Err(_) => refused += 1,
        }
    }
    Ok((records, refused))
}

/// One clearing round; (accepted, rejected, hotlisted).
fn clear(op: &Operator, records: &[GateRecord]) -> (usize, usize, usize) {
    let mut c = Clearing::new(op.clone(), masters().tac);
    let (mut accepted, mut rejected) = (0, 0);
    for batch in records.chunks(BATCH) {
        let out = c.submit(batch);
        accepted += out.accepted;
        rejected += out.rejected.len();
    }
    assert_eq!(
        c.totals().records as usize,
        accepted,
        "each record counted once"
    );
    (accepted, rejected, c.hotlist().len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TransitConfig;

    #[test]
    fn a_small_run_clears_every_tap() {
        let op = TransitConfig::default_operators().operators[0].clone();
        let ticks = std::cell::Cell::new(0u64);
        let tick = || {
            ticks.set(ticks.get() + 1);
            Duration::from_millis(ticks.get())
        };
        let clocks = Clocks {
            cpu: &tick,
            wall: &tick,
        };
        let opts = BenchOptions {
            taps: 50,
            cards: 5,
            rounds: 2,
        };
        let r = run(&op, opts, &clocks).unwrap();
        assert_eq!((r.records, r.refused_taps), (50, 0));
        assert_eq!((r.accepted, r.rejected, r.hotlisted), (50, 0, 0));
        assert!(r.tap_cpu_us > 0.0 && r.clearing_per_sec > 0.0);
        assert!(!r.ledger_settlement);
    }

    #[test]
    fn out_of_range_options_are_refused() {
        let op = TransitConfig::default_operators().operators[0].clone();
        let zero = || Duration::ZERO;
        let clocks = Clocks {
            cpu: &zero,
            wall: &zero,
        };
        for opts in [
            BenchOptions {
                taps: 0,
                cards: 1,
                rounds: 1,
            },
            BenchOptions {
                taps: 1,
                cards: 0,
                rounds: 1,
            },
            BenchOptions {
                taps: 1,
                cards: 1,
                rounds: MAX_ROUNDS + 1,
            },
        ] {
            assert!(matches!(
                run(&op, opts, &clocks),
                Err(BenchError::Options(_))
            ));
        }
    }

    #[test]
    fn card_serials_stay_in_the_range() {
        let first = serial_from_digits("10003104990000000000").unwrap();
        let s = card_serial(first, 123_456);
        assert_eq!(crate::config::serial_digits(&s), "10003104990000123456");
    }
}
