//! Calendar helpers on Unix milliseconds (UTC): card expiry dates are
//! `YYMM`, valid through the last day of that month (ISO/IEC 7813).

/// UTC (year, month) of an instant.
pub fn year_month(millis: i64) -> (i32, u8) {
    match time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000)) {
        Ok(t) => (t.year(), u8::from(t.month())),
        Err(_) => (1970, 1),
    }
}

/// `YYMM` `months` after the month of `millis`.
pub fn yymm_after(millis: i64, months: u32) -> String {
    let (y, m) = year_month(millis);
    let total = i64::from(y) * 12 + i64::from(m) - 1 + i64::from(months);
    format!(
        "{:02}{:02}",
        total.div_euclid(12).rem_euclid(100),
        total.rem_euclid(12) + 1
    )
}

/// Whether expiry `YYMM` (years 2000–2099) lies before the month of `millis`.
/// Anything unparsable counts as expired.
pub fn yymm_expired(yymm: &str, millis: i64) -> bool {
    let parse = |s: Option<&str>| s.and_then(|v| v.parse::<i32>().ok());
    let (Some(yy), Some(mm)) = (parse(yymm.get(..2)), parse(yymm.get(2..4))) else {
        return true;
    };
    if yymm.len() != 4 || !(1..=12).contains(&mm) {
        return true;
    }
    let (y, m) = year_month(millis);
    (2000 + yy) * 12 + mm < y * 12 + i32::from(m)
}

/// Start of the UTC day containing `millis`.
pub fn day_start(millis: i64) -> i64 {
    millis - millis.rem_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-23T09:00:00Z
    const NOW: i64 = 1_795_424_400_000;

    #[test]
    fn expiry_is_inclusive_of_its_month() {
        assert!(!yymm_expired("2611", NOW));
        assert!(yymm_expired("2610", NOW));
        assert!(!yymm_expired("2701", NOW));
        assert!(yymm_expired("2613", NOW));
        assert!(yymm_expired("26", NOW));
        assert!(yymm_expired("ab11", NOW));
        assert_eq!(yymm_after(NOW, 0), "2611");
        assert_eq!(yymm_after(NOW, 2), "2701");
        assert_eq!(yymm_after(NOW, 60), "3111");
        assert_eq!(day_start(NOW), 1_795_392_000_000);
    }
}
