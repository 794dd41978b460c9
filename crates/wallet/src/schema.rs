//! The wallet's tables, created in every regional database (data residency:
//! a row about an account lives only in its region's database).
//!
//! There is no global login index: a login is looked up in each regional
//! database in turn (two today), so no region holds another region's
//! personal data. Session tokens carry their region in clear, so an
//! authenticated request goes straight to the right database; network
//! events are matched by token reference, again region by region.
//!
//! Times are Unix milliseconds, booleans 0/1, coordinates in 1e-7 degrees
//! and accuracy in centimetres (integers, identical on both backends).

use paytap_store::Migration;

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        component: "wallet",
        version: 1,
        sql: "
CREATE TABLE wallet_accounts (
    id TEXT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    login_kind TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    display_name TEXT NOT NULL,
    language TEXT NOT NULL,
    region TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    failed_logins BIGINT NOT NULL,
    first_failed_at BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);
CREATE TABLE wallet_sessions (
    token_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES wallet_accounts (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX wallet_sessions_account ON wallet_sessions (account_id);
CREATE TABLE wallet_devices (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES wallet_accounts (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    model TEXT NOT NULL,
    public_key TEXT NOT NULL,
    status TEXT NOT NULL,
    suspend_reason TEXT,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT,
    lat_e7 BIGINT,
    lon_e7 BIGINT,
    accuracy_cm BIGINT,
    place TEXT,
    located_at BIGINT
);
CREATE INDEX wallet_devices_account ON wallet_devices (account_id);
CREATE TABLE wallet_cards (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES wallet_accounts (id),
    device_id TEXT NOT NULL REFERENCES wallet_devices (id),
    token_ref TEXT NOT NULL,
    card_last4 TEXT NOT NULL,
    bank_name TEXT NOT NULL,
    cardholder_name TEXT NOT NULL,
    token_state TEXT NOT NULL,
    is_default BIGINT NOT NULL,
    sealed_payload {blob} NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX wallet_cards_device ON wallet_cards (device_id, token_state);
CREATE INDEX wallet_cards_token ON wallet_cards (token_ref);
CREATE TABLE wallet_pending (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES wallet_accounts (id),
    device_id TEXT NOT NULL REFERENCES wallet_devices (id),
    verification_id TEXT NOT NULL,
    card_last4 TEXT NOT NULL,
    bank_name TEXT NOT NULL,
    otp_channel TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE wallet_transactions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES wallet_accounts (id),
    device_id TEXT NOT NULL,
    card_id TEXT NOT NULL,
    token_ref TEXT NOT NULL,
    card_last4 TEXT NOT NULL,
    bank_name TEXT NOT NULL,
    merchant_name TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    approved BIGINT NOT NULL,
    response_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    kind TEXT NOT NULL,
    at BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX wallet_transactions_account ON wallet_transactions (account_id, at, id);
CREATE TABLE wallet_idempotency (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request TEXT NOT NULL,
    status BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
)
",
    },
    // Addresses an account has signed in from ([`crate::throttle`]): an
    // address known here keeps its own failed-login budget while guesses
    // from elsewhere are held back. IPv6 is stored by its /64. The
    // lockout columns of `wallet_accounts` are no longer read or written
    // beyond their initial zeros.
    Migration {
        component: "wallet",
        version: 2,
        sql: "
CREATE TABLE wallet_login_addresses (
    account_id TEXT NOT NULL REFERENCES wallet_accounts (id),
    address TEXT NOT NULL,
    last_login_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, address)
)
",
    },
    // Find my device ([`crate::locate`]): the short history of each
    // device's places (at most `MAX_PLACES_PER_DEVICE` rows a device) and
    // the commands its owner sends it, with their state.
    Migration {
        component: "wallet",
        version: 3,
        sql: "
CREATE TABLE wallet_device_places (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES wallet_accounts (id),
    device_id TEXT NOT NULL REFERENCES wallet_devices (id),
    lat_e7 BIGINT NOT NULL,
    lon_e7 BIGINT NOT NULL,
    accuracy_cm BIGINT NOT NULL,
    place TEXT,
    source TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX wallet_device_places_device ON wallet_device_places (device_id, at);
CREATE TABLE wallet_device_commands (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES wallet_accounts (id),
    device_id TEXT NOT NULL REFERENCES wallet_devices (id),
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT,
    finished_at BIGINT,
    detail TEXT,
    lat_e7 BIGINT,
    lon_e7 BIGINT,
    accuracy_cm BIGINT,
    place TEXT
);
CREATE INDEX wallet_device_commands_device ON wallet_device_commands (device_id, state, created_at)
",
    },
    // Version 4: what a payment saved (an instant discount) and earned (a
    // cashback), in minor units of its currency, as `saved earned`; NULL
    // for a payment without offers.
    Migration {
        component: "wallet",
        version: 4,
        sql: "ALTER TABLE wallet_transactions ADD COLUMN benefits TEXT",
    },
    // Version 5: a "verify_payment" command names the stepped-up payment
    // it asks about (`payment_id`, one command per payment) and carries
    // what the phone shows (`payment`, JSON: merchant, amount).
    Migration {
        component: "wallet",
        version: 5,
        sql: "
ALTER TABLE wallet_device_commands ADD COLUMN payment_id TEXT;
ALTER TABLE wallet_device_commands ADD COLUMN payment TEXT;
CREATE UNIQUE INDEX wallet_device_commands_payment ON wallet_device_commands (payment_id)
",
    },
    // What each device last read off its own transit cards
    // (`transit_readings.rs`): one row per card, replaced whole by a report.
    Migration {
        component: "wallet",
        version: 6,
        sql: "
CREATE TABLE wallet_transit_readings (
    device_id TEXT NOT NULL,
    last_digits TEXT NOT NULL,
    balance BIGINT NOT NULL,
    offline_counter BIGINT NOT NULL,
    online_counter BIGINT NOT NULL,
    read_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, last_digits)
)
",
    },
];
