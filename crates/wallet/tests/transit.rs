//! The account's transit cards (`GET /api/v1/transit/cards`) and a lost
//! device's cards hotlisted, over an operators' port that keeps its cards
//! in memory and answers for any device it is asked about, so that another
//! account's cards staying out of a listing is the wallet's doing. Runs on
//! SQLite, and on PostgreSQL with PAYTAP_TEST_DATABASE_URL set.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use paytap_types::DeviceKind;
use paytap_wallet::{
    BoxFuture, TransitCard, TransitCards, TransitFailure, TransitMoveOrder, TransitTrip,
};
use serde_json::{Value, json};

/// Cards by device, the devices reported lost, and a switch that makes
/// every call fail (an operator that does not answer).
#[derive(Default)]
struct Operators {
    cards: Mutex<Vec<TransitCard>>,
    lost: Mutex<Vec<String>>,
    down: AtomicBool,
}

impl TransitCards for Operators {
    fn order_move<'a>(
        &'a self,
        operator: &'a str,
        from_card: &'a str,
        to_card: &'a str,
    ) -> BoxFuture<'a, Result<TransitMoveOrder, TransitFailure>> {
        let cards = self.cards.lock().unwrap();
        let from = cards.iter().find(|c| c.card_id == from_card).cloned();
        let answer = match from {
            Some(c) if c.status == "lost" && c.operator == operator => Ok(TransitMoveOrder {
                move_id: format!("order-{from_card}"),
                from_card_id: from_card.to_owned(),
                to_card_id: to_card.to_owned(),
                amount: c.balance,
                gates_waiting: 0,
                moved: false,
            }),
            _ => Err(TransitFailure::Refused(
                "the card is not reported lost".into(),
            )),
        };
        Box::pin(async move { answer })
    }

    fn device_cards<'a>(
        &'a self,
        device_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TransitCard>, String>> {
        let down = self.down.load(Ordering::SeqCst);
        let mine: Vec<TransitCard> = self
            .cards
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.device_id == device_id)
            .cloned()
            .collect();
        Box::pin(async move { if down { Err("down".into()) } else { Ok(mine) } })
    }

    fn device_lost<'a>(&'a self, device_id: &'a str) -> BoxFuture<'a, Result<usize, String>> {
        if self.down.load(Ordering::SeqCst) {
            return Box::pin(async { Err("down".to_owned()) });
        }
        self.lost.lock().unwrap().push(device_id.to_owned());
        let mut cards = self.cards.lock().unwrap();
        let mut n = 0;
        for c in cards.iter_mut().filter(|c| c.device_id == device_id) {
            c.status = "lost".into();
            n += 1;
        }
        Box::pin(async move { Ok(n) })
    }
}

fn card(device_id: &str, last: &str, balance: i64) -> TransitCard {
    TransitCard {
        operator: "beijing".into(),
        card_name: "Beijing Yikatong".into(),
        card_id: format!("fp-{last}"),
        last_digits: last.into(),
        device_id: device_id.into(),
        device_name: String::new(),
        device_kind: DeviceKind::Phone,
        issued_at: 1_000,
        currency: "CNY".into(),
        balance,
        device_balance: None,
        device_read_at: None,
        status: "active".into(),
        moved: false,
        move_ordered_to: None,
        trips: vec![TransitTrip {
            at: "20261205090000".into(),
            terminal: "010000000001".into(),
            kind: "fare".into(),
            amount: 300,
            balance_after: balance,
            accepted_by: None,
        }],
        top_ups: Vec::new(),
    }
}

#[tokio::test]
async fn an_account_sees_its_devices_transit_cards_and_a_lost_device_hotlists_them() {
    let s = server().await;
    let t = s.account("rider@example.com").await;
    // Without operators attached, no cards.
    let r = s.get(&t, "/api/v1/transit/cards").await;
    assert_eq!((r.status, r.body["cards"].clone()), (200, json!([])));

    let ops = Arc::new(Operators::default());
    s.wallet.attach_transit(ops.clone());
    let other = s.account("someone-else@example.com").await;
    let (phone, _) = s.device(&t, "phone").await;
    let (band, _) = s.device(&t, "band").await;
    let (other_band, _) = s.device(&other, "band").await;
    ops.cards.lock().unwrap().extend([
        card(&band, "0007", 4_700),
        card(&phone, "0009", 0),
        card(&other_band, "0042", 9_900),
    ]);

    // Only the account's own devices' cards, named by their device.
    let r = s.get(&t, "/api/v1/transit/cards").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let cards = r.body["cards"].as_array().unwrap();
    let mut seen: Vec<(&str, &str, i64)> = cards
        .iter()
        .map(|c| {
            (
                c["last_digits"].as_str().unwrap(),
                c["device_kind"].as_str().unwrap(),
                c["balance"].as_i64().unwrap(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(seen, [("0007", "band", 4_700), ("0009", "phone", 0)]);
    assert!(cards.iter().all(|c| c["device_name"] != ""));
    assert_eq!(
        cards.iter().find(|c| c["last_digits"] == "0007").unwrap()["trips"][0]["kind"],
        "fare"
    );
    assert!(ops.lost.lock().unwrap().is_empty());

    // The band reports what it reads off its card: the listing shows it
    // beside the operator's balance. A report replaces the last one whole;
    // a bad one, or one for another account's device, changes nothing.
    let readings = |balance: i64| {
        json!({"cards": [{"last_digits": "0007", "balance": balance,
                          "offline_counter": 3, "online_counter": 1}]})
    };
    let put = |path: String, body: Value| {
        let rb = s.http.put(s.url(&path)).bearer_auth(&t).json(&body);
        s.send(rb)
    };
    let band_readings = format!("/api/v1/devices/{band}/transit-readings");
    assert_eq!(
        put(band_readings.clone(), readings(4_100)).await.status,
        204
    );
    assert_eq!(
        put(band_readings.clone(), readings(4_100)).await.status,
        204
    );
    let bad = json!({"cards": [{"last_digits": "7", "balance": 1,
                                "offline_counter": 0, "online_counter": 0}]});
    assert_eq!(put(band_readings.clone(), bad).await.status, 422);
    let foreign = format!("/api/v1/devices/{other_band}/transit-readings");
    assert_eq!(put(foreign, readings(1)).await.status, 404);
    let r = s.get(&t, "/api/v1/transit/cards").await;
    let read = |last: &str| {
        let c = r.body["cards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["last_digits"] == last)
            .unwrap()
            .clone();
        (
            c["balance"].clone(),
            c["device_balance"].clone(),
            c["device_read_at"].is_i64(),
        )
    };
    assert_eq!(read("0007"), (json!(4_700), json!(4_100), true));
    assert_eq!(read("0009"), (json!(0), Value::Null, false));

    // Reported lost: the band's cards are hotlisted; the phone's are not.
    let r = s.suspend(&t, &band, "lost").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(*ops.lost.lock().unwrap(), std::slice::from_ref(&band));
    let r = s.get(&t, "/api/v1/transit/cards").await;
    let status = |last: &str| {
        r.body["cards"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["last_digits"] == last)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(
        (status("0007"), status("0009")),
        (json!("lost"), json!("active"))
    );
    // Listing a suspended band whose cards are hotlisted reports nothing.
    assert_eq!(ops.lost.lock().unwrap().len(), 1);
    // An operator that missed the report (the band's card still active)
    // hears it again at the next listing, which shows the card lost.
    ops.cards.lock().unwrap()[0].status = "active".into();
    let r = s.get(&t, "/api/v1/transit/cards").await;
    assert_eq!(ops.lost.lock().unwrap().len(), 2);
    let band_card = r.body["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["last_digits"] == "0007")
        .unwrap()
        .clone();
    assert_eq!(band_card["status"], "lost");

    // The lost band's balance ordered onto the phone's card; not onto
    // another account's card, nor from a card not lost, nor to another city.
    let move_path = "/api/v1/transit/cards/fp-0007/move";
    let r = s
        .post(&t, move_path, json!({"to_card_id": "fp-0009"}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        (r.body["amount"].as_i64(), r.body["to_card_id"].as_str()),
        (Some(4_700), Some("fp-0009"))
    );
    let r = s
        .post(&t, move_path, json!({"to_card_id": "fp-0042"}))
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = s
        .post(&other, move_path, json!({"to_card_id": "fp-0042"}))
        .await;
    assert_eq!(r.status, 404);
    let r = s
        .post(
            &t,
            "/api/v1/transit/cards/fp-0009/move",
            json!({"to_card_id": "fp-0007"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "transit_refused"));
    assert!(r.message().contains("not reported lost"), "{}", r.message());
    ops.cards.lock().unwrap()[1].operator = "shanghai".into();
    let r = s
        .post(&t, move_path, json!({"to_card_id": "fp-0009"}))
        .await;
    assert_eq!((r.status, r.code()), (422, "invalid_request"));
    ops.cards.lock().unwrap()[1].operator = "beijing".into();
    let r = s.post(&t, move_path, json!({"to": "fp-0009"})).await;
    assert_eq!(r.status, 422, "{:?}", r.body);

    // Another account cannot report this band lost.
    let r = s.suspend(&other, &band, "lost").await;
    assert_eq!(r.status, 404);

    // An operator that does not answer: the listing and the report fail
    // with a clear error, and a report made again once it answers reaches it.
    ops.down.store(true, Ordering::SeqCst);
    let r = s.get(&t, "/api/v1/transit/cards").await;
    assert_eq!((r.status, r.code()), (502, "network_unavailable"));
    let r = s.suspend(&t, &phone, "stolen").await;
    assert_eq!((r.status, r.code()), (502, "network_unavailable"));
    ops.down.store(false, Ordering::SeqCst);
    let r = s.suspend(&t, &phone, "stolen").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(ops.lost.lock().unwrap().contains(&phone));
}
