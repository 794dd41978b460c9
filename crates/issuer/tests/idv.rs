//! ID&V decisions (green / yellow / red) and the one-time passcode.

mod common;

use common::*;
use paytap_issuer::*;
use paytap_types::{Expiry, Secret};

fn req(card: &IssuedCard, device: &str) -> IdvRequest {
    IdvRequest {
        pan: card.pan.clone(),
        expiry_yymm: card.expiry_yymm,
        cvv: card.cvv.clone(),
        device_id: device.into(),
        device_kind: "phone".into(),
        account_id: "acct_1".into(),
    }
}

fn red(d: &IdvDecision) -> Option<RedReason> {
    match d {
        IdvDecision::Red { reason, .. } => Some(*reason),
        _ => None,
    }
}

#[tokio::test]
async fn green_for_good_card_data() {
    let env = env().await;
    let card = env
        .issuer
        .issue_card(ICBC, Product::Debit, "A", 1_000)
        .await
        .unwrap();
    let d = env
        .issuer
        .identify_and_verify(&req(&card, "dev_1"))
        .await
        .unwrap();
    let IdvDecision::Green {
        verification_id,
        bank_name,
        card_id,
        ..
    } = &d
    else {
        panic!("{d:?}")
    };
    assert_eq!(bank_name, "Industrial and Commercial Bank of China");
    assert_eq!(card_id, &card.card_id);
    let v = env.issuer.verification(verification_id).await.unwrap();
    assert_eq!(v.state, VerificationState::Approved);
    assert_eq!(v.device_id, "dev_1");
    assert!(matches!(
        env.issuer.verify_otp(verification_id, "123456").await,
        Err(IssuerError::UnknownVerification)
    ));
}

#[tokio::test]
async fn red_for_wrong_data_or_unusable_card() {
    let env = env().await;
    let card = env
        .issuer
        .issue_card(ICBC, Product::Debit, "A", 1_000)
        .await
        .unwrap();
    let mut r = req(&card, "dev_1");
    let good: u32 = r.cvv.expose().parse().unwrap();
    r.cvv = Secret::new(format!("{:03}", (good + 1) % 1000));
    assert_eq!(
        red(&env.issuer.identify_and_verify(&r).await.unwrap()),
        Some(RedReason::WrongCvv)
    );
    r.cvv = Secret::new("12".into());
    assert_eq!(
        red(&env.issuer.identify_and_verify(&r).await.unwrap()),
        Some(RedReason::WrongCvv)
    );
    let mut r = req(&card, "dev_1");
    r.expiry_yymm = Expiry::new(39, 12).unwrap();
    assert_eq!(
        red(&env.issuer.identify_and_verify(&r).await.unwrap()),
        Some(RedReason::WrongExpiry)
    );
    let mut r = req(&card, "dev_1");
    r.pan = pan_with("620101", 1);
    assert_eq!(
        red(&env.issuer.identify_and_verify(&r).await.unwrap()),
        Some(RedReason::UnknownCard)
    );
    env.issuer
        .set_card_status(&card.card_id, CardStatus::Lost)
        .await
        .unwrap();
    let d = env
        .issuer
        .identify_and_verify(&req(&card, "dev_1"))
        .await
        .unwrap();
    assert_eq!(red(&d), Some(RedReason::CardNotActive));
    assert_eq!(
        env.issuer
            .verification(d.verification_id())
            .await
            .unwrap()
            .state,
        VerificationState::Refused
    );
    let mut old = IssueCard::new(ICBC, Product::Debit, "OLD", 1);
    old.expiry_yymm = Some("2001".into());
    let old = env.issuer.issue(old).await.unwrap();
    assert_eq!(
        red(&env
            .issuer
            .identify_and_verify(&req(&old, "d"))
            .await
            .unwrap()),
        Some(RedReason::CardExpired)
    );
    // The reason shown to people carries no card data.
    assert!(!RedReason::WrongCvv.message().contains(card.pan.last4()));
}

async fn yellow(env: &Env, card: &IssuedCard, device: &str) -> (String, String) {
    let mut otps = env.issuer.subscribe_otp();
    let d = env
        .issuer
        .identify_and_verify(&req(card, device))
        .await
        .unwrap();
    let IdvDecision::Yellow {
        verification_id,
        destination,
        ..
    } = d
    else {
        panic!("{d:?}")
    };
    assert!(destination.starts_with("SMS to +86 138****"));
    let sms = otps.recv().await.unwrap();
    assert_eq!(sms.verification_id, verification_id);
    assert_eq!(sms.code.expose().len(), 6);
    assert!(!format!("{sms:?}").contains(sms.code.expose().as_str()));
    (verification_id, sms.code.expose().clone())
}

#[tokio::test]
async fn yellow_with_passcode_in_the_test_range() {
    let env = env().await;
    let mut r = IssueCard::new(ICBC, Product::Debit, "A", 1_000);
    r.step_up_range = true;
    let card = env.issuer.issue(r).await.unwrap();
    assert!(card.pan.expose().starts_with("6201019"));
    let (vid, code) = yellow(&env, &card, "dev_1").await;
    assert_eq!(
        env.issuer.verification(&vid).await.unwrap().state,
        VerificationState::Pending
    );
    let wrong = if code == "000000" { "000001" } else { "000000" };
    assert_eq!(
        env.issuer.verify_otp(&vid, wrong).await.unwrap(),
        OtpOutcome::Incorrect { attempts_left: 2 }
    );
    assert_eq!(
        env.issuer.verify_otp(&vid, &code).await.unwrap(),
        OtpOutcome::Verified
    );
    assert_eq!(
        env.issuer.verification(&vid).await.unwrap().state,
        VerificationState::Approved
    );
    // Entering it again is harmless.
    assert_eq!(
        env.issuer.verify_otp(&vid, &code).await.unwrap(),
        OtpOutcome::Verified
    );
    // The code is stored hashed only.
    let (stored,): (Vec<u8>,) =
        sqlx::query_as("SELECT otp_hash FROM issuer_idv WHERE verification_id = $1")
            .bind(&vid)
            .fetch_one(env.db.pool())
            .await
            .unwrap();
    assert_eq!(stored.len(), 32);
    assert!(!String::from_utf8_lossy(&stored).contains(&code));
}

#[tokio::test]
async fn three_wrong_passcodes_lock_the_verification() {
    let env = env().await;
    let mut r = IssueCard::new(ICBC, Product::Debit, "A", 1_000);
    r.step_up_range = true;
    let card = env.issuer.issue(r).await.unwrap();
    let (vid, code) = yellow(&env, &card, "dev_1").await;
    let wrong = if code == "999999" { "999998" } else { "999999" };
    assert_eq!(
        env.issuer.verify_otp(&vid, wrong).await.unwrap(),
        OtpOutcome::Incorrect { attempts_left: 2 }
    );
    assert_eq!(
        env.issuer.verify_otp(&vid, wrong).await.unwrap(),
        OtpOutcome::Incorrect { attempts_left: 1 }
    );
    assert_eq!(
        env.issuer.verify_otp(&vid, wrong).await.unwrap(),
        OtpOutcome::Locked
    );
    // Even the right code is refused now.
    assert_eq!(
        env.issuer.verify_otp(&vid, &code).await.unwrap(),
        OtpOutcome::Locked
    );
    assert_eq!(
        env.issuer.verification(&vid).await.unwrap().state,
        VerificationState::Refused
    );
    assert!(matches!(
        env.issuer.verify_otp("idv_unknown", "123456").await,
        Err(IssuerError::UnknownVerification)
    ));
}

#[tokio::test]
async fn passcode_expires() {
    let env = env().await;
    let mut r = IssueCard::new(ICBC, Product::Debit, "A", 1_000);
    r.step_up_range = true;
    let card = env.issuer.issue(r).await.unwrap();
    let (vid, code) = yellow(&env, &card, "dev_1").await;
    env.advance(300_001);
    assert_eq!(
        env.issuer.verify_otp(&vid, &code).await.unwrap(),
        OtpOutcome::Expired
    );
    assert_eq!(
        env.issuer.verify_otp(&vid, &code).await.unwrap(),
        OtpOutcome::Expired
    );
    assert_eq!(
        env.issuer.verification(&vid).await.unwrap().state,
        VerificationState::Refused
    );
}

#[tokio::test]
async fn new_device_and_repeated_provisioning_rules() {
    let env = env().await;
    // China Merchants Bank steps up for every device not yet verified for the card.
    let card = env
        .issuer
        .issue_card(CMB, Product::Credit, "A", 1_000)
        .await
        .unwrap();
    let (vid, code) = yellow(&env, &card, "dev_phone").await;
    assert_eq!(
        env.issuer.verify_otp(&vid, &code).await.unwrap(),
        OtpOutcome::Verified
    );
    assert!(matches!(
        env.issuer
            .identify_and_verify(&req(&card, "dev_phone"))
            .await
            .unwrap(),
        IdvDecision::Green { .. }
    ));
    let _ = yellow(&env, &card, "dev_watch").await;

    // Every bank: the fourth ID&V of a card within 24 hours steps up.
    let card = env
        .issuer
        .issue_card(ICBC, Product::Debit, "B", 1_000)
        .await
        .unwrap();
    for i in 0..3 {
        let d = env
            .issuer
            .identify_and_verify(&req(&card, &format!("dev_{i}")))
            .await
            .unwrap();
        assert!(matches!(d, IdvDecision::Green { .. }), "{i}: {d:?}");
    }
    let _ = yellow(&env, &card, "dev_3").await;
    env.advance(86_400_001);
    assert!(matches!(
        env.issuer
            .identify_and_verify(&req(&card, "dev_4"))
            .await
            .unwrap(),
        IdvDecision::Green { .. }
    ));
}
