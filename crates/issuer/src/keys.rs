//! The issuers' keys: per bank an issuer master key for application
//! cryptograms (IMK-AC, EMV Book 2 A1.4) and a card verification key pair
//! (CVK A ‖ CVK B) for CVV/CVV2, plus one key for hashing one-time passcodes.
//!
//! All derive from the deployment's master secret with HMAC-SHA256
//! (`HMAC(master, label ‖ bank id)`), so `paytap up` needs no key file of
//! its own; keys are zeroized on drop and never printed.

use hmac::{Hmac, KeyInit, Mac};
use paytap_emv::TdesKey;
use paytap_types::Secret;
use sha2::Sha256;
use std::collections::BTreeMap;
use zeroize::{Zeroize, Zeroizing};

/// One bank's keys.
#[derive(Clone)]
pub struct BankKeys {
    pub imk_ac: TdesKey,
    /// CVK A ‖ CVK B.
    pub cvk: TdesKey,
}

impl std::fmt::Debug for BankKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BankKeys")
            .field("imk_ac_kcv", &hex::encode_upper(self.imk_ac.kcv()))
            .field("cvk_kcv", &hex::encode_upper(self.cvk.kcv()))
            .finish()
    }
}

/// Every bank's keys.
#[derive(Clone, Debug, Default)]
pub struct IssuerKeys {
    banks: BTreeMap<String, BankKeys>,
    otp_key: OtpKey,
}

/// The key one-time passcodes are hashed with.
#[derive(Clone, Debug, Default)]
pub(crate) struct OtpKey(pub(crate) Secret<Vec<u8>>);

fn hmac32(master: &[u8], label: &str, id: &str) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    // HMAC takes keys of any length.
    if let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(master) {
        mac.update(label.as_bytes());
        mac.update(id.as_bytes());
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

fn tdes(master: &[u8], label: &str, id: &str) -> TdesKey {
    let h = hmac32(master, label, id);
    let mut k = [0u8; 16];
    k.copy_from_slice(&h[..16]);
    let key = TdesKey::new(k).with_odd_parity();
    k.zeroize();
    key
}

impl IssuerKeys {
    /// Derives every bank's keys from `master`.
    pub fn derive<'a>(master: &[u8], bank_ids: impl IntoIterator<Item = &'a str>) -> IssuerKeys {
        let mut banks = BTreeMap::new();
        for id in bank_ids {
            banks.insert(
                id.to_owned(),
                BankKeys {
                    imk_ac: tdes(master, "paytap issuer imk-ac v1|", id),
                    cvk: tdes(master, "paytap issuer cvk v1|", id),
                },
            );
        }
        let otp = hmac32(master, "paytap issuer otp v1|", "");
        IssuerKeys {
            banks,
            otp_key: OtpKey(Secret::new(otp.to_vec())),
        }
    }

    /// Sets one bank's keys explicitly (e.g. from a key ceremony).
    pub fn insert(&mut self, bank_id: &str, keys: BankKeys) {
        self.banks.insert(bank_id.to_owned(), keys);
    }

    pub fn bank(&self, bank_id: &str) -> Option<&BankKeys> {
        self.banks.get(bank_id)
    }

    pub(crate) fn otp_key(&self) -> &[u8] {
        self.otp_key.0.expose()
    }
}
