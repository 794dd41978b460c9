//! The switch against small in-test fakes of an issuer and a token service,
//! in-process and over loopback TCP.

use paytap_iso8583::{
    FrameDecoder, Message, Mti, NetworkManagementCode, OriginalData, ResponseCode, encode_frame,
};
use paytap_store::Db;
use paytap_switch::*;
use paytap_types::Currency;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CARD: &str = "6222001234567894";
const TOKEN: &str = "6500051234567891";

/// A bank that approves while the balance allows, keeps holds by
/// (DE 37, original MTI), and can be told to stop answering, or to answer
/// its next reversals `96` without releasing anything.
#[derive(Default)]
struct FakeIssuer {
    state: Mutex<Bank>,
    silent: AtomicBool,
    failing_reversals: std::sync::atomic::AtomicU32,
}

#[derive(Default)]
struct Bank {
    available: i64,
    holds: HashMap<(String, String), i64>,
    reversed: HashSet<(String, String)>,
    captured: i64,
    seen: Vec<String>,
    /// DE 7 ‖ DE 11 ‖ DE 32 ‖ DE 41 of each 0100 → its hold key, for a
    /// reversal that names its original by DE 90 only (no DE 37).
    txns: HashMap<String, (String, String)>,
}

/// DE 90 carries the acquirer id zero-padded to 11 digits.
fn txn(stan: u32, datetime: &str, acquirer: &str, terminal: &str) -> String {
    let acquirer = acquirer.trim_start_matches('0');
    format!("{datetime}|{stan}|{acquirer}|{}", terminal.trim())
}

impl FakeIssuer {
    fn with_balance(b: i64) -> Arc<FakeIssuer> {
        let f = FakeIssuer::default();
        f.state.lock().unwrap().available = b;
        Arc::new(f)
    }
    fn held(&self) -> i64 {
        self.state.lock().unwrap().holds.values().sum()
    }
    fn seen(&self) -> Vec<String> {
        self.state.lock().unwrap().seen.clone()
    }
}

impl IssuerLink for FakeIssuer {
    fn exchange(&self, req: Message) -> BoxFuture<'_, Result<Message, LinkError>> {
        Box::pin(async move {
            let mut r = req.response().unwrap();
            let rrn = req.rrn().unwrap_or_default().to_owned();
            {
                let mut b = self.state.lock().unwrap();
                b.seen.push(req.mti().to_string());
                match req.mti().as_str() {
                    "0100" => {
                        let key = (rrn, "0100".to_owned());
                        let t = txn(
                            req.stan().unwrap(),
                            req.transmission_datetime().unwrap(),
                            req.acquirer_id().unwrap(),
                            req.terminal_id().unwrap(),
                        );
                        b.txns.insert(t, key.clone());
                        let amount = req.amount().unwrap() as i64;
                        assert!(req.has(2), "0100 carries the PAN");
                        let code = if b.reversed.contains(&key) {
                            ResponseCode::DoNotHonour
                        } else if amount <= b.available {
                            b.available -= amount;
                            b.holds.insert(key, amount);
                            ResponseCode::Approved
                        } else {
                            ResponseCode::InsufficientFunds
                        };
                        r.set_response_code(code).unwrap();
                        if code.is_approved() {
                            r.set_auth_id_response("A12345").unwrap();
                        }
                    }
                    "0120" => {
                        assert_eq!(req.get_str(60), Some(STAND_IN_INDICATOR));
                        assert_eq!(req.get_str(2), Some(CARD), "advices carry the PAN");
                        if req.response_code() == Some(ResponseCode::Approved) {
                            let amount = req.amount().unwrap() as i64;
                            b.available -= amount;
                            b.holds.insert((rrn, "0120".into()), amount);
                        }
                    }
                    "0400"
                        if self
                            .failing_reversals
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok() =>
                    {
                        r.set_response_code(ResponseCode::SystemMalfunction)
                            .unwrap();
                    }
                    "0400" => {
                        assert!(!req.has(2), "reversals carry no PAN");
                        let od = req.original_data().unwrap();
                        let key = if req.has(37) {
                            (rrn, od.mti.to_string())
                        } else {
                            let t = txn(
                                od.stan,
                                &od.transmission_datetime,
                                &od.acquirer_id,
                                req.terminal_id().unwrap(),
                            );
                            b.txns.get(&t).cloned().unwrap_or_default()
                        };
                        if let Some(a) = b.holds.remove(&key) {
                            b.available += a;
                        }
                        b.reversed.insert(key);
                        r.set_response_code(ResponseCode::Approved).unwrap();
                    }
                    "0220" => {
                        let orig = req.original_data().unwrap().mti.to_string();
                        if let Some(a) = b.holds.remove(&(rrn, orig)) {
                            b.captured += a;
                        }
                        r.set_response_code(ResponseCode::Approved).unwrap();
                    }
                    other => panic!("unexpected {other}"),
                }
            }
            if self.silent.load(Ordering::SeqCst) && req.mti().as_str() == "0100" {
                // The hold is placed, the answer is lost.
                futures::future::pending::<()>().await;
            }
            Ok(r)
        })
    }
}

/// `fail_writes`: its own writes (the accepted ATC) never become durable.
struct FakeTsp {
    fail_writes: bool,
}
struct Completion;

impl TokenCompletion for Completion {
    fn complete_response(&self, response: &mut Message) -> Result<(), paytap_iso8583::Error> {
        let mut tag91 = vec![0x91, 0x0A, 1, 2, 3, 4, 5, 6, 7, 8];
        tag91.extend_from_slice(response.get(39).unwrap_or(b"96"));
        response.set_icc_data(&tag91)
    }
}

impl TokenService for FakeTsp {
    fn detokenize<'a>(&'a self, request: &'a Message) -> BoxFuture<'a, TokenDecision> {
        Box::pin(async move {
            assert!(
                !request.has(62) && !request.has(63),
                "switch strips DE 62/63"
            );
            if request.pos_entry_mode() != Some("071") {
                return TokenDecision::Refused(TokenRefusal {
                    code: ResponseCode::NotPermittedToTerminal,
                    reason: "card not accepted with this entry method".into(),
                    token_ref: Some("tok-1".into()),
                    verification: None,
                });
            }
            let mut out = request.clone();
            out.set(2, CARD).unwrap();
            TokenDecision::Approved(Detokenized {
                issuer_request: out,
                token_ref: "tok-1".into(),
                completion: Box::new(Completion),
                holder: Default::default(),
                durable: Some(if self.fail_writes {
                    Box::pin(async { Err("disk full".to_owned()) })
                } else {
                    Box::pin(async { Ok(()) })
                }),
            })
        })
    }
}

fn config(timeout_ms: u64, stand_in: StandInRules) -> SwitchConfig {
    SwitchConfig {
        issuers: vec![IssuerRoute {
            id: "icbc".into(),
            name: "Test Bank".into(),
            card_ranges: vec![BinRange::new("622200", "622299").unwrap()],
            token_ranges: vec![BinRange::new("650000", "650009").unwrap()],
            credit_ranges: vec![],
            timeout: Duration::from_millis(timeout_ms),
            stand_in,
        }],
        retry_interval: Duration::from_millis(20),
        ..SwitchConfig::default()
    }
}

fn rules() -> StandInRules {
    StandInRules {
        enabled: true,
        currency: Currency::CNY,
        max_per_transaction: 10_000,
        max_per_card_per_day: 15_000,
    }
}

async fn switch_with(issuer: Arc<FakeIssuer>, timeout_ms: u64) -> Switch {
    switch_on(issuer, timeout_ms, FakeTsp { fail_writes: false }).await
}

async fn switch_on(issuer: Arc<FakeIssuer>, timeout_ms: u64, tsp: FakeTsp) -> Switch {
    let db = Db::for_tests().await.unwrap();
    let mut links: HashMap<String, Arc<dyn IssuerLink>> = HashMap::new();
    links.insert("icbc".into(), issuer);
    Switch::start(SwitchParts {
        config: config(timeout_ms, rules()),
        links,
        tokens: Some(Arc::new(tsp)),
        db,
        forward_key: None,
        guard: None,
    })
    .await
    .unwrap()
}

fn auth(pan: &str, amount: u64, stan: u32, terminal: &str) -> Message {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set(2, pan).unwrap();
    m.set_processing_code("000000").unwrap();
    m.set_amount(amount).unwrap();
    m.set_transmission_datetime(11, 23, 10, 0, 0).unwrap();
    m.set_stan(stan).unwrap();
    m.set_pos_entry_mode("071").unwrap();
    m.set_acquirer_id("12345").unwrap();
    m.set_terminal_id(terminal).unwrap();
    m.set_merchant_id("MERCHANT1").unwrap();
    m.set_name_location("Corner Shop", "Beijing", "CN").unwrap();
    m.set_currency(156).unwrap();
    m.set_icc_data(&[0x9F, 0x36, 0x02, 0x00, 0x01]).unwrap();
    m
}

fn reversal_of(orig: &Message, stan: u32) -> Message {
    let mut m = Message::new(Mti::REVERSAL_REQUEST);
    for f in [2u8, 3, 4, 32, 41, 42, 49] {
        m.set(f, orig.get(f).unwrap()).unwrap();
    }
    m.set_transmission_datetime(11, 23, 10, 0, 5).unwrap();
    m.set_stan(stan).unwrap();
    m.set_original_data(&OriginalData {
        mti: Mti::AUTHORIZATION_REQUEST,
        stan: orig.stan().unwrap(),
        transmission_datetime: orig.transmission_datetime().unwrap().into(),
        acquirer_id: "12345".into(),
        forwarding_id: "0".into(),
    })
    .unwrap();
    m
}

fn code(m: &Message) -> ResponseCode {
    m.response_code().unwrap()
}

#[tokio::test]
async fn card_approval_decline_and_unknown_bin() {
    let bank = FakeIssuer::with_balance(5_000);
    let sw = switch_with(bank.clone(), 2_000).await;
    let mut events = sw.subscribe();
    let a = sw.handle(auth(CARD, 1_250, 1, "T1")).await.unwrap();
    assert_eq!(a.mti(), Mti::AUTHORIZATION_RESPONSE);
    assert_eq!(code(&a), ResponseCode::Approved);
    assert_eq!(a.auth_id_response(), Some("A12345"));
    assert_eq!(a.stan(), Some(1));
    assert_eq!(a.terminal_id().map(str::trim), Some("T1"));
    let ev = events.recv().await.unwrap();
    assert!(ev.approved);
    assert_eq!(ev.amount.minor, 1_250);
    assert_eq!(ev.merchant_name, "Corner Shop");
    assert_eq!(bank.held(), 1_250);

    let d = sw.handle(auth(CARD, 9_000, 2, "T1")).await.unwrap();
    assert_eq!(code(&d), ResponseCode::InsufficientFunds);
    assert!(!events.recv().await.unwrap().approved);

    let u = sw
        .handle(auth("6999001234567891", 100, 3, "T1"))
        .await
        .unwrap();
    assert_eq!(code(&u), ResponseCode::RoutingError);
    assert_eq!(bank.seen(), vec!["0100", "0100"]);

    // The log keeps masked numbers only.
    let day = utc_day(paytap_store::now_millis());
    let rows = sw.log().rows(&day).await.unwrap();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert!(!r.masked_pan.contains(CARD));
        assert!(r.masked_pan.contains('*'));
    }
}

#[tokio::test]
async fn missing_elements_are_format_errors() {
    let bank = FakeIssuer::with_balance(5_000);
    let sw = switch_with(bank.clone(), 2_000).await;
    let mut m = auth(CARD, 100, 4, "T1");
    m.remove(4);
    assert_eq!(
        code(&sw.handle(m).await.unwrap()),
        ResponseCode::FormatError
    );
    let mut m = auth(CARD, 100, 5, "T1");
    m.set_currency(999).unwrap();
    assert_eq!(
        code(&sw.handle(m).await.unwrap()),
        ResponseCode::FormatError
    );
    assert!(bank.seen().is_empty());
}

#[tokio::test]
async fn duplicate_gets_the_first_answer_and_one_hold() {
    let bank = FakeIssuer::with_balance(5_000);
    let sw = switch_with(bank.clone(), 2_000).await;
    let req = auth(CARD, 700, 10, "T2");
    let (a, b) = tokio::join!(sw.handle(req.clone()), sw.handle(req.clone()));
    let c = sw.handle(req).await.unwrap();
    assert_eq!(a.as_ref(), Some(&c));
    assert_eq!(b.as_ref(), Some(&c));
    assert_eq!(bank.held(), 700);
    assert_eq!(bank.seen(), vec!["0100"]);
    // Same STAN on another terminal is a different transaction.
    let d = sw.handle(auth(CARD, 700, 10, "T3")).await.unwrap();
    assert_eq!(code(&d), ResponseCode::Approved);
    assert_eq!(bank.held(), 1_400);
}

#[tokio::test]
async fn acquirer_reversal_releases_the_hold_once() {
    let bank = FakeIssuer::with_balance(5_000);
    let sw = switch_with(bank.clone(), 2_000).await;
    let req = auth(CARD, 800, 20, "T4");
    assert_eq!(
        code(&sw.handle(req.clone()).await.unwrap()),
        ResponseCode::Approved
    );
    assert_eq!(bank.held(), 800);
    let r = sw.handle(reversal_of(&req, 21)).await.unwrap();
    assert_eq!(r.mti(), Mti::REVERSAL_RESPONSE);
    assert_eq!(code(&r), ResponseCode::Approved);
    assert_eq!(bank.held(), 0);
    let again = sw.handle(reversal_of(&req, 22)).await.unwrap();
    assert_eq!(code(&again), ResponseCode::Approved);
    assert_eq!(bank.seen(), vec!["0100", "0400"]);
    // Reversal of something never authorized: the bank is asked (it may
    // hold what the switch never logged) and nothing changes.
    let ghost = sw
        .handle(reversal_of(&auth(CARD, 1, 99, "T4"), 23))
        .await
        .unwrap();
    assert_eq!(code(&ghost), ResponseCode::Approved);
    assert_eq!(bank.held(), 0);
    assert_eq!(bank.state.lock().unwrap().available, 5_000);
    let day = utc_day(paytap_store::now_millis());
    let rows = sw.log().rows(&day).await.unwrap();
    assert!(
        rows.iter()
            .any(|r| r.kind == LogKind::Authorization && r.status == LogStatus::Reversed)
    );
    let rep = sw.clearing(&day).await.unwrap();
    assert_eq!(rep.authorizations, 0);
}

/// An issuer that answers a reversal `96` has not released the hold: the
/// reversal goes to store and forward (here at once: the retry interval is
/// 20 ms), and the hold is released when it is delivered again.
#[tokio::test]
async fn a_reversal_answered_96_is_stored_and_forwarded() {
    let bank = FakeIssuer::with_balance(5_000);
    let sw = switch_with(bank.clone(), 2_000).await;
    let req = auth(CARD, 800, 30, "T5");
    assert_eq!(
        code(&sw.handle(req.clone()).await.unwrap()),
        ResponseCode::Approved
    );
    bank.failing_reversals.store(1, Ordering::SeqCst);
    let r = sw.handle(reversal_of(&req, 31)).await.unwrap();
    assert_eq!(
        code(&r),
        ResponseCode::Approved,
        "stored: the terminal is done"
    );
    assert_eq!(sw.drain_forwards(Duration::from_secs(10)).await, 0);
    let reversals = bank.seen().iter().filter(|m| *m == "0400").count();
    assert_eq!(reversals, 2, "answered 96, then delivered again");
    assert_eq!(bank.held(), 0);
    assert_eq!(bank.state.lock().unwrap().available, 5_000);
}

/// The switch crashed after the issuer held and before the authorization's
/// log row was written: the switch after the restart (here, one on a
/// database without that row) still releases the hold on the terminal's
/// stored reversal, routed by DE 2, for a card and for a token.
#[tokio::test]
async fn reversal_of_an_original_never_logged_releases_the_hold() {
    let bank = FakeIssuer::with_balance(5_000);
    let before = switch_with(bank.clone(), 2_000).await;
    let card = auth(CARD, 800, 40, "T9");
    let token = auth(TOKEN, 300, 41, "T9");
    for m in [&card, &token] {
        let a = before.handle(m.clone()).await.unwrap();
        assert_eq!(code(&a), ResponseCode::Approved);
    }
    assert_eq!(bank.held(), 1_100);
    let after = switch_with(bank.clone(), 2_000).await;
    for (m, stan) in [(&card, 42), (&token, 43), (&card, 44)] {
        let r = after.handle(reversal_of(m, stan)).await.unwrap();
        assert_eq!(r.mti(), Mti::REVERSAL_RESPONSE);
        assert_eq!(code(&r), ResponseCode::Approved);
    }
    {
        let b = bank.state.lock().unwrap();
        assert!(b.holds.is_empty(), "{:?}", b.holds);
    }
    assert_eq!(bank.state.lock().unwrap().available, 5_000);
    assert_eq!(after.pending_forwards(), 0);
    let day = utc_day(paytap_store::now_millis());
    let rows = after.log().rows(&day).await.unwrap();
    assert_eq!(
        rows.iter().filter(|r| r.kind == LogKind::Reversal).count(),
        3
    );
    // Nothing to route by: a format error, nothing sent.
    let mut bare = reversal_of(&card, 45);
    bare.remove(2);
    let r = after.handle(bare).await.unwrap();
    assert_eq!(code(&r), ResponseCode::FormatError);
    assert_eq!(bank.seen().iter().filter(|m| *m == "0400").count(), 3);
}

#[tokio::test]
async fn silent_issuer_gets_stand_in_then_reversal_and_advice() {
    let bank = FakeIssuer::with_balance(50_000);
    bank.silent.store(true, Ordering::SeqCst);
    let sw = switch_with(bank.clone(), 100).await;
    let a = sw.handle(auth(CARD, 6_000, 30, "T5")).await.unwrap();
    assert_eq!(code(&a), ResponseCode::Approved);
    assert_eq!(a.get_str(60), Some(STAND_IN_INDICATOR));
    assert!(a.auth_id_response().unwrap().starts_with('S'));
    // Per transaction limit.
    let b = sw.handle(auth(CARD, 10_001, 31, "T5")).await.unwrap();
    assert_eq!(code(&b), ResponseCode::ExceedsWithdrawalLimit);
    // Per card per day: 6 000 + 9 000 > 15 000.
    let c = sw.handle(auth(CARD, 9_001, 32, "T5")).await.unwrap();
    assert_eq!(code(&c), ResponseCode::ExceedsWithdrawalLimit);
    let d = sw.handle(auth(CARD, 9_000, 33, "T5")).await.unwrap();
    assert_eq!(code(&d), ResponseCode::Approved);
    assert_eq!(sw.drain_forwards(Duration::from_secs(10)).await, 0);
    // The 0100 holds the silent bank placed are reversed; the stand-in
    // approvals are held through the advices.
    assert_eq!(bank.held(), 15_000);
    let seen = bank.seen();
    assert_eq!(seen.iter().filter(|m| *m == "0400").count(), 4);
    assert_eq!(seen.iter().filter(|m| *m == "0120").count(), 4);
    // Clearing captures the stand-in holds and balances.
    let day = utc_day(paytap_store::now_millis());
    let rep = sw.clearing(&day).await.unwrap();
    assert!(rep.balanced());
    assert_eq!(rep.authorizations, 2);
    assert_eq!(rep.captured, 2);
    assert_eq!(bank.held(), 0);
    assert_eq!(bank.state.lock().unwrap().captured, 15_000);
}

#[tokio::test]
async fn token_route_refusal_and_completion() {
    let bank = FakeIssuer::with_balance(5_000);
    let sw = switch_with(bank.clone(), 2_000).await;
    let mut events = sw.subscribe();
    let mut req = auth(TOKEN, 300, 40, "T6");
    // An acquirer may not claim token verification results.
    req.set(63, "01001Y").unwrap();
    let a = sw.handle(req).await.unwrap();
    assert_eq!(code(&a), ResponseCode::Approved);
    assert_eq!(
        a.get_str(2),
        Some(TOKEN),
        "the acquirer sees the token, never the PAN"
    );
    assert_eq!(a.icc_data().unwrap().get(..2), Some(&[0x91u8, 0x0A][..]));
    assert_eq!(events.recv().await.unwrap().token_ref, "tok-1");

    let mut manual = auth(TOKEN, 300, 41, "T6");
    manual.set_pos_entry_mode("012").unwrap();
    let r = sw.handle(manual).await.unwrap();
    assert_eq!(code(&r), ResponseCode::NotPermittedToTerminal);
    let ev = events.recv().await.unwrap();
    assert!(!ev.approved);
    assert_eq!(ev.reason, "card not accepted with this entry method");
    assert_eq!(bank.held(), 300);
}

/// The token service accepts a counter in memory and writes it while the
/// issuer decides; if that write fails, nobody may be told "approved" (the
/// cryptogram could be accepted again after a restart), and the issuer's
/// hold is reversed.
#[tokio::test]
async fn a_token_write_that_fails_declines_and_releases_the_hold() {
    let bank = FakeIssuer::with_balance(5_000);
    let sw = switch_on(bank.clone(), 2_000, FakeTsp { fail_writes: true }).await;
    let a = sw.handle(auth(TOKEN, 300, 50, "T7")).await.unwrap();
    assert_eq!(code(&a), ResponseCode::SystemMalfunction);
    assert_eq!(a.auth_id_response(), None);
    assert_eq!(sw.drain_forwards(Duration::from_secs(10)).await, 0);
    assert_eq!(bank.held(), 0);
    assert_eq!(bank.seen(), vec!["0100", "0400"]);
    let day = utc_day(paytap_store::now_millis());
    let rep = sw.clearing(&day).await.unwrap();
    assert_eq!(rep.authorizations, 0);
    assert!(rep.balanced());
}

#[tokio::test]
async fn clearing_nets_issuers_against_acquirers() {
    let bank = FakeIssuer::with_balance(100_000);
    let sw = switch_with(bank.clone(), 2_000).await;
    for (i, amount) in [100u64, 250, 999].into_iter().enumerate() {
        let mut req = auth(CARD, amount, 50 + i as u32, "T7");
        req.set_acquirer_id(if i == 0 { "111" } else { "222" })
            .unwrap();
        assert_eq!(code(&sw.handle(req).await.unwrap()), ResponseCode::Approved);
    }
    let day = utc_day(paytap_store::now_millis());
    let rep = sw.clearing(&day).await.unwrap();
    assert!(rep.balanced());
    let pos = |p: Party| {
        rep.positions
            .iter()
            .find(|x| x.party == p)
            .unwrap()
            .net_minor
    };
    assert_eq!(pos(Party::Issuer("icbc".into())), -1_349);
    assert_eq!(pos(Party::Acquirer("111".into())), 100);
    assert_eq!(pos(Party::Acquirer("222".into())), 1_249);
    assert_eq!(rep.captured, 3);
    // A second run recomputes the positions but captures nothing twice.
    let again = sw.clearing(&day).await.unwrap();
    assert_eq!(again.positions, rep.positions);
    assert_eq!(again.captured, 0);
    assert_eq!(bank.state.lock().unwrap().captured, 1_349);
}

const ACQUIRER: &str = "12345";

fn acquirer_key() -> paytap_iso8583::AcquirerKey {
    paytap_iso8583::AcquirerKey::from_bytes([0x42; 16])
}

fn acquirers() -> Acquirers {
    let mut a = Acquirers::new();
    a.insert(ACQUIRER, acquirer_key());
    a
}

/// `m` signed with the test acquirer's key.
fn signed(mut m: Message) -> Message {
    paytap_iso8583::mac::sign(&mut m, &acquirer_key());
    m
}

/// Sign the connection on as the test acquirer.
async fn sign_on(s: &mut TcpStream, dec: &mut FrameDecoder) {
    let mut on = Message::new(Mti::NETWORK_REQUEST);
    on.set_transmission_datetime(11, 23, 10, 0, 0).unwrap();
    on.set_stan(999).unwrap();
    on.set_acquirer_id(ACQUIRER).unwrap();
    on.set_network_management_code(NetworkManagementCode::SignOn)
        .unwrap();
    s.write_all(&frame(&signed(on).encode())).await.unwrap();
    let a = read_answer(s, dec).await.unwrap();
    assert_eq!(a.mti(), Mti::NETWORK_RESPONSE);
    assert_eq!(code(&a), ResponseCode::Approved);
    assert_eq!(paytap_iso8583::mac::verify(&a, &acquirer_key()), Ok(()));
}

async fn read_answer(s: &mut TcpStream, dec: &mut FrameDecoder) -> Option<Message> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(f) = dec.next_frame().unwrap() {
            return Some(Message::decode(&f).unwrap());
        }
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            return None;
        }
        dec.push(&buf[..n]);
    }
}

fn frame(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(m, &mut out).unwrap();
    out
}

#[tokio::test]
async fn tcp_many_terminals_echo_and_malformed_frames() {
    let bank = FakeIssuer::with_balance(1_000_000);
    let sw = switch_with(bank.clone(), 2_000).await;
    let running = serve(sw, "127.0.0.1:0".parse().unwrap(), acquirers())
        .await
        .unwrap();
    let mut s = TcpStream::connect(running.local_addr()).await.unwrap();
    let mut dec = FrameDecoder::new(8192);
    sign_on(&mut s, &mut dec).await;

    let mut echo = Message::new(Mti::NETWORK_REQUEST);
    echo.set_transmission_datetime(11, 23, 10, 0, 0).unwrap();
    echo.set_stan(1).unwrap();
    echo.set_acquirer_id(ACQUIRER).unwrap();
    echo.set_network_management_code(NetworkManagementCode::EchoTest)
        .unwrap();
    s.write_all(&frame(&signed(echo).encode())).await.unwrap();
    let e = read_answer(&mut s, &mut dec).await.unwrap();
    assert_eq!(e.mti(), Mti::NETWORK_RESPONSE);
    assert_eq!(code(&e), ResponseCode::Approved);

    // 50 terminals' requests in one write; answers matched by DE 41 + DE 11.
    let mut burst = Vec::new();
    for t in 0..50u32 {
        burst.extend(frame(
            &signed(auth(CARD, 10, 7, &format!("TERM{t:04}"))).encode(),
        ));
    }
    s.write_all(&burst).await.unwrap();
    let mut got = HashSet::new();
    for _ in 0..50 {
        let a = read_answer(&mut s, &mut dec).await.unwrap();
        assert_eq!(code(&a), ResponseCode::Approved);
        got.insert((a.terminal_id().unwrap().to_owned(), a.stan().unwrap()));
    }
    assert_eq!(got.len(), 50);

    // Readable MTI, garbage elements: format error, connection stays.
    s.write_all(&frame(b"0100\xFF\xFF\xFF")).await.unwrap();
    let f = read_answer(&mut s, &mut dec).await.unwrap();
    assert_eq!(f.mti(), Mti::AUTHORIZATION_RESPONSE);
    assert_eq!(code(&f), ResponseCode::FormatError);
    // Unreadable MTI: the connection is closed.
    s.write_all(&frame(b"XXXXyyyy")).await.unwrap();
    assert!(read_answer(&mut s, &mut dec).await.is_none());

    // Over-long frame announcement closes the connection too.
    let mut s2 = TcpStream::connect(running.local_addr()).await.unwrap();
    s2.write_all(&[0xFF, 0xFF, 0, 0]).await.unwrap();
    assert!(
        read_answer(&mut s2, &mut FrameDecoder::new(8192))
            .await
            .is_none()
    );
    running.shutdown().await;
}

#[tokio::test]
async fn tcp_issuer_link_round_trip() {
    let bank = FakeIssuer::with_balance(10_000);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve_issuer(listener, bank.clone(), stop_rx));
    let remote = Arc::new(TcpIssuerLink::new(addr));
    let db = Db::for_tests().await.unwrap();
    let mut links: HashMap<String, Arc<dyn IssuerLink>> = HashMap::new();
    links.insert("icbc".into(), remote);
    let sw = Switch::start(SwitchParts {
        config: config(2_000, rules()),
        links,
        tokens: Some(Arc::new(FakeTsp { fail_writes: false })),
        db,
        forward_key: None,
        guard: None,
    })
    .await
    .unwrap();
    let mut answers = Vec::new();
    for i in 0..20 {
        answers.push(sw.handle(auth(CARD, 100, 60 + i, "T8")));
    }
    for a in futures::future::join_all(answers).await {
        assert_eq!(code(&a.unwrap()), ResponseCode::Approved);
    }
    assert_eq!(bank.held(), 2_000);
    let _ = stop.send(true);
    server.await.unwrap();
}

/// An issuer that tells the test when a request arrived, then answers a
/// little later.
struct Slow {
    inner: Arc<FakeIssuer>,
    arrived: tokio::sync::mpsc::UnboundedSender<()>,
}

impl IssuerLink for Slow {
    fn exchange(&self, req: Message) -> BoxFuture<'_, Result<Message, LinkError>> {
        Box::pin(async move {
            let _ = self.arrived.send(());
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.inner.exchange(req).await
        })
    }
}

#[tokio::test]
async fn graceful_shutdown_answers_in_flight_requests_and_idle_connections_close() {
    let bank = FakeIssuer::with_balance(10_000);
    let (arrived_tx, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let mut links: HashMap<String, Arc<dyn IssuerLink>> = HashMap::new();
    links.insert(
        "icbc".into(),
        Arc::new(Slow {
            inner: bank.clone(),
            arrived: arrived_tx,
        }),
    );
    let mut cfg = config(5_000, rules());
    cfg.idle_timeout = Duration::from_millis(300);
    let sw = Switch::start(SwitchParts {
        config: cfg,
        links,
        tokens: Some(Arc::new(FakeTsp { fail_writes: false })),
        db: Db::for_tests().await.unwrap(),
        forward_key: None,
        guard: None,
    })
    .await
    .unwrap();
    let running = serve(sw, "127.0.0.1:0".parse().unwrap(), acquirers())
        .await
        .unwrap();
    let addr = running.local_addr();

    // An idle signed-on connection is closed by the switch.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut idle_dec = FrameDecoder::new(8192);
    sign_on(&mut idle, &mut idle_dec).await;
    assert!(read_answer(&mut idle, &mut idle_dec).await.is_none());

    // A request in flight when shutdown starts is still answered.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut dec = FrameDecoder::new(8192);
    sign_on(&mut s, &mut dec).await;
    s.write_all(&frame(&signed(auth(CARD, 500, 70, "T9")).encode()))
        .await
        .unwrap();
    arrived.recv().await.unwrap();
    let stop = tokio::spawn(running.shutdown());
    let a = read_answer(&mut s, &mut dec).await.unwrap();
    assert_eq!(code(&a), ResponseCode::Approved);
    assert!(
        read_answer(&mut s, &mut dec).await.is_none(),
        "then the connection closes"
    );
    stop.await.unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
    assert_eq!(bank.held(), 500);
}

/// A bank link that can be unplugged.
struct Plug {
    inner: Arc<FakeIssuer>,
    down: Arc<AtomicBool>,
}

impl IssuerLink for Plug {
    fn exchange(&self, req: Message) -> BoxFuture<'_, Result<Message, LinkError>> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return Err(LinkError::Unavailable("unplugged".into()));
            }
            self.inner.exchange(req).await
        })
    }
}

/// A switch whose one bank is behind a [`Plug`].
async fn plugged(
    db: Db,
    bank: &Arc<FakeIssuer>,
    down: &Arc<AtomicBool>,
    forward_key: Option<ForwardKey>,
) -> Result<Switch, SwitchError> {
    let mut links: HashMap<String, Arc<dyn IssuerLink>> = HashMap::new();
    links.insert(
        "icbc".into(),
        Arc::new(Plug {
            inner: bank.clone(),
            down: down.clone(),
        }),
    );
    Switch::start(SwitchParts {
        config: config(500, rules()),
        links,
        tokens: Some(Arc::new(FakeTsp { fail_writes: false })),
        db,
        forward_key,
        guard: None,
    })
    .await
}

#[tokio::test]
async fn stored_reversals_survive_a_restart() {
    let db = Db::for_tests().await.unwrap();
    let bank = FakeIssuer::with_balance(10_000);
    let down = Arc::new(AtomicBool::new(true));
    let start = |db: Db| plugged(db, &bank, &down, None);
    let first = start(db.clone()).await.unwrap();
    let a = first.handle(auth(CARD, 900, 80, "TA")).await.unwrap();
    assert_eq!(code(&a), ResponseCode::Approved, "stand-in");
    assert_eq!(first.pending_forwards(), 2, "a reversal and an advice wait");
    first.shutdown().await;
    drop(first);

    // The bank comes back; a new switch process on the same database
    // delivers the stored reversal.
    down.store(false, Ordering::SeqCst);
    let second = start(db).await.unwrap();
    assert_eq!(second.pending_forwards(), 1, "the reversal was stored");
    assert_eq!(second.drain_forwards(Duration::from_secs(10)).await, 0);
    assert_eq!(bank.seen(), vec!["0400"]);
    second.shutdown().await;
    let third = start(second.log().db().clone()).await.unwrap();
    assert_eq!(
        third.pending_forwards(),
        0,
        "acknowledged reversals are not sent again"
    );
}

#[tokio::test]
async fn stored_advices_survive_a_restart_sealed() {
    let db = Db::for_tests().await.unwrap();
    let bank = FakeIssuer::with_balance(10_000);
    let down = Arc::new(AtomicBool::new(true));
    let key = |b: u8| Some(ForwardKey::new(zeroize::Zeroizing::new([b; 32])));
    let start = |db: Db, forward_key| plugged(db, &bank, &down, forward_key);
    let first = start(db.clone(), key(1)).await.unwrap();
    let a = first.handle(auth(CARD, 900, 81, "TB")).await.unwrap();
    assert_eq!(code(&a), ResponseCode::Approved, "stand-in");
    first.log().flush().await;
    let rows: Vec<(String, Vec<u8>, Option<Vec<u8>>)> =
        sqlx::query_as("SELECT mti, message, sealed FROM switch_forwards ORDER BY created_at, id")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(rows.len(), 2, "the reversal and the advice are stored");
    for (mti, message, sealed) in &rows {
        for bytes in [Some(message), sealed.as_ref()].into_iter().flatten() {
            assert!(
                !bytes.windows(CARD.len()).any(|w| w == CARD.as_bytes()),
                "{mti}: no card number in clear"
            );
        }
    }
    let (_, clear, sealed) = rows.iter().find(|r| r.0 == "0120").unwrap();
    let clear = Message::decode(clear).unwrap();
    assert!(!clear.has(2) && !clear.has(14) && !clear.has(55));
    assert_eq!(
        clear.rrn(),
        a.rrn(),
        "the clear part names the authorization"
    );
    assert!(sealed.is_some());
    first.shutdown().await;
    drop(first);

    down.store(false, Ordering::SeqCst);
    // A start with another key, or none, cannot open the advice: it sends
    // the reversal and keeps the advice stored.
    let second = start(db.clone(), key(2)).await.unwrap();
    assert_eq!(second.pending_forwards(), 1);
    assert_eq!(second.drain_forwards(Duration::from_secs(10)).await, 0);
    assert_eq!(bank.seen(), vec!["0400"]);
    second.shutdown().await;
    let third = start(db.clone(), None).await.unwrap();
    assert_eq!(third.pending_forwards(), 0);
    third.shutdown().await;

    // With its key it is delivered, with the card number, and the issuer
    // holds the stand-in approval.
    let fourth = start(db.clone(), key(1)).await.unwrap();
    assert_eq!(fourth.pending_forwards(), 1);
    assert_eq!(fourth.drain_forwards(Duration::from_secs(10)).await, 0);
    assert_eq!(bank.seen(), vec!["0400", "0120"]);
    assert_eq!(bank.held(), 900);
    fourth.shutdown().await;
    let fifth = start(db, key(1)).await.unwrap();
    assert_eq!(fifth.pending_forwards(), 0, "acknowledged, not sent again");
}

/// An issuer that is down: every exchange fails at once.
struct DownIssuer;

impl IssuerLink for DownIssuer {
    fn exchange(&self, _: Message) -> BoxFuture<'_, Result<Message, LinkError>> {
        Box::pin(async { Err(LinkError::Unavailable("down".into())) })
    }
}

#[tokio::test]
async fn full_forwarding_queue_answers_96_instead_of_standing_in() {
    let db = Db::for_tests().await.unwrap();
    let mut links: HashMap<String, Arc<dyn IssuerLink>> = HashMap::new();
    links.insert("icbc".into(), Arc::new(DownIssuer));
    let sw = Switch::start(SwitchParts {
        config: SwitchConfig {
            // Room for one stand-in decision: its reversal and its advice.
            max_forwards_queued: 2,
            ..config(2_000, rules())
        },
        links,
        tokens: Some(Arc::new(FakeTsp { fail_writes: false })),
        db,
        forward_key: None,
        guard: None,
    })
    .await
    .unwrap();
    let first = sw.handle(auth(CARD, 1_000, 1, "T1")).await.unwrap();
    assert_eq!(code(&first), ResponseCode::Approved);
    assert_eq!(first.get_str(60), Some(STAND_IN_INDICATOR));
    // The issuer never acknowledges, so both stay queued and the next
    // timeout finds no room.
    let second = sw.handle(auth(CARD, 1_000, 2, "T1")).await.unwrap();
    assert_eq!(code(&second), ResponseCode::SystemMalfunction);
    assert_eq!(second.get(60), None);
    assert_eq!(sw.pending_forwards(), 2);
    assert_eq!(sw.stats().stand_in.load(Ordering::Relaxed), 1);
    sw.shutdown().await;
}
