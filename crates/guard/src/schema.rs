//! The tables this crate owns (SQLite and PostgreSQL, through
//! `paytap_store`'s migrations).

use paytap_store::Migration;

/// Schema owned by the guard: risk decisions (with the facts they were
/// made on, never a card number, and how the payment ended: the state the
/// rules are rebuilt from), and the offers' payments, redemptions and
/// budgets.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        component: "guard",
        version: 1,
        sql: "CREATE TABLE risk_decisions (\
            payment_id TEXT NOT NULL PRIMARY KEY, account TEXT, at_ms BIGINT NOT NULL, \
            verdict TEXT NOT NULL, reason TEXT, decision TEXT NOT NULL, facts TEXT NOT NULL, \
            outcome TEXT, decided_at BIGINT NOT NULL);\
          CREATE INDEX risk_decisions_account ON risk_decisions (account, at_ms);\
          CREATE INDEX risk_decisions_at ON risk_decisions (at_ms);\
          CREATE TABLE offer_budgets (\
            offer_id TEXT NOT NULL PRIMARY KEY, total BIGINT NOT NULL, \
            reserved BIGINT NOT NULL, spent BIGINT NOT NULL);\
          CREATE TABLE offer_payments (\
            payment_id TEXT NOT NULL PRIMARY KEY, account TEXT, at_ms BIGINT NOT NULL, \
            facts TEXT NOT NULL, state TEXT NOT NULL, currency TEXT NOT NULL, \
            amount BIGINT NOT NULL, charge BIGINT NOT NULL, discount BIGINT NOT NULL, \
            cashback BIGINT NOT NULL);\
          CREATE INDEX offer_payments_account ON offer_payments (account, at_ms);\
          CREATE TABLE offer_redemptions (\
            payment_id TEXT NOT NULL, offer_id TEXT NOT NULL, funder_account TEXT NOT NULL, \
            kind TEXT NOT NULL, amount BIGINT NOT NULL, currency TEXT NOT NULL, \
            PRIMARY KEY (payment_id, offer_id))",
    },
    // The budget rule in the table itself: an `UPDATE` that would overspend
    // fails, so a redemption can share a group commit (its job fails alone
    // and writes nothing) and another process is refused too.
    Migration {
        component: "guard",
        version: 2,
        sql: "CREATE TABLE offer_budgets_v2 (\
            offer_id TEXT NOT NULL PRIMARY KEY, total BIGINT NOT NULL, \
            reserved BIGINT NOT NULL, spent BIGINT NOT NULL, \
            CONSTRAINT offer_budget_not_overspent \
              CHECK (reserved >= 0 AND spent >= 0 AND reserved + spent <= total));\
          INSERT INTO offer_budgets_v2 (offer_id, total, reserved, spent) \
            SELECT offer_id, total, reserved, spent FROM offer_budgets;\
          DROP TABLE offer_budgets;\
          ALTER TABLE offer_budgets_v2 RENAME TO offer_budgets",
    },
    // What operators changed in the console, over the files: an offer
    // written or edited (its TOML), an offer paused, the risk rules'
    // text, a rule's shadow mode. Read at start after the files.
    Migration {
        component: "guard",
        version: 3,
        sql: "CREATE TABLE guard_settings (\
            key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL, updated_ms BIGINT NOT NULL)",
    },
    // Rewards points as a journal: each payment's points earned at
    // capture, taken back on its refund, and each redemption as cashback;
    // an account's balance is the sum of its entries, never below zero.
    Migration {
        component: "guard",
        version: 4,
        sql: "CREATE TABLE points_entries (\
            entry_id TEXT NOT NULL PRIMARY KEY, account TEXT NOT NULL, points BIGINT NOT NULL, \
            kind TEXT NOT NULL, payment_id TEXT, currency TEXT, amount BIGINT, \
            at_ms BIGINT NOT NULL);\
          CREATE INDEX points_entries_account ON points_entries (account, at_ms)",
    },
];
