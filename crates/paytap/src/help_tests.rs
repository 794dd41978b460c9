//! The command line documents itself: every subcommand and every option of
//! `paytap` has help text, and an option that takes one of a fixed set of
//! values lists them in `--help`.

use clap::{Arg, Command, CommandFactory};

use crate::Cli;

/// Options that take one of a fixed set of values, as `command path`,
/// `option id`: `--help` must list their values.
const ENUMERATIONS: &[(&str, &str)] = &[
    ("paytap device enrol", "kind"),
    ("paytap pos charge", "currency"),
    ("paytap register merchant", "currency"),
    ("paytap register scan", "currency"),
    ("paytap device show", "currency"),
    ("paytap tools emv icc-mk", "option"),
    ("paytap tools emv arpc", "method"),
    ("paytap bench transit", "operator"),
    ("paytap tools transit load", "type"),
    ("paytap tools transit purchase", "type"),
];

/// Calls `visit` with every command of the tree under `cmd` and its path.
fn walk(cmd: &Command, path: &str, visit: &mut dyn FnMut(&str, &Command)) {
    visit(path, cmd);
    for sub in cmd.get_subcommands() {
        walk(sub, &format!("{path} {}", sub.get_name()), visit);
    }
}

/// clap's own `--help` and `--version`.
fn is_builtin(arg: &Arg) -> bool {
    matches!(arg.get_id().as_str(), "help" | "version")
}

fn has_help(arg: &Arg) -> bool {
    arg.get_help()
        .or(arg.get_long_help())
        .is_some_and(|h| !h.to_string().trim().is_empty())
}

/// Help that reads like a closed list ("phone, watch or band"): a few
/// plain words joined by commas and one "or", and nothing else.
fn reads_like_a_list(help: &str) -> bool {
    let h = help.trim().trim_end_matches('.');
    let Some((head, last)) = h.rsplit_once(" or ") else {
        return false;
    };
    let plain = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric());
    plain(last) && head.split(", ").all(plain)
}

#[test]
fn every_option_and_subcommand_has_help() {
    let mut missing = Vec::new();
    let cli = Cli::command();
    walk(&cli, "paytap", &mut |path, cmd| {
        if path != "paytap" && cmd.get_about().is_none() && cmd.get_long_about().is_none() {
            missing.push(path.to_owned());
        }
        for arg in cmd.get_arguments() {
            if !is_builtin(arg) && !has_help(arg) {
                missing.push(format!("{path} --{}", arg.get_id()));
            }
        }
    });
    assert!(missing.is_empty(), "without help text: {missing:#?}");
}

#[test]
fn enumerations_list_their_values() {
    let cli = Cli::command();
    let mut seen = Vec::new();
    let mut unlisted = Vec::new();
    walk(&cli, "paytap", &mut |path, cmd| {
        for arg in cmd.get_arguments().filter(|a| !is_builtin(a)) {
            let id = arg.get_id().as_str();
            let listed = !arg.get_possible_values().is_empty();
            let named = ENUMERATIONS.contains(&(path, id));
            if named {
                seen.push((path.to_owned(), id.to_owned()));
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            if (named || reads_like_a_list(&help)) && !listed {
                unlisted.push(format!("{path} --{id}"));
            }
        }
    });
    assert!(unlisted.is_empty(), "values not listed: {unlisted:#?}");
    assert_eq!(
        seen.len(),
        ENUMERATIONS.len(),
        "an enumeration is gone: {seen:?}"
    );
}

#[test]
fn a_closed_list_in_help_is_recognised() {
    assert!(reads_like_a_list("phone, watch or band."));
    assert!(reads_like_a_list("debit or credit"));
    assert!(!reads_like_a_list(
        "The owner verifies with fingerprint or face on the device."
    ));
    assert!(!reads_like_a_list("Amount in major units, e.g. 12.50."));
}
