//! The band account service on the test database (SQLite, or PostgreSQL
//! with `PAYTAP_TEST_DATABASE_URL`): opening, funding, syncing, offline
//! codes taken at registers and uploaded, double spends and the reserve.

use super::decide::Source;
use super::upload::{BandBatch, BandOperation, BandResult};
use super::*;
use crate::MerchantSpec;
use paytap_qr::offline::{Band, RegisterVerifier, public_key_of};

const ACQ: &str = "10000000001";
const NOW: i64 = 1_800_000_000;
const FUNDING: &str = "test:card-funding";
const BAND_SECRET: [u8; 32] = [9; 32];

pub(crate) struct World {
    pub(crate) bands: BandAccounts,
    pub(crate) platform: Arc<Platform>,
}

pub(crate) async fn world() -> World {
    let db = paytap_store::Db::for_tests().await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let merchants = Merchants::open(db, ledger.clone()).await.unwrap();
    ledger
        .create_account(AccountSpec::new(
            FUNDING,
            "cards",
            BAND_CURRENCY,
            AccountFlags::None,
        ))
        .await
        .unwrap();
    for id in ["SHOP-A", "SHOP-B"] {
        merchants
            .create(
                ACQ,
                MerchantSpec {
                    id: id.into(),
                    name: "Corner Shop".into(),
                    city: "Beijing".into(),
                    mcc: "5411".into(),
                    currency: BAND_CURRENCY,
                    country: "CN".into(),
                },
            )
            .await
            .unwrap();
    }
    let platform = Arc::new(Platform::from_secret(&[1; 32]));
    let bands = BandAccounts::open(merchants, platform.clone())
        .await
        .unwrap();
    World { bands, platform }
}

pub(crate) fn band_id(n: u8) -> BandId {
    [n; BAND_ID_LEN]
}

/// Opens and funds band `n` and syncs it: the band itself, ready to pay.
pub(crate) async fn ready_band(w: &World, n: u8, limit: i64, funds: i64) -> Band {
    let id = band_id(n);
    let secret = [n; 32];
    w.bands
        .open_band("alice", &id, &public_key_of(&secret), Some(limit))
        .await
        .unwrap();
    w.bands
        .fund(&id, &format!("first-{n}"), FUNDING, funds)
        .await
        .unwrap();
    let cert = w.bands.sync(&id, &[], NOW).await.unwrap();
    Band::new(&secret, cert, 1).unwrap()
}

pub(crate) fn op(merchant: &str, register: &str, code: &str, amount: u64) -> BandOperation {
    BandOperation {
        register: register.into(),
        merchant: merchant.into(),
        code: code.into(),
        amount_minor: amount,
        taken_at: NOW,
    }
}

async fn upload(w: &World, id: &str, ops: Vec<BandOperation>) -> Vec<BandResult> {
    w.bands
        .upload(id, &BandBatch { operations: ops }, ACQ, NOW + 600)
        .await
        .unwrap()
}

async fn balance(w: &World, account: &str) -> i64 {
    let b = w.bands.ledger().balance(account).await.unwrap();
    b.credits_posted - b.debits_posted
}

#[tokio::test]
async fn opening_checks_the_limit_and_is_idempotent() {
    let w = world().await;
    let id = band_id(1);
    let key = public_key_of(&BAND_SECRET);
    let v = w.bands.open_band("alice", &id, &key, None).await.unwrap();
    assert_eq!(
        (v.limit_minor, v.balance_minor, v.serial),
        (DEFAULT_LIMIT_MINOR, 0, 0)
    );
    assert_eq!(v.status, BandStatus::On);
    assert_eq!(
        w.bands.open_band("alice", &id, &key, None).await.unwrap(),
        v
    );
    assert!(matches!(
        w.bands.open_band("bob", &id, &key, None).await,
        Err(BandError::Conflict(_))
    ));
    for bad in [0, MAX_LIMIT_MINOR + 1] {
        assert!(matches!(
            w.bands
                .open_band("alice", &band_id(2), &key, Some(bad))
                .await,
            Err(BandError::Invalid(_))
        ));
    }
    assert!(matches!(
        w.bands.sync(&id, &[], NOW).await,
        Err(BandError::NoFunds(_))
    ));
}

#[tokio::test]
async fn funding_is_held_on_the_ledger_once_per_key() {
    let w = world().await;
    let id = band_id(1);
    w.bands
        .open_band("alice", &id, &public_key_of(&BAND_SECRET), Some(30_000))
        .await
        .unwrap();
    w.bands.fund(&id, "k1", FUNDING, 20_000).await.unwrap();
    let v = w.bands.fund(&id, "k1", FUNDING, 20_000).await.unwrap();
    assert_eq!(v.balance_minor, 20_000, "a retry moves nothing again");
    w.bands
        .open_band("alice", &band_id(2), &public_key_of(&[2; 32]), None)
        .await
        .unwrap();
    assert!(
        matches!(
            w.bands.fund(&band_id(2), "k1", FUNDING, 20_000).await,
            Err(BandError::Conflict(_))
        ),
        "a key funds one band"
    );
    assert_eq!(balance(&w, &band_account(&id)).await, 20_000);
    let cert = w.bands.sync(&id, &[], NOW).await.unwrap();
    assert_eq!(
        (cert.serial, cert.limit),
        (1, 20_000),
        "the limit is what the funds cover"
    );
    cert.verify(&w.platform.public_key()).unwrap();
    w.bands.ledger().check_invariants().await.unwrap();
}

#[tokio::test]
async fn two_offline_payments_settle_to_the_merchant_once() {
    let w = world().await;
    let mut band = ready_band(&w, 1, 50_000, 50_000).await;
    let mut register = RegisterVerifier::new(w.platform.public_key());
    let mut ops = Vec::new();
    for amount in [1_200, 3_400] {
        let text = band.make_code(NOW, amount).unwrap().to_base64();
        register.verify_text(&text, NOW).unwrap();
        ops.push(op("SHOP-A", "till-1", &text, amount));
    }
    let first = upload(&w, "b-1", ops.clone()).await;
    assert!(
        first
            .iter()
            .all(|r| r.paid && r.source == Some(Source::Account) && !r.double_spend)
    );
    assert_eq!(
        balance(&w, &crate::settlement_account("SHOP-A")).await,
        4_600
    );
    assert_eq!(
        upload(&w, "b-1", ops.clone()).await,
        first,
        "the same batch again"
    );
    ops.reverse();
    assert_eq!(
        upload(&w, "b-2", ops).await.len(),
        2,
        "the same operations in another batch"
    );
    assert_eq!(
        balance(&w, &crate::settlement_account("SHOP-A")).await,
        4_600,
        "paid once"
    );
    let v = w.bands.view(&band_id(1)).await.unwrap();
    assert_eq!(v.balance_minor, 50_000 - 4_600);
    let listed = w.bands.operations(&band_id(1), 10).await.unwrap();
    let amounts: Vec<_> = listed
        .iter()
        .map(|o| (o.counter, o.amount_minor, o.paid))
        .collect();
    assert_eq!(amounts, vec![(2, 3_400, true), (1, 1_200, true)]);
    // An upload's own operations by key, however old: the oldest alone,
    // and a key never uploaded left out.
    let till = listed[1].register.clone();
    let keys = [(1, till.clone()), (9, till)];
    let own = w.bands.operations_with(&band_id(1), &keys).await.unwrap();
    let own: Vec<_> = own.iter().map(|o| (o.counter, o.amount_minor)).collect();
    assert_eq!(own, vec![(1, 1_200)], "{listed:?}");
    let altered = vec![op(
        "SHOP-A",
        "till-1",
        &band.make_code(NOW, 1).unwrap().to_base64(),
        1,
    )];
    assert!(matches!(
        w.bands
            .upload(
                "b-1",
                &BandBatch {
                    operations: altered
                },
                ACQ,
                NOW
            )
            .await,
        Err(BandError::BatchAltered(_))
    ));
    w.bands.ledger().check_invariants().await.unwrap();
}

#[tokio::test]
async fn a_copied_code_is_refused_at_its_register_and_caught_at_upload() {
    let w = world().await;
    let mut band = ready_band(&w, 1, 50_000, 50_000).await;
    let text = band.make_code(NOW, 2_000).unwrap().to_base64();
    let mut a = RegisterVerifier::new(w.platform.public_key());
    let mut b = RegisterVerifier::new(w.platform.public_key());
    a.verify_text(&text, NOW).unwrap();
    assert!(
        a.verify_text(&text, NOW).is_err(),
        "a replay at the same register"
    );
    b.verify_text(&text, NOW).unwrap();
    upload(&w, "a-1", vec![op("SHOP-A", "till-1", &text, 2_000)]).await;
    let caught = upload(&w, "b-1", vec![op("SHOP-B", "till-1", &text, 2_000)]).await;
    assert!(caught[0].double_spend && caught[0].paid, "{caught:?}");
    assert_eq!(caught[0].reason.as_deref(), Some("same_code_elsewhere"));
    let v = w.bands.view(&band_id(1)).await.unwrap();
    assert_eq!(
        (v.status, v.status_reason.as_deref()),
        (BandStatus::Revoked, Some("double_spend"))
    );
    assert_eq!(
        w.bands.revocations().await.unwrap(),
        vec![hex::encode(band_id(1))]
    );
    assert!(matches!(
        w.bands.sync(&band_id(1), &[], NOW).await,
        Err(BandError::Revoked(_))
    ));
    w.bands.ledger().check_invariants().await.unwrap();
}

#[tokio::test]
async fn spending_over_the_limit_across_registers_takes_the_reserve_then_is_refused() {
    let w = world().await;
    w.bands.fund_reserve("r1", 1_000).await.unwrap();
    let mut band = ready_band(&w, 1, 10_000, 10_000).await;
    // A copy of the band's key, counting on from where the band is.
    let mut clone = Band::new(&[1; 32], band.certificate().clone(), 3).unwrap();
    let mut texts = Vec::new();
    for i in 0..4 {
        let device = if i < 2 { &mut band } else { &mut clone };
        texts.push(device.make_code(NOW, 4_000).unwrap().to_base64());
    }
    // Two registers each accept two codes (8,000 each, within 10,000 alone).
    let r = upload(
        &w,
        "x-1",
        vec![
            op("SHOP-A", "till-1", &texts[0], 4_000),
            op("SHOP-A", "till-1", &texts[1], 4_000),
            op("SHOP-B", "till-1", &texts[2], 2_000),
            op("SHOP-B", "till-1", &texts[3], 1_000),
        ],
    )
    .await;
    let summary: Vec<_> = r
        .iter()
        .map(|r| (r.paid, r.source, r.double_spend))
        .collect();
    assert_eq!(
        summary,
        vec![
            (true, Some(Source::Account), false),
            (true, Some(Source::Account), false),
            (true, Some(Source::Account), false),
            (true, Some(Source::Reserve), true),
        ]
    );
    let more = clone.make_code(NOW, 1_000).unwrap().to_base64();
    let r = upload(&w, "x-2", vec![op("SHOP-B", "till-2", &more, 1_000)]).await;
    assert_eq!(
        (r[0].paid, r[0].reason.as_deref()),
        (false, Some("uncovered")),
        "{r:?}"
    );
    assert_eq!(balance(&w, &reserve_account(BAND_CURRENCY)).await, 0);
    assert_eq!(balance(&w, &band_account(&band_id(1))).await, 0);
    w.bands.ledger().check_invariants().await.unwrap();
}

#[tokio::test]
async fn a_sync_restores_the_allowance_minus_what_is_not_uploaded() {
    let w = world().await;
    let mut band = ready_band(&w, 1, 10_000, 30_000).await;
    let uploaded = band.make_code(NOW, 6_000).unwrap();
    let pending = band.make_code(NOW, 3_000).unwrap();
    upload(
        &w,
        "s-1",
        vec![op("SHOP-A", "till-1", &uploaded.to_base64(), 6_000)],
    )
    .await;
    let reported = [(uploaded.counter, 6_000), (pending.counter, 3_000)];
    let cert = w
        .bands
        .sync(&band_id(1), &reported, NOW + 60)
        .await
        .unwrap();
    assert_eq!((cert.serial, cert.limit), (2, 10_000));
    let v = w.bands.view(&band_id(1)).await.unwrap();
    assert_eq!((v.balance_minor, v.not_uploaded_minor), (24_000, 3_000));
    let mut band = Band::new(&[1; 32], cert, band.next_counter()).unwrap();
    let next = band.make_code(NOW + 60, 10_000).unwrap().to_base64();
    let r = upload(
        &w,
        "s-2",
        vec![
            op("SHOP-A", "till-1", &pending.to_base64(), 3_000),
            op("SHOP-B", "t", &next, 10_000),
        ],
    )
    .await;
    assert!(r.iter().all(|r| r.paid && !r.double_spend), "{r:?}");
    assert_eq!(
        w.bands.view(&band_id(1)).await.unwrap().not_uploaded_minor,
        0
    );
}

#[tokio::test]
async fn bad_operations_are_refused_with_their_reason_and_settle_nothing() {
    let w = world().await;
    let mut band = ready_band(&w, 1, 10_000, 10_000).await;
    let mut code = band.make_code(NOW, 500).unwrap();
    let good = code.to_base64();
    code.amount = 5_000;
    let tampered = code.to_base64();
    let stranger = Platform::from_secret(&[3; 32]);
    let mut cert = band.certificate().clone();
    cert.limit = 1;
    let forged = stranger.issue(cert).unwrap();
    let mut forged_band = Band::new(&[1; 32], forged, 99).unwrap();
    let r = upload(
        &w,
        "bad-1",
        vec![
            op("SHOP-A", "till-1", &tampered, 500),
            op("SHOP-A", "till-1", "not a code", 500),
            op("NOBODY", "till-1", &good, 500),
            op("SHOP-A", "till-1", &good, 501),
            op("SHOP-A", "till 1", &good, 500),
            op(
                "SHOP-A",
                "till-1",
                &forged_band.make_code(NOW, 1).unwrap().to_base64(),
                1,
            ),
        ],
    )
    .await;
    let reasons: Vec<_> = r
        .iter()
        .map(|r| (r.paid, r.reason.clone().unwrap_or_default()))
        .collect();
    let expect = [
        "bad_signature",
        "bad_code",
        "unknown_merchant",
        "bad_amount",
        "invalid",
        "unknown_platform_key",
    ];
    assert_eq!(
        reasons,
        expect
            .iter()
            .map(|s| (false, s.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(balance(&w, &band_account(&band_id(1))).await, 10_000);
}

#[tokio::test]
async fn one_forged_code_is_refused_and_every_other_code_of_its_batch_settles() {
    let w = world().await;
    let mut bands = [
        ready_band(&w, 1, 10_000, 10_000).await,
        ready_band(&w, 2, 10_000, 10_000).await,
    ];
    let mut ops = Vec::new();
    for n in 0..12u64 {
        let band = &mut bands[usize::from(n % 2 == 1)];
        let mut code = band.make_code(NOW, 100 + n).unwrap();
        if n == 7 {
            code.signature[40] ^= 0x10;
        }
        ops.push(op("SHOP-A", "till-1", &code.to_base64(), 100 + n));
    }
    let r = upload(&w, "forged-1", ops).await;
    let got: Vec<_> = r.iter().map(|r| (r.paid, r.reason.as_deref())).collect();
    let mut expect = vec![(true, None); 12];
    expect[7] = (false, Some("bad_signature"));
    assert_eq!(got, expect);
    assert_eq!(
        (r[7].band_id.clone(), r[7].counter),
        (Some(hex::encode(band_id(2))), Some(4))
    );
    let paid: i64 = (0..12).filter(|n| *n != 7).map(|n| 100 + n).sum();
    assert_eq!(
        balance(&w, &crate::settlement_account("SHOP-A")).await,
        paid
    );
    // The certificates, remembered as verified, are not what lets a forged
    // code of a later batch through.
    let mut code = bands[0].make_code(NOW, 1).unwrap();
    code.amount = 2;
    let r = upload(
        &w,
        "forged-2",
        vec![op("SHOP-A", "till-1", &code.to_base64(), 2)],
    )
    .await;
    assert_eq!(
        (r[0].paid, r[0].reason.as_deref()),
        (false, Some("bad_signature"))
    );
    w.bands.ledger().check_invariants().await.unwrap();
}

#[tokio::test]
async fn turning_the_band_off_refuses_codes_made_afterwards() {
    let w = world().await;
    let mut band = ready_band(&w, 1, 10_000, 10_000).await;
    let before = band.make_code(NOW, 100).unwrap().to_base64();
    w.bands
        .revoke(&band_id(1), "turned_off", NOW + 1)
        .await
        .unwrap();
    let after = band.make_code(NOW + 120, 100).unwrap().to_base64();
    let r = upload(
        &w,
        "off-1",
        vec![
            op("SHOP-A", "t", &before, 100),
            op("SHOP-A", "t", &after, 100),
        ],
    )
    .await;
    assert!(r[0].paid, "made before it was turned off");
    assert_eq!(
        (r[1].paid, r[1].reason.as_deref()),
        (false, Some("revoked"))
    );
    let v = w.bands.view(&band_id(1)).await.unwrap();
    assert_eq!(v.status_reason.as_deref(), Some("turned_off"));
}

mod property;
