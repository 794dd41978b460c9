//! India's data in India: a running platform pays an electricity bill and a
//! Jio recharge over UPI, then every database file but the `in` region's is
//! read byte by byte and none of it is there: not the mobile number, the
//! UPI id, the account number, the payment ids, nor a UPI, bill or INR
//! ledger table. In the `in` region's file itself the mobile numbers and the
//! bills' customer parameters are sealed, never in clear.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

#[path = "../src/platform.rs"]
#[allow(dead_code)]
mod platform;

use paytap_bbps::PayState;
use paytap_bills::{PayMethod, Payer, RechargeRequest};
use paytap_upi::Vpa;
use paytap_upi::xml::{Account, AccountNumber, Ifsc};
use paytap_upid::DirectoryEntry;
use platform::{Platform, PlatformOptions};
use std::collections::BTreeMap;
use std::path::Path;

const ICICI: &str = "63560001";
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn india_accounts_leave_nothing_outside_the_in_region() {
    let dir = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformOptions::loopback(dir.path().to_owned()))
        .await
        .unwrap();
    let india = &p.india;
    let asha = india
        .banks
        .open_account(ICICI, "Asha Rao", MOBILE, 10_000_00)
        .await
        .unwrap();
    let account = Account {
        ifsc: Ifsc::new(&asha.ifsc).unwrap(),
        number: AccountNumber::new(&asha.account_number).unwrap(),
        kind: Some("SAVINGS".into()),
    };
    india
        .upi
        .register(&DirectoryEntry {
            vpa: Vpa::new(VPA).unwrap(),
            account: account.clone(),
            bound_at: Some(0),
        })
        .await
        .unwrap();
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
    assert_eq!(topped.state, PayState::Confirmed, "{topped:?}");
    let by_mobile = india.banks.accounts_by_mobile(MOBILE).await.unwrap();
    assert_eq!(by_mobile, vec![asha.clone()]);
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
