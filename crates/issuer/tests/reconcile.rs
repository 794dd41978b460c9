//! At start the issuer resolves the approvals a crash left half written: a
//! record without its ledger hold, a ledger hold without its record. Each
//! half is injected as a crash between the two commits would leave it, the
//! issuer starts again on the same database, and a second start changes
//! nothing. SQLite by default; PostgreSQL with PAYTAP_TEST_DATABASE_URL.

mod common;

use common::*;
use paytap_iso8583::{Message, ResponseCode};
use paytap_issuer::*;
use paytap_ledger::{Currency, Money, PendingState, Transfer};
use paytap_store::Db;

const OPENING: i64 = 100_000;

fn code(m: &Message) -> ResponseCode {
    m.response_code().expect("DE 39")
}

/// An authorization record as the issuer's batcher writes it.
async fn insert_record(
    db: &Db,
    card: &IssuedCard,
    rrn_key: &str,
    kind: &str,
    amount: i64,
    state: &str,
) {
    let (code, hold_id) = match state {
        "held" => ("00", Some(format!("hold:{rrn_key}"))),
        _ => ("51", None),
    };
    sqlx::query(
        "INSERT INTO issuer_auths (hold_key, txn_key, card_id, bank_id, kind, amount, currency, \
         response_code, approval_code, hold_id, state, created_at, updated_at) \
         VALUES ($1, NULL, $2, $3, $4, $5, 'CNY', $6, NULL, $7, $8, $9, $9)",
    )
    .bind(rrn_key)
    .bind(&card.card_id)
    .bind(ICBC)
    .bind(kind)
    .bind(amount)
    .bind(code)
    .bind(hold_id)
    .bind(state)
    .bind(paytap_store::now_millis())
    .execute(db.pool())
    .await
    .unwrap();
}

/// A ledger hold as the issuer places it.
async fn place_hold(env: &Env, card: &IssuedCard, hold_key: &str, amount: i64) {
    env.ledger
        .transfer(Transfer::pending(
            format!("hold:{hold_key}"),
            card.account_id.clone(),
            format!("issuer:{ICBC}:settlement"),
            Money::new(amount, Currency::CNY),
        ))
        .await
        .unwrap();
}

async fn record(env: &Env, hold_key: &str) -> Option<(String, String, Option<String>)> {
    sqlx::query_as("SELECT state, response_code, hold_id FROM issuer_auths WHERE hold_key = $1")
        .bind(hold_key)
        .fetch_optional(env.db.pool())
        .await
        .unwrap()
}

async fn hold(env: &Env, hold_key: &str) -> Option<PendingState> {
    env.ledger
        .pending_state(&format!("hold:{hold_key}"))
        .await
        .unwrap()
}

async fn available(env: &Env, card: &IssuedCard) -> i64 {
    env.issuer.available(&card.card_id).await.unwrap().minor
}

type Snapshot = (Vec<(String, String, String, Option<String>)>, i64);

/// Every record and how many ledger transfers there are.
async fn snapshot(env: &Env) -> Snapshot {
    let records = sqlx::query_as(
        "SELECT hold_key, state, response_code, hold_id FROM issuer_auths ORDER BY hold_key",
    )
    .fetch_all(env.db.pool())
    .await
    .unwrap();
    let (transfers,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM ledger_transfers")
        .fetch_one(env.db.pool())
        .await
        .unwrap();
    (records, transfers)
}

/// A start after `env`'s: resolves, and a start after that changes nothing.
async fn restart_twice(env: Env) -> Env {
    let env = env_on(env.db.clone()).await;
    let resolved = snapshot(&env).await;
    let env = env_on(env.db.clone()).await;
    assert_eq!(
        snapshot(&env).await,
        resolved,
        "a second start changes nothing"
    );
    assert_ledger_balanced(&env).await;
    env
}

#[tokio::test]
async fn an_approval_record_without_its_hold_fails_at_start() {
    let env = env().await;
    let card = env
        .issuer
        .issue_card(ICBC, Product::Debit, "A", OPENING)
        .await
        .unwrap();
    // A whole approval, which stays as it is.
    let r = env
        .issuer
        .authorize(&token_auth(&card.pan, 1_000, 1, true))
        .await;
    assert_eq!(code(&r), ResponseCode::Approved);
    // The crash: the record of approval 2 committed, its hold did not. The
    // same for a stand-in advice's record.
    insert_record(&env.db, &card, "rrn:000000000002", "auth", 2_000, "held").await;
    insert_record(
        &env.db,
        &card,
        "rrn:000000000005:0120",
        "advice",
        5_000,
        "held",
    )
    .await;

    let env = restart_twice(env).await;
    assert_eq!(
        record(&env, "rrn:000000000002").await,
        Some(("failed".into(), "96".into(), None))
    );
    assert_eq!(hold(&env, "rrn:000000000002").await, None);
    // The switch's approval binds the bank: the advice's hold is placed.
    assert_eq!(
        hold(&env, "rrn:000000000005:0120").await,
        Some(PendingState::Pending)
    );
    assert_eq!(
        record(&env, "rrn:000000000005:0120").await.unwrap().0,
        "held"
    );
    assert_eq!(
        hold(&env, "rrn:000000000001").await,
        Some(PendingState::Pending)
    );
    assert_eq!(available(&env, &card).await, OPENING - 1_000 - 5_000);
    // A duplicate of the half-written approval repeats no approval.
    let r = env
        .issuer
        .authorize(&token_auth(&card.pan, 2_000, 2, true))
        .await;
    assert_eq!(code(&r), ResponseCode::SystemMalfunction);
    assert_eq!(available(&env, &card).await, OPENING - 1_000 - 5_000);
    assert_ledger_balanced(&env).await;
}

#[tokio::test]
async fn a_hold_without_its_approval_record_is_voided_at_start() {
    let env = env().await;
    let card = env
        .issuer
        .issue_card(ICBC, Product::Debit, "A", OPENING)
        .await
        .unwrap();
    let r = env
        .issuer
        .authorize(&token_auth(&card.pan, 1_000, 1, true))
        .await;
    assert_eq!(code(&r), ResponseCode::Approved);
    // The crash: the hold of approval 3 committed, its record did not; the
    // hold of 4 stayed behind a record that says declined.
    place_hold(&env, &card, "rrn:000000000003", 3_000).await;
    place_hold(&env, &card, "rrn:000000000004", 4_000).await;
    insert_record(
        &env.db,
        &card,
        "rrn:000000000004",
        "auth",
        4_000,
        "declined",
    )
    .await;
    assert_eq!(available(&env, &card).await, OPENING - 8_000);

    let env = restart_twice(env).await;
    assert_eq!(
        hold(&env, "rrn:000000000003").await,
        Some(PendingState::Voided)
    );
    assert_eq!(
        record(&env, "rrn:000000000003").await,
        Some(("failed".into(), "96".into(), None))
    );
    assert_eq!(
        hold(&env, "rrn:000000000004").await,
        Some(PendingState::Voided)
    );
    assert_eq!(
        record(&env, "rrn:000000000004").await.unwrap().0,
        "declined"
    );
    assert_eq!(
        hold(&env, "rrn:000000000001").await,
        Some(PendingState::Pending)
    );
    assert_eq!(available(&env, &card).await, OPENING - 1_000);
    // A repeat under the voided hold's key approves nothing.
    let r = env
        .issuer
        .authorize(&token_auth(&card.pan, 3_000, 3, true))
        .await;
    assert_eq!(code(&r), ResponseCode::SystemMalfunction);
    assert_eq!(available(&env, &card).await, OPENING - 1_000);
    assert_ledger_balanced(&env).await;
}
