//! The API under hostile clients, over real HTTP on loopback: slow and
//! silent connections, the connection bound, the password-hashing bound,
//! failed-login throttling per (login, address) with trusted proxies, and
//! `Idempotency-Key` scoped to its caller. Storage-backed: runs on SQLite
//! and, with `PAYTAP_TEST_DATABASE_URL`, on PostgreSQL.

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use paytap_wallet::ServerLimits;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PW: &str = "correct horse battery";

/// Guards a wait that must end; the deadlines under test are far shorter.
const HANG_GUARD: Duration = Duration::from_secs(20);

fn short_header_timeout() -> ServerLimits {
    ServerLimits {
        header_read_timeout: Duration::from_millis(300),
        ..ServerLimits::default()
    }
}

/// Reads until the server closes the connection (or resets it).
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(HANG_GUARD, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn trickled_half_sent_and_silent_connections_are_closed() {
    let s = server_with_limits(|_| {}, short_header_timeout()).await;
    let addr = s.base.trim_start_matches("http://").to_string();

    // Silent: connects and sends nothing.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    // Half-sent: part of a header block, then nothing.
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Trickled: one byte of header at a time, each well inside the
    // deadline, the whole never complete.
    let mut trickle = TcpStream::connect(&addr).await.unwrap();
    let trickler = tokio::spawn(async move {
        let header = b"GET /api/v1/openapi.json HTTP/1.1\r\nX-Slow: ".to_vec();
        for b in header.iter().chain(std::iter::repeat(&b'a')) {
            if trickle.write_all(&[*b]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let mut probe = [0u8; 1];
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(1), trickle.read(&mut probe)).await
            {
                return true;
            }
        }
        false
    });
    assert!(
        closed_by_server(&mut silent).await,
        "silent connection kept"
    );
    assert!(closed_by_server(&mut half).await, "half-sent header kept");
    let closed = tokio::time::timeout(HANG_GUARD, trickler).await;
    assert!(matches!(closed, Ok(Ok(true))), "trickled header kept open");
    // An honest client is served.
    let r = s.send(s.http.get(s.url("/api/v1/openapi.json"))).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn connections_beyond_the_bound_wait_for_a_free_one() {
    let limits = ServerLimits {
        max_connections: 2,
        ..ServerLimits::default()
    };
    let s = server_with_limits(|_| {}, limits).await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let a = TcpStream::connect(&addr).await.unwrap();
    let _b = TcpStream::connect(&addr).await.unwrap();
    // Both slots are taken: a third client is not served...
    let third = tokio::spawn({
        let http = reqwest::Client::new();
        let url = s.url("/api/v1/openapi.json");
        async move { http.get(url).send().await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!third.is_finished(), "served beyond the connection bound");
    // ...until one closes.
    drop(a);
    let status = tokio::time::timeout(HANG_GUARD, third).await.unwrap();
    assert_eq!(status.unwrap().unwrap(), 200);
}

#[tokio::test]
async fn logins_beyond_the_hash_bound_get_503_with_retry_after() {
    let s = server_with(|c| {
        c.max_concurrent_hashes = 1;
        c.max_waiting_hashes = 1;
    })
    .await;
    s.account("bound@example.com").await;
    // Two hashes in progress fill the gate (one running, one waiting).
    let gate = s.wallet.hash_gate().clone();
    let held = (gate.try_admit().unwrap(), gate.try_admit().unwrap());
    let r = s.login("bound@example.com", PW).await;
    assert_eq!((r.status, r.code()), (503, "busy"));
    assert_eq!(r.headers["retry-after"], "1");
    let r = s.register("other@example.com", None).await;
    assert_eq!((r.status, r.code()), (503, "busy"));
    assert_eq!(r.headers["retry-after"], "1");
    // A refusal costs no failed attempt, and frees nothing it did not take.
    drop(held);
    assert_eq!(s.login("bound@example.com", PW).await.status, 201);
    assert_eq!(s.register("other@example.com", None).await.status, 201);
}

#[tokio::test]
async fn the_owner_signs_in_while_an_attacker_is_throttled() {
    let s = server().await;
    s.account("owner@example.com").await;
    // The owner signs in from home: that address becomes known.
    let home = "127.0.0.2";
    assert_eq!(
        s.login_from(home, &[], "owner@example.com", PW)
            .await
            .status,
        201
    );

    // An attacker at one address: a few free guesses, then waits that grow.
    let attacker = "127.0.0.3";
    for _ in 0..3 {
        let r = s
            .login_from(attacker, &[], "owner@example.com", "guess guess")
            .await;
        assert_eq!((r.status, r.code()), (401, "invalid_credentials"));
    }
    let r = s.login_from(attacker, &[], "owner@example.com", PW).await;
    assert_eq!((r.status, r.code()), (429, "too_many_attempts"));
    assert_eq!(r.headers["retry-after"], "1");
    assert_eq!(r.message(), "too many attempts, try again in 1 second");
    s.clock.advance(Duration::from_secs(1));
    let r = s
        .login_from(attacker, &[], "owner@example.com", "guess guess")
        .await;
    assert_eq!(r.status, 401);
    let r = s
        .login_from(attacker, &[], "owner@example.com", "guess guess")
        .await;
    assert_eq!(
        (r.status, r.headers["retry-after"].to_str().unwrap()),
        (429, "2")
    );
    // An unknown login is throttled exactly alike.
    for _ in 0..3 {
        let r = s
            .login_from(attacker, &[], "ghost@example.com", "guess guess")
            .await;
        assert_eq!((r.status, r.code()), (401, "invalid_credentials"));
    }
    let r = s.login_from(attacker, &[], "ghost@example.com", PW).await;
    assert_eq!(
        (r.status, r.headers["retry-after"].to_str().unwrap()),
        (429, "1")
    );

    // The owner, at home and from a new address, is not affected.
    assert_eq!(
        s.login_from(home, &[], "owner@example.com", PW)
            .await
            .status,
        201
    );
    assert_eq!(
        s.login_from("127.0.0.4", &[], "owner@example.com", PW)
            .await
            .status,
        201
    );

    // Guessing spread over many addresses holds back strangers, never the
    // owner's known address (4 of the 50 failures came from the attacker
    // above).
    for i in 0..46 {
        let from = format!("127.0.1.{}", i + 1);
        let r = s
            .login_from(&from, &[], "owner@example.com", "guess guess")
            .await;
        assert_eq!(r.status, 401, "{from}");
    }
    let r = s
        .login_from("127.0.2.1", &[], "owner@example.com", PW)
        .await;
    assert_eq!((r.status, r.code()), (429, "too_many_attempts"));
    assert_eq!(
        s.login_from(home, &[], "owner@example.com", PW)
            .await
            .status,
        201
    );
    // And the wait ends.
    s.clock.advance(Duration::from_secs(15 * 60));
    assert_eq!(
        s.login_from("127.0.2.1", &[], "owner@example.com", PW)
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn forwarded_for_counts_only_from_a_configured_proxy() {
    let proxy = "127.0.0.9";
    let s = server_with(|c| c.trusted_proxies = proxy.parse().unwrap()).await;
    s.account("fwd@example.com").await;
    let via = |client: &'static str| [("x-forwarded-for", client)];

    // Behind the proxy, an attacker's failures slow that client only.
    for _ in 0..3 {
        let r = s
            .login_from(proxy, &via("203.0.113.7"), "fwd@example.com", "guess guess")
            .await;
        assert_eq!(r.status, 401);
    }
    let r = s
        .login_from(proxy, &via("203.0.113.7"), "fwd@example.com", PW)
        .await;
    assert_eq!(r.status, 429);
    // Another client behind the same proxy signs in.
    let r = s
        .login_from(proxy, &via("198.51.100.8"), "fwd@example.com", PW)
        .await;
    assert_eq!(r.status, 201);

    // A client that is not a proxy cannot choose its address by header.
    let direct = "127.0.0.5";
    for i in 0..3 {
        let claimed = format!("192.0.2.{i}");
        let r = s
            .login_from(
                direct,
                &[("x-forwarded-for", claimed.as_str())],
                "fwd@example.com",
                "guess guess",
            )
            .await;
        assert_eq!(r.status, 401);
    }
    let r = s
        .login_from(
            direct,
            &[("x-forwarded-for", "192.0.2.99")],
            "fwd@example.com",
            PW,
        )
        .await;
    assert_eq!(r.status, 429);
}

#[tokio::test]
async fn an_idempotency_key_never_answers_another_caller() {
    let s = server().await;
    let reg = |login: &str, key: &str| {
        s.http
            .post(s.url("/api/v1/accounts"))
            .header("Idempotency-Key", key)
            .json(&json!({"login": login, "password": PW, "display_name": "X"}))
    };
    let alice = s.send(reg("alice@example.com", "reg-shared")).await;
    assert_eq!(alice.status, 201);
    // Someone else replays Alice's key with their own body: a new account
    // of their own, nothing of Alice's.
    let mallory = s.send(reg("mallory@example.com", "reg-shared")).await;
    assert_eq!(mallory.status, 201, "{:?}", mallory.body);
    assert_eq!(mallory.body["login"], "mallory@example.com");
    assert_ne!(mallory.body["id"], alice.body["id"]);
    assert!(mallory.headers.get("idempotent-replayed").is_none());
    // Alice's own retry replays her response.
    let again = s.send(reg("alice@example.com", "reg-shared")).await;
    assert_eq!((again.status, &again.body), (201, &alice.body));
    assert_eq!(again.headers["idempotent-replayed"], "true");

    // A logged-in caller reusing a key with another body: 422.
    let t = s.account("carol@example.com").await;
    let device = |name: &str| {
        s.post_keyed("/api/v1/devices", &t, "dev-1")
            .json(&json!({"kind": "phone", "name": name, "model": "m",
                          "public_key": STANDARD.encode([7u8; 32])}))
    };
    let first = s.send(device("first")).await;
    assert_eq!(first.status, 201);
    let other = s.send(device("second")).await;
    assert_eq!(
        (other.status, other.code()),
        (422, "idempotency_body_mismatch")
    );
    assert_eq!(s.count(&s.cn, "wallet_devices").await, 1);
    // Another account's use of the same key is its own.
    let u = s.account("dave@example.com").await;
    let r = s
        .send(
            s.post_keyed("/api/v1/devices", &u, "dev-1")
                .json(&json!({"kind": "phone", "name": "first", "model": "m",
                              "public_key": STANDARD.encode([7u8; 32])})),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_ne!(r.body["id"], first.body["id"]);
}
