//! The banks' UPI side: INR savings accounts (account number, IFSC, the
//! holder's mobile number) on the ledger, and the answers to the UPI
//! switch's legs: DEBIT, CREDIT, REVERSAL and the status check of a credit.
//!
//! Every leg is idempotent by the switch's transaction id, and keeps the
//! promises `paytap-upiswitch` rests on:
//! - a repeated DEBIT, CREDIT or REVERSAL of one id is the same operation:
//!   each is one ledger transfer whose id is derived from the transaction id
//!   (`upi:debit:<id>`, `upi:credit:<id>`, `upi:reversal:<id>`), and the
//!   ledger answers a repeated id with the outcome it recorded;
//! - a REVERSAL of a debit not (yet) made is SUCCESS and leaves a mark that
//!   makes any later DEBIT of that id fail;
//! - a status check that finds no credit answers FAILURE and leaves a mark
//!   that makes any later CREDIT of that id fail.
//!
//! Ledger layout per INR bank:
//!
//! | account id | flags | role |
//! |---|---|---|
//! | `issuer:<bank>:upi:<account number>` | debits must not exceed credits | a savings account |
//! | `issuer:<bank>:upi-clearing` | none | what the bank owes (debits) or is owed (credits) in UPI settlement |
//!
//! Legs of one bank are decided one at a time (a lock per [`UpiBanks`]), so a
//! debit and its reversal, or a credit and its status check, never race.

use crate::config::{BankConfig, IssuerConfig};
use crate::error::IssuerError;
use crate::service::OtpDelivery;
use crate::service::account_id;
use crate::upi_pin::PinSecrets;
use paytap_ledger::{AccountFlags, AccountSpec, Ledger, LedgerError, Rejection, Transfer};
use paytap_store::{Db, Migration, now_millis};
use paytap_types::{Currency, Money};
use paytap_types::{Expiry, Pan, Secret};
use rand::RngExt;
use std::collections::HashMap;
use tokio::sync::{Mutex, broadcast};

/// PIN-setting OTPs the SMS gateway may lag behind by before the oldest are
/// dropped (each is logged as lost; the holder asks for another).
const OTP_CHANNEL: usize = 256;
/// How long a debit card the banks issue with an account is valid: 5 years.
const DEBIT_CARD_MONTHS: u32 = 60;

mod mobile;

use mobile::MobileCipher;

/// Schema owned by the banks' UPI side. Version 2 keeps mobile numbers
/// sealed, found by their keyed fingerprint ([`mobile`]); rows written
/// before it are sealed when [`UpiBanks::open`] first runs with a key.
pub const UPI_MIGRATIONS: &[Migration] = &[
    Migration {
        component: "issuer_upi",
        version: 1,
        sql: "CREATE TABLE issuer_upi_accounts (\
            bank_id TEXT NOT NULL, \
            account_number TEXT NOT NULL, \
            ifsc TEXT NOT NULL, \
            mobile TEXT NOT NULL, \
            holder TEXT NOT NULL, \
            created_at BIGINT NOT NULL, \
            PRIMARY KEY (bank_id, account_number));\
          CREATE INDEX issuer_upi_accounts_mobile ON issuer_upi_accounts (mobile);\
          CREATE TABLE issuer_upi_marks (\
            txn_id TEXT NOT NULL, \
            mark TEXT NOT NULL, \
            created_at BIGINT NOT NULL, \
            PRIMARY KEY (txn_id, mark))",
    },
    Migration {
        component: "issuer_upi",
        version: 2,
        sql: "ALTER TABLE issuer_upi_accounts ADD COLUMN mobile_fp TEXT;\
          DROP INDEX issuer_upi_accounts_mobile;\
          CREATE INDEX issuer_upi_accounts_mobile_fp ON issuer_upi_accounts (mobile_fp)",
    },
    // The PIN and the debit card's check per account, and the PIN-setting
    // OTPs (`upi_pin.rs`): keyed hashes only.
    Migration {
        component: "issuer_upi",
        version: 3,
        sql: "CREATE TABLE issuer_upi_pins (\
            bank_id TEXT NOT NULL, \
            account_number TEXT NOT NULL, \
            card_check TEXT NOT NULL, \
            pin_salt TEXT, \
            pin_hash TEXT, \
            pin_set_at BIGINT, \
            wrong_day BIGINT NOT NULL, \
            wrong_count BIGINT NOT NULL, \
            PRIMARY KEY (bank_id, account_number));\
          CREATE TABLE issuer_upi_otps (\
            verification_id TEXT PRIMARY KEY, \
            bank_id TEXT NOT NULL, \
            account_number TEXT NOT NULL, \
            code_hash TEXT NOT NULL, \
            expires_at BIGINT NOT NULL, \
            attempts BIGINT NOT NULL)",
    },
];

/// Digits of an account number the banks open: 12, as Indian savings
/// accounts commonly have.
pub const ACCOUNT_NUMBER_DIGITS: usize = 12;
/// Digits of an Indian mobile number.
pub const MOBILE_DIGITS: usize = 10;
/// Longest transaction id a leg accepts (NPCI's ids are 35 characters).
pub const TXN_ID_MAX_LEN: usize = 35;
/// Account numbers drawn before opening gives up.
const ACCOUNT_NUMBER_ATTEMPTS: usize = 64;
/// The branch part of the IFSC every emulated account gets (`<bank>0000001`).
const IFSC_BRANCH: &str = "0000001";

/// The error codes a bank puts in its answer to a leg.
pub mod codes {
    /// The debit account lacks the money (NPCI: insufficient funds).
    pub const INSUFFICIENT_FUNDS: &str = "Z9";
    /// No such account at this bank (paytap).
    pub const NO_SUCH_ACCOUNT: &str = "NA";
    /// The transaction was reversed before its debit came (paytap).
    pub const ALREADY_REVERSED: &str = "RV";
    /// A status check already answered that no credit was made (paytap).
    pub const CHECKED_NOT_CREDITED: &str = "CK";
    /// A leg this bank cannot act on: a bad id or amount (paytap).
    pub const BAD_LEG: &str = "BL";
}

/// A bank's answer to a leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegResult {
    /// Done (or, for a status check: the credit was made).
    Success,
    /// Not done, with the bank's error code ([`codes`]).
    Failure(&'static str),
}

/// The debit card of a savings account, as the holder receives it: shown
/// once, when the account is opened (the bank keeps only a keyed check of
/// its last six digits and expiry, for setting the UPI PIN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebitCard {
    /// The card number (masked when printed).
    pub pan: Pan,
    /// Valid through.
    pub expiry: Expiry,
}

impl DebitCard {
    /// The last six digits, what UPI asks for when a PIN is set.
    pub fn last6(&self) -> Secret<String> {
        let d = self.pan.expose();
        Secret::new(d[d.len().saturating_sub(6)..].to_owned())
    }
}

/// A savings account as its holder knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpiAccount {
    /// The bank (institution id in the issuer configuration).
    pub bank_id: String,
    /// Digits, [`ACCOUNT_NUMBER_DIGITS`] of them.
    pub account_number: String,
    /// `AAAA0XXXXXX`: the bank's four letters, `0`, the branch.
    pub ifsc: String,
    /// The holder's mobile number, [`MOBILE_DIGITS`] digits.
    pub mobile: String,
    /// The holder's name.
    pub holder: String,
    /// The account's debit card: given when the account is opened, never
    /// again.
    pub debit_card: Option<DebitCard>,
}

/// The INR banks' UPI side over one database and ledger.
#[derive(Debug)]
pub struct UpiBanks {
    db: Db,
    ledger: Ledger,
    banks: Vec<BankConfig>,
    mobiles: MobileCipher,
    /// Each bank's PIN key and hash key, by bank id.
    pins: HashMap<String, PinSecrets>,
    otp_tx: broadcast::Sender<OtpDelivery>,
    lock: Mutex<()>,
}

impl std::fmt::Debug for MobileCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MobileCipher([REDACTED])")
    }
}

/// Seals the mobile numbers of rows written before they were sealed
/// (migration 2 left their fingerprint empty), each in its own statement:
/// a row is either still clear with no fingerprint, or sealed with one.
async fn seal_clear_mobiles(db: &Db, mobiles: &MobileCipher) -> Result<(), IssuerError> {
    let clear: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT bank_id, account_number, mobile FROM issuer_upi_accounts WHERE mobile_fp IS NULL",
    )
    .fetch_all(db.pool())
    .await?;
    for (bank_id, number, mobile) in &clear {
        let sealed = mobiles
            .seal(bank_id, number, mobile)
            .ok_or(IssuerError::Invalid("a mobile number could not be sealed"))?;
        sqlx::query(
            "UPDATE issuer_upi_accounts SET mobile = $1, mobile_fp = $2 \
             WHERE bank_id = $3 AND account_number = $4 AND mobile_fp IS NULL",
        )
        .bind(sealed)
        .bind(mobiles.fingerprint(mobile))
        .bind(bank_id)
        .bind(number)
        .execute(db.pool())
        .await?;
    }
    if !clear.is_empty() {
        tracing::info!(accounts = clear.len(), "UPI account mobile numbers sealed");
    }
    Ok(())
}

/// The four letters that start the IFSCs of `bank`: the first four letters
/// of its short name, upper case (`ICICI` → `ICIC`, `HDFC` → `HDFC`).
pub fn ifsc_prefix(bank: &BankConfig) -> String {
    bank.short_name
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(4)
        .collect::<String>()
        .to_ascii_uppercase()
}

fn debit_id(txn_id: &str) -> String {
    format!("upi:debit:{txn_id}")
}

fn credit_id(txn_id: &str) -> String {
    format!("upi:credit:{txn_id}")
}

fn reversal_id(txn_id: &str) -> String {
    format!("upi:reversal:{txn_id}")
}

fn savings_id(bank_id: &str, account_number: &str) -> String {
    account_id(bank_id, &format!("upi:{account_number}"))
}

/// Mark names in `issuer_upi_marks`.
const MARK_REVERSED: &str = "reversed";
const MARK_CHECKED: &str = "checked-not-credited";

impl UpiBanks {
    /// Migrates the tables, seals any mobile number still in clear under
    /// `data_key` (from the vault's keyring) and opens every INR bank's
    /// clearing account (idempotent). `pin_secret` is the platform's secret
    /// the banks' PIN keys and hash keys are derived from (the same secret
    /// gives the same keys after a restart).
    pub async fn open(
        db: Db,
        ledger: Ledger,
        config: &IssuerConfig,
        data_key: &[u8; 32],
        pin_secret: &Secret<[u8; 32]>,
    ) -> Result<UpiBanks, IssuerError> {
        db.migrate(UPI_MIGRATIONS).await?;
        let mobiles = MobileCipher::new(data_key);
        seal_clear_mobiles(&db, &mobiles).await?;
        let banks: Vec<BankConfig> = config
            .banks
            .iter()
            .filter(|b| b.currency == Currency::INR)
            .cloned()
            .collect();
        for b in &banks {
            assert_eq!(
                ifsc_prefix(b).len(),
                4,
                "an INR bank's short name has 4 letters"
            );
            // `deposits` as `Issuer::open` makes it: the same spec is a no-op.
            for (what, name) in [
                ("upi-clearing", "UPI clearing"),
                ("deposits", "cardholder deposits"),
            ] {
                ledger
                    .create_account(AccountSpec::new(
                        account_id(&b.id, what),
                        format!("{} {name}", b.short_name),
                        Currency::INR,
                        AccountFlags::None,
                    ))
                    .await?;
            }
        }
        let pins = banks
            .iter()
            .map(|b| (b.id.clone(), PinSecrets::derive(pin_secret.expose(), &b.id)))
            .collect();
        Ok(UpiBanks {
            db,
            ledger,
            banks,
            mobiles,
            pins,
            otp_tx: broadcast::channel(OTP_CHANNEL).0,
            lock: Mutex::new(()),
        })
    }

    /// PIN-setting OTPs as the emulated SMS gateway sends them.
    pub fn subscribe_otp(&self) -> broadcast::Receiver<OtpDelivery> {
        self.otp_tx.subscribe()
    }

    pub(crate) fn send_otp(&self, d: OtpDelivery) {
        // No subscriber means no SMS gateway is listening: the holder asks
        // for another OTP.
        if self.otp_tx.send(d).is_err() {
            tracing::warn!("UPI OTP sent with no SMS gateway listening");
        }
    }

    pub(crate) fn banks(&self) -> &[BankConfig] {
        &self.banks
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// The mobile number sealed in an account's row.
    pub(crate) fn open_mobile(
        &self,
        bank_id: &str,
        account_number: &str,
        sealed: &str,
    ) -> Result<String, IssuerError> {
        self.mobiles
            .open(bank_id, account_number, sealed)
            .ok_or_else(|| {
                IssuerError::Corrupt(format!("sealed mobile of account {account_number}"))
            })
    }

    pub(crate) fn pin_secrets(&self, bank_id: &str) -> &PinSecrets {
        self.pins
            .get(bank_id)
            .expect("every INR bank has PIN secrets from open")
    }

    /// The bank whose IFSCs start with `ifsc`'s first four letters.
    pub(crate) fn bank_by_ifsc(&self, ifsc: &str) -> Option<&BankConfig> {
        let prefix = ifsc.get(..4)?;
        self.banks.iter().find(|b| ifsc_prefix(b) == prefix)
    }

    /// Opens a savings account at `bank_id` for `holder` with `mobile`,
    /// funded with `opening_paise` from the bank's deposits.
    pub async fn open_account(
        &self,
        bank_id: &str,
        holder: &str,
        mobile: &str,
        opening_paise: i64,
    ) -> Result<UpiAccount, IssuerError> {
        let bank = self
            .banks
            .iter()
            .find(|b| b.id == bank_id)
            .ok_or_else(|| IssuerError::UnknownBank(bank_id.to_owned()))?;
        if mobile.len() != MOBILE_DIGITS || !mobile.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IssuerError::Invalid("a mobile number is 10 digits"));
        }
        if opening_paise < 0 {
            return Err(IssuerError::Invalid("a negative opening balance"));
        }
        let ifsc = format!("{}{IFSC_BRANCH}", ifsc_prefix(bank));
        let account_number = self.insert_account(bank, &ifsc, mobile, holder).await?;
        let debit_card = self.issue_debit_card(bank, &account_number).await?;
        let ledger_id = savings_id(&bank.id, &account_number);
        self.ledger
            .create_account(AccountSpec::new(
                ledger_id.clone(),
                format!("{} savings {account_number}", bank.short_name),
                Currency::INR,
                AccountFlags::DebitsMustNotExceedCredits,
            ))
            .await?;
        if opening_paise > 0 {
            let open = Transfer::single(
                format!("issuer:upi-open:{}:{account_number}", bank.id),
                account_id(&bank.id, "deposits"),
                ledger_id,
                Money::new(opening_paise, Currency::INR),
            )
            .with_reference("savings opening");
            self.ledger.transfer(open).await?;
        }
        Ok(UpiAccount {
            bank_id: bank.id.clone(),
            account_number,
            ifsc,
            mobile: mobile.to_owned(),
            holder: holder.to_owned(),
            debit_card: Some(debit_card),
        })
    }

    /// A debit card for a new account: a number in the bank's first card
    /// range, its keyed check kept for setting the UPI PIN.
    async fn issue_debit_card(
        &self,
        bank: &BankConfig,
        account_number: &str,
    ) -> Result<DebitCard, IssuerError> {
        let bin = bank
            .card_bins
            .first()
            .ok_or(IssuerError::Invalid("an INR bank has a card range"))?;
        let body: String = {
            let mut rng = rand::rng();
            let rest = (0..15usize.saturating_sub(bin.len()))
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)));
            bin.chars().chain(rest).collect()
        };
        let check = paytap_types::luhn_check_digit(&body).expect("digits");
        let pan = Pan::parse(&format!("{body}{check}"))
            .map_err(|_| IssuerError::Invalid("the card range makes no valid number"))?;
        let card = DebitCard {
            pan,
            expiry: Expiry::months_after(now_millis(), DEBIT_CARD_MONTHS),
        };
        let check = self.pin_secrets(&bank.id).card_check(
            account_number,
            card.last6().expose(),
            card.expiry,
        );
        sqlx::query(
            "INSERT INTO issuer_upi_pins (bank_id, account_number, card_check, wrong_day, \
             wrong_count) VALUES ($1, $2, $3, 0, 0)",
        )
        .bind(&bank.id)
        .bind(account_number)
        .bind(check)
        .execute(self.db.pool())
        .await?;
        Ok(card)
    }

    /// Draws a free account number and records the account.
    async fn insert_account(
        &self,
        bank: &BankConfig,
        ifsc: &str,
        mobile: &str,
        holder: &str,
    ) -> Result<String, IssuerError> {
        for _ in 0..ACCOUNT_NUMBER_ATTEMPTS {
            let number: String = {
                let mut rng = rand::rng();
                (0..ACCOUNT_NUMBER_DIGITS)
                    .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                    .collect()
            };
            let sealed =
                self.mobiles
                    .seal(&bank.id, &number, mobile)
                    .ok_or(IssuerError::Invalid(
                        "the mobile number could not be sealed",
                    ))?;
            let inserted = sqlx::query(
                "INSERT INTO issuer_upi_accounts \
                 (bank_id, account_number, ifsc, mobile, mobile_fp, holder, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (bank_id, account_number) DO NOTHING",
            )
            .bind(&bank.id)
            .bind(&number)
            .bind(ifsc)
            .bind(sealed)
            .bind(self.mobiles.fingerprint(mobile))
            .bind(holder)
            .bind(now_millis())
            .execute(self.db.pool())
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(number);
            }
        }
        Err(IssuerError::Exhausted)
    }

    /// Every account whose holder has `mobile` (how a bank finds the
    /// accounts to bind to a phone).
    pub async fn accounts_by_mobile(&self, mobile: &str) -> Result<Vec<UpiAccount>, IssuerError> {
        let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT bank_id, account_number, ifsc, mobile, holder \
             FROM issuer_upi_accounts WHERE mobile_fp = $1 ORDER BY bank_id, account_number",
        )
        .bind(self.mobiles.fingerprint(mobile))
        .fetch_all(self.db.pool())
        .await?;
        rows.into_iter()
            .map(|(bank_id, account_number, ifsc, sealed, holder)| {
                let mobile = self
                    .mobiles
                    .open(&bank_id, &account_number, &sealed)
                    .ok_or_else(|| {
                        IssuerError::Corrupt(format!("sealed mobile of account {account_number}"))
                    })?;
                Ok(UpiAccount {
                    bank_id,
                    account_number,
                    ifsc,
                    mobile,
                    holder,
                    debit_card: None,
                })
            })
            .collect()
    }

    /// The balance of a savings account, in paise.
    pub async fn balance(&self, ifsc: &str, account_number: &str) -> Result<i64, IssuerError> {
        let bank = self
            .bank_by_ifsc(ifsc)
            .ok_or_else(|| IssuerError::UnknownBank(ifsc.to_owned()))?;
        let b = self
            .ledger
            .balance(&savings_id(&bank.id, account_number))
            .await?;
        Ok(b.available_to_debit())
    }

    /// DEBIT `paise` from the account for transaction `txn_id`.
    pub async fn debit(
        &self,
        txn_id: &str,
        ifsc: &str,
        account_number: &str,
        paise: i64,
    ) -> Result<LegResult, IssuerError> {
        let Some(bank) = self.leg_bank(txn_id, ifsc, paise) else {
            return Ok(LegResult::Failure(codes::BAD_LEG));
        };
        let _one_at_a_time = self.lock.lock().await;
        self.debit_locked(bank, txn_id, account_number, paise).await
    }

    /// The debit's transfer, under the bank's lock.
    async fn debit_locked(
        &self,
        bank: &BankConfig,
        txn_id: &str,
        account_number: &str,
        paise: i64,
    ) -> Result<LegResult, IssuerError> {
        if self.has_mark(txn_id, MARK_REVERSED).await? {
            tracing::info!(txn_id, "UPI debit after its reversal: refused");
            return Ok(LegResult::Failure(codes::ALREADY_REVERSED));
        }
        let t = Transfer::single(
            debit_id(txn_id),
            savings_id(&bank.id, account_number),
            account_id(&bank.id, "upi-clearing"),
            Money::new(paise, Currency::INR),
        )
        .with_reference("UPI debit");
        self.leg_transfer(t).await
    }

    /// DEBIT `paise` from a holder's account for transaction `txn_id`, paid
    /// with the holder's UPI PIN: `pin_block` sealed to the bank's key for
    /// this transaction id. A repeat of a debit already decided gets its
    /// first answer without the PIN being checked again.
    pub async fn debit_with_pin(
        &self,
        txn_id: &str,
        ifsc: &str,
        account_number: &str,
        paise: i64,
        pin_block: Option<&[u8]>,
        now: i64,
    ) -> Result<LegResult, IssuerError> {
        let Some(bank) = self.leg_bank(txn_id, ifsc, paise) else {
            return Ok(LegResult::Failure(codes::BAD_LEG));
        };
        let _one_at_a_time = self.lock.lock().await;
        if self.ledger.outcome(&debit_id(txn_id)).await?.is_none() {
            let pin = self
                .verify_debit_pin(&bank.id, account_number, txn_id, pin_block, now)
                .await?;
            if let Err(code) = pin {
                return Ok(LegResult::Failure(code));
            }
        }
        self.debit_locked(bank, txn_id, account_number, paise).await
    }

    /// CREDIT `paise` to the account for transaction `txn_id`.
    pub async fn credit(
        &self,
        txn_id: &str,
        ifsc: &str,
        account_number: &str,
        paise: i64,
    ) -> Result<LegResult, IssuerError> {
        let Some(bank) = self.leg_bank(txn_id, ifsc, paise) else {
            return Ok(LegResult::Failure(codes::BAD_LEG));
        };
        let _one_at_a_time = self.lock.lock().await;
        if self.has_mark(txn_id, MARK_CHECKED).await? {
            tracing::info!(txn_id, "UPI credit after a status check said none: refused");
            return Ok(LegResult::Failure(codes::CHECKED_NOT_CREDITED));
        }
        let t = Transfer::single(
            credit_id(txn_id),
            account_id(&bank.id, "upi-clearing"),
            savings_id(&bank.id, account_number),
            Money::new(paise, Currency::INR),
        )
        .with_reference("UPI credit");
        self.leg_transfer(t).await
    }

    /// REVERSAL of transaction `txn_id`'s debit at the bank of `ifsc`: the
    /// money debited goes back; with no debit made, the mark refuses any
    /// later one. Always SUCCESS for a valid id.
    pub async fn reverse(&self, txn_id: &str, ifsc: &str) -> Result<LegResult, IssuerError> {
        let Some(bank) = self.leg_bank(txn_id, ifsc, 1) else {
            return Ok(LegResult::Failure(codes::BAD_LEG));
        };
        let _one_at_a_time = self.lock.lock().await;
        // The mark first: a crash after it and before the transfer leaves a
        // reversal the switch's repeat completes.
        self.mark(txn_id, MARK_REVERSED).await?;
        let Some(Ok(debit)) = self.ledger.outcome(&debit_id(txn_id)).await? else {
            tracing::info!(txn_id, "UPI reversal of a debit not made: recorded");
            return Ok(LegResult::Success);
        };
        let back = Transfer::single(
            reversal_id(txn_id),
            account_id(&bank.id, "upi-clearing"),
            debit.debit,
            debit.amount,
        )
        .with_reference("UPI reversal");
        self.ledger.transfer(back).await?;
        tracing::info!(txn_id, "UPI debit reversed");
        Ok(LegResult::Success)
    }

    /// The status check of transaction `txn_id`'s credit: SUCCESS if made;
    /// otherwise FAILURE, and no credit of that id will be made after.
    pub async fn check_credit(&self, txn_id: &str) -> Result<LegResult, IssuerError> {
        if txn_id.is_empty() || txn_id.len() > TXN_ID_MAX_LEN {
            return Ok(LegResult::Failure(codes::BAD_LEG));
        }
        let _one_at_a_time = self.lock.lock().await;
        match self.ledger.outcome(&credit_id(txn_id)).await? {
            Some(Ok(_)) => Ok(LegResult::Success),
            Some(Err(r)) => Ok(LegResult::Failure(rejection_code(r))),
            None => {
                self.mark(txn_id, MARK_CHECKED).await?;
                Ok(LegResult::Failure(codes::CHECKED_NOT_CREDITED))
            }
        }
    }

    /// The bank of a leg, if the id, IFSC and amount are ones it acts on.
    fn leg_bank(&self, txn_id: &str, ifsc: &str, paise: i64) -> Option<&BankConfig> {
        let ok = !txn_id.is_empty() && txn_id.len() <= TXN_ID_MAX_LEN && paise > 0;
        let bank = self.bank_by_ifsc(ifsc).filter(|_| ok);
        if bank.is_none() {
            tracing::info!(
                txn_id,
                ifsc,
                paise,
                "UPI leg refused: bad id, IFSC or amount"
            );
        }
        bank
    }

    /// One leg's transfer: the ledger answers a repeat with its first outcome.
    async fn leg_transfer(&self, t: Transfer) -> Result<LegResult, IssuerError> {
        let id = t.id.clone();
        match self.ledger.transfer(t).await {
            Ok(_) => Ok(LegResult::Success),
            Err(LedgerError::Rejected(r)) => {
                tracing::info!(transfer = %id, rejection = %r, "UPI leg declined");
                Ok(LegResult::Failure(rejection_code(r)))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn has_mark(&self, txn_id: &str, mark: &str) -> Result<bool, IssuerError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT mark FROM issuer_upi_marks WHERE txn_id = $1 AND mark = $2")
                .bind(txn_id)
                .bind(mark)
                .fetch_optional(self.db.pool())
                .await?;
        Ok(row.is_some())
    }

    async fn mark(&self, txn_id: &str, mark: &str) -> Result<(), IssuerError> {
        sqlx::query(
            "INSERT INTO issuer_upi_marks (txn_id, mark, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (txn_id, mark) DO NOTHING",
        )
        .bind(txn_id)
        .bind(mark)
        .bind(now_millis())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}

/// The bank's code for a ledger refusal.
fn rejection_code(r: Rejection) -> &'static str {
    match r {
        Rejection::ExceedsCredits => codes::INSUFFICIENT_FUNDS,
        Rejection::DebitAccountNotFound | Rejection::CreditAccountNotFound => {
            codes::NO_SUCH_ACCOUNT
        }
        _ => codes::BAD_LEG,
    }
}
