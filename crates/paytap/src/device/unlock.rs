//! How `paytap device` and `paytap pos charge --keystore` unlock a device
//! keystore: with a passphrase, as a device's unlock secret, stretched with
//! Argon2id. It comes from `--passphrase-file PATH` (the file's first line;
//! the file must be private) or else from `PAYTAP_KEYSTORE_PASSPHRASE`.
//! Every new keystore takes it; nothing that opens the keystore is written
//! beside it. A keystore made by an older paytap, whose key is the file
//! `FILE.key` beside it, still opens, with a warning that it is the weaker
//! kind.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use paytap_device::{Device, DeviceError, KeystoreKey};
use paytap_types::Secret;
use zeroize::Zeroizing;

/// The environment variable that may hold the keystore passphrase.
pub const PASSPHRASE_ENV: &str = "PAYTAP_KEYSTORE_PASSPHRASE";

/// The most of a passphrase file read, in bytes: a passphrase is one line.
const MAX_PASSPHRASE_FILE: u64 = 4096;

/// The permission bits of group and others, none of which a passphrase
/// file may have.
const GROUP_OTHER_BITS: u32 = 0o077;

/// The two ways to give the passphrase, for error messages.
const HOW: &str = "set PAYTAP_KEYSTORE_PASSPHRASE or pass --passphrase-file PATH \
                   (a file of mode 0600 whose first line is the passphrase)";

/// Where the keystore's passphrase comes from.
#[derive(ClapArgs, Clone, Default)]
pub struct Unlock {
    /// A file whose first line is the keystore's passphrase (mode 0600);
    /// without it, PAYTAP_KEYSTORE_PASSPHRASE.
    #[arg(long, value_name = "PATH")]
    pub passphrase_file: Option<PathBuf>,
}

impl Unlock {
    /// The key for a new keystore: always a passphrase; an error naming
    /// both ways to give one when there is none.
    pub fn create_key(&self) -> anyhow::Result<KeystoreKey> {
        match self.passphrase()? {
            Some(p) => Ok(KeystoreKey::Passphrase(p)),
            None => bail!("a new keystore is protected by a passphrase: {HOW}"),
        }
    }

    /// Opens the device whose keystore is `path`.
    pub fn open(&self, path: &Path) -> anyhow::Result<Device> {
        let opened = match self.passphrase()? {
            Some(p) => open_with_passphrase(path, p),
            None => open_without_passphrase(path),
        };
        opened.with_context(|| format!("opening {}", path.display()))
    }

    /// The passphrase: the file's first line, else the environment's.
    fn passphrase(&self) -> anyhow::Result<Option<Secret<String>>> {
        if let Some(file) = &self.passphrase_file {
            return read_passphrase_file(file).map(Some);
        }
        Ok(std::env::var(PASSPHRASE_ENV)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Secret::new))
    }
}

/// With a passphrase given: a passphrase keystore opens with it; an older
/// key-file keystore opens with its key file, and says it is the weaker kind.
fn open_with_passphrase(path: &Path, passphrase: Secret<String>) -> anyhow::Result<Device> {
    match Device::open(path, &KeystoreKey::Passphrase(passphrase)) {
        // Given a passphrase, the only other kind is the key file.
        Err(DeviceError::WrongKeyKind(_)) => open_key_file_kind(path),
        other => Ok(other?),
    }
}

/// Without one: only an older key-file keystore opens.
fn open_without_passphrase(path: &Path) -> anyhow::Result<Device> {
    match open_key_file_kind(path) {
        // Given a key file, the only other kind is the passphrase.
        Err(e) if matches!(e.downcast_ref(), Some(DeviceError::WrongKeyKind(_))) => {
            bail!("this keystore is protected by a passphrase: {HOW}")
        }
        other => other,
    }
}

/// Opens a keystore whose key is `FILE.key` beside it, with a warning.
fn open_key_file_kind(path: &Path) -> anyhow::Result<Device> {
    let device = Device::open(path, &KeystoreKey::key_file_for(path))?;
    tracing::warn!(
        keystore = %path.display(),
        "this keystore is the older, weaker kind: its key is the file beside it (FILE.key), \
         so anyone who copies the directory can open it; enrol a new device with a passphrase \
         ({HOW}) to replace it"
    );
    Ok(device)
}

/// The first line of a private passphrase file.
fn read_passphrase_file(file: &Path) -> anyhow::Result<Secret<String>> {
    let meta = std::fs::metadata(file)
        .with_context(|| format!("reading the passphrase file {}", file.display()))?;
    if meta.permissions().mode() & GROUP_OTHER_BITS != 0 {
        bail!(
            "the passphrase file {} is readable by group or others: chmod 600 it",
            file.display()
        );
    }
    let mut text = Zeroizing::new(String::new());
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_PASSPHRASE_FILE).read_to_string(&mut text))
        .with_context(|| format!("reading the passphrase file {}", file.display()))?;
    first_line(&text)
        .map(|line| Secret::new(line.to_owned()))
        .with_context(|| {
            format!(
                "the first line of {} is empty: it holds the keystore's passphrase",
                file.display()
            )
        })
}

/// The first line of `text` without its line ending, when not empty.
fn first_line(text: &str) -> Option<&str> {
    let line = text.lines().next()?;
    let line = line.strip_suffix('\r').unwrap_or(line);
    (!line.is_empty()).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_the_passphrase() {
        assert_eq!(first_line("correct horse\nnext"), Some("correct horse"));
        assert_eq!(first_line("with crlf\r\n"), Some("with crlf"));
        assert_eq!(first_line("\nsecond"), None);
        assert_eq!(first_line(""), None);
    }
}
