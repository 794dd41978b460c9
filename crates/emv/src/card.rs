//! The contactless card application that runs in a phone's secure element,
//! one instance per token, and the [`SecureElement`] that holds up to
//! [`MAX_CARDS`] of them behind a PPSE.
//!
//! Commands (EMV Book 3 §6.5, Book C-2 flow for an online-only mobile card):
//!
//! | command | CLA INS | accepted when | answer |
//! |---|---|---|---|
//! | SELECT PPSE `2PAY.SYS.DDF01` | `00 A4 04 00` | always | FCI with one directory entry (61) per card, with priority |
//! | SELECT AID | `00 A4 04 00` | always | FCI with label, priority and PDOL |
//! | GET PROCESSING OPTIONS | `80 A8 00 00` | after SELECT AID | format 2: AIP (82) + AFL (94) |
//! | READ RECORD | `00 B2 rr (sfi<<3 | 4)` | after GPO | record template 70 |
//! | GENERATE AC | `80 AE p1 00` | after GPO, once | format 2: CID, ATC, AC, IAD |
//!
//! Status words: out-of-order commands `6985`; wrong Lc or DOL data length
//! `6700`; unknown INS `6D00`; CLA other than the command's `6E00`; bad P1/P2
//! `6A86`; unknown AID `6A82`; record not in the AFL `6A83`; ATC exhausted
//! `6985` (the card is then permanently unable to produce cryptograms).
//!
//! GENERATE AC: the card is online-only, so a TC request is answered with an
//! ARQC; an AAC request with an AAC. When the wallet requires on-device user
//! verification (CDCVM) and the device did not report one for this
//! transaction, the card answers an **AAC** (as real mobile cards do, so the
//! terminal can show "see phone") with CVR byte 4 b7 set; it never releases
//! an ARQC in that case. The ATC increments on every GENERATE AC, AAC
//! included. See [`crate::cryptogram`] for the cryptogram input and IAD layout.

use crate::crypto::{derive_session_key, generate_ac};
use crate::cryptogram::{self, AcType, CCI_AES, CCI_TDES, Cvr, Iad};
use crate::keys::EmvKey;
use crate::pan::TokenPan;
use paytap_apdu::{CommandView, StatusWord};
use paytap_tlv::{Builder, DolEntry, Tag, TlvError, dol, parse_dol, tags};

/// The PPSE directory name.
pub const PPSE_NAME: &[u8] = b"2PAY.SYS.DDF01";
/// How many cards a secure element holds.
pub const MAX_CARDS: usize = 8;
/// How many non-EMV applications (transit purses) the PPSE lists beside the
/// cards: the device's limit of purses per secure element.
pub const MAX_LISTED_APPLICATIONS: usize = 4;
/// SFI of the single record file paytap cards expose.
pub const RECORD_SFI: u8 = 1;

/// The default PDOL: TTQ, amount, currency (the card keeps them for the transaction).
pub const DEFAULT_PDOL: &[u8] = &[0x9F, 0x66, 0x04, 0x9F, 0x02, 0x06, 0x5F, 0x2A, 0x02];
/// The default CDOL1: the terminal data of the cryptogram input, plus terminal type and CVM results.
pub const DEFAULT_CDOL1: &[u8] = &[
    0x9F, 0x02, 0x06, 0x9F, 0x03, 0x06, 0x9F, 0x1A, 0x02, 0x95, 0x05, 0x5F, 0x2A, 0x02, 0x9A, 0x03,
    0x9C, 0x01, 0x9F, 0x37, 0x04, 0x9F, 0x35, 0x01, 0x9F, 0x34, 0x03,
];

/// Errors building a card from a profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// An AID outside 5 to 16 bytes (ISO/IEC 7816-4 RID ‖ PIX).
    #[error("AID must be 5 to 16 bytes")]
    BadAid,
    /// The PDOL or CDOL1 is not a valid DOL.
    #[error("malformed DOL: {0}")]
    BadDol(#[from] TlvError),
    /// CDOL1 omits a data element the cryptogram input needs.
    #[error("CDOL1 does not ask for tag {0}, which the cryptogram covers")]
    CdolMissing(Tag),
    /// An expiry that is no valid month and two-digit year.
    #[error("expiry month must be 1 to 12 and year 0 to 99")]
    BadExpiry,
    /// A PAN sequence number above 99.
    #[error("PAN sequence number must be 0 to 99")]
    BadPsn,
    /// The secure element already holds [`MAX_CARDS`] cards.
    #[error("a secure element holds at most {MAX_CARDS} cards")]
    Full,
    /// A card or application with that AID is already installed.
    #[error("two cards with the same AID")]
    DuplicateAid,
    /// No installed card has the AID given.
    #[error("no card with that AID")]
    NoSuchCard,
}

/// Application expiry, the shared [`paytap_types::Expiry`]. Tag 5F24
/// carries YYMMDD; paytap uses the last day of the month (`expiry_bcd`).
pub use paytap_types::Expiry;

impl From<paytap_types::ExpiryError> for CardError {
    fn from(_: paytap_types::ExpiryError) -> Self {
        CardError::BadExpiry
    }
}

/// The 5F24 value of `e`: YYMMDD in BCD with the last day of the month.
fn expiry_bcd(e: Expiry) -> [u8; 3] {
    [bcd(e.year()), bcd(e.month()), bcd(e.last_day())]
}

pub(crate) fn bcd(v: u8) -> u8 {
    ((v / 10 % 10) << 4) | (v % 10)
}

/// Personalisation data for one contactless card application.
#[derive(Debug, Clone)]
pub struct CardProfile {
    /// Application Identifier (4F, DF name 84), 5 to 16 bytes.
    pub aid: Vec<u8>,
    /// Application Label (50) the terminal may show.
    pub label: String,
    /// The token PAN (5A, and in track 2 equivalent data 57).
    pub pan: TokenPan,
    /// Application Expiration Date (5F24).
    pub expiry: Expiry,
    /// PAN sequence number, 0–99.
    pub psn: u8,
    /// ICC master key for application cryptograms (MK-AC), TDES or AES.
    pub icc_mk: EmvKey,
    /// Derivation key index carried in the IAD.
    pub dki: u8,
    /// Application Interchange Profile (82) returned by GET PROCESSING OPTIONS.
    pub aip: [u8; 2],
    /// Processing Options Data Object List (9F38), encoded.
    pub pdol: Vec<u8>,
    /// Card Risk Management Data Object List 1 (8C), encoded.
    pub cdol1: Vec<u8>,
    /// The ATC value before the first transaction.
    pub initial_atc: u16,
    /// The wallet demands on-device user verification for every ARQC.
    pub requires_cdcvm: bool,
    /// Service code for track 2 (`201`: international, IC, normal authorisation).
    pub service_code: u16,
    /// Application priority indicator (87), 1 = highest.
    pub priority: u8,
}

impl CardProfile {
    /// A profile with paytap's defaults for AIP, PDOL, CDOL1, service code and priority.
    pub fn new(
        aid: Vec<u8>,
        label: &str,
        pan: TokenPan,
        expiry: Expiry,
        psn: u8,
        icc_mk: EmvKey,
    ) -> Self {
        CardProfile {
            aid,
            label: label.to_owned(),
            pan,
            expiry,
            psn,
            icc_mk,
            dki: 1,
            // CVM supported, terminal risk management, issuer authentication; EMV mode.
            aip: [0x1C, 0x80],
            pdol: DEFAULT_PDOL.to_vec(),
            cdol1: DEFAULT_CDOL1.to_vec(),
            initial_atc: 0,
            requires_cdcvm: true,
            service_code: 201,
            priority: 1,
        }
    }
}

/// Where the card is in the transaction flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardState {
    /// Not selected, or reset after a transaction.
    Idle,
    /// Selected by SELECT AID; waits for GET PROCESSING OPTIONS.
    Selected,
    /// GET PROCESSING OPTIONS answered; records readable, waits for GENERATE AC.
    Initiated,
    /// GENERATE AC answered.
    Completed,
}

/// Typed result of a GENERATE AC, for callers that skip APDU encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcResponse {
    /// Cryptogram Information Data (9F27).
    pub cid: u8,
    /// Application Transaction Counter (9F36).
    pub atc: u16,
    /// Application Cryptogram (9F26).
    pub ac: [u8; 8],
    /// Issuer Application Data (9F10).
    pub iad: [u8; cryptogram::IAD_LEN],
}

/// One contactless card application (one token).
#[derive(Debug)]
pub struct ContactlessCard {
    profile: CardProfile,
    pdol: Vec<DolEntry>,
    cdol1: Vec<DolEntry>,
    atc: u16,
    last_online_atc: u16,
    state: CardState,
    user_verified: bool,
    fci: Vec<u8>,
    record: Vec<u8>,
    afl: [u8; 4],
}

type Resp = Result<Vec<u8>, StatusWord>;

impl ContactlessCard {
    /// Personalises a card from its profile, checking AID, expiry, PSN and DOLs.
    pub fn new(profile: CardProfile) -> Result<Self, CardError> {
        if !(5..=16).contains(&profile.aid.len()) {
            return Err(CardError::BadAid);
        }
        if profile.psn > 99 {
            return Err(CardError::BadPsn);
        }
        let pdol = parse_dol(&profile.pdol)?;
        let cdol1 = parse_dol(&profile.cdol1)?;
        for t in cryptogram::AC_TERMINAL_TAGS {
            if !cdol1.iter().any(|e| e.tag == *t) {
                return Err(CardError::CdolMissing(*t));
            }
        }
        let fci = Builder::new()
            .template(tags::FCI, |b| {
                b.primitive(tags::DF_NAME, &profile.aid)
                    .template(tags::FCI_PROPRIETARY, |b| {
                        let b = b
                            .primitive(tags::APP_LABEL, profile.label.as_bytes())
                            .primitive(tags::APP_PRIORITY, &[profile.priority]);
                        if profile.pdol.is_empty() {
                            b
                        } else {
                            b.primitive(tags::PDOL, &profile.pdol)
                        }
                    })
            })
            .build();
        let record = Builder::new()
            .template(tags::RECORD, |b| {
                b.primitive(tags::TRACK2_EQ, &track2(&profile))
                    .primitive(tags::PAN, &profile.pan.to_cn())
                    .primitive(tags::EXPIRY, &expiry_bcd(profile.expiry))
                    .primitive(tags::PSN, &[bcd(profile.psn)])
                    .primitive(tags::CDOL1, &profile.cdol1)
            })
            .build();
        Ok(ContactlessCard {
            atc: profile.initial_atc,
            last_online_atc: 0,
            pdol,
            cdol1,
            state: CardState::Idle,
            user_verified: false,
            fci,
            record,
            afl: [RECORD_SFI << 3, 1, 1, 0],
            profile,
        })
    }

    /// The personalisation data.
    pub fn profile(&self) -> &CardProfile {
        &self.profile
    }
    /// The card's Application Identifier.
    pub fn aid(&self) -> &[u8] {
        &self.profile.aid
    }
    /// The ATC of the last cryptogram (the initial ATC before any).
    pub fn atc(&self) -> u16 {
        self.atc
    }
    /// Where the card is in the transaction flow.
    pub fn state(&self) -> CardState {
        self.state
    }

    /// Set by the device after fingerprint/face/passcode; cleared after each GENERATE AC.
    pub fn set_user_verified(&mut self, verified: bool) {
        self.user_verified = verified;
    }

    /// Processes one command APDU and returns the response APDU (data ‖ SW1 SW2).
    /// This standalone form answers SELECT PPSE with a directory of itself.
    pub fn process(&mut self, command: &[u8]) -> Vec<u8> {
        let r = match CommandView::parse(command) {
            Err(_) => Err(StatusWord::WRONG_LENGTH),
            Ok(cmd) => match check_select(&cmd) {
                Some(Ok(name)) if name == PPSE_NAME => {
                    self.state = CardState::Idle;
                    Ok(ppse_fci(&[&*self]))
                }
                Some(Ok(name)) if name == self.profile.aid.as_slice() => Ok(self.select()),
                Some(Ok(_)) => {
                    self.state = CardState::Idle;
                    Err(StatusWord::FILE_NOT_FOUND)
                }
                Some(Err(sw)) => Err(sw),
                None => self.handle(&cmd),
            },
        };
        finish(r)
    }

    fn select(&mut self) -> Vec<u8> {
        self.state = CardState::Selected;
        self.fci.clone()
    }

    /// Handles every command except SELECT.
    fn handle(&mut self, cmd: &CommandView<'_>) -> Resp {
        match (cmd.cla, cmd.ins) {
            (0x80, 0xA8) => self.gpo(cmd),
            (0x00, 0xB2) => self.read_record(cmd),
            (0x80, 0xAE) => self.generate_ac_apdu(cmd),
            (_, 0xA8 | 0xAE | 0xB2 | 0xA4) => Err(StatusWord::CLA_NOT_SUPPORTED),
            (0x00 | 0x80, _) => Err(StatusWord::INS_NOT_SUPPORTED),
            _ => Err(StatusWord::CLA_NOT_SUPPORTED),
        }
    }

    fn gpo(&mut self, cmd: &CommandView<'_>) -> Resp {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        if self.state != CardState::Selected {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        // Command template 83 with the PDOL data, nothing else.
        let tlv = paytap_tlv::Tlv::decode(cmd.data).map_err(|_| StatusWord::WRONG_LENGTH)?;
        if tlv.tag != tags::PDOL_DATA {
            return Err(StatusWord::WRONG_DATA);
        }
        let value = tlv.bytes().unwrap_or(&[]);
        if value.len() != dol::dol_data_len(&self.pdol) {
            return Err(StatusWord::WRONG_LENGTH);
        }
        self.state = CardState::Initiated;
        Ok(Builder::new()
            .template(tags::RESP_FMT2, |b| {
                b.primitive(tags::AIP, &self.profile.aip)
                    .primitive(tags::AFL, &self.afl)
            })
            .build())
    }

    fn read_record(&mut self, cmd: &CommandView<'_>) -> Resp {
        if cmd.p2 & 0x07 != 0x04 || cmd.p1 == 0 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        if !matches!(self.state, CardState::Initiated | CardState::Completed) {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        if !cmd.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        if cmd.p2 >> 3 != RECORD_SFI || cmd.p1 != 1 {
            return Err(StatusWord::RECORD_NOT_FOUND);
        }
        Ok(self.record.clone())
    }

    fn generate_ac_apdu(&mut self, cmd: &CommandView<'_>) -> Resp {
        if cmd.p2 != 0 || cmd.p1 & 0x2F != 0 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let requested = AcType::from_bits(cmd.p1).ok_or(StatusWord::INCORRECT_P1P2)?;
        let r = self.generate_ac(requested, cmd.data)?;
        Ok(Builder::new()
            .template(tags::RESP_FMT2, |b| {
                b.primitive(tags::CID, &[r.cid])
                    .primitive(tags::ATC, &r.atc.to_be_bytes())
                    .primitive(tags::AC, &r.ac)
                    .primitive(tags::IAD, &r.iad)
            })
            .build())
    }

    /// GENERATE AC on already-unwrapped CDOL1 data. Errors are the status words
    /// the APDU form would return.
    pub fn generate_ac(
        &mut self,
        requested: AcType,
        cdol1_data: &[u8],
    ) -> Result<AcResponse, StatusWord> {
        if self.state != CardState::Initiated {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        let values =
            dol::split_dol_data(&self.cdol1, cdol1_data).map_err(|_| StatusWord::WRONG_LENGTH)?;
        let atc = self
            .atc
            .checked_add(1)
            .ok_or(StatusWord::CONDITIONS_NOT_SATISFIED)?;
        self.atc = atc;
        self.state = CardState::Completed;
        let verified = std::mem::take(&mut self.user_verified);
        let missing_cdcvm = self.profile.requires_cdcvm && !verified;
        let ac_type = match requested {
            AcType::Aac => AcType::Aac,
            AcType::Tc | AcType::Arqc if missing_cdcvm => AcType::Aac,
            AcType::Tc | AcType::Arqc => AcType::Arqc,
        };
        let cvr = Cvr::new(
            ac_type,
            verified,
            missing_cdcvm && requested != AcType::Aac,
            atc > 0xFF00,
        );
        let atc_bytes = atc.to_be_bytes();
        let aip = self.profile.aip;
        let input = cryptogram::cryptogram_input(
            |t| match t {
                tags::AIP => Some(&aip[..]),
                tags::ATC => Some(&atc_bytes[..]),
                _ => values.iter().find(|(vt, _)| *vt == t).map(|(_, v)| *v),
            },
            &cvr,
        );
        let sk = derive_session_key(&self.profile.icc_mk, atc);
        let ac = generate_ac(&sk, &input);
        if ac_type == AcType::Arqc {
            self.last_online_atc = atc;
        }
        let cci = if self.profile.icc_mk.is_aes() {
            CCI_AES
        } else {
            CCI_TDES
        };
        let iad = Iad {
            cci,
            dki: self.profile.dki,
            cvr,
            last_online_atc: self.last_online_atc,
        }
        .encode();
        Ok(AcResponse {
            cid: ac_type.cid(),
            atc,
            ac,
            iad,
        })
    }
}

/// Track 2 equivalent data (57): PAN `D` YYMM service-code discretionary, `F`-padded.
fn track2(p: &CardProfile) -> Vec<u8> {
    let mut nibbles: Vec<u8> = p.pan.expose().bytes().map(|b| b - b'0').collect();
    nibbles.push(0x0D);
    nibbles.extend(p.expiry.yymm().bytes().map(|b| b - b'0'));
    nibbles.extend(
        format!("{:03}", p.service_code % 1000)
            .bytes()
            .map(|b| b - b'0'),
    );
    // Discretionary data: PSN (3 digits, as many schemes place it) and zeros.
    nibbles.extend(format!("{:03}0000", p.psn).bytes().map(|b| b - b'0'));
    if nibbles.len() % 2 == 1 {
        nibbles.push(0x0F);
    }
    nibbles
        .chunks(2)
        .map(|c| (c.first().copied().unwrap_or(0) << 4) | c.get(1).copied().unwrap_or(0))
        .collect()
}

/// `Some` for a SELECT (with the name or the error SW), `None` for other commands.
fn check_select<'a>(cmd: &CommandView<'a>) -> Option<Result<&'a [u8], StatusWord>> {
    if cmd.ins != 0xA4 {
        return None;
    }
    if cmd.cla != 0x00 {
        return Some(Err(StatusWord::CLA_NOT_SUPPORTED));
    }
    if cmd.p1 != 0x04 || cmd.p2 != 0x00 {
        return Some(Err(StatusWord::INCORRECT_P1P2));
    }
    if cmd.data.is_empty() || cmd.data.len() > 16 {
        return Some(Err(StatusWord::WRONG_LENGTH));
    }
    Some(Ok(cmd.data))
}

fn ppse_fci(cards: &[&ContactlessCard]) -> Vec<u8> {
    Builder::new()
        .template(tags::FCI, |b| {
            b.primitive(tags::DF_NAME, PPSE_NAME)
                .template(tags::FCI_PROPRIETARY, |b| {
                    b.template(tags::FCI_ISSUER_DISC, |mut b| {
                        for c in cards {
                            b = b.template(tags::DIR_ENTRY, |b| {
                                b.primitive(tags::AID, &c.profile.aid)
                                    .primitive(tags::APP_LABEL, c.profile.label.as_bytes())
                                    .primitive(tags::APP_PRIORITY, &[c.profile.priority])
                            });
                        }
                        b
                    })
                })
        })
        .build()
}

fn finish(r: Resp) -> Vec<u8> {
    match r {
        Ok(mut data) => {
            data.extend_from_slice(&StatusWord::SUCCESS.to_bytes());
            data
        }
        Err(sw) => sw.to_bytes().to_vec(),
    }
}

/// The wallet applet in the secure element: up to [`MAX_CARDS`] cards, one
/// default (listed first, priority 1), the PPSE, and the per-transaction
/// user-verification flag the device sets after biometrics.
#[derive(Debug, Default)]
pub struct SecureElement {
    cards: Vec<ContactlessCard>,
    /// Other applications of the secure element the PPSE lists after the
    /// cards (AID, label), e.g. a transit purse; the device routes their APDUs.
    listed: Vec<(Vec<u8>, String)>,
    default: usize,
    selected: Option<usize>,
    user_verified: bool,
}

impl SecureElement {
    /// An empty secure element.
    pub fn new() -> Self {
        Self::default()
    }

    /// Installs a card; the first card becomes the default.
    pub fn add_card(&mut self, card: ContactlessCard) -> Result<(), CardError> {
        if self.cards.len() >= MAX_CARDS {
            return Err(CardError::Full);
        }
        if self.cards.iter().any(|c| c.aid() == card.aid()) {
            return Err(CardError::DuplicateAid);
        }
        self.cards.push(card);
        Ok(())
    }

    /// Removes the card with `aid`.
    pub fn remove_card(&mut self, aid: &[u8]) -> Result<ContactlessCard, CardError> {
        let i = self
            .cards
            .iter()
            .position(|c| c.aid() == aid)
            .ok_or(CardError::NoSuchCard)?;
        self.selected = None;
        if self.default >= i && self.default > 0 {
            self.default -= 1;
        }
        Ok(self.cards.remove(i))
    }

    /// Makes the card with `aid` the default (the one the PPSE ranks first).
    pub fn set_default(&mut self, aid: &[u8]) -> Result<(), CardError> {
        self.default = self
            .cards
            .iter()
            .position(|c| c.aid() == aid)
            .ok_or(CardError::NoSuchCard)?;
        Ok(())
    }

    /// The installed cards, in installation order.
    pub fn cards(&self) -> &[ContactlessCard] {
        &self.cards
    }

    /// Lists another application of the secure element (not an EMV card; the
    /// device answers its APDUs) in the PPSE, after the cards. At most
    /// [`MAX_LISTED_APPLICATIONS`]; an AID already present is refused.
    pub fn list_application(&mut self, aid: &[u8], label: &str) -> Result<(), CardError> {
        if self.listed.len() >= MAX_LISTED_APPLICATIONS {
            return Err(CardError::Full);
        }
        if self.cards.iter().any(|c| c.aid() == aid) || self.listed.iter().any(|(a, _)| a == aid) {
            return Err(CardError::DuplicateAid);
        }
        self.listed.push((aid.to_vec(), label.to_owned()));
        Ok(())
    }

    /// The card with `aid`, if installed.
    pub fn card(&self, aid: &[u8]) -> Option<&ContactlessCard> {
        self.cards.iter().find(|c| c.aid() == aid)
    }

    /// The device reports that the user verified (fingerprint/face/passcode)
    /// for the next transaction. Cleared after the next GENERATE AC and on
    /// every SELECT PPSE that follows a completed transaction.
    pub fn set_user_verified(&mut self, verified: bool) {
        self.user_verified = verified;
    }

    /// Processes one command APDU.
    pub fn process(&mut self, command: &[u8]) -> Vec<u8> {
        let cmd = match CommandView::parse(command) {
            Ok(c) => c,
            Err(_) => return StatusWord::WRONG_LENGTH.to_bytes().to_vec(),
        };
        let r = match check_select(&cmd) {
            Some(Ok(name)) if name == PPSE_NAME => {
                self.deselect();
                if self.cards.is_empty() && self.listed.is_empty() {
                    Err(StatusWord::FILE_NOT_FOUND)
                } else {
                    Ok(self.ppse())
                }
            }
            Some(Ok(name)) => {
                self.deselect();
                match self.cards.iter().position(|c| c.aid() == name) {
                    Some(i) => {
                        self.selected = Some(i);
                        self.cards
                            .get_mut(i)
                            .map(|c| c.select())
                            .ok_or(StatusWord::FILE_NOT_FOUND)
                    }
                    None => Err(StatusWord::FILE_NOT_FOUND),
                }
            }
            Some(Err(sw)) => Err(sw),
            None => match self.selected.and_then(|i| self.cards.get_mut(i)) {
                Some(card) => {
                    card.user_verified = self.user_verified;
                    let r = card.handle(&cmd);
                    if cmd.ins == 0xAE && cmd.cla == 0x80 && card.state == CardState::Completed {
                        self.user_verified = false;
                    }
                    r
                }
                None => match (cmd.cla, cmd.ins) {
                    (0x80, 0xA8 | 0xAE) | (0x00, 0xB2) => Err(StatusWord::CONDITIONS_NOT_SATISFIED),
                    (_, 0xA8 | 0xAE | 0xB2) => Err(StatusWord::CLA_NOT_SUPPORTED),
                    (0x00 | 0x80, _) => Err(StatusWord::INS_NOT_SUPPORTED),
                    _ => Err(StatusWord::CLA_NOT_SUPPORTED),
                },
            },
        };
        finish(r)
    }

    fn deselect(&mut self) {
        if let Some(c) = self.selected.and_then(|i| self.cards.get_mut(i)) {
            c.state = CardState::Idle;
        }
        self.selected = None;
    }

    fn ppse(&self) -> Vec<u8> {
        // Default first with priority 1; the others keep their order, priority 2.. (max 15).
        let mut order: Vec<&ContactlessCard> = Vec::with_capacity(self.cards.len());
        if let Some(d) = self.cards.get(self.default) {
            order.push(d);
        }
        order.extend(
            self.cards
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != self.default)
                .map(|(_, c)| c),
        );
        let listed: Vec<ContactlessCardListing<'_>> = order
            .iter()
            .enumerate()
            .map(|(i, c)| ContactlessCardListing {
                card: c,
                priority: (i as u8 + 1).min(15),
            })
            .collect();
        Builder::new()
            .template(tags::FCI, |b| {
                b.primitive(tags::DF_NAME, PPSE_NAME)
                    .template(tags::FCI_PROPRIETARY, |b| {
                        b.template(tags::FCI_ISSUER_DISC, |mut b| {
                            for l in &listed {
                                b = b.template(tags::DIR_ENTRY, |b| {
                                    b.primitive(tags::AID, &l.card.profile.aid)
                                        .primitive(tags::APP_LABEL, l.card.profile.label.as_bytes())
                                        .primitive(tags::APP_PRIORITY, &[l.priority])
                                });
                            }
                            for (i, (aid, label)) in self.listed.iter().enumerate() {
                                let priority = (listed.len() + i + 1).min(15) as u8;
                                b = b.template(tags::DIR_ENTRY, |b| {
                                    b.primitive(tags::AID, aid)
                                        .primitive(tags::APP_LABEL, label.as_bytes())
                                        .primitive(tags::APP_PRIORITY, &[priority])
                                });
                            }
                            b
                        })
                    })
            })
            .build()
    }
}

struct ContactlessCardListing<'a> {
    card: &'a ContactlessCard,
    priority: u8,
}
