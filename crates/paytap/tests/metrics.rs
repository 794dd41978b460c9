//! `GET /metrics` of a running platform, read with a Prometheus text
//! parser after real traffic: a tap approved, one declined, a financial
//! request, a reversal over the switch's TCP port; wallet API requests, a
//! sign-in, wrong passwords up to the throttle. The counts, histograms and
//! queues are those of that traffic, routes are templates, and no card or
//! token number, id, login or session token appears anywhere in it.

#[path = "../src/platform.rs"]
#[allow(dead_code)]
mod platform;

use std::collections::HashMap;
use std::time::Duration;

use paytap_iso8583::{Message, Mti, OriginalData};
use paytap_issuer::{IdvDecision, IdvRequest, IssueCard, IssuedCard, Limits, Product};
use paytap_network::terminal::{self, AcquirerClient, Merchant};
use paytap_seal::{DeviceKey, ProvisioningPayload};
use paytap_tsp::ProvisionRequest;
use paytap_types::{Currency, Money};
use platform::{Platform, PlatformOptions};
use prometheus_parse::{Sample, Scrape, Value};
use serde_json::json;

const BANK: &str = "01020000";
const EMAIL: &str = "li.na@example.com";
const PASSWORD: &str = "a long enough password";
const WRONG: &str = "not the password at all";
const DEVICE: &str = "dev-metrics-1";

/// A phone with one token, and the card behind it.
struct Phone {
    se: paytap_emv::SecureElement,
    token_ref: String,
    card: IssuedCard,
}

/// Issues a card with `balance`, passes ID&V and provisions a token to a
/// new phone, as the wallet would.
async fn phone(p: &Platform, balance: i64) -> Phone {
    let mut req = IssueCard::new(BANK, Product::Debit, "LI NA", balance);
    req.limits = Some(Limits {
        single_transaction: 1_000_000,
        daily: 10_000_000,
        velocity_count: 1_000,
        velocity_window_secs: 60,
        no_cvm_limit: 100_000,
    });
    let card = p.net.issue_card(req).await.unwrap();
    let idv = p
        .net
        .identify_and_verify(&IdvRequest {
            pan: card.pan.clone(),
            expiry_yymm: card.expiry_yymm,
            cvv: card.cvv.clone(),
            device_id: DEVICE.into(),
            device_kind: "phone".into(),
            account_id: "acct-metrics".into(),
        })
        .await
        .unwrap();
    let bank_name = match idv {
        IdvDecision::Green { bank_name, .. } => bank_name,
        other => panic!("ID&V not green: {other:?}"),
    };
    let key = DeviceKey::generate().unwrap();
    let provisioned = p
        .net
        .provision(ProvisionRequest::wallet_nfc(
            card.card_id.clone(),
            card.bank_id.clone(),
            bank_name,
            platform::WALLET_TRID,
            DEVICE,
            key.public(),
        ))
        .await
        .unwrap();
    let payload = ProvisioningPayload::open_with(
        &key,
        DEVICE,
        &provisioned.token_ref,
        &provisioned.sealed_payload,
    )
    .unwrap();
    let mut se = paytap_emv::SecureElement::new();
    se.add_card(terminal::card_from_payload(&payload).unwrap())
        .unwrap();
    Phone {
        se,
        token_ref: provisioned.token_ref,
        card,
    }
}

/// The `0100` of a tap for `amount` fen.
fn tap(phone: &mut Phone, amount: i64, stan: u32) -> Message {
    let money = Money::new(amount, Currency::CNY);
    let t = terminal::tap(&mut phone.se, money, true, stan.to_be_bytes()).unwrap();
    terminal::authorization_request(&t, money, stan, &Merchant::default()).unwrap()
}

/// The acquirer's `0400` for `orig`.
fn reversal_of(orig: &Message, stan: u32) -> Message {
    let mut m = Message::new(Mti::REVERSAL_REQUEST);
    for f in [2u8, 3, 4, 7, 32, 41, 42, 49] {
        if let Some(v) = orig.get(f) {
            m.set(f, v).unwrap();
        }
    }
    m.set_stan(stan).unwrap();
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

async fn send(pos: &AcquirerClient, m: &Message) -> String {
    let answer = pos.send(m).await.unwrap();
    answer.get_str(39).unwrap_or("--").to_owned()
}

/// The card traffic: a tap approved, one declined for funds, a `0200`
/// approved, and the reversal of the first tap.
async fn card_traffic(p: &Platform, phone: &mut Phone) {
    let pos = p.net.demo_acquirer().await.unwrap();
    let approved = tap(phone, 1_500, 1);
    assert_eq!(send(&pos, &approved).await, "00");
    // Beyond the 1,000 CNY balance, below the 5,000 CNY above which the
    // risk engine steps up a card added this hour: the bank declines.
    assert_eq!(send(&pos, &tap(phone, 400_000, 2)).await, "51");
    let mut financial = tap(phone, 700, 3);
    financial.set_mti(Mti::FINANCIAL_REQUEST);
    assert_eq!(send(&pos, &financial).await, "00");
    assert_eq!(send(&pos, &reversal_of(&approved, 4)).await, "00");
    assert_eq!(
        p.net.switch().drain_forwards(Duration::from_secs(20)).await,
        0
    );
}

/// The wallet traffic: an account, a sign-in, a device that is not there,
/// wrong passwords until the throttle holds the next one back, a path no
/// route knows. Returns the session token.
async fn wallet_traffic(http: &reqwest::Client, base: &str) -> String {
    let status = |r: reqwest::Response| r.status().as_u16();
    let r = http
        .post(format!("{base}api/v1/accounts"))
        .json(&json!({ "login": EMAIL, "password": PASSWORD, "display_name": "Li Na" }))
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 201);
    let login = |password: &'static str| {
        http.post(format!("{base}api/v1/sessions"))
            .json(&json!({ "login": EMAIL, "password": password }))
            .send()
    };
    let r = login(PASSWORD).await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let session: serde_json::Value = r.json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    let r = http
        .get(format!("{base}api/v1/devices/{DEVICE}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 404);
    for _ in 0..paytap_wallet::throttle::FREE_FAILURES_PER_PAIR {
        assert_eq!(status(login(WRONG).await.unwrap()), 401);
    }
    assert_eq!(status(login(WRONG).await.unwrap()), 429);
    let r = http
        .get(format!("{base}no/such/page/{DEVICE}"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 404);
    token
}

/// The samples of one scrape, by metric name.
struct Metrics(HashMap<String, Vec<Sample>>);

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let lines = text.lines().map(|l| Ok::<_, std::io::Error>(l.to_owned()));
        let scrape = Scrape::parse(lines).unwrap();
        let mut by_name: HashMap<String, Vec<Sample>> = HashMap::new();
        for s in scrape.samples {
            by_name.entry(s.metric.clone()).or_default().push(s);
        }
        Metrics(by_name)
    }

    /// The one sample of `name` whose labels include `labels`.
    fn sample(&self, name: &str, labels: &[(&str, &str)]) -> &Sample {
        let all = self.0.get(name).unwrap_or_else(|| panic!("no {name}"));
        let found: Vec<_> = all
            .iter()
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .collect();
        assert_eq!(found.len(), 1, "{name} {labels:?}: {all:?}");
        found[0]
    }

    /// A counter's or gauge's value.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match &self.sample(name, labels).value {
            Value::Counter(v) | Value::Gauge(v) => *v,
            other => panic!("{name} {labels:?} is {other:?}"),
        }
    }

    /// A histogram's observations (its `+Inf` bucket).
    fn observations(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let Value::Histogram(buckets) = &self.sample(name, labels).value else {
            panic!("{name} is no histogram");
        };
        assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
        let inf = buckets.last().unwrap();
        assert!(inf.less_than.is_infinite());
        inf.count
    }

    /// Every sample of `name`.
    fn all(&self, name: &str) -> &[Sample] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }
}

async fn scrape(http: &reqwest::Client, base: &str) -> String {
    // No session: public like /healthz.
    let r = http.get(format!("{base}metrics")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    r.text().await.unwrap()
}

/// The databases whose writer queues the metrics report.
const QUEUED_DATABASES: [&str; 3] = ["network", "wallet-cn", "wallet-in"];

/// The SQLite writers' queue depth, by database.
const WRITER_QUEUED: &str = "paytap_sqlite_writer_queued";

/// Longest wait for the writers to drain the traffic's writes.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// A scrape (its text and what it says) taken once the switch's log queue
/// and every writer queue are empty (they are written behind the
/// answers), or the last one at the deadline.
async fn scrape_when_drained(http: &reqwest::Client, base: &str) -> (String, Metrics) {
    let deadline = tokio::time::Instant::now() + DRAIN_DEADLINE;
    loop {
        let text = scrape(http, base).await;
        let m = Metrics::parse(&text);
        // PostgreSQL has no SQLite writer, so no writer queue.
        let writers = if m.0.contains_key(WRITER_QUEUED) {
            QUEUED_DATABASES
                .iter()
                .map(|db| m.value(WRITER_QUEUED, &[("database", db)]))
                .sum::<f64>()
        } else {
            0.0
        };
        let queued = m.value("paytap_switch_log_queued", &[]) + writers;
        if queued == 0.0 || tokio::time::Instant::now() >= deadline {
            return (text, m);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_count_real_traffic_and_hold_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformOptions::for_tests(dir.path().join("data")))
        .await
        .unwrap();
    let mut phone = phone(&p, 100_000).await;
    card_traffic(&p, &mut phone).await;
    let http = reqwest::Client::new();
    let token = wallet_traffic(&http, &p.wallet_url).await;
    let (text, m) = scrape_when_drained(&http, &p.wallet_url).await;

    check_switch(&m);
    check_wallet(&m);
    let sqlite = p.net.db().backend() == paytap_store::Backend::Sqlite;
    check_queues_and_writers(&m, sqlite);

    // Nothing secret or identifying: no card or token number, no id of
    // the card, token, device or session, no login, no raw path.
    for secret in [
        phone.card.pan.expose(),
        phone.token_ref.as_str(),
        phone.card.card_id.as_str(),
        token.as_str(),
        DEVICE,
        EMAIL,
        "no/such/page",
    ] {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }
    p.shutdown().await;
}

fn check_switch(m: &Metrics) {
    let auths = "paytap_switch_authorizations_total";
    let tap = [("message", "0100"), ("channel", "contactless")];
    let with = |code| [tap[0], tap[1], ("code", code)];
    assert_eq!(m.value(auths, &with("00")), 1.0);
    assert_eq!(m.value(auths, &with("51")), 1.0);
    let financial = [
        ("message", "0200"),
        ("channel", "contactless"),
        ("code", "00"),
    ];
    assert_eq!(m.value(auths, &financial), 1.0);
    assert_eq!(m.all(auths).len(), 3, "only what was answered");
    let latency = "paytap_switch_authorization_duration_seconds";
    assert_eq!(m.observations(latency, &tap), 2.0);
    assert_eq!(m.observations(latency, &financial[..2]), 1.0);
    assert_eq!(m.value("paytap_switch_reversals_received_total", &[]), 1.0);
    assert_eq!(m.value("paytap_switch_reversals_sent_total", &[]), 1.0);
    assert_eq!(m.value("paytap_switch_stand_in_total", &[]), 0.0);
    assert_eq!(m.value("paytap_switch_duplicates_total", &[]), 0.0);
}

fn check_wallet(m: &Metrics) {
    let requests = "paytap_wallet_http_requests_total";
    let sessions = |status| {
        [
            ("method", "POST"),
            ("route", "/api/v1/sessions"),
            ("status", status),
        ]
    };
    assert_eq!(m.value(requests, &sessions("201")), 1.0);
    assert_eq!(m.value(requests, &sessions("401")), 3.0);
    assert_eq!(m.value(requests, &sessions("429")), 1.0);
    let device = [
        ("method", "GET"),
        ("route", "/api/v1/devices/:device_id"),
        ("status", "404"),
    ];
    assert_eq!(m.value(requests, &device), 1.0);
    let unmatched = [("route", "unmatched"), ("status", "404")];
    assert_eq!(m.value(requests, &unmatched), 1.0);
    let logins = "paytap_wallet_logins_total";
    assert_eq!(m.value(logins, &[("outcome", "succeeded")]), 1.0);
    assert_eq!(m.value(logins, &[("outcome", "failed")]), 3.0);
    assert_eq!(m.value(logins, &[("outcome", "throttled")]), 1.0);
    let lockouts = "paytap_wallet_lockouts_total";
    assert_eq!(m.value(lockouts, &[("counter", "pair")]), 1.0);
    assert_eq!(m.value(lockouts, &[("counter", "address")]), 0.0);
}

fn check_queues_and_writers(m: &Metrics, sqlite: bool) {
    // Every issuer's store-and-forward queue, empty once drained.
    let forwards = m.all("paytap_switch_forwards_queued");
    assert!(forwards.len() >= 20, "{forwards:?}");
    assert_eq!(
        m.value("paytap_switch_forwards_queued", &[("issuer", BANK)]),
        0.0
    );
    // The log writer and every database's writer report their queues,
    // drained once the traffic is written.
    assert_eq!(m.value("paytap_switch_log_queued", &[]), 0.0);
    let rounds = "paytap_sqlite_writer_round_duration_seconds";
    if !sqlite {
        // On PostgreSQL there is no SQLite writer to report.
        assert!(!m.0.contains_key(WRITER_QUEUED));
        assert!(!m.0.contains_key(rounds));
        return;
    }
    for db in QUEUED_DATABASES {
        assert_eq!(m.value(WRITER_QUEUED, &[("database", db)]), 0.0);
    }
    // The ledger's holds and the token service's writes went through
    // group-commit rounds of the network database.
    assert!(m.observations(rounds, &[("database", "network")]) >= 1.0);
}
