//! `paytap keys status|rotate|retire` against a real data directory, with a
//! vault in this process playing the running service throughout.

use paytap_store::Db;
use paytap_vault::{CardRecord, Expiry, KEY_FILE, Keyring, Pan, Vault};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A private temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let mut bytes = [0u8; 8];
        unique_bytes(&mut bytes);
        let p = std::env::temp_dir().join(format!("paytap-keys-{}", hex::encode(bytes)));
        std::fs::create_dir(&p).unwrap();
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Unique enough for a directory name: time, process id and a counter.
fn unique_bytes(out: &mut [u8; 8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let v = t ^ (u64::from(std::process::id()) << 32) ^ N.fetch_add(1, Ordering::Relaxed);
    *out = v.to_be_bytes();
}

fn luhn_complete(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn pan(i: u64) -> String {
    luhn_complete(&format!("622200{i:09}"))
}

fn record(i: u64) -> CardRecord {
    CardRecord::new(
        Pan::parse(&pan(i)).unwrap(),
        Expiry::parse("3008").unwrap(),
        format!("HOLDER NUMBER {i}"),
    )
    .unwrap()
}

fn paytap(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_paytap"))
        .arg("keys")
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env_remove("PAYTAP_KEK")
        .env_remove("PAYTAP_DATA_DIR")
        .output()
        .unwrap();
    // Whatever the command printed, it never shows card data.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for i in 0..5 {
        assert!(!text.contains(&pan(i)), "PAN in output");
    }
    assert!(!text.contains("HOLDER NUMBER"));
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

async fn service(dir: &Path) -> Vault {
    let db = Db::connect(&format!("sqlite://{}", dir.join("network.db").display()))
        .await
        .unwrap();
    Vault::open(db, Keyring::for_data_dir(dir).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_while_a_service_runs() {
    let tmp = TempDir::new();
    let dir = tmp.path().to_path_buf();
    // With PAYTAP_KEK set the service would not use the key file.
    if std::env::var("PAYTAP_KEK").is_ok() {
        panic!("unset PAYTAP_KEK to run this test");
    }
    let vault = service(&dir).await;
    let mut ids = Vec::new();
    for i in 0..120 {
        ids.push((vault.put(record(i)).await.unwrap().id, i));
    }

    let status = paytap(&dir, &["status"]);
    assert!(status.status.success(), "{status:?}");
    let text = stdout(&status);
    assert!(text.contains("(current)"));
    assert!(
        text.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.first() == Some(&"1") && f.get(1) == Some(&"120")
        }),
        "{text}"
    );

    // Rotate in another process while this one keeps reading and writing.
    let rotation = {
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || paytap(&dir, &["rotate", "--batch", "25"]))
    };
    let mut during = Vec::new();
    for i in 1_000..1_040u64 {
        during.push((vault.put(record(i)).await.unwrap().id, i));
        let (id, j) = &ids[usize::try_from(i % 120).unwrap()];
        assert_eq!(vault.get(id).await.unwrap().pan.expose(), pan(*j));
    }
    let rotated = rotation.await.unwrap();
    assert!(rotated.status.success(), "{rotated:?}");
    let text = stdout(&rotated);
    assert!(text.contains("added KEK version 2"), "{text}");
    assert!(text.contains("re-wrapped"), "{text}");
    assert!(
        text.contains("paytap keys retire --kek-version 1"),
        "{text}"
    );

    // The key file: two versions, still private.
    let keys = Keyring::load(&dir.join(KEY_FILE)).unwrap();
    assert_eq!(keys.versions(), vec![1, 2]);
    assert_eq!(keys.current_version(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // After rotation the service still reads everything and writes under
    // the new version.
    ids.extend(during);
    ids.push((vault.put(record(5_000)).await.unwrap().id, 5_000));
    for (id, i) in &ids {
        assert_eq!(vault.get(id).await.unwrap().pan.expose(), pan(*i));
    }
    let counts = vault.key_status().await.unwrap();
    assert_eq!(counts.get(&1), None, "{counts:?}");
    assert_eq!(counts.get(&2).copied(), Some(ids.len() as u64));

    // Retire version 1; the current version cannot be retired.
    let retire = paytap(&dir, &["retire", "--kek-version", "1"]);
    assert!(retire.status.success(), "{retire:?}");
    assert_eq!(
        Keyring::load(&dir.join(KEY_FILE)).unwrap().versions(),
        vec![2]
    );
    assert!(
        !paytap(&dir, &["retire", "--kek-version", "2"])
            .status
            .success()
    );
    // A fresh service with only version 2 reads every card.
    let fresh = service(&dir).await;
    for (id, i) in &ids {
        assert_eq!(fresh.get(id).await.unwrap().pan.expose(), pan(*i));
    }
    let status = stdout(&paytap(&dir, &["status"]));
    assert!(
        status.lines().any(|l| l
            .split_whitespace()
            .take(2)
            .eq(["2", &ids.len().to_string()])),
        "{status}"
    );
}

#[test]
fn rotate_refuses_environment_keys_and_missing_file() {
    let tmp = TempDir::new();
    let out = Command::new(env!("CARGO_BIN_EXE_paytap"))
        .args(["keys", "rotate", "--data-dir"])
        .arg(tmp.path())
        .env("PAYTAP_KEK", "11".repeat(32))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PAYTAP_KEK"), "{err}");
    assert!(!err.contains(&"11".repeat(32)));
    let out = paytap(tmp.path(), &["rotate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no key file"));
}
