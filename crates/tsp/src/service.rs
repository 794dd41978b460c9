//! The token service proper: token records in the network database
//! (`tsp_tokens`, `tsp_token_events`), provisioning, the lifecycle, and
//! detokenize-and-verify on ISO 8583 authorizations.
//!
//! Token numbers are never stored in clear: each token number is a vault
//! record (AES-256-GCM envelope, keyed HMAC fingerprint), and the token
//! table keys by the vault id. A token number arriving in DE 2 is found by
//! its fingerprint.

use crate::atc::{AtcError, check_atc};
use crate::batch::{Arg, Batcher, Write};
use crate::domain::Domain;
use crate::error::{Refusal, TspError};
use crate::keys::TokenKeys;
use crate::lifecycle::{Actor, TokenState};
use crate::number::TokenRange;
use paytap_emv::crypto::{arpc_method_1, derive_icc_mk_a};
use paytap_emv::{EmvKey, TdesKey};
use paytap_iso8583::{CheckResult, Message, TokenData, VerificationResults};
use paytap_seal::ProvisioningPayload;
use paytap_store::bulk::Bulk;
use paytap_store::{Db, Migration};
use paytap_types::{Clock, SystemClock};
use paytap_types::{Currency, Pan, Secret};
use paytap_vault::{CardRecord, Expiry, Vault, VaultError};
use rand::SeedableRng;
use sqlx::Row;
use std::sync::Arc;

macro_rules! token_select {
    ($tail:literal) => {
        concat!("SELECT token_ref, token_last4, card_vault_id, card_last4, issuer_id, \
    requestor_id, device_id, domain, expiry, psn, key_kind, key_check, state, last_atc, created_at, \
    updated_at, account_id FROM tsp_tokens ", $tail)
    };
}

/// `token_ref, seq, from_state, to_state, actor, reason, at`.
type EventRow = (String, i64, Option<String>, String, String, String, i64);

/// Schema owned by the token service.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        component: "tsp",
        version: 1,
        sql: "CREATE TABLE tsp_tokens (\
            token_ref TEXT PRIMARY KEY, \
            token_vault_id TEXT NOT NULL UNIQUE, \
            token_last4 TEXT NOT NULL, \
            card_vault_id TEXT NOT NULL, \
            card_last4 TEXT NOT NULL, \
            issuer_id TEXT NOT NULL, \
            requestor_id TEXT NOT NULL, \
            device_id TEXT NOT NULL, \
            domain TEXT NOT NULL, \
            expiry TEXT NOT NULL, \
            psn BIGINT NOT NULL, \
            key_kind TEXT NOT NULL, \
            key_check TEXT NOT NULL, \
            state TEXT NOT NULL, \
            last_atc BIGINT NOT NULL, \
            created_at BIGINT NOT NULL, \
            updated_at BIGINT NOT NULL);\
          CREATE UNIQUE INDEX tsp_tokens_card_device ON tsp_tokens (card_vault_id, device_id) \
            WHERE state <> 'deleted';\
          CREATE INDEX tsp_tokens_device ON tsp_tokens (device_id);\
          CREATE TABLE tsp_token_events (\
            token_ref TEXT NOT NULL, \
            seq BIGINT NOT NULL, \
            from_state TEXT, \
            to_state TEXT NOT NULL, \
            actor TEXT NOT NULL, \
            reason TEXT NOT NULL, \
            at BIGINT NOT NULL, \
            PRIMARY KEY (token_ref, seq))",
    },
    // The wallet account a token was provisioned for (the token
    // requestor's account id, EMV tokenisation's "wallet account"), which
    // the risk and offers services need on every payment; NULL for tokens
    // provisioned before it was kept, or by a requestor without accounts.
    Migration {
        component: "tsp",
        version: 2,
        sql: "ALTER TABLE tsp_tokens ADD COLUMN account_id TEXT",
    },
];

/// Token service settings.
#[derive(Debug, Clone)]
pub struct TspConfig {
    /// Token BIN ranges, one or more per issuer.
    pub ranges: Vec<TokenRange>,
    /// How far ahead of the last accepted ATC a cryptogram may be.
    pub atc_window: u16,
    /// Token validity from provisioning, in months.
    pub token_validity_months: u32,
    /// PAN sequence number given to tokens.
    pub psn: u8,
    /// AID of the token's card application.
    pub aid_hex: String,
}

impl Default for TspConfig {
    fn default() -> Self {
        TspConfig {
            ranges: Vec::new(),
            atc_window: 64,
            token_validity_months: 36,
            psn: 1,
            aid_hex: "A000000333010101".to_owned(),
        }
    }
}

/// What to provision. Nothing in it is secret: the card is named by its
/// vault id, and the device's key is its public one.
#[derive(Clone, Debug)]
pub struct ProvisionRequest {
    /// The funding card's vault id (the issuer stored it when issuing).
    pub card_vault_id: String,
    pub issuer_id: String,
    /// Shown on the device.
    pub bank_name: String,
    /// The wallet's token requestor id (11 digits, EMV tokenisation TRID).
    pub token_requestor_id: String,
    pub device_id: String,
    /// X25519 public key the payload is sealed to.
    pub device_public_key: [u8; 32],
    pub domain: Domain,
    /// [`TokenState::Active`] after a green ID&V, [`TokenState::Inactive`]
    /// while a step-up is pending.
    pub initial_state: TokenState,
    /// Who asked (recorded in the first lifecycle event).
    pub actor: Actor,
    pub cdcvm_required: bool,
    /// Amount up to which no user verification is needed (0: always).
    pub no_cvm_limit_minor: i64,
    pub currency: Currency,
    /// Application label (EMV tag 50), e.g. `"UnionPay Debit"`.
    pub app_label: String,
    /// The token requestor's account the token is for (the wallet's
    /// account id), kept with the token so that every payment with it can
    /// name its account without another lookup; `None` when unknown.
    pub account_id: Option<String>,
}

impl ProvisionRequest {
    /// A wallet's request for an NFC token of a UnionPay card in CNY:
    /// active at once, a CDCVM on every payment (no no-CVM limit), labelled
    /// `"UnionPay"`. The parameters are the fields in their declared order;
    /// a caller that differs elsewhere changes those fields with struct
    /// update syntax (`ProvisionRequest { currency, ..ProvisionRequest::wallet_nfc(..) }`).
    pub fn wallet_nfc(
        card_vault_id: impl Into<String>,
        issuer_id: impl Into<String>,
        bank_name: impl Into<String>,
        token_requestor_id: impl Into<String>,
        device_id: impl Into<String>,
        device_public_key: [u8; 32],
    ) -> Self {
        Self {
            card_vault_id: card_vault_id.into(),
            issuer_id: issuer_id.into(),
            bank_name: bank_name.into(),
            token_requestor_id: token_requestor_id.into(),
            device_id: device_id.into(),
            device_public_key,
            domain: Domain::Nfc,
            initial_state: TokenState::Active,
            actor: Actor::Wallet,
            cdcvm_required: true,
            no_cvm_limit_minor: 0,
            currency: Currency::CNY,
            app_label: "UnionPay".into(),
            account_id: None,
        }
    }
}

/// A provisioned token as the wallet receives it.
#[derive(Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub token_ref: String,
    pub token_last4: String,
    pub card_last4: String,
    /// The token's expiry (the card's own stays with the issuer).
    pub expiry_yymm: Expiry,
    pub state: TokenState,
    /// [`ProvisioningPayload`] sealed to the device key with AAD
    /// `ProvisioningPayload::aad(device_id, token_ref)`.
    pub sealed_payload: Vec<u8>,
}

/// Not secret (the payload is sealed to the device), only long: the sealed
/// payload shows as its length.
impl std::fmt::Debug for Provisioned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provisioned")
            .field("token_ref", &self.token_ref)
            .field("token_last4", &self.token_last4)
            .field("state", &self.state)
            .field("sealed_payload_len", &self.sealed_payload.len())
            .finish()
    }
}

/// A token record without its number.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    pub token_ref: String,
    pub token_last4: String,
    pub card_vault_id: String,
    pub card_last4: String,
    pub issuer_id: String,
    pub token_requestor_id: String,
    pub device_id: String,
    pub domain: Domain,
    /// Serialized as `YYMM`.
    pub expiry_yymm: Expiry,
    pub psn: u8,
    /// `"tdes-option-a"`.
    pub key_kind: String,
    pub state: TokenState,
    /// Last accepted ATC, `None` before the first payment.
    pub last_atc: Option<u16>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The wallet account it was provisioned for, if the requestor said.
    pub account_id: Option<String>,
}

/// One lifecycle change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenEvent {
    pub token_ref: String,
    pub seq: i64,
    pub from: Option<TokenState>,
    pub to: TokenState,
    pub actor: Actor,
    pub reason: String,
    pub at: i64,
}

/// What the switch keeps between detokenizing a request and answering it.
/// The token number masks itself and the session key redacts itself, so
/// `Debug` shows neither.
#[derive(Clone, Debug)]
pub struct TokenContext {
    pub token_ref: String,
    pub issuer_id: String,
    pub device_id: String,
    pub token_requestor_id: String,
    pub token_last4: String,
    pub card_last4: String,
    pub atc: u16,
    pub cdcvm_performed: bool,
    /// The funding card's vault id: the same card in every device's token.
    pub card_vault_id: String,
    /// The wallet account the token was provisioned for.
    pub account_id: Option<String>,
    /// When the token was provisioned (Unix ms): when the card was added
    /// to this device.
    pub provisioned_at_ms: i64,
    /// Whether this is the first authorization the token service accepted
    /// for the token (no ATC accepted before).
    pub first_use: bool,
    token_pan: Pan,
    session_key: EmvKey,
    arqc: [u8; 8],
}

impl TokenContext {
    /// Turns the issuer's answer (about the card PAN) into the answer for
    /// the acquirer: DE 2 back to the token, and the ARPC (method 1, EMV
    /// Book 2 §8.2.1) over the issuer's DE 39 as tag 91 (`ARPC ‖ ARC`)
    /// appended to DE 55.
    pub fn complete_response(&self, response: &mut Message) -> Result<(), paytap_iso8583::Error> {
        if response.has(2) {
            response.set(2, self.token_pan.expose())?;
        }
        let code = response
            .get(39)
            .and_then(|c| <[u8; 2]>::try_from(c).ok())
            .unwrap_or(*b"96");
        let arpc = arpc_method_1(&self.session_key, self.arqc, code);
        let mut tag91 = [0u8; 10];
        tag91[..8].copy_from_slice(&arpc);
        tag91[8..].copy_from_slice(&code);
        let mut de55 = response.get(55).map(<[u8]>::to_vec).unwrap_or_default();
        de55.extend(
            paytap_tlv::Builder::new()
                .primitive(paytap_tlv::tags::ISSUER_AUTH_DATA, &tag91)
                .build(),
        );
        response.set(55, &de55)?;
        response.set_verification_results(&VerificationResults {
            cryptogram: Some(CheckResult::Passed),
            cdcvm: Some(if self.cdcvm_performed {
                CheckResult::Passed
            } else {
                CheckResult::NotChecked
            }),
            atc: Some(CheckResult::Passed),
        })?;
        Ok(())
    }

    /// The token number (for the acquirer-side answer only; never log it).
    pub fn token_pan(&self) -> &Pan {
        &self.token_pan
    }
}

/// A refusal of [`Tsp::detokenize`], with the token's reference when the
/// token is known (so the wallet can show the decline on the right card).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub refusal: Refusal,
    pub token_ref: Option<String>,
}

/// A request that passed every token check, ready for the issuer.
#[derive(Debug, Clone)]
pub struct Detokenized {
    /// The request with DE 2 (and DE 35, DE 14) of the funding card, DE 62
    /// token data and DE 63 verification results set.
    pub request: Message,
    pub context: TokenContext,
}

/// The accepted ATC's write, under way (see [`Tsp::detokenize_deferred`]).
pub type PendingWrite = tokio::task::JoinHandle<Result<(), String>>;

/// Waits until a [`PendingWrite`] is durable (or has failed).
pub async fn finish_write(write: PendingWrite) -> Result<(), String> {
    write.await.map_err(|e| e.to_string())?
}

/// The token service. Cheap to clone.
#[derive(Clone)]
pub struct Tsp {
    db: Db,
    vault: Vault,
    config: Arc<TspConfig>,
    keys: Arc<TokenKeys>,
    clock: Arc<dyn Clock>,
    writer: Batcher,
    /// Token number fingerprint → vault id: immutable once written, so a
    /// cache that saves a vault lookup per authorization.
    token_ids: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
    /// Token rows by token vault id (this process owns `tsp_tokens`).
    tokens: Arc<crate::cache::Cache<(TokenInfo, String)>>,
    /// The last accepted ATC of every token that has been used since start,
    /// by token reference. Authoritative once present (it is ahead of, or
    /// equal to, the database): a counter is accepted here, atomically,
    /// before it is written, and entries are never dropped.
    atcs: Arc<std::sync::Mutex<std::collections::HashMap<String, u16>>>,
    /// Each token's ICC master key, derived once (the issuer keys and the
    /// token's row do not change while the service runs).
    icc_keys: Arc<crate::cache::Cache<EmvKey>>,
}

/// Most ICC master keys kept in memory.
const ICC_KEY_CACHE: usize = 100_000;

/// `[token_ref, atc]`: raise each token's last accepted ATC (never lower it;
/// several rows for one token in a batch count as their maximum).
const ACCEPT_ATCS: Bulk = Bulk {
    name: "tsp_tokens last_atc",
    sqlite: "UPDATE tsp_tokens SET last_atc = m.atc FROM \
             (SELECT j.value->>0 AS token_ref, MAX(j.value->>1) AS atc FROM jsonb_each(jsonb($1)) AS j GROUP BY 1) AS m \
             WHERE tsp_tokens.token_ref = m.token_ref AND tsp_tokens.last_atc < m.atc",
    postgres: "UPDATE tsp_tokens SET last_atc = m.atc FROM \
               (SELECT r->>0 AS token_ref, MAX((r->>1)::bigint) AS atc \
               FROM jsonb_array_elements($1::jsonb) AS r GROUP BY 1) AS m \
               WHERE tsp_tokens.token_ref = m.token_ref AND tsp_tokens.last_atc < m.atc",
    sqlite_row: "UPDATE tsp_tokens SET last_atc = ?2 WHERE token_ref = ?1 AND last_atc < ?2",
};

impl std::fmt::Debug for Tsp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tsp")
            .field("ranges", &self.config.ranges.len())
            .finish_non_exhaustive()
    }
}

const KEY_KIND: &str = "tdes-option-a";

/// The request's own checks: an 11-digit token requestor id, a device id
/// of 1 to 128 characters, and a new token that is active or inactive.
fn check_provision_request(req: &ProvisionRequest) -> Result<(), TspError> {
    if !requestor_ok(&req.token_requestor_id) {
        return Err(TspError::BadRequestorId);
    }
    if req.device_id.is_empty() || req.device_id.len() > MAX_DEVICE_ID {
        return Err(TspError::Invalid("device id must be 1 to 128 characters"));
    }
    if !matches!(req.initial_state, TokenState::Active | TokenState::Inactive) {
        return Err(TspError::Invalid("a new token is active or inactive"));
    }
    Ok(())
}

/// Longest device id accepted (bytes): the wallet's ids are far shorter,
/// and the column is indexed.
const MAX_DEVICE_ID: usize = 128;

/// A new token's row as provisioning writes it.
struct NewTokenRow {
    token_ref: String,
    token_vault_id: String,
    token_last4: String,
    card_last4: String,
    expiry: Expiry,
    /// Check value of the issuer's IMK the token's keys derive from.
    key_check: String,
    now: i64,
}

fn requestor_ok(id: &str) -> bool {
    id.len() == 11 && id.bytes().all(|b| b.is_ascii_digit())
}

impl Tsp {
    /// Opens the service on the network database (migrating it) with a
    /// vault for card and token numbers.
    pub async fn open(
        db: Db,
        vault: Vault,
        config: TspConfig,
        keys: TokenKeys,
    ) -> Result<Tsp, TspError> {
        for r in &config.ranges {
            r.validate()?;
            if keys.get(&r.issuer_id).is_none() {
                return Err(TspError::NoKey(r.issuer_id.clone()));
            }
        }
        db.migrate(MIGRATIONS).await?;
        Ok(Tsp {
            db: db.clone(),
            vault,
            config: Arc::new(config),
            keys: Arc::new(keys),
            clock: Arc::new(SystemClock),
            writer: Batcher::start(db.clone()),
            token_ids: Arc::default(),
            tokens: Arc::default(),
            atcs: Arc::default(),
            icc_keys: Arc::new(crate::cache::Cache::with_capacity(ICC_KEY_CACHE)),
        })
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Tsp {
        self.clock = clock;
        self
    }

    pub fn config(&self) -> &TspConfig {
        &self.config
    }

    /// Whether `digits` lies in one of this service's token ranges (the
    /// switch's routing test: token BINs go to the TSP first).
    pub fn is_token_number(&self, digits: &str) -> bool {
        self.config.ranges.iter().any(|r| r.contains(digits))
    }

    /// The issuer owning the token range `digits` falls in.
    pub fn issuer_of(&self, digits: &str) -> Option<&str> {
        self.config
            .ranges
            .iter()
            .find(|r| r.contains(digits))
            .map(|r| r.issuer_id.as_str())
    }

    /// Creates a token for a card on a device and seals its provisioning
    /// payload to the device key. One live token per (card, device).
    pub async fn provision(&self, req: ProvisionRequest) -> Result<Provisioned, TspError> {
        check_provision_request(&req)?;
        let ranges = self.issuer_ranges(&req.issuer_id)?;
        let imk = self
            .keys
            .get(&req.issuer_id)
            .ok_or_else(|| TspError::NoKey(req.issuer_id.clone()))?;
        let card_last4 = self.card_to_tokenize(&req).await?;
        let now = self.clock.now_millis();
        let expiry = Expiry::months_after(now, self.config.token_validity_months);
        let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
        let (token_pan, token_vault_id) = self.fresh_token(&ranges, expiry, &mut rng).await?;
        let row = NewTokenRow {
            token_ref: format!("tok_{}", uuid::Uuid::new_v4().simple()),
            token_vault_id,
            token_last4: token_pan.last4().to_owned(),
            card_last4,
            expiry,
            key_check: hex::encode_upper(imk.kcv()),
            now,
        };
        self.insert_token(&req, &row).await?;
        let sealed_payload = self.sealed_payload(&req, &row, &token_pan, imk)?;
        tracing::info!(token_ref = %row.token_ref, bank = %req.issuer_id, device = %req.device_id,
            state = %req.initial_state, "token provisioned");
        Ok(Provisioned {
            token_ref: row.token_ref,
            token_last4: row.token_last4,
            card_last4: row.card_last4,
            expiry_yymm: row.expiry,
            state: req.initial_state,
            sealed_payload,
        })
    }

    /// The token ranges of an issuer (at least one).
    fn issuer_ranges(&self, issuer_id: &str) -> Result<Vec<&TokenRange>, TspError> {
        let ranges: Vec<&TokenRange> = self
            .config
            .ranges
            .iter()
            .filter(|r| r.issuer_id == issuer_id)
            .collect();
        if ranges.is_empty() {
            return Err(TspError::NoRange(issuer_id.to_owned()));
        }
        Ok(ranges)
    }

    /// The last four digits of the card to tokenize, which the vault must
    /// hold and which must have no live token on the device yet.
    async fn card_to_tokenize(&self, req: &ProvisionRequest) -> Result<String, TspError> {
        let card = match self.vault.get(&req.card_vault_id).await {
            Ok(c) => c,
            Err(VaultError::NotFound) => return Err(TspError::CardNotFound),
            Err(e) => return Err(e.into()),
        };
        if let Some(existing) = self
            .live_token_for(&req.card_vault_id, &req.device_id)
            .await?
        {
            return Err(TspError::AlreadyProvisioned(existing));
        }
        Ok(card.pan.last4().to_owned())
    }

    /// Writes the token and its "provisioned" event in one transaction. A
    /// concurrent provisioning for the same (card, device) that won the
    /// unique index is reported as [`TspError::AlreadyProvisioned`].
    async fn insert_token(
        &self,
        req: &ProvisionRequest,
        row: &NewTokenRow,
    ) -> Result<(), TspError> {
        let mut tx = self.db.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO tsp_tokens (token_ref, token_vault_id, token_last4, card_vault_id, \
             card_last4, issuer_id, requestor_id, device_id, domain, expiry, psn, key_kind, \
             key_check, state, last_atc, created_at, updated_at, account_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, -1, $15, $15, $16)",
        )
        .bind(&row.token_ref)
        .bind(&row.token_vault_id)
        .bind(&row.token_last4)
        .bind(&req.card_vault_id)
        .bind(&row.card_last4)
        .bind(&req.issuer_id)
        .bind(&req.token_requestor_id)
        .bind(&req.device_id)
        .bind(req.domain.as_str())
        .bind(row.expiry.yymm())
        .bind(i64::from(self.config.psn))
        .bind(KEY_KIND)
        .bind(&row.key_check)
        .bind(req.initial_state.as_str())
        .bind(row.now)
        .bind(req.account_id.as_deref())
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            drop(tx);
            if let Some(existing) = self
                .live_token_for(&req.card_vault_id, &req.device_id)
                .await?
            {
                return Err(TspError::AlreadyProvisioned(existing));
            }
            return Err(e.into());
        }
        insert_event(
            &mut tx,
            &row.token_ref,
            None,
            req.initial_state,
            req.actor,
            "provisioned",
            row.now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The provisioning payload (token number and expiry, ICC master key,
    /// card application settings), sealed to the device's key.
    fn sealed_payload(
        &self,
        req: &ProvisionRequest,
        row: &NewTokenRow,
        token_pan: &Pan,
        imk: &TdesKey,
    ) -> Result<Vec<u8>, TspError> {
        let icc_mk = derive_icc_mk_a(imk, token_pan.expose(), self.config.psn)?;
        let payload = ProvisioningPayload {
            token_ref: row.token_ref.clone(),
            token_pan: Secret::new(token_pan.expose().to_owned()),
            expiry_yymm: row.expiry.yymm(),
            psn: self.config.psn,
            aid_hex: self.config.aid_hex.clone(),
            app_label: req.app_label.clone(),
            key_kind: "tdes".to_owned(),
            icc_mk_hex: Secret::new(hex::encode_upper(icc_mk.expose())),
            atc_start: 1,
            cdcvm_required: req.cdcvm_required,
            no_cvm_limit_minor: req.no_cvm_limit_minor,
            currency_numeric: req.currency.numeric(),
            domain: req.domain.as_str().to_owned(),
            card_last4: row.card_last4.clone(),
            bank_name: req.bank_name.clone(),
        };
        Ok(payload.seal_to(&req.device_public_key, &req.device_id)?)
    }

    /// Draws candidates until one is new to the vault (not a card number,
    /// not another token: both live there under their fingerprints) and
    /// stores it. Returns the number and its vault id.
    async fn fresh_token(
        &self,
        ranges: &[&TokenRange],
        expiry: Expiry,
        rng: &mut (impl rand::Rng + Send),
    ) -> Result<(Pan, String), TspError> {
        if ranges.is_empty() {
            return Err(TspError::Exhausted);
        }
        for attempt in 0..32usize {
            let Some(range) = ranges.get(attempt % ranges.len()) else {
                break;
            };
            let candidate = range.candidate(rng)?;
            if self.vault.find(&candidate).await?.is_some() {
                continue;
            }
            let record = CardRecord::new(candidate.clone(), expiry, "")?;
            let entry = self.vault.put(record).await?;
            if entry.existed {
                continue;
            }
            return Ok((candidate, entry.id));
        }
        Err(TspError::Exhausted)
    }

    async fn live_token_for(
        &self,
        card_vault_id: &str,
        device_id: &str,
    ) -> Result<Option<String>, TspError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT token_ref FROM tsp_tokens WHERE card_vault_id = $1 AND device_id = $2 \
             AND state <> 'deleted'",
        )
        .bind(card_vault_id)
        .bind(device_id)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.map(|r| r.0))
    }

    /// Moves a token to `to`. Asking for the state it already has is a
    /// no-op that succeeds (no event); an illegal move is refused.
    pub async fn set_state(
        &self,
        token_ref: &str,
        to: TokenState,
        actor: Actor,
        reason: &str,
    ) -> Result<TokenInfo, TspError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin_write().await?;
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT state, token_vault_id FROM tsp_tokens WHERE token_ref = $1")
                .bind(token_ref)
                .fetch_optional(&mut *tx)
                .await?;
        let (from, token_vault_id) = row.ok_or(TspError::UnknownToken)?;
        let from: TokenState = from
            .parse()
            .map_err(|e: paytap_types::UnknownText| TspError::Corrupt(e.to_string()))?;
        if from != to {
            if !from.can_become(to) {
                return Err(TspError::IllegalTransition { from, to });
            }
            sqlx::query("UPDATE tsp_tokens SET state = $1, updated_at = $2 WHERE token_ref = $3")
                .bind(to.as_str())
                .bind(now)
                .bind(token_ref)
                .execute(&mut *tx)
                .await?;
            insert_event(&mut tx, token_ref, Some(from), to, actor, reason, now).await?;
            tx.commit().await?;
            self.tokens.invalidate(&token_vault_id);
            tracing::info!(token_ref, %from, %to, %actor, reason, "token state changed");
        } else {
            tx.rollback().await?;
        }
        self.token(token_ref).await
    }

    /// Moves every token of a device that can make the move (lost device:
    /// suspend all; found: resume; wiped: delete). Tokens for which the move
    /// is illegal (e.g. deleted ones) are left alone. Returns the tokens
    /// changed.
    pub async fn set_device_state(
        &self,
        device_id: &str,
        to: TokenState,
        actor: Actor,
        reason: &str,
    ) -> Result<Vec<String>, TspError> {
        let now = self.clock.now_millis();
        let mut tx = self.db.begin_write().await?;
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT token_ref, state, token_vault_id FROM tsp_tokens WHERE device_id = $1 ORDER BY token_ref",
        )
        .bind(device_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut changed = Vec::new();
        let mut vault_ids = Vec::new();
        for (token_ref, state, token_vault_id) in rows {
            let from: TokenState = state
                .parse()
                .map_err(|e: paytap_types::UnknownText| TspError::Corrupt(e.to_string()))?;
            if from == to || !from.can_become(to) {
                continue;
            }
            sqlx::query("UPDATE tsp_tokens SET state = $1, updated_at = $2 WHERE token_ref = $3")
                .bind(to.as_str())
                .bind(now)
                .bind(&token_ref)
                .execute(&mut *tx)
                .await?;
            insert_event(&mut tx, &token_ref, Some(from), to, actor, reason, now).await?;
            changed.push(token_ref);
            vault_ids.push(token_vault_id);
        }
        tx.commit().await?;
        for id in &vault_ids {
            self.tokens.invalidate(id);
        }
        tracing::info!(device_id, %to, %actor, reason, count = changed.len(), "device tokens changed");
        Ok(changed)
    }

    /// One token's record.
    pub async fn token(&self, token_ref: &str) -> Result<TokenInfo, TspError> {
        let row = sqlx::query(token_select!("WHERE token_ref = $1"))
            .bind(token_ref)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or(TspError::UnknownToken)?;
        token_from_row(&row)
    }

    /// Every token bound to a device (deleted ones included).
    pub async fn tokens_for_device(&self, device_id: &str) -> Result<Vec<TokenInfo>, TspError> {
        let rows = sqlx::query(token_select!(
            "WHERE device_id = $1 ORDER BY created_at, token_ref"
        ))
        .bind(device_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Every token of a funding card (e.g. for an issuer that blocks the card).
    pub async fn tokens_for_card(&self, card_vault_id: &str) -> Result<Vec<TokenInfo>, TspError> {
        let rows = sqlx::query(token_select!(
            "WHERE card_vault_id = $1 ORDER BY created_at, token_ref"
        ))
        .bind(card_vault_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// A token's lifecycle history, oldest first.
    pub async fn events(&self, token_ref: &str) -> Result<Vec<TokenEvent>, TspError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT token_ref, seq, from_state, to_state, actor, reason, at FROM tsp_token_events \
             WHERE token_ref = $1 ORDER BY seq",
        )
        .bind(token_ref)
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter()
            .map(|(token_ref, seq, from, to, actor, reason, at)| {
                let bad = |w: &str| TspError::Corrupt(format!("event {w}"));
                Ok(TokenEvent {
                    token_ref,
                    seq,
                    from: from
                        .map(|f| f.parse().map_err(|_| bad("from")))
                        .transpose()?,
                    to: to.parse().map_err(|_| bad("to"))?,
                    actor: actor.parse().map_err(|_| bad("actor"))?,
                    reason,
                    at,
                })
            })
            .collect()
    }

    /// Detokenize-and-verify an authorization (0100/0200) whose DE 2 is a
    /// token: lifecycle state, domain against DE 22, expiry, ARQC (DE 55,
    /// with the token's ICC MK), ATC window; on success the request is
    /// rewritten for the issuer (see [`Detokenized`]).
    /// Returns once the accepted ATC is durable.
    pub async fn detokenize(&self, request: &Message) -> Result<Detokenized, Refused> {
        let (d, write) = self.detokenize_deferred(request).await?;
        match finish_write(write).await {
            Ok(()) => Ok(d),
            Err(e) => Err(Refused {
                refusal: system("atc update", &e),
                token_ref: Some(d.context.token_ref.clone()),
            }),
        }
    }

    /// Like [`Tsp::detokenize`], but returns as soon as the ATC is accepted
    /// (in memory, atomically), with its write under way: the caller must
    /// await the [`PendingWrite`] before it tells anyone the outcome. The
    /// switch asks the issuer meanwhile, so the two durable writes of an
    /// authorization overlap instead of queueing.
    pub async fn detokenize_deferred(
        &self,
        request: &Message,
    ) -> Result<(Detokenized, PendingWrite), Refused> {
        let mut token_ref = None;
        self.detokenize_inner(request, &mut token_ref)
            .await
            .map_err(|refusal| Refused { refusal, token_ref })
    }

    /// Token to card for one authorization: the token and its record, the
    /// checks on its use, the token cryptogram, the ATC accepted once (its
    /// durable write returned pending), then the request rewritten for the
    /// issuer.
    async fn detokenize_inner(
        &self,
        request: &Message,
        token_ref_out: &mut Option<String>,
    ) -> Result<(Detokenized, PendingWrite), Refusal> {
        let token_pan = self.token_number(request)?;
        let token_vault_id = self.token_vault_id(&token_pan).await?;
        let (info, key_check) = self.token_record(&token_vault_id).await?;
        *token_ref_out = Some(info.token_ref.clone());
        check_token_use(request, &info, self.clock.now_millis())?;
        let de55 = request.icc_data().ok_or(Refusal::Format)?;
        let mk = self.token_icc_key(&token_vault_id, &info, &key_check, &token_pan)?;
        let verified = verify_token_arqc(&mk, de55, &info.token_ref)?;
        let first_use = self.accept_atc(&info, verified.atc)?;
        let write = self.persist_atc(&info.token_ref, verified.atc);
        let card = self
            .vault
            .get_cached(&info.card_vault_id)
            .await
            .map_err(|e| system("vault get", &e))?;
        let out = card_request(request, &card, &info, &verified)?;
        let d = Detokenized {
            request: out,
            context: token_context(info, verified, token_pan, first_use),
        };
        Ok((d, write))
    }

    /// DE 2 as a number in one of the token ranges.
    fn token_number(&self, request: &Message) -> Result<Pan, Refusal> {
        let digits = request.get_str(2).ok_or(Refusal::Format)?;
        let token_pan = Pan::parse(digits).map_err(|_| Refusal::UnknownToken)?;
        if !self.is_token_number(token_pan.expose()) {
            return Err(Refusal::UnknownToken);
        }
        Ok(token_pan)
    }

    /// The token's record and its IMK key check value, from the cache or
    /// else the database (then cached).
    async fn token_record(&self, token_vault_id: &str) -> Result<(TokenInfo, String), Refusal> {
        if let Some(t) = self.tokens.get(token_vault_id) {
            return Ok(t);
        }
        let epoch = self.tokens.epoch();
        let row = sqlx::query(token_select!("WHERE token_vault_id = $1"))
            .bind(token_vault_id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(|e| system("token lookup", &e))?
            .ok_or(Refusal::UnknownToken)?;
        let t = (
            token_from_row(&row).map_err(|e| system("token row", &e))?,
            key_check_of(&row),
        );
        self.tokens.insert_if(epoch, token_vault_id, t.clone());
        Ok(t)
    }

    /// The token's ICC master key, from the cache or else derived from its
    /// issuer's IMK (then cached); refused if the IMK is not the one the
    /// token was provisioned under.
    fn token_icc_key(
        &self,
        token_vault_id: &str,
        info: &TokenInfo,
        key_check: &str,
        token_pan: &Pan,
    ) -> Result<EmvKey, Refusal> {
        if let Some(k) = self.icc_keys.get(token_vault_id) {
            return Ok(k);
        }
        let epoch = self.icc_keys.epoch();
        let imk = self.keys.get(&info.issuer_id).ok_or(Refusal::System)?;
        if hex::encode_upper(imk.kcv()) != key_check {
            tracing::error!(token_ref = %info.token_ref, "token IMK changed since provisioning");
            return Err(Refusal::System);
        }
        let icc_mk =
            derive_icc_mk_a(imk, token_pan.expose(), info.psn).map_err(|_| Refusal::System)?;
        let mk = EmvKey::Tdes(icc_mk);
        self.icc_keys.insert_if(epoch, token_vault_id, mk.clone());
        Ok(mk)
    }

    /// Accepts the counter once, atomically: of two concurrent requests
    /// with the same ATC, the second finds it taken. It is durable before
    /// anyone is answered (the caller awaits [`Tsp::persist_atc`]'s write).
    /// `true` when no ATC was accepted for the token before: its first use.
    ///
    /// # Panics
    ///
    /// In debug builds, if an accepted ATC is not above the last one: that
    /// would let a replayed cryptogram pay twice.
    fn accept_atc(&self, info: &TokenInfo, atc: u16) -> Result<bool, Refusal> {
        let mut atcs = paytap_types::sync::lock(&self.atcs, "tsp accepted ATCs");
        let last = atcs.get(&info.token_ref).copied().or(info.last_atc);
        check_atc(last, atc, self.config.atc_window).map_err(|e| match e {
            AtcError::Replayed { .. } => Refusal::AtcReplayed,
            AtcError::TooFarAhead { .. } => Refusal::AtcOutOfWindow,
        })?;
        debug_assert!(
            last.is_none_or(|l| atc > l),
            "ATC {atc} accepted after {last:?}"
        );
        atcs.insert(info.token_ref.clone(), atc);
        Ok(last.is_none())
    }

    /// Starts the durable write of an accepted ATC; the caller awaits it
    /// before answering.
    fn persist_atc(&self, token_ref: &str, atc: u16) -> PendingWrite {
        let writer = self.writer.clone();
        let atc_row = vec![Write::Row(
            &ACCEPT_ATCS,
            vec![Arg::Text(token_ref.to_owned()), Arg::I64(i64::from(atc))],
        )];
        tokio::spawn(async move { writer.write(atc_row).await.map(|_| ()) })
    }

    async fn token_vault_id(&self, token_pan: &Pan) -> Result<String, Refusal> {
        let fp = self.vault.fingerprint(token_pan);
        let cached = paytap_types::sync::lock(&self.token_ids, "tsp token ids")
            .get(&fp)
            .cloned();
        if let Some(id) = cached {
            return Ok(id);
        }
        let id = self
            .vault
            .find(token_pan)
            .await
            .map_err(|e| system("vault find", &e))?
            .ok_or(Refusal::UnknownToken)?;
        paytap_types::sync::lock(&self.token_ids, "tsp token ids").insert(fp, id.clone());
        Ok(id)
    }

    /// The answer to send the acquirer when [`Tsp::detokenize`] refused:
    /// the response MTI, DE 39 from [`Refusal::response_code`] and DE 63
    /// saying which check failed.
    pub fn refusal_response(request: &Message, refusal: Refusal) -> Option<Message> {
        let mut r = request.response()?;
        r.set_response_code(refusal.response_code()).ok()?;
        if let Some(v) = crate::error::refusal_verification(refusal) {
            r.set_verification_results(&v).ok()?;
        }
        Some(r)
    }
}

/// The token may pay here and now: active, its domain allows the entry
/// mode, not expired, and DE 14 (when sent) is the token's expiry.
fn check_token_use(request: &Message, info: &TokenInfo, now: i64) -> Result<(), Refusal> {
    match info.state {
        TokenState::Active => {}
        TokenState::Inactive => return Err(Refusal::Inactive),
        TokenState::Suspended => return Err(Refusal::Suspended),
        TokenState::Deleted => return Err(Refusal::Deleted),
    }
    let entry_mode = request.pos_entry_mode().ok_or(Refusal::Format)?;
    if !info.domain.allows_entry_mode(entry_mode) {
        return Err(Refusal::DomainRestricted);
    }
    if info.expiry_yymm.is_expired(now) {
        return Err(Refusal::Expired);
    }
    if let Some(de14) = request.get_str(14)
        && Expiry::parse(de14) != Ok(info.expiry_yymm)
    {
        return Err(Refusal::Expired);
    }
    Ok(())
}

/// The token cryptogram (ARQC) in DE 55 under the token's ICC master key.
fn verify_token_arqc(
    mk: &EmvKey,
    de55: &[u8],
    token_ref: &str,
) -> Result<paytap_emv::ArqcVerified, Refusal> {
    match paytap_emv::verify_arqc(mk, de55, *b"00") {
        Ok(v) => Ok(v),
        Err(
            paytap_emv::VerifyError::BadCryptogram | paytap_emv::VerifyError::AlgorithmMismatch,
        ) => {
            tracing::warn!(token_ref = %token_ref, "ARQC does not verify");
            Err(Refusal::CryptogramInvalid)
        }
        Err(paytap_emv::VerifyError::NotArqc(_)) => Err(Refusal::CryptogramInvalid),
        Err(_) => Err(Refusal::Format),
    }
}

/// The request as the issuer sees it: the card number in DE 2 and track 2
/// (DE 35), the card's expiry in DE 14 and track 2, the token data
/// (DE 123 usage) and the network's verification results.
fn card_request(
    request: &Message,
    card: &CardRecord,
    info: &TokenInfo,
    verified: &paytap_emv::ArqcVerified,
) -> Result<Message, Refusal> {
    let mut out = request.clone();
    out.set(2, card.pan.expose()).map_err(|_| Refusal::System)?;
    if out.has(14) {
        out.set_expiry(card.expiry.year(), card.expiry.month())
            .map_err(|_| Refusal::System)?;
    }
    if let Some(t2) = request.track2() {
        let new_t2 = card_track2(t2, card.pan.expose(), card.expiry)?;
        out.set(35, &new_t2).map_err(|_| Refusal::Format)?;
    }
    out.set_token_data(&TokenData {
        token_requestor_id: Some(info.token_requestor_id.clone()),
        assurance_level: None,
        funding_pan_last4: Some(info.card_last4.clone()),
    })
    .map_err(|_| Refusal::System)?;
    out.set_verification_results(&VerificationResults {
        cryptogram: Some(CheckResult::Passed),
        cdcvm: Some(if verified.cdcvm_performed {
            CheckResult::Passed
        } else {
            CheckResult::NotChecked
        }),
        atc: Some(CheckResult::Passed),
    })
    .map_err(|_| Refusal::System)?;
    Ok(out)
}

/// Track 2 with the token's number and expiry replaced by the card's,
/// keeping the separator and everything after the expiry.
/// The token's expiry in track 2 must be a valid `YYMM`.
fn card_track2(t2: &str, card_pan: &str, card_expiry: Expiry) -> Result<String, Refusal> {
    let sep = t2.find(['=', 'D']).ok_or(Refusal::Format)?;
    let rest = t2.get(sep + 1..).ok_or(Refusal::Format)?;
    let token_expiry = rest.get(..4).ok_or(Refusal::Format)?;
    Expiry::parse(token_expiry).map_err(|_| Refusal::Format)?;
    let after_expiry = rest.get(4..).ok_or(Refusal::Format)?;
    let sep_char = t2.get(sep..sep + 1).unwrap_or("=");
    let card_expiry = card_expiry.yymm();
    Ok(format!("{card_pan}{sep_char}{card_expiry}{after_expiry}"))
}

/// What the switch keeps about the token for the response and the event.
fn token_context(
    info: TokenInfo,
    verified: paytap_emv::ArqcVerified,
    token_pan: Pan,
    first_use: bool,
) -> TokenContext {
    TokenContext {
        card_vault_id: info.card_vault_id,
        account_id: info.account_id,
        provisioned_at_ms: info.created_at,
        first_use,
        token_ref: info.token_ref,
        issuer_id: info.issuer_id,
        device_id: info.device_id,
        token_requestor_id: info.token_requestor_id,
        token_last4: info.token_last4,
        card_last4: info.card_last4,
        atc: verified.atc,
        cdcvm_performed: verified.cdcvm_performed,
        token_pan,
        session_key: verified.session_key,
        arqc: verified.arqc,
    }
}

fn system(what: &str, e: &dyn std::fmt::Display) -> Refusal {
    tracing::error!(error = %e, "{what}");
    Refusal::System
}

fn key_check_of(row: &sqlx::any::AnyRow) -> String {
    row.try_get::<String, _>("key_check").unwrap_or_default()
}

fn token_from_row(row: &sqlx::any::AnyRow) -> Result<TokenInfo, TspError> {
    let s = |c: &str| row.try_get::<String, _>(c).map_err(TspError::from);
    let i = |c: &str| row.try_get::<i64, _>(c).map_err(TspError::from);
    let bad = |w: &str| TspError::Corrupt(w.to_owned());
    let last_atc = i("last_atc")?;
    Ok(TokenInfo {
        token_ref: s("token_ref")?,
        token_last4: s("token_last4")?,
        card_vault_id: s("card_vault_id")?,
        card_last4: s("card_last4")?,
        issuer_id: s("issuer_id")?,
        token_requestor_id: s("requestor_id")?,
        device_id: s("device_id")?,
        domain: Domain::parse(&s("domain")?).ok_or_else(|| bad("domain"))?,
        expiry_yymm: Expiry::parse(&s("expiry")?).map_err(|_| bad("expiry"))?,
        psn: u8::try_from(i("psn")?).map_err(|_| bad("psn"))?,
        key_kind: s("key_kind")?,
        state: s("state")?.parse().map_err(|_| bad("state"))?,
        last_atc: if last_atc < 0 {
            None
        } else {
            Some(u16::try_from(last_atc).map_err(|_| bad("atc"))?)
        },
        created_at: i("created_at")?,
        updated_at: i("updated_at")?,
        account_id: row
            .try_get::<Option<String>, _>("account_id")
            .map_err(TspError::from)?,
    })
}

async fn insert_event(
    tx: &mut paytap_store::Tx,
    token_ref: &str,
    from: Option<TokenState>,
    to: TokenState,
    actor: Actor,
    reason: &str,
    at: i64,
) -> Result<(), TspError> {
    let (seq,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM tsp_token_events WHERE token_ref = $1",
    )
    .bind(token_ref)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO tsp_token_events (token_ref, seq, from_state, to_state, actor, reason, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(token_ref)
    .bind(seq)
    .bind(from.map(|f| f.as_str()))
    .bind(to.as_str())
    .bind(actor.as_str())
    .bind(reason)
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use paytap_vault::Keyring;

    /// A candidate that equals a number already in the vault (a card PAN) is
    /// skipped: the same seeded generator's first draw is taken by a card, so
    /// the service must return the second draw.
    #[tokio::test]
    async fn a_token_never_equals_a_number_in_the_vault() {
        let db = Db::for_tests().await.unwrap();
        let vault = Vault::open(db.clone(), Keyring::from_single_key([3u8; 32]))
            .await
            .unwrap();
        let range = TokenRange::new("b1", "629101", 16).unwrap();
        let config = TspConfig {
            ranges: vec![range.clone()],
            ..TspConfig::default()
        };
        let tsp = Tsp::open(
            db,
            vault.clone(),
            config,
            TokenKeys::derive(b"0123456789abcdef", ["b1"]),
        )
        .await
        .unwrap();
        let mut probe = rand::rngs::StdRng::seed_from_u64(42);
        let first = range.candidate(&mut probe).unwrap();
        let second = range.candidate(&mut probe).unwrap();
        assert_ne!(first, second);
        // Someone's card already has the first number.
        vault
            .put(CardRecord::new(first.clone(), Expiry::parse("3001").unwrap(), "X").unwrap())
            .await
            .unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let (token, id) = tsp
            .fresh_token(&[&range], Expiry::new(30, 1).unwrap(), &mut rng)
            .await
            .unwrap();
        assert_eq!(token, second);
        assert_eq!(vault.find(&second).await.unwrap(), Some(id));
        // The same seed again: both numbers taken, the third draw is used.
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let (third, _) = tsp
            .fresh_token(&[&range], Expiry::new(30, 1).unwrap(), &mut rng)
            .await
            .unwrap();
        assert!(third != first && third != second);
        assert!(matches!(
            tsp.fresh_token(&[], Expiry::new(30, 1).unwrap(), &mut rng)
                .await,
            Err(TspError::Exhausted)
        ));
    }
}
