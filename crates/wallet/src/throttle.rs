//! Failed-login throttling: growing delays, never a lock the owner cannot
//! pass. The delay rule is `paytap_types::throttle`'s, shared with the
//! operators' console; this module keeps the account holders' counters.
//!
//! Three counters of wrong passwords, each with its own free allowance,
//! after which every further failure doubles the wait before the next
//! attempt (from [`FIRST_DELAY`] up to [`MAX_DELAY`]); a success clears
//! the pair's counter, and a counter with no failure for [`FORGET_AFTER`]
//! is forgotten:
//!
//! * **(login, address)**: [`FREE_FAILURES_PER_PAIR`]. An attacker's
//!   failures from one address slow only that address's attempts on that
//!   login; the owner elsewhere is not affected.
//! * **address**, across logins: [`FREE_FAILURES_PER_ADDRESS`]; one
//!   address spraying many logins (credential stuffing).
//! * **login**, across addresses the account has never signed in from:
//!   [`FREE_FAILURES_PER_LOGIN`]; guessing spread over many addresses.
//!   It holds back only addresses that are not *known* for the account (a
//!   successful sign-in from there within [`KNOWN_ADDRESS_TTL`], stored
//!   in the account's region); a known address keeps its own pair budget,
//!   so an attacker elsewhere can slow strangers but never the owner's
//!   usual addresses.
//!
//! Counters are keyed by the normalised login as typed, whether or not an
//! account has it, so an unknown login is throttled exactly like a known
//! one and the answers do not tell them apart. IPv6 addresses count per
//! /64 (one subscriber's prefix); IPv4 per address. The counters live in
//! memory, at most [`MAX_TRACKED`] per kind (the stalest half is dropped
//! beyond it); a restart starts them afresh, the known addresses persist.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use paytap_types::throttle::{Backoff, Failures};

/// Wrong passwords per (login, address) without delay: a person who
/// mistypes a few times is never slowed.
pub const FREE_FAILURES_PER_PAIR: u32 = 3;
/// Wrong passwords from one address across all logins without delay: a
/// household or small office behind one address, not a stuffing run.
pub const FREE_FAILURES_PER_ADDRESS: u32 = 20;
/// Wrong passwords on one login from addresses it never signed in from,
/// before those addresses wait: distributed guessing against one account.
pub const FREE_FAILURES_PER_LOGIN: u32 = 50;
/// The wait after the first failure beyond an allowance; it doubles per
/// further failure.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest wait: about four guesses an hour per counter at worst,
/// while a person who comes back later can always try again.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// A counter with no failure for this long is forgotten (longer than
/// [`MAX_DELAY`], so a patient guesser keeps their count).
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// How long a successful sign-in makes an address known for the account.
pub const KNOWN_ADDRESS_TTL: Duration = Duration::from_secs(90 * 24 * 3600);
/// Counters kept per kind: bounds memory (about 100 bytes each) against
/// a flood of made-up logins or addresses.
pub const MAX_TRACKED: usize = 100_000;

/// The backoff of each counter: its own allowance, the shared delays.
const fn backoff(free: u32) -> Backoff {
    Backoff {
        free,
        first_delay: FIRST_DELAY,
        max_delay: MAX_DELAY,
        forget_after: FORGET_AFTER,
    }
}

/// (login, address) counters.
const PAIR: Backoff = backoff(FREE_FAILURES_PER_PAIR);
/// Address counters, across logins.
const ADDRESS: Backoff = backoff(FREE_FAILURES_PER_ADDRESS);
/// Login counters, across addresses not known for the account.
const LOGIN: Backoff = backoff(FREE_FAILURES_PER_LOGIN);

/// The part of an address that is counted: IPv4 whole, IPv6 by /64.
pub fn address_key(ip: Option<IpAddr>) -> IpAddr {
    match ip.map(|i| i.to_canonical()) {
        Some(IpAddr::V6(v6)) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        Some(v4) => v4,
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    }
}

#[derive(Debug)]
struct Counters<K> {
    map: HashMap<K, Failures>,
    policy: Backoff,
}

impl<K: Hash + Eq + Clone> Counters<K> {
    fn new(policy: Backoff) -> Self {
        Counters {
            map: HashMap::new(),
            policy,
        }
    }

    fn get(&self, k: &K, now: i64) -> Failures {
        self.map
            .get(k)
            .map_or_else(Failures::default, |f| f.at(&self.policy, now))
    }

    /// Milliseconds `k` must still wait at `now`, if any.
    fn wait(&self, k: &K, now: i64) -> Option<i64> {
        self.get(k, now).wait_ms(&self.policy, now)
    }

    /// Counts a failure; `true` when it is the one that spends the last
    /// of the allowance, so that from now on the key waits (a lockout
    /// begins).
    fn fail(&mut self, k: K, now: i64) -> bool {
        if self.map.len() >= MAX_TRACKED && !self.map.contains_key(&k) {
            self.prune(now);
        }
        let (f, begins) = self.get(&k, now).fail(&self.policy, now);
        self.map.insert(k, f);
        begins
    }

    /// Drops forgotten counters, then, if still full, the stalest half.
    fn prune(&mut self, now: i64) {
        let policy = self.policy;
        self.map.retain(|_, f| f.at(&policy, now).count > 0);
        if self.map.len() >= MAX_TRACKED {
            let mut lasts: Vec<i64> = self.map.values().map(|f| f.last_ms).collect();
            let mid = lasts.len() / 2;
            let (_, median, _) = lasts.select_nth_unstable(mid);
            let median = *median;
            self.map.retain(|_, f| f.last_ms > median);
        }
    }
}

/// What sign-ins came to since start, for the operator's metrics. No
/// login or address is kept, only the counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SignInCounts {
    /// Sign-ins that opened a session.
    pub succeeded: u64,
    /// Wrong passwords and unknown logins.
    pub failed: u64,
    /// Attempts refused (429) while a wait ran, before any password check.
    pub throttled: u64,
    /// Lockouts begun: a (login, address) pair spent its free failures.
    pub pair_lockouts: u64,
    /// Lockouts begun: an address spent its free failures across logins.
    pub address_lockouts: u64,
    /// Lockouts begun: a login spent its free failures from addresses it
    /// never signed in from.
    pub login_lockouts: u64,
}

/// The failed-login counters (see the module doc). Times are Unix ms.
#[derive(Debug)]
pub struct LoginThrottle {
    pairs: Counters<(String, IpAddr)>,
    addresses: Counters<IpAddr>,
    logins: Counters<String>,
    counts: SignInCounts,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle {
            pairs: Counters::new(PAIR),
            addresses: Counters::new(ADDRESS),
            logins: Counters::new(LOGIN),
            counts: SignInCounts::default(),
        }
    }
}

impl LoginThrottle {
    /// Milliseconds this (login, address) must still wait by its own
    /// counter or its address's, if any.
    pub fn pair_wait(&self, login: &str, addr: IpAddr, now: i64) -> Option<i64> {
        let pair = self.pairs.wait(&(login.to_string(), addr), now);
        pair.max(self.addresses.wait(&addr, now))
    }

    /// Milliseconds an address not known for `login` must still wait by
    /// the login's counter across addresses, if any.
    pub fn stranger_wait(&self, login: &str, now: i64) -> Option<i64> {
        self.logins.wait(&login.to_string(), now)
    }

    /// Counts a wrong password. `known`: the address is known for the
    /// account, so the failure spends only its own pair's budget and the
    /// address's, not the login's budget for strangers.
    pub fn record_failure(&mut self, login: &str, addr: IpAddr, known: bool, now: i64) {
        let c = &mut self.counts;
        c.failed += 1;
        if self.pairs.fail((login.to_string(), addr), now) {
            c.pair_lockouts += 1;
        }
        if self.addresses.fail(addr, now) {
            c.address_lockouts += 1;
        }
        if !known && self.logins.fail(login.to_string(), now) {
            c.login_lockouts += 1;
        }
    }

    /// A successful sign-in clears its pair's counter.
    pub fn record_success(&mut self, login: &str, addr: IpAddr) {
        self.counts.succeeded += 1;
        self.pairs.map.remove(&(login.to_string(), addr));
    }

    /// Counts an attempt refused while a wait ran.
    pub fn record_throttled(&mut self) {
        self.counts.throttled += 1;
    }

    /// What sign-ins came to since start.
    pub fn counts(&self) -> SignInCounts {
        self.counts
    }
}

pub use paytap_types::throttle::wait_secs;

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_000_000_000;

    fn ms(d: Duration) -> i64 {
        i64::try_from(d.as_millis()).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        address_key(Some(s.parse().unwrap()))
    }

    #[test]
    fn delays_grow_per_pair_and_never_lock() {
        let mut t = LoginThrottle::default();
        let a = ip("203.0.113.1");
        for _ in 0..FREE_FAILURES_PER_PAIR {
            assert_eq!(t.pair_wait("x@example.com", a, T0), None);
            t.record_failure("x@example.com", a, false, T0);
        }
        assert_eq!(t.pair_wait("x@example.com", a, T0), Some(1000));
        assert_eq!(t.pair_wait("x@example.com", a, T0 + 1000), None);
        t.record_failure("x@example.com", a, false, T0 + 1000);
        assert_eq!(t.pair_wait("x@example.com", a, T0 + 1000), Some(2000));
        // Another address, another login: unaffected.
        assert_eq!(t.pair_wait("x@example.com", ip("198.51.100.2"), T0), None);
        assert_eq!(t.pair_wait("y@example.com", a, T0), None);
        // The delay is capped.
        for i in 0..40 {
            t.record_failure("x@example.com", a, false, T0 + i);
        }
        assert_eq!(
            t.pair_wait("x@example.com", a, T0 + 39),
            Some(ms(MAX_DELAY))
        );
        // A success clears the pair; the address's own count stays.
        t.record_success("x@example.com", a);
        let pair = t.pairs.get(&("x@example.com".to_string(), a), T0 + 39);
        assert_eq!(pair.count, 0);
        assert!(t.pair_wait("x@example.com", a, T0 + 39).is_some());
    }

    #[test]
    fn a_lockout_is_counted_once_when_a_counter_spends_its_allowance() {
        let mut t = LoginThrottle::default();
        let a = ip("203.0.113.1");
        for i in 0..FREE_FAILURES_PER_PAIR + 2 {
            t.record_failure("x@example.com", a, false, T0 + i64::from(i));
        }
        t.record_throttled();
        t.record_success("y@example.com", a);
        assert_eq!(
            t.counts(),
            SignInCounts {
                succeeded: 1,
                failed: u64::from(FREE_FAILURES_PER_PAIR) + 2,
                throttled: 1,
                pair_lockouts: 1,
                address_lockouts: 0,
                login_lockouts: 0,
            }
        );
        // Each address and each login spends its own allowance once.
        for i in 0..FREE_FAILURES_PER_LOGIN {
            let other = address_key(Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))));
            t.record_failure("z@example.com", other, false, T0);
        }
        for i in 0..FREE_FAILURES_PER_ADDRESS {
            t.record_failure(&format!("u{i}@example.com"), a, true, T0);
        }
        let c = t.counts();
        assert_eq!(c.login_lockouts, 1);
        assert_eq!(c.address_lockouts, 1);
        assert_eq!(c.pair_lockouts, 1);
    }

    #[test]
    fn known_addresses_do_not_spend_the_strangers_budget() {
        let mut t = LoginThrottle::default();
        for i in 0..FREE_FAILURES_PER_LOGIN {
            let a = address_key(Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))));
            t.record_failure("x@example.com", a, false, T0);
        }
        assert!(t.stranger_wait("x@example.com", T0).is_some());
        let mut u = LoginThrottle::default();
        for _ in 0..FREE_FAILURES_PER_LOGIN {
            u.record_failure("x@example.com", ip("10.0.0.1"), true, T0);
        }
        assert_eq!(u.stranger_wait("x@example.com", T0), None);
    }

    #[test]
    fn ipv6_counts_per_prefix_and_counters_are_forgotten() {
        assert_eq!(ip("2001:db8::1"), ip("2001:db8::ffff:1"));
        assert_ne!(ip("2001:db8::1"), ip("2001:db8:0:1::1"));
        assert_eq!(ip("::ffff:1.2.3.4"), ip("1.2.3.4"));
        let mut t = LoginThrottle::default();
        let a = ip("1.2.3.4");
        for _ in 0..10 {
            t.record_failure("x@example.com", a, false, T0);
        }
        assert!(t.pair_wait("x@example.com", a, T0).is_some());
        assert_eq!(t.pair_wait("x@example.com", a, T0 + ms(FORGET_AFTER)), None);
    }

    #[test]
    fn memory_stays_bounded() {
        let mut t = LoginThrottle::default();
        for i in 0..(MAX_TRACKED as u32 + 10) {
            t.record_failure(&format!("u{i}"), ip("1.2.3.4"), false, T0 + i64::from(i));
        }
        assert!(t.pairs.map.len() <= MAX_TRACKED);
        assert!(t.logins.map.len() <= MAX_TRACKED);
        assert_eq!(wait_secs(1), 1);
        assert_eq!(wait_secs(1001), 2);
    }
}
