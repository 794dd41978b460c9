//! How the switch reaches the banks: [`Banks`], and [`IssuerBanks`], the
//! emulated issuers' UPI side answering in-process.

use paytap_issuer::{LegResult, UpiBanks};
use paytap_upi::xml::{
    ErrCode, Head, MsgId, OrgId, ReqChkTxn, ReqPay, Resp, RespChkTxn, RespPay, ResultCode,
    Timestamp, TxnType,
};
use std::future::Future;
use std::sync::Arc;

/// The banks, by the four letters of their IFSCs. `None` is no answer (a
/// timeout, a lost connection): the switch's timers deal with it.
pub trait Banks: Send + Sync + 'static {
    /// A DEBIT, CREDIT or REVERSAL to `bank`.
    fn leg(&self, bank: &str, req: &ReqPay) -> impl Future<Output = Option<RespPay>> + Send;
    /// A status check of a credit, to `bank`.
    fn check(&self, bank: &str, req: &ReqChkTxn)
    -> impl Future<Output = Option<RespChkTxn>> + Send;
}

/// The emulated issuers' UPI side, answering in-process.
#[derive(Debug, Clone)]
pub struct IssuerBanks {
    banks: Arc<UpiBanks>,
}

impl IssuerBanks {
    /// Over `banks`.
    pub fn new(banks: Arc<UpiBanks>) -> IssuerBanks {
        IssuerBanks { banks }
    }

    async fn apply(&self, req: &ReqPay) -> Option<LegResult> {
        let id = req.txn.id.as_str();
        let paise = i64::try_from(req.payer.amount?.paise).ok()?;
        let done = match req.txn.kind {
            // A merchant's refund is the merchant's own instruction: no PIN.
            TxnType::Debit if req.txn.sub_type == Some(TxnType::Refund) => {
                let a = req.payer.account.as_ref()?;
                let (ifsc, number) = (a.ifsc.as_str(), a.number.as_str());
                self.banks.debit(id, ifsc, number, paise).await
            }
            // A PAY or COLLECT debit: only with the payer's PIN block, which
            // the bank opens and checks (a missing or wrong one is refused,
            // a wrong one counts towards the day's lockout). Every PAY of
            // the wallet's UPI app carries one; a bill is charged by a
            // collect the payer approves with it.
            TxnType::Debit => {
                let a = req.payer.account.as_ref()?;
                let (ifsc, number) = (a.ifsc.as_str(), a.number.as_str());
                let block = pin_block(req);
                if block.is_none() {
                    tracing::info!(txn_id = id, "UPI debit without a PIN block: refused");
                }
                let now = req.head.ts.unix_millis();
                self.banks
                    .debit_with_pin(id, ifsc, number, paise, block.as_deref(), now)
                    .await
            }
            TxnType::Credit => {
                let a = req.payees.first()?.account.as_ref()?;
                let (ifsc, number) = (a.ifsc.as_str(), a.number.as_str());
                self.banks.credit(id, ifsc, number, paise).await
            }
            TxnType::Reversal => {
                let a = req.payer.account.as_ref()?;
                self.banks.reverse(id, a.ifsc.as_str()).await
            }
            _ => return Some(LegResult::Failure(paytap_issuer::upi::codes::BAD_LEG)),
        };
        match done {
            Ok(r) => Some(r),
            Err(e) => {
                // The bank's store failed: no answer, the switch retries or reverses.
                tracing::warn!(txn_id = id, error = %e, "UPI leg failed at the bank");
                None
            }
        }
    }
}

impl Banks for IssuerBanks {
    async fn leg(&self, bank: &str, req: &ReqPay) -> Option<RespPay> {
        let result = self.apply(req).await?;
        Some(RespPay {
            head: bank_head(bank, req.head.ts.unix_millis(), &req.head.msg_id)?,
            txn: req.txn.clone(),
            resp: resp(&req.head.msg_id, result),
        })
    }

    async fn check(&self, bank: &str, req: &ReqChkTxn) -> Option<RespChkTxn> {
        let id = req.txn.org_txn_id.as_ref().unwrap_or(&req.txn.id);
        let result = match self.banks.check_credit(id.as_str()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(txn_id = %id, error = %e, "UPI status check failed at the bank");
                return None;
            }
        };
        Some(RespChkTxn {
            head: bank_head(bank, req.head.ts.unix_millis(), &req.head.msg_id)?,
            txn: req.txn.clone(),
            resp: resp(&req.head.msg_id, result),
        })
    }
}

/// The payer's PIN block (`Cred` of type `PIN`, subtype `MPIN`), if one is
/// there and is Base64.
fn pin_block(req: &ReqPay) -> Option<Vec<u8>> {
    use base64::Engine;
    let cred = req
        .payer
        .creds
        .iter()
        .find(|c| c.kind == "PIN" && c.sub_type == "MPIN")?;
    base64::engine::general_purpose::STANDARD
        .decode(&cred.data.value)
        .ok()
}

/// The bank's `Head`: its four letters as the org id, `B` and the request's
/// message id as its own.
fn bank_head(bank: &str, ts: i64, req_msg_id: &MsgId) -> Option<Head> {
    let tail = req_msg_id.as_str();
    let msg_id = format!("B{}", &tail[tail.len().saturating_sub(34)..]);
    Some(Head {
        ver: "2.0".to_owned(),
        ts: Timestamp::from_unix_millis(ts),
        org_id: OrgId::new(bank).ok()?,
        msg_id: MsgId::new(&msg_id).ok()?,
    })
}

fn resp(req_msg_id: &MsgId, result: LegResult) -> Resp {
    match result {
        LegResult::Success => Resp::new(req_msg_id.clone(), ResultCode::Success),
        LegResult::Failure(code) => {
            let mut r = Resp::new(req_msg_id.clone(), ResultCode::Failure);
            r.err_code = ErrCode::new(code).ok();
            r
        }
    }
}
