//! Each "migration applied" line names its region. The log is captured
//! into a buffer by a process-wide subscriber (this file holds one test, so
//! nothing else writes to it).

use paytap_store::{Db, Migration, NO_REGION, Regions};
use paytap_testkit::LogCapture;

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

#[tokio::test]
async fn migration_lines_name_the_region() {
    let log = LogCapture::install_global(tracing::Level::INFO);
    let mut regions = Regions::new();
    regions.insert("cn", Db::for_tests().await.unwrap());
    regions.insert("in", Db::for_tests().await.unwrap());
    regions.migrate(M).await.unwrap();
    let network = Db::for_tests().await.unwrap();
    network.migrate(M).await.unwrap();
    // Applied already: no line.
    regions.migrate(M).await.unwrap();

    let text = log.text();
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
