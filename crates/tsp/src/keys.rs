//! Token issuer master keys (EMV Book 2 A1.4: the IMK from which every
//! token's ICC master key is derived, Option A on the token number and PSN).
//!
//! One double-length TDES IMK per issuer's token range. The keys come from
//! configuration: either given explicitly (hex, e.g. from a key ceremony) or
//! derived from the deployment's master secret with HMAC-SHA256
//! (`HMAC(master, "paytap tsp imk v1|" ‖ issuer id)`, first 16 bytes, odd
//! parity), so `paytap up` needs no extra key file. The IMK never leaves
//! this module except to derive a token's ICC MK; provisioning sends only the
//! ICC MK, sealed to the device.

use hmac::{Hmac, KeyInit, Mac};
use paytap_emv::TdesKey;
use sha2::Sha256;
use std::collections::BTreeMap;
use zeroize::Zeroize;

/// Token IMKs by issuer id. `Debug` shows only issuer ids and key check values.
#[derive(Clone, Default)]
pub struct TokenKeys {
    by_issuer: BTreeMap<String, TdesKey>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (id, k) in &self.by_issuer {
            m.entry(id, &format!("kcv {}", hex::encode_upper(k.kcv())));
        }
        m.finish()
    }
}

impl TokenKeys {
    pub fn new() -> TokenKeys {
        TokenKeys::default()
    }

    /// Sets the IMK of one issuer's token range.
    pub fn insert(&mut self, issuer_id: &str, imk: TdesKey) {
        self.by_issuer
            .insert(issuer_id.to_owned(), imk.with_odd_parity());
    }

    /// Derives one IMK per issuer from `master` (at least 16 bytes).
    pub fn derive<'a>(master: &[u8], issuer_ids: impl IntoIterator<Item = &'a str>) -> TokenKeys {
        let mut keys = TokenKeys::new();
        for id in issuer_ids {
            keys.insert(id, derive_imk(master, "paytap tsp imk v1|", id));
        }
        keys
    }

    pub fn get(&self, issuer_id: &str) -> Option<&TdesKey> {
        self.by_issuer.get(issuer_id)
    }

    /// Key check value of an issuer's IMK, hex (stored with each token so a
    /// changed key is detected instead of silently failing every cryptogram).
    pub fn kcv_hex(&self, issuer_id: &str) -> Option<String> {
        self.get(issuer_id).map(|k| hex::encode_upper(k.kcv()))
    }
}

/// `HMAC-SHA256(master, label ‖ id)`, first 16 bytes, odd parity.
pub fn derive_imk(master: &[u8], label: &str, id: &str) -> TdesKey {
    let mut out = [0u8; 16];
    // HMAC accepts keys of any length, so this cannot fail.
    if let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(master) {
        mac.update(label.as_bytes());
        mac.update(id.as_bytes());
        let tag = mac.finalize().into_bytes();
        out.copy_from_slice(&tag[..16]);
    }
    let key = TdesKey::new(out).with_odd_parity();
    out.zeroize();
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_is_deterministic_and_per_issuer() {
        let a = TokenKeys::derive(b"0123456789abcdef0123456789abcdef", ["b1", "b2"]);
        let b = TokenKeys::derive(b"0123456789abcdef0123456789abcdef", ["b1"]);
        assert_eq!(a.get("b1"), b.get("b1"));
        assert_ne!(a.get("b1"), a.get("b2"));
        assert!(a.get("b3").is_none());
        let c = TokenKeys::derive(b"another master secret of 32 byte", ["b1"]);
        assert_ne!(a.get("b1"), c.get("b1"));
        // Odd parity on every byte.
        assert!(
            a.get("b1")
                .unwrap()
                .expose()
                .iter()
                .all(|x| x.count_ones() % 2 == 1)
        );
        let dbg = format!("{a:?}");
        assert!(dbg.contains("kcv"));
        assert!(!dbg.contains(&hex::encode_upper(a.get("b1").unwrap().expose())));
    }
}
