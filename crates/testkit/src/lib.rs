//! Helpers that the tests of several crates share, so that each is written
//! once: a log writer that captures what a tracing subscriber prints, and
//! the provisioning payload of a test card.
//!
//! A dev-dependency only; nothing here is built into `paytap`.
#![deny(missing_docs)]

use paytap_seal::ProvisioningPayload;
use std::io::Write;
use std::sync::{Arc, Mutex};
use tracing_subscriber::fmt::MakeWriter;

/// A log writer into a shared buffer: every clone writes to the same one,
/// and [`LogCapture::text`] reads what has been written so far.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// A capture installed as the process-wide subscriber, plain text
    /// (no colours) at `level` and above.
    ///
    /// # Panics
    /// If a process-wide subscriber is already installed: a test binary
    /// that captures logs this way holds one such test.
    pub fn install_global(level: tracing::Level) -> Self {
        let log = Self::default();
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(log.clone())
            .init();
        log
    }

    /// Everything written so far, as text.
    ///
    /// # Panics
    /// If a writer panicked while holding the buffer, or the log is not
    /// UTF-8: either is a broken test.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("log buffer").clone()).expect("UTF-8 log")
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The provisioning payload of a test UnionPay debit token: `token_pan`
/// (expiring 2029-11, PSN 1) whose ICC master key is `icc_mk_hex` (TDES),
/// a CDCVM required above `no_cvm_limit_minor` CNY minor units, for an NFC
/// wallet; the card's last four digits are 1232 at "Bank of Example".
pub fn card_payload(
    token_ref: &str,
    token_pan: &str,
    icc_mk_hex: &str,
    no_cvm_limit_minor: i64,
) -> ProvisioningPayload {
    ProvisioningPayload {
        token_ref: token_ref.into(),
        token_pan: token_pan.into(),
        expiry_yymm: "2911".into(),
        psn: 1,
        aid_hex: "A000000333010101".into(),
        app_label: "UnionPay Debit".into(),
        key_kind: "tdes".into(),
        icc_mk_hex: icc_mk_hex.into(),
        atc_start: 1,
        cdcvm_required: true,
        no_cvm_limit_minor,
        currency_numeric: 156,
        domain: "nfc".into(),
        card_last4: "1232".into(),
        bank_name: "Bank of Example".into(),
    }
}
