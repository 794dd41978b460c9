//! The wallet service layer: plain async methods over the regional
//! databases and the [`WalletNetwork`] port. The HTTP API ([`crate::http`])
//! and the web site both call this and nothing below it.
//!
//! Rules it enforces:
//! * every device, card, passcode and transaction method takes a
//!   [`Principal`] and only ever reads or writes rows of that account; a
//!   device or card of another account is reported as not found (never as
//!   forbidden, which would confirm that the id exists);
//! * sessions expire at an absolute time (`session_ttl` after login, 12 h by
//!   default; activity does not extend them);
//! * wrong passwords slow further attempts by growing delays per (login,
//!   address), never locking the owner out ([`crate::throttle`],
//!   [`crate::signin`]); password hashing is bounded ([`crate::limits`]);
//! * at most `max_cards_per_device` (8) cards that are not deleted per device;
//! * the card details of a yellow-path add wait for their passcode in memory
//!   only (wiped on drop, dropped after `otp_ttl`): the wallet never writes a
//!   card number or CVV to disk.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use paytap_store::{Db, Regions};
use paytap_types::{Currency, Expiry, Money, Pan, PanError, PaymentEvent, Secret};
use tokio::sync::broadcast;
use zeroize::Zeroizing;

use crate::auth::{self, PasswordParams};
use crate::client_addr::TrustedProxies;
use crate::error::{WalletError, stored_text};
use crate::limits::{HashGate, MAX_CONCURRENT_HASHES, MAX_WAITING_HASHES};
use crate::model::*;
use crate::port::*;
use crate::schema::MIGRATIONS;
use crate::throttle::LoginThrottle;
use paytap_types::{Clock, SystemClock};

/// Tunables of the wallet service.
#[derive(Clone)]
pub struct WalletConfig {
    /// Region of accounts registered without one (`"cn"`).
    pub default_region: String,
    /// Absolute session lifetime (12 h).
    pub session_ttl: Duration,
    /// Proxies whose `X-Forwarded-For` names the client (default none).
    pub trusted_proxies: TrustedProxies,
    /// Password hashes computed at once ([`MAX_CONCURRENT_HASHES`]).
    pub max_concurrent_hashes: usize,
    /// Password hashes waiting for a turn before 503 ([`MAX_WAITING_HASHES`]).
    pub max_waiting_hashes: usize,
    /// The key of request-body fingerprints for `Idempotency-Key`
    /// ([`crate::idempotency`]); random per process by default, a key
    /// derived from the vault's keyring in `paytap up` so stored records
    /// survive a restart.
    pub request_key: [u8; 32],
    /// How long a yellow-path passcode can be submitted (10 min).
    pub otp_ttl: Duration,
    /// Cards that are not deleted per device (8).
    pub max_cards_per_device: u32,
    pub password_params: PasswordParams,
    pub clock: Arc<dyn Clock>,
}

impl Default for WalletConfig {
    fn default() -> Self {
        WalletConfig {
            default_region: "cn".into(),
            session_ttl: Duration::from_secs(12 * 3600),
            trusted_proxies: TrustedProxies::none(),
            max_concurrent_hashes: MAX_CONCURRENT_HASHES,
            max_waiting_hashes: MAX_WAITING_HASHES,
            request_key: random_key(),
            otp_ttl: Duration::from_secs(10 * 60),
            max_cards_per_device: 8,
            password_params: PasswordParams::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for WalletConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletConfig")
            .field("default_region", &self.default_region)
            .field("session_ttl", &self.session_ttl)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("max_concurrent_hashes", &self.max_concurrent_hashes)
            .field("max_waiting_hashes", &self.max_waiting_hashes)
            .field("otp_ttl", &self.otp_ttl)
            .field("max_cards_per_device", &self.max_cards_per_device)
            .field("password_params", &self.password_params)
            .finish_non_exhaustive()
    }
}

/// How long a stored `Idempotency-Key` response is kept (24 h).
pub const IDEMPOTENCY_RETENTION: Duration = Duration::from_secs(24 * 3600);

fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::fill(&mut k);
    k
}

pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A card waiting for its passcode, in memory only.
struct PendingCard {
    account_id: String,
    device_id: String,
    card: CardDetails,
    expires_at: i64,
}

pub(crate) struct Inner {
    pub(crate) regions: Regions,
    pub(crate) network: Arc<dyn WalletNetwork>,
    pub(crate) config: WalletConfig,
    pending: Mutex<HashMap<String, PendingCard>>,
    pub(crate) throttle: Mutex<LoginThrottle>,
    pub(crate) hashes: HashGate,
    pub(crate) events: broadcast::Sender<Arc<(String, Transaction)>>,
    /// Set once this instance listens for payments other instances
    /// recorded ([`crate::feed`]).
    pub(crate) feed_listening: tokio::sync::OnceCell<()>,
    /// Wakes devices' command channels ([`crate::locate`]).
    pub(crate) commands: crate::locate::CommandBell,
    /// A hash of a random password, verified against on unknown logins so
    /// that a wrong login costs the same time as a wrong password.
    pub(crate) dummy_hash: String,
    /// Bills and recharge of India accounts, once the platform attached
    /// them ([`crate::bills_api`]).
    bills: std::sync::OnceLock<Arc<paytap_bills::BillService>>,
    /// The UPI app, once attached ([`Wallet::attach_upi`]).
    pub(crate) upi: std::sync::OnceLock<paytap_upipsp::Psp>,
    /// The band accounts, once attached ([`crate::band_history`]).
    pub(crate) band_history: std::sync::OnceLock<Arc<dyn crate::band_history::BandHistory>>,
    /// The transit operators, once attached ([`crate::transit`]).
    pub(crate) transit: std::sync::OnceLock<Arc<dyn crate::transit::TransitCards>>,
    /// The regions whose points are not the card network's ([`crate::points`]).
    pub(crate) points: crate::points::Keepers,
}

/// The wallet service. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Wallet {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("regions", &self.inner.regions)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

type DeviceRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    i64,
);

const DEVICE_COLS: &str = "d.id, d.kind, d.name, d.model, d.public_key, d.status, d.suspend_reason, \
     d.created_at, d.last_seen_at, d.lat_e7, d.lon_e7, d.accuracy_cm, d.place, d.located_at, \
     (SELECT COUNT(*) FROM wallet_cards c WHERE c.device_id = d.id AND c.token_state <> 'deleted')";

type CardRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
);

const CARD_COLS: &str = "id, device_id, token_ref, card_last4, bank_name, cardholder_name, token_state, is_default, created_at";

/// (id, token_ref, token_state, card_last4, bank_name, is_default, sealed_payload)
type ProvRow = (String, String, String, String, String, i64, Vec<u8>);

type TxRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    i64,
    String,
    String,
    String,
    i64,
    Option<String>,
);

const TX_COLS: &str = "id, device_id, card_id, card_last4, bank_name, merchant_name, merchant_id, terminal_id, \
     amount_minor, currency, approved, response_code, reason, kind, at, benefits";

/// The `benefits` column: `saved earned` in minor units, or NULL for none.
fn benefits_column(saved: Money, earned: Money) -> Option<String> {
    (saved.minor != 0 || earned.minor != 0).then(|| format!("{} {}", saved.minor, earned.minor))
}

/// Reads the `benefits` column back; a value that is not two integers is
/// a corrupt row.
fn benefits_of(column: Option<&str>, currency: Currency) -> Result<(Money, Money), WalletError> {
    let zero = Money::new(0, currency);
    let Some(text) = column else {
        return Ok((zero, zero));
    };
    let mut parts = text.split(' ').map(str::parse::<i64>);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Ok(saved)), Some(Ok(earned)), None) => {
            Ok((Money::new(saved, currency), Money::new(earned, currency)))
        }
        _ => Err(WalletError::Internal(format!("stored benefits {text:?}"))),
    }
}

fn device_from_row(r: DeviceRow) -> Result<Device, WalletError> {
    let kind = DeviceKind::parse(&r.1)
        .ok_or_else(|| WalletError::Internal(format!("stored device kind {:?}", r.1)))?;
    let status: DeviceStatus = r.5.parse().map_err(stored_text)?;
    let location = match (r.9, r.10, r.11, r.13) {
        (Some(lat), Some(lon), Some(acc), Some(at)) => Some(Location {
            lat: lat as f64 / 1e7,
            lon: lon as f64 / 1e7,
            accuracy_m: acc as f64 / 100.0,
            place: r.12,
            at,
        }),
        _ => None,
    };
    Ok(Device {
        id: r.0,
        kind,
        name: r.2,
        model: r.3,
        public_key: r.4,
        capabilities: kind.capabilities(),
        status,
        suspend_reason: r.6.as_deref().and_then(|t| t.parse().ok()),
        created_at: r.7,
        last_seen_at: r.8,
        location,
        card_count: u32::try_from(r.14).unwrap_or(u32::MAX),
    })
}

fn card_from_row(r: CardRow) -> Result<Card, WalletError> {
    let token_state: TokenState = r.6.parse().map_err(stored_text)?;
    Ok(Card {
        id: r.0,
        device_id: r.1,
        token_ref: r.2,
        card_last4: r.3,
        bank_name: r.4,
        cardholder_name: r.5,
        token_state,
        is_default: r.7 != 0,
        created_at: r.8,
    })
}

fn tx_from_row(r: TxRow) -> Result<Transaction, WalletError> {
    let currency = Currency::from_code(&r.9)
        .map_err(|_| WalletError::Internal(format!("stored currency {:?}", r.9)))?;
    let amount = Money::new(r.8, currency);
    let (saved, earned) = benefits_of(r.15.as_deref(), currency)?;
    Ok(Transaction {
        id: r.0,
        device_id: r.1,
        card_id: r.2,
        card_last4: r.3,
        bank_name: r.4,
        merchant_name: r.5,
        merchant_id: r.6,
        terminal_id: r.7,
        amount,
        amount_display: amount.decimal(),
        approved: r.10 != 0,
        response_code: r.11,
        reason: r.12,
        kind: r.13,
        at: r.14,
        saved,
        earned,
        channel: crate::band_history::CHANNEL_CARD.to_owned(),
        band_outcome: None,
    })
}

/// Checks a short piece of text a person typed.
pub(crate) fn text_field(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<String, WalletError> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min {
        return Err(WalletError::invalid(field, "must not be empty"));
    }
    if n > max {
        return Err(WalletError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(WalletError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_string())
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Validates a card add request into [`CardDetails`]. Error messages never
/// echo the number.
pub fn validate_card(input: &NewCard, now_millis: i64) -> Result<CardDetails, WalletError> {
    let pan = Pan::parse(input.pan.expose()).map_err(|e| {
        WalletError::invalid(
            "pan",
            match e {
                PanError::NotDigits => "the card number must contain only digits".to_string(),
                PanError::Length(n) => {
                    format!("the card number must have 12 to 19 digits, this one has {n}")
                }
                PanError::Luhn => {
                    "the card number is not valid (check digit mismatch); check for a typo"
                        .to_string()
                }
            },
        )
    })?;
    let expiry = Expiry::parse_typed(&input.expiry)
        .map_err(|_| WalletError::invalid("expiry", "the expiry date must be MM/YY, e.g. 07/29"))?;
    if expiry.is_expired(now_millis) {
        return Err(WalletError::invalid(
            "expiry",
            "the card has expired (expiry date in the past)",
        ));
    }
    let cvv = input.cvv.expose().trim();
    if cvv.len() != 3 || !cvv.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WalletError::invalid(
            "cvv",
            "the security code (CVV) must be the 3 digits on the back of the card",
        ));
    }
    let name = text_field("cardholder_name", input.cardholder_name.expose(), 1, 64)?;
    Ok(CardDetails {
        pan,
        expiry: Secret::new(expiry),
        cvv: Secret::new(cvv.to_string()),
        cardholder_name: Secret::new(name),
    })
}

/// A stream of the payments of one account, from
/// [`Wallet::subscribe_payments`].
pub struct PaymentFeed {
    rx: broadcast::Receiver<Arc<(String, Transaction)>>,
    account_id: String,
}

impl PaymentFeed {
    /// The next payment of the account; `None` when the wallet shuts down.
    /// A slow reader that falls behind skips the payments it missed (they
    /// remain in the history).
    pub async fn next(&mut self) -> Option<Transaction> {
        loop {
            match self.rx.recv().await {
                Ok(item) if item.0 == self.account_id => return Some(item.1.clone()),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "payment feed reader fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The feed as a `Stream` (ends when the wallet shuts down).
    pub fn into_stream(self) -> impl futures::Stream<Item = Transaction> + Send + 'static {
        futures::stream::unfold(self, |mut feed| async move {
            let t = feed.next().await?;
            Some((t, feed))
        })
    }
}

impl Wallet {
    /// Opens the wallet over `regions` (each must hold a database; the
    /// wallet's tables are created in each), talking to the card network
    /// through `network`.
    pub async fn new(
        regions: Regions,
        network: Arc<dyn WalletNetwork>,
        config: WalletConfig,
    ) -> Result<Wallet, WalletError> {
        regions.get(&config.default_region)?;
        regions.migrate(MIGRATIONS).await?;
        let params = config.password_params;
        let dummy_hash = tokio::task::spawn_blocking(move || {
            let mut pw = Zeroizing::new([0u8; 24]);
            rand::fill(&mut pw[..]);
            auth::hash_password(&hex::encode(&pw[..]), &params)
        })
        .await
        .map_err(|e| WalletError::Internal(e.to_string()))??;
        let (events, _) = broadcast::channel(1024);
        let hashes = HashGate::new(config.max_concurrent_hashes, config.max_waiting_hashes);
        Ok(Wallet {
            inner: Arc::new(Inner {
                regions,
                network,
                config,
                pending: Mutex::new(HashMap::new()),
                throttle: Mutex::new(LoginThrottle::default()),
                hashes,
                events,
                feed_listening: tokio::sync::OnceCell::new(),
                commands: Default::default(),
                dummy_hash,
                bills: std::sync::OnceLock::new(),
                upi: std::sync::OnceLock::new(),
                band_history: std::sync::OnceLock::new(),
                transit: std::sync::OnceLock::new(),
                points: crate::points::Keepers::default(),
            }),
        })
    }

    /// Serves bills and recharge over `bills` (once; a second attach is
    /// ignored with a warning).
    pub fn attach_bills(&self, bills: Arc<paytap_bills::BillService>) {
        if self.inner.bills.set(bills).is_err() {
            tracing::warn!("a bill service was already attached");
        }
    }

    /// The attached bill service.
    pub fn bills(&self) -> Option<Arc<paytap_bills::BillService>> {
        self.inner.bills.get().cloned()
    }

    /// Serves UPI (`/api/v1/upi`, [`crate::upi_api`]) with `psp`; a second
    /// call is refused.
    pub fn attach_upi(&self, psp: paytap_upipsp::Psp) -> Result<(), WalletError> {
        self.inner
            .upi
            .set(psp)
            .map_err(|_| WalletError::Internal("UPI attached twice".into()))
    }

    /// The UPI app, when attached.
    pub fn upi(&self) -> Option<&paytap_upipsp::Psp> {
        self.inner.upi.get()
    }

    pub fn config(&self) -> &WalletConfig {
        &self.inner.config
    }

    /// Regions this wallet serves.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.inner.regions.iter().map(|(r, _)| r)
    }

    pub(crate) fn now(&self) -> i64 {
        self.inner.config.clock.now_millis()
    }

    /// The bound on password hashing ([`crate::limits`]), shared by
    /// registration, login and the web site's sign-in.
    pub fn hash_gate(&self) -> &HashGate {
        &self.inner.hashes
    }

    /// The fingerprint of a request body ([`crate::idempotency`]).
    pub fn fingerprint(&self, body: &[u8]) -> String {
        crate::idempotency::fingerprint(&self.inner.config.request_key, body)
    }

    pub(crate) fn db(&self, region: &str) -> Result<&Db, WalletError> {
        Ok(self.inner.regions.get(region)?)
    }

    // ----- accounts and sessions -------------------------------------------

    /// Registers an account in its region (default `cn`).
    pub async fn register(&self, req: NewAccount) -> Result<Account, WalletError> {
        let (login, login_kind) = auth::normalize_login(&req.login)?;
        let n = req.password.expose().chars().count();
        if !(8..=128).contains(&n) {
            return Err(WalletError::invalid(
                "password",
                "the password must have 8 to 128 characters",
            ));
        }
        let display_name = text_field("display_name", &req.display_name, 1, 64)?;
        let region = req
            .region
            .clone()
            .unwrap_or_else(|| self.inner.config.default_region.clone());
        let db = self.inner.regions.get(&region).map_err(|_| {
            WalletError::invalid(
                "region",
                format!(
                    "unknown region; choose one of: {}",
                    self.regions().collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        if self.find_login(&login).await?.is_some() {
            return Err(WalletError::LoginTaken);
        }
        let params = self.inner.config.password_params;
        let password = Zeroizing::new(req.password.expose().clone());
        let hash = self
            .inner
            .hashes
            .run(move || auth::hash_password(&password, &params))
            .await??;
        let account = Account {
            id: new_id(),
            login,
            login_kind,
            display_name,
            language: req.language,
            region: region.clone(),
            created_at: self.now(),
        };
        let mut tx = db.begin_write().await?;
        let res = sqlx::query(
            "INSERT INTO wallet_accounts (id, login, login_kind, password_hash, display_name, language, \
             region, created_at, failed_logins, first_failed_at, locked_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, 0) ON CONFLICT DO NOTHING",
        )
        .bind(&account.id)
        .bind(&account.login)
        .bind(account.login_kind.as_str())
        .bind(&hash)
        .bind(&account.display_name)
        .bind(account.language.as_str())
        .bind(&account.region)
        .bind(account.created_at)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(WalletError::LoginTaken);
        }
        tx.commit().await?;
        tracing::info!(account = %account.id, region = %account.region, "account registered");
        Ok(account)
    }

    /// (region, account id, password hash) of a login.
    pub(crate) async fn find_login(
        &self,
        login: &str,
    ) -> Result<Option<(String, String, String)>, WalletError> {
        for (region, db) in self.inner.regions.iter() {
            let row: Option<(String, String)> =
                sqlx::query_as("SELECT id, password_hash FROM wallet_accounts WHERE login = $1")
                    .bind(login)
                    .fetch_optional(db.pool())
                    .await?;
            if let Some((id, hash)) = row {
                return Ok(Some((region.to_string(), id, hash)));
            }
        }
        Ok(None)
    }

    pub(crate) async fn account_in(&self, region: &str, id: &str) -> Result<Account, WalletError> {
        let db = self.db(region)?;
        let row: Option<(String, String, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, login, login_kind, display_name, language, region, created_at \
             FROM wallet_accounts WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
        let r = row.ok_or(WalletError::NotFound("account"))?;
        Ok(Account {
            id: r.0,
            login: r.1,
            login_kind: if r.2 == "phone" {
                LoginKind::Phone
            } else {
                LoginKind::Email
            },
            display_name: r.3,
            language: Language::parse(&r.4).unwrap_or(Language::En),
            region: r.5,
            created_at: r.6,
        })
    }

    /// Resolves a bearer token to the account it was issued to.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, WalletError> {
        let region = auth::token_region(token).ok_or(WalletError::Unauthenticated)?;
        let db = self
            .inner
            .regions
            .get(region)
            .map_err(|_| WalletError::Unauthenticated)?;
        let row: Option<(String, i64, String)> = sqlx::query_as(
            "SELECT s.account_id, s.expires_at, a.language FROM wallet_sessions s \
             JOIN wallet_accounts a ON a.id = s.account_id WHERE s.token_hash = $1",
        )
        .bind(auth::token_hash(token))
        .fetch_optional(db.pool())
        .await?;
        match row {
            Some((account_id, expires_at, lang)) if expires_at > self.now() => Ok(Principal {
                account_id,
                region: region.to_string(),
                language: Language::parse(&lang).unwrap_or(Language::En),
                session_expires_at: expires_at,
            }),
            _ => Err(WalletError::Unauthenticated),
        }
    }

    /// Ends a session (idempotent: an unknown token is not an error).
    pub async fn logout(&self, token: &str) -> Result<(), WalletError> {
        let Some(region) = auth::token_region(token) else {
            return Ok(());
        };
        let Ok(db) = self.inner.regions.get(region) else {
            return Ok(());
        };
        let mut tx = db.begin_write().await?;
        sqlx::query("DELETE FROM wallet_sessions WHERE token_hash = $1")
            .bind(auth::token_hash(token))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The logged-in account.
    pub async fn account(&self, p: &Principal) -> Result<Account, WalletError> {
        self.account_in(&p.region, &p.account_id).await
    }

    // ----- devices ---------------------------------------------------------

    /// Registers a phone, watch or band with its X25519 public key.
    pub async fn register_device(
        &self,
        p: &Principal,
        req: NewDevice,
    ) -> Result<Device, WalletError> {
        let name = text_field("name", &req.name, 1, 64)?;
        let model = text_field("model", &req.model, 1, 64)?;
        let key = STANDARD
            .decode(req.public_key_b64.trim())
            .map_err(|_| WalletError::invalid("public_key", "must be standard base64"))?;
        let key: [u8; 32] = key.try_into().map_err(|_| {
            WalletError::invalid("public_key", "must be a 32-byte X25519 public key")
        })?;
        if key.iter().all(|b| *b == 0) {
            return Err(WalletError::invalid(
                "public_key",
                "the all-zero key is not a valid X25519 public key",
            ));
        }
        let id = new_id();
        let now = self.now();
        let db = self.db(&p.region)?;
        let mut tx = db.begin_write().await?;
        sqlx::query(
            "INSERT INTO wallet_devices (id, account_id, kind, name, model, public_key, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)",
        )
        .bind(&id)
        .bind(&p.account_id)
        .bind(req.kind.as_str())
        .bind(&name)
        .bind(&model)
        .bind(STANDARD.encode(key))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(account = %p.account_id, device = %id, kind = req.kind.as_str(), "device registered");
        self.device(p, &id).await
    }

    /// The account's devices, oldest first.
    pub async fn devices(&self, p: &Principal) -> Result<Vec<Device>, WalletError> {
        let db = self.db(&p.region)?;
        let sql = format!(
            "SELECT {DEVICE_COLS} FROM wallet_devices d WHERE d.account_id = $1 ORDER BY d.created_at, d.id"
        );
        let rows: Vec<DeviceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&p.account_id)
            .fetch_all(db.pool())
            .await?;
        rows.into_iter().map(device_from_row).collect()
    }

    /// One of the account's devices (another account's id: not found).
    pub async fn device(&self, p: &Principal, device_id: &str) -> Result<Device, WalletError> {
        let db = self.db(&p.region)?;
        let sql = format!(
            "SELECT {DEVICE_COLS} FROM wallet_devices d WHERE d.id = $1 AND d.account_id = $2"
        );
        let row: Option<DeviceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(device_id)
            .bind(&p.account_id)
            .fetch_optional(db.pool())
            .await?;
        device_from_row(row.ok_or(WalletError::NotFound("device"))?)
    }

    /// Records that the device is alive and, optionally, where it is
    /// ([`Wallet::report_contact`]).
    pub async fn heartbeat(
        &self,
        p: &Principal,
        device_id: &str,
        hb: Heartbeat,
    ) -> Result<Device, WalletError> {
        self.report_contact(p, device_id, &hb, crate::locate::ContactKind::Heartbeat)
            .await?;
        self.device(p, device_id).await
    }

    /// Last known position of a device ("find my device"); `None` if it
    /// never reported one.
    pub async fn location(
        &self,
        p: &Principal,
        device_id: &str,
    ) -> Result<Option<Location>, WalletError> {
        Ok(self.device(p, device_id).await?.location)
    }

    // ----- cards -----------------------------------------------------------

    fn binding(&self, p: &Principal, d: &Device) -> Result<DeviceBinding, WalletError> {
        let key = STANDARD
            .decode(&d.public_key)
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or_else(|| WalletError::Internal("stored device key".into()))?;
        Ok(DeviceBinding {
            device_id: d.id.clone(),
            kind: d.kind,
            public_key: key,
            account_id: p.account_id.clone(),
            region: p.region.clone(),
        })
    }

    fn check_can_add(&self, d: &Device) -> Result<(), WalletError> {
        if !d.capabilities.card_tokens {
            return Err(WalletError::CardsNotSupported {
                kind: d.kind.as_str(),
            });
        }
        if d.status == DeviceStatus::Suspended {
            return Err(WalletError::DeviceSuspended);
        }
        let limit = self.inner.config.max_cards_per_device;
        if d.card_count >= limit {
            return Err(WalletError::CardLimit { limit });
        }
        Ok(())
    }

    /// Adds a card to a device: validates it, asks the issuer (ID&V) and,
    /// on the green path, provisions the token at once; on the yellow path
    /// returns a pending provisioning to finish with
    /// [`Wallet::submit_otp`]; on the red path fails with
    /// [`WalletError::CardDeclined`].
    pub async fn add_card(
        &self,
        p: &Principal,
        device_id: &str,
        req: &NewCard,
    ) -> Result<AddCardOutcome, WalletError> {
        let now = self.now();
        let device = self.device(p, device_id).await?;
        let card = validate_card(req, now)?;
        self.check_can_add(&device)?;
        let binding = self.binding(p, &device)?;
        let decision = self
            .inner
            .network
            .identify_and_verify(&card, &binding)
            .await?;
        match decision {
            IdvDecision::Green {
                verification_id,
                bank_name: _,
            } => {
                let card = self
                    .provision_and_store(p, &binding, &verification_id, &card)
                    .await?;
                Ok(AddCardOutcome::Provisioned { card })
            }
            IdvDecision::Yellow {
                verification_id,
                bank_name,
                channel,
            } => {
                let pending = PendingProvisioning {
                    id: new_id(),
                    device_id: device.id.clone(),
                    card_last4: card.pan.last4().to_string(),
                    bank_name,
                    otp_channel: channel,
                    expires_at: now.saturating_add(ms(self.inner.config.otp_ttl)),
                };
                let db = self.db(&p.region)?;
                let mut tx = db.begin_write().await?;
                sqlx::query(
                    "INSERT INTO wallet_pending (id, account_id, device_id, verification_id, card_last4, \
                     bank_name, otp_channel, state, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9)",
                )
                .bind(&pending.id)
                .bind(&p.account_id)
                .bind(&pending.device_id)
                .bind(&verification_id)
                .bind(&pending.card_last4)
                .bind(&pending.bank_name)
                .bind(&pending.otp_channel)
                .bind(now)
                .bind(pending.expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                let mut map = paytap_types::sync::lock(&self.inner.pending, "pending cards");
                map.retain(|_, v| v.expires_at > now);
                map.insert(
                    pending.id.clone(),
                    PendingCard {
                        account_id: p.account_id.clone(),
                        device_id: device.id.clone(),
                        card,
                        expires_at: pending.expires_at,
                    },
                );
                tracing::info!(account = %p.account_id, device = %device.id, pending = %pending.id, "card add needs a one-time passcode");
                Ok(AddCardOutcome::OtpRequired { pending })
            }
            IdvDecision::Red { reason } => {
                tracing::info!(account = %p.account_id, device = %device.id, "card add declined by the issuer");
                Err(WalletError::CardDeclined { reason })
            }
        }
    }

    /// Finishes a yellow-path card add with the passcode the cardholder got.
    pub async fn submit_otp(
        &self,
        p: &Principal,
        device_id: &str,
        pending_id: &str,
        code: &str,
    ) -> Result<Card, WalletError> {
        let code = code.trim();
        if !(4..=8).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WalletError::invalid(
                "code",
                "the passcode is 4 to 8 digits",
            ));
        }
        let db = self.db(&p.region)?;
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT verification_id, state, expires_at FROM wallet_pending \
             WHERE id = $1 AND account_id = $2 AND device_id = $3",
        )
        .bind(pending_id)
        .bind(&p.account_id)
        .bind(device_id)
        .fetch_optional(db.pool())
        .await?;
        let (verification_id, state, expires_at) =
            row.ok_or(WalletError::NotFound("pending card"))?;
        match state.parse() {
            Ok(PendingState::Pending) => {}
            Ok(PendingState::Expired) => return Err(WalletError::OtpExpired),
            Ok(PendingState::Locked) => return Err(WalletError::OtpLocked),
            Ok(PendingState::Done) | Err(_) => return Err(WalletError::NotFound("pending card")),
        }
        let now = self.now();
        let card = {
            let map = paytap_types::sync::lock(&self.inner.pending, "pending cards");
            map.get(pending_id)
                .filter(|c| c.account_id == p.account_id && c.device_id == device_id)
                .map(|c| c.card.clone())
        };
        let Some(card) = card.filter(|_| now < expires_at) else {
            self.close_pending(p, pending_id, PendingState::Expired)
                .await?;
            return Err(WalletError::OtpExpired);
        };
        match self
            .inner
            .network
            .verify_otp(&verification_id, code)
            .await?
        {
            OtpDecision::Verified => {}
            OtpDecision::Incorrect { attempts_left } => {
                tracing::info!(account = %p.account_id, pending = %pending_id, "incorrect passcode");
                return Err(WalletError::OtpIncorrect { attempts_left });
            }
            OtpDecision::Expired => {
                self.close_pending(p, pending_id, PendingState::Expired)
                    .await?;
                return Err(WalletError::OtpExpired);
            }
            OtpDecision::Locked => {
                self.close_pending(p, pending_id, PendingState::Locked)
                    .await?;
                return Err(WalletError::OtpLocked);
            }
        }
        let device = self.device(p, device_id).await?;
        self.check_can_add(&device)?;
        let binding = self.binding(p, &device)?;
        let result = self
            .provision_and_store(p, &binding, &verification_id, &card)
            .await;
        if result.is_ok() {
            self.close_pending(p, pending_id, PendingState::Done)
                .await?;
        }
        result
    }

    async fn close_pending(
        &self,
        p: &Principal,
        pending_id: &str,
        state: PendingState,
    ) -> Result<(), WalletError> {
        paytap_types::sync::lock(&self.inner.pending, "pending cards").remove(pending_id);
        let db = self.db(&p.region)?;
        let mut tx = db.begin_write().await?;
        sqlx::query(
            "UPDATE wallet_pending SET state = $1 WHERE id = $2 AND account_id = $3 AND state = 'pending'",
        )
        .bind(state.as_str())
        .bind(pending_id)
        .bind(&p.account_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn provision_and_store(
        &self,
        p: &Principal,
        binding: &DeviceBinding,
        verification_id: &str,
        card: &CardDetails,
    ) -> Result<Card, WalletError> {
        let net = &self.inner.network;
        let prov = net.provision(verification_id, card, binding).await?;
        let now = self.now();
        let db = self.db(&p.region)?;
        let limit = self.inner.config.max_cards_per_device;
        let mut tx = db.begin_write().await?;
        let existing: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM wallet_cards WHERE token_ref = $1 AND token_state <> 'deleted'",
        )
        .bind(&prov.token_ref)
        .fetch_optional(&mut *tx)
        .await?;
        if existing.is_some() {
            tx.rollback().await?;
            return Err(WalletError::DuplicateCard);
        }
        // Lock the device row (a no-op update) so concurrent adds to one
        // device count one after the other on PostgreSQL too (SQLite's
        // write transaction is already exclusive).
        sqlx::query("UPDATE wallet_devices SET status = status WHERE id = $1")
            .bind(&binding.device_id)
            .execute(&mut *tx)
            .await?;
        let (status,): (String,) =
            sqlx::query_as("SELECT status FROM wallet_devices WHERE id = $1 AND account_id = $2")
                .bind(&binding.device_id)
                .bind(&p.account_id)
                .fetch_one(&mut *tx)
                .await?;
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM wallet_cards WHERE device_id = $1 AND token_state <> 'deleted'",
        )
        .bind(&binding.device_id)
        .fetch_one(&mut *tx)
        .await?;
        let refusal = if status.parse() != Ok(DeviceStatus::Active) {
            Some(WalletError::DeviceSuspended)
        } else if count >= i64::from(limit) {
            Some(WalletError::CardLimit { limit })
        } else {
            None
        };
        if let Some(err) = refusal {
            tx.rollback().await?;
            // Another request changed the device while this one was at the
            // network: undo the token so nothing stays half-done.
            if let Err(e) = net
                .set_token_state(
                    &prov.token_ref,
                    TokenState::Deleted,
                    StateReason::ProvisioningRolledBack,
                    &Actor::Wallet,
                )
                .await
            {
                tracing::error!(token_ref = %prov.token_ref, error = %e, "could not roll back a provisioned token");
            }
            return Err(err);
        }
        let card_row = Card {
            id: new_id(),
            device_id: binding.device_id.clone(),
            token_ref: prov.token_ref.clone(),
            card_last4: prov.card_last4.clone(),
            bank_name: prov.bank_name.clone(),
            cardholder_name: card.cardholder_name.expose().clone(),
            token_state: TokenState::Active,
            is_default: count == 0,
            created_at: now,
        };
        sqlx::query(
            "INSERT INTO wallet_cards (id, account_id, device_id, token_ref, card_last4, bank_name, \
             cardholder_name, token_state, is_default, sealed_payload, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, $10, $10)",
        )
        .bind(&card_row.id)
        .bind(&p.account_id)
        .bind(&card_row.device_id)
        .bind(&card_row.token_ref)
        .bind(&card_row.card_last4)
        .bind(&card_row.bank_name)
        .bind(&card_row.cardholder_name)
        .bind(i64::from(card_row.is_default))
        .bind(prov.sealed_payload.clone())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::info!(account = %p.account_id, device = %card_row.device_id, card = %card_row.id,
            token_ref = %card_row.token_ref, "card provisioned");
        Ok(card_row)
    }

    /// The cards on a device that are not deleted, oldest first.
    pub async fn cards(&self, p: &Principal, device_id: &str) -> Result<Vec<Card>, WalletError> {
        self.device(p, device_id).await?;
        let db = self.db(&p.region)?;
        let sql = format!(
            "SELECT {CARD_COLS} FROM wallet_cards WHERE device_id = $1 AND account_id = $2 \
             AND token_state <> 'deleted' ORDER BY created_at, id"
        );
        let rows: Vec<CardRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(device_id)
            .bind(&p.account_id)
            .fetch_all(db.pool())
            .await?;
        rows.into_iter().map(card_from_row).collect()
    }

    async fn card(
        &self,
        p: &Principal,
        device_id: &str,
        card_id: &str,
    ) -> Result<Card, WalletError> {
        let db = self.db(&p.region)?;
        let sql = format!(
            "SELECT {CARD_COLS} FROM wallet_cards WHERE id = $1 AND device_id = $2 AND account_id = $3"
        );
        let row: Option<CardRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(card_id)
            .bind(device_id)
            .bind(&p.account_id)
            .fetch_optional(db.pool())
            .await?;
        card_from_row(row.ok_or(WalletError::NotFound("card"))?)
    }

    /// Makes a card the device's default for payments.
    pub async fn set_default_card(
        &self,
        p: &Principal,
        device_id: &str,
        card_id: &str,
    ) -> Result<Card, WalletError> {
        let card = self.card(p, device_id, card_id).await?;
        if card.token_state == TokenState::Deleted {
            return Err(WalletError::NotFound("card"));
        }
        let db = self.db(&p.region)?;
        let mut tx = db.begin_write().await?;
        sqlx::query(
            "UPDATE wallet_cards SET is_default = CASE WHEN id = $1 THEN 1 ELSE 0 END, updated_at = $2 \
             WHERE device_id = $3 AND account_id = $4",
        )
        .bind(card_id)
        .bind(self.now())
        .bind(device_id)
        .bind(&p.account_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.card(p, device_id, card_id).await
    }

    /// Removes a card: its token is deleted at the token service, then the
    /// card is marked deleted here. Removing a removed card succeeds.
    pub async fn remove_card(
        &self,
        p: &Principal,
        device_id: &str,
        card_id: &str,
    ) -> Result<Card, WalletError> {
        let card = self.card(p, device_id, card_id).await?;
        if card.token_state == TokenState::Deleted {
            return Ok(card);
        }
        let actor = Actor::AccountHolder {
            account_id: p.account_id.clone(),
        };
        self.inner
            .network
            .set_token_state(
                &card.token_ref,
                TokenState::Deleted,
                StateReason::CardRemoved,
                &actor,
            )
            .await?;
        let db = self.db(&p.region)?;
        let now = self.now();
        let mut tx = db.begin_write().await?;
        sqlx::query(
            "UPDATE wallet_cards SET token_state = 'deleted', is_default = 0, updated_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(card_id)
        .execute(&mut *tx)
        .await?;
        if card.is_default {
            Self::promote_default(&mut tx, device_id).await?;
        }
        tx.commit().await?;
        tracing::info!(account = %p.account_id, card = %card_id, "card removed");
        self.card(p, device_id, card_id).await
    }

    /// Makes the oldest remaining card of a device its default.
    async fn promote_default(
        tx: &mut paytap_store::Tx,
        device_id: &str,
    ) -> Result<(), WalletError> {
        let next: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM wallet_cards WHERE device_id = $1 AND token_state <> 'deleted' \
             ORDER BY created_at, id LIMIT 1",
        )
        .bind(device_id)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some((id,)) = next {
            sqlx::query("UPDATE wallet_cards SET is_default = 1 WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// The sealed provisioning payloads of the device's cards that are not
    /// deleted, for the device to install (installing twice is harmless).
    pub async fn provisioning_payloads(
        &self,
        p: &Principal,
        device_id: &str,
    ) -> Result<Vec<ProvisioningItem>, WalletError> {
        // Only the device itself fetches its payloads: a contact.
        self.report_contact(
            p,
            device_id,
            &Heartbeat::default(),
            crate::locate::ContactKind::Sync,
        )
        .await?;
        let db = self.db(&p.region)?;
        let rows: Vec<ProvRow> = sqlx::query_as(
            "SELECT id, token_ref, token_state, card_last4, bank_name, is_default, sealed_payload \
             FROM wallet_cards WHERE device_id = $1 AND account_id = $2 AND token_state <> 'deleted' \
             ORDER BY created_at, id",
        )
        .bind(device_id)
        .bind(&p.account_id)
        .fetch_all(db.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ProvisioningItem {
                    card_id: r.0,
                    token_ref: r.1,
                    token_state: r.2.parse().map_err(stored_text)?,
                    card_last4: r.3,
                    bank_name: r.4,
                    is_default: r.5 != 0,
                    sealed_payload: STANDARD.encode(&r.6),
                })
            })
            .collect()
    }

    // ----- lost or stolen --------------------------------------------------

    /// Applies `target` to every token of the device in `from` states at the
    /// token service (concurrently), then records each success. Fails if
    /// any token could not be changed (a retry finishes the rest).
    async fn change_device_tokens(
        &self,
        p: &Principal,
        device_id: &str,
        from: &[TokenState],
        target: TokenState,
        reason: StateReason,
    ) -> Result<(), WalletError> {
        let cards = self.cards(p, device_id).await?;
        let todo: Vec<&Card> = cards
            .iter()
            .filter(|c| from.contains(&c.token_state))
            .collect();
        let actor = Actor::AccountHolder {
            account_id: p.account_id.clone(),
        };
        let net = &self.inner.network;
        let results = futures::future::join_all(
            todo.iter()
                .map(|c| net.set_token_state(&c.token_ref, target, reason, &actor)),
        )
        .await;
        let db = self.db(&p.region)?;
        let now = self.now();
        let mut first_err = None;
        let mut tx = db.begin_write().await?;
        for (card, res) in todo.iter().zip(results) {
            match res {
                Ok(()) => {
                    sqlx::query(
                        "UPDATE wallet_cards SET token_state = $1, updated_at = $2, \
                         is_default = CASE WHEN $1 = 'deleted' THEN 0 ELSE is_default END WHERE id = $3",
                    )
                    .bind(target.as_str())
                    .bind(now)
                    .bind(&card.id)
                    .execute(&mut *tx)
                    .await?;
                }
                Err(e) => {
                    tracing::error!(token_ref = %card.token_ref, error = %e, "token state change failed");
                    first_err.get_or_insert(e);
                }
            }
        }
        tx.commit().await?;
        match first_err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    async fn set_device_status(
        &self,
        p: &Principal,
        device_id: &str,
        status: DeviceStatus,
        reason: Option<SuspendReason>,
    ) -> Result<(), WalletError> {
        let db = self.db(&p.region)?;
        let mut tx = db.begin_write().await?;
        sqlx::query(
            "UPDATE wallet_devices SET status = $1, suspend_reason = $2 WHERE id = $3 AND account_id = $4",
        )
        .bind(status.as_str())
        .bind(reason.map(SuspendReason::as_str))
        .bind(device_id)
        .bind(&p.account_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Reports a device lost or stolen: the device is marked suspended (no
    /// card can be added), every active token on it is suspended at the
    /// token service, so its next tap is declined, and its transit cards
    /// are put on their operators' hotlists ([`crate::transit`]).
    /// Idempotent.
    pub async fn suspend_device(
        &self,
        p: &Principal,
        device_id: &str,
        reason: SuspendReason,
    ) -> Result<Device, WalletError> {
        self.device(p, device_id).await?;
        self.set_device_status(p, device_id, DeviceStatus::Suspended, Some(reason))
            .await?;
        let why = match reason {
            SuspendReason::Lost => StateReason::DeviceLost,
            SuspendReason::Stolen => StateReason::DeviceStolen,
        };
        self.change_device_tokens(
            p,
            device_id,
            &[TokenState::Active],
            TokenState::Suspended,
            why,
        )
        .await?;
        self.transit_device_lost(p, device_id).await?;
        tracing::info!(account = %p.account_id, device = %device_id, reason = reason.as_str(), "device suspended");
        self.device(p, device_id).await
    }

    /// Turns payments back on: every suspended token is reactivated, then
    /// the device is marked active. Idempotent.
    pub async fn resume_device(
        &self,
        p: &Principal,
        device_id: &str,
    ) -> Result<Device, WalletError> {
        self.device(p, device_id).await?;
        self.change_device_tokens(
            p,
            device_id,
            &[TokenState::Suspended],
            TokenState::Active,
            StateReason::DeviceFound,
        )
        .await?;
        self.set_device_status(p, device_id, DeviceStatus::Active, None)
            .await?;
        tracing::info!(account = %p.account_id, device = %device_id, "device resumed");
        self.device(p, device_id).await
    }

    /// Deletes every token on the device (the device keeps its status).
    /// Idempotent.
    pub async fn wipe_device(&self, p: &Principal, device_id: &str) -> Result<Device, WalletError> {
        self.device(p, device_id).await?;
        self.change_device_tokens(
            p,
            device_id,
            &[TokenState::Active, TokenState::Suspended],
            TokenState::Deleted,
            StateReason::DeviceWiped,
        )
        .await?;
        tracing::info!(account = %p.account_id, device = %device_id, "device wiped");
        self.device(p, device_id).await
    }

    // ----- history ---------------------------------------------------------

    /// Stores a payment the network reported, in the region of the account
    /// that owns the token, and notifies that account's subscribers.
    /// Returns `None` for an unknown token or an event already recorded.
    pub async fn record_payment(
        &self,
        event: &PaymentEvent,
    ) -> Result<Option<Transaction>, WalletError> {
        for (region, db) in self.inner.regions.iter() {
            let row: Option<(String, String, String, String, String)> = sqlx::query_as(
                "SELECT id, account_id, device_id, card_last4, bank_name FROM wallet_cards \
                 WHERE token_ref = $1 ORDER BY created_at DESC, id LIMIT 1",
            )
            .bind(&event.token_ref)
            .fetch_optional(db.pool())
            .await?;
            let Some((card_id, account_id, device_id, last4, bank)) = row else {
                continue;
            };
            let t = Transaction {
                id: event.event_id.clone(),
                device_id,
                card_id,
                card_last4: last4,
                bank_name: bank,
                merchant_name: event.merchant_name.clone(),
                merchant_id: event.merchant_id.clone(),
                terminal_id: event.terminal_id.clone(),
                amount: event.amount,
                amount_display: event.amount.decimal(),
                approved: event.approved,
                response_code: event.response_code.clone(),
                reason: event.reason.clone(),
                kind: event.kind.clone(),
                at: event.at_millis,
                saved: event.saved.unwrap_or(Money::new(0, event.amount.currency)),
                earned: event.earned.unwrap_or(Money::new(0, event.amount.currency)),
                channel: crate::band_history::CHANNEL_CARD.to_owned(),
                band_outcome: None,
            };
            let mut tx = db.begin_write().await?;
            let res = sqlx::query(
                "INSERT INTO wallet_transactions (id, account_id, device_id, card_id, token_ref, card_last4, \
                 bank_name, merchant_name, merchant_id, terminal_id, amount_minor, currency, approved, \
                 response_code, reason, kind, at, recorded_at, benefits) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(&t.id)
            .bind(&account_id)
            .bind(&t.device_id)
            .bind(&t.card_id)
            .bind(&event.token_ref)
            .bind(&t.card_last4)
            .bind(&t.bank_name)
            .bind(&t.merchant_name)
            .bind(&t.merchant_id)
            .bind(&t.terminal_id)
            .bind(t.amount.minor)
            .bind(t.amount.currency.code())
            .bind(i64::from(t.approved))
            .bind(&t.response_code)
            .bind(&t.reason)
            .bind(&t.kind)
            .bind(t.at)
            .bind(self.now())
            .bind(benefits_column(t.saved, t.earned))
            .execute(&mut *tx)
            .await?;
            if res.rows_affected() == 0 {
                return Ok(None);
            }
            let asked = self.ask_to_verify(&mut tx, &account_id, &t).await?;
            tx.commit().await?;
            self.seen_paying(db, &t.device_id, t.at, asked).await?;
            tracing::info!(account = %account_id, region, event = %t.id, approved = t.approved, "payment recorded");
            self.publish(db, account_id, t.clone()).await;
            return Ok(Some(t));
        }
        tracing::warn!(token_ref = %event.token_ref, event = %event.event_id, "payment for a token no account holds");
        Ok(None)
    }

    /// Feeds the network's payment events into [`Wallet::record_payment`]
    /// until the channel closes.
    pub fn spawn_event_pump(
        &self,
        mut rx: broadcast::Receiver<PaymentEvent>,
    ) -> tokio::task::JoinHandle<()> {
        let wallet = self.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        if let Err(e) = wallet.record_payment(&ev).await {
                            tracing::error!(event = %ev.event_id, error = %e, "could not record a payment");
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::error!(skipped = n, "payment events lost: the wallet fell behind");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    }

    /// The account's payments, card and band ([`crate::band_history`]),
    /// newest first, `limit` (1..=100) per page; `cursor` is the previous
    /// page's `next_cursor`.
    pub async fn transactions(
        &self,
        p: &Principal,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<TransactionPage, WalletError> {
        if !(1..=100).contains(&limit) {
            return Err(WalletError::invalid("limit", "must be between 1 and 100"));
        }
        let (before_at, before_id) = match cursor {
            None => (i64::MAX, String::new()),
            Some(c) => decode_cursor(c)
                .ok_or_else(|| WalletError::invalid("cursor", "not a cursor from this API"))?,
        };
        let db = self.db(&p.region)?;
        let sql = format!(
            "SELECT {TX_COLS} FROM wallet_transactions WHERE account_id = $1 \
             AND (at < $2 OR (at = $2 AND ($3 = '' OR id < $3))) ORDER BY at DESC, id DESC LIMIT $4"
        );
        let rows: Vec<TxRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&p.account_id)
            .bind(before_at)
            .bind(&before_id)
            .bind(i64::from(limit) + 1)
            .fetch_all(db.pool())
            .await?;
        let cards = rows
            .into_iter()
            .map(tx_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let bands = self.band_rows(p, before_at, &before_id, limit + 1).await?;
        let mut items = crate::band_history::merge(cards, bands);
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|t| encode_cursor(t.at, &t.id))
        } else {
            None
        };
        Ok(TransactionPage { items, next_cursor })
    }

    /// New payments of the account as they are recorded, by this
    /// instance or, on PostgreSQL, by any other sharing its database
    /// ([`crate::feed`]): every payment recorded after this answers.
    pub async fn subscribe_payments(&self, p: &Principal) -> Result<PaymentFeed, WalletError> {
        let rx = self.inner.events.subscribe();
        self.listen_for_feed().await?;
        Ok(PaymentFeed {
            rx,
            account_id: p.account_id.clone(),
        })
    }

    // ----- housekeeping ------------------------------------------------------

    /// Deletes expired sessions, stored idempotent responses older than
    /// [`IDEMPOTENCY_RETENTION`], and closed or expired pending card adds
    /// older than a day, in every region; returns the rows removed. Safe
    /// to call at any time (e.g. hourly).
    pub async fn purge_expired(&self) -> Result<u64, WalletError> {
        let now = self.now();
        let day = 24 * 3600 * 1000;
        let mut removed = 0;
        paytap_types::sync::lock(&self.inner.pending, "pending cards")
            .retain(|_, v| v.expires_at > now);
        for (_, db) in self.inner.regions.iter() {
            let mut tx = db.begin_write().await?;
            for (sql, bound) in [
                ("DELETE FROM wallet_sessions WHERE expires_at <= $1", now),
                (
                    "DELETE FROM wallet_idempotency WHERE created_at < $1",
                    now - ms(IDEMPOTENCY_RETENTION),
                ),
                (
                    "DELETE FROM wallet_pending WHERE expires_at < $1",
                    now - day,
                ),
                (
                    "DELETE FROM wallet_login_addresses WHERE last_login_at < $1",
                    now - ms(crate::throttle::KNOWN_ADDRESS_TTL),
                ),
            ] {
                removed += sqlx::query(sql)
                    .bind(bound)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            tx.commit().await?;
        }
        Ok(removed)
    }

    // ----- idempotency store (used by the HTTP layer) -------------------------

    /// The stored response for (`scope`, `key`): an error if the key was
    /// used for another `request` ([`crate::idempotency::check_record`]).
    pub(crate) async fn idempotent_lookup(
        &self,
        region: &str,
        scope: &str,
        key: &str,
        request: &str,
    ) -> Result<Option<(u16, String)>, WalletError> {
        let db = self.db(region)?;
        let row: Option<(String, i64, String)> = sqlx::query_as(
            "SELECT request, status, body FROM wallet_idempotency WHERE scope = $1 AND idem_key = $2",
        )
        .bind(scope)
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
        match row {
            None => Ok(None),
            Some((stored, status, body)) => {
                crate::idempotency::check_record(&stored, request)?;
                Ok(Some((u16::try_from(status).unwrap_or(500), body)))
            }
        }
    }

    /// Stores a response; returns the one already stored if another request
    /// with the same key finished first.
    pub(crate) async fn idempotent_store(
        &self,
        region: &str,
        scope: &str,
        key: &str,
        request: &str,
        status: u16,
        body: &str,
    ) -> Result<Option<(u16, String)>, WalletError> {
        let db = self.db(region)?;
        let mut tx = db.begin_write().await?;
        let res = sqlx::query(
            "INSERT INTO wallet_idempotency (scope, idem_key, request, status, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(request)
        .bind(i64::from(status))
        .bind(body)
        .bind(self.now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if res.rows_affected() == 1 {
            Ok(None)
        } else {
            self.idempotent_lookup(region, scope, key, request).await
        }
    }
}

fn encode_cursor(at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{at}|{id}"))
}

fn decode_cursor(c: &str) -> Option<(i64, String)> {
    let raw = URL_SAFE_NO_PAD.decode(c).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (at, id) = s.split_once('|')?;
    if id.is_empty() {
        return None;
    }
    Some((at.parse().ok()?, id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_795_424_400_000; // 2026-11-23T09:00:00Z

    fn card(pan: &str, expiry: &str, cvv: &str, name: &str) -> NewCard {
        NewCard {
            pan: Secret::new(pan.into()),
            expiry: expiry.into(),
            cvv: Secret::new(cvv.into()),
            cardholder_name: Secret::new(name.into()),
        }
    }

    #[test]
    fn validates_cards() {
        let ok = validate_card(
            &card("6212 3456 7890 1232", "11/26", "123", " LI LEI "),
            NOW,
        )
        .unwrap();
        assert_eq!(ok.pan.last4(), "1232");
        assert_eq!(ok.cardholder_name.expose(), "LI LEI");
        let field = |r: Result<CardDetails, WalletError>| match r {
            Err(WalletError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(validate_card(
                &card("6212345678901233", "11/26", "123", "A"),
                NOW
            )),
            "pan"
        );
        assert_eq!(
            field(validate_card(
                &card("6212345678901232", "10/26", "123", "A"),
                NOW
            )),
            "expiry"
        );
        assert_eq!(
            field(validate_card(
                &card("6212345678901232", "11/26", "1234", "A"),
                NOW
            )),
            "cvv"
        );
        assert_eq!(
            field(validate_card(
                &card("6212345678901232", "11/26", "123", ""),
                NOW
            )),
            "cardholder_name"
        );
    }

    #[test]
    fn cursors_round_trip() {
        let c = encode_cursor(1_795_000_000_123, "0190-abc");
        assert_eq!(
            decode_cursor(&c),
            Some((1_795_000_000_123, "0190-abc".into()))
        );
        assert_eq!(decode_cursor("!!"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("12|")), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("x|y")), None);
    }

    proptest! {
        #[test]
        fn card_validation_never_panics_nor_echoes_the_number(
            pan in "[0-9 -]{0,24}|.{0,24}",
            expiry in "[0-9/]{0,7}|.{0,8}",
            cvv in ".{0,5}",
            name in ".{0,70}",
        ) {
            if let Err(e) = validate_card(&card(&pan, &expiry, &cvv, &name), NOW) {
                let msg = e.to_string();
                let digits: String = pan.chars().filter(char::is_ascii_digit).collect();
                if digits.len() >= 6 {
                    prop_assert!(!msg.contains(&digits));
                }
            }
        }

        #[test]
        fn valid_cards_are_accepted(body in "62[0-9]{13}", month in 1u8..=12, year in 27u16..=40) {
            let d = paytap_types::luhn_check_digit(&body).unwrap();
            let pan = format!("{body}{d}");
            let c = validate_card(&card(&pan, &format!("{month:02}/{year}"), "000", "X"), NOW);
            prop_assert!(c.is_ok());
        }

        #[test]
        fn cursor_decoding_never_panics(s in ".{0,40}") {
            let _ = decode_cursor(&s);
        }
    }
}
