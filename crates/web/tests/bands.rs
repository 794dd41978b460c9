//! The band account page over a band port: limit, balance held, offline
//! spending not yet uploaded and the band's QR payments, in English and in
//! Chinese; turning the band off asks first, needs the session's CSRF
//! token, and another account's band is not found. The payments page
//! lists the band's offline payments beside the card payments, and only
//! the account's own.

mod common;

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use common::*;
use paytap_types::{Currency, Money};
use paytap_wallet::{BandBound, BandHistory, BandOperation, BoxFuture, Language};
use paytap_web::bands::{BandPayment, BandPort, BandSummary, Bands};

const BAND: &str = "0123456789abcdef0123456789abcdef";

/// Band accounts kept in memory: (owner, band).
#[derive(Default)]
struct Accounts(Mutex<Vec<(String, BandSummary)>>);

impl BandPort for Accounts {
    fn bands<'a>(&'a self, owner: &'a str) -> BoxFuture<'a, Result<Vec<BandSummary>, String>> {
        let list = self.0.lock().unwrap();
        let mine = list
            .iter()
            .filter(|(o, _)| o == owner)
            .map(|(_, b)| b.clone())
            .collect();
        Box::pin(async move { Ok(mine) })
    }

    fn turn_off<'a>(
        &'a self,
        owner: &'a str,
        band_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, String>> {
        let mut list = self.0.lock().unwrap();
        let found = list
            .iter_mut()
            .find(|(o, b)| o == owner && b.band_id == band_id);
        let done = found.map(|(_, b)| {
            b.on = false;
            b.status_reason = Some("turned_off".into());
        });
        Box::pin(async move { Ok(done.is_some()) })
    }
}

fn band() -> BandSummary {
    let paid = |merchant: &str, amount_minor, double_spend| BandPayment {
        merchant: merchant.into(),
        amount_minor,
        made_at_millis: 1_800_000_000_000,
        paid: true,
        from_reserve: false,
        double_spend,
    };
    BandSummary {
        band_id: BAND.into(),
        limit_minor: 50_000,
        balance_minor: 17_100,
        not_uploaded_minor: 1_250,
        on: true,
        status_reason: None,
        payments: vec![paid("TEA-01", 1_200, false), paid("NOODLE-2", 850, true)],
    }
}

async fn site_with_band() -> (Site, Arc<Accounts>, String) {
    let accounts = Arc::new(Accounts::default());
    let site = site_with(paytap_web::WebConfig {
        bands: Bands(Some(accounts.clone())),
        ..paytap_web::WebConfig::default()
    })
    .await;
    let li = site.li(Language::En).await;
    accounts
        .0
        .lock()
        .unwrap()
        .push((li.p.account_id.clone(), band()));
    (site, accounts, li.p.account_id)
}

#[tokio::test]
async fn the_band_page_shows_its_account_in_both_languages() {
    let (site, _, _) = site_with_band().await;
    let mut c = site.browser(LI).await;
    let r = c.get(&site.app, "/bands").await;
    assert_eq!(r.status, StatusCode::OK);
    for text in [
        "Band offline account",
        "Band 01234567",
        "500.00",
        "171.00",
        "Spent offline, not yet uploaded",
        "12.50",
        "TEA-01",
        "Paid (copied code)",
        "Turn off the band",
    ] {
        assert!(r.body.contains(text), "{text} missing");
    }
    let switched = c
        .post(
            &site.app,
            "/language",
            &[("csrf", &r.csrf()), ("lang", "zh"), ("next", "/bands")],
        )
        .await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    let zh = c.get(&site.app, "/bands").await;
    for text in [
        "手环离线账户",
        "离线限额",
        "已离线消费、尚未上传",
        "复制的付款码",
        "关闭手环",
    ] {
        assert!(zh.body.contains(text), "{text} missing");
    }
}

#[tokio::test]
async fn turning_the_band_off_asks_first_and_needs_the_csrf_token() {
    let (site, accounts, li) = site_with_band().await;
    let mut c = site.browser(LI).await;
    let confirm = c.get(&site.app, &format!("/bands/{BAND}/turn-off")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Yes, turn off the band"));
    assert!(accounts.0.lock().unwrap()[0].1.on, "asking changes nothing");
    let forged = c
        .post(
            &site.app,
            &format!("/bands/{BAND}/turn-off"),
            &[("csrf", "forged")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        accounts.0.lock().unwrap()[0].1.on,
        "a forged form changes nothing"
    );
    let r = c
        .post(
            &site.app,
            &format!("/bands/{BAND}/turn-off"),
            &[("csrf", &confirm.csrf())],
        )
        .await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/bands"));
    assert_eq!(
        accounts.0.lock().unwrap()[0],
        (
            li,
            BandSummary {
                on: false,
                status_reason: Some("turned_off".into()),
                ..band()
            }
        )
    );
    let page = c.get(&site.app, "/bands").await;
    assert!(page.body.contains("Off (turned off by you)"));
    assert!(!page.body.contains("Turn off the band"));
}

#[tokio::test]
async fn another_accounts_band_is_not_found() {
    let (site, accounts, _) = site_with_band().await;
    site.holder("wang@example.com", Language::En, "Wang", "22")
        .await;
    let mut c = site.browser("wang@example.com").await;
    let r = c.get(&site.app, &format!("/bands/{BAND}/turn-off")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let page = c.get(&site.app, "/bands").await;
    let r = c
        .post(
            &site.app,
            &format!("/bands/{BAND}/turn-off"),
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(accounts.0.lock().unwrap()[0].1.on);
}

/// Band operations by device id, for the wallet's history; it answers for
/// any device it is asked about, so an account seeing only its own bands
/// is the wallet's doing.
#[derive(Default)]
struct History(Mutex<Vec<(String, BandOperation)>>);

impl BandHistory for History {
    fn operations<'a>(
        &'a self,
        _owner: &'a str,
        device_id: &'a str,
        before: BandBound,
        limit: u32,
    ) -> BoxFuture<'a, Result<Vec<BandOperation>, String>> {
        let mut mine: Vec<BandOperation> = self
            .0
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
        mine.sort_by_key(|o| std::cmp::Reverse((o.code_time, o.counter)));
        mine.truncate(limit as usize);
        Box::pin(async move { Ok(mine) })
    }
}

fn band_op(counter: i64, merchant: &str, minor: i64, code_time: i64) -> BandOperation {
    BandOperation {
        counter,
        register: "REG-1".into(),
        merchant: merchant.into(),
        amount: Money::new(minor, Currency::CNY),
        code_time,
        paid: true,
        from_reserve: false,
        double_spend: false,
        reason: None,
    }
}

#[tokio::test]
async fn the_payments_page_lists_band_payments_beside_card_payments_in_both_languages() {
    let site = site().await;
    let history = Arc::new(History::default());
    site.wallet.attach_band_history(history.clone());
    let li = site.li(Language::En).await;
    let wang = site
        .holder("wang@example.com", Language::En, "Wang", "22")
        .await;
    site.pay(
        &li.cards[0],
        "card-1",
        "Lawson Shanghai",
        1_000,
        true,
        1_800_000_000_000,
    )
    .await;
    let mut refused = band_op(2, "NOODLE-2", 99_000, 1_800_000_200);
    refused.paid = false;
    refused.reason = Some("uncovered".into());
    let mut copied = band_op(3, "BAKERY-3", 450, 1_800_000_300);
    copied.double_spend = true;
    copied.reason = Some("same_code_elsewhere".into());
    let mut reserve = band_op(4, "FRUIT-4", 300, 1_800_000_400);
    reserve.from_reserve = true;
    let ops = [
        band_op(1, "TEA-01", 1_200, 1_800_000_100),
        refused,
        copied,
        reserve,
    ];
    {
        let mut kept = history.0.lock().unwrap();
        kept.extend(ops.into_iter().map(|o| (li.band.clone(), o)));
        kept.push((
            wang.band.clone(),
            band_op(1, "WANGS-SHOP", 7_700, 1_800_000_500),
        ));
    }

    let mut c = site.browser(LI).await;
    let r = c.get(&site.app, "/payments").await;
    assert_eq!(r.status, StatusCode::OK);
    let at = |text: &str| {
        r.body
            .find(text)
            .unwrap_or_else(|| panic!("{text} missing"))
    };
    // Newest first: the band's codes after the card payment above it.
    assert!(at("FRUIT-4") < at("BAKERY-3"));
    assert!(at("NOODLE-2") < at("TEA-01"));
    assert!(at("TEA-01") < at("Lawson Shanghai"));
    for text in [
        "Band · offline QR",
        "Paid by paytap's reserve",
        "Double spend",
        "The same code was already paid at another shop",
        "Refused",
        "The band account did not have enough money for it.",
        "12.00",
        "990.00",
        "Li's band",
    ] {
        assert!(r.body.contains(text), "{text} missing");
    }
    assert!(!r.body.contains("WANGS-SHOP"), "another account's band");

    let switched = c
        .post(
            &site.app,
            "/language",
            &[("csrf", &r.csrf()), ("lang", "zh"), ("next", "/payments")],
        )
        .await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    let zh = c.get(&site.app, "/payments").await;
    for text in [
        "手环 · 离线二维码",
        "由 paytap 风险准备金支付",
        "重复付款",
        "已拒绝",
        "手环账户余额不足以支付。",
    ] {
        assert!(zh.body.contains(text), "{text} missing");
    }

    let mut w = site.browser("wang@example.com").await;
    let theirs = w.get(&site.app, "/payments").await;
    assert!(theirs.body.contains("WANGS-SHOP"));
    assert!(
        !theirs.body.contains("TEA-01"),
        "Li's band in Wang's history"
    );
}
