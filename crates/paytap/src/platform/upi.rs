//! UPI in the running platform: the INR banks' UPI side and the switch
//! service over the network's database and ledger, its XML endpoints on the
//! wallet's port (`/upi/switch/...`) and its timers as a task; the banks'
//! PIN-setting OTPs go to the emulated SMS gateway; and the wallet's UPI app
//! (`paytap-upipsp`) over the `in` region's database.

use paytap_issuer::{IssuerConfig, UpiBanks};
use paytap_network::RunningNetwork;
use paytap_store::Db;
use paytap_types::{Secret, SystemClock};
use paytap_upi::xml::OrgId;
use paytap_upid::{IssuerBanks, UpiSwitch, http};
use paytap_upipsp::{InProcess, Psp, PspConfig};
use std::sync::Arc;

/// The keyring purpose the banks' UPI PIN keys are derived under.
const PIN_KEY_PURPOSE: &str = "upi-pin";

/// The org id the switch signs its messages with.
const SWITCH_ORG: &str = "NPCI";

/// UPI, started.
pub struct Upi {
    /// The switch's XML endpoints.
    pub routes: axum::Router,
    /// The switch's timers and the OTPs' way to the SMS gateway.
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The INR banks' UPI side.
    pub banks: Arc<UpiBanks>,
    /// The switch.
    pub switch: Arc<UpiSwitch<IssuerBanks>>,
}

/// Opens the banks' UPI side and the switch (replaying its log).
pub async fn start(net: &RunningNetwork, issuers: &IssuerConfig) -> anyhow::Result<Upi> {
    let pin_secret = Secret::new(*net.vault().keyring().subkey(PIN_KEY_PURPOSE));
    let banks =
        UpiBanks::open(net.db().clone(), net.ledger().clone(), issuers, &pin_secret).await?;
    let banks = Arc::new(banks);
    let sms = net.sms_outbox().forward(banks.subscribe_otp());
    let sw = UpiSwitch::open(
        net.db().clone(),
        IssuerBanks::new(banks.clone()),
        Arc::new(SystemClock),
        OrgId::new(SWITCH_ORG)?,
    )
    .await?;
    let sw = Arc::new(sw);
    let timers = tokio::spawn(sw.clone().run_timers());
    Ok(Upi {
        routes: http::router(sw.clone()),
        tasks: vec![timers, sms],
        banks,
        switch: sw,
    })
}

impl Upi {
    /// The wallet's UPI app over `india` (the `in` region's database).
    pub async fn psp(&self, india: Db) -> anyhow::Result<Psp> {
        let links = Arc::new(InProcess::new(self.banks.clone(), self.switch.clone()));
        Ok(Psp::open(india, links, Arc::new(SystemClock), PspConfig::default()).await?)
    }
}
