//! Issuer authorizations per second with durable commits: 0100 → 0110 with
//! a ledger hold and the group-committed authorization record, from many
//! concurrent requests over many cards (as the switch drives it).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paytap_iso8583::{CheckResult, Message, Mti, VerificationResults};
use paytap_issuer::{IssueCard, Issuer, IssuerConfig, IssuerKeys, Limits, Product};
use paytap_ledger::Ledger;
use paytap_store::Db;
use paytap_types::Pan;
use paytap_vault::{Keyring, Vault};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const CARDS: usize = 256;
const CONCURRENCY: usize = 256;

fn request(pan: &Pan, stan: u32) -> Message {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    let _ = m.set(2, pan.expose());
    let _ = m.set_processing_code("000000");
    let _ = m.set_amount(100);
    let _ = m.set_transmission_datetime(11, 23, 9, ((stan / 1_000_000) % 60) as u8, 0);
    let _ = m.set_stan(stan % 1_000_000);
    let _ = m.set_pos_entry_mode("071");
    let _ = m.set_acquirer_id("12345678");
    let _ = m.set_rrn(&format!("{stan:012}"));
    let _ = m.set_terminal_id("T0000001");
    let _ = m.set_currency(156);
    let _ = m.set_verification_results(&VerificationResults {
        cryptogram: Some(CheckResult::Passed),
        cdcvm: Some(CheckResult::Passed),
        atc: Some(CheckResult::Passed),
    });
    m
}

fn authorize(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (issuer, pans) = rt.block_on(async {
        let db = Db::for_tests().await.expect("db");
        let vault = Vault::open(db.clone(), Keyring::from_single_key([1; 32]))
            .await
            .expect("vault");
        let ledger = Ledger::open(db.clone()).await.expect("ledger");
        let config = IssuerConfig::default_banks();
        let keys = IssuerKeys::derive(
            b"bench master secret of 32 bytes!",
            config.banks.iter().map(|b| b.id.as_str()),
        );
        let issuer = Issuer::open(db, ledger, vault, config, keys)
            .await
            .expect("issuer");
        let mut pans = Vec::new();
        for _ in 0..CARDS {
            let mut r = IssueCard::new("01020000", Product::Debit, "BENCH", 1_000_000_000_000);
            r.limits = Some(Limits {
                single_transaction: 1_000_000,
                daily: i64::MAX / 4,
                velocity_count: u32::MAX,
                velocity_window_secs: 1,
                no_cvm_limit: 1_000_000,
            });
            pans.push(issuer.issue(r).await.expect("card").pan);
        }
        (issuer, Arc::new(pans))
    });
    let stan = Arc::new(AtomicU32::new(1));
    let mut group = c.benchmark_group("issuer");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(1));
    group.bench_function("authorize_0100_durable", |b| {
        b.iter_custom(|iters| {
            let issuer = issuer.clone();
            let pans = pans.clone();
            let stan = stan.clone();
            rt.block_on(async move {
                let start = Instant::now();
                let sem = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
                let mut tasks = Vec::with_capacity(iters as usize);
                for _ in 0..iters {
                    let s = stan.fetch_add(1, Ordering::Relaxed);
                    let Some(pan) = pans.get(s as usize % pans.len()) else {
                        continue;
                    };
                    let m = request(pan, s);
                    let issuer = issuer.clone();
                    let Ok(permit) = sem.clone().acquire_owned().await else {
                        break;
                    };
                    tasks.push(tokio::spawn(async move {
                        let r = issuer.authorize(&m).await;
                        drop(permit);
                        r
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, authorize);
criterion_main!(benches);
