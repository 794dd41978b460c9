//! How a PSP proves it sent a message to the switch: an HMAC-SHA256 of the
//! exact body under the key the switch registered for the PSP's org id,
//! carried with the org id in the [`SIGNATURE_HEADER`] header as
//! `<orgId>:<64 hex digits>`. (NPCI signs each message with XML-DSig under
//! the PSP's certificate; a shared key per PSP gives the same guarantee
//! here: only a registered PSP can ask the switch for anything, and only
//! in its own name.)
//!
//! The switch checks the MAC before it parses the body, then that the
//! message's `Head@orgId` is the org that signed it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The request header carrying `<orgId>:<hex MAC>`.
pub const SIGNATURE_HEADER: &str = "x-upi-signature";

/// Hex digits of a MAC.
const MAC_HEX_LEN: usize = 64;

/// Why a request's signature was refused. No variant carries the MAC.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header, or not `<orgId>:<64 hex digits>`.
    #[error("no {SIGNATURE_HEADER} header of the form <orgId>:<64 hex digits>")]
    Malformed,
    /// The org id is not a registered PSP.
    #[error("org {0:?} is not a registered PSP")]
    UnknownOrg(String),
    /// The MAC does not match the body under the org's key.
    #[error("the signature does not match the message")]
    BadMac,
}

fn mac(key: &[u8; 32], body: &[u8]) -> Hmac<Sha256> {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(key) else {
        unreachable!("HMAC-SHA256 accepts a 32-byte key")
    };
    mac.update(body);
    mac
}

/// The header value for `body` sent by `org` with its `key`.
pub fn sign(org: &str, key: &[u8; 32], body: &[u8]) -> String {
    format!(
        "{org}:{}",
        hex::encode(mac(key, body).finalize().into_bytes())
    )
}

/// The org that signed `body` with header value `header`, the org's key
/// found by `key_of`; the MAC compared in constant time.
pub fn verify<'h>(
    header: Option<&'h str>,
    body: &[u8],
    key_of: impl Fn(&str) -> Option<[u8; 32]>,
) -> Result<&'h str, SignatureError> {
    let (org, given) = header
        .and_then(|h| h.split_once(':'))
        .filter(|(org, m)| !org.is_empty() && m.len() == MAC_HEX_LEN)
        .ok_or(SignatureError::Malformed)?;
    let given = hex::decode(given).map_err(|_| SignatureError::Malformed)?;
    let key = key_of(org).ok_or_else(|| SignatureError::UnknownOrg(org.to_owned()))?;
    mac(&key, body)
        .verify_slice(&given)
        .map_err(|_| SignatureError::BadMac)?;
    Ok(org)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn keys(org: &str) -> Option<[u8; 32]> {
        (org == "PAYU").then_some(KEY)
    }

    #[test]
    fn a_signed_body_verifies_and_anything_else_is_refused() {
        let body = b"<upi:ReqPay/>";
        let header = sign("PAYU", &KEY, body);
        assert_eq!(verify(Some(&header), body, keys), Ok("PAYU"));
        let check = |header: Option<&str>, body: &[u8], expect: SignatureError| {
            assert_eq!(verify(header, body, keys), Err(expect), "{header:?}");
        };
        check(None, body, SignatureError::Malformed);
        check(Some("PAYU"), body, SignatureError::Malformed);
        check(Some("PAYU:abc"), body, SignatureError::Malformed);
        let not_hex = format!("PAYU:{}", "z".repeat(64));
        check(Some(&not_hex), body, SignatureError::Malformed);
        let other_org = header.replacen("PAYU", "EVIL", 1);
        check(
            Some(&other_org),
            body,
            SignatureError::UnknownOrg("EVIL".into()),
        );
        check(
            Some(&header),
            b"<upi:ReqPay x='1'/>",
            SignatureError::BadMac,
        );
        let other_key = sign("PAYU", &[8; 32], body);
        check(Some(&other_key), body, SignatureError::BadMac);
    }
}
