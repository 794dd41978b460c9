//! The gate's secure access module (PSAM): derives a card's purchase key from the
//! operator's master purchase key, computes MAC1, verifies the card's MAC2 and
//! keeps the terminal transaction sequence (which never repeats). A member
//! gate's SAM also holds the T-Union master purchase key (JT/T 978), used
//! under [`TUNION_KEY_INDEX`] for a member card of another city.

use subtle::ConstantTimeEq;

use crate::card::{KEY_INDEX, TUNION_KEY_INDEX, purchase_mac1_input};
use crate::crypto::{self, MAC_LEN, PurseKey, SessionKey};
use crate::records::{DateTime, SERIAL_LEN, TERMINAL_ID_LEN};

/// Last usable terminal sequence: it never wraps, the SAM stops here.
pub const TERMINAL_SEQ_LIMIT: u32 = u32::MAX;

/// Why the SAM refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SamError {
    /// The terminal sequence is exhausted.
    #[error("terminal sequence exhausted")]
    SequenceExhausted,
    /// No purchase in progress.
    #[error("no purchase in progress")]
    NoSession,
    /// The card's MAC2 does not verify.
    #[error("card MAC2 invalid")]
    Mac2Invalid,
    /// The SAM holds no master purchase key of this key index.
    #[error("no purchase key of index {0:02x} in the SAM")]
    NoKey(u8),
}

/// What the card answered to INITIALIZE FOR PURCHASE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PurchaseInit {
    /// Balance before.
    pub balance: u32,
    /// Offline counter the purchase uses.
    pub offline_counter: u16,
    /// Card random.
    pub random: [u8; 4],
}

impl PurchaseInit {
    /// Parses the 15-byte answer (without status word).
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != 15 {
            return None;
        }
        Some(Self {
            balance: u32::from_be_bytes(b[..4].try_into().ok()?),
            offline_counter: u16::from_be_bytes([b[4], b[5]]),
            random: b[11..15].try_into().ok()?,
        })
    }
}

/// The SAM of one gate.
#[derive(Debug)]
pub struct Sam {
    terminal: [u8; TERMINAL_ID_LEN],
    master_purchase: PurseKey,
    tunion_purchase: Option<PurseKey>,
    next_seq: u32,
    session: Option<(SessionKey, u32)>,
}

impl Sam {
    /// A SAM with its terminal id, master purchase key and next sequence number
    /// (restored from the gate's store).
    pub fn new(terminal: [u8; TERMINAL_ID_LEN], master_purchase: PurseKey, next_seq: u32) -> Self {
        Self {
            terminal,
            master_purchase,
            tunion_purchase: None,
            next_seq,
            session: None,
        }
    }

    /// The same SAM holding the T-Union master purchase key too (a gate of
    /// a member operator).
    pub fn with_tunion(mut self, tunion_purchase: PurseKey) -> Self {
        self.tunion_purchase = Some(tunion_purchase);
        self
    }

    /// The master purchase key of `key_index`, if the SAM holds it.
    fn master(&self, key_index: u8) -> Result<&PurseKey, SamError> {
        match key_index {
            KEY_INDEX => Ok(&self.master_purchase),
            TUNION_KEY_INDEX => self
                .tunion_purchase
                .as_ref()
                .ok_or(SamError::NoKey(key_index)),
            _ => Err(SamError::NoKey(key_index)),
        }
    }

    /// The terminal id.
    pub fn terminal(&self) -> [u8; TERMINAL_ID_LEN] {
        self.terminal
    }

    /// The next terminal sequence number (persist it with the transaction).
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    /// Starts a purchase under the card's own city's key: takes a sequence
    /// number and returns it with MAC1.
    pub fn mac1(
        &mut self,
        serial: &[u8; SERIAL_LEN],
        init: &PurchaseInit,
        amount: u32,
        type_id: u8,
        at: &DateTime,
    ) -> Result<(u32, [u8; MAC_LEN]), SamError> {
        self.mac1_with(KEY_INDEX, serial, init, (amount, type_id), at)
    }

    /// Starts a purchase under the master key of `key_index` (the index
    /// the INITIALIZE FOR PURCHASE named): takes a sequence number and
    /// returns it with MAC1.
    pub fn mac1_with(
        &mut self,
        key_index: u8,
        serial: &[u8; SERIAL_LEN],
        init: &PurchaseInit,
        (amount, type_id): (u32, u8),
        at: &DateTime,
    ) -> Result<(u32, [u8; MAC_LEN]), SamError> {
        let key = crypto::derive_card_key(self.master(key_index)?, serial);
        if self.next_seq == TERMINAL_SEQ_LIMIT {
            return Err(SamError::SequenceExhausted);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let sk = crypto::session_key(
            &key,
            crypto::purchase_session_input(init.random, init.offline_counter, seq),
        );
        let mac1 = crypto::mac(
            &sk,
            &purchase_mac1_input(amount, type_id, &self.terminal, at),
        );
        self.session = Some((sk, seq));
        Ok((seq, mac1))
    }

    /// Verifies the card's MAC2 (over the amount) for the current purchase.
    pub fn verify_mac2(&mut self, amount: u32, mac2: &[u8; MAC_LEN]) -> Result<(), SamError> {
        let (sk, _) = self.session.as_ref().ok_or(SamError::NoSession)?;
        let expect = crypto::mac(sk, &amount.to_be_bytes());
        if bool::from(expect.ct_eq(mac2)) {
            Ok(())
        } else {
            Err(SamError::Mac2Invalid)
        }
    }
}
