//! Mobile numbers at rest: `issuer_upi_accounts.mobile` holds the number
//! sealed (AES-256-GCM, bound to the bank and account number), and
//! `mobile_fp` its keyed fingerprint (HMAC-SHA256), by which a bank finds a
//! holder's accounts without the number being readable in the table.

use paytap_seal::at_rest::keyed_hash as hmac;
use zeroize::Zeroizing;

/// Bytes of a fingerprint kept (128 bits: no collision among any number of
/// holders).
pub const FINGERPRINT_LEN: usize = 16;

/// The fingerprint and sealing keys, derived from one data key.
pub(crate) struct MobileCipher {
    fingerprint: Zeroizing<[u8; 32]>,
    seal: Zeroizing<[u8; 32]>,
}

impl MobileCipher {
    /// Derives both keys from `data_key` (HMAC-SHA256 under distinct
    /// labels: one HKDF-expand block each).
    pub(crate) fn new(data_key: &[u8; 32]) -> MobileCipher {
        MobileCipher {
            fingerprint: Zeroizing::new(hmac(data_key, b"issuer upi mobile fingerprint v1\x01")),
            seal: Zeroizing::new(hmac(data_key, b"issuer upi mobile seal v1\x01")),
        }
    }

    /// `mobile`'s fingerprint, lowercase hex.
    pub(crate) fn fingerprint(&self, mobile: &str) -> String {
        hex::encode(&hmac(self.fingerprint.as_slice(), mobile.as_bytes())[..FINGERPRINT_LEN])
    }

    /// `mobile` sealed for account `account_number` of `bank_id`, hex.
    pub(crate) fn seal(&self, bank_id: &str, account_number: &str, mobile: &str) -> Option<String> {
        paytap_seal::at_rest::seal(&self.seal, &aad(bank_id, account_number), mobile.as_bytes())
            .map(hex::encode)
            .ok()
    }

    /// The mobile number a [`MobileCipher::seal`] output holds.
    pub(crate) fn open(&self, bank_id: &str, account_number: &str, sealed: &str) -> Option<String> {
        let bytes = hex::decode(sealed).ok()?;
        let plain =
            paytap_seal::at_rest::open(&self.seal, &aad(bank_id, account_number), &bytes).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

fn aad(bank_id: &str, account_number: &str) -> Vec<u8> {
    format!("issuer_upi_accounts {bank_id} {account_number}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_number_opens_only_for_its_account() {
        let c = MobileCipher::new(&[9u8; 32]);
        let sealed = c.seal("63560001", "123456789012", "9876543210").unwrap();
        assert!(!sealed.contains("9876543210"));
        assert_eq!(
            c.open("63560001", "123456789012", &sealed).as_deref(),
            Some("9876543210")
        );
        assert_eq!(c.open("63560001", "123456789013", &sealed), None);
        assert_eq!(c.fingerprint("9876543210"), c.fingerprint("9876543210"));
        assert_ne!(c.fingerprint("9876543210"), c.fingerprint("9876543211"));
        assert_ne!(
            MobileCipher::new(&[8u8; 32]).fingerprint("9876543210"),
            c.fingerprint("9876543210")
        );
    }
}
