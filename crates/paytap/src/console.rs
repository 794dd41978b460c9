//! `paytap console operator`: gives the operator's console an operator
//! (or a new password for one) in a data directory, the way the people who
//! run paytap get their logins. The password is read from the first line
//! of standard input, never from the command line (it would show in the
//! process list and the shell's history). Works while `paytap up` runs on
//! the same directory: the operator can sign in at once.

use anyhow::Context;
use clap::{Args as ClapArgs, Subcommand};
use paytap_store::Db;
use paytap_types::Secret;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: ConsoleCommand,
}

#[derive(Subcommand)]
enum ConsoleCommand {
    /// Add an operator, or set an operator's password (from standard input).
    Operator {
        /// Data directory of `paytap up` (its network.db holds the operators).
        #[arg(long, env = "PAYTAP_DATA_DIR", default_value = "./paytap-data")]
        data_dir: PathBuf,
        /// The operator's login: lower-case letters, digits, '.', '_', '-', '@'.
        #[arg(long)]
        login: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ConsoleCommand::Operator { data_dir, login } = args.command;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = Secret::new(line.trim_end_matches(['\r', '\n']).to_owned());
    line.clear();
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        paytap_store::files::secure_dir(&data_dir)
            .with_context(|| format!("making {} private", data_dir.display()))?;
        let url = format!("sqlite://{}", data_dir.join("network.db").display());
        let db = Db::connect(&url)
            .await
            .with_context(|| format!("opening {url}"))?;
        db.migrate(paytap_console::MIGRATIONS).await?;
        let operators =
            paytap_console::Operators::open(db, paytap_wallet::PasswordParams::default()).await?;
        operators.set(&login, &password).await?;
        println!("operator {login} can sign in at /console");
        Ok(ExitCode::SUCCESS)
    })
}
