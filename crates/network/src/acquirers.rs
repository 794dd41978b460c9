//! The acquirers the switch knows: `acquirers.toml` in the data directory
//! (mode 0600), one entry per acquirer with its DE 32 id and its 16-byte
//! message authentication key in hex:
//!
//! ```toml
//! [[acquirer]]
//! id = "10000000001"
//! key = "00112233445566778899AABBCCDDEEFF"
//! ```
//!
//! Created on first start with the demo acquirer
//! ([`paytap_types::DEMO_ACQUIRER_ID`]) and a random key.

use crate::NetworkError;
use paytap_iso8583::AcquirerKey;
use paytap_switch::Acquirers;
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

/// The file's name in the data directory.
pub const ACQUIRERS_FILE: &str = "acquirers.toml";

#[derive(Serialize, Deserialize)]
struct File {
    acquirer: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    id: String,
    key: String,
}

/// A fresh random key.
pub fn random_key() -> AcquirerKey {
    let mut k = [0u8; 16];
    rand::fill(&mut k);
    let key = AcquirerKey::from_bytes(k);
    zeroize::Zeroize::zeroize(&mut k);
    key
}

/// A registry of the demo acquirer alone, under `key`.
pub fn demo(key: AcquirerKey) -> Acquirers {
    let mut a = Acquirers::new();
    a.insert(paytap_types::DEMO_ACQUIRER_ID, key);
    a
}

/// Read `path` (an `acquirers.toml`).
pub fn load(path: &Path) -> Result<Acquirers, NetworkError> {
    let text = Zeroizing::new(std::fs::read_to_string(path)?);
    parse(&text).map_err(|e| NetworkError::Config(format!("{}: {e}", path.display())))
}

fn parse(text: &str) -> Result<Acquirers, String> {
    let file: File = toml::from_str(text).map_err(|e| e.message().to_owned())?;
    let mut out = Acquirers::new();
    for e in &file.acquirer {
        let valid_id =
            !e.id.is_empty() && e.id.len() <= 11 && e.id.bytes().all(|b| b.is_ascii_digit());
        if !valid_id {
            return Err("an acquirer id is 1 to 11 digits".into());
        }
        let key = AcquirerKey::from_hex(&e.key).map_err(|e| e.to_string())?;
        out.insert(&e.id, key);
    }
    if out.is_empty() {
        return Err("no acquirer".into());
    }
    Ok(out)
}

/// `DIR/acquirers.toml`, created 0600 with the demo acquirer and a random
/// key when absent.
pub fn load_or_create(dir: &Path) -> Result<Acquirers, NetworkError> {
    let path = dir.join(ACQUIRERS_FILE);
    if !path.exists() {
        let key = random_key();
        let text = Zeroizing::new(format!(
            "# The acquirers the switch accepts: DE 32 id and AES-128 MAC key (hex).\n\
             [[acquirer]]\nid = \"{}\"\nkey = \"{}\"\n",
            paytap_types::DEMO_ACQUIRER_ID,
            key.to_hex()
        ));
        crate::write_private(&path, text.as_bytes())?;
        tracing::info!(path = %path.display(), "created the acquirer key file with the demo acquirer");
    }
    load(&path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        let id = paytap_types::DEMO_ACQUIRER_ID;
        assert_eq!(a.key(id).unwrap().to_hex(), b.key(id).unwrap().to_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(ACQUIRERS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(parse("[[acquirer]]\nid = \"x\"\nkey = \"00\"\n").is_err());
        assert!(parse("acquirer = []\n").is_err());
    }
}
