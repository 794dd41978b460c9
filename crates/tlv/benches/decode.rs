use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    // A typical DE 55 payload.
    let de55 = hex::decode(
        "9F02060000000012349F03060000000000009F1A0207029505000000000\
         05F2A0207029A032611239C01009F370412345678820219809F360200\
         0F9F2608A1B2C3D4E5F607189F2701809F10120110A00003220000000000000000000000FF",
    )
    .unwrap_or_default();
    c.bench_function("tlv_decode_de55_tree", |b| {
        b.iter(|| paytap_tlv::decode(black_box(&de55)))
    });
    c.bench_function("tlv_iter_de55_flat", |b| {
        b.iter(|| {
            paytap_tlv::iter(black_box(&de55))
                .filter(|r| r.is_ok())
                .count()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
