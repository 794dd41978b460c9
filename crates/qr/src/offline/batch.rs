//! Many codes' signatures checked at once, for the platform's settlement of
//! an uploaded batch: one Ed25519 batch verification (a single
//! multiscalar multiplication) for every code's signature and the platform
//! signature of every certificate not verified before, instead of one
//! verification each.
//!
//! [`verify_codes`] answers, for each code, what [`Certificate::verify`]
//! then [`OfflineCode::verify_signature`] answer. A batch that fails is
//! checked again signature by signature with `verify_strict`, so exactly
//! the bad codes are refused: a forged code never passes, and a good code
//! is never refused because of a neighbour.
//!
//! Strictness. Single verification is strict (RFC 8032 with no malleable
//! signatures: canonical `R` and `S`, neither `R` nor the key of small
//! order, the cofactorless equation). A signature goes into the batch only
//! when its key is not of small order and its `R` is canonical and not one
//! of the eight points of small order (both read from the bytes, without
//! decompressing); `S` is checked canonical by the batch itself; any other
//! signature is checked alone, strictly. The batch then checks the
//! cofactorless equation of each signature under random 128-bit weights,
//! so it accepts exactly what `verify_strict` accepts, except a signature
//! whose `R` or key carries a small-order component on top of a
//! prime-order one: only the holder of the signing key can make one (it
//! satisfies the equation up to that component), and the batch may take it
//! where `verify_strict` would not. No one without the key passes either
//! check.

use std::collections::HashMap;

use ed25519_dalek::{Signature, VerifyingKey};

use super::{
    CERT_DOMAIN, CERT_LEN, CODE_DOMAIN, Certificate, OfflineCode, OfflineError, PUBLIC_KEY_LEN,
    check_content, key_id,
};

/// The y coordinates (little-endian, sign bit clear) of the eight points of
/// small order on Edwards25519: 1 (the identity), p − 1 (order 2), 0 (the
/// two of order 4), and the pair of the four of order 8.
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    hex32("0100000000000000000000000000000000000000000000000000000000000000"),
    hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    hex32("0000000000000000000000000000000000000000000000000000000000000000"),
    hex32("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    hex32("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
];

/// The field prime 2^255 − 19, little-endian: a canonical y is below it.
const FIELD_PRIME: [u8; 32] =
    hex32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");

/// 32 bytes from 64 hex digits, at compile time.
const fn hex32(text: &str) -> [u8; 32] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lowercase hex digit"),
        }
    }
    let t = text.as_bytes();
    assert!(t.len() == 64, "64 hex digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (digit(t[2 * i]) << 4) | digit(t[2 * i + 1]);
        i += 1;
    }
    out
}

/// One signature to check.
struct Item {
    key: VerifyingKey,
    message: Vec<u8>,
    signature: Signature,
}

/// Where a certificate of the batch stands before its signature is checked.
enum CertState {
    /// Verified before (the caller said so), or refused without a signature check.
    Known(Result<(), OfflineError>),
    /// Its platform signature is item `n`.
    Pending(usize),
}

/// Each code's verdict, in order: its certificate's (the platform key, the
/// platform signature, the content rules, as [`Certificate::verify`]), then
/// its own signature's (as [`OfflineCode::verify_signature`]). A
/// certificate for which `verified_before` answers true is not checked
/// again.
pub fn verify_codes(
    codes: &[&OfflineCode],
    platform: &VerifyingKey,
    verified_before: impl Fn(&Certificate) -> bool,
) -> Vec<Result<(), OfflineError>> {
    let mut items = Vec::new();
    let mut certs: HashMap<[u8; CERT_LEN], CertState> = HashMap::new();
    let mut keys: HashMap<[u8; PUBLIC_KEY_LEN], Option<VerifyingKey>> = HashMap::new();
    let mut pending = Vec::with_capacity(codes.len());
    for code in codes {
        let cert = &code.certificate;
        let state = certs
            .entry(cert.encode())
            .or_insert_with(|| cert_state(cert, platform, &verified_before, &mut items));
        if matches!(state, CertState::Known(Err(_))) {
            pending.push(None);
            continue;
        }
        let key = *keys
            .entry(cert.band_key)
            .or_insert_with(|| VerifyingKey::from_bytes(&cert.band_key).ok());
        pending.push(key.map(|key| {
            items.push(Item {
                key,
                message: [CODE_DOMAIN, &code.body()].concat(),
                signature: Signature::from_bytes(&code.signature),
            });
            items.len() - 1
        }));
    }
    let good = check_items(&items);
    codes
        .iter()
        .zip(pending)
        .map(|(code, item)| {
            let cert = &code.certificate;
            match &certs[&cert.encode()] {
                CertState::Known(r) => r.clone(),
                CertState::Pending(n) if good[*n] => check_content(cert),
                CertState::Pending(_) => Err(OfflineError::BadCertificateSignature),
            }?;
            match item {
                Some(n) if good[n] => Ok(()),
                _ => Err(OfflineError::BadCodeSignature),
            }
        })
        .collect()
}

fn cert_state(
    cert: &Certificate,
    platform: &VerifyingKey,
    verified_before: &impl Fn(&Certificate) -> bool,
    items: &mut Vec<Item>,
) -> CertState {
    if cert.platform_key_id != key_id(platform) {
        return CertState::Known(Err(OfflineError::UnknownPlatformKey));
    }
    if verified_before(cert) {
        return CertState::Known(Ok(()));
    }
    items.push(Item {
        key: *platform,
        message: [CERT_DOMAIN, &cert.body()].concat(),
        signature: Signature::from_bytes(&cert.signature),
    });
    CertState::Pending(items.len() - 1)
}

/// Whether each item's signature verifies, strictly: those that may go in
/// the batch together, the others (and all of them when the batch fails)
/// one by one.
fn check_items(items: &[Item]) -> Vec<bool> {
    let (batched, alone): (Vec<usize>, Vec<usize>) =
        (0..items.len()).partition(|&n| fits_batch(&items[n]));
    let mut good = vec![false; items.len()];
    if batch_verifies(items, &batched) {
        for &n in &batched {
            good[n] = true;
        }
    } else {
        for &n in &batched {
            good[n] = verify_alone(&items[n]);
        }
    }
    for n in alone {
        good[n] = verify_alone(&items[n]);
    }
    good
}

fn batch_verifies(items: &[Item], which: &[usize]) -> bool {
    if which.is_empty() {
        return true;
    }
    let messages: Vec<&[u8]> = which.iter().map(|&n| items[n].message.as_slice()).collect();
    let signatures: Vec<Signature> = which.iter().map(|&n| items[n].signature).collect();
    let keys: Vec<VerifyingKey> = which.iter().map(|&n| items[n].key).collect();
    ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
}

fn verify_alone(item: &Item) -> bool {
    item.key
        .verify_strict(&item.message, &item.signature)
        .is_ok()
}

/// A signature the batch may check: its key is not of small order, its `R`
/// is canonical and not of small order (the rules `verify_strict` adds to
/// the equation, module documentation).
fn fits_batch(item: &Item) -> bool {
    let mut y = *item.signature.r_bytes();
    y[31] &= 0x7F;
    !item.key.is_weak() && below_prime(&y) && !SMALL_ORDER_Y.contains(&y)
}

/// `y` (little-endian) is below the field prime.
fn below_prime(y: &[u8; 32]) -> bool {
    for i in (0..32).rev() {
        if y[i] != FIELD_PRIME[i] {
            return y[i] < FIELD_PRIME[i];
        }
    }
    false
}

#[cfg(test)]
mod tests;
