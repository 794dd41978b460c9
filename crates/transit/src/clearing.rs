//! Clearing at the operator: the records gates upload, each with the TAC the
//! card made, are verified with the per-card TAC key derived from the
//! operator's master TAC key (the purse crate's crypto), deduplicated,
//! checked against each card's history, and totalled per gate and per day.
//!
//! A purchase's TAC covers amount, type, terminal, terminal sequence and
//! date-time, under a key only that card holds; so a record is identified by
//! card, terminal and terminal sequence ([`TxnId`]). The offline counter and
//! the balance before are not under the TAC: the same transaction uploaded
//! again with those changed is refused as [`Rejection::Altered`] (the copy
//! that arrived first is the one kept). A card whose
//! offline counter carries two different transactions, or whose balance falls
//! between two consecutive counters by more than the fare (loads only raise
//! it), is a clone: it goes on the hotlist. Its records still count: each is
//! a debit a card with the real keys made at a gate.
//!
//! T-Union (JT/T 978): a member operator's clearing ([`Clearing::with_tunion`])
//! also accepts the records of other members' cards its gates debited under
//! the national key index; their TAC is under the card's T-Union TAC key,
//! derived from the national master TAC key, and they are counted here (the
//! fare is this operator's; the money comes from the issuer's float). The
//! issuing operator's clearing then learns each such record
//! ([`Clearing::learn`]): filed into its card's history without being
//! counted, so the card's counters and balance chain stay whole there. A
//! card riding in two cities uses each offline counter once in all, so the
//! two cities' records never share a counter and the balance chain across
//! them holds: clone detection sees one card, not two.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use paytap_purse::card::purchase_tac_input;
use paytap_purse::crypto::{self, MAC_LEN, PurseKey};
use paytap_purse::records::{DateTime, SERIAL_LEN, TERMINAL_ID_LEN, TYPE_COMPOUND, TYPE_PURCHASE};
use paytap_purse::terminal::Receipt;
use paytap_types::Currency;
use subtle::ConstantTimeEq;

use crate::config::Operator;

/// Most records one upload batch may carry.
pub const MAX_BATCH: usize = 100_000;
/// Most per-card TAC keys kept derived; the cache starts over when full.
pub const MAX_CACHED_KEYS: usize = 1_000_000;

/// One purchase as the gate keeps and uploads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateRecord {
    /// Card number (application serial).
    pub serial: [u8; SERIAL_LEN],
    /// The card's offline counter the purchase used.
    pub counter: u16,
    /// Balance before the purchase, minor units.
    pub balance_before: u32,
    /// Amount, minor units.
    pub amount: u32,
    /// Transaction type (06 purchase, 09 compound).
    pub type_id: u8,
    /// Gate's terminal id.
    pub terminal: [u8; TERMINAL_ID_LEN],
    /// SAM's terminal sequence.
    pub terminal_seq: u32,
    /// Date and time of the purchase.
    pub at: DateTime,
    /// The card's TAC.
    pub tac: [u8; MAC_LEN],
}

impl GateRecord {
    /// The record of a completed purchase, at the gate's terminal and time.
    pub fn from_receipt(r: &Receipt, terminal: [u8; TERMINAL_ID_LEN], at: DateTime) -> Self {
        Self {
            serial: r.serial,
            counter: r.counter,
            balance_before: r.balance_after.saturating_add(r.amount),
            amount: r.amount,
            type_id: r.type_id,
            terminal,
            terminal_seq: r.terminal_seq,
            at,
            tac: r.tac,
        }
    }

    /// What identifies the transaction: card, terminal, terminal sequence.
    pub fn id(&self) -> TxnId {
        (self.serial, self.terminal, self.terminal_seq)
    }
}

/// A transaction's identity: card, terminal, terminal sequence.
pub type TxnId = ([u8; SERIAL_LEN], [u8; TERMINAL_ID_LEN], u32);

/// Why a record is refused (not counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The card number is not in this operator's range.
    #[error("card not issued by this operator")]
    NotOurCard,
    /// The transaction type is not a purchase.
    #[error("transaction type {0:02x} is not a purchase")]
    NotAPurchase(u8),
    /// The TAC does not verify: forged, or altered under the TAC.
    #[error("TAC invalid")]
    TacInvalid,
    /// The amount is above the balance before: the purse never does that.
    #[error("amount above the balance before")]
    AmountAboveBalance,
    /// The same transaction was uploaded before with another counter or balance.
    #[error("altered copy of a transaction already cleared")]
    Altered,
    /// The batch is larger than [`MAX_BATCH`].
    #[error("batch larger than {MAX_BATCH} records")]
    BatchTooLarge,
}

/// Why a card is put on the hotlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flag {
    /// Two different transactions on this offline counter.
    CounterReused(u16),
    /// The balance before this counter's transaction is below what the
    /// previous counter's transaction left.
    Unchained(u16),
}

/// What one upload batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Records counted for the first time.
    pub accepted: usize,
    /// Records already counted, ignored.
    pub duplicates: usize,
    /// Records refused: index in the batch and why.
    pub rejected: Vec<(usize, Rejection)>,
    /// Cards flagged by this batch.
    pub flagged: Vec<([u8; SERIAL_LEN], Flag)>,
}

/// Totals of accepted records, minor units of `currency`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Totals {
    /// The operator's currency.
    pub currency: Currency,
    /// Per gate (terminal id).
    pub per_gate: BTreeMap<[u8; TERMINAL_ID_LEN], u64>,
    /// Per day (BCD `YYYYMMDD` of the record).
    pub per_day: BTreeMap<[u8; 4], u64>,
    /// All accepted records.
    pub total: u64,
    /// Number of accepted records.
    pub records: u64,
}

/// What a member operator's clearing needs of T-Union.
#[derive(Debug)]
struct Interchange {
    /// The national master TAC key.
    tac_master: PurseKey,
    /// The other members (their card ranges).
    members: Vec<Operator>,
}

/// One operator's clearing.
#[derive(Debug)]
pub struct Clearing {
    operator: Operator,
    tac_master: PurseKey,
    tunion: Option<Interchange>,
    card_keys: HashMap<[u8; SERIAL_LEN], PurseKey>,
    cleared: HashMap<TxnId, GateRecord>,
    /// Records of our cards other members accepted: filed, not counted.
    learned: BTreeSet<TxnId>,
    cards: HashMap<[u8; SERIAL_LEN], BTreeMap<u16, Vec<GateRecord>>>,
    hotlist: BTreeMap<[u8; SERIAL_LEN], BTreeSet<Flag>>,
    totals: Totals,
}

impl Clearing {
    /// A clearing for `operator` with its master TAC key (from the keyring).
    pub fn new(operator: Operator, tac_master: PurseKey) -> Self {
        let totals = Totals {
            currency: operator.currency,
            per_gate: BTreeMap::new(),
            per_day: BTreeMap::new(),
            total: 0,
            records: 0,
        };
        Self {
            operator,
            tac_master,
            tunion: None,
            card_keys: HashMap::new(),
            cleared: HashMap::new(),
            learned: BTreeSet::new(),
            cards: HashMap::new(),
            hotlist: BTreeMap::new(),
            totals,
        }
    }

    /// The clearing of a T-Union member: it also accepts the member cards
    /// of `members` (the other members; this operator is left out) under
    /// the national master TAC key, and learns its own cards' records that
    /// other members accepted.
    pub fn with_tunion(mut self, tac_master: PurseKey, members: Vec<Operator>) -> Self {
        assert!(self.operator.tunion, "only a member clears T-Union cards");
        let members = members
            .into_iter()
            .filter(|m| m.tunion && m.id != self.operator.id)
            .collect();
        self.tunion = Some(Interchange {
            tac_master,
            members,
        });
        self
    }

    /// The member operator that issued this card, if it is another
    /// member's card this clearing accepts.
    pub fn issuer_of(&self, serial: &[u8; SERIAL_LEN]) -> Option<&Operator> {
        let t = self.tunion.as_ref()?;
        t.members.iter().find(|m| m.owns_card(serial))
    }

    /// Clears one uploaded batch. Uploading it again changes nothing.
    pub fn submit(&mut self, batch: &[GateRecord]) -> BatchOutcome {
        let mut out = BatchOutcome::default();
        if batch.len() > MAX_BATCH {
            out.rejected.push((0, Rejection::BatchTooLarge));
            return out;
        }
        for (i, r) in batch.iter().enumerate() {
            match self.clear_one(r, &mut out.flagged) {
                Ok(true) => out.accepted += 1,
                Ok(false) => out.duplicates += 1,
                Err(why) => out.rejected.push((i, why)),
            }
        }
        out
    }

    /// Clears one record: `Ok(true)` counted, `Ok(false)` a duplicate; the
    /// cards it flags are pushed onto `flagged`. [`Clearing::submit`] is this
    /// over a batch; a caller that keeps the outcome per record (a durable
    /// host writing the accepted ones) calls it directly.
    pub fn clear_one(
        &mut self,
        r: &GateRecord,
        flagged: &mut Vec<([u8; SERIAL_LEN], Flag)>,
    ) -> Result<bool, Rejection> {
        if let Some(seen) = self.cleared.get(&r.id()) {
            if seen == r {
                return Ok(false);
            }
            self.verify(r)?;
            return Err(Rejection::Altered);
        }
        self.verify(r)?;
        for flag in self.file(r) {
            if self.hotlist.entry(r.serial).or_default().insert(flag) {
                flagged.push((r.serial, flag));
            }
        }
        self.count(r);
        Ok(true)
    }

    /// Range, type, TAC and balance checks: our own card's TAC under our
    /// master TAC key, another member's card's under the national one.
    fn verify(&mut self, r: &GateRecord) -> Result<(), Rejection> {
        let master = if self.operator.owns_card(&r.serial) {
            self.tac_master.clone()
        } else if let (Some(_), Some(t)) = (self.issuer_of(&r.serial), &self.tunion) {
            t.tac_master.clone()
        } else {
            return Err(Rejection::NotOurCard);
        };
        self.verify_tac(r, &master)
    }

    /// Type, TAC (under the card key `master` derives) and balance checks.
    fn verify_tac(&mut self, r: &GateRecord, master: &PurseKey) -> Result<(), Rejection> {
        if r.type_id != TYPE_PURCHASE && r.type_id != TYPE_COMPOUND {
            return Err(Rejection::NotAPurchase(r.type_id));
        }
        let data = purchase_tac_input(r.amount, r.type_id, &r.terminal, r.terminal_seq, &r.at);
        if !bool::from(crypto::tac(self.card_key(master, &r.serial), &data).ct_eq(&r.tac)) {
            return Err(Rejection::TacInvalid);
        }
        if r.amount > r.balance_before {
            return Err(Rejection::AmountAboveBalance);
        }
        Ok(())
    }

    /// The card's TAC key under `master`, derived once and kept (zeroized
    /// on drop). A card's TAC master is always the same here: our own
    /// cards' under ours, other members' under the national one (their
    /// number ranges are disjoint); a card learned from another member is
    /// one of ours under the national key, kept apart by [`Clearing::learn`].
    fn card_key(&mut self, master: &PurseKey, serial: &[u8; SERIAL_LEN]) -> &PurseKey {
        if self.card_keys.len() >= MAX_CACHED_KEYS && !self.card_keys.contains_key(serial) {
            self.card_keys.clear();
        }
        self.card_keys
            .entry(*serial)
            .or_insert_with(|| crypto::derive_card_key(master, serial))
    }

    /// Adds the record to its card's history; the flags it raises.
    fn file(&mut self, r: &GateRecord) -> Vec<Flag> {
        let history = self.cards.entry(r.serial).or_default();
        let mut flags = Vec::new();
        let same = history.entry(r.counter).or_default();
        if !same.is_empty() {
            flags.push(Flag::CounterReused(r.counter));
        }
        same.push(*r);
        let prev = r.counter.checked_sub(1).and_then(|c| history.get(&c));
        if prev.is_some_and(|p| p.iter().any(|p| !chains(p, r))) {
            flags.push(Flag::Unchained(r.counter));
        }
        let next = r.counter.checked_add(1);
        let next_recs = next.and_then(|c| history.get(&c).map(|n| (c, n)));
        if let Some((c, n)) = next_recs
            && n.iter().any(|n| !chains(r, n))
        {
            flags.push(Flag::Unchained(c));
        }
        self.cleared.insert(r.id(), *r);
        flags
    }

    /// Takes back a record this clearing (or an earlier one of the same
    /// operator) accepted, as a host rebuilds its state from its tables: no
    /// TAC check (it passed when the record was accepted), filed into the
    /// card's history and counted. Returns the flags it raises again; a
    /// record already here is ignored.
    pub fn restore(&mut self, r: &GateRecord) -> Vec<Flag> {
        if self.cleared.contains_key(&r.id()) {
            return Vec::new();
        }
        let flags = self.file(r);
        for flag in &flags {
            self.hotlist.entry(r.serial).or_default().insert(*flag);
        }
        self.count(r);
        flags
    }

    /// Files a record of one of our own cards that another member's gate
    /// debited under the T-Union key and that member's clearing accepted:
    /// its TAC checked under the national key, filed into the card's
    /// history (counters, balance chain, clone flags) but not counted (the
    /// fare is the accepting member's). Returns the flags it raises; a
    /// record already here is ignored. A restart learns the same records
    /// again: they are facts, not money.
    pub fn learn(&mut self, r: &GateRecord) -> Result<Vec<Flag>, Rejection> {
        let Some(t) = &self.tunion else {
            return Err(Rejection::NotOurCard);
        };
        if !self.operator.owns_card(&r.serial) {
            return Err(Rejection::NotOurCard);
        }
        if self.cleared.contains_key(&r.id()) {
            return Ok(Vec::new());
        }
        let data = purchase_tac_input(r.amount, r.type_id, &r.terminal, r.terminal_seq, &r.at);
        let key = crypto::derive_card_key(&t.tac_master, &r.serial);
        if !bool::from(crypto::tac(&key, &data).ct_eq(&r.tac)) {
            return Err(Rejection::TacInvalid);
        }
        let flags = self.file(r);
        for flag in &flags {
            self.hotlist.entry(r.serial).or_default().insert(*flag);
        }
        self.learned.insert(r.id());
        Ok(flags)
    }

    fn count(&mut self, r: &GateRecord) {
        let t = &mut self.totals;
        let amount = u64::from(r.amount);
        *t.per_gate.entry(r.terminal).or_default() += amount;
        *t.per_day.entry(r.at.date).or_default() += amount;
        t.total += amount;
        t.records += 1;
    }

    /// Totals of everything accepted so far.
    pub fn totals(&self) -> &Totals {
        let t = &self.totals;
        assert_eq!(t.per_gate.values().sum::<u64>(), t.total, "per-gate totals");
        assert_eq!(t.per_day.values().sum::<u64>(), t.total, "per-day totals");
        assert_eq!(
            t.records as usize + self.learned.len(),
            self.cleared.len(),
            "records counted once, learned ones not at all"
        );
        t
    }

    /// Accepted records, in no particular order (not those learned from
    /// other members).
    pub fn accepted(&self) -> impl Iterator<Item = &GateRecord> {
        self.cleared
            .values()
            .filter(|r| !self.learned.contains(&r.id()))
    }

    /// The hotlist: flagged cards and why.
    pub fn hotlist(&self) -> &BTreeMap<[u8; SERIAL_LEN], BTreeSet<Flag>> {
        &self.hotlist
    }

    /// Whether this card is hotlisted.
    pub fn is_hotlisted(&self, serial: &[u8; SERIAL_LEN]) -> bool {
        self.hotlist.contains_key(serial)
    }
}

/// Whether `next` (the following counter) can follow `prev`: its balance
/// before is at least what `prev` left (a load may have come between).
fn chains(prev: &GateRecord, next: &GateRecord) -> bool {
    let left = prev.balance_before.saturating_sub(prev.amount);
    next.balance_before >= left
}
