//! Money is never lost or created: for random interleavings of bank answers
//! (approvals, refusals, lost answers, duplicated messages), timeouts, repeated
//! requests and collect decisions across many transactions, once everything is
//! delivered and every status check resolves, each transaction has exactly one
//! final outcome, a successful one is debited and credited once, and any other
//! is neither (its debit, if made, reversed).

// Rupee amounts are written the Indian way: `1_00_000_00` is ₹1,00,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

use paytap_upi::Vpa;
use paytap_upi::xml::*;
use paytap_upiswitch::*;
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};

const T0: i64 = 1_796_538_600_000;

/// Random choices, consumed in order; zeros once used up.
struct Script {
    bytes: Vec<u8>,
    at: usize,
}

impl Script {
    fn pick(&mut self, n: usize) -> usize {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        usize::from(b) % n.max(1)
    }
}

/// What one transaction is, as generated.
#[derive(Debug, Clone)]
enum Spec {
    P2p(u64),
    P2m(u64),
    Collect { paise: u64, approve: bool },
    Refund { of: usize, paise: u64 },
}

fn spec() -> impl Strategy<Value = Spec> {
    let paise = prop_oneof![1u64..10_000_00, Just(1_00_000_00), Just(1_00_000_01)];
    prop_oneof![
        paise.clone().prop_map(Spec::P2p),
        paise.clone().prop_map(Spec::P2m),
        (paise.clone(), any::<bool>())
            .prop_map(|(paise, approve)| Spec::Collect { paise, approve }),
        (0usize..8, paise).prop_map(|(of, paise)| Spec::Refund { of, paise }),
    ]
}

fn account(ifsc: &str, n: &str) -> Account {
    Account {
        ifsc: Ifsc::new(ifsc).unwrap(),
        number: AccountNumber::new(n).unwrap(),
        kind: None,
    }
}

fn asha() -> Party {
    let mut p = Party::person(Vpa::new("asha@paytap").unwrap());
    p.account = Some(account("ICIC0000001", "100000000001"));
    p
}

fn ravi() -> Party {
    Party::person(Vpa::new("ravi@okhdfc").unwrap())
}

fn shop() -> Party {
    let mut p = Party::person(Vpa::new("chai@payu").unwrap());
    p.kind = PartyType::Entity;
    p.code = Mcc::new("5814").unwrap();
    p.account = Some(account("YESB0000003", "300000000003"));
    p
}

fn head(org: &str, msg: &str) -> Head {
    Head {
        ver: "2.0".into(),
        ts: Timestamp::from_unix_millis(T0),
        org_id: OrgId::new(org).unwrap(),
        msg_id: MsgId::new(msg).unwrap(),
    }
}

fn txn_id(i: usize) -> TxnId {
    TxnId::new(&format!("T{i}")).unwrap()
}

/// The request for spec `i`, and the account behind its payee.
fn request(i: usize, spec: &Spec) -> (ReqPay, Account) {
    let (kind, payer, mut payee, paise, acct) = match spec {
        Spec::P2p(p) => (
            TxnType::Pay,
            asha(),
            ravi(),
            *p,
            account("HDFC0000002", "200000000002"),
        ),
        Spec::P2m(p) => (TxnType::Pay, asha(), shop(), *p, shop().account.unwrap()),
        Spec::Collect { paise, .. } => {
            let mut payer = asha();
            payer.account = None;
            (
                TxnType::Collect,
                payer,
                shop(),
                *paise,
                shop().account.unwrap(),
            )
        }
        Spec::Refund { paise, .. } => (
            TxnType::Refund,
            shop(),
            asha(),
            *paise,
            asha().account.unwrap(),
        ),
    };
    payee.account = None;
    payee.amount = Some(Amount { paise });
    let mut txn = Txn::new(txn_id(i), Timestamp::from_unix_millis(T0), kind);
    if let Spec::Refund { of, .. } = spec {
        txn.org_txn_id = Some(txn_id(*of));
    }
    let req = ReqPay {
        head: head("PSP", &format!("M{i}")),
        txn,
        payer,
        payees: vec![payee],
    };
    (req, acct)
}

/// The emulated banks' books, keyed by transaction id, keeping the promises
/// the switch relies on (see the crate documentation).
#[derive(Default)]
struct Banks {
    debited: HashMap<TxnId, u64>,
    undone: HashSet<TxnId>,
    debit_closed: HashSet<TxnId>,
    credited: HashMap<TxnId, u64>,
    credit_closed: HashSet<TxnId>,
}

impl Banks {
    /// Answer a message sent to a bank; `settle` forces definitive answers.
    fn answer(&mut self, msg: &Message, s: &mut Script, settle: bool) -> Option<Event> {
        match msg {
            Message::ReqPay(leg) => Some(self.leg(leg, s)),
            Message::ReqChkTxn(chk) => Some(self.check(chk, s, settle)),
            other => panic!("a bank got {other:?}"),
        }
    }

    fn leg(&mut self, leg: &ReqPay, s: &mut Script) -> Event {
        let id = leg.txn.id.clone();
        let amount = leg.payees[0].amount.unwrap().paise;
        let ok = match leg.txn.kind {
            TxnType::Debit if self.debit_closed.contains(&id) => false,
            TxnType::Debit if self.debited.contains_key(&id) => true,
            TxnType::Debit if s.pick(4) == 0 => {
                self.debit_closed.insert(id.clone());
                false
            }
            TxnType::Debit => {
                self.debited.insert(id.clone(), amount);
                true
            }
            TxnType::Reversal => {
                if self.debited.contains_key(&id) {
                    self.undone.insert(id.clone());
                }
                self.debit_closed.insert(id.clone());
                true
            }
            TxnType::Credit if self.credit_closed.contains(&id) => false,
            TxnType::Credit if self.credited.contains_key(&id) => true,
            TxnType::Credit if s.pick(4) == 0 => {
                self.credit_closed.insert(id.clone());
                false
            }
            TxnType::Credit => {
                self.credited.insert(id.clone(), amount);
                true
            }
            other => panic!("a bank got a {other:?} leg"),
        };
        let mut resp = Resp::new(
            leg.head.msg_id.clone(),
            if ok {
                ResultCode::Success
            } else {
                ResultCode::Failure
            },
        );
        if !ok {
            resp.err_code = Some(ErrCode::new("Z9").unwrap());
        }
        Event::BankResponse(RespPay {
            head: head("BANK", "B1"),
            txn: leg.txn.clone(),
            resp,
        })
    }

    fn check(&mut self, chk: &ReqChkTxn, s: &mut Script, settle: bool) -> Event {
        let id = chk.txn.org_txn_id.clone().unwrap();
        let result = if self.credited.contains_key(&id) {
            ResultCode::Success
        } else if self.credit_closed.contains(&id) || settle || s.pick(2) == 0 {
            self.credit_closed.insert(id);
            ResultCode::Failure
        } else {
            ResultCode::Deemed
        };
        let mut resp = Resp::new(chk.head.msg_id.clone(), result);
        if result != ResultCode::Success {
            resp.err_code = Some(ErrCode::new("RB").unwrap());
        }
        Event::CheckResponse(RespChkTxn {
            head: head("BANK", "B2"),
            txn: chk.txn.clone(),
            resp,
        })
    }
}

/// The switch, the network between it and the banks and PSPs, and what was seen.
struct World {
    sw: Switch,
    now: i64,
    specs: Vec<Spec>,
    banks: Banks,
    to_banks: Vec<(Dest, Message)>,
    to_switch: Vec<Event>,
    timers: Vec<(i64, Timer)>,
    collects: Vec<TxnId>,
    submitted: HashSet<usize>,
    finished: HashMap<TxnId, Vec<Outcome>>,
    debits_sent: HashMap<TxnId, usize>,
    told: HashMap<TxnId, Vec<ResultCode>>,
}

impl World {
    fn new(specs: Vec<Spec>) -> World {
        World {
            sw: Switch::new(OrgId::new("NPCI").unwrap(), 0),
            now: T0,
            specs,
            banks: Banks::default(),
            to_banks: Vec::new(),
            to_switch: Vec::new(),
            timers: Vec::new(),
            collects: Vec::new(),
            submitted: HashSet::new(),
            finished: HashMap::new(),
            debits_sent: HashMap::new(),
            told: HashMap::new(),
        }
    }

    fn handle(&mut self, event: Event) {
        self.now += 1;
        let Ok(actions) = self.sw.handle(self.now, event) else {
            return;
        };
        for a in actions {
            self.act(a);
        }
    }

    fn act(&mut self, a: Action) {
        match a {
            Action::Send {
                to: Dest::Requester(_),
                msg: Message::RespPay(r),
            } => {
                let duplicate = r
                    .resp
                    .err_code
                    .as_ref()
                    .is_some_and(|c| c.as_str() == codes::DUPLICATE_TXN_ID);
                assert!(!duplicate, "the generated requests never clash");
                self.told
                    .entry(r.txn.id.clone())
                    .or_default()
                    .push(r.resp.result);
            }
            Action::Send {
                to: Dest::Psp(_),
                msg: Message::ReqPay(c),
            } => self.collects.push(c.txn.id),
            Action::Send {
                to: to @ Dest::Bank(_),
                msg,
            } => {
                if let Message::ReqPay(leg) = &msg {
                    self.check_route(&to, leg);
                    if leg.txn.kind == TxnType::Debit {
                        *self.debits_sent.entry(leg.txn.id.clone()).or_default() += 1;
                    }
                }
                self.to_banks.push((to, msg));
            }
            Action::Send { to, msg } => panic!("unexpected send to {to:?}: {msg:?}"),
            Action::SetTimer { at, timer } => self.timers.push((at, timer)),
            Action::Finished { txn_id, outcome } => {
                self.finished.entry(txn_id).or_default().push(outcome)
            }
        }
    }

    /// Debits and reversals go to the payer's bank, credits to the payee's.
    fn check_route(&self, to: &Dest, leg: &ReqPay) {
        let bank = match leg.txn.kind {
            TxnType::Credit => leg.payees[0]
                .account
                .as_ref()
                .unwrap()
                .ifsc
                .bank()
                .to_owned(),
            _ => leg.payer.account.as_ref().unwrap().ifsc.bank().to_owned(),
        };
        assert_eq!(*to, Dest::Bank(bank), "{leg:?}");
    }

    fn submit(&mut self, i: usize) {
        let (req, acct) = request(i, &self.specs[i]);
        self.submitted.insert(i);
        let payer = PayerFacts {
            bound_at: Some(T0 - 10 * 86_400_000),
            p2p_paid_today: 0,
        };
        self.handle(Event::Request {
            req,
            payee_account: Some(acct),
            payer,
        });
    }

    fn decide_collect(&mut self, j: usize) {
        let id = self.collects.remove(j);
        let i: usize = id.as_str()[1..].parse().unwrap();
        let Spec::Collect { approve, .. } = self.specs[i] else {
            unreachable!()
        };
        let event = if approve {
            let facts = PayerFacts {
                bound_at: Some(T0 - 10 * 86_400_000),
                p2p_paid_today: 0,
            };
            Event::CollectApproved {
                txn_id: id,
                payer: asha(),
                facts,
            }
        } else {
            Event::CollectDeclined { txn_id: id }
        };
        self.handle(event);
    }

    /// Deliver message `j` to its bank; the answer is lost when `lose`.
    fn deliver(&mut self, j: usize, keep_copy: bool, lose: bool, s: &mut Script, settle: bool) {
        let (to, msg) = if keep_copy {
            self.to_banks[j].clone()
        } else {
            self.to_banks.remove(j)
        };
        let _ = to;
        if let Some(answer) = self.banks.answer(&msg, s, settle)
            && !lose
        {
            self.to_switch.push(answer);
        }
    }

    fn fire(&mut self, j: usize) {
        let (at, timer) = self.timers.remove(j);
        self.now = self.now.max(at);
        self.handle(Event::Timer(timer));
    }

    fn step(&mut self, s: &mut Script) {
        match s.pick(7) {
            0 => {
                let i = s.pick(self.specs.len());
                self.submit(i);
            }
            1 | 2 if !self.to_banks.is_empty() => {
                let j = s.pick(self.to_banks.len());
                let (copy, lose) = (s.pick(5) == 0, s.pick(4) == 0);
                self.deliver(j, copy, lose, s, false);
            }
            3 | 4 if !self.to_switch.is_empty() => {
                let j = s.pick(self.to_switch.len());
                let e = self.to_switch.remove(j);
                self.handle(e);
            }
            5 if !self.timers.is_empty() => {
                let j = s.pick(self.timers.len());
                self.fire(j);
            }
            6 if !self.collects.is_empty() => {
                let j = s.pick(self.collects.len());
                self.decide_collect(j);
            }
            _ => {}
        }
    }

    /// Deliver everything, answer definitively, fire timers in order, until
    /// every submitted transaction is final.
    fn settle(&mut self, s: &mut Script) {
        for _ in 0..10_000 {
            if !self.to_banks.is_empty() {
                self.deliver(0, false, false, s, true);
            } else if !self.to_switch.is_empty() {
                let e = self.to_switch.remove(0);
                self.handle(e);
            } else if !self.collects.is_empty() {
                self.decide_collect(0);
            } else if self.all_final() {
                return;
            } else if !self.timers.is_empty() {
                let j = (0..self.timers.len())
                    .min_by_key(|&j| self.timers[j].0)
                    .unwrap();
                self.fire(j);
            } else {
                panic!("stuck: nothing in flight and not every transaction is final");
            }
        }
        panic!("did not settle");
    }

    fn all_final(&self) -> bool {
        self.submitted.iter().all(|i| {
            self.sw
                .transaction(&txn_id(*i))
                .is_some_and(|t| t.outcome().is_some())
        })
    }

    fn check_money(&self) {
        let (mut debits, mut reversals, mut credits) = (0u64, 0u64, 0u64);
        for i in &self.submitted {
            let id = txn_id(*i);
            let t = self.sw.transaction(&id).unwrap();
            let outcomes = &self.finished[&id];
            assert_eq!(outcomes.len(), 1, "{id}: exactly one final outcome");
            assert_eq!(Some(&outcomes[0]), t.outcome());
            assert!(
                self.debits_sent.get(&id).copied().unwrap_or(0) <= 1,
                "{id}: one debit at most"
            );
            let debited = self.banks.debited.get(&id).copied().unwrap_or(0);
            let reversed = if self.banks.undone.contains(&id) {
                debited
            } else {
                0
            };
            let credited = self.banks.credited.get(&id).copied().unwrap_or(0);
            debits += debited;
            reversals += reversed;
            credits += credited;
            if outcomes[0] == Outcome::Success {
                assert_eq!(
                    (debited - reversed, credited),
                    (t.amount.paise, t.amount.paise),
                    "{id}"
                );
            } else {
                assert_eq!(
                    (debited - reversed, credited),
                    (0, 0),
                    "{id}: {:?}",
                    outcomes[0]
                );
            }
            let told = self.told.get(&id).cloned().unwrap_or_default();
            let success = outcomes[0] == Outcome::Success;
            assert!(!told.is_empty(), "{id}: the requester was answered");
            assert!(
                told.iter().all(|r| match r {
                    ResultCode::Success => success,
                    ResultCode::Failure => !success,
                    ResultCode::Deemed => true,
                }),
                "{id}: told {told:?}, ended {:?}",
                outcomes[0]
            );
        }
        assert_eq!(debits - reversals, credits);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn money_is_never_lost_or_created(
        specs in proptest::collection::vec(spec(), 1..8),
        script in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut w = World::new(specs);
        let mut s = Script { bytes: script, at: 0 };
        while s.at < s.bytes.len() {
            w.step(&mut s);
        }
        w.settle(&mut s);
        w.check_money();
    }
}
