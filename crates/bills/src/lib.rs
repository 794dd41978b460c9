//! # paytap-bills
//!
//! Bill payments (in the style of Bharat BillPay) and prepaid mobile
//! recharge as a service, over the sans-IO rules of `paytap-bbps`:
//!
//! - a fetched bill (name, amount, due date, bill number) is kept per
//!   account, biller and bill number ([`BillService::fetch`]), and unpaid
//!   ones are reminded of from three days before their due date;
//! - a payment ([`BillService::pay_bill`], [`BillService::recharge`]) is
//!   idempotent by the caller's key within its account (the same key with
//!   another request is refused) and moves through
//!   [`paytap_bbps::PayState`]: charged over UPI (a P2M ReqPay to the
//!   biller's address at the aggregator, PayU) or by card, then confirmed by
//!   the biller or operator with its reference number, or, when it is down
//!   or refuses, refunded (a UPI REFUND, a card reversal). Each state is
//!   stored before the next step, so a crash or a lost answer resumes
//!   ([`BillService::resume`]) and never charges twice: every step is
//!   idempotent at the other end by an id derived from the payment's;
//! - customer parameters, mobile numbers and the payer's UPI id and account
//!   are kept only sealed (AES-256-GCM under a key the caller derives from
//!   the vault's keyring), bound to their row.
//!
//! Tables: `bills_fetched`, `bills_payments`. The service runs over
//! whichever database it is given: the platform gives it the `in` region's.
#![deny(missing_docs)]

pub mod ports;
mod seal;
mod service;
mod store;
pub mod upi;

pub use ports::{
    BillerHost, BoxFut, CardCharge, CardPort, ChargeAnswer, EmulatedBillers, HostError, HttpSwitch,
    PayerAccounts, UpiSwitchPort,
};
pub use seal::SealError;
pub use service::{
    BillService, BillServiceParts, BillsError, Collections, DueBill, FetchedBill, PayMethod, Payer,
    PaymentKind, REGION, Receipt, RechargeRequest,
};

use paytap_store::Migration;

/// Schema owned by the bill service.
pub const MIGRATIONS: &[Migration] = &[Migration {
    component: "bills",
    version: 1,
    sql: "CREATE TABLE bills_fetched (\
            fetch_id TEXT PRIMARY KEY, \
            account_id TEXT NOT NULL, \
            biller_id TEXT NOT NULL, \
            bill_number TEXT NOT NULL, \
            amount BIGINT NOT NULL, \
            bill_date TEXT NOT NULL, \
            due_date TEXT NOT NULL, \
            sealed TEXT NOT NULL, \
            paid_by TEXT, \
            fetched_at BIGINT NOT NULL, \
            UNIQUE (account_id, biller_id, bill_number));\
          CREATE TABLE bills_payments (\
            payment_id TEXT PRIMARY KEY, \
            account_id TEXT NOT NULL, \
            request_key TEXT NOT NULL, \
            fingerprint TEXT NOT NULL, \
            kind TEXT NOT NULL, \
            payee_id TEXT NOT NULL, \
            fetch_id TEXT, \
            amount BIGINT NOT NULL, \
            method TEXT NOT NULL, \
            sealed TEXT NOT NULL, \
            state TEXT NOT NULL, \
            rail_ref TEXT, \
            decline_code TEXT, \
            biller_ref TEXT, \
            refund_reason TEXT, \
            created_at BIGINT NOT NULL, \
            updated_at BIGINT NOT NULL, \
            UNIQUE (account_id, request_key));\
          CREATE INDEX bills_payments_open ON bills_payments (state)",
}];
