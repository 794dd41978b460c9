//! Bills and recharges against the UPI switch over real HTTP (the `upid`
//! endpoints on a loopback port, the emulated banks behind them): a bill
//! fetched and paid once, a biller that is down or refuses and the refund,
//! recharges, reminders, bad input, and nothing in clear at rest. Every
//! UPI charge is a collect request that Asha approves with her UPI PIN, as
//! her UPI app would; a wrong PIN or a declined request moves nothing.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

use paytap_bbps::{BbpsError, Catalogue, PayState, Recharges, Reminder};
use paytap_bills::*;
use paytap_issuer::{IssuerConfig, UpiAccount, UpiBanks};
use paytap_ledger::Ledger;
use paytap_store::Db;
use paytap_types::{
    Currency, GuardAnswer, GuardFuture, GuardOutcome, ManualClock, PaymentFacts, PaymentGuard,
    SystemClock,
};
use paytap_upi::Vpa;
use paytap_upi::xml::{
    Account, AccountNumber, Ifsc, OrgId, Party, ReqPay, RespPay, ResultCode, TxnId, TxnType,
};
use paytap_upid::{DirectoryEntry, IssuerBanks, UpiSwitch, http};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// A guard that lets every payment go and keeps what it was told of how
/// each ended: the payer's UPI app asks it, the bill service tells it of
/// a refund.
#[derive(Default)]
struct Told(Mutex<Vec<(String, GuardOutcome)>>);

impl PaymentGuard for Told {
    fn check<'a>(&'a self, facts: &'a PaymentFacts) -> GuardFuture<'a, GuardAnswer> {
        let zero = paytap_types::Money::new(0, facts.amount.currency);
        Box::pin(async move {
            GuardAnswer::Go {
                charge: facts.amount,
                discount: zero,
                cashback: zero,
            }
        })
    }

    fn finish<'a>(&'a self, facts: &'a PaymentFacts, outcome: GuardOutcome) -> GuardFuture<'a, ()> {
        self.0
            .lock()
            .unwrap()
            .push((facts.payment_id.clone(), outcome));
        Box::pin(async {})
    }
}

/// Setting a holder's UPI PIN at the bank as a phone does, and the PIN
/// block of a debit: the switch's own test helpers.
#[path = "../../upid/tests/common/mod.rs"]
mod pin;

const ICICI: &str = "63560001";
const ASHA: &str = "asha@paytap";
/// 2026-12-14 10:00 IST: two days before BESCOM's bills of the month fall due.
const NOW: i64 = 1_797_222_600_000;
/// Asha's wallet account, an India account.
const ASHA_IN: Payer = Payer {
    account_id: "acct-asha",
    region: "in",
};
/// Ravi's wallet account, also in India.
const RAVI_IN: Payer = Payer {
    account_id: "acct-ravi",
    region: "in",
};
/// A Jio number of the Karnataka circle, by its series.
const JIO_KA: &str = "7019123456";
/// The aggregator's org id and the key the switch knows it by.
const AGGREGATOR: &str = "PAYU";
const AGGREGATOR_KEY: [u8; 32] = [5; 32];

/// The PSP's UPI ids: Asha's.
struct Payers(Account);

impl PayerAccounts for Payers {
    fn account_of<'a>(&'a self, vpa: &'a Vpa) -> BoxFut<'a, Result<Option<Account>, String>> {
        let found = (vpa.as_str() == ASHA).then(|| self.0.clone());
        Box::pin(std::future::ready(Ok(found)))
    }
}

/// The switch over HTTP, with the answers to some requests lost after the
/// switch acted on them (a timeout on the way back).
struct Lossy {
    inner: HttpSwitch,
    /// The kinds of request whose next answer is lost.
    lose: std::sync::Mutex<Vec<TxnType>>,
}

impl UpiSwitchPort for Lossy {
    fn pay(&self, req: ReqPay) -> BoxFut<'_, Result<Option<RespPay>, String>> {
        Box::pin(async move {
            let kind = req.txn.kind;
            let answer = self.inner.pay(req).await;
            let mut lose = self.lose.lock().unwrap();
            match lose.iter().position(|k| *k == kind) {
                Some(i) => {
                    lose.remove(i);
                    Err("answer lost".to_owned())
                }
                None => answer,
            }
        })
    }
}

/// Jio's ₹299 plan for the Karnataka number, operator and circle by its
/// series.
fn jio299() -> RechargeRequest {
    RechargeRequest {
        mobile: JIO_KA.into(),
        operator: None,
        circle: None,
        plan_id: "JIO299".into(),
    }
}

struct Env {
    db: Db,
    ledger: Ledger,
    banks: Arc<UpiBanks>,
    switch: Arc<UpiSwitch<IssuerBanks>>,
    asha: UpiAccount,
    collections: BTreeMap<String, UpiAccount>,
    billers: Arc<EmulatedBillers>,
    bills: BillService,
}

fn account(a: &UpiAccount) -> Account {
    Account {
        ifsc: Ifsc::new(&a.ifsc).unwrap(),
        number: AccountNumber::new(&a.account_number).unwrap(),
        kind: Some("SAVINGS".into()),
    }
}

impl Env {
    fn asha_pays(&self) -> PayMethod {
        PayMethod::Upi {
            payer: Vpa::new(ASHA).unwrap(),
            account: account(&self.asha),
        }
    }

    /// Asha's UPI app approves the collect request of payment `id` with
    /// `pin`: the switch's outcome.
    async fn approve_as_asha(&self, id: &str, pin: &str) -> ResultCode {
        let mut payer = Party::person(Vpa::new(ASHA).unwrap());
        payer.account = Some(account(&self.asha));
        payer.creds = vec![pin::pin_cred(&self.banks, &self.asha.ifsc, id, pin)];
        let txn = TxnId::new(id).unwrap();
        let outcome = self.switch.approve_collect(&txn, payer).await.unwrap();
        outcome.expect("the switch's outcome").0
    }

    /// [`Env::approve_as_asha`] for payment `r` (still being charged): the
    /// switch's outcome, then the receipt as read after it.
    async fn answer_collect(&self, r: Receipt, pin: &str) -> (ResultCode, Receipt) {
        assert_eq!(r.state, PayState::Charging, "{r:?}");
        let code = self.approve_as_asha(&r.payment_id, pin).await;
        (code, self.receipt(&r.payment_id).await)
    }

    /// Asha's receipt of payment `id`, as read now.
    async fn receipt(&self, id: &str) -> Receipt {
        let r = self.bills.receipt(ASHA_IN.account_id, id).await.unwrap();
        r.expect("Asha's payment")
    }

    /// [`Env::answer_collect`] with Asha's PIN: the receipt after it.
    async fn approved(&self, r: Receipt) -> Receipt {
        self.answer_collect(r, pin::PIN).await.1
    }

    async fn balance(&self, a: &UpiAccount) -> i64 {
        self.banks
            .balance(&a.ifsc, &a.account_number)
            .await
            .unwrap()
    }

    async fn collected(&self, vpa: &str) -> i64 {
        self.balance(&self.collections[vpa]).await
    }

    /// Money is never lost or created.
    async fn balanced(&self) {
        let report = self.ledger.check_invariants().await.unwrap();
        let inr = report.totals[&Currency::INR];
        assert_eq!(inr.debits_posted, inr.credits_posted, "{report:?}");
        assert_eq!(inr.debits_pending, inr.credits_pending, "{report:?}");
    }

    async fn fetch_bescom(&self, id: &str) -> FetchedBill {
        let params = BTreeMap::from([("account_id".to_owned(), id.to_owned())]);
        self.bills.fetch(ASHA_IN, "BESCOM", &params).await.unwrap()
    }
}

/// The banks, the switch on a loopback port with Asha (₹10,000 at ICICI)
/// and every biller's and operator's collection account at the aggregator's
/// bank in its directory, and the bill service talking to it over HTTP.
async fn env() -> Env {
    env_losing(Vec::new()).await
}

/// [`env`], with the switch's answers to the first requests of `lose`'s
/// kinds lost.
async fn env_losing(lose: Vec<TxnType>) -> Env {
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
    let banks = Arc::new(banks);
    let asha = banks
        .open_account(ICICI, "Asha", "9876543210", 10_000_00)
        .await
        .unwrap();
    pin::set_pin(&banks, &asha, pin::PIN).await;
    let sw = UpiSwitch::open(
        db.clone(),
        IssuerBanks::new(banks.clone()),
        Arc::new(SystemClock),
        OrgId::new("NPCI").unwrap(),
    )
    .await
    .unwrap();
    let entry = |vpa: &str, a: &UpiAccount, bound_at| DirectoryEntry {
        vpa: Vpa::new(vpa).unwrap(),
        account: account(a),
        bound_at,
    };
    sw.register(&entry(ASHA, &asha, Some(0))).await.unwrap();
    let catalogue = Catalogue::default_billers();
    let recharges = Recharges::default_operators();
    let payees = paytap_bbps::collection_addresses(&catalogue, &recharges);
    let mut collections = Collections::new();
    let mut accounts = BTreeMap::new();
    for (vpa, name) in payees {
        let a = banks
            .open_account(ICICI, &name, "9000000001", 0)
            .await
            .unwrap();
        sw.register(&entry(&vpa, &a, None)).await.unwrap();
        collections.insert(&vpa, account(&a));
        accounts.insert(vpa, a);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let sw = Arc::new(sw);
    let keys = http::PspKeys::new([(AGGREGATOR.to_owned(), AGGREGATOR_KEY)]);
    let app = http::router(sw.clone(), keys);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let billers = Arc::new(EmulatedBillers::new());
    let bills = BillService::open(BillServiceParts {
        db: db.clone(),
        catalogue,
        recharges,
        data_key: Zeroizing::new([7u8; 32]),
        collections,
        upi: Arc::new(Lossy {
            inner: HttpSwitch::new(&base, AGGREGATOR, AGGREGATOR_KEY).unwrap(),
            lose: std::sync::Mutex::new(lose),
        }),
        payers: Arc::new(Payers(account(&asha))),
        cards: None,
        billers: billers.clone(),
        clock: Arc::new(ManualClock::starting_at(NOW)),
    })
    .await
    .unwrap();
    Env {
        db,
        ledger,
        banks,
        switch: sw,
        asha,
        collections: accounts,
        billers,
        bills,
    }
}

#[tokio::test]
async fn an_electricity_bill_is_paid_once_and_confirmed() {
    let e = env().await;
    let bill = e.fetch_bescom("1234567890").await;
    assert_eq!(bill.biller_name, "Bangalore Electricity Supply Company");
    assert_eq!(bill.due_date, "2026-12-16");
    assert!(!bill.paid);
    assert_eq!(bill.amount.currency, Currency::INR);
    // Fetching again finds the same bill.
    assert_eq!(e.fetch_bescom("1234567890").await, bill);

    let r = e
        .bills
        .pay_bill(ASHA_IN, "key-1", &bill.fetch_id, e.asha_pays())
        .await
        .unwrap();
    // PayU's collect request waits for Asha's approval: nothing taken yet.
    assert_eq!(r.state, PayState::Charging, "{r:?}");
    assert_eq!(e.balance(&e.asha).await, 10_000_00);
    let r = e.approved(r).await;
    assert_eq!(r.state, PayState::Confirmed, "{r:?}");
    assert!(r.biller_ref.as_deref().unwrap().starts_with("BBPS"));
    assert!(r.rail_ref.is_some());
    assert_eq!(r.bill_number.as_deref(), Some(bill.bill_number.as_str()));
    assert_eq!(r.amount, bill.amount);
    assert_eq!(e.balance(&e.asha).await, 10_000_00 - bill.amount.minor);
    assert_eq!(e.collected("bescom@payu").await, bill.amount.minor);

    // The same request again: the same payment, nothing charged twice.
    let again = e
        .bills
        .pay_bill(ASHA_IN, "key-1", &bill.fetch_id, e.asha_pays())
        .await
        .unwrap();
    assert_eq!(again, r);
    // Another key for the same bill: already paid.
    let twice = e
        .bills
        .pay_bill(ASHA_IN, "key-2", &bill.fetch_id, e.asha_pays())
        .await;
    assert!(matches!(twice, Err(BillsError::AlreadyPaid)), "{twice:?}");
    // The first key for another bill: refused.
    let other = e.fetch_bescom("1234567899").await;
    let reused = e
        .bills
        .pay_bill(ASHA_IN, "key-1", &other.fetch_id, e.asha_pays())
        .await;
    assert!(matches!(reused, Err(BillsError::KeyReused)), "{reused:?}");
    assert_eq!(e.balance(&e.asha).await, 10_000_00 - bill.amount.minor);
    assert_eq!(
        e.bills.receipts("acct-asha").await.unwrap(),
        vec![r.clone()]
    );
    assert_eq!(
        e.bills.receipt("acct-other", &r.payment_id).await.unwrap(),
        None
    );
    assert!(e.fetch_bescom("1234567890").await.paid);
    e.balanced().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_moves_nothing() {
    let e = env().await;
    let params = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), v.to_owned())]);
    let unknown = e
        .bills
        .fetch(ASHA_IN, "NOPE", &params("account_id", "1234567890"))
        .await;
    assert!(matches!(
        unknown,
        Err(BillsError::Invalid(BbpsError::UnknownBiller))
    ));
    let wrong = e
        .bills
        .fetch(ASHA_IN, "BESCOM", &params("account_id", "12AB"))
        .await;
    assert!(
        matches!(&wrong, Err(BillsError::Invalid(BbpsError::InvalidParam { name, .. })) if name == "account_id"),
        "{wrong:?}"
    );
    assert_eq!(
        wrong.unwrap_err().to_string(),
        "customer parameter \"account_id\" must be 10 digits"
    );
    let missing = e.bills.fetch(ASHA_IN, "BESCOM", &BTreeMap::new()).await;
    assert!(matches!(
        missing,
        Err(BillsError::Invalid(BbpsError::MissingParam(_)))
    ));
    let nobill = e
        .bills
        .pay_bill(ASHA_IN, "k", "BFnope", e.asha_pays())
        .await;
    assert!(matches!(nobill, Err(BillsError::UnknownBill)));
    // Someone else's bill is not found either.
    let bill = e.fetch_bescom("1234567890").await;
    let theirs = e
        .bills
        .pay_bill(RAVI_IN, "k", &bill.fetch_id, e.asha_pays())
        .await;
    assert!(matches!(theirs, Err(BillsError::UnknownBill)));
    let badkey = e
        .bills
        .pay_bill(ASHA_IN, "", &bill.fetch_id, e.asha_pays())
        .await;
    assert!(matches!(badkey, Err(BillsError::BadKey)));
    // An account of the China region pays nothing in INR, and keeps no
    // bill here.
    let li_lei = Payer {
        account_id: "acct-li",
        region: "cn",
    };
    let cn = e
        .bills
        .fetch(li_lei, "BESCOM", &params("account_id", "1234567890"))
        .await;
    assert!(
        matches!(&cn, Err(BillsError::NotInIndia(r)) if r == "cn"),
        "{cn:?}"
    );
    let cn = e
        .bills
        .pay_bill(li_lei, "k", &bill.fetch_id, e.asha_pays())
        .await;
    assert!(matches!(cn, Err(BillsError::NotInIndia(_))));
    let cn = e
        .bills
        .recharge(li_lei, "k", &jio299(), e.asha_pays())
        .await;
    assert!(matches!(cn, Err(BillsError::NotInIndia(_))));
    let card = PayMethod::Card {
        card_id: "c1".into(),
    };
    let nocards = e.bills.pay_bill(ASHA_IN, "k", &bill.fetch_id, card).await;
    assert!(matches!(nocards, Err(BillsError::CardsUnavailable)));
    assert_eq!(e.balance(&e.asha).await, 10_000_00);
    assert!(e.bills.receipts("acct-asha").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_biller_down_or_refusing_gets_the_money_back() {
    let e = env().await;
    let told = Arc::new(Told::default());
    e.bills.attach_guard(told.clone());
    e.billers.set_down("BESCOM", true);
    let params = BTreeMap::from([("account_id".to_owned(), "1234567890".to_owned())]);
    let down = e.bills.fetch(ASHA_IN, "BESCOM", &params).await;
    assert!(matches!(down, Err(BillsError::BillerDown)), "{down:?}");
    e.billers.set_down("BESCOM", false);

    let bill = e.fetch_bescom("1234567890").await;
    e.billers.set_refusing("BESCOM", true);
    let r = e
        .bills
        .pay_bill(ASHA_IN, "key-1", &bill.fetch_id, e.asha_pays())
        .await
        .unwrap();
    let r = e.approved(r).await;
    assert_eq!(r.state, PayState::Refunded, "{r:?}");
    assert!(r.refund_reason.as_deref().unwrap().contains("refused"));
    assert_eq!(r.biller_ref, None);
    assert_eq!(e.balance(&e.asha).await, 10_000_00);
    assert_eq!(e.collected("bescom@payu").await, 0);
    e.balanced().await;
    // The guard hears of the refund, once: a cashback the payment earned
    // is clawed back.
    let refunded = vec![(format!("upi:{}", r.payment_id), GuardOutcome::Refunded)];
    assert_eq!(*told.0.lock().unwrap(), refunded);

    // The bill is unpaid again: reminded of, and payable once the biller is.
    let due = e.bills.reminders("acct-asha").await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].reminder, Reminder::DueIn(2));
    e.billers.set_refusing("BESCOM", false);
    let paid = e
        .bills
        .pay_bill(ASHA_IN, "key-2", &bill.fetch_id, e.asha_pays())
        .await
        .unwrap();
    let paid = e.approved(paid).await;
    assert_eq!(paid.state, PayState::Confirmed);
    assert!(e.bills.reminders("acct-asha").await.unwrap().is_empty());
    e.balanced().await;
    // A confirmed payment is the payer's app's to tell (it saw it end).
    assert_eq!(*told.0.lock().unwrap(), refunded);
}

#[tokio::test]
async fn a_collect_refused_by_pin_or_by_the_payer_is_declined_and_frees_the_bill() {
    let e = env().await;
    let bill = e.fetch_bescom("1234567890").await;
    // A wrong PIN: the bank refuses the debit, the payment is declined.
    let r = e
        .bills
        .pay_bill(ASHA_IN, "k1", &bill.fetch_id, e.asha_pays())
        .await
        .unwrap();
    let (code, r) = e.answer_collect(r, "1357").await;
    assert_eq!(code, ResultCode::Failure);
    assert_eq!(r.state, PayState::Declined, "{r:?}");
    assert!(r.decline_code.is_some());
    assert!(!e.fetch_bescom("1234567890").await.paid);
    assert_eq!(e.balance(&e.asha).await, 10_000_00);
    // Asha declines the next request in her app: declined as well.
    let r = e
        .bills
        .pay_bill(ASHA_IN, "k2", &bill.fetch_id, e.asha_pays())
        .await
        .unwrap();
    let txn = TxnId::new(&r.payment_id).unwrap();
    e.switch.decline_collect(&txn).await.unwrap();
    let r = e.receipt(&r.payment_id).await;
    assert_eq!(r.state, PayState::Declined, "{r:?}");
    assert!(!e.fetch_bescom("1234567890").await.paid);
    // Approved with her PIN: paid.
    let ok = e
        .bills
        .pay_bill(ASHA_IN, "k3", &bill.fetch_id, e.asha_pays())
        .await
        .unwrap();
    assert_eq!(e.approved(ok).await.state, PayState::Confirmed);
    assert_eq!(e.balance(&e.asha).await, 10_000_00 - bill.amount.minor);
    e.balanced().await;
}

#[tokio::test]
async fn a_jio_recharge_is_confirmed_or_refunded() {
    let e = env().await;
    let found = e
        .bills
        .payer_account(&Vpa::new(ASHA).unwrap())
        .await
        .unwrap();
    assert_eq!(found, Some(account(&e.asha)));
    let detected = e.bills.recharges().detect(JIO_KA).unwrap().unwrap();
    assert_eq!(
        (detected.operator.as_str(), detected.circle.as_str()),
        ("JIO", "KA")
    );
    let req = jio299();
    let r = e
        .bills
        .recharge(ASHA_IN, "r1", &req, e.asha_pays())
        .await
        .unwrap();
    let r = e.approved(r).await;
    assert_eq!(r.state, PayState::Confirmed, "{r:?}");
    assert_eq!((r.payee_id.as_str(), r.amount.minor), ("JIO", 299_00));
    assert_eq!(r.mobile.as_deref(), Some("******3456"));
    assert!(r.biller_ref.is_some());
    assert_eq!(e.collected("jioprepaid@payu").await, 299_00);
    assert_eq!(
        e.bills
            .recharge(ASHA_IN, "r1", &req, e.asha_pays())
            .await
            .unwrap(),
        r
    );

    e.billers.set_down("JIO", true);
    let failed = e
        .bills
        .recharge(ASHA_IN, "r2", &req, e.asha_pays())
        .await
        .unwrap();
    let failed = e.approved(failed).await;
    assert_eq!(failed.state, PayState::Refunded, "{failed:?}");
    assert_eq!(
        failed.refund_reason.as_deref(),
        Some("the biller is not answering")
    );
    assert_eq!(e.balance(&e.asha).await, 10_000_00 - 299_00);
    assert_eq!(e.collected("jioprepaid@payu").await, 299_00);

    let bad = |mobile: &str, op: Option<&str>, plan: &str| RechargeRequest {
        mobile: mobile.into(),
        operator: op.map(Into::into),
        circle: None,
        plan_id: plan.into(),
    };
    for (req, want) in [
        (bad("12345", None, "JIO299"), BbpsError::InvalidMobile),
        (
            bad("7777123456", None, "JIO299"),
            BbpsError::OperatorNotDetected,
        ),
        (bad(JIO_KA, None, "AIR349"), BbpsError::UnknownPlan),
        (
            bad(JIO_KA, Some("AIRCEL"), "JIO299"),
            BbpsError::UnknownOperator,
        ),
    ] {
        let got = e.bills.recharge(ASHA_IN, "r3", &req, e.asha_pays()).await;
        assert!(
            matches!(&got, Err(BillsError::Invalid(w)) if *w == want),
            "{got:?}"
        );
    }
    assert_eq!(e.balance(&e.asha).await, 10_000_00 - 299_00);
    e.balanced().await;
}

#[tokio::test]
async fn numbers_and_addresses_are_sealed_at_rest() {
    let e = env().await;
    let bill = e.fetch_bescom("1234567890").await;
    e.bills
        .pay_bill(ASHA_IN, "k", &bill.fetch_id, e.asha_pays())
        .await
        .unwrap();
    let req = jio299();
    e.bills
        .recharge(ASHA_IN, "r", &req, e.asha_pays())
        .await
        .unwrap();
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT fetch_id || bill_number || sealed FROM bills_fetched \
         UNION ALL SELECT payment_id || payee_id || sealed || COALESCE(rail_ref, '') \
         || COALESCE(biller_ref, '') FROM bills_payments",
    )
    .fetch_all(e.db.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), 3);
    for (row,) in rows {
        for secret in [
            JIO_KA,
            "1234567890",
            ASHA,
            e.asha.account_number.as_str(),
            "Rao",
        ] {
            assert!(!row.contains(secret), "{secret} in clear: {row}");
        }
    }
}

#[tokio::test]
async fn a_lost_answer_is_resumed_and_charges_once() {
    // The collect request's answer is lost twice: once sent, and once asked
    // again at once; the refund's once.
    let e = env_losing(vec![TxnType::Collect, TxnType::Collect, TxnType::Refund]).await;
    let bill = e.fetch_bescom("1234567890").await;
    let r = e
        .bills
        .pay_bill(ASHA_IN, "k1", &bill.fetch_id, e.asha_pays())
        .await
        .unwrap();
    assert_eq!(r.state, PayState::Charging, "{r:?}");
    let code = e.approve_as_asha(&r.payment_id, pin::PIN).await;
    assert_eq!(code, ResultCode::Success);
    assert_eq!(e.balance(&e.asha).await, 10_000_00 - bill.amount.minor);
    // Resumed (as `paytap up` does every 30 s): the switch answers the
    // same transaction, the biller confirms, nothing is charged twice.
    assert_eq!(e.bills.resume().await.unwrap(), 1);
    let r = e.receipt(&r.payment_id).await;
    assert_eq!(r.state, PayState::Confirmed);
    assert_eq!(e.balance(&e.asha).await, 10_000_00 - bill.amount.minor);

    // A refund whose answer is lost stays owed until resumed.
    e.billers.set_down("JIO", true);
    let req = jio299();
    let r = e
        .bills
        .recharge(ASHA_IN, "r1", &req, e.asha_pays())
        .await
        .unwrap();
    let r = e.approved(r).await;
    assert_eq!(r.state, PayState::Refunding, "{r:?}");
    assert_eq!(e.bills.resume().await.unwrap(), 1);
    let r = e.receipt(&r.payment_id).await;
    assert_eq!(r.state, PayState::Refunded);
    assert_eq!(e.balance(&e.asha).await, 10_000_00 - bill.amount.minor);
    assert_eq!(e.bills.resume().await.unwrap(), 0, "nothing left open");
    e.balanced().await;
}
