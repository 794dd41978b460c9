//! The ledger's value types: accounts, balances, transfers, receipts and
//! rejection codes (the codes are what is persisted for a rejected id).

use crate::{LedgerError, get};
use paytap_types::{Currency, Money};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The one balance constraint an account may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum AccountFlags {
    /// No constraint (e.g. settlement or control accounts).
    #[default]
    None,
    /// `debits_posted + debits_pending <= credits_posted`: an asset the
    /// holder owns, such as a debit card's current account, cannot go below
    /// zero, holds included.
    DebitsMustNotExceedCredits,
    /// `credits_posted + credits_pending <= debits_posted`: the mirror
    /// image (e.g. a credit line seen from the bank's side).
    CreditsMustNotExceedDebits,
}

impl AccountFlags {
    pub(crate) fn code(self) -> i64 {
        match self {
            AccountFlags::None => 0,
            AccountFlags::DebitsMustNotExceedCredits => 1,
            AccountFlags::CreditsMustNotExceedDebits => 2,
        }
    }

    pub(crate) fn from_code(code: i64) -> Result<Self, LedgerError> {
        match code {
            0 => Ok(AccountFlags::None),
            1 => Ok(AccountFlags::DebitsMustNotExceedCredits),
            2 => Ok(AccountFlags::CreditsMustNotExceedDebits),
            other => Err(LedgerError::Corrupt(format!(
                "unknown account flags {other}"
            ))),
        }
    }

    /// Whether `b` respects this constraint (pending amounts included).
    pub fn allows(self, b: &Balance) -> bool {
        match self {
            AccountFlags::None => true,
            AccountFlags::DebitsMustNotExceedCredits => b
                .debits_posted
                .checked_add(b.debits_pending)
                .is_some_and(|d| d <= b.credits_posted),
            AccountFlags::CreditsMustNotExceedDebits => b
                .credits_posted
                .checked_add(b.credits_pending)
                .is_some_and(|c| c <= b.debits_posted),
        }
    }
}

/// What an account is: chosen by its creator, immutable afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSpec {
    /// Caller-chosen id, 1 to 128 bytes (e.g. `"bank:icbc:card:42"`).
    pub id: String,
    pub name: String,
    pub currency: Currency,
    pub flags: AccountFlags,
}

impl AccountSpec {
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        currency: Currency,
        flags: AccountFlags,
    ) -> Self {
        AccountSpec {
            id: id.into(),
            name: name.into(),
            currency,
            flags,
        }
    }
}

/// The four counters of an account, in minor units of its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Balance {
    pub debits_posted: i64,
    pub credits_posted: i64,
    pub debits_pending: i64,
    pub credits_pending: i64,
}

impl Balance {
    /// `credits_posted - debits_posted - debits_pending`: what a
    /// `DebitsMustNotExceedCredits` account can still be debited.
    pub fn available_to_debit(&self) -> i64 {
        self.credits_posted
            .saturating_sub(self.debits_posted)
            .saturating_sub(self.debits_pending)
    }

    /// `debits_posted - credits_posted - credits_pending`: what a
    /// `CreditsMustNotExceedDebits` account can still be credited.
    pub fn available_to_credit(&self) -> i64 {
        self.debits_posted
            .saturating_sub(self.credits_posted)
            .saturating_sub(self.credits_pending)
    }
}

/// An account and its balances as last committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub spec: AccountSpec,
    pub balance: Balance,
    pub created_at: i64,
}

pub(crate) fn account_from_row(row: &sqlx::any::AnyRow) -> Result<Account, LedgerError> {
    let currency: String = get(row, "currency")?;
    Ok(Account {
        spec: AccountSpec {
            id: get(row, "id")?,
            name: get(row, "name")?,
            currency: Currency::from_code(&currency)
                .map_err(|_| LedgerError::Corrupt(format!("unknown currency {currency:?}")))?,
            flags: AccountFlags::from_code(get(row, "flags")?)?,
        },
        balance: Balance {
            debits_posted: get(row, "debits_posted")?,
            credits_posted: get(row, "credits_posted")?,
            debits_pending: get(row, "debits_pending")?,
            credits_pending: get(row, "credits_pending")?,
        },
        created_at: get(row, "created_at")?,
    })
}

/// A request to move money: `amount` from `debit` to `credit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// The idempotency key, 1 to 128 bytes, unique across all transfers
    /// and post/void operations.
    pub id: String,
    pub debit: String,
    pub credit: String,
    /// Positive, in the currency of both accounts.
    pub amount: Money,
    /// `true`: place a hold (two-phase); `false`: post at once.
    pub pending: bool,
    /// Free text for the caller (e.g. the authorization it belongs to).
    /// Part of the content compared on a retry.
    pub reference: Option<String>,
}

impl Transfer {
    /// A single-phase transfer, posted at once.
    pub fn single(
        id: impl Into<String>,
        debit: impl Into<String>,
        credit: impl Into<String>,
        amount: Money,
    ) -> Self {
        Transfer {
            id: id.into(),
            debit: debit.into(),
            credit: credit.into(),
            amount,
            pending: false,
            reference: None,
        }
    }

    /// A hold, to be posted or voided later.
    pub fn pending(
        id: impl Into<String>,
        debit: impl Into<String>,
        credit: impl Into<String>,
        amount: Money,
    ) -> Self {
        Transfer {
            pending: true,
            ..Transfer::single(id, debit, credit, amount)
        }
    }

    pub fn with_reference(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }
}

/// What a transfer row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TransferKind {
    Single,
    Pending,
    PostPending,
    VoidPending,
}

impl TransferKind {
    pub(crate) fn code(self) -> &'static str {
        match self {
            TransferKind::Single => "single",
            TransferKind::Pending => "pending",
            TransferKind::PostPending => "post_pending",
            TransferKind::VoidPending => "void_pending",
        }
    }

    pub(crate) fn from_code(code: &str) -> Result<Self, LedgerError> {
        Ok(match code {
            "single" => TransferKind::Single,
            "pending" => TransferKind::Pending,
            "post_pending" => TransferKind::PostPending,
            "void_pending" => TransferKind::VoidPending,
            other => {
                return Err(LedgerError::Corrupt(format!(
                    "unknown transfer kind {other:?}"
                )));
            }
        })
    }
}

/// Where a pending transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PendingState {
    Pending,
    Posted,
    Voided,
}

impl PendingState {
    pub(crate) fn code(self) -> &'static str {
        match self {
            PendingState::Pending => "pending",
            PendingState::Posted => "posted",
            PendingState::Voided => "voided",
        }
    }

    pub(crate) fn from_code(code: &str) -> Result<Self, LedgerError> {
        Ok(match code {
            "pending" => PendingState::Pending,
            "posted" => PendingState::Posted,
            "voided" => PendingState::Voided,
            other => {
                return Err(LedgerError::Corrupt(format!(
                    "unknown pending state {other:?}"
                )));
            }
        })
    }
}

/// The committed result of a successful transfer, post or void. A retry of
/// the same id returns an identical receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub id: String,
    pub kind: TransferKind,
    pub debit: String,
    pub credit: String,
    /// Single/pending: the amount moved or held. Post: the amount posted.
    /// Void: the amount released.
    pub amount: Money,
    /// For a post or void: the pending transfer it resolved.
    pub pending_id: Option<String>,
    pub reference: Option<String>,
    /// Commit time, Unix milliseconds.
    pub timestamp: i64,
}

/// Why a transfer was refused. Persisted under the transfer's id: a retry
/// gets the same rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum Rejection {
    #[error("id must be 1 to 128 bytes and reference at most 256")]
    InvalidId,
    #[error("amount must be positive")]
    AmountNotPositive,
    #[error("debit and credit accounts are the same")]
    SameAccount,
    #[error("debit account not found")]
    DebitAccountNotFound,
    #[error("credit account not found")]
    CreditAccountNotFound,
    #[error("currency differs from an account's currency")]
    CurrencyMismatch,
    /// The debit account is `DebitsMustNotExceedCredits` and lacks funds
    /// (holds included).
    #[error("debits would exceed credits (insufficient funds)")]
    ExceedsCredits,
    /// The credit account is `CreditsMustNotExceedDebits` and would go over.
    #[error("credits would exceed debits")]
    ExceedsDebits,
    #[error("a balance would overflow")]
    Overflow,
    #[error("pending transfer not found")]
    PendingNotFound,
    #[error("the referenced transfer is not a pending transfer")]
    NotPending,
    #[error("pending transfer was already posted")]
    PendingAlreadyPosted,
    #[error("pending transfer was already voided")]
    PendingAlreadyVoided,
    #[error("amount exceeds the pending amount")]
    AmountExceedsPending,
}

const REJECTIONS: &[(Rejection, &str)] = &[
    (Rejection::InvalidId, "invalid_id"),
    (Rejection::AmountNotPositive, "amount_not_positive"),
    (Rejection::SameAccount, "same_account"),
    (Rejection::DebitAccountNotFound, "debit_account_not_found"),
    (Rejection::CreditAccountNotFound, "credit_account_not_found"),
    (Rejection::CurrencyMismatch, "currency_mismatch"),
    (Rejection::ExceedsCredits, "exceeds_credits"),
    (Rejection::ExceedsDebits, "exceeds_debits"),
    (Rejection::Overflow, "overflow"),
    (Rejection::PendingNotFound, "pending_not_found"),
    (Rejection::NotPending, "not_pending"),
    (Rejection::PendingAlreadyPosted, "pending_already_posted"),
    (Rejection::PendingAlreadyVoided, "pending_already_voided"),
    (Rejection::AmountExceedsPending, "amount_exceeds_pending"),
];

impl Rejection {
    /// The stable code stored for this rejection.
    pub fn code(self) -> &'static str {
        REJECTIONS
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("unknown", |(_, c)| c)
    }

    pub(crate) fn from_code(code: &str) -> Result<Self, LedgerError> {
        REJECTIONS
            .iter()
            .find(|(_, c)| *c == code)
            .map(|(r, _)| *r)
            .ok_or_else(|| LedgerError::Corrupt(format!("unknown rejection code {code:?}")))
    }
}

/// What [`crate::Ledger::check_invariants`] verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvariantReport {
    pub accounts: usize,
    pub transfers: usize,
    /// Sums of all account balances per currency (debits equal credits).
    pub totals: BTreeMap<Currency, Balance>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for (r, c) in REJECTIONS {
            assert_eq!(r.code(), *c);
            assert_eq!(Rejection::from_code(c).ok(), Some(*r));
        }
        assert!(Rejection::from_code("nope").is_err());
        for k in [
            TransferKind::Single,
            TransferKind::Pending,
            TransferKind::PostPending,
            TransferKind::VoidPending,
        ] {
            assert_eq!(TransferKind::from_code(k.code()).ok(), Some(k));
        }
        for f in [
            AccountFlags::None,
            AccountFlags::DebitsMustNotExceedCredits,
            AccountFlags::CreditsMustNotExceedDebits,
        ] {
            assert_eq!(AccountFlags::from_code(f.code()).ok(), Some(f));
        }
    }

    #[test]
    fn flags_include_pending_amounts() {
        let b = Balance {
            debits_posted: 30,
            credits_posted: 100,
            debits_pending: 70,
            credits_pending: 0,
        };
        assert!(AccountFlags::DebitsMustNotExceedCredits.allows(&b));
        assert_eq!(b.available_to_debit(), 0);
        let over = Balance {
            debits_pending: 71,
            ..b
        };
        assert!(!AccountFlags::DebitsMustNotExceedCredits.allows(&over));
        assert!(AccountFlags::None.allows(&over));
        let c = Balance {
            debits_posted: 50,
            credits_posted: 20,
            debits_pending: 0,
            credits_pending: 31,
        };
        assert!(!AccountFlags::CreditsMustNotExceedDebits.allows(&c));
        assert_eq!(c.available_to_credit(), -1);
    }
}
