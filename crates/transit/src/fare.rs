//! Fares: pure functions of the operator's tables, the ride and the time.
//! Times are seconds since the Unix epoch, passed in by the caller.

use crate::config::{Metro, Operator};

/// Why no fare can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FareError {
    /// The station code is not on the operator's line.
    #[error("unknown station {0}")]
    UnknownStation(u16),
    /// The ride starts before the previous one ended.
    #[error("clock gone backwards: ride starts before the previous one ended")]
    ClockBackwards,
    /// The fare does not fit in the purse's amount.
    #[error("fare overflows")]
    Overflow,
}

/// A ride to be priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ride {
    /// A bus ride (flat fare).
    Bus,
    /// A metro trip between two stations.
    Metro {
        /// Entry station code.
        entry: u16,
        /// Exit station code.
        exit: u16,
    },
}

/// The metro fare between two stations, by distance.
pub fn metro_fare(metro: &Metro, entry: u16, exit: u16) -> Result<u32, FareError> {
    let pos = |code| {
        metro
            .stations
            .iter()
            .find(|s| s.code == code)
            .map(|s| s.position_m)
            .ok_or(FareError::UnknownStation(code))
    };
    let distance = pos(entry)?.abs_diff(pos(exit)?);
    fare_by_distance(metro, distance)
}

/// The fare of a trip of `distance_m` metres.
pub fn fare_by_distance(metro: &Metro, distance_m: u32) -> Result<u32, FareError> {
    if let Some(band) = metro.bands.iter().find(|b| distance_m <= b.up_to_m) {
        return Ok(band.fare);
    }
    let last = metro.bands.last().ok_or(FareError::Overflow)?;
    assert!(metro.beyond_every_m > 0, "validated configuration");
    let steps = (distance_m - last.up_to_m).div_ceil(metro.beyond_every_m);
    steps
        .checked_mul(metro.beyond_step)
        .and_then(|extra| last.fare.checked_add(extra))
        .ok_or(FareError::Overflow)
}

/// The fare of `ride` starting at `at`; `previous_end` is when the card's
/// previous ride ended, for the transfer discount.
pub fn fare(
    op: &Operator,
    ride: Ride,
    at: i64,
    previous_end: Option<i64>,
) -> Result<u32, FareError> {
    let full = match ride {
        Ride::Bus => op.bus.flat_fare,
        Ride::Metro { entry, exit } => metro_fare(&op.metro, entry, exit)?,
    };
    let discount = match previous_end {
        Some(end) if at < end => return Err(FareError::ClockBackwards),
        Some(end) if at - end <= i64::from(op.transfer.window_secs) => op.transfer.discount,
        _ => 0,
    };
    Ok(full.saturating_sub(discount))
}

/// Whether a gate lets a card holding `balance` in: at least the
/// operator's minimum balance to enter.
pub fn may_enter(op: &Operator, balance: u32) -> bool {
    balance >= op.min_entry_balance
}

/// Whether a load of `amount` onto a card holding `balance` stays within the
/// operator's maximum balance (the purse refuses it otherwise).
pub fn may_load(op: &Operator, balance: u32, amount: u32) -> bool {
    amount > 0
        && balance
            .checked_add(amount)
            .is_some_and(|b| b <= op.max_balance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TransitConfig;

    fn op(id: &str) -> Operator {
        TransitConfig::default_operators()
            .operator(id)
            .cloned()
            .unwrap()
    }

    fn check<I: std::fmt::Debug + Copy, O: PartialEq + std::fmt::Debug>(
        f: impl Fn(I) -> O,
        cases: &[(I, O)],
    ) {
        for (input, expect) in cases {
            assert_eq!(&f(*input), expect, "input {input:?}");
        }
    }

    #[test]
    fn beijing_metro_by_distance() {
        let bj = op("beijing");
        check(
            |d| fare_by_distance(&bj.metro, d),
            &[
                (0, Ok(300)),
                (6000, Ok(300)),
                (6001, Ok(400)),
                (12000, Ok(400)),
                (22000, Ok(500)),
                (32000, Ok(600)),
                (32001, Ok(700)),
                (52000, Ok(700)),
                (52001, Ok(800)),
                (u32::MAX, Ok(600 + (u32::MAX - 32000).div_ceil(20000) * 100)),
            ],
        );
    }

    #[test]
    fn metro_between_stations() {
        let bj = op("beijing");
        check(
            |(a, b)| metro_fare(&bj.metro, a, b),
            &[
                ((101, 101), Ok(300)),
                ((101, 102), Ok(400)),
                ((102, 101), Ok(400)),
                ((103, 104), Ok(300)),
                ((101, 105), Ok(600)),
                ((101, 106), Ok(700)),
                ((101, 999), Err(FareError::UnknownStation(999))),
                ((998, 101), Err(FareError::UnknownStation(998))),
            ],
        );
    }

    #[test]
    fn transfer_discount_within_the_window() {
        let sh = op("shanghai");
        let metro = Ride::Metro {
            entry: 201,
            exit: 203,
        };
        let t = 1_800_000_000;
        check(
            |(ride, at, prev)| fare(&sh, ride, at, prev),
            &[
                ((Ride::Bus, t, None), Ok(200)),
                ((Ride::Bus, t, Some(t - 7200)), Ok(100)),
                ((Ride::Bus, t, Some(t - 7201)), Ok(200)),
                ((metro, t, None), Ok(400)),
                ((metro, t, Some(t - 60)), Ok(300)),
                ((Ride::Bus, t, Some(t + 1)), Err(FareError::ClockBackwards)),
            ],
        );
    }

    #[test]
    fn entry_and_load_limits() {
        let bj = op("beijing");
        check(
            |b| may_enter(&bj, b),
            &[(0, false), (299, false), (300, true)],
        );
        check(
            |(b, a)| may_load(&bj, b, a),
            &[
                ((0, 0), false),
                ((0, 100_000), true),
                ((1, 100_000), false),
                ((99_999, 1), true),
                ((u32::MAX, 1), false),
            ],
        );
    }

    #[test]
    fn discount_never_below_zero_and_overflow_is_an_error() {
        let mut sh = op("shanghai");
        sh.transfer.discount = 10_000;
        assert_eq!(fare(&sh, Ride::Bus, 10, Some(5)), Ok(0));
        sh.metro.beyond_step = u32::MAX;
        assert_eq!(
            fare_by_distance(&sh.metro, 1_000_000),
            Err(FareError::Overflow)
        );
    }
}
