//! The UPI messages of a bill payment: the payer's P2M ReqPay to the
//! biller's collection address at the aggregator (PayU), and the
//! aggregator's REFUND of it. Each is built again from the stored payment
//! on a retry: the same transaction id, payer, payee and amount, which the
//! switch answers with the outcome it already has.

use paytap_upi::Vpa;
use paytap_upi::xml::{
    Account, Amount, Head, Mcc, MsgId, OrgId, Party, PartyType, ReqPay, RespPay, ResultCode,
    Timestamp, Txn, TxnId, TxnType, XmlError,
};

use crate::ports::ChargeAnswer;

/// The org id of paytap as the payer's PSP.
pub const PSP_ORG: &str = "PAYTAP";
/// The org id of the merchant aggregator the billers collect through.
pub const AGGREGATOR_ORG: &str = "PAYU";
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

/// The payer's P2M payment of the bill.
pub fn charge(leg: &UpiLeg, now: i64) -> Result<ReqPay, XmlError> {
    let id = &leg.payment_id;
    Ok(ReqPay {
        head: head(PSP_ORG, &format!("MP{}", &id[2..]), now)?,
        txn: Txn::new(
            TxnId::new(id)?,
            Timestamp::from_unix_millis(now),
            TxnType::Pay,
        ),
        payer: person(&leg.payer.0, &leg.payer.1, leg.amount),
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
