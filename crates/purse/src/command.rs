//! Parses command APDUs into the purse's typed commands.
//!
//! Every malformed command maps to a status word ([`Sw`]); the parser never panics
//! (it has a fuzz target, `fuzz/fuzz_targets/purse_command.rs`).

use paytap_apdu::{CommandView, StatusWord};

use crate::records::{DateTime, TERMINAL_ID_LEN, TRIP_RECORD_LEN};

/// The China T-Union application identifier (JT/T 978), listed in `2PAY.SYS.DDF01`.
pub const TUNION_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x06, 0x32, 0x01, 0x01, 0x05];
/// Short file identifier of the public application data.
pub const SFI_PUBLIC: u8 = 0x15;
/// Short file identifier of the purse log.
pub const SFI_LOG: u8 = 0x18;
/// Short file identifier of the trip records (compound application data).
pub const SFI_TRIPS: u8 = 0x1E;
/// Smallest SFI-based P1 of READ BINARY (bit 8 set: P1 carries an SFI).
const READ_BINARY_SFI_FLAG: u8 = 0x80;
/// P2 low bits of READ RECORD meaning "P1 is a record number".
const READ_RECORD_BY_NUMBER: u8 = 0x04;
/// Length of INITIALIZE FOR LOAD / PURCHASE data: key index(1) ‖ amount(4) ‖ terminal(6).
pub const INIT_DATA_LEN: usize = 11;
/// Length of CREDIT FOR LOAD data: date(4) ‖ time(3) ‖ MAC2(4).
pub const CREDIT_DATA_LEN: usize = 11;
/// Length of DEBIT FOR PURCHASE data: terminal sequence(4) ‖ date(4) ‖ time(3) ‖ MAC1(4).
pub const DEBIT_DATA_LEN: usize = 15;
/// Length of GET TRANSACTION PROVE data: the transaction's counter(2).
pub const PROVE_DATA_LEN: usize = 2;

/// A status word the purse answers with.
pub type Sw = StatusWord;

/// Purse-specific status words (PBOC / JR/T 0025 §"response codes").
pub mod sw {
    use super::Sw;
    /// MAC invalid.
    pub const MAC_INVALID: Sw = Sw::new(0x93, 0x02);
    /// Insufficient balance (or a load above the maximum balance).
    pub const INSUFFICIENT_BALANCE: Sw = Sw::new(0x94, 0x01);
    /// Key index not supported.
    pub const KEY_INDEX_NOT_SUPPORTED: Sw = Sw::new(0x94, 0x03);
    /// The requested MAC/TAC is not available (GET TRANSACTION PROVE).
    pub const PROVE_UNAVAILABLE: Sw = Sw::new(0x94, 0x06);
    /// Persisting the purse's state failed; nothing changed.
    pub const MEMORY_FAILURE: Sw = Sw::new(0x65, 0x81);
}

/// Which initialize-for-purchase variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PurchaseKind {
    /// Plain purchase (`80 50 01 02`), type 06.
    Simple,
    /// Compound (CAPP) purchase (`80 50 03 02`), type 09, with trip-record update.
    Compound,
}

/// The data of INITIALIZE FOR LOAD / PURCHASE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Init {
    /// Key index (the card holds one: 1).
    pub key_index: u8,
    /// Amount in minor units.
    pub amount: u32,
    /// Terminal id.
    pub terminal: [u8; TERMINAL_ID_LEN],
}

/// A parsed purse command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// SELECT by DF name.
    Select {
        /// The AID.
        aid: Vec<u8>,
    },
    /// READ BINARY of a file by SFI.
    ReadBinary {
        /// Short file identifier.
        sfi: u8,
        /// Offset.
        offset: u8,
        /// Le (0 = all).
        le: usize,
    },
    /// READ RECORD by number.
    ReadRecord {
        /// Short file identifier.
        sfi: u8,
        /// Record number, 1 = newest.
        record: u8,
    },
    /// GET BALANCE.
    GetBalance,
    /// INITIALIZE FOR LOAD.
    InitLoad(Init),
    /// CREDIT FOR LOAD.
    CreditLoad {
        /// Host date-time.
        at: DateTime,
        /// Host MAC2.
        mac2: [u8; 4],
    },
    /// INITIALIZE FOR PURCHASE (simple or compound).
    InitPurchase(PurchaseKind, Init),
    /// UPDATE CAPP DATA CACHE: the trip record to write with the coming DEBIT.
    UpdateCappCache {
        /// Record number (1).
        record: u8,
        /// Short file identifier (0x1E).
        sfi: u8,
        /// The record.
        data: Vec<u8>,
    },
    /// DEBIT FOR PURCHASE.
    Debit {
        /// Terminal transaction sequence number.
        terminal_seq: u32,
        /// Terminal date-time.
        at: DateTime,
        /// SAM MAC1.
        mac1: [u8; 4],
    },
    /// GET TRANSACTION PROVE.
    Prove {
        /// Transaction type asked for (06 or 09; 02 for a load).
        kind: u8,
        /// The counter the torn transaction used.
        counter: u16,
    },
}

fn exact<const N: usize>(data: &[u8]) -> Result<[u8; N], Sw> {
    data.try_into().map_err(|_| Sw::WRONG_LENGTH)
}

fn init(data: &[u8]) -> Result<Init, Sw> {
    let d: [u8; INIT_DATA_LEN] = exact(data)?;
    let mut terminal = [0u8; TERMINAL_ID_LEN];
    terminal.copy_from_slice(&d[5..]);
    Ok(Init {
        key_index: d[0],
        amount: u32::from_be_bytes([d[1], d[2], d[3], d[4]]),
        terminal,
    })
}

fn date_time(d: &[u8]) -> Result<DateTime, Sw> {
    let date: [u8; 4] = exact(&d[..4])?;
    let time: [u8; 3] = exact(&d[4..7])?;
    DateTime::parse(date, time).ok_or(Sw::WRONG_DATA)
}

fn mac4(d: &[u8]) -> Result<[u8; 4], Sw> {
    exact(d)
}

/// Parses one command APDU; the error is the status word to answer.
pub fn parse(apdu: &[u8]) -> Result<Command, Sw> {
    let c = CommandView::parse(apdu).map_err(|_| Sw::WRONG_LENGTH)?;
    match (c.cla, c.ins) {
        (0x00, 0xA4) => select(&c),
        (0x00, 0xB0) => read_binary(&c),
        (0x00, 0xB2) => read_record(&c),
        (0x80, 0x5C) => get_balance(&c),
        (0x80, 0x50) => initialize(&c),
        (0x80, 0x52) => credit(&c),
        (0x80, 0x54) => debit(&c),
        (0x80, 0xDC) => update_capp(&c),
        (0x80, 0x5A) => prove(&c),
        (0x00 | 0x80, _) => Err(Sw::INS_NOT_SUPPORTED),
        _ => Err(Sw::CLA_NOT_SUPPORTED),
    }
}

fn select(c: &CommandView<'_>) -> Result<Command, Sw> {
    if c.p1 != 0x04 || c.p2 & !0x0C != 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    if c.data.is_empty() || c.data.len() > 16 {
        return Err(Sw::WRONG_LENGTH);
    }
    Ok(Command::Select {
        aid: c.data.to_vec(),
    })
}

fn read_binary(c: &CommandView<'_>) -> Result<Command, Sw> {
    if c.p1 & READ_BINARY_SFI_FLAG == 0 || c.p1 & 0x60 != 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    if !c.data.is_empty() {
        return Err(Sw::WRONG_LENGTH);
    }
    Ok(Command::ReadBinary {
        sfi: c.p1 & 0x1F,
        offset: c.p2,
        le: c.le.map_or(0, |l| l % 256),
    })
}

fn read_record(c: &CommandView<'_>) -> Result<Command, Sw> {
    if c.p1 == 0 || c.p2 & 0x07 != READ_RECORD_BY_NUMBER {
        return Err(Sw::INCORRECT_P1P2);
    }
    if !c.data.is_empty() {
        return Err(Sw::WRONG_LENGTH);
    }
    Ok(Command::ReadRecord {
        sfi: c.p2 >> 3,
        record: c.p1,
    })
}

fn get_balance(c: &CommandView<'_>) -> Result<Command, Sw> {
    if (c.p1, c.p2) != (0x00, 0x02) {
        return Err(Sw::INCORRECT_P1P2);
    }
    if !c.data.is_empty() {
        return Err(Sw::WRONG_LENGTH);
    }
    Ok(Command::GetBalance)
}

fn initialize(c: &CommandView<'_>) -> Result<Command, Sw> {
    match (c.p1, c.p2) {
        (0x00, 0x02) => Ok(Command::InitLoad(init(c.data)?)),
        (0x01, 0x02) => Ok(Command::InitPurchase(PurchaseKind::Simple, init(c.data)?)),
        (0x03, 0x02) => Ok(Command::InitPurchase(PurchaseKind::Compound, init(c.data)?)),
        _ => Err(Sw::INCORRECT_P1P2),
    }
}

fn credit(c: &CommandView<'_>) -> Result<Command, Sw> {
    if (c.p1, c.p2) != (0x00, 0x00) {
        return Err(Sw::INCORRECT_P1P2);
    }
    let d: [u8; CREDIT_DATA_LEN] = exact(c.data)?;
    Ok(Command::CreditLoad {
        at: date_time(&d[..7])?,
        mac2: mac4(&d[7..])?,
    })
}

fn debit(c: &CommandView<'_>) -> Result<Command, Sw> {
    if (c.p1, c.p2) != (0x01, 0x00) {
        return Err(Sw::INCORRECT_P1P2);
    }
    let d: [u8; DEBIT_DATA_LEN] = exact(c.data)?;
    Ok(Command::Debit {
        terminal_seq: u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
        at: date_time(&d[4..11])?,
        mac1: mac4(&d[11..])?,
    })
}

fn update_capp(c: &CommandView<'_>) -> Result<Command, Sw> {
    if c.p1 == 0 || c.p2 & 0x07 != 0 {
        return Err(Sw::INCORRECT_P1P2);
    }
    if c.data.len() != TRIP_RECORD_LEN {
        return Err(Sw::WRONG_LENGTH);
    }
    Ok(Command::UpdateCappCache {
        record: c.p1,
        sfi: c.p2 >> 3,
        data: c.data.to_vec(),
    })
}

fn prove(c: &CommandView<'_>) -> Result<Command, Sw> {
    if c.p1 != 0x00 {
        return Err(Sw::INCORRECT_P1P2);
    }
    let d: [u8; PROVE_DATA_LEN] = exact(c.data)?;
    Ok(Command::Prove {
        kind: c.p2,
        counter: u16::from_be_bytes(d),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Result<Command, u16>) {
        let bytes = hex::decode(input.replace(' ', "")).unwrap();
        assert_eq!(parse(&bytes), expect.map_err(StatusWord), "{input}");
    }

    #[test]
    fn table() {
        let term = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
        let at = DateTime::parse([0x20, 0x11, 0x12, 0x21], [0x21, 0x48, 0x22]).unwrap();
        check(
            "00A4040008A000000632010105",
            Ok(Command::Select {
                aid: TUNION_AID.to_vec(),
            }),
        );
        check("00A4040108A000000632010105", Err(0x6A86));
        check("00A40400", Err(0x6700));
        check(
            "00B0950000",
            Ok(Command::ReadBinary {
                sfi: 0x15,
                offset: 0,
                le: 0,
            }),
        );
        check("00B0150000", Err(0x6A86));
        check(
            "00B201C400",
            Ok(Command::ReadRecord {
                sfi: 0x18,
                record: 1,
            }),
        );
        check("00B200C400", Err(0x6A86));
        check("805C000204", Ok(Command::GetBalance));
        check("805C000104", Err(0x6A86));
        check("805C00020100", Err(0x6700));
        check("805000020C 01 00001000 001122334455 01", Err(0x6700));
        check(
            "805000020B0100001000001122334455 10",
            Ok(Command::InitLoad(Init {
                key_index: 1,
                amount: 0x1000,
                terminal: term,
            })),
        );
        check(
            "805001020B0100000064001122334455 0F",
            Ok(Command::InitPurchase(
                PurchaseKind::Simple,
                Init {
                    key_index: 1,
                    amount: 100,
                    terminal: term,
                },
            )),
        );
        check(
            "805003020B0100000064001122334455 0F",
            Ok(Command::InitPurchase(
                PurchaseKind::Compound,
                Init {
                    key_index: 1,
                    amount: 100,
                    terminal: term,
                },
            )),
        );
        check("805002020B0100000064001122334455", Err(0x6A86));
        check("805001020A01000000640011223344", Err(0x6700));
        check(
            "805200000B 20111221 214822 3A845BF0 04",
            Ok(Command::CreditLoad {
                at,
                mac2: [0x3A, 0x84, 0x5B, 0xF0],
            }),
        );
        check("805200000B 20111321 214822 3A845BF0 04", Err(0x6A80));
        check("805200000A 20111221 214822 3A845B", Err(0x6700));
        check(
            "805401000F 00000001 20111221 214822 01020304 08",
            Ok(Command::Debit {
                terminal_seq: 1,
                at,
                mac1: [1, 2, 3, 4],
            }),
        );
        check(
            "805400000F 00000001 20111221 214822 01020304 08",
            Err(0x6A86),
        );
        check(
            "805A000602 0003 08",
            Ok(Command::Prove {
                kind: 6,
                counter: 3,
            }),
        );
        check("805A000603 000300 08", Err(0x6700));
        check(
            &format!(
                "80DC01F0{:02X}{}",
                TRIP_RECORD_LEN,
                "00".repeat(TRIP_RECORD_LEN)
            ),
            Ok(Command::UpdateCappCache {
                record: 1,
                sfi: 0x1E,
                data: vec![0; TRIP_RECORD_LEN],
            }),
        );
        check("80DC01F00100", Err(0x6700));
        check("80CA000000", Err(0x6D00));
        check("90CA000000", Err(0x6E00));
        check("80", Err(0x6700));
        check("", Err(0x6700));
    }
}
