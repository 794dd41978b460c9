//! The transit stored-value card: a PBOC electronic purse (JR/T 0025) in the
//! China T-Union profile (JT/T 978), with the gate's secure access module and the
//! operator host's side of a load. Sans-IO: bytes in, bytes or typed values out;
//! randomness and persistence are passed in by the caller.
//!
//! * [`command`]: command APDUs parsed into typed commands, status words.
//! * [`crypto`]: per-card keys, session keys, MAC, TAC (RustCrypto `des`).
//! * [`records`]: file layouts (0x15, 0x18, 0x1E) and BCD date-time.
//! * [`card`]: the card application and its persistent [`card::PurseState`].
//! * [`sam`]: the gate's SAM (MAC1, MAC2 check, terminal sequence).
//! * [`host`]: the operator host (load MAC1 check, MAC2, TAC checks).
//! * [`terminal`]: APDU builders and the gate's purchase driver.
#![deny(missing_docs)]

pub mod card;
pub mod command;
pub mod crypto;
pub mod host;
pub mod records;
pub mod sam;
pub mod terminal;

pub use card::{Purse, PurseState};
pub use command::TUNION_AID;
pub use crypto::{CardKeys, MasterKeys, PurseKey, TunionCardKeys, TunionMasterKeys};
