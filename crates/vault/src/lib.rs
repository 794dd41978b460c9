//! paytap-vault: card numbers, expiry dates and names at rest, encrypted.
//!
//! This crate owns the `vault_cards` table and the key file (`keys.toml`).
//!
//! Envelope encryption (NIST SP 800-38D AES-GCM, the pattern of PCI DSS v4
//! requirement 3.5/3.6 "data-encrypting keys protected by key-encrypting
//! keys"):
//!
//! * each record is encrypted under its own random 256-bit data key with
//!   AES-256-GCM, a random 96-bit nonce, and associated data binding the
//!   record id (so a ciphertext moved to another row fails to open);
//! * the data key is wrapped with AES-256-GCM under the key-encryption key
//!   (KEK) of a [`Keyring`] version, with associated data binding the record
//!   id *and* the KEK version; every row stores its `kek_version`;
//! * duplicates are found by `HMAC-SHA256(fingerprint key, PAN)` (RFC
//!   2104), stored under a unique index; the fingerprint key comes from a
//!   separate secret in the keyring via HKDF (RFC 5869), so it does not change
//!   when KEKs rotate. Neither the PAN nor the name is ever stored in clear.
//!
//! Rotation ([`Vault::rotate`]) re-wraps data keys only (records are not
//! re-encrypted), in batches, while the vault keeps serving: the old KEK keeps
//! decrypting until no row names it any more ([`Vault::key_status`]), then it
//! can be retired ([`Keyring::without_version`]). A vault whose keyring came
//! from a key file notices a rotation done by another process: it reloads the
//! file when the file changes (checked before each write) and when it meets a
//! `kek_version` it does not know.

mod keyring;
mod record;

pub use keyring::{KEK_ENV, KEY_FILE, Keyring};
pub use paytap_types::Pan;
pub use record::{CardRecord, Expiry, MAX_NAME};

use hmac::{Hmac, Mac};
use paytap_seal::{SealError, at_rest};
use paytap_store::{Db, Migration, StoreError};
use sha2::Sha256;
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;
use zeroize::Zeroizing;

/// Everything the vault can refuse or fail at. No variant carries card data
/// or key material.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("vault store: {0}")]
    Store(#[from] StoreError),
    #[error("card record not found")]
    NotFound,
    #[error("the card number differs from the one stored under this id")]
    PanMismatch,
    /// Authentication failed: wrong key, or tampered ciphertext or row.
    #[error("card record failed to decrypt (wrong key or tampered data)")]
    Decrypt,
    #[error("card record is malformed")]
    CorruptRecord,
    #[error("no key for KEK version {0}")]
    UnknownKeyVersion(u32),
    #[error("the current KEK version cannot be retired")]
    RetireCurrent,
    #[error("a new keyring must keep the fingerprint secret (duplicate detection depends on it)")]
    FingerprintSecretChanged,
    #[error("expiry must be YYMM with month 01 to 12")]
    InvalidExpiry,
    #[error("cardholder name must be at most {MAX_NAME} bytes without control characters")]
    InvalidName,
    #[error("key file: {0}")]
    KeyFile(std::io::Error),
    #[error("key file is readable by others (mode {0:o}); chmod 600 it")]
    KeyFilePermissions(u32),
    #[error("invalid keys: {0}")]
    KeyFormat(&'static str),
    #[error("the system random number generator failed")]
    Random,
}

impl From<paytap_types::ExpiryError> for VaultError {
    fn from(_: paytap_types::ExpiryError) -> Self {
        VaultError::InvalidExpiry
    }
}

impl From<sqlx::Error> for VaultError {
    fn from(e: sqlx::Error) -> Self {
        VaultError::Store(StoreError::Sql(e))
    }
}

/// Schema owned by this crate.
pub const MIGRATIONS: &[Migration] = &[Migration {
    component: "vault",
    version: 1,
    sql: "CREATE TABLE vault_cards (\
            id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, kek_version BIGINT NOT NULL, \
            wrapped_key {blob} NOT NULL, sealed {blob} NOT NULL, \
            created_at BIGINT NOT NULL, rewrapped_at BIGINT);\
          CREATE UNIQUE INDEX vault_cards_fingerprint ON vault_cards (fingerprint);\
          CREATE INDEX vault_cards_kek_version ON vault_cards (kek_version)",
}];

/// The answer to [`Vault::put`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultEntry {
    /// The record id (`card_<uuid>`), what other services store instead of
    /// the PAN.
    pub id: String,
    /// Hex HMAC-SHA256 of the PAN under the fingerprint key.
    pub fingerprint: String,
    /// The PAN was already in the vault; `id` is the existing record and it
    /// was left unchanged.
    pub existed: bool,
}

/// Progress of a rotation, reported after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationProgress {
    /// Records re-wrapped so far.
    pub rewrapped: u64,
    /// Records that named an older version when the rotation started
    /// (plus any written under an older version since).
    pub total: u64,
}

/// The result of [`Vault::rotate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    pub version: u32,
    pub rewrapped: u64,
    pub batches: u64,
    /// Records per KEK version after the rotation.
    pub status: BTreeMap<u32, u64>,
}

const LABEL_DEK: &[u8] = b"paytap-vault/dek/v1";
const LABEL_CARD: &[u8] = b"paytap-vault/card/v1";

fn aad(label: &[u8], id: &str, version: Option<u32>) -> Vec<u8> {
    let mut a = Vec::with_capacity(label.len() + id.len() + 10);
    a.extend_from_slice(label);
    a.extend_from_slice(&u16::try_from(id.len()).unwrap_or(u16::MAX).to_be_bytes());
    a.extend_from_slice(id.as_bytes());
    if let Some(v) = version {
        a.extend_from_slice(&v.to_be_bytes());
    }
    a
}

/// AES-256-GCM with a fresh random nonce ([`paytap_seal::at_rest`]).
fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
    at_rest::seal(key, aad, plaintext).map_err(|e| match e {
        SealError::Random => VaultError::Random,
        _ => VaultError::CorruptRecord,
    })
}

fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, VaultError> {
    at_rest::open(key, aad, sealed).map_err(|_| VaultError::Decrypt)
}

fn wrap(kek: &[u8; 32], id: &str, version: u32, dek: &[u8; 32]) -> Result<Vec<u8>, VaultError> {
    seal(kek, &aad(LABEL_DEK, id, Some(version)), dek)
}

fn unwrap(
    kek: &[u8; 32],
    id: &str,
    version: u32,
    wrapped: &[u8],
) -> Result<Zeroizing<[u8; 32]>, VaultError> {
    let plain = open(kek, &aad(LABEL_DEK, id, Some(version)), wrapped)?;
    let mut dek = Zeroizing::new([0u8; 32]);
    if plain.len() != 32 {
        return Err(VaultError::Decrypt);
    }
    dek.copy_from_slice(&plain);
    Ok(dek)
}

fn fingerprint(keyring: &Keyring, pan: &Pan) -> String {
    let key = keyring.fingerprint_key();
    let mut mac = match <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key.as_slice()) {
        Ok(m) => m,
        // HMAC accepts keys of any length; unreachable in practice.
        Err(_) => return String::new(),
    };
    mac.update(pan.expose().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn version_from_db(v: i64) -> Result<u32, VaultError> {
    u32::try_from(v).map_err(|_| VaultError::CorruptRecord)
}

struct Inner {
    db: Db,
    keyring: RwLock<Arc<Keyring>>,
    /// Modification time and length of the key file when last loaded.
    stamp: Mutex<Option<(SystemTime, u64)>>,
    /// Records decrypted by [`Vault::get_cached`] (in memory only).
    /// Rotation does not change a record's content; [`Vault::update`] and
    /// [`Vault::delete`] drop it.
    decrypted: paytap_store::cache::Cache<CardRecord>,
    /// Held shared by a write ([`Vault::put`], [`Vault::update`]) from the
    /// moment it reads the current KEK until its commit; a rotation takes
    /// it exclusively once, right after making the new version current, so
    /// no write wrapped under the old version can land after the
    /// rotation's last scan.
    writes: tokio::sync::RwLock<()>,
}

/// Most decrypted records [`Vault::get_cached`] keeps in memory.
const DECRYPTED_CACHE: usize = 100_000;

/// The card vault. Cheap to clone; clones share keys and pool.
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("db", &self.inner.db)
            .field("keyring", &self.keyring())
            .finish()
    }
}

fn file_stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl Vault {
    /// Migrates the schema and opens the vault with `keyring`.
    pub async fn open(db: Db, keyring: Keyring) -> Result<Vault, VaultError> {
        db.migrate(MIGRATIONS).await?;
        let stamp = keyring.source().and_then(file_stamp);
        Ok(Vault {
            inner: Arc::new(Inner {
                db,
                keyring: RwLock::new(Arc::new(keyring)),
                stamp: Mutex::new(stamp),
                decrypted: paytap_store::cache::Cache::with_capacity(DECRYPTED_CACHE),
                writes: tokio::sync::RwLock::new(()),
            }),
        })
    }

    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The keys in use now.
    pub fn keyring(&self) -> Arc<Keyring> {
        Arc::clone(&paytap_types::sync::read(
            &self.inner.keyring,
            "vault keyring",
        ))
    }

    fn set_keyring(&self, keyring: Keyring) {
        let stamp = keyring.source().and_then(file_stamp);
        *paytap_types::sync::write(&self.inner.keyring, "vault keyring") = Arc::new(keyring);
        *paytap_types::sync::lock(&self.inner.stamp, "vault key file stamp") = stamp;
    }

    /// Re-reads the key file this vault's keyring came from. `force`: even
    /// if the file looks unchanged.
    fn reload(&self, force: bool) -> Result<bool, VaultError> {
        let current = self.keyring();
        let Some(path) = current.source() else {
            return Ok(false);
        };
        let stamp = file_stamp(path);
        if !force {
            let known = *paytap_types::sync::lock(&self.inner.stamp, "vault key file stamp");
            if stamp.is_none() || stamp == known {
                return Ok(false);
            }
        }
        let fresh = Keyring::load(path)?;
        if !fresh.same_fingerprint_secret(&current) {
            return Err(VaultError::FingerprintSecretChanged);
        }
        tracing::info!(
            current = fresh.current_version(),
            versions = ?fresh.versions(),
            "vault key file reloaded"
        );
        self.set_keyring(fresh);
        Ok(true)
    }

    /// The PAN's fingerprint under this vault's fingerprint key.
    pub fn fingerprint(&self, pan: &Pan) -> String {
        fingerprint(&self.keyring(), pan)
    }

    /// Stores a card, or finds the record that already holds this PAN (then
    /// `existed` is true and that record is not modified).
    pub async fn put(&self, record: CardRecord) -> Result<VaultEntry, VaultError> {
        record.validate()?;
        // A rotation elsewhere may have made a new version current.
        if let Err(error) = self.reload(false) {
            tracing::warn!(%error, "vault key file changed but could not be reloaded");
        }
        let _writing = self.inner.writes.read().await;
        let keyring = self.keyring();
        let fp = fingerprint(&keyring, &record.pan);
        if let Some(id) = self.find_by_fingerprint(&fp).await? {
            return Ok(VaultEntry {
                id,
                fingerprint: fp,
                existed: true,
            });
        }
        let id = format!("card_{}", uuid::Uuid::now_v7().simple());
        let version = keyring.current_version();
        let kek = keyring
            .current_kek()
            .ok_or(VaultError::UnknownKeyVersion(version))?;
        let mut dek = Zeroizing::new([0u8; 32]);
        getrandom::fill(dek.as_mut_slice()).map_err(|_| VaultError::Random)?;
        let plain = record.encode()?;
        let sealed = seal(&dek, &aad(LABEL_CARD, &id, None), &plain)?;
        let wrapped = wrap(kek, &id, version, &dek)?;
        let mut tx = self.inner.db.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO vault_cards (id, fingerprint, kek_version, wrapped_key, sealed, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (fingerprint) DO NOTHING",
        )
        .bind(id.as_str())
        .bind(fp.as_str())
        .bind(i64::from(version))
        .bind(wrapped)
        .bind(sealed)
        .bind(paytap_store::now_millis())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if inserted == 1 {
            tracing::debug!(card = %id, last4 = record.pan.last4(), "card stored in vault");
            return Ok(VaultEntry {
                id,
                fingerprint: fp,
                existed: false,
            });
        }
        // Another writer stored the same PAN at the same moment.
        let id = self
            .find_by_fingerprint(&fp)
            .await?
            .ok_or(VaultError::NotFound)?;
        Ok(VaultEntry {
            id,
            fingerprint: fp,
            existed: true,
        })
    }

    async fn find_by_fingerprint(&self, fp: &str) -> Result<Option<String>, VaultError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM vault_cards WHERE fingerprint = $1")
                .bind(fp)
                .fetch_optional(self.inner.db.pool())
                .await?;
        Ok(row.map(|r| r.0))
    }

    /// The record id holding this PAN, if any.
    pub async fn find(&self, pan: &Pan) -> Result<Option<String>, VaultError> {
        self.find_by_fingerprint(&self.fingerprint(pan)).await
    }

    /// Decrypts one record.
    pub async fn get(&self, id: &str) -> Result<CardRecord, VaultError> {
        let row =
            sqlx::query("SELECT kek_version, wrapped_key, sealed FROM vault_cards WHERE id = $1")
                .bind(id)
                .fetch_optional(self.inner.db.pool())
                .await?
                .ok_or(VaultError::NotFound)?;
        let version = version_from_db(row.try_get("kek_version")?)?;
        let wrapped: Vec<u8> = row.try_get("wrapped_key")?;
        let sealed: Vec<u8> = row.try_get("sealed")?;
        let mut keyring = self.keyring();
        if keyring.kek(version).is_none() {
            // Written under a version made by a rotation in another process.
            self.reload(true)?;
            keyring = self.keyring();
        }
        let kek = keyring
            .kek(version)
            .ok_or(VaultError::UnknownKeyVersion(version))?;
        let dek = unwrap(kek, id, version, &wrapped)?;
        let plain = open(&dek, &aad(LABEL_CARD, id, None), &sealed)?;
        CardRecord::decode(&plain)
    }

    /// Like [`Vault::get`], but a record decrypted recently by this call is
    /// answered from memory (the authorization path reads the same cards
    /// again and again). Changes made through this vault are seen at once.
    pub async fn get_cached(&self, id: &str) -> Result<CardRecord, VaultError> {
        if let Some(r) = self.inner.decrypted.get(id) {
            return Ok(r);
        }
        let epoch = self.inner.decrypted.epoch();
        let record = self.get(id).await?;
        self.inner.decrypted.insert_if(epoch, id, record.clone());
        Ok(record)
    }

    /// Replaces the expiry and name of record `id` (a renewed card keeps its
    /// PAN): re-encrypted under a fresh data key and the current KEK. The
    /// PAN must be the one already stored ([`VaultError::PanMismatch`]
    /// otherwise).
    pub async fn update(&self, id: &str, record: &CardRecord) -> Result<(), VaultError> {
        record.validate()?;
        if let Err(error) = self.reload(false) {
            tracing::warn!(%error, "vault key file changed but could not be reloaded");
        }
        let _writing = self.inner.writes.read().await;
        let keyring = self.keyring();
        let fp = fingerprint(&keyring, &record.pan);
        let version = keyring.current_version();
        let kek = keyring
            .current_kek()
            .ok_or(VaultError::UnknownKeyVersion(version))?;
        let mut dek = Zeroizing::new([0u8; 32]);
        getrandom::fill(dek.as_mut_slice()).map_err(|_| VaultError::Random)?;
        let plain = record.encode()?;
        let sealed = seal(&dek, &aad(LABEL_CARD, id, None), &plain)?;
        let wrapped = wrap(kek, id, version, &dek)?;
        let mut tx = self.inner.db.begin_write().await?;
        let stored: Option<(String,)> =
            sqlx::query_as("SELECT fingerprint FROM vault_cards WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        match stored {
            None => return Err(VaultError::NotFound),
            Some((f,)) if f != fp => return Err(VaultError::PanMismatch),
            Some(_) => {}
        }
        sqlx::query(
            "UPDATE vault_cards SET kek_version = $1, wrapped_key = $2, sealed = $3, \
             rewrapped_at = $4 WHERE id = $5",
        )
        .bind(i64::from(version))
        .bind(wrapped)
        .bind(sealed)
        .bind(paytap_store::now_millis())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.inner.decrypted.invalidate(id);
        Ok(())
    }

    /// Deletes a record (e.g. when the last token for a card is deleted).
    /// Returns whether it existed.
    pub async fn delete(&self, id: &str) -> Result<bool, VaultError> {
        let mut tx = self.inner.db.begin_write().await?;
        let n = sqlx::query("DELETE FROM vault_cards WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        self.inner.decrypted.invalidate(id);
        Ok(n == 1)
    }

    /// Records per KEK version.
    pub async fn key_status(&self) -> Result<BTreeMap<u32, u64>, VaultError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT kek_version, COUNT(*) FROM vault_cards GROUP BY kek_version ORDER BY kek_version",
        )
        .fetch_all(self.inner.db.pool())
        .await?;
        rows.into_iter()
            .map(|(v, n)| Ok((version_from_db(v)?, u64::try_from(n).unwrap_or(0))))
            .collect()
    }

    /// Switches to `new_keyring` (which must keep the fingerprint secret and
    /// every version still in use) and re-wraps every data key under its
    /// current KEK, 500 records per transaction. Reads and writes continue
    /// meanwhile; new records are written under the new version at once.
    pub async fn rotate(&self, new_keyring: &Keyring) -> Result<RotationReport, VaultError> {
        self.rotate_with(new_keyring, 500, |_| {}).await
    }

    /// [`Vault::rotate`] with a batch size and a progress callback.
    pub async fn rotate_with(
        &self,
        new_keyring: &Keyring,
        batch: usize,
        mut progress: impl FnMut(RotationProgress),
    ) -> Result<RotationReport, VaultError> {
        let old = self.keyring();
        if !new_keyring.same_fingerprint_secret(&old) {
            return Err(VaultError::FingerprintSecretChanged);
        }
        let version = new_keyring.current_version();
        let kek_new = *new_keyring
            .current_kek()
            .ok_or(VaultError::UnknownKeyVersion(version))?;
        let kek_new = Zeroizing::new(kek_new);
        // Every version still named by a row must stay decryptable.
        for v in self.key_status().await?.keys() {
            if new_keyring.kek(*v).is_none() {
                return Err(VaultError::UnknownKeyVersion(*v));
            }
        }
        self.set_keyring(new_keyring.clone());
        // Wait out the writes that read the old current version: from here
        // on every write wraps under the new one, so the scans below see
        // every record left to re-wrap.
        drop(self.inner.writes.write().await);
        let keyring = self.keyring();
        let batch = i64::try_from(batch.max(1)).unwrap_or(500);
        let count = |db: Db| async move {
            let (n,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM vault_cards WHERE kek_version <> $1")
                    .bind(i64::from(version))
                    .fetch_one(db.pool())
                    .await?;
            Ok::<u64, VaultError>(u64::try_from(n).unwrap_or(0))
        };
        let mut total = count(self.inner.db.clone()).await?;
        let mut rewrapped = 0u64;
        let mut batches = 0u64;
        progress(RotationProgress { rewrapped, total });
        loop {
            let rows: Vec<(String, i64, Vec<u8>)> = sqlx::query_as(
                "SELECT id, kek_version, wrapped_key FROM vault_cards WHERE kek_version <> $1 \
                 ORDER BY id LIMIT $2",
            )
            .bind(i64::from(version))
            .bind(batch)
            .fetch_all(self.inner.db.pool())
            .await?;
            if rows.is_empty() {
                break;
            }
            // Unwrap and re-wrap outside the write transaction.
            let mut updates = Vec::with_capacity(rows.len());
            for (id, old_version, wrapped) in rows {
                let v = version_from_db(old_version)?;
                let kek_old = keyring.kek(v).ok_or(VaultError::UnknownKeyVersion(v))?;
                let dek = unwrap(kek_old, &id, v, &wrapped)?;
                let rewrapped_key = wrap(&kek_new, &id, version, &dek)?;
                updates.push((id, old_version, rewrapped_key));
            }
            let now = paytap_store::now_millis();
            let mut tx = self.inner.db.begin_write().await?;
            for (id, old_version, w) in &updates {
                // Only if nobody re-wrapped or deleted it in between.
                let n = sqlx::query(
                    "UPDATE vault_cards SET kek_version = $1, wrapped_key = $2, rewrapped_at = $3 \
                     WHERE id = $4 AND kek_version = $5",
                )
                .bind(i64::from(version))
                .bind(w.as_slice())
                .bind(now)
                .bind(id.as_str())
                .bind(*old_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                rewrapped += n;
            }
            tx.commit().await?;
            batches += 1;
            total = total.max(rewrapped);
            progress(RotationProgress { rewrapped, total });
        }
        let status = self.key_status().await?;
        tracing::info!(version, rewrapped, batches, "vault KEK rotation finished");
        Ok(RotationReport {
            version,
            rewrapped,
            batches,
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aad_binds_id_and_version() {
        assert_ne!(aad(LABEL_DEK, "a", Some(1)), aad(LABEL_DEK, "a", Some(2)));
        assert_ne!(aad(LABEL_DEK, "a", Some(1)), aad(LABEL_DEK, "b", Some(1)));
        assert_ne!(aad(LABEL_DEK, "ab", None), aad(LABEL_CARD, "ab", None));
    }

    #[test]
    fn wrap_unwrap_and_tamper() {
        let kek = [1u8; 32];
        let dek = [2u8; 32];
        let w = wrap(&kek, "card_1", 1, &dek).unwrap();
        assert_eq!(w.len(), 12 + 32 + 16);
        assert_eq!(*unwrap(&kek, "card_1", 1, &w).unwrap(), dek);
        assert!(matches!(
            unwrap(&kek, "card_2", 1, &w),
            Err(VaultError::Decrypt)
        ));
        assert!(matches!(
            unwrap(&kek, "card_1", 2, &w),
            Err(VaultError::Decrypt)
        ));
        assert!(matches!(
            unwrap(&[3u8; 32], "card_1", 1, &w),
            Err(VaultError::Decrypt)
        ));
        for i in 0..w.len() {
            let mut t = w.clone();
            t[i] ^= 0x01;
            assert!(unwrap(&kek, "card_1", 1, &t).is_err());
        }
        assert!(unwrap(&kek, "card_1", 1, &w[..11]).is_err());
        // Fresh nonces: wrapping twice never gives the same bytes.
        assert_ne!(wrap(&kek, "card_1", 1, &dek).unwrap(), w);
    }
}
