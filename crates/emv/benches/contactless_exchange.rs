//! A full card ↔ kernel contactless exchange (PPSE, SELECT, GPO, READ RECORD,
//! GENERATE AC, DE 55 assembly) through the in-process transport.

use criterion::{Criterion, criterion_group, criterion_main};
use paytap_emv::crypto::derive_icc_mk;
use paytap_emv::*;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let imk = TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210")
        .unwrap_or_else(|_| TdesKey::new([1; 16]));
    let Ok(mk) = derive_icc_mk(&imk, "6212345678901234", 1) else {
        return;
    };
    let (Ok(pan), Ok(exp)) = (TokenPan::new("6212345678901234"), Expiry::new(30, 12)) else {
        return;
    };
    let mut profile = CardProfile::new(
        vec![0xA0, 0, 0, 3, 0x33, 1, 1, 2],
        "PAYTAP",
        pan,
        exp,
        1,
        EmvKey::Tdes(mk),
    );
    profile.requires_cdcvm = false;
    let fresh = || {
        let mut se = SecureElement::new();
        if let Ok(card) = ContactlessCard::new(profile.clone()) {
            let _ = se.add_card(card);
        }
        se
    };
    let mut se = fresh();
    let kernel = Kernel::new(TerminalConfig::default());
    let Ok(date) = TxnDate::parse("261123") else {
        return;
    };
    let txn = Transaction::purchase(12_345, 156, date, [1, 2, 3, 4]);
    c.bench_function("contactless_exchange", |b| {
        b.iter(|| {
            // Keep the ATC far from exhaustion across millions of iterations.
            if se.cards().first().is_some_and(|c| c.atc() > 0xF000) {
                se = fresh();
            }
            let out = kernel.run(&mut DirectTransport(&mut se), black_box(&txn));
            black_box(matches!(out, Ok(Outcome::OnlineRequest { .. })))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
