//! [`BillService`]: bills fetched and kept, payments driven from the charge
//! to the biller's confirmation or the refund, receipts and reminders.

use crate::ports::{
    BillerHost, CardCharge, CardPort, ChargeAnswer, HostError, PayerAccounts, UpiSwitchPort,
};
use crate::seal::{SealError, Sealer};
use crate::store::{self, FetchRow, Inserted, PaymentRow, StepFacts};
use crate::upi::{self, UpiLeg};
use paytap_bbps::{
    BbpsError, Catalogue, Category, PayState, Recharges, Reminder, Step, StepOutcome, india_date,
    reminder,
};
use paytap_store::{Db, StoreError};
use paytap_types::{Channel, Clock, Currency, GuardOutcome, Money, PaymentFacts, PaymentGuard};
use paytap_upi::Vpa;
use paytap_upi::xml::{Account, AccountNumber, Ifsc, Mcc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use zeroize::Zeroizing;

/// The one region whose accounts pay bills and recharges (in INR), and
/// whose database the service's rows live in.
pub const REGION: &str = "in";

/// The wallet account paying, with its data region.
#[derive(Debug, Clone, Copy)]
pub struct Payer<'a> {
    /// The wallet account.
    pub account_id: &'a str,
    /// Its data region (`cn`, `in`).
    pub region: &'a str,
}

impl Payer<'_> {
    /// The account, once its region is India's; [`BillsError::NotInIndia`]
    /// otherwise.
    pub fn region_check(&self) -> Result<&str, BillsError> {
        if self.region != REGION {
            tracing::info!(
                account = self.account_id,
                region = self.region,
                "INR bill payment from an account outside India: refused"
            );
            return Err(BillsError::NotInIndia(self.region.to_owned()));
        }
        Ok(self.account_id)
    }
}

/// Longest idempotency key a caller may give: the wallet API's own bound
/// on the `Idempotency-Key` header.
pub const MAX_KEY_LEN: usize = 255;
/// Digits of a mobile number a receipt shows; the rest are masked.
const MOBILE_SHOWN: usize = 4;

/// What went wrong; every variant but the last four is the caller's.
#[derive(Debug, thiserror::Error)]
pub enum BillsError {
    /// A biller, parameter, number, operator, circle or plan refused by the
    /// rules.
    #[error(transparent)]
    Invalid(#[from] BbpsError),
    /// No fetched bill of this account has this id.
    #[error("no such bill: fetch it first")]
    UnknownBill,
    /// The bill is paid, or being paid, by another payment.
    #[error("this bill is already paid or being paid")]
    AlreadyPaid,
    /// The idempotency key was used for another request.
    #[error("this idempotency key was used for another request")]
    KeyReused,
    /// The idempotency key is empty, too long or not printable ASCII.
    #[error("an idempotency key is 1 to 255 printable characters")]
    BadKey,
    /// The biller did not answer the fetch.
    #[error("the biller is not answering; try again later")]
    BillerDown,
    /// The biller refused the fetch.
    #[error("the biller refused: {0}")]
    BillerRefused(String),
    /// The account is not an India account: its data may not live here,
    /// and it cannot pay in INR.
    #[error(
        "bills and recharges are paid in INR from India accounts; this account is in region {0:?}"
    )]
    NotInIndia(String),
    /// Card payments are not connected in this deployment.
    #[error("card payments of bills are not available")]
    CardsUnavailable,
    /// The database failed.
    #[error("bills store: {0}")]
    Store(#[from] StoreError),
    /// A stored row this code did not write.
    #[error("stored bill data is inconsistent: {0}")]
    Corrupt(String),
    /// A sealed column that does not open, or a seal that failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The PSP's record of UPI ids could not be read.
    #[error("UPI ids: {0}")]
    Payers(String),
    /// A biller or operator with no collection account at the aggregator
    /// (a configuration error).
    #[error("no collection account for {0}")]
    NoCollection(String),
}

impl From<sqlx::Error> for BillsError {
    fn from(e: sqlx::Error) -> Self {
        BillsError::Store(StoreError::Sql(e))
    }
}

/// How the account holder pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayMethod {
    /// UPI from this address and account (the PSP's binding).
    Upi {
        /// The payer's UPI id.
        payer: Vpa,
        /// The account behind it.
        account: Account,
    },
    /// A card of the wallet, by the wallet's card id.
    Card {
        /// The wallet's id of the card.
        card_id: String,
    },
}

impl PayMethod {
    fn name(&self) -> &'static str {
        match self {
            PayMethod::Upi { .. } => "upi",
            PayMethod::Card { .. } => "card",
        }
    }
}

/// The billers' and operators' collection accounts at the aggregator's
/// bank, by collection address: where a UPI payment is credited and a
/// refund debited.
#[derive(Debug, Clone, Default)]
pub struct Collections(HashMap<String, Account>);

impl Collections {
    /// None yet.
    pub fn new() -> Collections {
        Collections::default()
    }

    /// The account behind `vpa`.
    pub fn insert(&mut self, vpa: &str, account: Account) {
        self.0.insert(vpa.to_owned(), account);
    }

    fn get(&self, vpa: &str) -> Result<&Account, BillsError> {
        self.0
            .get(vpa)
            .ok_or_else(|| BillsError::NoCollection(vpa.to_owned()))
    }
}

/// A prepaid recharge as asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RechargeRequest {
    /// The number to recharge.
    pub mobile: String,
    /// The operator; `None`: the one the number's series says.
    pub operator: Option<String>,
    /// The circle; `None`: the one the number's series says.
    pub circle: Option<String>,
    /// The plan.
    pub plan_id: String,
}

/// Bill or recharge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// A biller's bill.
    Bill,
    /// A prepaid recharge.
    Recharge,
}

impl PaymentKind {
    fn as_str(self) -> &'static str {
        match self {
            PaymentKind::Bill => "bill",
            PaymentKind::Recharge => "recharge",
        }
    }
}

/// A bill as fetched and kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchedBill {
    /// The id to pay it by.
    pub fetch_id: String,
    /// The biller.
    pub biller_id: String,
    /// The biller's name.
    pub biller_name: String,
    /// What the biller bills for.
    pub category: Category,
    /// The biller's bill number.
    pub bill_number: String,
    /// The account holder's name as the biller has it.
    pub customer_name: String,
    /// What is due.
    pub amount: Money,
    /// `YYYY-MM-DD`.
    pub bill_date: String,
    /// `YYYY-MM-DD`.
    pub due_date: String,
    /// Whether a payment settled it or is settling it.
    pub paid: bool,
}

/// An unpaid bill to remind of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DueBill {
    /// The bill.
    pub bill: FetchedBill,
    /// Due in days, or overdue.
    pub reminder: Reminder,
}

/// A payment as its receipt shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The payment's id.
    pub payment_id: String,
    /// Bill or recharge.
    pub kind: PaymentKind,
    /// The biller's or operator's id.
    pub payee_id: String,
    /// Its name.
    pub payee_name: String,
    /// What was paid.
    pub amount: Money,
    /// `upi` or `card`.
    pub method: String,
    /// Where it stands.
    pub state: PayState,
    /// The rail's reference: the UPI RRN or the card's approval.
    pub rail_ref: Option<String>,
    /// The rail's refusal code, when declined.
    pub decline_code: Option<String>,
    /// The biller's or operator's reference number, once confirmed.
    pub biller_ref: Option<String>,
    /// Why the money was given back.
    pub refund_reason: Option<String>,
    /// The bill's number (bills).
    pub bill_number: Option<String>,
    /// The bill's due date (bills).
    pub due_date: Option<String>,
    /// The recharged number, all but its last four digits masked.
    pub mobile: Option<String>,
    /// The recharged plan.
    pub plan_id: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// What a payment keeps sealed.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Details {
    payer_vpa: Option<String>,
    payer_ifsc: Option<String>,
    payer_account: Option<String>,
    card_id: Option<String>,
    mobile: Option<String>,
    circle: Option<String>,
    plan_id: Option<String>,
    bill_number: Option<String>,
    due_date: Option<String>,
}

/// What a fetched bill keeps sealed.
#[derive(Debug, Serialize, Deserialize)]
struct FetchSecrets {
    params: BTreeMap<String, String>,
    customer_name: String,
}

/// Who is paid.
struct Payee {
    name: String,
    vpa: String,
    mcc: String,
}

/// The bill service.
pub struct BillService {
    db: Db,
    catalogue: Catalogue,
    recharges: Recharges,
    sealer: Sealer,
    collections: Collections,
    upi: Arc<dyn UpiSwitchPort>,
    payers: Arc<dyn PayerAccounts>,
    cards: Option<Arc<dyn CardPort>>,
    billers: Arc<dyn BillerHost>,
    clock: Arc<dyn Clock>,
    driving: Mutex<HashSet<String>>,
    /// The risk and offers services the payer's UPI app asked, told of a
    /// UPI refund ([`BillService::attach_guard`]).
    guard: OnceLock<Arc<dyn PaymentGuard>>,
}

impl std::fmt::Debug for BillService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BillService").finish_non_exhaustive()
    }
}

/// Everything a [`BillService`] is opened with.
pub struct BillServiceParts {
    /// Its database.
    pub db: Db,
    /// The billers.
    pub catalogue: Catalogue,
    /// The operators and plans.
    pub recharges: Recharges,
    /// The key its sealed columns are sealed under.
    pub data_key: Zeroizing<[u8; 32]>,
    /// The collection accounts.
    pub collections: Collections,
    /// The UPI switch.
    pub upi: Arc<dyn UpiSwitchPort>,
    /// The PSP's record of its users' UPI ids.
    pub payers: Arc<dyn PayerAccounts>,
    /// The card network, where connected.
    pub cards: Option<Arc<dyn CardPort>>,
    /// The billers and operators.
    pub billers: Arc<dyn BillerHost>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// Clears a payment's "being driven" mark when its driver ends.
struct Driving<'a>(&'a Mutex<HashSet<String>>, String);

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        paytap_types::sync::lock(self.0, "bill payments driven").remove(&self.1);
    }
}

fn sha256_hex(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

fn check_key(key: &str) -> Result<(), BillsError> {
    let ok =
        !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic());
    ok.then_some(()).ok_or(BillsError::BadKey)
}

fn mask_mobile(m: &str) -> String {
    let shown = m.len().saturating_sub(MOBILE_SHOWN);
    format!("{}{}", "*".repeat(shown), &m[shown..])
}

fn inr(paise: i64) -> Money {
    Money::new(paise, Currency::INR)
}

fn paise(amount: u64) -> Result<i64, BillsError> {
    i64::try_from(amount).map_err(|_| BillsError::Corrupt("amount beyond i64".into()))
}

impl BillService {
    /// Migrates the service's tables and opens it.
    pub async fn open(parts: BillServiceParts) -> Result<BillService, BillsError> {
        parts.db.migrate(crate::MIGRATIONS).await?;
        Ok(BillService {
            db: parts.db,
            catalogue: parts.catalogue,
            recharges: parts.recharges,
            sealer: Sealer::new(parts.data_key),
            collections: parts.collections,
            upi: parts.upi,
            payers: parts.payers,
            cards: parts.cards,
            billers: parts.billers,
            clock: parts.clock,
            driving: Mutex::new(HashSet::new()),
            guard: OnceLock::new(),
        })
    }

    /// Tells `guard` (the one the payer's UPI app asks about each payment)
    /// of every UPI payment refunded here, so what its offers gave (the
    /// first bill's cashback) is clawed back. A second call is ignored
    /// (logged).
    pub fn attach_guard(&self, guard: Arc<dyn PaymentGuard>) {
        if self.guard.set(guard).is_err() {
            tracing::warn!("a guard was already attached to the bill service");
        }
    }

    /// The billers.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The operators, circles and plans.
    pub fn recharges(&self) -> &Recharges {
        &self.recharges
    }

    /// The account behind the payer's UPI id `vpa`, as the PSP has it.
    pub async fn payer_account(&self, vpa: &Vpa) -> Result<Option<Account>, BillsError> {
        self.payers
            .account_of(vpa)
            .await
            .map_err(BillsError::Payers)
    }

    /// Asks `biller_id` for the bill of the customer `params` name, and keeps
    /// it for `account` (fetching the same bill again answers the same id).
    pub async fn fetch(
        &self,
        payer: Payer<'_>,
        biller_id: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<FetchedBill, BillsError> {
        let account = payer.region_check()?;
        let biller = self.catalogue.get(biller_id)?;
        let params = biller.validate(params)?;
        let now = self.clock.now_millis();
        let bill = self
            .billers
            .fetch(biller, &params, now)
            .await
            .map_err(|e| {
                tracing::info!(biller = biller_id, error = %e, "bill fetch failed");
                match e {
                    HostError::Down => BillsError::BillerDown,
                    HostError::Refused(why) => BillsError::BillerRefused(why),
                }
            })?;
        let fetch_id = format!("BF{}", uuid::Uuid::new_v4().simple());
        let row_key = format!("bills_fetched {account} {biller_id} {}", bill.bill_number);
        let secrets = FetchSecrets {
            params: params
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            customer_name: bill.customer_name.clone(),
        };
        let row = FetchRow {
            fetch_id,
            account_id: account.to_owned(),
            biller_id: biller_id.to_owned(),
            bill_number: bill.bill_number.clone(),
            amount: paise(bill.amount)?,
            bill_date: bill.bill_date.to_string(),
            due_date: bill.due_date.to_string(),
            sealed: self.sealer.seal(&row_key, &secrets)?,
            paid_by: None,
        };
        let stored = store::put_fetch(&self.db, &row, now).await?;
        tracing::info!(biller = biller_id, fetch_id = %stored.fetch_id, "bill fetched");
        self.fetched(&stored)
    }

    fn fetched(&self, row: &FetchRow) -> Result<FetchedBill, BillsError> {
        let biller = self.catalogue.get(&row.biller_id).map_err(|_| {
            BillsError::Corrupt(format!("bill of unknown biller {}", row.biller_id))
        })?;
        let row_key = format!(
            "bills_fetched {} {} {}",
            row.account_id, row.biller_id, row.bill_number
        );
        let secrets: FetchSecrets = self.sealer.open(&row_key, &row.sealed)?;
        Ok(FetchedBill {
            fetch_id: row.fetch_id.clone(),
            biller_id: row.biller_id.clone(),
            biller_name: biller.name.clone(),
            category: biller.category,
            bill_number: row.bill_number.clone(),
            customer_name: secrets.customer_name,
            amount: inr(row.amount),
            bill_date: row.bill_date.clone(),
            due_date: row.due_date.clone(),
            paid: row.paid_by.is_some(),
        })
    }

    /// The unpaid bills of `account` due within the reminder window or
    /// overdue, soonest first.
    pub async fn reminders(&self, account: &str) -> Result<Vec<DueBill>, BillsError> {
        let today = india_date(self.clock.now_millis());
        let mut due = Vec::new();
        for row in store::unpaid(&self.db, account).await? {
            let date = time::Date::parse(
                &row.due_date,
                time::macros::format_description!("[year]-[month]-[day]"),
            )
            .map_err(|_| BillsError::Corrupt(format!("due date {:?}", row.due_date)))?;
            if let Some(r) = reminder(date, today) {
                due.push(DueBill {
                    bill: self.fetched(&row)?,
                    reminder: r,
                });
            }
        }
        Ok(due)
    }

    /// Pays the fetched bill `fetch_id` of `account`, idempotent by `key`:
    /// the same key and request answer the same payment (driven on if it
    /// had not ended), another request under the key is refused.
    pub async fn pay_bill(
        &self,
        payer: Payer<'_>,
        key: &str,
        fetch_id: &str,
        method: PayMethod,
    ) -> Result<Receipt, BillsError> {
        let account = payer.region_check()?;
        check_key(key)?;
        let fetch = store::fetch(&self.db, account, fetch_id)
            .await?
            .ok_or(BillsError::UnknownBill)?;
        let details = Details {
            bill_number: Some(fetch.bill_number.clone()),
            due_date: Some(fetch.due_date.clone()),
            ..Details::default()
        };
        let fingerprint = sha256_hex(&["bill", fetch_id, &method_fingerprint(&method)]);
        let new = NewPayment {
            account,
            key,
            kind: PaymentKind::Bill,
            payee_id: &fetch.biller_id,
            fetch_id: Some(fetch_id),
            amount: fetch.amount,
            method,
            details,
            fingerprint,
        };
        self.start(new).await
    }

    /// Recharges a prepaid number, idempotent by `key` as
    /// [`BillService::pay_bill`] is.
    pub async fn recharge(
        &self,
        payer: Payer<'_>,
        key: &str,
        req: &RechargeRequest,
        method: PayMethod,
    ) -> Result<Receipt, BillsError> {
        let account = payer.region_check()?;
        check_key(key)?;
        let order = self.recharges.order(
            &req.mobile,
            req.operator.as_deref(),
            req.circle.as_deref(),
            &req.plan_id,
        )?;
        let details = Details {
            mobile: Some(order.mobile.clone()),
            circle: Some(order.circle.clone()),
            plan_id: Some(order.plan.id.clone()),
            ..Details::default()
        };
        let fingerprint = sha256_hex(&[
            "recharge",
            &order.mobile,
            &order.operator,
            &order.circle,
            &order.plan.id,
            &method_fingerprint(&method),
        ]);
        let new = NewPayment {
            account,
            key,
            kind: PaymentKind::Recharge,
            payee_id: &order.operator,
            fetch_id: None,
            amount: paise(order.plan.price)?,
            method,
            details,
            fingerprint,
        };
        self.start(new).await
    }

    async fn start(&self, new: NewPayment<'_>) -> Result<Receipt, BillsError> {
        if matches!(new.method, PayMethod::Card { .. }) && self.cards.is_none() {
            return Err(BillsError::CardsUnavailable);
        }
        let payment_id = format!("BP{}", uuid::Uuid::new_v4().simple());
        let mut details = new.details;
        match &new.method {
            PayMethod::Upi { payer, account } => {
                details.payer_vpa = Some(payer.as_str().to_owned());
                details.payer_ifsc = Some(account.ifsc.as_str().to_owned());
                details.payer_account = Some(account.number.as_str().to_owned());
            }
            PayMethod::Card { card_id } => details.card_id = Some(card_id.clone()),
        }
        let now = self.clock.now_millis();
        let row = PaymentRow {
            sealed: self.sealer.seal(&payment_key(&payment_id), &details)?,
            payment_id,
            account_id: new.account.to_owned(),
            fingerprint: new.fingerprint,
            kind: new.kind.as_str().to_owned(),
            payee_id: new.payee_id.to_owned(),
            fetch_id: new.fetch_id.map(str::to_owned),
            amount: new.amount,
            method: new.method.name().to_owned(),
            state: PayState::Started,
            rail_ref: None,
            decline_code: None,
            biller_ref: None,
            refund_reason: None,
            created_at: now,
            updated_at: now,
        };
        let id = match store::insert_payment(&self.db, &row, new.key).await? {
            Inserted::New => {
                tracing::info!(payment_id = %row.payment_id, kind = %row.kind, payee = %row.payee_id, "bill payment started");
                row.payment_id
            }
            Inserted::Existing(old) if old.fingerprint == row.fingerprint => old.payment_id,
            Inserted::Existing(old) => {
                tracing::info!(payment_id = %old.payment_id, "bill payment key reused for another request: refused");
                return Err(BillsError::KeyReused);
            }
            Inserted::BillTaken => {
                tracing::info!(fetch_id = ?row.fetch_id, "bill already paid or being paid: refused");
                return Err(BillsError::AlreadyPaid);
            }
        };
        let row = self.drive(&id).await?;
        self.receipt_of(&row)
    }

    /// One payment of `account`. A payment whose charge is not known yet
    /// (a UPI collect waiting for the payer's approval, a lost answer) is
    /// driven first: the switch is asked again under the same id, so the
    /// receipt read just after the payer approved shows the outcome.
    pub async fn receipt(
        &self,
        account: &str,
        payment_id: &str,
    ) -> Result<Option<Receipt>, BillsError> {
        let row = match store::payment(&self.db, payment_id).await? {
            Some(row) if row.account_id == account => row,
            _ => return Ok(None),
        };
        Ok(Some(self.receipt_of(&self.current(row).await?)?))
    }

    /// The newest payments of `account`, each not final driven first as
    /// [`BillService::receipt`] does.
    pub async fn receipts(&self, account: &str) -> Result<Vec<Receipt>, BillsError> {
        let mut out = Vec::new();
        for row in store::payments(&self.db, account).await? {
            out.push(self.receipt_of(&self.current(row).await?)?);
        }
        Ok(out)
    }

    /// `row` as it stands now: a payment not final is driven first.
    async fn current(&self, row: PaymentRow) -> Result<PaymentRow, BillsError> {
        if row.state.is_final() {
            return Ok(row);
        }
        self.drive(&row.payment_id).await
    }

    /// Drives every payment not final as far as it goes now (at start, and
    /// from a timer: a charge not known, a refund not yet through); how
    /// many ended.
    pub async fn resume(&self) -> Result<usize, BillsError> {
        let mut ended = 0;
        for id in store::open_ids(&self.db).await? {
            if self.drive(&id).await?.state.is_final() {
                ended += 1;
            }
        }
        Ok(ended)
    }

    fn payee(&self, row: &PaymentRow) -> Result<Payee, BillsError> {
        let corrupt =
            || BillsError::Corrupt(format!("payee {} of {}", row.payee_id, row.payment_id));
        if row.kind == PaymentKind::Bill.as_str() {
            let b = self.catalogue.get(&row.payee_id).map_err(|_| corrupt())?;
            return Ok(Payee {
                name: b.name.clone(),
                vpa: b.vpa.clone(),
                mcc: b.mcc.clone(),
            });
        }
        let op = self
            .recharges
            .operator(&row.payee_id)
            .map_err(|_| corrupt())?;
        Ok(Payee {
            name: op.name.clone(),
            vpa: op.vpa.clone(),
            mcc: op.mcc.clone(),
        })
    }

    fn receipt_of(&self, row: &PaymentRow) -> Result<Receipt, BillsError> {
        let d: Details = self
            .sealer
            .open(&payment_key(&row.payment_id), &row.sealed)?;
        let kind = match row.kind.as_str() {
            "bill" => PaymentKind::Bill,
            "recharge" => PaymentKind::Recharge,
            other => return Err(BillsError::Corrupt(format!("payment kind {other:?}"))),
        };
        Ok(Receipt {
            payment_id: row.payment_id.clone(),
            kind,
            payee_id: row.payee_id.clone(),
            payee_name: self.payee(row)?.name,
            amount: inr(row.amount),
            method: row.method.clone(),
            state: row.state,
            rail_ref: row.rail_ref.clone(),
            decline_code: row.decline_code.clone(),
            biller_ref: row.biller_ref.clone(),
            refund_reason: row.refund_reason.clone(),
            bill_number: d.bill_number,
            due_date: d.due_date,
            mobile: d.mobile.as_deref().map(mask_mobile),
            plan_id: d.plan_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }

    /// Takes payment `id`'s steps until it ends or waits on an answer not
    /// known yet. A payment already being driven here is answered as it
    /// stands.
    async fn drive(&self, id: &str) -> Result<PaymentRow, BillsError> {
        let load = || async {
            store::payment(&self.db, id)
                .await?
                .ok_or_else(|| BillsError::Corrupt(format!("payment {id} vanished")))
        };
        let newly =
            paytap_types::sync::lock(&self.driving, "bill payments driven").insert(id.to_owned());
        if !newly {
            return load().await;
        }
        let _driving = Driving(&self.driving, id.to_owned());
        let mut row = load().await?;
        while let Some(step) = row.state.step() {
            let (outcome, facts) = self.take(step, &row).await?;
            let next = row.state.after(outcome)?;
            if next == row.state {
                break;
            }
            let now = self.clock.now_millis();
            if store::advance(&self.db, id, row.state, next, &facts, now).await? {
                tracing::info!(
                    payment_id = id,
                    from = row.state.as_str(),
                    to = next.as_str(),
                    "bill payment moved"
                );
            }
            row = load().await?;
        }
        Ok(row)
    }

    async fn take(
        &self,
        step: Step,
        row: &PaymentRow,
    ) -> Result<(StepOutcome, StepFacts), BillsError> {
        match step {
            Step::Charge => self.charge(row).await,
            Step::Fulfil => Ok(self.fulfil(row).await),
            Step::Refund => self.refund(row).await,
        }
    }

    async fn charge(&self, row: &PaymentRow) -> Result<(StepOutcome, StepFacts), BillsError> {
        let answer = match row.method.as_str() {
            "upi" => {
                let leg = self.upi_leg(row)?;
                let note = collect_note(row);
                let req = upi::charge(&leg, &note, self.clock.now_millis()).map_err(|e| {
                    BillsError::Corrupt(format!("UPI charge of {}: {e}", row.payment_id))
                })?;
                self.send_upi(req).await
            }
            _ => match &self.cards {
                Some(cards) => cards.charge(&self.card_charge(row)?).await,
                None => ChargeAnswer::Unknown,
            },
        };
        Ok(match answer {
            ChargeAnswer::Charged(r) => (
                StepOutcome::Charged,
                StepFacts {
                    rail_ref: Some(r),
                    ..StepFacts::default()
                },
            ),
            ChargeAnswer::Declined(code) => {
                tracing::info!(payment_id = %row.payment_id, code = %code, "bill payment declined");
                (
                    StepOutcome::ChargeDeclined,
                    StepFacts {
                        decline_code: Some(code),
                        ..StepFacts::default()
                    },
                )
            }
            ChargeAnswer::Unknown => (StepOutcome::ChargeUnknown, StepFacts::default()),
        })
    }

    async fn send_upi(&self, req: paytap_upi::xml::ReqPay) -> ChargeAnswer {
        let id = req.txn.id.clone();
        match self.upi.pay(req).await {
            Ok(resp) => upi::answer(resp),
            Err(e) => {
                tracing::warn!(txn_id = %id, error = %e, "UPI switch not reached; asked again later");
                ChargeAnswer::Unknown
            }
        }
    }

    async fn fulfil(&self, row: &PaymentRow) -> (StepOutcome, StepFacts) {
        let amount = u64::try_from(row.amount).unwrap_or_default();
        match self
            .billers
            .confirm(&row.payee_id, &row.payment_id, amount)
            .await
        {
            Ok(reference) => (
                StepOutcome::Fulfilled,
                StepFacts {
                    biller_ref: Some(reference),
                    ..StepFacts::default()
                },
            ),
            Err(e) => {
                tracing::warn!(payment_id = %row.payment_id, payee = %row.payee_id, error = %e, "biller did not confirm: refunding");
                (
                    StepOutcome::FulfilFailed,
                    StepFacts {
                        refund_reason: Some(e.to_string()),
                        ..StepFacts::default()
                    },
                )
            }
        }
    }

    async fn refund(&self, row: &PaymentRow) -> Result<(StepOutcome, StepFacts), BillsError> {
        let done = match row.method.as_str() {
            "upi" => {
                let leg = self.upi_leg(row)?;
                let req = upi::refund(&leg, self.clock.now_millis()).map_err(|e| {
                    BillsError::Corrupt(format!("UPI refund of {}: {e}", row.payment_id))
                })?;
                matches!(self.send_upi(req).await, ChargeAnswer::Charged(_))
            }
            _ => match &self.cards {
                Some(cards) => cards.reverse(&self.card_charge(row)?).await,
                None => false,
            },
        };
        if !done {
            tracing::warn!(payment_id = %row.payment_id, "bill refund not through yet; tried again later");
        } else if row.method == "upi"
            && let Some(g) = self.guard.get()
        {
            // Before the refunded state is stored: a crash in between
            // refunds again (the switch answers the same) and tells the
            // guard again, which changes nothing the second time.
            let channel = if row.kind == "recharge" {
                Channel::Upi
            } else {
                Channel::Bills
            };
            let facts = PaymentFacts::new(
                paytap_types::upi_payment_id(&row.payment_id),
                channel,
                Money::new(row.amount, Currency::INR),
                self.clock.now_millis(),
            );
            g.finish(&facts, GuardOutcome::Refunded).await;
        }
        let outcome = if done {
            StepOutcome::Refunded
        } else {
            StepOutcome::RefundPending
        };
        Ok((outcome, StepFacts::default()))
    }

    fn upi_leg(&self, row: &PaymentRow) -> Result<UpiLeg, BillsError> {
        let d: Details = self
            .sealer
            .open(&payment_key(&row.payment_id), &row.sealed)?;
        let corrupt = |what: &str| BillsError::Corrupt(format!("{what} of {}", row.payment_id));
        let payer =
            Vpa::new(d.payer_vpa.as_deref().unwrap_or_default()).map_err(|_| corrupt("payer"))?;
        let account = Account {
            ifsc: Ifsc::new(d.payer_ifsc.as_deref().unwrap_or_default())
                .map_err(|_| corrupt("IFSC"))?,
            number: AccountNumber::new(d.payer_account.as_deref().unwrap_or_default())
                .map_err(|_| corrupt("account"))?,
            kind: Some("SAVINGS".to_owned()),
        };
        let payee = self.payee(row)?;
        let collection = self.collections.get(&payee.vpa)?.clone();
        Ok(UpiLeg {
            payment_id: row.payment_id.clone(),
            payer: (payer, account),
            payee: (
                Vpa::new(&payee.vpa).map_err(|_| corrupt("payee"))?,
                payee.name,
                Mcc::new(&payee.mcc).map_err(|_| corrupt("MCC"))?,
                collection,
            ),
            amount: u64::try_from(row.amount).map_err(|_| corrupt("amount"))?,
        })
    }

    fn card_charge(&self, row: &PaymentRow) -> Result<CardCharge, BillsError> {
        let d: Details = self
            .sealer
            .open(&payment_key(&row.payment_id), &row.sealed)?;
        let payee = self.payee(row)?;
        Ok(CardCharge {
            payment_id: row.payment_id.clone(),
            account_id: row.account_id.clone(),
            card_id: d.card_id.unwrap_or_default(),
            merchant_id: row.payee_id.clone(),
            merchant_name: payee.name,
            mcc: payee.mcc,
            amount: inr(row.amount),
        })
    }
}

/// A payment about to be recorded.
struct NewPayment<'a> {
    account: &'a str,
    key: &'a str,
    kind: PaymentKind,
    payee_id: &'a str,
    fetch_id: Option<&'a str>,
    amount: i64,
    method: PayMethod,
    details: Details,
    fingerprint: String,
}

/// The row a payment's sealed details are bound to.
/// What the payer's UPI app shows with the collect request: the payee's
/// id and what is paid (`BESCOM bill`, `JIO recharge`), within the
/// switch's note length.
fn collect_note(row: &PaymentRow) -> String {
    let note = format!("{} {}", row.payee_id, row.kind);
    note.chars().take(paytap_upi::xml::MAX_NOTE_CHARS).collect()
}

fn payment_key(payment_id: &str) -> String {
    format!("bills_payments {payment_id}")
}

fn method_fingerprint(m: &PayMethod) -> String {
    match m {
        PayMethod::Upi { payer, account } => format!(
            "upi:{}:{}:{}",
            payer.as_str(),
            account.ifsc.as_str(),
            account.number.as_str()
        ),
        PayMethod::Card { card_id } => format!("card:{card_id}"),
    }
}
