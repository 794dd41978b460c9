//! The operator's console on a real database (SQLite, or PostgreSQL with
//! `PAYTAP_TEST_DATABASE_URL`): only an operator's session is let in;
//! offers created, refused when invalid, paused and resumed with the next
//! payment seeing it; redemptions and budgets; risk decisions with the
//! rules that fired, a rule's shadow mode and the rules' text; every
//! change still there after a restart; the pages in both languages. With
//! two regions (China's guard and India's, each on its own database), each
//! region's decisions, offers and rules are read and changed through its
//! own guard, chosen with `?region=`, and named on every page.
// Rupee amounts are written the Indian way, then paise: `300_00` is ₹300.00.
#![allow(clippy::inconsistent_digit_grouping)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use paytap_console::throttle::{FIRST_COOLDOWN, FORGET_AFTER, FREE_FAILURES};
use paytap_console::{Console, MIGRATIONS, Operators, RegionGuard};
use paytap_guard::{Guard, OffersService, RiskService};
use paytap_ledger::Ledger;
use paytap_offers::OffersFile;
use paytap_risk::RiskRules;
use paytap_store::Db;
use paytap_testkit::LogCapture;
use paytap_types::Clock;
use paytap_types::{
    CardFacts, CardType, Channel, Currency, GuardAnswer, GuardOutcome, ManualClock, MerchantFacts,
    Money, PaymentFacts, PaymentGuard, Secret, UpiFacts,
};
use paytap_wallet::PasswordParams;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const LOGIN: &str = "ops@paytap.example";
const PASSWORD: &str = "correct horse battery";

/// Argon2id at its cheapest: the tests check who gets in, not the cost.
const CHEAP: PasswordParams = PasswordParams {
    m_cost_kib: 1024,
    t_cost: 1,
    p_cost: 1,
};

const RULES: &str = r#"
[[velocity]]
name = "card-burst"
key = "card"
window_secs = 60
max_count = 2
action = "step_up_biometric"
"#;

const OFFERS: &str = r#"
[[offer]]
id = "bank-10-off"
title = "10 CNY off 50 at supermarkets"
funder = { kind = "bank", id = "01020000" }
order = 10
currency = "CNY"
[offer.eligible]
mccs = [5411]
min_amount = "50.00"
[offer.benefit]
kind = "discount"
fixed = "10.00"
[offer.limits]
budget = "1000.00"
"#;

/// A new merchant-funded offer, as an operator writes it.
const KIOSK_OFFER: &str = r#"
id = "kiosk-2-off"
title = "2 CNY off at the kiosk"
funder = { kind = "merchant", id = "kiosk" }
order = 5
currency = "CNY"
[eligible]
merchants = ["kiosk"]
[benefit]
kind = "discount"
fixed = "2.00"
[limits]
budget = "100.00"
"#;

struct Setup {
    db: Db,
    ledger: Ledger,
    guard: Arc<Guard>,
    app: Router,
    /// The console's clock: tests move it instead of waiting.
    clock: ManualClock,
}

async fn open_on(db: Db, ledger: Ledger) -> Setup {
    let risk = RiskService::open(db.clone(), RiskRules::from_toml(RULES).unwrap(), 0)
        .await
        .expect("risk");
    let offers = OffersService::open(
        db.clone(),
        ledger.clone(),
        OffersFile::from_toml(OFFERS).unwrap(),
    )
    .await
    .expect("offers");
    let guard = Arc::new(Guard {
        risk: Some(risk),
        offers: Some(offers),
    });
    let operators = Operators::open(db.clone(), CHEAP).await.expect("operators");
    let clock = ManualClock::new();
    let regions = vec![RegionGuard::new("cn", Some(guard.clone()))];
    let console = Arc::new(Console::new(operators, regions).with_clock(Arc::new(clock.clone())));
    Setup {
        app: paytap_console::router(console),
        db,
        ledger,
        guard,
        clock,
    }
}

async fn setup() -> Setup {
    let db = Db::for_tests().await.expect("test database");
    db.migrate(paytap_guard::MIGRATIONS).await.unwrap();
    db.migrate(MIGRATIONS).await.unwrap();
    let ledger = Ledger::open(db.clone()).await.expect("ledger");
    let s = open_on(db, ledger).await;
    let operators = Operators::open(s.db.clone(), CHEAP).await.unwrap();
    operators
        .set(LOGIN, &Secret::new(PASSWORD.to_owned()))
        .await
        .expect("operator");
    s
}

fn payment(id: &str, merchant: &str, mcc: u16, minor: i64, at_ms: i64) -> PaymentFacts {
    let mut f = PaymentFacts::new(id, Channel::Nfc, Money::new(minor, Currency::CNY), at_ms);
    f.account_id = Some("acct-1".into());
    f.card = Some(CardFacts {
        fingerprint: format!("card-{id}"),
        bin: "622202".into(),
        bank: "01020000".into(),
        card_type: CardType::Debit,
        added_at_ms: None,
        first_use: false,
    });
    f.merchant = Some(MerchantFacts {
        id: merchant.into(),
        mcc,
    });
    f
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if body.starts_with('{') {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn sign_in(app: &Router) -> String {
    let body = serde_json::json!({ "login": LOGIN, "password": PASSWORD }).to_string();
    let (status, text) = call(app, "POST", "/console/api/v1/sessions", None, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

async fn charge(guard: &Guard, f: &PaymentFacts) -> i64 {
    match guard.check(f).await {
        GuardAnswer::Go { charge, .. } => {
            guard.finish(f, GuardOutcome::Captured).await;
            charge.minor
        }
        other => panic!("payment {} not let through: {other:?}", f.payment_id),
    }
}

#[tokio::test]
async fn only_an_operators_session_gets_in() {
    let s = setup().await;
    let wrong = serde_json::json!({ "login": LOGIN, "password": "not the password" }).to_string();
    let (status, _) = call(&s.app, "POST", "/console/api/v1/sessions", None, &wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let unknown = serde_json::json!({ "login": "nobody", "password": PASSWORD }).to_string();
    let (status, _) = call(&s.app, "POST", "/console/api/v1/sessions", None, &unknown).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // An account holder's wallet session token, and no token at all.
    let holder = "pt_cn_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    for token in [Some(holder), None, Some("op_forged")] {
        let (status, _) = call(&s.app, "GET", "/console/api/v1/offers", token, "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = call(
            &s.app,
            "POST",
            "/console/api/v1/offers/bank-10-off/pause",
            token,
            "",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let offers = s.guard.offers.as_ref().unwrap();
    assert!(
        !offers.offers_view()[0].paused,
        "a refused call paused nothing"
    );
    let token = sign_in(&s.app).await;
    let (status, text) = call(&s.app, "GET", "/console/api/v1/offers", Some(&token), "").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("bank-10-off"), "{text}");
    let (status, _) = call(
        &s.app,
        "DELETE",
        "/console/api/v1/sessions",
        Some(&token),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&s.app, "GET", "/console/api/v1/offers", Some(&token), "").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a signed-out session is over"
    );
}

#[tokio::test]
async fn an_invalid_offer_gets_a_clear_error_and_changes_nothing() {
    let s = setup().await;
    let token = sign_in(&s.app).await;
    let cases = [
        (
            KIOSK_OFFER.replace("order = 5", "order = 5\ncolour = \"red\""),
            "colour",
        ),
        (
            KIOSK_OFFER.replace("fixed = \"2.00\"", "fixed = \"-2.00\""),
            "negative",
        ),
        (
            KIOSK_OFFER.replace("fixed = \"2.00\"", "percent = \"5\"\ncap = \"-1.00\""),
            "negative",
        ),
        (
            KIOSK_OFFER.replace("order = 5", "order = 10"),
            "stacking order",
        ),
    ];
    for (text, says) in cases {
        let (status, body) = call(
            &s.app,
            "POST",
            "/console/api/v1/offers",
            Some(&token),
            &text,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.contains(says), "{body} should say {says}");
    }
    let offers = s.guard.offers.as_ref().unwrap();
    assert_eq!(offers.offers_view().len(), 1, "no refused offer went live");
    let (status, _) = call(
        &s.app,
        "POST",
        "/console/api/v1/offers/nope/pause",
        Some(&token),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_operator_creates_and_pauses_an_offer_and_the_next_payment_pays_full_price() {
    let s = setup().await;
    let token = sign_in(&s.app).await;
    let (status, body) = call(
        &s.app,
        "POST",
        "/console/api/v1/offers",
        Some(&token),
        KIOSK_OFFER,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        charge(&s.guard, &payment("p1", "kiosk", 5999, 600, 1_000)).await,
        400
    );
    let (status, body) = call(
        &s.app,
        "GET",
        "/console/api/v1/offers/kiosk-2-off/redemptions",
        Some(&token),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["offer"]["spent_minor"], 200);
    assert_eq!(v["offer"]["left_minor"], 9_800);
    assert_eq!(v["redemptions"][0]["payment_id"], "p1");
    assert_eq!(v["redemptions"][0]["state"], "captured");
    let funder = s.ledger.balance("offers:merchant:kiosk:CNY").await.unwrap();
    assert_eq!(funder.debits_posted - funder.credits_posted, 200);

    let (status, _) = call(
        &s.app,
        "POST",
        "/console/api/v1/offers/kiosk-2-off/pause",
        Some(&token),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        charge(&s.guard, &payment("p2", "kiosk", 5999, 600, 100_000)).await,
        600,
        "a paused offer gives nothing"
    );

    // A restart keeps the operator's offer and its pause.
    drop(s.app);
    let again = open_on(s.db.clone(), s.ledger.clone()).await;
    let view = again.guard.offers.as_ref().unwrap().offers_view();
    let kiosk = view.iter().find(|o| o.id == "kiosk-2-off").expect("kept");
    assert!(kiosk.paused);
    assert_eq!(kiosk.spent_minor, 200);
    let token = sign_in(&again.app).await;
    let (status, _) = call(
        &again.app,
        "POST",
        "/console/api/v1/offers/kiosk-2-off/resume",
        Some(&token),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        charge(&again.guard, &payment("p3", "kiosk", 5999, 600, 200_000)).await,
        400
    );
}

#[tokio::test]
async fn decisions_show_the_rules_that_fired_and_rules_are_edited() {
    let s = setup().await;
    let token = sign_in(&s.app).await;
    let mut f = payment("r0", "shop", 5999, 100, 1_000);
    f.card.as_mut().unwrap().fingerprint = "card-x".into();
    for i in 0..2 {
        f.payment_id = format!("r{i}");
        f.at_ms = 1_000 + i;
        charge(&s.guard, &f).await;
    }
    f.payment_id = "r2".into();
    f.at_ms = 1_002;
    assert!(matches!(
        s.guard.check(&f).await,
        GuardAnswer::StepUp { .. }
    ));
    let (status, body) = call(
        &s.app,
        "GET",
        "/console/api/v1/risk/decisions",
        Some(&token),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v[0]["payment_id"], "r2");
    assert_eq!(v[0]["account"], "acct-1");
    assert_eq!(v[0]["decision"]["fired"][0]["rule"], "card-burst");

    // Shadow mode: the rule records and no longer acts.
    let (status, _) = call(
        &s.app,
        "PUT",
        "/console/api/v1/risk/rules/card-burst/shadow",
        Some(&token),
        r#"{"shadow":true}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    f.payment_id = "r3".into();
    assert!(matches!(s.guard.check(&f).await, GuardAnswer::Go { .. }));
    let (status, _) = call(
        &s.app,
        "PUT",
        "/console/api/v1/risk/rules/no-such-rule/shadow",
        Some(&token),
        r#"{"shadow":true}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // New thresholds: refused when invalid, live and kept when valid.
    let bad = RULES.replace("max_count = 2", "max_count = 0");
    let (status, body) = call(
        &s.app,
        "PUT",
        "/console/api/v1/risk/rules",
        Some(&token),
        &bad,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("max_count"), "{body}");
    let looser = RULES.replace("max_count = 2", "max_count = 10");
    let (status, body) = call(
        &s.app,
        "PUT",
        "/console/api/v1/risk/rules",
        Some(&token),
        &looser,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("at most 10 payments"), "{body}");
    let again = open_on(s.db.clone(), s.ledger.clone()).await;
    let view = again.guard.risk.as_ref().unwrap().rules_view();
    assert!(view.source.contains("max_count = 10"));
    assert!(
        !view.rules[0].shadow,
        "the new text says the rule's own mode"
    );
}

fn set_cookies(resp: &axum::response::Response) -> Vec<String> {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect()
}

async fn page(app: &Router, uri: &str, cookies: &str) -> (StatusCode, String, Vec<String>) {
    let req = Request::builder()
        .uri(uri)
        .header(header::COOKIE, cookies)
        .body(Body::empty())
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let (status, set) = (resp.status(), set_cookies(&resp));
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned(), set)
}

async fn form(app: &Router, uri: &str, cookies: &str, body: String) -> (StatusCode, Vec<String>) {
    let req = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::COOKIE, cookies)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    (resp.status(), set_cookies(&resp))
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_pages_sign_an_operator_in_in_both_languages() {
    let s = setup().await;
    let (status, html, set) = page(&s.app, "/console/offers", "").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "no page without a session");
    assert!(html.is_empty() && set.is_empty());
    let (status, html, set) = page(&s.app, "/console", "").await;
    assert_eq!(status, StatusCode::OK);
    let login_cookie = set[0].clone();
    let body = format!(
        "csrf={}&login=ops%40paytap.example&password=correct+horse+battery",
        csrf_of(&html)
    );
    let (status, set) = form(&s.app, "/console/signin", &login_cookie, body).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let session = set
        .iter()
        .find(|c| c.starts_with("pt_console="))
        .expect("the console's own cookie")
        .clone();
    let (status, html, _) = page(&s.app, "/console/offers", &session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("bank-10-off") && html.contains("Budget"));
    let (_, zh, _) = page(&s.app, "/console/offers", &format!("{session}; pt_lang=zh")).await;
    assert!(zh.contains("优惠活动") && zh.contains("预算"));
    // The site's Hindi (its language cookie) reads the console in English.
    let (_, hi, _) = page(&s.app, "/console/offers", &format!("{session}; pt_lang=hi")).await;
    assert!(
        hi.contains("<html lang=\"en\">") && hi.contains("Budget"),
        "{hi}"
    );
    assert!(hi.contains("/console/language?to=zh"), "{hi}");
    let (_, rules, _) = page(&s.app, "/console/rules", &session).await;
    assert!(rules.contains("card-burst") && rules.contains("max_count = 2"));

    // A form without its token, or with an account holder's cookie: refused.
    let (status, _) = form(
        &s.app,
        "/console/offers/bank-10-off/pause",
        &session,
        "csrf=x".into(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let holder = "pt_session=pt_cn_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let (status, _) = form(
        &s.app,
        "/console/offers/bank-10-off/pause",
        holder,
        format!("csrf={}", csrf_of(&html)),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!s.guard.offers.as_ref().unwrap().offers_view()[0].paused);
    let (status, _) = form(
        &s.app,
        "/console/offers/bank-10-off/pause",
        &session,
        format!("csrf={}", csrf_of(&html)),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(s.guard.offers.as_ref().unwrap().offers_view()[0].paused);
}

/// A sign-in through the API: its status, `Retry-After` and body.
async fn api_sign_in(
    app: &Router,
    login: &str,
    password: &str,
) -> (StatusCode, Option<u64>, String) {
    let body = serde_json::json!({ "login": login, "password": password }).to_string();
    let req = Request::builder()
        .method("POST")
        .uri("/console/api/v1/sessions")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let retry = retry_after(&resp);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, retry, String::from_utf8_lossy(&bytes).into_owned())
}

fn retry_after(resp: &axum::response::Response) -> Option<u64> {
    resp.headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().parse().expect("Retry-After in seconds"))
}

/// A form field's value, URL-encoded (the few characters the tests use).
fn encoded(v: &str) -> String {
    v.replace('@', "%40").replace(' ', "+")
}

/// What a sign-in through the page's form answered.
struct PageAnswer {
    status: StatusCode,
    retry_after: Option<u64>,
    html: String,
    cookies: Vec<String>,
}

/// A sign-in through the page: the form fetched for its CSRF token, then
/// posted, with `extra` cookies (a language).
async fn page_sign_in(app: &Router, login: &str, password: &str, extra: &str) -> PageAnswer {
    let (status, html, set) = page(app, "/console", extra).await;
    assert_eq!(status, StatusCode::OK);
    let cookies = format!("{}; {extra}", set[0]);
    let body = format!(
        "csrf={}&login={}&password={}",
        csrf_of(&html),
        encoded(login),
        encoded(password)
    );
    let req = Request::builder()
        .method("POST")
        .uri("/console/signin")
        .header(header::COOKIE, cookies)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let (status, retry_after, cookies) = (resp.status(), retry_after(&resp), set_cookies(&resp));
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    PageAnswer {
        status,
        retry_after,
        html: String::from_utf8_lossy(&bytes).into_owned(),
        cookies,
    }
}

const OTHER: &str = "audit@paytap.example";
const OTHER_PASSWORD: &str = "another long passphrase";

/// `FREE_FAILURES` wrong passwords on `login` through the API, each `401`.
async fn spend_free_failures(app: &Router, login: &str, n: u32) {
    for i in 0..n {
        let (status, retry, _) = api_sign_in(app, login, &format!("wrong guess {i}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {i}");
        assert_eq!(retry, None);
    }
}

#[tokio::test]
async fn the_api_refuses_a_login_after_repeated_failures_until_its_cooldown_ends() {
    let log = LogCapture::install_global(tracing::Level::INFO);
    let s = setup().await;
    let operators = Operators::open(s.db.clone(), CHEAP).await.unwrap();
    operators
        .set(OTHER, &Secret::new(OTHER_PASSWORD.to_owned()))
        .await
        .unwrap();
    spend_free_failures(&s.app, LOGIN, FREE_FAILURES).await;

    // The right password is refused while the cooldown runs, as is any
    // other, and the login however it is typed.
    let (status, retry, text) = api_sign_in(&s.app, LOGIN, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{text}");
    assert_eq!(retry, Some(FIRST_COOLDOWN.as_secs()));
    assert!(text.contains("too many failed sign-ins"), "{text}");
    let (status, _, _) = api_sign_in(&s.app, LOGIN, "wrong again").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = api_sign_in(&s.app, " Ops@Paytap.Example ", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Another operator is not affected.
    let (status, _, text) = api_sign_in(&s.app, OTHER, OTHER_PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");

    // A second console on the same database (another instance) refuses
    // too: the count is in the database.
    let twin = open_on(s.db.clone(), s.ledger.clone()).await;
    twin.clock.set(s.clock.now_millis());
    let (status, _, _) = api_sign_in(&twin.app, LOGIN, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Refused attempts did not lengthen the cooldown; one second before
    // its end it still runs.
    s.clock.advance(FIRST_COOLDOWN - Duration::from_secs(1));
    let (status, retry, _) = api_sign_in(&s.app, LOGIN, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry, Some(1));

    // Over: one more wrong password doubles the next cooldown.
    s.clock.advance(Duration::from_secs(1));
    let (status, _, _) = api_sign_in(&s.app, LOGIN, "still guessing").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, retry, _) = api_sign_in(&s.app, LOGIN, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry, Some(2 * FIRST_COOLDOWN.as_secs()));
    s.clock.advance(2 * FIRST_COOLDOWN);
    let (status, _, text) = api_sign_in(&s.app, LOGIN, PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");

    // The success cleared the count: a full allowance again.
    spend_free_failures(&s.app, LOGIN, FREE_FAILURES - 1).await;
    let (status, _, _) = api_sign_in(&s.app, LOGIN, PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED);

    // Failures a quiet window apart are not added up.
    spend_free_failures(&s.app, LOGIN, FREE_FAILURES - 1).await;
    s.clock.advance(FORGET_AFTER);
    spend_free_failures(&s.app, LOGIN, FREE_FAILURES - 1).await;
    let (status, _, _) = api_sign_in(&s.app, LOGIN, PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED);

    // An unknown login is counted exactly like a known one.
    spend_free_failures(&s.app, "nobody@paytap.example", FREE_FAILURES).await;
    let (status, retry, _) = api_sign_in(&s.app, "nobody@paytap.example", PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry, Some(FIRST_COOLDOWN.as_secs()));

    // Setting an operator's password lets them back in at once.
    spend_free_failures(&s.app, OTHER, FREE_FAILURES).await;
    let (status, _, _) = api_sign_in(&s.app, OTHER, OTHER_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let renewed = "a renewed long passphrase";
    operators
        .set(OTHER, &Secret::new(renewed.to_owned()))
        .await
        .unwrap();
    let (status, _, _) = api_sign_in(&s.app, OTHER, renewed).await;
    assert_eq!(status, StatusCode::CREATED);

    // Every refusal has its log line; no password is in any.
    let text = log.text();
    assert!(
        text.contains("console sign-in refused: login cooling down after repeated failures"),
        "{text}"
    );
    assert!(text.contains("console login cooling down after repeated failed sign-ins"));
    assert!(text.contains("console sign-in refused: wrong login or password"));
    for secret in [
        PASSWORD,
        OTHER_PASSWORD,
        renewed,
        "wrong guess",
        "still guessing",
    ] {
        assert!(!text.contains(secret), "{secret:?} in the log");
    }
}

#[tokio::test]
async fn the_sign_in_page_says_a_login_is_cooling_down_in_both_languages() {
    let s = setup().await;
    Operators::open(s.db.clone(), CHEAP)
        .await
        .unwrap()
        .set(OTHER, &Secret::new(OTHER_PASSWORD.to_owned()))
        .await
        .unwrap();
    for i in 0..FREE_FAILURES {
        let a = page_sign_in(&s.app, LOGIN, &format!("wrong guess {i}"), "").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert!(a.html.contains("Wrong login or password."), "{}", a.html);
    }
    let a = page_sign_in(&s.app, LOGIN, PASSWORD, "").await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.retry_after, Some(60));
    assert!(
        a.html
            .contains("Too many failed sign-ins for this login. Try again in 60 seconds."),
        "{}",
        a.html
    );
    assert!(
        !a.cookies.iter().any(|c| c.starts_with("pt_console=")),
        "no session during the cooldown"
    );
    let zh = page_sign_in(&s.app, LOGIN, PASSWORD, "pt_lang=zh").await;
    assert_eq!(zh.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        zh.html
            .contains("此登录名登录失败次数过多，请在 60 秒后再试。"),
        "{}",
        zh.html
    );
    // The API and the page count the same login together.
    let (status, _, _) = api_sign_in(&s.app, LOGIN, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Another operator signs in through the page meanwhile.
    let other = page_sign_in(&s.app, OTHER, OTHER_PASSWORD, "").await;
    assert_eq!(other.status, StatusCode::SEE_OTHER);
    assert!(other.cookies.iter().any(|c| c.starts_with("pt_console=")));

    s.clock.advance(FIRST_COOLDOWN);
    let a = page_sign_in(&s.app, LOGIN, PASSWORD, "").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.html);
    let session = a
        .cookies
        .iter()
        .find(|c| c.starts_with("pt_console="))
        .expect("a session once the cooldown is over")
        .clone();
    let (status, html, _) = page(&s.app, "/console/offers", &session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("bank-10-off"));
}

/// India's own rules: a burst of payments from one UPI ID.
const INDIA_RULES: &str = r#"
[[velocity]]
name = "upi-burst"
key = "upi"
window_secs = 60
max_count = 2
action = "step_up_otp"
"#;

/// India's own offer: rupee cashback on UPI payments.
const INDIA_OFFERS: &str = r#"
[[offer]]
id = "upi-50-inr"
title = "₹50 back on a UPI payment"
funder = { kind = "platform", id = "paytap" }
order = 30
currency = "INR"
[offer.eligible]
channels = ["upi"]
[offer.benefit]
kind = "cashback"
fixed = "50.00"
[offer.limits]
budget = "1000.00"
"#;

/// China's console set-up beside India's guard on a database of its own
/// (as the `in` region's is), with the console showing both.
struct TwoRegions {
    cn: Setup,
    india_db: Db,
    india: Arc<Guard>,
    app: Router,
}

async fn two_regions() -> TwoRegions {
    let cn = setup().await;
    let india_db = Db::for_tests().await.expect("India's test database");
    india_db.migrate(paytap_guard::MIGRATIONS).await.unwrap();
    let ledger = Ledger::open(india_db.clone()).await.expect("INR ledger");
    let risk = RiskService::open(
        india_db.clone(),
        RiskRules::from_toml(INDIA_RULES).unwrap(),
        0,
    )
    .await
    .expect("India's risk");
    let offers = OffersService::open(
        india_db.clone(),
        ledger,
        OffersFile::from_toml(INDIA_OFFERS).unwrap(),
    )
    .await
    .expect("India's offers");
    let india = Arc::new(Guard {
        risk: Some(risk),
        offers: Some(offers),
    });
    let operators = Operators::open(cn.db.clone(), CHEAP).await.unwrap();
    let regions = vec![
        RegionGuard::new("cn", Some(cn.guard.clone())),
        RegionGuard::new("in", Some(india.clone())),
    ];
    let console = Console::new(operators, regions).with_clock(Arc::new(cn.clock.clone()));
    TwoRegions {
        app: paytap_console::router(Arc::new(console)),
        cn,
        india_db,
        india,
    }
}

/// A UPI payment of Asha's in rupees, as India's UPI app tells the guard.
fn upi_payment(id: &str, paise: i64, at_ms: i64) -> PaymentFacts {
    let mut f = PaymentFacts::new(id, Channel::Upi, Money::new(paise, Currency::INR), at_ms);
    f.account_id = Some("acct-asha".into());
    f.region = Some("in".into());
    f.upi = Some(UpiFacts {
        vpa: "asha@paytap".into(),
        bound_at_ms: None,
    });
    f.merchant = Some(MerchantFacts {
        id: "chai@payu".into(),
        mcc: 5812,
    });
    f
}

/// The cashback a payment let through earns, once captured.
async fn cashback(guard: &Guard, f: &PaymentFacts) -> i64 {
    match guard.check(f).await {
        GuardAnswer::Go { cashback, .. } => {
            guard.finish(f, GuardOutcome::Captured).await;
            cashback.minor
        }
        other => panic!("payment {} not let through: {other:?}", f.payment_id),
    }
}

async fn json_of(app: &Router, uri: &str, token: &str) -> serde_json::Value {
    let (status, body) = call(app, "GET", uri, Some(token), "").await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The risk decisions stored in `db`.
async fn decisions_in(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM risk_decisions")
        .fetch_one(db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn each_region_is_read_and_changed_through_its_own_guard() {
    let t = two_regions().await;
    let token = sign_in(&t.app).await;
    let regions = json_of(&t.app, "/console/api/v1/regions", &token).await;
    assert_eq!(regions[0]["region"], "cn");
    assert_eq!(regions[1]["region"], "in");
    assert_eq!(regions[1]["offers"], true);

    assert_eq!(
        cashback(&t.india, &upi_payment("upi:U1", 300_00, 1_000)).await,
        50_00
    );
    let india = json_of(&t.app, "/console/api/v1/risk/decisions?region=in", &token).await;
    assert_eq!(india[0]["payment_id"], "upi:U1");
    assert_eq!(india[0]["account"], "acct-asha");
    let china = json_of(&t.app, "/console/api/v1/risk/decisions", &token).await;
    assert_eq!(china, serde_json::json!([]), "China's list is China's");
    assert_eq!(decisions_in(&t.cn.db).await, 0, "nothing copied");
    assert_eq!(decisions_in(&t.india_db).await, 1);

    // Without an operator's session, or in a region the console lacks.
    for bearer in [
        None,
        Some("pt_in_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        let (status, body) = call(
            &t.app,
            "GET",
            "/console/api/v1/risk/decisions?region=in",
            bearer,
            "",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(!body.contains("upi:U1"));
    }
    let (status, body) = call(
        &t.app,
        "GET",
        "/console/api/v1/offers?region=xx",
        Some(&token),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no region \\\"xx\\\""), "{body}");

    // India's offer is India's: China has none by its name.
    let pause = "/console/api/v1/offers/upi-50-inr/pause";
    let (status, _) = call(&t.app, "POST", pause, Some(&token), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(
        &t.app,
        "POST",
        &format!("{pause}?region=in"),
        Some(&token),
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"paused\":true"), "{body}");
    assert_eq!(
        cashback(&t.india, &upi_payment("upi:U2", 300_00, 2_000)).await,
        0,
        "a paused offer gives nothing"
    );
    let cn_offers = t.cn.guard.offers.as_ref().unwrap().offers_view();
    assert!(cn_offers.iter().all(|o| !o.paused), "China's untouched");
    let spent = json_of(
        &t.app,
        "/console/api/v1/offers/upi-50-inr/redemptions?region=in",
        &token,
    )
    .await;
    assert_eq!(spent["offer"]["spent_minor"], 50_00);
    assert_eq!(spent["redemptions"][0]["payment_id"], "upi:U1");

    // India's rule in shadow: the burst goes through, China's rules as they were.
    let (status, _) = call(
        &t.app,
        "PUT",
        "/console/api/v1/risk/rules/upi-burst/shadow?region=in",
        Some(&token),
        r#"{"shadow":true}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        cashback(&t.india, &upi_payment("upi:U3", 100, 3_000)).await,
        0
    );
    let rules = json_of(&t.app, "/console/api/v1/risk/rules?region=in", &token).await;
    assert_eq!(rules["rules"][0]["shadow"], true);
    let rules = json_of(&t.app, "/console/api/v1/risk/rules", &token).await;
    assert_eq!(rules["rules"][0]["name"], "card-burst");
    assert_eq!(rules["rules"][0]["shadow"], false);
}

/// Signs in through the sign-in form; the session cookie.
async fn page_session(app: &Router) -> String {
    let (_, html, set) = page(app, "/console", "").await;
    let body = format!(
        "csrf={}&login=ops%40paytap.example&password=correct+horse+battery",
        csrf_of(&html)
    );
    let (status, set) = form(app, "/console/signin", &set[0], body).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    set.into_iter()
        .find(|c| c.starts_with("pt_console="))
        .expect("the console's own cookie")
}

#[tokio::test]
async fn the_pages_name_their_region_and_switch_between_them() {
    let t = two_regions().await;
    assert_eq!(
        cashback(&t.india, &upi_payment("upi:U1", 300_00, 1_000)).await,
        50_00
    );
    let session = page_session(&t.app).await;
    let (status, html, _) = page(&t.app, "/console/risk?region=in", &session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("upi:U1") && html.contains("acct-asha"),
        "{html}"
    );
    assert!(html.contains("Risk decisions · India (in)"), "{html}");
    assert!(html.contains("href=\"/console/risk?region=cn\""), "{html}");
    assert!(
        html.contains("href=\"/console/offers?region=in\""),
        "{html}"
    );
    let (_, zh, _) = page(
        &t.app,
        "/console/risk?region=in",
        &format!("{session}; pt_lang=zh"),
    )
    .await;
    assert!(
        zh.contains("风控决定 · 印度 (in)") && zh.contains("中国 (cn)"),
        "{zh}"
    );
    let (_, china, _) = page(&t.app, "/console/risk", &session).await;
    assert!(china.contains("China (cn)") && !china.contains("upi:U1"));

    let (status, html, _) = page(&t.app, "/console/offers?region=in", &session).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("upi-50-inr") && !html.contains("bank-10-off"));
    let action = "action=\"/console/offers/upi-50-inr/pause?region=in\"";
    assert!(html.contains(action), "{html}");
    let csrf = format!("csrf={}", csrf_of(&html));
    let (status, _) = form(
        &t.app,
        "/console/offers/upi-50-inr/pause?region=in",
        &session,
        csrf.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let india = t.india.offers.as_ref().unwrap().offers_view();
    assert!(india[0].paused, "paused in India");
    assert_eq!(
        cashback(&t.india, &upi_payment("upi:U2", 300_00, 2_000)).await,
        0
    );
    // A form to a region the console lacks changes nothing.
    let (status, _) = form(
        &t.app,
        "/console/offers/upi-50-inr/resume?region=xx",
        &session,
        csrf,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(t.india.offers.as_ref().unwrap().offers_view()[0].paused);
    let (status, html, _) = page(&t.app, "/console/rules?region=xx", &session).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("No such region."));
    let (_, rules, _) = page(&t.app, "/console/rules?region=in", &session).await;
    assert!(rules.contains("action=\"/console/rules/upi-burst/shadow?region=in\""));
}
