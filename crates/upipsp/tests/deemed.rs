//! A payment whose credit goes unanswered: the app records it pending, a
//! status check while the switch waits reads it deemed, and once the
//! switch's timers have asked the beneficiary bank, the app's status check
//! reads the end: credited (the answer was lost after the bank acted) or
//! reversed (the bank never saw the credit). Money is never lost or made.
//! The risk guard hears of the payment's end only then: a deemed payment is
//! neither approved nor declined to it.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

use paytap_issuer::{IssuerConfig, UpiAccount, UpiBanks};
use paytap_ledger::Ledger;
use paytap_seal::upi_pin::{PinPurpose, seal_pin};
use paytap_store::Db;
use paytap_types::{Clock, Currency, ManualClock, Secret};
use paytap_upi::xml::{OrgId, ReqChkTxn, ReqPay, RespChkTxn, RespPay, TxnType};
use paytap_upid::{Banks, IssuerBanks, UpiSwitch};
use paytap_upipsp::{InProcess, NewBinding, PayRequest, PinSetting, Psp, PspConfig};
use paytap_upiswitch::limits::{CHECK_RETRY_MS, CREDIT_TIMEOUT_MS};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The banks, losing the answer to the next CREDIT: before the bank acts
/// (`Some(false)`) or after (`Some(true)`).
#[derive(Clone)]
struct LosesCredit {
    banks: IssuerBanks,
    after: Arc<Mutex<Option<bool>>>,
}

impl Banks for LosesCredit {
    async fn leg(&self, bank: &str, req: &ReqPay) -> Option<RespPay> {
        let lose = match req.txn.kind {
            TxnType::Credit => self.after.lock().unwrap().take(),
            _ => None,
        };
        match lose {
            Some(false) => None,
            Some(true) => {
                self.banks.leg(bank, req).await;
                None
            }
            None => self.banks.leg(bank, req).await,
        }
    }

    async fn check(&self, bank: &str, req: &ReqChkTxn) -> Option<RespChkTxn> {
        self.banks.check(bank, req).await
    }
}

struct World {
    psp: Psp,
    guard: Arc<paytap_guard::Guard>,
    switch: Arc<UpiSwitch<LosesCredit>>,
    lose: Arc<Mutex<Option<bool>>>,
    banks: Arc<UpiBanks>,
    ledger: Ledger,
    clock: ManualClock,
    asha: UpiAccount,
    ravi: UpiAccount,
    key: [u8; 32],
}

const PIN: &str = "9753";

async fn world() -> World {
    let db = Db::for_tests().await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let config = IssuerConfig::default_banks();
    let banks = UpiBanks::open(
        db.clone(),
        ledger.clone(),
        &config,
        &[5; 32],
        &Secret::new([5; 32]),
    )
    .await
    .unwrap();
    let asha = banks
        .open_account("63560001", "Asha", "9876543210", 10_000_00)
        .await
        .unwrap();
    let ravi = banks
        .open_account("63560002", "Ravi", "9123456780", 0)
        .await
        .unwrap();
    let banks = Arc::new(banks);
    let lose = Arc::new(Mutex::new(None));
    let flaky = LosesCredit {
        banks: IssuerBanks::new(banks.clone()),
        after: lose.clone(),
    };
    let clock = ManualClock::starting_at(1_796_617_800_000);
    let org = OrgId::new("NPCI").unwrap();
    let switch = Arc::new(
        UpiSwitch::open(db.clone(), flaky, Arc::new(clock.clone()), org)
            .await
            .unwrap(),
    );
    let links = Arc::new(InProcess::new(banks.clone(), switch.clone()));
    let app_db = Db::for_tests().await.unwrap();
    let psp = Psp::open(
        app_db.clone(),
        links,
        Arc::new(clock.clone()),
        PspConfig::default(),
        &[6; 32],
    )
    .await
    .unwrap();
    app_db.migrate(paytap_guard::MIGRATIONS).await.unwrap();
    let risk = paytap_guard::RiskService::open(
        app_db.clone(),
        paytap_risk::RiskRules::default_rules(),
        clock.now_millis(),
    )
    .await
    .unwrap();
    let guard = Arc::new(paytap_guard::Guard {
        risk: Some(risk),
        offers: None,
    });
    psp.attach_guard(guard.clone(), Vec::new());
    let key = psp
        .list_keys()
        .into_iter()
        .find(|k| k.bank == "ICIC")
        .unwrap()
        .public;
    World {
        psp,
        guard,
        switch,
        lose,
        banks,
        ledger,
        clock,
        asha,
        ravi,
        key,
    }
}

fn bound(mobile: &str) -> NewBinding {
    let device = paytap_seal::DeviceKey::generate().unwrap();
    NewBinding {
        device_id: format!("phone-{mobile}"),
        device_key: paytap_seal::public_key_to_base64(&device.public()),
        mobile: mobile.to_owned(),
    }
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

impl World {
    /// Asha and Ravi bound with their UPI IDs; Asha's PIN set.
    async fn ready(&self) {
        let b = self.psp.bind("asha", &bound("9876543210")).await.unwrap();
        self.psp
            .create_id("asha", &b[0].binding_id, "asha")
            .await
            .unwrap();
        let r = self.psp.bind("ravi", &bound("9123456780")).await.unwrap();
        self.psp
            .create_id("ravi", &r[0].binding_id, "ravi")
            .await
            .unwrap();
        let mut sms = self.banks.subscribe_otp();
        let otp = self
            .psp
            .request_pin_otp("asha", &b[0].binding_id)
            .await
            .unwrap();
        let card = self.asha.debit_card.as_ref().unwrap();
        let pin = Secret::new(PIN.to_owned());
        let block = seal_pin(&self.key, PinPurpose::SetPin, &otp.verification_id, &pin).unwrap();
        let setting = PinSetting {
            card_last6: card.last6(),
            card_expiry: card.expiry.to_string(),
            verification_id: otp.verification_id,
            otp: sms.recv().await.unwrap().code,
            pin_block: b64(&block),
        };
        self.psp
            .set_pin("asha", &b[0].binding_id, setting)
            .await
            .unwrap();
    }

    fn request(&self, txn_id: &str, paise: u64) -> PayRequest {
        let pin = Secret::new(PIN.to_owned());
        let block = seal_pin(&self.key, PinPurpose::Debit, txn_id, &pin).unwrap();
        PayRequest {
            txn_id: txn_id.to_owned(),
            from: "asha@paytap".into(),
            to: Some("ravi@paytap".into()),
            mobile: None,
            link: None,
            amount_paise: Some(paise),
            note: None,
            pin_block: b64(&block),
        }
    }

    async fn after(&self, ms: i64) {
        self.clock
            .advance(Duration::from_millis(u64::try_from(ms).unwrap()));
        self.switch.fire_due().await.unwrap();
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

    /// How the risk guard was told `txn_id` ended (`None`: not yet).
    async fn risk_outcome(&self, txn_id: &str) -> Option<String> {
        let risk = self.guard.risk.as_ref().unwrap();
        let id = paytap_types::upi_payment_id(txn_id);
        risk.stored(&id).await.unwrap().unwrap().outcome
    }

    async fn balanced(&self) {
        let report = self.ledger.check_invariants().await.unwrap();
        let inr = report.totals[&Currency::INR];
        assert_eq!(inr.debits_posted, inr.credits_posted, "{report:?}");
    }
}

#[tokio::test]
async fn a_lost_credit_answer_is_deemed_then_found_credited() {
    let w = world().await;
    w.ready().await;
    *w.lose.lock().unwrap() = Some(true);
    let p = w.psp.pay("asha", &w.request("D1", 300_00)).await.unwrap();
    assert_eq!(p.status, "pending", "{p:?}");
    let p = w.psp.payment("asha", "D1").await.unwrap();
    assert_eq!(
        (p.status.as_str(), p.error_code.as_deref()),
        ("deemed", Some("RB"))
    );
    assert_eq!(w.risk_outcome("D1").await, None, "deemed: not ended yet");
    // The switch deems the credit, then asks the beneficiary bank.
    w.after(CREDIT_TIMEOUT_MS).await;
    let p = w.psp.payment("asha", "D1").await.unwrap();
    assert_eq!(
        (p.status.as_str(), p.error_code.as_deref()),
        ("success", None)
    );
    assert_eq!(w.risk_outcome("D1").await.as_deref(), Some("approved"));
    assert_eq!(w.balances().await, (9_700_00, 300_00));
    // Read again: final, no more checks.
    assert_eq!(w.psp.payment("asha", "D1").await.unwrap(), p);
    w.balanced().await;
}

#[tokio::test]
async fn a_credit_the_bank_never_saw_is_reversed() {
    let w = world().await;
    w.ready().await;
    *w.lose.lock().unwrap() = Some(false);
    let p = w.psp.pay("asha", &w.request("D2", 400_00)).await.unwrap();
    assert_eq!(p.status, "pending");
    w.after(CREDIT_TIMEOUT_MS).await;
    w.after(CHECK_RETRY_MS).await;
    let p = w.psp.payment("asha", "D2").await.unwrap();
    assert_eq!(
        (p.status.as_str(), p.error_code.as_deref()),
        ("failed", Some("U31")),
        "{p:?}"
    );
    assert_eq!(w.risk_outcome("D2").await.as_deref(), Some("declined"));
    assert_eq!(w.balances().await, (10_000_00, 0));
    // The same transaction id again is the same payment: nothing is paid twice.
    let again = w.psp.pay("asha", &w.request("D2", 400_00)).await.unwrap();
    assert_eq!(again.status, "failed");
    assert_eq!(w.balances().await, (10_000_00, 0));
    w.balanced().await;
}
