//! The operator's host on the configured store (SQLite by default,
//! PostgreSQL with PAYTAP_TEST_DATABASE_URL): idempotent uploads, refusals
//! with their reason, the hotlist, settlement on the ledger, and batches
//! whose transaction never committed.

mod common;

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use common::*;
use paytap_operator::{BatchResult, HotlistReason, OperatorError, RejectedRecord};
use paytap_purse::Purse;
use paytap_transit::GateRecord;

fn rejected(index: usize, reason: &str) -> RejectedRecord {
    RejectedRecord {
        index,
        reason: reason.to_owned(),
    }
}

#[tokio::test]
async fn a_batch_uploaded_twice_counts_once_and_answers_the_same() {
    let f = fixture().await;
    let records = rides(2, 6);
    let first = f.host.upload("gate1-0001", &records).await.unwrap();
    assert_eq!(
        first,
        BatchResult {
            batch_id: "gate1-0001".into(),
            records: 6,
            accepted: 6,
            duplicates: 0,
            rejected: vec![],
            flagged: 0,
            business_day: today(),
        }
    );
    assert_eq!(f.host.upload("gate1-0001", &records).await.unwrap(), first);
    // The same records under a new id (a gate that lost its batch id): duplicates.
    let again = f.host.upload("gate1-0002", &records[2..]).await.unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 4));
    // An id reused for other records is refused and changes nothing.
    assert!(matches!(
        f.host.upload("gate1-0001", &records[..3]).await,
        Err(OperatorError::BatchConflict(_))
    ));
    let sql = "SELECT CAST(COUNT(*) AS BIGINT) FROM operator_records";
    assert_eq!(count(&f.db, sql).await, 6);
    // A restarted host answers from its tables.
    let host = open_host(&f.db, &f.ledger, &f.clock).await;
    assert_eq!(host.upload("gate1-0001", &records).await.unwrap(), first);
    let again = host.upload("gate1-0003", &records).await.unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 6));
}

#[tokio::test]
async fn bad_batch_ids_and_oversized_batches_are_refused() {
    let f = fixture().await;
    let long = "x".repeat(paytap_operator::MAX_BATCH_ID_LEN + 1);
    for id in ["", "has space", "naïve", long.as_str()] {
        assert!(
            matches!(f.host.upload(id, &[]).await, Err(OperatorError::BatchId)),
            "{id:?}"
        );
    }
    let r = rides(1, 1)[0];
    let big = vec![r; paytap_transit::clearing::MAX_BATCH + 1];
    assert!(matches!(
        f.host.upload("big", &big).await,
        Err(OperatorError::BatchTooLarge(_))
    ));
}

#[tokio::test]
async fn forged_altered_and_duplicate_records_are_refused_with_their_reason() {
    let f = fixture().await;
    let good = rides(2, 2);
    f.host.upload("honest", &good).await.unwrap();
    let tamper = |change: fn(&mut GateRecord)| {
        let mut r = good[0];
        change(&mut r);
        r
    };
    let mut other_city = good[1];
    other_city.serial = paytap_transit::config::serial_from_digits("31000000000000000001").unwrap();
    let cases: [(GateRecord, &str); 6] = [
        (tamper(|r| r.amount -= 1), "tac_invalid"),
        (tamper(|r| r.tac[0] ^= 1), "tac_invalid"),
        (tamper(|r| r.terminal_seq += 100), "tac_invalid"),
        (tamper(|r| r.counter += 1), "altered"),
        (tamper(|r| r.type_id = 2), "not_a_purchase"),
        (other_city, "not_our_card"),
    ];
    for (i, (record, reason)) in cases.iter().enumerate() {
        let out = f
            .host
            .upload(&format!("bad-{i}"), &[good[1], *record])
            .await
            .unwrap();
        assert_eq!(out.duplicates, 1, "{reason}");
        assert_eq!(out.rejected, [rejected(1, reason)], "{reason}");
        assert_eq!(out.accepted, 0);
    }
    let sql = "SELECT CAST(COUNT(*) AS BIGINT) FROM operator_rejections";
    assert_eq!(count(&f.db, sql).await, 6);
    let sql = "SELECT CAST(COUNT(*) AS BIGINT) FROM operator_records";
    assert_eq!(count(&f.db, sql).await, 2);
}

#[tokio::test]
async fn a_cloned_card_is_hotlisted_and_stays_there_after_a_restart() {
    let f = fixture().await;
    let mut real = card(serial(4));
    let mut clone = Purse::new(real.state().clone());
    let a = ride(&mut real, &mut sam(0), 300, 1);
    let b = ride(&mut clone, &mut sam(1), 400, 2);
    assert_eq!(a.counter, b.counter);
    f.host.upload("g0", &[a]).await.unwrap();
    assert!(!f.host.is_hotlisted(&serial(4)).await.unwrap());
    let out = f.host.upload("g1", &[b]).await.unwrap();
    assert_eq!((out.accepted, out.flagged), (1, 1));
    let hotlist = f.host.hotlist().await.unwrap();
    assert_eq!(hotlist.len(), 1);
    assert_eq!(hotlist[0].serial, serial(4));
    assert_eq!(
        hotlist[0].reasons,
        [HotlistReason::CounterReused(a.counter)]
    );
    // The card number is not in the tables in clear.
    let digits = hex::encode(serial(4));
    for table in ["operator_cards", "operator_records", "operator_hotlist"] {
        let sql =
            format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table} WHERE card LIKE '%{digits}%'");
        assert_eq!(count(&f.db, &sql).await, 0, "{table}");
    }
    let host = open_host(&f.db, &f.ledger, &f.clock).await;
    assert_eq!(host.hotlist().await.unwrap(), hotlist);
    assert!(host.is_hotlisted(&serial(4)).await.unwrap());
}

#[tokio::test]
async fn a_lost_card_is_hotlisted_once() {
    let f = fixture().await;
    f.host.report_lost(&serial(9)).await.unwrap();
    f.host.report_lost(&serial(9)).await.unwrap();
    let hotlist = f.host.hotlist().await.unwrap();
    assert_eq!(hotlist.len(), 1);
    assert_eq!(
        (hotlist[0].serial, hotlist[0].reasons.as_slice()),
        (serial(9), &[HotlistReason::Lost][..])
    );
    let shanghai = paytap_transit::config::serial_from_digits("31000000000000000001").unwrap();
    assert!(matches!(
        f.host.report_lost(&shanghai).await,
        Err(OperatorError::NotOurCard)
    ));
    // Its rides still count: they are debits a card with the real keys made.
    let mut p = card(serial(9));
    let r = ride(&mut p, &mut sam(0), 300, 5);
    assert_eq!(f.host.upload("after-loss", &[r]).await.unwrap().accepted, 1);
}

#[tokio::test]
async fn settlement_is_one_idempotent_transfer_and_the_report_sums_to_it() {
    let f = fixture().await;
    let records = rides(3, 12);
    let total: i64 = records.iter().map(|r| i64::from(r.amount)).sum();
    f.host.upload("a", &records[..7]).await.unwrap();
    f.host.upload("b", &records[5..]).await.unwrap();
    assert!(matches!(
        f.host.settle(today()).await,
        Err(OperatorError::DayOpen(_))
    ));
    assert!(f.host.report(today()).await.unwrap().is_none());
    f.clock.advance(DAY);
    let s = f.host.settle(today()).await.unwrap();
    assert_eq!((s.amount.minor, s.records), (total, 12));
    assert_eq!(s.gates.len(), GATES.len());
    assert_eq!(s.gates.iter().map(|g| g.amount).sum::<i64>(), total);
    assert_eq!(
        s.transfer_id.as_deref(),
        Some("transit:beijing:settle:20261205")
    );
    assert_eq!(f.host.settle(today()).await.unwrap(), s);
    assert_eq!(f.host.report(today()).await.unwrap(), Some(s.clone()));
    let receipt = f
        .ledger
        .outcome(s.transfer_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(receipt.amount, s.amount);
    let accounts = f.host.accounts();
    assert_eq!(
        (receipt.debit.as_str(), receipt.credit.as_str()),
        (accounts.float.as_str(), accounts.revenue.as_str())
    );
    let float = f.ledger.balance(&accounts.float).await.unwrap();
    let revenue = f.ledger.balance(&accounts.revenue).await.unwrap();
    assert_eq!(
        (float.debits_posted, revenue.credits_posted),
        (total, total)
    );
    f.ledger.check_invariants().await.unwrap();
    // A late upload belongs to the next business day, never to a settled one.
    let late = rides(4, 13);
    let out = f.host.upload("late", &late[12..]).await.unwrap();
    assert_eq!(out.business_day, today().next());
    let host = open_host(&f.db, &f.ledger, &f.clock).await;
    assert_eq!(host.settle(today()).await.unwrap(), s);
    f.clock.advance(DAY);
    let next = host.settle(today().next()).await.unwrap();
    assert_eq!(next.amount.minor, i64::from(late[12].amount));
    let revenue = f.ledger.balance(&accounts.revenue).await.unwrap();
    assert_eq!(revenue.credits_posted, total + next.amount.minor);
    f.ledger.check_invariants().await.unwrap();
}

#[tokio::test]
async fn the_days_that_are_over_settle_on_their_own_once() {
    let f = fixture().await;
    let records = rides(2, 6);
    let total: i64 = records.iter().map(|r| i64::from(r.amount)).sum();
    f.host.upload("a", &records).await.unwrap();
    // The day is open: nothing is due.
    assert!(f.host.settle_due().await.unwrap().is_empty());
    // Two days later (the day between had no rides): the day settles, once.
    f.clock.advance(DAY * 2);
    let due = f.host.settle_due().await.unwrap();
    let days: Vec<_> = due.iter().map(|s| (s.day, s.amount.minor)).collect();
    assert_eq!(days, [(today(), total)]);
    // Again: the newest settled day is posted again, moving nothing more.
    let again = f.host.settle_due().await.unwrap();
    assert_eq!(again, due);
    let revenue = f.ledger.balance(&f.host.accounts().revenue).await.unwrap();
    assert_eq!(revenue.credits_posted, total);
    f.ledger.check_invariants().await.unwrap();
}

#[tokio::test]
async fn an_empty_day_settles_with_nothing_on_the_ledger() {
    let f = fixture().await;
    f.clock.advance(DAY);
    let s = f.host.settle(today()).await.unwrap();
    assert_eq!((s.amount.minor, s.records, s.transfer_id), (0, 0, None));
    assert!(s.gates.is_empty());
}

/// Polls `fut` `polls` times, letting the database work in between, then
/// drops it: a caller that went away, or a process that died, at any point.
async fn abandon_after<F: Future>(fut: F, polls: usize) -> Option<F::Output> {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        if let Poll::Ready(out) = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
            return Some(out);
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    None
}

#[tokio::test]
async fn a_batch_abandoned_at_any_point_is_cleared_once_on_retry() {
    let f = fixture().await;
    let records = rides(3, 40);
    let mut expected = 0i64;
    for (n, chunk) in records.chunks(4).enumerate() {
        let id = format!("batch-{n}");
        let _ = abandon_after(f.host.upload(&id, chunk), n).await;
        let out = f.host.upload(&id, chunk).await.unwrap();
        assert_eq!((out.accepted, out.duplicates), (chunk.len(), 0), "{id}");
        expected += chunk.iter().map(|r| i64::from(r.amount)).sum::<i64>();
    }
    let sql = "SELECT CAST(COUNT(*) AS BIGINT) FROM operator_records";
    assert_eq!(count(&f.db, sql).await, 40);
    f.clock.advance(DAY);
    assert_eq!(f.host.settle(today()).await.unwrap().amount.minor, expected);
    f.ledger.check_invariants().await.unwrap();
}
