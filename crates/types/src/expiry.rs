//! Card and token expiry dates: `YYMM` as printed on a card, in EMV tag 5F24
//! and in ISO 8583 DE 14, valid through the last day of that month
//! (ISO/IEC 7813). Two-digit years are read as 2000–2099.

/// The century two-digit years belong to (a card issued today expires
/// before 2100, and none issued before 2000 is still valid).
const CENTURY: i32 = 2000;
/// Milliseconds in a second, for turning Unix milliseconds into the
/// seconds the calendar conversion takes.
const MILLIS_PER_SECOND: i64 = 1000;

/// Why a `YYMM` expiry was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expiry must be YYMM with month 01 to 12")]
pub struct ExpiryError;

/// A validated expiry month: two-digit year 00–99 and month 1–12.
///
/// Ordering is chronological (year, then month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Expiry {
    year: u8,
    month: u8,
}

impl Expiry {
    /// `yy` 0..=99, `month` 1..=12.
    pub fn new(yy: u8, month: u8) -> Result<Expiry, ExpiryError> {
        if yy > 99 || !(1..=12).contains(&month) {
            return Err(ExpiryError);
        }
        Ok(Expiry { year: yy, month })
    }

    /// Parses exactly four ASCII digits `YYMM`.
    pub fn parse(yymm: &str) -> Result<Expiry, ExpiryError> {
        let [y1, y2, m1, m2] = <[u8; 4]>::try_from(yymm.as_bytes()).map_err(|_| ExpiryError)?;
        let digit = |c: u8| c.is_ascii_digit().then(|| c - b'0').ok_or(ExpiryError);
        Expiry::new(digit(y1)? * 10 + digit(y2)?, digit(m1)? * 10 + digit(m2)?)
    }

    /// The expiry `months` after the month containing `millis` (Unix
    /// milliseconds, UTC): a new card or token valid for that many months.
    pub fn months_after(millis: i64, months: u32) -> Expiry {
        let (y, m) = year_month(millis);
        let total = i64::from(y) * 12 + i64::from(m) - 1 + i64::from(months);
        // rem_euclid keeps both in range, so the narrowing cannot fail.
        let year = u8::try_from(total.div_euclid(12).rem_euclid(100)).unwrap_or(0);
        let month = u8::try_from(total.rem_euclid(12) + 1).unwrap_or(1);
        Expiry { year, month }
    }

    /// Two-digit year.
    pub fn year(self) -> u8 {
        self.year
    }

    /// Month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// Days in the expiry month: the card is valid through this day
    /// (EMV tag 5F24 carries it).
    pub fn last_day(self) -> u8 {
        let leap = self.year.is_multiple_of(4);
        match self.month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    /// `"YYMM"`.
    pub fn yymm(self) -> String {
        format!("{:02}{:02}", self.year, self.month)
    }

    /// Whether the expiry month lies before the month containing `millis`
    /// (Unix milliseconds, UTC). A card is valid through its expiry month.
    pub fn is_expired(self, millis: i64) -> bool {
        let (y, m) = year_month(millis);
        self.months_since_epoch() < y * 12 + i32::from(m)
    }

    fn months_since_epoch(self) -> i32 {
        (CENTURY + i32::from(self.year)) * 12 + i32::from(self.month)
    }
}

impl std::fmt::Display for Expiry {
    /// `MM/YY`, as printed on a card.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}/{:02}", self.month, self.year)
    }
}

/// Whether the `YYMM` string `yymm` is expired at `millis`; anything that
/// is not a valid `YYMM` counts as expired (the safe answer on the
/// authorization path). Does not allocate.
pub fn yymm_expired(yymm: &str, millis: i64) -> bool {
    Expiry::parse(yymm).map_or(true, |e| e.is_expired(millis))
}

/// UTC (year, month 1–12) of an instant in Unix milliseconds; instants the
/// calendar cannot represent read as January 1970.
pub fn year_month(millis: i64) -> (i32, u8) {
    let seconds = millis.div_euclid(MILLIS_PER_SECOND);
    match time::OffsetDateTime::from_unix_timestamp(seconds) {
        Ok(t) => (t.year(), u8::from(t.month())),
        Err(_) => (1970, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-23T09:00:00Z
    const NOW: i64 = 1_795_424_400_000;

    fn check(input: &str, expect: Option<(u8, u8)>) {
        let got = Expiry::parse(input).ok().map(|e| (e.year(), e.month()));
        assert_eq!(got, expect, "{input:?}");
    }

    #[test]
    fn parses_yymm() {
        check("2611", Some((26, 11)));
        check("0001", Some((0, 1)));
        check("9912", Some((99, 12)));
        check("2600", None);
        check("2613", None);
        check("26", None);
        check("26111", None);
        check("ab11", None);
        check("+611", None);
        check("２６11", None);
        check("", None);
    }

    fn check_expired(yymm: &str, expect: bool) {
        assert_eq!(yymm_expired(yymm, NOW), expect, "{yymm:?}");
    }

    #[test]
    fn expiry_is_inclusive_of_its_month() {
        check_expired("2611", false);
        check_expired("2610", true);
        check_expired("2701", false);
        check_expired("2511", true);
        check_expired("2613", true);
        check_expired("2600", true);
        check_expired("26", true);
        check_expired("x", true);
        check_expired("ab11", true);
    }

    fn check_after(months: u32, expect: &str) {
        assert_eq!(Expiry::months_after(NOW, months).yymm(), expect, "{months}");
    }

    #[test]
    fn months_after_rolls_over_years_and_centuries() {
        check_after(0, "2611");
        check_after(1, "2612");
        check_after(2, "2701");
        check_after(36, "2911");
        check_after(60, "3111");
        check_after(12 * 74, "0011");
    }

    fn check_last_day(yymm: &str, expect: u8) {
        assert_eq!(
            Expiry::parse(yymm).map(Expiry::last_day),
            Ok(expect),
            "{yymm}"
        );
    }

    #[test]
    fn last_day_of_the_month() {
        check_last_day("2801", 31);
        check_last_day("2802", 29);
        check_last_day("2702", 28);
        check_last_day("0002", 29);
        check_last_day("2804", 30);
        check_last_day("2812", 31);
    }

    #[test]
    fn prints_as_on_a_card_and_orders_chronologically() {
        let e = Expiry::new(30, 1).unwrap();
        assert_eq!(e.to_string(), "01/30");
        assert_eq!(e.yymm(), "3001");
        assert!(Expiry::new(29, 12).unwrap() < e);
        assert_eq!(Expiry::new(100, 1), Err(ExpiryError));
        assert_eq!(year_month(NOW), (2026, 11));
        assert_eq!(year_month(i64::MAX), (1970, 1));
    }
}
