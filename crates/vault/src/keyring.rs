//! The key-encryption keys (KEKs) and the fingerprint secret.
//!
//! Key file (`keys.toml`, mode 0600, written atomically):
//!
//! ```toml
//! current = 2
//! fingerprint_secret = "<64 hex digits>"
//!
//! [[kek]]
//! version = 1
//! key = "<64 hex digits>"
//! created_at = 1795000000000
//!
//! [[kek]]
//! version = 2
//! key = "<64 hex digits>"
//! created_at = 1796000000000
//! ```
//!
//! Or the environment: `PAYTAP_KEK=<64 hex digits>` gives a single version
//! (1) whose fingerprint secret is derived from it with HKDF-SHA256 (RFC
//! 5869); such a keyring cannot be rotated by `paytap keys rotate`.
//!
//! The fingerprint key (HMAC-SHA256 key for duplicate detection) is derived
//! from the fingerprint secret with HKDF-SHA256, never from a KEK, so it is
//! the same before and after any number of KEK rotations.

use crate::VaultError;
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::{Zeroize, Zeroizing};

/// Environment variable holding a single hex KEK.
pub const KEK_ENV: &str = "PAYTAP_KEK";
/// The key file's name inside a data directory.
pub const KEY_FILE: &str = "keys.toml";

type Key32 = Zeroizing<[u8; 32]>;

/// KEK versions, the current one, and the fingerprint secret. Keys are
/// zeroized on drop; `Debug` shows versions only.
#[derive(Clone)]
pub struct Keyring {
    keks: BTreeMap<u32, Key32>,
    created: BTreeMap<u32, i64>,
    current: u32,
    fingerprint_secret: Key32,
    source: Option<PathBuf>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("versions", &self.keks.keys().collect::<Vec<_>>())
            .field("current", &self.current)
            .field("keys", &"<redacted>")
            .field("source", &self.source)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    current: u32,
    fingerprint_secret: String,
    kek: Vec<KekEntry>,
}

#[derive(Serialize, Deserialize)]
struct KekEntry {
    version: u32,
    key: String,
    #[serde(default)]
    created_at: i64,
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        self.fingerprint_secret.zeroize();
        for k in &mut self.kek {
            k.key.zeroize();
        }
    }
}

fn random_key() -> Result<Key32, VaultError> {
    let mut k = Zeroizing::new([0u8; 32]);
    getrandom::fill(k.as_mut_slice()).map_err(|_| VaultError::Random)?;
    Ok(k)
}

fn parse_hex_key(hex_str: &str, what: &'static str) -> Result<Key32, VaultError> {
    let mut k = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_str.trim(), k.as_mut_slice())
        .map_err(|_| VaultError::KeyFormat(what))?;
    Ok(k)
}

impl Keyring {
    /// A fresh keyring: version 1 and a fingerprint secret, both random.
    pub fn generate() -> Result<Keyring, VaultError> {
        let mut keks = BTreeMap::new();
        keks.insert(1, random_key()?);
        Ok(Keyring {
            keks,
            created: BTreeMap::from([(1, paytap_store::now_millis())]),
            current: 1,
            fingerprint_secret: random_key()?,
            source: None,
        })
    }

    /// A single-version keyring from 32 raw bytes (the `PAYTAP_KEK` form).
    pub fn from_single_key(kek: [u8; 32]) -> Keyring {
        let kek = Zeroizing::new(kek);
        let mut fp = Zeroizing::new([0u8; 32]);
        // 32 bytes is always a valid HKDF-SHA256 output length.
        let _ = Hkdf::<Sha256>::new(Some(b"paytap-vault"), kek.as_slice())
            .expand(b"paytap-vault fingerprint secret v1", fp.as_mut_slice());
        Keyring {
            keks: BTreeMap::from([(1, kek)]),
            created: BTreeMap::from([(1, 0)]),
            current: 1,
            fingerprint_secret: fp,
            source: None,
        }
    }

    /// From `PAYTAP_KEK` (64 hex digits), if set.
    pub fn from_env() -> Result<Option<Keyring>, VaultError> {
        match std::env::var(KEK_ENV) {
            Ok(mut v) if !v.trim().is_empty() => {
                let k = parse_hex_key(&v, "PAYTAP_KEK must be 64 hex digits");
                v.zeroize();
                Ok(Some(Keyring::from_single_key(*k?)))
            }
            _ => Ok(None),
        }
    }

    /// Where a deployment gets its keys: `PAYTAP_KEK` if set, otherwise
    /// `dir/keys.toml`, created with fresh keys (mode 0600) on first run.
    pub fn for_data_dir(dir: &Path) -> Result<Keyring, VaultError> {
        if let Some(k) = Keyring::from_env()? {
            return Ok(k);
        }
        Keyring::load_or_create(&dir.join(KEY_FILE))
    }

    /// Loads a key file; refuses one readable by group or others.
    pub fn load(path: &Path) -> Result<Keyring, VaultError> {
        let mut text = Zeroizing::new(String::new());
        {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(VaultError::KeyFile)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = f
                    .metadata()
                    .map_err(VaultError::KeyFile)?
                    .permissions()
                    .mode();
                if mode & 0o077 != 0 {
                    return Err(VaultError::KeyFilePermissions(mode & 0o777));
                }
            }
            f.read_to_string(&mut text).map_err(VaultError::KeyFile)?;
        }
        // toml's error text quotes the offending line, which may hold key
        // material: report only that the syntax is wrong.
        let file: KeyFile = toml::from_str(&text)
            .map_err(|_| VaultError::KeyFormat("key file is not valid TOML"))?;
        let mut keks = BTreeMap::new();
        let mut created = BTreeMap::new();
        for entry in &file.kek {
            if entry.version == 0 {
                return Err(VaultError::KeyFormat("key versions start at 1"));
            }
            let k = parse_hex_key(&entry.key, "a KEK is not 64 hex digits")?;
            if keks.insert(entry.version, k).is_some() {
                return Err(VaultError::KeyFormat("duplicate key version"));
            }
            created.insert(entry.version, entry.created_at);
        }
        if !keks.contains_key(&file.current) {
            return Err(VaultError::KeyFormat("current version has no key"));
        }
        Ok(Keyring {
            keks,
            created,
            current: file.current,
            fingerprint_secret: parse_hex_key(
                &file.fingerprint_secret,
                "fingerprint_secret is not 64 hex digits",
            )?,
            source: Some(path.to_path_buf()),
        })
    }

    /// Loads `path`, or creates it with a fresh keyring if it does not exist
    /// (safe against two processes creating it at once: the loser loads the
    /// winner's file).
    pub fn load_or_create(path: &Path) -> Result<Keyring, VaultError> {
        match Keyring::load(path) {
            Err(VaultError::KeyFile(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = Keyring::generate()?;
                match k.write_file(path, false) {
                    Ok(()) => {
                        k.source = Some(path.to_path_buf());
                        tracing::info!(path = %path.display(), "created a new vault key file");
                        Ok(k)
                    }
                    Err(VaultError::KeyFile(e))
                        if e.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        Keyring::load(path)
                    }
                    Err(e) => Err(e),
                }
            }
            other => other,
        }
    }

    /// Writes the keyring to `path` atomically (temporary file with mode
    /// 0600, fsync, rename, fsync of the directory) and remembers it as
    /// the keyring's source.
    pub fn save(&mut self, path: &Path) -> Result<(), VaultError> {
        self.write_file(path, true)?;
        self.source = Some(path.to_path_buf());
        Ok(())
    }

    fn write_file(&self, path: &Path, replace: bool) -> Result<(), VaultError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(VaultError::KeyFile)?;
        let file = KeyFile {
            current: self.current,
            fingerprint_secret: hex::encode(self.fingerprint_secret.as_slice()),
            kek: self
                .keks
                .iter()
                .map(|(v, k)| KekEntry {
                    version: *v,
                    key: hex::encode(k.as_slice()),
                    created_at: self.created.get(v).copied().unwrap_or(0),
                })
                .collect(),
        };
        let text = Zeroizing::new(
            toml::to_string(&file).map_err(|_| VaultError::KeyFormat("cannot encode key file"))?,
        );
        let tmp = dir.join(format!(".keys.{}.tmp", uuid::Uuid::new_v4().simple()));
        let result = (|| -> std::io::Result<()> {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            drop(f);
            if replace {
                std::fs::rename(&tmp, path)?;
            } else {
                // Fails with AlreadyExists instead of clobbering a key file
                // another process just created.
                std::fs::hard_link(&tmp, path)?;
                std::fs::remove_file(&tmp)?;
            }
            if let Ok(d) = std::fs::File::open(&dir) {
                // Best effort: the file itself was synced; a directory that cannot be synced only risks the rename.
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            // Best effort: a stale temporary file is overwritten next time.
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(VaultError::KeyFile)
    }

    /// A copy with a new random KEK as version `max + 1`, made current. The
    /// old versions stay so existing records keep decrypting.
    pub fn with_new_version(&self) -> Result<Keyring, VaultError> {
        let next = self
            .keks
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or(VaultError::KeyFormat("no more key versions"))?;
        let mut k = self.clone();
        k.keks.insert(next, random_key()?);
        k.created.insert(next, paytap_store::now_millis());
        k.current = next;
        Ok(k)
    }

    /// A copy without `version` (after rotation has moved every record off
    /// it). The current version cannot be retired.
    pub fn without_version(&self, version: u32) -> Result<Keyring, VaultError> {
        if version == self.current {
            return Err(VaultError::RetireCurrent);
        }
        if !self.keks.contains_key(&version) {
            return Err(VaultError::UnknownKeyVersion(version));
        }
        let mut k = self.clone();
        k.keks.remove(&version);
        k.created.remove(&version);
        Ok(k)
    }

    pub fn current_version(&self) -> u32 {
        self.current
    }

    /// All versions, oldest first.
    pub fn versions(&self) -> Vec<u32> {
        self.keks.keys().copied().collect()
    }

    /// When a version was created (Unix ms; 0 if unknown).
    pub fn created_at(&self, version: u32) -> Option<i64> {
        self.created.get(&version).copied()
    }

    /// The file this keyring was loaded from or saved to.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    pub(crate) fn kek(&self, version: u32) -> Option<&[u8; 32]> {
        self.keks.get(&version).map(|k| &**k)
    }

    pub(crate) fn current_kek(&self) -> Option<&[u8; 32]> {
        self.kek(self.current)
    }

    /// HMAC-SHA256 key for PAN fingerprints.
    pub(crate) fn fingerprint_key(&self) -> Key32 {
        let mut k = Zeroizing::new([0u8; 32]);
        Hkdf::<Sha256>::new(Some(b"paytap-vault"), self.fingerprint_secret.as_slice())
            .expand(b"paytap-vault pan fingerprint v1", k.as_mut_slice())
            .expect("32 bytes is a valid HKDF-SHA256 output");
        k
    }

    /// A 256-bit key for another component's data at rest, derived (HKDF-
    /// SHA256) from the fingerprint secret under `purpose`, so distinct
    /// purposes get unrelated keys. Like the fingerprint key it does not
    /// change when KEKs rotate: what a component sealed before a rotation
    /// still opens after the old KEK is retired. Meant for short-lived
    /// records (the switch's stored advices), not for the vault's cards.
    pub fn subkey(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        let mut k = Zeroizing::new([0u8; 32]);
        let mut info = Vec::with_capacity(24 + purpose.len());
        info.extend_from_slice(b"paytap-vault subkey v1: ");
        info.extend_from_slice(purpose.as_bytes());
        Hkdf::<Sha256>::new(Some(b"paytap-vault"), self.fingerprint_secret.as_slice())
            .expand(&info, k.as_mut_slice())
            .expect("32 bytes is a valid HKDF-SHA256 output");
        k
    }

    pub(crate) fn same_fingerprint_secret(&self, other: &Keyring) -> bool {
        use subtle::ConstantTimeEq;
        self.fingerprint_secret
            .as_slice()
            .ct_eq(other.fingerprint_secret.as_slice())
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip_is_private_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let k = Keyring::load_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Keyring::load_or_create(&path).unwrap();
        assert_eq!(again.versions(), vec![1]);
        assert_eq!(again.kek(1), k.kek(1));
        assert_eq!(*again.fingerprint_key(), *k.fingerprint_key());

        let mut rotated = k.with_new_version().unwrap();
        rotated.save(&path).unwrap();
        let loaded = Keyring::load(&path).unwrap();
        assert_eq!(loaded.versions(), vec![1, 2]);
        assert_eq!(loaded.current_version(), 2);
        assert_ne!(loaded.kek(2), loaded.kek(1));
        // The fingerprint key survives rotation.
        assert_eq!(*loaded.fingerprint_key(), *k.fingerprint_key());
        assert!(loaded.same_fingerprint_secret(&k));
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);

        let retired = loaded.without_version(1).unwrap();
        assert_eq!(retired.versions(), vec![2]);
        assert!(matches!(
            loaded.without_version(2),
            Err(VaultError::RetireCurrent)
        ));
    }

    #[test]
    fn debug_and_errors_do_not_leak_keys() {
        let k = Keyring::generate().unwrap();
        let hexkey = hex::encode(k.kek(1).unwrap());
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&hexkey));
        assert!(dbg.contains("redacted"));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        let mut k2 = k.clone();
        k2.save(&path).unwrap();
        // Corrupt the file after the key so the TOML parser fails on a line
        // holding key material: the error must not repeat it.
        let text = std::fs::read_to_string(&path).unwrap();
        let broken = text.replace(&format!("key = \"{hexkey}\""), &format!("key = {hexkey}"));
        std::fs::write(&path, broken).unwrap();
        let err = Keyring::load(&path).unwrap_err().to_string();
        assert!(!err.contains(&hexkey[..16]), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_world_readable_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        Keyring::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Keyring::load(&path),
            Err(VaultError::KeyFilePermissions(0o644))
        ));
    }

    #[test]
    fn subkeys_differ_by_purpose_and_survive_rotation() {
        let ring = Keyring::generate().unwrap();
        let a = ring.subkey("switch forwards");
        assert_eq!(*a, *ring.subkey("switch forwards"));
        assert_ne!(*a, *ring.subkey("something else"));
        assert_ne!(*a, *ring.fingerprint_key());
        assert_ne!(&*a, ring.current_kek().unwrap());
        let rotated = ring.with_new_version().unwrap();
        let retired = rotated.without_version(1).unwrap();
        assert_eq!(*a, *retired.subkey("switch forwards"));
        assert_ne!(*a, *Keyring::generate().unwrap().subkey("switch forwards"));
    }

    #[test]
    fn single_key_form() {
        let a = Keyring::from_single_key([7u8; 32]);
        let b = Keyring::from_single_key([7u8; 32]);
        assert_eq!(a.versions(), vec![1]);
        assert_eq!(*a.fingerprint_key(), *b.fingerprint_key());
        assert_ne!(*a.fingerprint_key(), [7u8; 32]);
        assert!(parse_hex_key("zz", "x").is_err());
        assert!(parse_hex_key(&"ab".repeat(31), "x").is_err());
    }
}
