//! Test harness: an honest in-memory card network behind the
//! `WalletNetwork` port, and a wallet served over real HTTP on loopback.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use paytap_store::{Db, Regions};
use paytap_wallet::*;
use serde_json::{Value, json};

/// How the fake issuer treats a card during ID&V.
#[derive(Clone, Debug)]
pub enum Path {
    Green,
    Yellow { otp: String },
    Red { reason: String },
}

#[derive(Clone, Debug)]
pub struct IssuedCard {
    pub expiry: String,
    pub cvv: String,
    pub bank: String,
    pub path: Path,
}

struct Verification {
    pan: String,
    device_id: String,
    approved: bool,
    otp: Option<String>,
    attempts_left: u32,
    expires_at: i64,
    used: bool,
}

#[derive(Default)]
struct State {
    cards: HashMap<String, IssuedCard>,
    verifications: HashMap<String, Verification>,
    /// token_ref -> (pan, device id, state)
    tokens: HashMap<String, (String, String, TokenState)>,
    next: u64,
    /// (token_ref, state, reason) in call order.
    state_calls: Vec<(String, TokenState, StateReason)>,
    idv_calls: u32,
    provision_calls: u32,
    unavailable: bool,
}

/// A small issuer + token service: knows the cards it issued (PAN, expiry,
/// CVV), answers ID&V per card, checks passcodes (3 attempts, 5 minutes),
/// provisions one token per (card, device) sealed to the device key, and
/// keeps each token's lifecycle state.
#[derive(Clone)]
pub struct FakeNetwork {
    state: Arc<Mutex<State>>,
    clock: ManualClock,
}

pub const OTP_LIFETIME_MS: i64 = 5 * 60 * 1000;

impl FakeNetwork {
    pub fn new(clock: ManualClock) -> Self {
        FakeNetwork {
            state: Arc::new(Mutex::new(State::default())),
            clock,
        }
    }

    pub fn issue(&self, pan: &str, bank: &str, path: Path) {
        self.state.lock().unwrap().cards.insert(
            pan.to_string(),
            IssuedCard {
                expiry: "12/30".into(),
                cvv: "123".into(),
                bank: bank.into(),
                path,
            },
        );
    }

    pub fn token_state(&self, token_ref: &str) -> Option<TokenState> {
        self.state
            .lock()
            .unwrap()
            .tokens
            .get(token_ref)
            .map(|t| t.2)
    }

    pub fn state_calls(&self) -> Vec<(String, TokenState, StateReason)> {
        self.state.lock().unwrap().state_calls.clone()
    }

    pub fn idv_calls(&self) -> u32 {
        self.state.lock().unwrap().idv_calls
    }

    pub fn provision_calls(&self) -> u32 {
        self.state.lock().unwrap().provision_calls
    }

    pub fn live_tokens(&self) -> usize {
        self.state
            .lock()
            .unwrap()
            .tokens
            .values()
            .filter(|t| t.2 != TokenState::Deleted)
            .count()
    }

    pub fn set_unavailable(&self, v: bool) {
        self.state.lock().unwrap().unavailable = v;
    }
}

impl WalletNetwork for FakeNetwork {
    fn identify_and_verify<'a>(
        &'a self,
        card: &'a CardDetails,
        device: &'a DeviceBinding,
    ) -> BoxFuture<'a, Result<IdvDecision, NetworkError>> {
        Box::pin(async move {
            let mut s = self.state.lock().unwrap();
            if s.unavailable {
                return Err(NetworkError::Unavailable("fake network down".into()));
            }
            s.idv_calls += 1;
            let Some(issued) = s.cards.get(card.pan.expose()).cloned() else {
                return Ok(IdvDecision::Red {
                    reason: "the card is not recognised by its bank".into(),
                });
            };
            if issued.cvv != *card.cvv.expose() || issued.expiry != card.expiry.expose().to_string()
            {
                return Ok(IdvDecision::Red {
                    reason: "the card details do not match the bank's records".into(),
                });
            }
            s.next += 1;
            let vid = format!("v{}", s.next);
            let expires_at = self.clock.now_millis() + OTP_LIFETIME_MS;
            let (decision, approved, otp) = match issued.path {
                Path::Green => (
                    IdvDecision::Green {
                        verification_id: vid.clone(),
                        bank_name: issued.bank.clone(),
                    },
                    true,
                    None,
                ),
                Path::Yellow { otp } => (
                    IdvDecision::Yellow {
                        verification_id: vid.clone(),
                        bank_name: issued.bank.clone(),
                        channel: "SMS to +86 *** **** 8000".into(),
                    },
                    false,
                    Some(otp),
                ),
                Path::Red { reason } => return Ok(IdvDecision::Red { reason }),
            };
            s.verifications.insert(
                vid,
                Verification {
                    pan: card.pan.expose().to_string(),
                    device_id: device.device_id.clone(),
                    approved,
                    otp,
                    attempts_left: 3,
                    expires_at,
                    used: false,
                },
            );
            Ok(decision)
        })
    }

    fn verify_otp<'a>(
        &'a self,
        verification_id: &'a str,
        code: &'a str,
    ) -> BoxFuture<'a, Result<OtpDecision, NetworkError>> {
        Box::pin(async move {
            let now = self.clock.now_millis();
            let mut s = self.state.lock().unwrap();
            let v = s
                .verifications
                .get_mut(verification_id)
                .ok_or_else(|| NetworkError::UnknownReference(verification_id.into()))?;
            if now >= v.expires_at {
                return Ok(OtpDecision::Expired);
            }
            if v.attempts_left == 0 {
                return Ok(OtpDecision::Locked);
            }
            if v.otp.as_deref() == Some(code) {
                v.approved = true;
                return Ok(OtpDecision::Verified);
            }
            v.attempts_left -= 1;
            if v.attempts_left == 0 {
                Ok(OtpDecision::Locked)
            } else {
                Ok(OtpDecision::Incorrect {
                    attempts_left: v.attempts_left,
                })
            }
        })
    }

    fn provision<'a>(
        &'a self,
        verification_id: &'a str,
        card: &'a CardDetails,
        device: &'a DeviceBinding,
    ) -> BoxFuture<'a, Result<ProvisionedCard, NetworkError>> {
        Box::pin(async move {
            let mut s = self.state.lock().unwrap();
            s.provision_calls += 1;
            let v = s
                .verifications
                .get_mut(verification_id)
                .ok_or_else(|| NetworkError::UnknownReference(verification_id.into()))?;
            if !v.approved
                || v.used
                || v.pan != card.pan.expose()
                || v.device_id != device.device_id
            {
                return Err(NetworkError::Rejected("verification not approved".into()));
            }
            v.used = true;
            let bank = s
                .cards
                .get(card.pan.expose())
                .map(|c| c.bank.clone())
                .unwrap_or_default();
            // One live token per (card, device).
            let existing = s.tokens.iter().find(|(_, t)| {
                t.0 == card.pan.expose() && t.1 == device.device_id && t.2 != TokenState::Deleted
            });
            let token_ref = match existing {
                Some((r, _)) => r.clone(),
                None => {
                    s.next += 1;
                    let r = format!("tok-{}", s.next);
                    s.tokens.insert(
                        r.clone(),
                        (
                            card.pan.expose().to_string(),
                            device.device_id.clone(),
                            TokenState::Active,
                        ),
                    );
                    r
                }
            };
            let plaintext = json!({"token_ref": token_ref, "last4": card.pan.last4()}).to_string();
            let sealed = paytap_seal::seal(
                &device.public_key,
                format!("{}|{}", device.device_id, token_ref).as_bytes(),
                plaintext.as_bytes(),
            )
            .map_err(|e| NetworkError::Rejected(e.to_string()))?;
            Ok(ProvisionedCard {
                token_ref,
                card_last4: card.pan.last4().to_string(),
                bank_name: bank,
                sealed_payload: sealed,
            })
        })
    }

    fn set_token_state<'a>(
        &'a self,
        token_ref: &'a str,
        state: TokenState,
        reason: StateReason,
        _actor: &'a Actor,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        Box::pin(async move {
            let mut s = self.state.lock().unwrap();
            if s.unavailable {
                return Err(NetworkError::Unavailable("fake network down".into()));
            }
            let t = s
                .tokens
                .get_mut(token_ref)
                .ok_or_else(|| NetworkError::UnknownReference(token_ref.into()))?;
            if t.2 == TokenState::Deleted && state != TokenState::Deleted {
                return Err(NetworkError::Rejected("token is deleted".into()));
            }
            t.2 = state;
            s.state_calls.push((token_ref.to_string(), state, reason));
            Ok(())
        })
    }
}

/// A wallet served on 127.0.0.1:0 with a fake network and a manual clock.
pub struct Server {
    pub base: String,
    pub http: reqwest::Client,
    pub wallet: Wallet,
    pub net: FakeNetwork,
    pub clock: ManualClock,
    pub cn: Db,
    pub india: Db,
}

pub async fn server() -> Server {
    server_with(|_| {}).await
}

pub async fn server_with(tune: impl FnOnce(&mut WalletConfig)) -> Server {
    server_with_limits(tune, ServerLimits::default()).await
}

/// A wallet served by [`paytap_wallet::serve`] with these limits.
pub async fn server_with_limits(
    tune: impl FnOnce(&mut WalletConfig),
    limits: ServerLimits,
) -> Server {
    let clock = ManualClock::new();
    let net = FakeNetwork::new(clock.clone());
    let cn = Db::for_tests().await.unwrap();
    let india = Db::for_tests().await.unwrap();
    let mut regions = Regions::new();
    regions.insert("cn", cn.clone());
    regions.insert("in", india.clone());
    let mut config = WalletConfig {
        clock: Arc::new(clock.clone()),
        // Cheap hashing keeps the tests quick; production uses the default.
        password_params: PasswordParams {
            m_cost_kib: 1024,
            t_cost: 1,
            p_cost: 1,
        },
        ..WalletConfig::default()
    };
    tune(&mut config);
    let wallet = Wallet::new(regions, Arc::new(net.clone()), config)
        .await
        .unwrap();
    let app = router(wallet.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app, limits, std::future::pending()));
    Server {
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        wallet,
        net,
        clock,
        cn,
        india,
    }
}

/// A response: status and JSON body (Null if empty or not JSON).
pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }
}

impl Server {
    /// A POST to `path` as `token` under an `Idempotency-Key`.
    pub fn post_keyed(&self, path: &str, token: &str, key: &str) -> reqwest::RequestBuilder {
        self.http
            .post(self.url(path))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, token: &str, path: &str) -> Resp {
        self.send(self.http.get(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Resp {
        self.send(
            self.http
                .post(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    /// Turns payments off on `device` for `reason` (`lost`, `stolen`).
    pub async fn suspend(&self, token: &str, device: &str, reason: &str) -> Resp {
        let path = format!("/api/v1/devices/{device}/suspend");
        self.post(token, &path, json!({ "reason": reason })).await
    }

    pub async fn delete(&self, token: &str, path: &str) -> Resp {
        self.send(self.http.delete(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn register(&self, login: &str, region: Option<&str>) -> Resp {
        let mut body = json!({
            "login": login, "password": "correct horse battery", "display_name": "Li Lei",
            "language": "zh"
        });
        if let Some(r) = region {
            body["region"] = json!(r);
        }
        self.send(self.http.post(self.url("/api/v1/accounts")).json(&body))
            .await
    }

    pub async fn login(&self, login: &str, password: &str) -> Resp {
        self.send(
            self.http
                .post(self.url("/api/v1/sessions"))
                .json(&json!({"login": login, "password": password})),
        )
        .await
    }

    /// Logs in over a connection from the local address `from` (any
    /// 127.x.y.z on Linux), with extra headers.
    pub async fn login_from(
        &self,
        from: &str,
        headers: &[(&str, &str)],
        login: &str,
        password: &str,
    ) -> Resp {
        let client = reqwest::Client::builder()
            .local_address(Some(from.parse().unwrap()))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let mut rb = client
            .post(self.url("/api/v1/sessions"))
            .json(&json!({"login": login, "password": password}));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        self.send(rb).await
    }

    /// Registers and logs in; returns the bearer token.
    pub async fn account(&self, login: &str) -> String {
        let r = self.register(login, None).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let r = self.login(login, "correct horse battery").await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.body["token"].as_str().unwrap().to_string()
    }

    /// Registers a device with a fresh key; returns (device id, its key).
    pub async fn device(&self, token: &str, kind: &str) -> (String, paytap_seal::DeviceKey) {
        let key = paytap_seal::DeviceKey::generate().unwrap();
        let r = self
            .post(
                token,
                "/api/v1/devices",
                json!({"kind": kind, "name": format!("my {kind}"), "model": "Mi 14",
                       "public_key": STANDARD.encode(key.public())}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        (r.body["id"].as_str().unwrap().to_string(), key)
    }

    /// Adds an issued card (expiry 12/30, CVV 123).
    pub async fn add_card(&self, token: &str, device: &str, pan: &str) -> Resp {
        self.post(
            token,
            &format!("/api/v1/devices/{device}/cards"),
            json!({"pan": pan, "expiry": "12/30", "cvv": "123", "cardholder_name": "LI LEI"}),
        )
        .await
    }

    pub async fn cards(&self, token: &str, device: &str) -> Vec<Value> {
        let r = self
            .get(token, &format!("/api/v1/devices/{device}/cards"))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["cards"].as_array().unwrap().clone()
    }

    pub async fn count(&self, db: &Db, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(db.pool())
            .await
            .unwrap();
        n
    }
}

/// A Luhn-valid 16-digit card number `62` + `body` (13 digits) + check digit.
pub fn pan(body13: &str) -> String {
    let b = format!("62{body13}");
    let d = paytap_types::luhn_check_digit(&b).unwrap();
    format!("{b}{d}")
}

/// A card payment the network reports for `token_ref` at Lawson Shanghai:
/// approved, or declined `51`.
pub fn event(
    id: &str,
    token_ref: &str,
    minor: i64,
    approved: bool,
    at: i64,
) -> paytap_types::PaymentEvent {
    paytap_types::PaymentEvent {
        event_id: id.into(),
        token_ref: token_ref.into(),
        merchant_name: "Lawson Shanghai".into(),
        merchant_id: "M0001".into(),
        terminal_id: "T0001".into(),
        amount: paytap_types::Money::new(minor, paytap_types::Currency::CNY),
        approved,
        response_code: if approved { "00" } else { "51" }.into(),
        reason: if approved {
            "Approved"
        } else {
            "Insufficient funds"
        }
        .into(),
        kind: "purchase".into(),
        at_millis: at,
        saved: None,
        earned: None,
    }
}
