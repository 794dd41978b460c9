//! CRC-16/CCITT-FALSE (ISO/IEC 13239 polynomial 0x1021, initial value 0xFFFF, no
//! reflection, no final XOR), as required for the EMVCo MPM CRC in ID "63".

/// CRC-16/CCITT-FALSE of `data`.
pub fn crc16_ccitt_false(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}
