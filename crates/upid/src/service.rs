//! [`UpiSwitch`]: the core driven, its events logged, its timers kept.

use crate::banks::Banks;
use crate::directory::{self, DirectoryEntry};
use crate::log;
use paytap_store::{Db, StoreError};
use paytap_types::Clock;
use paytap_upi::Vpa;
use paytap_upi::xml::{
    Message, OrgId, Party, PartyType, ReqChkTxn, ReqPay, RespChkTxn, RespPay, ResultCode, TxnId,
    TxnType, XmlError,
};
use paytap_upiswitch::{Action, Dest, Event, Outcome, PayerFacts, State, Switch, Timer};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::Mutex;

/// India Standard Time's offset from UTC (+05:30): the day the P2P daily
/// limit counts is India's day.
const IST_OFFSET_MS: i64 = 19_800_000;
/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;
/// How often [`UpiSwitch::run_timers`] looks for due timers.
pub const TIMER_TICK_MS: u64 = 1_000;

/// What went wrong in the service (the core's own refusals are answers).
#[derive(Debug, thiserror::Error)]
pub enum UpidError {
    /// The database failed.
    #[error("switch store: {0}")]
    Store(#[from] StoreError),
    /// A message could not be written as XML.
    #[error("switch message: {0}")]
    Xml(#[from] XmlError),
    /// Bad input from a caller.
    #[error("invalid: {0}")]
    Invalid(&'static str),
    /// Stored data this code did not write.
    #[error("stored switch data is inconsistent: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for UpidError {
    fn from(e: sqlx::Error) -> Self {
        UpidError::Store(StoreError::Sql(e))
    }
}

/// A merchant's collect request waiting for its payer, as the payer's PSP
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectRequest {
    /// The transaction.
    pub txn_id: TxnId,
    /// Who is asked to pay.
    pub payer: Vpa,
    /// The merchant.
    pub payee: Vpa,
    /// The merchant's name, as it sent it.
    pub payee_name: Option<String>,
    /// The merchant's category code.
    pub mcc: String,
    /// The amount, in paise.
    pub amount_paise: u64,
    /// The merchant's note.
    pub note: Option<String>,
    /// The merchant's reference (order or bill).
    pub reference: Option<String>,
    /// When it expires (Unix ms).
    pub expires_at: i64,
}

/// The central UPI switch over one database and the banks `B`.
pub struct UpiSwitch<B: Banks> {
    db: Db,
    banks: B,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

impl<B: Banks> std::fmt::Debug for UpiSwitch<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpiSwitch").finish_non_exhaustive()
    }
}

/// The core and what drives it; one event at a time.
struct Inner {
    core: Switch,
    /// When the switch first received each transaction (Unix ms): the day
    /// the daily limit counts it in is the switch's, not the PSP's `Txn@ts`.
    admitted: HashMap<TxnId, i64>,
    next_seq: i64,
    timers: Timers,
}

/// Each transaction's one live timer: a new one outlives the last, and a
/// finished transaction has none.
#[derive(Default)]
struct Timers {
    /// `(at, txn id, epoch)`, soonest first.
    due: BTreeSet<(i64, TxnId, u32)>,
    /// The live timer's key in `due`, by transaction.
    by_txn: HashMap<TxnId, (i64, u32)>,
}

impl Timers {
    /// Follows the timers `actions` set and the transactions they finish.
    fn keep(&mut self, actions: &[Action]) {
        for a in actions {
            match a {
                Action::SetTimer { at, timer } => {
                    self.remove(&timer.txn_id);
                    let id = timer.txn_id.clone();
                    self.due.insert((*at, id.clone(), timer.epoch));
                    self.by_txn.insert(id, (*at, timer.epoch));
                }
                Action::Finished { txn_id, .. } => self.remove(txn_id),
                Action::Send { .. } => {}
            }
        }
    }

    fn remove(&mut self, id: &TxnId) {
        if let Some((at, epoch)) = self.by_txn.remove(id) {
            self.due.remove(&(at, id.clone(), epoch));
        }
    }

    /// The soonest timer if due by `now`, taken out.
    fn pop_due(&mut self, now: i64) -> Option<Timer> {
        let (at, _, _) = self.due.first()?;
        if *at > now {
            return None;
        }
        let (_, txn_id, epoch) = self.due.pop_first()?;
        self.by_txn.remove(&txn_id);
        Some(Timer { txn_id, epoch })
    }

    fn next(&self) -> Option<i64> {
        self.due.first().map(|t| t.0)
    }

    fn len(&self) -> usize {
        self.due.len()
    }
}

impl<B: Banks> UpiSwitch<B> {
    /// Migrates, replays the event log into a fresh core (so every
    /// transaction not final, and its timer, is back) and is ready.
    pub async fn open(
        db: Db,
        banks: B,
        clock: Arc<dyn Clock>,
        org_id: OrgId,
    ) -> Result<UpiSwitch<B>, UpidError> {
        db.migrate(crate::MIGRATIONS).await?;
        let mut inner = Inner {
            core: Switch::new(org_id, 1),
            admitted: HashMap::new(),
            next_seq: 1,
            timers: Timers::default(),
        };
        for (seq, at, event) in log::read_all(&db).await? {
            inner.next_seq = seq + 1;
            // Refused events were refused live too: nothing to redo.
            inner.note_admission(at, &event);
            if let Ok(actions) = inner.core.handle(at, event) {
                inner.timers.keep(&actions);
            }
        }
        tracing::info!(pending = inner.timers.len(), "UPI switch resumed");
        Ok(UpiSwitch {
            db,
            banks,
            clock,
            inner: Mutex::new(inner),
        })
    }

    /// Records an address in the directory.
    pub async fn register(&self, entry: &DirectoryEntry) -> Result<(), UpidError> {
        directory::register(&self.db, entry).await
    }

    /// The directory entry of `vpa` (ReqValAdd's answer).
    pub async fn resolve(&self, vpa: &Vpa) -> Result<Option<DirectoryEntry>, UpidError> {
        directory::resolve(&self.db, vpa).await
    }

    /// A PSP's ReqPay (PAY or REFUND): driven as far as the banks answer now.
    /// The answer to the PSP, or `None` while the transaction is in flight
    /// (a repeat of the request then answers once it has one).
    pub async fn pay(&self, req: ReqPay) -> Result<Option<RespPay>, UpidError> {
        let payee = match req.payees.first() {
            Some(p) => directory::resolve(&self.db, &p.addr).await?,
            None => None,
        };
        let payer = directory::resolve(&self.db, &req.payer.addr).await?;
        let msg_id = req.head.msg_id.clone();
        let mut inner = self.inner.lock().await;
        let now = self.clock.now_millis();
        let facts = PayerFacts {
            bound_at: payer.and_then(|p| p.bound_at),
            p2p_paid_today: inner.paid_today(&req.payer.addr, now),
        };
        let event = Event::Request {
            req,
            payee_account: payee.map(|p| p.account),
            payer: facts,
        };
        let answers = self.drive(&mut inner, now, event).await?;
        Ok(answers.into_iter().find_map(|m| match m {
            Message::RespPay(r) if r.resp.req_msg_id == msg_id => Some(r),
            _ => None,
        }))
    }

    /// A PSP's status check.
    pub async fn status(&self, req: ReqChkTxn) -> Result<Option<RespChkTxn>, UpidError> {
        let mut inner = self.inner.lock().await;
        let now = self.clock.now_millis();
        let answers = self
            .drive(&mut inner, now, Event::StatusRequest(req))
            .await?;
        Ok(answers.into_iter().find_map(|m| match m {
            Message::RespChkTxn(r) => Some(r),
            _ => None,
        }))
    }

    /// The collect requests waiting for any of `payers`, soonest to expire
    /// first. One that has expired is not listed (its timer finishes it).
    pub async fn collects_for(&self, payers: &[Vpa]) -> Vec<CollectRequest> {
        let inner = self.inner.lock().await;
        let now = self.clock.now_millis();
        let mut out: Vec<CollectRequest> = inner
            .core
            .transactions()
            .filter(|t| payers.contains(&t.payer.addr))
            .filter_map(|t| match t.state {
                State::AwaitingPayer { expires_at } if expires_at > now => Some(CollectRequest {
                    txn_id: t.id().clone(),
                    payer: t.payer.addr.clone(),
                    payee: t.payee.addr.clone(),
                    payee_name: t.payee.name.clone(),
                    mcc: t.payee.code.as_str().to_owned(),
                    amount_paise: t.amount.paise,
                    note: t.txn.note.clone(),
                    reference: t.txn.ref_id.clone(),
                    expires_at,
                }),
                _ => None,
            })
            .collect();
        out.sort_by_key(|c| c.expires_at);
        out
    }

    /// The payer's PSP approves collect request `txn_id`: `payer` carries
    /// the account and the PIN block for its debit. The answer once the
    /// transaction has one: `None` while it is still in flight.
    pub async fn approve_collect(
        &self,
        txn_id: &TxnId,
        payer: Party,
    ) -> Result<Option<(ResultCode, Option<String>)>, UpidError> {
        let bound_at = directory::resolve(&self.db, &payer.addr)
            .await?
            .and_then(|e| e.bound_at);
        let facts = PayerFacts {
            bound_at,
            p2p_paid_today: 0,
        };
        let event = Event::CollectApproved {
            txn_id: txn_id.clone(),
            payer,
            facts,
        };
        self.decide_collect(txn_id, event).await
    }

    /// The payer declines collect request `txn_id`.
    pub async fn decline_collect(
        &self,
        txn_id: &TxnId,
    ) -> Result<Option<(ResultCode, Option<String>)>, UpidError> {
        let event = Event::CollectDeclined {
            txn_id: txn_id.clone(),
        };
        self.decide_collect(txn_id, event).await
    }

    async fn decide_collect(
        &self,
        txn_id: &TxnId,
        event: Event,
    ) -> Result<Option<(ResultCode, Option<String>)>, UpidError> {
        let mut inner = self.inner.lock().await;
        let now = self.clock.now_millis();
        if inner
            .core
            .transaction(txn_id)
            .is_none_or(|t| t.kind() != TxnType::Collect)
        {
            return Err(UpidError::Invalid("no such collect request"));
        }
        self.drive(&mut inner, now, event).await?;
        let t = inner.core.transaction(txn_id).expect("checked above");
        Ok(t.answered.map(|result| {
            let code = match t.outcome() {
                Some(Outcome::Failed(c) | Outcome::Reversed(c)) => Some(c.as_str().to_owned()),
                Some(Outcome::Success) => None,
                None => Some(paytap_upiswitch::codes::DEEMED.to_owned()),
            };
            (result, code)
        }))
    }

    /// Fires every timer due by now; returns how many fired.
    pub async fn fire_due(&self) -> Result<usize, UpidError> {
        let mut inner = self.inner.lock().await;
        let now = self.clock.now_millis();
        let mut fired = 0;
        while let Some(timer) = inner.timers.pop_due(now) {
            self.drive(&mut inner, now, Event::Timer(timer)).await?;
            fired += 1;
        }
        Ok(fired)
    }

    /// When the next timer is due, if any.
    pub async fn next_timer(&self) -> Option<i64> {
        self.inner.lock().await.timers.next()
    }

    /// How transaction `id` ended, once it has.
    pub async fn outcome(&self, id: &TxnId) -> Option<Outcome> {
        let inner = self.inner.lock().await;
        inner.core.transaction(id)?.outcome().cloned()
    }

    /// Transactions not final.
    pub async fn in_flight(&self) -> usize {
        let inner = self.inner.lock().await;
        inner
            .core
            .transactions()
            .filter(|t| t.outcome().is_none())
            .count()
    }

    /// Fires due timers every [`TIMER_TICK_MS`], for as long as the service
    /// lives (spawn it).
    pub async fn run_timers(self: Arc<Self>) {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(TIMER_TICK_MS));
        loop {
            tick.tick().await;
            if let Err(e) = self.fire_due().await {
                tracing::error!(error = %e, "UPI switch timers failed");
            }
        }
    }

    /// Logs `first`, hands it to the core, carries out the actions (a bank's
    /// answer is the next event), and returns the messages to requesters.
    async fn drive(
        &self,
        inner: &mut Inner,
        now: i64,
        first: Event,
    ) -> Result<Vec<Message>, UpidError> {
        let mut queue = VecDeque::from([first]);
        let mut answers = Vec::new();
        while let Some(event) = queue.pop_front() {
            if log::append(&self.db, inner.next_seq, now, &event).await? {
                inner.next_seq += 1;
            }
            inner.note_admission(now, &event);
            let actions = match inner.core.handle(now, event) {
                Ok(a) => a,
                Err(e) => {
                    tracing::info!(error = %e, "UPI switch event ignored");
                    continue;
                }
            };
            inner.timers.keep(&actions);
            for action in actions {
                self.act(now, action, &mut queue, &mut answers).await?;
            }
        }
        Ok(answers)
    }

    async fn act(
        &self,
        now: i64,
        action: Action,
        queue: &mut VecDeque<Event>,
        answers: &mut Vec<Message>,
    ) -> Result<(), UpidError> {
        match action {
            Action::Send {
                to: Dest::Bank(bank),
                msg: Message::ReqPay(r),
            } => {
                if let Some(resp) = self.banks.leg(&bank, &r).await {
                    queue.push_back(Event::BankResponse(resp));
                }
            }
            Action::Send {
                to: Dest::Bank(bank),
                msg: Message::ReqChkTxn(r),
            } => {
                if let Some(resp) = self.banks.check(&bank, &r).await {
                    queue.push_back(Event::CheckResponse(resp));
                }
            }
            Action::Send {
                to: Dest::Requester(_),
                msg,
            } => answers.push(msg),
            // The payer's PSP reads collect requests with `collects_for`.
            Action::Send {
                to: Dest::Psp(psp),
                msg,
            } => {
                tracing::debug!(psp, message = msg.name(), "UPI collect request waiting");
            }
            Action::Send { to, msg } => {
                tracing::warn!(to = ?to, message = msg.name(), "UPI message with no route");
            }
            Action::SetTimer { .. } => {}
            Action::Finished { txn_id, outcome } => {
                self.record_outcome(now, &txn_id, &outcome).await?;
            }
        }
        Ok(())
    }

    async fn record_outcome(
        &self,
        now: i64,
        id: &TxnId,
        outcome: &Outcome,
    ) -> Result<(), UpidError> {
        let (name, code) = match outcome {
            Outcome::Success => ("success", None),
            Outcome::Failed(c) => ("failed", Some(c.as_str())),
            Outcome::Reversed(c) => ("reversed", Some(c.as_str())),
        };
        tracing::info!(txn_id = %id, outcome = name, code, "UPI transaction finished");
        sqlx::query(
            "INSERT INTO upid_outcomes (txn_id, outcome, code, at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (txn_id) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(name)
        .bind(code)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}

impl Inner {
    /// Remembers when a request for a new transaction id arrived.
    fn note_admission(&mut self, at: i64, event: &Event) {
        if let Event::Request { req, .. } = event
            && self.core.transaction(&req.txn.id).is_none()
        {
            self.admitted.insert(req.txn.id.clone(), at);
        }
    }

    /// What `payer` has paid people today (India's day), successful or in
    /// flight.
    fn paid_today(&self, payer: &Vpa, now: i64) -> u64 {
        let day = |ms: i64| (ms + IST_OFFSET_MS).div_euclid(DAY_MS);
        self.core
            .transactions()
            .filter(|t| t.kind() == TxnType::Pay && &t.payer.addr == payer)
            .filter(|t| t.payee.kind == PartyType::Person || !t.payee.code.is_merchant())
            .filter(|t| {
                self.admitted
                    .get(t.id())
                    .is_some_and(|&at| day(at) == day(now))
            })
            .filter(|t| matches!(t.outcome(), None | Some(Outcome::Success)))
            .map(|t| t.amount.paise)
            .sum()
    }
}
