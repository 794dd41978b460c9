//! "Find my device" on the web site: the device page's offline map, last
//! place, history and buttons; each command queued through a CSRF-checked
//! form and shown with its state as the device answers; erase only after
//! its confirmation step; both languages.

mod common;

use axum::http::StatusCode;
use common::*;
use paytap_wallet::{CommandAnswer, CommandKind, ContactKind, Heartbeat, Language, TokenState};

#[tokio::test]
async fn the_device_page_draws_the_map_and_lists_commands_with_their_states() {
    let site = site().await;
    let li = site.li(Language::En).await;
    // A second place: where the phone paid.
    site.wallet
        .report_contact(
            &li.p,
            &li.phone,
            &Heartbeat {
                lat: Some(31.2196),
                lon: Some(121.4454),
                accuracy_m: Some(35.0),
                place: Some("Jing'an Temple, Shanghai".into()),
            },
            ContactKind::Payment,
        )
        .await
        .unwrap();
    let mut c = site.browser(LI).await;
    let page = format!("/devices/{}", li.phone);
    let r = c.get(&site.app, &page).await;
    assert_eq!(r.status, StatusCode::OK);
    let b = &r.body;
    assert!(
        b.contains("<h2 id=\"find-title\">Find my device</h2>"),
        "{b}"
    );
    // The map is drawn here, inline: no image, tile or script fetched.
    assert!(b.contains("<svg class=\"map\""));
    assert!(b.contains("<title id=\"map-title\">Map of where Li's phone has been</title>"));
    assert!(b.contains("class=\"map-accuracy\""));
    assert_eq!(
        b.matches("class=\"map-past\"").count(),
        1,
        "the earlier place"
    );
    assert!(!b.contains("<img") && !b.contains("<script src"));
    assert!(b.contains("Jing'an Temple, Shanghai (31.21960, 121.44540)"));
    assert!(b.contains("within 35 m"));
    assert!(b.contains("Recent places"));
    assert!(b.contains("data-source=\"payment\""));
    assert!(b.contains("data-source=\"heartbeat\""));
    assert!(b.contains("No commands sent yet."));
    assert_no_card_number(b, &li.pans);

    // "Locate now" needs the session's form token.
    let path = format!("/devices/{}/locate", li.phone);
    let r = c.post(&site.app, &path, &[("csrf", "forged")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        site.wallet
            .commands(&li.p, &li.phone)
            .await
            .unwrap()
            .is_empty()
    );
    let csrf = c.get(&site.app, &page).await.csrf();
    let r = c.post(&site.app, &path, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), format!("/devices/{}#find", li.phone));
    let r = c
        .post(
            &site.app,
            &format!("/devices/{}/sound", li.phone),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = c.get(&site.app, &page).await;
    assert!(r.body.contains("Asked Li's phone to play a sound."));
    assert!(
        r.body
            .contains("data-kind=\"locate\" data-state=\"queued\"")
    );
    assert!(r.body.contains("data-kind=\"sound\" data-state=\"queued\""));
    assert!(r.body.contains("Waiting for the device"));

    // The phone answers: the page shows the states and where it answered from.
    let cmds = site.wallet.commands(&li.p, &li.phone).await.unwrap();
    site.wallet
        .deliver_commands(&li.p, &li.phone)
        .await
        .unwrap();
    let locate = cmds.iter().find(|c| c.kind == CommandKind::Locate).unwrap();
    let answer = CommandAnswer {
        ok: true,
        detail: None,
        position: Heartbeat {
            lat: Some(31.2397),
            lon: Some(121.4998),
            accuracy_m: Some(12.0),
            place: Some("The Bund, Shanghai".into()),
        },
    };
    site.wallet
        .answer_command(&li.p, &li.phone, &locate.id, &answer)
        .await
        .unwrap();
    let r = c.get(&site.app, &page).await;
    let b = &r.body;
    assert!(b.contains("data-kind=\"locate\" data-state=\"acknowledged\""));
    assert!(b.contains("data-kind=\"sound\" data-state=\"delivered\""));
    assert!(b.contains("Sent to the device"));
    assert!(b.contains("answered from The Bund, Shanghai (31.23970, 121.49980)"));
    assert!(b.contains("<strong>The Bund, Shanghai (31.23970, 121.49980)</strong> · within 12 m"));
    assert_eq!(b.matches("class=\"map-past\"").count(), 2);

    // The Chinese page says the same in Chinese.
    site.holder("wang@example.com", Language::Zh, "Wang", "22")
        .await;
    let mut z = site.browser("wang@example.com").await;
    let r = z.get(&site.app, "/devices").await;
    let marker = "data-device-id=\"";
    let start = r.body.find(marker).unwrap() + marker.len();
    let id = &r.body[start..start + r.body[start..].find('"').unwrap()];
    let r = z.get(&site.app, &format!("/devices/{id}")).await;
    assert!(r.body.contains("查找设备"));
    assert!(r.body.contains("立即定位"));
    assert!(r.body.contains("播放声音"));
    assert!(r.body.contains("误差 20 米以内"));
}

#[tokio::test]
async fn erase_asks_first_then_removes_the_cards_and_queues_the_wipe() {
    let site = site().await;
    let li = site.li(Language::En).await;
    let mut c = site.browser(LI).await;
    let path = format!("/devices/{}/erase", li.phone);
    // The confirmation step changes nothing by itself.
    let r = c.get(&site.app, &path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Erase Li's phone?"));
    assert!(r.body.contains("id=\"confirm-erase\""));
    assert!(
        site.wallet
            .commands(&li.p, &li.phone)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(site.device(&li).await.card_count, 2);
    let csrf = r.csrf();
    let r = c.post(&site.app, &path, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(site.device(&li).await.card_count, 0);
    site.assert_tokens(&li, TokenState::Deleted);
    let r = c.get(&site.app, &format!("/devices/{}", li.phone)).await;
    assert!(r.body.contains("The cards on Li's phone are removed"));
    assert!(r.body.contains("data-kind=\"erase\" data-state=\"queued\""));
    // Another account's device: not found.
    site.holder("bo@example.com", Language::En, "Bo", "33")
        .await;
    let mut o = site.browser("bo@example.com").await;
    let r = o.get(&site.app, &path).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_payment_the_phone_is_asked_to_verify_is_named_in_the_command_list() {
    let site = site().await;
    let li = site.li(Language::Zh).await;
    let stepped_up = paytap_types::PaymentEvent {
        event_id: "ev-1a".into(),
        token_ref: li.cards[0].token_ref.clone(),
        merchant_name: "Metro Kiosk".into(),
        merchant_id: "M0001".into(),
        terminal_id: "T0001".into(),
        amount: paytap_types::Money::new(600, paytap_types::Currency::CNY),
        approved: false,
        response_code: "1A".into(),
        reason: "verify it's you, then pay again (risk: velocity)".into(),
        kind: "purchase".into(),
        at_millis: 1_795_000_000_000,
        saved: None,
        earned: None,
    };
    assert!(
        site.wallet
            .record_payment(&stepped_up)
            .await
            .unwrap()
            .is_some()
    );
    let mut c = site.browser(LI).await;
    let r = c.get(&site.app, &format!("/devices/{}", li.phone)).await;
    assert_eq!(r.status, StatusCode::OK);
    let b = &r.body;
    assert!(b.contains("data-kind=\"verify_payment\""), "{b}");
    assert!(b.contains("验证付款"), "{b}");
    assert!(b.contains("Metro Kiosk · 6.00 CNY"), "{b}");
}
