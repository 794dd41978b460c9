//! The wallet API driven over real HTTP on loopback. Runs on SQLite, and on
//! PostgreSQL with PAYTAP_TEST_DATABASE_URL set.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use futures::StreamExt;
use paytap_types::{Currency, Money};
use paytap_wallet::{StateReason, TokenState};
use serde_json::json;

const PW: &str = "correct horse battery";

#[tokio::test]
async fn register_login_logout() {
    let s = server().await;
    let r = s.register("Li.Lei@Example.com", None).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["login"], "li.lei@example.com");
    assert_eq!(r.body["region"], "cn");
    assert_eq!(r.body["language"], "zh");
    assert!(r.body.get("password").is_none());

    // Same login again (any case), in any region: taken.
    let r = s.register("li.lei@example.com", Some("in")).await;
    assert_eq!((r.status, r.code()), (409, "login_taken"));

    let r = s.login("li.lei@example.com", PW).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let token = r.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("pt_cn_"));
    assert_eq!(r.headers["cache-control"], "no-store");

    let r = s.get(&token, "/api/v1/account").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["display_name"], "Li Lei");

    // The token is stored hashed only.
    let (stored,): (String,) = sqlx::query_as("SELECT token_hash FROM wallet_sessions")
        .fetch_one(s.cn.pool())
        .await
        .unwrap();
    assert_ne!(stored, token);
    assert_eq!(stored.len(), 64);
    let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM wallet_accounts")
        .fetch_one(s.cn.pool())
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");

    let r = s.delete(&token, "/api/v1/sessions/current").await;
    assert_eq!(r.status, 204);
    let r = s.get(&token, "/api/v1/account").await;
    assert_eq!((r.status, r.code()), (401, "unauthenticated"));
    assert_eq!(r.headers["www-authenticate"], "Bearer");

    // No token, garbage token, unknown region token.
    let r = s.send(s.http.get(s.url("/api/v1/devices"))).await;
    assert_eq!(r.status, 401);
    for bad in [
        "nonsense",
        "pt_xx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ] {
        assert_eq!(s.get(bad, "/api/v1/devices").await.status, 401);
    }

    // Validation at registration.
    let r = s
        .send(
            s.http
                .post(s.url("/api/v1/accounts"))
                .json(&json!({"login": "not-an-email", "password": PW, "display_name": "x"})),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("login"), "{}", r.message());
    let r = s
        .send(
            s.http
                .post(s.url("/api/v1/accounts"))
                .json(&json!({"login": "a@b.cn", "password": "short", "display_name": "x"})),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("8 to 128"), "{}", r.message());
    let r = s
        .send(s.http.post(s.url("/api/v1/accounts")).json(
            &json!({"login": "a@b.cn", "password": PW, "display_name": "x", "region": "mars"}),
        ))
        .await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("cn, in"), "{}", r.message());
    for null in ["region", "language"] {
        let mut body = json!({"login": "a@b.cn", "password": PW, "display_name": "x"});
        body[null] = serde_json::Value::Null;
        let r = s
            .send(s.http.post(s.url("/api/v1/accounts")).json(&body))
            .await;
        assert_eq!((r.status, r.code()), (422, "invalid_request"), "{null}");
    }
    assert_eq!(s.count(&s.cn, "wallet_accounts").await, 1);
}

#[tokio::test]
async fn accounts_live_in_their_region() {
    let s = server().await;
    let r = s.register("+91 98765 43210", Some("in")).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["login_kind"], "phone");
    assert_eq!(s.count(&s.india, "wallet_accounts").await, 1);
    assert_eq!(s.count(&s.cn, "wallet_accounts").await, 0);
    let r = s.login("+919876543210", PW).await;
    assert_eq!(r.status, 201);
    let token = r.body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("pt_in_"));
    let (dev, _) = s.device(&token, "phone").await;
    assert_eq!(s.count(&s.india, "wallet_devices").await, 1);
    assert_eq!(s.count(&s.cn, "wallet_devices").await, 0);
    let p = pan("1000000000001");
    s.net.issue(&p, "Bank of Mumbai", Path::Green);
    assert_eq!(s.add_card(&token, &dev, &p).await.status, 201);
    assert_eq!(s.count(&s.india, "wallet_cards").await, 1);
    assert_eq!(s.count(&s.cn, "wallet_cards").await, 0);
}

#[tokio::test]
async fn an_india_account_may_speak_hindi() {
    let s = server().await;
    let body = json!({
        "login": "asha@example.in", "password": PW, "display_name": "आशा",
        "language": "hi", "region": "in"
    });
    let r = s
        .send(s.http.post(s.url("/api/v1/accounts")).json(&body))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["language"], "hi");
    let token = s.login("asha@example.in", PW).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s.get(&token, "/api/v1/account").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["language"], "hi");
    assert_eq!(r.body["display_name"], "आशा");

    let mut bad = body.clone();
    bad["login"] = json!("ravi@example.in");
    bad["language"] = json!("ta");
    let r = s
        .send(s.http.post(s.url("/api/v1/accounts")).json(&bad))
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_request"));

    let api = s.send(s.http.get(s.url("/api/v1/openapi.json"))).await;
    for schema in ["NewAccount", "Account"] {
        assert_eq!(
            api.body["components"]["schemas"][schema]["properties"]["language"]["enum"],
            json!(["en", "zh", "hi"]),
            "{schema}"
        );
    }
}

#[tokio::test]
async fn session_expires_after_its_ttl() {
    let s = server_with(|c| c.session_ttl = Duration::from_secs(3600)).await;
    let token = s.account("a@example.com").await;
    assert_eq!(s.get(&token, "/api/v1/account").await.status, 200);
    s.clock.advance(Duration::from_secs(3599));
    // Activity does not extend an absolute expiry.
    assert_eq!(s.get(&token, "/api/v1/account").await.status, 200);
    s.clock.advance(Duration::from_secs(1));
    let r = s.get(&token, "/api/v1/account").await;
    assert_eq!((r.status, r.code()), (401, "unauthenticated"));
    // Logging in again works.
    assert_eq!(s.login("a@example.com", PW).await.status, 201);
}

#[tokio::test]
async fn another_accounts_device_is_not_found_and_unchanged() {
    let s = server().await;
    let alice = s.account("alice@example.com").await;
    let bob = s.account("bob@example.com").await;
    let (dev, _) = s.device(&alice, "phone").await;
    let p = pan("2000000000001");
    s.net.issue(&p, "Bank A", Path::Green);
    let r = s.add_card(&alice, &dev, &p).await;
    assert_eq!(r.status, 201);
    let card_id = r.body["card"]["id"].as_str().unwrap().to_string();
    let token_ref = r.body["card"]["token_ref"].as_str().unwrap().to_string();

    let base = format!("/api/v1/devices/{dev}");
    for r in [
        s.get(&bob, &base).await,
        s.get(&bob, &format!("{base}/cards")).await,
        s.get(&bob, &format!("{base}/location")).await,
        s.get(&bob, &format!("{base}/provisioning")).await,
        s.post(
            &bob,
            &format!("{base}/suspend"),
            json!({"reason": "stolen"}),
        )
        .await,
        s.post(&bob, &format!("{base}/resume"), json!({})).await,
        s.post(&bob, &format!("{base}/wipe"), json!({})).await,
        s.post(
            &bob,
            &format!("{base}/heartbeat"),
            json!({"lat": 1.0, "lon": 2.0}),
        )
        .await,
        s.post(&bob, &format!("{base}/cards/{card_id}/default"), json!({}))
            .await,
        s.delete(&bob, &format!("{base}/cards/{card_id}")).await,
        s.add_card(&bob, &dev, &p).await,
    ] {
        assert_eq!((r.status, r.code()), (404, "not_found"), "{:?}", r.body);
    }
    // Bob's own list does not show it.
    let r = s.get(&bob, "/api/v1/devices").await;
    assert_eq!(r.body["devices"].as_array().unwrap().len(), 0);
    // Nothing changed for Alice, nothing reached the token service.
    let r = s.get(&alice, &base).await;
    assert_eq!(r.body["status"], "active");
    assert!(r.body["last_seen_at"].is_null());
    assert_eq!(s.cards(&alice, &dev).await.len(), 1);
    assert_eq!(s.net.token_state(&token_ref), Some(TokenState::Active));
    assert!(s.net.state_calls().is_empty());
    assert_eq!(s.net.idv_calls(), 1);
}

#[tokio::test]
async fn at_most_eight_cards_per_device() {
    let s = server().await;
    let t = s.account("d@example.com").await;
    let (dev, _) = s.device(&t, "watch").await;
    let mut pans = Vec::new();
    for i in 0..9 {
        let p = pan(&format!("30000000000{i:02}"));
        s.net.issue(&p, "Bank B", Path::Green);
        pans.push(p);
    }
    for p in pans.iter().take(8) {
        let r = s.add_card(&t, &dev, p).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
    let idv_before = s.net.idv_calls();
    let r = s.add_card(&t, &dev, &pans[8]).await;
    assert_eq!((r.status, r.code()), (409, "card_limit_reached"));
    assert!(r.message().contains("8 cards"), "{}", r.message());
    assert_eq!(s.cards(&t, &dev).await.len(), 8);
    assert_eq!(
        s.net.idv_calls(),
        idv_before,
        "refused before asking the bank"
    );
    assert_eq!(s.net.live_tokens(), 8);
    let r = s.get(&t, &format!("/api/v1/devices/{dev}")).await;
    assert_eq!(r.body["card_count"], 8);

    // Only non-deleted cards count: remove one, the ninth fits.
    let first = s.cards(&t, &dev).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = s
        .delete(&t, &format!("/api/v1/devices/{dev}/cards/{first}"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.add_card(&t, &dev, &pans[8]).await.status, 201);
    assert_eq!(s.cards(&t, &dev).await.len(), 8);
}

#[tokio::test]
async fn idv_green_yellow_red() {
    let s = server().await;
    let t = s.account("e@example.com").await;
    let (dev, key) = s.device(&t, "phone").await;

    // Green: provisioned at once, first card is the default.
    let green = pan("4000000000001");
    s.net.issue(&green, "Bank of Shanghai", Path::Green);
    let r = s.add_card(&t, &dev, &green).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["status"], "provisioned");
    let card = &r.body["card"];
    assert_eq!(card["card_last4"], &green[12..]);
    assert_eq!(card["bank_name"], "Bank of Shanghai");
    assert_eq!(card["token_state"], "active");
    assert_eq!(card["is_default"], true);
    assert!(!r.body.to_string().contains(&green));

    // The device fetches its payload and opens it with its key.
    let r = s
        .get(&t, &format!("/api/v1/devices/{dev}/provisioning"))
        .await;
    assert_eq!(r.status, 200);
    let item = &r.body["items"][0];
    let token_ref = item["token_ref"].as_str().unwrap();
    let sealed = STANDARD
        .decode(item["sealed_payload"].as_str().unwrap())
        .unwrap();
    let opened = paytap_seal::open(&key, format!("{dev}|{token_ref}").as_bytes(), &sealed).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&opened).unwrap();
    assert_eq!(v["token_ref"], token_ref);

    // Yellow: OTP wrong, then right.
    let yellow = pan("4000000000002");
    s.net.issue(
        &yellow,
        "Bank of Beijing",
        Path::Yellow {
            otp: "482913".into(),
        },
    );
    let r = s.add_card(&t, &dev, &yellow).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["status"], "otp_required");
    let pending = r.body["pending"]["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["pending"]["otp_channel"], "SMS to +86 *** **** 8000");
    assert_eq!(s.cards(&t, &dev).await.len(), 1);
    let otp_url = format!("/api/v1/devices/{dev}/pending-cards/{pending}/otp");
    let r = s.post(&t, &otp_url, json!({"code": "000000"})).await;
    assert_eq!((r.status, r.code()), (422, "otp_incorrect"));
    assert!(r.message().contains("2 attempts left"), "{}", r.message());
    let r = s.post(&t, &otp_url, json!({"code": "48291x"})).await;
    assert_eq!((r.status, r.code()), (422, "invalid_request"));
    let r = s.post(&t, &otp_url, json!({"code": "482913"})).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["card"]["bank_name"], "Bank of Beijing");
    assert_eq!(r.body["card"]["is_default"], false);
    assert_eq!(s.cards(&t, &dev).await.len(), 2);
    // The pending add is finished: replaying the code finds nothing.
    let r = s.post(&t, &otp_url, json!({"code": "482913"})).await;
    assert_eq!(r.status, 404);

    // Yellow, passcode expired at the bank (5 min) before the wallet's 10.
    let late = pan("4000000000003");
    s.net.issue(
        &late,
        "Bank of Beijing",
        Path::Yellow {
            otp: "111111".into(),
        },
    );
    let r = s.add_card(&t, &dev, &late).await;
    let pending = r.body["pending"]["id"].as_str().unwrap().to_string();
    s.clock.advance(Duration::from_secs(6 * 60));
    let url = format!("/api/v1/devices/{dev}/pending-cards/{pending}/otp");
    let r = s.post(&t, &url, json!({"code": "111111"})).await;
    assert_eq!((r.status, r.code()), (410, "otp_expired"));
    let r = s.post(&t, &url, json!({"code": "111111"})).await;
    assert_eq!((r.status, r.code()), (410, "otp_expired"));

    // Yellow, the wallet's own deadline passed.
    let r = s.add_card(&t, &dev, &late).await;
    let pending = r.body["pending"]["id"].as_str().unwrap().to_string();
    s.clock.advance(Duration::from_secs(11 * 60));
    let url = format!("/api/v1/devices/{dev}/pending-cards/{pending}/otp");
    let r = s.post(&t, &url, json!({"code": "111111"})).await;
    assert_eq!((r.status, r.code()), (410, "otp_expired"));

    // Yellow, three wrong passcodes lock it.
    let r = s.add_card(&t, &dev, &late).await;
    let pending = r.body["pending"]["id"].as_str().unwrap().to_string();
    let url = format!("/api/v1/devices/{dev}/pending-cards/{pending}/otp");
    assert_eq!(
        s.post(&t, &url, json!({"code": "999999"})).await.status,
        422
    );
    assert_eq!(
        s.post(&t, &url, json!({"code": "999999"})).await.status,
        422
    );
    let r = s.post(&t, &url, json!({"code": "999999"})).await;
    assert_eq!((r.status, r.code()), (410, "otp_locked"));
    let r = s.post(&t, &url, json!({"code": "111111"})).await;
    assert_eq!((r.status, r.code()), (410, "otp_locked"));
    assert_eq!(s.cards(&t, &dev).await.len(), 2);

    // Red: refused with the bank's reason, nothing stored.
    let red = pan("4000000000004");
    s.net.issue(
        &red,
        "Bank of Guangzhou",
        Path::Red {
            reason: "the card is blocked".into(),
        },
    );
    let r = s.add_card(&t, &dev, &red).await;
    assert_eq!((r.status, r.code()), (422, "card_declined"));
    assert!(
        r.message().contains("the card is blocked"),
        "{}",
        r.message()
    );
    // Wrong CVV for a known card: red too.
    let r = s
        .post(
            &t,
            &format!("/api/v1/devices/{dev}/cards"),
            json!({"pan": green, "expiry": "12/30", "cvv": "999", "cardholder_name": "LI LEI"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "card_declined"));
    assert_eq!(s.cards(&t, &dev).await.len(), 2);
    assert_eq!(s.net.live_tokens(), 2);

    // The same card on the same device twice: refused.
    let r = s.add_card(&t, &dev, &green).await;
    assert_eq!((r.status, r.code()), (409, "duplicate_card"));
    assert_eq!(s.cards(&t, &dev).await.len(), 2);
    assert_eq!(s.net.live_tokens(), 2);
}

#[tokio::test]
async fn a_band_holds_no_card_token() {
    let s = server().await;
    let t = s.account("f@example.com").await;
    let (band, _) = s.device(&t, "band").await;
    let r = s.get(&t, &format!("/api/v1/devices/{band}")).await;
    assert_eq!(
        r.body["capabilities"],
        json!({"card_tokens": false, "transit": true, "qr": true})
    );
    let p = pan("5000000000001");
    s.net.issue(&p, "Bank C", Path::Green);
    let r = s.add_card(&t, &band, &p).await;
    assert_eq!((r.status, r.code()), (422, "device_cannot_hold_cards"));
    assert!(r.message().contains("band"), "{}", r.message());
    assert_eq!(s.net.idv_calls(), 0);
}

#[tokio::test]
async fn remove_card_and_default() {
    let s = server().await;
    let t = s.account("g@example.com").await;
    let (dev, _) = s.device(&t, "phone").await;
    let (p1, p2) = (pan("6000000000001"), pan("6000000000002"));
    s.net.issue(&p1, "Bank D", Path::Green);
    s.net.issue(&p2, "Bank E", Path::Green);
    let c1 = s.add_card(&t, &dev, &p1).await.body["card"].clone();
    let c2 = s.add_card(&t, &dev, &p2).await.body["card"].clone();
    let (id1, id2) = (c1["id"].as_str().unwrap(), c2["id"].as_str().unwrap());

    let r = s
        .post(
            &t,
            &format!("/api/v1/devices/{dev}/cards/{id2}/default"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["is_default"], true);
    let cards = s.cards(&t, &dev).await;
    let by_id = |id: &str| cards.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(by_id(id1)["is_default"], false);
    assert_eq!(by_id(id2)["is_default"], true);

    let r = s
        .delete(&t, &format!("/api/v1/devices/{dev}/cards/{id2}"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["token_state"], "deleted");
    let tok2 = c2["token_ref"].as_str().unwrap();
    assert_eq!(s.net.token_state(tok2), Some(TokenState::Deleted));
    assert_eq!(
        s.net.state_calls(),
        vec![(
            tok2.to_string(),
            TokenState::Deleted,
            StateReason::CardRemoved
        )]
    );
    let cards = s.cards(&t, &dev).await;
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0]["id"], id1);
    assert_eq!(
        cards[0]["is_default"], true,
        "the remaining card becomes the default"
    );
    // Removing again is harmless; the network is not asked twice.
    let r = s
        .delete(&t, &format!("/api/v1/devices/{dev}/cards/{id2}"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.net.state_calls().len(), 1);
    // A deleted card cannot become the default.
    let r = s
        .post(
            &t,
            &format!("/api/v1/devices/{dev}/cards/{id2}/default"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 404);

    // Network down: the removal fails and nothing changes.
    s.net.set_unavailable(true);
    let r = s
        .delete(&t, &format!("/api/v1/devices/{dev}/cards/{id1}"))
        .await;
    assert_eq!((r.status, r.code()), (502, "network_unavailable"));
    assert_eq!(s.cards(&t, &dev).await.len(), 1);
}

#[tokio::test]
async fn lost_resume_wipe() {
    let s = server().await;
    let t = s.account("h@example.com").await;
    let (dev, _) = s.device(&t, "phone").await;
    let mut refs = Vec::new();
    for i in 0..3 {
        let p = pan(&format!("70000000000{i:02}"));
        s.net.issue(&p, "Bank F", Path::Green);
        let r = s.add_card(&t, &dev, &p).await;
        refs.push(r.body["card"]["token_ref"].as_str().unwrap().to_string());
    }
    let base = format!("/api/v1/devices/{dev}");
    let r = s.suspend(&t, &dev, "lost").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["status"], "suspended");
    assert_eq!(r.body["suspend_reason"], "lost");
    for tr in &refs {
        assert_eq!(s.net.token_state(tr), Some(TokenState::Suspended));
    }
    assert!(
        s.net
            .state_calls()
            .iter()
            .all(|c| c.1 == TokenState::Suspended && c.2 == StateReason::DeviceLost)
    );
    assert!(
        s.cards(&t, &dev)
            .await
            .iter()
            .all(|c| c["token_state"] == "suspended")
    );
    // Idempotent: suspending again asks the network nothing more.
    let r = s.suspend(&t, &dev, "stolen").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["suspend_reason"], "stolen");
    assert_eq!(s.net.state_calls().len(), 3);
    // No new card on a suspended device.
    let p = pan("7000000000099");
    s.net.issue(&p, "Bank F", Path::Green);
    let r = s.add_card(&t, &dev, &p).await;
    assert_eq!((r.status, r.code()), (409, "device_suspended"));
    // Bad reason.
    let r = s
        .post(
            &t,
            &format!("{base}/suspend"),
            json!({"reason": "misplaced"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("lost"), "{}", r.message());

    let r = s.post(&t, &format!("{base}/resume"), json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["status"], "active");
    assert!(r.body["suspend_reason"].is_null());
    for tr in &refs {
        assert_eq!(s.net.token_state(tr), Some(TokenState::Active));
    }
    let r = s.post(&t, &format!("{base}/resume"), json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.net.state_calls().len(), 6);

    let r = s.post(&t, &format!("{base}/wipe"), json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["card_count"], 0);
    for tr in &refs {
        assert_eq!(s.net.token_state(tr), Some(TokenState::Deleted));
    }
    assert!(s.cards(&t, &dev).await.is_empty());
    let r = s.post(&t, &format!("{base}/wipe"), json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(s.net.state_calls().len(), 9);
}

#[tokio::test]
async fn history_and_live_notifications() {
    let s = server().await;
    let t = s.account("i@example.com").await;
    let other = s.account("j@example.com").await;
    let (dev, _) = s.device(&t, "phone").await;
    let p = pan("8000000000001");
    s.net.issue(&p, "Bank G", Path::Green);
    let card = s.add_card(&t, &dev, &p).await.body["card"].clone();
    let token_ref = card["token_ref"].as_str().unwrap().to_string();

    // Subscribe over SSE first.
    let resp = s
        .http
        .get(s.url("/api/v1/events"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = resp.bytes_stream();
    // The other account's stream.
    let other_resp = s
        .http
        .get(s.url("/api/v1/events"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(other_resp.status(), 200);

    let t0 = 1_795_000_000_000;
    for (i, minor) in [1250i64, 9900, 300, 45000].iter().enumerate() {
        let mut ev = event(
            &format!("ev{i}"),
            &token_ref,
            *minor,
            i != 3,
            t0 + i as i64 * 1000,
        );
        if i == 1 {
            // An instant discount and a cashback from the offers.
            ev.saved = Some(Money::new(1000, Currency::CNY));
            ev.earned = Some(Money::new(250, Currency::CNY));
        }
        let rec = s.wallet.record_payment(&ev).await.unwrap();
        assert!(rec.is_some());
    }
    // Duplicate event and unknown token: ignored.
    assert!(
        s.wallet
            .record_payment(&event("ev0", &token_ref, 1250, true, t0))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.wallet
            .record_payment(&event("evx", "tok-unknown", 1, true, t0))
            .await
            .unwrap()
            .is_none()
    );

    // The SSE stream carries the four payments in order.
    let mut buf = String::new();
    while buf.matches("event: payment").count() < 4 {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("payment notification")
            .unwrap()
            .unwrap();
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let datas: Vec<serde_json::Value> = buf
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(datas.len(), 4);
    assert_eq!(
        datas[0]["amount"],
        json!({"minor": 1250, "currency": "CNY"})
    );
    assert_eq!(datas[0]["amount_display"], "12.50");
    assert_eq!(datas[3]["approved"], false);
    assert_eq!(datas[3]["reason"], "Insufficient funds");
    assert!(!buf.contains(&p));

    // History: newest first, paginated.
    let r = s.get(&t, "/api/v1/transactions?limit=3").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let items = r.body["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["ev3", "ev2", "ev1"]);
    assert_eq!(items[0]["merchant_name"], "Lawson Shanghai");
    assert_eq!(items[0]["card_last4"], &p[12..]);
    assert_eq!(items[0]["bank_name"], "Bank G");
    assert_eq!(items[0]["response_code"], "51");
    assert_eq!(items[0]["saved"], json!({"minor": 0, "currency": "CNY"}));
    assert_eq!(items[2]["saved"], json!({"minor": 1000, "currency": "CNY"}));
    assert_eq!(items[2]["earned"], json!({"minor": 250, "currency": "CNY"}));
    let cursor = r.body["next_cursor"].as_str().unwrap().to_string();
    let r = s
        .get(&t, &format!("/api/v1/transactions?limit=3&cursor={cursor}"))
        .await;
    let ids: Vec<&str> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ev0"]);
    assert!(r.body["next_cursor"].is_null());
    // Bad paging input.
    assert_eq!(s.get(&t, "/api/v1/transactions?limit=0").await.status, 422);
    assert_eq!(
        s.get(&t, "/api/v1/transactions?limit=abc").await.status,
        400
    );
    assert_eq!(
        s.get(&t, "/api/v1/transactions?cursor=!!").await.status,
        422
    );

    // The other account sees nothing.
    let r = s.get(&other, "/api/v1/transactions").await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 0);
    // And its stream got nothing: a payment of its own arrives first.
    let (odev, _) = s.device(&other, "watch").await;
    let op = pan("8000000000002");
    s.net.issue(&op, "Bank H", Path::Green);
    let oref = s.add_card(&other, &odev, &op).await.body["card"]["token_ref"]
        .as_str()
        .unwrap()
        .to_string();
    s.wallet
        .record_payment(&event("own", &oref, 700, true, t0 + 9000))
        .await
        .unwrap();
    let mut ostream = other_resp.bytes_stream();
    let mut obuf = String::new();
    while !obuf.contains("event: payment") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), ostream.next())
            .await
            .expect("notification")
            .unwrap()
            .unwrap();
        obuf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(obuf.contains("\"id\":\"own\""));
    assert!(!obuf.contains("ev0"));

    // Events fed through the broadcast pump land too.
    let (tx, rx) = tokio::sync::broadcast::channel(16);
    let pump = s.wallet.spawn_event_pump(rx);
    tx.send(event("pumped", &token_ref, 1, true, t0 + 10_000))
        .unwrap();
    drop(tx);
    pump.await.unwrap();
    let r = s.get(&t, "/api/v1/transactions?limit=1").await;
    assert_eq!(r.body["items"][0]["id"], "pumped");
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let s = server().await;
    let t = s.account("k@example.com").await;
    let (dev, _) = s.device(&t, "phone").await;
    let url = s.url(&format!("/api/v1/devices/{dev}/cards"));
    let good = pan("9000000000001");
    s.net.issue(&good, "Bank I", Path::Green);

    // Malformed JSON.
    let r = s
        .send(
            s.http
                .post(&url)
                .bearer_auth(&t)
                .header("content-type", "application/json")
                .body("{\"pan\": \"6212"),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "malformed_json"));
    // Not JSON at all.
    let r = s
        .send(s.http.post(&url).bearer_auth(&t).body("pan=1"))
        .await;
    assert_eq!(r.status, 415);
    // Missing field.
    let r = s
        .post(
            &t,
            &format!("/api/v1/devices/{dev}/cards"),
            json!({"pan": good, "expiry": "12/30", "cardholder_name": "LI LEI"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_request"));
    assert!(
        r.message().contains("missing field `cvv`"),
        "{}",
        r.message()
    );
    // Wrong type: the number is not echoed back.
    let digits: u64 = good.parse().unwrap();
    let r = s
        .post(
            &t,
            &format!("/api/v1/devices/{dev}/cards"),
            json!({"pan": digits, "expiry": "12/30", "cvv": "123", "cardholder_name": "LI LEI"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert!(r.message().contains("invalid type"), "{}", r.message());
    assert!(!r.body.to_string().contains(&good));
    // Oversized body.
    let big = "x".repeat(70 * 1024);
    let r = s
        .post(
            &t,
            &format!("/api/v1/devices/{dev}/cards"),
            json!({"pan": good, "expiry": "12/30", "cvv": "123", "cardholder_name": big}),
        )
        .await;
    assert_eq!((r.status, r.code()), (413, "body_too_large"));

    let card = |pan: &str, expiry: &str, cvv: &str| json!({"pan": pan, "expiry": expiry, "cvv": cvv, "cardholder_name": "LI LEI"});
    let mut bad_luhn = good.clone();
    let last = bad_luhn.pop().unwrap();
    bad_luhn.push(if last == '9' {
        '0'
    } else {
        (last as u8 + 1) as char
    });
    let cases = [
        (card(&bad_luhn, "12/30", "123"), "pan", "not valid"),
        (
            card("62123456789", "12/30", "123"),
            "pan",
            "12 to 19 digits",
        ),
        (
            card("62123456789012345678", "12/30", "123"),
            "pan",
            "12 to 19 digits",
        ),
        (card("6212abcd", "12/30", "123"), "pan", "only digits"),
        (card(&good, "01/20", "123"), "expiry", "expired"),
        (card(&good, "13/30", "123"), "expiry", "MM/YY"),
        (card(&good, "12/30", "12"), "cvv", "3 digits"),
        (card(&good, "12/30", "12a"), "cvv", "3 digits"),
        (
            json!({"pan": good, "expiry": "12/30", "cvv": "123", "cardholder_name": "  "}),
            "cardholder_name",
            "empty",
        ),
    ];
    for (body, field, text) in cases {
        let r = s
            .post(&t, &format!("/api/v1/devices/{dev}/cards"), body)
            .await;
        assert_eq!((r.status, r.code()), (422, "invalid_request"), "{field}");
        assert!(r.message().starts_with(field), "{}", r.message());
        assert!(r.message().contains(text), "{}", r.message());
        assert!(!r.body.to_string().contains(&good));
        assert!(!r.body.to_string().contains(&bad_luhn));
    }
    // Devices and heartbeats validate too.
    for body in [
        json!({"kind": "tablet", "name": "x", "model": "y", "public_key": STANDARD.encode([1u8; 32])}),
        json!({"kind": "phone", "name": "x", "model": "y", "public_key": "not base64!"}),
        json!({"kind": "phone", "name": "x", "model": "y", "public_key": STANDARD.encode([1u8; 16])}),
        json!({"kind": "phone", "name": "", "model": "y", "public_key": STANDARD.encode([1u8; 32])}),
        json!({"kind": "phone", "name": "x", "model": "y"}),
    ] {
        let r = s.post(&t, "/api/v1/devices", body).await;
        assert_eq!(r.status, 422, "{:?}", r.body);
    }
    for body in [
        json!({"lat": 91.0, "lon": 0.0}),
        json!({"lat": 10.0}),
        json!({"lat": 1.0, "lon": 1.0, "accuracy_m": -1.0}),
        json!({"place": "Nowhere"}),
        // A field that may be left out may not be null.
        json!({"accuracy_m": null, "source": "payment"}),
        json!({"lat": null, "lon": null}),
        json!({"lat": 1.0, "lon": 1.0, "place": null}),
        // An array is no body of this API, even where every field may be left out.
        json!([]),
        json!([1.0, 2.0]),
    ] {
        let r = s
            .post(&t, &format!("/api/v1/devices/{dev}/heartbeat"), body)
            .await;
        assert_eq!(r.status, 422, "{:?}", r.body);
    }

    // Nothing changed anywhere.
    assert_eq!(s.net.idv_calls(), 0);
    assert_eq!(s.count(&s.cn, "wallet_cards").await, 0);
    assert_eq!(s.count(&s.cn, "wallet_devices").await, 1);
    let r = s.get(&t, &format!("/api/v1/devices/{dev}")).await;
    assert!(r.body["last_seen_at"].is_null());
    // And the good card still goes through.
    assert_eq!(s.add_card(&t, &dev, &good).await.status, 201);
}

#[tokio::test]
async fn heartbeat_and_find_my_device() {
    let s = server().await;
    let t = s.account("l@example.com").await;
    let (dev, _) = s.device(&t, "watch").await;
    let r = s.get(&t, &format!("/api/v1/devices/{dev}/location")).await;
    assert_eq!(r.status, 200);
    assert!(r.body["location"].is_null());
    let r = s
        .post(&t, &format!("/api/v1/devices/{dev}/heartbeat"), json!({}))
        .await;
    assert_eq!(r.status, 200);
    let seen = r.body["last_seen_at"].as_i64().unwrap();
    assert_eq!(seen, paytap_wallet::Clock::now_millis(&s.clock));
    assert!(r.body["location"].is_null());
    s.clock.advance(Duration::from_secs(60));
    let r = s
        .post(
            &t,
            &format!("/api/v1/devices/{dev}/heartbeat"),
            json!({"lat": 31.2304, "lon": 121.4737, "accuracy_m": 12.5, "place": "People's Square, Shanghai"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = s.get(&t, &format!("/api/v1/devices/{dev}/location")).await;
    let loc = &r.body["location"];
    assert_eq!(loc["lat"], 31.2304);
    assert_eq!(loc["lon"], 121.4737);
    assert_eq!(loc["accuracy_m"], 12.5);
    assert_eq!(loc["place"], "People's Square, Shanghai");
    assert_eq!(r.body["last_seen_at"].as_i64().unwrap(), seen + 60_000);
    // A bare heartbeat keeps the last position.
    s.clock.advance(Duration::from_secs(60));
    s.post(&t, &format!("/api/v1/devices/{dev}/heartbeat"), json!({}))
        .await;
    let r = s.get(&t, &format!("/api/v1/devices/{dev}/location")).await;
    assert_eq!(r.body["location"]["lat"], 31.2304);
    assert_eq!(r.body["location"]["at"].as_i64().unwrap(), seen + 60_000);
    assert_eq!(r.body["last_seen_at"].as_i64().unwrap(), seen + 120_000);
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_response() {
    let s = server().await;
    let t = s.account("m@example.com").await;
    let key = "4f1c2a9e-device-1";
    let body = json!({"kind": "phone", "name": "p", "model": "m",
                      "public_key": STANDARD.encode([7u8; 32])});
    let first = s
        .send(s.post_keyed("/api/v1/devices", &t, key).json(&body))
        .await;
    assert_eq!(first.status, 201);
    let again = s
        .send(s.post_keyed("/api/v1/devices", &t, key).json(&body))
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(s.count(&s.cn, "wallet_devices").await, 1);
    let dev = first.body["id"].as_str().unwrap().to_string();

    // A card add retried with its key: one card, one token.
    let p = pan("1100000000001");
    s.net.issue(&p, "Bank J", Path::Green);
    let add = || {
        s.post_keyed(&format!("/api/v1/devices/{dev}/cards"), &t, "card-add-1")
            .json(&json!({"pan": p, "expiry": "12/30", "cvv": "123", "cardholder_name": "LI LEI"}))
    };
    let a = s.send(add()).await;
    let b = s.send(add()).await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_eq!(a.body, b.body);
    assert_eq!(s.net.provision_calls(), 1);
    assert_eq!(s.cards(&t, &dev).await.len(), 1);

    // The same key on another route: refused.
    let r = s
        .send(s.post_keyed(&format!("/api/v1/devices/{dev}/wipe"), &t, key))
        .await;
    assert_eq!((r.status, r.code()), (409, "idempotency_key_reused"));
    assert_eq!(s.cards(&t, &dev).await.len(), 1);
    // Keys are per account: another account may use the same key.
    let u = s.account("n@example.com").await;
    let r = s
        .send(s.post_keyed("/api/v1/devices", &u, key).json(&body))
        .await;
    assert_eq!(r.status, 201);
    assert_ne!(r.body["id"], first.body["id"]);
    // Registration is idempotent too.
    let reg = || {
        s.http
            .post(s.url("/api/v1/accounts"))
            .header("Idempotency-Key", "reg-1")
            .json(&json!({"login": "o@example.com", "password": PW, "display_name": "O"}))
    };
    let a = s.send(reg()).await;
    let b = s.send(reg()).await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_eq!(a.body["id"], b.body["id"]);
    // Bad key.
    let r = s
        .send(s.post_keyed("/api/v1/devices", &t, "").json(&body))
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let s = server().await;
    let t = s.account("p@example.com").await;
    let r = s.send(s.http.get(s.url("/api/v1/openapi.json"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["openapi"], "3.1.0");
    let paths = r.body["paths"].as_object().unwrap();
    for (method, path) in paytap_wallet::http::ROUTES {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} not described"
        );
        // And the route is really served: the router's own "no route" or
        // "wrong method" answers have no JSON body.
        if *path == "/api/v1/events" {
            continue;
        }
        let concrete = path
            .replace("{device_id}", "00000000-0000-0000-0000-000000000000")
            .replace("{card_id}", "c")
            .replace("{pending_id}", "p");
        let rb = match *method {
            "get" => s.http.get(s.url(&concrete)),
            "post" => s.http.post(s.url(&concrete)).json(&json!({})),
            "delete" => s.http.delete(s.url(&concrete)),
            "put" => s.http.put(s.url(&concrete)).json(&json!({})),
            other => panic!("method {other}"),
        };
        let resp = s.send(rb.bearer_auth(&t)).await;
        assert!(
            !resp.body.is_null() || resp.status == 204,
            "{method} {path} is not routed ({})",
            resp.status
        );
    }
    let described: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(described, paytap_wallet::http::ROUTES.len());
}

#[tokio::test]
async fn concurrent_adds_never_exceed_the_limit() {
    let s = server().await;
    let t = s.account("q@example.com").await;
    let (dev, _) = s.device(&t, "phone").await;
    for i in 0..7 {
        let p = pan(&format!("12000000000{i:02}"));
        s.net.issue(&p, "Bank K", Path::Green);
        assert_eq!(s.add_card(&t, &dev, &p).await.status, 201);
    }
    let racers: Vec<String> = (0..4)
        .map(|i| {
            let p = pan(&format!("12000000001{i:02}"));
            s.net.issue(&p, "Bank K", Path::Green);
            p
        })
        .collect();
    let results = futures::future::join_all(racers.iter().map(|p| s.add_card(&t, &dev, p))).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(s.cards(&t, &dev).await.len(), 8);
    // Tokens provisioned by the losers were deleted again at the network.
    assert_eq!(s.net.live_tokens(), 8);
    assert!(
        s.net
            .state_calls()
            .iter()
            .all(|c| c.1 == TokenState::Deleted && c.2 == StateReason::ProvisioningRolledBack)
    );
}

#[tokio::test]
async fn housekeeping_purges_only_what_expired() {
    let s = server_with(|c| c.session_ttl = Duration::from_secs(3600)).await;
    let old = s.account("r@example.com").await;
    let (dev, _) = s.device(&old, "phone").await;
    s.send(
        s.post_keyed(&format!("/api/v1/devices/{dev}/heartbeat"), &old, "hb-1")
            .json(&json!({})),
    )
    .await;
    s.clock.advance(Duration::from_secs(2 * 3600));
    let fresh = s.login("r@example.com", PW).await.body["token"]
        .as_str()
        .unwrap()
        .to_string();
    // Logging in already dropped the account's expired session.
    assert_eq!(s.count(&s.cn, "wallet_sessions").await, 1);
    s.clock.advance(Duration::from_secs(23 * 3600));
    let removed = s.wallet.purge_expired().await.unwrap();
    // The fresh session expired too by now; the idempotent response aged out.
    assert_eq!(removed, 2);
    assert_eq!(s.count(&s.cn, "wallet_sessions").await, 0);
    assert_eq!(s.count(&s.cn, "wallet_idempotency").await, 0);
    assert_eq!(s.get(&fresh, "/api/v1/account").await.status, 401);
    assert_eq!(s.count(&s.cn, "wallet_devices").await, 1);
}

#[tokio::test]
async fn logout_ends_the_event_stream() {
    let s = server().await;
    let t = s.account("s@example.com").await;
    let (dev, _) = s.device(&t, "phone").await;
    let p = pan("1300000000001");
    s.net.issue(&p, "Bank L", Path::Green);
    let token_ref = s.add_card(&t, &dev, &p).await.body["card"]["token_ref"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = s
        .http
        .get(s.url("/api/v1/events"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    assert_eq!(s.delete(&t, "/api/v1/sessions/current").await.status, 204);
    s.wallet
        .record_payment(&event("after-logout", &token_ref, 100, true, 1))
        .await
        .unwrap();
    let mut buf = String::new();
    while let Some(Ok(chunk)) = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("the stream ends")
    {
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(!buf.contains("after-logout"), "{buf}");
}
