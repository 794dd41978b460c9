//! Who pays for one band operation uploaded by a register, decided from
//! what the platform knows at that moment (pure: no database, no clock).
//!
//! An operation is a **double spend** when its code's counter was already
//! settled from another register (a copied code, or a cloned band), or
//! when it would take the band's settled spending under its certificate's
//! serial over that certificate's limit (spent at several registers, each
//! within the limit alone). A double spend revokes the band's credential.
//!
//! Every operation, double spend or not, is then paid from the band
//! account while its held funds cover it, otherwise from the platform's
//! risk reserve while the reserve covers it, otherwise refused. A code
//! made after its band was revoked (beyond the clock skew a register may
//! have) is refused: the registers had the revocation list to check.

use paytap_qr::offline::MAX_CLOCK_SKEW_SECS;
use serde::{Deserialize, Serialize};

paytap_types::text_enum! {
    /// Where the money of a paid operation came from.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Source {
        /// The band account's held funds.
        Account = "account",
        /// The platform's risk reserve.
        Reserve = "reserve",
    }
}

paytap_types::text_enum! {
    /// Why an operation was refused or counted as a double spend.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Reason {
        /// The same counter was settled from another register.
        SameCodeElsewhere = "same_code_elsewhere",
        /// Over the certificate's limit across registers.
        OverLimit = "over_limit",
        /// Made after the band was revoked.
        Revoked = "revoked",
        /// Neither the account nor the reserve covers it.
        Uncovered = "uncovered",
    }
}

/// What is known of one operation and its band when it is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// The amount the register took, minor units.
    pub amount: i64,
    /// The code's time (Unix seconds).
    pub code_time: i64,
    /// When the band was revoked, if it is.
    pub revoked_at: Option<i64>,
    /// The counter was settled before from another register.
    pub counter_settled_elsewhere: bool,
    /// Settled spending under the code's certificate serial so far.
    pub serial_spent: i64,
    /// That certificate's limit.
    pub serial_limit: i64,
    /// What the band account can still pay.
    pub account_available: i64,
    /// What the reserve can still pay.
    pub reserve_available: i64,
}

/// The decision on one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Who pays, or `None` when it is refused.
    pub source: Option<Source>,
    /// Why it was refused, or why it is a double spend.
    pub reason: Option<Reason>,
    /// A double spend: the band is revoked.
    pub double_spend: bool,
}

/// Decides one operation (module documentation).
pub fn decide(f: &Facts) -> Decision {
    debug_assert!(f.amount > 0, "operations are validated before deciding");
    let double_spend_reason = if f.counter_settled_elsewhere {
        Some(Reason::SameCodeElsewhere)
    } else if f.serial_spent.saturating_add(f.amount) > f.serial_limit {
        Some(Reason::OverLimit)
    } else {
        None
    };
    let double_spend = double_spend_reason.is_some();
    let after_revocation = f
        .revoked_at
        .is_some_and(|at| f.code_time > at.saturating_add(MAX_CLOCK_SKEW_SECS));
    let refuse = |reason| Decision {
        source: None,
        reason: Some(reason),
        double_spend,
    };
    if after_revocation {
        return refuse(Reason::Revoked);
    }
    let source = if f.account_available >= f.amount {
        Source::Account
    } else if f.reserve_available >= f.amount {
        Source::Reserve
    } else {
        return refuse(Reason::Uncovered);
    };
    Decision {
        source: Some(source),
        reason: double_spend_reason,
        double_spend,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            amount: 1_000,
            code_time: 100,
            revoked_at: None,
            counter_settled_elsewhere: false,
            serial_spent: 0,
            serial_limit: 50_000,
            account_available: 50_000,
            reserve_available: 10_000,
        }
    }

    #[test]
    fn a_code_within_its_limit_is_paid_from_the_account() {
        let d = decide(&facts());
        assert_eq!(
            (d.source, d.reason, d.double_spend),
            (Some(Source::Account), None, false)
        );
    }

    #[test]
    fn a_copied_code_is_a_double_spend_paid_while_covered() {
        let f = Facts {
            counter_settled_elsewhere: true,
            ..facts()
        };
        let d = decide(&f);
        assert_eq!(
            (d.source, d.reason),
            (Some(Source::Account), Some(Reason::SameCodeElsewhere))
        );
        assert!(d.double_spend);
        let f = Facts {
            account_available: 0,
            ..f
        };
        assert_eq!(decide(&f).source, Some(Source::Reserve));
        let f = Facts {
            reserve_available: 999,
            ..f
        };
        let d = decide(&f);
        assert_eq!(
            (d.source, d.reason, d.double_spend),
            (None, Some(Reason::Uncovered), true)
        );
    }

    #[test]
    fn spending_over_the_certificate_limit_is_a_double_spend() {
        let f = Facts {
            serial_spent: 49_500,
            ..facts()
        };
        let d = decide(&f);
        assert_eq!((d.reason, d.double_spend), (Some(Reason::OverLimit), true));
        let f = Facts {
            serial_spent: 49_000,
            ..facts()
        };
        assert!(!decide(&f).double_spend, "exactly the limit is within it");
    }

    #[test]
    fn a_code_made_after_revocation_is_refused() {
        let f = Facts {
            revoked_at: Some(100 - MAX_CLOCK_SKEW_SECS - 1),
            ..facts()
        };
        assert_eq!(decide(&f).reason, Some(Reason::Revoked));
        let f = Facts {
            revoked_at: Some(100 - MAX_CLOCK_SKEW_SECS),
            ..facts()
        };
        assert_eq!(decide(&f).source, Some(Source::Account), "within the skew");
    }
}
