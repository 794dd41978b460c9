//! How a failed command ends: one line on stderr starting [`PREFIX`], for
//! clap's usage errors as for the commands' own, or, when the command was
//! given `--json`, one JSON object on stdout (`{"error": .., "exit_code":
//! ..}`), so a script that reads JSON reads its failures the same way.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::ArgMatches;
use clap::error::ErrorKind;

use crate::exit;

/// The start of every error line.
pub const PREFIX: &str = "paytap: error: ";

/// The flag that asks for JSON output, errors included.
const JSON_FLAG: &str = "json";

/// Whether the command the user picked was given `--json`: the innermost
/// subcommand's own flag (not every command has one).
pub fn wants_json(matches: &ArgMatches) -> bool {
    let mut leaf = matches;
    while let Some((_, sub)) = leaf.subcommand() {
        leaf = sub;
    }
    matches!(leaf.try_get_one::<bool>(JSON_FLAG), Ok(Some(true)))
}

/// Whether the raw arguments hold `--json` before any `--`: what a usage
/// error, which has no parsed command, goes by.
pub fn json_in_args(args: &[OsString]) -> bool {
    let flag = format!("--{JSON_FLAG}");
    args.iter()
        .take_while(|a| a.as_os_str() != "--")
        .any(|a| a.as_os_str() == flag.as_str())
}

/// Ends a command line clap could not read: help and version go to stdout
/// with 0, help shown for a missing subcommand to stderr with 2, and a usage
/// error with [`PREFIX`] (or as JSON) and [`exit::USAGE`].
pub fn usage(e: clap::Error, json: bool) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Printing help can only fail on a closed stdout; nothing to say then.
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(exit::USAGE)
        }
        _ => {
            let text = e.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            if json {
                let first = text.lines().next().unwrap_or_default();
                print_json(first, exit::USAGE);
            } else {
                eprint!("{PREFIX}{text}");
            }
            ExitCode::from(exit::USAGE)
        }
    }
}

/// Ends a command that failed with `err`: its exit code from
/// [`exit::of_error`], the message with every cause.
pub fn report(err: &anyhow::Error, json: bool) -> ExitCode {
    let code = exit::of_error(err);
    let message = chain_text(err);
    if json {
        print_json(&message, code);
    } else {
        eprintln!("{PREFIX}{message}");
    }
    ExitCode::from(code)
}

/// The error and its causes, `: `-separated, each said once: an error
/// whose own text already ends with its cause's (`#[error("i/o: {0}")]`
/// over a `#[from]` source) is not followed by that cause again.
fn chain_text(err: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// The JSON form of an error, one line on stdout.
fn print_json(message: &str, code: u8) {
    println!("{}", error_json(message, code));
}

/// `{"error": message, "exit_code": code}`.
fn error_json(message: &str, code: u8) -> serde_json::Value {
    serde_json::json!({ "error": message, "exit_code": code })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_its_error_text_is_said_once() {
        /// As `#[error("network i/o: {0}")] Io(#[from] io::Error)`.
        #[derive(Debug)]
        struct Wrapped(std::io::Error);
        impl std::fmt::Display for Wrapped {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "network i/o: {}", self.0)
            }
        }
        impl std::error::Error for Wrapped {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(Wrapped(io)).context("reading the keys");
        assert_eq!(
            chain_text(&err),
            "reading the keys: network i/o: no such file"
        );
        let plain = anyhow::anyhow!("refused").context("paying");
        assert_eq!(chain_text(&plain), "paying: refused");
    }

    #[test]
    fn json_flag_counts_only_before_a_double_dash() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(json_in_args(&args(&["paytap", "tools", "--json"])));
        assert!(!json_in_args(&args(&["paytap", "tools", "--", "--json"])));
        assert!(!json_in_args(&args(&["paytap", "tools", "--jsonx"])));
    }

    #[test]
    fn the_json_error_names_its_exit_code() {
        let v = error_json("no such bank", 1);
        assert_eq!(v["error"], "no such bank");
        assert_eq!(v["exit_code"], 1);
    }
}
