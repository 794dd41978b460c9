//! `paytap bench qr`: the band's offline code, timed in process: microseconds
//! to make and sign one code (band side, Base64 included) and to parse and
//! verify one at a register (band signature, freshness, counter, limit; the
//! platform's certificate signature too when the register has not verified
//! that certificate before); then the platform's settlement of uploaded
//! band batches (`settled_per_sec`: [`BandAccounts::upload`] on a SQLite
//! file, several registers uploading at once, every operation verified,
//! decided, stored and moved on the ledger) beside the store's raw durable
//! append rate on the same file system (`raw_append_per_sec`, the ledger's
//! group commit batch per commit).

use paytap_qr::offline::{
    BAND_ID_LEN, Band, CODE_LEN, CODE_TEXT_LEN, Certificate, KEY_ID_LEN, Platform,
    RegisterVerifier, SIGNATURE_LEN, public_key_of,
};
use serde::Serialize;
use std::time::Instant;

mod settlement;

/// Most codes one run may make (each is kept in memory until verified).
pub const MAX_CODES: usize = 1_000_000;
/// A band limit no run reaches (every code is for one minor unit).
const BENCH_LIMIT: u64 = u64::MAX / 2;
/// Certificate validity in a run.
const BENCH_VALIDITY_SECS: i64 = 3600;

/// One run's figures, in the shape of `paytap bench auth --json`.
#[derive(Debug, Serialize)]
pub struct QrBenchReport {
    /// Codes made and verified.
    pub codes: usize,
    /// Mean µs to make, sign and Base64 one code.
    pub make_code_us: f64,
    /// Mean µs to parse and verify one code at a register that has verified
    /// the band's certificate before (one Ed25519 verification).
    pub verify_code_us: f64,
    /// Mean µs for a band's first code at a register (two Ed25519
    /// verifications: the certificate's and the code's).
    pub verify_new_band_us: f64,
    /// Bytes of one code, and characters of its Base64 text.
    pub code_bytes: usize,
    pub code_text_chars: usize,
    /// Band operations settled per second at upload.
    pub settled_operations: usize,
    pub settled_per_sec: f64,
    /// The store's raw durable appends per second, same file system.
    pub raw_append_per_sec: f64,
    /// `settled_per_sec / raw_append_per_sec`.
    pub ratio_to_raw_append: f64,
}

impl QrBenchReport {
    pub fn table(&self) -> String {
        format!(
            "band offline codes (Ed25519, in process, {} codes)\n\
             \x20 {:>10.1} µs to make and sign a code ({} bytes, {} Base64 characters)\n\
             \x20 {:>10.1} µs to verify a code at a register (target < 100 µs)\n\
             \x20 {:>10.1} µs for a band's first code there (its certificate verified too)\n\
             upload settlement ({} operations, SQLite file)\n\
             \x20 {:>10.0} operations settled per second\n\
             \x20 {:>10.0} raw durable appends per second (ratio {:.2})\n",
            self.codes,
            self.make_code_us,
            self.code_bytes,
            self.code_text_chars,
            self.verify_code_us,
            self.verify_new_band_us,
            self.settled_operations,
            self.settled_per_sec,
            self.raw_append_per_sec,
            self.ratio_to_raw_append,
        )
    }
}

/// Make `codes` codes with fresh random keys, then verify them all at one
/// register at the time they were made, then each at a register of its own.
pub fn run_qr_bench(codes: usize, now: i64) -> anyhow::Result<QrBenchReport> {
    anyhow::ensure!(
        (1..=MAX_CODES).contains(&codes),
        "--codes must be 1 to {MAX_CODES}"
    );
    let mut secrets = [0u8; 64];
    getrandom::fill(&mut secrets).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    let (platform_secret, band_secret) = secrets.split_at(32);
    let platform = Platform::from_secret(platform_secret.try_into()?);
    let band_secret: &[u8; 32] = band_secret.try_into()?;
    let cert = platform.issue(Certificate {
        platform_key_id: [0; KEY_ID_LEN],
        band_id: [0x42; BAND_ID_LEN],
        serial: 1,
        limit: BENCH_LIMIT,
        currency: 156,
        not_before: now - BENCH_VALIDITY_SECS,
        not_after: now + BENCH_VALIDITY_SECS,
        band_key: public_key_of(band_secret),
        signature: [0; SIGNATURE_LEN],
    })?;
    let mut band = Band::new(band_secret, cert, 1)?;
    let started = Instant::now();
    let texts = (0..codes)
        .map(|_| band.make_code(now, 1).map(|c| c.to_base64()))
        .collect::<Result<Vec<_>, _>>()?;
    let make = started.elapsed();
    let mut register = RegisterVerifier::new(platform.public_key());
    let started = Instant::now();
    for t in &texts {
        register.verify_text(t, now)?;
    }
    let verify = started.elapsed();
    let started = Instant::now();
    for t in &texts {
        RegisterVerifier::new(platform.public_key()).verify_text(t, now)?;
    }
    let verify_new = started.elapsed();
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / codes as f64;
    let (settled_per_sec, raw_append_per_sec) = settlement::measure(codes)?;
    Ok(QrBenchReport {
        codes,
        make_code_us: per(make),
        verify_code_us: per(verify),
        verify_new_band_us: per(verify_new),
        code_bytes: CODE_LEN,
        code_text_chars: CODE_TEXT_LEN,
        settled_operations: codes,
        settled_per_sec,
        raw_append_per_sec,
        ratio_to_raw_append: settled_per_sec / raw_append_per_sec.max(f64::MIN_POSITIVE),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_small_run_verifies_every_code() {
        let r = super::run_qr_bench(20, 1_800_000_000).unwrap();
        assert_eq!(r.codes, 20);
        assert!(r.make_code_us > 0.0 && r.verify_code_us > 0.0 && r.verify_new_band_us > 0.0);
        assert!(r.settled_per_sec > 0.0 && r.raw_append_per_sec > 0.0);
        assert!(super::run_qr_bench(0, 0).is_err());
    }
}
