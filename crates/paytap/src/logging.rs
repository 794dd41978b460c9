//! Log lines on stderr, as readable text (the default) or as JSON, one
//! object a line, for a log collector (`--log-format json`, or
//! `PAYTAP_LOG_FORMAT=json`). `RUST_LOG` filters them in both formats.
//!
//! `main` records the chosen format once with [`choose`]; each subcommand
//! that logs starts the subscriber with [`init`] and its own default level.

use std::sync::OnceLock;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines: time, level, message, fields.
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `message`, the
    /// event's fields at the top level, and the enclosing span (the HTTP
    /// request's id) under `span`.
    Json,
}

/// The format chosen on the command line.
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Records the command line's choice; the first call wins.
pub fn choose(format: LogFormat) {
    // A second call (there is none in the binary) keeps the first choice.
    let _ = FORMAT.set(format);
}

/// Starts logging to stderr in the chosen format, filtered by `RUST_LOG`
/// (`default` when it is unset or unreadable).
pub fn init(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    // A second call (tests start several platforms) keeps the first subscriber.
    let _ = match FORMAT.get().copied().unwrap_or_default() {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
