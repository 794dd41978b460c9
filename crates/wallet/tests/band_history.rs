//! A band's offline payments in its owner's history (`GET
//! /api/v1/transactions`), merged by time with the card payments and paged
//! with them, over a band port that keeps its operations in memory. The
//! port answers for any device it is asked about, so that another
//! account's bands staying out of a history is the wallet's doing. Runs on
//! SQLite, and on PostgreSQL with PAYTAP_TEST_DATABASE_URL set.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use paytap_types::{Currency, Money, PaymentEvent};
use paytap_wallet::{BandBound, BandHistory, BandOperation, BoxFuture};
use serde_json::Value;

/// Band operations by device id, and the devices it was asked about.
#[derive(Default)]
struct Bands {
    ops: Mutex<Vec<(String, BandOperation)>>,
    asked: Mutex<Vec<(String, String)>>,
}

impl BandHistory for Bands {
    fn operations<'a>(
        &'a self,
        owner: &'a str,
        device_id: &'a str,
        before: BandBound,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<BandOperation>, String>> {
        self.asked
            .lock()
            .unwrap()
            .push((owner.to_owned(), device_id.to_owned()));
        let mut mine: Vec<BandOperation> = self
            .ops
            .lock()
            .unwrap()
            .iter()
            .filter(|(d, o)| {
                d == device_id
                    && (o.code_time, o.counter, o.register.as_str())
                        < (before.time, before.counter, before.register.as_str())
            })
            .map(|(_, o)| o.clone())
            .collect();
        mine.sort_by(|a, b| {
            (b.code_time, b.counter, &b.register).cmp(&(a.code_time, a.counter, &a.register))
        });
        mine.truncate(limit as usize);
        Box::pin(async move { Ok(mine) })
    }
}

fn op(counter: i64, register: &str, code_time: i64, minor: i64) -> BandOperation {
    BandOperation {
        counter,
        register: register.into(),
        merchant: "TEA-01".into(),
        amount: Money::new(minor, Currency::CNY),
        code_time,
        paid: true,
        from_reserve: false,
        double_spend: false,
        reason: None,
    }
}

fn card_payment(id: &str, token_ref: &str, at: i64) -> PaymentEvent {
    PaymentEvent {
        event_id: id.into(),
        token_ref: token_ref.into(),
        merchant_name: "Lawson Shanghai".into(),
        merchant_id: "M0001".into(),
        terminal_id: "T0001".into(),
        amount: Money::new(1_000, Currency::CNY),
        approved: true,
        response_code: "00".into(),
        reason: "Approved".into(),
        kind: "purchase".into(),
        at_millis: at,
        saved: None,
        earned: None,
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn band_payments_join_the_history_by_time_and_only_the_owners() {
    let s = server().await;
    let bands = Arc::new(Bands::default());
    s.wallet.attach_band_history(bands.clone());
    let t = s.account("band-owner@example.com").await;
    let other = s.account("someone-else@example.com").await;
    let (phone, _) = s.device(&t, "phone").await;
    let (band, _) = s.device(&t, "band").await;
    let (other_band, _) = s.device(&other, "band").await;
    let p = pan("7100000000001");
    s.net.issue(&p, "Bank B", Path::Green);
    let token_ref = s.add_card(&t, &phone, &p).await.body["card"]["token_ref"]
        .as_str()
        .unwrap()
        .to_owned();

    // Card payments at 100 s and 103 s; band codes at 101 s (two, one
    // counter taken at two registers: a copied code), 102 s and 104 s.
    for (id, at) in [("card-a", 100_000), ("card-b", 103_000)] {
        let e = card_payment(id, &token_ref, at);
        assert!(s.wallet.record_payment(&e).await.unwrap().is_some());
    }
    let mut copied = op(2, "REG-2", 101, 850);
    copied.double_spend = true;
    copied.reason = Some("same_code_elsewhere".into());
    let mut refused = op(4, "REG-1", 104, 99_000);
    refused.paid = false;
    refused.reason = Some("uncovered".into());
    let mut reserve = op(3, "REG-1", 102, 300);
    reserve.from_reserve = true;
    for o in [op(2, "REG-1", 101, 850), copied, reserve, refused] {
        bands.ops.lock().unwrap().push((band.clone(), o));
    }
    bands
        .ops
        .lock()
        .unwrap()
        .push((other_band.clone(), op(1, "REG-9", 105, 4_200)));

    let row = |c: i64, reg: &str| format!("band:{band}:{c:020}:{reg}");
    let want = [
        row(4, "REG-1"),
        "card-b".to_owned(),
        row(3, "REG-1"),
        row(2, "REG-2"),
        row(2, "REG-1"),
        "card-a".to_owned(),
    ];
    // One page, then the same in pages of two through the cursor.
    let r = s.get(&t, "/api/v1/transactions").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(ids(&r.body), want);
    let mut paged = Vec::new();
    let mut path = "/api/v1/transactions?limit=2".to_owned();
    loop {
        let r = s.get(&t, &path).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        paged.extend(ids(&r.body));
        match r.body["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/transactions?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(paged, want);

    // What a band row says.
    let items = r_items(&s, &t).await;
    let refused = &items[0];
    assert_eq!(refused["channel"], "band");
    assert_eq!(refused["kind"], "offline_qr");
    assert_eq!(refused["band_outcome"], "refused");
    assert_eq!(refused["approved"], false);
    assert_eq!(refused["reason"], "uncovered");
    assert_eq!(refused["device_id"], band.as_str());
    assert_eq!(refused["merchant_id"], "TEA-01");
    assert_eq!(refused["terminal_id"], "REG-1");
    assert_eq!(refused["at"], 104_000);
    assert_eq!(refused["amount_display"], "990.00");
    assert_eq!(items[1]["channel"], "card");
    assert!(items[1]["band_outcome"].is_null());
    assert_eq!(items[2]["band_outcome"], "paid_from_reserve");
    assert_eq!(items[3]["band_outcome"], "double_spend");
    assert_eq!(items[3]["approved"], true);
    assert_eq!(items[4]["band_outcome"], "paid");

    // The other account sees its own band's payment only, and the wallet
    // asked about each band for its owner alone.
    let r = s.get(&other, "/api/v1/transactions").await;
    assert_eq!(ids(&r.body), [format!("band:{other_band}:{:020}:REG-9", 1)]);
    let asked = bands.asked.lock().unwrap().clone();
    assert!(asked.iter().any(|(_, d)| d == &other_band));
    for (who, device) in asked {
        assert_eq!(who, owner_of(&s, &device).await, "{device}");
    }
}

async fn r_items(s: &Server, t: &str) -> Vec<Value> {
    let r = s.get(t, "/api/v1/transactions").await;
    r.body["items"].as_array().unwrap().clone()
}

/// The account a device is registered to.
async fn owner_of(s: &Server, device: &str) -> String {
    let (owner,): (String,) = sqlx::query_as("SELECT account_id FROM wallet_devices WHERE id = $1")
        .bind(device)
        .fetch_one(s.cn.pool())
        .await
        .unwrap();
    owner
}

#[tokio::test]
async fn without_a_band_port_the_history_holds_card_payments_only() {
    let s = server().await;
    let t = s.account("no-port@example.com").await;
    s.device(&t, "band").await;
    let r = s.get(&t, "/api/v1/transactions").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(ids(&r.body).is_empty());
}

#[tokio::test]
async fn uploaded_band_operations_reach_the_owners_live_feed_only() {
    let s = server().await;
    let t = s.account("band-feed@example.com").await;
    let other = s.account("not-the-owner@example.com").await;
    let (band, _) = s.device(&t, "band").await;
    let p = s.wallet.authenticate(&t).await.unwrap();
    let q = s.wallet.authenticate(&other).await.unwrap();
    let mut mine = s.wallet.subscribe_payments(&p).await.unwrap();
    let mut theirs = s.wallet.subscribe_payments(&q).await.unwrap();

    // Another band id: nothing is sent.
    let sent = s
        .wallet
        .publish_band_operations(&p.account_id, |_| false, vec![op(1, "REG-1", 100, 850)])
        .await
        .unwrap();
    assert_eq!(sent, 0);
    let mut refused = op(2, "REG-1", 101, 99_000);
    refused.paid = false;
    refused.reason = Some("uncovered".into());
    let sent = s
        .wallet
        .publish_band_operations(
            &p.account_id,
            |d| d == band,
            vec![op(1, "REG-1", 100, 850), refused],
        )
        .await
        .unwrap();
    assert_eq!(sent, 2);
    let first = mine.next().await.unwrap();
    assert_eq!(first.id, format!("band:{band}:{:020}:REG-1", 1));
    assert_eq!((first.channel.as_str(), first.approved), ("band", true));
    let second = mine.next().await.unwrap();
    assert_eq!(
        (second.approved, second.reason.as_str()),
        (false, "uncovered")
    );
    let none = tokio::time::timeout(std::time::Duration::from_millis(50), theirs.next()).await;
    assert!(none.is_err(), "another account's feed heard a band payment");
}
