//! Where the platform keeps its databases: SQLite files in the data
//! directory (the default: nothing to install), or PostgreSQL, one schema
//! per database in one PostgreSQL database (`paytap up --database-url`).
//!
//! The platform's databases have names ([`NETWORK`], [`TRANSIT`],
//! [`wallet_region`]); each becomes `DIR/<name>.db` or the schema
//! `<prefix><name>` (with `-` as `_`). A region may live on a server of its
//! own (`--region-database-url in=postgres://...`): India's data on a
//! server in India.
//!
//! Keys, secrets and the lock stay in the data directory either way.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use paytap_store::Db;

/// The network's database (ledger, issuers, token service, switch, guard,
/// acquirer, UPI).
pub const NETWORK: &str = "network";
/// The transit operators' hosts.
pub const TRANSIT: &str = "transit";

/// The wallet's database of `region`.
pub fn wallet_region(region: &str) -> String {
    format!("wallet-{region}")
}

/// The schema prefix `paytap up --database-url` uses unless told.
pub const DEFAULT_SCHEMA_PREFIX: &str = "paytap_";

/// Where the databases live.
#[derive(Clone, Debug, Default)]
pub enum Storage {
    /// SQLite files in the data directory.
    #[default]
    Files,
    /// PostgreSQL: schemas `<prefix><name>` in the database at `url`;
    /// `regions` sends a region's wallet database to another server.
    Postgres {
        /// The PostgreSQL database (`postgres://user@host/db`).
        url: String,
        /// Put before every schema name (several platforms, or tests, may
        /// share one database).
        schema_prefix: String,
        /// Region → the PostgreSQL database of that region's wallet.
        regions: BTreeMap<String, String>,
    },
}

impl Storage {
    /// PostgreSQL at `url`, schemas named `<schema_prefix><name>`.
    pub fn postgres(url: &str, schema_prefix: &str) -> Storage {
        Storage::Postgres {
            url: url.to_owned(),
            schema_prefix: schema_prefix.to_owned(),
            regions: BTreeMap::new(),
        }
    }

    /// What the tests run on: PostgreSQL in fresh schemas of their own when
    /// `PAYTAP_TEST_DATABASE_URL` names a PostgreSQL database, else files.
    #[allow(dead_code, reason = "the tests' storage; the binary takes its flags")]
    pub fn for_tests() -> Storage {
        match paytap_store::test_postgres_url() {
            Some(url) => Storage::Postgres {
                url,
                schema_prefix: paytap_store::test_schema_prefix(),
                regions: BTreeMap::new(),
            },
            _ => Storage::Files,
        }
    }

    /// Parses `--region-database-url` values (`in=postgres://...`) into
    /// this PostgreSQL storage.
    pub fn with_regions(mut self, pairs: &[String]) -> anyhow::Result<Storage> {
        for pair in pairs {
            let Some((region, url)) = pair.split_once('=') else {
                bail!("--region-database-url {pair:?}: write REGION=postgres://...");
            };
            if !url.starts_with("postgres") {
                bail!("--region-database-url {pair:?}: the URL must be postgres://...");
            }
            match &mut self {
                Storage::Files => {
                    bail!("--region-database-url needs --database-url (PostgreSQL)")
                }
                Storage::Postgres { regions, .. } => {
                    regions.insert(region.to_owned(), url.to_owned());
                }
            }
        }
        Ok(self)
    }

    /// Opens (creating when missing) the database called `name`.
    pub async fn open(&self, dir: &Path, name: &str) -> anyhow::Result<Db> {
        match self {
            Storage::Files => {
                let path = dir.join(format!("{name}.db"));
                Db::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .with_context(|| format!("opening {}", path.display()))
            }
            Storage::Postgres {
                url,
                schema_prefix,
                regions,
            } => {
                let url = region_of(name).and_then(|r| regions.get(r)).unwrap_or(url);
                let schema = format!("{schema_prefix}{}", name.replace('-', "_"));
                Db::connect_schema(url, &schema)
                    .await
                    .with_context(|| format!("opening schema {schema} on PostgreSQL"))
            }
        }
    }

    /// How the start-up line names where the data is, without credentials.
    pub fn describe(&self, dir: &Path) -> String {
        match self {
            Storage::Files => format!("SQLite files in {}", dir.display()),
            Storage::Postgres {
                url,
                schema_prefix,
                regions,
            } => {
                let mut s = format!(
                    "PostgreSQL {} (schemas {schema_prefix}*)",
                    without_credentials(url)
                );
                for (region, url) in regions {
                    s.push_str(&format!(
                        ", region {region} on {}",
                        without_credentials(url)
                    ));
                }
                s
            }
        }
    }
}

/// The region a wallet database name belongs to (`wallet-in` → `in`).
fn region_of(name: &str) -> Option<&str> {
    name.strip_prefix("wallet-")
}

/// `postgres://user:secret@host/db` → `postgres://host/db`.
fn without_credentials(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, rest))) => format!("{scheme}://{rest}"),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_goes_to_its_own_server_and_credentials_are_never_shown() {
        let s = Storage::postgres("postgres://app:secret@cn-db/paytap", DEFAULT_SCHEMA_PREFIX)
            .with_regions(&["in=postgres://app:secret@in-db/paytap".into()])
            .unwrap();
        let said = s.describe(Path::new("/d"));
        assert_eq!(
            said,
            "PostgreSQL postgres://cn-db/paytap (schemas paytap_*), region in on postgres://in-db/paytap"
        );
        assert!(!said.contains("secret"));
        assert_eq!(region_of(&wallet_region("in")), Some("in"));
        assert_eq!(region_of(NETWORK), None);
    }

    #[test]
    fn region_urls_are_checked() {
        let pg = || Storage::postgres("postgres://h/d", DEFAULT_SCHEMA_PREFIX);
        assert!(pg().with_regions(&["in".into()]).is_err());
        assert!(pg().with_regions(&["in=sqlite://x".into()]).is_err());
        assert!(
            Storage::Files
                .with_regions(&["in=postgres://h/d".into()])
                .is_err()
        );
    }
}
