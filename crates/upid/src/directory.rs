//! The address directory: which bank account a UPI id pays into and is paid
//! from, and when the payer's device was bound (for the new-binding limit).

use crate::service::UpidError;
use paytap_store::{Db, now_millis};
use paytap_upi::Vpa;
use paytap_upi::xml::{Account, AccountNumber, Ifsc};

/// Longest PSP handle the directory accepts after `@` (UPI handles are short
/// words: `paytap`, `okhdfc`, `payu`).
pub const PSP_HANDLE_MAX_LEN: usize = 32;

/// One address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The UPI id.
    pub vpa: Vpa,
    /// The account behind it.
    pub account: Account,
    /// When its device was bound (Unix ms); `None` for a merchant's address.
    pub bound_at: Option<i64>,
}

/// Records `entry` (a later registration of the same address replaces it).
pub(crate) async fn register(db: &Db, entry: &DirectoryEntry) -> Result<(), UpidError> {
    if entry.vpa.psp().len() > PSP_HANDLE_MAX_LEN {
        return Err(UpidError::Invalid("PSP handle too long"));
    }
    sqlx::query(
        "INSERT INTO upid_directory (vpa, ifsc, account_number, bound_at, created_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (vpa) DO UPDATE SET ifsc = excluded.ifsc, \
           account_number = excluded.account_number, bound_at = excluded.bound_at",
    )
    .bind(entry.vpa.as_str())
    .bind(entry.account.ifsc.as_str())
    .bind(entry.account.number.as_str())
    .bind(entry.bound_at)
    .bind(now_millis())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The entry for `vpa`, if any.
pub(crate) async fn resolve(db: &Db, vpa: &Vpa) -> Result<Option<DirectoryEntry>, UpidError> {
    let row: Option<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT ifsc, account_number, bound_at FROM upid_directory WHERE vpa = $1")
            .bind(vpa.as_str())
            .fetch_optional(db.pool())
            .await?;
    let Some((ifsc, number, bound_at)) = row else {
        return Ok(None);
    };
    let corrupt = |_| UpidError::Corrupt(format!("directory entry of {vpa}"));
    Ok(Some(DirectoryEntry {
        vpa: vpa.clone(),
        account: Account {
            ifsc: Ifsc::new(&ifsc).map_err(corrupt)?,
            number: AccountNumber::new(&number).map_err(corrupt)?,
            kind: Some("SAVINGS".to_owned()),
        },
        bound_at,
    }))
}
