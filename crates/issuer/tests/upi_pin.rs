//! The UPI PIN at the remitter bank: set with the debit card and an OTP,
//! checked on each debit from its sealed block, locked after three wrong
//! PINs until India's next day, and never kept in clear.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

use paytap_issuer::upi_pin::codes;
use paytap_issuer::{IssuerConfig, LegResult, PinOtp, SetPin, UpiAccount, UpiBanks};
use paytap_ledger::Ledger;
use paytap_seal::upi_pin::{PinPurpose, seal_pin};
use paytap_store::Db;
use paytap_types::{Expiry, Secret};
use tokio::sync::broadcast;

const ICICI: &str = "63560001";
/// 2026-12-07 10:00 IST.
const MORNING: i64 = 1_796_617_800_000;
const DAY_MS: i64 = 86_400_000;
const PIN: &str = "135790";

struct Env {
    db: Db,
    banks: UpiBanks,
    asha: UpiAccount,
    sms: broadcast::Receiver<paytap_issuer::OtpDelivery>,
}

async fn env() -> Env {
    let db = Db::for_tests().await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let banks = UpiBanks::open(
        db.clone(),
        ledger,
        &IssuerConfig::default_banks(),
        &[9; 32],
        &Secret::new([9; 32]),
    )
    .await
    .unwrap();
    let asha = banks
        .open_account(ICICI, "Asha", "9876543210", 10_000_00)
        .await
        .unwrap();
    let sms = banks.subscribe_otp();
    Env {
        db,
        banks,
        asha,
        sms,
    }
}

fn secret(s: &str) -> Secret<String> {
    Secret::new(s.to_owned())
}

impl Env {
    fn key(&self) -> [u8; 32] {
        let keys = self.banks.list_keys();
        let k = keys.iter().find(|k| k.bank == "ICIC").expect("ICICI's key");
        k.public
    }

    async fn otp(&mut self) -> (PinOtp, Secret<String>) {
        let a = &self.asha;
        let otp = self
            .banks
            .request_pin_otp(&a.ifsc, &a.account_number, MORNING)
            .await
            .unwrap();
        let sms = self.sms.recv().await.unwrap();
        assert_eq!(sms.verification_id, otp.verification_id);
        assert!(sms.destination.ends_with("3210"), "{}", sms.destination);
        (otp, sms.code)
    }

    /// A PIN-setting request from what the holder typed.
    fn set_req(&self, otp: &PinOtp, code: Secret<String>, last6: &str, pin: &str) -> SetPin {
        let card = self.asha.debit_card.as_ref().unwrap();
        let id = &otp.verification_id;
        SetPin {
            ifsc: self.asha.ifsc.clone(),
            account_number: self.asha.account_number.clone(),
            card_last6: secret(last6),
            card_expiry: card.expiry,
            verification_id: id.clone(),
            otp: code,
            pin_block: seal_pin(&self.key(), PinPurpose::SetPin, id, &secret(pin)).unwrap(),
        }
    }

    async fn set(&mut self, pin: &str) -> LegResult {
        let (otp, code) = self.otp().await;
        let last6 = self.asha.debit_card.as_ref().unwrap().last6();
        let req = self.set_req(&otp, code, last6.expose(), pin);
        self.banks.set_pin(&req, MORNING).await.unwrap()
    }

    async fn debit(&self, id: &str, pin: Option<&str>, at: i64) -> LegResult {
        let block = pin.map(|p| seal_pin(&self.key(), PinPurpose::Debit, id, &secret(p)).unwrap());
        let a = &self.asha;
        self.banks
            .debit_with_pin(id, &a.ifsc, &a.account_number, 100_00, block.as_deref(), at)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_pin_set_with_the_card_and_otp_pays() {
    let mut e = env().await;
    assert_eq!(
        e.debit("P0", Some(PIN), MORNING).await,
        LegResult::Failure(codes::PIN_NOT_SET)
    );
    assert_eq!(e.set(PIN).await, LegResult::Success);
    assert_eq!(e.debit("P1", Some(PIN), MORNING).await, LegResult::Success);
    // A repeat of a decided debit gets its answer, PIN or not.
    assert_eq!(e.debit("P1", None, MORNING).await, LegResult::Success);
    assert_eq!(
        e.debit("P2", None, MORNING).await,
        LegResult::Failure(codes::BAD_PIN_BLOCK)
    );
    let a = &e.asha;
    let balance = e.banks.balance(&a.ifsc, &a.account_number).await.unwrap();
    assert_eq!(balance, 9_900_00);
}

#[tokio::test]
async fn a_block_sealed_for_another_payment_does_not_pay() {
    let mut e = env().await;
    assert_eq!(e.set(PIN).await, LegResult::Success);
    let block = seal_pin(&e.key(), PinPurpose::Debit, "OTHER", &secret(PIN)).unwrap();
    let a = &e.asha;
    let r = e
        .banks
        .debit_with_pin(
            "P3",
            &a.ifsc,
            &a.account_number,
            1_00,
            Some(&block),
            MORNING,
        )
        .await
        .unwrap();
    assert_eq!(r, LegResult::Failure(codes::BAD_PIN_BLOCK));
    // Not a wrong PIN: nothing counted against the holder.
    assert_eq!(e.debit("P4", Some(PIN), MORNING).await, LegResult::Success);
}

#[tokio::test]
async fn three_wrong_pins_lock_it_until_the_next_day_in_india() {
    let mut e = env().await;
    assert_eq!(e.set(PIN).await, LegResult::Success);
    let wrong = LegResult::Failure(codes::WRONG_PIN);
    let locked = LegResult::Failure(codes::PIN_LOCKED);
    assert_eq!(e.debit("W1", Some("000000"), MORNING).await, wrong);
    assert_eq!(e.debit("W2", Some("000000"), MORNING).await, wrong);
    assert_eq!(e.debit("W3", Some("000000"), MORNING).await, locked);
    assert_eq!(e.debit("W4", Some(PIN), MORNING + 60_000).await, locked);
    // 23:59 IST is still the same day.
    let late = MORNING + 14 * 3_600_000 - 60_000;
    assert_eq!(e.debit("W5", Some(PIN), late).await, locked);
    assert_eq!(
        e.debit("W6", Some(PIN), MORNING + DAY_MS).await,
        LegResult::Success
    );
    // Two wrong PINs, then the right one: the count starts again.
    assert_eq!(e.debit("W7", Some("111111"), MORNING + DAY_MS).await, wrong);
    assert_eq!(
        e.debit("W8", Some(PIN), MORNING + DAY_MS).await,
        LegResult::Success
    );
    assert_eq!(e.debit("W9", Some("111111"), MORNING + DAY_MS).await, wrong);
    assert_eq!(e.debit("WA", Some("111111"), MORNING + DAY_MS).await, wrong);
}

#[tokio::test]
async fn setting_a_pin_needs_the_card_the_otp_and_a_well_formed_pin() {
    let mut e = env().await;
    let (otp, code) = e.otp().await;
    let req = e.set_req(&otp, code, "000000", PIN);
    assert_eq!(
        e.banks.set_pin(&req, MORNING).await.unwrap(),
        LegResult::Failure(codes::CARD_MISMATCH)
    );
    let card = e.asha.debit_card.clone().unwrap();
    let last6 = card.last6();
    let (otp, code) = e.otp().await;
    let mut req = e.set_req(&otp, code, last6.expose(), PIN);
    req.card_expiry = Expiry::new(card.expiry.year() + 1, card.expiry.month()).unwrap();
    assert_eq!(
        e.banks.set_pin(&req, MORNING).await.unwrap(),
        LegResult::Failure(codes::CARD_MISMATCH)
    );
    // Three wrong OTPs spend it: the right one no longer works.
    let (otp, code) = e.otp().await;
    for _ in 0..3 {
        let req = e.set_req(&otp, secret("000000"), last6.expose(), PIN);
        let r = e.banks.set_pin(&req, MORNING).await.unwrap();
        assert_eq!(r, LegResult::Failure(codes::BAD_OTP));
    }
    let req = e.set_req(&otp, code, last6.expose(), PIN);
    assert_eq!(
        e.banks.set_pin(&req, MORNING).await.unwrap(),
        LegResult::Failure(codes::BAD_OTP)
    );
    // An expired OTP.
    let (otp, code) = e.otp().await;
    let req = e.set_req(&otp, code, last6.expose(), PIN);
    let later = MORNING + paytap_issuer::upi_pin::PIN_OTP_TTL_MS;
    assert_eq!(
        e.banks.set_pin(&req, later).await.unwrap(),
        LegResult::Failure(codes::BAD_OTP)
    );
    // A PIN of five digits.
    assert_eq!(e.set("12345").await, LegResult::Failure(codes::PIN_FORMAT));
    // The right OTP is spent by its one use.
    let (otp, code) = e.otp().await;
    let req = e.set_req(&otp, code, last6.expose(), PIN);
    assert_eq!(
        e.banks.set_pin(&req, MORNING).await.unwrap(),
        LegResult::Success
    );
    assert_eq!(
        e.banks.set_pin(&req, MORNING).await.unwrap(),
        LegResult::Failure(codes::BAD_OTP)
    );
}

#[tokio::test]
async fn the_pin_and_the_card_are_not_kept_in_clear() {
    let mut e = env().await;
    assert_eq!(e.set(PIN).await, LegResult::Success);
    let rows: Vec<(String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT card_check, pin_salt, pin_hash FROM issuer_upi_pins")
            .fetch_all(e.db.pool())
            .await
            .unwrap();
    let card = e.asha.debit_card.as_ref().unwrap();
    let last6 = card.last6();
    for (check, salt, hash) in rows {
        for column in [Some(check), salt, hash].into_iter().flatten() {
            assert!(!column.contains(PIN), "a PIN in clear");
            assert!(!column.contains(last6.expose().as_str()), "card digits");
        }
    }
    // The keys ListKeys gives do not change with a restart.
    let again = UpiBanks::open(
        e.db.clone(),
        Ledger::open(e.db.clone()).await.unwrap(),
        &IssuerConfig::default_banks(),
        &[9; 32],
        &Secret::new([9; 32]),
    )
    .await
    .unwrap();
    assert_eq!(again.list_keys(), e.banks.list_keys());
    assert!(!format!("{card:?}").contains(card.pan.expose()), "masked");
}
