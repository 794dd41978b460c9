//! One transaction at the switch: where it is, and how it ended.

use paytap_upi::Vpa;
use paytap_upi::xml::{
    Account, Amount, ErrCode, MsgId, OrgId, Party, ResultCode, Rrn, Txn, TxnId, TxnType,
};

/// Where a transaction is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// A collect request is with the payer's PSP until `expires_at` (Unix ms).
    AwaitingPayer {
        /// When it expires.
        expires_at: i64,
    },
    /// The DEBIT is with the remitter bank.
    Debiting,
    /// The debit is done; the CREDIT is with the beneficiary bank.
    Crediting,
    /// The debit is done and the credit went unanswered: the transaction is
    /// DEEMED and the beneficiary bank is asked (ReqChkTxn) until it knows.
    Deemed,
    /// The debit is being undone (REVERSAL, repeated until answered).
    Reversing {
        /// Why.
        code: ErrCode,
    },
    /// Final.
    Done(Outcome),
}

impl State {
    /// A name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            State::AwaitingPayer { .. } => "awaiting payer",
            State::Debiting => "debiting",
            State::Crediting => "crediting",
            State::Deemed => "deemed",
            State::Reversing { .. } => "reversing",
            State::Done(_) => "done",
        }
    }
}

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Debited and credited.
    Success,
    /// Nothing moved: refused by the switch, declined by the remitter bank or
    /// the payer, or expired.
    Failed(ErrCode),
    /// Debited, then reversed: nothing moved in the end.
    Reversed(ErrCode),
}

impl Outcome {
    /// `Resp@result` and `Resp@errCode` for this outcome.
    pub fn result(&self) -> (ResultCode, Option<ErrCode>) {
        match self {
            Outcome::Success => (ResultCode::Success, None),
            Outcome::Failed(c) | Outcome::Reversed(c) => (ResultCode::Failure, Some(c.clone())),
        }
    }
}

/// A timer the switch asked for. When it fires, the switch acts only if the
/// transaction is still in the state that set it (`epoch`), so timers are never
/// cancelled, only outlived.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timer {
    /// The transaction.
    pub txn_id: TxnId,
    /// The transaction's epoch when the timer was set.
    pub epoch: u32,
}

/// A transaction the switch knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The request's `Txn`, with `custRef` set to [`Transaction::rrn`].
    pub txn: Txn,
    /// The RRN the switch assigned.
    pub rrn: Rrn,
    /// The amount.
    pub amount: Amount,
    /// The payer (for a collect, as approved by the payer's PSP).
    pub payer: Party,
    /// The payee.
    pub payee: Party,
    /// The account the credit goes to.
    pub payee_account: Option<Account>,
    /// Who sent the request, and so gets the response.
    pub requester: OrgId,
    /// The request's `Head@msgId`.
    pub req_msg_id: MsgId,
    /// For a payment: paise refunded so far or being refunded.
    pub refunded: u64,
    /// Where it is.
    pub state: State,
    /// What the requester was told (`RespPay@result`), once told.
    pub answered: Option<ResultCode>,
    /// Bumped at every timer set; see [`Timer`].
    pub epoch: u32,
    /// For a refund: whether its amount is counted in the original's
    /// `refunded` (from admission until it fails).
    pub(crate) refund_reserved: bool,
    /// The request as first received, to tell a repeat from a clash.
    pub(crate) fingerprint: Fingerprint,
}

impl Transaction {
    /// The id.
    pub fn id(&self) -> &TxnId {
        &self.txn.id
    }

    /// PAY, COLLECT or REFUND.
    pub fn kind(&self) -> TxnType {
        self.txn.kind
    }

    /// The outcome, once final.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.state {
            State::Done(o) => Some(o),
            _ => None,
        }
    }
}

/// What makes two requests with one transaction id the same request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    pub kind: TxnType,
    pub payer: Vpa,
    pub payee: Option<Vpa>,
    pub amount: Option<Amount>,
    pub org_txn_id: Option<TxnId>,
}
