//! The terminal side: a contactless kernel that drives any card through the
//! EMV flow (Book A/B entry point, Book C-2 style kernel, sans-IO):
//!
//! 1. SELECT PPSE and build the candidate list from the directory entries
//!    (61: 4F AID, 50 label, 87 priority; lowest priority value first);
//! 2. SELECT AID and read the PDOL from the FCI;
//! 3. GET PROCESSING OPTIONS with the PDOL data (format 1 or 2 answers); the
//!    TTQ in it says "CVM required" when the amount is above the terminal's
//!    Reader CVM Required Limit for its currency ([`ReaderCvmLimit`]);
//! 4. READ RECORD for every AFL entry;
//! 5. GENERATE AC (ARQC requested) with the CDOL1 data;
//! 6. the outcome: online request with DE 55 ICC data, decline, or try again
//!    ("see phone" when the card reports that on-device verification is missing).
//!
//! The card sits behind a [`Transport`]; [`DirectTransport`] drives an
//! in-process [`SecureElement`]. Nothing here reads a clock or a random source:
//! date and unpredictable number come in the [`Transaction`].

use crate::card::{Expiry, PPSE_NAME, SecureElement, bcd};
use crate::cryptogram::{AcType, Iad};
use crate::pan::TokenPan;
use paytap_apdu::{CommandApdu, ResponseView, StatusWord};
use paytap_tlv::{Builder, DolEntry, Tag, TlvError, build_dol_data, parse_dol, tags};
use std::collections::HashMap;

/// A link to a card that failed (field lost, reader error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transport error: {0}")]
pub struct TransportError(pub String);

/// Sends one command APDU, returns the response APDU (data ‖ SW1 SW2).
pub trait Transport {
    /// Sends `command` and waits for the card's response APDU.
    fn transceive(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError>;
}

/// In-process transport to a [`SecureElement`].
pub struct DirectTransport<'a>(pub &'a mut SecureElement);

impl Transport for DirectTransport<'_> {
    fn transceive(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.0.process(command))
    }
}

/// TTQ (9F66) byte 2 bit 7, "CVM required" (EMV Book C-3 and Entry Point
/// Book B): the reader asks the card for a cardholder verification, because
/// the amount is above its [`ReaderCvmLimit`].
pub const TTQ_CVM_REQUIRED: u8 = 0x40;
/// Which TTQ byte (from 0) carries [`TTQ_CVM_REQUIRED`].
pub const TTQ_CVM_REQUIRED_BYTE: usize = 1;
/// ISO 4217 numeric code of the yuan, the currency of the default limit.
const CNY_NUMERIC: u16 = 156;
/// The default Reader CVM Required Limit for CNY, in fen: 300.00 yuan, the
/// per-transaction limit with which China UnionPay's small-amount
/// contactless service without PIN or signature (小额免密免签) began. It is
/// this terminal's setting: acquirers configure it per terminal, and a card
/// keeps a no-CVM limit of its own (the stricter of the two wins).
pub const DEFAULT_READER_CVM_LIMIT_CNY_MINOR: u64 = 30_000;

/// A Reader CVM Required Limit (EMV Book A/B, contactless kernel
/// configuration) for one currency: a tap of more than `amount_minor` in
/// that currency needs a cardholder verification (TTQ byte 2 bit 7); up to
/// and including it, none (as the card's and the issuer's no-CVM limits
/// count it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderCvmLimit {
    /// ISO 4217 numeric currency code (5F2A), e.g. 156 for CNY.
    pub currency: u16,
    /// The largest amount, in minor units, that needs no CVM.
    pub amount_minor: u64,
}

/// Terminal configuration (values as they go into the EMV data elements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalConfig {
    /// ISO 3166-1 numeric country code (9F1A), e.g. 156.
    pub country: u16,
    /// Terminal capabilities (9F33).
    pub capabilities: [u8; 3],
    /// Terminal type (9F35), e.g. 0x22 attended merchant online-only.
    pub terminal_type: u8,
    /// Additional terminal capabilities (9F40).
    pub additional_capabilities: [u8; 5],
    /// Terminal transaction qualifiers (9F66).
    pub ttq: [u8; 4],
    /// Merchant name and location (9F4E).
    pub merchant_name: String,
    /// Merchant category code (9F15), four digits.
    pub mcc: u16,
    /// Interface device serial number (9F1E), 8 characters.
    pub ifd_serial: [u8; 8],
    /// Reader CVM Required Limits, at most one per currency (see
    /// [`TerminalConfig::set_reader_cvm_limit`]); a currency without one
    /// never asks for a CVM on the terminal's account.
    pub reader_cvm_limits: Vec<ReaderCvmLimit>,
}

impl Default for TerminalConfig {
    fn default() -> Self {
        TerminalConfig {
            country: 156,
            capabilities: [0xE0, 0x08, 0xC8],
            terminal_type: 0x22,
            additional_capabilities: [0x60, 0x00, 0xF0, 0xA0, 0x01],
            ttq: [0x36, 0x00, 0x40, 0x00],
            merchant_name: "paytap demo store".into(),
            mcc: 5411,
            ifd_serial: *b"PAYTAP01",
            reader_cvm_limits: vec![ReaderCvmLimit {
                currency: CNY_NUMERIC,
                amount_minor: DEFAULT_READER_CVM_LIMIT_CNY_MINOR,
            }],
        }
    }
}

impl TerminalConfig {
    /// The Reader CVM Required Limit for `currency` (ISO 4217 numeric), in
    /// minor units, if the terminal has one.
    pub fn reader_cvm_limit(&self, currency: u16) -> Option<u64> {
        self.reader_cvm_limits
            .iter()
            .find(|l| l.currency == currency)
            .map(|l| l.amount_minor)
    }

    /// Sets the Reader CVM Required Limit for `currency`, replacing the one
    /// it had.
    pub fn set_reader_cvm_limit(&mut self, currency: u16, amount_minor: u64) {
        self.reader_cvm_limits.retain(|l| l.currency != currency);
        self.reader_cvm_limits.push(ReaderCvmLimit {
            currency,
            amount_minor,
        });
    }

    /// Whether a tap of `amount_minor` in `currency` needs a cardholder
    /// verification: it is above the currency's Reader CVM Required Limit.
    pub fn cvm_required(&self, currency: u16, amount_minor: u64) -> bool {
        self.reader_cvm_limit(currency)
            .is_some_and(|limit| amount_minor > limit)
    }

    /// The TTQ (9F66) for `txn`: the configured qualifiers, with "CVM
    /// required" set when the amount is above the Reader CVM Required Limit.
    pub fn ttq_for(&self, txn: &Transaction) -> [u8; 4] {
        let mut ttq = self.ttq;
        if self.cvm_required(txn.currency, txn.amount_minor) {
            ttq[TTQ_CVM_REQUIRED_BYTE] |= TTQ_CVM_REQUIRED;
        }
        ttq
    }
}

/// Transaction date, passed in (the kernel reads no clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnDate {
    /// Year within the century, 0–99.
    pub yy: u8,
    /// Month, 1–12.
    pub mm: u8,
    /// Day of the month, 1–31.
    pub dd: u8,
}

impl TxnDate {
    /// Parses `YYMMDD`.
    pub fn parse(s: &str) -> Result<Self, KernelError> {
        let b = s.as_bytes();
        if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
            return Err(KernelError::BadTransaction("date must be YYMMDD"));
        }
        let n = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
        let d = TxnDate {
            yy: n(0),
            mm: n(2),
            dd: n(4),
        };
        if !(1..=12).contains(&d.mm) || !(1..=31).contains(&d.dd) {
            return Err(KernelError::BadTransaction("date must be YYMMDD"));
        }
        Ok(d)
    }
    fn bcd(self) -> [u8; 3] {
        [bcd(self.yy), bcd(self.mm), bcd(self.dd)]
    }
}

/// One transaction to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Amount in minor units of `currency` (at most 12 digits).
    pub amount_minor: u64,
    /// Cashback / other amount in minor units.
    pub amount_other: u64,
    /// ISO 4217 numeric currency code (5F2A), e.g. 156 for CNY.
    pub currency: u16,
    /// Transaction type (9C) as its two BCD digits: `0x00` purchase, `0x01` cash, `0x09` cashback, `0x20` refund.
    pub txn_type: u8,
    /// Transaction Date (9A).
    pub date: TxnDate,
    /// Unpredictable number (9F37), from the caller's random source.
    pub unpredictable_number: [u8; 4],
}

impl Transaction {
    /// A purchase (9C `00`) of `amount_minor` with no cashback: what every
    /// tap at a merchant's terminal is.
    pub fn purchase(
        amount_minor: u64,
        currency: u16,
        date: TxnDate,
        unpredictable_number: [u8; 4],
    ) -> Self {
        Self {
            amount_minor,
            amount_other: 0,
            currency,
            txn_type: 0x00,
            date,
            unpredictable_number,
        }
    }
}

/// Why the terminal asks for another tap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryAgainReason {
    /// The card requires on-device verification: "see phone", then tap again.
    SeePhone,
    /// The link dropped mid-transaction.
    Communication(String),
}

/// Result of a completed kernel run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send an authorisation request (ISO 8583 0100/0200).
    OnlineRequest {
        /// DE 55: the ICC data TLV list.
        icc_data: Vec<u8>,
        /// DE 2: the (token) PAN.
        pan: TokenPan,
        /// DE 35: track 2 equivalent data as the card gave it (tag 57).
        track2: Vec<u8>,
        /// DE 23: PAN sequence number.
        psn: Option<u8>,
        /// DE 14: the application expiry.
        expiry: Expiry,
        /// The selected application's AID.
        aid: Vec<u8>,
        /// Cryptogram Information Data (9F27): an ARQC.
        cid: u8,
        /// Application Transaction Counter (9F36).
        atc: u16,
    },
    /// The card declined offline (AAC).
    Declined {
        /// The ICC data TLV list, as for an online request.
        icc_data: Vec<u8>,
        /// The selected application's AID.
        aid: Vec<u8>,
        /// Cryptogram Information Data (9F27): an AAC.
        cid: u8,
        /// Application Transaction Counter (9F36).
        atc: u16,
    },
    /// The transaction did not complete; the holder should tap again.
    TryAgain {
        /// Why.
        reason: TryAgainReason,
    },
}

/// Card misbehaviour and bad input, one variant each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// The transaction given to the kernel is invalid (what is wrong).
    #[error("invalid transaction: {0}")]
    BadTransaction(&'static str),
    /// The card answered a command with an error status word.
    #[error("{command} answered {sw}")]
    BadStatus {
        /// The command's name.
        command: &'static str,
        /// The card's status word.
        sw: StatusWord,
    },
    /// A response shorter than a status word.
    #[error("{command}: response shorter than a status word")]
    NoStatusWord {
        /// The command's name.
        command: &'static str,
    },
    /// A response whose data is not valid BER-TLV.
    #[error("{command}: malformed TLV: {source}")]
    MalformedTlv {
        /// The command's name.
        command: &'static str,
        /// The decoder's error.
        source: TlvError,
    },
    /// A response lacks a mandatory tag.
    #[error("{command}: mandatory tag {tag} missing")]
    MissingTag {
        /// The command's name.
        command: &'static str,
        /// The missing tag.
        tag: Tag,
    },
    /// A response tag whose value is malformed.
    #[error("{command}: tag {tag} has a bad value")]
    BadValue {
        /// The command's name.
        command: &'static str,
        /// The tag with the bad value.
        tag: Tag,
    },
    /// The PPSE directory lists no application the terminal can select.
    #[error("the PPSE lists no application")]
    NoApplication,
    /// The FCI's DF name (84) is not the AID selected.
    #[error("SELECT AID returned an FCI for a different DF name")]
    AidMismatch,
    /// The Application File Locator (94) is malformed.
    #[error("malformed AFL")]
    BadAfl,
    /// The GENERATE AC response has no ATC (9F36).
    #[error("GENERATE AC response lacks the ATC")]
    AtcMissing,
    /// The card returned a TC (or the RFU type) to an ARQC request.
    #[error("card returned cryptogram type {cid:02X}, not allowed for an ARQC request")]
    CidMismatch {
        /// The card's Cryptogram Information Data.
        cid: u8,
    },
    /// Track 2 equivalent data (57) and the PAN (5A) disagree.
    #[error("track 2 equivalent data and PAN disagree")]
    Track2Mismatch,
}

/// The contactless terminal kernel.
#[derive(Debug, Clone)]
pub struct Kernel {
    config: TerminalConfig,
}

fn bcd_n(mut v: u64, len: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; len];
    for b in out.iter_mut().rev() {
        *b = ((((v / 10) % 10) << 4) | (v % 10)) as u8;
        v /= 100;
    }
    (v == 0).then_some(out)
}

struct Ctx<'t, T: Transport> {
    t: &'t mut T,
}

impl<T: Transport> Ctx<'_, T> {
    fn send(
        &mut self,
        command: &'static str,
        apdu: &CommandApdu,
    ) -> Result<Result<Vec<u8>, StatusWord>, Exchange> {
        let bytes = apdu
            .to_bytes()
            .map_err(|_| Exchange::Kernel(KernelError::BadTransaction("APDU too long")))?;
        let resp = self.t.transceive(&bytes).map_err(|e| Exchange::Lost(e.0))?;
        let r = ResponseView::parse(&resp)
            .map_err(|_| Exchange::Kernel(KernelError::NoStatusWord { command }))?;
        if r.sw == StatusWord::SUCCESS {
            Ok(Ok(r.data.to_vec()))
        } else {
            Ok(Err(r.sw))
        }
    }

    fn expect_ok(
        &mut self,
        command: &'static str,
        apdu: &CommandApdu,
    ) -> Result<Vec<u8>, Exchange> {
        self.send(command, apdu)?
            .map_err(|sw| Exchange::Kernel(KernelError::BadStatus { command, sw }))
    }
}

enum Exchange {
    Kernel(KernelError),
    Lost(String),
}

impl From<KernelError> for Exchange {
    fn from(e: KernelError) -> Self {
        Exchange::Kernel(e)
    }
}

fn tlv_err(command: &'static str) -> impl Fn(TlvError) -> Exchange {
    move |source| Exchange::Kernel(KernelError::MalformedTlv { command, source })
}

impl Kernel {
    /// A kernel for the terminal described by `config`.
    pub fn new(config: TerminalConfig) -> Self {
        Kernel { config }
    }

    /// The terminal's configuration.
    pub fn config(&self) -> &TerminalConfig {
        &self.config
    }

    /// Runs one transaction against the card behind `transport`.
    pub fn run<T: Transport>(
        &self,
        transport: &mut T,
        txn: &Transaction,
    ) -> Result<Outcome, KernelError> {
        match self.exchange(&mut Ctx { t: transport }, txn) {
            Ok(o) => Ok(o),
            Err(Exchange::Kernel(e)) => Err(e),
            Err(Exchange::Lost(m)) => Ok(Outcome::TryAgain {
                reason: TryAgainReason::Communication(m),
            }),
        }
    }

    fn terminal_data(&self, txn: &Transaction) -> Result<HashMap<Tag, Vec<u8>>, KernelError> {
        let amount = bcd_n(txn.amount_minor, 6)
            .ok_or(KernelError::BadTransaction("amount exceeds 12 digits"))?;
        let other = bcd_n(txn.amount_other, 6).ok_or(KernelError::BadTransaction(
            "other amount exceeds 12 digits",
        ))?;
        let currency = bcd_n(u64::from(txn.currency), 2)
            .filter(|_| txn.currency < 1000)
            .ok_or(KernelError::BadTransaction(
                "currency is a 3-digit ISO 4217 code",
            ))?;
        let country = bcd_n(u64::from(self.config.country), 2)
            .filter(|_| self.config.country < 1000)
            .ok_or(KernelError::BadTransaction(
                "country is a 3-digit ISO 3166 code",
            ))?;
        let mut m = HashMap::with_capacity(20);
        m.insert(tags::AMOUNT, amount);
        m.insert(tags::AMOUNT_OTHER, other);
        m.insert(tags::CURRENCY, currency);
        m.insert(tags::TERM_COUNTRY, country);
        m.insert(tags::TVR, vec![0; 5]);
        m.insert(tags::TXN_DATE, txn.date.bcd().to_vec());
        m.insert(tags::TXN_TYPE, vec![txn.txn_type]);
        m.insert(tags::UN, txn.unpredictable_number.to_vec());
        m.insert(tags::TERM_CAPS, self.config.capabilities.to_vec());
        m.insert(tags::TERM_TYPE, vec![self.config.terminal_type]);
        m.insert(
            tags::ADD_TERM_CAPS,
            self.config.additional_capabilities.to_vec(),
        );
        m.insert(tags::TTQ, self.config.ttq_for(txn).to_vec());
        m.insert(
            tags::MERCHANT_NAME,
            self.config.merchant_name.as_bytes().to_vec(),
        );
        m.insert(
            tags::MCC,
            bcd_n(u64::from(self.config.mcc % 10000), 2).unwrap_or_default(),
        );
        m.insert(tags::IFD_SERIAL, self.config.ifd_serial.to_vec());
        // CVM results: "no CVM performed" at the terminal; CDCVM is reported by the card in its IAD.
        m.insert(tags::CVM_RESULTS, vec![0x3F, 0x00, 0x00]);
        Ok(m)
    }

    /// One contactless transaction (EMV Book C-2 flow for an online-only
    /// reader): choose and select the application, get its processing
    /// options, read its records, ask for an ARQC, and hand back what the
    /// acquirer needs.
    fn exchange<T: Transport>(
        &self,
        ctx: &mut Ctx<'_, T>,
        txn: &Transaction,
    ) -> Result<Outcome, Exchange> {
        let mut data = self.terminal_data(txn)?;
        let aid = select_ppse(ctx)?;
        let pdol = select_aid(ctx, &aid)?;
        data.insert(tags::DF_NAME, aid.clone());
        let afl = get_processing_options(ctx, &pdol, &mut data)?;
        let card = read_records(ctx, &afl)?;
        let app = CardApplication::from_records(&card)?;
        flag_expired_application(&card, txn.date, &mut data);
        let (ac, ac_type) = generate_arqc(ctx, &app.cdol1, &data)?;
        let icc_data = icc_data(&ac, &data, &card);
        Ok(outcome(ac, ac_type, icc_data, app, aid))
    }
}

/// Terminal-side data objects, by tag, that the DOLs and DE 55 draw from.
type DataObjects = HashMap<Tag, Vec<u8>>;

/// Step 1, SELECT PPSE: the AID of the application the directory ranks first.
fn select_ppse<T: Transport>(ctx: &mut Ctx<'_, T>) -> Result<Vec<u8>, Exchange> {
    const C: &str = "SELECT PPSE";
    let ppse = ctx.expect_ok(
        C,
        &CommandApdu::new(0x00, 0xA4, 0x04, 0x00)
            .with_data(PPSE_NAME)
            .with_le(256),
    )?;
    let tree = paytap_tlv::decode(&ppse).map_err(tlv_err(C))?;
    let disc = paytap_tlv::find_path(
        &tree,
        &[tags::FCI, tags::FCI_PROPRIETARY, tags::FCI_ISSUER_DISC],
    )
    .ok_or(KernelError::MissingTag {
        command: C,
        tag: tags::FCI_ISSUER_DISC,
    })?;
    Ok(first_ranked_aid(disc).ok_or(KernelError::NoApplication)?)
}

/// The AID (5 to 16 bytes) of the directory entry with the best priority
/// (1 first; 0, "no priority", after every numbered one); ties keep the
/// directory's order.
fn first_ranked_aid(disc: &paytap_tlv::Tlv) -> Option<Vec<u8>> {
    let mut candidates: Vec<(u8, Vec<u8>)> = disc
        .children()
        .iter()
        .filter(|e| e.tag == tags::DIR_ENTRY)
        .filter_map(|e| {
            let aid = e.child(tags::AID)?.bytes()?.to_vec();
            let prio = e
                .child(tags::APP_PRIORITY)
                .and_then(|p| p.bytes())
                .and_then(|b| b.first())
                .map_or(0, |b| b & 0x0F);
            Some((if prio == 0 { 16 } else { prio }, aid))
        })
        .filter(|(_, aid)| (5..=16).contains(&aid.len()))
        .collect();
    candidates.sort_by_key(|(p, _)| *p);
    candidates.into_iter().next().map(|(_, aid)| aid)
}

/// Step 2, SELECT AID: checks that the FCI names the application asked
/// for, and returns its PDOL (empty when the card asks for none).
fn select_aid<T: Transport>(ctx: &mut Ctx<'_, T>, aid: &[u8]) -> Result<Vec<DolEntry>, Exchange> {
    const C: &str = "SELECT AID";
    let fci = ctx.expect_ok(
        C,
        &CommandApdu::new(0x00, 0xA4, 0x04, 0x00)
            .with_data(aid.to_vec())
            .with_le(256),
    )?;
    let tree = paytap_tlv::decode(&fci).map_err(tlv_err(C))?;
    let df = paytap_tlv::find_path(&tree, &[tags::FCI, tags::DF_NAME])
        .and_then(|t| t.bytes())
        .ok_or(KernelError::MissingTag {
            command: C,
            tag: tags::DF_NAME,
        })?;
    if df != aid {
        return Err(KernelError::AidMismatch.into());
    }
    match paytap_tlv::find_path(&tree, &[tags::FCI, tags::FCI_PROPRIETARY, tags::PDOL])
        .and_then(|t| t.bytes())
    {
        Some(p) => Ok(parse_dol(p).map_err(tlv_err(C))?),
        None => Ok(Vec::new()),
    }
}

/// Step 3, GET PROCESSING OPTIONS with the PDOL data: records the AIP in
/// `data` and returns the AFL.
fn get_processing_options<T: Transport>(
    ctx: &mut Ctx<'_, T>,
    pdol: &[DolEntry],
    data: &mut DataObjects,
) -> Result<Vec<u8>, Exchange> {
    let pdol_data = build_dol_data(pdol, |t| data.get(&t).map(Vec::as_slice));
    let gpo_cmd = Builder::new()
        .primitive(tags::PDOL_DATA, &pdol_data)
        .build();
    let gpo = ctx.expect_ok(
        "GET PROCESSING OPTIONS",
        &CommandApdu::new(0x80, 0xA8, 0x00, 0x00)
            .with_data(gpo_cmd)
            .with_le(256),
    )?;
    let (aip, afl) = parse_gpo(&gpo)?;
    data.insert(tags::AIP, aip.to_vec());
    Ok(afl)
}

/// Step 4, READ RECORD for every record the AFL names: the card's data
/// objects, the first value of each tag winning.
fn read_records<T: Transport>(ctx: &mut Ctx<'_, T>, afl: &[u8]) -> Result<DataObjects, Exchange> {
    let mut card = DataObjects::new();
    for entry in afl.chunks(4) {
        let (sfi, first, last) = afl_entry(entry)?;
        for rec in first..=last {
            let body = ctx.expect_ok(
                "READ RECORD",
                &CommandApdu::new(0x00, 0xB2, rec, (sfi << 3) | 4).with_le(256),
            )?;
            merge_record(&body, &mut card)?;
        }
    }
    Ok(card)
}

/// One four-byte AFL entry (EMV Book 3 §10.2) as (SFI 1–30, first record
/// ≥ 1, last record ≥ first).
fn afl_entry(entry: &[u8]) -> Result<(u8, u8, u8), KernelError> {
    let [sfi_b, first, last, _oda] = <[u8; 4]>::try_from(entry).map_err(|_| KernelError::BadAfl)?;
    let sfi = sfi_b >> 3;
    if sfi_b & 0x07 != 0 || !(1..=30).contains(&sfi) || first == 0 || last < first {
        return Err(KernelError::BadAfl);
    }
    Ok((sfi, first, last))
}

/// Adds the primitive data objects of one record template (tag 70) to
/// `card`, keeping values already read.
fn merge_record(body: &[u8], card: &mut DataObjects) -> Result<(), Exchange> {
    const C: &str = "READ RECORD";
    let t = paytap_tlv::Tlv::decode(body).map_err(tlv_err(C))?;
    if t.tag != tags::RECORD {
        return Err(KernelError::MissingTag {
            command: C,
            tag: tags::RECORD,
        }
        .into());
    }
    for c in t.children() {
        if let Some(v) = c.bytes() {
            card.entry(c.tag).or_insert_with(|| v.to_vec());
        }
    }
    Ok(())
}

/// What the card's records say about the application, checked.
struct CardApplication {
    track2: Vec<u8>,
    cdol1: Vec<DolEntry>,
    pan: TokenPan,
    psn: Option<u8>,
    /// DE 14.
    expiry: Expiry,
}

impl CardApplication {
    /// Track 2 and CDOL1 are mandatory; the PAN (5A), PSN (5F34) and
    /// application expiry (5F24) are optional, and the PAN must agree with
    /// track 2 when present.
    fn from_records(card: &DataObjects) -> Result<CardApplication, Exchange> {
        const C: &str = "READ RECORD";
        let need = |tag: Tag| {
            card.get(&tag)
                .ok_or(KernelError::MissingTag { command: C, tag })
        };
        let track2 = need(tags::TRACK2_EQ)?.clone();
        let cdol1 = parse_dol(need(tags::CDOL1)?).map_err(tlv_err(C))?;
        let (t2_pan, t2_exp) = parse_track2(&track2).ok_or(KernelError::BadValue {
            command: C,
            tag: tags::TRACK2_EQ,
        })?;
        let pan = record_pan(card, t2_pan)?;
        let psn = card
            .get(&tags::PSN)
            .and_then(|v| v.first())
            .map(|b| (b >> 4) * 10 + (b & 0x0F))
            .filter(|p| *p <= 99);
        let expiry = record_expiry(card, t2_exp)?;
        Ok(CardApplication {
            track2,
            cdol1,
            pan,
            psn,
            expiry,
        })
    }
}

/// The PAN (5A) when the card gives one, which must equal track 2's;
/// track 2's otherwise.
fn record_pan(card: &DataObjects, t2_pan: TokenPan) -> Result<TokenPan, Exchange> {
    let Some(p) = card.get(&tags::PAN) else {
        return Ok(t2_pan);
    };
    let pan = TokenPan::from_cn(p).map_err(|_| KernelError::BadValue {
        command: "READ RECORD",
        tag: tags::PAN,
    })?;
    if pan != t2_pan {
        return Err(KernelError::Track2Mismatch.into());
    }
    Ok(pan)
}

/// DE 14: from the application expiry (5F24, YYMMDD in BCD) when the
/// card gives one, from track 2 otherwise.
fn record_expiry(card: &DataObjects, t2_exp: Expiry) -> Result<Expiry, Exchange> {
    let Some(e) = card.get(&tags::EXPIRY) else {
        return Ok(t2_exp);
    };
    expiry_of_5f24(e).ok_or_else(|| {
        KernelError::BadValue {
            command: "READ RECORD",
            tag: tags::EXPIRY,
        }
        .into()
    })
}

/// The year and month of tag 5F24: three BCD bytes `YYMMDD`, a valid
/// month.
fn expiry_of_5f24(value: &[u8]) -> Option<Expiry> {
    let [yy, mm, _dd] = <[u8; 3]>::try_from(value).ok()?;
    let bcd = |b: u8| (b >> 4 <= 9 && b & 0x0F <= 9).then(|| (b >> 4) * 10 + (b & 0x0F));
    Expiry::new(bcd(yy)?, bcd(mm)?).ok()
}

/// Sets TVR byte 2 bit 7, "expired application", when 5F24 lies before the
/// transaction date (both YYMMDD in BCD, so byte order is date order).
fn flag_expired_application(card: &DataObjects, date: TxnDate, data: &mut DataObjects) {
    let date = date.bcd();
    if let Some(e) = card.get(&tags::EXPIRY)
        && e.as_slice() < &date[..]
        && let Some(tvr) = data.get_mut(&tags::TVR)
        && let Some(b) = tvr.get_mut(1)
    {
        *b |= 0x40;
    }
}

/// Step 5, GENERATE AC asking for an ARQC with the CDOL1 data. The card
/// may answer with an ARQC or an AAC; a TC (an offline approval) is refused.
fn generate_arqc<T: Transport>(
    ctx: &mut Ctx<'_, T>,
    cdol1: &[DolEntry],
    data: &DataObjects,
) -> Result<(GenAc, AcType), Exchange> {
    let cdol_data = build_dol_data(cdol1, |t| data.get(&t).map(Vec::as_slice));
    let resp = ctx.expect_ok(
        "GENERATE AC",
        &CommandApdu::new(0x80, 0xAE, 0x80, 0x00)
            .with_data(cdol_data)
            .with_le(256),
    )?;
    let ac = parse_gen_ac(&resp)?;
    let ac_type = AcType::from_bits(ac.cid).ok_or(KernelError::CidMismatch { cid: ac.cid })?;
    if ac_type == AcType::Tc {
        return Err(KernelError::CidMismatch { cid: ac.cid }.into());
    }
    Ok((ac, ac_type))
}

/// Terminal data objects DE 55 carries after the cryptogram fields, in
/// this order: what the issuer needs to recompute the ARQC.
const DE55_TERMINAL_TAGS: [Tag; 14] = [
    tags::UN,
    tags::TVR,
    tags::TXN_DATE,
    tags::TXN_TYPE,
    tags::AMOUNT,
    tags::CURRENCY,
    tags::AIP,
    tags::TERM_COUNTRY,
    tags::AMOUNT_OTHER,
    tags::TERM_CAPS,
    tags::CVM_RESULTS,
    tags::TERM_TYPE,
    tags::DF_NAME,
    tags::IFD_SERIAL,
];

/// Step 6, DE 55: cryptogram, CID, IAD and ATC, then the terminal data
/// objects, then the card's PSN.
fn icc_data(ac: &GenAc, data: &DataObjects, card: &DataObjects) -> Vec<u8> {
    let mut b = Builder::new()
        .primitive(tags::AC, &ac.ac)
        .primitive(tags::CID, &[ac.cid])
        .primitive(tags::IAD, &ac.iad)
        .primitive(tags::ATC, &ac.atc.to_be_bytes());
    for tag in DE55_TERMINAL_TAGS {
        if let Some(v) = data.get(&tag) {
            b = b.primitive(tag, v);
        }
    }
    if let Some(p) = card.get(&tags::PSN) {
        b = b.primitive(tags::PSN, p);
    }
    b.build()
}

/// Step 7, what the reader does next: an ARQC goes online; an AAC asks for
/// another tap when the card wanted on-device verification ("see phone"),
/// and is a decline otherwise.
fn outcome(
    ac: GenAc,
    ac_type: AcType,
    icc_data: Vec<u8>,
    app: CardApplication,
    aid: Vec<u8>,
) -> Outcome {
    if ac_type == AcType::Arqc {
        return Outcome::OnlineRequest {
            icc_data,
            pan: app.pan,
            track2: app.track2,
            psn: app.psn,
            expiry: app.expiry,
            aid,
            cid: ac.cid,
            atc: ac.atc,
        };
    }
    let see_phone = Iad::parse(&ac.iad).is_ok_and(|i| i.cvr.cdcvm_required_not_performed());
    if see_phone {
        return Outcome::TryAgain {
            reason: TryAgainReason::SeePhone,
        };
    }
    Outcome::Declined {
        icc_data,
        aid,
        cid: ac.cid,
        atc: ac.atc,
    }
}

fn parse_gpo(b: &[u8]) -> Result<([u8; 2], Vec<u8>), Exchange> {
    const C: &str = "GET PROCESSING OPTIONS";
    let t = paytap_tlv::Tlv::decode(b).map_err(tlv_err(C))?;
    let (aip, afl) = if t.tag == tags::RESP_FMT1 {
        let v = t.bytes().unwrap_or(&[]);
        (v.get(..2), v.get(2..).map(<[u8]>::to_vec))
    } else if t.tag == tags::RESP_FMT2 {
        (
            t.child(tags::AIP).and_then(|x| x.bytes()),
            Some(
                t.child(tags::AFL)
                    .and_then(|x| x.bytes())
                    .ok_or(KernelError::MissingTag {
                        command: C,
                        tag: tags::AFL,
                    })?
                    .to_vec(),
            ),
        )
    } else {
        return Err(KernelError::MissingTag {
            command: C,
            tag: tags::RESP_FMT2,
        }
        .into());
    };
    let aip: [u8; 2] = aip
        .ok_or(KernelError::MissingTag {
            command: C,
            tag: tags::AIP,
        })?
        .try_into()
        .map_err(|_| KernelError::BadValue {
            command: C,
            tag: tags::AIP,
        })?;
    let afl = afl.ok_or(KernelError::MissingTag {
        command: C,
        tag: tags::AFL,
    })?;
    if afl.is_empty() || afl.len() % 4 != 0 {
        return Err(KernelError::BadAfl.into());
    }
    Ok((aip, afl))
}

struct GenAc {
    cid: u8,
    atc: u16,
    ac: [u8; 8],
    iad: Vec<u8>,
}

fn parse_gen_ac(b: &[u8]) -> Result<GenAc, Exchange> {
    const C: &str = "GENERATE AC";
    let t = paytap_tlv::Tlv::decode(b).map_err(tlv_err(C))?;
    if t.tag == tags::RESP_FMT1 {
        // CID (1) ‖ ATC (2) ‖ AC (8) ‖ IAD (optional)
        let v = t.bytes().unwrap_or(&[]);
        let cid = *v.first().ok_or(KernelError::MissingTag {
            command: C,
            tag: tags::CID,
        })?;
        let atc = v.get(1..3).ok_or(KernelError::AtcMissing)?;
        let ac = v.get(3..11).ok_or(KernelError::MissingTag {
            command: C,
            tag: tags::AC,
        })?;
        let mut a = [0u8; 8];
        a.copy_from_slice(ac);
        return Ok(GenAc {
            cid,
            atc: u16::from_be_bytes([atc[0], atc[1]]),
            ac: a,
            iad: v.get(11..).unwrap_or(&[]).to_vec(),
        });
    }
    if t.tag != tags::RESP_FMT2 {
        return Err(KernelError::MissingTag {
            command: C,
            tag: tags::RESP_FMT2,
        }
        .into());
    }
    let get = |tag| t.child(tag).and_then(|x| x.bytes());
    let cid = match get(tags::CID) {
        Some([c]) => *c,
        Some(_) => {
            return Err(KernelError::BadValue {
                command: C,
                tag: tags::CID,
            }
            .into());
        }
        None => {
            return Err(KernelError::MissingTag {
                command: C,
                tag: tags::CID,
            }
            .into());
        }
    };
    let atc = match get(tags::ATC) {
        Some([a, b]) => u16::from_be_bytes([*a, *b]),
        Some(_) => {
            return Err(KernelError::BadValue {
                command: C,
                tag: tags::ATC,
            }
            .into());
        }
        None => return Err(KernelError::AtcMissing.into()),
    };
    let ac: [u8; 8] = get(tags::AC)
        .ok_or(KernelError::MissingTag {
            command: C,
            tag: tags::AC,
        })?
        .try_into()
        .map_err(|_| KernelError::BadValue {
            command: C,
            tag: tags::AC,
        })?;
    let iad = get(tags::IAD)
        .ok_or(KernelError::MissingTag {
            command: C,
            tag: tags::IAD,
        })?
        .to_vec();
    Ok(GenAc { cid, atc, ac, iad })
}

/// Splits track 2 equivalent data into PAN and expiry (`YYMM` after the
/// separator, which must be a valid month).
pub fn parse_track2(t2: &[u8]) -> Option<(TokenPan, Expiry)> {
    let nibbles: Vec<u8> = t2.iter().flat_map(|b| [b >> 4, b & 0x0F]).collect();
    let sep = nibbles.iter().position(|n| *n == 0x0D)?;
    let digits = |ns: &[u8]| -> Option<String> {
        ns.iter()
            .map(|n| (*n <= 9).then(|| char::from(b'0' + n)))
            .collect()
    };
    let mut pan_s = digits(nibbles.get(..sep)?)?;
    let exp = Expiry::parse(&digits(nibbles.get(sep + 1..sep + 5)?)?).ok();
    let pan = TokenPan::new(&pan_s).ok();
    zeroize::Zeroize::zeroize(&mut pan_s);
    Some((pan?, exp?))
}

#[cfg(test)]
mod expiry_tests {
    use super::*;

    fn check(value: &[u8], expect: Option<&str>) {
        let got = expiry_of_5f24(value).map(Expiry::yymm);
        assert_eq!(got.as_deref(), expect, "{value:02X?}");
    }

    #[test]
    fn reads_tag_5f24() {
        check(&[0x29, 0x11, 0x30], Some("2911"));
        check(&[0x00, 0x01, 0x31], Some("0001"));
        check(&[0x99, 0x12, 0x31], Some("9912"));
        check(&[0x29, 0x13, 0x30], None);
        check(&[0x29, 0x00, 0x30], None);
        check(&[0x2A, 0x11, 0x30], None);
        check(&[0x29, 0x1A, 0x30], None);
        check(&[0x29, 0x11], None);
        check(&[0x29, 0x11, 0x30, 0x00], None);
        check(&[], None);
    }

    fn check_track2(t2: &[u8], expect: Option<&str>) {
        let got = parse_track2(t2).map(|(_, e)| e.yymm());
        assert_eq!(got.as_deref(), expect, "{t2:02X?}");
    }

    #[test]
    fn reads_the_expiry_of_track_2() {
        let t2 = |tail: &[u8]| {
            [
                &[0x62, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x32, 0xD2][..],
                tail,
            ]
            .concat()
        };
        check_track2(&t2(&[0x91, 0x12, 0x01]), Some("2911"));
        check_track2(&t2(&[0x91, 0x32, 0x01]), None);
        check_track2(&t2(&[0x90, 0x02, 0x01]), None);
        check_track2(&t2(&[0x9A, 0x12, 0x01]), None);
        check_track2(&t2(&[0x91]), None);
    }
}

#[cfg(test)]
mod cvm_limit_tests {
    use super::*;

    fn txn(amount_minor: u64, currency: u16) -> Transaction {
        Transaction::purchase(
            amount_minor,
            currency,
            TxnDate {
                yy: 26,
                mm: 11,
                dd: 23,
            },
            [1, 2, 3, 4],
        )
    }

    /// The "CVM required" bit of the TTQ the kernel sends for `txn`.
    fn cvm_bit(kernel: &Kernel, txn: &Transaction) -> bool {
        let data = kernel.terminal_data(txn).unwrap();
        data[&tags::TTQ][TTQ_CVM_REQUIRED_BYTE] & TTQ_CVM_REQUIRED != 0
    }

    #[test]
    fn kernel_sets_cvm_required_above_the_reader_cvm_limit() {
        let k = Kernel::new(TerminalConfig::default());
        let limit = DEFAULT_READER_CVM_LIMIT_CNY_MINOR;
        // (amount, currency, CVM required?)
        let table = [
            (1, CNY_NUMERIC, false),
            (limit - 1, CNY_NUMERIC, false),
            (limit, CNY_NUMERIC, false),
            (limit + 1, CNY_NUMERIC, true),
            (999_999_999_999, CNY_NUMERIC, true),
            // USD has no limit configured: never on the terminal's account.
            (limit + 1, 840, false),
        ];
        for (amount, currency, want) in table {
            assert_eq!(
                cvm_bit(&k, &txn(amount, currency)),
                want,
                "{amount} in {currency}"
            );
        }
    }

    #[test]
    fn kernel_cvm_required_bit_leaves_the_other_qualifiers_alone() {
        let k = Kernel::new(TerminalConfig::default());
        let above = k.terminal_data(&txn(30_001, CNY_NUMERIC)).unwrap();
        let within = k.terminal_data(&txn(30_000, CNY_NUMERIC)).unwrap();
        let mut want = TerminalConfig::default().ttq;
        assert_eq!(within[&tags::TTQ], want);
        want[TTQ_CVM_REQUIRED_BYTE] |= TTQ_CVM_REQUIRED;
        assert_eq!(above[&tags::TTQ], want);
    }

    #[test]
    fn kernel_reader_cvm_limit_is_per_currency_and_replaceable() {
        let mut c = TerminalConfig::default();
        assert_eq!(
            c.reader_cvm_limit(CNY_NUMERIC),
            Some(DEFAULT_READER_CVM_LIMIT_CNY_MINOR)
        );
        assert_eq!(c.reader_cvm_limit(356), None);
        c.set_reader_cvm_limit(CNY_NUMERIC, 100_000);
        c.set_reader_cvm_limit(356, 500_000);
        assert_eq!(c.reader_cvm_limits.len(), 2);
        assert_eq!(c.reader_cvm_limit(CNY_NUMERIC), Some(100_000));
        let k = Kernel::new(c);
        assert!(!cvm_bit(&k, &txn(100_000, CNY_NUMERIC)));
        assert!(cvm_bit(&k, &txn(500_001, 356)));
        // A limit of zero asks for a CVM on every tap.
        let mut zero = TerminalConfig::default();
        zero.set_reader_cvm_limit(CNY_NUMERIC, 0);
        assert!(cvm_bit(&Kernel::new(zero), &txn(1, CNY_NUMERIC)));
    }
}
