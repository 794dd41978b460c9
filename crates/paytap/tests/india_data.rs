//! India's data in India: a running platform pays an electricity bill and a
//! Jio recharge over UPI, then every database file but the `in` region's is
//! read byte by byte and none of it is there: not the mobile number, the
//! UPI id, the account number, the payment ids, nor a UPI, bill or INR
//! ledger table. In the `in` region's file itself the mobile numbers and the
//! bills' customer parameters are sealed, never in clear. Each UPI charge
//! is a collect request Asha approves with her UPI PIN, as her UPI app
//! would.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

#[path = "../src/platform.rs"]
#[allow(dead_code)]
mod platform;

/// Setting a holder's UPI PIN at the bank as a phone does, and the PIN
/// block of a debit: the UPI switch's own test helpers.
#[path = "../../upid/tests/common/mod.rs"]
mod pin;

/// The wallet API's calls as an account holder.
mod india;

use india::{ICICI, get, post, sign_up};
use paytap_bbps::PayState;
use paytap_bills::{PayMethod, Payer, RechargeRequest};
use paytap_upi::Vpa;
use paytap_upi::xml::{Account, AccountNumber, Ifsc, Party, ResultCode, TxnId};
use paytap_upid::DirectoryEntry;
use platform::{Platform, PlatformOptions};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

const MOBILE: &str = "9876543210";
const VPA: &str = "asha.rao@paytap";
const BESCOM_ACCOUNT: &str = "4417730921";
const JIO_NUMBER: &str = "7019555123";
const ASHA: Payer = Payer {
    account_id: "acct-asha-in",
    region: "in",
};

/// Every file of `dir` whose name does not start with `except`, with its
/// bytes.
fn files_but(dir: &Path, except: &str) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .filter(|(name, _)| !name.starts_with(except))
        .map(|(name, p)| (name, std::fs::read(p).unwrap()))
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Asha's savings account at ICICI (₹10,000) and her UPI id in the
/// switch's directory, as her bank and PSP would have them.
async fn asha_at_icici(p: &Platform) -> (paytap_issuer::UpiAccount, Account) {
    let asha = p
        .india
        .banks
        .open_account(ICICI, "Asha Rao", MOBILE, 10_000_00)
        .await
        .unwrap();
    let account = Account {
        ifsc: Ifsc::new(&asha.ifsc).unwrap(),
        number: AccountNumber::new(&asha.account_number).unwrap(),
        kind: Some("SAVINGS".into()),
    };
    let entry = DirectoryEntry {
        vpa: Vpa::new(VPA).unwrap(),
        account: account.clone(),
        bound_at: Some(0),
    };
    p.india.upi.register(&entry).await.unwrap();
    pin::set_pin(&p.india.banks, &asha, pin::PIN).await;
    (asha, account)
}

/// Asha's UPI app approves the collect request of bill payment
/// `payment_id` with her PIN.
async fn approve(
    p: &Platform,
    asha: &paytap_issuer::UpiAccount,
    account: &Account,
    payment_id: &str,
) {
    let mut payer = Party::person(Vpa::new(VPA).unwrap());
    payer.account = Some(account.clone());
    payer.creds = vec![pin::pin_cred(
        &p.india.banks,
        &asha.ifsc,
        payment_id,
        pin::PIN,
    )];
    let txn = TxnId::new(payment_id).unwrap();
    let outcome = p.india.upi.approve_collect(&txn, payer).await.unwrap();
    assert_eq!(outcome.map(|o| o.0), Some(ResultCode::Success));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bills_and_recharges_over_the_wallet_api() {
    let dir = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformOptions::loopback(dir.path().to_owned()))
        .await
        .unwrap();
    let (asha, account) = asha_at_icici(&p).await;
    let base = p.wallet_url.clone();
    let http = reqwest::Client::new();
    let token = sign_up(&http, &base, "asha@example.in", "in").await;
    let url = |path: &str| format!("{base}api/v1/{path}");

    let (status, billers) = get(&http, url("billers"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(billers["categories"].as_array().unwrap().len(), 6);

    let fetch =
        |account: &str| json!({ "biller_id": "BESCOM", "params": { "account_id": account } });
    let (status, bad) = post(&http, url("bills/fetch"), &token, None, fetch("12")).await;
    assert_eq!(status, 422, "{bad}");
    assert_eq!(
        bad["error"]["message"],
        "customer parameter \"account_id\" must be 10 digits"
    );
    let unknown = json!({ "biller_id": "NOPE", "params": {} });
    let (status, bad) = post(&http, url("bills/fetch"), &token, None, unknown).await;
    assert_eq!(
        (status, bad["error"]["message"].as_str()),
        (422, Some("unknown biller"))
    );
    let (status, bill) = post(
        &http,
        url("bills/fetch"),
        &token,
        None,
        fetch(BESCOM_ACCOUNT),
    )
    .await;
    assert_eq!(status, 200, "{bill}");
    assert_eq!(bill["amount"]["currency"], "INR");

    let pay = json!({ "fetch_id": bill["fetch_id"], "vpa": VPA });
    let (status, _) = post(&http, url("bills/payments"), &token, None, pay.clone()).await;
    assert_eq!(status, 400, "a payment needs an Idempotency-Key");
    let (status, paid) = post(
        &http,
        url("bills/payments"),
        &token,
        Some("b1"),
        pay.clone(),
    )
    .await;
    assert_eq!(status, 201, "{paid}");
    // PayU's collect request waits for Asha's approval in her UPI app.
    assert_eq!(paid["state"], "charging");
    let one = format!("bills/receipts/{}", paid["payment_id"].as_str().unwrap());
    approve(&p, &asha, &account, paid["payment_id"].as_str().unwrap()).await;
    let (status, paid) = get(&http, url(&one), &token).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["state"], "confirmed");
    assert!(paid["biller_ref"].as_str().unwrap().starts_with("BBPS"));
    let (status, again) = post(
        &http,
        url("bills/payments"),
        &token,
        Some("b1"),
        pay.clone(),
    )
    .await;
    assert_eq!((status, &again), (201, &paid));
    let (status, twice) = post(&http, url("bills/payments"), &token, Some("b2"), pay).await;
    assert_eq!(
        (status, twice["error"]["code"].as_str()),
        (409, Some("already_paid"))
    );

    let (status, plans) = get(&http, url("recharge/plans?mobile=7019555123"), &token).await;
    assert_eq!(status, 200, "{plans}");
    assert_eq!(
        (plans["operator"].as_str(), plans["circle"].as_str()),
        (Some("JIO"), Some("KA"))
    );
    let (status, _) = get(&http, url("recharge/plans?mobile=12"), &token).await;
    assert_eq!(status, 422);
    p.india.billers.set_down("JIO", true);
    let recharge = json!({ "mobile": JIO_NUMBER, "plan_id": "JIO299", "vpa": VPA });
    let (status, refunded) = post(
        &http,
        url("recharge/payments"),
        &token,
        Some("r1"),
        recharge.clone(),
    )
    .await;
    assert_eq!(status, 201, "{refunded}");
    let id = refunded["payment_id"].as_str().unwrap().to_owned();
    approve(&p, &asha, &account, &id).await;
    let (_, refunded) = get(&http, url(&format!("bills/receipts/{id}")), &token).await;
    assert_eq!(refunded["state"], "refunded");
    assert_eq!(refunded["mobile"], "******5123");
    p.india.billers.set_down("JIO", false);
    let (status, topped) = post(
        &http,
        url("recharge/payments"),
        &token,
        Some("r2"),
        recharge,
    )
    .await;
    assert_eq!((status, topped["state"].as_str()), (201, Some("charging")));
    let id = topped["payment_id"].as_str().unwrap().to_owned();
    approve(&p, &asha, &account, &id).await;
    let (_, topped) = get(&http, url(&format!("bills/receipts/{id}")), &token).await;
    assert_eq!(topped["state"], "confirmed");
    let stranger = json!({ "mobile": JIO_NUMBER, "plan_id": "JIO299", "vpa": "nobody@paytap" });
    let (status, _) = post(
        &http,
        url("recharge/payments"),
        &token,
        Some("r3"),
        stranger,
    )
    .await;
    assert_eq!(status, 422);

    let (status, list) = get(&http, url("bills/receipts"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(list["receipts"].as_array().unwrap().len(), 3);
    assert_eq!(get(&http, url(&one), &token).await, (200, paid.clone()));

    // A China-region account: a clear refusal, nothing paid.
    let li = sign_up(&http, &base, "li.lei@example.com", "cn").await;
    let (status, cn) = post(&http, url("bills/fetch"), &li, None, fetch(BESCOM_ACCOUNT)).await;
    assert_eq!(
        (status, cn["error"]["code"].as_str()),
        (403, Some("region_not_supported"))
    );
    let recharge = json!({ "mobile": JIO_NUMBER, "plan_id": "JIO299", "vpa": VPA });
    let (status, _) = post(&http, url("recharge/payments"), &li, Some("r1"), recharge).await;
    assert_eq!(status, 403);
    assert_eq!(get(&http, url(&one), &li).await.0, 404);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn india_accounts_leave_nothing_outside_the_in_region() {
    let dir = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformOptions::loopback(dir.path().to_owned()))
        .await
        .unwrap();
    let india = &p.india;
    let (asha, account) = asha_at_icici(&p).await;
    let pays = || PayMethod::Upi {
        payer: Vpa::new(VPA).unwrap(),
        account: account.clone(),
    };
    let params = BTreeMap::from([("account_id".to_owned(), BESCOM_ACCOUNT.to_owned())]);
    let bill = india.bills.fetch(ASHA, "BESCOM", &params).await.unwrap();
    let paid = india
        .bills
        .pay_bill(ASHA, "bill-1", &bill.fetch_id, pays())
        .await
        .unwrap();
    approve(&p, &asha, &account, &paid.payment_id).await;
    let paid = india
        .bills
        .receipt(ASHA.account_id, &paid.payment_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(paid.state, PayState::Confirmed, "{paid:?}");
    let recharge = RechargeRequest {
        mobile: JIO_NUMBER.into(),
        operator: None,
        circle: None,
        plan_id: "JIO299".into(),
    };
    let topped = india
        .bills
        .recharge(ASHA, "jio-1", &recharge, pays())
        .await
        .unwrap();
    approve(&p, &asha, &account, &topped.payment_id).await;
    let topped = india
        .bills
        .receipt(ASHA.account_id, &topped.payment_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(topped.state, PayState::Confirmed, "{topped:?}");
    let by_mobile = india.banks.accounts_by_mobile(MOBILE).await.unwrap();
    // The debit card is handed over once, when the account opens.
    let mut found = asha.clone();
    found.debit_card = None;
    assert_eq!(by_mobile, vec![found]);
    // An account of the China region pays no bill in INR.
    let li_lei = Payer {
        account_id: "acct-li-cn",
        region: "cn",
    };
    let refused = india
        .bills
        .pay_bill(li_lei, "bill-2", &bill.fetch_id, pays())
        .await;
    assert!(
        refused
            .unwrap_err()
            .to_string()
            .contains("INR from India accounts")
    );
    p.shutdown().await;

    let secrets = [
        MOBILE,
        VPA,
        asha.account_number.as_str(),
        BESCOM_ACCOUNT,
        JIO_NUMBER,
        paid.payment_id.as_str(),
        topped.payment_id.as_str(),
        bill.bill_number.as_str(),
        "bescom@payu",
        "upid_",
        "issuer_upi",
        "bills_",
        "upi-clearing",
        "upi:debit",
    ];
    let others = files_but(dir.path(), "wallet-in.db");
    assert!(
        others.iter().any(|(n, _)| n == "network.db"),
        "{:?}",
        others.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (name, bytes) in &others {
        for s in secrets {
            assert!(!contains(bytes, s), "{s:?} found in {name}");
        }
    }
    // Where it lives, the sensitive part is sealed.
    let india_files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("wallet-in.db")
        })
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(india_files.iter().any(|b| contains(b, "upid_events")));
    for bytes in &india_files {
        for s in [MOBILE, BESCOM_ACCOUNT, JIO_NUMBER] {
            assert!(
                !contains(bytes, s),
                "{s:?} in clear in the in region's database"
            );
        }
    }
}
