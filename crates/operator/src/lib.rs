//! paytap-operator: a transit operator's host. It owns the durable side of
//! clearing what gates upload and settling it on the ledger; the checks
//! themselves are the sans-IO [`paytap_transit::clearing`].
//!
//! * **Uploads** ([`OperatorHost::upload`]): a gate's batch of records, each
//!   with the TAC the card made, under a batch id the gate chose. The batch
//!   is cleared in memory by [`Clearing::clear_one`] (TAC, duplicate,
//!   altered, clone) and everything it decided is written in **one database
//!   transaction**: the batch row with its outcome, the accepted records
//!   (unique by card, terminal and terminal sequence), the rejected ones
//!   with their reason, the cards it flagged onto the hotlist. The same
//!   batch id again with the same records answers the stored outcome and
//!   changes nothing; with other records it is [`OperatorError::BatchConflict`].
//!   A batch whose transaction did not commit (a crash, a failed commit, a
//!   caller that dropped the future) left nothing behind: the in-memory
//!   clearing is then marked stale and rebuilt from the tables before the
//!   next call, so the retry is cleared as if for the first time.
//! * **Hotlist** ([`OperatorHost::report_lost`], [`OperatorHost::hotlist`]):
//!   cards clearing flagged as clones and cards reported lost.
//! * **Settlement** ([`OperatorHost::settle`]): every accepted record
//!   belongs to the business day ([`Day`]) its batch was cleared on. Once a
//!   day is over, settling it moves the sum of its fares from the operator's
//!   float account (the riders' stored value, a liability) to its revenue
//!   account as one ledger transfer whose id (and reference) is made of the
//!   operator and the day; the per-gate report is computed in the same
//!   database transaction and sums exactly to it. Settling again repeats the
//!   same transfer, which the ledger answers from its idempotency record.
//!
//! * **T-Union** ([`tunion`]): a member's host ([`OperatorHost::with_tunion`])
//!   clears the records of other members' cards its gates debited under the
//!   national key (TAC under the national TAC key), keeps each with its
//!   issuer, and writes it in the same transaction as an interchange row
//!   for the issuer; the issuer learns those rows into its cards' histories
//!   (not its sales). Settling a day then moves the foreign cards' fares
//!   from each issuer's float to this operator's revenue, one transfer per
//!   issuer beside the day's own; issued cards carry the national keys.
//! * **Issue** ([`OperatorHost::issue`]): the next card number of the
//!   operator's range personalised for a device (per-card keys derived from
//!   the master keys), idempotent by an issue id the caller chose.
//! * **Load** ([`OperatorHost::load`]): the card's MAC1 from INITIALIZE FOR
//!   LOAD checked, the rider's bank card paid through the network with the
//!   operator as merchant ([`pay`]), the money moved onto the float, MAC2
//!   answered only then; idempotent by a load id the caller chose. A load
//!   that failed after payment is completed in a new card session or
//!   refunded ([`OperatorHost::refund_load`]), never lost or paid twice.
//! * **Move** ([`moves`]): a lost card's balance loaded onto a card on
//!   another device, once every gate confirmed the hotlist with nothing
//!   left to upload, minus what gates uploaded as spent; once per card.
//! * **Ordered moves** ([`move_orders`]): the rider, through the wallet,
//!   orders a lost card's balance to a card on another device; that
//!   device's next sync asks for it and completes it as a move.
//! * **Rider's view** ([`rider`]): the cards issued to a device with the
//!   balance, trips and top-ups the operator knows of, and every card of a
//!   device reported lost put on the hotlist at once, as the wallet asks.
//! * **HTTP** ([`api`]): all of them behind one small JSON API with the
//!   operator in the path, served by `paytap up`; gates and the back office
//!   sign their requests ([`auth`]), a device's loads carry its card's MAC1.
//!
//! Card numbers are never at rest in clear: the tables name a card by a
//! keyed fingerprint and keep its number sealed ([`cards`]).
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod bench;
pub mod cards;
pub mod day;
mod issue;
mod load;
pub mod move_orders;
pub mod moves;
pub mod pay;
pub mod rider;
pub mod schema;
mod settle;
pub mod tunion;
mod upload;
pub mod wire;

use std::collections::HashMap;
use std::sync::Arc;

use paytap_ledger::{AccountFlags, AccountSpec, Ledger, LedgerError};
use paytap_purse::records::SERIAL_LEN;
use paytap_purse::{MasterKeys, PurseKey};
use paytap_store::{Db, StoreError};
use paytap_transit::Clearing;
use paytap_transit::clearing::Flag;
use paytap_transit::config::Operator;
use paytap_types::Clock;
use serde::Serialize;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

use cards::{CardCipher, CardSealError};
pub use day::Day;
pub use issue::IssuedCard;
pub use load::{LoadAnswer, LoadRequest, Refunded};
use pay::{LoadPayments, PaymentFailure};
pub use settle::{GateTotal, InterchangeTotal, Settlement};
pub use tunion::TunionMember;
pub use upload::{BatchResult, RejectedRecord};

/// Longest batch id a gate may choose.
pub const MAX_BATCH_ID_LEN: usize = 64;
/// Longest issue, load or device id a caller may choose.
pub const MAX_ID_LEN: usize = 64;

/// Everything that can go wrong at the operator's host.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The batch id is empty, too long or not printable ASCII.
    #[error("batch id must be 1 to {MAX_BATCH_ID_LEN} printable ASCII characters")]
    BatchId,
    /// The batch carries more records than one upload may.
    #[error("batch of {0} records is larger than {max}", max = paytap_transit::clearing::MAX_BATCH)]
    BatchTooLarge(usize),
    /// The batch id was already used for other records.
    #[error("batch {0:?} was already uploaded with other records")]
    BatchConflict(String),
    /// An issue, load or device id is empty, too long or not printable
    /// ASCII; names which.
    #[error("{0} must be 1 to {MAX_ID_LEN} printable ASCII characters")]
    InvalidId(&'static str),
    /// The card is not in this operator's range.
    #[error("card not issued by this operator")]
    NotOurCard,
    /// Every card number of the operator's range is issued.
    #[error("the operator's card number range is exhausted")]
    RangeExhausted,
    /// The load id was already used for another load.
    #[error("load {0:?} was already used for another load")]
    LoadConflict(String),
    /// The issue id was already used for another device.
    #[error("issue {0:?} was already used for another device")]
    IssueConflict(String),
    /// The device already holds a live card of this operator (named): one
    /// card per city per device.
    #[error("the device already holds card {0} of this operator: one card per city per device")]
    DeviceHasCard(String),
    /// A load of nothing.
    #[error("a load must be of at least one minor unit")]
    ZeroLoad,
    /// The card's balance after the load would pass the operator's maximum.
    #[error("the balance after the load would exceed the maximum of {max}")]
    AboveMaximum {
        /// The operator's maximum balance, minor units.
        max: u32,
    },
    /// Another top-up of the card is unfinished (named): it must be
    /// completed or refunded first.
    #[error("top-up {0:?} of this card is unfinished: complete or refund it first")]
    LoadPending(String),
    /// The card already took this load.
    #[error("the card already took load {0:?}")]
    AlreadyCredited(String),
    /// The load was refunded: it is never answered again.
    #[error("load {0:?} was refunded")]
    LoadRefunded(String),
    /// No load has this id.
    #[error("no load {0:?}")]
    UnknownLoad(String),
    /// The card's online counter is behind the load's: not this card's
    /// session.
    #[error("the card's online counter is behind the load's")]
    StaleCounter,
    /// The payment was not approved.
    #[error(transparent)]
    Payment(#[from] PaymentFailure),
    /// A moved balance's load is completed, never refunded.
    #[error("load {0:?} carries a moved balance: it is completed, not refunded")]
    NotRefundable(String),
    /// The lost card's balance cannot move yet: gates (this many) have not
    /// downloaded the hotlist with nothing left to upload since the loss.
    #[error("{0} gate(s) have not yet confirmed the hotlist with everything uploaded")]
    MoveWaiting(usize),
    /// The move's amount is not the lost card's balance.
    #[error("the lost card's balance is {balance}, not the amount asked")]
    MoveAmount {
        /// What the card holds at the operator, minor units.
        balance: u32,
    },
    /// The card is not reported lost.
    #[error("the card is not reported lost")]
    NotLost,
    /// The lost card's balance was moved already (by another move id).
    #[error("the lost card's balance was moved already")]
    AlreadyMoved,
    /// No card of this operator has this id (fingerprint).
    #[error("no card {0:?} at this operator")]
    UnknownCard(String),
    /// A move's card is not one it may go to: hotlisted, the lost card
    /// itself, or not the card the move was ordered to.
    #[error("{0}")]
    MoveTarget(&'static str),
    /// The lost card's balance is already ordered to another card.
    #[error("the lost card's balance is already ordered to another card")]
    MoveOrdered,
    /// No move was ordered under this id.
    #[error("no move {0:?} was ordered")]
    UnknownMove(String),
    /// The host has no way to the card network.
    #[error("card payments are not available at this host")]
    PaymentsUnavailable,
    /// The operator charges a card fee (minor units) and the issue carries
    /// no bank card to pay it.
    #[error(
        "issuing a card costs a fee of {0} (minor units): the issue must carry a bank card payment"
    )]
    FeeUnpaid(u32),
    /// The card is on the hotlist: it is neither loaded nor accepted.
    #[error("the card is on the hotlist")]
    Hotlisted,
    /// The card's MAC1 does not verify: not a card of ours, or altered.
    #[error("the card's MAC1 does not verify")]
    Mac1Invalid,
    /// The business day is not over yet: records may still arrive for it.
    #[error("business day {0} is not over")]
    DayOpen(Day),
    /// The ledger refused or failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The database failed; nothing of the request was committed.
    #[error("operator store: {0}")]
    Store(#[from] StoreError),
    /// A sealed card number did not open, or a stored row is not what this
    /// code writes.
    #[error("operator data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for OperatorError {
    fn from(e: sqlx::Error) -> Self {
        OperatorError::Store(StoreError::Sql(e))
    }
}

impl From<CardSealError> for OperatorError {
    fn from(e: CardSealError) -> Self {
        OperatorError::Corrupt(e.to_string())
    }
}

/// The keys a host needs, from the vault's keyring.
pub struct OperatorKeys {
    /// The operator's master load, purchase and TAC keys (per-card keys
    /// derive from them).
    pub masters: MasterKeys,
    /// The key card numbers at rest are fingerprinted and sealed under.
    pub data_key: Zeroizing<[u8; 32]>,
}

/// The operator's three ledger accounts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Accounts {
    /// What riders paid in cash at the operator's own counters: debited by
    /// each such load, which credits the float. (A load paid by bank card
    /// draws on the operator's merchant account instead.)
    pub receipts: String,
    /// The riders' stored value: a liability, credited by loads, debited
    /// by settlement.
    pub float: String,
    /// What riders rode: credited by settlement.
    pub revenue: String,
}

impl Accounts {
    /// The stable account ids of operator `id`.
    pub fn of(id: &str) -> Accounts {
        Accounts {
            receipts: format!("transit:{id}:receipts"),
            float: format!("transit:{id}:float"),
            revenue: format!("transit:{id}:revenue"),
        }
    }
}

/// Why a card is on the hotlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "reason", content = "counter", rename_all = "snake_case")]
pub enum HotlistReason {
    /// Its holder reported it lost (with its device).
    Lost,
    /// Clearing saw two different transactions on this offline counter.
    CounterReused(u16),
    /// Clearing saw the balance fall between this counter and the one
    /// before by more than the fare.
    Unchained(u16),
}

impl HotlistReason {
    fn from_flag(f: Flag) -> Self {
        match f {
            Flag::CounterReused(c) => HotlistReason::CounterReused(c),
            Flag::Unchained(c) => HotlistReason::Unchained(c),
        }
    }

    /// The stored form: reason code and counter (0 for `Lost`).
    fn code(self) -> (&'static str, i64) {
        match self {
            HotlistReason::Lost => ("lost", 0),
            HotlistReason::CounterReused(c) => ("counter_reused", i64::from(c)),
            HotlistReason::Unchained(c) => ("unchained", i64::from(c)),
        }
    }

    fn from_code(reason: &str, counter: i64) -> Option<Self> {
        let c = u16::try_from(counter).ok();
        match reason {
            "lost" => Some(HotlistReason::Lost),
            "counter_reused" => c.map(HotlistReason::CounterReused),
            "unchained" => c.map(HotlistReason::Unchained),
            _ => None,
        }
    }
}

/// One hotlisted card: what a gate refuses.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct HotlistEntry {
    /// The card number (application serial), BCD.
    #[serde(with = "hex_serial")]
    pub serial: [u8; SERIAL_LEN],
    /// Why, oldest reason first.
    pub reasons: Vec<HotlistReason>,
}

impl std::fmt::Debug for HotlistEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The card number masked: its last four digits.
        f.debug_struct("HotlistEntry")
            .field("serial", &format!("…{}", &hex::encode(self.serial)[16..]))
            .field("reasons", &self.reasons)
            .finish()
    }
}

mod hex_serial {
    pub fn serialize<S: serde::Serializer>(s: &[u8; 10], ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&hex::encode(s))
    }
}

/// What the host keeps in memory: the clearing state the tables imply.
struct State {
    clearing: Clearing,
    /// Cards with a row in `operator_cards`: number to fingerprint.
    cards: HashMap<[u8; SERIAL_LEN], String>,
    /// The `seq` of the next accepted record.
    next_seq: i64,
    /// The newest settled business day.
    last_settled: Option<Day>,
    /// Set while a batch is applied in memory and not yet committed: if it
    /// stays set, the tables are the truth and the state is rebuilt.
    stale: bool,
    /// Per accepting member, the `seq` of the newest interchange row of
    /// our cards learned into the clearing.
    learned: HashMap<String, i64>,
}

/// One transit operator's host, over one database and the ledger.
pub struct OperatorHost {
    db: Db,
    ledger: Ledger,
    operator: Operator,
    tac_master: PurseKey,
    masters: MasterKeys,
    cipher: CardCipher,
    clock: Arc<dyn Clock>,
    accounts: Accounts,
    state: Mutex<State>,
    payments: Option<Arc<dyn LoadPayments>>,
    in_flight: load::InFlight,
    tunion: Option<tunion::Member>,
}

impl std::fmt::Debug for OperatorHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorHost")
            .field("operator", &self.operator.id)
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl OperatorHost {
    /// Migrates this crate's tables, creates the operator's float and
    /// revenue accounts on the ledger if absent, and rebuilds the clearing
    /// state from the tables.
    pub async fn open(
        db: Db,
        ledger: Ledger,
        operator: Operator,
        keys: OperatorKeys,
        clock: Arc<dyn Clock>,
    ) -> Result<OperatorHost, OperatorError> {
        db.migrate(schema::MIGRATIONS).await?;
        let accounts = Accounts::of(&operator.id);
        create_accounts(&ledger, &operator, &accounts).await?;
        let cipher = CardCipher::new(&keys.data_key);
        let placeholder = State {
            clearing: Clearing::new(operator.clone(), keys.masters.tac.clone()),
            cards: HashMap::new(),
            next_seq: 0,
            last_settled: None,
            stale: true,
            learned: HashMap::new(),
        };
        let host = OperatorHost {
            db,
            ledger,
            operator,
            tac_master: keys.masters.tac.clone(),
            masters: keys.masters,
            cipher,
            clock,
            accounts,
            state: Mutex::new(placeholder),
            payments: None,
            in_flight: load::InFlight::default(),
            tunion: None,
        };
        {
            let mut state = host.state.lock().await;
            host.fresh(&mut state).await?;
        }
        Ok(host)
    }

    /// The host with a way to the card network, for top-ups paid by bank
    /// card.
    pub fn with_payments(mut self, payments: Arc<dyn LoadPayments>) -> OperatorHost {
        self.payments = Some(payments);
        self
    }

    /// The operator this host clears for.
    pub fn operator(&self) -> &Operator {
        &self.operator
    }

    /// The operator's ledger accounts.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// The database this host's tables are in.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The business day a batch cleared now belongs to: today's, or the
    /// day after the newest settled day if the clock says otherwise (a
    /// settled day never takes another record).
    fn business_day(&self, state: &State) -> Day {
        let today = Day::of_millis(self.clock.now_millis());
        match state.last_settled {
            Some(s) if s >= today => s.next(),
            _ => today,
        }
    }

    /// Rebuilds the in-memory clearing from the tables if it is stale,
    /// then learns what other members cleared of our cards since.
    async fn fresh(&self, state: &mut State) -> Result<(), OperatorError> {
        if state.stale {
            *state = self.rebuild().await?;
        }
        self.learn_interchange(state).await
    }

    /// A clearing for this operator: a member's with the national TAC key.
    fn new_clearing(&self) -> Clearing {
        let c = Clearing::new(self.operator.clone(), self.tac_master.clone());
        match &self.tunion {
            Some(t) => c.with_tunion(t.masters.tac.clone(), t.members.clone()),
            None => c,
        }
    }

    /// The clearing state the tables imply: every accepted record restored
    /// in the order it was accepted.
    async fn rebuild(&self) -> Result<State, OperatorError> {
        let op = self.operator.id.as_str();
        let mut clearing = self.new_clearing();
        let cards = self.load_cards().await?;
        let by_card: HashMap<&str, [u8; SERIAL_LEN]> =
            cards.iter().map(|(s, fp)| (fp.as_str(), *s)).collect();
        let rows: Vec<upload::RecordRow> = sqlx::query_as(
            "SELECT card, terminal, terminal_seq, counter, balance_before, amount, type_id, at, \
             tac FROM operator_records WHERE operator = $1 ORDER BY seq",
        )
        .bind(op)
        .fetch_all(self.db.pool())
        .await?;
        let count = rows.len();
        for row in rows {
            let serial = by_card.get(row.0.as_str()).copied().ok_or_else(|| {
                OperatorError::Corrupt(format!("record of unknown card {}", row.0))
            })?;
            clearing.restore(&upload::record_from_row(serial, &row)?);
        }
        let (next_seq,): (Option<i64>,) = sqlx::query_as(
            "SELECT CAST(MAX(seq) AS BIGINT) FROM operator_records WHERE operator = $1",
        )
        .bind(op)
        .fetch_one(self.db.pool())
        .await?;
        let last_settled = settle::last_settled(&self.db, op).await?;
        tracing::info!(
            operator = op,
            records = count,
            "clearing state rebuilt from the tables"
        );
        Ok(State {
            clearing,
            cards,
            next_seq: next_seq.map_or(0, |s| s + 1),
            last_settled,
            stale: false,
            learned: HashMap::new(),
        })
    }

    async fn load_cards(&self) -> Result<HashMap<[u8; SERIAL_LEN], String>, OperatorError> {
        let op = self.operator.id.as_str();
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT card, sealed FROM operator_cards WHERE operator = $1")
                .bind(op)
                .fetch_all(self.db.pool())
                .await?;
        let mut cards = HashMap::with_capacity(rows.len());
        for (card, sealed) in rows {
            let serial = self.cipher.open(op, &card, &sealed)?;
            cards.insert(serial, card);
        }
        Ok(cards)
    }

    /// Puts a card its holder reported lost on the hotlist (idempotent).
    pub async fn report_lost(&self, serial: &[u8; SERIAL_LEN]) -> Result<(), OperatorError> {
        if !self.operator.owns_card(serial) {
            tracing::warn!(operator = %self.operator.id, "lost report for a card not ours");
            return Err(OperatorError::NotOurCard);
        }
        let op = self.operator.id.as_str();
        let card = self.cipher.fingerprint(serial);
        let sealed = self.cipher.seal(op, &card, serial)?;
        let (reason, counter) = HotlistReason::Lost.code();
        let mut tx = self.db.begin_write().await?;
        let backend = self.db.backend();
        use paytap_store::batch::Arg;
        schema::CARDS
            .execute(
                &mut tx,
                backend,
                &[vec![
                    Arg::Text(op.into()),
                    Arg::Text(card.clone()),
                    Arg::Text(sealed),
                ]],
            )
            .await?;
        schema::HOTLIST
            .execute(
                &mut tx,
                backend,
                &[vec![
                    Arg::Text(op.into()),
                    Arg::Text(card),
                    Arg::Text(reason.into()),
                    Arg::I64(counter),
                    Arg::I64(self.clock.now_millis()),
                ]],
            )
            .await?;
        tx.commit().await?;
        tracing::info!(operator = op, "card reported lost: hotlisted");
        Ok(())
    }

    /// The hotlist: every flagged or lost card with its reasons, by
    /// fingerprint order (what a gate downloads).
    pub async fn hotlist(&self) -> Result<Vec<HotlistEntry>, OperatorError> {
        let op = self.operator.id.as_str();
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT h.card, c.sealed, h.reason, h.counter FROM operator_hotlist h \
             JOIN operator_cards c ON c.operator = h.operator AND c.card = h.card \
             WHERE h.operator = $1 ORDER BY h.card, h.created_at, h.reason, h.counter",
        )
        .bind(op)
        .fetch_all(self.db.pool())
        .await?;
        let mut out: Vec<HotlistEntry> = Vec::new();
        let mut last_card = String::new();
        for (card, sealed, reason, counter) in rows {
            let reason = HotlistReason::from_code(&reason, counter)
                .ok_or_else(|| OperatorError::Corrupt(format!("hotlist reason {reason:?}")))?;
            if card != last_card || out.is_empty() {
                let serial = self.cipher.open(op, &card, &sealed)?;
                out.push(HotlistEntry {
                    serial,
                    reasons: Vec::new(),
                });
                last_card = card;
            }
            if let Some(entry) = out.last_mut() {
                entry.reasons.push(reason);
            }
        }
        Ok(out)
    }

    /// Whether the card is on the hotlist.
    pub async fn is_hotlisted(&self, serial: &[u8; SERIAL_LEN]) -> Result<bool, OperatorError> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM operator_hotlist WHERE operator = $1 AND card = $2",
        )
        .bind(self.operator.id.as_str())
        .bind(self.cipher.fingerprint(serial))
        .fetch_one(self.db.pool())
        .await?;
        Ok(n > 0)
    }
}

/// The operator's float and revenue accounts, created if absent. The float
/// carries no balance constraint: what cards spent at gates under the
/// operator's keys is a fact clearing records, and a settlement refused
/// for funds would be refused for good under its id (ledger outcomes are
/// final); a float below zero is for reconciliation to explain.
async fn create_accounts(
    ledger: &Ledger,
    operator: &Operator,
    accounts: &Accounts,
) -> Result<(), OperatorError> {
    for (id, what) in [
        (&accounts.receipts, "receipts"),
        (&accounts.float, "float"),
        (&accounts.revenue, "revenue"),
    ] {
        ledger
            .create_account(AccountSpec::new(
                id.clone(),
                format!("{} transit {what}", operator.name),
                operator.currency,
                AccountFlags::None,
            ))
            .await?;
    }
    Ok(())
}

/// Checks a caller's issue, load or device id (`what` names it).
fn check_id(what: &'static str, id: &str) -> Result<(), OperatorError> {
    let printable = id.bytes().all(|b| b.is_ascii_graphic());
    if id.is_empty() || id.len() > MAX_ID_LEN || !printable {
        tracing::warn!(what, len = id.len(), "id refused");
        return Err(OperatorError::InvalidId(what));
    }
    Ok(())
}

/// Checks a gate's batch id.
fn check_batch_id(id: &str) -> Result<(), OperatorError> {
    let printable = id.bytes().all(|b| b.is_ascii_graphic());
    if id.is_empty() || id.len() > MAX_BATCH_ID_LEN || !printable {
        tracing::warn!(len = id.len(), "batch id refused");
        return Err(OperatorError::BatchId);
    }
    Ok(())
}
