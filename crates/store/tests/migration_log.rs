//! Each "migration applied" line names its region. The log is captured
//! into a buffer by a process-wide subscriber (this file holds one test, so
//! nothing else writes to it).

use std::io::Write;
use std::sync::{Arc, Mutex};

use paytap_store::{Db, Migration, NO_REGION, Regions};

const M: &[Migration] = &[
    Migration {
        component: "demo",
        version: 1,
        sql: "CREATE TABLE demo (id TEXT PRIMARY KEY)",
    },
    Migration {
        component: "demo",
        version: 2,
        sql: "ALTER TABLE demo ADD COLUMN note TEXT",
    },
];

/// A log writer into a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn migration_lines_name_the_region() {
    let log = Capture::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .init();
    let mut regions = Regions::new();
    regions.insert("cn", Db::for_tests().await.unwrap());
    regions.insert("in", Db::for_tests().await.unwrap());
    regions.migrate(M).await.unwrap();
    let network = Db::for_tests().await.unwrap();
    network.migrate(M).await.unwrap();
    // Applied already: no line.
    regions.migrate(M).await.unwrap();

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let applied: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("migration applied"))
        .collect();
    assert_eq!(applied.len(), 6, "{text}");
    let expect = ["cn", "cn", "in", "in", NO_REGION, NO_REGION];
    for (line, region) in applied.iter().zip(expect) {
        assert!(line.contains(&format!("region={region} ")), "{line}");
        assert!(line.contains(" database="), "{line}");
        assert!(line.contains(" INFO "), "{line}");
    }
}
