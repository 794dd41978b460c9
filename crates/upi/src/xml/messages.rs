//! The UPI messages: requests, their responses and the acknowledgement.

use super::dom::Element;
use super::error::XmlError;
use super::fields::{ErrCode, Ifsc, Mcc, MsgId, Timestamp};
use super::parts::{EncData, Head, Key, Party, PartyType, Resp, Txn, req};
use serde::Serialize;

/// Most payees one `ReqPay` may name.
pub const MAX_PAYEES: usize = 10;
/// Most keys one `RespListKeys` may carry.
pub const MAX_KEYS: usize = 16;

/// `ReqPay`: a payment (PAY, COLLECT, REFUND) from a PSP, or a leg of one
/// (DEBIT, CREDIT, REVERSAL) from the switch to a bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReqPay {
    /// `Head`.
    pub head: Head,
    /// `Txn`.
    pub txn: Txn,
    /// `Payer`.
    pub payer: Party,
    /// `Payees/Payee`, 1 to [`MAX_PAYEES`].
    pub payees: Vec<Party>,
}

/// `RespPay`: the outcome of a `ReqPay`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RespPay {
    /// `Head`.
    pub head: Head,
    /// `Txn`.
    pub txn: Txn,
    /// `Resp`.
    pub resp: Resp,
}

/// `ReqValAdd`: is this address real, and whose is it?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReqValAdd {
    /// `Head`.
    pub head: Head,
    /// `Txn` (type `ValAdd`).
    pub txn: Txn,
    /// `Payer`: who asks.
    pub payer: Party,
    /// `Payee`: the address asked about.
    pub payee: Party,
}

/// `RespValAdd`: the address's masked name and kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RespValAdd {
    /// `Head`.
    pub head: Head,
    /// `Txn`.
    pub txn: Txn,
    /// `Resp` (its `maskName` is the holder's name, masked).
    pub resp: Resp,
    /// `Resp@code`: the address's merchant category code.
    pub code: Option<Mcc>,
    /// `Resp@type`: person or entity.
    pub kind: Option<PartyType>,
    /// `Resp@IFSC`: the branch of the account behind the address.
    pub ifsc: Option<Ifsc>,
}

/// `ReqChkTxn`: the status of transaction `Txn@orgTxnId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReqChkTxn {
    /// `Head`.
    pub head: Head,
    /// `Txn` (type `ChkTxn`, `orgTxnId` required, `subType` the leg asked about).
    pub txn: Txn,
}

/// `RespChkTxn`: `Resp@result` is the state of the original transaction (or of
/// its leg) at the answerer: SUCCESS, FAILURE, or DEEMED while not yet known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RespChkTxn {
    /// `Head`.
    pub head: Head,
    /// `Txn`.
    pub txn: Txn,
    /// `Resp`.
    pub resp: Resp,
}

/// `ReqListKeys`: the keys PINs are encrypted to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReqListKeys {
    /// `Head`.
    pub head: Head,
    /// `Txn` (type `ListKeys`).
    pub txn: Txn,
}

/// `RespListKeys`: `keyList/key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RespListKeys {
    /// `Head`.
    pub head: Head,
    /// `Txn`.
    pub txn: Txn,
    /// `Resp`.
    pub resp: Resp,
    /// `keyList/key`, at most [`MAX_KEYS`].
    pub keys: Vec<Key>,
}

/// `ReqBalEnq`: the payer's balance, authorised with the PIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReqBalEnq {
    /// `Head`.
    pub head: Head,
    /// `Txn` (type `BalEnq`).
    pub txn: Txn,
    /// `Payer` with `Ac` and `Creds`.
    pub payer: Party,
}

/// `RespBalEnq`: the balance, encrypted to the payer's device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RespBalEnq {
    /// `Head`.
    pub head: Head,
    /// `Txn`.
    pub txn: Txn,
    /// `Resp`.
    pub resp: Resp,
    /// `Payer`.
    pub payer: Party,
    /// `Payer/Bal/Data`.
    pub balance: Option<EncData>,
}

/// `Ack`: receipt of a request, before its response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ack {
    /// `api`: the name of the message acknowledged (`ReqPay`, ...).
    pub api: String,
    /// `reqMsgId`.
    pub req_msg_id: MsgId,
    /// `err`: why the message was not accepted, if it was not.
    pub err: Option<ErrCode>,
    /// `ts`.
    pub ts: Timestamp,
}

/// Every message this codec reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "message")]
#[allow(missing_docs)]
pub enum Message {
    ReqPay(ReqPay),
    RespPay(RespPay),
    ReqValAdd(ReqValAdd),
    RespValAdd(RespValAdd),
    ReqChkTxn(ReqChkTxn),
    RespChkTxn(RespChkTxn),
    ReqListKeys(ReqListKeys),
    RespListKeys(RespListKeys),
    ReqBalEnq(ReqBalEnq),
    RespBalEnq(RespBalEnq),
    Ack(Ack),
}

/// The message names, as the root element's local name.
pub const MESSAGE_NAMES: [&str; 11] = [
    "ReqPay",
    "RespPay",
    "ReqValAdd",
    "RespValAdd",
    "ReqChkTxn",
    "RespChkTxn",
    "ReqListKeys",
    "RespListKeys",
    "ReqBalEnq",
    "RespBalEnq",
    "Ack",
];

impl Message {
    /// The root element's local name.
    pub fn name(&self) -> &'static str {
        match self {
            Message::ReqPay(_) => "ReqPay",
            Message::RespPay(_) => "RespPay",
            Message::ReqValAdd(_) => "ReqValAdd",
            Message::RespValAdd(_) => "RespValAdd",
            Message::ReqChkTxn(_) => "ReqChkTxn",
            Message::RespChkTxn(_) => "RespChkTxn",
            Message::ReqListKeys(_) => "ReqListKeys",
            Message::RespListKeys(_) => "RespListKeys",
            Message::ReqBalEnq(_) => "ReqBalEnq",
            Message::RespBalEnq(_) => "RespBalEnq",
            Message::Ack(_) => "Ack",
        }
    }

    /// The `Head`, which every message but `Ack` has.
    pub fn head(&self) -> Option<&Head> {
        self.head_and_txn().map(|(h, _)| h)
    }

    /// The `Txn`, which every message but `Ack` has.
    pub fn txn(&self) -> Option<&Txn> {
        self.head_and_txn().map(|(_, t)| t)
    }

    fn head_and_txn(&self) -> Option<(&Head, &Txn)> {
        Some(match self {
            Message::ReqPay(m) => (&m.head, &m.txn),
            Message::RespPay(m) => (&m.head, &m.txn),
            Message::ReqValAdd(m) => (&m.head, &m.txn),
            Message::RespValAdd(m) => (&m.head, &m.txn),
            Message::ReqChkTxn(m) => (&m.head, &m.txn),
            Message::RespChkTxn(m) => (&m.head, &m.txn),
            Message::ReqListKeys(m) => (&m.head, &m.txn),
            Message::RespListKeys(m) => (&m.head, &m.txn),
            Message::ReqBalEnq(m) => (&m.head, &m.txn),
            Message::RespBalEnq(m) => (&m.head, &m.txn),
            Message::Ack(_) => return None,
        })
    }

    /// Read the root element's content as the message `local` names.
    pub(crate) fn read(local: &str, e: &Element) -> Result<Message, XmlError> {
        if local == "Ack" {
            return read_ack(e).map(Message::Ack);
        }
        let head = Head::read(e.required_child("Head")?)?;
        let txn = Txn::read(e.required_child("Txn")?)?;
        let resp = || Resp::read(e.required_child("Resp")?);
        let payer = || Party::read(e.required_child("Payer")?, "Payer");
        Ok(match local {
            "ReqPay" => Message::ReqPay(ReqPay {
                payer: payer()?,
                payees: payees(e)?,
                head,
                txn,
            }),
            "RespPay" => Message::RespPay(RespPay {
                resp: resp()?,
                head,
                txn,
            }),
            "ReqValAdd" => Message::ReqValAdd(ReqValAdd {
                payer: payer()?,
                payee: Party::read(e.required_child("Payee")?, "Payee")?,
                head,
                txn,
            }),
            "RespValAdd" => Message::RespValAdd(read_resp_val_add(e, head, txn)?),
            "ReqChkTxn" => {
                if txn.org_txn_id.is_none() {
                    return Err(XmlError::MissingAttr {
                        element: "Txn",
                        attr: "orgTxnId",
                    });
                }
                Message::ReqChkTxn(ReqChkTxn { head, txn })
            }
            "RespChkTxn" => Message::RespChkTxn(RespChkTxn {
                resp: resp()?,
                head,
                txn,
            }),
            "ReqListKeys" => Message::ReqListKeys(ReqListKeys { head, txn }),
            "RespListKeys" => Message::RespListKeys(RespListKeys {
                resp: resp()?,
                keys: keys(e)?,
                head,
                txn,
            }),
            "ReqBalEnq" => Message::ReqBalEnq(ReqBalEnq {
                payer: payer()?,
                head,
                txn,
            }),
            "RespBalEnq" => Message::RespBalEnq(read_resp_bal_enq(e, head, txn)?),
            _ => return Err(XmlError::UnknownMessage),
        })
    }

    /// The root element's children (or, for `Ack`, its attributes).
    pub(crate) fn write(&self, root: Element) -> Element {
        let root = match self.head_and_txn() {
            Some((h, t)) => root.child(h.write()).child(t.write()),
            None => root,
        };
        match self {
            Message::ReqPay(m) => {
                let mut payees = Element::new("Payees");
                for p in &m.payees {
                    payees = payees.child(p.write("Payee"));
                }
                root.child(m.payer.write("Payer")).child(payees)
            }
            Message::RespPay(m) => root.child(m.resp.write()),
            Message::ReqValAdd(m) => root
                .child(m.payer.write("Payer"))
                .child(m.payee.write("Payee")),
            Message::RespValAdd(m) => root.child(
                m.resp
                    .write()
                    .attr_opt("code", m.code.as_ref().map(|c| c.as_str().to_owned()))
                    .attr_opt("type", m.kind.map(PartyType::as_str))
                    .attr_opt("IFSC", m.ifsc.as_ref().map(|c| c.as_str().to_owned())),
            ),
            Message::ReqChkTxn(_) | Message::ReqListKeys(_) => root,
            Message::RespChkTxn(m) => root.child(m.resp.write()),
            Message::RespListKeys(m) => {
                let mut list = Element::new("keyList");
                for k in &m.keys {
                    list = list.child(k.write());
                }
                root.child(m.resp.write()).child(list)
            }
            Message::ReqBalEnq(m) => root.child(m.payer.write("Payer")),
            Message::RespBalEnq(m) => {
                let mut payer = m.payer.write("Payer");
                if let Some(b) = &m.balance {
                    payer = payer.child(Element::new("Bal").child(b.write()));
                }
                root.child(payer).child(m.resp.write())
            }
            Message::Ack(a) => root
                .attr("api", &a.api)
                .attr("reqMsgId", a.req_msg_id.as_str())
                .attr_opt("err", a.err.as_ref().map(|e| e.as_str().to_owned()))
                .attr("ts", a.ts.as_str()),
        }
    }
}

fn payees(e: &Element) -> Result<Vec<Party>, XmlError> {
    let list: Vec<&Element> = e
        .required_child("Payees")?
        .children_named("Payee")
        .collect();
    if list.is_empty() {
        return Err(XmlError::MissingElement {
            element: "Payees/Payee",
        });
    }
    if list.len() > MAX_PAYEES {
        return Err(XmlError::invalid("Payees", "too many payees"));
    }
    list.into_iter().map(|p| Party::read(p, "Payee")).collect()
}

fn keys(e: &Element) -> Result<Vec<Key>, XmlError> {
    let Some(list) = e.only_child("keyList")? else {
        return Ok(Vec::new());
    };
    let keys: Vec<&Element> = list.children_named("key").collect();
    if keys.len() > MAX_KEYS {
        return Err(XmlError::invalid("keyList", "too many keys"));
    }
    keys.into_iter().map(Key::read).collect()
}

fn read_resp_val_add(e: &Element, head: Head, txn: Txn) -> Result<RespValAdd, XmlError> {
    let r = e.required_child("Resp")?;
    let kind = match r.get("type") {
        None => None,
        Some("PERSON") => Some(PartyType::Person),
        Some("ENTITY") => Some(PartyType::Entity),
        Some(_) => return Err(XmlError::invalid("Resp@type", "PERSON or ENTITY")),
    };
    Ok(RespValAdd {
        resp: Resp::read(r)?,
        code: r.get("code").map(Mcc::new).transpose()?,
        kind,
        ifsc: r.get("IFSC").map(Ifsc::new).transpose()?,
        head,
        txn,
    })
}

fn read_resp_bal_enq(e: &Element, head: Head, txn: Txn) -> Result<RespBalEnq, XmlError> {
    let p = e.required_child("Payer")?;
    let balance = match p.only_child("Bal")? {
        Some(b) => Some(EncData::read(b.required_child("Data")?, "Bal/Data")?),
        None => None,
    };
    Ok(RespBalEnq {
        resp: Resp::read(e.required_child("Resp")?)?,
        payer: Party::read(p, "Payer")?,
        balance,
        head,
        txn,
    })
}

fn read_ack(e: &Element) -> Result<Ack, XmlError> {
    let api = req(e, "Ack", "api")?;
    if !MESSAGE_NAMES.contains(&api) {
        return Err(XmlError::invalid("Ack@api", "not a UPI message name"));
    }
    Ok(Ack {
        api: api.to_owned(),
        req_msg_id: MsgId::new(req(e, "Ack", "reqMsgId")?)?,
        err: e
            .get("err")
            .filter(|s| !s.is_empty())
            .map(ErrCode::new)
            .transpose()?,
        ts: Timestamp::new(req(e, "Ack", "ts")?)?,
    })
}
