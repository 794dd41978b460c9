//! One ARQC generation (session key + MAC) and one issuer verification, TDES and AES.

use criterion::{Criterion, criterion_group, criterion_main};
use paytap_emv::crypto::{derive_session_key, generate_ac, verify_ac};
use paytap_emv::{AesKey, EmvKey, TdesKey};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let data = [0x5Au8; 38];
    let keys = [
        (
            "arqc_tdes",
            TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").map(EmvKey::Tdes),
        ),
        (
            "arqc_aes128",
            AesKey::from_slice(&[0x11; 16]).map(EmvKey::Aes),
        ),
    ];
    for (name, key) in keys {
        let Ok(mk) = key else { continue };
        c.bench_function(name, |b| {
            let mut atc = 0u16;
            b.iter(|| {
                atc = atc.wrapping_add(1);
                let sk = derive_session_key(&mk, atc);
                let ac = generate_ac(&sk, black_box(&data));
                let sk2 = derive_session_key(&mk, atc);
                black_box(verify_ac(&sk2, &data, &ac))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
