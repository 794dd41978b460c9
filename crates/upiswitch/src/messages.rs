//! The messages the switch writes: its legs to the banks, its answers to the
//! PSPs, and the ids it assigns (message ids and RRNs).

use crate::state::{State, Transaction};
use crate::switch::{fingerprint, request_amount};
use paytap_upi::xml::{
    Account, Amount, ErrCode, Head, Message, MsgId, OrgId, ReqChkTxn, ReqPay, Resp, RespChkTxn,
    RespPay, ResultCode, Rrn, Timestamp, Txn, TxnType,
};

/// RRNs per day the numbering gives before repeating: 10⁹, far above UPI's
/// busiest day (under 10⁹ transactions in all of India).
const RRN_SEQ_MODULUS: u64 = 1_000_000_000;
/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// The switch's id sources.
#[derive(Debug)]
pub(crate) struct Ids {
    org_id: OrgId,
    pub rrn_seq: u64,
    msg_seq: u64,
}

impl Ids {
    pub fn new(org_id: OrgId, rrn_seq: u64) -> Ids {
        Ids {
            org_id,
            rrn_seq,
            msg_seq: 0,
        }
    }

    /// An RRN: the day number (mod 1000, 3 digits) and a 9-digit sequence.
    fn rrn(&mut self, now: i64) -> Rrn {
        let day = now.div_euclid(DAY_MS).rem_euclid(1000);
        let seq = self.rrn_seq % RRN_SEQ_MODULUS;
        self.rrn_seq += 1;
        Rrn::new(&format!("{day:03}{seq:09}")).expect("3 + 9 digits")
    }

    /// A `Head` for a new message: `SW`, the instant, a sequence number.
    fn head(&mut self, now: i64) -> Head {
        self.msg_seq += 1;
        let msg_id = format!("SW{:013}{:010}", now.max(0), self.msg_seq % 10_000_000_000);
        Head {
            ver: "2.0".to_owned(),
            ts: Timestamp::from_unix_millis(now),
            org_id: self.org_id.clone(),
            msg_id: MsgId::new(&msg_id).expect("letters and digits, 25 of them"),
        }
    }
}

/// A transaction for a new request, before the switch's rules are applied.
pub(crate) fn new_transaction(
    ids: &mut Ids,
    now: i64,
    req: ReqPay,
    payee_account: Option<Account>,
) -> Transaction {
    let rrn = ids.rrn(now);
    let fingerprint = fingerprint(&req);
    let amount = request_amount(&req).unwrap_or(Amount { paise: 0 });
    let ReqPay {
        head,
        mut txn,
        payer,
        payees,
    } = req;
    txn.cust_ref = Some(rrn.clone());
    let payee = payees.into_iter().next().unwrap_or_else(|| payer.clone());
    Transaction {
        txn,
        rrn,
        amount,
        payer,
        payee,
        payee_account,
        requester: head.org_id,
        req_msg_id: head.msg_id,
        refunded: 0,
        refund_reserved: false,
        state: State::Debiting,
        answered: None,
        epoch: 0,
        fingerprint,
    }
}

/// The `RespPay` answering `req_msg_id` about `t`.
pub(crate) fn resp_pay(
    ids: &mut Ids,
    now: i64,
    t: &Transaction,
    req_msg_id: &MsgId,
    result: ResultCode,
    code: Option<ErrCode>,
) -> Message {
    let mut resp = Resp::new(req_msg_id.clone(), result);
    resp.err_code = code;
    Message::RespPay(RespPay {
        head: ids.head(now),
        txn: t.txn.clone(),
        resp,
    })
}

/// A DEBIT, CREDIT or REVERSAL of `t` (`subType` the transaction's kind):
/// the payer's PIN goes to the remitter bank with the debit only; the payee
/// carries the account credited.
pub(crate) fn leg(ids: &mut Ids, now: i64, t: &Transaction, kind: TxnType) -> Message {
    let mut txn = t.txn.clone();
    txn.kind = kind;
    // What the leg is for, set by the switch whatever the request said: the
    // remitter bank asks for the payer's PIN on a PAY or COLLECT debit, and
    // debits a merchant's REFUND without one.
    txn.sub_type = Some(t.kind());
    txn.expire_after_minutes = None;
    if kind == TxnType::Reversal {
        txn.org_txn_id = Some(t.txn.id.clone());
        txn.org_rrn = Some(t.rrn.clone());
    }
    let mut payer = t.payer.clone();
    if kind != TxnType::Debit {
        payer.creds.clear();
    }
    payer.amount = Some(t.amount);
    let mut payee = t.payee.clone();
    payee.account = t.payee_account.clone();
    payee.amount = Some(t.amount);
    Message::ReqPay(ReqPay {
        head: ids.head(now),
        txn,
        payer,
        payees: vec![payee],
    })
}

/// The collect request, forwarded to the payer's PSP for approval.
pub(crate) fn collect(ids: &mut Ids, now: i64, t: &Transaction) -> Message {
    let mut payee = t.payee.clone();
    payee.account = None;
    Message::ReqPay(ReqPay {
        head: ids.head(now),
        txn: t.txn.clone(),
        payer: t.payer.clone(),
        payees: vec![payee],
    })
}

/// The status check of `t`'s credit, to the beneficiary bank.
pub(crate) fn req_chk_txn(ids: &mut Ids, now: i64, t: &Transaction) -> Message {
    let mut txn = Txn::new(
        t.txn.id.clone(),
        Timestamp::from_unix_millis(now),
        TxnType::ChkTxn,
    );
    txn.sub_type = Some(TxnType::Credit);
    txn.org_txn_id = Some(t.txn.id.clone());
    txn.org_rrn = Some(t.rrn.clone());
    txn.cust_ref = Some(t.rrn.clone());
    Message::ReqChkTxn(ReqChkTxn {
        head: ids.head(now),
        txn,
    })
}

/// The answer to a PSP's status check.
pub(crate) fn resp_chk_txn(
    ids: &mut Ids,
    now: i64,
    req: &ReqChkTxn,
    result: ResultCode,
    code: Option<ErrCode>,
) -> Message {
    let mut resp = Resp::new(req.head.msg_id.clone(), result);
    resp.err_code = code;
    Message::RespChkTxn(RespChkTxn {
        head: ids.head(now),
        txn: req.txn.clone(),
        resp,
    })
}
