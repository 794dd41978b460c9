//! [`AuthState`]: where an authorization record stands
//! (`issuer_auths.state`).

paytap_types::text_enum! {
    /// Where an authorization record stands (`issuer_auths.state`). The
    /// text is what the table holds; the value is what the code compares.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum AuthState {
        /// Approved, with its money held at the ledger.
        Held = "held",
        /// Refused; it holds nothing.
        Declined = "declined",
        /// A stand-in approval the balance could not cover: nothing held.
        Unfunded = "unfunded",
        /// Held, then captured by clearing.
        Captured = "captured",
        /// A reversal that came before its original (a tombstone).
        Reversed = "reversed",
        /// Held, then given back by a reversal.
        Voided = "voided",
        /// Held, then given back because no capture came in time.
        Expired = "expired",
        /// An approved `0200` whose money has moved.
        Settled = "settled",
        /// A settled `0200` given back by a reversal.
        Refunded = "refunded",
        /// An approval whose hold a crash lost: marked failed (`96`) at start.
        Failed = "failed",
    }
}

#[cfg(test)]
mod tests {
    use super::AuthState;

    #[test]
    fn every_state_reads_back_its_own_text() {
        for &s in AuthState::ALL {
            assert_eq!(s.as_str().parse::<AuthState>(), Ok(s));
        }
        assert!("HELD".parse::<AuthState>().is_err());
    }
}
