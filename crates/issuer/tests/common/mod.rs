//! Shared set-up for the issuer tests.
#![allow(dead_code)]

use paytap_iso8583::{CheckResult, Message, Mti, VerificationResults};
use paytap_issuer::*;
use paytap_ledger::Ledger;
use paytap_store::Db;
use paytap_types::Pan;
use paytap_vault::{Keyring, Vault};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub const ICBC: &str = "01020000";
pub const CMB: &str = "03080000";
pub const ICICI: &str = "63560001";
pub const MASTER: &[u8] = b"issuer test master secret 32 byt";

pub struct Env {
    pub issuer: Issuer,
    pub ledger: Ledger,
    pub vault: Vault,
    pub db: Db,
    pub clock: Arc<AtomicI64>,
    pub keys: IssuerKeys,
}

impl Env {
    pub fn advance(&self, millis: i64) {
        self.clock.fetch_add(millis, Ordering::SeqCst);
    }
}

pub async fn env_on(db: Db) -> Env {
    let vault = Vault::open(db.clone(), Keyring::from_single_key([5u8; 32]))
        .await
        .unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let config = IssuerConfig::default_banks();
    let keys = IssuerKeys::derive(MASTER, config.banks.iter().map(|b| b.id.as_str()));
    let clock = Arc::new(AtomicI64::new(paytap_store::now_millis()));
    let c = clock.clone();
    let issuer = Issuer::open(
        db.clone(),
        ledger.clone(),
        vault.clone(),
        config,
        keys.clone(),
    )
    .await
    .unwrap()
    .with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
    Env {
        issuer,
        ledger,
        vault,
        db,
        clock,
        keys,
    }
}

pub async fn env() -> Env {
    env_on(Db::for_tests().await.unwrap()).await
}

/// A 0100 as the switch forwards it (no chip data, no token results).
pub fn auth(pan: &Pan, amount: u64, stan: u32) -> Message {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set(2, pan.expose()).unwrap();
    m.set_processing_code("000000").unwrap();
    m.set_amount(amount).unwrap();
    m.set_transmission_datetime(11, 23, 9, 30, (stan % 60) as u8)
        .unwrap();
    m.set_stan(stan).unwrap();
    m.set_pos_entry_mode("071").unwrap();
    m.set_acquirer_id("12345678").unwrap();
    m.set_rrn(&format!("{stan:012}")).unwrap();
    m.set_terminal_id("T0000001").unwrap();
    m.set_merchant_id("M00000000000001").unwrap();
    m.set_currency(156).unwrap();
    m
}

/// As the token service forwards a verified token transaction.
pub fn token_auth(pan: &Pan, amount: u64, stan: u32, cdcvm: bool) -> Message {
    let mut m = auth(pan, amount, stan);
    m.set_verification_results(&VerificationResults {
        cryptogram: Some(CheckResult::Passed),
        cdcvm: Some(if cdcvm {
            CheckResult::Passed
        } else {
            CheckResult::NotChecked
        }),
        atc: Some(CheckResult::Passed),
    })
    .unwrap();
    m
}

/// A Luhn-valid 16-digit number `prefix ‖ n ‖ check digit`.
pub fn pan_with(prefix: &str, n: u64) -> Pan {
    let body = format!("{prefix}{n:0width$}", width = 15 - prefix.len());
    let check = paytap_types::luhn_check_digit(&body).unwrap();
    Pan::parse(&format!("{body}{check}")).unwrap()
}

pub async fn assert_ledger_balanced(env: &Env) {
    let report = env.ledger.check_invariants().await.unwrap();
    for (cur, b) in &report.totals {
        assert_eq!(b.debits_posted, b.credits_posted, "{cur}");
        assert_eq!(b.debits_pending, b.credits_pending, "{cur}");
    }
}
