//! The terminal kernel against a transport returning fuzz-chosen responses:
//! never panics; every run ends in an outcome or a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use paytap_emv::kernel::{TransportError, TxnDate};
use paytap_emv::*;

struct Replay<'a> {
    rest: &'a [u8],
}

impl Transport for Replay<'_> {
    fn transceive(&mut self, _command: &[u8]) -> Result<Vec<u8>, TransportError> {
        // Frames: [len hi][len lo][response bytes...]
        let Some(([hi, lo], tail)) = self.rest.split_first_chunk::<2>() else {
            return Err(TransportError("end of script".into()));
        };
        let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (resp, next) = tail.split_at(n);
        self.rest = next;
        Ok(resp.to_vec())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(date) = TxnDate::parse("261123") else { return };
    let txn = Transaction::purchase(100, 156, date, [1, 2, 3, 4]);
    let _ = Kernel::new(TerminalConfig::default()).run(&mut Replay { rest: data }, &txn);
});
