//! The switch on its own: authorizations per second over loopback TCP from
//! 64 concurrent terminals through framing, decoding, duplicate detection,
//! BIN routing, an in-memory issuer that approves at once, the answer, the
//! payment event and the batched durable message log (SQLite file). This is
//! the switch's ceiling; `paytap bench auth` measures the whole path.

use criterion::{Criterion, Throughput, criterion_group};
use paytap_iso8583::{FrameDecoder, Message, Mti, ResponseCode, encode_frame};
use paytap_store::Db;
use paytap_switch::*;
use paytap_types::Currency;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TERMINALS: u32 = 64;

struct Approver;

impl IssuerLink for Approver {
    fn exchange(&self, req: Message) -> BoxFuture<'_, Result<Message, LinkError>> {
        Box::pin(async move {
            let mut r = req
                .response()
                .ok_or_else(|| LinkError::Protocol("not a request".into()))?;
            r.set_response_code(ResponseCode::Approved)
                .map_err(|e| LinkError::Protocol(e.to_string()))?;
            r.set_auth_id_response("123456")
                .map_err(|e| LinkError::Protocol(e.to_string()))?;
            Ok(r)
        })
    }
}

fn request(terminal: u32, stan: u32, second: u8) -> Vec<u8> {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set(2, "6222001234567894").expect("pan");
    m.set_processing_code("000000").expect("de3");
    m.set_amount(100).expect("de4");
    m.set_transmission_datetime(11, 23, 10, second / 60, second % 60)
        .expect("de7");
    m.set_stan(stan).expect("de11");
    m.set_pos_entry_mode("071").expect("de22");
    m.set_acquirer_id("12345").expect("de32");
    m.set_terminal_id(&format!("T{terminal:07}")).expect("de41");
    m.set_merchant_id("M1").expect("de42");
    m.set_name_location("Bench Store", "Beijing", "CN")
        .expect("de43");
    m.set_currency(156).expect("de49");
    paytap_iso8583::mac::sign(&mut m, &key());
    let mut f = Vec::new();
    encode_frame(&m.encode(), &mut f).expect("frame");
    f
}

fn key() -> paytap_iso8583::AcquirerKey {
    paytap_iso8583::AcquirerKey::from_bytes([0x42; 16])
}

fn acquirers() -> Acquirers {
    let mut a = Acquirers::new();
    a.insert("12345", key());
    a
}

/// One terminal: signs on, then sends a request, waits for its answer,
/// repeats.
async fn terminal(addr: std::net::SocketAddr, id: u32, n: u64, stan: Arc<AtomicU32>) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut dec = FrameDecoder::new(8192);
    let mut buf = vec![0u8; 8192];
    let mut on = Message::new(Mti::NETWORK_REQUEST);
    on.set_transmission_datetime(11, 23, 10, 0, 0).expect("de7");
    on.set_stan(1).expect("de11");
    on.set_acquirer_id("12345").expect("de32");
    on.set(70, "001").expect("de70");
    paytap_iso8583::mac::sign(&mut on, &key());
    let mut f = Vec::new();
    encode_frame(&on.encode(), &mut f).expect("frame");
    s.write_all(&f).await.expect("write");
    while dec.next_frame().expect("frame").is_none() {
        let r = s.read(&mut buf).await.expect("read");
        assert!(r > 0, "switch refused the sign-on");
        dec.push(&buf[..r]);
    }
    for _ in 0..n {
        let k = stan.fetch_add(1, Ordering::Relaxed);
        s.write_all(&request(id, k % 999_999 + 1, (k / 999_999 % 3600) as u8))
            .await
            .expect("write");
        loop {
            if dec.next_frame().expect("frame").is_some() {
                break;
            }
            let r = s.read(&mut buf).await.expect("read");
            assert!(r > 0, "switch closed the connection");
            dec.push(&buf[..r]);
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let running = rt.block_on(async {
        let db = Db::connect(&format!(
            "sqlite://{}",
            dir.path().join("switch.db").display()
        ))
        .await
        .expect("db");
        let mut links: HashMap<String, Arc<dyn IssuerLink>> = HashMap::new();
        links.insert("bank".into(), Arc::new(Approver));
        let switch = Switch::start(SwitchParts {
            config: SwitchConfig {
                issuers: vec![IssuerRoute {
                    id: "bank".into(),
                    name: "Bench Bank".into(),
                    card_ranges: vec![BinRange::new("622200", "622299").expect("range")],
                    token_ranges: vec![],
                    credit_ranges: vec![],
                    timeout: Duration::from_secs(5),
                    stand_in: StandInRules::disabled(Currency::CNY),
                }],
                ..SwitchConfig::default()
            },
            links,
            tokens: None,
            db,
            forward_key: None,
            guard: None,
        })
        .await
        .expect("switch");
        serve(switch, "127.0.0.1:0".parse().expect("addr"), acquirers())
            .await
            .expect("serve")
    });
    let addr = running.local_addr();
    // Each terminal id gets its own STAN sequence shared across samples so no
    // request is ever a duplicate of an earlier one.
    let stans: Vec<Arc<AtomicU32>> = (0..TERMINALS)
        .map(|_| Arc::new(AtomicU32::new(0)))
        .collect();
    let mut group = c.benchmark_group("switch");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(1));
    group.bench_function("acquirer_tcp_to_inmemory_issuer_64_terminals", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let stans = stans.clone();
            async move {
                let per = iters.div_ceil(u64::from(TERMINALS));
                let start = Instant::now();
                let tasks: Vec<_> = (0..TERMINALS)
                    .map(|t| tokio::spawn(terminal(addr, t, per, stans[t as usize].clone())))
                    .collect();
                for t in tasks {
                    t.await.expect("terminal");
                }
                start
                    .elapsed()
                    .mul_f64(iters as f64 / (per * u64::from(TERMINALS)) as f64)
            }
        })
    });
    group.finish();
    rt.block_on(running.shutdown());
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
