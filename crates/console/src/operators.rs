//! Operators: accounts of their own (never a wallet account holder's), an
//! Argon2id password each (the wallet's hashing, `paytap_wallet::auth`),
//! and sessions whose tokens are stored only as their SHA-256.
//!
//! A token is `op_` and 256 random bits in base64url, so it can never be
//! taken for a wallet session token (`pt_<region>_…`), and a wallet token
//! is never found here. At most [`MAX_HASHES_AT_ONCE`] password hashes run
//! at once (each takes 19 MiB); a sign-in beyond that is refused as busy.
//! An unknown login is verified against a dummy hash, so it takes as long
//! as a wrong password. Failed sign-ins buy cooldowns per login
//! (`crate::throttle`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use paytap_store::Db;
use paytap_types::Secret;
use paytap_wallet::PasswordParams;
use paytap_wallet::auth::{hash_password, token_hash, verify_password};
use std::sync::Arc;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::{ConsoleError, throttle};

/// How long an operator's session lasts: one working shift.
pub const SESSION_TTL_MS: i64 = 8 * 3_600_000;
/// Password hashes running at once (memory-hard: 19 MiB each).
pub const MAX_HASHES_AT_ONCE: usize = 2;
/// The shortest operator password: operators move budgets and rules.
pub const MIN_PASSWORD_LEN: usize = 12;
/// The longest password hashed (beyond it, hashing is only a cost).
pub const MAX_PASSWORD_LEN: usize = 256;
/// The longest login.
pub const MAX_LOGIN_LEN: usize = 64;
/// The prefix of an operator's session token.
pub const TOKEN_PREFIX: &str = "op_";
/// A token's length: the prefix and 32 bytes in base64url.
const TOKEN_LEN: usize = 3 + 43;

/// A signed-in operator's session.
#[derive(Debug)]
pub struct Session {
    /// The operator's login.
    pub login: String,
    /// The bearer token (also the cookie's value).
    pub token: Secret<String>,
    /// When it ends, Unix ms.
    pub expires_ms: i64,
}

/// Operators and their sessions.
#[derive(Clone)]
pub struct Operators {
    db: Db,
    params: PasswordParams,
    hashes: Arc<Semaphore>,
    dummy: Arc<str>,
}

/// Written out: no hash is printed.
impl std::fmt::Debug for Operators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operators")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

/// Whether a login is one an operator may have: 1 to [`MAX_LOGIN_LEN`]
/// lower-case letters, digits and `.`, `_`, `-`, `@`.
fn login_ok(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= MAX_LOGIN_LEN
        && login
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b))
}

/// A token of the right shape (checked before any database read).
fn token_ok(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token.starts_with(TOKEN_PREFIX)
        && token[TOKEN_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Operators {
    /// Opens the operators on `db` (migrated with [`crate::MIGRATIONS`]),
    /// hashing with `params` (the wallet's default in the product).
    pub async fn open(db: Db, params: PasswordParams) -> Result<Operators, ConsoleError> {
        let dummy = hash_blocking(params, Zeroizing::new("paytap console dummy".into())).await?;
        Ok(Operators {
            db,
            params,
            hashes: Arc::new(Semaphore::new(MAX_HASHES_AT_ONCE)),
            dummy: Arc::from(dummy),
        })
    }

    /// Adds an operator, or sets an existing one's password (their
    /// sessions end).
    pub async fn set(&self, login: &str, password: &Secret<String>) -> Result<(), ConsoleError> {
        if !login_ok(login) {
            return Err(ConsoleError::Invalid(format!(
                "a login is 1 to {MAX_LOGIN_LEN} of a-z, 0-9, '.', '_', '-', '@'"
            )));
        }
        let len = password.expose().chars().count();
        if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&len) {
            return Err(ConsoleError::Invalid(format!(
                "an operator's password is {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters"
            )));
        }
        let hash = hash_blocking(self.params, Zeroizing::new(password.expose().clone())).await?;
        sqlx::query(
            "INSERT INTO console_operators (login, password_hash, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (login) DO UPDATE SET password_hash = excluded.password_hash",
        )
        .bind(login)
        .bind(&hash)
        .bind(paytap_store::now_millis())
        .execute(self.db.pool())
        .await?;
        sqlx::query("DELETE FROM console_sessions WHERE login = $1")
            .bind(login)
            .execute(self.db.pool())
            .await?;
        // A new password is the way back in for a login kept cooling down.
        throttle::clear(&self.db, login).await?;
        tracing::info!(login, "console operator set");
        Ok(())
    }

    /// A new session when `password` is the operator's; `None` otherwise
    /// (an unknown login and a wrong password look the same).
    /// [`ConsoleError::TooManyAttempts`] while the login's cooldown runs,
    /// right password or not (`crate::throttle`). The login is trimmed and
    /// lower-cased first.
    pub async fn sign_in(
        &self,
        login: &str,
        password: &Secret<String>,
        now_ms: i64,
    ) -> Result<Option<Session>, ConsoleError> {
        let key = throttle::login_key(login);
        let valid = login_ok(&key);
        // Only a login of an operator's shape is written to the log.
        let shown = if valid { key.as_str() } else { "(malformed)" };
        if let Err(e) = throttle::check(&self.db, &key, now_ms).await {
            refused_log(shown, &e);
            return Err(e);
        }
        let Ok(_permit) = self.hashes.clone().try_acquire_owned() else {
            tracing::warn!(
                login = shown,
                "console sign-in refused: too many password checks at once"
            );
            return Err(ConsoleError::Busy);
        };
        let (counted, begins) = match throttle::claim(&self.db, &key, now_ms).await {
            Ok(c) => c,
            Err(e) => {
                refused_log(shown, &e);
                return Err(e);
            }
        };
        let stored: Option<String> = if valid {
            sqlx::query_scalar("SELECT password_hash FROM console_operators WHERE login = $1")
                .bind(&key)
                .fetch_optional(self.db.pool())
                .await?
        } else {
            None
        };
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| self.dummy.to_string());
        let password = Zeroizing::new(password.expose().clone());
        let matches = password.chars().count() <= MAX_PASSWORD_LEN
            && tokio::task::spawn_blocking(move || verify_password(&password, &phc))
                .await
                .map_err(|e| ConsoleError::Internal(format!("password check: {e}")))?;
        if !(known && matches) {
            tracing::warn!(
                login = shown,
                failures = counted.count,
                "console sign-in refused: wrong login or password"
            );
            if begins {
                tracing::warn!(
                    login = shown,
                    cooldown_secs = throttle::FIRST_COOLDOWN.as_secs(),
                    "console login cooling down after repeated failed sign-ins"
                );
            }
            if let Err(e) = throttle::forget_quiet(&self.db, now_ms).await {
                // Harmless to skip once: the next failure deletes them.
                tracing::warn!(error = %e, "console: forgotten sign-in failures not deleted");
            }
            return Ok(None);
        }
        throttle::clear(&self.db, &key).await?;
        let token = new_token();
        let expires_ms = now_ms + SESSION_TTL_MS;
        sqlx::query(
            "INSERT INTO console_sessions (token_hash, login, expires_ms) VALUES ($1, $2, $3)",
        )
        .bind(token_hash(token.expose()))
        .bind(&key)
        .bind(expires_ms)
        .execute(self.db.pool())
        .await?;
        tracing::info!(login = %key, "console operator signed in");
        Ok(Some(Session {
            login: key,
            token,
            expires_ms,
        }))
    }

    /// The operator whose live session `token` is; `None` for anything
    /// else (a wallet account holder's token included).
    pub async fn operator(&self, token: &str, now_ms: i64) -> Result<Option<String>, ConsoleError> {
        if !token_ok(token) {
            return Ok(None);
        }
        Ok(sqlx::query_scalar(
            "SELECT login FROM console_sessions WHERE token_hash = $1 AND expires_ms > $2",
        )
        .bind(token_hash(token))
        .bind(now_ms)
        .fetch_optional(self.db.pool())
        .await?)
    }

    /// Ends a session (and every expired one).
    pub async fn sign_out(&self, token: &str, now_ms: i64) -> Result<(), ConsoleError> {
        sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1 OR expires_ms <= $2")
            .bind(token_hash(token))
            .bind(now_ms)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}

/// The log line of a sign-in refused by the throttle (never the password).
fn refused_log(login: &str, e: &ConsoleError) {
    if let ConsoleError::TooManyAttempts { retry_after_secs } = e {
        tracing::warn!(
            login,
            retry_after_secs,
            "console sign-in refused: login cooling down after repeated failures"
        );
    }
}

fn new_token() -> Secret<String> {
    let mut raw = Zeroizing::new([0u8; 32]);
    rand::fill(&mut raw[..]);
    Secret::new(format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(&raw[..])
    ))
}

async fn hash_blocking(
    params: PasswordParams,
    password: Zeroizing<String>,
) -> Result<String, ConsoleError> {
    tokio::task::spawn_blocking(move || hash_password(&password, &params))
        .await
        .map_err(|e| ConsoleError::Internal(format!("password hash: {e}")))?
        .map_err(|e| ConsoleError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_their_own_shape() {
        let t = new_token();
        assert!(token_ok(t.expose()));
        assert!(!token_ok(
            "pt_cn_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ));
        assert!(!token_ok(""));
        assert!(login_ok("ops@paytap.example"));
        assert!(!login_ok("Ops"));
        assert!(!login_ok(""));
    }
}
