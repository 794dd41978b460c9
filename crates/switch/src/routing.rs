//! Routing by BIN (ISO/IEC 7812-1 issuer identification number): a table of
//! inclusive prefix ranges, each owned by one issuer, either as card ranges
//! (route straight to the issuer) or as token ranges (route through the token
//! service first, then to the issuer that owns the funding card's BIN).
//!
//! Lookups compare the first `n` digits of the number with ranges whose
//! bounds have `n` digits; the most specific (longest) matching range wins.

use serde::{Deserialize, Serialize};

/// An inclusive range of BIN prefixes of one length, e.g. `622600`..=`622699`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinRange {
    pub from: String,
    pub to: String,
}

/// Why a range cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("BIN range bounds must be 1 to 11 digits of equal length, with from <= to")]
    BadRange,
    #[error("BIN range {from}..={to} of issuer {issuer} overlaps one of issuer {other}")]
    Overlap {
        from: String,
        to: String,
        issuer: String,
        other: String,
    },
}

impl BinRange {
    /// A range; bounds must be digits of the same length.
    pub fn new(from: &str, to: &str) -> Result<BinRange, RoutingError> {
        let r = BinRange {
            from: from.to_owned(),
            to: to.to_owned(),
        };
        r.validate()?;
        Ok(r)
    }

    /// Check the bounds.
    pub fn validate(&self) -> Result<(), RoutingError> {
        let ok = |s: &str| !s.is_empty() && s.len() <= 11 && s.bytes().all(|b| b.is_ascii_digit());
        if ok(&self.from)
            && ok(&self.to)
            && self.from.len() == self.to.len()
            && self.from <= self.to
        {
            Ok(())
        } else {
            Err(RoutingError::BadRange)
        }
    }

    /// Does `number` (a PAN or token) start with a prefix in this range?
    pub fn contains(&self, number: &str) -> bool {
        match number.get(..self.from.len()) {
            Some(p) => p >= self.from.as_str() && p <= self.to.as_str(),
            None => false,
        }
    }

    fn overlaps(&self, other: &BinRange) -> bool {
        let n = self.from.len().min(other.from.len());
        let (a0, a1) = (self.from.get(..n), self.to.get(..n));
        let (b0, b1) = (other.from.get(..n), other.to.get(..n));
        matches!((a0, a1, b0, b1), (Some(a0), Some(a1), Some(b0), Some(b1)) if a0 <= b1 && b0 <= a1)
    }
}

/// Where a number goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A card number of this issuer.
    Card { issuer: String },
    /// A token; the token service detokenizes it, then the funding card is
    /// routed by its own BIN. `issuer` is the issuer the token range belongs to.
    Token { issuer: String },
}

#[derive(Debug, Clone)]
struct Entry {
    range: BinRange,
    token: bool,
    issuer: String,
}

/// The routing table.
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    entries: Vec<Entry>,
}

impl RoutingTable {
    /// An empty table (every lookup is "no route").
    pub fn new() -> RoutingTable {
        RoutingTable::default()
    }

    /// Add a card BIN range of `issuer`.
    pub fn add_card_range(&mut self, issuer: &str, range: BinRange) -> Result<(), RoutingError> {
        self.add(issuer, range, false)
    }

    /// Add a token BIN range of `issuer`.
    pub fn add_token_range(&mut self, issuer: &str, range: BinRange) -> Result<(), RoutingError> {
        self.add(issuer, range, true)
    }

    fn add(&mut self, issuer: &str, range: BinRange, token: bool) -> Result<(), RoutingError> {
        range.validate()?;
        if let Some(e) = self
            .entries
            .iter()
            .find(|e| e.range.from.len() == range.from.len() && e.range.overlaps(&range))
        {
            return Err(RoutingError::Overlap {
                from: range.from,
                to: range.to,
                issuer: issuer.to_owned(),
                other: e.issuer.clone(),
            });
        }
        self.entries.push(Entry {
            range,
            token,
            issuer: issuer.to_owned(),
        });
        // Longest prefixes first: the most specific range wins.
        self.entries
            .sort_by_key(|e| std::cmp::Reverse(e.range.from.len()));
        Ok(())
    }

    /// Route `number` (card or token digits).
    pub fn route(&self, number: &str) -> Option<Route> {
        let e = self.entries.iter().find(|e| e.range.contains(number))?;
        Some(if e.token {
            Route::Token {
                issuer: e.issuer.clone(),
            }
        } else {
            Route::Card {
                issuer: e.issuer.clone(),
            }
        })
    }

    /// Route a funding card number (token ranges ignored).
    pub fn card_issuer(&self, number: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| !e.token && e.range.contains(number))
            .map(|e| e.issuer.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RoutingTable {
        let mut t = RoutingTable::new();
        t.add_card_range("icbc", BinRange::new("622200", "622299").unwrap())
            .unwrap();
        t.add_card_range("boc", BinRange::new("62230000", "62230099").unwrap())
            .unwrap();
        t.add_token_range("icbc", BinRange::new("650000", "650009").unwrap())
            .unwrap();
        t
    }

    #[test]
    fn routes_cards_tokens_and_refuses_unknown() {
        let t = table();
        assert_eq!(
            t.route("6222001234567890"),
            Some(Route::Card {
                issuer: "icbc".into()
            })
        );
        assert_eq!(
            t.route("6223005012345678"),
            Some(Route::Card {
                issuer: "boc".into()
            })
        );
        assert_eq!(
            t.route("6500051234567890"),
            Some(Route::Token {
                issuer: "icbc".into()
            })
        );
        assert_eq!(t.route("6230001234567890"), None);
        assert_eq!(t.route("62"), None);
        assert_eq!(t.card_issuer("6500051234567890"), None);
    }

    #[test]
    fn most_specific_range_wins_and_overlaps_are_refused() {
        let mut t = table();
        t.add_card_range("sub", BinRange::new("62220012", "62220012").unwrap())
            .unwrap();
        assert_eq!(
            t.route("6222001234567890"),
            Some(Route::Card {
                issuer: "sub".into()
            })
        );
        assert!(matches!(
            t.add_card_range("x", BinRange::new("622250", "622350").unwrap()),
            Err(RoutingError::Overlap { .. })
        ));
        assert_eq!(BinRange::new("6223", "6222"), Err(RoutingError::BadRange));
        assert_eq!(BinRange::new("62a3", "6229"), Err(RoutingError::BadRange));
        assert_eq!(BinRange::new("622", "6229"), Err(RoutingError::BadRange));
    }
}
