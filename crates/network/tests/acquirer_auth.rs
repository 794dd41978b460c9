//! Issue 21, finding 4: anonymous connections cannot stop payments, and no
//! message from an unauthenticated peer reaches routing. Runs on SQLite,
//! and on PostgreSQL with `PAYTAP_TEST_DATABASE_URL`.

mod common;

use common::*;
use paytap_iso8583::mac::{self, AcquirerKey};
use paytap_iso8583::{FrameDecoder, Message, Mti, NetworkManagementCode, encode_frame};
use paytap_issuer::Product;
use paytap_store::Db;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const ICBC: &str = "01020000";

/// A connection from loopback address 127.0.0.`host`.
async fn connect_from(host: u8, to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)),
        0,
    ))
    .unwrap();
    s.connect(to).await.unwrap()
}

async fn send(s: &mut TcpStream, m: &Message) {
    let mut out = Vec::new();
    encode_frame(&m.encode(), &mut out).unwrap();
    s.write_all(&out).await.unwrap();
}

/// The next answer, or `None` when the switch closed the connection.
async fn answer(s: &mut TcpStream, dec: &mut FrameDecoder) -> Option<Message> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(f) = dec.next_frame().unwrap() {
            return Some(Message::decode(&f).unwrap());
        }
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => dec.push(&buf[..n]),
        }
    }
}

/// How many of `conns` the switch has not closed (a closed one reads end
/// of stream or an error; an open anonymous one hears nothing).
async fn still_open(conns: &mut [TcpStream]) -> usize {
    let mut open = 0;
    let mut buf = [0u8; 64];
    for s in conns.iter_mut() {
        match tokio::time::timeout(Duration::from_millis(20), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {}
            Ok(Ok(_)) | Err(_) => open += 1,
        }
    }
    open
}

fn demo_key(n: &Net) -> AcquirerKey {
    n.net.acquirer_key(paytap_types::DEMO_ACQUIRER_ID).unwrap()
}

fn sign_on_request() -> Message {
    let mut m = Message::new(Mti::NETWORK_REQUEST);
    m.set_transmission_datetime(12, 5, 13, 0, 0).unwrap();
    m.set_stan(7).unwrap();
    m.set_acquirer_id(paytap_types::DEMO_ACQUIRER_ID).unwrap();
    m.set_network_management_code(NetworkManagementCode::SignOn)
        .unwrap();
    m
}

async fn signed_on(n: &Net, host: u8) -> (TcpStream, FrameDecoder) {
    let mut s = connect_from(host, n.net.switch_addr()).await;
    let mut dec = FrameDecoder::new(8192);
    let mut on = sign_on_request();
    mac::sign(&mut on, &demo_key(n));
    send(&mut s, &on).await;
    let a = answer(&mut s, &mut dec).await.unwrap();
    assert_eq!(a.get_str(39), Some("00"));
    assert_eq!(
        mac::verify(&a, &demo_key(n)),
        Ok(()),
        "the answer is signed"
    );
    (s, dec)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_anonymous_connections_and_a_flood_do_not_stop_a_signed_on_terminal() {
    let n = start().await;
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    let mut idle = Vec::new();
    // 200 idle anonymous connections from 25 addresses ...
    for i in 0..200u32 {
        idle.push(connect_from(10 + (i % 25) as u8, n.net.switch_addr()).await);
    }
    // ... and a flood from one address.
    for _ in 0..100 {
        idle.push(connect_from(99, n.net.switch_addr()).await);
    }
    // A terminal signs on (a fresh connection: the anonymous pool evicts
    // its oldest) and is approved.
    let client = n.net.demo_acquirer().await.unwrap();
    let (_, req) = n.tap(&mut phone, 1_000);
    let a = client.send(&req).await.unwrap();
    assert_eq!(a.get_str(39), Some("00"));
    assert_eq!(n.available(&phone).await, 99_000);
    // The switch closed what its anonymous pool could not keep: the
    // evicted oldest and the flood beyond its address's share.
    let open = still_open(&mut idle).await;
    assert!(
        open <= paytap_switch::admission::MAX_ANONYMOUS,
        "{open} anonymous connections still open"
    );
    drop(idle);
    n.assert_ledger().await;
}

#[tokio::test]
async fn an_unsigned_request_gets_63_and_never_reaches_the_issuer() {
    let n = start().await;
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    let (_, req) = n.tap(&mut phone, 2_000);
    // Before sign-on, even a correctly signed request is refused.
    let mut s = connect_from(1, n.net.switch_addr()).await;
    let mut dec = FrameDecoder::new(8192);
    let mut signed = req.clone();
    mac::sign(&mut signed, &demo_key(&n));
    send(&mut s, &signed).await;
    let a = answer(&mut s, &mut dec).await.unwrap();
    assert_eq!(a.mti(), Mti::AUTHORIZATION_RESPONSE);
    assert_eq!(a.get_str(39), Some("63"));
    assert!(!a.has(64) && !a.has(128), "a refusal is unsigned");
    // Signed on, an unsigned request is refused too.
    let (mut s, mut dec) = signed_on(&n, 2).await;
    send(&mut s, &req).await;
    assert_eq!(
        answer(&mut s, &mut dec).await.unwrap().get_str(39),
        Some("63")
    );
    // No hold, nothing logged.
    assert_eq!(n.available(&phone).await, 100_000);
    assert_eq!(
        n.net
            .switch()
            .stats()
            .authorizations
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    n.assert_ledger().await;
}

#[tokio::test]
async fn wrong_macs_get_63_and_the_third_closes_the_connection() {
    let n = start().await;
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    let (mut s, mut dec) = signed_on(&n, 3).await;
    let wrong = AcquirerKey::from_bytes([0xEE; 16]);
    for i in 0..3 {
        let (_, mut req) = n.tap(&mut phone, 500);
        mac::sign(&mut req, &wrong);
        send(&mut s, &req).await;
        let a = answer(&mut s, &mut dec).await.unwrap();
        assert_eq!(a.get_str(39), Some("63"), "refusal {i}");
    }
    assert!(
        answer(&mut s, &mut dec).await.is_none(),
        "closed after three"
    );
    assert_eq!(n.available(&phone).await, 100_000);
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_first_frame_deadline() {
    let mut cfg = config(Db::for_tests().await.unwrap());
    cfg.switch.first_frame_deadline = Duration::from_millis(200);
    let n = start_with(cfg).await;
    let mut s = connect_from(4, n.net.switch_addr()).await;
    assert!(answer(&mut s, &mut FrameDecoder::new(8192)).await.is_none());
    // A signed-on connection is not held to it.
    let client = n.net.demo_acquirer().await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut phone = n.phone(ICBC, Product::Debit, 10_000).await;
    let (_, req) = n.tap(&mut phone, 100);
    assert_eq!(client.send(&req).await.unwrap().get_str(39), Some("00"));
}

#[tokio::test]
async fn one_address_holds_at_most_eight_anonymous_connections() {
    // A long deadline: the ninth can only be closed by the limit.
    let mut cfg = config(Db::for_tests().await.unwrap());
    cfg.switch.first_frame_deadline = Duration::from_secs(600);
    let n = start_with(cfg).await;
    let mut held = Vec::new();
    for _ in 0..paytap_switch::admission::MAX_ANONYMOUS_PER_PEER {
        held.push(connect_from(5, n.net.switch_addr()).await);
    }
    let mut ninth = connect_from(5, n.net.switch_addr()).await;
    assert!(
        answer(&mut ninth, &mut FrameDecoder::new(8192))
            .await
            .is_none()
    );
    // The eight are still served: the first signs on.
    let mut first = held.remove(0);
    let mut dec = FrameDecoder::new(8192);
    let mut on = sign_on_request();
    mac::sign(&mut on, &demo_key(&n));
    send(&mut first, &on).await;
    assert_eq!(
        answer(&mut first, &mut dec).await.unwrap().get_str(39),
        Some("00")
    );
}

/// Relays one terminal's connections to the switch, flipping the last byte
/// (the MAC's) of every answer after the sign-on's.
async fn tampering_proxy(to: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = TcpStream::connect(to).await.unwrap();
            let (mut cr, mut cw) = client.into_split();
            let (mut ur, mut uw) = upstream.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut cr, &mut uw).await;
            });
            tokio::spawn(async move {
                let mut dec = FrameDecoder::new(8192);
                let mut buf = [0u8; 4096];
                let mut seen = 0;
                loop {
                    let n = match ur.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    dec.push(&buf[..n]);
                    while let Ok(Some(mut f)) = dec.next_frame() {
                        seen += 1;
                        if seen > 1
                            && let Some(last) = f.last_mut()
                        {
                            *last ^= 0x01;
                        }
                        let mut out = Vec::new();
                        encode_frame(&f, &mut out).unwrap();
                        if cw.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_answer_with_a_bad_mac_is_no_answer_and_the_terminal_reverses() {
    let n = start().await;
    let mut phone = n.phone(ICBC, Product::Debit, 100_000).await;
    let proxy = tampering_proxy(n.net.switch_addr()).await;
    let client = paytap_network::terminal::AcquirerClient::connect(
        proxy,
        paytap_types::DEMO_ACQUIRER_ID,
        demo_key(&n),
    )
    .await
    .unwrap();
    let (_, req) = n.tap(&mut phone, 3_000);
    let heard = client.send(&req).await;
    assert!(
        matches!(
            heard,
            Err(paytap_network::terminal::ClientError::Unauthentic)
        ),
        "a tampered approval is not heard: {heard:?}"
    );
    // The switch approved it and holds the money until the terminal,
    // having heard nothing, reverses.
    assert_eq!(n.available(&phone).await, 97_000);
    let r = n.send(&n.reversal_of(&req)).await;
    assert_eq!(r.get_str(39), Some("00"));
    assert_eq!(n.available(&phone).await, 100_000);
    n.assert_ledger().await;
}
