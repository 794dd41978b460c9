//! The parts UPI messages are made of: `Head`, `Txn`, `Payer`/`Payee`, `Resp`.
//! Each reads itself from an element (validating every field it keeps) and
//! writes itself back. Elements and attributes this codec does not model
//! (`Meta`, `Info`, `RiskScores`, ...) are skipped on reading.

use super::dom::Element;
use super::error::XmlError;
use super::fields::{
    AccountNumber, Amount, ErrCode, Ifsc, Mcc, MsgId, OrgId, Rrn, Timestamp, TxnId, base64, text,
};
use crate::Vpa;
use serde::Serialize;

/// Longest `Txn@note`.
pub const MAX_NOTE_CHARS: usize = 50;
/// Longest `Txn@refUrl`.
pub const MAX_REF_URL_CHARS: usize = 255;
/// Longest `Payer@name` / `Payee@name` (as the `pn` of a payment link).
pub const MAX_NAME_CHARS: usize = 99;
/// Longest encrypted credential or key value, in Base64 characters (an RSA-4096
/// block is 684).
pub const MAX_BLOB_CHARS: usize = 4096;
/// Most device tags on one party.
pub const MAX_DEVICE_TAGS: usize = 16;
/// Most credentials on one party (PIN, OTP, ...).
pub const MAX_CREDS: usize = 4;
/// Longest `collect` expiry NPCI allows: 45 days, in minutes.
pub const MAX_EXPIRE_AFTER_MINUTES: u32 = 45 * 24 * 60;
/// Longest short code field (`ver`, `ki`, `Cred@type`, device tag names, ...).
pub const MAX_CODE_CHARS: usize = 20;
/// Longest device tag value.
pub const MAX_TAG_VALUE_CHARS: usize = 255;

/// `Head`: who sent the message, when, and its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Head {
    /// `ver`, the API version (`2.0`).
    pub ver: String,
    /// `ts`.
    pub ts: Timestamp,
    /// `orgId`, the sender.
    pub org_id: OrgId,
    /// `msgId`, unique per message (a retry of a request keeps its `Txn@id`, not
    /// its `msgId`).
    pub msg_id: MsgId,
}

impl Head {
    pub(crate) fn read(e: &Element) -> Result<Head, XmlError> {
        let ver = req(e, "Head", "ver")?;
        if ver.is_empty() || ver.len() > 6 || !ver.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        {
            return Err(XmlError::invalid("Head@ver", "a version like 2.0"));
        }
        Ok(Head {
            ver: ver.to_owned(),
            ts: Timestamp::new(req(e, "Head", "ts")?)?,
            org_id: OrgId::new(req(e, "Head", "orgId")?)?,
            msg_id: MsgId::new(req(e, "Head", "msgId")?)?,
        })
    }

    pub(crate) fn write(&self) -> Element {
        Element::new("Head")
            .attr("ver", &self.ver)
            .attr("ts", self.ts.as_str())
            .attr("orgId", self.org_id.as_str())
            .attr("msgId", self.msg_id.as_str())
    }
}

/// `Txn@type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TxnType {
    /// A payment pushed by the payer.
    #[serde(rename = "PAY")]
    Pay,
    /// A payment requested by the payee (merchants only).
    #[serde(rename = "COLLECT")]
    Collect,
    /// The switch's debit of the remitter bank.
    #[serde(rename = "DEBIT")]
    Debit,
    /// The switch's credit of the beneficiary bank.
    #[serde(rename = "CREDIT")]
    Credit,
    /// The undoing of a debit.
    #[serde(rename = "REVERSAL")]
    Reversal,
    /// Money back from a merchant for an earlier payment.
    #[serde(rename = "REFUND")]
    Refund,
    /// A status check.
    #[serde(rename = "ChkTxn")]
    ChkTxn,
    /// A balance enquiry.
    #[serde(rename = "BalEnq")]
    BalEnq,
    /// An address validation.
    #[serde(rename = "ValAdd")]
    ValAdd,
    /// A request for the PIN-encryption keys.
    #[serde(rename = "ListKeys")]
    ListKeys,
}

impl TxnType {
    const ALL: [(TxnType, &'static str); 10] = [
        (TxnType::Pay, "PAY"),
        (TxnType::Collect, "COLLECT"),
        (TxnType::Debit, "DEBIT"),
        (TxnType::Credit, "CREDIT"),
        (TxnType::Reversal, "REVERSAL"),
        (TxnType::Refund, "REFUND"),
        (TxnType::ChkTxn, "ChkTxn"),
        (TxnType::BalEnq, "BalEnq"),
        (TxnType::ValAdd, "ValAdd"),
        (TxnType::ListKeys, "ListKeys"),
    ];

    /// The wire word.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(t, _)| *t == self)
            .map(|(_, s)| *s)
            .unwrap_or("PAY")
    }

    fn parse(field: &'static str, s: &str) -> Result<TxnType, XmlError> {
        Self::ALL
            .iter()
            .find(|(_, w)| *w == s)
            .map(|(t, _)| *t)
            .ok_or(XmlError::invalid(field, "unknown transaction type"))
    }
}

/// `Txn`: the transaction a message is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Txn {
    /// `id`, unique per transaction; every leg and retry carries it.
    pub id: TxnId,
    /// `note`, shown to the payer.
    pub note: Option<String>,
    /// `refId`, the payee's reference (order or bill id).
    pub ref_id: Option<String>,
    /// `refUrl`.
    pub ref_url: Option<String>,
    /// `ts`, when the transaction was initiated.
    pub ts: Timestamp,
    /// `type`.
    pub kind: TxnType,
    /// `subType`: for a status check, the leg asked about.
    pub sub_type: Option<TxnType>,
    /// `custRef`, the 12-digit RRN, set once the switch has assigned it.
    pub cust_ref: Option<Rrn>,
    /// `orgTxnId`: for a refund, reversal or status check, the original transaction.
    pub org_txn_id: Option<TxnId>,
    /// `orgRrn`: the original transaction's RRN.
    pub org_rrn: Option<Rrn>,
    /// `Rules/Rule[@name=EXPIREAFTER]`: minutes a collect request stays open.
    pub expire_after_minutes: Option<u32>,
}

impl Txn {
    /// A transaction with only its id, instant and type.
    pub fn new(id: TxnId, ts: Timestamp, kind: TxnType) -> Txn {
        Txn {
            id,
            note: None,
            ref_id: None,
            ref_url: None,
            ts,
            kind,
            sub_type: None,
            cust_ref: None,
            org_txn_id: None,
            org_rrn: None,
            expire_after_minutes: None,
        }
    }

    pub(crate) fn read(e: &Element) -> Result<Txn, XmlError> {
        let mut t = Txn::new(
            TxnId::new(req(e, "Txn", "id")?)?,
            Timestamp::new(req(e, "Txn", "ts")?)?,
            TxnType::parse("Txn@type", req(e, "Txn", "type")?)?,
        );
        t.note = opt_text(e, "note", "Txn@note", MAX_NOTE_CHARS)?;
        t.ref_id = e.get("refId").map(ref_id).transpose()?;
        t.ref_url = opt_text(e, "refUrl", "Txn@refUrl", MAX_REF_URL_CHARS)?;
        t.sub_type = e
            .get("subType")
            .map(|s| TxnType::parse("Txn@subType", s))
            .transpose()?;
        t.cust_ref = e.get("custRef").map(Rrn::new).transpose()?;
        t.org_txn_id = e.get("orgTxnId").map(TxnId::new).transpose()?;
        t.org_rrn = e.get("orgRrn").map(Rrn::new).transpose()?;
        t.expire_after_minutes = expire_after(e)?;
        Ok(t)
    }

    pub(crate) fn write(&self) -> Element {
        let el = Element::new("Txn")
            .attr("id", self.id.as_str())
            .attr_opt("note", self.note.clone())
            .attr_opt("refId", self.ref_id.clone())
            .attr_opt("refUrl", self.ref_url.clone())
            .attr("ts", self.ts.as_str())
            .attr("type", self.kind.as_str())
            .attr_opt("subType", self.sub_type.map(TxnType::as_str))
            .attr_opt(
                "custRef",
                self.cust_ref.as_ref().map(|r| r.as_str().to_owned()),
            )
            .attr_opt(
                "orgTxnId",
                self.org_txn_id.as_ref().map(|r| r.as_str().to_owned()),
            )
            .attr_opt(
                "orgRrn",
                self.org_rrn.as_ref().map(|r| r.as_str().to_owned()),
            );
        match self.expire_after_minutes {
            Some(m) => el.child(
                Element::new("Rules").child(
                    Element::new("Rule")
                        .attr("name", "EXPIREAFTER")
                        .attr("value", m.to_string()),
                ),
            ),
            None => el,
        }
    }
}

fn ref_id(s: &str) -> Result<String, XmlError> {
    if s.is_empty() || s.len() > 35 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(XmlError::invalid(
            "Txn@refId",
            "1 to 35 letters, digits or -",
        ));
    }
    Ok(s.to_owned())
}

fn expire_after(e: &Element) -> Result<Option<u32>, XmlError> {
    let Some(rules) = e.only_child("Rules")? else {
        return Ok(None);
    };
    let mut found = rules
        .children_named("Rule")
        .filter(|r| r.get("name") == Some("EXPIREAFTER"));
    let Some(rule) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(XmlError::Repeated {
            element: "Rule[EXPIREAFTER]",
        });
    }
    let v = req(rule, "Rule", "value")?;
    let bad = XmlError::invalid("EXPIREAFTER", "minutes from 1 to 64800 (45 days)");
    if v.is_empty() || v.len() > 5 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad);
    }
    let m: u32 = v.parse().map_err(|_| bad.clone())?;
    if m == 0 || m > MAX_EXPIRE_AFTER_MINUTES {
        return Err(bad);
    }
    Ok(Some(m))
}

/// `Payer@type` / `Payee@type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PartyType {
    /// A person.
    #[serde(rename = "PERSON")]
    Person,
    /// A merchant or other entity.
    #[serde(rename = "ENTITY")]
    Entity,
}

impl PartyType {
    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            PartyType::Person => "PERSON",
            PartyType::Entity => "ENTITY",
        }
    }

    fn parse(field: &'static str, s: &str) -> Result<PartyType, XmlError> {
        match s {
            "PERSON" => Ok(PartyType::Person),
            "ENTITY" => Ok(PartyType::Entity),
            _ => Err(XmlError::invalid(field, "PERSON or ENTITY")),
        }
    }
}

/// `Ac addrType="ACCOUNT"`: the bank account behind an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Account {
    /// `Detail[@name=IFSC]`.
    pub ifsc: Ifsc,
    /// `Detail[@name=ACNUM]`.
    pub number: AccountNumber,
    /// `Detail[@name=ACTYPE]` (`SAVINGS`, `CURRENT`, ...).
    pub kind: Option<String>,
}

impl Account {
    fn read(e: &Element) -> Result<Account, XmlError> {
        if e.get("addrType") != Some("ACCOUNT") {
            return Err(XmlError::invalid(
                "Ac@addrType",
                "only ACCOUNT is supported",
            ));
        }
        let detail = |name: &'static str| -> Result<Option<&str>, XmlError> {
            let mut found = e
                .children_named("Detail")
                .filter(|d| d.get("name") == Some(name));
            let first = found.next();
            if found.next().is_some() {
                return Err(XmlError::Repeated {
                    element: "Ac/Detail",
                });
            }
            first.map(|d| req(d, "Detail", "value")).transpose()
        };
        let kind = detail("ACTYPE")?;
        if let Some(k) = kind
            && (k.is_empty()
                || k.len() > MAX_CODE_CHARS
                || !k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        {
            return Err(XmlError::invalid("ACTYPE", "capital letters, like SAVINGS"));
        }
        Ok(Account {
            ifsc: Ifsc::new(detail("IFSC")?.ok_or(XmlError::MissingElement {
                element: "Detail[IFSC]",
            })?)?,
            number: AccountNumber::new(detail("ACNUM")?.ok_or(XmlError::MissingElement {
                element: "Detail[ACNUM]",
            })?)?,
            kind: kind.map(str::to_owned),
        })
    }

    fn write(&self) -> Element {
        let d = |n: &str, v: &str| Element::new("Detail").attr("name", n).attr("value", v);
        let mut el = Element::new("Ac")
            .attr("addrType", "ACCOUNT")
            .child(d("IFSC", self.ifsc.as_str()))
            .child(d("ACNUM", self.number.as_str()));
        if let Some(k) = &self.kind {
            el = el.child(d("ACTYPE", k));
        }
        el
    }
}

/// Encrypted data with the key it was encrypted to: a `Cred`'s `Data`, a
/// balance's `Data`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct EncData {
    /// `code`: whose key (`NPCI`, or a bank's code).
    pub code: String,
    /// `ki`: the key index (which of that owner's keys).
    pub ki: String,
    /// The ciphertext, Base64.
    pub value: String,
}

impl EncData {
    pub(crate) fn read(e: &Element, field: &'static str) -> Result<EncData, XmlError> {
        Ok(EncData {
            code: code_text(req(e, "Data", "code")?, "Data@code")?,
            ki: code_text(req(e, "Data", "ki")?, "Data@ki")?,
            value: base64(field, &e.text, MAX_BLOB_CHARS)?,
        })
    }

    pub(crate) fn write(&self) -> Element {
        Element::new("Data")
            .attr("code", &self.code)
            .attr("ki", &self.ki)
            .text(&self.value)
    }
}

/// `Cred`: a credential, always encrypted (the PIN to the key from ListKeys).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Cred {
    /// `type` (`PIN`, `OTP`, ...).
    pub kind: String,
    /// `subType` (`MPIN`, `SMS`, ...).
    pub sub_type: String,
    /// The encrypted block.
    pub data: EncData,
}

impl Cred {
    fn read(e: &Element) -> Result<Cred, XmlError> {
        Ok(Cred {
            kind: code_text(req(e, "Cred", "type")?, "Cred@type")?,
            sub_type: code_text(req(e, "Cred", "subType")?, "Cred@subType")?,
            data: EncData::read(e.required_child("Data")?, "Cred/Data")?,
        })
    }

    fn write(&self) -> Element {
        Element::new("Cred")
            .attr("type", &self.kind)
            .attr("subType", &self.sub_type)
            .child(self.data.write())
    }
}

/// `Payer` or `Payee`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Party {
    /// `addr`, the UPI id.
    pub addr: Vpa,
    /// `name`.
    pub name: Option<String>,
    /// `seqNum`.
    pub seq_num: u32,
    /// `type`.
    pub kind: PartyType,
    /// `code`, the merchant category code (`0000` for a person).
    pub code: Mcc,
    /// `Device/Tag`: name and value pairs (`MOBILE`, `ID`, `APP`, ...).
    pub device: Vec<(String, String)>,
    /// `Ac`.
    pub account: Option<Account>,
    /// `Creds/Cred`.
    pub creds: Vec<Cred>,
    /// `Amount`.
    pub amount: Option<Amount>,
}

impl Party {
    /// A person at `addr` with sequence number 1 and nothing else.
    pub fn person(addr: Vpa) -> Party {
        Party {
            addr,
            name: None,
            seq_num: 1,
            kind: PartyType::Person,
            code: Mcc::person(),
            device: Vec::new(),
            account: None,
            creds: Vec::new(),
            amount: None,
        }
    }

    pub(crate) fn read(e: &Element, element: &'static str) -> Result<Party, XmlError> {
        let addr = Vpa::new(req(e, element, "addr")?)
            .map_err(|_| XmlError::invalid("addr", "not a UPI id (handle@psp)"))?;
        let seq = req(e, element, "seqNum")?;
        if seq.is_empty() || seq.len() > 3 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(XmlError::invalid("seqNum", "1 to 3 digits"));
        }
        Ok(Party {
            addr,
            name: opt_text(e, "name", "name", MAX_NAME_CHARS)?,
            seq_num: seq
                .parse()
                .map_err(|_| XmlError::invalid("seqNum", "1 to 3 digits"))?,
            kind: PartyType::parse("type", req(e, element, "type")?)?,
            code: Mcc::new(req(e, element, "code")?)?,
            device: device(e)?,
            account: e.only_child("Ac")?.map(Account::read).transpose()?,
            creds: creds(e)?,
            amount: e.only_child("Amount")?.map(amount).transpose()?,
        })
    }

    pub(crate) fn write(&self, element: &str) -> Element {
        let mut el = Element::new(element)
            .attr("addr", self.addr.as_str())
            .attr_opt("name", self.name.clone())
            .attr("seqNum", self.seq_num.to_string())
            .attr("type", self.kind.as_str())
            .attr("code", self.code.as_str());
        if !self.device.is_empty() {
            let mut d = Element::new("Device");
            for (n, v) in &self.device {
                d = d.child(Element::new("Tag").attr("name", n).attr("value", v));
            }
            el = el.child(d);
        }
        if let Some(a) = &self.account {
            el = el.child(a.write());
        }
        if !self.creds.is_empty() {
            let mut c = Element::new("Creds");
            for cred in &self.creds {
                c = c.child(cred.write());
            }
            el = el.child(c);
        }
        if let Some(a) = self.amount {
            el = el.child(
                Element::new("Amount")
                    .attr("value", a.to_text())
                    .attr("curr", "INR"),
            );
        }
        el
    }
}

fn device(e: &Element) -> Result<Vec<(String, String)>, XmlError> {
    let Some(d) = e.only_child("Device")? else {
        return Ok(Vec::new());
    };
    let tags: Vec<&Element> = d.children_named("Tag").collect();
    if tags.len() > MAX_DEVICE_TAGS {
        return Err(XmlError::invalid("Device", "too many tags"));
    }
    tags.into_iter()
        .map(|t| {
            Ok((
                code_text(req(t, "Tag", "name")?, "Tag@name")?,
                text("Tag@value", req(t, "Tag", "value")?, MAX_TAG_VALUE_CHARS)?,
            ))
        })
        .collect()
}

fn creds(e: &Element) -> Result<Vec<Cred>, XmlError> {
    let Some(c) = e.only_child("Creds")? else {
        return Ok(Vec::new());
    };
    let list: Vec<&Element> = c.children_named("Cred").collect();
    if list.len() > MAX_CREDS {
        return Err(XmlError::invalid("Creds", "too many credentials"));
    }
    list.into_iter().map(Cred::read).collect()
}

fn amount(e: &Element) -> Result<Amount, XmlError> {
    if req(e, "Amount", "curr")? != "INR" {
        return Err(XmlError::invalid("Amount@curr", "UPI amounts are in INR"));
    }
    Amount::parse(req(e, "Amount", "value")?)
}

/// `Resp@result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ResultCode {
    /// Done.
    #[serde(rename = "SUCCESS")]
    Success,
    /// Not done; `errCode` says why.
    #[serde(rename = "FAILURE")]
    Failure,
    /// The debit is done and the credit's fate is not yet known: deemed
    /// successful until a status check says otherwise.
    #[serde(rename = "DEEMED")]
    Deemed,
}

impl ResultCode {
    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultCode::Success => "SUCCESS",
            ResultCode::Failure => "FAILURE",
            ResultCode::Deemed => "DEEMED",
        }
    }
}

/// `Resp`: the outcome of the request `reqMsgId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resp {
    /// `reqMsgId`: the `Head@msgId` of the request answered.
    pub req_msg_id: MsgId,
    /// `result`.
    pub result: ResultCode,
    /// `errCode`: required on FAILURE, never on SUCCESS.
    pub err_code: Option<ErrCode>,
    /// `approvalNum`: the bank's approval number for a debit or credit.
    pub approval_num: Option<String>,
    /// `maskName`: the account holder's name, masked (address validation).
    pub mask_name: Option<String>,
}

impl Resp {
    /// A response with no error code, approval number or name.
    pub fn new(req_msg_id: MsgId, result: ResultCode) -> Resp {
        Resp {
            req_msg_id,
            result,
            err_code: None,
            approval_num: None,
            mask_name: None,
        }
    }

    pub(crate) fn read(e: &Element) -> Result<Resp, XmlError> {
        let result = match req(e, "Resp", "result")? {
            "SUCCESS" => ResultCode::Success,
            "FAILURE" => ResultCode::Failure,
            "DEEMED" => ResultCode::Deemed,
            _ => {
                return Err(XmlError::invalid(
                    "Resp@result",
                    "SUCCESS, FAILURE or DEEMED",
                ));
            }
        };
        let err_code = e
            .get("errCode")
            .filter(|s| !s.is_empty())
            .map(ErrCode::new)
            .transpose()?;
        match (result, &err_code) {
            (ResultCode::Failure, None) => {
                return Err(XmlError::invalid("Resp@errCode", "required on FAILURE"));
            }
            (ResultCode::Success, Some(_)) => {
                return Err(XmlError::invalid("Resp@errCode", "not allowed on SUCCESS"));
            }
            _ => {}
        }
        let approval_num = e.get("approvalNum").map(|a| {
            if a.is_empty() || a.len() > 12 || !a.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Err(XmlError::invalid(
                    "Resp@approvalNum",
                    "1 to 12 letters or digits",
                ))
            } else {
                Ok(a.to_owned())
            }
        });
        Ok(Resp {
            req_msg_id: MsgId::new(req(e, "Resp", "reqMsgId")?)?,
            result,
            err_code,
            approval_num: approval_num.transpose()?,
            mask_name: opt_text(e, "maskName", "Resp@maskName", MAX_NAME_CHARS)?,
        })
    }

    pub(crate) fn write(&self) -> Element {
        Element::new("Resp")
            .attr("reqMsgId", self.req_msg_id.as_str())
            .attr("result", self.result.as_str())
            .attr_opt(
                "errCode",
                self.err_code.as_ref().map(|c| c.as_str().to_owned()),
            )
            .attr_opt("approvalNum", self.approval_num.clone())
            .attr_opt("maskName", self.mask_name.clone())
    }
}

/// One public key from `RespListKeys`: `key code owner type ki` + `keyValue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Key {
    /// `code`.
    pub code: String,
    /// `owner`.
    pub owner: String,
    /// `type` (`PKI`).
    pub kind: String,
    /// `ki`, the key index a credential names.
    pub ki: String,
    /// `keyValue`, the encoded public key, Base64.
    pub value: String,
}

impl Key {
    pub(crate) fn read(e: &Element) -> Result<Key, XmlError> {
        Ok(Key {
            code: code_text(req(e, "key", "code")?, "key@code")?,
            owner: code_text(req(e, "key", "owner")?, "key@owner")?,
            kind: code_text(req(e, "key", "type")?, "key@type")?,
            ki: code_text(req(e, "key", "ki")?, "key@ki")?,
            value: base64(
                "keyValue",
                &e.required_child("keyValue")?.text,
                MAX_BLOB_CHARS,
            )?,
        })
    }

    pub(crate) fn write(&self) -> Element {
        Element::new("key")
            .attr("code", &self.code)
            .attr("owner", &self.owner)
            .attr("type", &self.kind)
            .attr("ki", &self.ki)
            .child(Element::new("keyValue").text(&self.value))
    }
}

/// A required attribute.
pub(crate) fn req<'a>(
    e: &'a Element,
    element: &'static str,
    attr: &'static str,
) -> Result<&'a str, XmlError> {
    e.get(attr).ok_or(XmlError::MissingAttr { element, attr })
}

fn opt_text(
    e: &Element,
    attr: &str,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, XmlError> {
    e.get(attr).map(|s| text(field, s, max)).transpose()
}

/// A short code: 1 to [`MAX_CODE_CHARS`] letters, digits, `.`, `-` or `_`.
fn code_text(s: &str, field: &'static str) -> Result<String, XmlError> {
    let ok = !s.is_empty()
        && s.len() <= MAX_CODE_CHARS
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !ok {
        return Err(XmlError::invalid(
            field,
            "1 to 20 letters, digits, . - or _",
        ));
    }
    Ok(s.to_owned())
}
