//! `paytap`: one binary for the whole platform.
//!
//! Each subcommand lives in its own module; this file only parses the command
//! line and dispatches.

mod tools;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "paytap", version, about = "An open mobile payment platform: tap to pay with tokens, cryptograms, a card network, issuers and a wallet")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A workbench for payment engineers: TLV, ISO 8583, EMV cryptograms, EMVCo QR, UPI links.
    Tools(tools::ToolsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tools(args) => tools::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("paytap: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
