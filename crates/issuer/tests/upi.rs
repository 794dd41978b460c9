//! The banks' UPI side: each promise the switch rests on, on the ledger.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

use paytap_issuer::upi::codes;
use paytap_issuer::{IssuerConfig, LegResult, UpiAccount, UpiBanks};
use paytap_ledger::Ledger;
use paytap_store::Db;

const ICICI: &str = "63560001";
const HDFC: &str = "63560002";

struct Env {
    banks: UpiBanks,
    ledger: Ledger,
    payer: UpiAccount,
    payee: UpiAccount,
}

async fn env() -> Env {
    let db = Db::for_tests().await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let banks = UpiBanks::open(
        db,
        ledger.clone(),
        &IssuerConfig::default_banks(),
        &[7u8; 32],
        &paytap_types::Secret::new([7; 32]),
    )
    .await
    .unwrap();
    let payer = banks
        .open_account(ICICI, "Asha", "9876543210", 10_000_00)
        .await
        .unwrap();
    let payee = banks
        .open_account(HDFC, "Ravi", "9123456780", 0)
        .await
        .unwrap();
    Env {
        banks,
        ledger,
        payer,
        payee,
    }
}

impl Env {
    async fn balances(&self) -> (i64, i64) {
        let a = &self.payer;
        let b = &self.payee;
        (
            self.banks
                .balance(&a.ifsc, &a.account_number)
                .await
                .unwrap(),
            self.banks
                .balance(&b.ifsc, &b.account_number)
                .await
                .unwrap(),
        )
    }

    async fn debit(&self, id: &str, paise: i64) -> LegResult {
        let a = &self.payer;
        self.banks
            .debit(id, &a.ifsc, &a.account_number, paise)
            .await
            .unwrap()
    }

    async fn credit(&self, id: &str, paise: i64) -> LegResult {
        let b = &self.payee;
        self.banks
            .credit(id, &b.ifsc, &b.account_number, paise)
            .await
            .unwrap()
    }

    async fn balanced(&self) {
        let report = self.ledger.check_invariants().await.unwrap();
        let inr = report.totals[&paytap_types::Currency::INR];
        assert_eq!(inr.debits_posted, inr.credits_posted, "{report:?}");
    }
}

#[tokio::test]
async fn accounts_have_ifsc_and_are_found_by_mobile() {
    let e = env().await;
    assert_eq!(e.payer.ifsc, "ICIC0000001");
    assert_eq!(e.payee.ifsc, "HDFC0000001");
    assert_eq!(e.payer.account_number.len(), 12);
    let found = e.banks.accounts_by_mobile("9876543210").await.unwrap();
    // The debit card is handed over once, at opening, never again.
    assert!(e.payer.debit_card.is_some());
    let listed = UpiAccount {
        debit_card: None,
        ..e.payer.clone()
    };
    assert_eq!(found, vec![listed]);
    assert!(
        e.banks
            .accounts_by_mobile("9000000000")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(e.banks.open_account(ICICI, "X", "12345", 0).await.is_err());
}

#[tokio::test]
async fn debit_then_credit_moves_the_money_once() {
    let e = env().await;
    assert_eq!(e.debit("T1", 250_00).await, LegResult::Success);
    assert_eq!(e.debit("T1", 250_00).await, LegResult::Success);
    assert_eq!(e.credit("T1", 250_00).await, LegResult::Success);
    assert_eq!(e.credit("T1", 250_00).await, LegResult::Success);
    assert_eq!(e.balances().await, (9_750_00, 250_00));
    assert_eq!(
        e.banks.check_credit("T1").await.unwrap(),
        LegResult::Success
    );
    e.balanced().await;
}

#[tokio::test]
async fn debit_beyond_the_balance_fails_and_stays_failed() {
    let e = env().await;
    let refused = LegResult::Failure(codes::INSUFFICIENT_FUNDS);
    assert_eq!(e.debit("T2", 20_000_00).await, refused);
    assert_eq!(e.debit("T2", 20_000_00).await, refused);
    assert_eq!(e.balances().await, (10_000_00, 0));
}

#[tokio::test]
async fn reversal_gives_a_debit_back_once() {
    let e = env().await;
    assert_eq!(e.debit("T3", 100_00).await, LegResult::Success);
    let a = &e.payer;
    for _ in 0..2 {
        assert_eq!(
            e.banks.reverse("T3", &a.ifsc).await.unwrap(),
            LegResult::Success
        );
    }
    assert_eq!(e.balances().await, (10_000_00, 0));
    // The debit repeated after its reversal does not take the money again.
    assert_eq!(
        e.debit("T3", 100_00).await,
        LegResult::Failure(codes::ALREADY_REVERSED)
    );
    assert_eq!(e.balances().await, (10_000_00, 0));
    e.balanced().await;
}

#[tokio::test]
async fn reversal_before_the_debit_makes_the_debit_fail() {
    let e = env().await;
    let a = &e.payer;
    assert_eq!(
        e.banks.reverse("T4", &a.ifsc).await.unwrap(),
        LegResult::Success
    );
    assert_eq!(
        e.debit("T4", 100_00).await,
        LegResult::Failure(codes::ALREADY_REVERSED)
    );
    assert_eq!(e.balances().await, (10_000_00, 0));
}

#[tokio::test]
async fn status_check_without_credit_makes_the_credit_fail() {
    let e = env().await;
    assert_eq!(e.debit("T5", 100_00).await, LegResult::Success);
    let none = LegResult::Failure(codes::CHECKED_NOT_CREDITED);
    assert_eq!(e.banks.check_credit("T5").await.unwrap(), none);
    assert_eq!(e.credit("T5", 100_00).await, none);
    assert_eq!(e.banks.check_credit("T5").await.unwrap(), none);
    assert_eq!(e.balances().await, (9_900_00, 0));
}

#[tokio::test]
async fn credit_to_an_unknown_account_or_bank_fails() {
    let e = env().await;
    let b = &e.payee;
    let r = e
        .banks
        .credit("T6", &b.ifsc, "000000000000", 1_00)
        .await
        .unwrap();
    assert_eq!(r, LegResult::Failure(codes::NO_SUCH_ACCOUNT));
    let r = e
        .banks
        .credit("T7", "ABCD0000001", &b.account_number, 1_00)
        .await
        .unwrap();
    assert_eq!(r, LegResult::Failure(codes::BAD_LEG));
    assert_eq!(e.debit("T8", 0).await, LegResult::Failure(codes::BAD_LEG));
}

/// A mobile number kept in clear before numbers were sealed (a row with no
/// fingerprint) is sealed when the banks next open, and still found.
#[tokio::test]
async fn a_number_kept_in_clear_is_sealed_at_open_and_still_found() {
    let db = Db::for_tests().await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let config = IssuerConfig::default_banks();
    let key = [7u8; 32];
    UpiBanks::open(
        db.clone(),
        ledger.clone(),
        &config,
        &key,
        &paytap_types::Secret::new([7; 32]),
    )
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO issuer_upi_accounts (bank_id, account_number, ifsc, mobile, holder, created_at) \
         VALUES ($1, '123456789012', 'ICIC0000001', '9988776655', 'Meera', 0)",
    )
    .bind(ICICI)
    .execute(db.pool())
    .await
    .unwrap();
    let banks = UpiBanks::open(
        db.clone(),
        ledger,
        &config,
        &key,
        &paytap_types::Secret::new([7; 32]),
    )
    .await
    .unwrap();
    let found = banks.accounts_by_mobile("9988776655").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].mobile, "9988776655");
    assert_eq!(found[0].holder, "Meera");
    let (stored,): (String,) = sqlx::query_as(
        "SELECT mobile FROM issuer_upi_accounts WHERE account_number = '123456789012'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap();
    assert!(!stored.contains("9988776655"), "{stored}");
    // Another key finds nothing: the fingerprint is keyed.
    let other = UpiBanks::open(
        db.clone(),
        Ledger::open(db).await.unwrap(),
        &config,
        &[8u8; 32],
        &paytap_types::Secret::new([7; 32]),
    )
    .await
    .unwrap();
    assert!(
        other
            .accounts_by_mobile("9988776655")
            .await
            .unwrap()
            .is_empty()
    );
}
