//! The secure element emulator: the device's key, its enrolled finger, the
//! provisioned tokens and their card applications, behind an API that can
//! produce cryptograms but never exports a key.
//!
//! ## What a tap does ([`Device::tap`] → [`Tap`])
//!
//! The device builds a [`paytap_emv::SecureElement`] with one
//! [`paytap_emv::ContactlessCard`] per token (default card first in the
//! PPSE) and hands every command APDU to it, stepping in at four points:
//!
//! * **User verification.** The device compares the presented [`Finger`]
//!   with the enrolled one in constant time; only a match sets
//!   `user_verified` (CDCVM performed) for this tap's transaction.
//! * **Low-value no-CVM path.** At GET PROCESSING OPTIONS, when the user did
//!   not verify, the token's payload allows no-CVM payments up to
//!   `no_cvm_limit_minor`, the amount and currency in the PDOL data are
//!   within it, and the terminal does not ask for a CVM (TTQ byte 2 b7,
//!   which a reader sets above its Reader CVM Required Limit: the stricter
//!   of the two limits wins), the card application is re-personalised for
//!   this tap without the CDCVM requirement. The GENERATE AC must then carry the very
//!   same amount and currency in its CDOL1 data, or it is refused (`6985`).
//!   Above the limit, an unverified tap gets the card application's AAC
//!   ("see phone").
//! * **ATC write-ahead.** Before a GENERATE AC reaches the card, the next
//!   ATC is reserved and the keystore rewritten (fsync, atomic rename); if
//!   that write fails the command is answered `6581` (memory failure) and no
//!   cryptogram is produced. After a crash, the card restarts from the
//!   reserved value: an ATC is never used twice.
//! * **Issuer authentication.** EXTERNAL AUTHENTICATE (`00 82 00 00`, data
//!   ARPC ‖ ARC, EMV Book 3 §6.5.4) is checked against the last ARQC with
//!   ARPC method 1 (Book 2 §8.2.1): `9000` when it matches, `6300` when not.

use paytap_apdu::{CommandView, StatusWord};
use paytap_emv::card::{AcResponse, CardProfile, PPSE_NAME};
use paytap_emv::crypto::{arpc_method_1, ct_eq, derive_session_key};
use paytap_emv::kernel::{TTQ_CVM_REQUIRED, TTQ_CVM_REQUIRED_BYTE, TransportError};
use paytap_emv::{
    AesKey, ContactlessCard, EmvKey, Expiry, SecureElement, TdesKey, TokenPan, Transport,
};
use paytap_seal::{DeviceKey, ProvisioningPayload};
use paytap_tlv::{Tag, parse_dol, tags};
use paytap_types::Secret;
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::DeviceError;
use crate::keystore::{Keystore, KeystoreKey};
use paytap_purse::card::PersistFailed;
use paytap_purse::{Purse, PurseState, TUNION_AID};

/// How many cards the secure element holds.
pub const MAX_CARDS: usize = paytap_emv::card::MAX_CARDS;
/// How many transit purses one secure element holds (one per city, the PPSE
/// lists each beside the payment cards).
pub const MAX_PURSES: usize = paytap_emv::card::MAX_LISTED_APPLICATIONS;
/// The label the PPSE shows for the transit purse.
const PURSE_LABEL: &str = "T-Union";
/// Version of the keystore's content layout.
const STATE_FORMAT: u32 = 1;
/// Memory failure (ISO 7816-4): the ATC could not be persisted.
const SW_MEMORY_FAILURE: StatusWord = StatusWord::new(0x65, 0x81);

pub use paytap_types::DeviceKind;

/// How long the owner's answer to a step-up ([`Device::verify_owner`])
/// vouches for the next tap: time to walk back to the terminal.
pub const VERIFIED_TAP_WINDOW: std::time::Duration = std::time::Duration::from_secs(120);

/// The system clock in Unix milliseconds (0 before 1970).
fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The emulated biometric: what the owner's enrolled finger (or face)
/// presents to the sensor. Wiped on drop; never printed.
#[derive(Clone, Debug)]
pub struct Finger(Secret<[u8; 32]>);

impl Finger {
    /// Someone else's finger (a fresh random secret).
    pub fn stranger() -> Result<Finger, DeviceError> {
        let mut b = Secret::new([0u8; 32]);
        getrandom::fill(b.expose_mut()).map_err(|_| DeviceError::Random)?;
        Ok(Finger(b))
    }

    fn matches(&self, enrolled: &[u8]) -> bool {
        ct_eq(self.0.expose(), enrolled)
    }
}

/// One token as kept in the secure element.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct StoredCard {
    payload: ProvisioningPayload,
    /// The AID this card answers to in this secure element (the payload's
    /// AID, extended by one byte when another card already uses it).
    aid_hex: String,
    /// The highest ATC reserved so far; the next cryptogram uses `atc + 1`.
    atc: u16,
}

/// One transit purse as kept in the secure element: its state
/// ([`PurseState::encode`], keys included) in hex, inside the encrypted keystore.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct StoredPurse {
    state_hex: String,
}

impl StoredPurse {
    fn decode(&self) -> Result<PurseState, DeviceError> {
        let raw = Zeroizing::new(
            hex::decode(&self.state_hex).map_err(|_| DeviceError::Corrupt("purse"))?,
        );
        PurseState::decode(&raw).map_err(|_| DeviceError::Corrupt("purse"))
    }

    fn encode(state: &PurseState) -> Self {
        let raw = Zeroizing::new(state.encode());
        Self {
            state_hex: hex::encode(raw.as_slice()),
        }
    }
}

/// The way to a device's secure element: the device itself, owned by one
/// task, or one device shared within a process by the NFC field and the
/// wallet's command channel (`Arc<Mutex<Device>>`), each taking it for one
/// tap or one command. One process owns a keystore ([`crate::keystore`]);
/// within it, this is how two duties take turns.
pub trait DeviceAccess {
    /// Runs `f` with the device, alone.
    fn with<R>(&mut self, f: impl FnOnce(&mut Device) -> R) -> R;
}

impl DeviceAccess for Device {
    fn with<R>(&mut self, f: impl FnOnce(&mut Device) -> R) -> R {
        f(self)
    }
}

impl DeviceAccess for std::sync::Arc<std::sync::Mutex<Device>> {
    /// # Panics
    ///
    /// When another holder panicked with the device taken: its secure
    /// element may be half changed, and nothing may use it after that.
    fn with<R>(&mut self, f: impl FnOnce(&mut Device) -> R) -> R {
        let mut device = self
            .lock()
            .expect("the device was poisoned: a tap or command panicked with it");
        f(&mut device)
    }
}

/// The keystore's content.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct State {
    format: u32,
    kind: String,
    name: String,
    model: String,
    device_key_hex: String,
    finger_hex: String,
    device_id: Option<String>,
    wallet_url: Option<String>,
    login: Option<String>,
    session_token: Option<String>,
    session_expires_at: Option<i64>,
    cards: Vec<StoredCard>,
    default_token_ref: Option<String>,
    /// Transit purses (absent in keystores written before transit existed).
    #[serde(default)]
    purses: Vec<StoredPurse>,
    /// A top-up sent to the operator and not yet credited: resent with the
    /// same id and body until the card takes it (absent before top-ups).
    #[serde(default)]
    pending_load: Option<crate::transit::PendingLoad>,
    /// A card issue sent to an operator and not yet installed (absent
    /// before card fees).
    #[serde(default)]
    pending_issue: Option<crate::transit::PendingIssue>,
    /// Where the device is, as its location service would say (absent in
    /// keystores written before "find my device").
    #[serde(default)]
    #[zeroize(skip)]
    position: Option<crate::locate::Position>,
    /// The band's offline payment application (absent before bands paid
    /// offline, and on phones and watches).
    #[serde(default)]
    band: Option<crate::band::BandApp>,
    /// Until when (Unix milliseconds) the owner's answer to a step-up
    /// vouches for the next tap ([`Device::verify_owner`]); absent when
    /// nothing is armed.
    #[serde(default)]
    verified_until: Option<i64>,
}

/// What the device shows about a card (no secret, token masked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardInfo {
    pub token_ref: String,
    /// The token number, first six and last four digits only.
    pub masked_token: String,
    pub card_last4: String,
    pub bank_name: String,
    pub label: String,
    pub aid_hex: String,
    /// The ATC of the last cryptogram (reserved).
    pub atc: u16,
    pub is_default: bool,
    pub cdcvm_required: bool,
    pub no_cvm_limit_minor: i64,
    pub currency_numeric: u16,
}

/// The emulated device with its secure element.
pub struct Device {
    ks: Keystore,
    state: State,
    key: DeviceKey,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("kind", &self.state.kind)
            .field("name", &self.state.name)
            .field("device_id", &self.state.device_id)
            .field("cards", &self.state.cards.len())
            .finish_non_exhaustive()
    }
}

fn load_state(plain: &[u8]) -> Result<(State, DeviceKey), DeviceError> {
    let state: State =
        serde_json::from_slice(plain).map_err(|_| DeviceError::Corrupt("content"))?;
    if state.format != STATE_FORMAT {
        return Err(DeviceError::Corrupt("unknown content format"));
    }
    let mut raw = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(&state.device_key_hex, raw.as_mut())
        .map_err(|_| DeviceError::Corrupt("device key"))?;
    Ok((state, DeviceKey::from_bytes(*raw)))
}

fn bcd_to_u64(b: &[u8]) -> Option<u64> {
    b.iter().try_fold(0u64, |acc, byte| {
        let (hi, lo) = (u64::from(byte >> 4), u64::from(byte & 0x0F));
        (hi <= 9 && lo <= 9).then(|| acc * 100 + hi * 10 + lo)
    })
}

fn icc_mk(p: &ProvisioningPayload) -> Result<EmvKey, DeviceError> {
    match p.key_kind.as_str() {
        "tdes" => TdesKey::from_hex(p.icc_mk_hex.expose()).map(EmvKey::Tdes),
        "aes" => AesKey::from_hex(p.icc_mk_hex.expose()).map(EmvKey::Aes),
        _ => return Err(DeviceError::Payload("unknown key kind".into())),
    }
    .map_err(|e| DeviceError::Payload(e.to_string()))
}

fn build_card(sc: &StoredCard, requires_cdcvm: bool) -> Result<ContactlessCard, DeviceError> {
    let p = &sc.payload;
    let bad = |m: &str| DeviceError::Payload(m.to_owned());
    let aid = hex::decode(&sc.aid_hex).map_err(|_| bad("AID is not hex"))?;
    let pan = TokenPan::new(p.token_pan.expose()).map_err(|_| bad("token number"))?;
    let yymm = p.expiry_yymm.as_bytes();
    let two = |i: usize| -> Option<u8> {
        let s = yymm.get(i..i + 2)?;
        s.iter()
            .all(u8::is_ascii_digit)
            .then(|| (s[0] - b'0') * 10 + (s[1] - b'0'))
    };
    let (yy, mm) = match (yymm.len(), two(0), two(2)) {
        (4, Some(y), Some(m)) => (y, m),
        _ => return Err(bad("expiry is not YYMM")),
    };
    let expiry = Expiry::new(yy, mm).map_err(|e| bad(&e.to_string()))?;
    let mut profile = CardProfile::new(aid, &p.app_label, pan, expiry, p.psn, icc_mk(p)?);
    profile.requires_cdcvm = requires_cdcvm;
    profile.initial_atc = sc.atc;
    ContactlessCard::new(profile).map_err(|e| bad(&e.to_string()))
}

impl Device {
    /// Creates a new device: fresh X25519 key and enrolled finger, an empty
    /// secure element, written to a new keystore at `path`.
    pub fn create(
        path: &Path,
        key: &KeystoreKey,
        kind: DeviceKind,
        name: &str,
        model: &str,
    ) -> Result<Device, DeviceError> {
        let dk = DeviceKey::generate().map_err(|_| DeviceError::Random)?;
        let mut finger = Zeroizing::new([0u8; 32]);
        getrandom::fill(finger.as_mut()).map_err(|_| DeviceError::Random)?;
        let state = State {
            format: STATE_FORMAT,
            kind: kind.as_str().to_owned(),
            name: name.to_owned(),
            model: model.to_owned(),
            device_key_hex: hex::encode(dk.to_bytes().as_ref()),
            finger_hex: hex::encode(finger.as_ref()),
            device_id: None,
            wallet_url: None,
            login: None,
            session_token: None,
            session_expires_at: None,
            cards: Vec::new(),
            default_token_ref: None,
            purses: Vec::new(),
            pending_load: None,
            pending_issue: None,
            position: None,
            band: None,
            verified_until: None,
        };
        let plain = Zeroizing::new(
            serde_json::to_vec(&state).map_err(|_| DeviceError::Corrupt("content"))?,
        );
        let ks = Keystore::create(path, key, &plain)?;
        Ok(Device { ks, state, key: dk })
    }

    /// Opens an existing device's keystore.
    pub fn open(path: &Path, key: &KeystoreKey) -> Result<Device, DeviceError> {
        let (ks, plain) = Keystore::open(path, key)?;
        let (state, key) = load_state(&plain)?;
        Ok(Device { ks, state, key })
    }

    /// Sets one part of the state to `value`, persisted before this
    /// returns; the old value is kept when the write fails.
    fn persist<T>(&mut self, part: fn(&mut State) -> &mut T, value: T) -> Result<(), DeviceError> {
        let old = std::mem::replace(part(&mut self.state), value);
        if let Err(e) = self.save() {
            *part(&mut self.state) = old;
            return Err(e);
        }
        Ok(())
    }

    fn save(&self) -> Result<(), DeviceError> {
        let plain = Zeroizing::new(
            serde_json::to_vec(&self.state).map_err(|_| DeviceError::Corrupt("content"))?,
        );
        self.ks.write(&plain)
    }

    pub fn keystore_path(&self) -> &Path {
        self.ks.path()
    }

    pub fn kind(&self) -> DeviceKind {
        DeviceKind::parse(&self.state.kind).unwrap_or(DeviceKind::Phone)
    }
    pub fn name(&self) -> &str {
        &self.state.name
    }
    pub fn model(&self) -> &str {
        &self.state.model
    }
    /// The device id the wallet assigned at enrolment.
    pub fn device_id(&self) -> Option<&str> {
        self.state.device_id.as_deref()
    }
    pub fn wallet_url(&self) -> Option<&str> {
        self.state.wallet_url.as_deref()
    }
    pub fn login(&self) -> Option<&str> {
        self.state.login.as_deref()
    }
    /// The wallet session (bearer token, expiry in Unix milliseconds).
    pub fn session(&self) -> Option<(&str, i64)> {
        Some((
            self.state.session_token.as_deref()?,
            self.state.session_expires_at.unwrap_or(0),
        ))
    }

    /// The X25519 public key the token service seals payloads to.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.public()
    }

    /// The owner's enrolled finger, as the emulated sensor reads it when
    /// the owner touches it.
    pub fn owner_finger(&self) -> Finger {
        let mut b = Secret::new([0u8; 32]);
        if hex::decode_to_slice(&self.state.finger_hex, b.expose_mut()).is_err() {
            // A damaged enrolment matches nobody.
            b.expose_mut().fill(0);
        }
        Finger(b)
    }

    /// The owner answers a payment's step-up at the sensor: when `finger`
    /// is the enrolled one, the next tap within [`VERIFIED_TAP_WINDOW`]
    /// carries the consumer device CVM without touching the sensor again.
    /// Returns whether the owner was verified (nothing is armed if not).
    pub fn verify_owner(&mut self, finger: Option<&Finger>) -> Result<bool, DeviceError> {
        let enrolled = self.owner_finger();
        if !finger.is_some_and(|f| f.matches(enrolled.0.expose())) {
            return Ok(false);
        }
        self.state.verified_until = Some(now_millis() + VERIFIED_TAP_WINDOW.as_millis() as i64);
        self.save()?;
        Ok(true)
    }

    /// Whether a step-up answer vouches for this tap; using it disarms it.
    fn take_verified(&mut self) -> Result<bool, DeviceError> {
        let Some(until) = self.state.verified_until.take() else {
            return Ok(false);
        };
        self.save()?;
        Ok(now_millis() <= until)
    }

    /// Records the wallet enrolment.
    pub fn set_enrolment(
        &mut self,
        device_id: &str,
        wallet_url: &str,
        login: &str,
    ) -> Result<(), DeviceError> {
        self.state.device_id = Some(device_id.to_owned());
        self.state.wallet_url = Some(wallet_url.to_owned());
        self.state.login = Some(login.to_owned());
        self.save()
    }

    /// Where the device is now, when its location service knows.
    pub fn position(&self) -> Option<&crate::locate::Position> {
        self.state.position.as_ref()
    }

    /// What the location service says the device's place is now.
    pub fn set_position(&mut self, position: crate::locate::Position) -> Result<(), DeviceError> {
        self.state.position = Some(position);
        self.save()
    }

    /// Wipes the secure element: every card token with its keys and every
    /// transit purse. The enrolment stays, so the device can still say it
    /// did. Returns how many cards and purses were removed.
    pub fn erase(&mut self) -> Result<usize, DeviceError> {
        let n = self.state.cards.len()
            + self.state.purses.len()
            + usize::from(self.state.band.is_some());
        self.state.cards.clear();
        self.state.purses.clear();
        self.state.band = None;
        self.state.default_token_ref = None;
        self.save()?;
        Ok(n)
    }

    /// Keeps the wallet session (encrypted with everything else).
    pub fn set_session(&mut self, token: &str, expires_at: i64) -> Result<(), DeviceError> {
        self.state.session_token = Some(token.to_owned());
        self.state.session_expires_at = Some(expires_at);
        self.save()
    }

    fn info(&self, sc: &StoredCard) -> CardInfo {
        let p = &sc.payload;
        CardInfo {
            token_ref: p.token_ref.clone(),
            masked_token: TokenPan::new(p.token_pan.expose())
                .map(|t| t.masked())
                .unwrap_or_else(|_| "invalid".into()),
            card_last4: p.card_last4.clone(),
            bank_name: p.bank_name.clone(),
            label: p.app_label.clone(),
            aid_hex: sc.aid_hex.clone(),
            atc: sc.atc,
            is_default: self.state.default_token_ref.as_deref() == Some(p.token_ref.as_str()),
            cdcvm_required: p.cdcvm_required,
            no_cvm_limit_minor: p.no_cvm_limit_minor,
            currency_numeric: p.currency_numeric,
        }
    }

    /// The cards in the secure element, in installation order.
    pub fn cards(&self) -> Vec<CardInfo> {
        self.state.cards.iter().map(|c| self.info(c)).collect()
    }

    /// Opens a sealed provisioning payload with the device key and installs
    /// the token. Installing a token already present changes nothing
    /// (besides making it the default when asked).
    pub fn install(
        &mut self,
        token_ref: &str,
        sealed: &[u8],
        make_default: bool,
    ) -> Result<CardInfo, DeviceError> {
        let kind = self.kind();
        if !kind.holds_card_tokens() {
            return Err(DeviceError::NoCardTokens(kind.as_str()));
        }
        let device_id = self
            .state
            .device_id
            .clone()
            .ok_or(DeviceError::NotEnrolled)?;
        if let Some(i) = self
            .state
            .cards
            .iter()
            .position(|c| c.payload.token_ref == token_ref)
        {
            if make_default {
                self.state.default_token_ref = Some(token_ref.to_owned());
                self.save()?;
            }
            return Ok(self.info(&self.state.cards[i]));
        }
        if self.state.cards.len() >= MAX_CARDS {
            return Err(DeviceError::Full(MAX_CARDS));
        }
        let payload = ProvisioningPayload::open_with(&self.key, &device_id, token_ref, sealed)
            .map_err(|e| DeviceError::Payload(e.to_string()))?;
        // A device token for taps, or a phone's for taps and scanned codes.
        if !matches!(payload.domain.as_str(), "nfc" | "nfc_qr") {
            return Err(DeviceError::Domain(payload.domain.clone()));
        }
        let taken = |aid: &str| {
            self.state
                .cards
                .iter()
                .any(|c| c.aid_hex.eq_ignore_ascii_case(aid))
        };
        let base = payload.aid_hex.to_ascii_uppercase();
        let aid_hex = if !taken(&base) {
            base
        } else {
            (1u8..=0xFF)
                .map(|n| format!("{base}{n:02X}"))
                .find(|a| !taken(a))
                .ok_or_else(|| DeviceError::Payload("no free AID".into()))?
        };
        let sc = StoredCard {
            atc: payload.atc_start.saturating_sub(1),
            payload,
            aid_hex,
        };
        // Personalisation must succeed before the token is kept.
        build_card(&sc, sc.payload.cdcvm_required)?;
        self.state.cards.push(sc);
        if make_default || self.state.default_token_ref.is_none() {
            self.state.default_token_ref = Some(token_ref.to_owned());
        }
        self.save()?;
        let last = self.state.cards.last().ok_or(DeviceError::NoCards)?;
        Ok(self.info(last))
    }

    /// Deletes a token and its keys from the secure element.
    pub fn remove_card(&mut self, token_ref: &str) -> Result<(), DeviceError> {
        let i = self
            .state
            .cards
            .iter()
            .position(|c| c.payload.token_ref == token_ref)
            .ok_or_else(|| DeviceError::NoSuchCard(token_ref.to_owned()))?;
        self.state.cards.remove(i);
        if self.state.default_token_ref.as_deref() == Some(token_ref) {
            self.state.default_token_ref = self
                .state
                .cards
                .first()
                .map(|c| c.payload.token_ref.clone());
        }
        self.save()
    }

    /// Makes a card the default (first in the PPSE).
    pub fn set_default(&mut self, token_ref: &str) -> Result<(), DeviceError> {
        if !self
            .state
            .cards
            .iter()
            .any(|c| c.payload.token_ref == token_ref)
        {
            return Err(DeviceError::NoSuchCard(token_ref.to_owned()));
        }
        self.state.default_token_ref = Some(token_ref.to_owned());
        self.save()
    }

    /// Installs a personalised transit purse (any device kind, a band
    /// included), persisted before this returns.
    pub fn install_purse(&mut self, state: &PurseState) -> Result<(), DeviceError> {
        if self.state.purses.len() >= MAX_PURSES {
            return Err(DeviceError::Full(MAX_PURSES));
        }
        for p in &self.state.purses {
            if p.decode()?.public.serial == state.public.serial {
                return Err(DeviceError::Payload(
                    "this purse is already installed".into(),
                ));
            }
        }
        self.state.purses.push(StoredPurse::encode(state));
        if let Err(e) = self.save() {
            self.state.purses.pop();
            return Err(e);
        }
        Ok(())
    }

    /// Opens a purse the operator sealed to this device's key under `aad`
    /// and installs it; returns its state.
    pub fn install_sealed_purse(
        &mut self,
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<PurseState, DeviceError> {
        let raw = paytap_seal::open(&self.key, aad, sealed)
            .map_err(|e| DeviceError::Payload(e.to_string()))?;
        let state = PurseState::decode(&raw).map_err(|_| DeviceError::Corrupt("sealed purse"))?;
        self.install_purse(&state)?;
        Ok(state)
    }

    pub(crate) fn band_app(&self) -> Option<&crate::band::BandApp> {
        self.state.band.as_ref()
    }

    /// Replaces the band application's state, persisted before this returns
    /// (the old state kept when the write fails).
    pub(crate) fn set_band_app(&mut self, app: crate::band::BandApp) -> Result<(), DeviceError> {
        self.persist(|s| &mut s.band, Some(app))
    }

    /// The top-up waiting for the card to take it, if any.
    pub fn pending_load(&self) -> Option<&crate::transit::PendingLoad> {
        self.state.pending_load.as_ref()
    }

    /// Records (or clears) the pending top-up, persisted before this returns.
    pub fn set_pending_load(
        &mut self,
        load: Option<crate::transit::PendingLoad>,
    ) -> Result<(), DeviceError> {
        self.persist(|s| &mut s.pending_load, load)
    }

    /// The card issue waiting to be installed, if any.
    pub fn pending_issue(&self) -> Option<&crate::transit::PendingIssue> {
        self.state.pending_issue.as_ref()
    }

    /// Records (or clears) the pending issue, persisted before this returns.
    pub fn set_pending_issue(
        &mut self,
        issue: Option<crate::transit::PendingIssue>,
    ) -> Result<(), DeviceError> {
        self.persist(|s| &mut s.pending_issue, issue)
    }

    /// The installed purses' states (balance, counters, logs), first = the one
    /// that answers the T-Union AID.
    pub fn purses(&self) -> Result<Vec<PurseState>, DeviceError> {
        self.state.purses.iter().map(StoredPurse::decode).collect()
    }

    /// Starts a tap: the device is in a reader's field. `finger` is what the
    /// user presented to the sensor for this transaction, if anything.
    pub fn tap(&mut self, finger: Option<&Finger>) -> Result<Tap<'_>, DeviceError> {
        if self.state.cards.is_empty() && self.state.purses.is_empty() {
            return Err(DeviceError::NoCards);
        }
        let purse = self
            .state
            .purses
            .first()
            .map(StoredPurse::decode)
            .transpose()?
            .map(Purse::new);
        let enrolled = self.owner_finger();
        let verified = match finger {
            Some(f) => f.matches(enrolled.0.expose()),
            None => self.take_verified()?,
        };
        let mut se = SecureElement::new();
        for sc in &self.state.cards {
            se.add_card(build_card(sc, sc.payload.cdcvm_required)?)
                .map_err(|e| DeviceError::Payload(e.to_string()))?;
        }
        if let Some(d) = self.default_aid() {
            // The default is one of the cards just installed; were it refused, the first card stays the default.
            let _ = se.set_default(&d);
        }
        if purse.is_some() {
            se.list_application(&TUNION_AID, PURSE_LABEL)
                .map_err(|e| DeviceError::Payload(e.to_string()))?;
        }
        se.set_user_verified(verified);
        Ok(Tap {
            device: self,
            se,
            purse,
            purse_selected: false,
            verified,
            selected: None,
            relaxed: None,
            last_arqc: None,
            report: TapReport {
                user_verified: verified,
                ..TapReport::default()
            },
        })
    }

    fn default_aid(&self) -> Option<Vec<u8>> {
        let d = self.state.default_token_ref.as_deref()?;
        let sc = self.state.cards.iter().find(|c| c.payload.token_ref == d)?;
        hex::decode(&sc.aid_hex).ok()
    }
}

/// What happened during one tap, for the device's screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TapReport {
    /// The presented finger matched the enrolled one (CDCVM performed).
    pub user_verified: bool,
    /// The low-value no-CVM path was used.
    pub no_cvm: bool,
    /// Cryptograms produced: (token reference, ATC, cryptogram information data).
    pub cryptograms: Vec<(String, u16, u8)>,
    /// The issuer's ARPC was checked: `Some(true)` valid, `Some(false)` invalid.
    pub issuer_authenticated: Option<bool>,
}

/// One tap in progress: a [`Transport`] to the secure element.
pub struct Tap<'d> {
    device: &'d mut Device,
    se: SecureElement,
    /// The transit purse answering the T-Union AID (the first installed).
    purse: Option<Purse>,
    purse_selected: bool,
    verified: bool,
    selected: Option<usize>,
    /// Amount and currency (PDOL values) the no-CVM path was granted for.
    relaxed: Option<(Vec<u8>, Vec<u8>)>,
    last_arqc: Option<(usize, u16, [u8; 8])>,
    report: TapReport,
}

impl std::fmt::Debug for Tap<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

fn sw(r: &[u8]) -> Option<StatusWord> {
    let n = r.len();
    let t = r.get(n.checked_sub(2)?..)?;
    Some(StatusWord::new(*t.first()?, *t.get(1)?))
}

fn values_of(dol: &[u8], data: &[u8], wanted: &[Tag]) -> Option<Vec<Vec<u8>>> {
    let entries = parse_dol(dol).ok()?;
    let split = paytap_tlv::dol::split_dol_data(&entries, data).ok()?;
    wanted
        .iter()
        .map(|t| {
            split
                .iter()
                .find(|(tag, _)| tag == t)
                .map(|(_, v)| v.to_vec())
        })
        .collect()
}

/// Whether the terminal's TTQ in the PDOL data says "CVM required" (the
/// amount is above its Reader CVM Required Limit). No TTQ asks for nothing.
fn terminal_requires_cvm(pdol: &[u8], pdol_data: &[u8]) -> bool {
    values_of(pdol, pdol_data, &[tags::TTQ])
        .and_then(|v| v.first()?.get(TTQ_CVM_REQUIRED_BYTE).copied())
        .is_some_and(|b| b & TTQ_CVM_REQUIRED != 0)
}

impl Tap<'_> {
    /// Records (or clears) the device's pending top-up during the tap.
    pub fn set_pending_load(
        &mut self,
        load: Option<crate::transit::PendingLoad>,
    ) -> Result<(), DeviceError> {
        self.device.set_pending_load(load)
    }

    /// What happened so far.
    pub fn report(&self) -> &TapReport {
        &self.report
    }

    /// Processes one command APDU and returns the response APDU.
    pub fn process(&mut self, command: &[u8]) -> Vec<u8> {
        let Ok(cmd) = CommandView::parse(command) else {
            return self.se.process(command);
        };
        if (cmd.cla, cmd.ins) == (0x00, 0xA4) {
            self.purse_selected = false;
            if let Some(p) = self.purse.as_mut() {
                p.reset();
            }
            if cmd.data == TUNION_AID && self.purse.is_some() {
                // Deselects the EMV card; the purse answers.
                let _ = self.se.process(command);
                self.selected = None;
                self.purse_selected = true;
            }
        }
        if self.purse_selected {
            return self.purse_process(command);
        }
        match (cmd.cla, cmd.ins) {
            (0x00, 0xA4) => {
                let r = self.se.process(command);
                self.relaxed = None;
                self.selected = if sw(&r) == Some(StatusWord::SUCCESS) && cmd.data != PPSE_NAME {
                    self.device
                        .state
                        .cards
                        .iter()
                        .position(|c| hex::decode(&c.aid_hex).is_ok_and(|a| a == cmd.data))
                } else {
                    None
                };
                r
            }
            (0x80, 0xA8) => {
                if let Err(sw) = self.maybe_no_cvm(&cmd) {
                    return sw.to_bytes().to_vec();
                }
                self.se.process(command)
            }
            (0x80, 0xAE) => self.generate_ac(command, &cmd),
            (0x00, 0x82) => self.external_authenticate(&cmd).to_bytes().to_vec(),
            _ => self.se.process(command),
        }
    }

    /// Routes a command to the transit purse; a command that changes its
    /// state is persisted in the keystore before the answer (6581 and no
    /// change if that fails).
    fn purse_process(&mut self, command: &[u8]) -> Vec<u8> {
        let mut random = [0u8; 4];
        if getrandom::fill(&mut random).is_err() {
            return StatusWord::NO_PRECISE_DIAGNOSIS.to_bytes().to_vec();
        }
        let (Some(purse), device) = (self.purse.as_mut(), &mut *self.device) else {
            return StatusWord::FILE_NOT_FOUND.to_bytes().to_vec();
        };
        purse.process_with(command, random, |next| {
            let Some(slot) = device.state.purses.first_mut() else {
                return Err(PersistFailed);
            };
            let old = std::mem::replace(slot, StoredPurse::encode(next));
            if device.save().is_err() {
                tracing::warn!("transit purse state could not be persisted; answering 6581");
                if let Some(slot) = device.state.purses.first_mut() {
                    *slot = old;
                }
                return Err(PersistFailed);
            }
            Ok(())
        })
    }

    fn selected_card(&self) -> Option<(usize, &StoredCard)> {
        let i = self.selected?;
        Some((i, self.device.state.cards.get(i)?))
    }

    /// The low-value no-CVM path (see the module doc).
    fn maybe_no_cvm(&mut self, cmd: &CommandView<'_>) -> Result<(), StatusWord> {
        if self.verified {
            return Ok(());
        }
        let Some((_, sc)) = self.selected_card() else {
            return Ok(());
        };
        let p = &sc.payload;
        if !p.cdcvm_required || p.no_cvm_limit_minor <= 0 {
            return Ok(());
        }
        let Ok(aid) = hex::decode(&sc.aid_hex) else {
            return Ok(());
        };
        let Some(card) = self.se.card(&aid) else {
            return Ok(());
        };
        let Ok(t) = paytap_tlv::Tlv::decode(cmd.data) else {
            return Ok(());
        };
        let Some(pdol_data) = t.bytes().filter(|_| t.tag == tags::PDOL_DATA) else {
            return Ok(());
        };
        let Some(v) = values_of(
            &card.profile().pdol,
            pdol_data,
            &[tags::AMOUNT, tags::CURRENCY],
        ) else {
            return Ok(());
        };
        let (Some(amount), Some(currency)) = (v.first(), v.get(1)) else {
            return Ok(());
        };
        if terminal_requires_cvm(&card.profile().pdol, pdol_data) {
            return Ok(());
        }
        let within = bcd_to_u64(amount)
            .is_some_and(|a| i64::try_from(a).is_ok_and(|a| a <= p.no_cvm_limit_minor))
            && bcd_to_u64(currency) == Some(u64::from(p.currency_numeric));
        if !within {
            return Ok(());
        }
        let relaxed_card = build_card(sc, false).map_err(|_| StatusWord::NO_PRECISE_DIAGNOSIS)?;
        let relaxed = (amount.clone(), currency.clone());
        self.se
            .remove_card(&aid)
            .map_err(|_| StatusWord::NO_PRECISE_DIAGNOSIS)?;
        self.se
            .add_card(relaxed_card)
            .map_err(|_| StatusWord::NO_PRECISE_DIAGNOSIS)?;
        if let Some(d) = self.device.default_aid() {
            // The default is one of the cards just installed; were it refused, the first card stays the default.
            let _ = self.se.set_default(&d);
        }
        let mut select = vec![0x00, 0xA4, 0x04, 0x00, aid.len() as u8];
        select.extend_from_slice(&aid);
        select.push(0x00);
        if sw(&self.se.process(&select)) != Some(StatusWord::SUCCESS) {
            return Err(StatusWord::NO_PRECISE_DIAGNOSIS);
        }
        self.relaxed = Some(relaxed);
        self.report.no_cvm = true;
        Ok(())
    }

    fn generate_ac(&mut self, command: &[u8], cmd: &CommandView<'_>) -> Vec<u8> {
        let Some((i, sc)) = self.selected_card() else {
            return self.se.process(command);
        };
        if let Some((amount, currency)) = &self.relaxed {
            let same = hex::decode(&sc.aid_hex)
                .ok()
                .and_then(|aid| self.se.card(&aid).map(|c| c.profile().cdol1.clone()))
                .and_then(|cdol| values_of(&cdol, cmd.data, &[tags::AMOUNT, tags::CURRENCY]))
                .is_some_and(|v| v.first() == Some(amount) && v.get(1) == Some(currency));
            if !same {
                return StatusWord::CONDITIONS_NOT_SATISFIED.to_bytes().to_vec();
            }
        }
        // Write-ahead: reserve the ATC on disk before the card may use it.
        if let Some(next) = sc.atc.checked_add(1) {
            if let Some(c) = self.device.state.cards.get_mut(i) {
                c.atc = next;
            }
            if self.device.save().is_err() {
                return SW_MEMORY_FAILURE.to_bytes().to_vec();
            }
        }
        let r = self.se.process(command);
        if sw(&r) == Some(StatusWord::SUCCESS)
            && let Some(ac) = parse_gen_ac(r.get(..r.len().saturating_sub(2)).unwrap_or(&[]))
        {
            let token_ref = self
                .device
                .state
                .cards
                .get(i)
                .map(|c| c.payload.token_ref.clone())
                .unwrap_or_default();
            self.report.cryptograms.push((token_ref, ac.atc, ac.cid));
            self.last_arqc = (ac.cid & 0xC0 == 0x80).then_some((i, ac.atc, ac.ac));
        }
        r
    }

    fn external_authenticate(&mut self, cmd: &CommandView<'_>) -> StatusWord {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return StatusWord::INCORRECT_P1P2;
        }
        let (Some(arpc), Some(arc)) = (cmd.data.get(..8), cmd.data.get(8..10)) else {
            return StatusWord::WRONG_LENGTH;
        };
        if cmd.data.len() != 10 {
            return StatusWord::WRONG_LENGTH;
        }
        let Some((i, atc, arqc)) = self.last_arqc.take() else {
            return StatusWord::CONDITIONS_NOT_SATISFIED;
        };
        let Some(sc) = self
            .device
            .state
            .cards
            .get(i)
            .filter(|_| self.selected == Some(i))
        else {
            return StatusWord::CONDITIONS_NOT_SATISFIED;
        };
        let Ok(mk) = icc_mk(&sc.payload) else {
            return StatusWord::NO_PRECISE_DIAGNOSIS;
        };
        let sk = derive_session_key(&mk, atc);
        let Ok(arc) = <[u8; 2]>::try_from(arc) else {
            return StatusWord::WRONG_LENGTH;
        };
        let ok = ct_eq(&arpc_method_1(&sk, arqc, arc), arpc);
        self.report.issuer_authenticated = Some(ok);
        if ok {
            StatusWord::SUCCESS
        } else {
            StatusWord::VERIFICATION_FAILED
        }
    }
}

fn parse_gen_ac(b: &[u8]) -> Option<AcResponse> {
    let t = paytap_tlv::Tlv::decode(b).ok()?;
    if t.tag != tags::RESP_FMT2 {
        return None;
    }
    let get = |tag| t.child(tag).and_then(|x| x.bytes());
    let cid = *get(tags::CID)?.first()?;
    let atc = u16::from_be_bytes(get(tags::ATC)?.try_into().ok()?);
    let ac: [u8; 8] = get(tags::AC)?.try_into().ok()?;
    let iad = get(tags::IAD)?.try_into().ok()?;
    Some(AcResponse { cid, atc, ac, iad })
}

impl Transport for Tap<'_> {
    fn transceive(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.process(command))
    }
}
