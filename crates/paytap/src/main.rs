//! `paytap`: one binary for the whole platform.
//!
//! Each subcommand lives in its own module; this file only parses the command
//! line and dispatches.

mod bench;
mod console;
mod demo;
mod device;
mod failure;
mod gate;
#[cfg(test)]
mod help_tests;
mod instance;
mod keys;
mod logging;
mod platform;
mod pos;
mod register;
mod tools;
mod up;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
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
    /// Log lines on stderr: readable text, or one JSON object a line.
    #[arg(
        long,
        global = true,
        value_enum,
        env = "PAYTAP_LOG_FORMAT",
        default_value = "text"
    )]
    log_format: logging::LogFormat,
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
    /// An emulated metro gate: express-mode taps in and out, uploads, hotlist.
    Gate(gate::Args),
    /// A shop's cash register: sign a merchant up, show its QR codes.
    Register(register::Args),
    /// Key management: vault key-encryption keys (status, rotate).
    Keys(keys::Args),
    /// The operator's console: give an operator a login.
    Console(console::Args),
    /// Throughput and latency measurements (e.g. `paytap bench auth`).
    Bench(bench::Args),
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let matches = match Cli::command().try_get_matches_from(&args) {
        Ok(m) => m,
        Err(e) => return failure::usage(e, failure::json_in_args(&args)),
    };
    let json = failure::wants_json(&matches);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return failure::usage(e, json),
    };
    logging::choose(cli.log_format);
    let result = match cli.command {
        Command::Tools(args) => {
            quiet_on_closed_pipe();
            tools::run(args)
        }
        Command::Up(args) => up::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Device(args) => device::run(args),
        Command::Pos(args) => pos::run(args),
        Command::Gate(args) => gate::run(args),
        Command::Register(args) => register::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Console(args) => console::run(args),
        Command::Bench(args) => bench::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => failure::report(&err, json),
    }
}

/// The exit codes, as the README lists them.
mod exit {
    use paytap_device::wallet::WalletClientError;

    /// Declined, or refused by the other side (a bank, the wallet, the switch).
    pub const REFUSED: u8 = 1;
    /// Bad usage or input: an option, a file, a value that cannot be read.
    pub const USAGE: u8 = 2;
    /// Could not reach the other side (connection refused, reset, timed
    /// out; an address in use).
    pub const UNREACHABLE: u8 = 4;

    /// A step-up is needed and nothing failed: a bank's one-time passcode
    /// to finish adding a card, or a payment answered `1A` (the owner must
    /// verify on the device and pay again).
    pub const STEP_UP: u8 = 3;

    /// ISO 8583 DE 39 of "additional customer authentication required".
    const STEP_UP_CODE: &str = "1A";

    /// The exit of a payment answered with DE 39 `code`: success when it
    /// was approved, [`STEP_UP`] for a `1A`, else [`REFUSED`].
    pub fn of_response(approved: bool, code: Option<&str>) -> std::process::ExitCode {
        if !approved && code == Some(STEP_UP_CODE) {
            return std::process::ExitCode::from(STEP_UP);
        }
        of_answer(approved)
    }

    /// The exit of a command whose payment was answered: success when it
    /// was approved, [`REFUSED`] when it was declined.
    pub fn of_answer(approved: bool) -> std::process::ExitCode {
        if approved {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::from(REFUSED)
        }
    }

    /// The code of a command that ended in `err`.
    pub fn of_error(err: &anyhow::Error) -> u8 {
        for cause in err.chain() {
            if let Some(w) = cause.downcast_ref::<WalletClientError>() {
                return match w {
                    WalletClientError::Api { .. } => REFUSED,
                    WalletClientError::Transport { .. } => UNREACHABLE,
                    WalletClientError::Decode(_) => UNREACHABLE,
                };
            }
            if let Some(s) = cause.downcast_ref::<paytap_device::scan::ScanError>() {
                use paytap_device::scan::ScanError as S;
                return match s {
                    S::Transport(_) | S::Refused { status: 504, .. } => UNREACHABLE,
                    S::Refused { .. } | S::NotVerified | S::Declined => REFUSED,
                    S::Device(_) | S::Kernel(_) => USAGE,
                };
            }
            if cause.downcast_ref::<crate::register::Refused>().is_some()
                || cause
                    .downcast_ref::<crate::gate::OperatorRefused>()
                    .is_some()
                || cause
                    .downcast_ref::<paytap_device::transit::LoadError>()
                    .is_some()
            {
                return REFUSED;
            }
            if cause
                .downcast_ref::<crate::gate::OperatorUnreachable>()
                .is_some()
            {
                return UNREACHABLE;
            }
            if let Some(io) = cause.downcast_ref::<std::io::Error>()
                && is_network(io.kind())
            {
                return UNREACHABLE;
            }
        }
        USAGE
    }

    /// Whether an I/O error is about reaching a peer (a missing file is
    /// bad input instead).
    fn is_network(kind: std::io::ErrorKind) -> bool {
        use std::io::ErrorKind::*;
        matches!(
            kind,
            ConnectionRefused
                | ConnectionReset
                | ConnectionAborted
                | NotConnected
                | AddrInUse
                | AddrNotAvailable
                | TimedOut
                | BrokenPipe
                | HostUnreachable
                | NetworkUnreachable
        )
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::process::ExitCode;

        #[test]
        fn a_payment_answered_1a_asks_for_a_step_up() {
            assert_eq!(of_response(false, Some("1A")), ExitCode::from(STEP_UP));
            assert_eq!(of_response(false, Some("51")), ExitCode::from(REFUSED));
            assert_eq!(of_response(false, None), ExitCode::from(REFUSED));
            assert_eq!(of_response(true, Some("00")), ExitCode::SUCCESS);
        }
    }
}

/// The workbench prints to a pipe that may close early (`paytap tools ... |
/// head`): restore the default SIGPIPE action so that ends the process
/// quietly, as for any Unix filter, instead of a failed write. Only for the
/// short-lived tools: the servers keep ignoring SIGPIPE and see write errors.
fn quiet_on_closed_pipe() {
    #[cfg(unix)]
    #[allow(unsafe_code, reason = "signal(2) has no safe wrapper")]
    // SAFETY: called once on the main thread before any other thread exists;
    // setting a signal's disposition to SIG_DFL has no other precondition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

#[cfg(test)]
mod tests {
    use super::exit;
    use paytap_device::wallet::WalletClientError;
    use std::io;

    fn check(err: anyhow::Error, expect: u8) {
        assert_eq!(exit::of_error(&err), expect, "{err:#}");
    }

    #[test]
    fn errors_map_to_the_documented_exit_codes() {
        let refused = WalletClientError::Api {
            status: 409,
            code: "card_limit".into(),
            message: "eight cards".into(),
        };
        check(anyhow::Error::new(refused).context("add-card"), 1);
        let acquirer = crate::register::Refused {
            status: 409,
            message: "merchant taken".into(),
        };
        check(anyhow::Error::new(acquirer).context("register merchant"), 1);
        let transport = WalletClientError::Transport {
            url: "http://127.0.0.1:1".into(),
            reason: "refused".into(),
        };
        check(anyhow::Error::new(transport), 4);
        let refused_conn = io::Error::from(io::ErrorKind::ConnectionRefused);
        check(anyhow::Error::new(refused_conn).context("switch"), 4);
        let missing = io::Error::from(io::ErrorKind::NotFound);
        check(anyhow::Error::new(missing).context("reading FILE"), 2);
        check(anyhow::anyhow!("--taps must be at least 1"), 2);
    }
}
