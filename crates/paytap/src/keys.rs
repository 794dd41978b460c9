//! `paytap keys`: the vault's key-encryption keys.
//!
//! * `status`: KEK versions in `DIR/keys.toml` and how many vault records
//!   each one protects;
//! * `rotate`: adds a new KEK version to the key file (atomic write), then
//!   re-wraps every record's data key under it in batches, while services
//!   using the same data dir keep running (they reload the key file when it
//!   changes or when they meet an unknown version);
//! * `retire`: removes an old version once no record names it;
//! * `upi-psp`: the key a registered PSP signs its requests to the UPI
//!   switch's XML endpoints with (derived from the key file; hex).

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use paytap_store::Db;
use paytap_vault::{KEK_ENV, KEY_FILE, Keyring, Vault};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(ClapArgs)]
struct Location {
    /// Data directory holding keys.toml and network.db.
    #[arg(long, env = "PAYTAP_DATA_DIR", default_value = "./paytap-data")]
    data_dir: PathBuf,
    /// Network database (default: sqlite://DATA_DIR/network.db).
    #[arg(long)]
    database_url: Option<String>,
}

impl Location {
    fn key_file(&self) -> PathBuf {
        self.data_dir.join(KEY_FILE)
    }

    fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("network.db").display()))
    }

    /// The vault, or `None` if the default SQLite database does not exist
    /// yet (nothing is encrypted then).
    async fn vault(&self, keyring: Keyring) -> anyhow::Result<Option<Vault>> {
        if self.database_url.is_none() && !self.data_dir.join("network.db").exists() {
            return Ok(None);
        }
        let db = Db::connect(&self.database_url())
            .await
            .context("cannot open the network database")?;
        Ok(Some(Vault::open(db, keyring).await?))
    }
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Show KEK versions and how many card records each one protects.
    Status(Location),
    /// Add a new KEK version and re-wrap every card record under it.
    Rotate {
        #[command(flatten)]
        location: Location,
        /// Records re-wrapped per transaction.
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
    /// Remove an old KEK version from the key file once no record uses it.
    Retire {
        #[command(flatten)]
        location: Location,
        /// The KEK version to remove (as `paytap keys status` lists them).
        #[arg(long = "kek-version", value_name = "N")]
        version: u32,
    },
    /// Print the key a registered PSP (PAYTAP, PAYU) signs its requests to
    /// the UPI switch with (hex; `x-upi-signature: ORG:HMAC-SHA256(body)`).
    UpiPsp {
        #[command(flatten)]
        location: Location,
        /// The PSP's org id.
        #[arg(long)]
        org: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match args.command {
            KeysCommand::Status(location) => status(&location).await,
            KeysCommand::Rotate { location, batch } => rotate(&location, batch).await,
            KeysCommand::Retire { location, version } => retire(&location, version).await,
            KeysCommand::UpiPsp { location, org } => upi_psp(&location, &org),
        }
    })
}

fn upi_psp(location: &Location, org: &str) -> anyhow::Result<ExitCode> {
    use crate::platform::upi::{PSP_ORGS, psp_key};
    if !PSP_ORGS.contains(&org) {
        anyhow::bail!("{org:?} is not a registered PSP (the switch hears {PSP_ORGS:?})");
    }
    let keyring = load_existing(&location.key_file())?;
    println!("{}", hex::encode(*psp_key(&keyring, org)));
    Ok(ExitCode::SUCCESS)
}

fn refuse_env_keys() -> anyhow::Result<()> {
    if std::env::var(KEK_ENV).is_ok_and(|v| !v.trim().is_empty()) {
        anyhow::bail!(
            "{KEK_ENV} is set: the keys come from the environment, not from a key file; \
             unset it to manage {KEY_FILE}"
        );
    }
    Ok(())
}

fn load_existing(path: &Path) -> anyhow::Result<Keyring> {
    if !path.exists() {
        anyhow::bail!(
            "no key file at {} (it is created on the first run of `paytap up`)",
            path.display()
        );
    }
    Ok(Keyring::load(path)?)
}

fn print_versions(keyring: &Keyring, counts: Option<&BTreeMap<u32, u64>>) {
    println!("{:>8}  {:>10}  created", "version", "records");
    for v in keyring.versions() {
        let created = keyring
            .created_at(v)
            .filter(|t| *t > 0)
            .map(utc_date)
            .unwrap_or_else(|| "-".to_string());
        let records = counts
            .map(|c| c.get(&v).copied().unwrap_or(0).to_string())
            .unwrap_or_else(|| "-".to_string());
        let mark = if v == keyring.current_version() {
            " (current)"
        } else {
            ""
        };
        println!("{v:>8}  {records:>10}  {created}{mark}");
    }
    if let Some(c) = counts {
        for (v, n) in c {
            if !keyring.versions().contains(v) {
                println!("{v:>8}  {n:>10}  MISSING KEY: these records cannot be decrypted");
            }
        }
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM UTC` (civil-from-days, proleptic
/// Gregorian calendar).
fn utc_date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

async fn status(location: &Location) -> anyhow::Result<ExitCode> {
    let keyring = match Keyring::from_env()? {
        Some(k) => {
            println!("keys: from {KEK_ENV} (single version)");
            k
        }
        None => {
            let path = location.key_file();
            let k = load_existing(&path)?;
            println!("keys: {}", path.display());
            k
        }
    };
    let counts = match location.vault(keyring.clone()).await? {
        Some(vault) => Some(vault.key_status().await?),
        None => {
            println!("no network database yet: no card records");
            None
        }
    };
    print_versions(&keyring, counts.as_ref());
    Ok(ExitCode::SUCCESS)
}

async fn rotate(location: &Location, batch: usize) -> anyhow::Result<ExitCode> {
    refuse_env_keys()?;
    let path = location.key_file();
    let old = load_existing(&path)?;
    let vault = location.vault(old.clone()).await?;
    let mut new = old.with_new_version()?;
    new.save(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let version = new.current_version();
    println!(
        "added KEK version {version} to {} (versions now {:?})",
        path.display(),
        new.versions()
    );
    let Some(vault) = vault else {
        println!("no network database yet: nothing to re-wrap");
        return Ok(ExitCode::SUCCESS);
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("re-wrapping {bar:40} {pos}/{len} records ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = vault
        .rotate_with(&new, batch, |p| {
            bar.set_length(p.total);
            bar.set_position(p.rewrapped);
        })
        .await?;
    bar.finish_and_clear();
    println!(
        "re-wrapped {} records under version {version} in {} batches",
        report.rewrapped, report.batches
    );
    print_versions(&new, Some(&report.status));
    let retirable: Vec<u32> = new
        .versions()
        .into_iter()
        .filter(|v| *v != version && report.status.get(v).copied().unwrap_or(0) == 0)
        .collect();
    for v in retirable {
        println!(
            "version {v} protects no records: `paytap keys retire --kek-version {v}` removes it"
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn retire(location: &Location, version: u32) -> anyhow::Result<ExitCode> {
    refuse_env_keys()?;
    let path = location.key_file();
    let keyring = load_existing(&path)?;
    if let Some(vault) = location.vault(keyring.clone()).await? {
        let n = vault
            .key_status()
            .await?
            .get(&version)
            .copied()
            .unwrap_or(0);
        if n > 0 {
            anyhow::bail!(
                "version {version} still protects {n} records; run `paytap keys rotate` first"
            );
        }
    }
    let mut smaller = keyring.without_version(version)?;
    smaller.save(&path)?;
    println!(
        "removed KEK version {version}; versions now {:?}",
        smaller.versions()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::utc_date;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc_date(1_795_000_000_000), "2026-11-18 11:06 UTC");
        assert_eq!(utc_date(-1), "1969-12-31 23:59 UTC");
    }
}
