//! What the PSP keeps sealed in `upipsp_bindings`: the holder's mobile
//! number, account number and name, each AES-256-GCM
//! ([`paytap_seal::at_rest`]) bound to its binding id and column, so a sealed
//! value opens in no other row or column; stored as hex. Beside them the
//! keyed fingerprints (HMAC-SHA256) of the mobile number (`mobile_fp`: how a
//! mobile number is paid) and of the account (`account_fp`: one binding per
//! owner, device and account), so neither is readable in the table.

use crate::error::PspError;
use paytap_seal::at_rest;
use zeroize::Zeroizing;

/// Bytes of a fingerprint kept (128 bits: no collision among any number of
/// holders).
const FINGERPRINT_LEN: usize = 16;

/// A sealed column of `upipsp_bindings`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Column {
    Mobile,
    AccountNumber,
    Holder,
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Column::Mobile => "mobile",
            Column::AccountNumber => "account_number",
            Column::Holder => "holder",
        }
    }
}

/// The fingerprint and sealing keys, derived from the PSP's data key.
pub(crate) struct BindingCipher {
    fingerprint: Zeroizing<[u8; 32]>,
    seal: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for BindingCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BindingCipher([REDACTED])")
    }
}

impl BindingCipher {
    /// Derives both keys from `data_key` (HMAC-SHA256 under distinct
    /// labels: one HKDF-expand block each).
    pub(crate) fn new(data_key: &[u8; 32]) -> BindingCipher {
        BindingCipher {
            fingerprint: Zeroizing::new(at_rest::keyed_hash(
                data_key,
                b"upipsp bindings fingerprint v1\x01",
            )),
            seal: Zeroizing::new(at_rest::keyed_hash(
                data_key,
                b"upipsp bindings seal v1\x01",
            )),
        }
    }

    fn fingerprint(&self, kind: &str, value: &str) -> String {
        let data = format!("{kind}\0{value}");
        hex::encode(
            &at_rest::keyed_hash(self.fingerprint.as_slice(), data.as_bytes())[..FINGERPRINT_LEN],
        )
    }

    /// `mobile`'s fingerprint, lowercase hex.
    pub(crate) fn mobile_fp(&self, mobile: &str) -> String {
        self.fingerprint("mobile", mobile)
    }

    /// The fingerprint of account `number` at `ifsc`, lowercase hex.
    pub(crate) fn account_fp(&self, ifsc: &str, number: &str) -> String {
        self.fingerprint("account", &format!("{ifsc}\0{number}"))
    }

    /// `value` sealed for `column` of binding `binding_id`, hex.
    pub(crate) fn seal(
        &self,
        binding_id: &str,
        column: Column,
        value: &str,
    ) -> Result<String, PspError> {
        at_rest::seal(&self.seal, &aad(binding_id, column), value.as_bytes())
            .map(hex::encode)
            .map_err(|e| {
                tracing::error!(binding_id, column = column.name(), error = %e, "UPI binding not sealed");
                PspError::Corrupt(format!("binding {binding_id}: {} not sealed", column.name()))
            })
    }

    /// The value a [`BindingCipher::seal`] output holds, if it was sealed
    /// for `column` of binding `binding_id` under this key.
    pub(crate) fn open(
        &self,
        binding_id: &str,
        column: Column,
        sealed: &str,
    ) -> Result<String, PspError> {
        let plain = hex::decode(sealed)
            .ok()
            .and_then(|b| at_rest::open(&self.seal, &aad(binding_id, column), &b).ok())
            .and_then(|p| String::from_utf8(p.to_vec()).ok());
        plain.ok_or_else(|| {
            tracing::error!(
                binding_id,
                column = column.name(),
                "UPI binding: a sealed value does not open (another key, row or column, or altered)"
            );
            PspError::Corrupt(format!(
                "binding {binding_id}: sealed {} does not open",
                column.name()
            ))
        })
    }
}

fn aad(binding_id: &str, column: Column) -> Vec<u8> {
    format!("upipsp_bindings {binding_id} {}", column.name()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_in_its_row_and_column() {
        let c = BindingCipher::new(&[3u8; 32]);
        let sealed = c.seal("bnd_a", Column::Mobile, "9876543210").unwrap();
        assert!(!sealed.contains("9876543210"));
        assert_eq!(
            c.open("bnd_a", Column::Mobile, &sealed).unwrap(),
            "9876543210"
        );
        assert!(c.open("bnd_b", Column::Mobile, &sealed).is_err());
        assert!(c.open("bnd_a", Column::Holder, &sealed).is_err());
        assert!(c.open("bnd_a", Column::Mobile, "9876543210").is_err());
        assert!(
            BindingCipher::new(&[4u8; 32])
                .open("bnd_a", Column::Mobile, &sealed)
                .is_err()
        );
    }

    #[test]
    fn fingerprints_are_keyed_and_kept_apart() {
        let c = BindingCipher::new(&[3u8; 32]);
        assert_eq!(c.mobile_fp("9876543210"), c.mobile_fp("9876543210"));
        assert_eq!(c.mobile_fp("9876543210").len(), 2 * FINGERPRINT_LEN);
        assert_ne!(c.mobile_fp("9876543210"), c.mobile_fp("9876543211"));
        assert_ne!(
            BindingCipher::new(&[4u8; 32]).mobile_fp("9876543210"),
            c.mobile_fp("9876543210")
        );
        assert_ne!(
            c.account_fp("ICIC0000001", "123456789012"),
            c.account_fp("HDFC0000001", "123456789012")
        );
        assert_ne!(c.mobile_fp("1234567890"), c.account_fp("", "1234567890"));
    }
}
