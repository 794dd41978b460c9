//! The offers file: its TOML schema (unknown fields refused), its checks, and
//! the offers and points rules it turns into. The default (`offers.toml`) is
//! embedded.

use paytap_types::{CardType, Channel, Currency, DeviceKind, Money};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// The embedded default offers and points rules.
pub const DEFAULT_OFFERS_TOML: &str = include_str!("offers.toml");
/// Most offers one file may hold (the matching target is 1,000 live
/// offers; this leaves room for paused and ended ones).
pub const MAX_OFFERS: usize = 10_000;
/// Longest offer id (it is stored with every redemption).
pub const MAX_ID_LEN: usize = 64;
/// Most entries in one eligibility list (banks, BIN ranges, merchants,
/// MCCs, regions).
pub const MAX_LIST: usize = 1_000;
/// Largest percentage benefit, basis points (100 %).
pub const MAX_PERCENT_BP: u32 = 10_000;
/// Most points rules.
pub const MAX_POINTS_RULES: usize = 1_000;
/// Largest points rate: points per major unit, in basis points (100 points
/// per unit).
pub const MAX_POINTS_RATE_BP: u32 = 1_000_000;
/// Most minutes a local time may be from UTC (±14 h).
pub const MAX_UTC_OFFSET_MIN: i32 = 14 * 60;

/// Why an offers file (or one offer from the console) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, or not this schema (an unknown field included).
    #[error("offers are not valid: {0}")]
    Toml(String),
    /// One offer is wrong.
    #[error("offer {0:?}: {1}")]
    Offer(String, String),
    /// Two offers share an id.
    #[error("two offers have the id {0:?}")]
    DuplicateId(String),
    /// Two offers share a place in the stacking order.
    #[error("offers {0:?} and {1:?} have the same stacking order {2}")]
    StackingOverlap(String, String, u32),
    /// A points rule is wrong.
    #[error("points: {0}")]
    Points(String),
    /// A limit of the file as a whole.
    #[error("offers: {0}")]
    Limits(String),
}

/// Who pays for an offer.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum FunderKind {
    /// An issuing bank.
    Bank,
    /// A merchant.
    Merchant,
    /// paytap itself.
    Platform,
}

/// The funder of an offer: each has its own account on the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Funder {
    /// Bank, merchant or platform.
    pub kind: FunderKind,
    /// The bank's id (as in `banks.toml`), the merchant's id, or `paytap`.
    pub id: String,
}

impl Funder {
    /// The name of the funder's ledger account, `offers:bank:icbc`.
    pub fn ledger_account(&self) -> String {
        let kind = match self.kind {
            FunderKind::Bank => "bank",
            FunderKind::Merchant => "merchant",
            FunderKind::Platform => "platform",
        };
        format!("offers:{kind}:{}", self.id)
    }
}

/// When the benefit reaches the account holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BenefitKind {
    /// At authorization: the charge is reduced, the funder pays the rest.
    Discount,
    /// After capture: credited back to the account holder.
    Cashback,
}

/// How much the benefit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// A share of the amount, basis points, at most `cap` minor units.
    Percent {
        /// Basis points (500 = 5 %).
        bp: u32,
        /// The most it gives, minor units.
        cap: i64,
    },
    /// A fixed amount, minor units.
    Fixed(i64),
}

impl Amount {
    /// The benefit on an amount of `minor`, never more than `minor`.
    pub fn on(&self, minor: i64) -> i64 {
        let minor = minor.max(0);
        let b = match *self {
            Amount::Percent { bp, cap } => {
                let share = i128::from(minor) * i128::from(bp) / i128::from(MAX_PERCENT_BP);
                i64::try_from(share).unwrap_or(i64::MAX).min(cap)
            }
            Amount::Fixed(v) => v,
        };
        b.min(minor)
    }
}

/// A count per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodLimit {
    /// Redemptions allowed in each period.
    pub count: u32,
    /// The period.
    pub period: Period,
}

/// A period of a usage limit, in the offer's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A local calendar day.
    Day,
    /// A local week, Monday to Sunday.
    Week,
    /// The offer's whole life.
    Lifetime,
}

/// Who may use an offer on which payment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Eligibility {
    /// The payment's currency (every amount of the offer is in it).
    pub currency: Option<Currency>,
    /// Issuing banks (empty: any).
    pub banks: Vec<String>,
    /// BIN ranges, inclusive, compared on the range's number of digits
    /// (empty: any).
    pub bin_ranges: Vec<(String, String)>,
    /// Card types (empty: any).
    pub card_types: Vec<CardType>,
    /// Device kinds (empty: any).
    pub device_kinds: Vec<DeviceKind>,
    /// Channels (empty: any).
    pub channels: Vec<Channel>,
    /// Merchant ids (empty: any).
    pub merchants: Vec<String>,
    /// Merchant category codes (empty: any).
    pub mccs: Vec<u16>,
    /// Data regions (empty: any).
    pub regions: Vec<String>,
    /// From this instant, Unix ms.
    pub starts_ms: Option<i64>,
    /// Until this instant (excluded), Unix ms.
    pub ends_ms: Option<i64>,
    /// Days of the week, bit 0 Monday … bit 6 Sunday (0: every day).
    pub days: u8,
    /// The offer's local time, minutes from UTC (days and periods).
    pub utc_offset_min: i32,
    /// The least amount, minor units.
    pub min_amount: i64,
    /// Only a card's first payment with paytap.
    pub first_card_use: bool,
    /// Only the account's first payment on the channel.
    pub first_on_channel: bool,
    /// Only payments from a UPI id.
    pub upi: bool,
}

/// Limits of one offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Per wallet account.
    pub per_user: Option<PeriodLimit>,
    /// Per card.
    pub per_card: Option<PeriodLimit>,
    /// The total the funder pays, minor units.
    pub budget: i64,
}

/// One offer, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// Its id.
    pub id: Arc<str>,
    /// What the account holder sees.
    pub title: String,
    /// Who pays.
    pub funder: Funder,
    /// Its place in the stacking order (lower first; unique).
    pub order: u32,
    /// Whether, once it applies, the offers after it do not.
    pub exclusive: bool,
    /// Whether an operator has paused it.
    pub paused: bool,
    /// Who may use it.
    pub eligibility: Eligibility,
    /// Discount or cashback.
    pub kind: BenefitKind,
    /// How much.
    pub amount: Amount,
    /// Its limits.
    pub limits: Limits,
    /// The offer as a TOML table in the offers file's schema: what the
    /// console shows to edit.
    pub source: String,
}

/// Points earned per payment by bank and channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointsRule {
    /// The issuing bank (None: any).
    pub bank: Option<String>,
    /// The channel (None: any).
    pub channel: Option<Channel>,
    /// Points per major unit paid, basis points (10,000 = one point per yuan).
    pub rate_bp: u32,
}

/// The points rules and what a point is worth.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PointsConfig {
    /// The rules, most specific first; the first that matches applies.
    pub rules: Vec<PointsRule>,
    /// What one point is worth as cashback, per currency, minor units.
    pub value: Vec<(Currency, i64)>,
    /// The fewest points one redemption takes.
    pub min_redeem: u64,
}

/// A checked offers file.
#[derive(Debug, Clone, PartialEq)]
pub struct OffersFile {
    /// The offers.
    pub offers: Vec<Offer>,
    /// The points rules.
    pub points: PointsConfig,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    offer: Vec<RawOffer>,
    #[serde(default)]
    points: Option<RawPoints>,
}

/// One offer as written (in the file or by the console).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawOffer {
    id: String,
    title: String,
    funder: Funder,
    order: u32,
    #[serde(default)]
    exclusive: bool,
    #[serde(default)]
    paused: bool,
    currency: String,
    #[serde(default)]
    eligible: RawEligible,
    benefit: RawBenefit,
    limits: RawLimits,
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct RawEligible {
    #[serde(default)]
    banks: Vec<String>,
    #[serde(default)]
    bin_ranges: Vec<[String; 2]>,
    #[serde(default)]
    card_types: Vec<CardType>,
    #[serde(default)]
    device_kinds: Vec<DeviceKind>,
    #[serde(default)]
    channels: Vec<Channel>,
    #[serde(default)]
    merchants: Vec<String>,
    #[serde(default)]
    mccs: Vec<u16>,
    #[serde(default)]
    regions: Vec<String>,
    starts: Option<String>,
    ends: Option<String>,
    #[serde(default)]
    days: Vec<String>,
    #[serde(default)]
    utc_offset_min: i32,
    min_amount: Option<String>,
    #[serde(default)]
    first_card_use: bool,
    #[serde(default)]
    first_on_channel: bool,
    #[serde(default)]
    upi: bool,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct RawBenefit {
    kind: BenefitKind,
    percent: Option<String>,
    cap: Option<String>,
    fixed: Option<String>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    per_user: Option<RawPeriodLimit>,
    per_card: Option<RawPeriodLimit>,
    budget: String,
}

#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct RawPeriodLimit {
    count: u32,
    period: Period,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPoints {
    #[serde(default)]
    rule: Vec<RawPointsRule>,
    #[serde(default)]
    value: BTreeMap<String, String>,
    min_redeem: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPointsRule {
    bank: Option<String>,
    channel: Option<Channel>,
    rate_bp: u32,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn money(currency: Currency, what: &str, s: &str) -> Result<i64, String> {
    let m = Money::parse(s, currency).map_err(|e| format!("{what} {s:?}: {e}"))?;
    if m.minor < 0 {
        return Err(format!("{what} {s:?}: an amount is never negative"));
    }
    Ok(m.minor)
}

fn instant(what: &str, s: &str) -> Result<i64, String> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("{what} {s:?} is not an RFC 3339 instant: {e}"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| format!("{what} out of range"))
}

/// Basis points from a percentage such as `"5"` or `"2.5"`.
fn percent_bp(s: &str) -> Result<u32, String> {
    // A percentage has at most two decimals: parse it as an amount of a
    // two-decimal currency, whose minor units are then basis points.
    let m = Money::parse(s, Currency::CNY).map_err(|e| format!("percent {s:?}: {e}"))?;
    match u32::try_from(m.minor) {
        Ok(bp) if bp > 0 && bp <= MAX_PERCENT_BP => Ok(bp),
        _ => Err(format!("percent {s:?} must be above 0 and at most 100")),
    }
}

fn bounded<T>(what: &str, v: Vec<T>) -> Result<Vec<T>, String> {
    if v.len() > MAX_LIST {
        return Err(format!("{what}: at most {MAX_LIST} entries"));
    }
    Ok(v)
}

impl RawBenefit {
    fn check(&self, currency: Currency) -> Result<Amount, String> {
        match (&self.percent, &self.cap, &self.fixed) {
            (Some(p), Some(cap), None) => Ok(Amount::Percent {
                bp: percent_bp(p)?,
                cap: money(currency, "cap", cap)?,
            }),
            (Some(_), None, None) => Err("a percentage needs a cap".into()),
            (None, None, Some(f)) => match money(currency, "fixed", f)? {
                0 => Err("a fixed benefit is above zero".into()),
                v => Ok(Amount::Fixed(v)),
            },
            _ => Err("a benefit is either percent with cap, or fixed".into()),
        }
    }
}

fn period_limit(what: &str, raw: Option<RawPeriodLimit>) -> Result<Option<PeriodLimit>, String> {
    match raw {
        Some(l) if l.count == 0 => Err(format!("{what}.count is at least 1")),
        Some(l) => Ok(Some(PeriodLimit {
            count: l.count,
            period: l.period,
        })),
        None => Ok(None),
    }
}

impl RawEligible {
    fn check(self, currency: Currency) -> Result<Eligibility, String> {
        let mut days = 0u8;
        for d in &self.days {
            let i = DAYS
                .iter()
                .position(|x| x == d)
                .ok_or_else(|| format!("day {d:?} is not one of {DAYS:?}"))?;
            days |= 1 << i;
        }
        if self.utc_offset_min.abs() > MAX_UTC_OFFSET_MIN {
            return Err("utc_offset_min must be within ±14 hours".into());
        }
        for [first, last] in &self.bin_ranges {
            let digits =
                |s: &str| (4..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
            if !digits(first) || first.len() != last.len() || !digits(last) || first > last {
                return Err(format!(
                    "BIN range {first}-{last}: 4 to 8 digits each, same length, first <= last"
                ));
            }
        }
        let starts_ms = self
            .starts
            .as_deref()
            .map(|s| instant("starts", s))
            .transpose()?;
        let ends_ms = self
            .ends
            .as_deref()
            .map(|s| instant("ends", s))
            .transpose()?;
        if let (Some(s), Some(e)) = (starts_ms, ends_ms)
            && s >= e
        {
            return Err("starts is before ends".into());
        }
        Ok(Eligibility {
            currency: Some(currency),
            banks: bounded("banks", self.banks)?,
            bin_ranges: bounded("bin_ranges", self.bin_ranges)?
                .into_iter()
                .map(|[a, b]| (a, b))
                .collect(),
            card_types: self.card_types,
            device_kinds: self.device_kinds,
            channels: self.channels,
            merchants: bounded("merchants", self.merchants)?,
            mccs: bounded("mccs", self.mccs)?,
            regions: bounded("regions", self.regions)?,
            starts_ms,
            ends_ms,
            days,
            utc_offset_min: self.utc_offset_min,
            min_amount: self
                .min_amount
                .as_deref()
                .map_or(Ok(0), |m| money(currency, "min_amount", m))?,
            first_card_use: self.first_card_use,
            first_on_channel: self.first_on_channel,
            upi: self.upi,
        })
    }
}

impl RawOffer {
    /// Checks one offer (from the file, or written by an operator).
    pub fn check(self) -> Result<Offer, ConfigError> {
        let id = self.id.clone();
        let err = |e: String| ConfigError::Offer(id.clone(), e);
        if self.id.is_empty() || self.id.len() > MAX_ID_LEN {
            return Err(err(format!("an id is 1 to {MAX_ID_LEN} bytes")));
        }
        if self.funder.id.is_empty() {
            return Err(err("the funder needs an id".into()));
        }
        let source = toml::to_string(&self).map_err(|e| err(e.to_string()))?;
        let currency = Currency::from_code(&self.currency).map_err(|e| err(e.to_string()))?;
        let amount = self.benefit.check(currency).map_err(err)?;
        let budget = money(currency, "budget", &self.limits.budget).map_err(err)?;
        if budget == 0 {
            return Err(err("a budget is above zero".into()));
        }
        Ok(Offer {
            id: Arc::from(self.id),
            title: self.title,
            funder: self.funder,
            order: self.order,
            exclusive: self.exclusive,
            paused: self.paused,
            eligibility: self.eligible.check(currency).map_err(err)?,
            kind: self.benefit.kind,
            amount,
            limits: Limits {
                per_user: period_limit("per_user", self.limits.per_user).map_err(err)?,
                per_card: period_limit("per_card", self.limits.per_card).map_err(err)?,
                budget,
            },
            source,
        })
    }

    /// Parses one offer written as a TOML table (the console's form).
    pub fn from_toml(text: &str) -> Result<RawOffer, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))
    }
}

/// Refuses two offers with one id or one place in the stacking order.
pub fn check_unique(offers: &[Offer]) -> Result<(), ConfigError> {
    let mut ids = HashSet::new();
    let mut orders = std::collections::HashMap::new();
    for o in offers {
        if !ids.insert(o.id.clone()) {
            return Err(ConfigError::DuplicateId(o.id.to_string()));
        }
        if let Some(other) = orders.insert(o.order, o.id.clone()) {
            return Err(ConfigError::StackingOverlap(
                other.to_string(),
                o.id.to_string(),
                o.order,
            ));
        }
    }
    Ok(())
}

impl RawPoints {
    fn check(self) -> Result<PointsConfig, ConfigError> {
        if self.rule.len() > MAX_POINTS_RULES {
            return Err(ConfigError::Points(format!(
                "at most {MAX_POINTS_RULES} rules"
            )));
        }
        let mut rules = Vec::with_capacity(self.rule.len());
        for r in self.rule {
            if r.rate_bp > MAX_POINTS_RATE_BP {
                return Err(ConfigError::Points(format!(
                    "rate_bp at most {MAX_POINTS_RATE_BP}"
                )));
            }
            rules.push(PointsRule {
                bank: r.bank,
                channel: r.channel,
                rate_bp: r.rate_bp,
            });
        }
        let mut value = Vec::new();
        for (code, v) in &self.value {
            let c = Currency::from_code(code).map_err(|e| ConfigError::Points(e.to_string()))?;
            let minor = money(c, "value", v).map_err(ConfigError::Points)?;
            value.push((c, minor));
        }
        if self.min_redeem == 0 {
            return Err(ConfigError::Points("min_redeem is at least 1".into()));
        }
        Ok(PointsConfig {
            rules,
            value,
            min_redeem: self.min_redeem,
        })
    }
}

impl OffersFile {
    /// The embedded default offers.
    pub fn default_offers() -> OffersFile {
        // The embedded file is checked by a test; an error here is ours.
        match OffersFile::from_toml(DEFAULT_OFFERS_TOML) {
            Ok(f) => f,
            Err(e) => unreachable!("the embedded offers.toml is invalid: {e}"),
        }
    }

    /// Parses and checks an offers file.
    pub fn from_toml(text: &str) -> Result<OffersFile, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        if raw.offer.len() > MAX_OFFERS {
            return Err(ConfigError::Limits(format!("at most {MAX_OFFERS} offers")));
        }
        let offers = raw
            .offer
            .into_iter()
            .map(RawOffer::check)
            .collect::<Result<Vec<_>, _>>()?;
        check_unique(&offers)?;
        let points = raw
            .points
            .map(RawPoints::check)
            .transpose()?
            .unwrap_or_default();
        Ok(OffersFile { offers, points })
    }
}
