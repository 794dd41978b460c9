//! The operator host's side of an online load: verifies the card's MAC1, makes
//! MAC2 (only once the payment for the load is approved), verifies the TAC.

use subtle::ConstantTimeEq;

use crate::card::{load_mac1_input, load_mac2_input, load_tac_input, purchase_tac_input};
use crate::crypto::{self, MAC_LEN, MasterKeys, SessionKey};
use crate::records::{DateTime, SERIAL_LEN, TERMINAL_ID_LEN};

/// Why the host refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The INITIALIZE FOR LOAD answer has the wrong length.
    #[error("malformed INITIALIZE FOR LOAD answer")]
    Malformed,
    /// The card's MAC1 does not verify.
    #[error("card MAC1 invalid")]
    Mac1Invalid,
    /// The TAC does not verify.
    #[error("TAC invalid")]
    TacInvalid,
}

/// What the card answered to INITIALIZE FOR LOAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadInit {
    /// Balance before.
    pub balance: u32,
    /// Online counter the load uses.
    pub online_counter: u16,
    /// Card random.
    pub random: [u8; 4],
    /// Card MAC1.
    pub mac1: [u8; MAC_LEN],
}

impl LoadInit {
    /// Parses the 16-byte answer (without status word).
    pub fn decode(b: &[u8]) -> Result<Self, HostError> {
        let b: &[u8; 16] = b.try_into().map_err(|_| HostError::Malformed)?;
        Ok(Self {
            balance: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            online_counter: u16::from_be_bytes([b[4], b[5]]),
            random: [b[8], b[9], b[10], b[11]],
            mac1: [b[12], b[13], b[14], b[15]],
        })
    }
}

/// A verified load, waiting for its payment.
#[derive(Debug)]
pub struct LoadSession {
    sk: SessionKey,
    serial: [u8; SERIAL_LEN],
    init: LoadInit,
    amount: u32,
    terminal: [u8; TERMINAL_ID_LEN],
}

impl LoadSession {
    /// The balance the card will hold after the load.
    pub fn new_balance(&self) -> u32 {
        self.init.balance.saturating_add(self.amount)
    }

    /// MAC2 for CREDIT FOR LOAD at the host's date-time.
    pub fn mac2(&self, at: &DateTime) -> [u8; MAC_LEN] {
        crypto::mac(&self.sk, &load_mac2_input(self.amount, &self.terminal, at))
    }
}

/// The operator host holding the master keys.
#[derive(Debug)]
pub struct Host {
    keys: MasterKeys,
}

impl Host {
    /// A host with the operator's master keys.
    pub fn new(keys: MasterKeys) -> Self {
        Self { keys }
    }

    /// Verifies the card's MAC1 of a load request.
    pub fn begin_load(
        &self,
        serial: &[u8; SERIAL_LEN],
        init: LoadInit,
        amount: u32,
        terminal: [u8; TERMINAL_ID_LEN],
    ) -> Result<LoadSession, HostError> {
        let key = crypto::derive_card_key(&self.keys.load, serial);
        let sk = crypto::session_key(
            &key,
            crypto::load_session_input(init.random, init.online_counter),
        );
        let expect = crypto::mac(&sk, &load_mac1_input(init.balance, amount, &terminal));
        if !bool::from(expect.ct_eq(&init.mac1)) {
            return Err(HostError::Mac1Invalid);
        }
        Ok(LoadSession {
            sk,
            serial: *serial,
            init,
            amount,
            terminal,
        })
    }

    /// Verifies the TAC the card returned for a completed load.
    pub fn verify_load_tac(
        &self,
        s: &LoadSession,
        at: &DateTime,
        tac: &[u8; MAC_LEN],
    ) -> Result<(), HostError> {
        let key = crypto::derive_card_key(&self.keys.tac, &s.serial);
        let data = load_tac_input(
            s.new_balance(),
            s.init.online_counter,
            s.amount,
            &s.terminal,
            at,
        );
        ct_check(&crypto::tac(&key, &data), tac)
    }

    /// Verifies the TAC of an uploaded purchase record.
    #[allow(clippy::too_many_arguments)]
    pub fn verify_purchase_tac(
        &self,
        serial: &[u8; SERIAL_LEN],
        amount: u32,
        type_id: u8,
        terminal: &[u8; TERMINAL_ID_LEN],
        terminal_seq: u32,
        at: &DateTime,
        tac: &[u8; MAC_LEN],
    ) -> Result<(), HostError> {
        let key = crypto::derive_card_key(&self.keys.tac, serial);
        let data = purchase_tac_input(amount, type_id, terminal, terminal_seq, at);
        ct_check(&crypto::tac(&key, &data), tac)
    }
}

fn ct_check(expect: &[u8; MAC_LEN], got: &[u8; MAC_LEN]) -> Result<(), HostError> {
    if bool::from(expect.ct_eq(got)) {
        Ok(())
    } else {
        Err(HostError::TacInvalid)
    }
}
