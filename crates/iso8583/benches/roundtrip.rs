//! Encode + decode of a typical 0100 authorization request with DE 55.
use criterion::{Criterion, criterion_group, criterion_main};
use paytap_iso8583::{Message, Mti, Pan};
use std::hint::black_box;

fn typical_0100() -> Message {
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    m.set_pan(&Pan::new("4761739001010010").unwrap()).unwrap();
    m.set_processing_code("000000").unwrap();
    m.set_amount(1234).unwrap();
    m.set_transmission_datetime(11, 23, 9, 30, 0).unwrap();
    m.set_stan(123456).unwrap();
    m.set_local_time(10, 30, 0).unwrap();
    m.set_local_date(11, 23).unwrap();
    m.set_expiry(28, 12).unwrap();
    m.set_merchant_type("5411").unwrap();
    m.set_pos_entry_mode("071").unwrap();
    m.set_pan_sequence_number(1).unwrap();
    m.set_acquirer_id("12345678901").unwrap();
    m.set_rrn("332909123456").unwrap();
    m.set_terminal_id("TERM0001").unwrap();
    m.set_merchant_id("MERCHANT0000001").unwrap();
    m.set_name_location("paytap test shop", "Berlin", "DE")
        .unwrap();
    m.set_currency(978).unwrap();
    let icc = hex::decode(concat!(
        "9F2608C3A1B2D4E5F60718",
        "9F2701809F10120110A00003220000000000000000000000FF",
        "9F37041A2B3C4D",
        "9F3602002A",
        "950500000000009A03261123",
        "9C01005F2A020978",
        "82021980",
        "9F1A020276",
        "9F02060000000012349F03060000000000009F3303E0F0C8"
    ))
    .unwrap();
    m.set_icc_data(&icc).unwrap();
    m
}

fn bench(c: &mut Criterion) {
    let msg = typical_0100();
    let wire = msg.encode();
    c.bench_function("iso8583 0100+DE55 encode", |b| {
        b.iter(|| black_box(&msg).encode())
    });
    c.bench_function("iso8583 0100+DE55 decode", |b| {
        b.iter(|| Message::decode(black_box(&wire)).unwrap())
    });
    c.bench_function("iso8583 0100+DE55 encode+decode", |b| {
        b.iter(|| Message::decode(&black_box(&msg).encode()).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
