//! A hold whose approval no terminal heard is released by the terminal's
//! stored reversal: the issuer holds, the switch dies before it answers
//! (and before it logs the authorization), the terminal keeps the `0400`
//! on disk; after the switch and the terminal restart, the reversal is
//! resent before the next charge, the switch routes it by DE 2 to the
//! issuer and the issuer matches it by DE 90 and DE 41. Runs on SQLite, and
//! on PostgreSQL with PAYTAP_TEST_DATABASE_URL.

mod common;

use common::*;
use paytap_device::{Device, DeviceKind, KeystoreKey};
use paytap_iso8583::{Message, Mti};
use paytap_issuer::{IssueCard, Product};
use paytap_network::paytap_switch::{BoxFuture, IssuerLink, LinkError};
use paytap_pos::saf::ReversalStore;
use paytap_pos::{Pos, Receipt, TerminalProfile};
use paytap_store::Db;
use paytap_tsp::ProvisionRequest;
use paytap_types::{Currency, Money};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// An issuer link whose authorization answers are lost while the flag is
/// set: the issuer decides (and holds), the switch never hears back.
struct Stall(Arc<dyn IssuerLink>, Arc<AtomicBool>);

impl IssuerLink for Stall {
    fn exchange(&self, request: Message) -> BoxFuture<'_, Result<Message, LinkError>> {
        Box::pin(async move {
            let stall =
                self.1.load(Ordering::SeqCst) && request.mti() == Mti::AUTHORIZATION_REQUEST;
            let answer = self.0.exchange(request).await;
            if stall {
                futures::future::pending::<()>().await;
            }
            answer
        })
    }
}

/// A phone (the device's secure element, which checks the issuer's ARPC)
/// with a token for a new card of `bank`; the card's id.
async fn phone(n: &Net, dir: &Path, bank: &str) -> (Device, String) {
    let mut req = IssueCard::new(bank, Product::Debit, "LI LEI", 500_000);
    req.limits = Some(generous_limits());
    let card = n.net.issue_card(req).await.unwrap();
    let path = dir.join("phone.se");
    let key = KeystoreKey::key_file_for(&path);
    let mut d = Device::create(&path, &key, DeviceKind::Phone, "phone", "emulated").unwrap();
    d.set_enrolment("dev-saf", "http://127.0.0.1:1/", "li@example.com")
        .unwrap();
    let p = n
        .net
        .provision(ProvisionRequest::wallet_nfc(
            card.card_id.clone(),
            card.bank_id.clone(),
            "ICBC",
            TRID,
            "dev-saf",
            d.public_key(),
        ))
        .await
        .unwrap();
    d.install(&p.token_ref, &p.sealed_payload, true).unwrap();
    (d, card.card_id)
}

/// One charge by a terminal whose stored reversals are in `dir` (a new
/// terminal process each time: the store is opened from disk).
async fn charge(
    (switch, key): (SocketAddr, paytap_iso8583::AcquirerKey),
    dir: PathBuf,
    mut phone: Device,
    minor: i64,
    timeout: Duration,
) -> (Receipt, Device) {
    tokio::task::spawn_blocking(move || {
        let mut pos = Pos::new(TerminalProfile::default(), switch)
            .unwrap()
            .with_reversal_store(ReversalStore::open(&dir).unwrap())
            .with_acquirer_key(key);
        pos.response_timeout = timeout;
        let owner = phone.owner_finger();
        let r = {
            let mut tap = phone.tap(Some(&owner)).unwrap();
            pos.charge(&mut tap, Money::new(minor, Currency::CNY))
                .unwrap()
        };
        (r, phone)
    })
    .await
    .unwrap()
}

fn switch_and_key(n: &Net) -> (SocketAddr, paytap_iso8583::AcquirerKey) {
    let key = n.net.acquirer_key(paytap_types::DEMO_ACQUIRER_ID).unwrap();
    (n.net.switch_addr(), key)
}

async fn available(n: &Net, card: &str) -> i64 {
    n.net.issuer().available(card).await.unwrap().minor
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_whose_answer_never_arrived_is_released_by_the_terminals_stored_reversal() {
    let db = Db::for_tests().await.unwrap();
    let stall = Arc::new(AtomicBool::new(false));
    let mut cfg = config(db.clone());
    // The switch waits for the issuer: it dies before it answers.
    cfg.issuer_timeout = Duration::from_secs(3600);
    let flag = stall.clone();
    cfg.link_hook = Some(Arc::new(move |_bank: &str, link: Arc<dyn IssuerLink>| {
        Arc::new(Stall(link, flag.clone())) as Arc<dyn IssuerLink>
    }));
    let n = start_with(cfg).await;
    let terminal = tempfile::tempdir().unwrap();
    let (mut phone, card) = phone(&n, terminal.path(), ICBC).await;
    let dir = terminal.path().join("PTPOS001");

    stall.store(true, Ordering::SeqCst);
    let (r, se) = charge(
        switch_and_key(&n),
        dir.clone(),
        phone,
        1_250,
        Duration::from_secs(1),
    )
    .await;
    phone = se;
    assert!(!r.approved);
    assert!(!r.reversed, "nobody acknowledged the reversal");
    assert!(r.reversal_stored, "{r}");
    assert!(r.to_string().contains("reversal stored, will be resent"));
    assert_eq!(
        available(&n, &card).await,
        500_000 - 1_250,
        "the issuer held"
    );
    let stored = ReversalStore::open(&dir).unwrap().pending().unwrap();
    assert_eq!(stored.len(), 1);

    // The switch dies with the authorization unanswered and unlogged.
    let Net { net, .. } = n;
    let _ = tokio::time::timeout(Duration::from_secs(1), net.shutdown()).await;
    let n = start_with(config(db)).await;
    assert_eq!(
        available(&n, &card).await,
        500_000 - 1_250,
        "the hold outlived the switch"
    );

    // The terminal restarts; its next charge first delivers the stored
    // reversal, and the hold is gone.
    let (r, _) = charge(
        switch_and_key(&n),
        dir.clone(),
        phone,
        500,
        Duration::from_secs(30),
    )
    .await;
    assert!(r.approved, "{r}");
    assert!(!r.reversed && !r.reversal_stored);
    assert!(
        ReversalStore::open(&dir)
            .unwrap()
            .pending()
            .unwrap()
            .is_empty()
    );
    assert_eq!(available(&n, &card).await, 500_000 - 500);
    // The issuer's record of the first request is released too, not only
    // its ledger hold: only the second charge is held.
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM issuer_auths WHERE state = 'held'")
        .fetch_one(n.net.db().pool())
        .await
        .unwrap();
    assert_eq!(held, 1);
    n.assert_ledger().await;
}
