//! UPI payments through the risk and offers guard of the `in` region: every
//! payment and collect approval is decided on (and the decision stored in
//! the same database as the payments) before it leaves; a blocklisted UPI
//! ID or a burst of payments is refused and nothing moves at the banks; a
//! first bill paid with UPI earns the ₹50 cashback once, credited on the
//! INR ledger; a repeated request is never decided or counted twice.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

use paytap_guard::{Guard, OffersService, RiskService};
use paytap_issuer::{IssuerConfig, UpiAccount, UpiBanks};
use paytap_ledger::Ledger;
use paytap_offers::{BenefitKind, OffersFile};
use paytap_risk::RiskRules;
use paytap_seal::upi_pin::{PinPurpose, seal_pin};
use paytap_store::Db;
use paytap_types::{Clock, Currency, ManualClock, Secret};
use paytap_upi::Vpa;
use paytap_upi::xml::{
    Account, AccountNumber, Amount, Head, Ifsc, Mcc, MsgId, OrgId, Party, PartyType, ReqPay,
    Timestamp, Txn, TxnId, TxnType,
};
use paytap_upid::{DirectoryEntry, IssuerBanks, UpiSwitch};
use paytap_upipsp::{
    InProcess, NewBinding, PayRequest, PinSetting, Psp, PspConfig, PspError, RISK_DECLINED, STEP_UP,
};
use std::sync::Arc;
use std::time::Duration;

const PIN: &str = "9753";
/// The biller's collection address (a bill) and a shop's (not a bill).
const BESCOM: &str = "bescom@payu";
const SHOP: &str = "teastall@payu";
/// The first-bill offer and its cashback.
const FIRST_BILL_OFFER: &str = "first-upi-bill-50-inr";
const FIRST_BILL_CASHBACK: u64 = 50_00;
/// The ledger account cashback is owed to account holders from.
const CASHBACK_ACCOUNT: &str = "offers:cashback:INR";
/// Payments of one UPI ID a minute before the burst rule (`upi-burst` in
/// the default rules) asks the payer to verify.
const BURST: u32 = 8;

struct World {
    db: Db,
    psp: Psp,
    switch: Arc<UpiSwitch<IssuerBanks>>,
    banks: Arc<UpiBanks>,
    ledger: Ledger,
    guard: Arc<Guard>,
    clock: ManualClock,
    asha: UpiAccount,
    ravi: UpiAccount,
    key: [u8; 32],
}

/// Banks, switch, the UPI app and the guard all on one database: the `in`
/// region's, with its INR ledger.
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
    let clock = ManualClock::starting_at(1_796_617_800_000);
    let switch = Arc::new(
        UpiSwitch::open(
            db.clone(),
            IssuerBanks::new(banks.clone()),
            Arc::new(clock.clone()),
            OrgId::new("NPCI").unwrap(),
        )
        .await
        .unwrap(),
    );
    for (vpa, mobile) in [(BESCOM, "9000000001"), (SHOP, "9000000002")] {
        let a = banks
            .open_account("63560001", vpa, mobile, 0)
            .await
            .unwrap();
        let entry = DirectoryEntry {
            vpa: Vpa::new(vpa).unwrap(),
            account: Account {
                ifsc: Ifsc::new(&a.ifsc).unwrap(),
                number: AccountNumber::new(&a.account_number).unwrap(),
                kind: Some("CURRENT".into()),
            },
            bound_at: None,
        };
        switch.register(&entry).await.unwrap();
    }
    let links = Arc::new(InProcess::new(banks.clone(), switch.clone()));
    let psp = Psp::open(
        db.clone(),
        links,
        Arc::new(clock.clone()),
        PspConfig::default(),
        &[6; 32],
    )
    .await
    .unwrap();
    db.migrate(paytap_guard::MIGRATIONS).await.unwrap();
    let risk = RiskService::open(db.clone(), RiskRules::default_rules(), clock.now_millis())
        .await
        .unwrap();
    let mut offers = OffersFile::default_offers();
    offers.offers.retain(|o| {
        o.eligibility.currency == Some(Currency::INR) && o.kind == BenefitKind::Cashback
    });
    let offers = OffersService::open(db.clone(), ledger.clone(), offers)
        .await
        .unwrap();
    let guard = Arc::new(Guard {
        risk: Some(risk),
        offers: Some(offers),
    });
    psp.attach_guard(guard.clone(), [BESCOM.to_owned()]);
    let key = psp
        .list_keys()
        .into_iter()
        .find(|k| k.bank == "ICIC")
        .unwrap()
        .public;
    let w = World {
        db,
        psp,
        switch,
        banks,
        ledger,
        guard,
        clock,
        asha,
        ravi,
        key,
    };
    w.ready().await;
    w
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

/// The UPI refusal's code, or a panic naming what came instead.
fn refusal(r: Result<paytap_upipsp::Payment, PspError>) -> &'static str {
    match r {
        Err(PspError::Refused { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
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

    fn block(&self, txn_id: &str) -> String {
        let pin = Secret::new(PIN.to_owned());
        b64(&seal_pin(&self.key, PinPurpose::Debit, txn_id, &pin).unwrap())
    }

    /// Asha pays Ravi `paise` under `txn_id`.
    fn request(&self, txn_id: &str, paise: u64) -> PayRequest {
        PayRequest {
            txn_id: txn_id.to_owned(),
            from: "asha@paytap".into(),
            to: Some("ravi@paytap".into()),
            mobile: None,
            link: None,
            amount_paise: Some(paise),
            note: None,
            pin_block: self.block(txn_id),
        }
    }

    /// `payee` (a merchant at PayU) asks Asha for `paise` under `txn_id`.
    async fn collect(&self, txn_id: &str, payee: &str, paise: u64) {
        let now = self.clock.now_millis();
        let mut party = Party::person(Vpa::new(payee).unwrap());
        party.kind = PartyType::Entity;
        party.code = Mcc::new("4900").unwrap();
        party.name = Some(payee.to_owned());
        party.amount = Some(Amount { paise });
        let mut payer = Party::person(Vpa::new("asha@paytap").unwrap());
        payer.amount = Some(Amount { paise });
        let req = ReqPay {
            head: Head {
                ver: "2.0".into(),
                ts: Timestamp::from_unix_millis(now),
                org_id: OrgId::new("PAYU").unwrap(),
                msg_id: MsgId::new(&format!("M{txn_id}")).unwrap(),
            },
            txn: Txn::new(
                TxnId::new(txn_id).unwrap(),
                Timestamp::from_unix_millis(now),
                TxnType::Collect,
            ),
            payer,
            payees: vec![party],
        };
        assert!(
            self.switch.pay(req).await.unwrap().is_none(),
            "a collect request waits for its payer"
        );
    }

    async fn approve(&self, txn_id: &str) -> Result<paytap_upipsp::Payment, PspError> {
        self.psp.approve("asha", txn_id, &self.block(txn_id)).await
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

    /// How many decisions the guard stored about `txn_id`, in this (the
    /// `in` region's) database, and the last one's verdict and outcome.
    async fn decisions(&self, txn_id: &str) -> (i64, Option<(String, Option<String>)>) {
        let id = format!("upi:{txn_id}");
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM risk_decisions WHERE payment_id = $1")
                .bind(&id)
                .fetch_one(self.db.pool())
                .await
                .unwrap();
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT verdict, outcome FROM risk_decisions WHERE payment_id = $1")
                .bind(&id)
                .fetch_optional(self.db.pool())
                .await
                .unwrap();
        (n, row)
    }

    /// What the cashback account holds for account holders (paise).
    async fn cashback_owed(&self) -> i64 {
        let b = self.ledger.balance(CASHBACK_ACCOUNT).await.unwrap();
        b.credits_posted - b.debits_posted
    }

    async fn balanced(&self) {
        let report = self.ledger.check_invariants().await.unwrap();
        let inr = report.totals[&Currency::INR];
        assert_eq!(inr.debits_posted, inr.credits_posted, "{report:?}");
    }
}

#[tokio::test]
async fn a_upi_payment_is_decided_and_recorded_in_the_in_database() {
    let w = world().await;
    let p = w.psp.pay("asha", &w.request("G1", 250_00)).await.unwrap();
    assert_eq!(p.status, "success", "{p:?}");
    assert_eq!(p.earned_paise, None, "a payment to a person earns nothing");
    assert_eq!(
        w.decisions("G1").await,
        (1, Some(("approve".into(), Some("approved".into()))))
    );
    let facts: (String,) =
        sqlx::query_as("SELECT facts FROM risk_decisions WHERE payment_id = 'upi:G1'")
            .fetch_one(w.db.pool())
            .await
            .unwrap();
    let facts: serde_json::Value = serde_json::from_str(&facts.0).unwrap();
    assert_eq!(facts["channel"], "upi");
    assert_eq!(facts["account_id"], "asha");
    assert_eq!(facts["region"], "in");
    assert_eq!(facts["upi"]["vpa"], "asha@paytap");
    assert!(facts["upi"]["bound_at_ms"].is_i64(), "{facts}");
    assert_eq!(facts["merchant"]["id"], "ravi@paytap");
    assert_eq!(facts["amount"]["minor"], 250_00);
    assert_eq!(facts["amount"]["currency"], "INR");
    assert_eq!(w.balances().await, (9_750_00, 250_00));
    w.balanced().await;
}

#[tokio::test]
async fn a_blocklisted_upi_id_is_declined_and_nothing_moves_at_the_banks() {
    let w = world().await;
    let rules = include_str!("../../risk/src/rules.toml")
        .replace("upi_ids = []", "upi_ids = [\"asha@paytap\"]");
    let risk = w.guard.risk.as_ref().unwrap();
    risk.replace_rules(&rules, w.clock.now_millis())
        .await
        .unwrap();
    let r = w.psp.pay("asha", &w.request("B1", 100_00)).await;
    assert_eq!(refusal(r), RISK_DECLINED);
    // Nothing was recorded or sent: the switch never heard of it.
    assert!(matches!(
        w.psp.payment("asha", "B1").await,
        Err(PspError::NotFound)
    ));
    assert!(w.switch.outcome(&TxnId::new("B1").unwrap()).await.is_none());
    assert_eq!(w.balances().await, (10_000_00, 0));
    let (n, d) = w.decisions("B1").await;
    assert_eq!((n, d.map(|d| d.0)), (1, Some("decline".into())));
    // A collect request is refused the same, and stays unanswered.
    w.collect("BC1", SHOP, 40_00).await;
    assert_eq!(refusal(w.approve("BC1").await), RISK_DECLINED);
    assert_eq!(w.psp.collects("asha").await.unwrap().len(), 1);
    assert_eq!(w.balances().await, (10_000_00, 0));
    w.balanced().await;
}

#[tokio::test]
async fn a_burst_on_one_upi_id_is_stepped_up_until_it_calms() {
    let w = world().await;
    for i in 0..BURST {
        let p = w
            .psp
            .pay("asha", &w.request(&format!("V{i}"), 10_00))
            .await
            .unwrap();
        assert_eq!(p.status, "success", "{p:?}");
        w.clock.advance(Duration::from_secs(1));
    }
    let r = w.psp.pay("asha", &w.request("VX", 10_00)).await;
    assert_eq!(refusal(r), STEP_UP);
    assert_eq!(w.decisions("VX").await.1.unwrap().0, "step_up");
    assert_eq!(w.balances().await, (9_920_00, 80_00));
    // A minute on, the burst is over: the payer pays again.
    w.clock.advance(Duration::from_secs(60));
    let p = w.psp.pay("asha", &w.request("VY", 10_00)).await.unwrap();
    assert_eq!(p.status, "success");
    assert_eq!(w.balances().await, (9_910_00, 90_00));
}

#[tokio::test]
async fn a_first_bill_paid_with_upi_earns_the_cashback_once() {
    let w = world().await;
    // A payment to a person and a shop's collect request are not bills.
    w.psp.pay("asha", &w.request("P1", 100_00)).await.unwrap();
    w.collect("S1", SHOP, 60_00).await;
    let shop = w.approve("S1").await.unwrap();
    assert_eq!((shop.status.as_str(), shop.earned_paise), ("success", None));
    w.collect("BP1", BESCOM, 1_200_00).await;
    let bill = w.approve("BP1").await.unwrap();
    assert_eq!(bill.status, "success", "{bill:?}");
    assert_eq!(bill.earned_paise, Some(FIRST_BILL_CASHBACK));
    assert_eq!(w.cashback_owed().await, 50_00);
    let offers = w.guard.offers.as_ref().unwrap();
    let r = offers.redemption("upi:BP1").await.unwrap().unwrap();
    assert_eq!(r.state, "captured");
    assert_eq!(r.offers[0].offer, FIRST_BILL_OFFER);
    assert_eq!(r.offers[0].funder_account, "offers:platform:paytap:INR");
    assert_eq!(
        offers.budget(FIRST_BILL_OFFER).await.unwrap().unwrap().2,
        50_00
    );
    // The history shows it; a second bill earns nothing.
    let listed = w.psp.payments("asha").await.unwrap();
    let shown = listed.iter().find(|p| p.txn_id == "BP1").unwrap();
    assert_eq!(shown.earned_paise, Some(FIRST_BILL_CASHBACK));
    w.clock.advance(Duration::from_secs(120));
    w.collect("BP2", BESCOM, 900_00).await;
    let second = w.approve("BP2").await.unwrap();
    assert_eq!(
        (second.status.as_str(), second.earned_paise),
        ("success", None)
    );
    assert_eq!(w.cashback_owed().await, 50_00);
    assert_eq!(
        w.balances().await.0,
        10_000_00 - 100_00 - 60_00 - 1_200_00 - 900_00
    );
    w.balanced().await;
}

#[tokio::test]
async fn a_declined_first_bill_keeps_the_cashback_for_the_next() {
    let w = world().await;
    // More than Asha has: her bank declines the debit.
    w.collect("BP1", BESCOM, 20_000_00).await;
    let r = w.approve("BP1").await;
    // Above the new binding's cooling-off amount: the payer confirms first.
    assert_eq!(refusal(r), STEP_UP);
    w.clock.advance(Duration::from_secs(25 * 3600));
    w.collect("BP2", BESCOM, 15_000_00).await;
    let failed = w.approve("BP2").await.unwrap();
    assert_eq!(
        (failed.status.as_str(), failed.earned_paise),
        ("failed", None)
    );
    assert_eq!(w.cashback_owed().await, 0);
    w.collect("BP3", BESCOM, 700_00).await;
    let paid = w.approve("BP3").await.unwrap();
    assert_eq!(
        (paid.status.as_str(), paid.earned_paise),
        ("success", Some(FIRST_BILL_CASHBACK))
    );
    assert_eq!(w.cashback_owed().await, 50_00);
    w.balanced().await;
}

#[tokio::test]
async fn a_repeated_request_is_not_decided_or_counted_twice() {
    let w = world().await;
    let first = w.psp.pay("asha", &w.request("R0", 10_00)).await.unwrap();
    for _ in 0..BURST {
        let again = w.psp.pay("asha", &w.request("R0", 10_00)).await.unwrap();
        assert_eq!(again, first);
    }
    assert_eq!(w.decisions("R0").await.0, 1);
    // The repeats counted nothing: the burst's other payments go, and
    // only the one after them is stepped up.
    for i in 1..BURST {
        let p = w
            .psp
            .pay("asha", &w.request(&format!("R{i}"), 10_00))
            .await
            .unwrap();
        assert_eq!(p.status, "success");
    }
    assert_eq!(
        refusal(w.psp.pay("asha", &w.request("RX", 10_00)).await),
        STEP_UP
    );
    // A refused request asked again gets the stored answer, not a second
    // decision.
    assert_eq!(
        refusal(w.psp.pay("asha", &w.request("RX", 10_00)).await),
        STEP_UP
    );
    assert_eq!(w.decisions("RX").await.0, 1);
    assert_eq!(w.balances().await, (9_920_00, 80_00));
    // A bill approved twice is charged and rewarded once.
    w.clock.advance(Duration::from_secs(120));
    w.collect("BP1", BESCOM, 500_00).await;
    let bill = w.approve("BP1").await.unwrap();
    assert_eq!(bill.earned_paise, Some(FIRST_BILL_CASHBACK));
    assert_eq!(refusal(w.approve("BP1").await), "ZA");
    assert_eq!(w.decisions("BP1").await.0, 1);
    assert_eq!(w.cashback_owed().await, 50_00);
    assert_eq!(w.balances().await.0, 9_420_00);
    w.balanced().await;
}

#[tokio::test]
async fn an_end_the_guard_missed_in_a_crash_is_told_after_the_restart() {
    let w = world().await;
    let p = w.psp.pay("asha", &w.request("C1", 100_00)).await.unwrap();
    assert_eq!(p.status, "success");
    assert_eq!(w.psp.tell_guard_ended().await.unwrap(), 0, "told already");
    // A crash between the switch's answer being stored and the guard
    // hearing it: the payment ended, the guard's decision has no outcome.
    sqlx::query("UPDATE upipsp_payments SET guard_state = 'open' WHERE txn_id = 'C1'")
        .execute(w.db.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE risk_decisions SET outcome = NULL WHERE payment_id = 'upi:C1'")
        .execute(w.db.pool())
        .await
        .unwrap();
    // The restart: the guard rebuilt from the database, the app over it.
    let risk = RiskService::open(
        w.db.clone(),
        RiskRules::default_rules(),
        w.clock.now_millis(),
    )
    .await
    .unwrap();
    let guard = Arc::new(Guard {
        risk: Some(risk),
        offers: None,
    });
    let psp = Psp::open(
        w.db.clone(),
        Arc::new(InProcess::new(w.banks.clone(), w.switch.clone())),
        Arc::new(w.clock.clone()),
        PspConfig::default(),
        &[6; 32],
    )
    .await
    .unwrap();
    psp.attach_guard(guard, [BESCOM.to_owned()]);
    assert_eq!(psp.tell_guard_ended().await.unwrap(), 1);
    assert_eq!(
        w.decisions("C1").await,
        (1, Some(("approve".into(), Some("approved".into()))))
    );
    assert_eq!(psp.tell_guard_ended().await.unwrap(), 0, "told once");
}
