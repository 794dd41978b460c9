//! Test harness: the real wallet service (SQLite, or PostgreSQL with
//! PAYTAP_TEST_DATABASE_URL) over a small honest card network behind the
//! wallet's port, the web site's router on top, and a cookie-keeping client
//! that drives the router in-process.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::BodyExt;
use paytap_store::{Db, Regions};
use paytap_types::{Currency, Money, PaymentEvent, Secret, luhn_check_digit};
use paytap_wallet::*;
use tower::ServiceExt;

/// Issuer + token service: every card is approved (green ID&V) by the bank
/// its BIN names; one token per card and device with its lifecycle state.
#[derive(Clone, Default)]
pub struct Net {
    state: Arc<Mutex<NetState>>,
}

#[derive(Default)]
struct NetState {
    next: u64,
    /// verification id -> (pan, device id)
    verifications: HashMap<String, (String, String)>,
    tokens: HashMap<String, TokenState>,
}

impl Net {
    pub fn token_state(&self, token_ref: &str) -> Option<TokenState> {
        self.state.lock().unwrap().tokens.get(token_ref).copied()
    }
}

fn bank_of(pan: &str) -> &'static str {
    if pan.starts_with("6222") {
        "Bank of Hangzhou"
    } else {
        "Pearl River Bank"
    }
}

impl WalletNetwork for Net {
    fn identify_and_verify<'a>(
        &'a self,
        card: &'a CardDetails,
        device: &'a DeviceBinding,
    ) -> BoxFuture<'a, Result<IdvDecision, NetworkError>> {
        Box::pin(async move {
            let mut s = self.state.lock().unwrap();
            s.next += 1;
            let id = format!("v{}", s.next);
            s.verifications.insert(
                id.clone(),
                (card.pan.expose().to_string(), device.device_id.clone()),
            );
            Ok(IdvDecision::Green {
                verification_id: id,
                bank_name: bank_of(card.pan.expose()).into(),
            })
        })
    }

    fn verify_otp<'a>(
        &'a self,
        _verification_id: &'a str,
        _code: &'a str,
    ) -> BoxFuture<'a, Result<OtpDecision, NetworkError>> {
        Box::pin(async move { Ok(OtpDecision::Verified) })
    }

    fn provision<'a>(
        &'a self,
        verification_id: &'a str,
        card: &'a CardDetails,
        device: &'a DeviceBinding,
    ) -> BoxFuture<'a, Result<ProvisionedCard, NetworkError>> {
        Box::pin(async move {
            let mut s = self.state.lock().unwrap();
            let Some((pan, dev)) = s.verifications.remove(verification_id) else {
                return Err(NetworkError::UnknownReference(verification_id.into()));
            };
            if pan != card.pan.expose() || dev != device.device_id {
                return Err(NetworkError::Rejected("verification mismatch".into()));
            }
            s.next += 1;
            let token_ref = format!("tok-{}", s.next);
            s.tokens.insert(token_ref.clone(), TokenState::Active);
            Ok(ProvisionedCard {
                token_ref,
                card_last4: card.pan.last4().to_string(),
                bank_name: bank_of(&pan).into(),
                sealed_payload: vec![0xA5; 48],
            })
        })
    }

    fn set_token_state<'a>(
        &'a self,
        token_ref: &'a str,
        state: TokenState,
        _reason: StateReason,
        _actor: &'a Actor,
    ) -> BoxFuture<'a, Result<(), NetworkError>> {
        Box::pin(async move {
            let mut s = self.state.lock().unwrap();
            match s.tokens.get_mut(token_ref) {
                Some(t) => {
                    *t = state;
                    Ok(())
                }
                None => Err(NetworkError::UnknownReference(token_ref.into())),
            }
        })
    }

    fn points<'a>(
        &'a self,
        _account_id: &'a str,
    ) -> BoxFuture<'a, Result<paytap_wallet::points::Points, NetworkError>> {
        Box::pin(async {
            Ok(paytap_wallet::points::Points {
                points: TEST_POINTS,
                entries: Vec::new(),
            })
        })
    }
}

/// The rewards points every test account holds.
pub const TEST_POINTS: u64 = 1_234;

pub const PW: &str = "correct horse battery";
/// The login of [`Site::li`].
pub const LI: &str = "li@example.com";

/// A Luhn-valid 16-digit card number from a 15-digit body.
pub fn pan(body15: &str) -> String {
    format!("{body15}{}", luhn_check_digit(body15).unwrap())
}

pub struct Site {
    pub app: Router,
    pub wallet: Wallet,
    pub net: Net,
}

pub async fn site() -> Site {
    let (wallet, net) = wallet().await;
    let app = paytap_web::router(wallet.clone());
    Site { app, wallet, net }
}

/// The site with the network's banks: their Chinese names and currencies.
pub async fn site_with_banks(banks: paytap_web::i18n::Banks) -> Site {
    site_with(paytap_web::WebConfig {
        banks,
        ..paytap_web::WebConfig::default()
    })
    .await
}

/// The site with explicit options.
pub async fn site_with(config: paytap_web::WebConfig) -> Site {
    let (wallet, net) = wallet().await;
    let app = paytap_web::router_with(wallet.clone(), config);
    Site { app, wallet, net }
}

async fn wallet() -> (Wallet, Net) {
    let (wallet, net, _india) = wallet_and_india().await;
    (wallet, net)
}

/// The wallet over its test network, and the `in` region's database (where
/// India's services keep their tables beside the wallet's).
pub async fn wallet_and_india() -> (Wallet, Net, Db) {
    let net = Net::default();
    let india = Db::for_tests().await.unwrap();
    let mut regions = Regions::new();
    regions.insert("cn", Db::for_tests().await.unwrap());
    regions.insert("in", india.clone());
    let config = WalletConfig {
        password_params: PasswordParams {
            m_cost_kib: 1024,
            t_cost: 1,
            p_cost: 1,
        },
        // A small hashing bound, so a test can fill it.
        max_concurrent_hashes: 2,
        max_waiting_hashes: 2,
        ..WalletConfig::default()
    };
    let wallet = Wallet::new(regions, Arc::new(net.clone()), config)
        .await
        .unwrap();
    (wallet, net, india)
}

/// An account with a phone holding two cards and a band; returns the
/// principal and (phone id, band id, [(card id, token ref)]).
pub struct Holder {
    pub login: String,
    pub p: Principal,
    pub phone: String,
    pub band: String,
    pub cards: Vec<Card>,
    pub pans: Vec<String>,
}

impl Site {
    /// Li's account (login [`LI`]), the holder most tests use.
    pub async fn li(&self, language: Language) -> Holder {
        self.holder(LI, language, "Li", "11").await
    }

    /// Checks the holder's phone is `status` and each of its tokens at the
    /// network is `tokens`.
    pub async fn assert_phone(&self, holder: &Holder, status: DeviceStatus, tokens: TokenState) {
        assert_eq!(self.device(holder).await.status, status);
        self.assert_tokens(holder, tokens);
    }

    /// Checks each of the holder's tokens at the network is `state`.
    pub fn assert_tokens(&self, holder: &Holder, state: TokenState) {
        for card in &holder.cards {
            let now = self.net.token_state(&card.token_ref);
            assert_eq!(now, Some(state), "{}", card.token_ref);
        }
    }

    /// A browser signed in as `login` (password [`PW`]).
    pub async fn browser(&self, login: &str) -> Client {
        let mut c = Client::default();
        c.sign_in(&self.app, login, PW).await;
        c
    }

    pub async fn holder(&self, login: &str, language: Language, who: &str, seed: &str) -> Holder {
        self.wallet
            .register(NewAccount {
                login: login.into(),
                password: paytap_types::Secret::new(PW.into()),
                display_name: who.into(),
                language,
                region: None,
            })
            .await
            .unwrap();
        let s = self.wallet.login(login, PW, None).await.unwrap();
        let p = self.wallet.authenticate(s.token.expose()).await.unwrap();
        let key = STANDARD.encode([seed.len() as u8 + 1; 32]);
        let phone = self
            .wallet
            .register_device(
                &p,
                NewDevice {
                    kind: DeviceKind::Phone,
                    name: format!("{who}'s phone"),
                    model: "Mi 15".into(),
                    public_key_b64: key.clone(),
                },
            )
            .await
            .unwrap();
        let band = self
            .wallet
            .register_device(
                &p,
                NewDevice {
                    kind: DeviceKind::Band,
                    name: format!("{who}'s band"),
                    model: "Smart Band 9".into(),
                    public_key_b64: key,
                },
            )
            .await
            .unwrap();
        self.wallet
            .heartbeat(
                &p,
                &phone.id,
                Heartbeat {
                    lat: Some(31.2304),
                    lon: Some(121.4737),
                    accuracy_m: Some(20.0),
                    place: Some("Huangpu, Shanghai".into()),
                },
            )
            .await
            .unwrap();
        let pans = vec![
            pan(&format!("622200{seed}0000001")[..15]),
            pan(&format!("621700{seed}0000002")[..15]),
        ];
        let mut cards = Vec::new();
        for number in &pans {
            let out = self
                .wallet
                .add_card(
                    &p,
                    &phone.id,
                    &NewCard {
                        pan: Secret::new(number.clone()),
                        expiry: "12/30".into(),
                        cvv: Secret::new("123".into()),
                        cardholder_name: Secret::new("LI LEI".into()),
                    },
                )
                .await
                .unwrap();
            match out {
                AddCardOutcome::Provisioned { card } => cards.push(card),
                other => panic!("unexpected {other:?}"),
            }
        }
        Holder {
            login: login.into(),
            p,
            phone: phone.id,
            band: band.id,
            cards,
            pans,
        }
    }

    pub async fn pay(
        &self,
        card: &Card,
        id: &str,
        merchant: &str,
        minor: i64,
        approved: bool,
        at: i64,
    ) {
        let (code, reason) = if approved {
            ("00", "Approved")
        } else {
            ("57", "card suspended in the wallet")
        };
        let amount = Money::new(minor, Currency::CNY);
        self.pay_with(card, id, merchant, amount, (code, reason), at)
            .await;
    }

    /// A payment with the network's response code and words.
    pub async fn pay_with(
        &self,
        card: &Card,
        id: &str,
        merchant: &str,
        amount: Money,
        (code, reason): (&str, &str),
        at: i64,
    ) {
        let approved = code == "00";
        let recorded = self
            .wallet
            .record_payment(&PaymentEvent {
                event_id: id.into(),
                token_ref: card.token_ref.clone(),
                merchant_name: merchant.into(),
                merchant_id: "M0001".into(),
                terminal_id: "T0001".into(),
                amount,
                approved,
                response_code: code.into(),
                reason: reason.into(),
                kind: "purchase".into(),
                at_millis: at,
                saved: None,
                earned: None,
            })
            .await
            .unwrap();
        assert!(recorded.is_some());
    }

    pub async fn device(&self, h: &Holder) -> Device {
        self.wallet.device(&h.p, &h.phone).await.unwrap()
    }
}

/// A response, read whole.
pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    /// The first CSRF token of the page's forms.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a form with a CSRF token") + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }
}

/// A browser: keeps cookies, sends requests to the router in-process.
#[derive(Default)]
pub struct Client {
    pub cookies: Vec<(String, String)>,
    pub extra: Vec<(String, String)>,
}

impl Client {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn absorb(&mut self, resp: &Resp) {
        for c in resp.set_cookies() {
            let first = c.split(';').next().unwrap();
            let (k, v) = first.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !c.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub async fn send(
        &mut self,
        app: &Router,
        req: axum::http::request::Builder,
        body: Body,
    ) -> Resp {
        let mut req = req.header(header::COOKIE, self.cookie_header());
        for (k, v) in &self.extra {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let r = Resp {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        };
        self.absorb(&r);
        r
    }

    pub async fn get(&mut self, app: &Router, path: &str) -> Resp {
        self.send(app, Request::get(path), Body::empty()).await
    }

    pub async fn post(&mut self, app: &Router, path: &str, form: &[(&str, &str)]) -> Resp {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(
            app,
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
            Body::from(body),
        )
        .await
    }

    /// Signs in through the form; returns the devices page.
    pub async fn sign_in(&mut self, app: &Router, login: &str, password: &str) -> Resp {
        let page = self.get(app, "/login").await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = page.csrf();
        self.post(
            app,
            "/login",
            &[("csrf", &csrf), ("login", login), ("password", password)],
        )
        .await
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// No run of 13 or more digits (the shortest card number; ids are UUIDs,
/// whose longest digit run is 12) anywhere in `page`.
pub fn assert_no_card_number(page: &str, pans: &[String]) {
    for p in pans {
        assert!(
            !page.contains(p.as_str()),
            "a full card number is on the page"
        );
    }
    let mut run = 0;
    for c in page.chars() {
        if c.is_ascii_digit() {
            run += 1;
            assert!(run < 13, "a 13+ digit number is on the page");
        } else {
            run = 0;
        }
    }
}
