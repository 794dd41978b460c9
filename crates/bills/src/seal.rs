//! What the bill service keeps sealed: AES-256-GCM under a key derived from
//! the caller's data key, bound to the table and row, stored as hex.

use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

/// Seals and opens the service's sensitive columns.
pub(crate) struct Sealer {
    key: Zeroizing<[u8; 32]>,
}

/// A sealed value that does not open (not ours, or altered), or a seal that
/// failed; names the row.
#[derive(Debug, thiserror::Error)]
#[error("sealed {0} does not open")]
pub struct SealError(pub String);

impl Sealer {
    pub(crate) fn new(key: Zeroizing<[u8; 32]>) -> Sealer {
        Sealer { key }
    }

    /// `value` as JSON, sealed for `row`.
    pub(crate) fn seal<T: Serialize>(&self, row: &str, value: &T) -> Result<String, SealError> {
        let json = Zeroizing::new(
            serde_json::to_vec(value).expect("the sealed forms serialize: strings and maps"),
        );
        paytap_seal::at_rest::seal(&self.key, row.as_bytes(), &json)
            .map(hex::encode)
            .map_err(|_| SealError(row.to_owned()))
    }

    /// The value sealed for `row`.
    pub(crate) fn open<T: DeserializeOwned>(
        &self,
        row: &str,
        sealed: &str,
    ) -> Result<T, SealError> {
        let bad = || SealError(row.to_owned());
        let bytes = hex::decode(sealed).map_err(|_| bad())?;
        let json =
            paytap_seal::at_rest::open(&self.key, row.as_bytes(), &bytes).map_err(|_| bad())?;
        serde_json::from_slice(&json).map_err(|_| bad())
    }
}
