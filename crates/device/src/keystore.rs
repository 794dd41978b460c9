//! The secure element's non-volatile memory, emulated as one file encrypted
//! at rest.
//!
//! ## File format
//!
//! ```text
//! magic "PTSE" (4) | version = 1 (1) | kdf (1) | salt (16)
//!   | argon2 m_cost KiB (u32 BE) | t_cost (u32 BE) | p_cost (u32 BE)
//!   | nonce (12) | ChaCha20-Poly1305 ciphertext ‖ tag (16)
//! ```
//!
//! Everything before the ciphertext is the associated data, so a header
//! cannot be altered without the file failing to open. A fresh random nonce
//! is drawn for every write (96-bit random nonces under one key: safe far
//! beyond the number of writes a device makes).
//!
//! ## Where the file key comes from ([`KeystoreKey`])
//!
//! * `kdf = 1`, **device-bound key file**: 32 random bytes in a separate
//!   file created with mode `0600`; opening refuses a key file that group or
//!   others can read. This stands for a key fused into the device's secure
//!   hardware. The argon2 fields are zero.
//! * `kdf = 2`, **passphrase**: Argon2id (RFC 9106, version 0x13) with the
//!   per-file random salt and the cost parameters stored in the header
//!   (default m = 19 MiB, t = 2, p = 1).
//!
//! One process at a time owns a keystore: opening takes an exclusive
//! advisory lock on `FILE.lock` (refused with [`DeviceError::Busy`] while
//! another process holds it), so two processes can never reserve the same
//! ATC from the same file.
//!
//! Writes are atomic and durable: the new content goes to `FILE.tmp`
//! (mode `0600`), is fsynced, renamed over `FILE`, and the directory is
//! fsynced. A crash leaves either the old or the new file, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use paytap_types::Secret;
use zeroize::Zeroizing;

use crate::DeviceError;

const MAGIC: &[u8; 4] = b"PTSE";
const VERSION: u8 = 1;
const KDF_KEY_FILE: u8 = 1;
const KDF_ARGON2ID: u8 = 2;
const HEADER_LEN: usize = 4 + 1 + 1 + 16 + 12 + 12;
const TAG_LEN: usize = 16;
/// Argon2id defaults (OWASP's first recommendation).
const ARGON2_M_KIB: u32 = 19 * 1024;
const ARGON2_T: u32 = 2;
const ARGON2_P: u32 = 1;
/// Random bytes in a [`KeystoreKey::for_this_run`] passphrase.
const RUN_PASSPHRASE_BYTES: usize = 32;

/// Where the keystore's encryption key comes from.
#[derive(Clone, Debug)]
pub enum KeystoreKey {
    /// A 32-byte device-bound key in this file (created with mode 0600 when
    /// the keystore is created).
    KeyFile(PathBuf),
    /// A passphrase stretched with Argon2id.
    Passphrase(Secret<String>),
}

impl KeystoreKey {
    /// The conventional key file of a keystore: `FILE.key` beside it.
    pub fn key_file_for(keystore: &Path) -> KeystoreKey {
        let mut name = keystore.as_os_str().to_owned();
        name.push(".key");
        KeystoreKey::KeyFile(PathBuf::from(name))
    }

    /// A fresh random passphrase (Argon2id, as any passphrase) that only
    /// this process ever holds: for keystores no other process opens, such
    /// as the demo's devices and a bench's, so nothing that opens them is
    /// ever written to disk.
    pub fn for_this_run() -> Result<KeystoreKey, DeviceError> {
        let bytes = Zeroizing::new(random::<RUN_PASSPHRASE_BYTES>()?);
        Ok(KeystoreKey::Passphrase(Secret::new(hex::encode(
            bytes.as_ref(),
        ))))
    }
}

/// An open keystore file: path, header parameters and the derived file key.
pub(crate) struct Keystore {
    path: PathBuf,
    kdf: u8,
    salt: [u8; 16],
    params: [u32; 3],
    key: Zeroizing<[u8; 32]>,
    /// Exclusive lock on `FILE.lock`, held while the keystore is open.
    _lock: File,
}

/// Takes the exclusive lock of a keystore (`FILE.lock`, an advisory
/// `flock`): one process at a time owns a secure element, so two processes
/// can never both reserve the same ATC from the same file.
fn lock(path: &Path) -> Result<File, DeviceError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(io(&lock_path, "open the lock file"))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(DeviceError::Busy(path.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(&lock_path, "lock")(e)),
    }
}

/// Upper bounds on the Argon2id parameters a header may ask for (1 GiB,
/// 16 passes, 16 lanes), so a damaged header cannot exhaust memory.
fn sane_params([m, t, p]: [u32; 3]) -> bool {
    (8..=1 << 20).contains(&m) && (1..=16).contains(&t) && (1..=16).contains(&p)
}

fn random<const N: usize>() -> Result<[u8; N], DeviceError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| DeviceError::Random)?;
    Ok(b)
}

fn io<'a>(path: &'a Path, what: &'static str) -> impl Fn(std::io::Error) -> DeviceError + 'a {
    move |e| DeviceError::Io {
        what,
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn argon2(
    pass: &str,
    salt: &[u8; 16],
    [m, t, p]: [u32; 3],
) -> Result<Zeroizing<[u8; 32]>, DeviceError> {
    let params = argon2::Params::new(m, t, p, Some(32))
        .map_err(|_| DeviceError::Corrupt("argon2 parameters"))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    a.hash_password_into(pass.as_bytes(), salt, out.as_mut())
        .map_err(|_| DeviceError::Corrupt("argon2"))?;
    Ok(out)
}

fn read_key_file(path: &Path) -> Result<Zeroizing<[u8; 32]>, DeviceError> {
    let meta = fs::metadata(path).map_err(io(path, "read the key file"))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(DeviceError::KeyFilePermissions(path.display().to_string()));
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(io(path, "read the key file"))?);
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| DeviceError::Corrupt("key file is not 32 bytes"))?;
    Ok(Zeroizing::new(arr))
}

fn write_private(path: &Path, bytes: &[u8], create_new: bool) -> Result<(), DeviceError> {
    let mut o = OpenOptions::new();
    o.write(true).mode(0o600);
    if create_new {
        o.create_new(true);
    } else {
        o.create(true).truncate(true);
    }
    let mut f = o.open(path).map_err(io(path, "write"))?;
    f.write_all(bytes).map_err(io(path, "write"))?;
    f.sync_all().map_err(io(path, "sync"))?;
    Ok(())
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            // Best effort: the file itself was synced; a directory that cannot be synced only risks the rename.
            let _ = d.sync_all();
        }
    }
}

impl Keystore {
    /// Creates a new keystore at `path` (refusing to overwrite one) holding `plaintext`.
    pub(crate) fn create(
        path: &Path,
        key: &KeystoreKey,
        plaintext: &[u8],
    ) -> Result<Keystore, DeviceError> {
        if path.exists() {
            return Err(DeviceError::Exists(path.display().to_string()));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io(dir, "create the directory"))?;
        }
        let lock = lock(path)?;
        if path.exists() {
            return Err(DeviceError::Exists(path.display().to_string()));
        }
        let salt = random::<16>()?;
        let (kdf, params, file_key) = match key {
            KeystoreKey::KeyFile(kp) => {
                let k = if kp.exists() {
                    read_key_file(kp)?
                } else {
                    let k = Zeroizing::new(random::<32>()?);
                    write_private(kp, k.as_ref(), true)?;
                    sync_dir(kp);
                    k
                };
                (KDF_KEY_FILE, [0; 3], k)
            }
            KeystoreKey::Passphrase(p) => {
                let params = [ARGON2_M_KIB, ARGON2_T, ARGON2_P];
                (KDF_ARGON2ID, params, argon2(p.expose(), &salt, params)?)
            }
        };
        let ks = Keystore {
            path: path.to_owned(),
            kdf,
            salt,
            params,
            key: file_key,
            _lock: lock,
        };
        ks.write(plaintext)?;
        Ok(ks)
    }

    /// Opens and decrypts the keystore at `path`.
    pub(crate) fn open(
        path: &Path,
        key: &KeystoreKey,
    ) -> Result<(Keystore, Zeroizing<Vec<u8>>), DeviceError> {
        if !path.exists() {
            return Err(io(path, "read the keystore")(
                std::io::ErrorKind::NotFound.into(),
            ));
        }
        let lock = lock(path)?;
        let bytes = fs::read(path).map_err(io(path, "read the keystore"))?;
        if bytes.len() < HEADER_LEN + TAG_LEN || bytes.get(..4) != Some(MAGIC.as_slice()) {
            return Err(DeviceError::Corrupt("not a paytap secure element file"));
        }
        if bytes.get(4) != Some(&VERSION) {
            return Err(DeviceError::Corrupt("unknown keystore version"));
        }
        let kdf = bytes.get(5).copied().unwrap_or(0);
        let salt: [u8; 16] = bytes
            .get(6..22)
            .and_then(|s| s.try_into().ok())
            .ok_or(DeviceError::Corrupt("header"))?;
        let u32_at = |i: usize| {
            bytes
                .get(i..i + 4)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map(u32::from_be_bytes)
                .ok_or(DeviceError::Corrupt("header"))
        };
        let params = [u32_at(22)?, u32_at(26)?, u32_at(30)?];
        let file_key = match (kdf, key) {
            (KDF_KEY_FILE, KeystoreKey::KeyFile(kp)) => read_key_file(kp)?,
            (KDF_ARGON2ID, KeystoreKey::Passphrase(_)) if !sane_params(params) => {
                return Err(DeviceError::Corrupt("argon2 parameters out of range"));
            }
            (KDF_ARGON2ID, KeystoreKey::Passphrase(p)) => argon2(p.expose(), &salt, params)?,
            (KDF_KEY_FILE, _) => return Err(DeviceError::WrongKeyKind("a device-bound key file")),
            (KDF_ARGON2ID, _) => return Err(DeviceError::WrongKeyKind("a passphrase")),
            _ => return Err(DeviceError::Corrupt("unknown key derivation")),
        };
        let header = bytes
            .get(..HEADER_LEN)
            .ok_or(DeviceError::Corrupt("header"))?;
        let nonce: [u8; 12] = bytes
            .get(34..46)
            .and_then(|s| s.try_into().ok())
            .ok_or(DeviceError::Corrupt("header"))?;
        let ct = bytes
            .get(HEADER_LEN..)
            .ok_or(DeviceError::Corrupt("header"))?;
        let cipher = ChaCha20Poly1305::new_from_slice(file_key.as_ref())
            .map_err(|_| DeviceError::Corrupt("key"))?;
        let plain = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: header,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| DeviceError::Unlock)?;
        Ok((
            Keystore {
                path: path.to_owned(),
                kdf,
                salt,
                params,
                key: file_key,
                _lock: lock,
            },
            plain,
        ))
    }

    /// Encrypts `plaintext` under a fresh nonce and replaces the file atomically.
    pub(crate) fn write(&self, plaintext: &[u8]) -> Result<(), DeviceError> {
        let nonce = random::<12>()?;
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(self.kdf);
        out.extend_from_slice(&self.salt);
        for p in self.params {
            out.extend_from_slice(&p.to_be_bytes());
        }
        out.extend_from_slice(&nonce);
        let cipher = ChaCha20Poly1305::new_from_slice(self.key.as_ref())
            .map_err(|_| DeviceError::Corrupt("key"))?;
        let ct = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &out,
                },
            )
            .map_err(|_| DeviceError::Corrupt("encryption failed"))?;
        out.extend_from_slice(&ct);
        let mut tmp = self.path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        write_private(&tmp, &out, false)?;
        fs::rename(&tmp, &self.path).map_err(io(&self.path, "replace the keystore"))?;
        sync_dir(&self.path);
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}
