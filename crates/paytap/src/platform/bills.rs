//! Bills and recharge in the running platform: the bill service over the
//! `in` region's database, paying over the UPI switch in process (the same
//! `ReqPay` its XML endpoint takes), the emulated billers and operators,
//! and each one's collection account at the aggregator's bank, found in
//! the switch's directory or opened once.

use paytap_bbps::{Catalogue, Recharges};
use paytap_bills::{
    BillService, BillServiceParts, BoxFut, Collections, EmulatedBillers, PayerAccounts,
    UpiSwitchPort,
};
use paytap_issuer::UpiBanks;
use paytap_store::Db;
use paytap_types::SystemClock;
use paytap_upi::Vpa;
use paytap_upi::xml::{Account, AccountNumber, Ifsc, ReqPay, RespPay};
use paytap_upid::{DirectoryEntry, IssuerBanks, UpiSwitch};
use paytap_vault::Keyring;
use std::sync::Arc;
use std::time::Duration;

/// The aggregator's (PayU's) partner bank, where every biller and operator
/// collects: ICICI Bank's institution id in `banks.toml`.
pub const AGGREGATOR_BANK: &str = "63560001";
/// The mobile number the aggregator's collection accounts are registered
/// under (an account at an Indian bank always has one).
const AGGREGATOR_MOBILE: &str = "9000000001";
/// Purpose of the keyring subkey the bill service seals its columns with.
const BILLS_KEY_PURPOSE: &str = "bills sealed data";
/// How often payments waiting on an answer (a charge not known yet, a
/// refund not through yet) are driven again.
pub const RESUME_EVERY: Duration = Duration::from_secs(30);

/// The switch in process, as the bill service's port.
struct InProcess(Arc<UpiSwitch<IssuerBanks>>);

impl UpiSwitchPort for InProcess {
    fn pay(&self, req: ReqPay) -> BoxFut<'_, Result<Option<RespPay>, String>> {
        Box::pin(async move { self.0.pay(req).await.map_err(|e| e.to_string()) })
    }
}

/// The switch's directory as the PSP's record of its users' UPI ids (until
/// the PSP keeps its own bindings).
struct Directory(Arc<UpiSwitch<IssuerBanks>>);

impl PayerAccounts for Directory {
    fn account_of<'a>(&'a self, vpa: &'a Vpa) -> BoxFut<'a, Result<Option<Account>, String>> {
        Box::pin(async move {
            let entry = self.0.resolve(vpa).await.map_err(|e| e.to_string())?;
            Ok(entry.map(|e| e.account))
        })
    }
}

/// The running bill service and its emulated billers.
pub struct BillsSide {
    /// The service.
    pub service: Arc<BillService>,
    /// The emulated billers and operators (the lab makes them go down).
    pub billers: Arc<EmulatedBillers>,
    /// Drives waiting payments every [`RESUME_EVERY`].
    pub task: tokio::task::JoinHandle<()>,
}

/// The seal key of the bill service, from the vault's keyring.
pub fn data_key(keyring: &Keyring) -> zeroize::Zeroizing<[u8; 32]> {
    keyring.subkey(BILLS_KEY_PURPOSE)
}

/// Opens the bill service over `india` and resumes what a stop left.
pub async fn start(
    india: &Db,
    sw: Arc<UpiSwitch<IssuerBanks>>,
    banks: &UpiBanks,
    data_key: zeroize::Zeroizing<[u8; 32]>,
) -> anyhow::Result<BillsSide> {
    let catalogue = Catalogue::default_billers();
    let recharges = Recharges::default_operators();
    let payees = paytap_bbps::collection_addresses(&catalogue, &recharges);
    let mut collections = Collections::new();
    for (vpa, name) in payees {
        let account = collection(&sw, banks, &vpa, &name).await?;
        collections.insert(&vpa, account);
    }
    let billers = Arc::new(EmulatedBillers::new());
    let service = BillService::open(BillServiceParts {
        db: india.clone(),
        catalogue,
        recharges,
        data_key,
        collections,
        upi: Arc::new(InProcess(sw.clone())),
        payers: Arc::new(Directory(sw)),
        cards: None,
        billers: billers.clone(),
        clock: Arc::new(SystemClock),
    })
    .await?;
    let service = Arc::new(service);
    let task = tokio::spawn(resume_forever(service.clone()));
    Ok(BillsSide {
        service,
        billers,
        task,
    })
}

/// `vpa`'s collection account: the one the switch's directory has, or a
/// new one at the aggregator's bank, registered.
async fn collection(
    sw: &UpiSwitch<IssuerBanks>,
    banks: &UpiBanks,
    vpa: &str,
    name: &str,
) -> anyhow::Result<Account> {
    let vpa = Vpa::new(vpa)?;
    if let Some(entry) = sw.resolve(&vpa).await? {
        return Ok(entry.account);
    }
    let opened = banks
        .open_account(AGGREGATOR_BANK, name, AGGREGATOR_MOBILE, 0)
        .await?;
    let account = Account {
        ifsc: Ifsc::new(&opened.ifsc)?,
        number: AccountNumber::new(&opened.account_number)?,
        kind: Some("CURRENT".to_owned()),
    };
    sw.register(&DirectoryEntry {
        vpa,
        account: account.clone(),
        bound_at: None,
    })
    .await?;
    Ok(account)
}

async fn resume_forever(service: Arc<BillService>) {
    let mut tick = tokio::time::interval(RESUME_EVERY);
    loop {
        tick.tick().await;
        match service.resume().await {
            Ok(0) => {}
            Ok(ended) => tracing::info!(ended, "bill payments resumed"),
            Err(e) => tracing::error!(error = %e, "resuming bill payments failed"),
        }
    }
}
