//! Eligibility: whether an offer may apply to a payment, and the local days
//! and periods its limits count in. Pure functions of the offer and the
//! payment's facts.

use paytap_types::PaymentFacts;

use crate::config::{Eligibility, Offer, Period};

/// Milliseconds in a day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// The local day number (days since 1970-01-01 in the offer's local time).
pub fn local_day(at_ms: i64, utc_offset_min: i32) -> i64 {
    (at_ms + i64::from(utc_offset_min) * 60_000).div_euclid(MS_PER_DAY)
}

/// The weekday of a local day number, Monday 0 … Sunday 6 (1970-01-01 was
/// a Thursday).
pub fn weekday(day: i64) -> u8 {
    (day + 3).rem_euclid(7) as u8
}

/// The period an instant falls in, and the instant (Unix ms) it ends.
pub fn period_of(period: Period, at_ms: i64, utc_offset_min: i32) -> (i64, i64) {
    let offset_ms = i64::from(utc_offset_min) * 60_000;
    let day = local_day(at_ms, utc_offset_min);
    match period {
        Period::Day => (day, (day + 1) * MS_PER_DAY - offset_ms),
        Period::Week => {
            let week = (day + 3).div_euclid(7);
            (week, ((week + 1) * 7 - 3) * MS_PER_DAY - offset_ms)
        }
        Period::Lifetime => (0, i64::MAX),
    }
}

fn any_or<T: PartialEq>(list: &[T], v: Option<T>) -> bool {
    list.is_empty() || v.is_some_and(|v| list.contains(&v))
}

fn any_str(list: &[String], v: Option<&str>) -> bool {
    list.is_empty() || v.is_some_and(|v| list.iter().any(|x| x == v))
}

/// Whether a BIN falls in one of the ranges (each compared on its own
/// number of digits).
pub fn bin_in(ranges: &[(String, String)], bin: Option<&str>) -> bool {
    if ranges.is_empty() {
        return true;
    }
    let Some(bin) = bin else { return false };
    ranges.iter().any(|(first, last)| {
        bin.get(..first.len())
            .is_some_and(|p| p >= first.as_str() && p <= last.as_str())
    })
}

impl Eligibility {
    /// Whether a payment is eligible. The cheap checks come first: this runs
    /// for every live offer on every payment.
    pub fn matches(&self, f: &PaymentFacts) -> bool {
        self.currency == Some(f.amount.currency)
            && f.amount.minor >= self.min_amount
            && (self.channels.is_empty() || self.channels.contains(&f.channel))
            && self.starts_ms.is_none_or(|s| f.at_ms >= s)
            && self.ends_ms.is_none_or(|e| f.at_ms < e)
            && self.day_ok(f.at_ms)
            && self.payer_ok(f)
            && self.payee_ok(f)
    }

    fn day_ok(&self, at_ms: i64) -> bool {
        self.days == 0 || self.days & (1 << weekday(local_day(at_ms, self.utc_offset_min))) != 0
    }

    fn payer_ok(&self, f: &PaymentFacts) -> bool {
        let card = f.card.as_ref();
        any_str(&self.banks, card.map(|c| c.bank.as_str()))
            && bin_in(&self.bin_ranges, card.map(|c| c.bin.as_str()))
            && any_or(&self.card_types, card.map(|c| c.card_type))
            && any_or(&self.device_kinds, f.device.as_ref().map(|d| d.kind))
            && (!self.first_card_use || card.is_some_and(|c| c.first_use))
            && (!self.first_on_channel || f.first_on_channel)
            && (!self.upi || f.upi.is_some())
    }

    fn payee_ok(&self, f: &PaymentFacts) -> bool {
        let m = f.merchant.as_ref();
        any_str(&self.merchants, m.map(|m| m.id.as_str()))
            && any_or(&self.mccs, m.map(|m| m.mcc))
            && any_str(&self.regions, f.region.as_deref())
    }
}

impl Offer {
    /// Whether the offer is live and the payment eligible (limits and budget
    /// aside).
    pub fn applies_to(&self, f: &PaymentFacts) -> bool {
        !self.paused && self.eligibility.matches(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_weeks_in_local_time() {
        // 2026-12-07T00:30+08:00 is a Monday, still Sunday in UTC.
        let midnight = 1_796_572_800_000;
        let at = midnight + 30 * 60_000;
        assert_eq!(weekday(local_day(at, 480)), 0);
        assert_eq!(weekday(local_day(at, 0)), 6);
        let (day, end) = period_of(Period::Day, at, 480);
        assert_eq!(day, local_day(at, 480));
        assert_eq!(end, midnight + 86_400_000);
        let (_, week_end) = period_of(Period::Week, at, 480);
        assert_eq!(week_end, midnight + 7 * 86_400_000);
        assert_eq!(period_of(Period::Lifetime, at, 480), (0, i64::MAX));
    }

    #[test]
    fn bin_ranges_compare_on_their_own_length() {
        let ranges = vec![
            ("620101".to_string(), "620109".to_string()),
            ("4761".to_string(), "4761".to_string()),
        ];
        for (bin, expect) in [
            (Some("620101"), true),
            (Some("62010999"), true),
            (Some("620110"), false),
            (Some("47617390"), true),
            (Some("476"), false),
            (None, false),
        ] {
            assert_eq!(bin_in(&ranges, bin), expect, "{bin:?}");
        }
        assert!(bin_in(&[], None));
    }
}
