//! Purse cryptography (PBOC electronic purse, JR/T 0025; JT/T 978):
//!
//! * per-card keys: `TDES(master)[D] ‖ TDES(master)[¬D]`, `D` = the right eight
//!   bytes of the application serial number (file 0x15 bytes 10–19);
//! * session (process) keys: `TDES-ECB(card key)[data]`, `data` = random(4) ‖
//!   online counter(2) ‖ `8000` for a load, random(4) ‖ offline counter(2) ‖
//!   terminal sequence (low 2 bytes) for a purchase;
//! * MAC: single-DES CBC-MAC, zero IV, `80 00..` padding, first four bytes;
//! * TAC: the same MAC under the DES key `left half ⊕ right half` of the TAC key.
//!
//! All ciphers are RustCrypto's `des`.

use cipher::{Array, BlockCipherEncrypt, KeyInit};
use des::{Des, TdesEde2};
use paytap_types::Secret;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of a double-length TDES key (master keys, card keys).
pub const KEY_LEN: usize = 16;
/// Length of a DES block, a session key and a session-key input.
pub const BLOCK_LEN: usize = 8;
/// Length of a purse MAC and TAC (the first four bytes of the CBC-MAC).
pub const MAC_LEN: usize = 4;
/// The padding that closes a load session-key input (PBOC: `8000`).
pub const LOAD_SESSION_PAD: [u8; 2] = [0x80, 0x00];

/// A double-length TDES key (master or card key); zeroized on drop, never printed.
#[derive(Clone, Debug, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct PurseKey(Secret<[u8; KEY_LEN]>);

impl PurseKey {
    /// Wraps 16 key bytes.
    pub fn new(bytes: [u8; KEY_LEN]) -> Self {
        Self(Secret::new(bytes))
    }

    /// The key bytes (for persistence in an encrypted store).
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        self.0.expose()
    }
}

/// A single-DES session key; zeroized on drop, never printed.
#[derive(Clone, Debug, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SessionKey(Secret<[u8; BLOCK_LEN]>);

impl SessionKey {
    /// Wraps 8 key bytes.
    pub fn new(bytes: [u8; BLOCK_LEN]) -> Self {
        Self(Secret::new(bytes))
    }

    /// The key bytes.
    pub fn expose(&self) -> &[u8; BLOCK_LEN] {
        self.0.expose()
    }
}

/// `TDES-EDE2(key)[block]`.
pub fn tdes_encrypt(key: &PurseKey, block: [u8; BLOCK_LEN]) -> [u8; BLOCK_LEN] {
    let c = TdesEde2::new(&Array::from(*key.expose()));
    let mut b = Array::from(block);
    c.encrypt_block(&mut b);
    b.into()
}

/// The session (process) key: `TDES-ECB(card key)[data]`.
pub fn session_key(card_key: &PurseKey, data: [u8; BLOCK_LEN]) -> SessionKey {
    SessionKey::new(tdes_encrypt(card_key, data))
}

/// The load session-key input: random(4) ‖ online counter(2) ‖ `8000`.
pub fn load_session_input(random: [u8; 4], online_counter: u16) -> [u8; BLOCK_LEN] {
    let c = online_counter.to_be_bytes();
    let p = LOAD_SESSION_PAD;
    [
        random[0], random[1], random[2], random[3], c[0], c[1], p[0], p[1],
    ]
}

/// The purchase session-key input: random(4) ‖ offline counter(2) ‖ terminal
/// sequence (its low two bytes).
pub fn purchase_session_input(
    random: [u8; 4],
    offline_counter: u16,
    terminal_seq: u32,
) -> [u8; BLOCK_LEN] {
    let c = offline_counter.to_be_bytes();
    let s = terminal_seq.to_be_bytes();
    [
        random[0], random[1], random[2], random[3], c[0], c[1], s[2], s[3],
    ]
}

/// The purse MAC: single-DES CBC-MAC, zero IV, `80 00..` padding (always one
/// `80` byte added), first four bytes.
pub fn mac(key: &SessionKey, data: &[u8]) -> [u8; MAC_LEN] {
    des_cbc_mac(key.expose(), data)
}

/// The TAC: the purse MAC under the DES key `left ⊕ right` of the TAC key.
pub fn tac(tac_key: &PurseKey, data: &[u8]) -> [u8; MAC_LEN] {
    let mut k = [0u8; BLOCK_LEN];
    for (i, b) in k.iter_mut().enumerate() {
        *b = tac_key.expose()[i] ^ tac_key.expose()[i + BLOCK_LEN];
    }
    let out = des_cbc_mac(&k, data);
    k.zeroize();
    out
}

fn des_cbc_mac(key: &[u8; BLOCK_LEN], data: &[u8]) -> [u8; MAC_LEN] {
    let d = Des::new(&Array::from(*key));
    let mut state = Array::from([0u8; BLOCK_LEN]);
    let mut blocks = data.chunks_exact(BLOCK_LEN);
    for chunk in &mut blocks {
        xor_into(&mut state, chunk);
        d.encrypt_block(&mut state);
    }
    let rem = blocks.remainder();
    let mut last = [0u8; BLOCK_LEN];
    last[..rem.len()].copy_from_slice(rem);
    last[rem.len()] = 0x80;
    xor_into(&mut state, &last);
    d.encrypt_block(&mut state);
    [state[0], state[1], state[2], state[3]]
}

fn xor_into(state: &mut [u8], data: &[u8]) {
    for (s, x) in state.iter_mut().zip(data) {
        *s ^= x;
    }
}

/// Derives a per-card key from an operator master key and the application
/// serial number: `TDES(master)[D] ‖ TDES(master)[¬D]`, `D` = its right eight bytes.
pub fn derive_card_key(master: &PurseKey, serial: &[u8; 10]) -> PurseKey {
    let mut d = [0u8; BLOCK_LEN];
    d.copy_from_slice(&serial[2..]);
    let left = tdes_encrypt(master, d);
    let right = tdes_encrypt(master, d.map(|b| !b));
    let mut k = [0u8; KEY_LEN];
    k[..BLOCK_LEN].copy_from_slice(&left);
    k[BLOCK_LEN..].copy_from_slice(&right);
    PurseKey::new(k)
}

/// The operator's three master keys (load, purchase, TAC).
#[derive(Clone, Debug)]
pub struct MasterKeys {
    /// Master load key (DLK).
    pub load: PurseKey,
    /// Master purchase key (DPK).
    pub purchase: PurseKey,
    /// Master TAC key (DTK).
    pub tac: PurseKey,
}

/// One card's three keys, derived from [`MasterKeys`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardKeys {
    /// Card load key.
    pub load: PurseKey,
    /// Card purchase key.
    pub purchase: PurseKey,
    /// Card TAC key.
    pub tac: PurseKey,
}

impl MasterKeys {
    /// Derives the keys of the card with this application serial number.
    pub fn derive(&self, serial: &[u8; 10]) -> CardKeys {
        CardKeys {
            load: derive_card_key(&self.load, serial),
            purchase: derive_card_key(&self.purchase, serial),
            tac: derive_card_key(&self.tac, serial),
        }
    }
}

/// The national T-Union key system's master keys (JT/T 978): a member
/// card carries, beside its city's keys, a purchase key and a TAC key
/// derived from these, so a gate of any member city can debit it and that
/// city's clearing can check its TAC. Loads stay with the issuing city: no
/// T-Union load key.
#[derive(Clone, Debug)]
pub struct TunionMasterKeys {
    /// T-Union master purchase key (what a member gate's SAM holds).
    pub purchase: PurseKey,
    /// T-Union master TAC key (what a member's clearing holds).
    pub tac: PurseKey,
}

/// One member card's T-Union keys, derived from [`TunionMasterKeys`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunionCardKeys {
    /// Card T-Union purchase key.
    pub purchase: PurseKey,
    /// Card T-Union TAC key: the TAC of a purchase under the T-Union key
    /// index is made with it.
    pub tac: PurseKey,
}

impl TunionMasterKeys {
    /// Derives the T-Union keys of the card with this application serial
    /// number (the same derivation as a city's keys).
    pub fn derive(&self, serial: &[u8; 10]) -> TunionCardKeys {
        TunionCardKeys {
            purchase: derive_card_key(&self.purchase, serial),
            tac: derive_card_key(&self.tac, serial),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    fn key() -> PurseKey {
        PurseKey::new(h("11223344556677888877665544332211"))
    }

    #[test]
    fn published_load_vectors() {
        let sk = session_key(&key(), load_session_input(h("11223344"), 0));
        assert_eq!(sk.expose(), &h::<8>("9B1D924E05595603"));
        let mac1 = mac(&sk, &hex::decode("000000000000100001001122334455").unwrap());
        assert_eq!(mac1, h::<4>("2988AE5A"));
        let mac2 = mac(
            &sk,
            &hex::decode("000010000100112233445520111221214822").unwrap(),
        );
        assert_eq!(mac2, h::<4>("3A845BF0"));
    }

    #[test]
    fn published_purchase_session_key() {
        let sk = session_key(&key(), purchase_session_input(h("11223344"), 0, 1));
        assert_eq!(sk.expose(), &h::<8>("003238ABC57659DD"));
    }

    #[test]
    fn tac_uses_left_xor_right() {
        // A TAC key whose halves are equal gives the all-zero DES key.
        let k = PurseKey::new([0x5A; 16]);
        let zero = SessionKey::new([0; 8]);
        assert_eq!(tac(&k, b"abc"), mac(&zero, b"abc"));
    }

    #[test]
    fn padding_always_adds_a_block_on_a_boundary() {
        let sk = SessionKey::new([1; 8]);
        assert_ne!(mac(&sk, &[0; 8]), mac(&sk, &[0; 16][..8]).map(|b| !b));
        assert_ne!(mac(&sk, &[0; 8]), mac(&sk, &[0; 7]));
    }

    #[test]
    fn card_keys_differ_per_card() {
        let m = key();
        let a = derive_card_key(&m, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let b = derive_card_key(&m, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        assert_ne!(a, b);
    }
}
