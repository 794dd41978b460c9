//! The tables the console owns (SQLite and PostgreSQL, through
//! `paytap_store`'s migrations): its operators, apart from the wallet's
//! account holders, their sessions (only each token's SHA-256), and the
//! failed sign-ins counted per login (only each login's SHA-256; see
//! `throttle`).

use paytap_store::Migration;

/// Operators, their sessions and their failed sign-ins.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        component: "console",
        version: 1,
        sql: "CREATE TABLE console_operators (\
        login TEXT NOT NULL PRIMARY KEY, password_hash TEXT NOT NULL, created_ms BIGINT NOT NULL);\
      CREATE TABLE console_sessions (\
        token_hash TEXT NOT NULL PRIMARY KEY, login TEXT NOT NULL, expires_ms BIGINT NOT NULL);\
      CREATE INDEX console_sessions_expiry ON console_sessions (expires_ms)",
    },
    Migration {
        component: "console",
        version: 2,
        sql: "CREATE TABLE console_login_failures (\
        login_hash TEXT NOT NULL PRIMARY KEY, failures BIGINT NOT NULL, last_ms BIGINT NOT NULL);\
      CREATE INDEX console_login_failures_last ON console_login_failures (last_ms)",
    },
];
