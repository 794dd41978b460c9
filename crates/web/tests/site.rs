//! The web site driven in-process over the real wallet service: sign-in,
//! cookies, CSRF, lockout, devices and the lost-device switch, cards,
//! payments and their live feed, languages, and account isolation.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::*;
use futures::StreamExt;
use http_body_util::BodyExt;
use paytap_wallet::{DeviceStatus, Language, TokenState};
use tower::ServiceExt;

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_session_cookie() {
    let site = site().await;
    site.li(Language::En).await;
    let mut c = Client::default();

    // Not signed in: every page leads to the sign-in form.
    let r = c.get(&site.app, "/devices").await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login"));
    let r = c.get(&site.app, "/login").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Sign in to your wallet"));
    assert!(r.body.contains("<label for=\"login\">"));
    assert!(r.body.contains("<label for=\"password\">"));
    let pre = r.set_cookies();
    assert!(pre.iter().any(|c| c.starts_with("pt_login=")
        && c.contains("HttpOnly")
        && c.contains("SameSite=Strict")));

    let r = c.sign_in(&site.app, "li@example.com", PW).await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/devices")
    );
    let session = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("pt_session="))
        .expect("session cookie");
    assert!(session.contains("; Path=/"), "{session}");
    assert!(session.contains("; HttpOnly"), "{session}");
    assert!(session.contains("; SameSite=Strict"), "{session}");
    assert!(!session.contains("Secure"), "plain http: no Secure flag");
    // The cookie is the wallet's own session.
    let token = c.cookie("pt_session").unwrap().to_string();
    assert!(token.starts_with("pt_cn_"));
    assert!(site.wallet.authenticate(&token).await.is_ok());

    let r = c.get(&site.app, "/devices").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Your devices"));
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(r.headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'nonce-"),
        "{csp}"
    );

    // Signing out ends the wallet session too.
    let csrf = r.csrf();
    let r = c.post(&site.app, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/login?signed_out=1")
    );
    assert!(c.cookie("pt_session").is_none());
    assert!(site.wallet.authenticate(&token).await.is_err());
    // Replaying the old cookie leads back to sign-in.
    c.cookies.push(("pt_session".into(), token));
    let r = c.get(&site.app, "/devices").await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/login?expired=1")
    );
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_host_prefixed() {
    let site = site().await;
    site.li(Language::En).await;
    let mut c = Client {
        extra: vec![("x-forwarded-proto".into(), "https".into())],
        ..Client::default()
    };
    let r = c.sign_in(&site.app, "li@example.com", PW).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let session = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-pt_session="))
        .expect("__Host- session cookie");
    assert!(session.ends_with("; Secure"), "{session}");
    assert_eq!(c.get(&site.app, "/devices").await.status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_passwords_slow_sign_in_and_busy_hashing_answers_503() {
    let site = site().await;
    site.li(Language::En).await;
    let mut c = Client::default();
    for _ in 0..3 {
        let r = c
            .sign_in(&site.app, "li@example.com", "wrong password")
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(
            r.body
                .contains("The e-mail, phone number or password is incorrect.")
        );
        // The login is kept, the password is not echoed.
        assert!(r.body.contains("value=\"li@example.com\""));
        assert!(!r.body.contains("wrong password"));
        assert!(
            r.body
                .contains("aria-describedby=\"login-error login-hint\"")
        );
    }
    // Then this address waits before its next try (no lock: the wait is
    // a second and grows only with further failures).
    let r = c.sign_in(&site.app, "li@example.com", PW).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    assert!(
        r.body.contains("please wait 1 second before trying again"),
        "{}",
        r.body
    );
    assert!(c.cookie("pt_session").is_none());
    // A malformed login is just a wrong login.
    let mut d = Client::default();
    let r = d.sign_in(&site.app, "not a login", PW).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Password checks at capacity: 503 with Retry-After, no session.
    site.holder("wang@example.com", Language::En, "Wang", "12")
        .await;
    let gate = site.wallet.hash_gate().clone();
    let held: Vec<_> = (0..4).map(|_| gate.try_admit().unwrap()).collect();
    let mut e = Client::default();
    let r = e.sign_in(&site.app, "wang@example.com", PW).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    assert!(e.cookie("pt_session").is_none());
    drop(held);
}

#[tokio::test]
async fn forms_without_the_sessions_csrf_token_change_nothing() {
    let site = site().await;
    let li = site.li(Language::En).await;
    let mut c = Client::default();
    // Sign-in form without its token.
    c.get(&site.app, "/login").await;
    let r = c
        .post(
            &site.app,
            "/login",
            &[("login", "li@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(c.cookie("pt_session").is_none());

    c.sign_in(&site.app, "li@example.com", PW).await;
    let path = format!("/devices/{}/turn-off", li.phone);
    for bad in [
        "",
        "nonsense",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        let r = c
            .post(&site.app, &path, &[("csrf", bad), ("reason", "lost")])
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{bad:?}");
        assert!(r.body.contains("This form has expired"));
    }
    // A token of another session of the same account does not verify either.
    let mut other = Client::default();
    let page = {
        other.sign_in(&site.app, "li@example.com", PW).await;
        other.get(&site.app, "/devices").await
    };
    let foreign = page.csrf();
    let r = c
        .post(&site.app, &path, &[("csrf", &foreign), ("reason", "lost")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    site.assert_phone(&li, DeviceStatus::Active, TokenState::Active)
        .await;
}

#[tokio::test]
async fn devices_show_type_last_seen_and_cards_never_a_card_number() {
    let site = site().await;
    let li = site.li(Language::En).await;
    let mut c = site.browser(LI).await;
    let r = c.get(&site.app, "/devices").await;
    let b = &r.body;
    assert!(b.contains(&format!("data-device-id=\"{}\"", li.phone)));
    assert!(b.contains(&format!("data-device-id=\"{}\"", li.band)));
    assert!(b.contains("Phone · Mi 15"));
    assert!(b.contains("Band · Smart Band 9"));
    assert!(b.contains("near Huangpu, Shanghai"));
    assert!(
        b.contains("Not seen yet"),
        "the band never sent a heartbeat"
    );
    assert!(b.contains("A band holds transit and QR passes, not bank cards."));
    for card in &li.cards {
        assert!(b.contains(&format!("•••• {}", card.card_last4)));
        assert!(b.contains(&card.bank_name));
    }
    assert!(b.contains("Turn off payments on this device"));
    assert!(b.contains("Remove all cards"));
    assert_no_card_number(b, &li.pans);

    let r = c.get(&site.app, "/cards").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Your cards"));
    assert!(r.body.contains(">Default<"));
    assert!(r.body.contains("Make default"));
    assert_no_card_number(&r.body, &li.pans);

    let css = c.get(&site.app, "/assets/site.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(css.body.contains(":focus-visible"));
}

#[tokio::test]
async fn turning_payments_off_and_back_on() {
    let site = site().await;
    let li = site.li(Language::En).await;
    let mut c = site.browser(LI).await;

    // The confirmation step changes nothing by itself.
    let confirm = c
        .get(&site.app, &format!("/devices/{}/turn-off", li.phone))
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Turn off payments on Li"));
    assert!(confirm.body.contains("Yes, turn off payments"));
    assert!(
        confirm
            .body
            .contains("<legend>What happened to the device?</legend>")
    );
    assert_eq!(site.device(&li).await.status, DeviceStatus::Active);

    let r = c
        .post(
            &site.app,
            &format!("/devices/{}/turn-off", li.phone),
            &[("csrf", &confirm.csrf()), ("reason", "stolen")],
        )
        .await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/devices")
    );
    // At once: the device is suspended and so is every token on it.
    site.assert_phone(&li, DeviceStatus::Suspended, TokenState::Suspended)
        .await;
    let page = c.get(&site.app, "/devices").await;
    assert!(page.body.contains("role=\"status\""));
    assert!(page.body.contains("Payments are turned off on Li"));
    assert!(page.body.contains("Payments off: reported stolen"));
    assert!(page.body.contains(&format!(
        "data-device-id=\"{}\" data-payments=\"off\"",
        li.phone
    )));
    // The notice shows once.
    let again = c.get(&site.app, "/devices").await;
    assert!(!again.body.contains("Payments are turned off on Li"));

    let r = c
        .post(
            &site.app,
            &format!("/devices/{}/turn-on", li.phone),
            &[("csrf", &again.csrf())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    site.assert_phone(&li, DeviceStatus::Active, TokenState::Active)
        .await;
    let page = c.get(&site.app, "/devices").await;
    assert!(page.body.contains("Payments are on again for Li"));
}

/// The card art of the card ending `last4` on `page`.
fn art_of<'a>(page: &'a str, last4: &str) -> &'a str {
    let needle = format!("data-last4=\"{last4}\"");
    let at = page.find(&needle).expect("the card's art");
    let start = page[..at].rfind("<div").unwrap();
    let end = at + page[at..].find("</div>").unwrap();
    &page[start..end]
}

#[tokio::test]
async fn a_paused_default_card_says_it_is_paused() {
    let site = site().await;
    let li = site.li(Language::En).await;
    let mut c = site.browser(LI).await;
    let cards = site.wallet.cards(&li.p, &li.phone).await.unwrap();
    let default = cards.iter().find(|c| c.is_default).unwrap();
    let other = cards.iter().find(|c| !c.is_default).unwrap();

    let confirm = c
        .get(&site.app, &format!("/devices/{}/turn-off", li.phone))
        .await;
    c.post(
        &site.app,
        &format!("/devices/{}/turn-off", li.phone),
        &[("csrf", &confirm.csrf()), ("reason", "lost")],
    )
    .await;

    for path in ["/cards".to_string(), format!("/devices/{}", li.phone)] {
        let page = c.get(&site.app, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        for card in [default, other] {
            // One badge, and it says the card is paused, default or not.
            let art = art_of(&page.body, &card.card_last4);
            assert_eq!(art.matches("class=\"ca-flag").count(), 1, "{path}: {art}");
            assert!(
                art.contains("<span class=\"ca-flag ca-paused\">Paused</span>"),
                "{path}: {art}"
            );
        }
        // The text alternative names both.
        assert!(
            art_of(&page.body, &default.card_last4).contains(&format!(
                "aria-label=\"{}, Card ending {}, Default, Paused\"",
                default.bank_name, default.card_last4
            )),
            "{path}"
        );
    }
    // No style hides a second badge.
    let css = c.get(&site.app, "/assets/site.css").await;
    assert!(!css.body.contains(".ca-flag + .ca-flag"));

    // Back on, the default card shows its badge again.
    let page = c.get(&site.app, "/cards").await;
    c.post(
        &site.app,
        &format!("/devices/{}/turn-on", li.phone),
        &[("csrf", &page.csrf())],
    )
    .await;
    let page = c.get(&site.app, "/cards").await;
    let art = art_of(&page.body, &default.card_last4);
    assert!(
        art.contains("<span class=\"ca-flag\">Default</span>"),
        "{art}"
    );
    assert!(!art.contains("Paused"), "{art}");
    assert!(!art_of(&page.body, &other.card_last4).contains("ca-flag"));
}

#[tokio::test]
async fn cards_default_remove_and_remove_all() {
    let site = site().await;
    let li = site.li(Language::En).await;
    let mut c = site.browser(LI).await;
    let second = &li.cards[1];
    let page = c.get(&site.app, "/cards").await;
    let r = c
        .post(
            &site.app,
            &format!("/devices/{}/cards/{}/default", li.phone, second.id),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/cards"));
    let cards = site.wallet.cards(&li.p, &li.phone).await.unwrap();
    assert!(cards.iter().find(|c| c.id == second.id).unwrap().is_default);
    let page = c.get(&site.app, "/cards").await;
    assert!(page.body.contains(&format!(
        "The card ending {} is now your default card.",
        second.card_last4
    )));

    let confirm = c
        .get(
            &site.app,
            &format!("/devices/{}/cards/{}/remove", li.phone, second.id),
        )
        .await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(
        confirm
            .body
            .contains(&format!("Remove the card ending {}?", second.card_last4))
    );
    let r = c
        .post(
            &site.app,
            &format!("/devices/{}/cards/{}/remove", li.phone, second.id),
            &[("csrf", &confirm.csrf())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        site.net.token_state(&second.token_ref),
        Some(TokenState::Deleted)
    );
    assert_eq!(site.wallet.cards(&li.p, &li.phone).await.unwrap().len(), 1);

    let confirm = c
        .get(&site.app, &format!("/devices/{}/remove-cards", li.phone))
        .await;
    assert!(confirm.body.contains("Remove all cards from Li"));
    let r = c
        .post(
            &site.app,
            &format!("/devices/{}/remove-cards", li.phone),
            &[("csrf", &confirm.csrf())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        site.wallet
            .cards(&li.p, &li.phone)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        site.net.token_state(&li.cards[0].token_ref),
        Some(TokenState::Deleted)
    );
    let page = c.get(&site.app, "/devices").await;
    assert!(page.body.contains("Cards removed: 1."));
    assert!(page.body.contains("No cards on this device."));
}

#[tokio::test]
async fn another_accounts_devices_and_cards_are_not_found_and_unchanged() {
    let site = site().await;
    let li = site.li(Language::En).await;
    let _han = site
        .holder("han@example.com", Language::En, "Han", "22")
        .await;
    let mut han = site.browser("han@example.com").await;
    let own = han.get(&site.app, "/devices").await;
    assert!(!own.body.contains(&li.phone));
    assert!(!own.body.contains("Li&#39;s phone") && !own.body.contains("Li's phone"));
    let csrf = own.csrf();

    // By editing the URL.
    for path in [
        format!("/devices/{}", li.phone),
        format!("/devices/{}/turn-off", li.phone),
        format!("/devices/{}/remove-cards", li.phone),
        format!("/devices/{}/cards/{}/remove", li.phone, li.cards[0].id),
        "/devices/not-an-id".to_string(),
        "/devices/..%2F..%2Fetc".to_string(),
    ] {
        let r = han.get(&site.app, &path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(r.body.contains("Page not found"));
        assert!(!r.body.contains("Li&#39;s phone") && !r.body.contains("Li's phone"));
    }
    // By editing the form (its action), with Han's valid token.
    for (path, form) in [
        (
            format!("/devices/{}/turn-off", li.phone),
            vec![("csrf", csrf.as_str()), ("reason", "lost")],
        ),
        (
            format!("/devices/{}/turn-on", li.phone),
            vec![("csrf", csrf.as_str())],
        ),
        (
            format!("/devices/{}/remove-cards", li.phone),
            vec![("csrf", csrf.as_str())],
        ),
        (
            format!("/devices/{}/cards/{}/default", li.phone, li.cards[1].id),
            vec![("csrf", csrf.as_str())],
        ),
        (
            format!("/devices/{}/cards/{}/remove", li.phone, li.cards[0].id),
            vec![("csrf", csrf.as_str())],
        ),
    ] {
        let r = han.post(&site.app, &path, &form).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Nothing changed for Li.
    assert_eq!(site.device(&li).await.status, DeviceStatus::Active);
    let cards = site.wallet.cards(&li.p, &li.phone).await.unwrap();
    assert_eq!(cards.len(), 2);
    assert!(cards[0].is_default && !cards[1].is_default);
    site.assert_tokens(&li, TokenState::Active);
}

#[tokio::test]
async fn payments_newest_first_with_reasons_and_escaped_text() {
    let site = site().await;
    let li = site.li(Language::En).await;
    let base = 1_795_426_860_000; // 2026-11-23T09:41:00Z
    site.pay(&li.cards[0], "e1", "Fresh Market", 1250, true, base)
        .await;
    site.pay(
        &li.cards[1],
        "e2",
        "<script>alert(1)</script> Café",
        9900,
        false,
        base + 60_000,
    )
    .await;
    let mut c = site.browser(LI).await;
    let r = c.get(&site.app, "/payments").await;
    assert_eq!(r.status, StatusCode::OK);
    let b = &r.body;
    let newer = b.find("id=\"pay-e2\"").expect("row e2");
    let older = b.find("id=\"pay-e1\"").expect("row e1");
    assert!(newer < older, "newest first");
    assert!(b.contains("Fresh Market"));
    assert!(b.contains("¥12.50"));
    assert!(b.contains(">CNY<"));
    assert!(b.contains("data-result=\"declined\""));
    assert!(b.contains("Card suspended in the wallet"));
    assert!(b.contains(&format!("•••• {}", li.cards[1].card_last4)));
    // Which device paid, by the name it was enrolled with.
    assert!(b.contains(">Device<"), "the device column");
    assert!(b.contains("s phone</span>"), "the phone's name in its row");
    assert!(
        b.contains("23 Nov 2026, 17:41 UTC+8"),
        "China Standard Time for a cn account"
    );
    assert!(!b.contains("<script>alert(1)</script>"));
    assert!(b.contains("&lt;script&gt;alert(1)&lt;/script&gt; Café"));
    // The only script is the live-update one, with the response's nonce.
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert_eq!(b.matches("<script").count(), 1);
    assert!(b.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(b.contains("new EventSource('/payments/events')"));
    assert!(b.contains("id=\"refresh\""), "refresh link without script");
    assert_no_card_number(b, &li.pans);

    // A cursor that is not one is a bad request, not a crash.
    let r = c.get(&site.app, "/payments?before=%00garbage").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn new_payments_arrive_on_the_live_feed() {
    let site = site().await;
    let li = site.li(Language::En).await;
    let han = site
        .holder("han@example.com", Language::En, "Han", "22")
        .await;
    let c = site.browser(LI).await;

    let unauth = site
        .app
        .clone()
        .oneshot(
            Request::get("/payments/events")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(unauth.status(), StatusCode::UNAUTHORIZED);

    let req = Request::get("/payments/events")
        .header(
            header::COOKIE,
            format!("pt_session={}", c.cookie("pt_session").unwrap()),
        )
        .body(Body::empty())
        .unwrap();
    let resp = site.app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = resp.into_body().into_data_stream();

    // Another account's payment is not sent; Li's is.
    site.pay(
        &han.cards[0],
        "h1",
        "Elsewhere",
        100,
        true,
        1_795_426_860_000,
    )
    .await;
    site.pay(
        &li.cards[0],
        "l1",
        "Corner Bakery",
        880,
        true,
        1_795_426_920_000,
    )
    .await;
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = body.next().await.expect("stream open").unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(text.contains("event: payment"), "{text}");
    assert!(text.contains("id: l1"), "{text}");
    assert!(text.contains("id=\"pay-l1\""), "{text}");
    assert!(
        text.contains("s phone</span>"),
        "the live row names the device: {text}"
    );
    assert!(text.contains("Corner Bakery"));
    assert!(text.contains("¥8.80"));
    assert!(!text.contains("Elsewhere"));
}

#[tokio::test]
async fn a_hindi_account_sees_its_devices_and_payments_in_hindi() {
    let site = site().await;
    let li = site.li(Language::Hi).await;
    site.pay(
        &li.cards[0],
        "e1",
        "Fresh Market",
        1250,
        false,
        1_795_426_860_000,
    )
    .await;
    site.pay(
        &li.cards[0],
        "e2",
        "Corner Bakery",
        880,
        true,
        1_795_426_920_000,
    )
    .await;
    let mut c = site.browser(&li.login).await;
    let r = c.get(&site.app, "/devices").await;
    assert_eq!(r.status, StatusCode::OK);
    for text in [
        "<html lang=\"hi\">",
        "आपके डिवाइस",
        "इस डिवाइस पर भुगतान बंद करें",
        "आख़िरी बार देखा गया",
        "भुगतान चालू",
        "साइन आउट करें",
    ] {
        assert!(r.body.contains(text), "missing {text:?} in\n{}", r.body);
    }
    // The switch offers the two other languages, each in its own words.
    for (code, name) in [("en", "English"), ("zh", "中文")] {
        assert!(
            r.body.contains(&format!("name=\"lang\" value=\"{code}\"")),
            "{code}"
        );
        assert!(r.body.contains(name), "{name}");
    }
    assert!(!r.body.contains("name=\"lang\" value=\"hi\""));
    assert!(!r.body.contains("Your devices"));

    let p = c.get(&site.app, "/payments").await;
    for text in [
        "<html lang=\"hi\">",
        "वॉलेट में कार्ड रोका गया है",
        "23 नवंबर 2026, 17:41 UTC+8",
        "रिवॉर्ड पॉइंट:",
        "अस्वीकृत",
        "स्वीकृत",
        "¥12.50",
        "¥8.80",
    ] {
        assert!(p.body.contains(text), "missing {text:?} in\n{}", p.body);
    }
    assert!(!p.body.contains("Card suspended in the wallet"));

    // Another language and back to Hindi by the switch.
    let r = c
        .post(
            &site.app,
            "/language",
            &[("csrf", &p.csrf()), ("lang", "en"), ("next", "/payments")],
        )
        .await;
    let r = c.get(&site.app, r.location()).await;
    assert!(r.body.contains("Card suspended in the wallet"));
    let r = c
        .post(
            &site.app,
            "/language",
            &[("csrf", &r.csrf()), ("lang", "hi"), ("next", "/payments")],
        )
        .await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/payments")
    );
    let r = c.get(&site.app, "/payments").await;
    assert!(r.body.contains("<html lang=\"hi\">"));
}

#[tokio::test]
async fn the_sign_in_page_speaks_hindi_to_a_hindi_browser() {
    let site = site().await;
    let mut c = Client::default();
    c.extra
        .push(("accept-language".into(), "hi-IN,hi;q=0.9,en;q=0.8".into()));
    let r = c.get(&site.app, "/login").await;
    assert!(r.body.contains("<html lang=\"hi\">"), "{}", r.body);
    assert!(r.body.contains("अपने वॉलेट में साइन इन करें"));
    assert!(r.body.contains("name=\"lang\" value=\"zh\""));
    assert!(r.body.contains("name=\"lang\" value=\"en\""));
    c.extra.clear();
    c.extra.push(("accept-language".into(), "en".into()));
    let r = c.get(&site.app, "/login").await;
    assert!(r.body.contains("हिन्दी"), "the switch offers Hindi");
    let r = c
        .post(
            &site.app,
            "/language",
            &[("csrf", &r.csrf()), ("lang", "hi"), ("next", "/login")],
        )
        .await;
    assert_eq!(r.location(), "/login");
    let r = c.get(&site.app, "/login").await;
    assert!(r.body.contains("<html lang=\"hi\">"), "{}", r.body);
}

#[tokio::test]
async fn account_language_and_the_switch() {
    let site = site().await;
    let li = site.li(Language::Zh).await;
    site.pay(
        &li.cards[0],
        "e1",
        "Fresh Market",
        1250,
        false,
        1_795_426_860_000,
    )
    .await;
    let mut c = Client::default();
    // Before sign-in: the browser's language.
    c.extra
        .push(("accept-language".into(), "zh-CN,zh;q=0.9".into()));
    let r = c.get(&site.app, "/login").await;
    assert!(r.body.contains("<html lang=\"zh-Hans\">"));
    assert!(r.body.contains("登录您的钱包"));
    c.extra.clear();

    // Signed in: the account's language.
    c.sign_in(&site.app, "li@example.com", PW).await;
    let r = c.get(&site.app, "/devices").await;
    assert!(r.body.contains("<html lang=\"zh-Hans\">"));
    assert!(r.body.contains("我的设备"));
    assert!(r.body.contains("关闭此设备的支付功能"));
    assert!(r.body.contains("最后在线"));
    let p = c.get(&site.app, "/payments").await;
    assert!(
        p.body.contains("此卡已在钱包中暂停使用"),
        "the reason in plain Chinese"
    );
    assert!(p.body.contains("2026年11月23日 17:41（UTC+8）"));
    assert!(p.body.contains("奖励积分：1234"), "the rewards points");

    // The switch.
    let r = c
        .post(
            &site.app,
            "/language",
            &[("csrf", &p.csrf()), ("lang", "en"), ("next", "/payments")],
        )
        .await;
    assert_eq!(
        (r.status, r.location()),
        (StatusCode::SEE_OTHER, "/payments")
    );
    let r = c.get(&site.app, "/payments").await;
    assert!(r.body.contains("<html lang=\"en\">"));
    assert!(r.body.contains("Card suspended in the wallet"));
    assert!(r.body.contains("Rewards points: 1234"));
    // Never back to another site.
    let r = c
        .post(
            &site.app,
            "/language",
            &[
                ("csrf", &r.csrf()),
                ("lang", "zh"),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert_eq!(r.location(), "/devices");
    // Without a valid token nothing changes.
    let r = c
        .post(&site.app, "/language", &[("csrf", "x"), ("lang", "en")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn oversized_and_malformed_forms_are_refused() {
    let site = site().await;
    site.li(Language::En).await;
    let mut c = Client::default();
    c.get(&site.app, "/login").await;
    let big = "x".repeat(20_000);
    let r = c.post(&site.app, "/login", &[("login", &big)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("We could not read this request"));
    let r = c
        .send(
            &site.app,
            Request::post("/login").header(header::CONTENT_TYPE, "application/json"),
            Body::from("{}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(c.cookie("pt_session").is_none());
}

#[tokio::test]
async fn home_redirects_by_session() {
    let site = site().await;
    site.li(Language::En).await;
    let mut c = Client::default();
    assert_eq!(c.get(&site.app, "/").await.location(), "/login");
    c.sign_in(&site.app, "li@example.com", PW).await;
    assert_eq!(c.get(&site.app, "/").await.location(), "/devices");
    assert_eq!(c.get(&site.app, "/login").await.location(), "/devices");
    let body = site
        .app
        .clone()
        .oneshot(
            Request::get("/devices/x/turn-off")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap()
        .into_body()
        .collect()
        .await
        .unwrap();
    assert!(body.to_bytes().is_empty(), "no page without a session");
}

#[tokio::test]
async fn unknown_paths_answer_the_sites_404_page_in_both_languages() {
    let site = site().await;
    site.li(Language::En).await;

    let mut en = Client::default();
    en.extra.push(("accept-language".into(), "en-GB".into()));
    let r = en.get(&site.app, "/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(r.body.contains("<title>Page not found · "), "{}", r.body);
    assert!(r.body.contains("<header class=\"top\">"));
    assert!(r.body.contains("<footer class=\"foot\">"));

    let mut zh = Client::default();
    zh.extra
        .push(("accept-language".into(), "zh-CN,zh;q=0.9".into()));
    let r = zh.get(&site.app, "/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("页面不存在"), "{}", r.body);
    assert!(r.body.contains("此页面不存在，或不属于您的账户。"));

    // Signed in, the page keeps the account's header.
    en.sign_in(&site.app, "li@example.com", PW).await;
    let r = en.get(&site.app, "/devices/").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("Page not found"));
    assert!(r.body.contains("id=\"sign-out\""));

    // The API beside the site keeps its bare 404.
    let r = en.get(&site.app, "/api/v1/no-such-thing").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn the_site_serves_its_own_icon() {
    let site = site().await;
    let mut c = Client::default();
    let page = c.get(&site.app, "/login").await;
    assert!(
        page.body
            .contains("<link rel=\"icon\" type=\"image/svg+xml\" href=\"/assets/favicon.svg\">")
    );
    let icon = c.get(&site.app, "/assets/favicon.svg").await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.headers[header::CONTENT_TYPE], "image/svg+xml");
    assert_eq!(icon.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert!(
        icon.body
            .starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"")
    );
}

/// The network's banks as the binary gives them to the site: Chinese names
/// (one bank has none) and currencies.
fn banks() -> paytap_web::i18n::Banks {
    use paytap_types::Currency;
    use paytap_web::i18n::BankInfo;
    [
        ("Bank of Hangzhou", Some("杭州银行")),
        ("Pearl River Bank", None),
    ]
    .into_iter()
    .map(|(en, zh)| {
        let info = BankInfo {
            name_zh: zh.map(str::to_string),
            currency: Some(Currency::CNY),
        };
        (en.to_string(), info)
    })
    .collect()
}

/// Declined payments with the network's codes and words, one per row.
const DECLINES: [(&str, &str, &str); 7] = [
    ("d12", "12", "transaction not supported"),
    ("d51", "51", "insufficient funds or credit"),
    ("d05", "05", "declined by the bank"),
    ("d54", "54", "card expired"),
    ("d91", "91", "bank unavailable"),
    ("d96", "96", "system error"),
    ("d57", "57", "card suspended in the wallet"),
];

/// `(row id, English, Chinese)`: what each row of [`DECLINES`] says.
const SENTENCES: [(&str, &str, &str); 7] = [
    ("d12", "This card can't pay in USD", "此卡不能用 USD 支付"),
    (
        "d51",
        "Not enough money on this card",
        "此卡余额或可用额度不足",
    ),
    (
        "d05",
        "The bank declined this payment",
        "发卡银行拒绝了此交易",
    ),
    ("d54", "This card has expired", "此卡已过期"),
    (
        "d91",
        "The bank could not be reached; nothing was charged",
        "无法连接发卡银行，未扣款",
    ),
    (
        "d96",
        "The bank could not be reached; nothing was charged",
        "无法连接发卡银行，未扣款",
    ),
    (
        "d57",
        "Card suspended in the wallet: payments are turned off on this device",
        "此卡已在钱包中暂停使用（该设备的支付功能已关闭）",
    ),
];

/// The history row `id` on `page`.
fn row_of<'a>(page: &'a str, id: &str) -> &'a str {
    let at = page
        .find(&format!("id=\"pay-{id}\""))
        .unwrap_or_else(|| panic!("row {id}"));
    let end = at + page[at..].find("</tr>").unwrap();
    &page[at..end]
}

#[tokio::test]
async fn decline_reasons_are_sentences_a_person_understands_in_each_language() {
    use paytap_types::{Currency, Money};
    let site = site_with_banks(banks()).await;
    let li = site.li(Language::En).await;
    let base = 1_795_426_860_000;
    for (i, (id, code, words)) in DECLINES.iter().enumerate() {
        // The first is a payment in dollars with a yuan card.
        let currency = if i == 0 { Currency::USD } else { Currency::CNY };
        let amount = Money::new(1_000, currency);
        let at = base + i as i64 * 60_000;
        site.pay_with(&li.cards[0], id, "Shop", amount, (code, words), at)
            .await;
    }
    let standin = ("00", "approved by the network on the bank's behalf");
    let yuan = Money::new(500, Currency::CNY);
    site.pay_with(&li.cards[1], "s1", "Kiosk", yuan, standin, base)
        .await;
    let mut c = site.browser(LI).await;
    let en = c.get(&site.app, "/payments").await.body;
    let r = c
        .post(
            &site.app,
            "/language",
            &[
                ("csrf", &csrf_of(&en)),
                ("lang", "zh"),
                ("next", "/payments"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let zh = c.get(&site.app, "/payments").await.body;
    for (id, in_en, in_zh) in SENTENCES {
        assert!(row_of(&en, id).contains(in_en), "{id}: {}", row_of(&en, id));
        assert!(row_of(&zh, id).contains(in_zh), "{id}: {}", row_of(&zh, id));
    }
    for (_, _, words) in DECLINES.iter().take(6) {
        let network_words = format!(">{}", capitalized(words));
        assert!(!en.contains(&network_words), "{words} shown as it came");
    }
    assert!(
        row_of(&en, "s1").contains("Approved by the network while the bank could not be reached")
    );
    assert!(row_of(&zh, "s1").contains("由网络代为批准"));
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// The first CSRF token of the page's forms.
fn csrf_of(page: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("a form") + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].to_string()
}

#[tokio::test]
async fn chinese_pages_name_banks_in_chinese() {
    let site = site_with_banks(banks()).await;
    let li = site.li(Language::Zh).await;
    let han = site
        .holder("han@example.com", Language::En, "Han", "22")
        .await;
    site.pay(
        &li.cards[0],
        "e1",
        "Fresh Market",
        1250,
        true,
        1_795_426_860_000,
    )
    .await;
    let mut c = site.browser(LI).await;
    // `li.cards[0]` is the Bank of Hangzhou's (6222...).
    for path in ["/devices", "/cards", "/payments"] {
        let b = c.get(&site.app, path).await.body;
        assert!(b.contains("杭州银行"), "{path}");
        assert!(!b.contains("Bank of Hangzhou"), "{path}: the English name");
        // A bank without a Chinese name keeps its own.
        if path != "/payments" {
            assert!(b.contains("Pearl River Bank"), "{path}");
        }
    }
    let cards = c.get(&site.app, "/cards").await.body;
    assert!(
        art_of(&cards, &li.cards[0].card_last4).contains("aria-label=\"杭州银行，尾号"),
        "the card's text alternative"
    );
    let mut e = site.browser("han@example.com").await;
    let b = e.get(&site.app, "/cards").await.body;
    assert!(b.contains("Bank of Hangzhou") && !b.contains("杭州银行"));
    assert_eq!(han.cards.len(), 2);
}

fn is_cjk(c: char) -> bool {
    matches!(u32::from(c), 0x3000..=0x303F | 0x3400..=0x9FFF | 0xFF00..=0xFFEF)
}

/// What a reader meets on `page`: the text between tags, and the
/// attributes read aloud or announced.
fn readable_parts(page: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = page;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let close = open + rest[open..].find('>').unwrap();
        let tag = &rest[open..=close];
        for attr in ["aria-label=\"", "data-announce=\""] {
            if let Some(a) = tag.find(attr) {
                let v = &tag[a + attr.len()..];
                parts.push(v[..v.find('"').unwrap()].to_string());
            }
        }
        rest = &rest[close + 1..];
        if tag.starts_with("<script") {
            rest = &rest[rest.find("</script>").unwrap()..];
        }
    }
    text.push_str(rest);
    parts.push(text);
    parts
}

/// An ASCII ", " with Chinese on either side, and where.
fn ascii_comma_in_chinese(s: &str) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.windows(3).enumerate().find_map(|(i, w)| {
        let hit = w[1] == ',' && w[2] == ' ';
        let before = w[0];
        let after = chars.get(i + 3).copied().unwrap_or(' ');
        (hit && (is_cjk(before) || is_cjk(after))).then(|| {
            chars[i.saturating_sub(12)..(i + 16).min(chars.len())]
                .iter()
                .collect()
        })
    })
}

#[tokio::test]
async fn chinese_pages_use_full_width_punctuation() {
    let site = site_with_banks(banks()).await;
    let li = site.li(Language::Zh).await;
    site.pay(
        &li.cards[0],
        "e1",
        "Fresh Market",
        1250,
        false,
        1_795_426_860_000,
    )
    .await;
    site.pay(
        &li.cards[1],
        "e2",
        "Tea House",
        880,
        true,
        1_795_426_920_000,
    )
    .await;
    let mut c = site.browser(LI).await;
    let paths = [
        "/devices".to_string(),
        format!("/devices/{}", li.phone),
        format!("/devices/{}/turn-off", li.phone),
        format!("/devices/{}/remove-cards", li.phone),
        "/cards".to_string(),
        "/payments".to_string(),
    ];
    for path in &paths {
        let page = c.get(&site.app, path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.body.contains("<html lang=\"zh-Hans\">"));
        for part in readable_parts(&page.body) {
            assert_eq!(ascii_comma_in_chinese(&part), None, "{path}");
        }
    }
    // The devices page joins the last-seen time and the place with "，".
    let devices = c.get(&site.app, "/devices").await.body;
    assert!(
        devices.contains("</time>，<span class=\"place\">"),
        "{devices}"
    );
    // And the scan does find an ASCII comma between Chinese words.
    assert!(ascii_comma_in_chinese("已暂停, 默认").is_some());
    assert!(ascii_comma_in_chinese("Huangpu, Shanghai").is_none());
}
