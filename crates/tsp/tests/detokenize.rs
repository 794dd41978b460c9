//! Token service against a real vault, a real card application and the real
//! terminal kernel: provisioning, lifecycle, detokenize-and-verify with every
//! refusal. Runs on SQLite, and on PostgreSQL with PAYTAP_TEST_DATABASE_URL.

use paytap_emv::card::CardProfile;
use paytap_emv::kernel::{DirectTransport, Kernel, Outcome, TerminalConfig, Transaction, TxnDate};
use paytap_emv::{ContactlessCard, EmvKey, Expiry as CardExpiry, SecureElement, TdesKey, TokenPan};
use paytap_iso8583::{CheckResult, Message, Mti, ResponseCode};
use paytap_seal::{DeviceKey, ProvisioningPayload};
use paytap_store::Db;
use paytap_tsp::*;
use paytap_types::{Pan, luhn_check_digit, luhn_valid};
use paytap_vault::{CardRecord, Expiry, Keyring, Vault};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const ISSUER: &str = "01020000";
const MASTER: &[u8] = b"tsp test master secret, 32 bytes";
const TRID: &str = "40010075001";

fn pan_with(prefix: &str, n: u64) -> Pan {
    let body = format!("{prefix}{n:0width$}", width = 15 - prefix.len());
    let check = luhn_check_digit(&body).unwrap();
    Pan::parse(&format!("{body}{check}")).unwrap()
}

struct Env {
    tsp: Tsp,
    vault: Vault,
    clock: Arc<AtomicI64>,
    card_id: String,
    card_pan: Pan,
}

async fn env_with(config: TspConfig) -> Env {
    let db = Db::for_tests().await.unwrap();
    let vault = Vault::open(db.clone(), Keyring::from_single_key([7u8; 32]))
        .await
        .unwrap();
    let card_pan = pan_with("620101", 4242);
    let card = vault
        .put(CardRecord::new(card_pan.clone(), Expiry::parse("3012").unwrap(), "LI LEI").unwrap())
        .await
        .unwrap();
    let clock = Arc::new(AtomicI64::new(paytap_store::now_millis()));
    let c = clock.clone();
    let tsp = Tsp::open(
        db,
        vault.clone(),
        config,
        TokenKeys::derive(MASTER, [ISSUER]),
    )
    .await
    .unwrap()
    .with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
    Env {
        tsp,
        vault,
        clock,
        card_id: card.id,
        card_pan,
    }
}

fn config() -> TspConfig {
    TspConfig {
        ranges: vec![TokenRange::new(ISSUER, "629101", 16).unwrap()],
        ..TspConfig::default()
    }
}

async fn env() -> Env {
    env_with(config()).await
}

fn request(env: &Env, device: &DeviceKey, device_id: &str, state: TokenState) -> ProvisionRequest {
    ProvisionRequest {
        initial_state: state,
        app_label: "UnionPay Debit".into(),
        ..ProvisionRequest::wallet_nfc(
            env.card_id.clone(),
            ISSUER,
            "Industrial and Commercial Bank of China",
            TRID,
            device_id,
            device.public(),
        )
    }
}

/// A provisioned token inside an emulated secure element.
struct Phone {
    se: SecureElement,
    payload: ProvisioningPayload,
    token_ref: String,
}

async fn provision(env: &Env, device_id: &str) -> Phone {
    provision_in(env, device_id, Domain::Nfc).await
}

async fn provision_in(env: &Env, device_id: &str, domain: Domain) -> Phone {
    let key = DeviceKey::generate().unwrap();
    let mut r = request(env, &key, device_id, TokenState::Active);
    r.domain = domain;
    let p = env.tsp.provision(r).await.unwrap();
    let payload =
        ProvisioningPayload::open_with(&key, device_id, &p.token_ref, &p.sealed_payload).unwrap();
    let yy: u8 = payload.expiry_yymm[..2].parse().unwrap();
    let mm: u8 = payload.expiry_yymm[2..].parse().unwrap();
    let mk = EmvKey::Tdes(TdesKey::from_hex(payload.icc_mk_hex.expose()).unwrap());
    let profile = CardProfile::new(
        hex::decode(&payload.aid_hex).unwrap(),
        &payload.app_label,
        TokenPan::new(payload.token_pan.expose()).unwrap(),
        CardExpiry::new(yy, mm).unwrap(),
        payload.psn,
        mk,
    );
    let mut se = SecureElement::new();
    se.add_card(ContactlessCard::new(profile).unwrap()).unwrap();
    Phone {
        se,
        payload,
        token_ref: p.token_ref,
    }
}

/// Taps the phone on a terminal: the kernel runs against the card and the
/// outcome becomes a 0100 with DE 2, 14, 22, 55 (and 35 in track 2 form).
fn tap(phone: &mut Phone, amount: u64, stan: u32) -> Message {
    phone.se.set_user_verified(true);
    let kernel = Kernel::new(TerminalConfig::default());
    let txn = Transaction::purchase(
        amount,
        156,
        TxnDate::parse("261123").unwrap(),
        stan.to_be_bytes(),
    );
    let out = kernel
        .run(&mut DirectTransport(&mut phone.se), &txn)
        .unwrap();
    let Outcome::OnlineRequest {
        icc_data,
        pan,
        expiry,
        ..
    } = out
    else {
        panic!("expected an online request, got {out:?}");
    };
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set(2, pan.expose()).unwrap();
    m.set_processing_code("000000").unwrap();
    m.set_amount(amount).unwrap();
    m.set_transmission_datetime(11, 23, 9, 30, 0).unwrap();
    m.set_stan(stan).unwrap();
    m.set_expiry(expiry.year(), expiry.month()).unwrap();
    m.set_pos_entry_mode("071").unwrap();
    m.set_acquirer_id("12345678").unwrap();
    m.set_track2(&format!("{}={}2010000000000", pan.expose(), expiry.yymm()))
        .unwrap();
    m.set_terminal_id("T0000001").unwrap();
    m.set_merchant_id("M00000000000001").unwrap();
    m.set_currency(156).unwrap();
    m.set_icc_data(&icc_data).unwrap();
    m
}

async fn refusal(env: &Env, m: &Message) -> Refusal {
    match env.tsp.detokenize(m).await {
        Ok(_) => panic!("expected a refusal"),
        Err(r) => r.refusal,
    }
}

#[tokio::test]
async fn provisioning_seals_a_luhn_valid_token_and_never_the_imk() {
    let env = env().await;
    let key = DeviceKey::generate().unwrap();
    let p = env
        .tsp
        .provision(request(&env, &key, "dev_phone", TokenState::Active))
        .await
        .unwrap();
    assert!(p.token_ref.starts_with("tok_"));
    assert_eq!(p.card_last4, env.card_pan.last4());
    assert_eq!(p.state, TokenState::Active);
    // Another device cannot open it; the right one can.
    let other = DeviceKey::generate().unwrap();
    assert!(
        ProvisioningPayload::open_with(&other, "dev_phone", &p.token_ref, &p.sealed_payload)
            .is_err()
    );
    let payload =
        ProvisioningPayload::open_with(&key, "dev_phone", &p.token_ref, &p.sealed_payload).unwrap();
    assert!(luhn_valid(payload.token_pan.expose()));
    assert!(
        payload.token_pan.expose().starts_with("629101") && payload.token_pan.expose().len() == 16
    );
    assert_ne!(payload.token_pan.expose(), env.card_pan.expose());
    assert!(env.tsp.is_token_number(payload.token_pan.expose()));
    assert_eq!(env.tsp.issuer_of(payload.token_pan.expose()), Some(ISSUER));
    assert_eq!(payload.expiry_yymm, p.expiry_yymm.yymm());
    assert!(payload.token_pan.expose().ends_with(&p.token_last4));
    // The payload carries the token's ICC MK (Option A from the token IMK), never the IMK.
    let imk = TokenKeys::derive(MASTER, [ISSUER])
        .get(ISSUER)
        .unwrap()
        .clone();
    let expect =
        paytap_emv::crypto::derive_icc_mk_a(&imk, payload.token_pan.expose(), payload.psn).unwrap();
    assert_eq!(
        *payload.icc_mk_hex.expose(),
        hex::encode_upper(expect.expose())
    );
    assert_ne!(
        *payload.icc_mk_hex.expose(),
        hex::encode_upper(imk.expose())
    );
    // The token number is in the vault (encrypted), found by fingerprint.
    let token = Pan::parse(payload.token_pan.expose()).unwrap();
    assert!(env.vault.find(&token).await.unwrap().is_some());
    // Debug strings never show the token.
    assert!(!format!("{p:?}").contains(payload.token_pan.expose()));
    let info = env.tsp.token(&p.token_ref).await.unwrap();
    assert_eq!(info.token_requestor_id, TRID);
    assert_eq!(info.domain, Domain::Nfc);
    assert_eq!(info.key_kind, "tdes-option-a");
    assert_eq!(info.last_atc, None);
}

#[tokio::test]
async fn one_live_token_per_card_and_device_and_tokens_are_unique() {
    let env = env().await;
    let key = DeviceKey::generate().unwrap();
    let first = env
        .tsp
        .provision(request(&env, &key, "dev_a", TokenState::Active))
        .await
        .unwrap();
    match env
        .tsp
        .provision(request(&env, &key, "dev_a", TokenState::Active))
        .await
    {
        Err(TspError::AlreadyProvisioned(r)) => assert_eq!(r, first.token_ref),
        other => panic!("{other:?}"),
    }
    let mut numbers = std::collections::HashSet::new();
    for i in 0..20 {
        let p = env
            .tsp
            .provision(request(
                &env,
                &key,
                &format!("dev_{i:02}"),
                TokenState::Active,
            ))
            .await
            .unwrap();
        let payload = ProvisioningPayload::open_with(
            &key,
            &format!("dev_{i:02}"),
            &p.token_ref,
            &p.sealed_payload,
        )
        .unwrap();
        assert!(
            numbers.insert(payload.token_pan.expose().clone()),
            "token reused"
        );
    }
    // After deletion the device may get a new token for the card.
    env.tsp
        .set_state(
            &first.token_ref,
            TokenState::Deleted,
            Actor::Holder,
            "card removed",
        )
        .await
        .unwrap();
    let again = env
        .tsp
        .provision(request(&env, &key, "dev_a", TokenState::Active))
        .await
        .unwrap();
    assert_ne!(again.token_ref, first.token_ref);
    // Bad inputs are refused before anything is stored.
    let mut r = request(&env, &key, "dev_b", TokenState::Active);
    r.token_requestor_id = "123".into();
    assert!(matches!(
        env.tsp.provision(r).await,
        Err(TspError::BadRequestorId)
    ));
    let mut r = request(&env, &key, "dev_b", TokenState::Suspended);
    r.initial_state = TokenState::Suspended;
    assert!(matches!(
        env.tsp.provision(r).await,
        Err(TspError::Invalid(_))
    ));
    let mut r = request(&env, &key, "dev_b", TokenState::Active);
    r.issuer_id = "99999999".into();
    assert!(matches!(
        env.tsp.provision(r).await,
        Err(TspError::NoRange(_))
    ));
    let mut r = request(&env, &key, "dev_b", TokenState::Active);
    r.card_vault_id = "card_missing".into();
    assert!(matches!(
        env.tsp.provision(r).await,
        Err(TspError::CardNotFound)
    ));
    assert!(env.tsp.tokens_for_device("dev_b").await.unwrap().is_empty());
}

#[tokio::test]
async fn lifecycle_transitions_and_events() {
    let env = env().await;
    let key = DeviceKey::generate().unwrap();
    let p = env
        .tsp
        .provision(request(&env, &key, "dev_a", TokenState::Inactive))
        .await
        .unwrap();
    let t = &p.token_ref;
    assert!(matches!(
        env.tsp
            .set_state(t, TokenState::Suspended, Actor::Wallet, "x")
            .await,
        Err(TspError::IllegalTransition {
            from: TokenState::Inactive,
            to: TokenState::Suspended
        })
    ));
    env.tsp
        .set_state(t, TokenState::Active, Actor::Issuer, "otp verified")
        .await
        .unwrap();
    // Same state again: accepted, no event.
    env.tsp
        .set_state(t, TokenState::Active, Actor::Issuer, "again")
        .await
        .unwrap();
    env.tsp
        .set_state(t, TokenState::Suspended, Actor::Holder, "device lost")
        .await
        .unwrap();
    assert!(matches!(
        env.tsp
            .set_state(t, TokenState::Inactive, Actor::Holder, "x")
            .await,
        Err(TspError::IllegalTransition { .. })
    ));
    env.tsp
        .set_state(t, TokenState::Active, Actor::Holder, "device found")
        .await
        .unwrap();
    env.tsp
        .set_state(
            t,
            TokenState::Suspended,
            Actor::Fraud,
            "suspicious activity",
        )
        .await
        .unwrap();
    let info = env
        .tsp
        .set_state(t, TokenState::Deleted, Actor::Wallet, "card removed")
        .await
        .unwrap();
    assert_eq!(info.state, TokenState::Deleted);
    for to in [
        TokenState::Active,
        TokenState::Suspended,
        TokenState::Inactive,
    ] {
        assert!(matches!(
            env.tsp.set_state(t, to, Actor::Issuer, "x").await,
            Err(TspError::IllegalTransition {
                from: TokenState::Deleted,
                ..
            })
        ));
    }
    let events = env.tsp.events(t).await.unwrap();
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.from, e.to, e.actor, e.reason.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (None, TokenState::Inactive, Actor::Wallet, "provisioned"),
            (
                Some(TokenState::Inactive),
                TokenState::Active,
                Actor::Issuer,
                "otp verified"
            ),
            (
                Some(TokenState::Active),
                TokenState::Suspended,
                Actor::Holder,
                "device lost"
            ),
            (
                Some(TokenState::Suspended),
                TokenState::Active,
                Actor::Holder,
                "device found"
            ),
            (
                Some(TokenState::Active),
                TokenState::Suspended,
                Actor::Fraud,
                "suspicious activity"
            ),
            (
                Some(TokenState::Suspended),
                TokenState::Deleted,
                Actor::Wallet,
                "card removed"
            ),
        ]
    );
    assert!(
        events
            .windows(2)
            .all(|w| w[0].seq < w[1].seq && w[0].at <= w[1].at)
    );
    assert!(matches!(
        env.tsp
            .set_state("tok_nope", TokenState::Active, Actor::Wallet, "x")
            .await,
        Err(TspError::UnknownToken)
    ));
}

#[tokio::test]
async fn lost_device_suspends_every_token_at_once() {
    let db = Db::for_tests().await.unwrap();
    let vault = Vault::open(db.clone(), Keyring::from_single_key([9u8; 32]))
        .await
        .unwrap();
    let tsp = Tsp::open(
        db,
        vault.clone(),
        config(),
        TokenKeys::derive(MASTER, [ISSUER]),
    )
    .await
    .unwrap();
    let key = DeviceKey::generate().unwrap();
    let mut refs = Vec::new();
    for n in 0..3u64 {
        let card = vault
            .put(
                CardRecord::new(
                    pan_with("620101", 100 + n),
                    Expiry::parse("3012").unwrap(),
                    "A",
                )
                .unwrap(),
            )
            .await
            .unwrap();
        let req =
            ProvisionRequest::wallet_nfc(card.id, ISSUER, "ICBC", TRID, "dev_lost", key.public());
        refs.push(tsp.provision(req).await.unwrap().token_ref);
    }
    tsp.set_state(&refs[2], TokenState::Deleted, Actor::Holder, "removed")
        .await
        .unwrap();
    let changed = tsp
        .set_device_state(
            "dev_lost",
            TokenState::Suspended,
            Actor::Holder,
            "device lost",
        )
        .await
        .unwrap();
    let mut expect = refs[..2].to_vec();
    expect.sort();
    assert_eq!(changed, expect);
    let states: Vec<_> = tsp
        .tokens_for_device("dev_lost")
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.state)
        .collect();
    assert_eq!(
        states
            .iter()
            .filter(|s| **s == TokenState::Suspended)
            .count(),
        2
    );
    assert_eq!(
        states.iter().filter(|s| **s == TokenState::Deleted).count(),
        1
    );
    let resumed = tsp
        .set_device_state(
            "dev_lost",
            TokenState::Active,
            Actor::Holder,
            "device found",
        )
        .await
        .unwrap();
    assert_eq!(resumed.len(), 2);
}

#[tokio::test]
async fn detokenize_a_real_tap_then_arpc_then_replay_is_refused() {
    let env = env().await;
    let mut phone = provision(&env, "dev_phone").await;
    let req = tap(&mut phone, 1250, 1);
    let d = env.tsp.detokenize(&req).await.unwrap();
    // The issuer sees the card, not the token.
    assert_eq!(d.request.get_str(2), Some(env.card_pan.expose()));
    assert_eq!(d.request.get_str(14), Some("3012"));
    assert_eq!(
        d.request.track2(),
        Some(format!("{}=30122010000000000", env.card_pan.expose()).as_str())
    );
    let v = d.request.verification_results().unwrap().unwrap();
    assert_eq!(v.cryptogram, Some(CheckResult::Passed));
    assert_eq!(v.atc, Some(CheckResult::Passed));
    assert_eq!(v.cdcvm, Some(CheckResult::Passed));
    let td = d.request.token_data().unwrap().unwrap();
    assert_eq!(td.token_requestor_id.as_deref(), Some(TRID));
    assert_eq!(td.funding_pan_last4.as_deref(), Some(env.card_pan.last4()));
    assert_eq!(d.context.token_ref, phone.token_ref);
    assert_eq!(d.context.atc, 1);
    // Nothing sensitive in Debug.
    let dbg = format!("{d:?}");
    assert!(
        !dbg.contains(env.card_pan.expose())
            && !dbg.contains(phone.payload.token_pan.expose().as_str())
    );

    // The issuer approves; the TSP answers with the ARPC over "00".
    let mut resp = d.request.response().unwrap();
    resp.set_response_code(ResponseCode::Approved).unwrap();
    d.context.complete_response(&mut resp).unwrap();
    assert_eq!(
        resp.get_str(2),
        Some(phone.payload.token_pan.expose().as_str())
    );
    let tag91 = paytap_tlv::find_flat(resp.icc_data().unwrap(), paytap_tlv::tags::ISSUER_AUTH_DATA)
        .unwrap()
        .unwrap();
    assert_eq!(&tag91[8..], b"00");
    // Recompute the ARPC independently from the card's own key and ARQC.
    let mk = EmvKey::Tdes(TdesKey::from_hex(phone.payload.icc_mk_hex.expose()).unwrap());
    let arqc: [u8; 8] = paytap_tlv::find_flat(req.icc_data().unwrap(), paytap_tlv::tags::AC)
        .unwrap()
        .unwrap()
        .try_into()
        .unwrap();
    let sk = paytap_emv::crypto::derive_session_key(&mk, 1);
    assert_eq!(
        &tag91[..8],
        &paytap_emv::crypto::arpc_method_1(&sk, arqc, *b"00")
    );

    // The same cryptogram again: replay.
    assert_eq!(refusal(&env, &req).await, Refusal::AtcReplayed);
    assert_eq!(
        Refusal::AtcReplayed.response_code(),
        ResponseCode::DoNotHonour
    );
    assert_eq!(
        env.tsp.token(&phone.token_ref).await.unwrap().last_atc,
        Some(1)
    );
    // The next tap goes through.
    let next = tap(&mut phone, 800, 2);
    assert_eq!(env.tsp.detokenize(&next).await.unwrap().context.atc, 2);
}

#[tokio::test]
async fn forged_cryptogram_is_a_security_violation_and_does_not_burn_the_atc() {
    let env = env().await;
    let mut phone = provision(&env, "dev_phone").await;
    let req = tap(&mut phone, 1250, 1);
    let de55 = req.icc_data().unwrap().to_vec();
    let arqc = paytap_tlv::find_flat(&de55, paytap_tlv::tags::AC)
        .unwrap()
        .unwrap()
        .to_vec();
    let pos = de55.windows(8).position(|w| w == arqc.as_slice()).unwrap();
    let mut forged = de55.clone();
    forged[pos] ^= 0x01;
    let mut f = req.clone();
    f.set_icc_data(&forged).unwrap();
    assert_eq!(refusal(&env, &f).await, Refusal::CryptogramInvalid);
    assert_eq!(
        Refusal::CryptogramInvalid.response_code(),
        ResponseCode::SecurityViolation
    );
    // An amount changed after the card signed it fails the same way.
    let mut f = req.clone();
    let mut other = de55.clone();
    let amount_tag = paytap_tlv::tags::AMOUNT.to_vec();
    let at = other
        .windows(amount_tag.len())
        .position(|w| w == amount_tag.as_slice())
        .unwrap();
    other[at + amount_tag.len() + 1 + 5] ^= 0x10;
    f.set_icc_data(&other).unwrap();
    assert_eq!(refusal(&env, &f).await, Refusal::CryptogramInvalid);
    // Missing or garbled DE 55 is a format error.
    let mut f = req.clone();
    f.remove(55);
    assert_eq!(refusal(&env, &f).await, Refusal::Format);
    let mut f = req.clone();
    f.set_icc_data(&[0x9F, 0x26, 0x08, 1, 2]).unwrap();
    assert_eq!(refusal(&env, &f).await, Refusal::Format);
    // The genuine request still works: nothing was consumed.
    assert!(env.tsp.detokenize(&req).await.is_ok());
}

#[tokio::test]
async fn device_token_refuses_magstripe_manual_and_qr_entry() {
    let env = env().await;
    let mut phone = provision(&env, "dev_phone").await;
    let req = tap(&mut phone, 1000, 1);
    for mode in ["901", "911", "021", "011", "012", "051", "031", "801"] {
        let mut m = req.clone();
        m.set_pos_entry_mode(mode).unwrap();
        assert_eq!(refusal(&env, &m).await, Refusal::DomainRestricted, "{mode}");
    }
    let mut m = req.clone();
    m.remove(22);
    assert_eq!(refusal(&env, &m).await, Refusal::Format);
    assert_eq!(
        Refusal::DomainRestricted.response_code(),
        ResponseCode::NotPermittedToTerminal
    );
    // Contactless chip is fine.
    assert!(env.tsp.detokenize(&req).await.is_ok());
}

#[tokio::test]
async fn state_refusals_each_have_their_own_code() {
    let env = env().await;
    let mut phone = provision(&env, "dev_phone").await;
    let t = phone.token_ref.clone();
    let req = tap(&mut phone, 1000, 1);
    env.tsp
        .set_state(&t, TokenState::Suspended, Actor::Holder, "device lost")
        .await
        .unwrap();
    let r = env.tsp.detokenize(&req).await.unwrap_err();
    assert_eq!(r.refusal, Refusal::Suspended);
    assert_eq!(r.token_ref.as_deref(), Some(t.as_str()));
    env.tsp
        .set_state(&t, TokenState::Active, Actor::Holder, "found")
        .await
        .unwrap();
    // A suspended period did not consume the cryptogram.
    assert!(env.tsp.detokenize(&req).await.is_ok());
    env.tsp
        .set_state(&t, TokenState::Deleted, Actor::Holder, "removed")
        .await
        .unwrap();
    let next = tap(&mut phone, 1000, 2);
    assert_eq!(refusal(&env, &next).await, Refusal::Deleted);

    // Inactive (step-up pending).
    let key = DeviceKey::generate().unwrap();
    let p = env
        .tsp
        .provision(request(&env, &key, "dev_watch", TokenState::Inactive))
        .await
        .unwrap();
    let payload =
        ProvisioningPayload::open_with(&key, "dev_watch", &p.token_ref, &p.sealed_payload).unwrap();
    let mut m = next.clone();
    m.set(2, payload.token_pan.expose()).unwrap();
    m.remove(14);
    m.remove(35);
    assert_eq!(refusal(&env, &m).await, Refusal::Inactive);

    // Unknown token in range, a card number, garbage.
    let mut m = next.clone();
    m.set(2, pan_with("629101", 1).expose()).unwrap();
    let r = env.tsp.detokenize(&m).await.unwrap_err();
    assert_eq!((r.refusal, r.token_ref), (Refusal::UnknownToken, None));
    m.set(2, env.card_pan.expose()).unwrap();
    assert_eq!(refusal(&env, &m).await, Refusal::UnknownToken);
    m.set(2, "629101000000000000").unwrap();
    assert_eq!(refusal(&env, &m).await, Refusal::UnknownToken);
    m.remove(2);
    assert_eq!(refusal(&env, &m).await, Refusal::Format);

    let codes: std::collections::HashSet<&str> = [
        Refusal::UnknownToken,
        Refusal::Inactive,
        Refusal::Suspended,
        Refusal::Deleted,
        Refusal::DomainRestricted,
        Refusal::Expired,
        Refusal::AtcReplayed,
        Refusal::CryptogramInvalid,
        Refusal::Format,
        Refusal::System,
    ]
    .iter()
    .map(|r| r.response_code().code())
    .collect();
    assert_eq!(codes.len(), 10, "every refusal class has its own DE 39");
}

#[tokio::test]
async fn expired_token_and_wrong_expiry_are_refused() {
    let env = env().await;
    let mut phone = provision(&env, "dev_phone").await;
    let req = tap(&mut phone, 1000, 1);
    let mut m = req.clone();
    m.set_expiry(29, 1).unwrap();
    assert_eq!(refusal(&env, &m).await, Refusal::Expired);
    // Four years later the token has expired.
    env.clock.fetch_add(4 * 366 * 86_400_000, Ordering::SeqCst);
    assert_eq!(refusal(&env, &req).await, Refusal::Expired);
    assert_eq!(Refusal::Expired.response_code(), ResponseCode::ExpiredCard);
}

#[tokio::test]
async fn atc_beyond_the_window_is_refused() {
    let env = env_with(TspConfig {
        atc_window: 2,
        ..config()
    })
    .await;
    let mut phone = provision(&env, "dev_phone").await;
    let _lost1 = tap(&mut phone, 100, 1);
    let _lost2 = tap(&mut phone, 100, 2);
    let third = tap(&mut phone, 100, 3);
    assert_eq!(refusal(&env, &third).await, Refusal::AtcOutOfWindow);
    // An earlier counter inside the window is still good, and then the third is.
    assert!(env.tsp.detokenize(&_lost2).await.is_ok());
    assert!(env.tsp.detokenize(&third).await.is_ok());
    assert_eq!(refusal(&env, &_lost1).await, Refusal::AtcReplayed);
}

#[tokio::test]
async fn concurrent_replays_are_accepted_once() {
    let env = env().await;
    let mut phone = provision(&env, "dev_phone").await;
    let req = tap(&mut phone, 100, 1);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let tsp = env.tsp.clone();
        let m = req.clone();
        tasks.push(tokio::spawn(
            async move { tsp.detokenize(&m).await.is_ok() },
        ));
    }
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn refusal_response_says_which_check_failed() {
    let env = env().await;
    let mut phone = provision(&env, "dev_phone").await;
    let req = tap(&mut phone, 100, 1);
    let resp = Tsp::refusal_response(&req, Refusal::CryptogramInvalid).unwrap();
    assert_eq!(resp.mti(), Mti::AUTHORIZATION_RESPONSE);
    assert_eq!(resp.response_code(), Some(ResponseCode::SecurityViolation));
    let v = resp.verification_results().unwrap().unwrap();
    assert_eq!(v.cryptogram, Some(CheckResult::Failed));
    let atc = refusal_verification(Refusal::AtcReplayed).unwrap();
    assert_eq!(
        (atc.cryptogram, atc.atc),
        (Some(CheckResult::Passed), Some(CheckResult::Failed))
    );
    assert!(refusal_verification(Refusal::Suspended).is_none());
}

/// A phone's token pays by tap and by the merchant code its owner scans
/// (DE 22 `03`), each cryptogram once; never by magnetic stripe or by hand.
#[tokio::test]
async fn phone_token_pays_by_tap_and_by_scanned_code_once() {
    let env = env().await;
    let mut phone = provision_in(&env, "dev_phone_qr", Domain::NfcQr).await;
    assert_eq!(phone.payload.domain, "nfc_qr");
    let mut scan = tap(&mut phone, 1234, 1);
    scan.set_pos_entry_mode("031").unwrap();
    let d = env.tsp.detokenize(&scan).await.unwrap();
    assert_eq!(d.context.token_ref, phone.token_ref);
    assert_eq!(
        refusal(&env, &scan).await,
        Refusal::AtcReplayed,
        "the same code twice"
    );
    let contactless = tap(&mut phone, 500, 2);
    for mode in ["901", "011", "051"] {
        let mut m = contactless.clone();
        m.set_pos_entry_mode(mode).unwrap();
        assert_eq!(refusal(&env, &m).await, Refusal::DomainRestricted, "{mode}");
    }
    assert!(env.tsp.detokenize(&contactless).await.is_ok());
}

#[tokio::test]
async fn qr_token_is_qr_only() {
    let env = env().await;
    let key = DeviceKey::generate().unwrap();
    let mut r = request(&env, &key, "dev_band", TokenState::Active);
    r.domain = Domain::Qr;
    let p = env.tsp.provision(r).await.unwrap();
    let payload =
        ProvisioningPayload::open_with(&key, "dev_band", &p.token_ref, &p.sealed_payload).unwrap();
    assert_eq!(payload.domain, "qr");
    // A QR code carries the same EMV data as a tap (EMVCo consumer-presented mode).
    let mk = EmvKey::Tdes(TdesKey::from_hex(payload.icc_mk_hex.expose()).unwrap());
    let profile = CardProfile::new(
        hex::decode(&payload.aid_hex).unwrap(),
        "QR",
        TokenPan::new(payload.token_pan.expose()).unwrap(),
        CardExpiry::new(
            payload.expiry_yymm[..2].parse().unwrap(),
            payload.expiry_yymm[2..].parse().unwrap(),
        )
        .unwrap(),
        payload.psn,
        mk,
    );
    let mut se = SecureElement::new();
    se.add_card(ContactlessCard::new(profile).unwrap()).unwrap();
    let mut phone = Phone {
        se,
        payload,
        token_ref: p.token_ref,
    };
    let mut m = tap(&mut phone, 500, 1);
    assert_eq!(refusal(&env, &m).await, Refusal::DomainRestricted);
    m.set_pos_entry_mode("031").unwrap();
    let d = env.tsp.detokenize(&m).await.unwrap();
    assert_eq!(d.context.token_ref, phone.token_ref);
}

mod garbage {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, .. ProptestConfig::default() })]
        /// Arbitrary ICC data and entry modes on a real token never pass and never panic.
        #[test]
        fn arbitrary_icc_data_is_refused(de55 in proptest::collection::vec(any::<u8>(), 1..200), mode in "[0-9]{3}") {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let env = env().await;
                let mut phone = provision(&env, "dev").await;
                let mut m = tap(&mut phone, 100, 1);
                m.set_icc_data(&de55).unwrap();
                m.set_pos_entry_mode(&mode).unwrap();
                let r = env.tsp.detokenize(&m).await.unwrap_err();
                assert_ne!(r.refusal, Refusal::System);
                assert_eq!(env.tsp.token(&phone.token_ref).await.unwrap().last_atc, None);
            });
        }
    }
}

#[tokio::test]
async fn a_range_without_a_key_is_refused_at_start() {
    let db = Db::for_tests().await.unwrap();
    let vault = Vault::open(db.clone(), Keyring::from_single_key([1u8; 32]))
        .await
        .unwrap();
    let r = Tsp::open(
        db,
        vault,
        config(),
        TokenKeys::derive(MASTER, ["someone else"]),
    )
    .await;
    assert!(matches!(r, Err(TspError::NoKey(id)) if id == ISSUER));
}

#[tokio::test]
async fn a_token_tells_its_card_account_and_first_use_from_its_own_record() {
    let env = env().await;
    let key = DeviceKey::generate().unwrap();
    let mut with_account = request(&env, &key, "dev_phone", TokenState::Active);
    with_account.account_id = Some("acct-li".into());
    let p = env.tsp.provision(with_account).await.unwrap();
    let info = env.tsp.token(&p.token_ref).await.unwrap();
    assert_eq!(
        info.account_id.as_deref(),
        Some("acct-li"),
        "kept with the token"
    );

    let mut phone = provision(&env, "dev_watch").await;
    let first = env.tsp.detokenize(&tap(&mut phone, 1250, 1)).await.unwrap();
    assert!(first.context.first_use, "no ATC accepted before");
    assert_eq!(first.context.card_vault_id, env.card_id);
    assert_eq!(first.context.account_id, None, "provisioned without one");
    let then = env.tsp.token(&phone.token_ref).await.unwrap().created_at;
    assert_eq!(first.context.provisioned_at_ms, then);
    let second = env.tsp.detokenize(&tap(&mut phone, 1250, 2)).await.unwrap();
    assert!(!second.context.first_use, "its ATC 1 was accepted");
}
