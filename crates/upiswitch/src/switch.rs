//! The switch: events in, actions out.

use crate::limits::{self, PayerFacts};
use crate::messages::Ids;
use crate::state::{Fingerprint, Outcome, State, Timer, Transaction};
use crate::{codes, messages};
use paytap_upi::xml::{
    Account, Amount, ErrCode, Message, OrgId, Party, PartyType, ReqChkTxn, ReqPay, RespChkTxn,
    RespPay, ResultCode, TxnId, TxnType,
};
use std::collections::HashMap;
use thiserror::Error;

/// Something that happened, handed to [`Switch::handle`] with the instant.
// Events are handled one at a time and never stored in bulk: boxing the
// request would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Event {
    /// A `ReqPay` from a PSP: PAY (from the payer's PSP), COLLECT (from a
    /// merchant's PSP) or REFUND (from the merchant's PSP, `orgTxnId` naming the
    /// payment refunded). The service has looked up the payee's address:
    /// `payee_account` is its account, or `None` when the address is unknown.
    Request {
        /// The request.
        req: ReqPay,
        /// The account behind the payee's address.
        payee_account: Option<Account>,
        /// What the service knows of the payer (for a collect: unused; the
        /// approval brings them).
        payer: PayerFacts,
    },
    /// The payer's PSP approved a collect request with the payer's PIN: `payer`
    /// carries the account and the encrypted credentials. (NPCI's
    /// ReqAuthDetails/RespAuthDetails exchange, reduced to its outcome.)
    CollectApproved {
        /// The collect request.
        txn_id: TxnId,
        /// The payer, with `Ac` and `Creds`.
        payer: Party,
        /// What the service knows of the payer.
        facts: PayerFacts,
    },
    /// The payer declined a collect request.
    CollectDeclined {
        /// The collect request.
        txn_id: TxnId,
    },
    /// A bank's answer to a DEBIT, CREDIT or REVERSAL.
    BankResponse(RespPay),
    /// The beneficiary bank's answer to a status check.
    CheckResponse(RespChkTxn),
    /// A PSP asks for a transaction's status.
    StatusRequest(ReqChkTxn),
    /// A timer set by [`Action::SetTimer`] fired.
    Timer(Timer),
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dest {
    /// Back to the organisation that sent the request (`Head@orgId`).
    Requester(OrgId),
    /// A bank, by the four letters of its IFSCs.
    Bank(String),
    /// A PSP, by its handle (the part of a UPI id after `@`).
    Psp(String),
}

/// What the switch asks its service to do, in order.
// A handful per event, consumed at once: not worth a box per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a message.
    Send {
        /// To whom.
        to: Dest,
        /// The message.
        msg: Message,
    },
    /// Hand `Event::Timer(timer)` back at `at` (Unix ms) or later.
    SetTimer {
        /// When.
        at: i64,
        /// The timer.
        timer: Timer,
    },
    /// The transaction reached its final state (exactly once per transaction).
    Finished {
        /// The transaction.
        txn_id: TxnId,
        /// How it ended.
        outcome: Outcome,
    },
}

/// An event the switch did not act on (the service logs it; nothing changed).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SwitchError {
    /// An answer or decision about a transaction the switch does not know.
    #[error("no such transaction")]
    UnknownTransaction,
    /// An answer that does not fit the transaction's state (late, repeated, or
    /// for another leg).
    #[error("a {leg} answer for a transaction that is {state}")]
    Unexpected {
        /// The leg answered (`DEBIT`, `CREDIT`, `REVERSAL`, `ChkTxn`, `COLLECT`).
        leg: &'static str,
        /// The transaction's state.
        state: &'static str,
    },
}

/// The central switch's transactions, in memory. The service persists what it
/// needs from [`Switch::transaction`] and the actions; the core does no IO.
#[derive(Debug)]
pub struct Switch {
    txns: HashMap<TxnId, Transaction>,
    ids: Ids,
}

impl Switch {
    /// A switch signing its messages as `org_id`, numbering RRNs from `rrn_seq`
    /// (the service persists [`Switch::rrn_seq`] and passes it back on restart).
    pub fn new(org_id: OrgId, rrn_seq: u64) -> Switch {
        Switch {
            txns: HashMap::new(),
            ids: Ids::new(org_id, rrn_seq),
        }
    }

    /// The next RRN sequence number.
    pub fn rrn_seq(&self) -> u64 {
        self.ids.rrn_seq
    }

    /// A transaction.
    pub fn transaction(&self, id: &TxnId) -> Option<&Transaction> {
        self.txns.get(id)
    }

    /// Every transaction.
    pub fn transactions(&self) -> impl Iterator<Item = &Transaction> {
        self.txns.values()
    }

    /// Drop a finished transaction from memory (once the service has it
    /// durably). A transaction still in flight is kept; `None` then.
    pub fn forget(&mut self, id: &TxnId) -> Option<Transaction> {
        self.txns.get(id)?.outcome()?;
        self.txns.remove(id)
    }

    /// Act on one event at `now` (Unix ms).
    pub fn handle(&mut self, now: i64, event: Event) -> Result<Vec<Action>, SwitchError> {
        let mut out = Vec::new();
        match event {
            Event::Request {
                req,
                payee_account,
                payer,
            } => self.request(now, req, payee_account, &payer, &mut out),
            Event::CollectApproved {
                txn_id,
                payer,
                facts,
            } => self.collect_approved(now, &txn_id, payer, &facts, &mut out)?,
            Event::CollectDeclined { txn_id } => self.collect_declined(now, &txn_id, &mut out)?,
            Event::BankResponse(resp) => self.bank_response(now, &resp, &mut out)?,
            Event::CheckResponse(resp) => self.check_response(now, &resp, &mut out)?,
            Event::StatusRequest(req) => self.status(now, &req, &mut out),
            Event::Timer(timer) => self.timer(now, &timer, &mut out),
        }
        self.release_failed_refunds(&out);
        Ok(out)
    }

    fn request(
        &mut self,
        now: i64,
        req: ReqPay,
        payee_account: Option<Account>,
        facts: &PayerFacts,
        out: &mut Vec<Action>,
    ) {
        if self.txns.contains_key(&req.txn.id) {
            return self.repeat(now, &req, out);
        }
        let admitted = self.admit(now, &req, payee_account.as_ref(), facts);
        let mut t = messages::new_transaction(&mut self.ids, now, req, payee_account);
        match admitted {
            Err(code) => finish(&mut self.ids, now, &mut t, Outcome::Failed(err(code)), out),
            Ok(()) if t.kind() == TxnType::Collect => ask_payer(&mut self.ids, now, &mut t, out),
            Ok(()) => {
                self.reserve_refund(&mut t);
                start_debit(&mut self.ids, now, &mut t, out);
            }
        }
        self.txns.insert(t.id().clone(), t);
    }

    /// A request whose transaction id is known: the same request again gets the
    /// answer already given (or none yet, while in flight); a different one is
    /// refused and changes nothing.
    fn repeat(&mut self, now: i64, req: &ReqPay, out: &mut Vec<Action>) {
        let t = &self.txns[&req.txn.id];
        let to = Dest::Requester(req.head.org_id.clone());
        let (result, code) = if fingerprint(req) != t.fingerprint {
            (ResultCode::Failure, Some(err(codes::DUPLICATE_TXN_ID)))
        } else {
            match (&t.state, t.answered) {
                (State::Done(o), Some(_)) => o.result(),
                (_, Some(ResultCode::Deemed)) => (ResultCode::Deemed, Some(err(codes::DEEMED))),
                _ => return,
            }
        };
        let msg = messages::resp_pay(&mut self.ids, now, t, &req.head.msg_id, result, code);
        out.push(Action::Send { to, msg });
    }

    /// The switch's own rules for a new request; `Err` is the error code.
    fn admit(
        &self,
        now: i64,
        req: &ReqPay,
        payee_account: Option<&Account>,
        facts: &PayerFacts,
    ) -> Result<(), &'static str> {
        let [payee] = req.payees.as_slice() else {
            return Err(codes::BAD_REQUEST);
        };
        let amount = request_amount(req).ok_or(codes::BAD_REQUEST)?;
        if req.payer.addr == payee.addr {
            return Err(codes::BAD_REQUEST);
        }
        if payee_account.is_none() {
            return Err(codes::INVALID_ADDRESS);
        }
        match req.txn.kind {
            TxnType::Collect => {
                if payee.kind != PartyType::Entity || !payee.code.is_merchant() {
                    return Err(codes::P2P_COLLECT_REFUSED);
                }
                Ok(())
            }
            TxnType::Pay => {
                req.payer.account.as_ref().ok_or(codes::BAD_REQUEST)?;
                let to_person = payee.kind == PartyType::Person || !payee.code.is_merchant();
                limits::check(now, amount.paise, to_person, facts)
            }
            TxnType::Refund => {
                req.payer.account.as_ref().ok_or(codes::BAD_REQUEST)?;
                self.refundable(req, payee, amount)
            }
            _ => Err(codes::BAD_REQUEST),
        }
    }

    /// A refund must name a successful payment, go back from its payee to its
    /// payer, and not exceed what is left of it.
    fn refundable(&self, req: &ReqPay, payee: &Party, amount: Amount) -> Result<(), &'static str> {
        let original = req
            .txn
            .org_txn_id
            .as_ref()
            .and_then(|id| self.txns.get(id))
            .ok_or(codes::REFUND_REFUSED)?;
        let ok = matches!(original.kind(), TxnType::Pay | TxnType::Collect)
            && original.outcome() == Some(&Outcome::Success)
            && original.payee.addr == req.payer.addr
            && original.payer.addr == payee.addr
            && original.refunded + amount.paise <= original.amount.paise;
        ok.then_some(()).ok_or(codes::REFUND_REFUSED)
    }

    fn reserve_refund(&mut self, t: &mut Transaction) {
        if t.kind() != TxnType::Refund {
            return;
        }
        if let Some(o) = t
            .txn
            .org_txn_id
            .as_ref()
            .and_then(|id| self.txns.get_mut(id))
        {
            o.refunded += t.amount.paise;
            t.refund_reserved = true;
        }
    }

    /// A refund that ends without moving money gives its amount back to the
    /// original payment's refundable remainder.
    fn release_failed_refunds(&mut self, out: &[Action]) {
        for a in out {
            let Action::Finished { txn_id, outcome } = a else {
                continue;
            };
            if *outcome == Outcome::Success {
                continue;
            }
            let Some(t) = self.txns.get_mut(txn_id) else {
                continue;
            };
            if !t.refund_reserved {
                continue;
            }
            t.refund_reserved = false;
            let (amount, original) = (t.amount.paise, t.txn.org_txn_id.clone());
            if let Some(o) = original.as_ref().and_then(|id| self.txns.get_mut(id)) {
                o.refunded -= amount;
            }
        }
    }

    fn collect_approved(
        &mut self,
        now: i64,
        id: &TxnId,
        payer: Party,
        facts: &PayerFacts,
        out: &mut Vec<Action>,
    ) -> Result<(), SwitchError> {
        let t = awaiting_payer(&mut self.txns, id, now, &mut self.ids, out)?;
        let Some(t) = t else { return Ok(()) };
        if payer.addr != t.payer.addr || payer.account.is_none() {
            finish(
                &mut self.ids,
                now,
                t,
                Outcome::Failed(err(codes::BAD_REQUEST)),
                out,
            );
            return Ok(());
        }
        if let Err(code) = limits::check(now, t.amount.paise, false, facts) {
            finish(&mut self.ids, now, t, Outcome::Failed(err(code)), out);
            return Ok(());
        }
        t.payer = payer;
        start_debit(&mut self.ids, now, t, out);
        Ok(())
    }

    fn collect_declined(
        &mut self,
        now: i64,
        id: &TxnId,
        out: &mut Vec<Action>,
    ) -> Result<(), SwitchError> {
        if let Some(t) = awaiting_payer(&mut self.txns, id, now, &mut self.ids, out)? {
            let declined = Outcome::Failed(err(codes::COLLECT_DECLINED));
            finish(&mut self.ids, now, t, declined, out);
        }
        Ok(())
    }

    fn bank_response(
        &mut self,
        now: i64,
        resp: &RespPay,
        out: &mut Vec<Action>,
    ) -> Result<(), SwitchError> {
        let t = self
            .txns
            .get_mut(&resp.txn.id)
            .ok_or(SwitchError::UnknownTransaction)?;
        let ids = &mut self.ids;
        let result = resp.resp.result;
        match (resp.txn.kind, &t.state, result) {
            (TxnType::Debit, State::Debiting, ResultCode::Success) => {
                start_credit(ids, now, t, out)
            }
            (TxnType::Debit, State::Debiting, ResultCode::Failure) => {
                let code = resp
                    .resp
                    .err_code
                    .clone()
                    .unwrap_or(err(codes::DEBIT_TIMEOUT));
                finish(ids, now, t, Outcome::Failed(code), out);
            }
            // A remitter bank that does not know whether it debited: undo.
            (TxnType::Debit, State::Debiting, ResultCode::Deemed) => {
                start_reversal(ids, now, t, err(codes::DEBIT_TIMEOUT), out);
            }
            (TxnType::Credit, State::Crediting | State::Deemed, ResultCode::Success) => {
                finish(ids, now, t, Outcome::Success, out);
            }
            (TxnType::Credit, State::Crediting | State::Deemed, ResultCode::Failure) => {
                start_reversal(ids, now, t, err(codes::CREDIT_FAILED), out);
            }
            (TxnType::Credit, State::Crediting, ResultCode::Deemed) => deem(ids, now, t, out),
            (TxnType::Credit, State::Deemed, ResultCode::Deemed) => {}
            (TxnType::Reversal, State::Reversing { code }, ResultCode::Success) => {
                let reversed = Outcome::Reversed(code.clone());
                finish(ids, now, t, reversed, out);
            }
            // A reversal not yet done: the retry timer sends it again.
            (TxnType::Reversal, State::Reversing { .. }, _) => {}
            (leg, state, _) => {
                return Err(SwitchError::Unexpected {
                    leg: leg.as_str(),
                    state: state.name(),
                });
            }
        }
        Ok(())
    }

    fn check_response(
        &mut self,
        now: i64,
        resp: &RespChkTxn,
        out: &mut Vec<Action>,
    ) -> Result<(), SwitchError> {
        let id = resp.txn.org_txn_id.as_ref().unwrap_or(&resp.txn.id);
        let t = self
            .txns
            .get_mut(id)
            .ok_or(SwitchError::UnknownTransaction)?;
        if t.state != State::Deemed {
            return Err(SwitchError::Unexpected {
                leg: "ChkTxn",
                state: t.state.name(),
            });
        }
        match resp.resp.result {
            ResultCode::Success => finish(&mut self.ids, now, t, Outcome::Success, out),
            ResultCode::Failure => {
                start_reversal(&mut self.ids, now, t, err(codes::CREDIT_FAILED), out);
            }
            // Not known yet: the retry timer asks again.
            ResultCode::Deemed => {}
        }
        Ok(())
    }

    fn status(&mut self, now: i64, req: &ReqChkTxn, out: &mut Vec<Action>) {
        let t = req.txn.org_txn_id.as_ref().and_then(|id| self.txns.get(id));
        let (result, code) = match t.map(|t| &t.state) {
            None => (ResultCode::Failure, Some(err(codes::UNKNOWN_TXN))),
            Some(State::Done(o)) => o.result(),
            Some(_) => (ResultCode::Deemed, Some(err(codes::DEEMED))),
        };
        let msg = messages::resp_chk_txn(&mut self.ids, now, req, result, code);
        out.push(Action::Send {
            to: Dest::Requester(req.head.org_id.clone()),
            msg,
        });
    }

    fn timer(&mut self, now: i64, timer: &Timer, out: &mut Vec<Action>) {
        let Some(t) = self.txns.get_mut(&timer.txn_id) else {
            return;
        };
        if t.epoch != timer.epoch {
            return;
        }
        let ids = &mut self.ids;
        match t.state.clone() {
            State::AwaitingPayer { expires_at } if now >= expires_at => {
                let expired = Outcome::Failed(err(codes::COLLECT_EXPIRED));
                finish(ids, now, t, expired, out);
            }
            State::AwaitingPayer { expires_at } => set_timer(t, expires_at, out),
            // No answer to the debit: it may or may not have happened; undo it.
            State::Debiting => start_reversal(ids, now, t, err(codes::DEBIT_TIMEOUT), out),
            State::Crediting => deem(ids, now, t, out),
            State::Deemed => check_credit(ids, now, t, out),
            State::Reversing { code } => start_reversal(ids, now, t, code, out),
            State::Done(_) => {}
        }
    }
}

/// The collect transaction `id` if it still awaits its payer; an expired one is
/// finished here and `None` returned.
fn awaiting_payer<'a>(
    txns: &'a mut HashMap<TxnId, Transaction>,
    id: &TxnId,
    now: i64,
    ids: &mut Ids,
    out: &mut Vec<Action>,
) -> Result<Option<&'a mut Transaction>, SwitchError> {
    let t = txns.get_mut(id).ok_or(SwitchError::UnknownTransaction)?;
    let State::AwaitingPayer { expires_at } = t.state else {
        return Err(SwitchError::Unexpected {
            leg: "COLLECT",
            state: t.state.name(),
        });
    };
    if now >= expires_at {
        finish(
            ids,
            now,
            t,
            Outcome::Failed(err(codes::COLLECT_EXPIRED)),
            out,
        );
        return Ok(None);
    }
    Ok(Some(t))
}

fn ask_payer(ids: &mut Ids, now: i64, t: &mut Transaction, out: &mut Vec<Action>) {
    let minutes = t
        .txn
        .expire_after_minutes
        .unwrap_or(limits::DEFAULT_COLLECT_EXPIRY_MINUTES);
    let expires_at = now.saturating_add(i64::from(minutes) * 60_000);
    t.state = State::AwaitingPayer { expires_at };
    let to = Dest::Psp(t.payer.addr.psp().to_owned());
    out.push(Action::Send {
        to,
        msg: messages::collect(ids, now, t),
    });
    set_timer(t, expires_at, out);
}

fn start_debit(ids: &mut Ids, now: i64, t: &mut Transaction, out: &mut Vec<Action>) {
    t.state = State::Debiting;
    send_leg(ids, now, t, TxnType::Debit, out);
    set_timer(t, now.saturating_add(limits::DEBIT_TIMEOUT_MS), out);
}

fn start_credit(ids: &mut Ids, now: i64, t: &mut Transaction, out: &mut Vec<Action>) {
    t.state = State::Crediting;
    send_leg(ids, now, t, TxnType::Credit, out);
    set_timer(t, now.saturating_add(limits::CREDIT_TIMEOUT_MS), out);
}

/// Send (or send again) the REVERSAL of the debit; repeated until answered.
fn start_reversal(
    ids: &mut Ids,
    now: i64,
    t: &mut Transaction,
    code: ErrCode,
    out: &mut Vec<Action>,
) {
    t.state = State::Reversing { code };
    send_leg(ids, now, t, TxnType::Reversal, out);
    set_timer(t, now.saturating_add(limits::REVERSAL_RETRY_MS), out);
}

/// The credit is unanswered: tell the requester DEEMED, and ask the beneficiary
/// bank.
fn deem(ids: &mut Ids, now: i64, t: &mut Transaction, out: &mut Vec<Action>) {
    t.state = State::Deemed;
    answer(
        ids,
        now,
        t,
        ResultCode::Deemed,
        Some(err(codes::DEEMED)),
        out,
    );
    check_credit(ids, now, t, out);
}

fn check_credit(ids: &mut Ids, now: i64, t: &mut Transaction, out: &mut Vec<Action>) {
    let to = beneficiary(t);
    out.push(Action::Send {
        to,
        msg: messages::req_chk_txn(ids, now, t),
    });
    set_timer(t, now.saturating_add(limits::CHECK_RETRY_MS), out);
}

fn finish(ids: &mut Ids, now: i64, t: &mut Transaction, outcome: Outcome, out: &mut Vec<Action>) {
    assert!(
        t.outcome().is_none(),
        "a transaction is finished exactly once"
    );
    let (result, code) = outcome.result();
    t.state = State::Done(outcome.clone());
    answer(ids, now, t, result, code, out);
    out.push(Action::Finished {
        txn_id: t.id().clone(),
        outcome,
    });
}

/// Answer the requester, once: a DEEMED answer is not followed by another (the
/// PSP learns the resolution by a status check).
fn answer(
    ids: &mut Ids,
    now: i64,
    t: &mut Transaction,
    result: ResultCode,
    code: Option<ErrCode>,
    out: &mut Vec<Action>,
) {
    if t.answered.is_some() {
        return;
    }
    t.answered = Some(result);
    let req_msg_id = t.req_msg_id.clone();
    let msg = messages::resp_pay(ids, now, t, &req_msg_id, result, code);
    out.push(Action::Send {
        to: Dest::Requester(t.requester.clone()),
        msg,
    });
}

fn send_leg(ids: &mut Ids, now: i64, t: &Transaction, kind: TxnType, out: &mut Vec<Action>) {
    let to = match kind {
        TxnType::Credit => beneficiary(t),
        _ => remitter(t),
    };
    out.push(Action::Send {
        to,
        msg: messages::leg(ids, now, t, kind),
    });
}

fn set_timer(t: &mut Transaction, at: i64, out: &mut Vec<Action>) {
    t.epoch += 1;
    out.push(Action::SetTimer {
        at,
        timer: Timer {
            txn_id: t.id().clone(),
            epoch: t.epoch,
        },
    });
}

fn remitter(t: &Transaction) -> Dest {
    let bank = t
        .payer
        .account
        .as_ref()
        .map(|a| a.ifsc.bank())
        .unwrap_or("");
    Dest::Bank(bank.to_owned())
}

fn beneficiary(t: &Transaction) -> Dest {
    let bank = t
        .payee_account
        .as_ref()
        .map(|a| a.ifsc.bank())
        .unwrap_or("");
    Dest::Bank(bank.to_owned())
}

/// The amount a request moves: the payee's, equal to the payer's when both are
/// given, and more than zero.
pub(crate) fn request_amount(req: &ReqPay) -> Option<Amount> {
    let payee = req.payees.first()?.amount?;
    if req.payer.amount.is_some_and(|a| a != payee) || payee.paise == 0 {
        return None;
    }
    Some(payee)
}

pub(crate) fn fingerprint(req: &ReqPay) -> Fingerprint {
    Fingerprint {
        kind: req.txn.kind,
        payer: req.payer.addr.clone(),
        payee: req.payees.first().map(|p| p.addr.clone()),
        amount: req.payees.first().and_then(|p| p.amount),
        org_txn_id: req.txn.org_txn_id.clone(),
    }
}

/// An error code the switch uses: its own constants are valid codes.
pub(crate) fn err(code: &'static str) -> ErrCode {
    ErrCode::new(code).expect("the switch's error codes are valid")
}
