//! `paytap`: one binary for the whole platform.
//!
//! Each subcommand lives in its own module; this file only parses the command
//! line and dispatches.

mod bench;
mod demo;
mod device;
mod instance;
mod keys;
mod platform;
mod pos;
mod tools;
mod up;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// mimalloc instead of the system allocator: the authorization path makes
/// many small, short-lived allocations (messages, rows, futures), and the
/// system allocator's bookkeeping was a sixth of its CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "paytap",
    version,
    about = "An open mobile payment platform: tap to pay with tokens, cryptograms, a card network, issuers and a wallet"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A workbench for payment engineers: TLV, ISO 8583, EMV cryptograms, EMVCo QR, UPI links.
    Tools(tools::ToolsArgs),
    /// Run the whole platform on loopback: wallet + web site, token service, switch, issuers, ledger.
    Up(up::Args),
    /// Play the whole story end to end with a narrative: account, devices, cards, taps, lost phone.
    Demo(demo::Args),
    /// The emulated phone, watch or band with its secure element.
    Device(device::Args),
    /// The emulated contactless POS terminal.
    Pos(pos::Args),
    /// Key management: vault key-encryption keys (status, rotate).
    Keys(keys::Args),
    /// Throughput and latency measurements (e.g. `paytap bench auth`).
    Bench(bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tools(args) => {
            quiet_on_closed_pipe();
            tools::run(args)
        }
        Command::Up(args) => up::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Device(args) => device::run(args),
        Command::Pos(args) => pos::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("paytap: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// The workbench prints to a pipe that may close early (`paytap tools ... |
/// head`): restore the default SIGPIPE action so that ends the process
/// quietly, as for any Unix filter, instead of a failed write. Only for the
/// short-lived tools: the servers keep ignoring SIGPIPE and see write errors.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: called once on the main thread before any other thread exists;
    // setting a signal's disposition to SIG_DFL has no other precondition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
