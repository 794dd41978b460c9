//! # paytap-upipsp
//!
//! The wallet as the payer's UPI app: the PSP, with the handle `@paytap`
//! (ICICI its partner bank). [`Psp`] owns its tables (bindings, UPI IDs,
//! payments) and reaches the banks and the switch through [`UpiLinks`]
//! ([`InProcess`]: the emulated banks and the switch in the same process).
//!
//! - **Binding**: the phone binds to the bank by mobile number; the bank
//!   finds the accounts held with that number, and each becomes a binding
//!   of this device and its X25519 key. A new binding is under the switch's
//!   cooling-off cap for 24 hours (`paytap_upiswitch::limits`).
//! - **UPI IDs**: `name@paytap`, linked to a bound account and written to
//!   the switch's directory.
//! - **UPI PIN**: the device seals the PIN to its bank's key from ListKeys
//!   ([`paytap_seal::upi_pin`]); the PSP and the switch carry the block and
//!   never read it. Setting a PIN takes the debit card's last six digits,
//!   its expiry and the bank's OTP.
//! - **Pay**: to a UPI ID, a mobile number (resolved to the UPI ID of a
//!   paytap user with that number), or a merchant's `upi://pay` link as its
//!   QR code carries it; approve or decline a merchant's collect request;
//!   check a payment's status. Idempotent by the transaction id the device
//!   chose (the id its PIN block is sealed for): a repeat gets the payment
//!   as it stands, another request under the same id is refused.
//!
//! The holder's mobile number, account number and name are sealed at rest
//! (AES-256-GCM, each bound to its binding id and column), a binding found
//! by the keyed fingerprints of its mobile number and account
//! (HMAC-SHA256), all under the data key [`Psp::open`] is given.
//!
//! Every payment is written before its request leaves, so a crash never
//! loses one: a payment left `pending` or `deemed` is resolved by a status
//! check ([`Psp::payment`]).
//!
//! **Risk and offers** ([`Psp::attach_guard`], `guard.rs`): with a
//! [`paytap_types::PaymentGuard`] attached, a payment or a collect approval
//! is decided on before it is recorded and sent (channel `upi`, or `bills`
//! for a biller's collect request; the payer's UPI ID and its binding time,
//! the device, the payee, the amount in rupees). A decline is refused with
//! [`RISK_DECLINED`] (`U16`), a step-up with [`STEP_UP`] (`RV`: verify it is
//! you, then approve again); nothing reaches the switch or a bank. Once the
//! switch answers for good the guard is told (success captures a cashback,
//! failure releases it; deemed waits), and a payment shows the cashback it
//! earned (`earned_paise`). The guard's decisions are kept by payment id
//! (`upi:<txn id>`), so a repeated request is never decided twice.
#![deny(missing_docs)]

mod error;
mod guard;
mod links;
mod model;
mod sealed;
mod service;
mod store;

pub use error::PspError;
pub use guard::{RISK_DECLINED, STEP_UP};
pub use links::{BankAccount, BoxFuture, InProcess, LinkError, UpiLinks};
pub use model::{Binding, Collect, NewBinding, PayRequest, Payment, PinSetting, UpiId};
pub use service::{HANDLE, MAX_GUARD_TOLD_AT_ONCE, Psp, PspConfig};

use paytap_store::Migration;

/// Schema owned by the PSP.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        component: "upipsp",
        version: 1,
        sql: "CREATE TABLE upipsp_bindings (\
            binding_id TEXT PRIMARY KEY, \
            owner TEXT NOT NULL, \
            device_id TEXT NOT NULL, \
            device_key TEXT NOT NULL, \
            mobile TEXT NOT NULL, \
            bank_id TEXT NOT NULL, \
            ifsc TEXT NOT NULL, \
            account_number TEXT NOT NULL, \
            holder TEXT NOT NULL, \
            bound_at BIGINT NOT NULL, \
            UNIQUE (owner, device_id, ifsc, account_number));\
          CREATE INDEX upipsp_bindings_mobile ON upipsp_bindings (mobile);\
          CREATE TABLE upipsp_ids (\
            vpa TEXT PRIMARY KEY, \
            owner TEXT NOT NULL, \
            binding_id TEXT NOT NULL, \
            created_at BIGINT NOT NULL);\
          CREATE INDEX upipsp_ids_owner ON upipsp_ids (owner);\
          CREATE TABLE upipsp_payments (\
            txn_id TEXT PRIMARY KEY, \
            owner TEXT NOT NULL, \
            kind TEXT NOT NULL, \
            payer_vpa TEXT NOT NULL, \
            payee_vpa TEXT NOT NULL, \
            payee_name TEXT, \
            mcc TEXT NOT NULL, \
            amount_paise BIGINT NOT NULL, \
            note TEXT, \
            reference TEXT, \
            status TEXT NOT NULL, \
            error_code TEXT, \
            rrn TEXT, \
            created_at BIGINT NOT NULL, \
            updated_at BIGINT NOT NULL);\
          CREATE INDEX upipsp_payments_owner ON upipsp_payments (owner, created_at)",
    },
    // The mobile number, account number and holder sealed (`sealed.rs`):
    // rows of version 1 are left clear with no fingerprint, and
    // `Psp::open` seals them (it holds the key, the SQL does not). The
    // version-1 unique constraint on the account number stays but no longer
    // bites (sealed values differ): the unique index on the account's
    // fingerprint is the binding's key now.
    Migration {
        component: "upipsp",
        version: 2,
        sql: "ALTER TABLE upipsp_bindings ADD COLUMN mobile_fp TEXT;\
          ALTER TABLE upipsp_bindings ADD COLUMN account_fp TEXT;\
          DROP INDEX upipsp_bindings_mobile;\
          CREATE INDEX upipsp_bindings_mobile_fp ON upipsp_bindings (mobile_fp);\
          CREATE UNIQUE INDEX upipsp_bindings_account_fp \
            ON upipsp_bindings (owner, device_id, ifsc, account_fp)",
    },
    // The channel the guard saw a payment on (`upi`, or `bills` for a
    // biller's collect request; NULL before this version), the cashback
    // the guard promised it (shown once it succeeded), and whether the
    // guard still has to hear how it ended (`open`, then `told`; NULL for
    // a payment no guard saw).
    Migration {
        component: "upipsp",
        version: 3,
        sql: "ALTER TABLE upipsp_payments ADD COLUMN channel TEXT;\
          ALTER TABLE upipsp_payments ADD COLUMN earned_paise BIGINT;\
          ALTER TABLE upipsp_payments ADD COLUMN guard_state TEXT;\
          CREATE INDEX upipsp_payments_guard_open ON upipsp_payments (guard_state, status)",
    },
];
