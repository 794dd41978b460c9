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

/// Where a token is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenState {
    Inactive,
    Active,
    Suspended,
    Deleted,
}

impl TokenState {
    pub const ALL: [TokenState; 4] = [
        TokenState::Inactive,
        TokenState::Active,
        TokenState::Suspended,
        TokenState::Deleted,
    ];

    /// The name stored in the database and shown in APIs.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenState::Inactive => "inactive",
            TokenState::Active => "active",
            TokenState::Suspended => "suspended",
            TokenState::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<TokenState> {
        TokenState::ALL.into_iter().find(|t| t.as_str() == s)
    }

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

impl std::fmt::Display for TokenState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who asked for a lifecycle change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// The cardholder (through the wallet app or web site).
    Holder,
    /// The card issuer (card blocked, step-up passed, account closed).
    Issuer,
    /// The token requestor, i.e. the wallet service itself.
    Wallet,
    /// A fraud decision (network or issuer risk engine).
    Fraud,
    /// The token service (provisioning).
    Tsp,
}

impl Actor {
    pub const ALL: [Actor; 5] = [
        Actor::Holder,
        Actor::Issuer,
        Actor::Wallet,
        Actor::Fraud,
        Actor::Tsp,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Actor::Holder => "holder",
            Actor::Issuer => "issuer",
            Actor::Wallet => "wallet",
            Actor::Fraud => "fraud",
            Actor::Tsp => "tsp",
        }
    }

    pub fn parse(s: &str) -> Option<Actor> {
        Actor::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
        for from in TokenState::ALL {
            for to in TokenState::ALL {
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
        for s in TokenState::ALL {
            assert_eq!(TokenState::parse(s.as_str()), Some(s));
        }
        for a in Actor::ALL {
            assert_eq!(Actor::parse(a.as_str()), Some(a));
        }
        assert_eq!(TokenState::parse("Active"), None);
        assert_eq!(Actor::parse(""), None);
    }
}
