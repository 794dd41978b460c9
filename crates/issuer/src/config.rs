//! The issuers' configuration: the twenty default banks (`banks.toml`,
//! embedded) or a file that replaces them. Each bank has an institution id,
//! card and token BIN prefixes (ISO/IEC 7812-1 issuer identification
//! numbers), a country (ISO 3166-1 alpha-2), a currency (ISO 4217),
//! stand-in limits for the switch, default card limits and ID&V rules.

use paytap_types::Currency;
use serde::{Deserialize, Serialize};

/// Longest bank name, in bytes (in any language).
pub const MAX_BANK_NAME_BYTES: usize = 64;

/// The embedded default configuration.
pub const DEFAULT_BANKS_TOML: &str = include_str!("banks.toml");

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("issuer configuration is not valid TOML: {0}")]
    Toml(String),
    #[error("bank {0:?}: {1}")]
    Bank(String, &'static str),
    #[error("BIN prefix {0} is claimed twice (or overlaps another)")]
    Overlap(String),
    #[error("otp: {0}")]
    Otp(&'static str),
    #[error("hold_expiry_days must be 1 to 90")]
    HoldExpiry,
}

/// What the switch may approve for a bank that does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandIn {
    /// Largest single amount, minor units.
    pub max_amount: i64,
    /// Largest stand-in total per card per day, minor units.
    pub daily_amount: i64,
}

/// Default limits for a bank's new cards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub single_transaction: i64,
    pub daily: i64,
    pub velocity_count: u32,
    /// At most a day (86,400): the spend windows reach back one day.
    pub velocity_window_secs: u32,
    /// Above this amount a cardholder verification must have been performed.
    pub no_cvm_limit: i64,
}

impl Limits {
    /// Every limit positive, and the velocity window no longer than the
    /// spend windows reach; otherwise what is wrong.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.single_transaction <= 0
            || self.daily <= 0
            || self.velocity_count == 0
            || self.velocity_window_secs == 0
        {
            return Err("limits must be positive");
        }
        if i64::from(self.velocity_window_secs) * 1000 > crate::window::HORIZON_MILLIS {
            return Err("velocity window longer than a day");
        }
        Ok(())
    }
}

/// ID&V step-up rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IdvRules {
    /// Card number prefixes that always get a step-up (test ranges).
    #[serde(default)]
    pub step_up_prefixes: Vec<String>,
    /// Step up when the device was never verified for this card.
    #[serde(default)]
    pub step_up_new_device: bool,
    /// Step up when the card already passed ID&V this many times in 24 h
    /// (0 disables the rule).
    #[serde(default)]
    pub step_up_after_provisionings: u32,
}

/// One bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankConfig {
    /// Institution id, 1 to 11 digits.
    pub id: String,
    pub name: String,
    /// The bank's own name in Simplified Chinese (`中国工商银行`), shown on
    /// the Chinese web site; the English `name` where it is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_zh: Option<String>,
    pub short_name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub currency: Currency,
    /// Card BIN prefixes (6 to 8 digits).
    pub card_bins: Vec<String>,
    /// The prefixes of the bank's credit product (7 to 8 digits, each
    /// within one of `card_bins`): its credit cards are numbered in them,
    /// and a card in none of them is a debit card.
    #[serde(default)]
    pub credit_bins: Vec<String>,
    /// Token BIN prefixes for the token service (6 to 8 digits).
    pub token_bins: Vec<String>,
    pub stand_in: StandIn,
    pub limits: Limits,
    #[serde(default)]
    pub idv: IdvRules,
}

impl BankConfig {
    /// Whether `digits` (a card number) belongs to this bank.
    pub fn owns_card(&self, digits: &str) -> bool {
        self.card_bins
            .iter()
            .any(|b| digits.starts_with(b.as_str()))
    }

    /// Whether `digits` (a card number of this bank) is a credit card.
    pub fn is_credit(&self, digits: &str) -> bool {
        self.credit_bins
            .iter()
            .any(|b| digits.starts_with(b.as_str()))
    }

    /// Whether `digits` (a token number) is in this bank's token ranges.
    pub fn owns_token(&self, digits: &str) -> bool {
        self.token_bins
            .iter()
            .any(|b| digits.starts_with(b.as_str()))
    }
}

/// One-time passcode settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpConfig {
    pub ttl_secs: u32,
    pub max_attempts: u32,
}

impl Default for OtpConfig {
    fn default() -> Self {
        OtpConfig {
            ttl_secs: 300,
            max_attempts: 3,
        }
    }
}

/// All banks of the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerConfig {
    #[serde(default)]
    pub otp: OtpConfig,
    /// An authorization's hold that is neither captured nor reversed is
    /// released after this many days ([`crate::Issuer::expire_holds`]).
    #[serde(default = "default_hold_expiry_days")]
    pub hold_expiry_days: u32,
    #[serde(rename = "bank")]
    pub banks: Vec<BankConfig>,
}

fn digits(s: &str, range: std::ops::RangeInclusive<usize>) -> bool {
    range.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

/// A translated bank name: not blank, at most [`MAX_BANK_NAME_BYTES`], no
/// control characters (it is shown on pages).
fn name_fits(name: &str) -> bool {
    !name.trim().is_empty()
        && name.len() <= MAX_BANK_NAME_BYTES
        && !name.chars().any(char::is_control)
}

fn default_hold_expiry_days() -> u32 {
    7
}

impl IssuerConfig {
    /// The twenty default banks.
    pub fn default_banks() -> IssuerConfig {
        // The embedded file is validated by a test; fall back to an empty
        // configuration rather than panic if it were ever broken.
        IssuerConfig::from_toml(DEFAULT_BANKS_TOML).unwrap_or(IssuerConfig {
            otp: OtpConfig::default(),
            hold_expiry_days: default_hold_expiry_days(),
            banks: Vec::new(),
        })
    }

    /// Parses and validates a configuration file's content.
    pub fn from_toml(text: &str) -> Result<IssuerConfig, ConfigError> {
        let c: IssuerConfig = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// Reads and validates a configuration file (same format as the
    /// embedded `banks.toml`), replacing the default banks.
    pub fn load(path: &std::path::Path) -> Result<IssuerConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Toml(format!("{}: {e}", path.display())))?;
        IssuerConfig::from_toml(&text)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.otp.ttl_secs == 0 || self.otp.max_attempts == 0 {
            return Err(ConfigError::Otp(
                "ttl_secs and max_attempts must be positive",
            ));
        }
        if !(1..=90).contains(&self.hold_expiry_days) {
            return Err(ConfigError::HoldExpiry);
        }
        let mut prefixes: Vec<&str> = Vec::new();
        let mut ids = std::collections::BTreeSet::new();
        for b in &self.banks {
            let err = |w| ConfigError::Bank(b.id.clone(), w);
            if !digits(&b.id, 1..=11) {
                return Err(err("id must be 1 to 11 digits"));
            }
            if !ids.insert(b.id.as_str()) {
                return Err(err("id used twice"));
            }
            if b.name.is_empty() || b.name.len() > MAX_BANK_NAME_BYTES {
                return Err(err("name must be 1 to 64 bytes"));
            }
            if b.name_zh.as_deref().is_some_and(|n| !name_fits(n)) {
                return Err(err("name_zh must be 1 to 64 bytes"));
            }
            if b.country.len() != 2 || !b.country.bytes().all(|c| c.is_ascii_uppercase()) {
                return Err(err("country must be ISO 3166 alpha-2"));
            }
            if b.card_bins.is_empty() || b.token_bins.is_empty() {
                return Err(err("needs card and token BINs"));
            }
            for p in b.card_bins.iter().chain(&b.token_bins) {
                if !digits(p, 6..=8) {
                    return Err(err("BIN prefixes are 6 to 8 digits"));
                }
                prefixes.push(p);
            }
            for p in &b.credit_bins {
                let within = b.card_bins.iter().any(|c| p.starts_with(c.as_str()));
                if !digits(p, 7..=8) || !within {
                    return Err(err(
                        "credit BIN prefixes are 7 to 8 digits within a card BIN",
                    ));
                }
            }
            for p in &b.idv.step_up_prefixes {
                if !digits(p, 1..=19) {
                    return Err(err("step-up prefixes are digits"));
                }
            }
            b.limits.check().map_err(err)?;
            if b.stand_in.max_amount < 0 || b.stand_in.daily_amount < 0 {
                return Err(err("stand-in limits must not be negative"));
            }
        }
        for (i, a) in prefixes.iter().enumerate() {
            for b in prefixes.iter().skip(i + 1) {
                if a.starts_with(b) || b.starts_with(a) {
                    return Err(ConfigError::Overlap((*a).to_owned()));
                }
            }
        }
        Ok(())
    }

    pub fn bank(&self, id: &str) -> Option<&BankConfig> {
        self.banks.iter().find(|b| b.id == id)
    }

    /// The bank that issued card number `digits`.
    pub fn bank_for_card(&self, digits: &str) -> Option<&BankConfig> {
        self.banks.iter().find(|b| b.owns_card(digits))
    }

    /// The bank owning token number `digits`.
    pub fn bank_for_token(&self, digits: &str) -> Option<&BankConfig> {
        self.banks.iter().find(|b| b.owns_token(digits))
    }

    /// `(issuer id, token BIN prefix)` pairs for the token service.
    pub fn token_ranges(&self) -> Vec<(String, String)> {
        self.banks
            .iter()
            .flat_map(|b| b.token_bins.iter().map(move |t| (b.id.clone(), t.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_has_twenty_valid_banks() {
        let c = IssuerConfig::from_toml(DEFAULT_BANKS_TOML).unwrap();
        assert_eq!(c.banks.len(), 20);
        assert_eq!(
            c.banks
                .iter()
                .filter(|b| b.currency == Currency::INR)
                .count(),
            2
        );
        assert!(
            c.banks
                .iter()
                .filter(|b| b.currency == Currency::CNY)
                .all(|b| b.country == "CN")
        );
        assert!(
            c.banks
                .iter()
                .all(|b| b.card_bins.iter().all(|p| p.starts_with("62")))
        );
        assert!(
            c.bank_for_card("6201170000000000")
                .is_some_and(|b| b.name == "Bank of Shanghai")
        );
        assert!(
            c.bank_for_token("6291010000000000")
                .is_some_and(|b| b.short_name == "ICBC")
        );
        assert!(c.bank_for_card("6291010000000000").is_none());
        assert_eq!(c.token_ranges().len(), 20);
        assert_eq!(IssuerConfig::default_banks(), c);
    }

    #[test]
    fn every_default_bank_has_its_real_chinese_name() {
        let c = IssuerConfig::default_banks();
        let zh = |name: &str| {
            c.banks
                .iter()
                .find(|b| b.name == name)
                .and_then(|b| b.name_zh.as_deref())
                .unwrap_or_else(|| panic!("{name} has no Chinese name"))
        };
        for (en, expected) in [
            ("Industrial and Commercial Bank of China", "中国工商银行"),
            ("Agricultural Bank of China", "中国农业银行"),
            ("Bank of China", "中国银行"),
            ("China Construction Bank", "中国建设银行"),
            ("Bank of Communications", "交通银行"),
            ("China Merchants Bank", "招商银行"),
            ("Postal Savings Bank of China", "中国邮政储蓄银行"),
            ("China CITIC Bank", "中信银行"),
            ("Shanghai Pudong Development Bank", "上海浦东发展银行"),
            ("Bank of Ningbo", "宁波银行"),
        ] {
            assert_eq!(zh(en), expected);
        }
        let mut names = std::collections::BTreeSet::new();
        for b in &c.banks {
            let n = b.name_zh.as_deref().unwrap_or_default();
            assert!(n.ends_with("银行"), "{}: {n:?}", b.name);
            assert!(names.insert(n), "{n} twice");
        }
    }

    #[test]
    fn a_chinese_name_is_optional_but_never_empty() {
        let mut c = IssuerConfig::default_banks();
        c.banks[0].name_zh = None;
        assert_eq!(c.validate(), Ok(()));
        for bad in ["", "  ", "银行\n", &"银".repeat(22)] {
            c.banks[0].name_zh = Some(bad.to_string());
            assert!(
                matches!(c.validate(), Err(ConfigError::Bank(_, _))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn overlapping_or_bad_banks_are_refused() {
        let mut c = IssuerConfig::default_banks();
        c.banks[1].token_bins = vec![c.banks[0].card_bins[0].clone()];
        assert!(matches!(c.validate(), Err(ConfigError::Overlap(_))));
        let mut c = IssuerConfig::default_banks();
        c.banks[1].card_bins = vec!["62010".into()];
        assert!(matches!(c.validate(), Err(ConfigError::Bank(_, _))));
        let mut c = IssuerConfig::default_banks();
        c.banks[2].id = c.banks[3].id.clone();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Bank(_, "id used twice"))
        ));
        assert!(matches!(
            IssuerConfig::from_toml("bank = 3"),
            Err(ConfigError::Toml(_))
        ));
        for days in [0, 91] {
            let mut c = IssuerConfig::default_banks();
            c.hold_expiry_days = days;
            assert!(matches!(c.validate(), Err(ConfigError::HoldExpiry)));
        }
        // A file without the setting gets the default.
        let without = DEFAULT_BANKS_TOML.replace("hold_expiry_days = 7", "");
        assert_eq!(
            IssuerConfig::from_toml(&without).unwrap().hold_expiry_days,
            7
        );
    }
}
