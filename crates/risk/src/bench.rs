//! The risk benchmark's core (`paytap bench risk`): decisions under the
//! default rules over a realistic population of accounts, cards, devices and
//! merchants, with bursts, far-away places and large amounts mixed in. The
//! caller passes the wall clock, so this stays sans-IO.
//!
//! Each decision is timed alone (the payment's facts are made before the
//! clock starts) and so is each outcome recorded after it; the report gives
//! the mean, p50 and p99 of both.

use paytap_types::XorShift64;
use std::time::Duration;

use paytap_types::{
    CardFacts, CardType, Channel, Currency, DeviceFacts, DeviceKind, GeoPoint, MerchantFacts,
    Money, PaymentFacts,
};
use serde::Serialize;

use crate::config::{KeyKind, RiskRules};
use crate::decision::{Outcome, Verdict};
use crate::engine::RiskEngine;

/// Most decisions one run may time (each latency sample is kept).
pub const MAX_DECISIONS: usize = 10_000_000;
/// Most accounts one run may spread payments over.
pub const MAX_ACCOUNTS: usize = 1_000_000;
/// Merchants the payments go to.
pub const MERCHANTS: usize = 2_000;
/// Simulated time between consecutive payments, ms (50 payments a second
/// across the population).
const STEP_MS: i64 = 20;
/// The target of the issue: a decision's p99 at most this many µs.
pub const TARGET_P99_US: f64 = 20.0;
/// One payment in this many repeats the previous card at once (a burst).
const BURST_ONE_IN: u64 = 20;
/// One payment in this many comes from a far city.
const FAR_ONE_IN: u64 = 500;
/// One payment in this many is large.
const LARGE_ONE_IN: u64 = 200;
/// The population's cities (lat, lon): Beijing, Shanghai, Shenzhen, Chengdu.
const CITIES: [(f64, f64); 4] = [
    (39.9042, 116.4074),
    (31.2304, 121.4737),
    (22.5431, 114.0579),
    (30.5728, 104.0668),
];

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchOptions {
    /// Decisions to time.
    pub decisions: usize,
    /// Accounts paying (one device and one card each, a second card for one
    /// in four).
    pub accounts: usize,
}

/// Why the benchmark could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BenchError {
    /// An option is out of range.
    #[error("{0}")]
    Options(&'static str),
}

/// The figures, one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RiskBenchReport {
    /// Decisions timed.
    pub decisions: usize,
    /// Accounts, cards, devices and merchants the payments came from and went to.
    pub accounts: usize,
    /// Cards.
    pub cards: usize,
    /// Devices.
    pub devices: usize,
    /// Merchants.
    pub merchants: usize,
    /// Rules in force (the default rules file), the blocklists aside.
    pub rules: usize,
    /// Decisions per second of one core (decide alone).
    pub decisions_per_sec: f64,
    /// Mean µs per decision.
    pub decide_us: f64,
    /// Median µs per decision.
    pub decide_p50_us: f64,
    /// 99th percentile µs per decision.
    pub decide_p99_us: f64,
    /// Mean µs to record an outcome.
    pub record_us: f64,
    /// 99th percentile µs to record an outcome.
    pub record_p99_us: f64,
    /// Decisions that approved.
    pub approved: usize,
    /// Decisions that stepped up.
    pub stepped_up: usize,
    /// Decisions that declined.
    pub declined: usize,
    /// Shadow rule firings (recorded, not acted on).
    pub shadow_fired: usize,
    /// Keys remembered at the end, all kinds.
    pub keys_remembered: usize,
    /// The target for `decide_p99_us`.
    pub target_p99_us: f64,
}

impl RiskBenchReport {
    /// A table for people.
    pub fn table(&self) -> String {
        format!(
            "risk decisions (default rules: {} rules; {} accounts, {} cards, {} devices, {} merchants)\n\
             \x20 {:>10.0} decisions/s   {:.2} µs mean   {:.2} µs p50   {:.2} µs p99 (target <= {} µs)\n\
             \x20 {:>10.2} µs to record an outcome   {:.2} µs p99\n\
             \x20 {} approved, {} stepped up, {} declined; {} shadow firings; {} keys remembered\n",
            self.rules,
            self.accounts,
            self.cards,
            self.devices,
            self.merchants,
            self.decisions_per_sec,
            self.decide_us,
            self.decide_p50_us,
            self.decide_p99_us,
            self.target_p99_us,
            self.record_us,
            self.record_p99_us,
            self.approved,
            self.stepped_up,
            self.declined,
            self.shadow_fired,
            self.keys_remembered,
        )
    }
}

/// Where the stream of payments is.
struct Population {
    accounts: usize,
    rng: XorShift64,
    now: i64,
    last_card: Option<(usize, bool)>,
}

/// A fixed start instant (2026-12-05 00:00 UTC).
const START_MS: i64 = 1_796_428_800_000;

impl Population {
    fn card_of(account: usize, second: bool) -> String {
        format!("fp{account:08x}{}", u8::from(second))
    }

    /// The next payment: mostly everyday amounts at home, with bursts,
    /// far-away places and large amounts mixed in.
    fn next(&mut self, i: usize) -> PaymentFacts {
        self.now += STEP_MS;
        let r = &mut self.rng;
        let (account, second) = match self.last_card {
            Some(last) if r.below(BURST_ONE_IN) == 0 => last,
            _ => (r.below(self.accounts as u64) as usize, r.below(4) == 0),
        };
        let second = second && account.is_multiple_of(4);
        self.last_card = Some((account, second));
        let large = r.below(LARGE_ONE_IN) == 0;
        let minor = if large {
            300_000 + r.below(500_000)
        } else {
            500 + r.below(20_000)
        };
        let city = if r.below(FAR_ONE_IN) == 0 {
            CITIES[(account + 1 + r.below(3) as usize) % CITIES.len()]
        } else {
            CITIES[account % CITIES.len()]
        };
        let jitter = (r.below(1000) as f64 - 500.0) / 50_000.0;
        let mut f = PaymentFacts::new(
            format!("p{i}"),
            if r.below(3) == 0 {
                Channel::Qr
            } else {
                Channel::Nfc
            },
            Money::new(minor as i64, Currency::CNY),
            self.now,
        );
        f.account_id = Some(format!("acct{account:08}"));
        f.card = Some(CardFacts {
            fingerprint: Self::card_of(account, second),
            bin: "622588".into(),
            bank: "cmb".into(),
            card_type: if second {
                CardType::Credit
            } else {
                CardType::Debit
            },
            added_at_ms: Some(START_MS - 30 * 86_400_000),
            first_use: false,
        });
        f.device = Some(DeviceFacts {
            id: format!("dev{account:08}"),
            kind: DeviceKind::Phone,
            enrolled_at_ms: Some(START_MS - 60 * 86_400_000),
        });
        f.merchant = Some(MerchantFacts {
            id: format!("m{:05}", r.below(MERCHANTS as u64)),
            mcc: [5411, 5812, 5814, 4111, 5999][r.below(5) as usize],
        });
        f.region = Some("cn".into());
        f.place = Some(GeoPoint {
            lat: city.0 + jitter,
            lon: city.1 + jitter,
        });
        f
    }
}

fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e6
}

fn mean_us(samples: &[Duration]) -> f64 {
    let total: Duration = samples.iter().sum();
    total.as_secs_f64() * 1e6 / samples.len().max(1) as f64
}

/// An engine that has seen one approved payment per account, and the next
/// `decisions` payments of the same stream (for `run` and the criterion
/// bench).
pub fn prepare(opts: BenchOptions) -> Result<(RiskEngine, Vec<PaymentFacts>), BenchError> {
    if !(1..=MAX_DECISIONS).contains(&opts.decisions) {
        return Err(BenchError::Options("--decisions must be 1 to 10000000"));
    }
    if !(1..=MAX_ACCOUNTS).contains(&opts.accounts) {
        return Err(BenchError::Options("--accounts must be 1 to 1000000"));
    }
    let mut engine = RiskEngine::new(RiskRules::default_rules());
    let mut pop = Population {
        accounts: opts.accounts,
        rng: XorShift64::new(0x9E37_79B9_7F4A_7C15),
        now: START_MS,
        last_card: None,
    };
    for i in 0..opts.accounts {
        let f = pop.next(i);
        engine.record(&f, Outcome::Approved);
    }
    let stream = (0..opts.decisions)
        .map(|i| pop.next(opts.accounts + i))
        .collect();
    Ok((engine, stream))
}

/// Runs the benchmark: a warm-up of one payment per account, then
/// `decisions` timed decisions, each followed by its timed outcome (a
/// step-up is taken as passed, so the payment is approved).
pub fn run(opts: BenchOptions, wall: &dyn Fn() -> Duration) -> Result<RiskBenchReport, BenchError> {
    let (mut engine, stream) = prepare(opts)?;
    let mut decide = Vec::with_capacity(opts.decisions);
    let mut record = Vec::with_capacity(opts.decisions);
    let mut report = RiskBenchReport {
        decisions: opts.decisions,
        accounts: opts.accounts,
        cards: opts.accounts + opts.accounts.div_ceil(4),
        devices: opts.accounts,
        merchants: MERCHANTS,
        rules: engine.rules().len(),
        decisions_per_sec: 0.0,
        decide_us: 0.0,
        decide_p50_us: 0.0,
        decide_p99_us: 0.0,
        record_us: 0.0,
        record_p99_us: 0.0,
        approved: 0,
        stepped_up: 0,
        declined: 0,
        shadow_fired: 0,
        keys_remembered: 0,
        target_p99_us: TARGET_P99_US,
    };
    for f in &stream {
        let t0 = wall();
        let d = engine.decide(f);
        let t1 = wall();
        let outcome = tally(&mut report, &d);
        engine.record(f, outcome);
        let t2 = wall();
        decide.push(t1.saturating_sub(t0));
        record.push(t2.saturating_sub(t1));
    }
    finish(&mut report, &mut decide, &mut record, &engine);
    Ok(report)
}

fn tally(report: &mut RiskBenchReport, d: &crate::Decision) -> Outcome {
    report.shadow_fired += d.fired.iter().filter(|f| f.shadow).count();
    match d.verdict {
        Verdict::Approve => {
            report.approved += 1;
            Outcome::Approved
        }
        Verdict::StepUp { .. } => {
            report.stepped_up += 1;
            Outcome::Approved
        }
        Verdict::Decline { .. } => {
            report.declined += 1;
            Outcome::Declined
        }
    }
}

fn finish(
    report: &mut RiskBenchReport,
    decide: &mut [Duration],
    record: &mut [Duration],
    engine: &RiskEngine,
) {
    report.decide_us = mean_us(decide);
    report.record_us = mean_us(record);
    let total: Duration = decide.iter().sum();
    report.decisions_per_sec = decide.len() as f64 / total.as_secs_f64().max(1e-9);
    decide.sort_unstable();
    record.sort_unstable();
    report.decide_p50_us = percentile_us(decide, 0.50);
    report.decide_p99_us = percentile_us(decide, 0.99);
    report.record_p99_us = percentile_us(record, 0.99);
    report.keys_remembered = KeyKind::ALL.iter().map(|k| engine.keys(*k).0).sum();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_decides_every_payment() {
        let start = std::time::Instant::now();
        let wall = move || start.elapsed();
        let r = run(
            BenchOptions {
                decisions: 2_000,
                accounts: 100,
            },
            &wall,
        )
        .unwrap();
        assert_eq!(r.approved + r.stepped_up + r.declined, 2_000);
        assert!(r.stepped_up > 0, "bursts are stepped up: {r:?}");
        assert!(r.decide_us > 0.0 && r.decide_p99_us >= r.decide_p50_us);
        assert!(r.keys_remembered > 0);
        assert!(
            run(
                BenchOptions {
                    decisions: 0,
                    accounts: 1
                },
                &wall
            )
            .is_err()
        );
    }
}
