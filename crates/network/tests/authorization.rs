//! The authorization path end to end over loopback TCP: a phone's secure
//! element (provisioned by the token service) taps a POS kernel, the POS
//! sends the 0100 to the switch, the switch routes through the token service
//! to the issuer, the issuer holds money on the ledger. Every test checks
//! the ledger after. Runs on SQLite, and on PostgreSQL with
//! PAYTAP_TEST_DATABASE_URL.

mod common;

use common::*;
use paytap_iso8583::{Mti, ResponseCode};
use paytap_issuer::{CardStatus, IssueCard, Product};
use paytap_network::paytap_switch::STAND_IN_INDICATOR;
use paytap_network::*;
use paytap_store::Db;
use paytap_tsp::{Actor, TokenState};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn approved_purchase() {
    let n = start().await;
    let mut events = n.net.subscribe();
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    let before = n.available(&phone).await;
    let (tap, req) = n.tap(&mut phone, 1_250);
    let a = n.send(&req).await;
    assert_eq!(a.mti(), Mti::AUTHORIZATION_RESPONSE);
    assert_eq!(code(&a), "00");
    assert_eq!(
        a.get_str(2),
        Some(tap.pan.expose().as_str()),
        "the POS sees the token only"
    );
    assert_ne!(tap.pan.expose().as_str(), phone.card.pan.expose());
    let shown = format!("{tap:?}");
    assert!(!shown.contains(tap.pan.expose().as_str()), "{shown}");
    assert!(!shown.contains(&tap.track2.expose()[..12]), "{shown}");
    assert_eq!(a.auth_id_response().map(str::len), Some(6));
    // The ARPC for the card (tag 91: ARPC ‖ ARC "00").
    let de55 = a.icc_data().unwrap();
    let t91 = paytap_tlv::find_flat(de55, paytap_tlv::tags::ISSUER_AUTH_DATA)
        .unwrap()
        .unwrap();
    assert_eq!(t91.len(), 10);
    assert_eq!(&t91[8..], b"00");
    assert_eq!(n.available(&phone).await, before - 1_250);
    let ev = events.recv().await.unwrap();
    assert!(ev.approved);
    assert_eq!(ev.token_ref, phone.token_ref);
    assert_eq!(ev.amount.minor, 1_250);
    assert_eq!(ev.response_code, "00");
    n.assert_ledger().await;
}

#[tokio::test]
async fn declined_for_funds_credit_limit_and_debit_balance() {
    let n = start().await;
    let mut credit = n.phone(ICBC, Product::Credit, 10_000).await;
    assert_eq!(code(&n.pay(&mut credit, 6_000).await), "00");
    assert_eq!(code(&n.pay(&mut credit, 5_000).await), "51");
    assert_eq!(n.available(&credit).await, 4_000);

    let mut debit = n.phone(CMB, Product::Debit, 5_000).await;
    assert_eq!(code(&n.pay(&mut debit, 5_001).await), "51");
    assert_eq!(n.available(&debit).await, 5_000);
    assert_eq!(code(&n.pay(&mut debit, 5_000).await), "00");
    assert_eq!(n.available(&debit).await, 0);
    n.assert_ledger().await;
}

#[tokio::test]
async fn declined_for_suspended_and_deleted_token() {
    let n = start().await;
    let mut events = n.net.subscribe();
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    n.net
        .set_token_state(
            &phone.token_ref,
            TokenState::Suspended,
            Actor::Holder,
            "phone lost",
        )
        .await
        .unwrap();
    assert_eq!(
        code(&n.pay(&mut phone, 100).await),
        ResponseCode::NotPermittedToCardholder.code()
    );
    let ev = events.recv().await.unwrap();
    assert!(!ev.approved);
    assert_eq!(
        ev.token_ref, phone.token_ref,
        "the wallet can show the refusal on the card"
    );
    n.net
        .set_token_state(
            &phone.token_ref,
            TokenState::Active,
            Actor::Holder,
            "phone found",
        )
        .await
        .unwrap();
    assert_eq!(code(&n.pay(&mut phone, 100).await), "00");
    n.net
        .set_token_state(
            &phone.token_ref,
            TokenState::Deleted,
            Actor::Wallet,
            "card removed",
        )
        .await
        .unwrap();
    assert_eq!(
        code(&n.pay(&mut phone, 100).await),
        ResponseCode::RestrictedCard.code()
    );
    assert_eq!(n.available(&phone).await, 100_000 - 100);
    n.assert_ledger().await;
}

#[tokio::test]
async fn declined_for_expired_and_blocked_card() {
    let n = start().await;
    let mut req = IssueCard::new(ICBC, Product::Debit, "LI LEI", 100_000);
    req.limits = Some(generous_limits());
    req.expiry_yymm = Some("2401".into());
    let card = n.net.issue_card(req).await.unwrap();
    // ID&V refuses an expired card, so provision as the network would have
    // before it expired: straight at the token service.
    let key = paytap_seal::DeviceKey::generate().unwrap();
    let p = n
        .net
        .provision(paytap_tsp::ProvisionRequest::wallet_nfc(
            card.card_id.clone(),
            ICBC,
            "ICBC",
            TRID,
            "dev-expired",
            key.public(),
        ))
        .await
        .unwrap();
    let payload = paytap_seal::ProvisioningPayload::open_with(
        &key,
        "dev-expired",
        &p.token_ref,
        &p.sealed_payload,
    )
    .unwrap();
    let mut se = paytap_emv::SecureElement::new();
    se.add_card(terminal::card_from_payload(&payload).unwrap())
        .unwrap();
    let mut expired = Phone {
        se,
        token_ref: p.token_ref,
        device_id: "dev-expired".into(),
        card,
    };
    assert_eq!(
        code(&n.pay(&mut expired, 100).await),
        ResponseCode::ExpiredCard.code()
    );
    assert_eq!(n.available(&expired).await, 100_000);

    let mut blocked = n.phone(CMB, Product::Debit, 100_000).await;
    n.net
        .issuer()
        .set_card_status(&blocked.card.card_id, CardStatus::Blocked)
        .await
        .unwrap();
    assert_eq!(
        code(&n.pay(&mut blocked, 100).await),
        ResponseCode::RestrictedCard.code()
    );
    assert_eq!(n.available(&blocked).await, 100_000);
    n.assert_ledger().await;
}

#[tokio::test]
async fn replayed_and_forged_cryptograms_declined() {
    let n = start().await;
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    let (_, first) = n.tap(&mut phone, 700);
    assert_eq!(code(&n.send(&first).await), "00");
    // The same cryptogram (same ATC) in a new request: replay.
    let mut replay = first.clone();
    replay.set_stan(n.next_stan()).unwrap();
    assert_eq!(
        code(&n.send(&replay).await),
        ResponseCode::DoNotHonour.code()
    );

    // A forged cryptogram: flip one bit of the ARQC (9F26).
    let (_, mut forged) = n.tap(&mut phone, 700);
    let mut de55 = forged.icc_data().unwrap().to_vec();
    let pos = de55
        .windows(3)
        .position(|w| w == [0x9F, 0x26, 0x08])
        .expect("ARQC in DE 55");
    de55[pos + 3] ^= 0x01;
    forged.set_icc_data(&de55).unwrap();
    let a = n.send(&forged).await;
    assert_eq!(code(&a), ResponseCode::SecurityViolation.code());
    assert_eq!(n.available(&phone).await, 100_000 - 700);
    n.assert_ledger().await;
}

#[tokio::test]
async fn device_token_refused_with_magstripe_or_manual_entry() {
    let n = start().await;
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    for mode in ["901", "021", "012", "911"] {
        let (_, mut req) = n.tap(&mut phone, 300);
        req.set_pos_entry_mode(mode).unwrap();
        if mode == "012" {
            // Key entry: no chip data at all.
            req.remove(55);
            req.remove(35);
        }
        assert_eq!(
            code(&n.send(&req).await),
            ResponseCode::NotPermittedToTerminal.code(),
            "entry mode {mode}"
        );
    }
    assert_eq!(n.available(&phone).await, 100_000);
    assert_eq!(code(&n.pay(&mut phone, 300).await), "00");
    n.assert_ledger().await;
}

#[tokio::test]
async fn silent_issuer_stand_in_then_reversal() {
    let mut cfg = config(Db::for_tests().await.unwrap());
    cfg.issuer_timeout = Duration::from_millis(300);
    wrap_link(&mut cfg, ICBC, |link| Arc::new(Silent(link)));
    let n = start_with(cfg).await;
    let mut events = n.net.subscribe();
    let mut phone = n.phone(ICBC, Product::Debit, 500_000).await;
    // ICBC's stand-in: up to 1 000.00 per transaction, 3 000.00 per day.
    let a = n.pay(&mut phone, 80_000).await;
    assert_eq!(code(&a), "00");
    assert_eq!(a.get_str(60), Some(STAND_IN_INDICATOR));
    let ev = events.recv().await.unwrap();
    assert!(ev.approved);
    let over = n.pay(&mut phone, 100_001).await;
    assert_eq!(code(&over), ResponseCode::ExceedsWithdrawalLimit.code());
    assert_eq!(over.get_str(60), Some(STAND_IN_INDICATOR));
    // Reversals of the lost answers and the stand-in advices reach the bank.
    assert_eq!(
        n.net.switch().drain_forwards(Duration::from_secs(20)).await,
        0
    );
    // The 0100 holds are released; only the stand-in approval is held.
    assert_eq!(n.available(&phone).await, 500_000 - 80_000);
    let s = n.net.switch().stats();
    assert_eq!(s.stand_in.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(
        s.reversals_sent.load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    assert_eq!(s.advices_sent.load(std::sync::atomic::Ordering::Relaxed), 2);
    // Clearing captures the stand-in approval at the bank.
    let rep = n.net.clearing(&n.today()).await.unwrap();
    assert!(rep.balanced());
    assert_eq!(rep.authorizations, 1);
    assert_eq!(rep.captured, 1);
    assert_eq!(n.available(&phone).await, 500_000 - 80_000);
    n.assert_ledger().await;
}

#[tokio::test]
async fn stand_in_advice_reaches_the_issuer_after_a_restart() {
    let db = Db::for_tests().await.unwrap();
    let mut cfg = config(db.clone());
    let down = icbc_link_switch(&mut cfg);
    let n = start_with(cfg).await;
    let mut phone = n.phone(ICBC, Product::Debit, 500_000).await;
    down.store(true, std::sync::atomic::Ordering::SeqCst);
    let a = n.pay(&mut phone, 80_000).await;
    assert_eq!(code(&a), "00");
    assert_eq!(a.get_str(60), Some(STAND_IN_INDICATOR));
    assert_eq!(n.net.switch().pending_forwards(), 2);
    assert_eq!(n.available(&phone).await, 500_000, "the bank knows nothing");
    // The network stops before the bank is back; its card number sealed,
    // the advice waits in the database with the reversal.
    n.net.shutdown().await;

    let n = start_with(config(db)).await;
    // The restarted forwarders start at once with the bank reachable: by
    // now they may have delivered some of the two, never more.
    assert!(n.net.switch().pending_forwards() <= 2);
    assert_eq!(
        n.net.switch().drain_forwards(Duration::from_secs(20)).await,
        0
    );
    assert_eq!(n.available(&phone).await, 500_000 - 80_000, "held");
    let rep = n.net.clearing(&n.today()).await.unwrap();
    assert!(rep.balanced());
    assert_eq!((rep.authorizations, rep.captured), (1, 1));
    assert_eq!(n.available(&phone).await, 500_000 - 80_000);
    n.assert_ledger().await;
}

#[tokio::test]
async fn duplicate_answered_identically_with_one_hold() {
    let n = start().await;
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    let (_, req) = n.tap(&mut phone, 2_000);
    let first = n.send(&req).await;
    assert_eq!(code(&first), "00");
    // The POS did not hear the answer and sends the same request again,
    // on a new connection.
    let other = common::demo_client(&n.net).await;
    let again = other.send(&req).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(n.available(&phone).await, 100_000 - 2_000);
    n.assert_ledger().await;
}

#[tokio::test]
async fn reversal_releases_the_hold() {
    let n = start().await;
    let mut events = n.net.subscribe();
    let mut phone = n.phone(CMB, Product::Credit, 50_000).await;
    let (_, req) = n.tap(&mut phone, 12_345);
    assert_eq!(code(&n.send(&req).await), "00");
    assert_eq!(n.available(&phone).await, 50_000 - 12_345);
    let rev = n.reversal_of(&req);
    let r = n.send(&rev).await;
    assert_eq!(r.mti(), Mti::REVERSAL_RESPONSE);
    assert_eq!(code(&r), "00");
    assert_eq!(n.available(&phone).await, 50_000);
    assert!(events.recv().await.unwrap().approved);
    let ev = events.recv().await.unwrap();
    assert_eq!(ev.kind, "reversal");
    assert_eq!(ev.token_ref, phone.token_ref);
    // A repeated reversal changes nothing.
    assert_eq!(code(&n.send(&n.reversal_of(&req)).await), "00");
    assert_eq!(n.available(&phone).await, 50_000);
    let rep = n.net.clearing(&n.today()).await.unwrap();
    assert_eq!(rep.authorizations, 0);
    n.assert_ledger().await;
}

#[tokio::test]
async fn end_of_day_clearing_positions_sum_to_zero() {
    let n = start().await;
    let mut a = n.phone(ICBC, Product::Debit, 1_000_000).await;
    let mut b = n.phone(CMB, Product::Credit, 1_000_000).await;
    assert_eq!(code(&n.pay(&mut a, 1_000).await), "00");
    assert_eq!(code(&n.pay(&mut b, 2_500).await), "00");
    let (_, rev) = n.tap(&mut a, 999);
    assert_eq!(code(&n.send(&rev).await), "00");
    assert_eq!(code(&n.send(&n.reversal_of(&rev)).await), "00");
    // A second acquirer.
    let mut other = n.merchant.clone();
    other.acquirer_id = common::SECOND_ACQUIRER.into();
    other.terminal_id = "PT000002".into();
    let (_, m) = n.tap_at(&mut b, 4_000, &other);
    let second = terminal::AcquirerClient::connect(
        n.net.switch_addr(),
        common::SECOND_ACQUIRER,
        paytap_iso8583::AcquirerKey::from_bytes(common::SECOND_ACQUIRER_KEY),
    )
    .await
    .unwrap();
    assert_eq!(code(&second.send(&m).await.unwrap()), "00");
    // Declined ones do not settle.
    assert_eq!(code(&n.pay(&mut a, 2_000_000).await), "51");

    let rep = n.net.clearing(&n.today()).await.unwrap();
    assert!(rep.balanced(), "{rep:?}");
    assert_eq!(rep.authorizations, 3);
    assert_eq!(rep.captured, 3);
    assert_eq!(rep.capture_pending, 0);
    let pos = |p: paytap_switch::Party| {
        rep.positions
            .iter()
            .find(|x| x.party == p)
            .map(|x| x.net_minor)
            .unwrap_or(0)
    };
    use paytap_switch::Party::*;
    assert_eq!(pos(Issuer(ICBC.into())), -1_000);
    assert_eq!(pos(Issuer(CMB.into())), -6_500);
    assert_eq!(pos(Acquirer("10000000001".into())), 3_500);
    assert_eq!(pos(Acquirer("20000000002".into())), 4_000);
    // Captured holds are posted: the money left the cardholders for good.
    assert_eq!(n.available(&a).await, 1_000_000 - 1_000);
    assert_eq!(n.available(&b).await, 1_000_000 - 6_500);
    let again = n.net.clearing(&n.today()).await.unwrap();
    assert_eq!(again.positions, rep.positions);
    assert_eq!(again.captured, 0);
    n.assert_ledger().await;
}

#[tokio::test]
async fn issuers_behind_their_own_tcp_endpoint() {
    let mut cfg = config(Db::for_tests().await.unwrap());
    cfg.issuer_transport = IssuerTransport::LoopbackTcp;
    let n = start_with(cfg).await;
    let mut phone = n.phone(ICBC, Product::Credit, 30_000).await;
    let (_, req) = n.tap(&mut phone, 4_200);
    assert_eq!(code(&n.send(&req).await), "00");
    assert_eq!(n.available(&phone).await, 30_000 - 4_200);
    assert_eq!(code(&n.send(&n.reversal_of(&req)).await), "00");
    assert_eq!(n.available(&phone).await, 30_000);
    assert_eq!(code(&n.pay(&mut phone, 30_001).await), "51");
    n.assert_ledger().await;
    n.net.shutdown().await;
}

#[tokio::test]
async fn one_database_file_per_component() {
    let dir = tempfile::tempdir().unwrap();
    let main = Db::connect(&format!(
        "sqlite://{}",
        dir.path().join("network.db").display()
    ))
    .await
    .unwrap();
    let mut cfg = config(main);
    cfg.component_dbs = ComponentDbs::sqlite_files(dir.path()).await.unwrap();
    let n = start_with(cfg).await;
    let mut phone = n.phone(CMB, Product::Debit, 10_000).await;
    let (_, req) = n.tap(&mut phone, 1_000);
    assert_eq!(code(&n.send(&req).await), "00");
    assert_eq!(code(&n.pay(&mut phone, 2_000).await), "00");
    assert_eq!(code(&n.send(&n.reversal_of(&req)).await), "00");
    let rep = n.net.clearing(&n.today()).await.unwrap();
    assert!(rep.balanced());
    assert_eq!((rep.authorizations, rep.captured), (1, 1));
    assert_eq!(n.available(&phone).await, 8_000);
    n.assert_ledger().await;
    n.net.shutdown().await;
    for f in [
        "network-ledger.db",
        "network-issuer.db",
        "network-tsp.db",
        "network-switch.db",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
}
