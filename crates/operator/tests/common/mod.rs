//! Real purses, SAMs and an operator host on the configured store (SQLite
//! by default, PostgreSQL with PAYTAP_TEST_DATABASE_URL).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paytap_ledger::{AccountFlags, AccountSpec, Ledger, Transfer};
use paytap_operator::pay::{
    BoxFuture, CardPayment, LoadPayments, Paid, PaymentFailure, PaymentRequest,
};
use paytap_operator::{Day, OperatorHost, OperatorKeys};
use paytap_purse::command::PurchaseKind;
use paytap_purse::host::Host;
use paytap_purse::records::{DateTime, PublicData, SERIAL_LEN};
use paytap_purse::sam::Sam;
use paytap_purse::{MasterKeys, Purse, PurseKey, PurseState};
use paytap_store::Db;
use paytap_transit::config::{Operator, serial_from_digits};
use paytap_transit::{GateRecord, TransitConfig, tap};
use paytap_types::{Currency, ManualClock};
use zeroize::Zeroizing;

pub const GATES: [[u8; 6]; 3] = [[1, 0, 0, 0, 0, 1], [1, 0, 0, 0, 0, 2], [1, 0, 0, 0, 0, 3]];
const HOST_TERMINAL: [u8; 6] = [0, 0x11, 0x22, 0x33, 0x44, 0x55];
pub const TOP_UP: u32 = 5_000;
/// 2026-12-05 10:00 in Beijing.
pub const MORNING: i64 = 1_796_436_000_000;
pub const DAY: Duration = Duration::from_secs(86_400);

pub fn masters() -> MasterKeys {
    MasterKeys {
        load: PurseKey::new([0x11; 16]),
        purchase: PurseKey::new([0x22; 16]),
        tac: PurseKey::new(*b"beijing-tac-key!"),
    }
}

pub fn beijing() -> Operator {
    TransitConfig::default_operators()
        .operator("beijing")
        .cloned()
        .unwrap()
}

pub fn at(minute: u8) -> DateTime {
    DateTime::from_parts(2026, 12, 5, 8, minute, 0).unwrap()
}

pub fn today() -> Day {
    Day::of_millis(MORNING)
}

pub fn serial(n: u32) -> [u8; SERIAL_LEN] {
    serial_from_digits(&format!("1000310499{n:010}")).unwrap()
}

/// A Beijing card with `TOP_UP` loaded.
pub fn card(serial: [u8; SERIAL_LEN]) -> Purse {
    let public = PublicData::adult_card(*b"BJ-METRO", serial);
    let mut p = Purse::new(PurseState::new(public, masters().derive(&serial), 100_000));
    let host = Host::new(masters());
    tap::load(&mut p, &host, TOP_UP, HOST_TERMINAL, at(0), [9; 4]).unwrap();
    p
}

pub fn sam(gate: usize) -> Sam {
    Sam::new(GATES[gate], masters().purchase, 1)
}

pub fn ride(p: &mut Purse, s: &mut Sam, amount: u32, minute: u8) -> GateRecord {
    tap::purchase(p, s, PurchaseKind::Simple, amount, at(minute), || [7; 4]).unwrap()
}

/// `n` honest rides over `cards` cards at the three gates.
pub fn rides(cards: u32, n: usize) -> Vec<GateRecord> {
    let mut purses: Vec<Purse> = (0..cards).map(|i| card(serial(i))).collect();
    let mut sams: Vec<Sam> = (0..GATES.len()).map(sam).collect();
    (0..n)
        .map(|i| {
            let n = purses.len();
            let p = &mut purses[i % n];
            let s = &mut sams[i % GATES.len()];
            ride(p, s, 100 + 10 * (i as u32 % 7), (i % 60) as u8)
        })
        .collect()
}

pub struct Fixture {
    pub db: Db,
    pub ledger: Ledger,
    pub clock: ManualClock,
    pub host: OperatorHost,
}

pub async fn open_host(db: &Db, ledger: &Ledger, clock: &ManualClock) -> OperatorHost {
    open_host_for(db, ledger, clock, beijing()).await
}

/// A host of `op` (with the test master keys) on `db`.
pub async fn open_host_for(
    db: &Db,
    ledger: &Ledger,
    clock: &ManualClock,
    op: Operator,
) -> OperatorHost {
    let keys = OperatorKeys {
        masters: masters(),
        data_key: Zeroizing::new([5; 32]),
    };
    OperatorHost::open(
        db.clone(),
        ledger.clone(),
        op,
        keys,
        Arc::new(clock.clone()),
    )
    .await
    .unwrap()
}

pub async fn fixture() -> Fixture {
    let db = Db::for_tests().await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let clock = ManualClock::starting_at(MORNING);
    let host = open_host(&db, &ledger, &clock).await;
    Fixture {
        db,
        ledger,
        clock,
        host,
    }
}

pub async fn count(db: &Db, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(db.pool())
        .await
        .unwrap();
    n
}

/// The operator's merchant account in these tests.
pub const MERCHANT_ACCOUNT: &str = "merchant:tr-beijing:settlement";
/// The riders' bank in these tests.
pub const BANK_ACCOUNT: &str = "issuer:test:settlement";
/// A token the test network declines.
pub const DECLINED_TOKEN: &str = "6250940000000002";

/// A card network and acquirer in memory, for the operator's port: one
/// outcome per payment key (a repeat answers the first), money moved on
/// the ledger from the bank to the operator's merchant account and back on
/// a refund, each under an id made of the key. What the real network does
/// over ISO 8583 is tested in `crates/paytap/tests/transit_gate.rs`.
#[derive(Clone)]
pub struct TestNetwork {
    ledger: Ledger,
    payments: Arc<Mutex<HashMap<String, TestPayment>>>,
}

/// One payment key's outcome at the test network.
#[derive(Clone, Copy)]
struct TestPayment {
    approved: bool,
    refunded: bool,
}

impl TestNetwork {
    pub async fn open(ledger: &Ledger) -> TestNetwork {
        for id in [MERCHANT_ACCOUNT, BANK_ACCOUNT] {
            ledger
                .create_account(AccountSpec::new(id, id, Currency::CNY, AccountFlags::None))
                .await
                .unwrap();
        }
        TestNetwork {
            ledger: ledger.clone(),
            payments: Arc::default(),
        }
    }

    /// Payments approved, refunds made: card fees and top-ups.
    pub fn counts(&self) -> (usize, usize) {
        self.counts_of("")
    }

    /// Top-ups approved, refunds of top-ups made (card fees left out).
    pub fn load_counts(&self) -> (usize, usize) {
        self.counts_of("tl-")
    }

    fn counts_of(&self, prefix: &str) -> (usize, usize) {
        let p = self.payments.lock().unwrap();
        let of = |f: fn(&TestPayment) -> bool| {
            p.iter()
                .filter(|(k, v)| k.starts_with(prefix) && f(v))
                .count()
        };
        (of(|v| v.approved), of(|v| v.refunded))
    }
}

impl LoadPayments for TestNetwork {
    fn pay<'a>(
        &'a self,
        req: &'a PaymentRequest<'a>,
    ) -> BoxFuture<'a, Result<Paid, PaymentFailure>> {
        Box::pin(async move {
            let approved = req.card.token != DECLINED_TOKEN;
            let first = *self
                .payments
                .lock()
                .unwrap()
                .entry(req.key.clone())
                .or_insert(TestPayment {
                    approved,
                    refunded: false,
                });
            if !first.approved {
                return Err(PaymentFailure::Declined {
                    code: "51".into(),
                    meaning: "insufficient funds".into(),
                });
            }
            let t = Transfer::single(
                format!("pay:{}", req.key),
                BANK_ACCOUNT,
                MERCHANT_ACCOUNT,
                req.amount,
            );
            self.ledger.transfer(t).await.unwrap();
            Ok(Paid {
                account: MERCHANT_ACCOUNT.into(),
            })
        })
    }

    fn refund<'a>(
        &'a self,
        req: &'a PaymentRequest<'a>,
    ) -> BoxFuture<'a, Result<(), PaymentFailure>> {
        Box::pin(async move {
            {
                let mut p = self.payments.lock().unwrap();
                let Some(entry) = p.get_mut(&req.key).filter(|e| e.approved) else {
                    return Err(PaymentFailure::Invalid("no such payment".into()));
                };
                entry.refunded = true;
            }
            let t = Transfer::single(
                format!("refund:{}", req.key),
                MERCHANT_ACCOUNT,
                BANK_ACCOUNT,
                req.amount,
            );
            self.ledger.transfer(t).await.unwrap();
            Ok(())
        })
    }
}

/// A card payment as a phone's secure element would make it.
pub fn card_payment(token: &str) -> CardPayment {
    CardPayment {
        token: token.into(),
        expiry: "3012".into(),
        psn: Some(1),
        track2: format!("{token}D3012"),
        icc_data: "9F2608AABBCCDDEEFF0011".into(),
    }
}

/// The test network's token that is approved.
pub const TOKEN: &str = "6250940000000010";
