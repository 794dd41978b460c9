//! The UPI PIN at the remitter bank: the bank's PIN key (what `ListKeys`
//! hands out), setting a PIN with the account's debit card and an OTP, and
//! verifying the PIN block of each debit, with the day's lockout.
//!
//! Only the bank opens a PIN block ([`paytap_seal::upi_pin`]). A PIN is kept
//! as an HMAC-SHA256 over a per-account random salt and the digits, keyed by
//! a bank secret derived from the platform's keyring: a 4 or 6 digit PIN
//! falls to any unkeyed hash in a moment, however slow, so the secret key is
//! what protects it, and a fast keyed hash keeps each debit cheap. The debit
//! card is known by the same kind of keyed check over its last six digits
//! and expiry; its number is shown once, when the account is opened.
//!
//! [`MAX_WRONG_PINS_PER_DAY`] wrong PINs lock the PIN until India's next day.

use crate::error::IssuerError;
use crate::service::OtpDelivery;
use crate::upi::{LegResult, UpiBanks};
use hmac::{Hmac, KeyInit, Mac};
use paytap_seal::DeviceKey;
use paytap_seal::upi_pin::{PinPurpose, open_pin, pin_well_formed};
use paytap_store::Db;
use paytap_types::{Expiry, Secret};
use rand::RngExt;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Wrong PINs in one day after which the PIN is locked until the next day
/// (NPCI's rule: the third wrong PIN blocks UPI for 24 hours).
pub const MAX_WRONG_PINS_PER_DAY: i64 = 3;
/// How long a PIN-setting OTP is good for: 5 minutes, as banks' SMS OTPs.
pub const PIN_OTP_TTL_MS: i64 = 5 * 60 * 1000;
/// Wrong OTPs before a PIN-setting OTP is spent: a 6-digit code gets three
/// guesses, not a million.
pub const PIN_OTP_MAX_ATTEMPTS: i64 = 3;
/// Digits of the PIN-setting OTP.
const OTP_DIGITS: usize = 6;
/// India Standard Time's offset from UTC: the lockout lasts India's day.
const IST_OFFSET_MS: i64 = 19_800_000;
const DAY_MS: i64 = 86_400_000;
/// The index of the one PIN key each bank has (`ki` in `ListKeys`).
pub const PIN_KEY_INDEX: &str = "20261201";

/// The error codes of the PIN, in a debit's or a PIN-setting answer.
pub mod codes {
    /// The PIN is wrong (NPCI: incorrect PIN).
    pub const WRONG_PIN: &str = "ZM";
    /// Too many wrong PINs today: locked until tomorrow (NPCI: number of PIN
    /// tries exceeded).
    pub const PIN_LOCKED: &str = "Z6";
    /// No UPI PIN set for the account yet (paytap).
    pub const PIN_NOT_SET: &str = "PN";
    /// No PIN block, or one that does not open for this transaction (paytap).
    pub const BAD_PIN_BLOCK: &str = "PB";
    /// The debit card's last six digits or expiry do not match (paytap).
    pub const CARD_MISMATCH: &str = "CM";
    /// The OTP is wrong, expired or spent (NPCI: OTP expired or incorrect).
    pub const BAD_OTP: &str = "ZR";
    /// A new PIN that is not 4 or 6 digits (paytap).
    pub const PIN_FORMAT: &str = "PF";
}

/// A bank's PIN key as `ListKeys` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinKey {
    /// The bank's four IFSC letters (`code` in `ListKeys`).
    pub bank: String,
    /// The key index.
    pub ki: String,
    /// The X25519 public key PIN blocks are sealed to.
    pub public: [u8; 32],
}

/// One bank's PIN secrets, derived from the platform's secret.
pub(crate) struct PinSecrets {
    key: DeviceKey,
    hash_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for PinSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinSecrets").finish_non_exhaustive()
    }
}

impl PinSecrets {
    pub(crate) fn derive(secret: &[u8; 32], bank_id: &str) -> PinSecrets {
        let key = hmac(secret, &["upi-pin-key", bank_id]);
        PinSecrets {
            key: DeviceKey::from_bytes(*key),
            hash_key: hmac(secret, &["upi-pin-hash", bank_id]),
        }
    }

    pub(crate) fn public(&self) -> [u8; 32] {
        self.key.public()
    }

    fn pin_hash(&self, salt: &str, pin: &Secret<String>) -> String {
        hex::encode(*hmac(&*self.hash_key, &["pin", salt, pin.expose()]))
    }

    pub(crate) fn card_check(&self, account: &str, last6: &str, expiry: Expiry) -> String {
        hex::encode(*hmac(
            &*self.hash_key,
            &["card", account, last6, &expiry.yymm()],
        ))
    }

    fn otp_hash(&self, verification_id: &str, code: &str) -> String {
        hex::encode(*hmac(&*self.hash_key, &["otp", verification_id, code]))
    }
}

/// HMAC-SHA256 of `parts`, each length-prefixed so no two lists collide.
fn hmac(key: &[u8], parts: &[&str]) -> Zeroizing<[u8; 32]> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(&(p.len() as u64).to_be_bytes());
        mac.update(p.as_bytes());
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

fn ist_day(now: i64) -> i64 {
    (now + IST_OFFSET_MS).div_euclid(DAY_MS)
}

fn equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// What the holder types to set a PIN, the PIN sealed to the bank's key for
/// [`PinPurpose::SetPin`] and the OTP's verification id.
#[derive(Debug)]
pub struct SetPin {
    /// The account's IFSC.
    pub ifsc: String,
    /// The account number.
    pub account_number: String,
    /// The debit card's last six digits.
    pub card_last6: Secret<String>,
    /// The debit card's expiry.
    pub card_expiry: Expiry,
    /// The OTP's verification id, from [`UpiBanks::request_pin_otp`].
    pub verification_id: String,
    /// The OTP the bank sent by SMS.
    pub otp: Secret<String>,
    /// The new PIN, sealed.
    pub pin_block: Vec<u8>,
}

/// Where a PIN-setting OTP went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinOtp {
    /// Names the OTP in [`SetPin`].
    pub verification_id: String,
    /// The holder's mobile, masked.
    pub destination: String,
}

/// One row of `issuer_upi_pins`: `pin_salt, pin_hash, wrong_day, wrong_count`.
type PinRow = (Option<String>, Option<String>, i64, i64);

impl UpiBanks {
    /// Every INR bank's PIN key (the answer to `ListKeys`).
    pub fn list_keys(&self) -> Vec<PinKey> {
        self.banks()
            .iter()
            .map(|b| PinKey {
                bank: crate::upi::ifsc_prefix(b),
                ki: PIN_KEY_INDEX.to_owned(),
                public: self.pin_secrets(&b.id).public(),
            })
            .collect()
    }

    /// Texts the holder of an account an OTP for setting its PIN.
    pub async fn request_pin_otp(
        &self,
        ifsc: &str,
        account_number: &str,
        now: i64,
    ) -> Result<PinOtp, IssuerError> {
        let bank = self.bank_of(ifsc)?;
        let mobile = self.mobile_of(&bank, account_number).await?;
        let verification_id = format!("upiotp-{}", uuid::Uuid::new_v4().simple());
        let code: String = {
            let mut rng = rand::rng();
            (0..OTP_DIGITS)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect()
        };
        let hash = self.pin_secrets(&bank).otp_hash(&verification_id, &code);
        sqlx::query(
            "INSERT INTO issuer_upi_otps (verification_id, bank_id, account_number, code_hash, \
             expires_at, attempts) VALUES ($1, $2, $3, $4, $5, 0)",
        )
        .bind(&verification_id)
        .bind(&bank)
        .bind(account_number)
        .bind(hash)
        .bind(now + PIN_OTP_TTL_MS)
        .execute(self.db().pool())
        .await?;
        let destination = format!("SMS to +91 {}", paytap_types::mask_digits(&mobile));
        self.send_otp(OtpDelivery {
            verification_id: verification_id.clone(),
            destination: destination.clone(),
            code: Secret::new(code),
        });
        Ok(PinOtp {
            verification_id,
            destination,
        })
    }

    /// Sets the account's PIN: `Success`, or `Failure` with a [`codes`] code.
    pub async fn set_pin(&self, req: &SetPin, now: i64) -> Result<LegResult, IssuerError> {
        let bank = self.bank_of(&req.ifsc)?;
        let number = req.account_number.as_str();
        if let Err(code) = self.check_otp(&bank, number, req, now).await? {
            return Ok(LegResult::Failure(code));
        }
        let secrets = self.pin_secrets(&bank);
        let stored: Option<(String,)> = sqlx::query_as(
            "SELECT card_check FROM issuer_upi_pins WHERE bank_id = $1 AND account_number = $2",
        )
        .bind(&bank)
        .bind(number)
        .fetch_optional(self.db().pool())
        .await?;
        let given = secrets.card_check(number, req.card_last6.expose(), req.card_expiry);
        if !stored.is_some_and(|(c,)| equal(&c, &given)) {
            tracing::info!(bank, "UPI PIN not set: debit card details do not match");
            return Ok(LegResult::Failure(codes::CARD_MISMATCH));
        }
        let pin = match open_pin(
            &secrets.key,
            PinPurpose::SetPin,
            &req.verification_id,
            &req.pin_block,
        ) {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(bank, error = %e, "UPI PIN not set: the PIN block does not open");
                return Ok(LegResult::Failure(codes::BAD_PIN_BLOCK));
            }
        };
        if !pin_well_formed(pin.expose()) {
            return Ok(LegResult::Failure(codes::PIN_FORMAT));
        }
        let salt = hex::encode(rand::random::<[u8; 16]>());
        sqlx::query(
            "UPDATE issuer_upi_pins SET pin_salt = $1, pin_hash = $2, pin_set_at = $3, \
             wrong_day = 0, wrong_count = 0 WHERE bank_id = $4 AND account_number = $5",
        )
        .bind(&salt)
        .bind(secrets.pin_hash(&salt, &pin))
        .bind(now)
        .bind(&bank)
        .bind(number)
        .execute(self.db().pool())
        .await?;
        tracing::info!(bank, "UPI PIN set");
        Ok(LegResult::Success)
    }

    /// The OTP of `req`, checked and spent: `Err(code)` when it is not good.
    async fn check_otp(
        &self,
        bank: &str,
        number: &str,
        req: &SetPin,
        now: i64,
    ) -> Result<Result<(), &'static str>, IssuerError> {
        let row: Option<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT bank_id, account_number, code_hash, expires_at, attempts \
             FROM issuer_upi_otps WHERE verification_id = $1",
        )
        .bind(&req.verification_id)
        .fetch_optional(self.db().pool())
        .await?;
        let Some((b, n, hash, expires_at, attempts)) = row else {
            tracing::info!("UPI PIN not set: unknown OTP");
            return Ok(Err(codes::BAD_OTP));
        };
        if b != bank || n != number || now >= expires_at || attempts >= PIN_OTP_MAX_ATTEMPTS {
            tracing::info!(
                bank,
                "UPI PIN not set: the OTP is expired, spent or another's"
            );
            return Ok(Err(codes::BAD_OTP));
        }
        let given = self
            .pin_secrets(bank)
            .otp_hash(&req.verification_id, req.otp.expose());
        // A right code is spent as well: one OTP sets one PIN.
        let spent = if equal(&hash, &given) {
            PIN_OTP_MAX_ATTEMPTS
        } else {
            attempts + 1
        };
        sqlx::query("UPDATE issuer_upi_otps SET attempts = $1 WHERE verification_id = $2")
            .bind(spent)
            .bind(&req.verification_id)
            .execute(self.db().pool())
            .await?;
        if spent == PIN_OTP_MAX_ATTEMPTS && equal(&hash, &given) {
            Ok(Ok(()))
        } else {
            tracing::info!(bank, "UPI PIN not set: wrong OTP");
            Ok(Err(codes::BAD_OTP))
        }
    }

    /// Checks the PIN block of transaction `txn_id`'s debit of an account at
    /// `bank`, counting a wrong PIN; the caller holds the bank's lock.
    pub(crate) async fn verify_debit_pin(
        &self,
        bank: &str,
        number: &str,
        txn_id: &str,
        block: Option<&[u8]>,
        now: i64,
    ) -> Result<Result<(), &'static str>, IssuerError> {
        let row: Option<PinRow> = sqlx::query_as(
            "SELECT pin_salt, pin_hash, wrong_day, wrong_count FROM issuer_upi_pins \
             WHERE bank_id = $1 AND account_number = $2",
        )
        .bind(bank)
        .bind(number)
        .fetch_optional(self.db().pool())
        .await?;
        let Some((Some(salt), Some(hash), wrong_day, wrong_count)) = row else {
            tracing::info!(txn_id, "UPI debit refused: no PIN set");
            return Ok(Err(codes::PIN_NOT_SET));
        };
        let today = ist_day(now);
        let wrong_today = if wrong_day == today { wrong_count } else { 0 };
        if wrong_today >= MAX_WRONG_PINS_PER_DAY {
            tracing::info!(txn_id, "UPI debit refused: PIN locked for the day");
            return Ok(Err(codes::PIN_LOCKED));
        }
        let secrets = self.pin_secrets(bank);
        let opened = block.map(|b| open_pin(&secrets.key, PinPurpose::Debit, txn_id, b));
        let Some(Ok(pin)) = opened else {
            tracing::info!(
                txn_id,
                "UPI debit refused: no PIN block, or one that does not open"
            );
            return Ok(Err(codes::BAD_PIN_BLOCK));
        };
        if equal(&secrets.pin_hash(&salt, &pin), &hash) {
            if wrong_count != 0 {
                set_wrong(self.db(), bank, number, 0, 0).await?;
            }
            return Ok(Ok(()));
        }
        let wrong = wrong_today + 1;
        set_wrong(self.db(), bank, number, today, wrong).await?;
        tracing::info!(txn_id, wrong, "UPI debit refused: wrong PIN");
        Ok(Err(if wrong >= MAX_WRONG_PINS_PER_DAY {
            codes::PIN_LOCKED
        } else {
            codes::WRONG_PIN
        }))
    }

    /// The bank id of `ifsc`'s bank.
    fn bank_of(&self, ifsc: &str) -> Result<String, IssuerError> {
        self.bank_by_ifsc(ifsc)
            .map(|b| b.id.clone())
            .ok_or_else(|| IssuerError::UnknownBank(ifsc.to_owned()))
    }

    async fn mobile_of(&self, bank: &str, number: &str) -> Result<String, IssuerError> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT mobile FROM issuer_upi_accounts WHERE bank_id = $1 AND account_number = $2",
        )
        .bind(bank)
        .bind(number)
        .fetch_optional(self.db().pool())
        .await?;
        let (sealed,) = row.ok_or(IssuerError::Invalid("no such account at this bank"))?;
        self.open_mobile(bank, number, &sealed)
    }
}

async fn set_wrong(
    db: &Db,
    bank: &str,
    number: &str,
    day: i64,
    count: i64,
) -> Result<(), IssuerError> {
    sqlx::query(
        "UPDATE issuer_upi_pins SET wrong_day = $1, wrong_count = $2 \
         WHERE bank_id = $3 AND account_number = $4",
    )
    .bind(day)
    .bind(count)
    .bind(bank)
    .bind(number)
    .execute(db.pool())
    .await?;
    Ok(())
}
