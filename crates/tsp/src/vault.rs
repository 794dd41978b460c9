//! The token service's view of the card vault: put a number (card or token)
//! with its expiry, read it back by vault id, find a vault id by number
//! (keyed-hash fingerprint lookup, never a clear-text comparison).
//!
//! The trait is dyn-compatible so the network can hand the TSP an
//! `Arc<dyn PanVault>`; [`paytap_vault::Vault`] implements it.

use crate::error::TspError;
use paytap_types::Pan;
use std::future::Future;
use std::pin::Pin;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A number read back from the vault. `Debug` is masked.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct VaultCard {
    #[zeroize(skip)]
    pub pan: Pan,
    /// `YYMM`.
    pub expiry_yymm: String,
}

impl std::fmt::Debug for VaultCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultCard").field("pan", &self.pan).finish_non_exhaustive()
    }
}

/// Result of storing a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultPut {
    pub id: String,
    /// The number was already in the vault (under `id`).
    pub existed: bool,
}

/// Encrypted storage of card and token numbers.
pub trait PanVault: Send + Sync {
    fn put<'a>(&'a self, pan: &'a Pan, expiry_yymm: &'a str) -> BoxFuture<'a, Result<VaultPut, TspError>>;
    fn get<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<VaultCard>, TspError>>;
    fn find<'a>(&'a self, pan: &'a Pan) -> BoxFuture<'a, Result<Option<String>, TspError>>;
}
