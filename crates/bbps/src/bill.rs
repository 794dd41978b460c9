//! A bill as a biller presents it (name, amount, due date, bill number), the
//! emulated billers' bills, and due-date reminders. Every function takes the
//! instant it is about; none reads a clock.

use crate::billers::{Biller, CustomerParams};
use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime, UtcOffset};

/// India Standard Time, +05:30: billers bill by India's calendar.
pub const IST: UtcOffset = match UtcOffset::from_hms(5, 30, 0) {
    Ok(o) => o,
    Err(_) => panic!("+05:30 is a valid offset"),
};
/// How many days before its due date a bill is reminded of (and every day
/// after, until paid).
pub const REMINDER_DAYS: i64 = 3;
/// Digits of the serial part of an emulated bill number.
const BILL_SERIAL_DIGITS: u32 = 6;

/// A bill as fetched from its biller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bill {
    /// The biller.
    pub biller_id: String,
    /// The biller's number for this bill.
    pub bill_number: String,
    /// The account holder's name as the biller knows it.
    pub customer_name: String,
    /// What is due, paise.
    pub amount: u64,
    /// When the bill was made.
    pub bill_date: Date,
    /// The last day to pay without a late fee.
    pub due_date: Date,
}

/// India's calendar day of `unix_ms`.
pub fn india_date(unix_ms: i64) -> Date {
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    at.to_offset(IST).date()
}

/// FNV-1a, 64 bits: a stable spread of the account's key over amounts and
/// serials (not a security function; the emulated bill only has to be the
/// same on every fetch).
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The holder's name an emulated biller keeps for an account.
const EMULATED_NAMES: [&str; 8] = [
    "Asha Rao",
    "Ravi Kumar",
    "Priya Sharma",
    "Arjun Mehta",
    "Lakshmi Iyer",
    "Imran Khan",
    "Meera Nair",
    "Vikram Singh",
];

/// The bill an emulated biller has for `params` on India's day of `now`:
/// one bill a month, dated the first, due `due_days` later, its amount
/// within the biller's range; the same bill on every fetch of the month.
pub fn emulated_bill(biller: &Biller, params: &CustomerParams, now: i64) -> Bill {
    let today = india_date(now);
    let bill_date = today.replace_day(1).expect("every month has a first day");
    let period = format!(
        "{:02}{:02}",
        bill_date.year() % 100,
        u8::from(bill_date.month())
    );
    let key = params.canonical();
    let h = fnv1a(&[&biller.id, &key, &period]);
    let span = biller.amount_max - biller.amount_min + 1;
    let amount = biller.amount_min + h % span;
    let serial = (h >> 20) % 10u64.pow(BILL_SERIAL_DIGITS);
    let name_at = usize::try_from(fnv1a(&[&biller.id, &key]) % 8).expect("below 8");
    let prefix: String = biller.id.chars().take(4).collect();
    Bill {
        biller_id: biller.id.clone(),
        bill_number: format!("{prefix}{period}{serial:06}"),
        customer_name: EMULATED_NAMES[name_at].to_owned(),
        amount,
        bill_date,
        due_date: bill_date + Duration::days(i64::from(biller.due_days)),
    }
}

/// A reminder of an unpaid bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "days", rename_all = "snake_case")]
pub enum Reminder {
    /// Due in this many days (0: today).
    DueIn(i64),
    /// This many days past its due date.
    Overdue(i64),
}

/// Whether an unpaid bill due on `due` is reminded of on `today`: from
/// [`REMINDER_DAYS`] before its due date, and every day after it.
pub fn reminder(due: Date, today: Date) -> Option<Reminder> {
    let days = (due - today).whole_days();
    match days {
        d if d < 0 => Some(Reminder::Overdue(-d)),
        d if d <= REMINDER_DAYS => Some(Reminder::DueIn(d)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billers::Catalogue;
    use std::collections::BTreeMap;
    use time::macros::date;

    /// 2026-12-07 09:00 IST.
    const NOW: i64 = 1_796_614_200_000;

    fn bescom(account: &str) -> (Biller, CustomerParams) {
        let c = Catalogue::default_billers();
        let b = c.get("BESCOM").unwrap().clone();
        let p = b
            .validate(&BTreeMap::from([(
                "account_id".to_owned(),
                account.to_owned(),
            )]))
            .unwrap();
        (b, p)
    }

    #[test]
    fn a_month_has_one_bill_per_account() {
        let (b, p) = bescom("1234567890");
        let bill = emulated_bill(&b, &p, NOW);
        assert_eq!(india_date(NOW), date!(2026 - 12 - 07));
        assert_eq!(bill.bill_date, date!(2026 - 12 - 01));
        assert_eq!(bill.due_date, date!(2026 - 12 - 16));
        assert!((b.amount_min..=b.amount_max).contains(&bill.amount));
        assert!(
            bill.bill_number.starts_with("BESC2612"),
            "{}",
            bill.bill_number
        );
        assert_eq!(bill, emulated_bill(&b, &p, NOW + 86_400_000));
        let (_, other) = bescom("1234567891");
        assert_ne!(bill.bill_number, emulated_bill(&b, &other, NOW).bill_number);
        let next_month = emulated_bill(&b, &p, NOW + 30 * 86_400_000);
        assert_ne!(bill.bill_number, next_month.bill_number);
    }

    #[test]
    fn reminders_start_three_days_before_and_go_on_after() {
        let due = date!(2026 - 12 - 16);
        assert_eq!(reminder(due, date!(2026 - 12 - 12)), None);
        assert_eq!(
            reminder(due, date!(2026 - 12 - 13)),
            Some(Reminder::DueIn(3))
        );
        assert_eq!(
            reminder(due, date!(2026 - 12 - 16)),
            Some(Reminder::DueIn(0))
        );
        assert_eq!(
            reminder(due, date!(2026 - 12 - 18)),
            Some(Reminder::Overdue(2))
        );
    }
}
