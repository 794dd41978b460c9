//! Find my device over the HTTP API: places reported on every contact, the
//! bounded history, and commands queued, delivered over the device's
//! channel (also to a device that was offline), acknowledged, idempotent.
//! Runs on SQLite, or on PostgreSQL with `PAYTAP_TEST_DATABASE_URL`.

mod common;

use std::time::Duration;

use common::*;
use paytap_types::{Currency, Money, PaymentEvent};
use paytap_wallet::{Clock, MAX_OPEN_COMMANDS, MAX_PLACES_PER_DEVICE};
use serde_json::{Value, json};

fn ms(s: &Server) -> i64 {
    Clock::now_millis(&s.clock)
}

async fn places(s: &Server, t: &str, dev: &str) -> Vec<Value> {
    let r = s.get(t, &format!("/api/v1/devices/{dev}/places")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["places"].as_array().unwrap().clone()
}

async fn command(s: &Server, t: &str, dev: &str, kind: &str) -> (u16, Value) {
    let r = s
        .post(
            t,
            &format!("/api/v1/devices/{dev}/commands"),
            json!({"kind": kind}),
        )
        .await;
    (r.status, r.body)
}

async fn commands(s: &Server, t: &str, dev: &str) -> Vec<Value> {
    let r = s.get(t, &format!("/api/v1/devices/{dev}/commands")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["commands"].as_array().unwrap().clone()
}

/// The device's channel: yields each `event: command` as JSON.
struct Channel {
    resp: reqwest::Response,
    buf: String,
}

impl Channel {
    async fn open(s: &Server, t: &str, dev: &str) -> Channel {
        let resp = s
            .http
            .get(s.url(&format!("/api/v1/devices/{dev}/commands/stream")))
            .bearer_auth(t)
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
        Channel {
            resp,
            buf: String::new(),
        }
    }

    async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                if !frame.contains("event: command") {
                    continue;
                }
                let data = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap();
                return serde_json::from_str(data).unwrap();
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.resp.chunk())
                .await
                .expect("a command within 10 s")
                .unwrap()
                .unwrap();
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Nothing arrives for a while.
    async fn quiet(&mut self) {
        let got = tokio::time::timeout(Duration::from_millis(300), self.next()).await;
        assert!(got.is_err(), "unexpected command {got:?}");
    }
}

#[tokio::test]
async fn every_contact_moves_last_seen_and_places_are_bounded() {
    let s = server().await;
    let t = s.account("loc1@example.com").await;
    let (dev, _) = s.device(&t, "phone").await;
    let base = format!("/api/v1/devices/{dev}");
    assert!(places(&s, &t, &dev).await.is_empty());

    // A sync (the device fetches its payloads) is a contact.
    s.clock.advance(Duration::from_secs(60));
    assert_eq!(s.get(&t, &format!("{base}/provisioning")).await.status, 200);
    let d = s.get(&t, &base).await;
    assert_eq!(d.body["last_seen_at"].as_i64(), Some(ms(&s)));

    // A report after a payment carries the place and says why.
    s.clock.advance(Duration::from_secs(60));
    let r = s
        .post(
            &t,
            &format!("{base}/heartbeat"),
            json!({"lat": 31.2196, "lon": 121.4454, "accuracy_m": 8.0,
                   "place": "Jing'an Temple, Shanghai", "source": "payment"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["location"]["place"], "Jing'an Temple, Shanghai");
    let p = places(&s, &t, &dev).await;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0]["source"], "payment");
    assert_eq!(p[0]["accuracy_m"], 8.0);
    assert_eq!(p[0]["at"].as_i64(), Some(ms(&s)));
    let r = s
        .post(
            &t,
            &format!("{base}/heartbeat"),
            json!({"source": "teleport"}),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);

    // The history keeps the newest MAX_PLACES_PER_DEVICE, newest first.
    let n = MAX_PLACES_PER_DEVICE + 5;
    for i in 0..n {
        s.clock.advance(Duration::from_secs(1));
        let r = s
            .post(
                &t,
                &format!("{base}/heartbeat"),
                json!({"lat": 30.0 + i as f64 / 100.0, "lon": 120.0, "source": "sync"}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let p = places(&s, &t, &dev).await;
    assert_eq!(p.len() as i64, MAX_PLACES_PER_DEVICE);
    assert_eq!(p[0]["lat"], 30.0 + (n - 1) as f64 / 100.0);
    assert_eq!(p[0]["source"], "sync");
    let stored = s.count(&s.cn, "wallet_device_places").await;
    assert_eq!(stored, MAX_PLACES_PER_DEVICE);

    // Another account's device: not found, nothing read.
    let other = s.account("loc2@example.com").await;
    let r = s.get(&other, &format!("{base}/places")).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn a_payment_moves_last_seen_to_when_it_paid() {
    let s = server().await;
    let t = s.account("loc3@example.com").await;
    let (dev, _) = s.device(&t, "phone").await;
    let p = pan("8000000000077");
    s.net.issue(&p, "Bank L", Path::Green);
    let card = s.add_card(&t, &dev, &p).await.body["card"].clone();
    let at = ms(&s) + 3_600_000;
    let ev = PaymentEvent {
        event_id: "pay-1".into(),
        token_ref: card["token_ref"].as_str().unwrap().into(),
        merchant_name: "Lawson".into(),
        merchant_id: "M1".into(),
        terminal_id: "T1".into(),
        amount: Money::new(1200, Currency::CNY),
        approved: true,
        response_code: "00".into(),
        reason: "Approved".into(),
        kind: "purchase".into(),
        at_millis: at,
        saved: None,
        earned: None,
    };
    s.wallet.record_payment(&ev).await.unwrap().unwrap();
    let d = s.get(&t, &format!("/api/v1/devices/{dev}")).await;
    assert_eq!(d.body["last_seen_at"].as_i64(), Some(at));
    // An older payment arriving late does not move it back.
    let mut old = ev.clone();
    old.event_id = "pay-0".into();
    old.at_millis = at - 1000;
    s.wallet.record_payment(&old).await.unwrap().unwrap();
    let d = s.get(&t, &format!("/api/v1/devices/{dev}")).await;
    assert_eq!(d.body["last_seen_at"].as_i64(), Some(at));
}

#[tokio::test]
async fn commands_reach_a_device_that_was_offline_and_are_acknowledged() {
    let s = server().await;
    let t = s.account("loc4@example.com").await;
    let (dev, _) = s.device(&t, "phone").await;
    let base = format!("/api/v1/devices/{dev}");

    // Offline: the commands wait, queued.
    let (st, locate) = command(&s, &t, &dev, "locate").await;
    assert_eq!(st, 201, "{locate:?}");
    assert_eq!(locate["state"], "queued");
    let (st, sound) = command(&s, &t, &dev, "sound").await;
    assert_eq!(st, 201);
    // Locate again while one is open: the same command, not a second one.
    let (st, again) = command(&s, &t, &dev, "locate").await;
    assert_eq!(st, 200);
    assert_eq!(again["id"], locate["id"]);
    // Play a sound rings once per press.
    let (st, sound2) = command(&s, &t, &dev, "sound").await;
    assert_eq!(st, 201);
    assert_ne!(sound2["id"], sound["id"]);
    let (st, bad) = command(&s, &t, &dev, "explode").await;
    assert_eq!(st, 422, "{bad:?}");

    // The device comes back: every open command, oldest first, delivered.
    s.clock.advance(Duration::from_secs(30));
    let mut ch = Channel::open(&s, &t, &dev).await;
    let got: Vec<Value> = vec![ch.next().await, ch.next().await, ch.next().await];
    let ids: Vec<&Value> = got.iter().map(|c| &c["id"]).collect();
    assert_eq!(ids, vec![&locate["id"], &sound["id"], &sound2["id"]]);
    assert!(got.iter().all(|c| c["state"] == "delivered"));
    ch.quiet().await;
    let d = s.get(&t, &base).await;
    assert_eq!(d.body["last_seen_at"].as_i64(), Some(ms(&s)));

    // A new command reaches the open channel at once.
    let (_, sound3) = command(&s, &t, &dev, "sound").await;
    assert_eq!(ch.next().await["id"], sound3["id"]);

    // A locate answer without a place is refused; with one it is recorded.
    let ack = format!("{base}/commands/{}/ack", locate["id"].as_str().unwrap());
    let r = s.post(&t, &ack, json!({"ok": true})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    let here = json!({"ok": true, "lat": 31.2304, "lon": 121.4737, "accuracy_m": 15.0,
                      "place": "People's Square, Shanghai"});
    let r = s.post(&t, &ack, here.clone()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["state"], "acknowledged");
    assert_eq!(r.body["location"]["place"], "People's Square, Shanghai");
    assert_eq!(r.body["location"]["accuracy_m"], 15.0);
    let d = s.get(&t, &format!("{base}/location")).await;
    assert_eq!(d.body["location"]["lat"], 31.2304);
    assert_eq!(places(&s, &t, &dev).await[0]["source"], "command");
    // The same answer again changes nothing; a contrary one is refused.
    let r = s.post(&t, &ack, here).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["state"], "acknowledged");
    let r = s
        .post(&t, &ack, json!({"ok": false, "detail": "no fix"}))
        .await;
    assert_eq!(r.status, 409, "{:?}", r.body);
    assert_eq!(r.code(), "command_finished");
    // A malformed repeat is refused as malformed, not taken as the answer.
    let r = s
        .post(&t, &ack, json!({"ok": true, "lat": -1.6e308, "lon": 0.0}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "invalid_request"),
        "{:?}",
        r.body
    );

    // A failure is recorded with the device's words.
    let ack = format!("{base}/commands/{}/ack", sound["id"].as_str().unwrap());
    let r = s
        .post(&t, &ack, json!({"ok": false, "detail": "speaker muted"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["state"], "failed");
    assert_eq!(r.body["detail"], "speaker muted");

    // Reconnecting sends again what is still unanswered, not what is done.
    drop(ch);
    let mut ch = Channel::open(&s, &t, &dev).await;
    let a = ch.next().await;
    let b = ch.next().await;
    assert_eq!((&a["id"], &b["id"]), (&sound2["id"], &sound3["id"]));
    ch.quiet().await;

    // The owner sees every command with its state, newest first.
    let list = commands(&s, &t, &dev).await;
    let states: Vec<(&str, &str)> = list
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        vec![
            ("sound", "delivered"),
            ("sound", "delivered"),
            ("sound", "failed"),
            ("locate", "acknowledged"),
        ]
    );

    // Another account cannot queue, list or answer.
    let other = s.account("loc5@example.com").await;
    assert_eq!(command(&s, &other, &dev, "locate").await.0, 404);
    assert_eq!(s.get(&other, &format!("{base}/commands")).await.status, 404);
    let r = s
        .post(
            &other,
            &format!("{base}/commands/{}/ack", sound2["id"].as_str().unwrap()),
            json!({"ok": true}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = s
        .http
        .get(s.url(&format!("{base}/commands/stream")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_queue_is_bounded_and_idempotency_keys_replay() {
    let s = server().await;
    let t = s.account("loc6@example.com").await;
    let (dev, _) = s.device(&t, "watch").await;
    let path = format!("/api/v1/devices/{dev}/commands");
    let keyed = |key: &str| s.post_keyed(&path, &t, key).json(&json!({"kind": "sound"}));
    let first = s.send(keyed("ring-1")).await;
    assert_eq!(first.status, 201);
    let replay = s.send(keyed("ring-1")).await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body["id"], first.body["id"]);
    assert_eq!(replay.headers["idempotent-replayed"], "true");
    for _ in 1..MAX_OPEN_COMMANDS {
        assert_eq!(command(&s, &t, &dev, "sound").await.0, 201);
    }
    let (st, body) = command(&s, &t, &dev, "sound").await;
    assert_eq!(st, 409, "{body:?}");
    assert_eq!(body["error"]["code"], "command_queue_full");
    // A locate is refused too while the queue is full.
    let (st, _) = command(&s, &t, &dev, "locate").await;
    assert_eq!(st, 409);
    assert_eq!(commands(&s, &t, &dev).await.len() as i64, MAX_OPEN_COMMANDS);
}

#[tokio::test]
async fn erase_deletes_the_tokens_at_once_and_asks_the_device_to_wipe() {
    let s = server().await;
    let t = s.account("loc7@example.com").await;
    let (dev, _) = s.device(&t, "phone").await;
    let p = pan("8000000000088");
    s.net.issue(&p, "Bank E", Path::Green);
    let card = s.add_card(&t, &dev, &p).await.body["card"].clone();
    let token = card["token_ref"].as_str().unwrap().to_string();
    let (st, erase) = command(&s, &t, &dev, "erase").await;
    assert_eq!(st, 201, "{erase:?}");
    assert_eq!(
        s.net.token_state(&token),
        Some(paytap_wallet::TokenState::Deleted)
    );
    assert!(s.cards(&t, &dev).await.is_empty());
    let (st, again) = command(&s, &t, &dev, "erase").await;
    assert_eq!(st, 200);
    assert_eq!(again["id"], erase["id"]);
    let mut ch = Channel::open(&s, &t, &dev).await;
    let c = ch.next().await;
    assert_eq!(c["kind"], "erase");
    let r = s
        .post(
            &t,
            &format!(
                "/api/v1/devices/{dev}/commands/{}/ack",
                erase["id"].as_str().unwrap()
            ),
            json!({"ok": true, "detail": "secure element wiped"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["state"], "acknowledged");
    // Once answered, a new erase is a new command.
    let (st, next) = command(&s, &t, &dev, "erase").await;
    assert_eq!(st, 201);
    assert_ne!(next["id"], erase["id"]);
}
