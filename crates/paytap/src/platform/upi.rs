//! The UPI switch in the running platform: the INR banks' UPI side and the
//! switch service over the network's database and ledger, its XML endpoints
//! on the wallet's port (`/upi/switch/...`) and its timers as a task.

use paytap_issuer::{IssuerConfig, UpiBanks};
use paytap_network::RunningNetwork;
use paytap_types::SystemClock;
use paytap_upi::xml::OrgId;
use paytap_upid::{IssuerBanks, UpiSwitch, http};
use std::sync::Arc;

/// The org id the switch signs its messages with.
const SWITCH_ORG: &str = "NPCI";

/// Opens the banks' UPI side and the switch (replaying its log), and returns
/// its routes and its timer task.
pub async fn start(
    net: &RunningNetwork,
    issuers: &IssuerConfig,
) -> anyhow::Result<(axum::Router, tokio::task::JoinHandle<()>)> {
    let banks = UpiBanks::open(net.db().clone(), net.ledger().clone(), issuers).await?;
    let sw = UpiSwitch::open(
        net.db().clone(),
        IssuerBanks::new(Arc::new(banks)),
        Arc::new(SystemClock),
        OrgId::new(SWITCH_ORG)?,
    )
    .await?;
    let sw = Arc::new(sw);
    let timers = tokio::spawn(sw.clone().run_timers());
    Ok((http::router(sw), timers))
}
