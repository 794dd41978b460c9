//! Calendar helpers on Unix milliseconds (UTC). Card expiry dates are
//! [`paytap_types::Expiry`].

/// Milliseconds in a UTC day (Unix time has no leap seconds).
const DAY_MILLIS: i64 = 86_400_000;

/// Start of the UTC day containing `millis`.
pub fn day_start(millis: i64) -> i64 {
    millis - millis.rem_euclid(DAY_MILLIS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(millis: i64, expect: i64) {
        assert_eq!(day_start(millis), expect, "{millis}");
    }

    #[test]
    fn day_start_is_utc_midnight() {
        // 2026-11-23T09:00:00Z and its midnight.
        check(1_795_424_400_000, 1_795_392_000_000);
        check(1_795_392_000_000, 1_795_392_000_000);
        check(0, 0);
        check(-1, -DAY_MILLIS);
    }
}
