//! Signing in: the password check behind the throttle and the hashing
//! bound.
//!
//! Order of a login: look the login up (in every region), ask whether the
//! client's address is known for the account (one query, made for an
//! unknown login too), consult the throttle ([`crate::throttle`]; 429 with
//! `Retry-After` while a wait runs), verify the password on the bounded
//! hashing pool ([`crate::limits`]; an unknown login is verified against a
//! dummy hash, so known and unknown logins cost the same), then count the
//! failure or open the session and remember the address.

use std::net::IpAddr;

use paytap_types::Secret;
use zeroize::Zeroizing;

use crate::auth;
use crate::error::WalletError;
use crate::model::Session;
use crate::service::{Wallet, ms};
use crate::throttle::{self, KNOWN_ADDRESS_TTL};

/// The login as the throttle counts it: normalised when it is a valid
/// login, else trimmed and lower-cased, so malformed logins are counted
/// too.
fn login_key(login: &str) -> String {
    match auth::normalize_login(login) {
        Ok((l, _)) => l,
        Err(_) => login.trim().to_lowercase(),
    }
}

impl Wallet {
    /// Logs in; `client` is the caller's address (after trusted proxies).
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Session, WalletError> {
        let now = self.now();
        let key = login_key(login);
        let addr = throttle::address_key(client);
        let found = match auth::normalize_login(login) {
            Ok((l, _)) => self.find_login(&l).await?,
            Err(_) => None,
        };
        let known = self.address_known(found.as_ref(), addr, now).await?;
        self.check_throttle(&key, addr, known, now)?;
        let (region, account_id, hash) = match &found {
            Some((r, id, h)) => (r.clone(), id.clone(), h.clone()),
            None => (String::new(), String::new(), self.inner.dummy_hash.clone()),
        };
        let pw = Zeroizing::new(password.to_string());
        let ok = self
            .inner
            .hashes
            .run(move || auth::verify_password(&pw, &hash))
            .await?;
        if !ok || found.is_none() {
            self.count_failure(&key, addr, known, now);
            if found.is_none() {
                tracing::info!("login failed: unknown login");
            } else {
                tracing::info!(account = %account_id, "login failed: wrong password");
            }
            return Err(WalletError::InvalidCredentials);
        }
        paytap_types::sync::lock(&self.inner.throttle, "sign-in throttle")
            .record_success(&key, addr);
        self.open_session(&region, &account_id, addr, now).await
    }

    /// Whether `addr` signed in to the account within
    /// [`KNOWN_ADDRESS_TTL`]. The query runs for an unknown login too
    /// (against no account), so both take the same path.
    async fn address_known(
        &self,
        found: Option<&(String, String, String)>,
        addr: IpAddr,
        now: i64,
    ) -> Result<bool, WalletError> {
        let default_region = self.inner.config.default_region.clone();
        let (region, account_id) = match found {
            Some((r, id, _)) => (r.as_str(), id.as_str()),
            None => (default_region.as_str(), ""),
        };
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT last_login_at FROM wallet_login_addresses \
             WHERE account_id = $1 AND address = $2 AND last_login_at > $3",
        )
        .bind(account_id)
        .bind(addr.to_string())
        .bind(now - ms(KNOWN_ADDRESS_TTL))
        .fetch_optional(self.db(region)?.pool())
        .await?;
        Ok(row.is_some())
    }

    /// 429 while this (login, address), this address, or (for an address
    /// not known to the account) this login must wait.
    fn check_throttle(
        &self,
        key: &str,
        addr: IpAddr,
        known: bool,
        now: i64,
    ) -> Result<(), WalletError> {
        let mut t = paytap_types::sync::lock(&self.inner.throttle, "sign-in throttle");
        let mut wait = t.pair_wait(key, addr, now);
        if !known {
            wait = wait.max(t.stranger_wait(key, now));
        }
        match wait {
            None => Ok(()),
            Some(ms) => {
                t.record_throttled();
                tracing::warn!(%addr, known, "login held back after repeated failures");
                Err(WalletError::TooManyAttempts {
                    retry_after_secs: throttle::wait_secs(ms),
                })
            }
        }
    }

    /// What sign-ins (the API's and the web site's) came to since start:
    /// successes, failures, attempts held back, lockouts begun.
    pub fn sign_in_counts(&self) -> throttle::SignInCounts {
        paytap_types::sync::lock(&self.inner.throttle, "sign-in throttle").counts()
    }

    fn count_failure(&self, key: &str, addr: IpAddr, known: bool, now: i64) {
        paytap_types::sync::lock(&self.inner.throttle, "sign-in throttle")
            .record_failure(key, addr, known, now);
    }

    /// Creates the session and remembers the address as known.
    async fn open_session(
        &self,
        region: &str,
        account_id: &str,
        addr: IpAddr,
        now: i64,
    ) -> Result<Session, WalletError> {
        let cfg = &self.inner.config;
        let db = self.db(region)?;
        let mut token = auth::new_session_token(region);
        let expires_at = now.saturating_add(ms(cfg.session_ttl));
        let mut tx = db.begin_write().await?;
        // Housekeeping: drop this account's expired sessions.
        sqlx::query("DELETE FROM wallet_sessions WHERE account_id = $1 AND expires_at <= $2")
            .bind(account_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO wallet_sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(auth::token_hash(&token))
        .bind(account_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO wallet_login_addresses (account_id, address, last_login_at) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id, address) DO UPDATE SET last_login_at = excluded.last_login_at",
        )
        .bind(account_id)
        .bind(addr.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(account = %account_id, "logged in");
        let account = self.account_in(region, account_id).await?;
        Ok(Session {
            token: Secret::new(std::mem::take(&mut *token)),
            expires_at,
            account,
        })
    }
}
