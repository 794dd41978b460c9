//! The operator's business day: the calendar day (China Standard Time) on
//! which a batch was cleared, and the unit of settlement.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, UtcOffset};

/// The operators' business day runs in China Standard Time (UTC+8, no
/// daylight saving): all six default operators are Chinese cities.
pub const BUSINESS_DAY_UTC_OFFSET_SECS: i32 = 8 * 3600;

/// A calendar day, `YYYYMMDD` as a number (`20261205`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Day(Date);

impl Day {
    /// The day `yyyymmdd`, if it is a real date.
    pub fn from_number(yyyymmdd: u32) -> Option<Day> {
        let year = i32::try_from(yyyymmdd / 10_000).ok()?;
        let month = Month::try_from(u8::try_from(yyyymmdd / 100 % 100).ok()?).ok()?;
        let day = u8::try_from(yyyymmdd % 100).ok()?;
        Date::from_calendar_date(year, month, day).ok().map(Day)
    }

    /// `YYYYMMDD` as a number.
    pub fn number(self) -> u32 {
        let (y, m, d) = self.0.to_calendar_date();
        // Days come from `from_number` or a clock after 1970: years 0..=9999.
        u32::try_from(y).unwrap_or(0) * 10_000 + u32::from(u8::from(m)) * 100 + u32::from(d)
    }

    /// The business day that contains the instant `millis` (Unix ms).
    pub fn of_millis(millis: i64) -> Day {
        let offset =
            UtcOffset::from_whole_seconds(BUSINESS_DAY_UTC_OFFSET_SECS).unwrap_or(UtcOffset::UTC);
        let at = OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        Day(at.to_offset(offset).date())
    }

    /// The day after (the same day at the end of the calendar).
    pub fn next(self) -> Day {
        Day(self.0.next_day().unwrap_or(self.0))
    }
}

impl TryFrom<u32> for Day {
    type Error = String;

    fn try_from(n: u32) -> Result<Self, Self::Error> {
        Day::from_number(n).ok_or_else(|| format!("{n} is not a YYYYMMDD date"))
    }
}

impl From<Day> for u32 {
    fn from(d: Day) -> u32 {
        d.number()
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08}", self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_bad_dates_are_refused() {
        for (n, ok) in [
            (20261205, true),
            (20240229, true),
            (20250229, false),
            (20261301, false),
            (20261200, false),
            (0, false),
        ] {
            assert_eq!(Day::from_number(n).map(Day::number), ok.then_some(n), "{n}");
        }
    }

    #[test]
    fn the_business_day_is_china_standard_time() {
        // 2026-12-05 15:59:59 UTC is 23:59:59 in Beijing; a second later
        // it is the 6th there.
        let before = 1_796_486_399_000;
        assert_eq!(Day::of_millis(before).number(), 20261205);
        assert_eq!(Day::of_millis(before + 1000).number(), 20261206);
        assert_eq!(
            Day::from_number(20261231).unwrap().next().number(),
            20270101
        );
    }
}
