//! Record layouts of the purse's files and BCD date-time.
//!
//! * File 0x15, public application data ([`PublicData`], [`PUBLIC_DATA_LEN`] bytes):
//!   operator id(8) ‖ application type(1) ‖ version(1) ‖ serial(10, bytes 10–19) ‖
//!   valid from(4, BCD YYYYMMDD) ‖ valid to(4) ‖ city code(2) ‖ card type(1) ‖ (30 bytes).
//! * File 0x18, purse log ([`LogRecord`], [`LOG_RECORD_LEN`] = 23 bytes): counter(2) ‖
//!   overdraft(3) ‖ amount(4) ‖ type(1) ‖ terminal(6) ‖ date(4) ‖ time(3).
//! * File 0x1E, trip records ([`TripRecord`], [`TRIP_RECORD_LEN`] bytes): kind(1, 03 entry
//!   / 04 exit) ‖ terminal(6) ‖ date(4) ‖ time(3) ‖ amount(4) ‖ balance(4) ‖ RFU.

/// Length of file 0x15 (public application data).
pub const PUBLIC_DATA_LEN: usize = 30;
/// Length of one purse log record (file 0x18), fixed by PBOC.
pub const LOG_RECORD_LEN: usize = 23;
/// Length of one trip record (file 0x1E).
pub const TRIP_RECORD_LEN: usize = 32;
/// Length of an application serial number (card number), file 0x15 bytes 10–19.
pub const SERIAL_LEN: usize = 10;
/// Length of a terminal id (6 bytes, BCD or binary as the operator chooses).
pub const TERMINAL_ID_LEN: usize = 6;

/// Transaction type: purse load (PBOC "EP load").
pub const TYPE_LOAD: u8 = 0x02;
/// Transaction type: purse purchase.
pub const TYPE_PURCHASE: u8 = 0x06;
/// Transaction type: compound (CAPP) purchase, the metro entry/exit record.
pub const TYPE_COMPOUND: u8 = 0x09;
/// Trip record kind: entry.
pub const TRIP_ENTRY: u8 = 0x03;
/// Trip record kind: exit.
pub const TRIP_EXIT: u8 = 0x04;

/// A BCD date and time as the purse stores them: `YYYYMMDD` and `hhmmss`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DateTime {
    /// Date, 4 BCD bytes `YYYYMMDD`.
    pub date: [u8; 4],
    /// Time, 3 BCD bytes `hhmmss`.
    pub time: [u8; 3],
}

fn bcd_digits_ok(b: &[u8]) -> bool {
    b.iter().all(|x| x >> 4 <= 9 && x & 0x0F <= 9)
}

fn bcd_value(b: u8) -> u8 {
    (b >> 4) * 10 + (b & 0x0F)
}

impl DateTime {
    /// Checks the bytes are BCD and a plausible calendar date and time of day.
    pub fn parse(date: [u8; 4], time: [u8; 3]) -> Option<Self> {
        if !bcd_digits_ok(&date) || !bcd_digits_ok(&time) {
            return None;
        }
        let (month, day) = (bcd_value(date[2]), bcd_value(date[3]));
        let (h, m, s) = (bcd_value(time[0]), bcd_value(time[1]), bcd_value(time[2]));
        let ok = (1..=12).contains(&month) && (1..=31).contains(&day) && h < 24 && m < 60 && s < 60;
        ok.then_some(Self { date, time })
    }

    /// Builds from numbers, `None` if out of range.
    pub fn from_parts(year: u16, month: u8, day: u8, h: u8, m: u8, s: u8) -> Option<Self> {
        if year > 9999 {
            return None;
        }
        let bcd = |v: u8| ((v / 10) << 4) | (v % 10);
        let (yh, yl) = ((year / 100) as u8, (year % 100) as u8);
        if [month, day, h, m, s].iter().any(|v| *v > 99) {
            return None;
        }
        Self::parse(
            [bcd(yh), bcd(yl), bcd(month), bcd(day)],
            [bcd(h), bcd(m), bcd(s)],
        )
    }
}

/// The public application data of file 0x15.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicData {
    /// Issuer / operator identifier.
    pub operator: [u8; 8],
    /// Application serial number (card number), bytes 10–19.
    pub serial: [u8; SERIAL_LEN],
    /// First valid day, BCD `YYYYMMDD` (bytes 20–23).
    pub valid_from: [u8; 4],
    /// Last valid day, BCD `YYYYMMDD` (bytes 24–27).
    pub valid_to: [u8; 4],
    /// City code, BCD (bytes 28–29).
    pub city: [u8; 2],
    /// Card type (adult, student, senior...), carried in byte 8.
    pub card_type: u8,
}

impl PublicData {
    /// The public data of an adult card (type 1) of `operator` in city 1000
    /// (Beijing), valid from 2026-01-01 to 2036-12-31: the one card that the
    /// tests, benches and fuzz targets personalise, written once.
    pub fn adult_card(operator: [u8; 8], serial: [u8; SERIAL_LEN]) -> Self {
        Self {
            operator,
            serial,
            valid_from: [0x20, 0x26, 0x01, 0x01],
            valid_to: [0x20, 0x36, 0x12, 0x31],
            city: [0x10, 0x00],
            card_type: 1,
        }
    }

    /// The file's bytes.
    pub fn encode(&self) -> [u8; PUBLIC_DATA_LEN] {
        let mut b = [0u8; PUBLIC_DATA_LEN];
        b[..8].copy_from_slice(&self.operator);
        b[8] = self.card_type;
        b[9] = 0x01; // application version
        b[10..20].copy_from_slice(&self.serial);
        b[20..24].copy_from_slice(&self.valid_from);
        b[24..28].copy_from_slice(&self.valid_to);
        b[28..30].copy_from_slice(&self.city);
        b
    }

    /// Parses the file's bytes.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != PUBLIC_DATA_LEN {
            return None;
        }
        Some(Self {
            operator: b[..8].try_into().ok()?,
            card_type: b[8],
            serial: b[10..20].try_into().ok()?,
            valid_from: b[20..24].try_into().ok()?,
            valid_to: b[24..28].try_into().ok()?,
            city: b[28..30].try_into().ok()?,
        })
    }
}

/// One purse log record (file 0x18).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// The online (load) or offline (purchase) counter the transaction used.
    pub counter: u16,
    /// Overdraft limit, 3 bytes (always 0: the purse allows none).
    pub overdraft: u32,
    /// Amount in minor units.
    pub amount: u32,
    /// Transaction type: [`TYPE_LOAD`], [`TYPE_PURCHASE`] or [`TYPE_COMPOUND`].
    pub kind: u8,
    /// Terminal id.
    pub terminal: [u8; TERMINAL_ID_LEN],
    /// When.
    pub at: DateTime,
}

impl LogRecord {
    /// The record's 23 bytes.
    pub fn encode(&self) -> [u8; LOG_RECORD_LEN] {
        let mut b = [0u8; LOG_RECORD_LEN];
        b[..2].copy_from_slice(&self.counter.to_be_bytes());
        b[2..5].copy_from_slice(&self.overdraft.to_be_bytes()[1..]);
        b[5..9].copy_from_slice(&self.amount.to_be_bytes());
        b[9] = self.kind;
        b[10..16].copy_from_slice(&self.terminal);
        b[16..20].copy_from_slice(&self.at.date);
        b[20..23].copy_from_slice(&self.at.time);
        b
    }

    /// Parses 23 bytes.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != LOG_RECORD_LEN {
            return None;
        }
        Some(Self {
            counter: u16::from_be_bytes([b[0], b[1]]),
            overdraft: u32::from_be_bytes([0, b[2], b[3], b[4]]),
            amount: u32::from_be_bytes(b[5..9].try_into().ok()?),
            kind: b[9],
            terminal: b[10..16].try_into().ok()?,
            at: DateTime {
                date: b[16..20].try_into().ok()?,
                time: b[20..23].try_into().ok()?,
            },
        })
    }
}

/// One trip record (file 0x1E), written through UPDATE CAPP DATA CACHE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TripRecord {
    /// [`TRIP_ENTRY`] or [`TRIP_EXIT`].
    pub kind: u8,
    /// The gate's terminal id (identifies the station).
    pub terminal: [u8; TERMINAL_ID_LEN],
    /// When.
    pub at: DateTime,
    /// Fare charged with this record (0 at entry for fares by distance).
    pub amount: u32,
    /// Balance after the transaction.
    pub balance: u32,
}

impl TripRecord {
    /// The record's bytes.
    pub fn encode(&self) -> [u8; TRIP_RECORD_LEN] {
        let mut b = [0u8; TRIP_RECORD_LEN];
        b[0] = self.kind;
        b[1..7].copy_from_slice(&self.terminal);
        b[7..11].copy_from_slice(&self.at.date);
        b[11..14].copy_from_slice(&self.at.time);
        b[14..18].copy_from_slice(&self.amount.to_be_bytes());
        b[18..22].copy_from_slice(&self.balance.to_be_bytes());
        b
    }

    /// Parses a record; `None` if the length or kind is wrong.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != TRIP_RECORD_LEN || !matches!(b[0], TRIP_ENTRY | TRIP_EXIT) {
            return None;
        }
        Some(Self {
            kind: b[0],
            terminal: b[1..7].try_into().ok()?,
            at: DateTime {
                date: b[7..11].try_into().ok()?,
                time: b[11..14].try_into().ok()?,
            },
            amount: u32::from_be_bytes(b[14..18].try_into().ok()?),
            balance: u32::from_be_bytes(b[18..22].try_into().ok()?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_check() {
        let check = |d: [u8; 4], t: [u8; 3], ok: bool| {
            assert_eq!(DateTime::parse(d, t).is_some(), ok, "{d:02X?} {t:02X?}")
        };
        check([0x20, 0x11, 0x12, 0x21], [0x21, 0x48, 0x22], true);
        check([0x20, 0x11, 0x13, 0x21], [0x21, 0x48, 0x22], false);
        check([0x20, 0x11, 0x12, 0x00], [0x21, 0x48, 0x22], false);
        check([0x20, 0x1A, 0x12, 0x01], [0x21, 0x48, 0x22], false);
        check([0x20, 0x11, 0x12, 0x01], [0x24, 0x00, 0x00], false);
        check([0x20, 0x11, 0x12, 0x01], [0x23, 0x60, 0x00], false);
        assert_eq!(
            DateTime::from_parts(2011, 12, 21, 21, 48, 22),
            DateTime::parse([0x20, 0x11, 0x12, 0x21], [0x21, 0x48, 0x22])
        );
    }

    #[test]
    fn records_round_trip() {
        let at = DateTime::from_parts(2026, 12, 5, 8, 30, 0).unwrap();
        let r = LogRecord {
            counter: 7,
            overdraft: 0,
            amount: 300,
            kind: TYPE_PURCHASE,
            terminal: [1, 2, 3, 4, 5, 6],
            at,
        };
        assert_eq!(LogRecord::decode(&r.encode()), Some(r));
        let t = TripRecord {
            kind: TRIP_EXIT,
            terminal: [9; 6],
            at,
            amount: 500,
            balance: 1000,
        };
        assert_eq!(TripRecord::decode(&t.encode()), Some(t));
        let p = PublicData::adult_card(*b"BEIJING\0", [1; 10]);
        assert_eq!(PublicData::decode(&p.encode()), Some(p));
        assert_eq!(LogRecord::decode(&[0; 22]), None);
        assert_eq!(TripRecord::decode(&[0; TRIP_RECORD_LEN]), None);
    }
}
