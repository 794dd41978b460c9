use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    #[error("amount {0:?} is not a valid decimal amount")]
    BadAmount(String),
    #[error("amount has more than {0} decimal places")]
    TooPrecise(u8),
    #[error("amount is out of range")]
    Overflow,
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(&'static str, &'static str),
}

/// An ISO 4217 currency paytap operates in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Currency {
    CNY,
    HKD,
    INR,
    USD,
    EUR,
    SGD,
    JPY,
    IDR,
}

const TABLE: &[(Currency, &str, u16, u8)] = &[
    (Currency::CNY, "CNY", 156, 2),
    (Currency::HKD, "HKD", 344, 2),
    (Currency::INR, "INR", 356, 2),
    (Currency::USD, "USD", 840, 2),
    (Currency::EUR, "EUR", 978, 2),
    (Currency::SGD, "SGD", 702, 2),
    (Currency::JPY, "JPY", 392, 0),
    (Currency::IDR, "IDR", 360, 2),
];

impl Currency {
    fn row(self) -> &'static (Currency, &'static str, u16, u8) {
        // Every variant has exactly one row (checked by a test).
        TABLE.iter().find(|r| r.0 == self).unwrap_or(&TABLE[0])
    }

    /// Alphabetic code, e.g. `"CNY"`.
    pub fn code(self) -> &'static str {
        self.row().1
    }

    /// Numeric code, e.g. 156 (ISO 8583 DE 49, EMV tag 5F2A).
    pub fn numeric(self) -> u16 {
        self.row().2
    }

    /// Number of minor-unit digits (2 for CNY, 0 for JPY).
    pub fn exponent(self) -> u8 {
        self.row().3
    }

    pub fn from_code(code: &str) -> Result<Currency, MoneyError> {
        TABLE
            .iter()
            .find(|r| r.1.eq_ignore_ascii_case(code))
            .map(|r| r.0)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }

    pub fn from_numeric(n: u16) -> Result<Currency, MoneyError> {
        TABLE
            .iter()
            .find(|r| r.2 == n)
            .map(|r| r.0)
            .ok_or_else(|| MoneyError::UnknownCurrency(format!("{n:03}")))
    }

    pub fn all() -> impl Iterator<Item = Currency> {
        TABLE.iter().map(|r| r.0)
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, MoneyError> {
        Currency::from_code(&s)
    }
}

impl From<Currency> for &'static str {
    fn from(c: Currency) -> &'static str {
        c.code()
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, MoneyError> {
        Currency::from_code(s)
    }
}

/// An amount in integer minor units of a currency (fen, paise, cents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Parses a decimal string such as `"12.50"` in `currency`'s exponent.
    /// More decimals than the currency has is an error, never a rounding.
    pub fn parse(amount: &str, currency: Currency) -> Result<Money, MoneyError> {
        let bad = || MoneyError::BadAmount(amount.to_string());
        let (neg, body) = match amount.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, amount),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if body.contains('.') && frac.is_empty() {
            return Err(bad());
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let exp = currency.exponent();
        if frac.len() > usize::from(exp) {
            return Err(MoneyError::TooPrecise(exp));
        }
        let mut minor: i64 = 0;
        for b in int.bytes() {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(b - b'0')))
                .ok_or(MoneyError::Overflow)?;
        }
        for i in 0..usize::from(exp) {
            let d = frac.as_bytes().get(i).map_or(0, |b| i64::from(b - b'0'));
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(d))
                .ok_or(MoneyError::Overflow)?;
        }
        Ok(Money::new(if neg { -minor } else { minor }, currency))
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(
                self.currency.code(),
                other.currency.code(),
            ));
        }
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// `"12.50"` (no currency code).
    pub fn decimal(&self) -> String {
        let exp = u32::from(self.currency.exponent());
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if exp == 0 {
            return format!("{sign}{abs}");
        }
        let div = 10u64.pow(exp);
        format!(
            "{sign}{}.{:0width$}",
            abs / div,
            abs % div,
            width = exp as usize
        )
    }
}

impl Money {
    /// `"12,345.50"`: [`Money::decimal`] with the whole units in groups of
    /// three, for people (the web site, the demo); APIs keep `decimal`.
    pub fn grouped(&self) -> String {
        let plain = self.decimal();
        let (sign, rest) = match plain.strip_prefix('-') {
            Some(r) => ("-", r),
            None => ("", plain.as_str()),
        };
        let (whole, fraction) = match rest.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (rest, None),
        };
        let mut out = String::with_capacity(plain.len() + whole.len() / 3);
        out.push_str(sign);
        for (i, digit) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(digit);
        }
        if let Some(f) = fraction {
            out.push('.');
            out.push_str(f);
        }
        out
    }
}

impl std::fmt::Display for Money {
    /// `"CNY 12.50"`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.currency.code(), self.decimal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table_is_complete_and_unique() {
        for c in Currency::all() {
            assert_eq!(Currency::from_code(c.code()), Ok(c));
            assert_eq!(Currency::from_numeric(c.numeric()), Ok(c));
        }
        assert_eq!(Currency::CNY.numeric(), 156);
        assert_eq!(Currency::INR.numeric(), 356);
        assert_eq!(Currency::JPY.exponent(), 0);
    }

    #[test]
    fn grouped_puts_a_comma_every_three_whole_digits() {
        for (minor, currency, expect) in [
            (0, Currency::CNY, "0.00"),
            (99_999, Currency::CNY, "999.99"),
            (100_000, Currency::CNY, "1,000.00"),
            (123_456_789, Currency::CNY, "1,234,567.89"),
            (-100_000_050, Currency::CNY, "-1,000,000.50"),
            (1_000, Currency::JPY, "1,000"),
            (999, Currency::JPY, "999"),
            (i64::MIN, Currency::JPY, "-9,223,372,036,854,775,808"),
        ] {
            assert_eq!(Money::new(minor, currency).grouped(), expect, "{minor}");
        }
    }

    #[test]
    fn parses_decimal_amounts() {
        assert_eq!(
            Money::parse("12.50", Currency::CNY),
            Ok(Money::new(1250, Currency::CNY))
        );
        assert_eq!(
            Money::parse("12.5", Currency::CNY),
            Ok(Money::new(1250, Currency::CNY))
        );
        assert_eq!(
            Money::parse("12", Currency::CNY),
            Ok(Money::new(1200, Currency::CNY))
        );
        assert_eq!(
            Money::parse("500", Currency::JPY),
            Ok(Money::new(500, Currency::JPY))
        );
        assert_eq!(
            Money::parse("1.234", Currency::CNY),
            Err(MoneyError::TooPrecise(2))
        );
        assert_eq!(
            Money::parse("5.1", Currency::JPY),
            Err(MoneyError::TooPrecise(0))
        );
        for bad in ["", ".5", "5.", "1,00", "1e3", "--1", "12.5x", " 1"] {
            assert!(Money::parse(bad, Currency::CNY).is_err(), "{bad}");
        }
        assert_eq!(
            Money::parse("99999999999999999999", Currency::CNY),
            Err(MoneyError::Overflow)
        );
        assert_eq!(Money::new(1250, Currency::CNY).to_string(), "CNY 12.50");
        assert_eq!(Money::new(-5, Currency::INR).decimal(), "-0.05");
    }

    #[test]
    fn refuses_to_mix_currencies() {
        let a = Money::new(1, Currency::CNY);
        let b = Money::new(1, Currency::INR);
        assert!(a.checked_add(b).is_err());
        assert_eq!(a.checked_add(a), Ok(Money::new(2, Currency::CNY)));
    }

    proptest! {
        #[test]
        fn decimal_round_trips(minor in any::<i64>().prop_filter("not MIN", |m| *m != i64::MIN)) {
            for c in Currency::all() {
                let m = Money::new(minor, c);
                prop_assert_eq!(Money::parse(&m.decimal(), c), Ok(m));
            }
        }
    }
}
