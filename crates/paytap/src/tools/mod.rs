//! `paytap tools ...`: the protocol workbench. One module per protocol family;
//! every command accepts `--json` and exits non-zero with a clear message on bad input.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::process::ExitCode;

mod emv;
mod iso8583;
mod qr;
mod tlv;
mod transit;
mod upi;

#[derive(Args)]
pub struct ToolsArgs {
    #[command(subcommand)]
    command: ToolsCommand,
}

#[derive(Subcommand)]
enum ToolsCommand {
    /// BER-TLV (EMV flavour): decode hex, encode from JSON on stdin.
    #[command(subcommand)]
    Tlv(tlv::Cmd),
    /// ISO 8583:1987 in paytap's wire format: decode hex, encode from JSON on stdin.
    #[command(subcommand)]
    Iso8583(iso8583::Cmd),
    /// EMV Book 2 keys and cryptograms.
    #[command(subcommand)]
    Emv(emv::Cmd),
    /// EMVCo QR (merchant- and consumer-presented).
    #[command(subcommand)]
    Qr(qr::Cmd),
    /// UPI payment links.
    #[command(subcommand)]
    Upi(upi::Cmd),
    /// Transit purse (PBOC / T-Union): session keys, MAC1, MAC2, TAC.
    #[command(subcommand)]
    Transit(transit::Cmd),
}

pub fn run(args: ToolsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ToolsCommand::Tlv(cmd) => tlv::run(cmd),
        ToolsCommand::Iso8583(cmd) => iso8583::run(cmd),
        ToolsCommand::Emv(cmd) => emv::run(cmd),
        ToolsCommand::Qr(cmd) => qr::run(cmd),
        ToolsCommand::Upi(cmd) => upi::run(cmd),
        ToolsCommand::Transit(cmd) => transit::run(cmd),
    }
}

/// The hex argument `--what` as exactly `N` bytes, or an error naming the
/// flag and the length it needs.
pub(crate) fn fixed<const N: usize>(hex_s: &str, what: &str) -> anyhow::Result<[u8; N]> {
    let v = hex::decode(hex_s.trim()).with_context(|| format!("--{what} is not valid hex"))?;
    v.try_into().map_err(|v: Vec<u8>| {
        anyhow::anyhow!("--{what} must be {} hex digits, got {}", N * 2, v.len() * 2)
    })
}
