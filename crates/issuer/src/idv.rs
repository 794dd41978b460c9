//! Identification and verification (ID&V) for adding a card to a wallet
//! (EMV Payment Tokenisation Specification §3.3 "ID&V methods": the issuer
//! answers green = approve, yellow = step-up, red = decline), and the
//! one-time passcode of the yellow path.
//!
//! Red: the card is unknown, not active, expired; the expiry or the CVV2
//! (recomputed from the bank's CVK, never stored) is wrong.
//! Yellow, by the bank's [`IdvRules`](crate::config::IdvRules): the number
//! is in a step-up test range; or the device was never verified for this
//! card (when the rule is on); or the card already passed ID&V the
//! configured number of times in the last 24 hours.
//!
//! The passcode: six random digits, sent through the emulated SMS gateway
//! ([`Issuer::subscribe_otp`]), stored only as HMAC-SHA256 under the
//! issuers' OTP key, valid for `otp.ttl_secs`, at most `otp.max_attempts`
//! wrong tries (then the verification is refused, i.e. red).

use crate::config::{BankConfig, IdvRules};
use crate::error::IssuerError;
use crate::service::{CardInfo, CardStatus, Issuer, OtpDelivery};
use hmac::{Hmac, KeyInit, Mac};
use paytap_types::{Expiry, Pan, Secret};
use rand::RngExt;
use serde::Serialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// What the wallet sends for ID&V. `Debug` hides the card data.
#[derive(Clone, Debug)]
pub struct IdvRequest {
    pub pan: Pan,
    /// The expiry the person typed.
    pub expiry_yymm: Expiry,
    pub cvv: Secret<String>,
    pub device_id: String,
    /// `phone`, `watch`, `band`.
    pub device_kind: String,
    pub account_id: String,
}

/// Why ID&V said red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RedReason {
    UnknownCard,
    CardNotActive,
    CardExpired,
    WrongExpiry,
    WrongCvv,
    TooManyAttempts,
}

impl RedReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            RedReason::UnknownCard => "unknown_card",
            RedReason::CardNotActive => "card_not_active",
            RedReason::CardExpired => "card_expired",
            RedReason::WrongExpiry => "wrong_expiry",
            RedReason::WrongCvv => "wrong_cvv",
            RedReason::TooManyAttempts => "too_many_attempts",
        }
    }

    /// A sentence for the person adding the card (no card data).
    pub const fn message(self) -> &'static str {
        match self {
            RedReason::UnknownCard => "The bank does not recognise this card.",
            RedReason::CardNotActive => {
                "The bank says this card cannot be used (blocked, lost or stolen)."
            }
            RedReason::CardExpired => "This card has expired.",
            RedReason::WrongExpiry | RedReason::WrongCvv => {
                "The card details do not match the bank's records."
            }
            RedReason::TooManyAttempts => "Too many wrong codes; add the card again later.",
        }
    }
}

impl std::fmt::Display for RedReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// The issuer's ID&V decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdvDecision {
    Green {
        verification_id: String,
        bank_id: String,
        bank_name: String,
        card_id: String,
    },
    Yellow {
        verification_id: String,
        bank_id: String,
        bank_name: String,
        card_id: String,
        /// Where the code went, masked (e.g. `SMS to +86 138****1234`).
        destination: String,
        /// Unix milliseconds.
        expires_at: i64,
    },
    Red {
        verification_id: String,
        reason: RedReason,
    },
}

impl IdvDecision {
    pub fn verification_id(&self) -> &str {
        match self {
            IdvDecision::Green {
                verification_id, ..
            }
            | IdvDecision::Yellow {
                verification_id, ..
            }
            | IdvDecision::Red {
                verification_id, ..
            } => verification_id,
        }
    }
}

/// The answer to a passcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OtpOutcome {
    Verified,
    Incorrect {
        attempts_left: u32,
    },
    Expired,
    /// Too many wrong codes: the verification is now refused (red).
    Locked,
}

paytap_types::text_enum! {
    /// Where a verification stands (`issuer_idv.state`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum VerificationState {
        /// Green, or yellow with the passcode entered: provisioning may go ahead.
        Approved = "approved",
        /// Yellow, waiting for the passcode.
        Pending = "pending",
        /// Red, or the passcode failed.
        Refused = "refused",
    }
}

paytap_types::text_enum! {
    /// Which path the decision took (`issuer_idv.decision`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Colour {
        /// Approved at once.
        Green = "green",
        /// Approved once the holder enters a passcode.
        Yellow = "yellow",
        /// Refused.
        Red = "red",
    }
}

/// A verification as recorded (what the network checks before provisioning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub verification_id: String,
    pub bank_id: String,
    pub card_id: Option<String>,
    pub device_id: String,
    pub account_id: String,
    pub state: VerificationState,
    pub created_at: i64,
}

/// `state, otp_hash, otp_expires, attempts, decision`.
type OtpRow = (String, Option<Vec<u8>>, Option<i64>, i64, String);
/// `verification_id, bank_id, card_id, device_id, account_id, state, created_at`.
type VerificationRow = (String, String, Option<String>, String, String, String, i64);

fn otp_hash(key: &[u8], verification_id: &str, code: &str) -> Vec<u8> {
    match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(verification_id.as_bytes());
            m.update(b":");
            m.update(code.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

impl Issuer {
    /// Decides green / yellow / red for adding a card to a device, and for
    /// yellow sends a passcode.
    pub async fn identify_and_verify(&self, req: &IdvRequest) -> Result<IdvDecision, IssuerError> {
        let verification_id = format!("idv_{}", uuid::Uuid::new_v4().simple());
        let now = self.now();
        let bank = self.config.bank_for_card(req.pan.expose()).cloned();
        let card = self.find_card(&req.pan).await?;
        let (bank, card) = match (bank, card) {
            (Some(b), Some(c)) => (b, c),
            (b, _) => {
                let bank_id = b.map(|b| b.id).unwrap_or_default();
                return self
                    .red(
                        &verification_id,
                        &bank_id,
                        None,
                        req,
                        RedReason::UnknownCard,
                        now,
                    )
                    .await;
            }
        };
        let red = |reason| {
            self.red(
                &verification_id,
                &bank.id,
                Some(&card.card_id),
                req,
                reason,
                now,
            )
        };
        if let Some(reason) = card_refusal(&card, req, now) {
            return red(reason).await;
        }
        let keys = self
            .keys
            .bank(&bank.id)
            .ok_or_else(|| IssuerError::NoKeys(bank.id.clone()))?;
        if !crate::cvv::check_cvv2(
            &keys.cvk,
            req.pan.expose(),
            &card.expiry_yymm.yymm(),
            req.cvv.expose(),
        ) {
            return red(RedReason::WrongCvv).await;
        }

        if self.needs_step_up(&bank.idv, &card, req, now).await? {
            self.yellow(verification_id, &bank, &card, req, now).await
        } else {
            self.green(verification_id, &bank, &card, req, now).await
        }
    }

    /// Whether this provisioning needs a one-time passcode: a card in the
    /// bank's step-up test range, a new device (when the bank asks), or too
    /// many approvals of the card in the last day.
    async fn needs_step_up(
        &self,
        rules: &IdvRules,
        card: &CardInfo,
        req: &IdvRequest,
        now: i64,
    ) -> Result<bool, IssuerError> {
        let mut step_up = rules
            .step_up_prefixes
            .iter()
            .any(|p| req.pan.expose().starts_with(p.as_str()));
        if !step_up && rules.step_up_new_device {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM issuer_idv WHERE card_id = $1 AND device_id = $2 AND state = 'approved'",
            )
            .bind(&card.card_id)
            .bind(&req.device_id)
            .fetch_one(self.db.pool())
            .await?;
            step_up = n == 0;
        }
        if !step_up && rules.step_up_after_provisionings > 0 {
            let (n,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM issuer_idv WHERE card_id = $1 AND state = 'approved' AND created_at >= $2",
            )
            .bind(&card.card_id)
            .bind(now - 86_400_000)
            .fetch_one(self.db.pool())
            .await?;
            step_up = n >= i64::from(rules.step_up_after_provisionings);
        }
        Ok(step_up)
    }

    /// Green: approved without a passcode (recorded, then answered).
    async fn green(
        &self,
        verification_id: String,
        bank: &BankConfig,
        card: &CardInfo,
        req: &IdvRequest,
        now: i64,
    ) -> Result<IdvDecision, IssuerError> {
        self.record(
            &verification_id,
            &bank.id,
            Some(&card.card_id),
            req,
            Colour::Green,
            VerificationState::Approved,
            None,
            None,
            now,
        )
        .await?;
        tracing::info!(verification_id, bank = %bank.id, card_id = %card.card_id, "ID&V green");
        Ok(IdvDecision::Green {
            verification_id,
            bank_id: bank.id.clone(),
            bank_name: bank.name.clone(),
            card_id: card.card_id.clone(),
        })
    }

    /// Yellow: a passcode goes to the card's phone; its hash is recorded
    /// with an expiry, and the device is told where it went.
    async fn yellow(
        &self,
        verification_id: String,
        bank: &BankConfig,
        card: &CardInfo,
        req: &IdvRequest,
        now: i64,
    ) -> Result<IdvDecision, IssuerError> {
        let code = Secret::new(format!("{:06}", rand::rng().random_range(0..1_000_000u32)));
        let hash = otp_hash(self.keys.otp_key(), &verification_id, code.expose());
        let expires_at = now + i64::from(self.config.otp.ttl_secs) * 1000;
        self.record(
            &verification_id,
            &bank.id,
            Some(&card.card_id),
            req,
            Colour::Yellow,
            VerificationState::Pending,
            Some(hash),
            Some(expires_at),
            now,
        )
        .await?;
        let destination = format!("SMS to {}", card.phone_masked);
        // Nobody listening is fine: the emulated phone may not be subscribed.
        let _ = self.otp_tx.send(OtpDelivery {
            verification_id: verification_id.clone(),
            destination: destination.clone(),
            code,
        });
        tracing::info!(verification_id, bank = %bank.id, card_id = %card.card_id, "ID&V yellow: passcode sent");
        Ok(IdvDecision::Yellow {
            verification_id,
            bank_id: bank.id.clone(),
            bank_name: bank.name.clone(),
            card_id: card.card_id.clone(),
            destination,
            expires_at,
        })
    }

    async fn red(
        &self,
        verification_id: &str,
        bank_id: &str,
        card_id: Option<&str>,
        req: &IdvRequest,
        reason: RedReason,
        now: i64,
    ) -> Result<IdvDecision, IssuerError> {
        self.record(
            verification_id,
            bank_id,
            card_id,
            req,
            Colour::Red,
            VerificationState::Refused,
            None,
            None,
            now,
        )
        .await?;
        sqlx::query("UPDATE issuer_idv SET reason = $1 WHERE verification_id = $2")
            .bind(reason.as_str())
            .bind(verification_id)
            .execute(self.db.pool())
            .await?;
        tracing::info!(
            verification_id,
            bank = bank_id,
            reason = reason.as_str(),
            "ID&V red"
        );
        Ok(IdvDecision::Red {
            verification_id: verification_id.to_owned(),
            reason,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn record(
        &self,
        verification_id: &str,
        bank_id: &str,
        card_id: Option<&str>,
        req: &IdvRequest,
        decision: Colour,
        state: VerificationState,
        otp_hash: Option<Vec<u8>>,
        otp_expires: Option<i64>,
        now: i64,
    ) -> Result<(), IssuerError> {
        sqlx::query(
            "INSERT INTO issuer_idv (verification_id, bank_id, card_id, device_id, account_id, decision, state, \
             reason, otp_hash, otp_expires, attempts, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9, 0, $10)",
        )
        .bind(verification_id)
        .bind(bank_id)
        .bind(card_id)
        .bind(&req.device_id)
        .bind(&req.account_id)
        .bind(decision.as_str())
        .bind(state.as_str())
        .bind(otp_hash)
        .bind(otp_expires)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Checks the passcode of a yellow verification.
    pub async fn verify_otp(
        &self,
        verification_id: &str,
        code: &str,
    ) -> Result<OtpOutcome, IssuerError> {
        let now = self.now();
        let mut tx = self.db.begin_write().await?;
        let row: Option<OtpRow> = sqlx::query_as(
            "SELECT state, otp_hash, otp_expires, attempts, decision FROM issuer_idv WHERE verification_id = $1",
        )
        .bind(verification_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (state, hash, expires, attempts, decision) =
            row.ok_or(IssuerError::UnknownVerification)?;
        let max = i64::from(self.config.otp.max_attempts);
        let (Some(hash), Some(expires)) = (hash, expires) else {
            // Green or red: there is no passcode to check.
            return Err(IssuerError::UnknownVerification);
        };
        if decision.parse() != Ok(Colour::Yellow) {
            return Err(IssuerError::UnknownVerification);
        }
        let matches = bool::from(otp_hash(self.keys.otp_key(), verification_id, code).ct_eq(&hash));
        let outcome = match state.parse() {
            Ok(VerificationState::Approved) => {
                if matches {
                    OtpOutcome::Verified
                } else {
                    OtpOutcome::Incorrect { attempts_left: 0 }
                }
            }
            Ok(VerificationState::Refused) if now > expires && attempts < max => {
                OtpOutcome::Expired
            }
            Ok(VerificationState::Refused) => OtpOutcome::Locked,
            _ if now > expires => {
                sqlx::query("UPDATE issuer_idv SET state = 'refused', reason = 'otp_expired' WHERE verification_id = $1")
                    .bind(verification_id)
                    .execute(&mut *tx)
                    .await?;
                OtpOutcome::Expired
            }
            _ if matches => {
                sqlx::query("UPDATE issuer_idv SET state = 'approved' WHERE verification_id = $1")
                    .bind(verification_id)
                    .execute(&mut *tx)
                    .await?;
                OtpOutcome::Verified
            }
            _ => {
                let used = attempts + 1;
                let locked = used >= max;
                sqlx::query("UPDATE issuer_idv SET attempts = $1, state = $2, reason = $3 WHERE verification_id = $4")
                    .bind(used)
                    .bind(if locked {
                        VerificationState::Refused.as_str()
                    } else {
                        VerificationState::Pending.as_str()
                    })
                    .bind(locked.then_some(RedReason::TooManyAttempts.as_str()))
                    .bind(verification_id)
                    .execute(&mut *tx)
                    .await?;
                if locked {
                    OtpOutcome::Locked
                } else {
                    OtpOutcome::Incorrect {
                        attempts_left: u32::try_from(max - used).unwrap_or(0),
                    }
                }
            }
        };
        tx.commit().await?;
        tracing::info!(verification_id, outcome = ?outcome, "passcode checked");
        Ok(outcome)
    }

    /// A recorded verification.
    pub async fn verification(&self, verification_id: &str) -> Result<Verification, IssuerError> {
        let row: Option<VerificationRow> = sqlx::query_as(
            "SELECT verification_id, bank_id, card_id, device_id, account_id, state, created_at \
             FROM issuer_idv WHERE verification_id = $1",
        )
        .bind(verification_id)
        .fetch_optional(self.db.pool())
        .await?;
        let (verification_id, bank_id, card_id, device_id, account_id, state, created_at) =
            row.ok_or(IssuerError::UnknownVerification)?;
        let state = state
            .parse()
            .map_err(|e: paytap_types::UnknownText| IssuerError::Corrupt(e.to_string()))?;
        Ok(Verification {
            verification_id,
            bank_id,
            card_id,
            device_id,
            account_id,
            state,
            created_at,
        })
    }
}

/// Why a known card cannot be verified, before its CVV2: not active,
/// expired, or not the expiry the person typed.
fn card_refusal(card: &CardInfo, req: &IdvRequest, now: i64) -> Option<RedReason> {
    if card.status != CardStatus::Active {
        return Some(RedReason::CardNotActive);
    }
    if card.expiry_yymm.is_expired(now) {
        return Some(RedReason::CardExpired);
    }
    if req.expiry_yymm != card.expiry_yymm {
        return Some(RedReason::WrongExpiry);
    }
    None
}
