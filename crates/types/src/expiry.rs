//! Card and token expiry dates: `YYMM` as printed on a card, in EMV tag 5F24
//! and in ISO 8583 DE 14, valid through the last day of that month
//! (ISO/IEC 7813). Two-digit years are read as 2000–2099.

/// The century two-digit years belong to (a card issued today expires
/// before 2100, and none issued before 2000 is still valid).
const CENTURY: i32 = 2000;
/// The last year a four-digit typed year may name: two-digit years cover
/// `CENTURY` to this one.
const LAST_YEAR: u16 = 2099;
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

/// Wiping leaves `00/00` (not a valid expiry): only a [`crate::Secret`]
/// being dropped does it.
impl zeroize::Zeroize for Expiry {
    fn zeroize(&mut self) {
        self.year.zeroize();
        self.month.zeroize();
    }
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

    /// Parses an expiry as a person types it from the card: `MM/YY`,
    /// `MM/YYYY` (a year 2000 to 2099) or `MMYY`, with a one- or two-digit
    /// month before a slash and spaces around the whole or either part.
    pub fn parse_typed(typed: &str) -> Result<Expiry, ExpiryError> {
        let s = typed.trim();
        let (mm, yy) = match s.split_once('/') {
            Some((m, y)) => (m.trim(), y.trim()),
            None if s.len() == 4 => (
                s.get(..2).ok_or(ExpiryError)?,
                s.get(2..).ok_or(ExpiryError)?,
            ),
            None => return Err(ExpiryError),
        };
        let month = typed_number(mm, &[1, 2])?;
        let year = match yy.len() {
            4 => four_digit_year(typed_number(yy, &[4])?)?,
            _ => typed_number(yy, &[2])?,
        };
        let year = u8::try_from(year).map_err(|_| ExpiryError)?;
        let month = u8::try_from(month).map_err(|_| ExpiryError)?;
        Expiry::new(year, month)
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

/// The value of `s`, which must be all ASCII digits with one of the
/// `lengths` given.
fn typed_number(s: &str, lengths: &[usize]) -> Result<u16, ExpiryError> {
    if !lengths.contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ExpiryError);
    }
    s.parse().map_err(|_| ExpiryError)
}

/// The two-digit year of a four-digit one, which must lie in 2000–2099.
fn four_digit_year(year: u16) -> Result<u16, ExpiryError> {
    let first = u16::try_from(CENTURY).map_err(|_| ExpiryError)?;
    if !(first..=LAST_YEAR).contains(&year) {
        return Err(ExpiryError);
    }
    Ok(year - first)
}

/// Written as its `"YYMM"` string (the form of DE 14 and of stored rows).
impl serde::Serialize for Expiry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.yymm())
    }
}

/// Read from a `"YYMM"` string; anything else is refused.
impl<'de> serde::Deserialize<'de> for Expiry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Expiry, D::Error> {
        struct Yymm;
        impl serde::de::Visitor<'_> for Yymm {
            type Value = Expiry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an expiry as YYMM")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Expiry, E> {
                Expiry::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(Yymm)
    }
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
        let e = Expiry::parse(yymm).unwrap();
        assert_eq!(e.is_expired(NOW), expect, "{yymm:?}");
    }

    #[test]
    fn expiry_is_inclusive_of_its_month() {
        check_expired("2611", false);
        check_expired("2610", true);
        check_expired("2701", false);
        check_expired("2511", true);
        check_expired("9912", false);
        check_expired("0001", true);
    }

    fn check_typed(input: &str, expect: Option<(u8, u8)>) {
        let got = Expiry::parse_typed(input)
            .ok()
            .map(|e| (e.year(), e.month()));
        assert_eq!(got, expect, "{input:?}");
    }

    #[test]
    fn parses_typed_forms() {
        check_typed("07/29", Some((29, 7)));
        check_typed("7/29", Some((29, 7)));
        check_typed(" 07 / 29 ", Some((29, 7)));
        check_typed("12/2031", Some((31, 12)));
        check_typed("01/2000", Some((0, 1)));
        check_typed("12/2099", Some((99, 12)));
        check_typed("0130", Some((30, 1)));
        check_typed("01/1999", None);
        check_typed("01/2100", None);
        check_typed("01/0029", None);
        check_typed("", None);
        check_typed("13/29", None);
        check_typed("00/29", None);
        check_typed("1/2", None);
        check_typed("ab/cd", None);
        check_typed("07-29", None);
        check_typed("07/2", None);
        check_typed("007/29", None);
        check_typed("07/+9", None);
        check_typed("07/029", None);
        check_typed("1329", None);
        check_typed("+130", None);
        check_typed("０７/29", None);
    }

    fn check_serde(json: &str, expect: Option<(u8, u8)>) {
        let got: Option<Expiry> = serde_json::from_str(json).ok();
        assert_eq!(got.map(|e| (e.year(), e.month())), expect, "{json}");
        if let Some(e) = got {
            assert_eq!(serde_json::to_string(&e).unwrap(), json);
        }
    }

    #[test]
    fn serde_reads_and_writes_yymm() {
        check_serde("\"2911\"", Some((29, 11)));
        check_serde("\"0001\"", Some((0, 1)));
        check_serde("\"2913\"", None);
        check_serde("\"11/29\"", None);
        check_serde("2911", None);
        check_serde("null", None);
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

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn typed_parsing_never_panics_and_round_trips(s in ".{0,10}", now in any::<i64>()) {
            if let Ok(e) = Expiry::parse_typed(&s) {
                let _ = e.is_expired(now);
                prop_assert_eq!(Expiry::parse_typed(&e.to_string()), Ok(e));
                prop_assert_eq!(Expiry::parse(&e.yymm()), Ok(e));
            }
        }
    }
}
