//! Shared set-up: a whole network on a fresh database (SQLite, or
//! PostgreSQL with PAYTAP_TEST_DATABASE_URL), phones with provisioned
//! tokens, a POS that taps them and sends the 0100 over loopback TCP.
#![allow(dead_code)]

use paytap_iso8583::{Message, Mti, OriginalData};
use paytap_issuer::{IdvDecision, IdvRequest, IssueCard, IssuedCard, Limits, Product};
use paytap_network::paytap_switch::{BoxFuture, IssuerLink, LinkError};
use paytap_network::terminal::{self, AcquirerClient, Merchant, TapData};
use paytap_network::*;
use paytap_seal::{DeviceKey, ProvisioningPayload};
use paytap_store::Db;
use paytap_tsp::{Domain, ProvisionRequest};
use paytap_types::{Currency, Money};
use paytap_vault::Keyring;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use zeroize::Zeroizing;

pub const ICBC: &str = "01020000";
pub const CMB: &str = "03080000";
pub const TRID: &str = "40010075001";

pub struct Net {
    pub net: RunningNetwork,
    pub pos: AcquirerClient,
    pub merchant: Merchant,
    stan: AtomicU32,
}

pub struct Phone {
    pub se: paytap_emv::SecureElement,
    pub token_ref: String,
    pub device_id: String,
    pub card: IssuedCard,
}

pub fn config(db: Db) -> NetworkConfig {
    let mut c = NetworkConfig::new(
        db,
        Keyring::from_single_key([9u8; 32]),
        Zeroizing::new(b"network test master secret 32 by".to_vec()),
    );
    c.switch_addr = "127.0.0.1:0".parse().unwrap();
    c.issuer_timeout = Duration::from_secs(5);
    c.switch.retry_interval = Duration::from_millis(20);
    c.acquirers.insert(
        SECOND_ACQUIRER,
        paytap_iso8583::AcquirerKey::from_bytes(SECOND_ACQUIRER_KEY),
    );
    c
}

/// A second acquirer every test network knows, with a fixed key.
pub const SECOND_ACQUIRER: &str = "20000000002";
pub const SECOND_ACQUIRER_KEY: [u8; 16] = [2; 16];

/// A client signed on as the demo acquirer.
/// The wallet account every test phone's card is verified and provisioned for.
pub const ACCOUNT: &str = "acct-1";

pub async fn demo_client(net: &RunningNetwork) -> AcquirerClient {
    net.demo_acquirer().await.unwrap()
}

pub async fn start_with(config: NetworkConfig) -> Net {
    let net = Network::start(config).await.unwrap();
    let pos = demo_client(&net).await;
    Net {
        net,
        pos,
        merchant: Merchant::default(),
        stan: AtomicU32::new(1),
    }
}

pub async fn start() -> Net {
    start_with(config(Db::for_tests().await.unwrap())).await
}

pub fn generous_limits() -> Limits {
    Limits {
        single_transaction: 100_000_000,
        daily: 1_000_000_000,
        velocity_count: 1_000_000,
        velocity_window_secs: 60,
        no_cvm_limit: 100_000,
    }
}

impl Net {
    pub fn next_stan(&self) -> u32 {
        self.stan.fetch_add(1, Ordering::SeqCst)
    }

    /// Issue a card, pass ID&V (green), provision a token to a new phone.
    pub async fn phone_with(&self, req: IssueCard) -> Phone {
        self.phone_in(req, Domain::Nfc).await
    }

    /// [`Net::phone_with`], the token in `domain`.
    pub async fn phone_in(&self, req: IssueCard, domain: Domain) -> Phone {
        let card = self.net.issue_card(req).await.unwrap();
        let device_id = format!("dev-{}", self.next_stan());
        let idv = self
            .net
            .identify_and_verify(&IdvRequest {
                pan: card.pan.clone(),
                expiry_yymm: card.expiry_yymm,
                cvv: card.cvv.clone(),
                device_id: device_id.clone(),
                device_kind: "phone".into(),
                account_id: ACCOUNT.into(),
            })
            .await
            .unwrap();
        let bank_name = match idv {
            IdvDecision::Green { bank_name, .. } => bank_name,
            IdvDecision::Yellow {
                bank_name,
                verification_id,
                ..
            } => {
                // Step-up: the code arrives in the emulated SMS outbox.
                let mut code = None;
                for _ in 0..200 {
                    code = self.net.sms_outbox().code_for(&verification_id);
                    if code.is_some() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let code = code.expect("OTP delivered");
                let outcome = self.net.verify_otp(&verification_id, &code).await.unwrap();
                assert_eq!(outcome, paytap_issuer::OtpOutcome::Verified);
                bank_name
            }
            red => panic!("ID&V refused: {red:?}"),
        };
        let key = DeviceKey::generate().unwrap();
        let p = self
            .net
            .provision(ProvisionRequest {
                domain,
                account_id: Some(ACCOUNT.into()),
                ..ProvisionRequest::wallet_nfc(
                    card.card_id.clone(),
                    card.bank_id.clone(),
                    bank_name,
                    TRID,
                    device_id.clone(),
                    key.public(),
                )
            })
            .await
            .unwrap();
        let payload =
            ProvisioningPayload::open_with(&key, &device_id, &p.token_ref, &p.sealed_payload)
                .unwrap();
        let mut se = paytap_emv::SecureElement::new();
        se.add_card(terminal::card_from_payload(&payload).unwrap())
            .unwrap();
        Phone {
            se,
            token_ref: p.token_ref,
            device_id,
            card,
        }
    }

    pub async fn phone(&self, bank: &str, product: Product, amount: i64) -> Phone {
        let mut req = IssueCard::new(bank, product, "LI LEI", amount);
        req.limits = Some(generous_limits());
        self.phone_with(req).await
    }

    /// Tap and build the 0100 a POS would send.
    pub fn tap(&self, phone: &mut Phone, amount: i64) -> (TapData, Message) {
        self.tap_at(phone, amount, &self.merchant.clone())
    }

    /// Tap at a given merchant / acquirer.
    pub fn tap_at(
        &self,
        phone: &mut Phone,
        amount: i64,
        merchant: &Merchant,
    ) -> (TapData, Message) {
        let money = Money::new(amount, Currency::CNY);
        let t = terminal::tap(&mut phone.se, money, true, rand::random()).unwrap();
        let m = terminal::authorization_request(&t, money, self.next_stan(), merchant).unwrap();
        (t, m)
    }

    pub async fn send(&self, m: &Message) -> Message {
        self.pos.send(m).await.unwrap()
    }

    /// Tap, send, answer.
    pub async fn pay(&self, phone: &mut Phone, amount: i64) -> Message {
        let (_, m) = self.tap(phone, amount);
        self.send(&m).await
    }

    pub fn reversal_of(&self, orig: &Message) -> Message {
        let mut m = Message::new(Mti::REVERSAL_REQUEST);
        for f in [2u8, 3, 4, 32, 41, 42, 49] {
            if let Some(v) = orig.get(f) {
                m.set(f, v).unwrap();
            }
        }
        let now = time::OffsetDateTime::now_utc();
        m.set_transmission_datetime_at(now).unwrap();
        m.set_stan(self.next_stan()).unwrap();
        m.set_original_data(&OriginalData {
            mti: orig.mti(),
            stan: orig.stan().unwrap(),
            transmission_datetime: orig.transmission_datetime().unwrap().into(),
            acquirer_id: orig.acquirer_id().unwrap().into(),
            forwarding_id: "0".into(),
        })
        .unwrap();
        m
    }

    pub async fn available(&self, phone: &Phone) -> i64 {
        self.net
            .issuer()
            .available(&phone.card.card_id)
            .await
            .unwrap()
            .minor
    }

    /// The ledger's invariants, and every currency sums to zero.
    pub async fn assert_ledger(&self) {
        let report = self.net.ledger().check_invariants().await.unwrap();
        assert!(!report.totals.is_empty());
        for (cur, b) in &report.totals {
            assert_eq!(b.debits_posted, b.credits_posted, "{cur} posted");
            assert_eq!(b.debits_pending, b.credits_pending, "{cur} pending");
        }
    }

    pub fn today(&self) -> String {
        paytap_switch::utc_day(paytap_store::now_millis())
    }
}

pub fn code(m: &Message) -> &str {
    m.get_str(39).unwrap_or("--")
}

/// An issuer link that hands the request to the real issuer (which places
/// its hold) and never returns the answer to an 0100: a lost answer.
pub struct Silent(pub Arc<dyn IssuerLink>);

impl IssuerLink for Silent {
    fn exchange(&self, request: Message) -> BoxFuture<'_, Result<Message, LinkError>> {
        Box::pin(async move {
            let lose = request.mti() == Mti::AUTHORIZATION_REQUEST;
            let answer = self.0.exchange(request).await;
            if lose {
                futures::future::pending::<()>().await;
            }
            answer
        })
    }
}

/// An issuer link that is down while its flag is set.
pub struct Down(pub Arc<dyn IssuerLink>, pub Arc<AtomicBool>);

impl IssuerLink for Down {
    fn exchange(&self, request: Message) -> BoxFuture<'_, Result<Message, LinkError>> {
        Box::pin(async move {
            if self.1.load(Ordering::SeqCst) {
                return Err(LinkError::Unavailable("down".into()));
            }
            self.0.exchange(request).await
        })
    }
}

/// `cfg` with the issuer link of `bank`, and no other, wrapped by `wrap`.
pub fn wrap_link(
    cfg: &mut NetworkConfig,
    bank: &'static str,
    wrap: impl Fn(Arc<dyn IssuerLink>) -> Arc<dyn IssuerLink> + Send + Sync + 'static,
) {
    cfg.link_hook = Some(Arc::new(
        move |b: &str, link: Arc<dyn IssuerLink>| {
            if b == bank { wrap(link) } else { link }
        },
    ));
}

/// `cfg` with ICBC's issuer link down while the returned flag is set
/// (clear at first).
pub fn icbc_link_switch(cfg: &mut NetworkConfig) -> Arc<AtomicBool> {
    let down = Arc::new(AtomicBool::new(false));
    let flag = down.clone();
    wrap_link(cfg, ICBC, move |link| Arc::new(Down(link, flag.clone())));
    down
}
