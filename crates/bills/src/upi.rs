//! The UPI messages of a bill payment: the aggregator's (PayU's) collect
//! request to the payer's UPI ID for the biller, and the aggregator's
//! REFUND of it. Each is built again from the stored payment on a retry:
//! the same transaction id, payer, payee and amount, which the switch
//! answers with the outcome it already has (none while the collect waits
//! for its payer).
//!
//! A bill is charged by a collect request, as a biller's checkout does,
//! never by a PAY on the payer's behalf: only the payer's own UPI app,
//! with the payer's UPI PIN sealed to the bank's key for this transaction
//! id, can approve the debit. The bill service never sees the PIN, and a
//! UPI ID typed by mistake (or someone else's) moves nothing unless its
//! owner approves.

use paytap_upi::Vpa;
use paytap_upi::xml::{
    Account, Amount, Head, Mcc, MsgId, OrgId, Party, PartyType, ReqPay, RespPay, ResultCode,
    Timestamp, Txn, TxnId, TxnType, XmlError,
};

use crate::ports::ChargeAnswer;

/// The org id of the merchant aggregator the billers collect through.
pub const AGGREGATOR_ORG: &str = "PAYU";
/// Minutes the payer has to approve a bill's collect request in their UPI
/// app before the switch declines it (`U69`): long enough to open the app,
/// short enough that a bill is not held as "being paid" for half an hour.
pub const COLLECT_EXPIRY_MINUTES: u32 = 10;
/// The switch's code for a transaction id reused with another request: our
/// own requests never do, so it is a bug and never read as a refusal.
const DUPLICATE_TXN_ID: &str = "DT";

/// The parties of one payment.
#[derive(Debug, Clone)]
pub struct UpiLeg {
    /// The payment's id (`BP` and 32 hex digits), the charge's `Txn@id`.
    pub payment_id: String,
    /// The payer's UPI id and account.
    pub payer: (Vpa, Account),
    /// The biller's collection address, name, category code and account.
    pub payee: (Vpa, String, Mcc, Account),
    /// Paise.
    pub amount: u64,
}

fn head(org: &str, msg_id: &str, now: i64) -> Result<Head, XmlError> {
    Ok(Head {
        ver: "2.0".to_owned(),
        ts: Timestamp::from_unix_millis(now),
        org_id: OrgId::new(org)?,
        msg_id: MsgId::new(msg_id)?,
    })
}

/// The id of the refund of payment `payment_id`: `BR` for `BP`.
pub fn refund_id(payment_id: &str) -> String {
    format!("BR{}", &payment_id[2..])
}

fn person(vpa: &Vpa, account: &Account, amount: u64) -> Party {
    let mut p = Party::person(vpa.clone());
    p.account = Some(account.clone());
    p.amount = Some(Amount { paise: amount });
    p
}

fn merchant(leg: &UpiLeg) -> Party {
    let (vpa, name, mcc, account) = &leg.payee;
    let mut p = person(vpa, account, leg.amount);
    p.name = Some(name.clone());
    p.kind = PartyType::Entity;
    p.code = mcc.clone();
    p
}

/// The aggregator's collect request for the bill, to the payer's UPI ID:
/// the payer's account and PIN come from the payer's UPI app when it
/// approves, so the request names neither.
pub fn charge(leg: &UpiLeg, note: &str, now: i64) -> Result<ReqPay, XmlError> {
    let id = &leg.payment_id;
    let mut txn = Txn::new(
        TxnId::new(id)?,
        Timestamp::from_unix_millis(now),
        TxnType::Collect,
    );
    txn.note = Some(note.to_owned());
    txn.ref_id = Some(id.clone());
    txn.expire_after_minutes = Some(COLLECT_EXPIRY_MINUTES);
    let mut payer = Party::person(leg.payer.0.clone());
    payer.amount = Some(Amount { paise: leg.amount });
    Ok(ReqPay {
        head: head(AGGREGATOR_ORG, &format!("MC{}", &id[2..]), now)?,
        txn,
        payer,
        payees: vec![merchant(leg)],
    })
}

/// The aggregator's refund of the whole payment to the payer.
pub fn refund(leg: &UpiLeg, now: i64) -> Result<ReqPay, XmlError> {
    let id = refund_id(&leg.payment_id);
    let mut txn = Txn::new(
        TxnId::new(&id)?,
        Timestamp::from_unix_millis(now),
        TxnType::Refund,
    );
    txn.org_txn_id = Some(TxnId::new(&leg.payment_id)?);
    Ok(ReqPay {
        head: head(AGGREGATOR_ORG, &format!("MR{}", &id[2..]), now)?,
        txn,
        payer: merchant(leg),
        payees: vec![person(&leg.payer.0, &leg.payer.1, leg.amount)],
    })
}

/// What the switch's answer means for the payment.
pub fn answer(resp: Option<RespPay>) -> ChargeAnswer {
    let Some(r) = resp else {
        return ChargeAnswer::Unknown;
    };
    match r.resp.result {
        ResultCode::Success => {
            let rrn = r.txn.cust_ref.as_ref().map(|c| c.as_str().to_owned());
            ChargeAnswer::Charged(rrn.unwrap_or_else(|| r.txn.id.as_str().to_owned()))
        }
        ResultCode::Deemed => ChargeAnswer::Unknown,
        ResultCode::Failure => {
            let code = r.resp.err_code.map(|c| c.as_str().to_owned());
            match code.as_deref() {
                Some(DUPLICATE_TXN_ID) => {
                    tracing::error!(txn_id = %r.txn.id, "the switch saw another request under a bill payment's id");
                    ChargeAnswer::Unknown
                }
                _ => ChargeAnswer::Declined(code.unwrap_or_else(|| "U".to_owned())),
            }
        }
    }
}
