//! Failed operator sign-ins buy cooldowns: the account holders' rule
//! (`paytap_types::throttle`: an allowance, then waits that double per
//! further failure, a count forgotten after a quiet window), counted per
//! operator login.
//!
//! After [`FREE_FAILURES`] wrong passwords on one login, with no quiet
//! [`FORGET_AFTER`] between them, the login is refused for
//! [`FIRST_COOLDOWN`], doubling per further failure up to [`MAX_COOLDOWN`].
//! While a cooldown runs every attempt on that login is refused before its
//! password is read, so a right password is refused too; other logins are
//! not affected. A successful sign-in clears the count, and so does
//! setting the operator's password (`paytap console operator`), the way
//! back in for an operator whose login someone keeps guessing.
//!
//! The count is durable, in `console_login_failures`, not per process:
//! several `paytap up` on one PostgreSQL share it, so running more of them
//! buys a guesser no more attempts, and a restart does not give a fresh
//! allowance. Operator sign-ins are few, so a write per attempt costs
//! nothing that matters. Each attempt is counted as a failure before its
//! password is checked, in one write transaction that first refuses a
//! login whose cooldown runs, so attempts sent at once cannot all pass
//! the check before any is counted; a success then clears the count.
//!
//! Rows are keyed by the SHA-256 of the login as typed (trimmed and
//! lower-cased), whether or not an operator has it, so an unknown login
//! is throttled exactly like a known one, and whatever someone typed into
//! the login field is not kept in clear. Rows quiet for [`FORGET_AFTER`]
//! are deleted after each failure.

use paytap_store::{Backend, Db};
use paytap_types::throttle::{Backoff, Failures, wait_secs};
use paytap_wallet::auth::token_hash;
use std::time::Duration;

use crate::ConsoleError;

/// Wrong passwords on one login without a cooldown: an operator who
/// mistypes a few times is never slowed, while a guesser gets only a
/// handful of free tries at an account that moves budgets and rules.
pub const FREE_FAILURES: u32 = 5;
/// The cooldown that begins once the free failures are spent; it doubles
/// with each further failure.
pub const FIRST_COOLDOWN: Duration = Duration::from_secs(60);
/// The longest cooldown: at worst about four guesses an hour on one
/// login, while an operator locked out by someone else's guessing is let
/// try again within a quarter of an hour.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(15 * 60);
/// The window: a count with no failure for this long is forgotten. Longer
/// than [`MAX_COOLDOWN`], so a patient guesser keeps their count.
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);

/// The operators' backoff.
pub const BACKOFF: Backoff = Backoff {
    free: FREE_FAILURES,
    first_delay: FIRST_COOLDOWN,
    max_delay: MAX_COOLDOWN,
    forget_after: FORGET_AFTER,
};

/// The login as the throttle counts it.
pub(crate) fn login_key(login: &str) -> String {
    login.trim().to_lowercase()
}

/// The stored key of a counted login: its SHA-256, hex.
fn row_key(key: &str) -> String {
    token_hash(key)
}

/// A stored count as read: a row is input, so a count out of range is
/// clamped rather than trusted.
fn failures(row: Option<(i64, i64)>) -> Failures {
    row.map_or_else(Failures::default, |(count, last_ms)| Failures {
        count: u32::try_from(count.max(0)).unwrap_or(u32::MAX),
        last_ms,
    })
}

/// The refusal while a cooldown runs.
fn refused(wait_ms: i64) -> ConsoleError {
    ConsoleError::TooManyAttempts {
        retry_after_secs: wait_secs(wait_ms),
    }
}

/// Refuses the login while its cooldown runs (one read, no write: a flood
/// of refused attempts costs a query each).
pub(crate) async fn check(db: &Db, key: &str, now_ms: i64) -> Result<(), ConsoleError> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT failures, last_ms FROM console_login_failures WHERE login_hash = $1",
    )
    .bind(row_key(key))
    .fetch_optional(db.pool())
    .await?;
    match failures(row).wait_ms(&BACKOFF, now_ms) {
        Some(wait) => Err(refused(wait)),
        None => Ok(()),
    }
}

/// Counts an attempt as a failure before its password is checked, unless
/// the login's cooldown runs (then it is refused and nothing changes).
/// Answers the count with this attempt, and whether it is the one that
/// begins a cooldown should its password be wrong.
pub(crate) async fn claim(
    db: &Db,
    key: &str,
    now_ms: i64,
) -> Result<(Failures, bool), ConsoleError> {
    let hash = row_key(key);
    let mut tx = db.begin_write().await?;
    // The row exists before it is locked: PostgreSQL locks it with
    // FOR UPDATE; SQLite's BEGIN IMMEDIATE already holds the write lock.
    sqlx::query(
        "INSERT INTO console_login_failures (login_hash, failures, last_ms) VALUES ($1, 0, 0) \
         ON CONFLICT (login_hash) DO NOTHING",
    )
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    let select = match db.backend() {
        Backend::Postgres => {
            "SELECT failures, last_ms FROM console_login_failures WHERE login_hash = $1 FOR UPDATE"
        }
        Backend::Sqlite => {
            "SELECT failures, last_ms FROM console_login_failures WHERE login_hash = $1"
        }
    };
    let row: Option<(i64, i64)> = sqlx::query_as(select)
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?;
    let current = failures(row);
    if let Some(wait) = current.wait_ms(&BACKOFF, now_ms) {
        // Dropping the transaction rolls it back: a refused attempt is not
        // counted and does not lengthen the cooldown.
        return Err(refused(wait));
    }
    let (next, begins) = current.fail(&BACKOFF, now_ms);
    sqlx::query(
        "UPDATE console_login_failures SET failures = $2, last_ms = $3 WHERE login_hash = $1",
    )
    .bind(&hash)
    .bind(i64::from(next.count))
    .bind(next.last_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((next, begins))
}

/// Clears a login's count (a successful sign-in, a password set).
pub(crate) async fn clear(db: &Db, key: &str) -> Result<(), ConsoleError> {
    sqlx::query("DELETE FROM console_login_failures WHERE login_hash = $1")
        .bind(row_key(key))
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Deletes the counts forgotten by `now_ms` (made-up logins included), so
/// the table holds at most an hour of failures.
pub(crate) async fn forget_quiet(db: &Db, now_ms: i64) -> Result<(), ConsoleError> {
    let forget_ms = i64::try_from(FORGET_AFTER.as_millis()).unwrap_or(i64::MAX);
    sqlx::query("DELETE FROM console_login_failures WHERE last_ms <= $1")
        .bind(now_ms.saturating_sub(forget_ms))
        .execute(db.pool())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MIGRATIONS;

    /// Attempts on one login sent at once are counted one after another:
    /// exactly the allowance passes, the rest are refused, on SQLite and
    /// PostgreSQL alike.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn attempts_sent_at_once_get_exactly_the_allowance() {
        let db = Db::for_tests().await.expect("test database");
        db.migrate(MIGRATIONS).await.unwrap();
        let now = 1_000_000_000;
        let tasks: Vec<_> = (0..4 * FREE_FAILURES)
            .map(|_| {
                let db = db.clone();
                tokio::spawn(async move { claim(&db, "ops@paytap.example", now).await })
            })
            .collect();
        let (mut passed, mut begun) = (0, 0);
        for t in tasks {
            match t.await.unwrap() {
                Ok((_, begins)) => {
                    passed += 1;
                    begun += u32::from(begins);
                }
                Err(ConsoleError::TooManyAttempts { retry_after_secs }) => {
                    assert_eq!(retry_after_secs, FIRST_COOLDOWN.as_secs());
                }
                Err(e) => panic!("claim failed: {e}"),
            }
        }
        assert_eq!(passed, FREE_FAILURES);
        assert_eq!(begun, 1, "one cooldown begins");
        assert!(check(&db, "ops@paytap.example", now).await.is_err());
        assert!(check(&db, "audit@paytap.example", now).await.is_ok());
        // Forgotten rows go; a clear lets the login in again.
        forget_quiet(&db, now + i64::try_from(FORGET_AFTER.as_millis()).unwrap())
            .await
            .unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM console_login_failures")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(left, 0);
    }
}
