//! How `paytap device` unlocks its keystore: a passphrase (from
//! `PAYTAP_KEYSTORE_PASSPHRASE` or a private `--passphrase-file`) is
//! required to create one, a passphrase file others can read is refused,
//! a wrong passphrase does not open one, and a keystore of the older
//! key-file kind still opens with a warning that it is the weaker kind.
//! (`device_pos.rs` enrols with a passphrase against a running platform
//! and checks no key file is written.)

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use paytap_device::{Device, DeviceKind, KeystoreKey};
use paytap_types::Secret;

const BIN: &str = env!("CARGO_BIN_EXE_paytap");
const PASSPHRASE: &str = "a passphrase for the test phone";

/// `paytap ARGS` with the passphrase variable set to `passphrase`, or
/// removed.
fn paytap(args: &[&str], passphrase: Option<&str>) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).env_remove("PAYTAP_PASSWORD");
    match passphrase {
        Some(p) => c.env("PAYTAP_KEYSTORE_PASSPHRASE", p),
        None => c.env_remove("PAYTAP_KEYSTORE_PASSPHRASE"),
    };
    c.output().expect("run paytap")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `device enrol` against a wallet nobody serves: it must stop at the
/// keystore before reaching for the wallet.
fn enrol(keystore: &Path, extra: &[&str], passphrase: Option<&str>) -> Output {
    let ks = keystore.to_str().unwrap();
    let mut args = vec![
        "device",
        "enrol",
        "--wallet",
        "http://127.0.0.1:1",
        "--email",
        "li@example.com",
        "--password",
        "a long enough password",
        "--type",
        "phone",
        "--name",
        "Li's phone",
        "--keystore",
        ks,
    ];
    args.extend_from_slice(extra);
    paytap(&args, passphrase)
}

#[test]
fn creating_a_keystore_without_a_passphrase_fails_naming_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("phone.se");
    let o = enrol(&ks, &[], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with("paytap: error: a new keystore is protected by a passphrase"),
        "{err}"
    );
    assert!(
        err.contains("PAYTAP_KEYSTORE_PASSPHRASE") && err.contains("--passphrase-file"),
        "{err}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_passphrase_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passphrase");
    std::fs::write(&file, format!("{PASSPHRASE}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let ks = dir.path().join("phone.se");
    let o = enrol(&ks, &["--passphrase-file", file.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("readable by group or others"), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!ks.exists());
}

#[test]
fn a_passphrase_keystore_opens_with_its_passphrase_only() {
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("phone.se");
    let key = KeystoreKey::Passphrase(Secret::new(PASSPHRASE.into()));
    drop(Device::create(&ks, &key, DeviceKind::Phone, "Li's phone", "test").unwrap());
    let ks_s = ks.to_str().unwrap();

    // From a private file's first line.
    let file = dir.path().join("passphrase");
    std::fs::write(&file, format!("{PASSPHRASE}\nnot part of it\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file_s = file.to_str().unwrap();
    let cards = ["device", "cards", "--keystore", ks_s];
    let o = paytap(&[&cards[..], &["--passphrase-file", file_s]].concat(), None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Li's phone"));
    assert!(!stderr(&o).contains("weaker"), "{}", stderr(&o));
    // The keystore and its lock are the owner's alone, and no key file
    // lies beside it.
    for f in [ks.clone(), dir.path().join("phone.se.lock")] {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}: {mode:o}", f.display());
    }
    assert!(!dir.path().join("phone.se.key").exists());
    assert!(
        !dir.path().join("phone.se.tmp").exists(),
        "no half-written file left"
    );

    // A wrong passphrase.
    let o = paytap(&cards, Some("not the passphrase"));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("does not open"), "{}", stderr(&o));

    // None at all.
    let o = paytap(&cards, None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("protected by a passphrase") && err.contains("--passphrase-file"),
        "{err}"
    );
}

#[test]
fn an_older_key_file_keystore_still_opens_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("old.se");
    let key = KeystoreKey::key_file_for(&ks);
    drop(Device::create(&ks, &key, DeviceKind::Watch, "Li's watch", "test").unwrap());
    let cards = ["device", "cards", "--keystore", ks.to_str().unwrap()];
    // With or without a passphrase given.
    for passphrase in [None, Some(PASSPHRASE)] {
        let o = paytap(&cards, passphrase);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("Li's watch"));
        let err = stderr(&o);
        assert!(
            err.contains("WARN") && err.contains("older, weaker kind"),
            "{err}"
        );
    }
}
