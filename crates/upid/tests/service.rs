//! The switch as a service over the emulated banks: payments that succeed,
//! banks that refuse, answers that are lost, and restarts mid-transaction.
//! After each, the money is where it should be and the INR ledger sums to zero.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

mod common;

use paytap_issuer::{IssuerConfig, UpiAccount, UpiBanks};
use paytap_ledger::Ledger;
use paytap_store::Db;
use paytap_types::{Clock, Currency, ManualClock};
use paytap_upi::Vpa;
use paytap_upi::xml::*;
use paytap_upid::{Banks, DirectoryEntry, IssuerBanks, UpiSwitch};
use paytap_upiswitch::{Outcome, limits};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const ICICI: &str = "63560001";
const HDFC: &str = "63560002";

/// What happens to a leg's answer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Lose {
    /// The bank never sees the leg.
    Before,
    /// The bank acts, and its answer is lost.
    After,
}

/// The issuers, with legs of one kind whose answers are lost once.
#[derive(Clone)]
struct Flaky {
    inner: IssuerBanks,
    lose: Arc<Mutex<Vec<(TxnType, Lose)>>>,
}

impl Flaky {
    fn take(&self, kind: TxnType) -> Option<Lose> {
        let mut rules = self.lose.lock().unwrap();
        let i = rules.iter().position(|r| r.0 == kind)?;
        Some(rules.remove(i).1)
    }
}

impl Banks for Flaky {
    async fn leg(&self, bank: &str, req: &ReqPay) -> Option<RespPay> {
        match self.take(req.txn.kind) {
            Some(Lose::Before) => None,
            Some(Lose::After) => {
                self.inner.leg(bank, req).await;
                None
            }
            None => self.inner.leg(bank, req).await,
        }
    }

    async fn check(&self, bank: &str, req: &ReqChkTxn) -> Option<RespChkTxn> {
        self.inner.check(bank, req).await
    }
}

struct Env {
    db: Db,
    ledger: Ledger,
    banks: Arc<UpiBanks>,
    clock: ManualClock,
    asha: UpiAccount,
    ravi: UpiAccount,
}

fn vpa(s: &str) -> Vpa {
    Vpa::new(s).unwrap()
}

fn account(a: &UpiAccount) -> Account {
    Account {
        ifsc: Ifsc::new(&a.ifsc).unwrap(),
        number: AccountNumber::new(&a.account_number).unwrap(),
        kind: Some("SAVINGS".into()),
    }
}

async fn env() -> Env {
    let db = Db::for_tests().await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let banks = UpiBanks::open(
        db.clone(),
        ledger.clone(),
        &IssuerConfig::default_banks(),
        &[7u8; 32],
        &paytap_types::Secret::new([7; 32]),
    )
    .await
    .unwrap();
    let asha = banks
        .open_account(ICICI, "Asha", "9876543210", 10_000_00)
        .await
        .unwrap();
    common::set_pin(&banks, &asha, common::PIN).await;
    let ravi = banks
        .open_account(HDFC, "Ravi", "9123456780", 0)
        .await
        .unwrap();
    Env {
        db,
        ledger,
        banks: Arc::new(banks),
        clock: ManualClock::starting_at(1_796_538_600_000),
        asha,
        ravi,
    }
}

impl Env {
    async fn switch(&self, lose: Vec<(TxnType, Lose)>) -> UpiSwitch<Flaky> {
        let banks = Flaky {
            inner: IssuerBanks::new(self.banks.clone()),
            lose: Arc::new(Mutex::new(lose)),
        };
        let sw = UpiSwitch::open(
            self.db.clone(),
            banks,
            Arc::new(self.clock.clone()),
            OrgId::new("NPCI").unwrap(),
        )
        .await
        .unwrap();
        let long_ago = self.clock.now_millis() - 30 * limits::NEW_BINDING_WINDOW_MS;
        for (addr, a) in [("asha@paytap", &self.asha), ("ravi@paytap", &self.ravi)] {
            let entry = DirectoryEntry {
                vpa: vpa(addr),
                account: account(a),
                bound_at: Some(long_ago),
            };
            sw.register(&entry).await.unwrap();
        }
        sw
    }

    fn pay_req(&self, id: &str, to: &str, paise: u64) -> ReqPay {
        let now = self.clock.now_millis();
        let mut payer = Party::person(vpa("asha@paytap"));
        payer.account = Some(account(&self.asha));
        payer.creds = vec![common::pin_cred(
            &self.banks,
            &self.asha.ifsc,
            id,
            common::PIN,
        )];
        payer.amount = Some(Amount { paise });
        let mut payee = Party::person(vpa(to));
        payee.amount = Some(Amount { paise });
        ReqPay {
            head: Head {
                ver: "2.0".into(),
                ts: Timestamp::from_unix_millis(now),
                org_id: OrgId::new("PAYTAP").unwrap(),
                msg_id: MsgId::new(&format!("M{id}")).unwrap(),
            },
            txn: Txn::new(
                TxnId::new(id).unwrap(),
                Timestamp::from_unix_millis(now),
                TxnType::Pay,
            ),
            payer,
            payees: vec![payee],
        }
    }

    async fn balances(&self) -> (i64, i64) {
        let (a, r) = (&self.asha, &self.ravi);
        (
            self.banks
                .balance(&a.ifsc, &a.account_number)
                .await
                .unwrap(),
            self.banks
                .balance(&r.ifsc, &r.account_number)
                .await
                .unwrap(),
        )
    }

    /// Money is never lost or created: every INR debit has its credit.
    async fn balanced(&self) {
        let report = self.ledger.check_invariants().await.unwrap();
        let inr = report.totals[&Currency::INR];
        assert_eq!(inr.debits_posted, inr.credits_posted, "{report:?}");
        assert_eq!(inr.debits_pending, inr.credits_pending, "{report:?}");
    }

    fn advance(&self, ms: i64) {
        self.clock
            .advance(Duration::from_millis(u64::try_from(ms).unwrap()));
    }
}

fn result(r: &Option<RespPay>) -> (ResultCode, Option<&str>) {
    let r = r.as_ref().expect("an answer");
    (r.resp.result, r.resp.err_code.as_ref().map(|c| c.as_str()))
}

fn id(s: &str) -> TxnId {
    TxnId::new(s).unwrap()
}

#[tokio::test]
async fn a_payment_moves_the_money_once() {
    let e = env().await;
    let sw = e.switch(vec![]).await;
    let r = sw
        .pay(e.pay_req("T1", "ravi@paytap", 250_00))
        .await
        .unwrap();
    assert_eq!(result(&r), (ResultCode::Success, None));
    let again = sw
        .pay(e.pay_req("T1", "ravi@paytap", 250_00))
        .await
        .unwrap();
    assert_eq!(result(&again), (ResultCode::Success, None));
    assert_eq!(e.balances().await, (9_750_00, 250_00));
    e.balanced().await;
}

#[tokio::test]
async fn a_different_request_under_a_used_id_is_refused() {
    let e = env().await;
    let sw = e.switch(vec![]).await;
    sw.pay(e.pay_req("T1", "ravi@paytap", 250_00))
        .await
        .unwrap();
    let clash = sw
        .pay(e.pay_req("T1", "ravi@paytap", 999_00))
        .await
        .unwrap();
    assert_eq!(result(&clash), (ResultCode::Failure, Some("DT")));
    assert_eq!(e.balances().await, (9_750_00, 250_00));
}

#[tokio::test]
async fn a_payment_without_the_payers_pin_block_moves_nothing() {
    let e = env().await;
    let sw = e.switch(vec![]).await;
    let mut req = e.pay_req("T4", "ravi@paytap", 250_00);
    req.payer.creds.clear();
    let r = sw.pay(req).await.unwrap();
    assert_eq!(result(&r), (ResultCode::Failure, Some("PB")));
    assert_eq!(e.balances().await, (10_000_00, 0));
    e.balanced().await;
}

#[tokio::test]
async fn unknown_payee_and_insufficient_funds_move_nothing() {
    let e = env().await;
    let sw = e.switch(vec![]).await;
    let r = sw
        .pay(e.pay_req("T2", "nobody@paytap", 1_00))
        .await
        .unwrap();
    assert_eq!(result(&r), (ResultCode::Failure, Some("ZH")));
    let r = sw
        .pay(e.pay_req("T3", "ravi@paytap", 50_000_00))
        .await
        .unwrap();
    assert_eq!(result(&r), (ResultCode::Failure, Some("Z9")));
    assert_eq!(e.balances().await, (10_000_00, 0));
    e.balanced().await;
}

#[tokio::test]
async fn a_refused_credit_is_reversed() {
    let e = env().await;
    let sw = e.switch(vec![]).await;
    let closed = DirectoryEntry {
        vpa: vpa("closed@paytap"),
        account: Account {
            ifsc: Ifsc::new(&e.ravi.ifsc).unwrap(),
            number: AccountNumber::new("000000000000").unwrap(),
            kind: None,
        },
        bound_at: None,
    };
    sw.register(&closed).await.unwrap();
    let r = sw
        .pay(e.pay_req("T4", "closed@paytap", 100_00))
        .await
        .unwrap();
    assert_eq!(result(&r), (ResultCode::Failure, Some("U31")));
    assert!(matches!(
        sw.outcome(&id("T4")).await,
        Some(Outcome::Reversed(_))
    ));
    assert_eq!(e.balances().await, (10_000_00, 0));
    e.balanced().await;
}

#[tokio::test]
async fn a_credit_made_but_unanswered_is_deemed_then_found_by_a_status_check() {
    let e = env().await;
    let sw = e.switch(vec![(TxnType::Credit, Lose::After)]).await;
    let r = sw
        .pay(e.pay_req("T5", "ravi@paytap", 100_00))
        .await
        .unwrap();
    assert_eq!(r, None, "in flight until the credit timer");
    e.advance(limits::CREDIT_TIMEOUT_MS);
    assert_eq!(sw.fire_due().await.unwrap(), 1);
    assert_eq!(sw.outcome(&id("T5")).await, Some(Outcome::Success));
    let repeat = sw
        .pay(e.pay_req("T5", "ravi@paytap", 100_00))
        .await
        .unwrap();
    assert_eq!(result(&repeat), (ResultCode::Success, None));
    assert_eq!(e.balances().await, (9_900_00, 100_00));
    e.balanced().await;
}

#[tokio::test]
async fn a_credit_never_made_is_checked_then_reversed() {
    let e = env().await;
    let sw = e.switch(vec![(TxnType::Credit, Lose::Before)]).await;
    assert_eq!(
        sw.pay(e.pay_req("T6", "ravi@paytap", 100_00))
            .await
            .unwrap(),
        None
    );
    assert_eq!(e.balances().await, (9_900_00, 0));
    e.advance(limits::CREDIT_TIMEOUT_MS);
    sw.fire_due().await.unwrap();
    assert!(matches!(
        sw.outcome(&id("T6")).await,
        Some(Outcome::Reversed(_))
    ));
    assert_eq!(e.balances().await, (10_000_00, 0));
    assert_eq!(sw.next_timer().await, None);
    e.balanced().await;
}

#[tokio::test]
async fn a_restart_after_an_unanswered_debit_reverses_it() {
    let e = env().await;
    {
        let sw = e.switch(vec![(TxnType::Debit, Lose::After)]).await;
        assert_eq!(
            sw.pay(e.pay_req("T7", "ravi@paytap", 300_00))
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(
        e.balances().await,
        (9_700_00, 0),
        "debited, then the switch stopped"
    );
    let sw = e.switch(vec![]).await;
    assert_eq!(sw.in_flight().await, 1);
    assert_eq!(sw.fire_due().await.unwrap(), 0, "not due yet");
    e.advance(limits::DEBIT_TIMEOUT_MS);
    assert_eq!(sw.fire_due().await.unwrap(), 1);
    assert!(matches!(
        sw.outcome(&id("T7")).await,
        Some(Outcome::Reversed(_))
    ));
    assert_eq!(sw.in_flight().await, 0);
    assert_eq!(e.balances().await, (10_000_00, 0));
    e.balanced().await;
}

#[tokio::test]
async fn a_restart_during_the_credit_finishes_the_payment() {
    let e = env().await;
    {
        let sw = e.switch(vec![(TxnType::Credit, Lose::After)]).await;
        assert_eq!(
            sw.pay(e.pay_req("T8", "ravi@paytap", 400_00))
                .await
                .unwrap(),
            None
        );
        // Earlier transactions survive the restart too.
        let r = sw.pay(e.pay_req("T9", "ravi@paytap", 1_00)).await.unwrap();
        assert_eq!(result(&r), (ResultCode::Success, None));
    }
    let sw = e.switch(vec![]).await;
    assert_eq!(sw.outcome(&id("T9")).await, Some(Outcome::Success));
    let repeat = sw.pay(e.pay_req("T9", "ravi@paytap", 1_00)).await.unwrap();
    assert_eq!(result(&repeat), (ResultCode::Success, None));
    e.advance(limits::CREDIT_TIMEOUT_MS);
    sw.fire_due().await.unwrap();
    assert_eq!(sw.outcome(&id("T8")).await, Some(Outcome::Success));
    assert_eq!(e.balances().await, (9_599_00, 401_00));
    e.balanced().await;
}

#[tokio::test]
async fn the_daily_p2p_limit_counts_what_the_switch_received_today() {
    let e = env().await;
    let rich = e
        .banks
        .open_account(ICICI, "Rich", "9000000001", 2_00_000_00)
        .await
        .unwrap();
    common::set_pin(&e.banks, &rich, common::PIN).await;
    let rich = [rich];
    let sw = e.switch(vec![]).await;
    let entry = DirectoryEntry {
        vpa: vpa("asha@paytap"),
        account: account(&rich[0]),
        bound_at: Some(0),
    };
    sw.register(&entry).await.unwrap();
    let mut first = e.pay_req("L1", "ravi@paytap", 60_000_00);
    first.payer.account = Some(account(&rich[0]));
    assert_eq!(result(&sw.pay(first).await.unwrap()).0, ResultCode::Success);
    let mut second = e.pay_req("L2", "ravi@paytap", 50_000_00);
    second.payer.account = Some(account(&rich[0]));
    // A PSP's back-dated `Txn@ts` does not move the payment out of today.
    let yesterday = e.clock.now_millis() - 86_400_000;
    second.txn.ts = Timestamp::from_unix_millis(yesterday);
    let r = sw.pay(second).await.unwrap();
    assert_eq!(result(&r), (ResultCode::Failure, Some("Z8")));
    e.balanced().await;
}
