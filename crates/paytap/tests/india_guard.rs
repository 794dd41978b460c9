//! India's risk and offers in the operator's console, and India's rewards
//! points in the wallet, on a running platform over real HTTP: Asha, an
//! India account, pays her first BESCOM bill over UPI (her UPI app
//! approves PayU's collect request with her PIN), which India's guard
//! decides on and rewards (the ₹50 first-bill cashback, points). An
//! operator sees that decision in the console's `in` region, not in `cn`;
//! an account holder's session is refused there; the operator pauses
//! India's first-bill offer and Ravi's first bill then earns no cashback.
//! Asha's wallet (its API and the web site's payments page) shows the
//! points India's guard gave her, a China account none of them; she
//! redeems some as rupee cashback on India's ledger, and not in yuan.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

#[path = "../src/platform.rs"]
#[allow(dead_code)]
mod platform;

mod india;

use india::{HDFC, ICICI, UpiPhone, get, pay_bescom_bill, sign_up, upi_phone};
use platform::{Platform, PlatformOptions};
use serde_json::{Value, json};

/// India's first-bill offer (`offers.toml`) and its cashback.
const FIRST_BILL_OFFER: &str = "first-upi-bill-50-inr";
const FIRST_BILL_CASHBACK: i64 = 50_00;
/// The console's operator.
const OPERATOR: &str = "ops@paytap.example";
const OPERATOR_PASSWORD: &str = "a long operator passphrase";
/// Points Asha redeems (the smallest redemption) and their worth at
/// ₹0.10 a point.
const REDEEMED: u64 = 100;
const REDEEMED_PAISE: i64 = 10_00;

/// A console operator made through the emulator API, signed in; the token.
async fn operator(p: &Platform, http: &reqwest::Client) -> String {
    let url = format!("{}emulator/v1/console/operators/{OPERATOR}", p.wallet_url);
    let r = http
        .put(url)
        .json(&json!({ "password": OPERATOR_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let url = format!("{}console/api/v1/sessions", p.wallet_url);
    let body = json!({ "login": OPERATOR, "password": OPERATOR_PASSWORD });
    let r = http.post(url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// A console API call: its status and JSON answer.
async fn console(
    p: &Platform,
    http: &reqwest::Client,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut req = http.request(method, format!("{}console/api/v1/{path}", p.wallet_url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// The payment ids of a console decisions list.
fn payment_ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["payment_id"].as_str().unwrap())
        .collect()
}

/// The guard's id of a bill paid over UPI: its UPI transaction's.
fn guard_id(answer: &Value) -> String {
    paytap_types::upi_payment_id(answer["txn_id"].as_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_india_s_decisions_and_pauses_its_offers() {
    let dir = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformOptions::for_tests(dir.path().to_owned()))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let asha = upi_phone(&p, ICICI, "asha", "Asha Rao", "9876543210").await;
    let paid = pay_bescom_bill(&p, &asha, "4417730921").await;
    assert_eq!(paid["earned_paise"], FIRST_BILL_CASHBACK, "{paid}");
    let decided = guard_id(&paid);

    let ops = operator(&p, &http).await;
    let get_ = reqwest::Method::GET;
    let (status, india) = console(
        &p,
        &http,
        get_.clone(),
        "risk/decisions?region=in",
        Some(&ops),
    )
    .await;
    assert_eq!(status, 200, "{india}");
    assert!(payment_ids(&india).contains(&decided.as_str()), "{india}");
    assert!(india[0]["account"].is_string(), "{india}");
    let (_, china) = console(
        &p,
        &http,
        get_.clone(),
        "risk/decisions?region=cn",
        Some(&ops),
    )
    .await;
    assert!(!payment_ids(&china).contains(&decided.as_str()));

    // An account holder's session, or none, is no operator's.
    for token in [Some(asha.token.as_str()), None] {
        let (status, body) =
            console(&p, &http, get_.clone(), "risk/decisions?region=in", token).await;
        assert_eq!(status, 401);
        assert!(!body.to_string().contains(&decided));
    }
    let pause = format!("offers/{FIRST_BILL_OFFER}/pause?region=in");
    let (status, _) = console(&p, &http, reqwest::Method::POST, &pause, Some(&asha.token)).await;
    assert_eq!(status, 401);

    let (status, offer) = console(&p, &http, reqwest::Method::POST, &pause, Some(&ops)).await;
    assert_eq!((status, &offer["paused"]), (200, &json!(true)), "{offer}");
    let ravi = upi_phone(&p, HDFC, "ravi", "Ravi Kumar", "9123456780").await;
    let paid = pay_bescom_bill(&p, &ravi, "4417730922").await;
    assert_eq!(
        paid["earned_paise"],
        Value::Null,
        "a paused offer gives nothing: {paid}"
    );
    let path = format!("offers/{FIRST_BILL_OFFER}/redemptions?region=in");
    let (_, spent) = console(&p, &http, get_, &path, Some(&ops)).await;
    assert_eq!(
        spent["offer"]["spent_minor"], FIRST_BILL_CASHBACK,
        "{spent}"
    );
    assert_eq!(
        spent["redemptions"].as_array().unwrap().len(),
        1,
        "Asha's only"
    );
    p.shutdown().await;
}

/// The points the wallet shows `token`'s account.
async fn points_of(p: &Platform, token: &str) -> Value {
    let (status, v) = get(
        &reqwest::Client::new(),
        format!("{}api/v1/points", p.wallet_url),
        token,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

/// The web site's payments page of `token`'s session, in English.
async fn payments_page(p: &Platform, token: &str) -> String {
    let r = reqwest::Client::new()
        .get(format!("{}payments", p.wallet_url))
        .header("cookie", format!("pt_session={token}; pt_lang=en"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// Asha redeems [`REDEEMED`] points as cashback in `currency`: the status
/// and answer.
async fn redeem(p: &Platform, asha: &UpiPhone, currency: &str) -> (u16, Value) {
    let url = format!("{}api/v1/points/redemptions", p.wallet_url);
    let body = json!({ "points": REDEEMED, "currency": currency });
    let key = format!("redeem-{currency}");
    india::post(&reqwest::Client::new(), url, &asha.token, Some(&key), body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_india_account_s_points_come_from_india_s_guard() {
    let dir = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformOptions::for_tests(dir.path().to_owned()))
        .await
        .unwrap();
    let asha = upi_phone(&p, ICICI, "asha", "Asha Rao", "9876543210").await;
    assert_eq!(points_of(&p, &asha.token).await["points"], 0);
    let paid = pay_bescom_bill(&p, &asha, "4417730921").await;
    let decided = guard_id(&paid);
    // A bill earns a point a rupee (`offers.toml`'s last rule).
    let bill_rupees = paid["amount_paise"].as_u64().unwrap() / 100;
    let held = points_of(&p, &asha.token).await;
    assert_eq!(held["points"], bill_rupees, "{held}");
    assert_eq!(held["entries"][0]["kind"], "earned");
    assert_eq!(held["entries"][0]["payment_id"], json!(decided));

    let http = reqwest::Client::new();
    let li = sign_up(&http, &p.wallet_url, "li.lei@example.com", "cn").await;
    let china = points_of(&p, &li).await;
    assert_eq!(
        (&china["points"], &china["entries"]),
        (&json!(0), &json!([]))
    );
    let site = payments_page(&p, &asha.token).await;
    assert!(
        site.contains(&format!("Rewards points: {bill_rupees}<")),
        "{site}"
    );
    assert!(payments_page(&p, &li).await.contains("Rewards points: 0<"));

    let (status, refused) = redeem(&p, &asha, "CNY").await;
    assert_eq!(
        status, 422,
        "India's points are worth rupees only: {refused}"
    );
    let cashback = p.india.ledger.balance("offers:cashback:INR").await.unwrap();
    let before = cashback.credits_posted - cashback.debits_posted;
    let (status, redeemed) = redeem(&p, &asha, "INR").await;
    assert_eq!(status, 201, "{redeemed}");
    assert_eq!(
        redeemed["cashback"],
        json!({ "minor": REDEEMED_PAISE, "currency": "INR" })
    );
    let cashback = p.india.ledger.balance("offers:cashback:INR").await.unwrap();
    assert_eq!(
        cashback.credits_posted - cashback.debits_posted - before,
        REDEEMED_PAISE
    );
    let held = points_of(&p, &asha.token).await;
    assert_eq!(held["points"], bill_rupees - REDEEMED);
    assert_eq!(points_of(&p, &li).await["points"], 0);
    p.shutdown().await;
}
