//! The bindings' mobile numbers, account numbers and holders at rest: what
//! `upipsp_bindings` holds after a binding and a payment by mobile number is
//! none of them in clear; a binding written in clear before sealing is
//! sealed when the PSP opens and still pays and is paid; a sealed value
//! moved to another row does not open there.
// Rupee amounts are written the Indian way, then paise: `10_000_00` is ₹10,000.00.
#![allow(clippy::inconsistent_digit_grouping)]

use paytap_issuer::{IssuerConfig, UpiAccount, UpiBanks};
use paytap_ledger::Ledger;
use paytap_seal::upi_pin::{PinPurpose, seal_pin};
use paytap_store::Db;
use paytap_types::{Secret, SystemClock};
use paytap_upi::xml::OrgId;
use paytap_upid::{IssuerBanks, UpiSwitch};
use paytap_upipsp::{
    InProcess, NewBinding, PayRequest, PinSetting, Psp, PspConfig, PspError, UpiLinks,
};
use std::sync::Arc;

const PIN: &str = "2468";
const ASHA_MOBILE: &str = "9876543210";
const RAVI_MOBILE: &str = "9123456780";
const KEY: [u8; 32] = [6; 32];
/// The wallet accounts of Asha and Ravi.
const A: &str = "owner-1";
const R: &str = "owner-2";

struct World {
    banks: Arc<UpiBanks>,
    links: Arc<dyn UpiLinks>,
    /// The PSP's own database.
    app_db: Db,
    asha: UpiAccount,
    ravi: UpiAccount,
}

async fn world() -> World {
    let db = Db::for_tests().await.unwrap();
    let ledger = Ledger::open(db.clone()).await.unwrap();
    let banks = UpiBanks::open(
        db.clone(),
        ledger,
        &IssuerConfig::default_banks(),
        &[5; 32],
        &Secret::new([5; 32]),
    )
    .await
    .unwrap();
    let asha = banks
        .open_account("63560001", "Asha Verma", ASHA_MOBILE, 10_000_00)
        .await
        .unwrap();
    let ravi = banks
        .open_account("63560002", "Ravi Kumar", RAVI_MOBILE, 0)
        .await
        .unwrap();
    let banks = Arc::new(banks);
    let switch = UpiSwitch::open(
        db,
        IssuerBanks::new(banks.clone()),
        Arc::new(SystemClock),
        OrgId::new("NPCI").unwrap(),
    )
    .await
    .unwrap();
    let links = Arc::new(InProcess::new(banks.clone(), Arc::new(switch)));
    World {
        banks,
        links,
        app_db: Db::for_tests().await.unwrap(),
        asha,
        ravi,
    }
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn device(owner: &str, mobile: &str) -> NewBinding {
    let key = paytap_seal::DeviceKey::generate().unwrap();
    NewBinding {
        device_id: format!("phone-{owner}"),
        device_key: paytap_seal::public_key_to_base64(&key.public()),
        mobile: mobile.to_owned(),
    }
}

impl World {
    async fn psp(&self, key: &[u8; 32]) -> Result<Psp, PspError> {
        Psp::open(
            self.app_db.clone(),
            self.links.clone(),
            Arc::new(SystemClock),
            PspConfig::default(),
            key,
        )
        .await
    }

    fn bank_key(&self, psp: &Psp) -> [u8; 32] {
        psp.list_keys()
            .into_iter()
            .find(|k| k.bank == "ICIC")
            .unwrap()
            .public
    }

    /// Asha binds, makes `asha@paytap` and sets her PIN.
    async fn asha_ready(&self, psp: &Psp) {
        let b = psp.bind(A, &device(A, ASHA_MOBILE)).await.unwrap();
        psp.create_id(A, &b[0].binding_id, "asha").await.unwrap();
        let mut sms = self.banks.subscribe_otp();
        let otp = psp.request_pin_otp(A, &b[0].binding_id).await.unwrap();
        let card = self.asha.debit_card.as_ref().unwrap();
        let pin = Secret::new(PIN.to_owned());
        let block = seal_pin(
            &self.bank_key(psp),
            PinPurpose::SetPin,
            &otp.verification_id,
            &pin,
        )
        .unwrap();
        let setting = PinSetting {
            card_last6: card.last6(),
            card_expiry: card.expiry.to_string(),
            verification_id: otp.verification_id,
            otp: sms.recv().await.unwrap().code,
            pin_block: b64(&block),
        };
        psp.set_pin(A, &b[0].binding_id, setting).await.unwrap();
    }

    /// Asha pays `mobile` `paise` under `txn_id`.
    fn to_mobile(&self, psp: &Psp, txn_id: &str, mobile: &str, paise: u64) -> PayRequest {
        let pin = Secret::new(PIN.to_owned());
        let block = seal_pin(&self.bank_key(psp), PinPurpose::Debit, txn_id, &pin).unwrap();
        PayRequest {
            txn_id: txn_id.to_owned(),
            from: "asha@paytap".into(),
            to: None,
            mobile: Some(mobile.to_owned()),
            link: None,
            amount_paise: Some(paise),
            note: None,
            pin_block: b64(&block),
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

    /// Every text cell of `upipsp_bindings` as stored, but the device's
    /// public key (random Base64, which may spell anything).
    async fn raw_bindings(&self) -> Vec<Vec<String>> {
        type Row = (
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
            String,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT binding_id, owner, device_id, mobile, mobile_fp, bank_id, ifsc, \
             account_number, account_fp, holder FROM upipsp_bindings",
        )
        .fetch_all(self.app_db.pool())
        .await
        .unwrap();
        rows.into_iter()
            .map(|r| vec![r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9])
            .collect()
    }

    /// Asserts that no cell of `upipsp_bindings` holds either holder's
    /// mobile number, account number or name, or a part of the name.
    async fn nothing_in_clear(&self) {
        let rows = self.raw_bindings().await;
        assert!(!rows.is_empty());
        let mut secrets = vec![];
        for a in [&self.asha, &self.ravi] {
            secrets.push(a.mobile.clone());
            secrets.push(a.account_number.clone());
            secrets.push(a.holder.clone());
            secrets.extend(a.holder.split(' ').map(str::to_owned));
        }
        for row in &rows {
            for cell in row {
                let lower = cell.to_lowercase();
                for s in &secrets {
                    assert!(
                        !lower.contains(&s.to_lowercase()),
                        "{s:?} in clear in upipsp_bindings: {row:?}"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn bindings_keep_no_mobile_account_or_holder_in_clear_and_pay_by_mobile() {
    let w = world().await;
    let psp = w.psp(&KEY).await.unwrap();
    w.asha_ready(&psp).await;
    let r = psp.bind(R, &device(R, RAVI_MOBILE)).await.unwrap();
    psp.create_id(R, &r[0].binding_id, "ravi").await.unwrap();

    let p = psp
        .pay(A, &w.to_mobile(&psp, "M1", RAVI_MOBILE, 250_00))
        .await
        .unwrap();
    assert_eq!(
        (p.status.as_str(), p.payee_vpa.as_str()),
        ("success", "ravi@paytap"),
        "{p:?}"
    );
    assert_eq!(w.balances().await, (9_750_00, 250_00));
    // A number no paytap user is bound with is not a payee.
    let unknown = psp
        .pay(A, &w.to_mobile(&psp, "M2", "9000000001", 1_00))
        .await;
    assert!(
        matches!(unknown, Err(PspError::Refused { code: "ZH", .. })),
        "{unknown:?}"
    );

    w.nothing_in_clear().await;
    // Each binding has its keyed fingerprints; equal numbers, equal
    // fingerprints, and the sealed values differ although the mobile
    // number is the same on a second binding of it.
    let fps: Vec<(String, String)> =
        sqlx::query_as("SELECT mobile_fp, account_fp FROM upipsp_bindings ORDER BY owner")
            .fetch_all(w.app_db.pool())
            .await
            .unwrap();
    assert_eq!(fps.len(), 2);
    assert_ne!(fps[0], fps[1]);
    assert!(fps.iter().all(|(m, a)| m.len() == 32 && a.len() == 32));

    // The views show what they showed: the holder, the masked number.
    let views = psp.bindings(R).await.unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].holder, "Ravi Kumar");
    let n = &w.ravi.account_number;
    assert_eq!(
        views[0].account_masked,
        format!("{}{}", "X".repeat(n.len() - 4), &n[n.len() - 4..])
    );

    // Binding again is the same binding, sealed again for its own id.
    let again = psp.bind(R, &device(R, RAVI_MOBILE)).await.unwrap();
    assert_eq!(again[0].binding_id, r[0].binding_id);
    assert_eq!(psp.bindings(R).await.unwrap().len(), 1);
    w.nothing_in_clear().await;
    let p = psp
        .pay(A, &w.to_mobile(&psp, "M3", RAVI_MOBILE, 50_00))
        .await
        .unwrap();
    assert_eq!(p.status, "success", "{p:?}");
    assert_eq!(w.balances().await, (9_700_00, 300_00));

    // Another key opens none of it.
    let other = w.psp(&[7; 32]).await.unwrap();
    assert!(matches!(other.bindings(R).await, Err(PspError::Corrupt(_))));
    let lost = other
        .pay(A, &w.to_mobile(&psp, "M4", RAVI_MOBILE, 1_00))
        .await;
    assert!(
        matches!(lost, Err(PspError::Refused { code: "ZH", .. })),
        "{lost:?}"
    );
}

#[tokio::test]
async fn a_binding_written_in_clear_is_sealed_when_the_psp_opens() {
    let w = world().await;
    // The schema before sealing, and Ravi's binding as it wrote it.
    w.app_db
        .migrate(&paytap_upipsp::MIGRATIONS[..1])
        .await
        .unwrap();
    let key = paytap_seal::DeviceKey::generate().unwrap();
    sqlx::query(
        "INSERT INTO upipsp_bindings (binding_id, owner, device_id, device_key, mobile, bank_id, \
         ifsc, account_number, holder, bound_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind("bnd_old")
    .bind(R)
    .bind(format!("phone-{R}"))
    .bind(paytap_seal::public_key_to_base64(&key.public()))
    .bind(RAVI_MOBILE)
    .bind(&w.ravi.bank_id)
    .bind(&w.ravi.ifsc)
    .bind(&w.ravi.account_number)
    .bind(&w.ravi.holder)
    .bind(1_700_000_000_000i64)
    .execute(w.app_db.pool())
    .await
    .unwrap();

    let psp = w.psp(&KEY).await.unwrap();
    w.nothing_in_clear().await;
    let views = psp.bindings(R).await.unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(
        (views[0].binding_id.as_str(), views[0].holder.as_str()),
        ("bnd_old", "Ravi Kumar")
    );
    // Opening again seals nothing twice.
    let psp = w.psp(&KEY).await.unwrap();
    assert_eq!(psp.bindings(R).await.unwrap(), views);

    // The old binding takes a UPI ID and is paid by its mobile number.
    psp.create_id(R, "bnd_old", "ravi").await.unwrap();
    w.asha_ready(&psp).await;
    let p = psp
        .pay(A, &w.to_mobile(&psp, "OLD1", RAVI_MOBILE, 100_00))
        .await
        .unwrap();
    assert_eq!(
        (p.status.as_str(), p.payee_vpa.as_str()),
        ("success", "ravi@paytap"),
        "{p:?}"
    );
    assert_eq!(w.balances().await, (9_900_00, 100_00));
    // Binding the same phone again finds the old binding by its account.
    let again = psp.bind(R, &device(R, RAVI_MOBILE)).await.unwrap();
    assert_eq!(again[0].binding_id, "bnd_old");
    assert_eq!(psp.bindings(R).await.unwrap().len(), 1);
    w.nothing_in_clear().await;
}

#[tokio::test]
async fn a_sealed_value_moved_to_another_binding_does_not_open() {
    let w = world().await;
    let psp = w.psp(&KEY).await.unwrap();
    let a = psp.bind(A, &device(A, ASHA_MOBILE)).await.unwrap();
    let r = psp.bind(R, &device(R, RAVI_MOBILE)).await.unwrap();
    // Asha's sealed holder copied onto Ravi's binding.
    sqlx::query(
        "UPDATE upipsp_bindings SET holder = \
         (SELECT holder FROM upipsp_bindings WHERE binding_id = $1) WHERE binding_id = $2",
    )
    .bind(&a[0].binding_id)
    .bind(&r[0].binding_id)
    .execute(w.app_db.pool())
    .await
    .unwrap();
    let moved = psp.bindings(R).await;
    assert!(matches!(moved, Err(PspError::Corrupt(_))), "{moved:?}");
    // Asha's own is untouched.
    assert_eq!(psp.bindings(A).await.unwrap()[0].holder, "Asha Verma");
}
