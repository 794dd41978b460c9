//! UPI XML messages in the shape of NPCI's UPI API, sans-IO.
//!
//! Messages are documents whose root is in the namespace
//! [`NAMESPACE`] (`<upi:ReqPay xmlns:upi="http://npci.org/upi/schema/">`, any
//! prefix) and whose children are unqualified: `Head`, `Txn`, `Payer`,
//! `Payees/Payee`, `Resp`, ... [`decode`] reads bytes into a typed [`Message`],
//! refusing anything past the [`limits`], any DTD or entity declaration, and any
//! field that breaks its rule (amounts with exactly two decimals, 12-digit
//! RRNs, UPI ids, IFSCs, ...); [`encode`] writes one back and checks it reads
//! again. Elements this codec does not model (`Meta`, `Info`, `RiskScores`) are
//! skipped on reading.

mod dom;
mod error;
mod fields;
mod messages;
mod parts;

pub use error::XmlError;
pub use fields::{AccountNumber, Amount, ErrCode, Ifsc, Mcc, MsgId, OrgId, Rrn, Timestamp, TxnId};
pub use messages::{
    Ack, MAX_KEYS, MAX_PAYEES, MESSAGE_NAMES, Message, ReqBalEnq, ReqChkTxn, ReqListKeys, ReqPay,
    ReqValAdd, RespBalEnq, RespChkTxn, RespListKeys, RespPay, RespValAdd,
};
pub use parts::{
    Account, Cred, EncData, Head, Key, MAX_NOTE_CHARS, Party, PartyType, Resp, ResultCode, Txn,
    TxnType,
};

/// The namespace of every UPI message's root element.
pub const NAMESPACE: &str = "http://npci.org/upi/schema/";

/// The prefix [`encode`] binds to [`NAMESPACE`].
const PREFIX: &str = "upi";

/// The limits a message is read within.
pub mod limits {
    /// Largest message: a `ReqPay` with ten payees, device tags and an RSA
    /// credential block is under 8 KiB; 64 KiB leaves room and bounds the work
    /// one request can cost.
    pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
    /// Deepest nesting: the deepest UPI path is
    /// `ReqPay/Payees/Payee/Creds/Cred/Data` (6); 12 allows unmodelled
    /// extensions and refuses nesting bombs.
    pub const MAX_DEPTH: usize = 12;
    /// Most elements in one message.
    pub const MAX_ELEMENTS: usize = 512;
    /// Most attributes on one element (`Txn` has about 15).
    pub const MAX_ATTRIBUTES: usize = 32;
}
pub use limits::{MAX_ATTRIBUTES, MAX_DEPTH, MAX_ELEMENTS, MAX_MESSAGE_BYTES};

/// Read a UPI message.
pub fn decode(input: &[u8]) -> Result<Message, XmlError> {
    let root = dom::read(input)?;
    let local = root_local_name(&root)?;
    check_unqualified(&root.children)?;
    Message::read(local, &root)
}

/// Write a UPI message (with an XML declaration), checking that it reads back as
/// itself: a free-text field that breaks its rule is refused here rather than by
/// the receiver.
pub fn encode(msg: &Message) -> Result<String, XmlError> {
    let root = dom::Element::new(&format!("{PREFIX}:{}", msg.name()))
        .attr(&format!("xmlns:{PREFIX}"), NAMESPACE);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    msg.write(root).write(&mut out);
    let again = decode(out.as_bytes())?;
    if again != *msg {
        return Err(XmlError::invalid(
            "message",
            "does not read back as itself (a text field has outer whitespace?)",
        ));
    }
    Ok(out)
}

/// The root's local name, once its namespace is checked to be [`NAMESPACE`].
fn root_local_name(root: &dom::Element) -> Result<&str, XmlError> {
    let (xmlns, local) = match root.name.split_once(':') {
        Some((prefix, local)) => (format!("xmlns:{prefix}"), local),
        None => ("xmlns".to_owned(), root.name.as_str()),
    };
    if root.get(&xmlns) != Some(NAMESPACE) {
        return Err(XmlError::WrongNamespace);
    }
    if !MESSAGE_NAMES.contains(&local) {
        return Err(XmlError::UnknownMessage);
    }
    Ok(local)
}

fn check_unqualified(children: &[dom::Element]) -> Result<(), XmlError> {
    for c in children {
        if c.name.contains(':') {
            return Err(XmlError::QualifiedChild);
        }
        check_unqualified(&c.children)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
