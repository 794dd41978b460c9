//! What a terminal heard survives the process: an approval's message log
//! row is durable before the answer goes out, so after a crash (the network
//! dropped without shutdown or flush, and started again on the same
//! database) every approval is still found by its reversal and captured by
//! clearing. Runs on SQLite, and on PostgreSQL with
//! PAYTAP_TEST_DATABASE_URL.

mod common;

use common::*;
use paytap_iso8583::Message;
use paytap_issuer::Product;
use paytap_store::Db;
use paytap_switch::LogStatus;
use std::time::Duration;

/// Terminals paying at once (the log falls behind the answers only when
/// several authorizations are in flight).
const TERMINALS: usize = 8;
/// Payments per terminal.
const PAYMENTS: usize = 6;
const OPENING: i64 = 1_000_000;
const AMOUNT: i64 = 1_000;

/// The log's status of `rrn` as another connection sees it now (without
/// waiting for the log writer).
async fn logged_status(db: &Db, rrn: &str) -> Option<LogStatus> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT status FROM switch_messages WHERE rrn = $1")
            .bind(rrn)
            .fetch_optional(db.pool())
            .await
            .unwrap();
    text.map(|t| t.parse().expect("a status the switch writes"))
}

#[tokio::test]
async fn approvals_are_logged_before_the_answer_and_cleared_after_a_crash() {
    let db = Db::for_tests().await.unwrap();
    let n = start_with(config(db.clone())).await;
    let mut phones = Vec::new();
    for i in 0..TERMINALS {
        let bank = if i % 2 == 0 { ICBC } else { CMB };
        phones.push(n.phone(bank, Product::Debit, OPENING).await);
    }
    // Every terminal pays; the moment an approval arrives, its log row is
    // already there.
    let paid: Vec<Vec<Message>> = futures::future::join_all(phones.iter_mut().map(|phone| {
        let n = &n;
        let db = &db;
        async move {
            let mut requests = Vec::new();
            for _ in 0..PAYMENTS {
                let (_, req) = n.tap(phone, AMOUNT);
                let answer = n.send(&req).await;
                assert_eq!(code(&answer), "00");
                let rrn = answer.rrn().expect("DE 37").to_owned();
                assert_eq!(
                    logged_status(db, &rrn).await,
                    Some(LogStatus::Approved),
                    "approval {rrn} answered before its log row was written"
                );
                requests.push(req);
            }
            requests
        }
    }))
    .await;

    // The process dies: nothing is shut down or flushed. The network
    // starts again on the same database.
    drop(n);
    let n = start_with(config(db.clone())).await;
    // A reversal of an approval from before the crash finds it and releases
    // its hold.
    let reversed = &paid[0][0];
    let r = n.send(&n.reversal_of(reversed)).await;
    assert_eq!(code(&r), "00");
    assert_eq!(
        n.available(&phones[0]).await,
        OPENING - AMOUNT * (PAYMENTS as i64 - 1)
    );
    // Clearing captures every other approval.
    let report = n.net.clearing(&n.today()).await.unwrap();
    let cleared = (TERMINALS * PAYMENTS - 1) as u64;
    assert!(report.balanced(), "{report:?}");
    assert_eq!(
        (
            report.authorizations,
            report.captured,
            report.capture_pending
        ),
        (cleared, cleared, 0)
    );
    for (i, phone) in phones.iter().enumerate() {
        let paid = AMOUNT * (PAYMENTS as i64 - i64::from(i == 0));
        assert_eq!(n.available(phone).await, OPENING - paid, "phone {i}");
    }
    n.assert_ledger().await;
    n.net.shutdown().await;
}

/// If the log cannot take an approval's row, the terminal is not told of
/// an approval: the hold is reversed at the issuer and the answer is `96`.
#[tokio::test]
async fn an_approval_the_log_cannot_take_is_reversed_and_answered_96() {
    let db = Db::for_tests().await.unwrap();
    let n = start_with(config(db.clone())).await;
    let mut phone = n.phone(ICBC, Product::Debit, OPENING).await;
    assert_eq!(code(&n.pay(&mut phone, AMOUNT).await), "00");
    n.net.switch().log().flush().await;
    // The log's table is gone: every write to it fails.
    sqlx::query("ALTER TABLE switch_messages RENAME TO switch_messages_away")
        .execute(db.pool())
        .await
        .unwrap();
    let answer = n.pay(&mut phone, AMOUNT).await;
    assert_eq!(code(&answer), "96");
    assert_eq!(answer.get_str(38), None, "no approval code");
    // The reversal of its hold reaches the issuer (stored and forwarded).
    assert_eq!(
        n.net.switch().drain_forwards(Duration::from_secs(20)).await,
        0
    );
    assert_eq!(n.available(&phone).await, OPENING - AMOUNT);
    sqlx::query("ALTER TABLE switch_messages_away RENAME TO switch_messages")
        .execute(db.pool())
        .await
        .unwrap();
    let report = n.net.clearing(&n.today()).await.unwrap();
    assert_eq!((report.authorizations, report.captured), (1, 1));
    assert_eq!(n.available(&phone).await, OPENING - AMOUNT);
    n.assert_ledger().await;
    n.net.shutdown().await;
}
