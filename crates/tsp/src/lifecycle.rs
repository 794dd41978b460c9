//! Token lifecycle (EMV Payment Tokenisation Specification, Technical
//! Framework v2.x §3 "token lifecycle"): a token is `inactive` after
//! provisioning until the holder passes the issuer's step-up, `active` when
//! it may transact, `suspended` when it may not for now (lost device, fraud
//! hold), and `deleted` for good.
//!
//! ```text
//! inactive ──> active <──> suspended
//!    │            │            │
//!    └────────────┴────────────┴──> deleted (final)
//! ```
//!
//! Every change is recorded as an event row with the actor who asked for it
//! and a reason (see [`crate::Tsp::events`]).

use serde::{Deserialize, Serialize};

paytap_types::text_enum! {
    /// Where a token is in its life (`tsp_tokens.state`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum TokenState {
        Inactive = "inactive",
        Active = "active",
        Suspended = "suspended",
        Deleted = "deleted",
    }
}

impl TokenState {
    /// Whether the lifecycle allows going from `self` to `to`. Staying in the
    /// same state is not a transition (callers treat it as a no-op).
    pub const fn can_become(self, to: TokenState) -> bool {
        use TokenState::*;
        matches!(
            (self, to),
            (Inactive, Active)
                | (Inactive, Deleted)
                | (Active, Suspended)
                | (Suspended, Active)
                | (Active, Deleted)
                | (Suspended, Deleted)
        )
    }
}

paytap_types::text_enum! {
    /// Who asked for a lifecycle change.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Actor {
        /// The cardholder (through the wallet app or web site).
        Holder = "holder",
        /// The card issuer (card blocked, step-up passed, account closed).
        Issuer = "issuer",
        /// The token requestor, i.e. the wallet service itself.
        Wallet = "wallet",
        /// A fraud decision (network or issuer risk engine).
        Fraud = "fraud",
        /// The token service (provisioning).
        Tsp = "tsp",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TokenState::*;

    #[test]
    fn transition_table_is_exactly_the_lifecycle() {
        let allowed = [
            (Inactive, Active),
            (Inactive, Deleted),
            (Active, Suspended),
            (Suspended, Active),
            (Active, Deleted),
            (Suspended, Deleted),
        ];
        for &from in TokenState::ALL {
            for &to in TokenState::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
        // Deleted is final.
        assert!(TokenState::ALL.iter().all(|t| !Deleted.can_become(*t)));
        // Nothing returns to inactive.
        assert!(TokenState::ALL.iter().all(|t| !t.can_become(Inactive)));
    }

    #[test]
    fn names_round_trip() {
        for &s in TokenState::ALL {
            assert_eq!(s.as_str().parse::<TokenState>(), Ok(s));
            assert_eq!(serde_json::to_value(s).expect("json"), s.as_str());
        }
        for &a in Actor::ALL {
            assert_eq!(a.as_str().parse::<Actor>(), Ok(a));
            assert_eq!(serde_json::to_value(a).expect("json"), a.as_str());
        }
        assert!("Active".parse::<TokenState>().is_err());
        assert!("".parse::<Actor>().is_err());
    }
}
