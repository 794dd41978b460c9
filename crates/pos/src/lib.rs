//! # paytap-pos: the contactless POS terminal emulator
//!
//! A terminal ([`TerminalProfile`]: terminal id, merchant id, name, city,
//! country, MCC, acquirer) charges an amount in three steps:
//!
//! 1. **Card.** The paytap-emv [`Kernel`] runs the contactless flow against
//!    any [`Transport`] (the device in-process, or its NFC field over TCP).
//!    The terminal supplies what the sans-IO kernel does not read itself:
//!    the unpredictable number (9F37) from the OS random generator and the
//!    transaction date (9A) from the clock.
//! 2. **Network.** An online request becomes an ISO 8583:1987 `0100`
//!    ([`build_authorization`]: DE 2 token, 3, 4, 7, 11 STAN, 12/13, 14
//!    expiry, 18 MCC, 22 = `071` contactless chip, 23 PSN, 32, 35 track 2
//!    equivalent, 37 RRN, 41, 42, 43, 49, 55 ICC data), sent to the switch
//!    over TCP in 2-byte length-prefixed frames ([`SwitchLink`]). Its `0400`
//!    reversal (DE 90 original data elements) is stored first ([`saf`]);
//!    without a definitive answer the terminal sends it, and keeps resending
//!    it until the switch acknowledges, so no money stays held.
//! 3. **Issuer authentication.** When the `0110` carries tag 91 (ARPC ‖ ARC)
//!    in DE 55, the terminal hands it to the card with EXTERNAL AUTHENTICATE
//!    (EMV Book 3 §6.5.4). An approval whose ARPC the card rejects is
//!    declined and reversed.
//!
//! The terminal asks the card for the owner's verification (TTQ "CVM
//! required") above its no-CVM limit for the currency, the kernel's Reader
//! CVM Required Limit ([`Pos::with_no_cvm_limit`]; by default
//! [`DEFAULT_READER_CVM_LIMIT_CNY_MINOR`](paytap_emv::kernel::DEFAULT_READER_CVM_LIMIT_CNY_MINOR)
//! for CNY).
//!
//! The result is a [`Receipt`]: approved or declined, response code and its
//! meaning, the masked token, the amount, whether the owner was verified
//! ([`Verification`], read from the card's CVR in its IAD, with the
//! terminal's no-CVM limit when a tap went on without it), whether the ARPC
//! was checked, and what became of a reversal (acknowledged, or stored to
//! be resent).

pub mod saf;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use paytap_emv::cryptogram::Iad;
use paytap_emv::kernel::{KernelError, TryAgainReason};
use paytap_emv::{Kernel, Outcome, TerminalConfig, Transaction, Transport, TxnDate};
use paytap_iso8583::mac::{self, AcquirerKey};
use paytap_iso8583::{
    FrameDecoder, Message, Mti, NetworkManagementCode, OriginalData, Pan, ResponseCode,
    encode_frame,
};
use paytap_tlv::tags;
use paytap_types::{Currency, Money};
use serde::Serialize;
use time::OffsetDateTime;

/// Errors that stop a charge before it has an outcome.
#[derive(Debug, thiserror::Error)]
pub enum PosError {
    #[error("card error: {0}")]
    Kernel(#[from] KernelError),
    #[error("the amount must be positive and at most 12 digits")]
    Amount,
    #[error("bad terminal configuration: {0}")]
    Config(String),
    #[error("cannot build the message: {0}")]
    Message(#[from] paytap_iso8583::Error),
    #[error("cannot reach the switch at {addr}: {reason}")]
    Connect { addr: SocketAddr, reason: String },
    #[error("link to the switch failed: {0}")]
    Link(String),
    #[error("the system random number generator failed")]
    Random,
    #[error("the device left the field: {0}")]
    Field(String),
    #[error("reversal store: {0}")]
    Store(String),
}

/// A terminal's identity and configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalProfile {
    /// DE 41, up to 8 characters.
    pub terminal_id: String,
    /// DE 42, up to 15 characters.
    pub merchant_id: String,
    /// DE 43 name (up to 25 characters) and 9F4E.
    pub merchant_name: String,
    /// DE 43 city (up to 13 characters).
    pub city: String,
    /// DE 43 country, ISO 3166 alpha-2.
    pub country_alpha2: String,
    /// 9F1A, ISO 3166 numeric.
    pub country_numeric: u16,
    /// DE 18 and 9F15.
    pub mcc: u16,
    /// DE 32 acquiring institution id (digits).
    pub acquirer_id: String,
}

impl Default for TerminalProfile {
    fn default() -> Self {
        TerminalProfile {
            terminal_id: "PTPOS001".into(),
            merchant_id: "PAYTAPMERCH0001".into(),
            merchant_name: "paytap demo store".into(),
            city: "Beijing".into(),
            country_alpha2: "CN".into(),
            country_numeric: 156,
            mcc: 5411,
            acquirer_id: paytap_types::DEMO_ACQUIRER_ID.into(),
        }
    }
}

impl TerminalProfile {
    /// The kernel configuration for this terminal.
    pub fn kernel_config(&self) -> TerminalConfig {
        let mut serial = [b' '; 8];
        for (d, s) in serial.iter_mut().zip(self.terminal_id.bytes()) {
            *d = s;
        }
        TerminalConfig {
            country: self.country_numeric,
            merchant_name: self.merchant_name.clone(),
            mcc: self.mcc,
            ifd_serial: serial,
            ..TerminalConfig::default()
        }
    }

    fn validate(&self) -> Result<(), PosError> {
        let bad = |m: &str| Err(PosError::Config(m.to_owned()));
        if self.terminal_id.is_empty() || self.terminal_id.len() > 8 {
            return bad("terminal id is 1 to 8 characters");
        }
        if self.merchant_id.is_empty() || self.merchant_id.len() > 15 {
            return bad("merchant id is 1 to 15 characters");
        }
        if self.merchant_name.len() > 25 || self.city.len() > 13 || self.country_alpha2.len() != 2 {
            return bad("merchant name ≤ 25, city ≤ 13, country 2 characters");
        }
        if self.mcc > 9999 {
            return bad("MCC is four digits");
        }
        Ok(())
    }
}

/// Whether the issuer's ARPC was checked by the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArpcCheck {
    /// The card verified the ARPC (EXTERNAL AUTHENTICATE answered 9000).
    Verified,
    /// The card rejected the ARPC.
    Failed,
    /// The response carried no tag 91.
    Absent,
    /// No online authorization took place.
    NotApplicable,
}

impl ArpcCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            ArpcCheck::Verified => "yes (verified by the card)",
            ArpcCheck::Failed => "yes (REJECTED by the card)",
            ArpcCheck::Absent => "no (no ARPC in the response)",
            ArpcCheck::NotApplicable => "no (not sent online)",
        }
    }
}

/// Whether the owner was verified, as the card's cryptogram says (CVR byte
/// 4 in the IAD, tag 9F10): the terminal itself performs no CVM (its CVM
/// results, 9F34, say "no CVM performed"); the device verifies the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// The owner verified on the device (fingerprint or face: CDCVM, CVR
    /// byte 4 b8).
    OwnerVerified,
    /// No verification, and the card still released an ARQC: it does so
    /// only for an amount within its own no-CVM limit (the low-value path;
    /// the issuer checks the same limit) that the terminal did not ask to be
    /// verified (within its Reader CVM Required Limit, TTQ byte 2 b7 clear).
    NoCvmLimit,
    /// The card wanted the owner's verification and had none (CVR byte 4
    /// b7): "see phone".
    Required,
    /// The owner was not verified and the card declined.
    NotVerified,
    /// No cryptogram was read.
    Unknown,
}

impl Verification {
    /// The receipt's words.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::OwnerVerified => "yes, on the device (fingerprint or face, CDCVM)",
            Verification::NoCvmLimit => {
                "no: a low-value tap, within the card's no-CVM limit (no verification needed)"
            }
            Verification::Required => "no: the card needs it (see phone)",
            Verification::NotVerified => "no",
            Verification::Unknown => "unknown (no cryptogram)",
        }
    }

    /// What the card's IAD in `icc_data` says about a cryptogram of
    /// `online` (an ARQC) or not (an AAC).
    fn of_cryptogram(icc_data: &[u8], online: bool) -> Verification {
        let cvr = paytap_tlv::find_flat(icc_data, tags::IAD)
            .ok()
            .flatten()
            .and_then(|iad| Iad::parse(iad).ok())
            .map(|iad| iad.cvr);
        match cvr {
            None => Verification::Unknown,
            Some(c) if c.cdcvm_performed() => Verification::OwnerVerified,
            Some(c) if c.cdcvm_required_not_performed() => Verification::Required,
            Some(_) if online => Verification::NoCvmLimit,
            Some(_) => Verification::NotVerified,
        }
    }
}

/// What the terminal prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    pub approved: bool,
    /// DE 39, when the network answered (or `None` for a card decision).
    pub response_code: Option<String>,
    /// The outcome in words.
    pub meaning: String,
    pub merchant_name: String,
    pub terminal_id: String,
    pub amount: Money,
    /// The token as masked on receipts (first six, last four).
    pub masked_token: Option<String>,
    pub stan: Option<u32>,
    pub rrn: Option<String>,
    pub approval_code: Option<String>,
    /// The application cryptogram (9F26) and its ATC, for the curious.
    pub cryptogram: Option<String>,
    pub atc: Option<u16>,
    /// Whether the owner was verified, and why a tap without it went on.
    pub verification: Verification,
    /// The terminal's no-CVM limit (its Reader CVM Required Limit) for the
    /// sale's currency, in minor units: up to it a tap needs no
    /// verification. `None` when the terminal has none for the currency.
    pub no_cvm_limit_minor: Option<i64>,
    pub arpc: ArpcCheck,
    /// The switch acknowledged this transaction's reversal.
    pub reversed: bool,
    /// A reversal is owed and stored; the terminal resends it until the
    /// switch acknowledges it.
    pub reversal_stored: bool,
}

impl Receipt {
    /// A declined receipt with nothing from the card or the network yet.
    fn blank(profile: &TerminalProfile, amount: Money) -> Receipt {
        Receipt {
            approved: false,
            response_code: None,
            meaning: String::new(),
            merchant_name: profile.merchant_name.clone(),
            terminal_id: profile.terminal_id.clone(),
            amount,
            masked_token: None,
            stan: None,
            rrn: None,
            approval_code: None,
            cryptogram: None,
            atc: None,
            verification: Verification::Unknown,
            no_cvm_limit_minor: None,
            arpc: ArpcCheck::NotApplicable,
            reversed: false,
            reversal_stored: false,
        }
    }

    /// DE 39 (and its meaning) and DE 38 of the network's answer.
    fn read_answer(&mut self, response: &Message) {
        let code = response.response_code();
        self.response_code = response.get_str(39).map(str::to_owned);
        self.meaning = code
            .map(|c| c.description().to_owned())
            .unwrap_or_else(|| "Unknown response code".into());
        self.approval_code = response
            .auth_id_response()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        self.approved = code.is_some_and(ResponseCode::is_approved);
    }

    /// The owner line's words: for a tap without verification within the
    /// terminal's no-CVM limit, the amount and the limit, grouped as the
    /// demo prints money ("12.50 CNY is within the no-CVM limit of
    /// 300.00 CNY").
    pub fn verification_words(&self) -> String {
        let limit = self
            .no_cvm_limit_minor
            .map(|minor| Money::new(minor, self.amount.currency))
            .filter(|limit| self.amount.minor <= limit.minor);
        match (self.verification, limit) {
            (Verification::NoCvmLimit, Some(limit)) => format!(
                "no, not needed: {} is within the no-CVM limit of {}",
                grouped(self.amount),
                grouped(limit)
            ),
            (v, _) => v.as_str().to_owned(),
        }
    }
}

/// `"1,234.50 CNY"`, as the demo prints money.
fn grouped(m: Money) -> String {
    format!("{} {}", m.grouped(), m.currency.code())
}

impl std::fmt::Display for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "------------------------------------------")?;
        writeln!(f, "  {}", self.merchant_name)?;
        writeln!(f, "  terminal {}", self.terminal_id)?;
        writeln!(
            f,
            "  SALE  {} {}",
            self.amount.decimal(),
            self.amount.currency.code()
        )?;
        if let Some(t) = &self.masked_token {
            writeln!(f, "  card  {t} (contactless, token)")?;
        }
        if let (Some(ac), Some(atc)) = (&self.cryptogram, self.atc) {
            writeln!(f, "  cryptogram {ac}  ATC {atc}")?;
        }
        if let Some(s) = self.stan {
            writeln!(
                f,
                "  STAN {s:06}  RRN {}",
                self.rrn.as_deref().unwrap_or("-")
            )?;
        }
        writeln!(
            f,
            "  {}",
            if self.approved {
                "APPROVED"
            } else {
                "DECLINED"
            }
        )?;
        match &self.response_code {
            Some(c) => writeln!(f, "  response {c}: {}", self.meaning)?,
            None => writeln!(f, "  {}", self.meaning)?,
        }
        if let Some(a) = &self.approval_code {
            writeln!(f, "  approval code {a}")?;
        }
        writeln!(f, "  owner verified: {}", self.verification_words())?;
        writeln!(f, "  ARPC checked: {}", self.arpc.as_str())?;
        if self.reversed {
            writeln!(f, "  reversal sent and acknowledged")?;
        }
        if self.reversal_stored {
            writeln!(f, "  reversal stored, will be resent")?;
        }
        write!(f, "------------------------------------------")
    }
}

/// The data of one authorization request, as the terminal numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestIds {
    pub stan: u32,
    pub now: OffsetDateTime,
}

fn track2_string(t2: &[u8]) -> Option<String> {
    let mut s = String::with_capacity(t2.len() * 2);
    for n in t2.iter().flat_map(|b| [b >> 4, b & 0x0F]) {
        match n {
            0..=9 => s.push(char::from(b'0' + n)),
            0x0D => s.push('D'),
            0x0F => break,
            _ => return None,
        }
    }
    Some(s)
}

/// The retrieval reference number: `YDDDhh` + STAN (a common acquirer convention).
pub fn rrn(now: OffsetDateTime, stan: u32) -> String {
    format!(
        "{}{:03}{:02}{:06}",
        now.year() % 10,
        now.ordinal(),
        now.hour(),
        stan % 1_000_000
    )
}

/// Builds the `0100` for an online request (sans-IO).
pub fn build_authorization(
    profile: &TerminalProfile,
    outcome: &Outcome,
    amount: Money,
    ids: RequestIds,
) -> Result<Message, PosError> {
    let Outcome::OnlineRequest {
        icc_data,
        pan,
        track2,
        psn,
        expiry,
        ..
    } = outcome
    else {
        return Err(PosError::Config(
            "only an online request becomes a 0100".into(),
        ));
    };
    let minor = u64::try_from(amount.minor).map_err(|_| PosError::Amount)?;
    let now = ids.now;
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST);
    let p = Pan::new(pan.expose()).map_err(|e| {
        PosError::Message(paytap_iso8583::Error::Field {
            field: 2,
            reason: e,
        })
    })?;
    m.set_pan(&p)?;
    m.set_processing_code("000000")?;
    m.set_amount(minor)?;
    m.set_transmission_datetime_at(now)?;
    m.set_stan(ids.stan)?;
    m.set_local_datetime_at(now)?;
    m.set_expiry(expiry.year(), expiry.month())?;
    m.set_merchant_type(&format!("{:04}", profile.mcc))?;
    m.set_pos_entry_mode("071")?;
    if let Some(psn) = psn {
        m.set_pan_sequence_number(u16::from(*psn))?;
    }
    m.set_acquirer_id(&profile.acquirer_id)?;
    if let Some(t2) = track2_string(track2) {
        m.set_track2(&t2)?;
    }
    m.set_rrn(&rrn(now, ids.stan))?;
    m.set_terminal_id(&profile.terminal_id)?;
    m.set_merchant_id(&profile.merchant_id)?;
    m.set_name_location(
        &profile.merchant_name,
        &profile.city,
        &profile.country_alpha2,
    )?;
    m.set_currency(amount.currency.numeric())?;
    m.set_icc_data(icc_data)?;
    Ok(m)
}

/// Builds the `0400` reversal of `original` (sans-IO).
pub fn build_reversal(original: &Message, ids: RequestIds) -> Result<Message, PosError> {
    let now = ids.now;
    let mut r = Message::new(Mti::REVERSAL_REQUEST);
    for f in [2u8, 3, 4, 14, 22, 23, 32, 37, 41, 42, 43, 49, 55] {
        if let Some(v) = original.get(f) {
            r.set(f, v)?;
        }
    }
    r.set_transmission_datetime_at(now)?;
    r.set_stan(ids.stan)?;
    r.set_local_datetime_at(now)?;
    let od = OriginalData {
        mti: original.mti(),
        stan: original.stan().unwrap_or(0),
        transmission_datetime: original
            .transmission_datetime()
            .unwrap_or("0000000000")
            .to_owned(),
        acquirer_id: original.acquirer_id().unwrap_or("0").to_owned(),
        forwarding_id: "0".into(),
    };
    r.set(90, od.encode()?)?;
    Ok(r)
}

/// A TCP link to the switch's acquirer port (one connection per charge).
/// Once [`SwitchLink::sign_on`] succeeded, every request is signed with the
/// acquirer's key and an answer whose MAC does not verify is treated as no
/// answer.
#[derive(Debug)]
pub struct SwitchLink {
    stream: TcpStream,
    decoder: FrameDecoder,
    key: Option<AcquirerKey>,
}

impl SwitchLink {
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<SwitchLink, PosError> {
        let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| PosError::Connect {
            addr,
            reason: e.to_string(),
        })?;
        // Without TCP_NODELAY small frames only wait longer.
        let _ = stream.set_nodelay(true);
        Ok(SwitchLink {
            stream,
            decoder: FrameDecoder::new(paytap_iso8583::MAX_FRAME),
            key: None,
        })
    }

    /// Sign on as `acquirer_id` with `key` (`0800`, DE 70 `001`, signed):
    /// from then on requests are signed and answers checked.
    pub fn sign_on(
        &mut self,
        terminal_id: &str,
        acquirer_id: &str,
        key: AcquirerKey,
        timeout: Duration,
    ) -> Result<(), PosError> {
        let now = OffsetDateTime::now_utc();
        let mut on = Message::new(Mti::NETWORK_REQUEST);
        on.set_transmission_datetime_at(now)?;
        on.set_stan(new_stan()?)?;
        on.set_acquirer_id(acquirer_id)?;
        on.set_terminal_id(terminal_id)?;
        on.set_network_management_code(NetworkManagementCode::SignOn)?;
        self.key = Some(key);
        match self.exchange(&on, timeout)? {
            Some(a) if a.response_code() == Some(ResponseCode::Approved) => Ok(()),
            Some(a) => Err(PosError::Link(format!(
                "the switch refused the sign-on ({})",
                a.get_str(39).unwrap_or("-")
            ))),
            None => Err(PosError::Link("no answer to the sign-on".into())),
        }
    }

    /// Sends `request` and waits up to `timeout` for its response (same
    /// STAN and terminal). `Ok(None)` on timeout.
    pub fn exchange(
        &mut self,
        request: &Message,
        timeout: Duration,
    ) -> Result<Option<Message>, PosError> {
        let mut signed;
        let request = match &self.key {
            Some(key) => {
                signed = request.clone();
                mac::sign(&mut signed, key);
                &signed
            }
            None => request,
        };
        let mut out = Vec::new();
        encode_frame(&request.encode(), &mut out)?;
        self.stream
            .write_all(&out)
            .map_err(|e| PosError::Link(e.to_string()))?;
        let want = request.mti().response();
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            while let Some(frame) = self
                .decoder
                .next_frame()
                .map_err(|e| PosError::Link(e.to_string()))?
            {
                let Ok(m) = Message::decode(&frame) else {
                    tracing::warn!("undecodable message from the switch ignored");
                    continue;
                };
                if Some(m.mti()) == want
                    && m.stan() == request.stan()
                    && m.terminal_id() == request.terminal_id()
                    && m.get(7) == request.get(7)
                {
                    if let Some(key) = &self.key
                        && mac::verify(&m, key).is_err()
                    {
                        // Treated as no answer: the caller reverses.
                        tracing::warn!("answer from the switch with a bad MAC ignored");
                        continue;
                    }
                    return Ok(Some(m));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| PosError::Link(e.to_string()))?;
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(PosError::Link("the switch closed the connection".into())),
                Ok(n) => self.decoder.push(buf.get(..n).unwrap_or(&[])),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None);
                }
                Err(e) => return Err(PosError::Link(e.to_string())),
            }
        }
    }
}

/// The POS terminal.
#[derive(Debug, Clone)]
pub struct Pos {
    profile: TerminalProfile,
    switch: SocketAddr,
    kernel: Kernel,
    /// How long to wait for the `0110` before reversing.
    pub response_timeout: Duration,
    /// Reversals owed to the switch ([`saf`]).
    saf: saf::ReversalStore,
    /// The acquirer's MAC key: the terminal signs on and signs every
    /// message with it (a switch refuses terminals without one).
    acquirer_key: Option<AcquirerKey>,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], PosError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| PosError::Random)?;
    Ok(b)
}

fn new_stan() -> Result<u32, PosError> {
    Ok(u32::from_be_bytes(random_bytes::<4>()?) % 999_999 + 1)
}

impl Pos {
    pub fn new(profile: TerminalProfile, switch: SocketAddr) -> Result<Pos, PosError> {
        profile.validate()?;
        let kernel = Kernel::new(profile.kernel_config());
        Ok(Pos {
            profile,
            switch,
            kernel,
            response_timeout: Duration::from_secs(10),
            saf: saf::ReversalStore::memory(),
            acquirer_key: None,
        })
    }

    /// Sign on with `key` (the key of the profile's acquirer, DE 32) and
    /// sign every message.
    pub fn with_acquirer_key(mut self, key: AcquirerKey) -> Pos {
        self.acquirer_key = Some(key);
        self
    }

    /// Sets the terminal's no-CVM limit (its Reader CVM Required Limit) for
    /// `limit`'s currency: a tap above it asks the card for the owner's
    /// verification. Refused when negative or longer than DE 4's 12 digits.
    pub fn with_no_cvm_limit(mut self, limit: Money) -> Result<Pos, PosError> {
        let minor = u64::try_from(limit.minor)
            .ok()
            .filter(|m| *m <= paytap_iso8583::MAX_AMOUNT_MINOR)
            .ok_or_else(|| PosError::Config("the no-CVM limit must be 0 to 12 digits".into()))?;
        let mut config = self.kernel.config().clone();
        config.set_reader_cvm_limit(limit.currency.numeric(), minor);
        self.kernel = Kernel::new(config);
        Ok(self)
    }

    /// The terminal's no-CVM limit for `currency`, if it has one.
    pub fn no_cvm_limit(&self, currency: Currency) -> Option<Money> {
        let minor = self.kernel.config().reader_cvm_limit(currency.numeric())?;
        Some(Money::new(i64::try_from(minor).ok()?, currency))
    }

    /// A link to the switch, signed on when the terminal has a key.
    pub(crate) fn link(&self, timeout: Duration) -> Result<SwitchLink, PosError> {
        let mut link = SwitchLink::connect(self.switch, timeout)?;
        if let Some(key) = &self.acquirer_key {
            // No request has left yet: a failed sign-on is the switch not
            // being reached, like a failed connect.
            link.sign_on(
                &self.profile.terminal_id,
                &self.profile.acquirer_id,
                key.clone(),
                timeout,
            )
            .map_err(|e| PosError::Connect {
                addr: self.switch,
                reason: format!("sign-on: {e}"),
            })?;
        }
        Ok(link)
    }

    pub fn profile(&self) -> &TerminalProfile {
        &self.profile
    }

    /// Charges `amount` to the card behind `transport`, with the clock and
    /// the OS random generator.
    pub fn charge<T: Transport>(
        &self,
        transport: &mut T,
        amount: Money,
    ) -> Result<Receipt, PosError> {
        let now = OffsetDateTime::now_utc();
        let un = random_bytes::<4>()?;
        self.charge_with(transport, amount, now, un, new_stan()?)
    }

    /// [`Pos::charge`] with the date, unpredictable number and STAN given.
    pub fn charge_with<T: Transport>(
        &self,
        transport: &mut T,
        amount: Money,
        now: OffsetDateTime,
        unpredictable_number: [u8; 4],
        stan: u32,
    ) -> Result<Receipt, PosError> {
        let txn = kernel_transaction(amount, now, unpredictable_number)?;
        let mut receipt = Receipt::blank(&self.profile, amount);
        receipt.no_cvm_limit_minor = self.no_cvm_limit(amount.currency).map(|m| m.minor);
        self.flush_before_charge();
        let outcome = self.kernel.run(transport, &txn)?;
        if !read_card_outcome(&mut receipt, &outcome)? {
            return Ok(receipt);
        }
        let request =
            build_authorization(&self.profile, &outcome, amount, RequestIds { stan, now })?;
        receipt.stan = Some(stan);
        receipt.rrn = request.rrn().map(str::to_owned);
        self.go_online(transport, &request, &mut receipt)?;
        tracing::info!(terminal = %self.profile.terminal_id, stan, code = receipt.response_code.as_deref().unwrap_or("-"), "charge");
        Ok(receipt)
    }

    /// Sends `request` with its reversal stored first, reads the answer
    /// into `receipt`, has the card check the issuer's authentication, and
    /// settles the stored reversal: dropped on a definitive answer, sent
    /// when no answer came or the card refused the ARPC of an approval.
    fn go_online<T: Transport>(
        &self,
        transport: &mut T,
        request: &Message,
        receipt: &mut Receipt,
    ) -> Result<(), PosError> {
        let mut link = self.link(self.response_timeout)?;
        // The reversal is on storage before the request leaves.
        let reversal = self.reversal_of(request)?;
        let rev_id = self.saf.keep(&reversal)?;
        let response = match link.exchange(request, self.response_timeout) {
            Ok(Some(r)) => r,
            Ok(None) | Err(PosError::Link(_)) => {
                let fate = self.settle_reversal(Some(&mut link), &rev_id, &reversal);
                receipt.record_reversal(fate);
                receipt.meaning = format!("No answer from the network in time; {}", fate.words());
                return Ok(());
            }
            Err(e) => {
                self.settle_reversal(None, &rev_id, &reversal);
                return Err(e);
            }
        };
        receipt.read_answer(&response);
        receipt.arpc = issuer_authentication(transport, &response);
        if receipt.approved && receipt.arpc == ArpcCheck::Failed {
            receipt.approved = false;
            let fate = self.settle_reversal(Some(&mut link), &rev_id, &reversal);
            receipt.record_reversal(fate);
            receipt.meaning = format!(
                "Issuer authentication failed (the card rejected the ARPC); {}",
                fate.words()
            );
        } else {
            // A definitive answer: nothing is owed.
            self.saf.remove(&rev_id)?;
        }
        Ok(())
    }

    /// The `0400` that undoes `original`, with a STAN and time of its own.
    fn reversal_of(&self, original: &Message) -> Result<Message, PosError> {
        build_reversal(
            original,
            RequestIds {
                stan: new_stan()?,
                now: OffsetDateTime::now_utc(),
            },
        )
    }
}

/// The kernel's view of a charge of `amount` (positive, at most DE 4's
/// [`MAX_AMOUNT_MINOR`](paytap_iso8583::MAX_AMOUNT_MINOR)) at `now`.
fn kernel_transaction(
    amount: Money,
    now: OffsetDateTime,
    unpredictable_number: [u8; 4],
) -> Result<Transaction, PosError> {
    let minor = u64::try_from(amount.minor)
        .ok()
        .filter(|m| (1..=paytap_iso8583::MAX_AMOUNT_MINOR).contains(m))
        .ok_or(PosError::Amount)?;
    let date = TxnDate {
        yy: (now.year().rem_euclid(100)) as u8,
        mm: u8::from(now.month()),
        dd: now.day(),
    };
    Ok(Transaction::purchase(
        minor,
        amount.currency.numeric(),
        date,
        unpredictable_number,
    ))
}

/// Fills `receipt` from the card's outcome. `Ok(true)`: the card asks to go
/// online; `Ok(false)`: the receipt is final (see phone, or the card
/// declined).
fn read_card_outcome(receipt: &mut Receipt, outcome: &Outcome) -> Result<bool, PosError> {
    let cryptogram = |icc_data: &[u8]| {
        paytap_tlv::find_flat(icc_data, tags::AC)
            .ok()
            .flatten()
            .map(hex::encode_upper)
    };
    match outcome {
        Outcome::TryAgain {
            reason: TryAgainReason::SeePhone,
        } => {
            receipt.meaning =
                "See phone: the card needs the owner's fingerprint or face, then tap again".into();
            receipt.verification = Verification::Required;
            Ok(false)
        }
        Outcome::TryAgain {
            reason: TryAgainReason::Communication(m),
        } => Err(PosError::Field(m.clone())),
        Outcome::Declined { atc, icc_data, .. } => {
            receipt.meaning = "Declined by the card (AAC)".into();
            receipt.verification = Verification::of_cryptogram(icc_data, false);
            receipt.atc = Some(*atc);
            receipt.cryptogram = cryptogram(icc_data);
            Ok(false)
        }
        Outcome::OnlineRequest {
            pan, atc, icc_data, ..
        } => {
            receipt.masked_token = Some(pan.masked());
            receipt.verification = Verification::of_cryptogram(icc_data, true);
            receipt.atc = Some(*atc);
            receipt.cryptogram = cryptogram(icc_data);
            Ok(true)
        }
    }
}

/// Issuer authentication by the card: EXTERNAL AUTHENTICATE with the
/// answer's tag 91 as is.
fn issuer_authentication<T: Transport>(transport: &mut T, response: &Message) -> ArpcCheck {
    let tag91 = response.icc_data().and_then(|d| {
        paytap_tlv::find_flat(d, tags::ISSUER_AUTH_DATA)
            .ok()
            .flatten()
    });
    let Some(v) = tag91 else {
        return ArpcCheck::Absent;
    };
    match u8::try_from(v.len()) {
        Ok(lc) if lc > 0 => {
            let mut apdu = vec![0x00, 0x82, 0x00, 0x00, lc];
            apdu.extend_from_slice(v);
            match transport.transceive(&apdu) {
                Ok(r) if r.ends_with(&[0x90, 0x00]) => ArpcCheck::Verified,
                Ok(_) => ArpcCheck::Failed,
                Err(_) => ArpcCheck::Absent,
            }
        }
        _ => ArpcCheck::Failed,
    }
}
