//! The offers benchmark's core (`paytap bench offers`): matching at
//! authorization over many live offers (the target: under 20 µs
//! over 1,000), then capture, for a stream of payments from a population of
//! accounts and cards. The caller passes the wall clock, so this stays
//! sans-IO.
//!
//! The offers are the three defaults and generated ones of every shape:
//! bank, BIN range, MCC, merchant, channel, region, currency, card type and
//! day-of-week conditions, discounts and cashback, per-user and per-card
//! limits. Four in five name a few merchants (as most live offers do); the
//! report says how many payments got one.

use paytap_types::XorShift64;
use std::sync::Arc;
use std::time::Duration;

use paytap_types::{
    CardFacts, CardType, Channel, Currency, DeviceFacts, DeviceKind, MerchantFacts, Money,
    PaymentFacts,
};
use serde::Serialize;

use crate::config::{
    Amount, BenefitKind, Eligibility, Funder, FunderKind, Limits, Offer, OffersFile, Period,
    PeriodLimit,
};
use crate::engine::OfferEngine;

/// Most payments one run may time (each latency sample is kept).
pub const MAX_PAYMENTS: usize = 1_000_000;
/// Most live offers one run may generate.
pub const MAX_LIVE_OFFERS: usize = 10_000;
/// Accounts paying (one card each).
pub const ACCOUNTS: usize = 20_000;
/// The target of the issue: matching over 1,000 live offers under this many µs.
pub const TARGET_MATCH_US: f64 = 20.0;
/// Simulated time between payments, ms.
const STEP_MS: i64 = 50;
/// A fixed start instant (2026-12-05 00:00 UTC).
const START_MS: i64 = 1_796_428_800_000;
/// Merchant category codes of the generated offers and payments.
const MCCS: [u16; 8] = [5411, 5812, 5814, 4111, 5999, 5541, 5732, 4900];
/// Banks of the generated cards (ids as in `banks.toml`).
const BANKS: [&str; 6] = [
    "01020000", "01030000", "01040000", "01050000", "03010000", "03080000",
];

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchOptions {
    /// Payments to authorize and capture.
    pub payments: usize,
    /// Live offers (the three defaults among them).
    pub offers: usize,
}

/// Why the benchmark could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BenchError {
    /// An option is out of range.
    #[error("{0}")]
    Options(&'static str),
    /// The engine refused a payment (a bug in the benchmark or the engine).
    #[error("payment refused: {0}")]
    Engine(#[from] crate::engine::OfferError),
}

/// The figures, one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OffersBenchReport {
    /// Payments authorized and captured.
    pub payments: usize,
    /// Live offers matched against.
    pub offers: usize,
    /// Authorizations (matching, limits, budget reservation) per second of one core.
    pub authorizations_per_sec: f64,
    /// Mean µs to authorize.
    pub authorize_us: f64,
    /// Median µs to authorize.
    pub authorize_p50_us: f64,
    /// 99th percentile µs to authorize.
    pub authorize_p99_us: f64,
    /// Mean µs to capture.
    pub capture_us: f64,
    /// Payments that got at least one offer.
    pub with_offers: usize,
    /// Offers applied in all.
    pub applied: usize,
    /// Eligible offers refused (limits reached, budget exhausted).
    pub refused: usize,
    /// The target for `authorize_p99_us`.
    pub target_us: f64,
}

impl OffersBenchReport {
    /// A table for people.
    pub fn table(&self) -> String {
        format!(
            "offer matching ({} live offers, {} payments)\n\
             \x20 {:>10.0} authorizations/s   {:.2} µs mean   {:.2} µs p50   {:.2} µs p99 (target < {} µs)\n\
             \x20 {:>10.2} µs to capture\n\
             \x20 {} payments got offers, {} applied, {} refused by limits or budget\n",
            self.offers,
            self.payments,
            self.authorizations_per_sec,
            self.authorize_us,
            self.authorize_p50_us,
            self.authorize_p99_us,
            self.target_us,
            self.capture_us,
            self.with_offers,
            self.applied,
            self.refused,
        )
    }
}

/// Generated offer `i`: one or two conditions of every kind, mostly CNY.
fn generated(i: usize, r: &mut XorShift64) -> Offer {
    let currency = if i.is_multiple_of(5) {
        Currency::INR
    } else {
        Currency::CNY
    };
    let mut e = Eligibility {
        currency: Some(currency),
        utc_offset_min: if currency == Currency::INR { 330 } else { 480 },
        min_amount: (r.below_usize(20) as i64) * 1_000,
        ..Eligibility::default()
    };
    // Most live offers are a merchant's own: four in five name a few
    // merchants; the rest are bank, MCC, BIN, channel or weekday offers.
    if i % 5 != 4 {
        e.merchants = (0..3)
            .map(|_| format!("m{:05}", r.below_usize(2_000)))
            .collect();
    }
    match i % 6 {
        0 => e.banks = vec![BANKS[r.below_usize(BANKS.len())].to_string()],
        1 => {
            e.mccs = vec![
                MCCS[r.below_usize(MCCS.len())],
                MCCS[r.below_usize(MCCS.len())],
            ]
        }
        2 => {
            e.merchants = (0..5)
                .map(|_| format!("m{:05}", r.below_usize(2_000)))
                .collect()
        }
        3 => e.bin_ranges = vec![("620101".into(), format!("62010{}", 1 + r.below_usize(6)))],
        4 => e.channels = vec![[Channel::Nfc, Channel::Qr][r.below_usize(2)]],
        _ => e.days = 1 << r.below_usize(7),
    }
    if i.is_multiple_of(7) {
        e.card_types = vec![CardType::Credit];
    }
    if i.is_multiple_of(11) {
        e.regions = vec!["cn".into()];
    }
    let (kind, amount) = if i.is_multiple_of(2) {
        (
            BenefitKind::Discount,
            Amount::Fixed(100 + r.below_usize(1_000) as i64),
        )
    } else {
        (
            BenefitKind::Cashback,
            Amount::Percent {
                bp: 100 + r.below_usize(900) as u32,
                cap: 2_000,
            },
        )
    };
    Offer {
        id: Arc::from(format!("gen-{i}")),
        title: format!("generated offer {i}"),
        funder: Funder {
            kind: [FunderKind::Bank, FunderKind::Merchant, FunderKind::Platform][i % 3],
            id: format!("funder-{}", i % 50),
        },
        order: 1_000 + i as u32,
        exclusive: i.is_multiple_of(13),
        paused: false,
        eligibility: e,
        kind,
        amount,
        limits: Limits {
            per_user: (i.is_multiple_of(3)).then_some(PeriodLimit {
                count: 1,
                period: Period::Day,
            }),
            per_card: (i.is_multiple_of(4)).then_some(PeriodLimit {
                count: 3,
                period: Period::Week,
            }),
            budget: 10_000_000_000,
        },
        source: String::new(),
    }
}

/// The engine with `offers` live offers (the defaults first).
pub fn engine_with(offers: usize) -> OfferEngine {
    let mut file = OffersFile::default_offers();
    let mut r = XorShift64::new(0xA076_1D64_78BD_642F);
    let more = offers.saturating_sub(file.offers.len());
    file.offers.extend((0..more).map(|i| generated(i, &mut r)));
    OfferEngine::new(file)
}

/// The first `n` payments of the benchmark's stream.
pub fn payments(n: usize) -> Vec<PaymentFacts> {
    let mut r = XorShift64::new(0x2545_F491_4F6C_DD1D);
    (0..n).map(|i| payment(i, &mut r)).collect()
}

/// Payment `i` of the stream.
fn payment(i: usize, r: &mut XorShift64) -> PaymentFacts {
    let account = r.below_usize(ACCOUNTS);
    let at = START_MS + i as i64 * STEP_MS;
    let inr = account.is_multiple_of(5);
    let (currency, channel) = if inr {
        (
            Currency::INR,
            [Channel::Upi, Channel::Bills, Channel::Qr][r.below_usize(3)],
        )
    } else {
        (
            Currency::CNY,
            [Channel::Nfc, Channel::Qr, Channel::Transit][r.below_usize(3)],
        )
    };
    let mut f = PaymentFacts::new(
        format!("pay-{i}"),
        channel,
        Money::new(500 + r.below_usize(30_000) as i64, currency),
        at,
    );
    f.account_id = Some(format!("acct{account:06}"));
    f.card = Some(CardFacts {
        fingerprint: format!("fp{account:06}"),
        bin: format!("62010{}", 1 + account % 6),
        bank: BANKS[account % BANKS.len()].to_string(),
        card_type: if account.is_multiple_of(3) {
            CardType::Credit
        } else {
            CardType::Debit
        },
        added_at_ms: None,
        first_use: r.below_usize(50) == 0,
    });
    f.device = Some(DeviceFacts {
        id: format!("dev{account:06}"),
        kind: DeviceKind::Phone,
        enrolled_at_ms: None,
    });
    f.merchant = Some(MerchantFacts {
        id: format!("m{:05}", r.below_usize(2_000)),
        mcc: MCCS[r.below_usize(MCCS.len())],
    });
    f.region = Some(if inr { "in" } else { "cn" }.into());
    f.first_on_channel = r.below_usize(20) == 0;
    f
}

fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

/// Runs the benchmark: each payment authorized (timed) and captured (timed).
pub fn run(
    opts: BenchOptions,
    wall: &dyn Fn() -> Duration,
) -> Result<OffersBenchReport, BenchError> {
    if !(1..=MAX_PAYMENTS).contains(&opts.payments) {
        return Err(BenchError::Options("--payments must be 1 to 1000000"));
    }
    if !(3..=MAX_LIVE_OFFERS).contains(&opts.offers) {
        return Err(BenchError::Options("--offers must be 3 to 10000"));
    }
    let mut engine = engine_with(opts.offers);
    let stream = payments(opts.payments);
    let mut auth = Vec::with_capacity(opts.payments);
    let mut capture = Duration::ZERO;
    let (mut with_offers, mut applied, mut refused) = (0, 0, 0);
    for f in &stream {
        let t0 = wall();
        let q = engine.authorize(f)?;
        let t1 = wall();
        engine.capture(&f.payment_id)?;
        let t2 = wall();
        auth.push(t1.saturating_sub(t0));
        capture += t2.saturating_sub(t1);
        with_offers += usize::from(!q.applied.is_empty());
        applied += q.applied.len();
        refused += q.refused.len();
    }
    let total: Duration = auth.iter().sum();
    auth.sort_unstable();
    Ok(OffersBenchReport {
        payments: opts.payments,
        offers: opts.offers,
        authorizations_per_sec: opts.payments as f64 / total.as_secs_f64().max(1e-9),
        authorize_us: total.as_secs_f64() * 1e6 / opts.payments as f64,
        authorize_p50_us: percentile_us(&auth, 0.50),
        authorize_p99_us: percentile_us(&auth, 0.99),
        capture_us: capture.as_secs_f64() * 1e6 / opts.payments as f64,
        with_offers,
        applied,
        refused,
        target_us: TARGET_MATCH_US,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_matches_and_captures_every_payment() {
        let start = std::time::Instant::now();
        let wall = move || start.elapsed();
        let r = run(
            BenchOptions {
                payments: 2_000,
                offers: 200,
            },
            &wall,
        )
        .unwrap();
        assert_eq!(r.payments, 2_000);
        assert!(r.with_offers > 0 && r.applied >= r.with_offers, "{r:?}");
        assert!(r.authorize_p99_us >= r.authorize_p50_us);
        assert!(
            run(
                BenchOptions {
                    payments: 0,
                    offers: 10
                },
                &wall
            )
            .is_err()
        );
    }
}
