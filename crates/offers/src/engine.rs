//! The offers engine: matching at authorization, and each payment's
//! redemption as a state machine over the offers' budgets, usage counts and
//! rewards points.
//!
//! ```text
//!   authorize ──> Authorized ──capture──> Captured ──refund──> Refunded
//!                     │
//!                     └──release (decline, reversal)──> Released
//! ```
//!
//! `authorize` reserves each applied offer's benefit in its budget and
//! counts the use; `capture` turns the reservation into spend and credits
//! the points; `release` returns the reservation and the use; `refund`
//! returns the spend (the discount goes back to the budget, the cashback is
//! clawed back), the use and the points. Any other move (a second
//! `authorize` of one payment, a `capture` after a `release` …) is refused
//! with an error and moves nothing.

use paytap_types::{Money, PaymentFacts};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

use crate::budget::{Budget, BudgetError};
use crate::config::{BenefitKind, ConfigError, Funder, Offer, OffersFile, RawOffer, check_unique};
use crate::matching::period_of;
use crate::points::PointsBook;

/// Most offers one payment may get (stacked in their order).
pub const MAX_OFFERS_PER_PAYMENT: usize = 4;
/// Most payments remembered (authorized, captured and not yet forgotten):
/// the service forgets captured ones once their refund window has closed
/// ([`OfferEngine::forget_before`]).
pub const MAX_PAYMENTS: usize = 1_000_000;
/// Most usage counters (offer × account or card × period) held; counters of
/// ended periods are dropped first. When it is full of live counters, an
/// offer with a usage limit is refused rather than granted unchecked.
pub const MAX_USAGE_ENTRIES: usize = 2_000_000;

/// Why the engine refuses a call. Nothing moves when it does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    /// The payment was authorized before: a replayed redemption.
    #[error("payment {0:?} was authorized before: a replayed redemption")]
    Replayed(String),
    /// No such payment.
    #[error("no payment {0:?}")]
    UnknownPayment(String),
    /// The payment is not in the state the call needs.
    #[error("payment {payment:?} is {state:?}: cannot {wanted}")]
    WrongState {
        /// The payment.
        payment: String,
        /// Where it is.
        state: PaymentState,
        /// What was asked.
        wanted: &'static str,
    },
    /// [`MAX_PAYMENTS`] are remembered: the payment goes on without offers.
    #[error("too many payments remembered ({MAX_PAYMENTS})")]
    Full,
    /// No such offer.
    #[error("no offer {0:?}")]
    UnknownOffer(String),
    /// The offer is not valid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A budget change is refused.
    #[error("offer {0:?}: {1}")]
    Budget(String, BudgetError),
}

/// Where a payment's redemption is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// Benefits reserved, uses counted.
    Authorized,
    /// Benefits spent, points credited.
    Captured,
    /// Declined or reversed before capture: everything returned.
    Released,
    /// Refunded after capture: everything returned or clawed back.
    Refunded,
}

/// One offer applied to a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The offer's id.
    pub offer: Arc<str>,
    /// Who pays.
    pub funder: Funder,
    /// Discount (already off the charge) or cashback (after capture).
    pub kind: BenefitKind,
    /// How much.
    pub amount: Money,
}

/// An offer the payment was eligible for and did not get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The offer's id.
    pub offer: Arc<str>,
    /// Why: `budget exhausted`, `per-user limit reached`, …
    pub why: &'static str,
}

/// What authorization decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quote {
    /// The payment.
    pub payment_id: String,
    /// The amount asked.
    pub amount: Money,
    /// What the account holder is charged: the amount less the discounts.
    pub charge: Money,
    /// The offers applied, in stacking order.
    pub applied: Vec<Applied>,
    /// Eligible offers not applied, and why.
    pub refused: Vec<Refusal>,
    /// Points the payment earns when captured.
    pub points: u64,
}

/// What a capture settled: what the funders pay, and the points credited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settlement {
    /// The benefits now spent (discounts and cashback to credit).
    pub spent: Vec<Applied>,
    /// Points credited to the account.
    pub points: u64,
    /// The account they were credited to.
    pub account: Option<String>,
}

/// What a release or refund returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Returned {
    /// The benefits returned to their budgets (a refund's cashback among
    /// them is clawed back from the account holder).
    pub returned: Vec<Applied>,
    /// Points taken back.
    pub points: u64,
    /// Points that could not be taken back (already redeemed).
    pub points_unrecovered: u64,
    /// The account the points were taken from.
    pub account: Option<String>,
}

/// A funder's spend in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunderSpend {
    /// The funder.
    pub funder: Funder,
    /// The currency.
    pub currency: paytap_types::Currency,
    /// Spent, net of refunds, minor units.
    pub spent: i64,
    /// Reserved for payments not yet captured, minor units.
    pub reserved: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct UsageKey {
    offer: Arc<str>,
    card: bool,
    who: Box<str>,
    bucket: i64,
}

/// One usage counter a use of an offer moves.
#[derive(Debug, Clone)]
struct Use {
    key: UsageKey,
    /// When its period ends, Unix ms.
    ends_ms: i64,
    /// Uses allowed in the period.
    limit: u32,
}

/// The usage counters a use of `offer` by this payment moves (per user,
/// then per card).
fn uses_of(offer: &Offer, f: &PaymentFacts) -> Vec<Use> {
    let off = offer.eligibility.utc_offset_min;
    let mut out = Vec::new();
    let who = [
        (offer.limits.per_user, f.account_id.as_deref(), false),
        (
            offer.limits.per_card,
            f.card.as_ref().map(|c| c.fingerprint.as_str()),
            true,
        ),
    ];
    for (limit, id, card) in who {
        if let (Some(l), Some(id)) = (limit, id) {
            let (bucket, ends_ms) = period_of(l.period, f.at_ms, off);
            out.push(Use {
                key: UsageKey {
                    offer: offer.id.clone(),
                    card,
                    who: Box::from(id),
                    bucket,
                },
                ends_ms,
                limit: l.count,
            });
        }
    }
    out
}

#[derive(Debug, Clone, Copy)]
struct Usage {
    count: u32,
    ends_ms: i64,
}

#[derive(Debug, Clone)]
struct Line {
    entry: Arc<str>,
    applied: Applied,
}

#[derive(Debug, Clone)]
struct Redemption {
    state: PaymentState,
    at_ms: i64,
    lines: Vec<Line>,
    uses: Vec<UsageKey>,
    account: Option<Box<str>>,
    points: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    offer: Offer,
    budget: Budget,
}

/// The offers, their budgets and usage, the payments' redemptions, and the
/// points book.
#[derive(Debug, Clone)]
pub struct OfferEngine {
    entries: Vec<Entry>,
    /// Entries that name merchants, by merchant (most live offers are a
    /// merchant's own: a payment reads only its merchant's).
    by_merchant: HashMap<Box<str>, Vec<usize>>,
    /// Entries that name no merchant (read for every payment).
    general: Vec<usize>,
    usage: HashMap<UsageKey, Usage>,
    payments: HashMap<Box<str>, Redemption>,
    points: PointsBook,
}

impl OfferEngine {
    /// An engine with these offers, full budgets and no payments.
    pub fn new(file: OffersFile) -> OfferEngine {
        let mut entries: Vec<Entry> = file
            .offers
            .into_iter()
            .map(|o| Entry {
                budget: Budget::new(o.limits.budget),
                offer: o,
            })
            .collect();
        entries.sort_by_key(|e| e.offer.order);
        let mut engine = OfferEngine {
            entries,
            by_merchant: HashMap::new(),
            general: Vec::new(),
            usage: HashMap::new(),
            payments: HashMap::new(),
            points: PointsBook::new(file.points),
        };
        engine.reindex();
        engine
    }

    /// The offers, in stacking order.
    pub fn offers(&self) -> impl Iterator<Item = (&Offer, &Budget)> {
        self.entries.iter().map(|e| (&e.offer, &e.budget))
    }

    /// One offer's budget.
    pub fn budget(&self, offer: &str) -> Option<Budget> {
        self.entry(offer).map(|i| self.entries[i].budget)
    }

    /// The points book.
    pub fn points(&self) -> &PointsBook {
        &self.points
    }

    /// The points book, to redeem.
    pub fn points_mut(&mut self) -> &mut PointsBook {
        &mut self.points
    }

    /// A payment's state.
    pub fn state(&self, payment_id: &str) -> Option<PaymentState> {
        self.payments.get(payment_id).map(|r| r.state)
    }

    fn entry(&self, offer: &str) -> Option<usize> {
        self.entries.iter().position(|e| &*e.offer.id == offer)
    }

    /// Pauses or resumes an offer (payments already authorized keep it).
    pub fn set_paused(&mut self, offer: &str, paused: bool) -> Result<(), OfferError> {
        let i = self
            .entry(offer)
            .ok_or_else(|| OfferError::UnknownOffer(offer.into()))?;
        self.entries[i].offer.paused = paused;
        Ok(())
    }

    /// Whether [`OfferEngine::put_offer`] would take this offer: its id and
    /// stacking place unique among the others, and, replacing one, a
    /// budget not below what the old one has reserved and spent. Changes
    /// nothing.
    pub fn check_put(&self, offer: &Offer) -> Result<(), OfferError> {
        let others: Vec<Offer> = self
            .entries
            .iter()
            .filter(|e| e.offer.id != offer.id)
            .map(|e| e.offer.clone())
            .chain(std::iter::once(offer.clone()))
            .collect();
        check_unique(&others)?;
        if let Some(i) = self.entry(&offer.id) {
            let mut budget = self.entries[i].budget;
            budget
                .set_total(offer.limits.budget)
                .map_err(|e| OfferError::Budget(offer.id.to_string(), e))?;
        }
        Ok(())
    }

    /// Adds an offer, or replaces the one with its id (keeping its budget's
    /// reservations and spend; a total below them is refused).
    pub fn put(&mut self, raw: RawOffer) -> Result<(), OfferError> {
        self.put_offer(raw.check()?)
    }

    /// [`OfferEngine::put`] of an offer checked already.
    pub fn put_offer(&mut self, offer: Offer) -> Result<(), OfferError> {
        self.check_put(&offer)?;
        match self.entry(&offer.id) {
            Some(i) => {
                let mut budget = self.entries[i].budget;
                budget
                    .set_total(offer.limits.budget)
                    .map_err(|e| OfferError::Budget(offer.id.to_string(), e))?;
                self.entries[i] = Entry { offer, budget };
            }
            None => self.entries.push(Entry {
                budget: Budget::new(offer.limits.budget),
                offer,
            }),
        }
        self.entries.sort_by_key(|e| e.offer.order);
        self.reindex();
        Ok(())
    }

    /// Rebuilds the merchant index after the entries changed.
    fn reindex(&mut self) {
        self.by_merchant.clear();
        self.general.clear();
        for (i, e) in self.entries.iter().enumerate() {
            let merchants = &e.offer.eligibility.merchants;
            if merchants.is_empty() {
                self.general.push(i);
            }
            for m in merchants {
                let list = self.by_merchant.entry(Box::from(m.as_str())).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
    }

    /// The entries that may apply to a payment, in stacking order: those
    /// naming no merchant, and those naming its merchant.
    fn candidates(&self, f: &PaymentFacts) -> Vec<usize> {
        let own: &[usize] = f
            .merchant
            .as_ref()
            .and_then(|m| self.by_merchant.get(m.id.as_str()))
            .map_or(&[], |v| v.as_slice());
        let general = &self.general;
        let mut out = Vec::with_capacity(general.len() + own.len());
        let (mut a, mut b) = (0, 0);
        while a < general.len() || b < own.len() {
            let take_general = b >= own.len() || (a < general.len() && general[a] < own[b]);
            if take_general {
                out.push(general[a]);
                a += 1;
            } else {
                out.push(own[b]);
                b += 1;
            }
        }
        out
    }

    /// The offers a payment like this could get now (eligible, live, budget
    /// and limits left): what the account holder is shown.
    pub fn eligible(&self, f: &PaymentFacts) -> Vec<&Offer> {
        self.candidates(f)
            .into_iter()
            .map(|i| &self.entries[i])
            .filter(|e| e.offer.applies_to(f) && e.budget.left() > 0)
            .filter(|e| {
                self.limit_refusal(&e.offer, f, &uses_of(&e.offer, f))
                    .is_none()
            })
            .map(|e| &e.offer)
            .collect()
    }

    /// Matches a payment at authorization: applies the eligible offers in
    /// stacking order, reserving each benefit in its budget and counting its
    /// use. An offer whose budget cannot cover its whole benefit is refused,
    /// never partly granted.
    pub fn authorize(&mut self, f: &PaymentFacts) -> Result<Quote, OfferError> {
        if self.payments.contains_key(f.payment_id.as_str()) {
            return Err(OfferError::Replayed(f.payment_id.clone()));
        }
        if self.payments.len() >= MAX_PAYMENTS {
            self.payments.retain(|_, r| {
                matches!(r.state, PaymentState::Authorized | PaymentState::Captured)
            });
            if self.payments.len() >= MAX_PAYMENTS {
                return Err(OfferError::Full);
            }
        }
        let mut quote = Quote {
            payment_id: f.payment_id.clone(),
            amount: f.amount,
            charge: f.amount,
            applied: Vec::new(),
            refused: Vec::new(),
            points: 0,
        };
        let mut red = Redemption {
            state: PaymentState::Authorized,
            at_ms: f.at_ms,
            lines: Vec::new(),
            uses: Vec::new(),
            account: f.account_id.as_deref().map(Box::from),
            points: 0,
        };
        for i in self.candidates(f) {
            if red.lines.len() >= MAX_OFFERS_PER_PAYMENT {
                break;
            }
            if !self.entries[i].offer.applies_to(f) {
                continue;
            }
            let applied = self.try_apply(i, f, &mut quote, &mut red);
            if applied && self.entries[i].offer.exclusive {
                break;
            }
        }
        let bank = f.card.as_ref().map(|c| c.bank.as_str());
        red.points = self.points.earned(bank, f.channel, quote.charge);
        quote.points = if red.account.is_some() { red.points } else { 0 };
        quote.applied = red.lines.iter().map(|l| l.applied.clone()).collect();
        self.payments.insert(Box::from(f.payment_id.as_str()), red);
        Ok(quote)
    }

    /// Applies entry `i` if its limits and budget allow; whether it did.
    fn try_apply(
        &mut self,
        i: usize,
        f: &PaymentFacts,
        quote: &mut Quote,
        red: &mut Redemption,
    ) -> bool {
        let offer = &self.entries[i].offer;
        let id = offer.id.clone();
        let benefit = offer.amount.on(quote.charge.minor);
        let uses = uses_of(offer, f);
        if let Some(why) = self.limit_refusal(offer, f, &uses) {
            quote.refused.push(Refusal { offer: id, why });
            return false;
        }
        if benefit <= 0 {
            return false;
        }
        if !self.room_for(&uses, f.at_ms) {
            quote.refused.push(Refusal {
                offer: id,
                why: "usage counters full",
            });
            return false;
        }
        let entry = &mut self.entries[i];
        if entry.budget.reserve(benefit).is_err() {
            quote.refused.push(Refusal {
                offer: id,
                why: "budget exhausted",
            });
            return false;
        }
        let kind = entry.offer.kind;
        if kind == BenefitKind::Discount {
            quote.charge.minor -= benefit;
        }
        let applied = Applied {
            offer: id.clone(),
            funder: entry.offer.funder.clone(),
            kind,
            amount: Money::new(benefit, f.amount.currency),
        };
        for u in uses {
            let c = self.usage.entry(u.key.clone()).or_insert(Usage {
                count: 0,
                ends_ms: u.ends_ms,
            });
            c.count += 1;
            red.uses.push(u.key);
        }
        red.lines.push(Line { entry: id, applied });
        true
    }

    /// Why the offer's usage limits refuse this payment, if they do.
    fn limit_refusal(&self, offer: &Offer, f: &PaymentFacts, uses: &[Use]) -> Option<&'static str> {
        if offer.limits.per_user.is_some() && f.account_id.is_none() {
            return Some("per-user limit needs an account");
        }
        if offer.limits.per_card.is_some() && f.card.is_none() {
            return Some("per-card limit needs a card");
        }
        uses.iter()
            .find(|u| self.usage.get(&u.key).map_or(0, |c| c.count) >= u.limit)
            .map(|u| {
                if u.key.card {
                    "per-card limit reached"
                } else {
                    "per-user limit reached"
                }
            })
    }

    /// Whether the usage table has room for these counters, after dropping
    /// those whose period has ended.
    fn room_for(&mut self, uses: &[Use], now: i64) -> bool {
        let new = uses
            .iter()
            .filter(|u| !self.usage.contains_key(&u.key))
            .count();
        if self.usage.len() + new <= MAX_USAGE_ENTRIES {
            return true;
        }
        self.usage.retain(|_, u| u.ends_ms > now);
        self.usage.len() + new <= MAX_USAGE_ENTRIES
    }

    fn take(
        &mut self,
        payment_id: &str,
        from: PaymentState,
        wanted: &'static str,
    ) -> Result<Redemption, OfferError> {
        let r = self
            .payments
            .get(payment_id)
            .ok_or_else(|| OfferError::UnknownPayment(payment_id.into()))?;
        if r.state != from {
            return Err(OfferError::WrongState {
                payment: payment_id.into(),
                state: r.state,
                wanted,
            });
        }
        Ok(r.clone())
    }

    fn set_state(&mut self, payment_id: &str, state: PaymentState) {
        if let Some(r) = self.payments.get_mut(payment_id) {
            r.state = state;
        }
    }

    /// Moves each line's amount in its offer's budget. The state machine
    /// only asks moves the budgets can make (an error here is ours, and is
    /// returned before anything moved: every line is checked first).
    fn move_budgets(
        &mut self,
        lines: &[Line],
        mv: fn(&mut Budget, i64) -> Result<(), BudgetError>,
    ) -> Result<(), OfferError> {
        let mut trial: Vec<(usize, Budget)> = Vec::with_capacity(lines.len());
        for l in lines {
            let i = self
                .entry(&l.entry)
                .ok_or_else(|| OfferError::UnknownOffer(l.entry.to_string()))?;
            let k = match trial.iter().position(|(j, _)| *j == i) {
                Some(k) => k,
                None => {
                    trial.push((i, self.entries[i].budget));
                    trial.len() - 1
                }
            };
            mv(&mut trial[k].1, l.applied.amount.minor)
                .map_err(|e| OfferError::Budget(l.entry.to_string(), e))?;
        }
        for (i, b) in trial {
            self.entries[i].budget = b;
        }
        Ok(())
    }

    fn uncount(&mut self, uses: &[UsageKey]) {
        for k in uses {
            if let Some(u) = self.usage.get_mut(k) {
                u.count = u.count.saturating_sub(1);
                if u.count == 0 {
                    self.usage.remove(k);
                }
            }
        }
    }

    /// Capture: the reserved benefits are spent, the points credited.
    pub fn capture(&mut self, payment_id: &str) -> Result<Settlement, OfferError> {
        let r = self.take(payment_id, PaymentState::Authorized, "capture")?;
        self.move_budgets(&r.lines, Budget::confirm)?;
        let mut points = 0;
        if let Some(acct) = &r.account
            && self.points.credit(acct, r.points).is_ok()
        {
            points = r.points;
        }
        if let Some(stored) = self.payments.get_mut(payment_id) {
            stored.state = PaymentState::Captured;
            stored.points = points;
        }
        Ok(Settlement {
            spent: r.lines.into_iter().map(|l| l.applied).collect(),
            points,
            account: r.account.map(String::from),
        })
    }

    /// Decline or reversal before capture: the reservations and uses return.
    pub fn release(&mut self, payment_id: &str) -> Result<Returned, OfferError> {
        let r = self.take(payment_id, PaymentState::Authorized, "release")?;
        self.move_budgets(&r.lines, Budget::release)?;
        self.uncount(&r.uses);
        self.set_state(payment_id, PaymentState::Released);
        Ok(Returned {
            returned: r.lines.into_iter().map(|l| l.applied).collect(),
            points: 0,
            points_unrecovered: 0,
            account: r.account.map(String::from),
        })
    }

    /// Refund or reversal after capture: the discounts return to their
    /// budgets, the cashback is clawed back, the uses and points return.
    pub fn refund(&mut self, payment_id: &str) -> Result<Returned, OfferError> {
        let r = self.take(payment_id, PaymentState::Captured, "refund")?;
        self.move_budgets(&r.lines, Budget::refund)?;
        self.uncount(&r.uses);
        let unrecovered = match &r.account {
            Some(acct) => self.points.reverse(acct, r.points),
            None => 0,
        };
        self.set_state(payment_id, PaymentState::Refunded);
        Ok(Returned {
            returned: r.lines.into_iter().map(|l| l.applied).collect(),
            points: r.points - unrecovered,
            points_unrecovered: unrecovered,
            account: r.account.map(String::from),
        })
    }

    /// Forgets captured, released and refunded payments authorized before
    /// `at_ms` (their refund window has closed); returns how many. A payment
    /// still authorized is kept: its reservation is still held.
    pub fn forget_before(&mut self, at_ms: i64) -> usize {
        let before = self.payments.len();
        self.payments
            .retain(|_, r| r.state == PaymentState::Authorized || r.at_ms >= at_ms);
        before - self.payments.len()
    }

    /// Spend per funder and currency (for the funders' ledger accounts and
    /// the operator's report).
    pub fn spend_by_funder(&self) -> Vec<FunderSpend> {
        let mut out: Vec<FunderSpend> = Vec::new();
        for e in &self.entries {
            let Some(currency) = e.offer.eligibility.currency else {
                continue;
            };
            match out
                .iter_mut()
                .find(|s| s.funder == e.offer.funder && s.currency == currency)
            {
                Some(s) => {
                    s.spent += e.budget.spent;
                    s.reserved += e.budget.reserved;
                }
                None => out.push(FunderSpend {
                    funder: e.offer.funder.clone(),
                    currency,
                    spent: e.budget.spent,
                    reserved: e.budget.reserved,
                }),
            }
        }
        out.sort_by(|a, b| (&a.funder, a.currency).cmp(&(&b.funder, b.currency)));
        out
    }
}
