//! # paytap-upid
//!
//! The central UPI switch as a service: the sans-IO core of
//! `paytap-upiswitch` driven with its inputs persisted, the address directory
//! (UPI id → bank account), the clock and the timers, and the banks reached
//! through [`Banks`] ([`IssuerBanks`]: the emulated issuers' UPI side).
//!
//! Durability is by an event log: every event the core is handed (a PSP's
//! request, a bank's answer, a fired timer) is appended to `upid_events`
//! before the core sees it. The core is deterministic given its events and
//! their instants, so [`UpiSwitch::open`] replays the log into a fresh core
//! and gets back every transaction and every timer still pending; the timers
//! then finish what a crash interrupted (an unanswered debit is reversed, an
//! unanswered credit is checked), and the banks' legs are idempotent by
//! transaction id, so a leg sent twice moves money once. A debit therefore
//! always ends credited or reversed.
//!
//! [`http`] serves ReqPay, ReqChkTxn and ReqValAdd as XML over HTTP.
//!
//! Payer credentials (the encrypted PIN block) are removed from a request
//! before it is logged: only the DEBIT carries them, and a debit is never
//! sent again after a restart (an unanswered one is reversed).
#![deny(missing_docs)]

mod banks;
mod directory;
pub mod http;
mod log;
mod service;

pub use banks::{Banks, IssuerBanks};
pub use directory::{DirectoryEntry, PSP_HANDLE_MAX_LEN};
pub use service::{CollectRequest, UpiSwitch, UpidError};

use paytap_store::Migration;

/// Schema owned by the switch service.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        component: "upid",
        version: 1,
        sql: "CREATE TABLE upid_events (\
            seq BIGINT PRIMARY KEY, \
            at BIGINT NOT NULL, \
            kind TEXT NOT NULL, \
            xml TEXT, \
            txn_id TEXT, \
            epoch BIGINT, \
            payee_ifsc TEXT, \
            payee_account TEXT, \
            bound_at BIGINT, \
            paid_today BIGINT);\
          CREATE TABLE upid_directory (\
            vpa TEXT PRIMARY KEY, \
            ifsc TEXT NOT NULL, \
            account_number TEXT NOT NULL, \
            bound_at BIGINT, \
            created_at BIGINT NOT NULL);\
          CREATE TABLE upid_outcomes (\
            txn_id TEXT PRIMARY KEY, \
            outcome TEXT NOT NULL, \
            code TEXT, \
            at BIGINT NOT NULL)",
    },
    // A collect approval names its payer (`log.rs`).
    Migration {
        component: "upid",
        version: 2,
        sql: "ALTER TABLE upid_events ADD COLUMN payer_vpa TEXT",
    },
];
