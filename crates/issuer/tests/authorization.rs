//! Issuer authorization over ISO 8583: approvals and every decline, holds,
//! duplicates, reversals, advices, captures, card chip cryptograms. SQLite
//! by default; PostgreSQL with PAYTAP_TEST_DATABASE_URL. (The issuer behind
//! the switch's link and its TCP endpoint: `crates/network/tests/adapters.rs`.)

mod common;

use common::*;
use paytap_emv::card::CardProfile;
use paytap_emv::kernel::{DirectTransport, Kernel, Outcome, TerminalConfig, Transaction, TxnDate};
use paytap_emv::{ContactlessCard, EmvKey, SecureElement, TokenPan};
use paytap_iso8583::{Message, Mti, OriginalData, ResponseCode};
use paytap_issuer::*;
use paytap_ledger::PendingState;

fn code(m: &Message) -> ResponseCode {
    m.response_code().expect("DE 39")
}

/// The issuer's answer (DE 39) to an authorization request.
async fn answer(issuer: &Issuer, m: &Message) -> ResponseCode {
    code(&issuer.authorize(m).await)
}

/// Sends each request in order and checks its answer: a table of
/// `(request, expected answer)`; a failure names the row.
async fn check_answers(issuer: &Issuer, cases: Vec<(Message, ResponseCode)>) {
    for (row, (m, expect)) in cases.into_iter().enumerate() {
        assert_eq!(answer(issuer, &m).await, expect, "row {row}");
    }
}

/// Issues a card at `bank`.
async fn issue(env: &Env, bank: &str, product: Product, name: &str, amount: i64) -> IssuedCard {
    env.issuer
        .issue_card(bank, product, name, amount)
        .await
        .expect("card issued")
}

/// What the card's account has on hold.
async fn pending_debits(env: &Env, card: &IssuedCard) -> i64 {
    env.ledger
        .balance(&card.account_id)
        .await
        .expect("balance")
        .debits_pending
}

/// A reversal request naming its original by DE 37.
fn reversal_of(rrn: &str) -> Message {
    let mut rev = Message::new(Mti::REVERSAL_REQUEST);
    rev.set_rrn(rrn).expect("DE 37");
    rev
}

#[tokio::test]
async fn approved_purchase_places_a_hold_that_capture_posts() {
    let env = env().await;
    let card = issue(&env, ICBC, Product::Debit, "LI LEI", 100_000).await;
    let resp = env
        .issuer
        .authorize(&token_auth(&card.pan, 1_250, 1, true))
        .await;
    assert_eq!(resp.mti(), Mti::AUTHORIZATION_RESPONSE);
    assert_eq!(code(&resp), ResponseCode::Approved);
    assert_eq!(resp.auth_id_response().map(str::len), Some(6));
    assert_eq!(resp.get_str(37), Some("000000000001"));
    let bal = env.ledger.balance(&card.account_id).await.unwrap();
    assert_eq!(
        (bal.credits_posted, bal.debits_pending, bal.debits_posted),
        (100_000, 1_250, 0)
    );
    assert_eq!(
        env.issuer.available(&card.card_id).await.unwrap().minor,
        98_750
    );
    assert_eq!(
        env.ledger
            .pending_state("hold:rrn:000000000001")
            .await
            .unwrap(),
        Some(PendingState::Pending)
    );
    // Clearing captures a smaller amount (tip-less final amount); the rest is released.
    assert_eq!(
        env.issuer
            .capture_rrn("000000000001", Some(1_000))
            .await
            .unwrap(),
        ResponseCode::Approved
    );
    assert_eq!(
        env.issuer
            .capture_rrn("000000000001", Some(1_000))
            .await
            .unwrap(),
        ResponseCode::Approved
    );
    let bal = env.ledger.balance(&card.account_id).await.unwrap();
    assert_eq!((bal.debits_pending, bal.debits_posted), (0, 1_000));
    let settlement = env
        .ledger
        .balance(&format!("issuer:{ICBC}:settlement"))
        .await
        .unwrap();
    assert_eq!(settlement.credits_posted, 1_000);
    // A financial request (0200) is answered 0210.
    let mut fin = token_auth(&card.pan, 500, 2, true);
    fin.set_mti(Mti::FINANCIAL_REQUEST);
    let r = env.issuer.handle(&fin).await.unwrap();
    assert_eq!(
        (r.mti(), code(&r)),
        (Mti::FINANCIAL_RESPONSE, ResponseCode::Approved)
    );
    assert_eq!(
        env.issuer.capture_rrn("000000000002", None).await.unwrap(),
        ResponseCode::Approved
    );
    // A reversal after capture cannot release anything.
    let mut rev = reversal_of("000000000001");
    rev.set_amount(1_250).unwrap();
    assert_eq!(
        code(&env.issuer.reverse(&rev).await),
        ResponseCode::InvalidTransaction
    );
    assert_ledger_balanced(&env).await;
}

#[tokio::test]
async fn declines_for_funds_on_debit_and_credit() {
    let env = env().await;
    let debit = issue(&env, ICBC, Product::Debit, "A", 5_000).await;
    let credit = issue(&env, ICBC, Product::Credit, "B", 20_000).await;
    let credit_id = credit.card_id.clone();
    let (debit, credit) = (&debit.pan, &credit.pan);
    check_answers(
        &env.issuer,
        vec![
            (
                token_auth(debit, 5_001, 1, true),
                ResponseCode::InsufficientFunds,
            ),
            (token_auth(debit, 5_000, 2, true), ResponseCode::Approved),
            (
                token_auth(debit, 1, 3, true),
                ResponseCode::InsufficientFunds,
            ),
            (token_auth(credit, 15_000, 4, true), ResponseCode::Approved),
            (
                token_auth(credit, 5_001, 5, true),
                ResponseCode::InsufficientFunds,
            ),
        ],
    )
    .await;
    let credit = env.issuer.available(&credit_id).await.unwrap();
    assert_eq!(credit.minor, 5_000);
    // Declines hold nothing.
    assert_eq!(
        env.ledger
            .pending_state("hold:rrn:000000000001")
            .await
            .unwrap(),
        None
    );
    assert_ledger_balanced(&env).await;
}

#[tokio::test]
async fn card_status_expiry_and_number_declines() {
    let env = env().await;
    let card = issue(&env, ICBC, Product::Debit, "A", 100_000).await;
    let mut stan = 0;
    let mut try_it = |m: fn(&paytap_types::Pan, u64, u32, bool) -> Message,
                      pan: &paytap_types::Pan| {
        stan += 1;
        m(pan, 100, stan, true)
    };
    for (status, expect) in [
        (CardStatus::Blocked, ResponseCode::RestrictedCard),
        (CardStatus::Lost, ResponseCode::LostCard),
        (CardStatus::Stolen, ResponseCode::StolenCard),
        (CardStatus::Active, ResponseCode::Approved),
    ] {
        env.issuer
            .set_card_status(&card.card_id, status)
            .await
            .unwrap();
        let m = try_it(token_auth, &card.pan);
        assert_eq!(answer(&env.issuer, &m).await, expect, "{status:?}");
    }
    // Expired card.
    let mut req = IssueCard::new(ICBC, Product::Debit, "OLD", 10_000);
    req.expiry_yymm = Some("2001".into());
    let old = env.issuer.issue(req).await.unwrap();
    assert_eq!(
        answer(&env.issuer, &try_it(token_auth, &old.pan)).await,
        ResponseCode::ExpiredCard
    );
    // DE 14 that is not the card's expiry.
    let mut m = try_it(token_auth, &card.pan);
    m.set_expiry(20, 1).unwrap();
    assert_eq!(answer(&env.issuer, &m).await, ResponseCode::ExpiredCard);
    // Unknown numbers: not in the vault, another bank's range, not a PAN,
    // none at all.
    let stranger = try_it(token_auth, &pan_with("620101", 1));
    let elsewhere = paytap_types::Pan::parse("4111111111111111").unwrap();
    let elsewhere = try_it(token_auth, &elsewhere);
    let mut not_a_pan = try_it(token_auth, &card.pan);
    not_a_pan.set(2, "6201011234567890").unwrap();
    let mut no_pan = not_a_pan.clone();
    no_pan.remove(2);
    let unknown = [stranger, elsewhere, not_a_pan, no_pan];
    let cases = unknown.map(|m| (m, ResponseCode::InvalidCardNumber));
    check_answers(&env.issuer, cases.into()).await;
    assert_ledger_balanced(&env).await;
}

#[tokio::test]
async fn transaction_shape_declines() {
    let env = env().await;
    let card = issue(&env, ICBC, Product::Debit, "A", 1_000_000).await;
    let a = |amount, stan, cdcvm| token_auth(&card.pan, amount, stan, cdcvm);
    let changed = |stan, change: fn(&mut Message)| {
        let mut m = a(100, stan, true);
        change(&mut m);
        m
    };
    check_answers(
        &env.issuer,
        vec![
            (
                changed(1, |m| m.set_currency(840).unwrap()),
                ResponseCode::InvalidTransaction,
            ),
            (
                changed(2, |m| m.set_processing_code("200000").unwrap()),
                ResponseCode::InvalidTransaction,
            ),
            (a(0, 3, true), ResponseCode::InvalidAmount),
            (changed(4, |m| m.remove(49)), ResponseCode::FormatError),
            (
                changed(5, |m| {
                    m.remove(37);
                    m.remove(41);
                }),
                ResponseCode::FormatError,
            ),
            // Above the no-CVM limit without on-device verification.
            (a(100_001, 6, false), ResponseCode::IncorrectPin),
            (a(100_001, 7, true), ResponseCode::Approved),
        ],
    )
    .await;
}

#[tokio::test]
async fn limits_and_velocity() {
    let env = env().await;
    let mut req = IssueCard::new(ICBC, Product::Credit, "A", 10_000_000);
    req.limits = Some(Limits {
        single_transaction: 50_000,
        daily: 120_000,
        velocity_count: 3,
        velocity_window_secs: 600,
        no_cvm_limit: 100_000,
    });
    let card = env.issuer.issue(req).await.unwrap();
    let a = |amount, stan| token_auth(&card.pan, amount, stan, true);
    check_answers(
        &env.issuer,
        vec![
            (a(50_001, 1), ResponseCode::ExceedsWithdrawalLimit),
            (a(50_000, 2), ResponseCode::Approved),
            (a(50_000, 3), ResponseCode::Approved),
            // Daily total 100 000 + 30 000 > 120 000.
            (a(30_000, 4), ResponseCode::ExceedsWithdrawalLimit),
            (a(10_000, 5), ResponseCode::Approved),
            // Three approvals in ten minutes: the fourth is refused.
            (a(100, 6), ResponseCode::ExceedsFrequencyLimit),
        ],
    )
    .await;
    // After the window (and a new day) it passes again.
    env.advance(86_400_000);
    assert_eq!(
        answer(&env.issuer, &a(100, 7)).await,
        ResponseCode::Approved
    );
    // A reversed authorization does not count against the daily limit.
    let rev = reversal_of("000000000007");
    assert_eq!(
        code(&env.issuer.reverse(&rev).await),
        ResponseCode::Approved
    );
    let again = vec![
        (a(50_000, 8), ResponseCode::Approved),
        (a(50_000, 9), ResponseCode::Approved),
    ];
    check_answers(&env.issuer, again).await;
    assert_ledger_balanced(&env).await;
}

#[tokio::test]
async fn spend_windows_survive_a_restart_and_count_stand_in_advices() {
    let env = env().await;
    let limits = Limits {
        single_transaction: 50_000,
        daily: 120_000,
        velocity_count: 3,
        velocity_window_secs: 600,
        no_cvm_limit: 100_000,
    };
    let mut req = IssueCard::new(ICBC, Product::Credit, "A", 10_000_000);
    req.limits = Some(limits);
    let card = env.issuer.issue(req).await.unwrap();
    let a = |amount, stan| token_auth(&card.pan, amount, stan, true);
    for stan in [1, 2] {
        assert_eq!(
            answer(&env.issuer, &a(50_000, stan)).await,
            ResponseCode::Approved
        );
    }
    // A stand-in approval the network made on the bank's behalf counts too.
    let mut advice = a(10_000, 3);
    advice.set_mti(Mti::from_str("0120").unwrap());
    advice.set_response_code(ResponseCode::Approved).unwrap();
    advice.set_auth_id_response("S00003").unwrap();
    let r = env.issuer.handle(&advice).await.unwrap();
    assert_eq!(code(&r), ResponseCode::Approved);
    // At once, in this process: 100 000 + 10 000 + 20 000 > 120 000.
    assert_eq!(
        answer(&env.issuer, &a(20_000, 10)).await,
        ResponseCode::ExceedsWithdrawalLimit
    );

    // A new process on the same database: the windows come back from the
    // records. Daily total 110 000 + 20 000 > 120 000; 10 000 fits.
    let clock = env.clock.clone();
    let issuer = Issuer::open(
        env.db.clone(),
        env.ledger.clone(),
        env.vault.clone(),
        IssuerConfig::default_banks(),
        env.keys.clone(),
    )
    .await
    .unwrap()
    .with_clock(std::sync::Arc::new(move || {
        clock.load(std::sync::atomic::Ordering::SeqCst)
    }));
    let restarted = vec![
        (a(20_000, 4), ResponseCode::ExceedsWithdrawalLimit),
        // Three approvals (the advice among them) in ten minutes: the
        // fourth is refused even though the amount fits.
        (a(5_000, 5), ResponseCode::ExceedsFrequencyLimit),
    ];
    check_answers(&issuer, restarted).await;
    env.advance(601_000);
    let later = vec![
        (a(10_000, 6), ResponseCode::Approved),
        (a(1, 7), ResponseCode::ExceedsWithdrawalLimit),
    ];
    check_answers(&issuer, later).await;
    // A reversal gives its amount back to the day at once.
    let rev = reversal_of("000000000006");
    assert_eq!(code(&issuer.reverse(&rev).await), ResponseCode::Approved);
    assert_eq!(answer(&issuer, &a(10_000, 8)).await, ResponseCode::Approved);
    // Velocity windows reach back at most a day.
    let mut long = limits;
    long.velocity_window_secs = 86_401;
    assert!(matches!(
        issuer.set_card_limits(&card.card_id, long).await,
        Err(IssuerError::Invalid(_))
    ));
    assert_ledger_balanced(&env).await;
}

#[tokio::test]
async fn duplicates_get_the_same_answer_and_one_hold() {
    let env = env().await;
    let card = issue(&env, ICBC, Product::Debit, "A", 10_000).await;
    let m = token_auth(&card.pan, 4_000, 1, true);
    let first = env.issuer.authorize(&m).await;
    let again = env.issuer.authorize(&m).await;
    assert_eq!(first, again);
    assert_eq!(code(&first), ResponseCode::Approved);
    // The same terminal/STAN/time under a new DE 37 is still the same transaction.
    let mut other_rrn = m.clone();
    other_rrn.set_rrn("999999999999").unwrap();
    let third = env.issuer.authorize(&other_rrn).await;
    assert_eq!(third.auth_id_response(), first.auth_id_response());
    assert_eq!(pending_debits(&env, &card).await, 4_000);
    // The same DE 37 with another amount is not a duplicate but a clash.
    let clash = token_auth(&card.pan, 4_001, 1, true);
    assert_eq!(
        answer(&env.issuer, &clash).await,
        ResponseCode::DuplicateTransmission
    );
    // Concurrent duplicates: still one hold.
    let m2 = token_auth(&card.pan, 3_000, 2, true);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let i = env.issuer.clone();
        let m = m2.clone();
        tasks.push(tokio::spawn(async move { i.authorize(&m).await }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(pending_debits(&env, &card).await, 7_000);
    assert_ledger_balanced(&env).await;
}

#[tokio::test]
async fn reversals_release_holds_and_are_idempotent() {
    let env = env().await;
    let card = issue(&env, ICBC, Product::Debit, "A", 10_000).await;
    let m = token_auth(&card.pan, 4_000, 1, true);
    assert_eq!(answer(&env.issuer, &m).await, ResponseCode::Approved);
    // Acquirer reversal found by DE 90 + DE 41 (no DE 37).
    let mut rev = Message::new(Mti::REVERSAL_REQUEST);
    rev.set_terminal_id("T0000001").unwrap();
    rev.set_amount(4_000).unwrap();
    rev.set_original_data(&OriginalData {
        mti: Mti::AUTHORIZATION_REQUEST,
        stan: 1,
        transmission_datetime: m.transmission_datetime().unwrap().to_owned(),
        acquirer_id: "12345678".into(),
        forwarding_id: "0".into(),
    })
    .unwrap();
    let r = env.issuer.reverse(&rev).await;
    assert_eq!(r.mti(), Mti::REVERSAL_RESPONSE);
    assert_eq!(code(&r), ResponseCode::Approved);
    assert_eq!(pending_debits(&env, &card).await, 0);
    assert_eq!(
        env.ledger
            .pending_state("hold:rrn:000000000001")
            .await
            .unwrap(),
        Some(PendingState::Voided)
    );
    // Repeats (also as an advice) change nothing.
    assert_eq!(
        code(&env.issuer.reverse(&rev).await),
        ResponseCode::Approved
    );
    let mut advice = rev.clone();
    advice.set_mti(Mti::REVERSAL_ADVICE);
    let a = env.issuer.reverse(&advice).await;
    assert_eq!(
        (a.mti(), code(&a)),
        (Mti::REVERSAL_ADVICE_RESPONSE, ResponseCode::Approved)
    );
    // A voided hold cannot be captured.
    assert_eq!(
        env.issuer.capture_rrn("000000000001", None).await.unwrap(),
        ResponseCode::InvalidTransaction
    );
    assert_eq!(
        env.issuer.available(&card.card_id).await.unwrap().minor,
        10_000
    );

    // A reversal that overtakes its original: the original then holds nothing.
    let early = reversal_of("000000000002");
    assert_eq!(
        code(&env.issuer.reverse(&early).await),
        ResponseCode::Approved
    );
    let late = token_auth(&card.pan, 1_000, 2, true);
    assert_eq!(answer(&env.issuer, &late).await, ResponseCode::DoNotHonour);
    assert_eq!(pending_debits(&env, &card).await, 0);
    assert_ledger_balanced(&env).await;
}

#[tokio::test]
async fn stand_in_advice_holds_and_capture_by_message() {
    let env = env().await;
    let card = issue(&env, ICBC, Product::Debit, "A", 10_000).await;
    let mut advice = token_auth(&card.pan, 2_500, 5, true);
    advice.set_mti(Mti::from_str("0120").unwrap());
    advice.set_response_code(ResponseCode::Approved).unwrap();
    advice.set_auth_id_response("S00005").unwrap();
    let r = env.issuer.handle(&advice).await.unwrap();
    assert_eq!(
        (r.mti().as_str(), code(&r)),
        ("0130", ResponseCode::Approved)
    );
    assert_eq!(env.issuer.handle(&advice).await.unwrap(), r);
    assert_eq!(pending_debits(&env, &card).await, 2_500);
    // Clearing capture 0220 for the advice's hold.
    let mut cap = Message::new(Mti::from_str("0220").unwrap());
    cap.set_rrn("000000000005").unwrap();
    cap.set_amount(2_500).unwrap();
    cap.set_original_data(&OriginalData {
        mti: Mti::from_str("0120").unwrap(),
        stan: 5,
        transmission_datetime: advice.transmission_datetime().unwrap().to_owned(),
        acquirer_id: "12345678".into(),
        forwarding_id: "0".into(),
    })
    .unwrap();
    let mut too_much = cap.clone();
    too_much.set_amount(2_501).unwrap();
    assert_eq!(
        code(&env.issuer.handle(&too_much).await.unwrap()),
        ResponseCode::InvalidAmount
    );
    let c = env.issuer.handle(&cap).await.unwrap();
    assert_eq!(
        (c.mti().as_str(), code(&c)),
        ("0230", ResponseCode::Approved)
    );
    let bal = env.ledger.balance(&card.account_id).await.unwrap();
    assert_eq!((bal.debits_pending, bal.debits_posted), (0, 2_500));
    // Echo.
    let mut echo = Message::new(Mti::NETWORK_REQUEST);
    echo.set_network_management_code(paytap_iso8583::NetworkManagementCode::EchoTest)
        .unwrap();
    assert_eq!(
        code(&env.issuer.handle(&echo).await.unwrap()),
        ResponseCode::Approved
    );
    assert!(env.issuer.handle(&r).await.is_none());
    assert_ledger_balanced(&env).await;
}

/// A plastic card with a contactless chip personalised by the bank.
fn chip_card(env: &Env, card: &IssuedCard) -> SecureElement {
    let imk = &env.keys.bank(&card.bank_id).unwrap().imk_ac;
    let mk = paytap_emv::crypto::derive_icc_mk(imk, card.pan.expose(), card.psn).unwrap();
    let mut profile = CardProfile::new(
        hex::decode("A000000333010101").unwrap(),
        "UnionPay Debit",
        TokenPan::new(card.pan.expose()).unwrap(),
        card.expiry_yymm,
        card.psn,
        EmvKey::Tdes(mk),
    );
    profile.requires_cdcvm = false;
    let mut se = SecureElement::new();
    se.add_card(ContactlessCard::new(profile).unwrap()).unwrap();
    se
}

fn chip_auth(se: &mut SecureElement, amount: u64, stan: u32) -> Message {
    let kernel = Kernel::new(TerminalConfig::default());
    let txn = Transaction::purchase(
        amount,
        156,
        TxnDate::parse("261123").unwrap(),
        [1, 2, 3, stan as u8],
    );
    let Outcome::OnlineRequest { icc_data, pan, .. } =
        kernel.run(&mut DirectTransport(se), &txn).unwrap()
    else {
        panic!("no online request");
    };
    let mut m = auth(
        &paytap_types::Pan::parse(pan.expose()).unwrap(),
        amount,
        stan,
    );
    m.set_icc_data(&icc_data).unwrap();
    m
}

#[tokio::test]
async fn card_chip_cryptogram_is_verified_and_answered_with_an_arpc() {
    let env = env().await;
    let card = issue(&env, ICBC, Product::Debit, "A", 100_000).await;
    let mut se = chip_card(&env, &card);
    let m = chip_auth(&mut se, 900, 1);
    let resp = env.issuer.authorize(&m).await;
    assert_eq!(code(&resp), ResponseCode::Approved);
    let tag91 = paytap_tlv::find_flat(resp.icc_data().unwrap(), paytap_tlv::tags::ISSUER_AUTH_DATA)
        .unwrap()
        .unwrap();
    assert_eq!(&tag91[8..], b"00");
    let imk = &env.keys.bank(ICBC).unwrap().imk_ac;
    let expect = paytap_emv::verify::verify_arqc_with_imk(
        imk,
        card.pan.expose(),
        card.psn,
        m.icc_data().unwrap(),
        *b"00",
    )
    .unwrap();
    assert_eq!(&tag91[..8], &expect.arpc);
    // The duplicate is answered identically, ARPC included.
    assert_eq!(env.issuer.authorize(&m).await, resp);
    // The same cryptogram under a new transaction: replay.
    let mut replay = m.clone();
    replay.set_stan(2).unwrap();
    replay.set_rrn("000000000002").unwrap();
    assert_eq!(
        answer(&env.issuer, &replay).await,
        ResponseCode::DoNotHonour
    );
    // A forged cryptogram.
    let mut forged = chip_auth(&mut se, 900, 3);
    let mut de55 = forged.icc_data().unwrap().to_vec();
    let ac = paytap_tlv::find_flat(&de55, paytap_tlv::tags::AC)
        .unwrap()
        .unwrap()
        .to_vec();
    let at = de55.windows(8).position(|w| w == ac.as_slice()).unwrap();
    de55[at + 7] ^= 0x80;
    forged.set_icc_data(&de55).unwrap();
    assert_eq!(
        answer(&env.issuer, &forged).await,
        ResponseCode::SecurityViolation
    );
    // A declined chip transaction still gets an ARPC over its code.
    let big = chip_auth(&mut se, 100_001, 4);
    let d = env.issuer.authorize(&big).await;
    assert_eq!(code(&d), ResponseCode::IncorrectPin);
    let tag91 = paytap_tlv::find_flat(d.icc_data().unwrap(), paytap_tlv::tags::ISSUER_AUTH_DATA)
        .unwrap()
        .unwrap();
    assert_eq!(&tag91[8..], b"55");
    assert_eq!(
        env.issuer.card(&card.card_id).await.unwrap().last_atc,
        Some(3)
    );
}

#[tokio::test]
async fn indian_bank_works_in_inr() {
    let env = env().await;
    let card = issue(&env, ICICI, Product::Debit, "ASHA", 500_000).await;
    assert!(card.pan.expose().starts_with("620119"));
    let mut m = token_auth(&card.pan, 10_000, 1, true);
    assert_eq!(
        answer(&env.issuer, &m).await,
        ResponseCode::InvalidTransaction
    );
    m.set_currency(356).unwrap();
    m.set_stan(2).unwrap();
    m.set_rrn("000000000002").unwrap();
    assert_eq!(answer(&env.issuer, &m).await, ResponseCode::Approved);
    assert_eq!(
        env.issuer.available(&card.card_id).await.unwrap(),
        paytap_types::Money::new(490_000, paytap_types::Currency::INR)
    );
}

#[tokio::test]
async fn no_card_number_at_rest_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("network.db");
    let db = paytap_store::Db::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let env = env_on(db).await;
    let card = issue(&env, ICBC, Product::Debit, "ZHANG WEI", 10_000).await;
    assert_eq!(
        answer(&env.issuer, &token_auth(&card.pan, 100, 1, true)).await,
        ResponseCode::Approved
    );
    let idv = IdvRequest {
        pan: card.pan.clone(),
        expiry_yymm: card.expiry_yymm,
        cvv: card.cvv.clone(),
        device_id: "dev".into(),
        device_kind: "phone".into(),
        account_id: "acct".into(),
    };
    env.issuer.identify_and_verify(&idv).await.unwrap();
    env.db.close().await;
    let mut bytes = Vec::new();
    for f in ["network.db", "network.db-wal"] {
        if let Ok(b) = std::fs::read(dir.path().join(f)) {
            bytes.extend(b);
        }
    }
    let hay = String::from_utf8_lossy(&bytes);
    assert!(!hay.contains(card.pan.expose()));
    assert!(!hay.contains("ZHANG WEI"));
    assert!(!format!("{card:?}").contains(card.pan.expose()));
    // The three CVV digits can occur by chance inside the card id (a UUID),
    // the bank id or the masked number's first six and last four digits,
    // which `Debug` shows on purpose: look everywhere else.
    let shown = format!("{card:?}");
    assert!(shown.contains("cvv: Secret([REDACTED]"), "{shown}");
    let rest = shown
        .replace(&card.card_id, "")
        .replace(&card.bank_id, "")
        .replace(&format!("{:?}", card.pan), "");
    assert!(!rest.contains(card.cvv.expose().as_str()), "{rest}");
}

mod garbage {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]
        /// Whatever the switch forwards, the issuer answers with a DE 39 and
        /// never places a hold for a request that is not a valid purchase of a
        /// known card.
        #[test]
        fn arbitrary_requests_get_an_answer_and_no_hold(
            pan in "[0-9]{0,19}",
            amount in any::<u32>(),
            mode in "[0-9]{3}",
            de55 in proptest::collection::vec(any::<u8>(), 0..64),
            currency in 0u16..1000,
            mti in prop::sample::select(vec!["0100", "0200", "0400", "0420", "0220", "0120"]),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let env = env().await;
                let mut m = Message::new(Mti::from_str(mti).unwrap());
                if !pan.is_empty() {
                    let _ = m.set(2, &pan);
                }
                m.set_amount(u64::from(amount)).unwrap();
                m.set_pos_entry_mode(&mode).unwrap();
                m.set_currency(currency).unwrap();
                m.set_rrn("000000000001").unwrap();
                if !de55.is_empty() {
                    m.set_icc_data(&de55).unwrap();
                }
                let r = env.issuer.handle(&m).await.unwrap();
                assert!(r.response_code().is_some());
                assert_ne!(r.response_code(), Some(ResponseCode::Approved).filter(|_| mti == "0100" || mti == "0200"));
                let report = env.ledger.check_invariants().await.unwrap();
                assert!(report.totals.values().all(|b| b.debits_pending == 0));
            });
        }
    }
}

#[tokio::test]
async fn holds_neither_captured_nor_reversed_expire() {
    let env = env().await;
    let days = i64::from(env.issuer.config().hold_expiry_days);
    assert_eq!(days, 7, "the default configuration");
    let card = issue(&env, ICBC, Product::Debit, "A", 10_000).await;
    let pending = |env: &Env| {
        let account = card.account_id.clone();
        let ledger = env.ledger.clone();
        async move { ledger.balance(&account).await.unwrap().debits_pending }
    };
    // Three holds: one is captured, one reversed, one left alone; and a
    // stand-in advice's hold, also left alone.
    for stan in 1..=3 {
        let m = token_auth(&card.pan, 1_000, stan, true);
        assert_eq!(answer(&env.issuer, &m).await, ResponseCode::Approved);
    }
    let mut advice = token_auth(&card.pan, 500, 4, true);
    advice.set_mti(Mti::from_str("0120").unwrap());
    advice.set_response_code(ResponseCode::Approved).unwrap();
    advice.set_auth_id_response("S00004").unwrap();
    assert_eq!(
        code(&env.issuer.handle(&advice).await.unwrap()),
        ResponseCode::Approved
    );
    assert_eq!(
        env.issuer.capture_rrn("000000000001", None).await.unwrap(),
        ResponseCode::Approved
    );
    let rev = reversal_of("000000000002");
    assert_eq!(
        code(&env.issuer.reverse(&rev).await),
        ResponseCode::Approved
    );
    assert_eq!(pending(&env).await, 1_500);
    assert_eq!(
        env.issuer.available(&card.card_id).await.unwrap().minor,
        7_500
    );

    // Not yet: a day short of the expiry.
    env.advance((days - 1) * 86_400_000);
    assert_eq!(env.issuer.expire_holds().await.unwrap(), 0);
    assert_eq!(pending(&env).await, 1_500);
    // Past it: the two holds left alone are released, once.
    env.advance(86_400_000 + 1);
    assert_eq!(env.issuer.expire_holds().await.unwrap(), 2);
    assert_eq!(env.issuer.expire_holds().await.unwrap(), 0);
    assert_eq!(pending(&env).await, 0);
    assert_eq!(
        env.issuer.available(&card.card_id).await.unwrap().minor,
        9_000
    );
    // A late capture finds no hold; a late reversal changes nothing.
    assert_eq!(
        env.issuer.capture_rrn("000000000003", None).await.unwrap(),
        ResponseCode::InvalidTransaction
    );
    let rev = reversal_of("000000000003");
    assert_eq!(
        code(&env.issuer.reverse(&rev).await),
        ResponseCode::Approved
    );
    assert_eq!(
        env.issuer.available(&card.card_id).await.unwrap().minor,
        9_000
    );
    let bal = env.ledger.balance(&card.account_id).await.unwrap();
    assert_eq!((bal.debits_pending, bal.debits_posted), (0, 1_000));
    assert_ledger_balanced(&env).await;
}
