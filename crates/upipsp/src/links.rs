//! How the PSP reaches the banks and the switch: [`UpiLinks`], and
//! [`InProcess`], the emulated banks and the switch service in this process.

use paytap_issuer::{LegResult, PinKey, PinOtp, SetPin, UpiBanks};
use paytap_upi::Vpa;
use paytap_upi::xml::{Party, ReqChkTxn, ReqPay, RespChkTxn, RespPay, ResultCode, TxnId};
use paytap_upid::{Banks, CollectRequest, DirectoryEntry, UpiSwitch};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future, for [`UpiLinks`] as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The bank or the switch failed or could not be reached.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LinkError(pub String);

fn link(e: impl std::fmt::Display) -> LinkError {
    LinkError(e.to_string())
}

/// A bank account a mobile number holds, as the bank tells the PSP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAccount {
    /// The bank's institution id.
    pub bank_id: String,
    /// The IFSC.
    pub ifsc: String,
    /// The account number.
    pub account_number: String,
    /// The holder's name.
    pub holder: String,
}

/// What a collect decision came to: `(result, error code)` once known.
pub type CollectAnswer = Option<(ResultCode, Option<String>)>;

/// The banks and the switch, as the PSP uses them.
pub trait UpiLinks: Send + Sync {
    /// The accounts held with `mobile` at any bank.
    fn accounts_by_mobile<'a>(
        &'a self,
        mobile: &'a str,
    ) -> BoxFuture<'a, Result<Vec<BankAccount>, LinkError>>;
    /// The banks' PIN keys (ListKeys).
    fn list_keys(&self) -> Vec<PinKey>;
    /// Asks the bank to text the holder a PIN-setting OTP.
    fn request_pin_otp<'a>(
        &'a self,
        ifsc: &'a str,
        account_number: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<PinOtp, LinkError>>;
    /// Sets a UPI PIN at the bank.
    fn set_pin<'a>(
        &'a self,
        req: &'a SetPin,
        now: i64,
    ) -> BoxFuture<'a, Result<LegResult, LinkError>>;
    /// Writes an address to the switch's directory.
    fn register<'a>(&'a self, entry: &'a DirectoryEntry) -> BoxFuture<'a, Result<(), LinkError>>;
    /// Validates an address (ReqValAdd): its directory entry, if any.
    fn resolve<'a>(
        &'a self,
        vpa: &'a Vpa,
    ) -> BoxFuture<'a, Result<Option<DirectoryEntry>, LinkError>>;
    /// A ReqPay: the answer, or `None` while the payment is in flight.
    fn pay(&self, req: ReqPay) -> BoxFuture<'_, Result<Option<RespPay>, LinkError>>;
    /// A ReqChkTxn.
    fn status(&self, req: ReqChkTxn) -> BoxFuture<'_, Result<Option<RespChkTxn>, LinkError>>;
    /// The merchants' collect requests waiting for any of `payers`.
    fn collects_for<'a>(&'a self, payers: &'a [Vpa]) -> BoxFuture<'a, Vec<CollectRequest>>;
    /// Approves a collect request with the payer's account and PIN block.
    fn approve_collect<'a>(
        &'a self,
        txn_id: &'a TxnId,
        payer: Party,
    ) -> BoxFuture<'a, Result<CollectAnswer, LinkError>>;
    /// Declines a collect request.
    fn decline_collect<'a>(
        &'a self,
        txn_id: &'a TxnId,
    ) -> BoxFuture<'a, Result<CollectAnswer, LinkError>>;
}

/// The emulated banks and the switch service, called in-process.
pub struct InProcess<B: Banks> {
    banks: Arc<UpiBanks>,
    switch: Arc<UpiSwitch<B>>,
}

impl<B: Banks> InProcess<B> {
    /// Over `banks` and `switch`.
    pub fn new(banks: Arc<UpiBanks>, switch: Arc<UpiSwitch<B>>) -> InProcess<B> {
        InProcess { banks, switch }
    }
}

impl<B: Banks> UpiLinks for InProcess<B> {
    fn accounts_by_mobile<'a>(
        &'a self,
        mobile: &'a str,
    ) -> BoxFuture<'a, Result<Vec<BankAccount>, LinkError>> {
        Box::pin(async move {
            let found = self.banks.accounts_by_mobile(mobile).await.map_err(link)?;
            Ok(found
                .into_iter()
                .map(|a| BankAccount {
                    bank_id: a.bank_id,
                    ifsc: a.ifsc,
                    account_number: a.account_number,
                    holder: a.holder,
                })
                .collect())
        })
    }

    fn list_keys(&self) -> Vec<PinKey> {
        self.banks.list_keys()
    }

    fn request_pin_otp<'a>(
        &'a self,
        ifsc: &'a str,
        account_number: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<PinOtp, LinkError>> {
        Box::pin(async move {
            self.banks
                .request_pin_otp(ifsc, account_number, now)
                .await
                .map_err(link)
        })
    }

    fn set_pin<'a>(
        &'a self,
        req: &'a SetPin,
        now: i64,
    ) -> BoxFuture<'a, Result<LegResult, LinkError>> {
        Box::pin(async move { self.banks.set_pin(req, now).await.map_err(link) })
    }

    fn register<'a>(&'a self, entry: &'a DirectoryEntry) -> BoxFuture<'a, Result<(), LinkError>> {
        Box::pin(async move { self.switch.register(entry).await.map_err(link) })
    }

    fn resolve<'a>(
        &'a self,
        vpa: &'a Vpa,
    ) -> BoxFuture<'a, Result<Option<DirectoryEntry>, LinkError>> {
        Box::pin(async move { self.switch.resolve(vpa).await.map_err(link) })
    }

    fn pay(&self, req: ReqPay) -> BoxFuture<'_, Result<Option<RespPay>, LinkError>> {
        Box::pin(async move { self.switch.pay(req).await.map_err(link) })
    }

    fn status(&self, req: ReqChkTxn) -> BoxFuture<'_, Result<Option<RespChkTxn>, LinkError>> {
        Box::pin(async move { self.switch.status(req).await.map_err(link) })
    }

    fn collects_for<'a>(&'a self, payers: &'a [Vpa]) -> BoxFuture<'a, Vec<CollectRequest>> {
        Box::pin(self.switch.collects_for(payers))
    }

    fn approve_collect<'a>(
        &'a self,
        txn_id: &'a TxnId,
        payer: Party,
    ) -> BoxFuture<'a, Result<CollectAnswer, LinkError>> {
        Box::pin(async move {
            self.switch
                .approve_collect(txn_id, payer)
                .await
                .map_err(link)
        })
    }

    fn decline_collect<'a>(
        &'a self,
        txn_id: &'a TxnId,
    ) -> BoxFuture<'a, Result<CollectAnswer, LinkError>> {
        Box::pin(async move { self.switch.decline_collect(txn_id).await.map_err(link) })
    }
}
