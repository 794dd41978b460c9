//! Who may hold a connection to the acquirer port (sans-IO: the server
//! asks, this module counts).
//!
//! A connection starts **anonymous** and becomes **authenticated** when it
//! signs on as a known acquirer ([`crate::auth`]). The two are counted
//! apart, so anonymous connections can never take the capacity of known
//! acquirers:
//!
//! * anonymous: at most [`MAX_ANONYMOUS`] in all and
//!   [`MAX_ANONYMOUS_PER_PEER`] per peer address (IPv6 by /64). When the
//!   pool is full, the **oldest** anonymous connection is evicted to make
//!   room, so a flood cannot hold the slots; each one also has only
//!   [`FIRST_FRAME_DEADLINE`] to speak;
//! * authenticated: at most [`MAX_PER_ACQUIRER`] per acquirer and
//!   `SwitchConfig::max_connections` in all.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Duration;

/// An anonymous connection must send a readable frame this soon (and each
/// next one as soon) or it is closed: a terminal signs on at once, so
/// anything slower is holding a slot, not paying.
pub const FIRST_FRAME_DEADLINE: Duration = Duration::from_secs(5);

/// Anonymous connections in all: enough for every acquirer of a busy
/// network to be signing on at the same moment; more only helps a flood.
pub const MAX_ANONYMOUS: usize = 64;

/// Anonymous connections from one address (one IPv6 /64): one acquirer
/// host signs on a handful of links at once, so one address cannot fill
/// the pool.
pub const MAX_ANONYMOUS_PER_PEER: usize = 8;

/// Authenticated connections of one acquirer: a processor with many
/// terminals multiplexes them (requests are matched by DE 41 + DE 11), so
/// 256 links is generous; a leaked key cannot take every slot.
pub const MAX_PER_ACQUIRER: usize = 256;

/// Refused requests (no or wrong MAC, other DE 32) after which the
/// connection is closed: a misconfigured terminal learns from the first
/// `63`; a third is someone trying keys.
pub const MAX_REFUSALS: u32 = 3;

/// The numbers above, as one value (tests lower them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    pub max_anonymous: usize,
    pub max_anonymous_per_peer: usize,
    pub max_per_acquirer: usize,
    /// Authenticated connections in all (`SwitchConfig::max_connections`).
    pub max_authenticated: usize,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            max_anonymous: MAX_ANONYMOUS,
            max_anonymous_per_peer: MAX_ANONYMOUS_PER_PEER,
            max_per_acquirer: MAX_PER_ACQUIRER,
            max_authenticated: 1024,
        }
    }
}

/// A peer address as counted: an IPv4 address, or the /64 of an IPv6 one
/// (one host gets a whole /64; IPv4-mapped addresses count as IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerGroup {
    V4(u32),
    V6(u64),
}

impl PeerGroup {
    pub fn of(ip: IpAddr) -> PeerGroup {
        match ip {
            IpAddr::V4(v4) => PeerGroup::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => PeerGroup::V4(u32::from(v4)),
                None => PeerGroup::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// A connection's number, in order of acceptance (smaller is older).
pub type ConnId = u64;

/// What to do with a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Serve it as `id`; first close `evict` (the oldest anonymous one).
    Accept { id: ConnId, evict: Option<ConnId> },
    /// Close it: its address already has its share of anonymous slots.
    PeerFull,
}

/// Why a sign-on cannot take an authenticated slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignOnRefused {
    #[error("the acquirer has its {0} connections")]
    AcquirerFull(usize),
    #[error("the switch serves its {0} authenticated connections")]
    SwitchFull(usize),
}

/// The counts behind [`Admit`] decisions.
#[derive(Debug, Default)]
pub struct Admission {
    limits: AdmissionLimits,
    next: ConnId,
    anonymous: BTreeMap<ConnId, PeerGroup>,
    per_peer: HashMap<PeerGroup, usize>,
    authenticated: HashMap<ConnId, String>,
    per_acquirer: HashMap<String, usize>,
}

impl Admission {
    pub fn new(limits: AdmissionLimits) -> Admission {
        Admission {
            limits,
            ..Admission::default()
        }
    }

    /// A connection from `peer` arrived.
    pub fn admit(&mut self, peer: PeerGroup) -> Admit {
        if self.per_peer.get(&peer).copied().unwrap_or(0) >= self.limits.max_anonymous_per_peer {
            return Admit::PeerFull;
        }
        let evict = if self.anonymous.len() >= self.limits.max_anonymous.max(1) {
            self.anonymous.keys().next().copied()
        } else {
            None
        };
        if let Some(old) = evict {
            self.close(old);
        }
        let id = self.next;
        self.next += 1;
        self.anonymous.insert(id, peer);
        *self.per_peer.entry(peer).or_default() += 1;
        Admit::Accept { id, evict }
    }

    /// Connection `id` signed on as `acquirer`: it leaves the anonymous
    /// pool for the acquirer's share. On refusal nothing changes.
    pub fn sign_on(&mut self, id: ConnId, acquirer: &str) -> Result<(), SignOnRefused> {
        if self.authenticated.get(&id).is_some_and(|a| a == acquirer) {
            return Ok(());
        }
        let mine = self.per_acquirer.get(acquirer).copied().unwrap_or(0);
        if mine >= self.limits.max_per_acquirer {
            return Err(SignOnRefused::AcquirerFull(self.limits.max_per_acquirer));
        }
        if self.authenticated.len() >= self.limits.max_authenticated {
            return Err(SignOnRefused::SwitchFull(self.limits.max_authenticated));
        }
        self.close(id);
        self.authenticated.insert(id, acquirer.to_owned());
        *self.per_acquirer.entry(acquirer.to_owned()).or_default() += 1;
        Ok(())
    }

    /// Connection `id` is gone (closed, or evicted); unknown ids are ignored.
    pub fn close(&mut self, id: ConnId) {
        if let Some(peer) = self.anonymous.remove(&id) {
            decrement(&mut self.per_peer, &peer);
        }
        if let Some(acquirer) = self.authenticated.remove(&id) {
            decrement(&mut self.per_acquirer, &acquirer);
        }
    }

    /// Anonymous connections held now.
    pub fn anonymous(&self) -> usize {
        self.anonymous.len()
    }

    /// Authenticated connections held now.
    pub fn authenticated(&self) -> usize {
        self.authenticated.len()
    }
}

fn decrement<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: PeerGroup = PeerGroup::V4(0x0A00_0001);
    const B: PeerGroup = PeerGroup::V4(0x0A00_0002);

    fn small() -> AdmissionLimits {
        AdmissionLimits {
            max_anonymous: 3,
            max_anonymous_per_peer: 2,
            max_per_acquirer: 2,
            max_authenticated: 3,
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Connect(PeerGroup),
        SignOn(ConnId, &'static str),
        Close(ConnId),
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Seen {
        Admit(Admit),
        SignOn(Result<(), SignOnRefused>),
        Closed,
    }

    /// Runs `steps` on fresh `small()` limits; each step's outcome must be
    /// the expected one, and the counts at the end (anonymous, authenticated).
    fn check(steps: &[(Step, Seen)], expect: (usize, usize)) {
        let mut adm = Admission::new(small());
        for (i, (step, want)) in steps.iter().enumerate() {
            let got = match *step {
                Step::Connect(p) => Seen::Admit(adm.admit(p)),
                Step::SignOn(id, acq) => Seen::SignOn(adm.sign_on(id, acq)),
                Step::Close(id) => {
                    adm.close(id);
                    Seen::Closed
                }
            };
            assert_eq!(&got, want, "step {i}: {step:?}");
        }
        assert_eq!((adm.anonymous(), adm.authenticated()), expect);
    }

    fn accept(id: ConnId, evict: Option<ConnId>) -> Seen {
        Seen::Admit(Admit::Accept { id, evict })
    }

    #[test]
    fn anonymous_pool_and_per_peer_limit() {
        use Step::*;
        check(
            &[
                (Connect(A), accept(0, None)),
                (Connect(A), accept(1, None)),
                // A third from A is refused: its address holds its share.
                (Connect(A), Seen::Admit(Admit::PeerFull)),
                (Connect(B), accept(2, None)),
                // The pool (3) is full: the oldest (A's first) is evicted.
                (Connect(B), accept(3, Some(0))),
                // A has a free slot again after the eviction.
                (Connect(A), accept(4, Some(1))),
            ],
            (3, 0),
        );
    }

    #[test]
    fn signed_on_connections_leave_the_anonymous_pool() {
        use Step::*;
        check(
            &[
                (Connect(A), accept(0, None)),
                (Connect(A), accept(1, None)),
                (SignOn(0, "1"), Seen::SignOn(Ok(()))),
                (SignOn(1, "1"), Seen::SignOn(Ok(()))),
                // A's anonymous share is free again; B fills the pool,
                // and no authenticated connection is ever evicted.
                (Connect(A), accept(2, None)),
                (Connect(B), accept(3, None)),
                (Connect(B), accept(4, None)),
                (Connect(A), accept(5, Some(2))),
            ],
            (3, 2),
        );
    }

    #[test]
    fn per_acquirer_and_total_authenticated_limits() {
        use Step::*;
        check(
            &[
                (Connect(A), accept(0, None)),
                (Connect(A), accept(1, None)),
                (Connect(B), accept(2, None)),
                (SignOn(0, "1"), Seen::SignOn(Ok(()))),
                (SignOn(1, "1"), Seen::SignOn(Ok(()))),
                (
                    SignOn(2, "1"),
                    Seen::SignOn(Err(SignOnRefused::AcquirerFull(2))),
                ),
                (SignOn(2, "2"), Seen::SignOn(Ok(()))),
                (Connect(B), accept(3, None)),
                (
                    SignOn(3, "3"),
                    Seen::SignOn(Err(SignOnRefused::SwitchFull(3))),
                ),
                // Closing frees the acquirer's slot.
                (Close(0), Seen::Closed),
                (SignOn(3, "1"), Seen::SignOn(Ok(()))),
                // Signing on again as the same acquirer is a no-op.
                (SignOn(3, "1"), Seen::SignOn(Ok(()))),
            ],
            (0, 3),
        );
    }

    #[test]
    fn ipv6_is_grouped_by_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(PeerGroup::of(a), PeerGroup::of(b));
        assert_ne!(PeerGroup::of(a), PeerGroup::of(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(PeerGroup::of(mapped), A);
    }
}
