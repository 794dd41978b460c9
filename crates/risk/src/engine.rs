//! The engine: [`RiskEngine::decide`] reads the rules and the remembered
//! state and answers; [`RiskEngine::record`] is told how the payment ended
//! and updates the state. Deciding never changes state, so a decision can be
//! asked again (a retried request) and gets the same answer.

use paytap_types::{GeoPoint, PaymentFacts};
use std::collections::HashSet;
use std::sync::Arc;

use crate::config::{
    Blocklists, KEY_KINDS, KeyKind, MAX_BLOCKLIST_ENTRIES, RiskRules, Rule, RuleKind, Subject,
    looks_like_pan,
};
use crate::decision::{Action, Decision, Fired, Outcome, ReasonCode, StepUpMethod, Verdict};
use crate::geo::distance_km;
use crate::state::{Event, KeyState, KeyTable, WindowTotals};

/// Milliseconds in an hour.
const MS_PER_HOUR: f64 = 3_600_000.0;

/// Which blocklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// Device ids.
    Devices,
    /// Card fingerprints.
    Cards,
    /// UPI ids.
    UpiIds,
    /// Merchant ids.
    Merchants,
}

/// Why a blocklist change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The list holds [`MAX_BLOCKLIST_ENTRIES`] already.
    #[error("the blocklist is full ({MAX_BLOCKLIST_ENTRIES} entries)")]
    Full,
    /// A card number was given where a fingerprint belongs.
    #[error("list a card by its fingerprint, never its number")]
    CardNumber,
    /// An empty id.
    #[error("an empty id")]
    Empty,
}

#[derive(Debug, Clone, Default)]
struct BlockSets {
    lists: [HashSet<Box<str>>; 4],
    shadow: bool,
}

impl BlockSets {
    fn from(b: Blocklists) -> BlockSets {
        let set = |v: Vec<String>| v.into_iter().map(Box::from).collect();
        BlockSets {
            lists: [
                set(b.devices),
                set(b.cards),
                set(b.upi_ids),
                set(b.merchants),
            ],
            shadow: b.shadow,
        }
    }

    fn contains(&self, list: ListKind, id: Option<&str>) -> bool {
        id.is_some_and(|id| self.lists[list as usize].contains(id))
    }
}

/// The risk engine: rules, blocklists and bounded per-key state.
#[derive(Debug, Clone)]
pub struct RiskEngine {
    rules: Vec<Rule>,
    blocks: BlockSets,
    tables: [KeyTable; KEY_KINDS],
    tracked: [bool; KEY_KINDS],
    blocklist_rule: Arc<str>,
    source: Arc<str>,
}

/// The key of `kind` in a payment, if it has one.
pub fn key_of(f: &PaymentFacts, kind: KeyKind) -> Option<&str> {
    match kind {
        KeyKind::Card => f.card.as_ref().map(|c| c.fingerprint.as_str()),
        KeyKind::Device => f.device.as_ref().map(|d| d.id.as_str()),
        KeyKind::Account => f.account_id.as_deref(),
        KeyKind::Upi => f.upi.as_ref().map(|u| u.vpa.as_str()),
        KeyKind::Merchant => f.merchant.as_ref().map(|m| m.id.as_str()),
    }
}

impl RiskEngine {
    /// An engine with these rules and no history.
    pub fn new(rules: RiskRules) -> RiskEngine {
        let mut tracked = [false; KEY_KINDS];
        let mut horizon = [0i64; KEY_KINDS];
        for r in &rules.rules {
            if let Some(k) = r.key() {
                tracked[k as usize] = true;
            }
            if let RuleKind::Velocity { key, window_ms, .. } = r.kind {
                horizon[key as usize] = horizon[key as usize].max(window_ms);
            }
        }
        RiskEngine {
            tables: horizon.map(|h| KeyTable::new(rules.keys_per_kind, h)),
            tracked,
            blocks: BlockSets::from(rules.blocklists),
            rules: rules.rules,
            blocklist_rule: Arc::from("blocklist"),
            source: rules.source,
        }
    }

    /// The rules in force.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The text the rules were read from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the blocklists only record what they would have done.
    pub fn blocklists_shadow(&self) -> bool {
        self.blocks.shadow
    }

    /// Puts a rule (or, by the name `blocklist`, the blocklists) in or out
    /// of shadow mode; `false` when no rule has that name. The state the
    /// rules keep is untouched.
    pub fn set_shadow(&mut self, name: &str, shadow: bool) -> bool {
        if name == &*self.blocklist_rule {
            self.blocks.shadow = shadow;
            return true;
        }
        match self.rules.iter_mut().find(|r| &*r.name == name) {
            Some(r) => {
                r.shadow = shadow;
                true
            }
            None => false,
        }
    }

    /// Keys of `kind` remembered, and keys evicted so far.
    pub fn keys(&self, kind: KeyKind) -> (usize, u64) {
        let t = &self.tables[kind as usize];
        (t.len(), t.evicted())
    }

    /// What the engine remembers of one key.
    pub fn state(&self, kind: KeyKind, key: &str) -> Option<&KeyState> {
        self.tables[kind as usize].get(key)
    }

    /// Count and sum (in `currency`) of a key's approved payments in the
    /// window of `window_ms` ending at `now` (`(now - window_ms, now]`).
    pub fn window_totals(
        &self,
        kind: KeyKind,
        key: &str,
        window_ms: i64,
        now: i64,
        currency: paytap_types::Currency,
    ) -> WindowTotals {
        match self.state(kind, key) {
            Some(s) => s.window(now.saturating_sub(window_ms), now, currency),
            None => WindowTotals {
                count: 0,
                sum: 0,
                saturated: false,
            },
        }
    }

    /// The decision on a payment, before the issuer or bank sees it. Reads
    /// state, never changes it.
    pub fn decide(&self, f: &PaymentFacts) -> Decision {
        let mut fired = Vec::new();
        self.check_blocklists(f, &mut fired);
        for rule in &self.rules {
            if let Some(detail) = self.check(rule, f) {
                fired.push(Fired {
                    rule: rule.name.clone(),
                    action: rule.action,
                    reason: rule.reason(),
                    shadow: rule.shadow,
                    detail,
                });
            }
        }
        met_on_the_device(Decision::from_fired(fired), f)
    }

    /// Tells the engine how a payment ended: an approval enters the velocity
    /// windows, the amount history and the last place, and ends a run of
    /// declines; a decline lengthens the run. Call it once per payment.
    pub fn record(&mut self, f: &PaymentFacts, outcome: Outcome) {
        let event = Event {
            at_ms: f.at_ms,
            minor: f.amount.minor.max(0),
            currency: f.amount.currency,
        };
        for kind in KeyKind::ALL {
            if !self.tracked[kind as usize] {
                continue;
            }
            let Some(key) = key_of(f, kind) else { continue };
            let table = &mut self.tables[kind as usize];
            match outcome {
                Outcome::Approved => table.approve(key, event, f.place),
                Outcome::Declined => table.decline(key, f.at_ms),
            }
        }
    }

    /// Puts an id on a blocklist (a card by its fingerprint). `Ok(false)`
    /// when it was there already.
    pub fn block(&mut self, list: ListKind, id: &str) -> Result<bool, BlockError> {
        if id.is_empty() {
            return Err(BlockError::Empty);
        }
        if list == ListKind::Cards && looks_like_pan(id) {
            return Err(BlockError::CardNumber);
        }
        let set = &mut self.blocks.lists[list as usize];
        if set.contains(id) {
            return Ok(false);
        }
        if set.len() >= MAX_BLOCKLIST_ENTRIES {
            return Err(BlockError::Full);
        }
        Ok(set.insert(Box::from(id)))
    }

    /// Takes an id off a blocklist; whether it was on it.
    pub fn unblock(&mut self, list: ListKind, id: &str) -> bool {
        self.blocks.lists[list as usize].remove(id)
    }

    fn check_blocklists(&self, f: &PaymentFacts, fired: &mut Vec<Fired>) {
        let hits = [
            (ListKind::Devices, key_of(f, KeyKind::Device), "device"),
            (ListKind::Cards, key_of(f, KeyKind::Card), "card"),
            (ListKind::UpiIds, key_of(f, KeyKind::Upi), "UPI id"),
            (
                ListKind::Merchants,
                key_of(f, KeyKind::Merchant),
                "merchant",
            ),
        ];
        for (list, id, what) in hits {
            if self.blocks.contains(list, id) {
                fired.push(Fired {
                    rule: self.blocklist_rule.clone(),
                    action: Action::Decline,
                    reason: ReasonCode::Blocklisted,
                    shadow: self.blocks.shadow,
                    detail: format!("the {what} is on the blocklist"),
                });
            }
        }
    }

    /// Whether `rule` fires on `f`, and the figures why.
    fn check(&self, rule: &Rule, f: &PaymentFacts) -> Option<String> {
        match &rule.kind {
            RuleKind::Velocity {
                key,
                window_ms,
                max_count,
                max_sum,
            } => {
                let totals = self.window_totals(
                    *key,
                    key_of(f, *key)?,
                    *window_ms,
                    f.at_ms,
                    f.amount.currency,
                );
                velocity(
                    f,
                    &totals,
                    *window_ms,
                    *max_count,
                    max_sum.get(f.amount.currency),
                )
            }
            RuleKind::CoolingOff {
                subject,
                period_ms,
                above,
            } => cooling_off(f, *subject, *period_ms, above.get(f.amount.currency)),
            RuleKind::Travel {
                key,
                max_speed_kmh,
                min_distance_km,
                horizon_ms,
            } => {
                let last = self.state(*key, key_of(f, *key)?)?.last_place?;
                travel(f, last, *max_speed_kmh, *min_distance_km, *horizon_ms)
            }
            RuleKind::UnusualAmount {
                key,
                multiple,
                min_history,
                floor,
            } => {
                let h = self.state(*key, key_of(f, *key)?)?.history?;
                unusual(f, h, *multiple, *min_history, floor.get(f.amount.currency))
            }
            RuleKind::Declines { key, max_in_row } => {
                let n = self.state(*key, key_of(f, *key)?)?.declines_in_row;
                (n >= *max_in_row)
                    .then(|| format!("{n} declines in a row (at most {})", max_in_row - 1))
            }
        }
    }
}

fn velocity(
    f: &PaymentFacts,
    t: &WindowTotals,
    window_ms: i64,
    max_count: Option<u32>,
    max_sum: Option<i64>,
) -> Option<String> {
    let secs = window_ms / 1000;
    if t.saturated {
        return Some(format!("more payments in {secs} s than are kept per key"));
    }
    let count = t.count + 1;
    if let Some(max) = max_count.filter(|m| count > *m) {
        return Some(format!("{count} payments in {secs} s (at most {max})"));
    }
    let sum = t.sum + i128::from(f.amount.minor.max(0));
    let max = max_sum.filter(|m| sum > i128::from(*m))?;
    Some(format!(
        "{sum} paid in {secs} s, minor units of {} (at most {max})",
        f.amount.currency
    ))
}

fn cooling_off(
    f: &PaymentFacts,
    subject: Subject,
    period_ms: i64,
    above: Option<i64>,
) -> Option<String> {
    let (since, what) = match subject {
        Subject::Device => (f.device.as_ref()?.enrolled_at_ms?, "device"),
        Subject::Card => (f.card.as_ref()?.added_at_ms?, "card"),
        Subject::Binding => (f.upi.as_ref()?.bound_at_ms?, "UPI binding"),
    };
    let age = f.at_ms.saturating_sub(since).max(0);
    let threshold = above.unwrap_or(-1);
    (age < period_ms && f.amount.minor > threshold).then(|| {
        format!(
            "{what} {} s old pays {} (cooling-off {} s)",
            age / 1000,
            f.amount,
            period_ms / 1000
        )
    })
}

fn travel(
    f: &PaymentFacts,
    (last, last_at): (GeoPoint, i64),
    max_speed_kmh: f64,
    min_distance_km: f64,
    horizon_ms: i64,
) -> Option<String> {
    let here = f.place.filter(GeoPoint::is_valid)?;
    let dt_ms = f.at_ms.saturating_sub(last_at).abs();
    if dt_ms > horizon_ms {
        return None;
    }
    let km = distance_km(last, here);
    if km < min_distance_km {
        return None;
    }
    let hours = dt_ms as f64 / MS_PER_HOUR;
    let speed = if hours > 0.0 {
        km / hours
    } else {
        f64::INFINITY
    };
    (speed > max_speed_kmh).then(|| {
        format!(
            "{km:.0} km in {} s: {speed:.0} km/h (at most {max_speed_kmh:.0})",
            dt_ms / 1000
        )
    })
}

fn unusual(
    f: &PaymentFacts,
    h: crate::state::History,
    multiple: u32,
    min_history: u32,
    floor: Option<i64>,
) -> Option<String> {
    if h.currency != f.amount.currency || h.count < min_history {
        return None;
    }
    let amount = i128::from(f.amount.minor);
    let limit = (h.mean() * i128::from(multiple)).max(i128::from(floor.unwrap_or(0)));
    (amount > limit).then(|| {
        format!(
            "{} is over {multiple} times the mean of {} approved payments ({} minor units)",
            f.amount,
            h.count,
            h.mean()
        )
    })
}

/// A biometric step-up asked of a payment whose holder already passed the
/// device's biometric check for it is met: the payment is approved, and
/// the rules that fired stay in the explanation. An OTP step-up or a
/// decline is never met this way.
fn met_on_the_device(decision: Decision, f: &PaymentFacts) -> Decision {
    match decision.verdict {
        Verdict::StepUp {
            method: StepUpMethod::Biometric,
            ..
        } if f.biometric_verified => Decision {
            verdict: Verdict::Approve,
            fired: decision.fired,
        },
        _ => decision,
    }
}
