//! The phone's UPI side: the wallet's UPI routes (`/api/v1/upi/...`) as
//! JSON, and the PIN sealed on the phone to the bank's key from ListKeys
//! ([`paytap_seal::upi_pin`]) so that only the bank reads it.

use crate::wallet::{WalletClient, WalletClientError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use paytap_seal::upi_pin::{PinPurpose, pin_well_formed, seal_pin};
use paytap_types::Secret;
use serde_json::Value;

/// The prefix of every UPI route.
const UPI_PREFIX: &str = "/api/v1/upi/";

/// Why a PIN could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// Not 4 or 6 digits.
    #[error("a UPI PIN is 4 or 6 digits")]
    Shape,
    /// The wallet's ListKeys has no key for the account's bank.
    #[error("no PIN key for bank {0}")]
    NoKey(String),
    /// The wallet did not answer.
    #[error(transparent)]
    Wallet(#[from] WalletClientError),
    /// Sealing failed (no randomness).
    #[error("sealing the PIN failed")]
    Seal,
}

impl WalletClient {
    /// `GET /api/v1/upi/<path>`.
    pub async fn upi_get(&self, path: &str) -> Result<Value, WalletClientError> {
        let full = format!("{UPI_PREFIX}{path}");
        self.call(reqwest::Method::GET, &full, None).await
    }

    /// `POST /api/v1/upi/<path>` with `body`.
    pub async fn upi_post(&self, path: &str, body: Value) -> Result<Value, WalletClientError> {
        let full = format!("{UPI_PREFIX}{path}");
        self.call(reqwest::Method::POST, &full, Some(body)).await
    }

    /// `pin` sealed to the key of the bank of `ifsc` for `purpose` and `id`,
    /// Base64, as the wallet's UPI routes take it.
    pub async fn upi_pin_block(
        &self,
        ifsc: &str,
        purpose: PinPurpose,
        id: &str,
        pin: &Secret<String>,
    ) -> Result<String, PinError> {
        if !pin_well_formed(pin.expose()) {
            return Err(PinError::Shape);
        }
        let keys = self.upi_get("keys").await?;
        let key = keys["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|k| k["bank"].as_str().is_some_and(|b| ifsc.starts_with(b)))
            .and_then(|k| k["public_key"].as_str())
            .and_then(|k| paytap_seal::public_key_from_base64(k).ok())
            .ok_or_else(|| PinError::NoKey(ifsc.get(..4).unwrap_or(ifsc).to_owned()))?;
        let block = seal_pin(&key, purpose, id, pin).map_err(|_| PinError::Seal)?;
        Ok(STANDARD.encode(block))
    }
}
