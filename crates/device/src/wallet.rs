//! The device's client of the wallet service HTTP JSON API (`/api/v1`):
//! register an account, log in, enrol the device with its public key, add a
//! card (ID&V green or yellow with a one-time passcode), fetch the sealed
//! provisioning payloads, heartbeat, report lost / resume, read the
//! history.
//!
//! Card details are sent once, in the body of one HTTPS-or-loopback
//! request, and never kept: [`NewCardRequest`] is wiped on drop and its
//! `Debug` is redacted.

use paytap_types::{DeviceStatus, Secret, TokenState};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Why a wallet call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WalletClientError {
    /// The wallet answered with an error (`status`, the API's error code and message).
    #[error("wallet refused ({status} {code}): {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer from the wallet at `url` (its base URL; paths and tokens
    /// are left out).
    #[error("wallet unreachable at {url}: {reason}")]
    Transport { url: String, reason: String },
    #[error("unexpected answer from the wallet: {0}")]
    Decode(String),
}

impl WalletClientError {
    /// The API error code (`"card_limit"`, `"unauthorized"`, ...), if the wallet answered one.
    pub fn code(&self) -> Option<&str> {
        match self {
            WalletClientError::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A session as the wallet returns it on login.
#[derive(Clone, Debug, Deserialize)]
pub struct SessionInfo {
    pub token: Secret<String>,
    pub expires_at: i64,
    pub account: AccountInfo,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AccountInfo {
    pub id: String,
    pub login: String,
    #[serde(default)]
    pub region: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeviceInfo {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub status: DeviceStatus,
    #[serde(default)]
    pub card_count: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CardRecord {
    pub id: String,
    pub device_id: String,
    pub token_ref: String,
    pub card_last4: String,
    pub bank_name: String,
    pub token_state: TokenState,
    pub is_default: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PendingCard {
    pub id: String,
    pub device_id: String,
    pub card_last4: String,
    pub bank_name: String,
    pub otp_channel: String,
    pub expires_at: i64,
}

/// The result of adding a card.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AddCardResult {
    /// Green path: the token is provisioned; fetch it with [`WalletClient::provisioning`].
    Provisioned { card: CardRecord },
    /// Yellow path: submit the one-time passcode.
    OtpRequired { pending: PendingCard },
}

/// One sealed payload waiting for the device.
#[derive(Clone, Deserialize)]
pub struct ProvisioningItem {
    pub card_id: String,
    pub token_ref: String,
    pub token_state: TokenState,
    pub card_last4: String,
    pub bank_name: String,
    pub is_default: bool,
    /// Standard base64 of the sealed payload.
    pub sealed_payload: String,
}

/// Not secret (the payload is sealed to this device), only long: the
/// sealed payload and names are left out.
impl std::fmt::Debug for ProvisioningItem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisioningItem")
            .field("token_ref", &self.token_ref)
            .field("token_state", &self.token_state)
            .field("card_last4", &self.card_last4)
            .finish_non_exhaustive()
    }
}

/// A transaction in the account's history.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HistoryItem {
    pub id: String,
    pub device_id: String,
    pub card_last4: String,
    pub bank_name: String,
    pub merchant_name: String,
    pub amount_display: String,
    pub approved: bool,
    pub response_code: String,
    pub reason: String,
    pub at: i64,
    /// What an instant discount took off the charge (absent from a wallet
    /// that does not report it).
    #[serde(default)]
    pub saved: Option<paytap_types::Money>,
    /// The cashback the payment earned.
    #[serde(default)]
    pub earned: Option<paytap_types::Money>,
}

/// Card details typed by the person: the number, code and name are wiped
/// on drop and never printed.
#[derive(Clone, Debug, Serialize)]
pub struct NewCardRequest {
    pub pan: Secret<String>,
    /// `MM/YY`.
    pub expiry: String,
    pub cvv: Secret<String>,
    pub cardholder_name: Secret<String>,
}

/// HTTP client of the wallet service.
#[derive(Clone)]
pub struct WalletClient {
    pub(crate) base: String,
    http: reqwest::Client,
    pub(crate) token: Option<String>,
}

impl std::fmt::Debug for WalletClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalletClient")
            .field("base", &self.base)
            .field("logged_in", &self.token.is_some())
            .finish()
    }
}

impl WalletClient {
    /// A client for the wallet at `base_url` (e.g. `http://127.0.0.1:8080/`).
    pub fn new(base_url: &str) -> Result<WalletClient, WalletClientError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| WalletClientError::Transport {
                url: base_url.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(WalletClient {
            base: base_url.trim_end_matches('/').to_owned(),
            http,
            token: None,
        })
    }

    /// Uses an existing session token.
    pub fn with_session(mut self, token: &str) -> WalletClient {
        self.token = Some(token.to_owned());
        self
    }

    /// The bearer session this client signed in with, if it has one (for a
    /// caller that also speaks to the wallet API directly).
    pub fn session_token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A transport failure, naming the wallet's base URL but not the path.
    pub(crate) fn unreachable(&self, e: reqwest::Error) -> WalletClientError {
        WalletClientError::Transport {
            url: self.base.clone(),
            reason: e.without_url().to_string(),
        }
    }

    pub(crate) async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, WalletClientError> {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.map_err(|e| self.unreachable(e))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let err = v.get("error");
            let s = |k: &str| {
                err.and_then(|e| e.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            return Err(WalletClientError::Api {
                status: status.as_u16(),
                code: s("code"),
                message: s("message"),
            });
        }
        let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(body).map_err(|e| WalletClientError::Decode(e.to_string()))
    }

    /// Tells the wallet what the device read off its transit cards (each
    /// named by its number's last four digits), replacing its last report.
    pub async fn report_transit_readings(
        &self,
        device_id: &str,
        purses: &[paytap_purse::PurseState],
    ) -> Result<(), WalletClientError> {
        let cards: Vec<Value> = purses.iter().map(reading).collect();
        let _: Value = self
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/devices/{device_id}/transit-readings"),
                Some(serde_json::json!({ "cards": cards })),
            )
            .await?;
        Ok(())
    }

    /// Any JSON endpoint of the platform under this session (the band
    /// account's routes, `/api/v1/bands`), its answer as JSON.
    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WalletClientError> {
        self.call(method, path, body).await
    }

    /// Creates an account.
    pub async fn register(
        &self,
        login: &str,
        password: &str,
        display_name: &str,
    ) -> Result<AccountInfo, WalletClientError> {
        let body = json!({ "login": login, "password": password, "display_name": display_name });
        self.call(reqwest::Method::POST, "/api/v1/accounts", Some(body))
            .await
    }

    /// Creates an account whose data lives in `region` (`cn`, `in`).
    pub async fn register_in(
        &self,
        login: &str,
        password: &str,
        display_name: &str,
        region: &str,
    ) -> Result<AccountInfo, WalletClientError> {
        let body = json!({ "login": login, "password": password, "display_name": display_name,
                           "region": region });
        self.call(reqwest::Method::POST, "/api/v1/accounts", Some(body))
            .await
    }

    /// Logs in and keeps the session token in this client.
    pub async fn login(
        &mut self,
        login: &str,
        password: &str,
    ) -> Result<SessionInfo, WalletClientError> {
        let body = json!({ "login": login, "password": password });
        let s: SessionInfo = self
            .call(reqwest::Method::POST, "/api/v1/sessions", Some(body))
            .await?;
        self.token = Some(s.token.expose().clone());
        Ok(s)
    }

    /// Registers a device with its X25519 public key.
    pub async fn register_device(
        &self,
        kind: &str,
        name: &str,
        model: &str,
        public_key: &[u8; 32],
    ) -> Result<DeviceInfo, WalletClientError> {
        let body = json!({ "kind": kind, "name": name, "model": model, "public_key": paytap_seal::public_key_to_base64(public_key) });
        self.call(reqwest::Method::POST, "/api/v1/devices", Some(body))
            .await
    }

    pub async fn device(&self, device_id: &str) -> Result<DeviceInfo, WalletClientError> {
        self.call(
            reqwest::Method::GET,
            &format!("/api/v1/devices/{device_id}"),
            None,
        )
        .await
    }

    /// Adds a card to a device (issuer ID&V, then provisioning).
    pub async fn add_card(
        &self,
        device_id: &str,
        card: &NewCardRequest,
    ) -> Result<AddCardResult, WalletClientError> {
        let body = json!(card);
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/devices/{device_id}/cards"),
            Some(body),
        )
        .await
    }

    /// Finishes a yellow-path card add with the one-time passcode.
    pub async fn submit_otp(
        &self,
        device_id: &str,
        pending_id: &str,
        code: &str,
    ) -> Result<AddCardResult, WalletClientError> {
        let body = json!({ "code": code });
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/devices/{device_id}/pending-cards/{pending_id}/otp"),
            Some(body),
        )
        .await
    }

    /// Takes a card out of a device: its token is deleted at the token
    /// service; the device drops it at its next sync.
    pub async fn remove_card(
        &self,
        device_id: &str,
        card_id: &str,
    ) -> Result<CardRecord, WalletClientError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/api/v1/devices/{device_id}/cards/{card_id}"),
            None,
        )
        .await
    }

    pub async fn cards(&self, device_id: &str) -> Result<Vec<CardRecord>, WalletClientError> {
        #[derive(Deserialize)]
        struct Cards {
            cards: Vec<CardRecord>,
        }
        let c: Cards = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/devices/{device_id}/cards"),
                None,
            )
            .await?;
        Ok(c.cards)
    }

    /// The sealed provisioning payloads of the device's tokens.
    pub async fn provisioning(
        &self,
        device_id: &str,
    ) -> Result<Vec<ProvisioningItem>, WalletClientError> {
        #[derive(Deserialize)]
        struct Items {
            items: Vec<ProvisioningItem>,
        }
        let i: Items = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/devices/{device_id}/provisioning"),
                None,
            )
            .await?;
        Ok(i.items)
    }

    /// Reports the device alive, optionally with where it is.
    pub async fn heartbeat(
        &self,
        device_id: &str,
        place: Option<(f64, f64, Option<&str>)>,
    ) -> Result<DeviceInfo, WalletClientError> {
        let body = match place {
            Some((lat, lon, name)) => {
                json!({ "lat": lat, "lon": lon, "accuracy_m": 25.0, "place": name })
            }
            None => json!({}),
        };
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/devices/{device_id}/heartbeat"),
            Some(body),
        )
        .await
    }

    /// Reports the device lost: every token on it is suspended.
    pub async fn report_lost(&self, device_id: &str) -> Result<DeviceInfo, WalletClientError> {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/devices/{device_id}/suspend"),
            Some(json!({ "reason": "lost" })),
        )
        .await
    }

    /// The device is found: its tokens are resumed.
    pub async fn resume(&self, device_id: &str) -> Result<DeviceInfo, WalletClientError> {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/devices/{device_id}/resume"),
            Some(json!({})),
        )
        .await
    }

    /// The account's rewards points (`points`, and the newest `entries`).
    pub async fn points(&self) -> Result<Value, WalletClientError> {
        self.call(reqwest::Method::GET, "/api/v1/points", None)
            .await
    }

    /// Redeems points as cashback in `currency`; what they paid.
    pub async fn redeem_points(
        &self,
        points: u64,
        currency: &str,
    ) -> Result<Value, WalletClientError> {
        let body = json!({ "points": points, "currency": currency });
        self.call(
            reqwest::Method::POST,
            "/api/v1/points/redemptions",
            Some(body),
        )
        .await
    }
    /// Orders the lost card `from_card_id`'s balance onto the account's
    /// card `to_card_id` (`POST /api/v1/transit/cards/{id}/move`); the
    /// order as the wallet answers it (`move_id`, `amount`, `gates_waiting`).
    pub async fn order_transit_move(
        &self,
        from_card_id: &str,
        to_card_id: &str,
    ) -> Result<Value, WalletClientError> {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/transit/cards/{from_card_id}/move"),
            Some(json!({ "to_card_id": to_card_id })),
        )
        .await
    }

    /// The account's transit cards (`GET /api/v1/transit/cards`): each
    /// with its operator, last digits, device, balance as cleared, status,
    /// trips and top-ups; the `cards` array as the wallet answers it.
    pub async fn transit_cards(&self) -> Result<Vec<Value>, WalletClientError> {
        #[derive(Deserialize)]
        struct List {
            cards: Vec<Value>,
        }
        let l: List = self
            .call(reqwest::Method::GET, "/api/v1/transit/cards", None)
            .await?;
        Ok(l.cards)
    }

    /// The newest transactions of the account.
    pub async fn transactions(&self, limit: u32) -> Result<Vec<HistoryItem>, WalletClientError> {
        #[derive(Deserialize)]
        struct Page {
            items: Vec<HistoryItem>,
        }
        let p: Page = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/transactions?limit={limit}"),
                None,
            )
            .await?;
        Ok(p.items)
    }
}

/// What a sync changed in the secure element.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub installed: Vec<crate::CardInfo>,
    pub removed: Vec<String>,
    /// Tokens the secure element would not take: (token reference, why).
    pub refused: Vec<(String, String)>,
}

/// A transit card as the wallet's report names it: the last four digits
/// of its number, its own balance and counters.
fn reading(p: &paytap_purse::PurseState) -> Value {
    let digits: String = p.public.serial.iter().map(|b| format!("{b:02x}")).collect();
    let last = &digits[digits.len().saturating_sub(LAST_DIGITS)..];
    serde_json::json!({
        "last_digits": last,
        "balance": p.balance,
        "offline_counter": p.offline_counter,
        "online_counter": p.online_counter,
    })
}

/// Digits of a transit card number the wallet is told.
const LAST_DIGITS: usize = 4;

/// Why a sync failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Wallet(#[from] WalletClientError),
    #[error(transparent)]
    Device(#[from] crate::DeviceError),
}

/// Brings the secure element in line with the wallet: installs newly
/// provisioned tokens (opening each sealed payload with the device key),
/// deletes tokens the wallet deleted or no longer lists, follows the
/// default card.
pub async fn sync_device(
    device: &mut crate::Device,
    client: &WalletClient,
) -> Result<SyncReport, SyncError> {
    use base64::Engine;
    let device_id = device
        .device_id()
        .ok_or(crate::DeviceError::NotEnrolled)?
        .to_owned();
    let items = client.provisioning(&device_id).await?;
    // Fetching the payloads tells the wallet the device is alive; where it
    // is goes with it when the location service knows.
    if let Some(here) = device.position() {
        client
            .report_place(&device_id, crate::locate::Reason::Sync, here)
            .await?;
    }
    // What the secure element's transit cards hold (every tap counted,
    // uploaded by the gates or not) goes with it.
    let purses = device.purses()?;
    if !purses.is_empty() {
        client.report_transit_readings(&device_id, &purses).await?;
    }
    let mut report = SyncReport::default();
    let present: Vec<String> = device.cards().into_iter().map(|c| c.token_ref).collect();
    for t in &present {
        if !items
            .iter()
            .any(|i| &i.token_ref == t && i.token_state != TokenState::Deleted)
        {
            device.remove_card(t)?;
            report.removed.push(t.clone());
        }
    }
    for item in items
        .iter()
        .filter(|i| i.token_state != TokenState::Deleted)
    {
        let Ok(sealed) =
            base64::engine::general_purpose::STANDARD.decode(item.sealed_payload.trim())
        else {
            report
                .refused
                .push((item.token_ref.clone(), "payload is not base64".into()));
            continue;
        };
        let was_present = present.contains(&item.token_ref);
        match device.install(&item.token_ref, &sealed, item.is_default) {
            Ok(info) if !was_present => report.installed.push(info),
            Ok(_) => {}
            Err(e) => report.refused.push((item.token_ref.clone(), e.to_string())),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_card_details_and_a_session_token_never_print() {
        let card = NewCardRequest {
            pan: "6212345678901232".into(),
            expiry: "07/29".into(),
            cvv: "987".into(),
            cardholder_name: "LI LEI".into(),
        };
        let shown = format!("{card:?}");
        for secret in ["6212345678901232", "987", "LI LEI"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        // The wallet reads the same JSON as before.
        let json = serde_json::to_value(&card).unwrap();
        assert_eq!(json["pan"], "6212345678901232");
        assert_eq!(json["cardholder_name"], "LI LEI");
        let s: SessionInfo = serde_json::from_value(json!({
            "token": "sess-secret-token",
            "expires_at": 1,
            "account": { "id": "a", "login": "l" }
        }))
        .unwrap();
        assert_eq!(s.token.expose(), "sess-secret-token");
        assert!(!format!("{s:?}").contains("sess-secret"));
    }

    #[tokio::test]
    async fn an_unreachable_wallet_is_named_by_its_url() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/");
        let client = WalletClient::new(&url)
            .unwrap()
            .with_session("secret-session-token");
        let err = client.device("dev-1").await.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, WalletClientError::Transport { .. }),
            "{err:?}"
        );
        assert!(
            text.starts_with(&format!("wallet unreachable at http://127.0.0.1:{port}:")),
            "{text}"
        );
        assert!(!text.contains("secret-session-token"), "{text}");
        assert!(!text.contains("dev-1"), "{text}");
    }
}
