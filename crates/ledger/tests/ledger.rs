//! Ledger behaviour on the configured store (SQLite by default, PostgreSQL
//! with PAYTAP_TEST_DATABASE_URL).

use paytap_ledger::{
    AccountFlags, AccountSpec, Balance, Ledger, LedgerError, LedgerOptions, PendingState,
    Rejection, Transfer, TransferKind,
};
use paytap_store::Db;
use paytap_types::{Currency, Money};

fn cny(minor: i64) -> Money {
    Money::new(minor, Currency::CNY)
}

async fn ledger() -> Ledger {
    Ledger::open(Db::for_tests().await.unwrap()).await.unwrap()
}

/// A bank-style setup: `funding` (no limit) funds `alice`, whose account
/// must not go below zero; `merchant` receives.
async fn funded(l: &Ledger, alice_funds: i64) {
    for (id, flags) in [
        ("funding", AccountFlags::None),
        ("alice", AccountFlags::DebitsMustNotExceedCredits),
        ("merchant", AccountFlags::None),
    ] {
        l.create_account(AccountSpec::new(id, id, Currency::CNY, flags))
            .await
            .unwrap();
    }
    if alice_funds > 0 {
        l.transfer(Transfer::single(
            "fund",
            "funding",
            "alice",
            cny(alice_funds),
        ))
        .await
        .unwrap();
    }
}

fn rejected(r: Result<paytap_ledger::Receipt, LedgerError>) -> Rejection {
    match r {
        Err(LedgerError::Rejected(x)) => x,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn accounts_are_idempotent_and_conflicts_detected() {
    let l = ledger().await;
    let spec = AccountSpec::new(
        "a1",
        "Alice",
        Currency::CNY,
        AccountFlags::DebitsMustNotExceedCredits,
    );
    let first = l.create_account(spec.clone()).await.unwrap();
    let again = l.create_account(spec.clone()).await.unwrap();
    assert_eq!(first, again);
    assert_eq!(first.balance, Balance::default());
    for changed in [
        AccountSpec {
            name: "Bob".into(),
            ..spec.clone()
        },
        AccountSpec {
            currency: Currency::INR,
            ..spec.clone()
        },
        AccountSpec {
            flags: AccountFlags::None,
            ..spec.clone()
        },
    ] {
        assert!(matches!(
            l.create_account(changed).await,
            Err(LedgerError::AccountConflict(id)) if id == "a1"
        ));
    }
    assert!(matches!(
        l.create_account(AccountSpec::new("", "x", Currency::CNY, AccountFlags::None))
            .await,
        Err(LedgerError::InvalidSpec(_))
    ));
    assert!(matches!(
        l.balance("nope").await,
        Err(LedgerError::AccountNotFound(_))
    ));
}

#[tokio::test]
async fn single_transfer_moves_money_once() {
    let l = ledger().await;
    funded(&l, 10_000).await;
    let t = Transfer::single("t1", "alice", "merchant", cny(2_500)).with_reference("stan:000123");
    let r1 = l.transfer(t.clone()).await.unwrap();
    assert_eq!(r1.kind, TransferKind::Single);
    assert_eq!(r1.amount, cny(2_500));
    assert_eq!(r1.reference.as_deref(), Some("stan:000123"));
    // A retry returns the identical receipt and moves nothing.
    let r2 = l.transfer(t.clone()).await.unwrap();
    assert_eq!(r1, r2);
    let a = l.balance("alice").await.unwrap();
    assert_eq!(a.debits_posted, 2_500);
    assert_eq!(a.credits_posted, 10_000);
    assert_eq!(a.available_to_debit(), 7_500);
    assert_eq!(l.balance("merchant").await.unwrap().credits_posted, 2_500);
    // Same id, different content.
    for other in [
        Transfer {
            amount: cny(2_501),
            ..t.clone()
        },
        Transfer {
            credit: "funding".into(),
            ..t.clone()
        },
        Transfer {
            pending: true,
            ..t.clone()
        },
        Transfer {
            reference: None,
            ..t.clone()
        },
        Transfer {
            amount: Money::new(2_500, Currency::INR),
            ..t.clone()
        },
    ] {
        assert!(matches!(
            l.transfer(other).await,
            Err(LedgerError::IdempotencyConflict(id)) if id == "t1"
        ));
    }
    assert!(matches!(
        l.void_pending("t1", "whatever").await,
        Err(LedgerError::IdempotencyConflict(_))
    ));
    assert_eq!(l.outcome("t1").await.unwrap(), Some(Ok(r1)));
    l.check_invariants().await.unwrap();
}

#[tokio::test]
async fn validation_rejections_are_final() {
    let l = ledger().await;
    funded(&l, 1_000).await;
    l.create_account(AccountSpec::new(
        "inr",
        "inr",
        Currency::INR,
        AccountFlags::None,
    ))
    .await
    .unwrap();
    let cases = [
        (
            Transfer::single("v1", "alice", "merchant", cny(0)),
            Rejection::AmountNotPositive,
        ),
        (
            Transfer::single("v2", "alice", "merchant", cny(-5)),
            Rejection::AmountNotPositive,
        ),
        (
            Transfer::single("v3", "alice", "alice", cny(5)),
            Rejection::SameAccount,
        ),
        (
            Transfer::single("v4", "ghost", "merchant", cny(5)),
            Rejection::DebitAccountNotFound,
        ),
        (
            Transfer::single("v5", "alice", "ghost", cny(5)),
            Rejection::CreditAccountNotFound,
        ),
        (
            Transfer::single("v6", "alice", "inr", cny(5)),
            Rejection::CurrencyMismatch,
        ),
        (
            Transfer::single("v7", "alice", "merchant", Money::new(5, Currency::INR)),
            Rejection::CurrencyMismatch,
        ),
        (
            Transfer::single("v8", "alice", "merchant", cny(1_001)),
            Rejection::ExceedsCredits,
        ),
        (
            Transfer::single("", "alice", "merchant", cny(1)),
            Rejection::InvalidId,
        ),
        (
            Transfer::single("x".repeat(129), "alice", "merchant", cny(1)),
            Rejection::InvalidId,
        ),
    ];
    for (t, want) in &cases {
        assert_eq!(rejected(l.transfer(t.clone()).await), *want, "{t:?}");
    }
    // Insufficient funds is remembered: topping up does not change the
    // answer for the same id, a new id succeeds.
    l.transfer(Transfer::single("fund2", "funding", "alice", cny(5_000)))
        .await
        .unwrap();
    assert_eq!(
        rejected(l.transfer(cases[7].0.clone()).await),
        Rejection::ExceedsCredits
    );
    assert_eq!(
        l.outcome("v8").await.unwrap(),
        Some(Err(Rejection::ExceedsCredits))
    );
    l.transfer(Transfer::single("v8b", "alice", "merchant", cny(1_001)))
        .await
        .unwrap();
    // Balances moved only for the successful transfers.
    let a = l.balance("alice").await.unwrap();
    assert_eq!((a.credits_posted, a.debits_posted), (6_000, 1_001));
    l.check_invariants().await.unwrap();
}

#[tokio::test]
async fn credits_must_not_exceed_debits() {
    let l = ledger().await;
    // A credit line seen from the bank: the limit is a debit of `line`.
    for (id, flags) in [
        ("limit", AccountFlags::None),
        ("line", AccountFlags::CreditsMustNotExceedDebits),
        ("m", AccountFlags::None),
    ] {
        l.create_account(AccountSpec::new(id, id, Currency::CNY, flags))
            .await
            .unwrap();
    }
    l.transfer(Transfer::single("grant", "line", "limit", cny(300)))
        .await
        .unwrap();
    l.transfer(Transfer::pending("h1", "m", "line", cny(200)))
        .await
        .unwrap();
    assert_eq!(
        rejected(
            l.transfer(Transfer::single("s1", "m", "line", cny(101)))
                .await
        ),
        Rejection::ExceedsDebits
    );
    l.transfer(Transfer::single("s2", "m", "line", cny(100)))
        .await
        .unwrap();
    assert_eq!(l.balance("line").await.unwrap().available_to_credit(), 0);
    l.check_invariants().await.unwrap();
}

#[tokio::test]
async fn holds_count_and_resolve_once() {
    let l = ledger().await;
    funded(&l, 10_000).await;
    let h = l
        .transfer(Transfer::pending("h1", "alice", "merchant", cny(6_000)))
        .await
        .unwrap();
    assert_eq!(h.kind, TransferKind::Pending);
    assert_eq!(
        l.pending_state("h1").await.unwrap(),
        Some(PendingState::Pending)
    );
    let a = l.balance("alice").await.unwrap();
    assert_eq!((a.debits_pending, a.available_to_debit()), (6_000, 4_000));
    // The hold reduces available funds.
    assert_eq!(
        rejected(
            l.transfer(Transfer::pending("h2", "alice", "merchant", cny(4_001)))
                .await
        ),
        Rejection::ExceedsCredits
    );
    assert_eq!(
        rejected(
            l.transfer(Transfer::single("s1", "alice", "merchant", cny(4_001)))
                .await
        ),
        Rejection::ExceedsCredits
    );
    // Partial post: 4500 posted, 1500 released.
    assert_eq!(
        rejected(l.post_pending("p0", "h1", Some(6_001)).await),
        Rejection::AmountExceedsPending
    );
    assert_eq!(
        rejected(l.post_pending("p00", "h1", Some(0)).await),
        Rejection::AmountNotPositive
    );
    let p = l.post_pending("p1", "h1", Some(4_500)).await.unwrap();
    assert_eq!(p.kind, TransferKind::PostPending);
    assert_eq!(p.amount, cny(4_500));
    assert_eq!(p.pending_id.as_deref(), Some("h1"));
    assert_eq!((p.debit.as_str(), p.credit.as_str()), ("alice", "merchant"));
    assert_eq!(l.post_pending("p1", "h1", Some(4_500)).await.unwrap(), p);
    assert!(matches!(
        l.post_pending("p1", "h1", None).await,
        Err(LedgerError::IdempotencyConflict(_))
    ));
    assert_eq!(
        l.pending_state("h1").await.unwrap(),
        Some(PendingState::Posted)
    );
    let a = l.balance("alice").await.unwrap();
    assert_eq!(
        a,
        Balance {
            debits_posted: 4_500,
            credits_posted: 10_000,
            debits_pending: 0,
            credits_pending: 0
        }
    );
    // Cannot resolve twice.
    assert_eq!(
        rejected(l.post_pending("p2", "h1", None).await),
        Rejection::PendingAlreadyPosted
    );
    assert_eq!(
        rejected(l.void_pending("v1", "h1").await),
        Rejection::PendingAlreadyPosted
    );
    // Void.
    l.transfer(Transfer::pending("h3", "alice", "merchant", cny(5_000)))
        .await
        .unwrap();
    let v = l.void_pending("v2", "h3").await.unwrap();
    assert_eq!((v.kind, v.amount), (TransferKind::VoidPending, cny(5_000)));
    assert_eq!(
        l.pending_state("h3").await.unwrap(),
        Some(PendingState::Voided)
    );
    assert_eq!(
        rejected(l.post_pending("p3", "h3", None).await),
        Rejection::PendingAlreadyVoided
    );
    assert_eq!(
        rejected(l.void_pending("v3", "h3").await),
        Rejection::PendingAlreadyVoided
    );
    assert_eq!(
        rejected(l.void_pending("v4", "nope").await),
        Rejection::PendingNotFound
    );
    assert_eq!(
        rejected(l.void_pending("v5", "fund").await),
        Rejection::NotPending
    );
    // A failed hold is not a pending transfer.
    assert_eq!(
        rejected(l.post_pending("p4", "h2", None).await),
        Rejection::PendingNotFound
    );
    let a = l.balance("alice").await.unwrap();
    assert_eq!((a.debits_posted, a.debits_pending), (4_500, 0));
    let report = l.check_invariants().await.unwrap();
    assert_eq!(report.accounts, 3);
    let t = report.totals.get(&Currency::CNY).unwrap();
    assert_eq!(t.debits_posted, t.credits_posted);
}

#[tokio::test]
async fn one_batch_applies_in_order_and_fails_alone() {
    // A tiny batch limit is not needed: submit many requests at once so the
    // writer sees them together, including dependencies inside the batch.
    let l = Ledger::open_with(
        Db::for_tests().await.unwrap(),
        LedgerOptions {
            max_batch: 4096,
            queue: 4096,
        },
    )
    .await
    .unwrap();
    funded(&l, 100).await;
    let mut handles = Vec::new();
    for i in 0..200 {
        let l = l.clone();
        handles.push(tokio::spawn(async move {
            l.transfer(Transfer::single(
                format!("b{i}"),
                "alice",
                "merchant",
                cny(1),
            ))
            .await
        }));
    }
    let mut ok = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(LedgerError::Rejected(Rejection::ExceedsCredits)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(ok, 100);
    assert_eq!(l.balance("alice").await.unwrap().available_to_debit(), 0);
    // Hold, post and a duplicate of the hold in one burst.
    let (a, b, c) = tokio::join!(
        l.transfer(Transfer::pending("hx", "funding", "merchant", cny(50))),
        l.post_pending("px", "hx", Some(20)),
        l.transfer(Transfer::pending("hx", "funding", "merchant", cny(50))),
    );
    let a = a.unwrap();
    assert_eq!(c.unwrap(), a);
    // Posted in the same batch or a later one: either way exactly once.
    match b {
        Ok(p) => assert_eq!(p.amount, cny(20)),
        Err(LedgerError::Rejected(Rejection::PendingNotFound)) => {
            l.post_pending("px2", "hx", Some(20)).await.unwrap();
        }
        Err(e) => panic!("{e}"),
    }
    assert_eq!(l.balance("merchant").await.unwrap().credits_posted, 120);
    l.check_invariants().await.unwrap();
}

#[tokio::test]
async fn invariant_check_detects_tampering() {
    let l = ledger().await;
    funded(&l, 500).await;
    l.check_invariants().await.unwrap();
    let mut tx = l.db().begin_write().await.unwrap();
    sqlx::query(
        "UPDATE ledger_accounts SET credits_posted = credits_posted + 1 WHERE id = 'alice'",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(matches!(
        l.check_invariants().await,
        Err(LedgerError::Corrupt(_))
    ));
}

#[tokio::test]
async fn state_survives_reopen() {
    let db = Db::for_tests().await.unwrap();
    {
        let l = Ledger::open(db.clone()).await.unwrap();
        funded(&l, 700).await;
        l.transfer(Transfer::pending("h", "alice", "merchant", cny(300)))
            .await
            .unwrap();
    }
    let l = Ledger::open(db).await.unwrap();
    let r = l
        .transfer(Transfer::pending("h", "alice", "merchant", cny(300)))
        .await
        .unwrap();
    assert_eq!(r.amount, cny(300));
    l.post_pending("p", "h", None).await.unwrap();
    assert_eq!(l.balance("alice").await.unwrap().available_to_debit(), 400);
    l.check_invariants().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_tasks_keep_invariants() {
    let l = ledger().await;
    let n_accounts = 20;
    l.create_account(AccountSpec::new(
        "bank",
        "bank",
        Currency::CNY,
        AccountFlags::None,
    ))
    .await
    .unwrap();
    for i in 0..n_accounts {
        let id = format!("acct{i}");
        l.create_account(AccountSpec::new(
            id.clone(),
            id.clone(),
            Currency::CNY,
            AccountFlags::DebitsMustNotExceedCredits,
        ))
        .await
        .unwrap();
        l.transfer(Transfer::single(
            format!("seed{i}"),
            "bank",
            id.as_str(),
            cny(1_000),
        ))
        .await
        .unwrap();
    }
    let mut tasks = Vec::new();
    for task in 0..64u64 {
        let l = l.clone();
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for k in 0..30u64 {
                let x = task * 1_000 + k;
                let from = format!("acct{}", x % 20);
                let to = format!("acct{}", (x * 7 + 3) % 20);
                let amount = cny(i64::try_from(x % 97 + 1).unwrap());
                let id = format!("c{task}-{k}");
                let r = if x % 3 == 0 {
                    let r = l
                        .transfer(Transfer::pending(id.clone(), from, to, amount))
                        .await;
                    if r.is_ok() {
                        if x % 2 == 0 {
                            let _ = l.post_pending(format!("{id}-p"), id.clone(), None).await;
                        } else {
                            let _ = l.void_pending(format!("{id}-v"), id.clone()).await;
                        }
                    }
                    r
                } else {
                    l.transfer(Transfer::single(id.clone(), from, to, amount))
                        .await
                };
                answers.push((id, r));
            }
            answers
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    // Retrying every request returns the same answer.
    for (id, first) in &all {
        let again = match l.outcome(id).await.unwrap() {
            Some(Ok(r)) => Ok(r),
            Some(Err(rej)) => Err(LedgerError::Rejected(rej)),
            None => panic!("no outcome for {id}"),
        };
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
    }
    let report = l.check_invariants().await.unwrap();
    let t = report.totals.get(&Currency::CNY).unwrap();
    assert_eq!(t.debits_posted, t.credits_posted);
    assert_eq!(t.debits_pending, 0);
    let mut total = 0;
    for i in 0..n_accounts {
        let b = l.balance(&format!("acct{i}")).await.unwrap();
        assert!(b.available_to_debit() >= 0);
        total += b.credits_posted - b.debits_posted;
    }
    assert_eq!(total, 20_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invariants_hold_while_transfers_run() {
    let l = ledger().await;
    funded(&l, 1_000_000).await;
    let writer = {
        let l = l.clone();
        tokio::spawn(async move {
            for i in 0..400 {
                let id = format!("w{i}");
                l.transfer(Transfer::pending(id.as_str(), "alice", "merchant", cny(7)))
                    .await
                    .unwrap();
                if i % 2 == 0 {
                    l.post_pending(format!("{id}-p"), id, Some(5))
                        .await
                        .unwrap();
                } else {
                    l.void_pending(format!("{id}-v"), id).await.unwrap();
                }
            }
        })
    };
    // Every check reads one consistent snapshot, even mid-stream.
    while !writer.is_finished() {
        l.check_invariants().await.unwrap();
    }
    writer.await.unwrap();
    let report = l.check_invariants().await.unwrap();
    assert_eq!(
        report.totals[&Currency::CNY].debits_posted,
        1_000_000 + 200 * 5
    );
}
