//! The switch's message processing, independent of the transport: one
//! acquirer request in, one answer out ([`Switch::handle`]).
//!
//! Authorization (`0100`, ISO 8583:1987 clause 4.3 message class 1):
//! validate → duplicate check → strip DE 62/63 → route by BIN → token service
//! (token ranges) → issuer with its time limit → on timeout or failure,
//! stand-in decision plus stored reversal (`0400`) and advice (`0120`) →
//! answer, log row, [`PaymentEvent`].
//!
//! Reversal (`0400`/`0420`): find the original by DE 90 and DE 41, reverse
//! at the issuer (stored and forwarded until acknowledged), answer
//! `0410`/`0430`; an original never logged is reversed at the issuer DE 2
//! routes to ([`unlogged`]). Network management (`0800`): echo, sign-on and sign-off
//! answered `0810` with DE 39 `00`.

use crate::config::{IssuerRoute, StandInRules, SwitchConfig};
use crate::counts::{AuthCounts, AuthKind, Channel};
use crate::link::{IssuerLink, LinkError, STAND_IN_INDICATOR};
use crate::log::{ClearingReport, LogStatus, MessageLog, StoredForward, net_positions};
use crate::routing::{Route, RoutingError, RoutingTable};
use crate::seal::{self, ForwardKey};
use crate::token::{TokenCompletion, TokenDecision, TokenService};
use paytap_iso8583::{Message, Mti, NetworkManagementCode, OriginalData, ResponseCode};
use paytap_store::{Db, StoreError, now_millis};
use paytap_types::{Currency, Money, PaymentEvent, PaymentGuard};
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};

mod guarded;
mod logged;
mod unlogged;
use logged::ReversalLog;

/// Starting the switch failed.
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error("routing table: {0}")]
    Routing(#[from] RoutingError),
    #[error("issuer {0:?} is configured but has no link")]
    MissingLink(String),
    #[error("issuer {0:?} is configured twice")]
    DuplicateIssuer(String),
    #[error("switch store: {0}")]
    Store(#[from] StoreError),
    #[error("token ranges are configured but no token service is attached")]
    NoTokenService,
    #[error("default acquirer id {0:?} is not a valid DE 32")]
    DefaultAcquirer(String),
}

/// The default acquirer id goes into DE 32 of what the switch sends, so it
/// is checked once here ([`ACQUIRER`]).
fn check_default_acquirer(id: &str) -> Result<(), SwitchError> {
    Message::new(Mti::AUTHORIZATION_REQUEST)
        .set_acquirer_id(id)
        .map_err(|_| SwitchError::DefaultAcquirer(id.to_owned()))
}

/// The card network switch. Cheap to clone.
#[derive(Clone)]
pub struct Switch {
    inner: Arc<Inner>,
}

struct IssuerEntry {
    route: IssuerRoute,
    link: Arc<dyn IssuerLink>,
    forward: mpsc::Sender<Forward>,
    /// Forwards taken and not acknowledged yet: those in `forward` plus the
    /// one the forwarder is delivering. Never above `capacity`, so a send
    /// into `forward` (of that capacity) always finds room.
    queued: Arc<AtomicU64>,
    capacity: u64,
}

impl IssuerEntry {
    /// Takes `n` places in the forwarding queue; `false`, taking none, when
    /// fewer are free.
    fn reserve(&self, n: u64) -> bool {
        let before = self.queued.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > self.capacity {
            self.queued.fetch_sub(n, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Puts `forward` in a place taken by [`IssuerEntry::reserve`].
    fn send_reserved(&self, forward: Forward) {
        match self.forward.try_send(forward) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                debug_assert!(false, "a reserved forwarding place was taken");
                tracing::error!(bank = %self.route.id, "forwarding queue over its count");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                tracing::error!(bank = %self.route.id, "store-and-forward queue closed");
            }
        }
    }
}

struct Inner {
    config: SwitchConfig,
    routing: RoutingTable,
    issuers: HashMap<String, IssuerEntry>,
    tokens: Option<Arc<dyn TokenService>>,
    guard: Option<Arc<dyn PaymentGuard>>,
    log: MessageLog,
    forward_key: Option<ForwardKey>,
    dups: Mutex<Dups>,
    stand_in_totals: Mutex<HashMap<(u64, i64), i64>>,
    card_hasher: std::collections::hash_map::RandomState,
    events: broadcast::Sender<PaymentEvent>,
    rrn: AtomicU64,
    stan: AtomicU32,
    stopping: watch::Sender<bool>,
    stats: Stats,
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct Stats {
    /// Every answer to a `0100` or `0200`, and its latency, by message,
    /// channel and response code (the operator's metrics).
    pub answers: AuthCounts,
    /// Reversal requests (`0400`, `0420`) answered to acquirers.
    pub reversals_received: AtomicU64,
    pub authorizations: AtomicU64,
    pub approved: AtomicU64,
    pub duplicates: AtomicU64,
    pub stand_in: AtomicU64,
    pub reversals_sent: AtomicU64,
    pub advices_sent: AtomicU64,
    pub format_errors: AtomicU64,
}

/// What the duplicate cache and reversal lookup remember of an authorization.
#[derive(Clone, Debug)]
struct AuthRecord {
    rrn: String,
    issuer: Option<String>,
    hold_mti: Option<Mti>,
    amount: i64,
    currency: Currency,
    token_ref: Option<String>,
    approved: bool,
    reversed: Arc<AtomicBool>,
}

#[derive(Hash, PartialEq, Eq, Clone, Debug)]
struct DupKey {
    acquirer: String,
    terminal: String,
    stan: u32,
    transmission: String,
}

/// The encoded first answer to a request and what a reversal needs.
type FirstAnswer = (Vec<u8>, AuthRecord);

/// Where a request's first answer is published for its duplicates.
type AnswerSlot = Option<Arc<FirstAnswer>>;

struct DupEntry {
    /// The first answer, encoded (a few hundred bytes), and what a reversal needs.
    answer: watch::Receiver<Option<Arc<FirstAnswer>>>,
}

#[derive(Default)]
struct Dups {
    map: HashMap<DupKey, DupEntry>,
    order: VecDeque<(Instant, DupKey)>,
}

/// Reversals and advices one issuer may have waiting for its
/// acknowledgement, by default ([`SwitchConfig::max_forwards_queued`]).
/// Each is a few hundred bytes, so an issuer that stays down costs at most
/// some tens of MB; beyond it a reversal is kept stored only (sent after
/// the next start) and a timed-out authorization is answered `96` instead
/// of being stood in for, since its advice could not be queued.
pub const MAX_FORWARDS_QUEUED: usize = 65_536;

/// A stand-in decision queues two forwards (the reversal and the advice),
/// so a queue must hold at least that many.
const MIN_FORWARDS_QUEUED: usize = 2;

/// At most this many answers are remembered for duplicate detection
/// (oldest forgotten first), whatever the window.
const MAX_REMEMBERED: usize = 1_000_000;

/// Plain-language outcome for the wallet's history.
pub fn reason_for(code: ResponseCode) -> &'static str {
    use ResponseCode::*;
    match code {
        Approved => "approved",
        ReferToIssuer => "refer to the bank",
        DoNotHonour => "declined by the bank",
        InvalidTransaction => "transaction not supported",
        InvalidAmount => "invalid amount",
        InvalidCardNumber => "unknown card number",
        FormatError => "malformed payment request",
        LostCard => "card reported lost",
        StolenCard => "card reported stolen",
        InsufficientFunds => "insufficient funds or credit",
        ExpiredCard => "card expired",
        IncorrectPin => "incorrect PIN",
        NotPermittedToCardholder => "not permitted for this card",
        SuspectedFraud => "declined as a suspected fraud",
        NotPermittedToTerminal => "card not accepted with this entry method",
        ExceedsWithdrawalLimit => "amount above the card's limit",
        RestrictedCard => "card restricted",
        SecurityViolation => "payment data could not be verified",
        ExceedsFrequencyLimit => "too many payments in a short time",
        IssuerUnavailable => "bank unavailable",
        RoutingError => "no bank found for this card",
        DuplicateTransmission => "duplicate payment",
        SystemMalfunction => "system error",
        AdditionalAuthenticationRequired => "verify it's you, then pay again",
    }
}

/// The UTC day `YYYY-MM-DD` of Unix milliseconds.
pub fn utc_day(millis: i64) -> String {
    let dt = time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day()
    )
}

fn transmission_now() -> String {
    let dt = time::OffsetDateTime::now_utc();
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).unwrap_or_default()
}

fn trim(s: Option<&str>) -> String {
    s.map(|v| v.trim().to_owned()).unwrap_or_default()
}

/// Builder-style parameters of [`Switch::start`].
pub struct SwitchParts {
    pub config: SwitchConfig,
    /// Issuer id → link; every configured issuer needs one.
    pub links: HashMap<String, Arc<dyn IssuerLink>>,
    /// Needed when any issuer has token ranges.
    pub tokens: Option<Arc<dyn TokenService>>,
    /// The network database (message log).
    pub db: Db,
    /// Seals stand-in advices (which carry the card number) so they are
    /// stored and survive a restart like reversals; without it they are
    /// kept in memory only.
    pub forward_key: Option<ForwardKey>,
    /// The risk and offers services every authorization passes through
    /// before its issuer; `None`: none, and no work for them.
    pub guard: Option<Arc<dyn PaymentGuard>>,
}

impl Switch {
    /// Build the routing table, open the message log and start the
    /// background tasks (log writer, one store-and-forward queue per issuer).
    pub async fn start(parts: SwitchParts) -> Result<Switch, SwitchError> {
        let SwitchParts {
            config,
            mut links,
            tokens,
            db,
            forward_key,
            guard,
        } = parts;
        check_default_acquirer(&config.default_acquirer_id)?;
        let mut routing = RoutingTable::new();
        let mut issuers = HashMap::new();
        let (stopping, _) = watch::channel(false);
        let mut queues = Vec::new();
        for route in &config.issuers {
            for r in &route.card_ranges {
                routing.add_card_range(&route.id, r.clone())?;
            }
            for r in &route.token_ranges {
                routing.add_token_range(&route.id, r.clone())?;
            }
            if !route.token_ranges.is_empty() && tokens.is_none() {
                return Err(SwitchError::NoTokenService);
            }
            let link = links
                .remove(&route.id)
                .ok_or_else(|| SwitchError::MissingLink(route.id.clone()))?;
            let capacity = config.max_forwards_queued.max(MIN_FORWARDS_QUEUED);
            let (tx, rx) = mpsc::channel(capacity);
            let queued = Arc::new(AtomicU64::new(0));
            queues.push((route.id.clone(), rx, queued.clone()));
            if issuers
                .insert(
                    route.id.clone(),
                    IssuerEntry {
                        route: route.clone(),
                        link,
                        forward: tx,
                        queued,
                        capacity: capacity as u64,
                    },
                )
                .is_some()
            {
                return Err(SwitchError::DuplicateIssuer(route.id.clone()));
            }
        }
        let log = MessageLog::open(db).await?;
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let seed = u64::try_from(now_millis())
            .unwrap_or(0)
            .saturating_mul(1000);
        let inner = Arc::new(Inner {
            config,
            routing,
            issuers,
            tokens,
            guard,
            log,
            forward_key,
            dups: Mutex::new(Dups::default()),
            stand_in_totals: Mutex::new(HashMap::new()),
            card_hasher: std::collections::hash_map::RandomState::new(),
            events,
            rrn: AtomicU64::new(seed),
            stan: AtomicU32::new(0),
            stopping,
            stats: Stats::default(),
        });
        // Reversals and advices stored before a restart and never
        // acknowledged. One that cannot be read now (an unknown issuer, a
        // key that does not open it) stays stored for a later start.
        for stored in inner.log.pending_forwards().await? {
            let StoredForward { id, issuer, .. } = &stored;
            let Some(entry) = inner.issuers.get(issuer) else {
                tracing::error!(bank = %issuer, %id, "stored forward for an unknown issuer; kept");
                continue;
            };
            match open_forward(inner.forward_key.as_ref(), &stored) {
                Ok(_) if !entry.reserve(1) => {
                    tracing::error!(bank = %issuer, %id, "forwarding queue full; stored forward kept for a later start");
                }
                Ok(msg) => entry.send_reserved(Forward {
                    id: Some(stored.id),
                    msg,
                }),
                Err(why) => {
                    tracing::error!(bank = %issuer, %id, why, "stored forward not sent; kept")
                }
            }
        }
        for (id, rx, queued) in queues {
            tokio::spawn(forwarder(Arc::downgrade(&inner), id, rx, queued));
        }
        Ok(Switch { inner })
    }

    /// Authorization outcomes, as they happen.
    pub fn subscribe(&self) -> broadcast::Receiver<PaymentEvent> {
        self.inner.events.subscribe()
    }

    /// The message log.
    pub fn log(&self) -> &MessageLog {
        &self.inner.log
    }

    /// Counters since start.
    pub fn stats(&self) -> &Stats {
        &self.inner.stats
    }

    /// The configuration the switch runs with.
    pub fn config(&self) -> &SwitchConfig {
        &self.inner.config
    }

    /// Where `number` routes.
    pub fn route(&self, number: &str) -> Option<Route> {
        self.inner.routing.route(number)
    }

    /// Reversals and advices still waiting for an issuer's acknowledgement.
    pub fn pending_forwards(&self) -> u64 {
        self.inner
            .issuers
            .values()
            .map(|e| e.queued.load(Ordering::Relaxed))
            .sum()
    }

    /// Each issuer's reversals and advices waiting for its
    /// acknowledgement (its store-and-forward queue's depth), by issuer id.
    pub fn forwards_by_issuer(&self) -> impl Iterator<Item = (&str, u64)> {
        self.inner
            .issuers
            .iter()
            .map(|(id, e)| (id.as_str(), e.queued.load(Ordering::Relaxed)))
    }

    /// Wait until every stored reversal and advice was acknowledged, or
    /// `limit` passed; returns what is still pending.
    pub async fn drain_forwards(&self, limit: Duration) -> u64 {
        let end = Instant::now() + limit;
        loop {
            let n = self.pending_forwards();
            if n == 0 || Instant::now() >= end {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stop the background forwarders and flush the log.
    pub async fn shutdown(&self) {
        // Infallible, unlike `send`, which fails once every forwarder ended.
        self.inner.stopping.send_replace(true);
        self.inner.log.flush().await;
    }

    fn next_rrn(&self) -> String {
        let now = u64::try_from(now_millis())
            .unwrap_or(0)
            .saturating_mul(1000);
        let mut cur = self.inner.rrn.load(Ordering::Relaxed);
        loop {
            let next = cur.saturating_add(1).max(now);
            match self.inner.rrn.compare_exchange_weak(
                cur,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return base36(next, 12),
                Err(v) => cur = v,
            }
        }
    }

    /// Tells the subscribers of [`Switch::subscribe`], if any; with none
    /// the event is for no one (a broadcast send fails only then).
    fn publish(&self, event: PaymentEvent) {
        if self.inner.events.send(event).is_err() {
            tracing::trace!("payment event with no subscriber");
        }
    }

    fn next_stan(&self) -> u32 {
        self.inner.stan.fetch_add(1, Ordering::Relaxed) % 1_000_000
    }

    /// Process one acquirer message. `None` for messages that get no answer
    /// (responses sent to the switch).
    pub async fn handle(&self, request: Message) -> Option<Message> {
        let m = request.mti();
        if !m.is_request() {
            tracing::warn!(mti = %m, "unsolicited response from an acquirer ignored");
            return None;
        }
        match (m.class(), m.function()) {
            // Authorization (0100, dual message) and financial request
            // (0200, single message: the issuer captures at once) take
            // the same path; the MTI travels to the issuer.
            (1, 0) | (2, 0) => Some(self.authorize_counted(request).await),
            (4, 0) | (4, 2) => {
                self.inner
                    .stats
                    .reversals_received
                    .fetch_add(1, Ordering::Relaxed);
                Some(self.reverse(request).await)
            }
            (8, 0) => Some(network_management(&request)),
            _ => {
                let mut r = request.response()?;
                r.set_response_code(ResponseCode::InvalidTransaction).ok()?;
                Some(r)
            }
        }
    }

    /// The answer to a request whose data elements could not be read.
    pub fn format_error(&self, mti: Mti) -> Option<Message> {
        self.inner
            .stats
            .format_errors
            .fetch_add(1, Ordering::Relaxed);
        let mut r = Message::new(mti.response()?);
        r.set_response_code(ResponseCode::FormatError).ok()?;
        Some(r)
    }

    fn decline(&self, request: &Message, code: ResponseCode) -> Message {
        let mut r = request
            .response()
            .unwrap_or_else(|| Message::new(Mti::AUTHORIZATION_RESPONSE));
        answer_code(&mut r, code);
        r
    }

    /// [`Switch::authorize`], its answer counted in [`Stats::answers`].
    async fn authorize_counted(&self, request: Message) -> Message {
        let arrived = Instant::now();
        let kind = AuthKind::of(request.mti());
        let channel = Channel::of(request.pos_entry_mode());
        let response = self.authorize(request).await;
        let code = response
            .response_code()
            .unwrap_or(ResponseCode::SystemMalfunction);
        self.inner
            .stats
            .answers
            .record(kind, channel, code, arrived.elapsed());
        response
    }

    async fn authorize(&self, mut request: Message) -> Message {
        let started = now_millis();
        self.inner
            .stats
            .authorizations
            .fetch_add(1, Ordering::Relaxed);
        // Mandatory elements; anything unreadable is a format error.
        let Some((amount, currency, stan, terminal, transmission)) = mandatory(&request) else {
            self.inner
                .stats
                .format_errors
                .fetch_add(1, Ordering::Relaxed);
            return self.decline(&request, ResponseCode::FormatError);
        };
        let acquirer = request
            .acquirer_id()
            .map(str::to_owned)
            .unwrap_or_else(|| self.inner.config.default_acquirer_id.clone());
        let key = DupKey {
            acquirer: acquirer.clone(),
            terminal: terminal.clone(),
            stan,
            transmission: transmission.clone(),
        };
        // Duplicate detection: the first request for a key owns it; later
        // ones wait for (or reuse) its answer.
        let claimed = self.claim(key);
        let publish = match claimed {
            Ok(tx) => tx,
            Err(rx) => return self.first_answer(&request, rx).await,
        };
        // Only the token service may set token data and verification results.
        request.remove(62);
        request.remove(63);
        let ctx = AuthContext {
            rrn: self.next_rrn(),
            stan,
            acquirer,
            terminal,
            transmission,
            amount,
            currency,
            started,
        };
        let (mut response, mut record, mut meta) = self.authorize_routed(&request, &ctx).await;
        // The log row before the answer (and before the token service
        // completes it: an approval undone here is completed as the 96 it
        // becomes).
        self.log_authorization(&request, &ctx, &mut response, &mut record, &meta)
            .await;
        if let Some(c) = meta.completion.take()
            && let Err(e) = c.complete_response(&mut response)
        {
            tracing::error!(rrn = %ctx.rrn, error = %e, "token service could not complete the answer");
        }
        let code = response
            .response_code()
            .unwrap_or(ResponseCode::SystemMalfunction);
        if record.approved {
            self.inner.stats.approved.fetch_add(1, Ordering::Relaxed);
        }
        self.publish(auth_event(
            &request,
            &ctx,
            &record,
            meta.reason.take(),
            meta.stand_in,
            code,
            (meta.saved, meta.earned),
        ));
        // The one line per authorization (the bank's host logs its side at
        // debug only): `bank` is the field name every line uses for a bank.
        tracing::info!(
            rrn = %ctx.rrn,
            bank = %record.issuer.as_deref().unwrap_or("-"),
            code = code.code(),
            amount = ctx.amount,
            currency = ctx.currency.code(),
            stand_in = meta.stand_in,
            "authorization"
        );
        // `send_replace`: the answer is kept for later duplicates even
        // when nobody waits for it now (`send` would fail then).
        publish.send_replace(Some(Arc::new((response.encode(), record))));
        response
    }

    /// Takes `key` for this request: the sender its answer is published
    /// on, or, when an earlier request holds the key, that request's
    /// answer to wait for. Forgets keys older than the duplicate window.
    fn claim(&self, key: DupKey) -> Result<watch::Sender<AnswerSlot>, watch::Receiver<AnswerSlot>> {
        // Each change to the map is one complete step.
        let mut dups = paytap_types::sync::lock(&self.inner.dups, "switch duplicate keys");
        if let Some(e) = dups.map.get(&key) {
            Err(e.answer.clone())
        } else {
            let (tx, rx) = watch::channel(None);
            dups.map.insert(key.clone(), DupEntry { answer: rx });
            let now = Instant::now();
            dups.order.push_back((now, key));
            let window = self.inner.config.duplicate_window;
            while let Some((t, _)) = dups.order.front() {
                if now.duration_since(*t) > window || dups.order.len() > MAX_REMEMBERED {
                    if let Some((_, k)) = dups.order.pop_front() {
                        dups.map.remove(&k);
                    }
                } else {
                    break;
                }
            }
            Ok(tx)
        }
    }

    /// A duplicate's answer: the first request's, once it has one.
    async fn first_answer(
        &self,
        request: &Message,
        mut rx: watch::Receiver<AnswerSlot>,
    ) -> Message {
        self.inner.stats.duplicates.fetch_add(1, Ordering::Relaxed);
        let answer = rx
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|v| v.clone());
        match answer {
            Some(a) => Message::decode(&a.0)
                .unwrap_or_else(|_| self.decline(request, ResponseCode::SystemMalfunction)),
            None => self.decline(request, ResponseCode::SystemMalfunction),
        }
    }

    /// Where an authorization goes: its card's issuer, or, for a token,
    /// the token service's decision and the funding card's issuer. `Err`
    /// is the decline when it goes nowhere.
    async fn route_request(
        &self,
        request: &Message,
        ctx: &AuthContext,
        record: &mut AuthRecord,
        meta: &mut Meta,
    ) -> Result<Routed, Message> {
        let no_route = || self.decline(request, ResponseCode::RoutingError);
        let digits = request.get_str(2).unwrap_or("");
        let tsp = match self.inner.routing.route(digits) {
            None => return Err(no_route()),
            Some(Route::Card { issuer }) => {
                return Ok(Routed {
                    issuer_request: request.clone(),
                    completion: None,
                    durable: None,
                    issuer_id: issuer,
                    holder: None,
                });
            }
            Some(Route::Token { .. }) => self.inner.tokens.as_ref().ok_or_else(no_route)?,
        };
        match tsp.detokenize(request).await {
            TokenDecision::Refused(refusal) => {
                record.token_ref = refusal.token_ref.clone();
                meta.reason = Some(refusal.reason.clone());
                let mut r = self.decline(request, refusal.code);
                if let Some(v) = &refusal.verification
                    && let Err(e) = r.set_verification_results(v)
                {
                    tracing::error!(rrn = %ctx.rrn, error = %e, "token service's verification results left out of the answer");
                }
                Err(r)
            }
            TokenDecision::Approved(d) => {
                record.token_ref = Some(d.token_ref.clone());
                let funding = d.issuer_request.get_str(2).unwrap_or("");
                let issuer = self
                    .inner
                    .routing
                    .card_issuer(funding)
                    .ok_or_else(no_route)?;
                Ok(Routed {
                    issuer_id: issuer.to_owned(),
                    issuer_request: d.issuer_request,
                    completion: Some(d.completion),
                    durable: d.durable,
                    holder: Some(d.holder),
                })
            }
        }
    }

    async fn authorize_routed(
        &self,
        request: &Message,
        ctx: &AuthContext,
    ) -> (Message, AuthRecord, Meta) {
        let mut record = AuthRecord {
            rrn: ctx.rrn.clone(),
            issuer: None,
            hold_mti: None,
            amount: ctx.amount,
            currency: ctx.currency,
            token_ref: None,
            approved: false,
            reversed: Arc::default(),
        };
        let mut meta = Meta::default();
        let Routed {
            mut issuer_request,
            completion,
            durable,
            issuer_id,
            holder,
        } = match self
            .route_request(request, ctx, &mut record, &mut meta)
            .await
        {
            Ok(routed) => routed,
            Err(declined) => return (declined, record, meta),
        };
        let Some(entry) = self.inner.issuers.get(&issuer_id) else {
            return (
                self.decline(request, ResponseCode::RoutingError),
                record,
                meta,
            );
        };
        record.issuer = Some(issuer_id.clone());
        if completion.is_some() {
            // The token service verified DE 55; the issuer has no token keys.
            issuer_request.remove(55);
        }
        must(issuer_request.set_rrn(&ctx.rrn), OWN_RRN);
        if !issuer_request.has(32) {
            must(issuer_request.set_acquirer_id(&ctx.acquirer), ACQUIRER);
        }
        // The token service answers with a `0100`; the issuer is asked
        // what the acquirer asked.
        issuer_request.set_mti(request.mti());
        let guarded = match &self.inner.guard {
            None => None,
            Some(g) => {
                let credit = self
                    .inner
                    .issuers
                    .get(&issuer_id)
                    .map_or(&[][..], |e| &e.route.credit_ranges[..]);
                let facts = guarded::facts(
                    request,
                    &issuer_request,
                    ctx,
                    holder.as_ref(),
                    (&issuer_id, credit),
                );
                let checked = guarded::check(g.as_ref(), &facts, &mut issuer_request).await;
                let (saved, earned) = match checked {
                    Ok(benefits) => benefits,
                    Err((code, reason)) => {
                        if let Some(d) = durable
                            && let Err(e) = d.await
                        {
                            tracing::error!(rrn = %ctx.rrn, error = %e, "token service could not record the authorization");
                        }
                        meta.reason = Some(reason);
                        meta.completion = completion;
                        return (self.decline(request, code), record, meta);
                    }
                };
                meta.saved = saved;
                meta.earned = earned;
                Some((g, facts))
            }
        };

        let answer = self.ask_issuer(entry, &issuer_request).await;
        let mut response = request
            .response()
            .unwrap_or_else(|| Message::new(Mti::AUTHORIZATION_RESPONSE));
        if !response.has(37) {
            must(response.set_rrn(&ctx.rrn), OWN_RRN);
        }
        match answer {
            Ok(a) => {
                let held_under = issuer_request.mti();
                take_issuer_answer(
                    &a,
                    held_under,
                    &mut response,
                    &mut record,
                    completion.is_none(),
                );
            }
            Err(e) if issuer_request.mti() == Mti::FINANCIAL_REQUEST => {
                tracing::warn!(rrn = %ctx.rrn, bank = %issuer_id, error = %e, "issuer did not answer a financial request; no stand-in");
                self.no_stand_in(entry, &issuer_request, &mut response)
                    .await;
            }
            Err(e) => {
                tracing::warn!(rrn = %ctx.rrn, bank = %issuer_id, error = %e, "issuer did not answer; stand-in processing");
                self.stand_in(
                    entry,
                    &issuer_request,
                    ctx,
                    &mut response,
                    &mut record,
                    &mut meta,
                )
                .await;
            }
        }
        // The token service's writes (the accepted ATC) must be durable
        // before anyone is told: otherwise the same cryptogram could be
        // accepted again after a crash.
        if let Some(d) = durable
            && let Err(e) = d.await
        {
            tracing::error!(rrn = %ctx.rrn, error = %e, "token service could not record the authorization");
            self.undo_held(entry, &issuer_request, &mut response, &mut record)
                .await;
        }
        if let Some((g, facts)) = guarded {
            guarded::finish(g.as_ref(), &facts, record.approved).await;
        }
        meta.completion = completion;
        (response, record, meta)
    }

    /// Asks the issuer within its time limit; its `0110` with a DE 39, or
    /// why there is none. The exchange runs in its own task so that a late
    /// answer is still seen (and a late approval reversed).
    async fn ask_issuer(
        &self,
        entry: &IssuerEntry,
        issuer_request: &Message,
    ) -> Result<Message, LinkError> {
        let link = entry.link.clone();
        let sent = issuer_request.clone();
        let timed_out = Arc::new(AtomicBool::new(false));
        let late = timed_out.clone();
        let switch = self.clone();
        let late_issuer = entry.route.id.clone();
        let call = tokio::spawn(async move {
            let r = link.exchange(sent.clone()).await;
            if late.load(Ordering::SeqCst)
                && let Ok(a) = &r
                && a.response_code() == Some(ResponseCode::Approved)
                && let Some(entry) = switch.inner.issuers.get(&late_issuer)
            {
                // A late approval: make sure its hold is released.
                tracing::warn!(bank = %late_issuer, "late approval from issuer reversed");
                switch.queue_reversal(entry, &sent, sent.mti()).await;
            }
            r
        });
        let outcome = tokio::time::timeout(entry.route.timeout, call).await;
        let answer: Result<Message, LinkError> = match outcome {
            Ok(Ok(r)) => r,
            Ok(Err(join)) => Err(LinkError::Unavailable(join.to_string())),
            Err(_) => {
                timed_out.store(true, Ordering::SeqCst);
                Err(LinkError::Unavailable(
                    "issuer did not answer in time".into(),
                ))
            }
        };
        let expected = issuer_request.mti().response();
        answer.and_then(|a| {
            if Some(a.mti()) != expected {
                return Err(LinkError::Protocol(format!("answer MTI {}", a.mti())));
            }
            match a.get_str(39) {
                Some(_) => Ok(a),
                None => Err(LinkError::Protocol("answer without DE 39".into())),
            }
        })
    }

    /// Undoes what an approval held (the issuer's `0100` hold, or the
    /// stand-in approval its `0120` advice tells it to hold) and turns the
    /// answer into a `96`.
    async fn undo_held(
        &self,
        entry: &IssuerEntry,
        issuer_request: &Message,
        response: &mut Message,
        record: &mut AuthRecord,
    ) {
        if record.approved
            && let Some(held) = record.hold_mti
        {
            self.queue_reversal(entry, issuer_request, held).await;
        }
        record.approved = false;
        record.hold_mti = None;
        response.remove(38);
        answer_code(response, ResponseCode::SystemMalfunction);
    }

    /// The issuer did not answer a `0200`: a financial request moves the
    /// money at once, so nobody may decide it on the issuer's behalf. The
    /// acquirer hears `91` once a reversal of whatever the issuer may have
    /// done is stored for forwarding.
    async fn no_stand_in(
        &self,
        entry: &IssuerEntry,
        issuer_request: &Message,
        response: &mut Message,
    ) {
        self.queue_reversal(entry, issuer_request, Mti::FINANCIAL_REQUEST)
            .await;
        answer_code(response, ResponseCode::IssuerUnavailable);
        self.inner.log.flush().await;
    }

    /// The issuer did not answer: reverse whatever it may hold for the
    /// `0100`, decide on its behalf and tell it in an advice. With no room
    /// left in its forwarding queue for both, answer `96` instead (the
    /// reversal is still stored).
    async fn stand_in(
        &self,
        entry: &IssuerEntry,
        issuer_request: &Message,
        ctx: &AuthContext,
        response: &mut Message,
        record: &mut AuthRecord,
        meta: &mut Meta,
    ) {
        if !entry.reserve(2) {
            tracing::error!(rrn = %ctx.rrn, bank = %entry.route.id, "forwarding queue full; answered 96 instead of standing in");
            self.queue_reversal(entry, issuer_request, Mti::AUTHORIZATION_REQUEST)
                .await;
            must(
                response.set_response_code(ResponseCode::SystemMalfunction),
                RESPONSE_CODE,
            );
            self.inner.log.flush().await;
            return;
        }
        meta.stand_in = true;
        self.inner.stats.stand_in.fetch_add(1, Ordering::Relaxed);
        let reversal = self.reversal_for(issuer_request, Mti::AUTHORIZATION_REQUEST);
        self.forward_reserved(entry, reversal).await;
        let (code, approval) = self.stand_in_decision(
            &entry.route.stand_in,
            issuer_request.get_str(2).unwrap_or(""),
            ctx,
        );
        stand_in_answer(response, code, approval.as_deref());
        if approval.is_some() {
            record.approved = true;
            record.hold_mti = Some(Mti::AUTHORIZATION_ADVICE);
        }
        // The advice tells the issuer what was decided on its behalf.
        let mut advice = issuer_request.clone();
        advice.set_mti(Mti::AUTHORIZATION_ADVICE);
        stand_in_answer(&mut advice, code, approval.as_deref());
        self.forward_reserved(entry, advice).await;
        // The acquirer hears of the decision only once the reversal and the
        // advice are stored (or their write has failed and been logged;
        // they are still in the forwarding queue): a crash after the answer
        // must not lose what the issuer still has to be told.
        self.inner.log.flush().await;
    }

    fn stand_in_decision(
        &self,
        rules: &StandInRules,
        card: &str,
        ctx: &AuthContext,
    ) -> (ResponseCode, Option<String>) {
        if !rules.enabled || rules.currency != ctx.currency {
            return (ResponseCode::IssuerUnavailable, None);
        }
        if ctx.amount > rules.max_per_transaction {
            return (ResponseCode::ExceedsWithdrawalLimit, None);
        }
        let day = ctx.started.div_euclid(86_400_000);
        let card_key = self.inner.card_hasher.hash_one(card);
        let mut totals = paytap_types::sync::lock(&self.inner.stand_in_totals, "stand-in totals");
        totals.retain(|(_, d), _| *d >= day);
        let spent = totals.entry((card_key, day)).or_insert(0);
        if spent.saturating_add(ctx.amount) > rules.max_per_card_per_day {
            return (ResponseCode::ExceedsWithdrawalLimit, None);
        }
        *spent += ctx.amount;
        let code = format!("S{}", ctx.rrn.get(7..12).unwrap_or("00000"));
        (ResponseCode::Approved, Some(code))
    }

    /// A `0400` for the hold the issuer may keep under (DE 37, `original`).
    fn reversal_for(&self, orig: &Message, original_mti: Mti) -> Message {
        let mut r = Message::new(Mti::REVERSAL_REQUEST);
        for f in [3u8, 4, 32, 37, 41, 42, 49] {
            if let Some(v) = orig.get(f) {
                must(r.set(f, v), COPIED);
            }
        }
        must(r.set_stan(self.next_stan()), OWN_STAN);
        must(r.set(7, transmission_now()), NOW);
        must(
            r.set_original_data(&OriginalData {
                mti: original_mti,
                stan: orig.stan().unwrap_or(0),
                transmission_datetime: orig
                    .transmission_datetime()
                    .unwrap_or("0000000000")
                    .to_owned(),
                acquirer_id: orig.acquirer_id().unwrap_or("0").to_owned(),
                forwarding_id: "0".into(),
            }),
            ORIGINAL,
        );
        r
    }

    async fn queue_reversal(&self, entry: &IssuerEntry, orig: &Message, original_mti: Mti) {
        let r = self.reversal_for(orig, original_mti);
        self.forward(entry, r).await;
    }

    /// Stores `msg` and queues it for the issuer. When the queue is full it
    /// stays stored only (a reversal, or a sealed advice), sent after the
    /// next start, and that is logged.
    async fn forward(&self, entry: &IssuerEntry, msg: Message) {
        let id = self.store_forward(entry, &msg).await;
        if !entry.reserve(1) {
            tracing::error!(bank = %entry.route.id, id = id.as_deref().unwrap_or("-"), mti = %msg.mti(), "forwarding queue full; kept stored for a later start only");
            return;
        }
        entry.send_reserved(Forward { id, msg });
    }

    /// Like [`Switch::forward`], into a place already taken by
    /// [`IssuerEntry::reserve`].
    async fn forward_reserved(&self, entry: &IssuerEntry, msg: Message) {
        let id = self.store_forward(entry, &msg).await;
        entry.send_reserved(Forward { id, msg });
    }

    /// Writes `msg` to `switch_forwards` (an advice sealed); its row id, or
    /// `None` when it is kept in memory only.
    async fn store_forward(&self, entry: &IssuerEntry, msg: &Message) -> Option<String> {
        // Reversals carry no card number and are stored as they are;
        // advices (DE 2) are stored sealed when there is a key, else kept
        // in memory only.
        let card_data = msg.has(2);
        match (&self.inner.forward_key, card_data) {
            (_, false) => {
                let id = format!("fwd-{}", self.next_rrn());
                self.inner
                    .log
                    .store_forward(&id, &entry.route.id, msg, None)
                    .await;
                Some(id)
            }
            (Some(key), true) => {
                let id = format!("fwd-{}", self.next_rrn());
                match key.seal(&id, &msg.encode()) {
                    Ok(sealed) => {
                        let mut clear = msg.clone();
                        for f in seal::CARD_DATA {
                            clear.remove(f);
                        }
                        self.inner
                            .log
                            .store_forward(&id, &entry.route.id, &clear, Some(sealed))
                            .await;
                        Some(id)
                    }
                    Err(e) => {
                        tracing::error!(bank = %entry.route.id, error = %e, "advice not sealed; kept in memory only");
                        None
                    }
                }
            }
            (None, true) => None,
        }
    }

    async fn reverse(&self, request: Message) -> Message {
        let started = now_millis();
        let mut response = match request.response() {
            Some(r) => r,
            None => return self.decline(&request, ResponseCode::FormatError),
        };
        let acquirer = request
            .acquirer_id()
            .map(str::to_owned)
            .unwrap_or_else(|| self.inner.config.default_acquirer_id.clone());
        let (Some(orig), Some(terminal)) = (request.original_data(), request.terminal_id()) else {
            answer_code(&mut response, ResponseCode::FormatError);
            return response;
        };
        let terminal = terminal.to_owned();
        let original = match self.original_of(&acquirer, &terminal, &orig).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "message log lookup failed");
                answer_code(&mut response, ResponseCode::SystemMalfunction);
                return response;
            }
        };
        let Some(original) = original else {
            let u = unlogged::Unlogged {
                request: &request,
                acquirer: &acquirer,
                terminal: &terminal,
                original: &orig,
                started,
            };
            return self.reverse_unlogged(u, response).await;
        };
        answer_code(&mut response, ResponseCode::Approved);
        if !original.approved || original.reversed.swap(true, Ordering::SeqCst) {
            // Nothing held, or already reversed: acknowledge again.
            return response;
        }
        let rrn = self.next_rrn();
        self.release_hold(&request, &original, &acquirer, &orig)
            .await;
        let guard_id = self.inner.guard.as_ref().map(|_| {
            guarded::payment_id(&acquirer, &terminal, orig.stan, &orig.transmission_datetime)
        });
        let logged = ReversalLog {
            request: &request,
            response: &response,
            original: &original,
            rrn: &rrn,
            acquirer,
            terminal: &terminal,
            started,
        };
        if !self.log_reversal(logged).await {
            answer_code(&mut response, ResponseCode::SystemMalfunction);
            return response;
        }
        if let (Some(g), Some(id)) = (&self.inner.guard, guard_id) {
            let amount = Money::new(original.amount, original.currency);
            guarded::reversed(g.as_ref(), id, amount, started).await;
        }
        self.publish(reversal_event(&request, &original, &rrn, &terminal));
        response
    }

    /// The authorization a reversal names: the answer of one still in the
    /// duplicate window (waited for if it is still being answered), else
    /// the message log's row. `None`: the switch has no record of it.
    async fn original_of(
        &self,
        acquirer: &str,
        terminal: &str,
        orig: &OriginalData,
    ) -> Result<Option<AuthRecord>, StoreError> {
        let key = DupKey {
            acquirer: acquirer.to_owned(),
            terminal: terminal.to_owned(),
            stan: orig.stan,
            transmission: orig.transmission_datetime.clone(),
        };
        let rx = paytap_types::sync::lock(&self.inner.dups, "switch duplicate keys")
            .map
            .get(&key)
            .map(|e| e.answer.clone());
        if let Some(mut rx) = rx {
            let answered = rx
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|v| v.clone());
            if let Some(a) = answered {
                return Ok(Some(a.1.clone()));
            }
        }
        let logged = self
            .inner
            .log
            .find_original(acquirer, terminal, orig.stan, &orig.transmission_datetime)
            .await?;
        Ok(logged.map(|o| AuthRecord {
            rrn: o.rrn,
            issuer: o.issuer,
            hold_mti: o.hold_mti,
            amount: o.amount,
            currency: o.currency.unwrap_or(Currency::CNY),
            token_ref: o.token_ref,
            approved: o.status.was_approved(),
            reversed: Arc::new(AtomicBool::new(o.status == LogStatus::Reversed)),
        }))
    }

    /// Releases `original`'s hold at its issuer: a reversal of the logged
    /// amount, tried at once so the hold is gone when the acquirer hears
    /// back, otherwise stored and forwarded.
    async fn release_hold(
        &self,
        request: &Message,
        original: &AuthRecord,
        acquirer: &str,
        orig: &OriginalData,
    ) {
        let (Some(issuer), Some(hold)) = (&original.issuer, original.hold_mti) else {
            return;
        };
        let Some(entry) = self.inner.issuers.get(issuer) else {
            return;
        };
        let mut basis = request.clone();
        must(basis.set_rrn(&original.rrn), LOGGED);
        must(basis.set_acquirer_id(acquirer), ACQUIRER);
        must(
            basis.set_amount(u64::try_from(original.amount).unwrap_or(0)),
            LOGGED,
        );
        must(basis.set_currency(original.currency.numeric()), CURRENCY);
        must(basis.set_stan(orig.stan), COPIED);
        must(basis.set(7, orig.transmission_datetime.as_str()), COPIED);
        let reversal = self.reversal_for(&basis, hold);
        self.reverse_now_or_forward(entry, reversal).await;
    }

    /// Sends `reversal` to the issuer at once, so the hold is gone when the
    /// acquirer hears back; without a reversal answer in time (or with a
    /// `96`) it goes to store and forward. `true`: done at once.
    async fn reverse_now_or_forward(&self, entry: &IssuerEntry, reversal: Message) -> bool {
        let done = matches!(
            tokio::time::timeout(entry.route.timeout, entry.link.exchange(reversal.clone())).await,
            Ok(Ok(ref a)) if a.mti().class() == 4
                && a.response_code().is_some_and(|c| c != ResponseCode::SystemMalfunction)
        );
        if done {
            self.inner
                .stats
                .reversals_sent
                .fetch_add(1, Ordering::Relaxed);
        } else {
            self.forward(entry, reversal).await;
        }
        done
    }

    /// End-of-day clearing for the UTC day `day` (`YYYY-MM-DD`): net
    /// settlement positions per issuer and acquirer and currency (summing to
    /// zero), and capture (`0220`) at the issuers of every approved,
    /// un-reversed authorization not captured yet. Safe to run again: the
    /// positions are recomputed, captures are not repeated.
    pub async fn clearing(&self, day: &str) -> Result<ClearingReport, StoreError> {
        let items = self.inner.log.approved(day).await?;
        let (positions, totals) = net_positions(&items);
        let mut captured = 0u64;
        let mut pending = 0u64;
        // A `0200` was captured by its issuer when approved; its `0220`
        // only confirms that (and completes a capture a crash cut short).
        for it in items.iter().filter(|i| !i.captured) {
            let Some(entry) = self.inner.issuers.get(&it.issuer) else {
                pending += 1;
                continue;
            };
            let mut m = Message::new(Mti::FINANCIAL_ADVICE);
            let ok = (|| -> Result<(), paytap_iso8583::Error> {
                m.set_processing_code("000000")?;
                m.set_amount(u64::try_from(it.amount).unwrap_or(0))?;
                m.set(7, transmission_now())?;
                m.set_stan(self.next_stan())?;
                m.set_acquirer_id(&it.acquirer)?;
                m.set_rrn(&it.rrn)?;
                m.set_terminal_id(&it.terminal)?;
                m.set_currency(it.currency.numeric())?;
                m.set_original_data(&OriginalData {
                    mti: it.hold_mti,
                    stan: it.stan,
                    transmission_datetime: it.transmission.clone(),
                    acquirer_id: it.acquirer.clone(),
                    forwarding_id: "0".into(),
                })
            })();
            if ok.is_err() {
                pending += 1;
                continue;
            }
            let answer =
                tokio::time::timeout(entry.route.timeout * 4, entry.link.exchange(m)).await;
            match answer {
                Ok(Ok(a)) if a.response_code() == Some(ResponseCode::Approved) => {
                    captured += 1;
                    self.inner.log.mark_captured(&it.rrn, now_millis()).await;
                }
                _ => pending += 1,
            }
        }
        self.inner.log.flush().await;
        let report = ClearingReport {
            day: day.to_owned(),
            positions,
            totals,
            authorizations: items.len() as u64,
            captured,
            capture_pending: pending,
        };
        if !report.balanced() {
            tracing::error!(day, "clearing positions do not sum to zero");
        }
        Ok(report)
    }
}

/// Lengths of a card number (ISO/IEC 7812-1 allows 8 to 19 digits; card
/// networks issue 12 and more).
const PAN_DIGITS: std::ops::RangeInclusive<usize> = 12..=19;

/// An authorization's amount, currency, STAN, terminal and transmission
/// time, or `None` when one of them (or a plausible DE 2) is missing.
fn mandatory(request: &Message) -> Option<(i64, Currency, u32, String, String)> {
    let pan = request.get_str(2)?;
    if !PAN_DIGITS.contains(&pan.len()) {
        return None;
    }
    let amount = i64::try_from(request.amount()?).ok()?;
    let currency = Currency::from_numeric(request.currency()?).ok()?;
    let stan = request.stan()?;
    let terminal = request.terminal_id()?.to_owned();
    let transmission = request.transmission_datetime()?.to_owned();
    Some((amount, currency, stan, terminal, transmission))
}

/// What the wallet's history hears of an authorization.
fn auth_event(
    request: &Message,
    ctx: &AuthContext,
    record: &AuthRecord,
    reason: Option<String>,
    stand_in: bool,
    code: ResponseCode,
    (saved, earned): (Option<Money>, Option<Money>),
) -> PaymentEvent {
    PaymentEvent {
        event_id: format!("auth-{}", ctx.rrn),
        token_ref: record.token_ref.clone().unwrap_or_default(),
        merchant_name: request
            .name_location()
            .and_then(|n| n.get(..25).or(Some(n)))
            .map(|n| n.trim().to_owned())
            .unwrap_or_default(),
        merchant_id: trim(request.merchant_id()),
        terminal_id: ctx.terminal.trim().to_owned(),
        amount: Money::new(ctx.amount, ctx.currency),
        approved: record.approved,
        response_code: code.code().to_owned(),
        reason: reason.unwrap_or_else(|| {
            if stand_in && record.approved {
                "approved by the network on the bank's behalf".to_owned()
            } else {
                reason_for(code).to_owned()
            }
        }),
        kind: "purchase".into(),
        at_millis: now_millis(),
        saved: saved.filter(|_| record.approved),
        earned: earned.filter(|_| record.approved),
    }
}

/// Puts the issuer's answer `a` into the acquirer's `response`: its code,
/// its approval code and, unless the token service completes the answer
/// (`issuer_icc` false), its DE 55. An approval holds under `held_under`,
/// the MTI the issuer was asked with.
fn take_issuer_answer(
    a: &Message,
    held_under: Mti,
    response: &mut Message,
    record: &mut AuthRecord,
    issuer_icc: bool,
) {
    let code = a.response_code().unwrap_or(ResponseCode::DoNotHonour);
    answer_code(response, code);
    if code.is_approved() {
        record.approved = true;
        // The issuer holds (`0100`) or has captured (`0200`) under the
        // request's own MTI, which a reversal names in DE 90.
        record.hold_mti = Some(held_under);
        if let Some(id) = a.auth_id_response() {
            must(response.set_auth_id_response(id), COPIED);
        }
    }
    if issuer_icc && let Some(icc) = a.icc_data() {
        must(response.set_icc_data(icc), COPIED);
    }
}

/// Sets what a stand-in decision puts in the answer and in the advice.
fn stand_in_answer(m: &mut Message, code: ResponseCode, approval: Option<&str>) {
    must(m.set_response_code(code), RESPONSE_CODE);
    if let Some(a) = approval {
        must(
            m.set_auth_id_response(a),
            "a stand-in approval code is S and five base-36 digits",
        );
    }
    must(
        m.set(60, STAND_IN_INDICATOR),
        "the stand-in indicator is a valid DE 60",
    );
}

/// Sets DE 39, which every [`ResponseCode`] fits.
/// The wallet's word that `original` was reversed.
fn reversal_event(
    request: &Message,
    original: &AuthRecord,
    rrn: &str,
    terminal: &str,
) -> PaymentEvent {
    PaymentEvent {
        event_id: format!("rev-{rrn}"),
        token_ref: original.token_ref.clone().unwrap_or_default(),
        merchant_name: String::new(),
        merchant_id: trim(request.merchant_id()),
        terminal_id: terminal.trim().to_owned(),
        amount: Money::new(original.amount, original.currency),
        approved: true,
        response_code: "00".into(),
        reason: "payment reversed, the hold is released".into(),
        kind: "reversal".into(),
        at_millis: now_millis(),
        saved: None,
        earned: None,
    }
}

fn answer_code(m: &mut Message, code: ResponseCode) {
    must(m.set_response_code(code), RESPONSE_CODE);
}

// The invariants `must` names. Every element of a `Message` was validated
// when it was set or decoded, so a value copied from one fits the same
// element of another.
const RESPONSE_CODE: &str = "every ResponseCode is a valid DE 39";
const COPIED: &str = "a value copied from a validated message fits the same element";
const OWN_RRN: &str = "the switch's RRN is 12 base-36 characters";
const OWN_STAN: &str = "next_stan is below 1,000,000";
const NOW: &str = "transmission_now is 10 digits";
const ACQUIRER: &str = "the acquirer id is the request's DE 32 or the default checked at start";
const LOGGED: &str = "a logged RRN and amount are the ones the switch set";
const CURRENCY: &str = "every Currency has a three-digit numeric code";
const ORIGINAL: &str = "DE 90 is built from valid DE 7, DE 11 and DE 32 values";

/// Checks a data element set whose value is valid by construction: a
/// response code from the enum, the switch's own RRN or approval code, a
/// value copied from a message validated when it was decoded. Failing is a
/// bug in the switch, not bad input, so it panics naming the invariant.
///
/// # Panics
///
/// When `set` failed.
#[track_caller]
fn must(set: Result<(), paytap_iso8583::Error>, invariant: &str) {
    if let Err(e) = set {
        panic!("{invariant}: {e}");
    }
}

/// An authorization on its way to an issuer.
struct Routed {
    issuer_request: Message,
    /// What the token service adds to the answer, for a token.
    completion: Option<Box<dyn TokenCompletion>>,
    /// The token service's writes, to be durable before the answer.
    durable: Option<crate::token::TokenWrites>,
    issuer_id: String,
    /// The card and account behind a token, for the guard.
    holder: Option<crate::token::TokenHolder>,
}

struct AuthContext {
    rrn: String,
    stan: u32,
    acquirer: String,
    terminal: String,
    transmission: String,
    amount: i64,
    currency: Currency,
    started: i64,
}

#[derive(Default)]
struct Meta {
    stand_in: bool,
    reason: Option<String>,
    /// An instant discount and a cashback the guard granted.
    saved: Option<Money>,
    earned: Option<Money>,
    /// What the token service adds to the answer (ARPC, DE 63) once its
    /// response code is final.
    completion: Option<Box<dyn TokenCompletion>>,
}

fn network_management(request: &Message) -> Message {
    let mut r = request
        .response()
        .unwrap_or_else(|| Message::new(Mti::NETWORK_RESPONSE));
    let code = match request.network_management_code() {
        Some(
            NetworkManagementCode::EchoTest
            | NetworkManagementCode::SignOn
            | NetworkManagementCode::SignOff,
        ) => ResponseCode::Approved,
        _ => ResponseCode::InvalidTransaction,
    };
    answer_code(&mut r, code);
    r
}

/// The message a stored forward sends: a reversal as stored, a sealed
/// advice opened with `key`.
fn open_forward(key: Option<&ForwardKey>, stored: &StoredForward) -> Result<Message, &'static str> {
    let bytes = match (&stored.sealed, key) {
        (None, _) => return Message::decode(&stored.message).map_err(|_| "unreadable"),
        (Some(_), None) => return Err("sealed advice, and no key to open it"),
        (Some(sealed), Some(key)) => key
            .open(&stored.id, sealed)
            .map_err(|_| "sealed advice does not open with this key")?,
    };
    Message::decode(&bytes).map_err(|_| "unreadable")
}

/// A reversal or advice waiting for the issuer's acknowledgement; `id` when
/// it is also stored in `switch_forwards`.
struct Forward {
    id: Option<String>,
    msg: Message,
}

/// Store and forward: deliver every queued reversal and advice to the issuer,
/// in order, retrying until it acknowledges.
async fn forwarder(
    inner: std::sync::Weak<Inner>,
    issuer: String,
    mut rx: mpsc::Receiver<Forward>,
    queued: Arc<AtomicU64>,
) {
    let mut stopping = match inner.upgrade() {
        Some(i) => i.stopping.subscribe(),
        None => return,
    };
    while let Some(Forward { id, msg }) = tokio::select! {
        m = rx.recv() => m,
        _ = stopping.wait_for(|s| *s) => None,
    } {
        loop {
            let Some(i) = inner.upgrade() else { return };
            let Some(entry) = i.issuers.get(&issuer) else {
                return;
            };
            let link = entry.link.clone();
            let timeout = entry.route.timeout.max(Duration::from_millis(100));
            let retry = i.config.retry_interval;
            let is_reversal = msg.mti().class() == 4;
            drop(i);
            let acknowledged = match tokio::time::timeout(timeout, link.exchange(msg.clone())).await
            {
                Ok(Ok(a)) => Some(msg.mti().response()) == Some(Some(a.mti())),
                _ => false,
            };
            if acknowledged {
                if let Some(i) = inner.upgrade() {
                    if let Some(id) = &id {
                        i.log.mark_forwarded(id).await;
                    }
                    let c = if is_reversal {
                        &i.stats.reversals_sent
                    } else {
                        &i.stats.advices_sent
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                }
                queued.fetch_sub(1, Ordering::Relaxed);
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                _ = stopping.wait_for(|s| *s) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `must` guards in a stand-in answer holds for every response
    /// code and for the longest approval code the switch makes.
    #[test]
    fn stand_in_answer_sets_for_every_code() {
        for &code in ResponseCode::ALL {
            let mut m = Message::new(Mti::AUTHORIZATION_RESPONSE);
            stand_in_answer(&mut m, code, Some("SZZZZZ"));
            assert_eq!(m.response_code(), Some(code));
            assert_eq!(m.auth_id_response(), Some("SZZZZZ"));
            assert_eq!(m.get_str(60), Some(STAND_IN_INDICATOR));
        }
    }

    #[test]
    fn an_invalid_default_acquirer_is_refused_at_start() {
        assert!(check_default_acquirer("00000000000").is_ok());
        assert!(matches!(
            check_default_acquirer("not digits"),
            Err(SwitchError::DefaultAcquirer(_))
        ));
    }

    #[test]
    #[should_panic(expected = "the invariant: ")]
    fn must_names_the_broken_invariant() {
        let mut m = Message::new(Mti::AUTHORIZATION_RESPONSE);
        must(m.set(38, "far too long for DE 38"), "the invariant");
    }
}
