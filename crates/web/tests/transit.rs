//! The Transit page: each transit card on the account's devices with its
//! balance, status, trips and top-ups, in English, Chinese and Hindi, over
//! an operators' port kept in memory; another account's cards stay out.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use common::*;
use paytap_types::DeviceKind;
use paytap_wallet::{
    BoxFuture, Language, TransitAcceptor, TransitCard, TransitCards, TransitFailure,
    TransitMoveOrder, TransitTopUp, TransitTrip,
};

#[derive(Default)]
struct Operators(Mutex<Vec<TransitCard>>);

impl TransitCards for Operators {
    fn order_move<'a>(
        &'a self,
        _operator: &'a str,
        from_card: &'a str,
        to_card: &'a str,
    ) -> BoxFuture<'a, Result<TransitMoveOrder, TransitFailure>> {
        let mut cards = self.0.lock().unwrap();
        let answer = match cards.iter_mut().find(|c| c.card_id == from_card) {
            Some(c) if c.status == "lost" => {
                c.move_ordered_to = Some(to_card.to_owned());
                Ok(TransitMoveOrder {
                    move_id: format!("order-{from_card}"),
                    from_card_id: from_card.to_owned(),
                    to_card_id: to_card.to_owned(),
                    amount: c.balance,
                    gates_waiting: 1,
                    moved: false,
                })
            }
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
        let mine: Vec<TransitCard> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.device_id == device_id)
            .cloned()
            .collect();
        Box::pin(async move { Ok(mine) })
    }

    fn device_lost<'a>(&'a self, device_id: &'a str) -> BoxFuture<'a, Result<usize, String>> {
        let mut cards = self.0.lock().unwrap();
        let mut n = 0;
        for c in cards.iter_mut().filter(|c| c.device_id == device_id) {
            c.status = "lost".into();
            n += 1;
        }
        Box::pin(async move { Ok(n) })
    }
}

fn card(device_id: &str, last: &str) -> TransitCard {
    let trip = |at: &str, kind: &str, amount, balance_after| TransitTrip {
        at: at.into(),
        terminal: "475431010001".into(),
        kind: kind.into(),
        amount,
        balance_after,
        accepted_by: None,
    };
    TransitCard {
        operator: "beijing".into(),
        card_name: "Beijing Yikatong".into(),
        card_id: format!("fp{last}"),
        last_digits: last.into(),
        device_id: device_id.into(),
        device_name: String::new(),
        device_kind: DeviceKind::Band,
        issued_at: 1_000,
        currency: "CNY".into(),
        balance: 4_400,
        device_balance: Some(4_100),
        device_read_at: Some(1_796_443_200_000),
        status: "active".into(),
        moved: false,
        move_ordered_to: None,
        trips: vec![
            TransitTrip {
                accepted_by: Some(TransitAcceptor {
                    operator: "shanghai".into(),
                    name: "Shanghai Public Transportation Card".into(),
                }),
                ..trip("20261205183000", "exit", 400, 4_400)
            },
            trip("20261205091500", "exit", 600, 4_800),
            trip("20261205090000", "entry", 0, 5_400),
        ],
        top_ups: vec![TransitTopUp {
            at: "20261205085500".into(),
            amount: 5_000,
            state: "on_card".into(),
        }],
    }
}

#[tokio::test]
async fn the_transit_page_shows_each_card_in_three_languages_and_a_lost_bands_card() {
    let site = site().await;
    let ops = Arc::new(Operators::default());
    site.wallet.attach_transit(ops.clone());
    let li = site.li(Language::En).await;
    let wang = site
        .holder("wang@example.com", Language::En, "Wang", "22")
        .await;
    ops.0
        .lock()
        .unwrap()
        .extend([card(&li.band, "0007"), card(&wang.band, "0042")]);

    let mut c = site.browser(LI).await;
    let r = c.get(&site.app, "/transit").await;
    assert_eq!(r.status, StatusCode::OK);
    for text in [
        "Transit cards",
        "Beijing Yikatong ···· 0007",
        "44.00",
        "Active",
        "Metro exit",
        "Metro exit · at a Shanghai Public Transportation Card gate",
        "On the device",
        "41.00",
        "Metro entry",
        "2026-12-05 09:15",
        "6.00",
        "On the card",
        "href=\"/transit\"",
    ] {
        assert!(r.body.contains(text), "{text} missing");
    }
    assert!(!r.body.contains("0042"), "another account's card is shown");

    // The band turned off as lost: its card is hotlisted and says so.
    site.wallet
        .suspend_device(&li.p, &li.band, paytap_wallet::SuspendReason::Lost)
        .await
        .unwrap();
    let r = c.get(&site.app, "/transit").await;
    assert!(r.body.contains("Blocked: the device was reported lost"));
    assert!(r.body.contains("the operator can move the balance"));
    // No other Beijing card yet: nowhere to move the balance to.
    assert!(r.body.contains("first issue a card of the same city"));

    // A Beijing card on the phone: the lost card's balance is ordered onto
    // it (with the form's CSRF token; without it, nothing happens).
    ops.0.lock().unwrap().push(TransitCard {
        device_kind: DeviceKind::Phone,
        ..card(&li.phone, "0008")
    });
    let r = c.get(&site.app, "/transit").await;
    assert!(
        r.body.contains("action=\"/transit/fp0007/move\""),
        "no move form"
    );
    assert!(
        r.body.contains("<option value=\"fp0008\">"),
        "the phone's card is not offered"
    );
    let csrf = r.csrf();
    let bad = c
        .post(
            &site.app,
            "/transit/fp0007/move",
            &[("csrf", "forged"), ("to_card_id", "fp0008")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::FORBIDDEN);
    assert_eq!(ops.0.lock().unwrap()[0].move_ordered_to, None);
    let foreign = c
        .post(
            &site.app,
            "/transit/fp0042/move",
            &[("csrf", &csrf), ("to_card_id", "fp0008")],
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let done = c
        .post(
            &site.app,
            "/transit/fp0007/move",
            &[("csrf", &csrf), ("to_card_id", "fp0008")],
        )
        .await;
    assert_eq!(
        (done.status, done.location()),
        (StatusCode::SEE_OTHER, "/transit")
    );
    let r = c.get(&site.app, "/transit").await;
    assert!(
        r.body
            .contains("The balance moves to Beijing Yikatong ···· 0008 at that device's next sync"),
        "the order is not shown"
    );
    // The phone's active card refuses to be moved: the operator's reason.
    let refused = c
        .post(
            &site.app,
            "/transit/fp0008/move",
            &[("csrf", &csrf), ("to_card_id", "fp0007")],
        )
        .await;
    assert!(
        refused.body.contains("not reported lost"),
        "{}",
        refused.body
    );

    for (login, language, words) in [
        (
            "zhang@example.com",
            Language::Zh,
            [
                "交通卡",
                "地铁出站 · 在Shanghai Public Transportation Card的闸机",
                "已写入卡内",
            ],
        ),
        (
            "asha@example.com",
            Language::Hi,
            [
                "ट्रांज़िट कार्ड",
                "Shanghai Public Transportation Card के गेट पर",
                "कार्ड पर",
            ],
        ),
    ] {
        let h = site.holder(login, language, "X", "33").await;
        ops.0.lock().unwrap().push(card(&h.band, "0101"));
        let mut b = site.browser(login).await;
        let r = b.get(&site.app, "/transit").await;
        assert_eq!(r.status, StatusCode::OK);
        for w in words {
            assert!(r.body.contains(w), "{language:?}: {w} missing");
        }
    }
}

#[tokio::test]
async fn the_transit_page_without_cards_or_a_session() {
    let site = site().await;
    let mut anonymous = Client::default();
    let r = anonymous.get(&site.app, "/transit").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let _li = site.li(Language::En).await;
    let mut c = site.browser(LI).await;
    let r = c.get(&site.app, "/transit").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("No transit card yet"));
}
