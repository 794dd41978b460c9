//! Who may call the operator API, and how they prove it: as the acquirer
//! API does, a keyed MAC over method, path and body in two headers
//! ([`CLIENT_HEADER`] names the caller, [`MAC_HEADER`] carries the MAC,
//! HMAC-SHA256 over [`signed_bytes`]: method, path with its query, body;
//! hex); nothing is read or written for
//! a request that does not verify.
//!
//! * A **gate** signs its batch uploads and hotlist downloads with its own
//!   key ([`gate_key`]: HMAC of the operator's gate master key and the
//!   gate's terminal id), as `gate:<terminal id hex>`; a batch may carry
//!   only records that gate made.
//! * The operator's **back office** (a card reported lost) signs with the
//!   operator's staff key, as `staff`.
//! * A **device** needs no key of its own: its loads and refunds carry the
//!   card's MAC1, which only that card makes (under its per-card load key,
//!   in the device's secure element), so a device acts on its own cards
//!   only; issuing seals the card to the device's public key.

use hmac::{Hmac, Mac};
use paytap_purse::records::TERMINAL_ID_LEN;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The header naming the caller: `gate:<terminal id hex>` or `staff`.
pub const CLIENT_HEADER: &str = "x-paytap-client";
/// The header carrying the MAC, hex.
pub const MAC_HEADER: &str = "x-paytap-mac";
/// The caller name of the back office.
pub const STAFF: &str = "staff";
/// The prefix of a gate's caller name.
pub const GATE_PREFIX: &str = "gate:";

/// A verified caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// The gate with this terminal id.
    Gate([u8; TERMINAL_ID_LEN]),
    /// The operator's back office.
    Staff,
}

/// Why a request was not authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No caller or MAC header, or a caller of no known kind.
    #[error("the request is not signed: {CLIENT_HEADER} and {MAC_HEADER} are required")]
    Unsigned,
    /// The MAC does not verify under the named caller's key.
    #[error("the request's MAC does not verify")]
    BadMac,
}

/// The keys an operator's API checks callers with.
pub struct ApiKeys {
    gate_master: Zeroizing<[u8; 32]>,
    staff: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKeys([REDACTED])")
    }
}

impl ApiKeys {
    /// From the operator's gate master key and staff key.
    pub fn new(gate_master: Zeroizing<[u8; 32]>, staff: Zeroizing<[u8; 32]>) -> ApiKeys {
        ApiKeys { gate_master, staff }
    }

    /// The caller `client` names, if its `mac` over the request verifies.
    pub fn verify(
        &self,
        client: Option<&str>,
        mac: Option<&str>,
        request: (&str, &str, &[u8]),
    ) -> Result<Client, AuthError> {
        let (client, mac) = client.zip(mac).ok_or(AuthError::Unsigned)?;
        let mac = hex::decode(mac).map_err(|_| AuthError::BadMac)?;
        let (who, key) = if client == STAFF {
            (Client::Staff, self.staff.clone())
        } else {
            let terminal = client
                .strip_prefix(GATE_PREFIX)
                .and_then(|t| hex::decode(t).ok())
                .and_then(|t| <[u8; TERMINAL_ID_LEN]>::try_from(t).ok())
                .ok_or(AuthError::Unsigned)?;
            (
                Client::Gate(terminal),
                gate_key(&self.gate_master, &terminal),
            )
        };
        let (method, path, body) = request;
        let want = mac_of(&key, method, path, body);
        if bool::from(want.as_slice().ct_eq(&mac)) {
            Ok(who)
        } else {
            Err(AuthError::BadMac)
        }
    }
}

/// What the MAC covers: method, path and body, each framed so that no two
/// requests share it.
pub fn signed_bytes(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(32 + path.len() + body.len());
    b.extend_from_slice(b"paytap transit api v1\n");
    b.extend_from_slice(method.as_bytes());
    b.push(b'\n');
    b.extend_from_slice(path.as_bytes());
    b.push(b'\n');
    b.extend_from_slice(body);
    b
}

fn mac_of(key: &[u8; 32], method: &str, path: &str, body: &[u8]) -> [u8; 32] {
    let Ok(mut mac) = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key) else {
        unreachable!("HMAC-SHA256 accepts a 32-byte key")
    };
    mac.update(&signed_bytes(method, path, body));
    mac.finalize().into_bytes().into()
}

/// The MAC header's value for a request signed with `key`.
pub fn sign(key: &[u8; 32], method: &str, path: &str, body: &[u8]) -> String {
    hex::encode(mac_of(key, method, path, body))
}

/// The key of the gate `terminal`: HMAC-SHA256 of the gate master key and
/// the terminal id.
pub fn gate_key(gate_master: &[u8; 32], terminal: &[u8; TERMINAL_ID_LEN]) -> Zeroizing<[u8; 32]> {
    let Ok(mut mac) = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(gate_master) else {
        unreachable!("HMAC-SHA256 accepts a 32-byte key")
    };
    mac.update(b"paytap transit gate key\n");
    mac.update(terminal);
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// The caller header of the gate `terminal`.
pub fn gate_client(terminal: &[u8; TERMINAL_ID_LEN]) -> String {
    format!("{GATE_PREFIX}{}", hex::encode(terminal))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ApiKeys {
        ApiKeys::new(Zeroizing::new([1; 32]), Zeroizing::new([2; 32]))
    }

    #[test]
    fn a_gate_and_the_staff_verify_and_nobody_else() {
        let k = keys();
        let t = [0x47, 0x54, 0, 101, 0, 1];
        let gk = gate_key(&[1; 32], &t);
        let req = ("PUT", "/transit/v1/beijing/batches/b-1", &b"{}"[..]);
        let mac = sign(&gk, req.0, req.1, req.2);
        let client = gate_client(&t);
        assert_eq!(
            k.verify(Some(&client), Some(&mac), req),
            Ok(Client::Gate(t))
        );
        // Another gate's name, another path, another body, the staff's name.
        let other = gate_client(&[0x47, 0x54, 0, 101, 0, 2]);
        assert_eq!(
            k.verify(Some(&other), Some(&mac), req),
            Err(AuthError::BadMac)
        );
        let moved = ("PUT", "/transit/v1/beijing/batches/b-2", req.2);
        assert_eq!(
            k.verify(Some(&client), Some(&mac), moved),
            Err(AuthError::BadMac)
        );
        let altered = (req.0, req.1, &b"{ }"[..]);
        assert_eq!(
            k.verify(Some(&client), Some(&mac), altered),
            Err(AuthError::BadMac)
        );
        assert_eq!(
            k.verify(Some(STAFF), Some(&mac), req),
            Err(AuthError::BadMac)
        );
        let staff = sign(&[2; 32], req.0, req.1, req.2);
        assert_eq!(k.verify(Some(STAFF), Some(&staff), req), Ok(Client::Staff));
        assert_eq!(k.verify(None, Some(&mac), req), Err(AuthError::Unsigned));
        assert_eq!(
            k.verify(Some("gate:zz"), Some(&mac), req),
            Err(AuthError::Unsigned)
        );
        assert_eq!(
            k.verify(Some(&client), Some("xyz"), req),
            Err(AuthError::BadMac)
        );
    }
}
