//! The rules file: its TOML schema (unknown fields refused), its checks, and
//! the rules it turns into. The default (`rules.toml`) is embedded.

use paytap_types::{Currency, Money};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::decision::{Action, ReasonCode};

/// The embedded default rules.
pub const DEFAULT_RULES_TOML: &str = include_str!("rules.toml");
/// Most rules one file may hold: each is evaluated on every payment, so the
/// decision's time grows with them.
pub const MAX_RULES: usize = 256;
/// Longest rule name (it is stored with every decision it fires in).
pub const MAX_NAME_LEN: usize = 64;
/// Longest velocity window, cooling-off period or travel horizon: thirty
/// days. State older than this is never consulted.
pub const MAX_WINDOW_SECS: u32 = 30 * 86_400;
/// Most payments a velocity rule may allow in its window: below
/// [`crate::state::MAX_EVENTS_PER_KEY`], so the per-key cap never hides a
/// breach (a saturated window fires, see `state`).
pub const MAX_VELOCITY_COUNT: u32 = 500;
/// Most entries in each blocklist.
pub const MAX_BLOCKLIST_ENTRIES: usize = 100_000;
/// Most keys of one kind the engine may be configured to remember.
pub const MAX_KEYS_PER_KIND: usize = 4_000_000;
/// Keys of one kind remembered unless the file says otherwise.
pub const DEFAULT_KEYS_PER_KIND: usize = 200_000;
/// Fastest speed a travel rule may allow (a little above a jet airliner's
/// ground speed with a tail wind; beyond it the rule never fires).
pub const MAX_SPEED_KMH: u32 = 1_500;
/// Largest "far above the history" multiple.
pub const MAX_MULTIPLE: u32 = 1_000;
/// Most payments a history must hold before it judges an amount.
pub const MAX_MIN_HISTORY: u32 = 1_000;
/// Most declines in a row a rule may allow.
pub const MAX_DECLINES_IN_ROW: u32 = 1_000;

/// Why a rules file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, or not this schema (an unknown field included).
    #[error("risk rules are not valid: {0}")]
    Toml(String),
    /// One rule is wrong.
    #[error("risk rule {0:?}: {1}")]
    Rule(String, String),
    /// Two rules share a name.
    #[error("two risk rules are named {0:?}")]
    DuplicateName(String),
    /// A limit of the file as a whole is exceeded.
    #[error("risk rules: {0}")]
    Limits(String),
}

/// What a rule keeps its count of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// The card's fingerprint.
    Card,
    /// The device id.
    Device,
    /// The wallet account.
    Account,
    /// The payer's UPI id.
    Upi,
    /// The merchant id.
    Merchant,
}

/// Number of key kinds (the engine keeps one table per kind).
pub const KEY_KINDS: usize = 5;

impl KeyKind {
    /// `"card"`, `"device"`, `"account"`, `"upi"` or `"merchant"`.
    pub fn as_str(self) -> &'static str {
        ["card", "device", "account", "upi", "merchant"][self as usize]
    }

    /// Every kind, in table order.
    pub const ALL: [KeyKind; KEY_KINDS] = [
        KeyKind::Card,
        KeyKind::Device,
        KeyKind::Account,
        KeyKind::Upi,
        KeyKind::Merchant,
    ];
}

/// What a cooling-off rule watches the age of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    /// The device, since it was enrolled.
    Device,
    /// The card, since it was added to the wallet.
    Card,
    /// The UPI id, since it was bound to the device.
    Binding,
}

impl Subject {
    /// `"device"`, `"card"` or `"binding"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Device => "device",
            Subject::Card => "card",
            Subject::Binding => "binding",
        }
    }
}

/// An amount per currency (a rule acts on the currencies it names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerCurrency(Vec<(Currency, i64)>);

impl PerCurrency {
    /// The amount for `c`, minor units.
    pub fn get(&self, c: Currency) -> Option<i64> {
        self.0.iter().find(|(k, _)| *k == c).map(|(_, v)| *v)
    }

    /// Whether no currency is named.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `"CNY 500.00, INR 5000.00"`, or `"-"` when none is named.
    pub fn describe(&self) -> String {
        if self.0.is_empty() {
            return "-".into();
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|&(c, minor)| Money::new(minor, c).to_string())
            .collect();
        parts.join(", ")
    }

    fn parse(raw: &BTreeMap<String, String>) -> Result<PerCurrency, String> {
        let mut out = Vec::with_capacity(raw.len());
        for (code, amount) in raw {
            let c = Currency::from_code(code).map_err(|e| e.to_string())?;
            let m = Money::parse(amount, c).map_err(|e| format!("{code} {amount:?}: {e}"))?;
            if m.minor < 0 {
                return Err(format!("{code} {amount:?}: an amount is never negative"));
            }
            out.push((c, m.minor));
        }
        Ok(PerCurrency(out))
    }
}

/// What one rule checks.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// Count and sum of approved payments per key in a sliding window.
    Velocity {
        /// Whose payments.
        key: KeyKind,
        /// Window length, ms.
        window_ms: i64,
        /// Most payments in the window, this one included.
        max_count: Option<u32>,
        /// Largest sum in the window, this payment included, per currency.
        max_sum: PerCurrency,
    },
    /// A new device, card or binding paying above an amount.
    CoolingOff {
        /// Whose age.
        subject: Subject,
        /// How long something counts as new, ms.
        period_ms: i64,
        /// Amounts up to this pass while new (per currency; a currency not
        /// named: every amount is acted on).
        above: PerCurrency,
    },
    /// Two consecutive places too far apart for the time between them.
    Travel {
        /// Whose consecutive payments.
        key: KeyKind,
        /// Fastest believable speed.
        max_speed_kmh: f64,
        /// Distances below this are never judged (location noise, borders).
        min_distance_km: f64,
        /// Places older than this are forgotten, ms.
        horizon_ms: i64,
    },
    /// An amount far above the key's own history.
    UnusualAmount {
        /// Whose history.
        key: KeyKind,
        /// How many times the mean approved amount is "far above".
        multiple: u32,
        /// Approved payments the history must hold before it judges.
        min_history: u32,
        /// Amounts up to this are never judged (per currency).
        floor: PerCurrency,
    },
    /// Many declines in a row.
    Declines {
        /// Whose declines.
        key: KeyKind,
        /// Declines in a row that trip the rule.
        max_in_row: u32,
    },
}

/// One rule, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Its name, stored with every decision it fires in.
    pub name: Arc<str>,
    /// What it checks.
    pub kind: RuleKind,
    /// What it does when it fires.
    pub action: Action,
    /// Whether it only records what it would have done.
    pub shadow: bool,
}

impl RuleKind {
    /// The rule's kind as in the rules file (`velocity`, `cooling_off`, …).
    pub fn name(&self) -> &'static str {
        match self {
            RuleKind::Velocity { .. } => "velocity",
            RuleKind::CoolingOff { .. } => "cooling_off",
            RuleKind::Travel { .. } => "travel",
            RuleKind::UnusualAmount { .. } => "unusual_amount",
            RuleKind::Declines { .. } => "declines",
        }
    }

    /// The thresholds in a line, for the operator's console.
    pub fn thresholds(&self) -> String {
        match self {
            RuleKind::Velocity {
                key,
                window_ms,
                max_count,
                max_sum,
            } => format!(
                "per {}: window {} s, at most {} payments, sum at most {}",
                key.as_str(),
                window_ms / 1000,
                max_count.map_or("-".into(), |c| c.to_string()),
                max_sum.describe()
            ),
            RuleKind::CoolingOff {
                subject,
                period_ms,
                above,
            } => format!(
                "new {}: {} s, above {}",
                subject.as_str(),
                period_ms / 1000,
                above.describe()
            ),
            RuleKind::Travel {
                key,
                max_speed_kmh,
                min_distance_km,
                horizon_ms,
            } => format!(
                "per {}: at most {max_speed_kmh} km/h beyond {min_distance_km} km, horizon {} s",
                key.as_str(),
                horizon_ms / 1000
            ),
            RuleKind::UnusualAmount {
                key,
                multiple,
                min_history,
                floor,
            } => format!(
                "per {}: above {multiple} times the mean of at least {min_history} payments, floor {}",
                key.as_str(),
                floor.describe()
            ),
            RuleKind::Declines { key, max_in_row } => {
                format!("per {}: {max_in_row} declines in a row", key.as_str())
            }
        }
    }
}

impl Rule {
    /// The reason code a decline by this rule carries.
    pub fn reason(&self) -> ReasonCode {
        match self.kind {
            RuleKind::Velocity { .. } => ReasonCode::Velocity,
            RuleKind::CoolingOff { .. } => ReasonCode::CoolingOff,
            RuleKind::Travel { .. } => ReasonCode::ImpossibleTravel,
            RuleKind::UnusualAmount { .. } => ReasonCode::UnusualAmount,
            RuleKind::Declines { .. } => ReasonCode::DeclinesInRow,
        }
    }

    /// The key kind whose state the rule reads, if any.
    pub fn key(&self) -> Option<KeyKind> {
        match self.kind {
            RuleKind::Velocity { key, .. }
            | RuleKind::Travel { key, .. }
            | RuleKind::UnusualAmount { key, .. }
            | RuleKind::Declines { key, .. } => Some(key),
            RuleKind::CoolingOff { .. } => None,
        }
    }
}

/// The blocklists (cards by fingerprint, never by number).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blocklists {
    /// Device ids.
    pub devices: Vec<String>,
    /// Card fingerprints.
    pub cards: Vec<String>,
    /// UPI ids.
    pub upi_ids: Vec<String>,
    /// Merchant ids.
    pub merchants: Vec<String>,
    /// Whether a hit only records what it would have done.
    pub shadow: bool,
}

/// A checked rules file.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskRules {
    /// The rules, in file order.
    pub rules: Vec<Rule>,
    /// The blocklists.
    pub blocklists: Blocklists,
    /// Keys of each kind remembered before the oldest are evicted.
    pub keys_per_kind: usize,
    /// The text these rules were read from (what the console shows to
    /// edit).
    pub source: Arc<str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    limits: Option<RawLimits>,
    #[serde(default)]
    velocity: Vec<RawVelocity>,
    #[serde(default)]
    cooling_off: Vec<RawCoolingOff>,
    #[serde(default)]
    travel: Vec<RawTravel>,
    #[serde(default)]
    unusual_amount: Vec<RawUnusual>,
    #[serde(default)]
    declines: Vec<RawDeclines>,
    #[serde(default)]
    blocklist: Option<RawBlocklist>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    keys_per_kind: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVelocity {
    name: String,
    key: KeyKind,
    window_secs: u32,
    max_count: Option<u32>,
    #[serde(default)]
    max_sum: BTreeMap<String, String>,
    action: Action,
    #[serde(default)]
    shadow: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCoolingOff {
    name: String,
    subject: Subject,
    period_secs: u32,
    #[serde(default)]
    above: BTreeMap<String, String>,
    action: Action,
    #[serde(default)]
    shadow: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTravel {
    name: String,
    key: KeyKind,
    max_speed_kmh: u32,
    min_distance_km: u32,
    horizon_secs: u32,
    action: Action,
    #[serde(default)]
    shadow: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnusual {
    name: String,
    key: KeyKind,
    multiple: u32,
    min_history: u32,
    #[serde(default)]
    floor: BTreeMap<String, String>,
    action: Action,
    #[serde(default)]
    shadow: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeclines {
    name: String,
    key: KeyKind,
    max_in_row: u32,
    action: Action,
    #[serde(default)]
    shadow: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBlocklist {
    #[serde(default)]
    devices: Vec<String>,
    #[serde(default)]
    cards: Vec<String>,
    #[serde(default)]
    upi_ids: Vec<String>,
    #[serde(default)]
    merchants: Vec<String>,
    #[serde(default)]
    shadow: bool,
}

fn secs_in(name: &str, what: &str, secs: u32) -> Result<i64, ConfigError> {
    if secs == 0 || secs > MAX_WINDOW_SECS {
        return Err(rule_err(
            name,
            format!("{what} must be 1 to {MAX_WINDOW_SECS} seconds"),
        ));
    }
    Ok(i64::from(secs) * 1000)
}

fn rule_err(name: &str, why: impl Into<String>) -> ConfigError {
    ConfigError::Rule(name.to_string(), why.into())
}

fn amounts(name: &str, raw: &BTreeMap<String, String>) -> Result<PerCurrency, ConfigError> {
    PerCurrency::parse(raw).map_err(|e| rule_err(name, e))
}

fn in_range(name: &str, what: &str, v: u32, max: u32) -> Result<u32, ConfigError> {
    if v == 0 || v > max {
        return Err(rule_err(name, format!("{what} must be 1 to {max}")));
    }
    Ok(v)
}

impl RawVelocity {
    fn check(self) -> Result<Rule, ConfigError> {
        let n = &self.name;
        let window_ms = secs_in(n, "window_secs", self.window_secs)?;
        let max_count = match self.max_count {
            Some(c) => Some(in_range(n, "max_count", c, MAX_VELOCITY_COUNT)?),
            None => None,
        };
        let max_sum = amounts(n, &self.max_sum)?;
        if max_count.is_none() && max_sum.is_empty() {
            return Err(rule_err(n, "a velocity rule needs max_count or max_sum"));
        }
        let kind = RuleKind::Velocity {
            key: self.key,
            window_ms,
            max_count,
            max_sum,
        };
        Ok(rule(self.name, kind, self.action, self.shadow))
    }
}

impl RawCoolingOff {
    fn check(self) -> Result<Rule, ConfigError> {
        let kind = RuleKind::CoolingOff {
            subject: self.subject,
            period_ms: secs_in(&self.name, "period_secs", self.period_secs)?,
            above: amounts(&self.name, &self.above)?,
        };
        Ok(rule(self.name, kind, self.action, self.shadow))
    }
}

impl RawTravel {
    fn check(self) -> Result<Rule, ConfigError> {
        let n = &self.name;
        let kind = RuleKind::Travel {
            key: self.key,
            max_speed_kmh: f64::from(in_range(
                n,
                "max_speed_kmh",
                self.max_speed_kmh,
                MAX_SPEED_KMH,
            )?),
            min_distance_km: f64::from(self.min_distance_km),
            horizon_ms: secs_in(n, "horizon_secs", self.horizon_secs)?,
        };
        Ok(rule(self.name, kind, self.action, self.shadow))
    }
}

impl RawUnusual {
    fn check(self) -> Result<Rule, ConfigError> {
        let n = &self.name;
        let kind = RuleKind::UnusualAmount {
            key: self.key,
            multiple: in_range(n, "multiple", self.multiple, MAX_MULTIPLE)?,
            min_history: in_range(n, "min_history", self.min_history, MAX_MIN_HISTORY)?,
            floor: amounts(n, &self.floor)?,
        };
        Ok(rule(self.name, kind, self.action, self.shadow))
    }
}

impl RawDeclines {
    fn check(self) -> Result<Rule, ConfigError> {
        let kind = RuleKind::Declines {
            key: self.key,
            max_in_row: in_range(
                &self.name,
                "max_in_row",
                self.max_in_row,
                MAX_DECLINES_IN_ROW,
            )?,
        };
        Ok(rule(self.name, kind, self.action, self.shadow))
    }
}

fn rule(name: String, kind: RuleKind, action: Action, shadow: bool) -> Rule {
    Rule {
        name: Arc::from(name),
        kind,
        action,
        shadow,
    }
}

impl RiskRules {
    /// The embedded default rules.
    pub fn default_rules() -> RiskRules {
        // The embedded file is checked by a test; an error here is ours.
        match RiskRules::from_toml(DEFAULT_RULES_TOML) {
            Ok(r) => r,
            Err(e) => unreachable!("the embedded rules.toml is invalid: {e}"),
        }
    }

    /// Parses and checks a rules file.
    pub fn from_toml(text: &str) -> Result<RiskRules, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        let keys_per_kind = raw
            .limits
            .as_ref()
            .map_or(DEFAULT_KEYS_PER_KIND, |l| l.keys_per_kind);
        if keys_per_kind == 0 || keys_per_kind > MAX_KEYS_PER_KIND {
            return Err(ConfigError::Limits(format!(
                "keys_per_kind must be 1 to {MAX_KEYS_PER_KIND}"
            )));
        }
        let rules = check_rules(
            raw.velocity,
            raw.cooling_off,
            raw.travel,
            raw.unusual_amount,
            raw.declines,
        )?;
        let blocklists = raw
            .blocklist
            .map(RawBlocklist::check)
            .transpose()?
            .unwrap_or_default();
        Ok(RiskRules {
            rules,
            blocklists,
            keys_per_kind,
            source: Arc::from(text),
        })
    }
}

fn check_rules(
    velocity: Vec<RawVelocity>,
    cooling_off: Vec<RawCoolingOff>,
    travel: Vec<RawTravel>,
    unusual: Vec<RawUnusual>,
    declines: Vec<RawDeclines>,
) -> Result<Vec<Rule>, ConfigError> {
    let mut rules = Vec::new();
    for r in velocity {
        rules.push(r.check()?);
    }
    for r in cooling_off {
        rules.push(r.check()?);
    }
    for r in travel {
        rules.push(r.check()?);
    }
    for r in unusual {
        rules.push(r.check()?);
    }
    for r in declines {
        rules.push(r.check()?);
    }
    if rules.len() > MAX_RULES {
        return Err(ConfigError::Limits(format!("at most {MAX_RULES} rules")));
    }
    let mut names = std::collections::HashSet::new();
    for r in &rules {
        if r.name.is_empty() || r.name.len() > MAX_NAME_LEN {
            return Err(rule_err(
                &r.name,
                format!("a name is 1 to {MAX_NAME_LEN} bytes"),
            ));
        }
        if !names.insert(r.name.clone()) {
            return Err(ConfigError::DuplicateName(r.name.to_string()));
        }
    }
    Ok(rules)
}

impl RawBlocklist {
    fn check(self) -> Result<Blocklists, ConfigError> {
        for (what, list) in [
            ("devices", &self.devices),
            ("cards", &self.cards),
            ("upi_ids", &self.upi_ids),
            ("merchants", &self.merchants),
        ] {
            if list.len() > MAX_BLOCKLIST_ENTRIES {
                return Err(ConfigError::Limits(format!(
                    "blocklist {what}: at most {MAX_BLOCKLIST_ENTRIES} entries"
                )));
            }
        }
        if self.cards.iter().any(|c| looks_like_pan(c)) {
            return Err(ConfigError::Limits(
                "blocklist cards: list fingerprints, never card numbers".into(),
            ));
        }
        Ok(Blocklists {
            devices: self.devices,
            cards: self.cards,
            upi_ids: self.upi_ids,
            merchants: self.merchants,
            shadow: self.shadow,
        })
    }
}

/// Whether a blocklist entry is a bare card number (12 to 19 digits passing
/// Luhn): refused, so a number never sits in a rules file.
pub fn looks_like_pan(s: &str) -> bool {
    (12..=19).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_digit())
        && paytap_types::luhn_valid(s)
}
