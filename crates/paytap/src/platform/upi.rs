//! UPI in the running platform: the INR banks' UPI side and the switch
//! service over the `in` region's database, with a ledger of their own
//! there (India's data in India: UPI ids, accounts, mobile numbers,
//! transactions and the INR ledger entries never reach another region's
//! database), its XML endpoints on the wallet's port (`/upi/switch/...`,
//! heard from the registered PSPs [`PSP_ORGS`], each signing with the key
//! [`psp_key`] derives from the platform keyring: `paytap keys upi-psp`)
//! and its timers as a task; the banks' PIN-setting OTPs go to the
//! emulated SMS gateway; and the wallet's UPI app (`paytap-upipsp`) over
//! the same database, its payments passing the `in` region's own risk and
//! offers services ([`guard`]: the same `paytap-guard` as the card path,
//! its tables in the `in` database and its cashback on the INR ledger, so
//! no decision about an Indian payment is written to another region's
//! database).

use paytap_guard::{Guard, OffersService, RiskService};
use paytap_issuer::{IssuerConfig, UpiBanks};
use paytap_ledger::Ledger;
use paytap_network::{GuardConfig, RunningNetwork};
use paytap_offers::BenefitKind;
use paytap_store::Db;
use paytap_types::{Currency, Secret, SystemClock};
use paytap_upi::xml::OrgId;
use paytap_upid::{IssuerBanks, UpiSwitch, http};
use paytap_upipsp::{InProcess, Psp, PspConfig};
use std::sync::Arc;

/// The keyring purpose the banks' UPI PIN keys are derived under.
const PIN_KEY_PURPOSE: &str = "upi-pin";

/// The org id the switch signs its messages with.
const SWITCH_ORG: &str = "NPCI";
/// The PSPs the switch's XML endpoints hear: paytap's own UPI app and the
/// merchant aggregator the billers collect through.
pub const PSP_ORGS: [&str; 2] = ["PAYTAP", "PAYU"];

/// The key PSP `org` signs its requests to the switch with, from the
/// platform keyring.
pub fn psp_key(keyring: &paytap_vault::Keyring, org: &str) -> zeroize::Zeroizing<[u8; 32]> {
    keyring.subkey(&format!("upi psp key {org}"))
}
/// Purpose of the keyring subkey the banks seal mobile numbers under.
const MOBILE_KEY_PURPOSE: &str = "issuer upi mobile numbers";

/// Purpose of the keyring subkey the wallet's UPI app seals its bindings
/// (mobile number, account number, holder) under.
const PSP_KEY_PURPOSE: &str = "upipsp bindings";

/// The key the banks' UPI side seals mobile numbers with, from the vault's
/// keyring.
pub fn data_key(keyring: &paytap_vault::Keyring) -> zeroize::Zeroizing<[u8; 32]> {
    keyring.subkey(MOBILE_KEY_PURPOSE)
}

/// The key the wallet's UPI app seals its bindings with, from the vault's
/// keyring.
pub fn bindings_key(keyring: &paytap_vault::Keyring) -> zeroize::Zeroizing<[u8; 32]> {
    keyring.subkey(PSP_KEY_PURPOSE)
}

/// The UPI side as started.
pub struct UpiSide {
    /// The switch.
    pub switch: Arc<UpiSwitch<IssuerBanks>>,
    /// The INR banks' UPI side.
    pub banks: Arc<UpiBanks>,
    /// The INR ledger, in the `in` region's database.
    pub ledger: Ledger,
    /// `/upi/switch/...`.
    pub routes: axum::Router,
    /// The switch's timers and the OTPs' way to the SMS gateway.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Opens the INR ledger, the banks' UPI side and the switch (replaying its
/// log) over `india`, the `in` region's database, mobile numbers sealed
/// under `data_key`, the PIN keys derived from the network's keyring.
pub async fn start(
    net: &RunningNetwork,
    india: &Db,
    issuers: &IssuerConfig,
    data_key: &[u8; 32],
) -> anyhow::Result<UpiSide> {
    let ledger = Ledger::open(india.clone()).await?;
    let pin_secret = Secret::new(*net.vault().keyring().subkey(PIN_KEY_PURPOSE));
    let banks = UpiBanks::open(
        india.clone(),
        ledger.clone(),
        issuers,
        data_key,
        &pin_secret,
    )
    .await?;
    let banks = Arc::new(banks);
    let sms = net.sms_outbox().forward(banks.subscribe_otp());
    let sw = UpiSwitch::open(
        india.clone(),
        IssuerBanks::new(banks.clone()),
        Arc::new(SystemClock),
        OrgId::new(SWITCH_ORG)?,
    )
    .await?;
    let sw = Arc::new(sw);
    let timers = tokio::spawn(sw.clone().run_timers());
    let keyring = net.vault().keyring();
    let keys = PSP_ORGS.map(|org| (org.to_owned(), *psp_key(&keyring, org)));
    Ok(UpiSide {
        routes: http::router(sw.clone(), http::PspKeys::new(keys)),
        switch: sw,
        banks,
        ledger,
        tasks: vec![timers, sms],
    })
}

impl UpiSide {
    /// The wallet's UPI app over `india` (the `in` region's database), its
    /// bindings sealed under `bindings_key`.
    pub async fn psp(&self, india: Db, bindings_key: &[u8; 32]) -> anyhow::Result<Psp> {
        let links = Arc::new(InProcess::new(self.banks.clone(), self.switch.clone()));
        Ok(Psp::open(
            india,
            links,
            Arc::new(SystemClock),
            PspConfig::default(),
            bindings_key,
        )
        .await?)
    }
}

/// The risk and offers services of the `in` region, on `india` (its own
/// `risk_decisions`, `offer_*` and `points_entries` tables there) with the
/// INR ledger `ledger` (each funder's `offers:<kind>:<id>:INR` account and
/// `offers:cashback:INR`), under the same rules and offers as the card
/// path (`config`: the data directory's files or the embedded defaults).
/// Only the rupee cashback offers are kept: a UPI payment moves the payer's
/// own amount, so an instant discount cannot apply, and no other currency
/// is paid in India; for the same reason India's rewards points are worth
/// something in rupees only, so a redemption pays its cashback in INR on
/// the INR ledger. `None` when `config` turns both off.
pub async fn guard(
    india: &Db,
    ledger: &Ledger,
    config: &GuardConfig,
) -> anyhow::Result<Option<Arc<Guard>>> {
    if config.risk.is_none() && config.offers.is_none() {
        return Ok(None);
    }
    india.migrate(paytap_guard::MIGRATIONS).await?;
    let risk = match &config.risk {
        Some(rules) => {
            Some(RiskService::open(india.clone(), rules.clone(), paytap_store::now_millis()).await?)
        }
        None => None,
    };
    let offers = match &config.offers {
        Some(file) => {
            let mut file = file.clone();
            file.offers.retain(|o| {
                o.eligibility.currency == Some(Currency::INR) && o.kind == BenefitKind::Cashback
            });
            file.points.value.retain(|(c, _)| *c == Currency::INR);
            Some(OffersService::open(india.clone(), ledger.clone(), file).await?)
        }
        None => None,
    };
    Ok(Some(Arc::new(Guard { risk, offers })))
}

/// The billers' collection addresses (`billers.toml`): a collect request
/// from one of them is a bill payment to the guard (channel `bills`, the
/// first-bill cashback); a recharge operator's is a merchant payment
/// (channel `upi`).
pub fn biller_addresses() -> Vec<String> {
    paytap_bbps::Catalogue::default_billers()
        .all()
        .map(|b| b.vpa.clone())
        .collect()
}
