//! Token service detokenize-and-verify per second: vault lookup, lifecycle,
//! domain, expiry, ARQC verification (EMV Book 2 §8.1) and the
//! group-committed ATC, for taps made by the real card application and
//! kernel. One task per token sends that token's taps in ATC order.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use paytap_emv::card::CardProfile;
use paytap_emv::kernel::{DirectTransport, Kernel, Outcome, TerminalConfig, Transaction, TxnDate};
use paytap_emv::{ContactlessCard, EmvKey, Expiry as CardExpiry, SecureElement, TdesKey, TokenPan};
use paytap_iso8583::{Message, Mti};
use paytap_seal::{DeviceKey, ProvisioningPayload};
use paytap_store::Db;
use paytap_tsp::{ProvisionRequest, TokenKeys, TokenRange, Tsp, TspConfig};
use paytap_types::{Pan, luhn_check_digit};
use paytap_vault::{CardRecord, Expiry, Keyring, Vault};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKENS: usize = 128;
const TAPS_PER_TOKEN: usize = 600;
const ISSUER: &str = "01020000";

fn taps(payload: &ProvisioningPayload, n: usize) -> VecDeque<Message> {
    let yy: u8 = payload
        .expiry_yymm
        .get(..2)
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mm: u8 = payload
        .expiry_yymm
        .get(2..)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let (Ok(mk), Ok(pan), Ok(exp), Ok(aid)) = (
        TdesKey::from_hex(payload.icc_mk_hex.expose()),
        TokenPan::new(payload.token_pan.expose()),
        CardExpiry::new(yy, mm),
        hex::decode(&payload.aid_hex),
    ) else {
        return VecDeque::new();
    };
    let profile = CardProfile::new(aid, "UnionPay", pan, exp, payload.psn, EmvKey::Tdes(mk));
    let mut se = SecureElement::new();
    if ContactlessCard::new(profile)
        .and_then(|c| se.add_card(c))
        .is_err()
    {
        return VecDeque::new();
    }
    let kernel = Kernel::new(TerminalConfig::default());
    let mut out = VecDeque::with_capacity(n);
    for i in 0..n {
        // On-device verification is per transaction.
        se.set_user_verified(true);
        let Ok(date) = TxnDate::parse("261123") else {
            break;
        };
        let txn = Transaction::purchase(100, 156, date, (i as u32).to_be_bytes());
        let Ok(Outcome::OnlineRequest { icc_data, pan, .. }) =
            kernel.run(&mut DirectTransport(&mut se), &txn)
        else {
            break;
        };
        let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
        let _ = m.set(2, pan.expose());
        let _ = m.set_amount(100);
        let _ = m.set_pos_entry_mode("071");
        let _ = m.set_currency(156);
        let _ = m.set_icc_data(&icc_data);
        out.push_back(m);
    }
    out
}

fn detokenize(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (tsp, queues) = rt.block_on(async {
        let db = Db::for_tests().await.expect("db");
        let vault = Vault::open(db.clone(), Keyring::from_single_key([2; 32]))
            .await
            .expect("vault");
        let config = TspConfig {
            ranges: vec![TokenRange::new(ISSUER, "629101", 16).expect("range")],
            atc_window: 1024,
            ..TspConfig::default()
        };
        let tsp = Tsp::open(
            db,
            vault.clone(),
            config,
            TokenKeys::derive(b"bench master secret 32 bytes long", [ISSUER]),
        )
        .await
        .expect("tsp");
        let mut queues = Vec::new();
        for i in 0..TOKENS {
            let body = format!("620101{:09}", i);
            let Some(check) = luhn_check_digit(&body) else {
                continue;
            };
            let Ok(pan) = Pan::parse(&format!("{body}{check}")) else {
                continue;
            };
            let (Ok(exp), Ok(key)) = (Expiry::parse("3012"), DeviceKey::generate()) else {
                continue;
            };
            let Ok(rec) = CardRecord::new(pan, exp, "BENCH") else {
                continue;
            };
            let card = vault.put(rec).await.expect("card");
            let device = format!("dev_{i}");
            let p = tsp
                .provision(ProvisionRequest::wallet_nfc(
                    card.id,
                    ISSUER,
                    "ICBC",
                    "40010075001",
                    device.clone(),
                    key.public(),
                ))
                .await
                .expect("provision");
            let payload =
                ProvisioningPayload::open_with(&key, &device, &p.token_ref, &p.sealed_payload)
                    .expect("payload");
            queues.push(Arc::new(Mutex::new(taps(&payload, TAPS_PER_TOKEN))));
        }
        (tsp, queues)
    });
    let mut group = c.benchmark_group("tsp");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    group.bench_function("detokenize_and_verify", |b| {
        b.iter_custom(|iters| {
            let per = (iters as usize).div_ceil(queues.len().max(1));
            let tsp = tsp.clone();
            let queues = queues.clone();
            rt.block_on(async move {
                let start = Instant::now();
                let mut tasks = Vec::new();
                for q in queues {
                    let tsp = tsp.clone();
                    tasks.push(tokio::spawn(async move {
                        for _ in 0..per {
                            let next = q.lock().ok().and_then(|mut g| g.pop_front());
                            let Some(m) = next else { break };
                            let _ = tsp.detokenize(&m).await;
                        }
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

criterion_group!(benches, detokenize);
criterion_main!(benches);
