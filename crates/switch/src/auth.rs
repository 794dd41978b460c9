//! Acquirer authentication on the acquirer port (sans-IO: the server hands
//! each decoded message to [`ConnAuth::check`] and does what it says).
//!
//! A connection starts anonymous. Its sign-on, an `0800` with DE 70 `001`,
//! DE 32 naming a registered acquirer and a valid MAC under that
//! acquirer's key (`paytap_iso8583::mac`), makes it that acquirer's. From
//! then on every request must carry the same DE 32 and a valid MAC, and
//! every answer is signed with the same key. Anything else is answered with
//! the response MTI and DE 39 `63` (security violation), unsigned, and
//! never reaches routing, the issuers or the ledger; after
//! [`crate::admission::MAX_REFUSALS`] refusals the connection is closed.
//! The registry is read once, at sign-on: the per-message path takes no
//! lock.

use crate::admission::MAX_REFUSALS;
use paytap_iso8583::mac::{self, AcquirerKey, MacError};
use paytap_iso8583::{Message, NetworkManagementCode, ResponseCode};
use std::collections::HashMap;
use std::sync::Arc;

/// The acquirers the switch knows: DE 32 id → message authentication key.
#[derive(Debug, Clone, Default)]
pub struct Acquirers {
    keys: HashMap<String, Arc<AcquirerKey>>,
}

impl Acquirers {
    pub fn new() -> Acquirers {
        Acquirers::default()
    }

    /// Register (or replace) acquirer `id`'s key.
    pub fn insert(&mut self, id: &str, key: AcquirerKey) {
        self.keys.insert(id.to_owned(), Arc::new(key));
    }

    /// The key of acquirer `id`.
    pub fn key(&self, id: &str) -> Option<&AcquirerKey> {
        self.keys.get(id).map(|k| &**k)
    }

    /// The registered acquirer ids, sorted.
    pub fn ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The acquirer a connection signed on as.
#[derive(Debug, Clone)]
pub struct SignedOn {
    pub acquirer_id: String,
    pub key: Arc<AcquirerKey>,
}

/// Why a request was refused (logged; the peer only sees `63`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("request before sign-on")]
    NotSignedOn,
    #[error("sign-on for an unknown acquirer")]
    UnknownAcquirer,
    #[error("DE 32 is not the signed-on acquirer")]
    OtherAcquirer,
    #[error("{0}")]
    Mac(MacError),
}

/// What the server does with one decoded message.
#[derive(Debug)]
pub enum Verdict {
    /// An authenticated request: route it, sign its answer.
    Pass(Message),
    /// A valid sign-on for this acquirer: take an authenticated slot, then
    /// answer [`sign_on_answer`].
    SignOn(SignedOn, Message),
    /// Refused: send the answer (if any: responses get none), and close
    /// the connection when `close`.
    Refuse {
        answer: Option<Message>,
        close: bool,
        why: Refusal,
    },
}

/// One connection's authentication state.
#[derive(Debug, Default)]
pub struct ConnAuth {
    /// Shared with the tasks answering this connection's requests.
    signed_on: Option<Arc<SignedOn>>,
    refusals: u32,
}

impl ConnAuth {
    /// The acquirer this connection signed on as.
    pub fn signed_on(&self) -> Option<&Arc<SignedOn>> {
        self.signed_on.as_ref()
    }

    /// The sign-on was admitted: the connection is `who`'s from now on.
    pub fn accept(&mut self, who: SignedOn) {
        self.signed_on = Some(Arc::new(who));
    }

    /// Decide about `msg`. `registry` is read only for a sign-on.
    pub fn check(&mut self, registry: &Acquirers, msg: Message) -> Verdict {
        let result = match &self.signed_on {
            Some(me) => check_signed_on(me, &msg),
            None => check_sign_on(registry, &msg),
        };
        match result {
            Ok(None) => Verdict::Pass(msg),
            Ok(Some(who)) => Verdict::SignOn(who, msg),
            Err(why) => {
                self.refusals += 1;
                Verdict::Refuse {
                    answer: refusal_answer(&msg),
                    close: self.refusals >= MAX_REFUSALS,
                    why,
                }
            }
        }
    }
}

fn check_signed_on(me: &SignedOn, msg: &Message) -> Result<Option<SignedOn>, Refusal> {
    match msg.get(32) {
        None => return Err(Refusal::Mac(MacError::MissingAcquirer)),
        Some(id) if id != me.acquirer_id.as_bytes() => return Err(Refusal::OtherAcquirer),
        Some(_) => {}
    }
    mac::verify(msg, &me.key).map_err(Refusal::Mac)?;
    Ok(None)
}

fn check_sign_on(registry: &Acquirers, msg: &Message) -> Result<Option<SignedOn>, Refusal> {
    let is_sign_on = msg.mti() == paytap_iso8583::Mti::NETWORK_REQUEST
        && msg.network_management_code() == Some(NetworkManagementCode::SignOn);
    if !is_sign_on {
        return Err(Refusal::NotSignedOn);
    }
    let id = msg
        .acquirer_id()
        .ok_or(Refusal::Mac(MacError::MissingAcquirer))?;
    let key = registry
        .keys
        .get(id)
        .ok_or(Refusal::UnknownAcquirer)?
        .clone();
    mac::verify(msg, &key).map_err(Refusal::Mac)?;
    Ok(Some(SignedOn {
        acquirer_id: id.to_owned(),
        key,
    }))
}

/// The `63` answer to a refused request (`None` for a response).
fn refusal_answer(msg: &Message) -> Option<Message> {
    let mut r = msg.response()?;
    r.set_response_code(ResponseCode::SecurityViolation).ok()?;
    Some(r)
}

/// The `0810` to a sign-on: `00` when admitted, `91` when the acquirer or
/// the switch has no authenticated slot left; signed either way.
pub fn sign_on_answer(request: &Message, who: &SignedOn, admitted: bool) -> Option<Message> {
    let mut r = request.response()?;
    let code = if admitted {
        ResponseCode::Approved
    } else {
        ResponseCode::IssuerUnavailable
    };
    r.set_response_code(code).ok()?;
    sign_answer(&mut r, who);
    Some(r)
}

/// Sign an answer to an authenticated connection (DE 32 set to the
/// acquirer when the answer lacks it, so the terminal knows the key).
pub fn sign_answer(answer: &mut Message, who: &SignedOn) {
    if !answer.has(32) {
        answer
            .set_acquirer_id(&who.acquirer_id)
            .expect("a signed-on acquirer id is the valid DE 32 it signed on with");
    }
    mac::sign(answer, &who.key);
}

#[cfg(test)]
mod tests {
    use super::*;
    use paytap_iso8583::Mti;

    const ID: &str = "10000000001";

    fn registry() -> Acquirers {
        let mut r = Acquirers::new();
        r.insert(ID, AcquirerKey::from_bytes([1; 16]));
        r
    }

    fn sign_on(key: &AcquirerKey) -> Message {
        let mut m = Message::new(Mti::NETWORK_REQUEST);
        m.set(7, "1205130800").unwrap();
        m.set(11, "000001").unwrap();
        m.set(32, ID).unwrap();
        m.set(70, "001").unwrap();
        mac::sign(&mut m, key);
        m
    }

    fn request(acquirer: &str, key: Option<&AcquirerKey>) -> Message {
        let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
        m.set(11, "000002").unwrap();
        m.set(32, acquirer).unwrap();
        m.set(41, "PT000001").unwrap();
        if let Some(k) = key {
            mac::sign(&mut m, k);
        }
        m
    }

    fn refused(v: &Verdict) -> Option<(Refusal, bool)> {
        match v {
            Verdict::Refuse { why, close, answer } => {
                if let Some(a) = answer {
                    assert_eq!(a.response_code(), Some(ResponseCode::SecurityViolation));
                    assert!(!a.has(64) && !a.has(128), "refusals are unsigned");
                }
                Some((*why, *close))
            }
            _ => None,
        }
    }

    #[test]
    fn requests_before_sign_on_are_refused_and_the_third_closes() {
        let key = AcquirerKey::from_bytes([1; 16]);
        let mut c = ConnAuth::default();
        let v = c.check(&registry(), request(ID, Some(&key)));
        assert_eq!(refused(&v), Some((Refusal::NotSignedOn, false)));
        let v = c.check(&registry(), sign_on(&AcquirerKey::from_bytes([2; 16])));
        assert_eq!(refused(&v), Some((Refusal::Mac(MacError::WrongMac), false)));
        let mut unknown = sign_on(&key);
        unknown.set(32, "999").unwrap();
        let v = c.check(&registry(), unknown);
        assert_eq!(refused(&v), Some((Refusal::UnknownAcquirer, true)));
    }

    #[test]
    fn signed_on_connection_passes_only_its_own_signed_requests() {
        let key = AcquirerKey::from_bytes([1; 16]);
        let mut c = ConnAuth::default();
        let Verdict::SignOn(who, req) = c.check(&registry(), sign_on(&key)) else {
            panic!("a valid sign-on");
        };
        assert_eq!(who.acquirer_id, ID);
        let answer = sign_on_answer(&req, &who, true).unwrap();
        assert_eq!(answer.response_code(), Some(ResponseCode::Approved));
        assert_eq!(mac::verify(&answer, &key), Ok(()));
        c.accept(who);
        assert!(matches!(
            c.check(&registry(), request(ID, Some(&key))),
            Verdict::Pass(_)
        ));
        let v = c.check(&registry(), request(ID, None));
        assert_eq!(
            refused(&v),
            Some((Refusal::Mac(MacError::MissingMac), false))
        );
        let v = c.check(&registry(), request("20000000002", Some(&key)));
        assert_eq!(refused(&v), Some((Refusal::OtherAcquirer, false)));
        let mut anonymous = request(ID, Some(&key));
        anonymous.remove(32);
        let v = c.check(&registry(), anonymous);
        assert_eq!(
            refused(&v),
            Some((Refusal::Mac(MacError::MissingAcquirer), true))
        );
    }
}
