//! Property tests: random sequences of transfers, holds, posts and voids.
//!
//! * sequentially, the ledger agrees with a simple in-memory model of
//!   double-entry bookkeeping, request by request;
//! * from concurrent tasks, the invariants hold and every retry returns the
//!   first answer.

use paytap_ledger::{
    AccountFlags, AccountSpec, Balance, Ledger, LedgerError, Receipt, Rejection, Transfer,
};
use paytap_store::Db;
use paytap_types::{Currency, Money};
use proptest::prelude::*;
use std::collections::HashMap;

const ACCOUNTS: usize = 4;

#[derive(Debug, Clone)]
enum Cmd {
    Single {
        from: usize,
        to: usize,
        amount: i64,
    },
    Hold {
        from: usize,
        to: usize,
        amount: i64,
    },
    Post {
        hold: usize,
        amount: Option<i64>,
    },
    Void {
        hold: usize,
    },
    /// Re-send an earlier request with the same id.
    Retry {
        index: usize,
    },
}

fn cmd() -> impl Strategy<Value = Cmd> {
    let acct = 0..ACCOUNTS;
    prop_oneof![
        (acct.clone(), 0..ACCOUNTS, -5i64..400).prop_map(|(from, to, amount)| Cmd::Single {
            from,
            to,
            amount
        }),
        (acct.clone(), 0..ACCOUNTS, 1i64..400).prop_map(|(from, to, amount)| Cmd::Hold {
            from,
            to,
            amount
        }),
        (0usize..16, proptest::option::of(0i64..450))
            .prop_map(|(hold, amount)| Cmd::Post { hold, amount }),
        (0usize..16).prop_map(|hold| Cmd::Void { hold }),
        (0usize..64).prop_map(|index| Cmd::Retry { index }),
    ]
}

fn account(i: usize) -> String {
    format!("acct{i}")
}

fn flags(i: usize) -> AccountFlags {
    match i {
        0 => AccountFlags::None,
        3 => AccountFlags::CreditsMustNotExceedDebits,
        _ => AccountFlags::DebitsMustNotExceedCredits,
    }
}

async fn setup() -> Ledger {
    let l = Ledger::open(Db::for_tests().await.unwrap()).await.unwrap();
    for i in 0..ACCOUNTS {
        l.create_account(AccountSpec::new(account(i), "p", Currency::CNY, flags(i)))
            .await
            .unwrap();
    }
    // Fund accounts 1 and 2 from 0; give 3 room to be credited.
    for (id, from, to) in [("f1", 0, 1), ("f2", 0, 2), ("f3", 3, 0)] {
        l.transfer(Transfer::single(
            id,
            account(from),
            account(to),
            Money::new(500, Currency::CNY),
        ))
        .await
        .unwrap();
    }
    l
}

/// The model: balances and holds.
struct Model {
    balances: Vec<Balance>,
    holds: HashMap<String, (usize, usize, i64, Option<bool>)>,
}

impl Model {
    fn new() -> Model {
        let mut balances = vec![Balance::default(); ACCOUNTS];
        for (from, to) in [(0, 1), (0, 2), (3, 0)] {
            balances[from].debits_posted += 500;
            balances[to].credits_posted += 500;
        }
        Model {
            balances,
            holds: HashMap::new(),
        }
    }

    fn allowed(&self, i: usize, b: &Balance) -> bool {
        flags(i).allows(b)
    }

    fn transfer(
        &mut self,
        id: &str,
        from: usize,
        to: usize,
        amount: i64,
        pending: bool,
    ) -> Result<(), Rejection> {
        if amount <= 0 {
            return Err(Rejection::AmountNotPositive);
        }
        if from == to {
            return Err(Rejection::SameAccount);
        }
        let (mut d, mut c) = (self.balances[from], self.balances[to]);
        if pending {
            d.debits_pending += amount;
            c.credits_pending += amount;
        } else {
            d.debits_posted += amount;
            c.credits_posted += amount;
        }
        if !self.allowed(from, &d) {
            return Err(if flags(from) == AccountFlags::CreditsMustNotExceedDebits {
                Rejection::ExceedsDebits
            } else {
                Rejection::ExceedsCredits
            });
        }
        if !self.allowed(to, &c) {
            return Err(if flags(to) == AccountFlags::CreditsMustNotExceedDebits {
                Rejection::ExceedsDebits
            } else {
                Rejection::ExceedsCredits
            });
        }
        self.balances[from] = d;
        self.balances[to] = c;
        if pending {
            self.holds.insert(id.to_string(), (from, to, amount, None));
        }
        Ok(())
    }

    fn resolve(&mut self, hold: &str, post: Option<Option<i64>>) -> Result<i64, Rejection> {
        let Some(&(from, to, held, state)) = self.holds.get(hold) else {
            return Err(Rejection::PendingNotFound);
        };
        match state {
            Some(true) => return Err(Rejection::PendingAlreadyPosted),
            Some(false) => return Err(Rejection::PendingAlreadyVoided),
            None => {}
        }
        let posted = match post {
            Some(Some(a)) if a <= 0 => return Err(Rejection::AmountNotPositive),
            Some(Some(a)) if a > held => return Err(Rejection::AmountExceedsPending),
            Some(Some(a)) => a,
            Some(None) => held,
            None => 0,
        };
        self.balances[from].debits_pending -= held;
        self.balances[to].credits_pending -= held;
        self.balances[from].debits_posted += posted;
        self.balances[to].credits_posted += posted;
        self.holds
            .insert(hold.to_string(), (from, to, held, Some(post.is_some())));
        Ok(if post.is_some() { posted } else { held })
    }
}

type Answer = Result<Receipt, LedgerError>;

fn same(a: &Answer, b: &Answer) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn sequential_matches_model(cmds in proptest::collection::vec(cmd(), 1..60)) {
        runtime().block_on(async {
            let l = setup().await;
            let mut model = Model::new();
            let mut sent: Vec<(Cmd, String, Answer)> = Vec::new();
            let cny = |m| Money::new(m, Currency::CNY);
            for (n, c) in cmds.iter().enumerate() {
                let id = format!("r{n}");
                let hold_id = |h: usize| format!("r{h}");
                let (c, id, answer, expected) = match c {
                    Cmd::Retry { index } if !sent.is_empty() => {
                        let (c, id, first) = &sent[index % sent.len()];
                        let answer = match c {
                            Cmd::Single { from, to, amount } => l.transfer(Transfer::single(id.as_str(), account(*from), account(*to), cny(*amount))).await,
                            Cmd::Hold { from, to, amount } => l.transfer(Transfer::pending(id.as_str(), account(*from), account(*to), cny(*amount))).await,
                            Cmd::Post { hold, amount } => l.post_pending(id.as_str(), hold_id(*hold), *amount).await,
                            Cmd::Void { hold } => l.void_pending(id.as_str(), hold_id(*hold)).await,
                            Cmd::Retry { .. } => unreachable!(),
                        };
                        assert!(same(&answer, first), "retry of {id}: {answer:?} vs {first:?}");
                        continue;
                    }
                    Cmd::Retry { .. } => continue,
                    Cmd::Single { from, to, amount } => {
                        let a = l.transfer(Transfer::single(id.as_str(), account(*from), account(*to), cny(*amount))).await;
                        let e = model.transfer(&id, *from, *to, *amount, false).map(|()| *amount);
                        (c.clone(), id, a, e)
                    }
                    Cmd::Hold { from, to, amount } => {
                        let a = l.transfer(Transfer::pending(id.as_str(), account(*from), account(*to), cny(*amount))).await;
                        let e = model.transfer(&id, *from, *to, *amount, true).map(|()| *amount);
                        (c.clone(), id, a, e)
                    }
                    Cmd::Post { hold, amount } => {
                        let a = l.post_pending(id.as_str(), hold_id(*hold), *amount).await;
                        let e = if sent.iter().any(|(c, i, _)| *i == hold_id(*hold) && !matches!(c, Cmd::Hold { .. })) {
                            Err(Rejection::NotPending)
                        } else {
                            model.resolve(&hold_id(*hold), Some(*amount))
                        };
                        (c.clone(), id, a, e)
                    }
                    Cmd::Void { hold } => {
                        let a = l.void_pending(id.as_str(), hold_id(*hold)).await;
                        let e = if sent.iter().any(|(c, i, _)| *i == hold_id(*hold) && !matches!(c, Cmd::Hold { .. })) {
                            Err(Rejection::NotPending)
                        } else {
                            model.resolve(&hold_id(*hold), None)
                        };
                        (c.clone(), id, a, e)
                    }
                };
                match (&answer, &expected) {
                    (Ok(r), Ok(amount)) => assert_eq!(r.amount.minor, *amount, "{c:?}"),
                    (Err(LedgerError::Rejected(got)), Err(want)) => assert_eq!(got, want, "{c:?}"),
                    _ => panic!("{c:?}: ledger {answer:?}, model {expected:?}"),
                }
                sent.push((c, id, answer));
            }
            for i in 0..ACCOUNTS {
                assert_eq!(l.balance(&account(i)).await.unwrap(), model.balances[i], "account {i}");
            }
            l.check_invariants().await.unwrap();
        });
    }

    #[test]
    fn concurrent_tasks_keep_invariants(
        streams in proptest::collection::vec(proptest::collection::vec(cmd(), 1..25), 2..6)
    ) {
        runtime().block_on(async {
            let l = setup().await;
            let mut tasks = Vec::new();
            for (t, cmds) in streams.into_iter().enumerate() {
                let l = l.clone();
                tasks.push(tokio::spawn(async move {
                    let cny = |m| Money::new(m, Currency::CNY);
                    // Holds named across tasks: task t resolves holds of
                    // any task, so posts and voids race with each other.
                    let hold_id = |h: usize| format!("t{}-{}", h % 4, h / 4);
                    let mut sent: Vec<(String, Cmd, Answer)> = Vec::new();
                    for (n, c) in cmds.into_iter().enumerate() {
                        let id = format!("t{t}-{n}");
                        let c = match c {
                            Cmd::Retry { index } if !sent.is_empty() => {
                                let k = index % sent.len();
                                let (id, c, _) = &sent[k];
                                (id.clone(), c.clone(), true)
                            }
                            Cmd::Retry { .. } => continue,
                            c => (id, c, false),
                        };
                        let (id, c, retry) = c;
                        let answer = match &c {
                            Cmd::Single { from, to, amount } => l.transfer(Transfer::single(id.as_str(), account(*from), account(*to), cny(*amount))).await,
                            Cmd::Hold { from, to, amount } => l.transfer(Transfer::pending(id.as_str(), account(*from), account(*to), cny(*amount))).await,
                            Cmd::Post { hold, amount } => l.post_pending(id.as_str(), hold_id(*hold), *amount).await,
                            Cmd::Void { hold } => l.void_pending(id.as_str(), hold_id(*hold)).await,
                            Cmd::Retry { .. } => unreachable!(),
                        };
                        if retry {
                            let first = sent.iter().find(|(i, _, _)| *i == id).map(|(_, _, a)| a).unwrap();
                            assert!(same(&answer, first), "retry of {id}: {answer:?} vs {first:?}");
                        } else {
                            sent.push((id, c, answer));
                        }
                    }
                    sent
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.unwrap());
            }
            let report = l.check_invariants().await.unwrap();
            let totals = report.totals.get(&Currency::CNY).unwrap();
            assert_eq!(totals.debits_posted, totals.credits_posted);
            assert_eq!(totals.debits_pending, totals.credits_pending);
            for (id, _, first) in &all {
                let stored = match l.outcome(id).await.unwrap() {
                    Some(Ok(r)) => Ok(r),
                    Some(Err(r)) => Err(LedgerError::Rejected(r)),
                    None => panic!("{id} has no outcome"),
                };
                assert!(same(&stored, first), "{id}");
            }
            // Each hold resolved at most once.
            for (id, c, a) in &all {
                if let (Cmd::Hold { .. }, Ok(_)) = (c, a) {
                    let resolutions = all.iter().filter(|(_, c2, a2)| {
                        a2.as_ref().ok().and_then(|r| r.pending_id.as_deref()) == Some(id.as_str())
                            && matches!(c2, Cmd::Post { .. } | Cmd::Void { .. })
                    }).count();
                    assert!(resolutions <= 1, "{id} resolved {resolutions} times");
                }
            }
        });
    }
}
