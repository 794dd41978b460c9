//! EMV Book 2 symmetric cryptography (Annex A1): ICC master key derivation,
//! common session key derivation, application cryptograms and ARPCs.
//!
//! | function | clause |
//! |---|---|
//! | [`derive_icc_mk_a`] | EMV 4.4 Book 2 A1.4.1 (Option A) |
//! | [`derive_icc_mk_b`] | A1.4.2 (Option B, SHA-1 + decimalisation, PANs > 16 digits) |
//! | [`derive_icc_mk_aes`] | A1.4 for AES: `Z = AES(IMK)[Y]`, `Z ‖ AES(IMK)[Y ⊕ FF..]` for 192/256-bit keys |
//! | [`derive_common_sk_tdes`], [`derive_common_sk_aes`] | A1.3.1 common session key derivation |
//! | [`mac_iso9797_alg3`] | A1.2.1, ISO/IEC 9797-1 MAC algorithm 3, padding method 2 |
//! | [`aes_cmac`] | A1.2.2, NIST SP 800-38B CMAC |
//! | [`generate_ac`] | §8.1 application cryptogram (8 bytes) |
//! | [`arpc_method_1`], [`arpc_method_2`] | §8.2.1, §8.2.2 |
//!
//! AES specifics paytap uses (EMV defines AES variants with 16-byte blocks):
//! * ICC MK: `Y` is the rightmost 16 digits of PAN ‖ PSN as in Option A
//!   (8 bytes), left-padded with 8 zero bytes to one AES block.
//! * Session key: `R = ATC ‖ 00…` (16 bytes), `F1 = R` with byte 3 = `F0`,
//!   `F2` with `0F`; `SK = AES(MK)[F1]` (128-bit) or the leftmost bits of
//!   `AES(MK)[F1] ‖ AES(MK)[F2]`.
//! * ARPC method 1: `AES(SK)[(ARQC ‖ 00×8) ⊕ (ARC ‖ 00×14)]`, leftmost 8 bytes.
//! * ARPC method 2: AES-CMAC over `ARQC ‖ CSU ‖ proprietary data`, leftmost 4 bytes.
//!
//! All ciphers are RustCrypto's `des` and `aes`; CMAC is the `cmac` crate.
//! Verification compares in constant time (`subtle`).

use crate::keys::{AesKey, EmvKey, TdesKey, adjust_odd_parity};
use aes::{Aes128, Aes192, Aes256};
use cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use cmac::{Cmac, Mac};
use des::{Des, TdesEde2};
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Errors for malformed inputs to the EMV cryptographic functions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A PAN that is not 12 to 19 decimal digits.
    #[error("PAN must be 12 to 19 decimal digits")]
    BadPan,
    /// A PAN sequence number above 99.
    #[error("PAN sequence number must be 0 to 99")]
    BadPsn,
    /// Proprietary authentication data longer than 8 bytes (its length).
    #[error("proprietary authentication data is at most 8 bytes, got {0}")]
    PropDataTooLong(usize),
    /// Keys of different algorithms where one family is required.
    #[error("key algorithm mismatch: {0}")]
    KeyMismatch(&'static str),
}

/// Validates a PAN as 12–19 decimal digits.
pub fn validate_pan(pan: &str) -> Result<(), CryptoError> {
    if (12..=19).contains(&pan.len()) && pan.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CryptoError::BadPan)
    }
}

/// Packs an even-length string of decimal digits as BCD.
fn pack_digits(digits: &[u8]) -> Vec<u8> {
    digits
        .chunks(2)
        .map(|c| c.iter().fold(0u8, |acc, d| (acc << 4) | (d - b'0')))
        .collect()
}

/// Rightmost 16 digits of PAN ‖ PSN, left-padded with zeros, as 8 BCD bytes (Option A's Y).
fn option_a_y(pan: &str, psn: u8) -> Result<[u8; 8], CryptoError> {
    validate_pan(pan)?;
    if psn > 99 {
        return Err(CryptoError::BadPsn);
    }
    let mut digits: Vec<u8> = pan.bytes().collect();
    digits.extend_from_slice(format!("{psn:02}").as_bytes());
    let start = digits.len().saturating_sub(16);
    let mut y16 = vec![b'0'; 16usize.saturating_sub(digits.len() - start)];
    y16.extend_from_slice(digits.get(start..).unwrap_or(&[]));
    let packed = pack_digits(&y16);
    let mut y = [0u8; 8];
    y.copy_from_slice(packed.get(..8).ok_or(CryptoError::BadPan)?);
    Ok(y)
}

/// Encrypts one 8-byte block with a double-length TDES key (EDE2).
pub fn tdes_encrypt_block(key: &TdesKey, block: [u8; 8]) -> [u8; 8] {
    let c = TdesEde2::new(&Array::from(*key.expose()));
    let mut b = Array::from(block);
    c.encrypt_block(&mut b);
    let mut out = [0u8; 8];
    out.copy_from_slice(&b);
    out
}

fn aes_encrypt_block(key: &AesKey, block: [u8; 16]) -> [u8; 16] {
    let mut b = Array::from(block);
    let k = key.expose();
    // Lengths are guaranteed 16/24/32 by `AesKey`.
    if let Ok(c) = Aes128::new_from_slice(k) {
        c.encrypt_block(&mut b);
    } else if let Ok(c) = Aes192::new_from_slice(k) {
        c.encrypt_block(&mut b);
    } else if let Ok(c) = Aes256::new_from_slice(k) {
        c.encrypt_block(&mut b);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&b);
    out
}

/// `TDES(key)[a] ‖ TDES(key)[b]`, with one key schedule for both blocks.
fn tdes_encrypt_pair(key: &TdesKey, a: [u8; 8], b: [u8; 8]) -> [u8; 16] {
    let c = TdesEde2::new(&Array::from(*key.expose()));
    let mut out = [0u8; 16];
    for (half, block) in out.chunks_exact_mut(8).zip([a, b]) {
        let mut x = Array::from(block);
        c.encrypt_block(&mut x);
        half.copy_from_slice(&x);
    }
    out
}

fn tdes_derive(imk: &TdesKey, y: [u8; 8]) -> TdesKey {
    let mut k = tdes_encrypt_pair(imk, y, y.map(|b| b ^ 0xFF));
    adjust_odd_parity(&mut k);
    let key = TdesKey::new(k);
    k.zeroize();
    key
}

/// ICC master key, Option A (EMV Book 2 A1.4.1): `Y` = rightmost 16 digits of
/// PAN ‖ PSN; `MK = TDES(IMK)[Y] ‖ TDES(IMK)[Y ⊕ FF…]`, odd parity.
pub fn derive_icc_mk_a(imk: &TdesKey, pan: &str, psn: u8) -> Result<TdesKey, CryptoError> {
    Ok(tdes_derive(imk, option_a_y(pan, psn)?))
}

/// ICC master key, Option B (EMV Book 2 A1.4.2). PANs of 16 digits or fewer
/// use Option A; longer ones hash PAN ‖ PSN (left-padded with a zero digit to
/// an even length) with SHA-1 and decimalise the digest: its decimal digits
/// left to right, then, if fewer than 16, its hex letters A–F as 0–5.
pub fn derive_icc_mk_b(imk: &TdesKey, pan: &str, psn: u8) -> Result<TdesKey, CryptoError> {
    validate_pan(pan)?;
    if pan.len() <= 16 {
        return derive_icc_mk_a(imk, pan, psn);
    }
    if psn > 99 {
        return Err(CryptoError::BadPsn);
    }
    let mut digits = String::with_capacity(22);
    if pan.len() % 2 == 1 {
        digits.push('0');
    }
    digits.push_str(pan);
    digits.push_str(&format!("{psn:02}"));
    let digest = Sha1::digest(pack_digits(digits.as_bytes()));
    let hexd = hex::encode(digest);
    let mut y16: Vec<u8> = hexd.bytes().filter(u8::is_ascii_digit).take(16).collect();
    if y16.len() < 16 {
        let need = 16 - y16.len();
        y16.extend(
            hexd.bytes()
                .filter(|b| (b'a'..=b'f').contains(b))
                .take(need)
                .map(|b| b - b'a' + b'0'),
        );
    }
    let packed = pack_digits(&y16);
    let mut y = [0u8; 8];
    y.copy_from_slice(packed.get(..8).ok_or(CryptoError::BadPan)?);
    Ok(tdes_derive(imk, y))
}

/// ICC master key with the option EMV prescribes for the PAN length
/// (Option A up to 16 digits, Option B beyond).
pub fn derive_icc_mk(imk: &TdesKey, pan: &str, psn: u8) -> Result<TdesKey, CryptoError> {
    derive_icc_mk_b(imk, pan, psn)
}

/// AES ICC master key (see the module table for the exact layout).
pub fn derive_icc_mk_aes(imk: &AesKey, pan: &str, psn: u8) -> Result<AesKey, CryptoError> {
    let y8 = option_a_y(pan, psn)?;
    let mut y = [0u8; 16];
    y[8..].copy_from_slice(&y8);
    Ok(aes_two_block_key(imk, y))
}

fn aes_two_block_key(key: &AesKey, x: [u8; 16]) -> AesKey {
    let mut z = [0u8; 32];
    z[..16].copy_from_slice(&aes_encrypt_block(key, x));
    if key.len() > 16 {
        z[16..].copy_from_slice(&aes_encrypt_block(key, x.map(|b| b ^ 0xFF)));
    }
    let out = AesKey::from_slice(z.get(..key.len()).unwrap_or(&z[..16]));
    z.zeroize();
    // `key.len()` is 16, 24 or 32, so the slice is a valid AES key length.
    out.unwrap_or_else(|_| key.clone())
}

/// EMV common session key derivation for TDES (A1.3.1) with a caller-chosen
/// 8-byte diversification value `r` (normally `ATC ‖ 00×6`).
pub fn derive_common_sk_tdes(mk: &TdesKey, r: [u8; 8]) -> TdesKey {
    let mut f1 = r;
    f1[2] = 0xF0;
    let mut f2 = r;
    f2[2] = 0x0F;
    let mut k = tdes_encrypt_pair(mk, f1, f2);
    adjust_odd_parity(&mut k);
    let key = TdesKey::new(k);
    k.zeroize();
    key
}

/// EMV common session key derivation for AES (A1.3.1, 16-byte `R`).
pub fn derive_common_sk_aes(mk: &AesKey, r: [u8; 16]) -> AesKey {
    let mut f1 = r;
    f1[2] = 0xF0;
    let mut f2 = r;
    f2[2] = 0x0F;
    let mut z = [0u8; 32];
    z[..16].copy_from_slice(&aes_encrypt_block(mk, f1));
    z[16..].copy_from_slice(&aes_encrypt_block(mk, f2));
    let out = AesKey::from_slice(z.get(..mk.len()).unwrap_or(&z[..16]));
    z.zeroize();
    out.unwrap_or_else(|_| mk.clone())
}

/// The AC session key for `atc` (`R = ATC ‖ 00…`), for either algorithm.
pub fn derive_session_key(mk: &EmvKey, atc: u16) -> EmvKey {
    let a = atc.to_be_bytes();
    match mk {
        EmvKey::Tdes(k) => EmvKey::Tdes(derive_common_sk_tdes(k, [a[0], a[1], 0, 0, 0, 0, 0, 0])),
        EmvKey::Aes(k) => {
            let mut r = [0u8; 16];
            r[..2].copy_from_slice(&a);
            EmvKey::Aes(derive_common_sk_aes(k, r))
        }
    }
}

/// ISO/IEC 9797-1 MAC algorithm 3 (retail MAC) with padding method 2 and a
/// double-length key: single-DES CBC-MAC under K1, then the last block is
/// decrypted under K2 and encrypted under K1. Returns the full 8-byte MAC.
pub fn mac_iso9797_alg3(key: &TdesKey, data: &[u8]) -> [u8; 8] {
    let (k1, k2) = key.expose().split_at(8);
    let (Ok(d1), Ok(d2)) = (Des::new_from_slice(k1), Des::new_from_slice(k2)) else {
        // Unreachable: both halves are exactly 8 bytes.
        return [0; 8];
    };
    let mut state = Array::from([0u8; 8]);
    let mut blocks = data.chunks_exact(8);
    for chunk in &mut blocks {
        for (s, d) in state.iter_mut().zip(chunk) {
            *s ^= d;
        }
        d1.encrypt_block(&mut state);
    }
    // Padding method 2: 0x80 then zeros to the block boundary (always adds a byte).
    let rem = blocks.remainder();
    let mut last = [0u8; 8];
    last[..rem.len()].copy_from_slice(rem);
    last[rem.len()] = 0x80;
    for (s, d) in state.iter_mut().zip(last.iter()) {
        *s ^= d;
    }
    d1.encrypt_block(&mut state);
    d2.decrypt_block(&mut state);
    d1.encrypt_block(&mut state);
    let mut out = [0u8; 8];
    out.copy_from_slice(&state);
    out
}

/// AES-CMAC (NIST SP 800-38B) for 128/192/256-bit keys; the full 16-byte tag.
pub fn aes_cmac(key: &AesKey, data: &[u8]) -> [u8; 16] {
    fn run<M: Mac + KeyInit>(k: &[u8], data: &[u8]) -> [u8; 16] {
        let mut out = [0u8; 16];
        if let Ok(mut m) = <M as KeyInit>::new_from_slice(k) {
            m.update(data);
            let tag = m.finalize().into_bytes();
            let n = tag.len().min(16);
            out[..n].copy_from_slice(&tag[..n]);
        }
        out
    }
    let k = key.expose();
    match k.len() {
        16 => run::<Cmac<Aes128>>(k, data),
        24 => run::<Cmac<Aes192>>(k, data),
        _ => run::<Cmac<Aes256>>(k, data),
    }
}

/// Application cryptogram (ARQC/TC/AAC) over `data` with the AC session key:
/// MAC algorithm 3 for TDES, AES-CMAC truncated to 8 bytes for AES.
pub fn generate_ac(session_key: &EmvKey, data: &[u8]) -> [u8; 8] {
    match session_key {
        EmvKey::Tdes(k) => mac_iso9797_alg3(k, data),
        EmvKey::Aes(k) => {
            let t = aes_cmac(k, data);
            let mut out = [0u8; 8];
            out.copy_from_slice(&t[..8]);
            out
        }
    }
}

/// Recomputes the cryptogram and compares it with `ac` in constant time.
pub fn verify_ac(session_key: &EmvKey, data: &[u8], ac: &[u8]) -> bool {
    let expect = generate_ac(session_key, data);
    bool::from(expect.as_slice().ct_eq(ac))
}

/// ARPC method 1 (EMV Book 2 §8.2.1): `ARPC = E(SK)[ARQC ⊕ (ARC ‖ 00…)]`.
pub fn arpc_method_1(session_key: &EmvKey, arqc: [u8; 8], arc: [u8; 2]) -> [u8; 8] {
    match session_key {
        EmvKey::Tdes(k) => {
            let mut x = arqc;
            x[0] ^= arc[0];
            x[1] ^= arc[1];
            tdes_encrypt_block(k, x)
        }
        EmvKey::Aes(k) => {
            let mut x = [0u8; 16];
            x[..8].copy_from_slice(&arqc);
            x[0] ^= arc[0];
            x[1] ^= arc[1];
            let e = aes_encrypt_block(k, x);
            let mut out = [0u8; 8];
            out.copy_from_slice(&e[..8]);
            out
        }
    }
}

/// ARPC method 2 (EMV Book 2 §8.2.2): a 4-byte MAC over
/// `ARQC ‖ CSU ‖ proprietary authentication data (0–8 bytes)`.
pub fn arpc_method_2(
    session_key: &EmvKey,
    arqc: [u8; 8],
    csu: [u8; 4],
    prop: &[u8],
) -> Result<[u8; 4], CryptoError> {
    if prop.len() > 8 {
        return Err(CryptoError::PropDataTooLong(prop.len()));
    }
    let mut data = Vec::with_capacity(20);
    data.extend_from_slice(&arqc);
    data.extend_from_slice(&csu);
    data.extend_from_slice(prop);
    let mac = generate_ac(session_key, &data);
    Ok([mac[0], mac[1], mac[2], mac[3]])
}

/// Constant-time equality of two byte strings (for ARPC checks on the card side).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }
    fn imk() -> TdesKey {
        TdesKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap()
    }

    // pyemv documentation examples (kd.py / ac.py / mac.py docstrings).
    #[test]
    fn pyemv_doc_vectors() {
        let mk = derive_icc_mk_a(&imk(), "99012345678901234", 45).unwrap();
        assert_eq!(
            hex::encode_upper(mk.expose()),
            "67F8292358083E5EA7AB7FDA58D53B6B"
        );
        let mk = derive_icc_mk_a(&imk(), "12345678901234567", 1).unwrap();
        assert_eq!(
            hex::encode_upper(mk.expose()),
            "73AD54688CEF2934B0979857E3C719F1"
        );
        let mk = derive_icc_mk_b(&imk(), "12345678901234567", 1).unwrap();
        assert_eq!(
            hex::encode_upper(mk.expose()),
            "AD406D7F6D7570916D75E5DCAB8CF737"
        );
        let sk = derive_common_sk_tdes(&imk(), [0x00, 0x1C, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            hex::encode_upper(sk.expose()),
            "E9FB384AF807B940FEDCEA613461B0C4"
        );
    }

    #[test]
    fn aes_cmac_nist_sp800_38b() {
        let k128 = AesKey::from_slice(&h("2b7e151628aed2a6abf7158809cf4f3c")).unwrap();
        let m = h(
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
        );
        assert_eq!(
            hex::encode(aes_cmac(&k128, &[])),
            "bb1d6929e95937287fa37d129b756746"
        );
        assert_eq!(
            hex::encode(aes_cmac(&k128, &m[..16])),
            "070a16b46b4d4144f79bdd9dd04a287c"
        );
        assert_eq!(
            hex::encode(aes_cmac(&k128, &m[..40])),
            "dfa66747de9ae63030ca32611497c827"
        );
        assert_eq!(
            hex::encode(aes_cmac(&k128, &m)),
            "51f0bebf7e3b9d92fc49741779363cfe"
        );
        let k192 =
            AesKey::from_slice(&h("8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b")).unwrap();
        assert_eq!(
            hex::encode(aes_cmac(&k192, &[])),
            "d17ddf46adaacde531cac483de7a9367"
        );
        assert_eq!(
            hex::encode(aes_cmac(&k192, &m)),
            "a1d5df0eed790f794d77589659f39a11"
        );
        let k256 = AesKey::from_slice(&h(
            "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        ))
        .unwrap();
        assert_eq!(
            hex::encode(aes_cmac(&k256, &[])),
            "028962f61b7bf89efc6b551f4667d983"
        );
        assert_eq!(
            hex::encode(aes_cmac(&k256, &m)),
            "e1992190549f6ed5696a2c056c315410"
        );
    }

    #[test]
    fn retail_mac_alg3_pyemv_ac_vectors() {
        // pyemv ac.py docstring: generate_ac / generate_arpc_1 / generate_arpc_2.
        let sk = EmvKey::Tdes(TdesKey::from_hex("29B33180E567CE38EA4CBC9D753B0E61").unwrap());
        let arqc = generate_ac(&sk, &h("0123456789ABCDEF0123456789ABCDEF"));
        assert_eq!(hex::encode_upper(arqc), "FA624250B008B59A");
        assert_eq!(
            hex::encode_upper(arpc_method_1(&sk, arqc, [0, 0])),
            "45D4255EEF10C920"
        );
        assert_eq!(
            hex::encode_upper(arpc_method_2(&sk, arqc, [0; 4], &[]).unwrap()),
            "CB56FA40"
        );
        // Padding method 2 always pads: an 8-byte message takes two blocks.
        assert_ne!(
            mac_iso9797_alg3(&imk(), &[0u8; 8]),
            mac_iso9797_alg3(&imk(), &[0u8; 7])
        );
    }

    #[test]
    fn ac_and_arpc_roundtrip() {
        let sk = EmvKey::Tdes(TdesKey::from_hex("29B33180E567CE38EA4CBC9D753B0E61").unwrap());
        let data = h("0123456789ABCDEF0123456789ABCDEF");
        let ac = generate_ac(&sk, &data);
        assert!(verify_ac(&sk, &data, &ac));
        assert!(!verify_ac(&sk, &data[1..], &ac));
        let a1 = arpc_method_1(&sk, ac, [0, 0]);
        assert_ne!(a1, arpc_method_1(&sk, ac, [0x30, 0x30]));
        assert!(arpc_method_2(&sk, ac, [0; 4], &[0; 9]).is_err());
        assert!(derive_icc_mk_a(&imk(), "12345", 1).is_err());
        assert!(derive_icc_mk_a(&imk(), "1234567890123456", 100).is_err());
        assert!(derive_icc_mk_a(&imk(), "12345678901234x6", 1).is_err());
    }

    #[test]
    fn aes_paths() {
        let imk = AesKey::from_slice(&[0x11; 16]).unwrap();
        let mk = derive_icc_mk_aes(&imk, "4761739001010119", 1).unwrap();
        assert_eq!(mk.len(), 16);
        let imk32 = AesKey::from_slice(&[0x22; 32]).unwrap();
        let mk32 = derive_icc_mk_aes(&imk32, "4761739001010119", 1).unwrap();
        assert_eq!(mk32.len(), 32);
        let sk1 = derive_session_key(&EmvKey::Aes(mk.clone()), 1);
        let sk2 = derive_session_key(&EmvKey::Aes(mk), 2);
        assert_ne!(sk1, sk2);
        let ac = generate_ac(&sk1, b"data");
        assert!(verify_ac(&sk1, b"data", &ac));
        assert!(!verify_ac(&sk2, b"data", &ac));
    }
}
