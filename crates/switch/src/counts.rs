//! What the switch counts of its authorizations for the operator's metrics:
//! every answer to a `0100` or `0200` by message, channel and response
//! code, and its latency by message and channel.
//!
//! Counting costs an authorization three array indexes, one atomic add and
//! one [`DurationHistogram::observe`]: the tables are fixed arrays of
//! atomics, built once, so nothing is allocated, locked or looked up by a
//! string per message. Nothing about the card, the token or the terminal
//! is kept, only the three small enumerations.

use paytap_iso8583::{Mti, ResponseCode};
use paytap_types::{DurationHistogram, HistogramSnapshot};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How a card reached the terminal, from the PAN entry mode (the first two
/// digits of DE 22, ISO 8583:1987).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// A contactless chip or contactless stripe read (`07`, `91`): a tap.
    Contactless,
    /// A contact chip read (`05`, `95`).
    Chip,
    /// A magnetic stripe read (`02`, `80`, `90`).
    Magstripe,
    /// A number keyed in (`01`).
    Manual,
    /// An electronic commerce order (`81`).
    Ecommerce,
    /// Any other entry mode, or none.
    Other,
}

impl Channel {
    /// Every channel, in the order of the counting tables.
    pub const ALL: [Channel; CHANNELS] = [
        Channel::Contactless,
        Channel::Chip,
        Channel::Magstripe,
        Channel::Manual,
        Channel::Ecommerce,
        Channel::Other,
    ];

    /// The channel of a request's DE 22, if it has one.
    pub fn of(pos_entry_mode: Option<&str>) -> Channel {
        match pos_entry_mode.and_then(|m| m.get(..2)) {
            Some("07" | "91") => Channel::Contactless,
            Some("05" | "95") => Channel::Chip,
            Some("02" | "80" | "90") => Channel::Magstripe,
            Some("01") => Channel::Manual,
            Some("81") => Channel::Ecommerce,
            _ => Channel::Other,
        }
    }

    /// The channel's label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Contactless => "contactless",
            Channel::Chip => "chip",
            Channel::Magstripe => "magstripe",
            Channel::Manual => "manual",
            Channel::Ecommerce => "ecommerce",
            Channel::Other => "other",
        }
    }
}

/// Which request an answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthKind {
    /// `0100`: authorization (dual message), the issuer holds.
    Authorization,
    /// `0200`: financial request (single message), the issuer captures.
    Financial,
}

impl AuthKind {
    /// Every kind, in the order of the counting tables.
    pub const ALL: [AuthKind; KINDS] = [AuthKind::Authorization, AuthKind::Financial];

    /// The kind of an authorization request's MTI (a `0200` is financial,
    /// anything else the switch authorizes is a `0100`).
    pub fn of(mti: Mti) -> AuthKind {
        if mti.class() == 2 {
            AuthKind::Financial
        } else {
            AuthKind::Authorization
        }
    }

    /// The kind's label value: its request MTI.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthKind::Authorization => "0100",
            AuthKind::Financial => "0200",
        }
    }
}

/// Number of [`Channel`]s.
pub const CHANNELS: usize = 6;
/// Number of [`AuthKind`]s.
pub const KINDS: usize = 2;
/// Number of response codes the switch can answer with.
const CODES: usize = ResponseCode::ALL.len();

/// Answers and their latencies, by kind, channel and response code.
#[derive(Debug)]
pub struct AuthCounts {
    answers: [[[AtomicU64; CODES]; CHANNELS]; KINDS],
    latency: [[DurationHistogram; CHANNELS]; KINDS],
}

impl Default for AuthCounts {
    fn default() -> Self {
        AuthCounts {
            answers: [const { [const { [const { AtomicU64::new(0) }; CODES] }; CHANNELS] }; KINDS],
            latency: [const { [const { DurationHistogram::new() }; CHANNELS] }; KINDS],
        }
    }
}

/// One row of [`AuthCounts::answers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerCount {
    /// The request answered.
    pub kind: AuthKind,
    /// How the card reached the terminal.
    pub channel: Channel,
    /// The answer's DE 39.
    pub code: ResponseCode,
    /// How many such answers since start.
    pub count: u64,
}

impl AuthCounts {
    /// Counts one answer given `took` after its request arrived.
    pub fn record(&self, kind: AuthKind, channel: Channel, code: ResponseCode, took: Duration) {
        let (k, c) = (kind as usize, channel as usize);
        self.answers[k][c][code as usize].fetch_add(1, Ordering::Relaxed);
        self.latency[k][c].observe(took);
    }

    /// Every (kind, channel, code) answered at least once, with its count.
    pub fn answers(&self) -> Vec<AnswerCount> {
        let mut out = Vec::new();
        for kind in AuthKind::ALL {
            for channel in Channel::ALL {
                for &code in ResponseCode::ALL {
                    let count = self.answers[kind as usize][channel as usize][code as usize]
                        .load(Ordering::Relaxed);
                    if count > 0 {
                        out.push(AnswerCount {
                            kind,
                            channel,
                            code,
                            count,
                        });
                    }
                }
            }
        }
        out
    }

    /// The latency of every (kind, channel) answered at least once.
    pub fn latencies(&self) -> Vec<(AuthKind, Channel, HistogramSnapshot)> {
        let mut out = Vec::new();
        for kind in AuthKind::ALL {
            for channel in Channel::ALL {
                let s = self.latency[kind as usize][channel as usize].snapshot();
                if s.count > 0 {
                    out.push((kind, channel, s));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables are indexed by the enums' discriminants: each `ALL` must
    /// list them in that order.
    #[test]
    fn the_tables_index_every_value_in_order() {
        for (i, c) in Channel::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
        for (i, k) in AuthKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
        for (i, c) in ResponseCode::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
    }

    #[test]
    fn entry_modes_name_their_channel() {
        assert_eq!(Channel::of(Some("071")), Channel::Contactless);
        assert_eq!(Channel::of(Some("911")), Channel::Contactless);
        assert_eq!(Channel::of(Some("051")), Channel::Chip);
        assert_eq!(Channel::of(Some("901")), Channel::Magstripe);
        assert_eq!(Channel::of(Some("012")), Channel::Manual);
        assert_eq!(Channel::of(Some("812")), Channel::Ecommerce);
        assert_eq!(Channel::of(Some("7")), Channel::Other);
        assert_eq!(Channel::of(None), Channel::Other);
        assert_eq!(AuthKind::of(Mti::FINANCIAL_REQUEST), AuthKind::Financial);
        assert_eq!(
            AuthKind::of(Mti::AUTHORIZATION_REQUEST),
            AuthKind::Authorization
        );
    }

    #[test]
    fn answers_are_counted_by_kind_channel_and_code() {
        let c = AuthCounts::default();
        let ms = Duration::from_millis(1);
        c.record(
            AuthKind::Authorization,
            Channel::Contactless,
            ResponseCode::Approved,
            ms,
        );
        c.record(
            AuthKind::Authorization,
            Channel::Contactless,
            ResponseCode::Approved,
            ms,
        );
        c.record(
            AuthKind::Financial,
            Channel::Manual,
            ResponseCode::InsufficientFunds,
            ms,
        );
        let answers = c.answers();
        assert_eq!(answers.len(), 2);
        assert_eq!(
            answers[0],
            AnswerCount {
                kind: AuthKind::Authorization,
                channel: Channel::Contactless,
                code: ResponseCode::Approved,
                count: 2
            }
        );
        assert_eq!(answers[1].code, ResponseCode::InsufficientFunds);
        let latencies = c.latencies();
        assert_eq!(latencies.len(), 2);
        assert_eq!(latencies[0].2.count, 2);
        assert_eq!(latencies[1].0, AuthKind::Financial);
    }
}
