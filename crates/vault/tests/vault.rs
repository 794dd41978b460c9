//! Vault behaviour on the configured store (SQLite by default, PostgreSQL
//! with PAYTAP_TEST_DATABASE_URL).

use paytap_store::Db;
use paytap_vault::{CardRecord, Expiry, Keyring, Pan, Vault, VaultError};

const PAN: &str = "6212345678901232";
const NAME: &str = "LI XIAOLONG";

fn record(pan: &str, name: &str) -> CardRecord {
    CardRecord::new(
        Pan::parse(pan).unwrap(),
        Expiry::parse("2911").unwrap(),
        name,
    )
    .unwrap()
}

/// A Luhn-valid 16-digit PAN in the 62 range for index `i`.
fn pan(i: u64) -> String {
    let body = format!("621000{i:09}");
    let check = paytap_types::luhn_check_digit(&body).unwrap();
    format!("{body}{check}")
}

async fn vault() -> Vault {
    Vault::open(Db::for_tests().await.unwrap(), Keyring::generate().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn round_trip_and_duplicates() {
    let v = vault().await;
    let e = v.put(record(PAN, NAME)).await.unwrap();
    assert!(!e.existed);
    assert!(e.id.starts_with("card_"));
    assert_eq!(e.fingerprint.len(), 64);
    let got = v.get(&e.id).await.unwrap();
    assert_eq!(got, record(PAN, NAME));
    assert_eq!(got.expiry.yymm(), "2911");
    // Same PAN again (even with another name): the existing record.
    let again = v.put(record(PAN, "SOMEONE ELSE")).await.unwrap();
    assert!(again.existed);
    assert_eq!(again.id, e.id);
    assert_eq!(again.fingerprint, e.fingerprint);
    assert_eq!(v.get(&e.id).await.unwrap().name.expose(), NAME);
    assert_eq!(
        v.find(&Pan::parse(PAN).unwrap()).await.unwrap(),
        Some(e.id.clone())
    );
    let other = v.put(record(&pan(7), NAME)).await.unwrap();
    assert!(!other.existed);
    assert_ne!(other.fingerprint, e.fingerprint);
    assert_eq!(v.find(&Pan::parse(&pan(8)).unwrap()).await.unwrap(), None);
    assert!(matches!(
        v.get("card_missing").await,
        Err(VaultError::NotFound)
    ));
    assert!(v.delete(&other.id).await.unwrap());
    assert!(!v.delete(&other.id).await.unwrap());
    assert_eq!(v.key_status().await.unwrap().get(&1), Some(&1));
}

#[tokio::test]
async fn concurrent_puts_of_one_pan_give_one_record() {
    let v = vault().await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let v = v.clone();
        tasks.push(tokio::spawn(async move {
            v.put(record(PAN, NAME)).await.unwrap()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    assert_eq!(ids.iter().filter(|e| !e.existed).count(), 1);
    assert!(ids.iter().all(|e| e.id == ids[0].id));
    assert_eq!(v.key_status().await.unwrap().values().sum::<u64>(), 1);
}

async fn column(db: &Db, id: &str, col: &str) -> Vec<u8> {
    let sql = format!("SELECT {col} FROM vault_cards WHERE id = $1");
    let (b,): (Vec<u8>,) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    b
}

async fn set_column(db: &Db, id: &str, col: &str, value: Vec<u8>) {
    let sql = format!("UPDATE vault_cards SET {col} = $1 WHERE id = $2");
    let mut tx = db.begin_write().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn tampering_is_detected() {
    let v = vault().await;
    let db = v.db().clone();
    let a = v.put(record(PAN, NAME)).await.unwrap();
    let b = v.put(record(&pan(1), "OTHER")).await.unwrap();
    for col in ["sealed", "wrapped_key"] {
        let orig = column(&db, &a.id, col).await;
        // Flip one bit anywhere: authentication fails.
        for i in [0, 11, 12, orig.len() / 2, orig.len() - 1] {
            let mut t = orig.clone();
            t[i] ^= 0x80;
            set_column(&db, &a.id, col, t).await;
            assert!(
                matches!(v.get(&a.id).await, Err(VaultError::Decrypt)),
                "{col}[{i}]"
            );
        }
        // Truncated.
        set_column(&db, &a.id, col, orig[..10].to_vec()).await;
        assert!(matches!(v.get(&a.id).await, Err(VaultError::Decrypt)));
        // Swapped in from another row: the AAD binds the record id.
        set_column(&db, &a.id, col, column(&db, &b.id, col).await).await;
        assert!(
            matches!(v.get(&a.id).await, Err(VaultError::Decrypt)),
            "swap {col}"
        );
        set_column(&db, &a.id, col, orig).await;
        assert_eq!(v.get(&a.id).await.unwrap().name.expose(), NAME);
    }
    // Both columns swapped together still fail: the sealed record is bound
    // to its own id as well.
    let (s, w) = (
        column(&db, &b.id, "sealed").await,
        column(&db, &b.id, "wrapped_key").await,
    );
    set_column(&db, &a.id, "sealed", s).await;
    set_column(&db, &a.id, "wrapped_key", w).await;
    assert!(matches!(v.get(&a.id).await, Err(VaultError::Decrypt)));
}

#[tokio::test]
async fn relabelled_key_version_is_detected() {
    let db = Db::for_tests().await.unwrap();
    let k1 = Keyring::generate().unwrap();
    let k2 = k1.with_new_version().unwrap();
    let v = Vault::open(db.clone(), k2.clone()).await.unwrap();
    let e = v.put(record(PAN, NAME)).await.unwrap();
    assert_eq!(
        v.key_status()
            .await
            .unwrap()
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        vec![2]
    );
    // Claim it was wrapped under version 1: the AAD includes the version.
    let mut tx = db.begin_write().await.unwrap();
    sqlx::query("UPDATE vault_cards SET kek_version = 1 WHERE id = $1")
        .bind(e.id.as_str())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(matches!(v.get(&e.id).await, Err(VaultError::Decrypt)));
}

#[tokio::test]
async fn wrong_key_is_refused() {
    let db = Db::for_tests().await.unwrap();
    let right = Vault::open(db.clone(), Keyring::generate().unwrap())
        .await
        .unwrap();
    let e = right.put(record(PAN, NAME)).await.unwrap();
    let wrong = Vault::open(db.clone(), Keyring::generate().unwrap())
        .await
        .unwrap();
    assert!(matches!(wrong.get(&e.id).await, Err(VaultError::Decrypt)));
    // A different fingerprint secret does not find the card either.
    assert_eq!(wrong.find(&Pan::parse(PAN).unwrap()).await.unwrap(), None);
    // A keyring without the record's version.
    let v2_only = Keyring::generate()
        .unwrap()
        .with_new_version()
        .unwrap()
        .without_version(1)
        .unwrap();
    let missing = Vault::open(db, v2_only).await.unwrap();
    assert!(matches!(
        missing.get(&e.id).await,
        Err(VaultError::UnknownKeyVersion(1))
    ));
}

#[tokio::test]
async fn errors_and_debug_never_show_card_data() {
    let v = vault().await;
    let e = v.put(record(PAN, NAME)).await.unwrap();
    let r = v.get(&e.id).await.unwrap();
    for s in [format!("{r:?}"), format!("{v:?}"), format!("{e:?}")] {
        assert!(!s.contains(PAN), "{s}");
        assert!(!s.contains(NAME), "{s}");
    }
    let errors = [
        VaultError::Decrypt.to_string(),
        VaultError::CorruptRecord.to_string(),
        Expiry::parse("2913").unwrap_err().to_string(),
    ];
    for s in errors {
        assert!(!s.contains(PAN));
    }
}

#[tokio::test]
async fn sqlite_file_holds_no_pan_or_name() {
    // Always an explicit SQLite file (the embedded default), whatever the
    // test database is; the column-level check below covers PostgreSQL.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("network.db");
    let db = Db::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let v = Vault::open(db.clone(), Keyring::generate().unwrap())
        .await
        .unwrap();
    let mut pans = vec![PAN.to_string()];
    for i in 0..50 {
        pans.push(pan(i));
    }
    for p in &pans {
        v.put(record(p, NAME)).await.unwrap();
    }
    db.close().await;
    // Main file plus WAL and shared memory, wherever the pages are now.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(bytes.len() > 4096);
    let hay = String::from_utf8_lossy(&bytes);
    for p in &pans {
        assert!(!hay.contains(p.as_str()), "PAN found in the database file");
        // Nor the digits as BCD / packed nibbles.
        let packed = hex::decode(p).unwrap();
        assert!(!bytes.windows(packed.len()).any(|w| w == packed.as_slice()));
    }
    assert!(!hay.contains(NAME));
    assert!(!hay.contains("6212345678"));
}

#[tokio::test]
async fn stored_columns_hold_no_pan_or_name() {
    let v = vault().await;
    let e = v.put(record(PAN, NAME)).await.unwrap();
    let row: (String, String, Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT id, fingerprint, wrapped_key, sealed FROM vault_cards")
            .fetch_one(v.db().pool())
            .await
            .unwrap();
    assert_eq!(row.0, e.id);
    let mut all = row.0.into_bytes();
    all.extend(row.1.into_bytes());
    all.extend(row.2);
    all.extend(row.3);
    let hay = String::from_utf8_lossy(&all);
    assert!(!hay.contains(PAN) && !hay.contains(NAME) && !hay.contains("1232"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_under_concurrent_reads_and_writes_loses_nothing() {
    let v = vault().await;
    let mut expected = Vec::new();
    for i in 0..300 {
        let e = v
            .put(record(&pan(i), &format!("HOLDER {i}")))
            .await
            .unwrap();
        expected.push((e.id, i));
    }
    let new = v.keyring().with_new_version().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Writers add cards and readers decrypt existing ones during rotation.
    let mut workers = Vec::new();
    for w in 0..3u64 {
        let v = v.clone();
        let stop = stop.clone();
        workers.push(tokio::spawn(async move {
            let mut added = Vec::new();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || n < 20 {
                let i = 10_000 + w * 1_000 + n;
                let e = v
                    .put(record(&pan(i), &format!("HOLDER {i}")))
                    .await
                    .unwrap();
                added.push((e.id, i));
                n += 1;
            }
            added
        }));
    }
    let mut readers = Vec::new();
    for r in 0..2usize {
        let v = v.clone();
        let stop = stop.clone();
        let ids = expected.clone();
        readers.push(tokio::spawn(async move {
            let mut reads = 0usize;
            let mut k = r;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads < 50 {
                let (id, i) = &ids[k % ids.len()];
                let got = v.get(id).await.unwrap();
                assert_eq!(got.pan.expose(), pan(*i));
                reads += 1;
                k += 7;
            }
            reads
        }));
    }
    let mut seen = Vec::new();
    let report = v.rotate_with(&new, 37, |p| seen.push(p)).await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        expected.extend(w.await.unwrap());
    }
    for r in readers {
        assert!(r.await.unwrap() >= 50);
    }
    assert_eq!(report.version, 2);
    assert!(report.rewrapped >= 300);
    assert!(report.batches >= 300 / 37);
    assert!(seen.len() >= 2);
    assert!(seen.windows(2).all(|w| w[0].rewrapped <= w[1].rewrapped));
    // Everything is under version 2 (writes during rotation used it), and
    // every card reads back.
    let status = v.key_status().await.unwrap();
    assert_eq!(status.keys().copied().collect::<Vec<_>>(), vec![2]);
    assert_eq!(status.get(&2).copied(), Some(expected.len() as u64));
    // Version 1 can now be retired; all records still decrypt without it.
    let retired = Vault::open(v.db().clone(), new.without_version(1).unwrap())
        .await
        .unwrap();
    for (id, i) in &expected {
        let got = retired.get(id).await.unwrap();
        assert_eq!(got.pan.expose(), pan(*i));
        assert_eq!(got.name.expose(), &format!("HOLDER {i}"));
    }
    // Duplicate detection survived the rotation.
    assert!(v.put(record(&pan(5), "X")).await.unwrap().existed);
}

#[tokio::test]
async fn rotation_refuses_a_foreign_keyring() {
    let v = vault().await;
    v.put(record(PAN, NAME)).await.unwrap();
    assert!(matches!(
        v.rotate(&Keyring::generate().unwrap()).await,
        Err(VaultError::FingerprintSecretChanged)
    ));
    // A keyring that dropped a version still in use.
    let next = v
        .keyring()
        .with_new_version()
        .unwrap()
        .without_version(1)
        .unwrap();
    assert!(matches!(
        v.rotate(&next).await,
        Err(VaultError::UnknownKeyVersion(1))
    ));
}

#[tokio::test]
async fn running_service_follows_a_rotation_in_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join(paytap_vault::KEY_FILE);
    let db = Db::for_tests().await.unwrap();
    // The service.
    let service = Vault::open(db.clone(), Keyring::load_or_create(&key_file).unwrap())
        .await
        .unwrap();
    let before = service.put(record(PAN, NAME)).await.unwrap();
    // The operator's tool: new version in the file, then re-wrap.
    let mut next = Keyring::load(&key_file)
        .unwrap()
        .with_new_version()
        .unwrap();
    next.save(&key_file).unwrap();
    let tool = Vault::open(db.clone(), Keyring::load(&key_file).unwrap())
        .await
        .unwrap();
    tool.rotate(&next).await.unwrap();
    // The service meets version 2 and reloads the file.
    assert_eq!(service.get(&before.id).await.unwrap().name.expose(), NAME);
    assert_eq!(service.keyring().current_version(), 2);
    // New writes use the new version.
    service.put(record(&pan(3), NAME)).await.unwrap();
    assert_eq!(
        service
            .key_status()
            .await
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec![(2, 2)]
    );
}

#[tokio::test]
async fn cached_reads_see_updates_and_deletes_made_through_the_vault() {
    let v = vault().await;
    let a = v.put(record(PAN, NAME)).await.unwrap();
    assert_eq!(v.get_cached(&a.id).await.unwrap().name.expose(), NAME);
    v.update(&a.id, &record(PAN, "RENAMED")).await.unwrap();
    assert_eq!(v.get_cached(&a.id).await.unwrap().name.expose(), "RENAMED");
    assert!(v.delete(&a.id).await.unwrap());
    assert!(matches!(
        v.get_cached(&a.id).await,
        Err(VaultError::NotFound)
    ));
}
