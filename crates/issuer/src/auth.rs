//! Authorization, stand-in advice, reversal and clearing capture: ISO
//! 8583:1987 in, ISO 8583:1987 out (what the switch's issuer link carries).
//!
//! ## Checks of an authorization (0100/0200), in order, and DE 39
//!
//! | check | DE 39 |
//! |---|---|
//! | DE 2 missing/invalid, not a card of a configured bank, or unknown | `14` |
//! | DE 7, 11, 41 missing (and no DE 37), DE 4/49 missing | `30` |
//! | card blocked | `62` |
//! | card reported lost / stolen | `41` / `43` |
//! | card expired, or DE 14 not the card's expiry | `54` |
//! | DE 3 not a purchase (`00xxxx`) or DE 49 not the bank's currency | `12` |
//! | amount zero | `13` |
//! | chip card ARQC (DE 55, bank IMK, EMV Book 2 §8.1) does not verify | `63` |
//! | chip card ATC not above the last accepted one (replay) | `05` |
//! | amount above the no-CVM limit without cardholder verification (CDCVM from DE 63 or the card's CVR) | `55` |
//! | above the card's single-transaction limit, or today's total would exceed the daily limit | `61` |
//! | too many approvals in the velocity window | `65` |
//! | not enough balance / credit (the ledger refuses the hold) | `51` |
//! | otherwise: approved, hold placed | `00` + DE 38 |
//!
//! A token transaction arrives already verified by the token service:
//! DE 63 subelements 01 (cryptogram) and 03 (ATC) = `Y`. The switch strips
//! DE 62/63 from acquirer traffic, so only the token service sets them. A
//! card (non-token) chip transaction is verified here with the bank's IMK
//! and answered with an ARPC (DE 55 tag 91, method 1 over DE 39).
//!
//! ## Idempotency
//!
//! Each authorization has a hold key: DE 37 (the switch's network-unique
//! retrieval reference number; `:0120` appended for a stand-in advice), or,
//! without DE 37, acquirer id (DE 32) ‖ terminal (DE 41) ‖ STAN (DE 11) ‖
//! transmission time (DE 7). The same request again gets the same answer
//! and never a second hold (the ledger transfer id is derived from the hold
//! key, and the ledger is idempotent too). A duplicate that carries a new
//! DE 37 but the same DE 32/41/11/7 is found by that key as well.
//!
//! ## Durability
//!
//! An approval is answered only after both the ledger hold and the
//! authorization record are durable. The two commit in parallel (one
//! latency instead of two); if the ledger refuses the hold, the record is
//! turned into the decline before the answer goes out. So a record without
//! its hold, or a hold without its record, was never answered as an
//! approval: should a crash separate them, the next start resolves the half
//! before any request ([`crate::reconcile`]: the record fails with `96`, the
//! hold is voided). Should a failed write separate them while running, the
//! next duplicate checks the ledger's recorded outcome for the hold id and
//! repairs the record (or places the hold) before repeating any approval.
//!
//! ## Reversal (0400/0420) and capture (0220)
//!
//! Found by DE 37 (+ DE 90 original MTI) or by DE 90/DE 41. A reversal
//! voids the hold; repeats are no-ops; a reversal that arrives before its
//! original leaves a tombstone, and the original is then declined without a
//! hold. A reversal of a captured authorization is refused (`12`). Capture
//! posts the hold for DE 4 (at most the held amount, `13` otherwise; unknown
//! or released holds `12`).

use crate::config::BankConfig;
use crate::error::IssuerError;
use crate::financial::is_financial;
use crate::service::{CardInfo, CardStatus, Issuer, account_id, stripe};
use crate::state::AuthState;
use crate::time::day_start;
use paytap_emv::crypto::{arpc_method_1, derive_icc_mk};
use paytap_emv::{EmvKey, VerifyError};
use paytap_iso8583::{CheckResult, Message, Mti, ResponseCode};
use paytap_ledger::{LedgerError, Money, Rejection, Transfer};
use paytap_types::Expiry;
use paytap_types::Pan;
use rand::RngExt;

/// Why setting DE 39 cannot fail: every [`ResponseCode`] is two characters.
const DE39_TAKES_EVERY_CODE: &str = "DE 39 takes every response code";

/// `hold_key, card_id, amount, response_code, approval_code, hold_id, state,
/// created_at`.
type StoredRow = (
    String,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
);

/// The stored outcome of one authorization.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) card_id: String,
    pub(crate) amount: i64,
    pub(crate) created_at: i64,
    pub(crate) response_code: String,
    pub(crate) approval_code: Option<String>,
    pub(crate) hold_id: Option<String>,
    pub(crate) state: AuthState,
}

/// A read row as its hold key and [`Stored`] outcome; a state the issuer
/// does not know is a corrupt row, not a guess.
fn stored_of_row(row: StoredRow) -> Result<(String, Stored), IssuerError> {
    let (key, card_id, amount, response_code, approval_code, hold_id, state, created_at) = row;
    let state = state
        .parse()
        .map_err(|e: paytap_types::UnknownText| IssuerError::Corrupt(e.to_string()))?;
    let s = Stored {
        card_id,
        amount,
        created_at,
        response_code,
        approval_code,
        hold_id,
        state,
    };
    Ok((key, s))
}

/// How an authorization ended, with what the answer needs.
struct Decision {
    code: ResponseCode,
    approval_code: Option<String>,
    /// Session key and ARQC of a verified card (non-token) cryptogram.
    arpc: Option<(EmvKey, [u8; 8])>,
}

/// The outcome of the checks before funds: a decision, or "place the hold".
enum Verdict {
    Decided(Decision),
    /// Every check passed; approve if the ledger takes the hold. Carries the
    /// verified card cryptogram's ARPC material, if any.
    Hold(Option<(EmvKey, [u8; 8])>),
}

impl Decision {
    fn decline(code: ResponseCode) -> Decision {
        Decision {
            code,
            approval_code: None,
            arpc: None,
        }
    }
}

fn trimmed(m: &Message, f: u8) -> Option<&str> {
    m.get_str(f).map(str::trim).filter(|s| !s.is_empty())
}

/// DE 7 ‖ DE 11 ‖ DE 32 ‖ DE 41, acquirer id without leading zeros. The
/// transmission time leads so that new keys sort near each other (the end
/// of the index) whatever the terminal; see the issuer's migration 2.
fn txn_key(acquirer: &str, terminal: &str, stan: &str, datetime: &str) -> String {
    let acq = acquirer.trim_start_matches('0');
    format!("txn:{datetime}|{stan}|{acq}|{}", terminal.trim())
}

fn request_txn_key(m: &Message) -> Option<String> {
    Some(txn_key(
        trimmed(m, 32)?,
        trimmed(m, 41)?,
        trimmed(m, 11)?,
        trimmed(m, 7)?,
    ))
}

/// Adds an `issuer_auths` row's keys to the filter that lets
/// [`Issuer::stored`] skip the database for keys never written
/// ([`may_be_stored`]).
pub(crate) fn remember_keys(
    seen: &paytap_store::keyfilter::KeyFilter,
    hold_key: &str,
    auth_txn_key: Option<&str>,
) {
    seen.insert(&format!("h:{hold_key}"));
    if let Some(t) = auth_txn_key {
        seen.insert(&format!("t:{t}"));
    }
}

/// `false`: no row has this hold key, nor (for an authorization) this
/// transaction key; [`remember_keys`] recorded every row's keys.
fn may_be_stored(
    seen: &paytap_store::keyfilter::KeyFilter,
    hold_key: &str,
    txn: Option<&str>,
) -> bool {
    seen.may_contain(&format!("h:{hold_key}"))
        || txn.is_some_and(|t| seen.may_contain(&format!("t:{t}")))
}

/// A new authorization's record (see the columns).
const INSERT_AUTH: paytap_store::bulk::Bulk = paytap_store::bulk::Bulk {
    name: "issuer_auths insert",
    sqlite: "INSERT INTO issuer_auths (hold_key, txn_key, card_id, bank_id, kind, amount, currency, \
             response_code, approval_code, hold_id, state, created_at, updated_at) \
             SELECT j.value->>0, j.value->>1, j.value->>2, j.value->>3, 'auth', j.value->>4, \
             j.value->>5, j.value->>6, j.value->>7, j.value->>8, j.value->>9, j.value->>10, \
             j.value->>10 FROM jsonb_each(jsonb($1)) AS j",
    postgres: "INSERT INTO issuer_auths (hold_key, txn_key, card_id, bank_id, kind, amount, currency, \
               response_code, approval_code, hold_id, state, created_at, updated_at) \
               SELECT r->>0, r->>1, r->>2, r->>3, 'auth', (r->>4)::bigint, r->>5, r->>6, r->>7, \
               r->>8, r->>9, (r->>10)::bigint, (r->>10)::bigint \
               FROM jsonb_array_elements($1::jsonb) AS r",
    sqlite_row: "INSERT INTO issuer_auths (hold_key, txn_key, card_id, bank_id, kind, amount, \
                 currency, response_code, approval_code, hold_id, state, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, 'auth', ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
};

fn rrn_key(rrn: &str, original_mti: Option<Mti>) -> String {
    match original_mti {
        Some(m) if m.as_str() == "0120" => format!("rrn:{rrn}:0120"),
        _ => format!("rrn:{rrn}"),
    }
}

/// The ledger id of the hold an approval under `hold_key` places.
fn hold_id_of(hold_key: &str) -> String {
    format!("hold:{hold_key}")
}

fn approval_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

impl Issuer {
    /// Answers any request the switch sends an issuer: 0100/0200
    /// authorization, 0120 advice, 0400/0420 reversal, 0220 capture, 0800
    /// network management. `None` for responses and unknown MTIs.
    pub async fn handle(&self, request: &Message) -> Option<Message> {
        match request.mti().as_str() {
            "0100" | "0200" => Some(self.authorize(request).await),
            "0120" => Some(self.advice(request).await),
            "0400" | "0420" => Some(self.reverse(request).await),
            "0220" => Some(self.capture(request).await),
            "0800" => {
                let mut r = request.response()?;
                r.set_response_code(ResponseCode::Approved).ok()?;
                Some(r)
            }
            _ => None,
        }
    }

    /// Authorizes a 0100/0200 and answers 0110/0210.
    pub async fn authorize(&self, request: &Message) -> Message {
        let mut resp = match request.response() {
            Some(r) => r,
            None => Message::new(request.mti()),
        };
        let decision = match self.authorize_inner(request).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "authorization failed");
                Decision::decline(ResponseCode::SystemMalfunction)
            }
        };
        resp.set_response_code(decision.code)
            .expect(DE39_TAKES_EVERY_CODE);
        if let Some(code) = &decision.approval_code {
            resp.set_auth_id_response(code)
                .expect("an approval code is six characters");
        }
        if let Some((sk, arqc)) = &decision.arpc {
            let arc = *decision
                .code
                .code()
                .as_bytes()
                .first_chunk::<2>()
                .unwrap_or(b"96");
            let arpc = arpc_method_1(sk, *arqc, arc);
            let mut tag91 = [0u8; 10];
            tag91[..8].copy_from_slice(&arpc);
            tag91[8..].copy_from_slice(&arc);
            let de55 = paytap_tlv::Builder::new()
                .primitive(paytap_tlv::tags::ISSUER_AUTH_DATA, &tag91)
                .build();
            resp.set_icc_data(&de55)
                .expect("DE 55 takes the issuer authentication data");
        }
        resp
    }

    async fn stored(
        &self,
        hold_key: &str,
        txn: Option<&str>,
    ) -> Result<Option<Stored>, IssuerError> {
        Ok(self.stored_keyed(hold_key, txn).await?.map(|(_, s)| s))
    }

    /// [`Issuer::stored`] with the hold key of the record found: a
    /// reversal or capture that names its original by DE 90 (no DE 37)
    /// finds it by its transaction key, and must then update the record
    /// under its own hold key.
    async fn stored_keyed(
        &self,
        hold_key: &str,
        txn: Option<&str>,
    ) -> Result<Option<(String, Stored)>, IssuerError> {
        if !may_be_stored(&self.seen, hold_key, txn) {
            return Ok(None);
        }
        // One round trip: the hold key, or the same acquirer/terminal/STAN/time.
        let rows: Vec<StoredRow> = sqlx::query_as(
            "SELECT hold_key, card_id, amount, response_code, approval_code, hold_id, state, \
             created_at FROM issuer_auths \
             WHERE hold_key = $1 OR (txn_key = $2 AND kind = 'auth')",
        )
        .bind(hold_key)
        .bind(txn.unwrap_or(""))
        .fetch_all(self.db.pool())
        .await?;
        if !rows.is_empty() {
            // The record may be a commit of this moment that is not yet on
            // storage: it answers a duplicate only once it is.
            self.db.durable().await?;
        }
        let pick = match rows.iter().position(|r| r.0 == hold_key) {
            Some(i) => Some(i),
            None if txn.is_some() && !rows.is_empty() => Some(0),
            None => None,
        };
        pick.and_then(|i| rows.into_iter().nth(i))
            .map(stored_of_row)
            .transpose()
    }

    /// An authorization request: find the card, repeat the first answer to
    /// a duplicate, otherwise decide, record the answer (placing the hold
    /// of an approval), and update what memory keeps about the card.
    async fn authorize_inner(&self, req: &Message) -> Result<Decision, IssuerError> {
        let txn = request_txn_key(req);
        let Some(hold_key) = hold_key_of(req, txn.as_ref()) else {
            return Ok(Decision::decline(ResponseCode::FormatError));
        };
        let _hold_guard = lock(&self.hold_locks, &hold_key).await;
        let Some((pan, bank, card)) = self.known_card(req).await? else {
            return Ok(Decision::decline(ResponseCode::InvalidCardNumber));
        };
        let amount = req.amount().and_then(|a| i64::try_from(a).ok());
        if let Some(s) = self.stored(&hold_key, txn.as_deref()).await? {
            return self
                .repeat_answer(req, &s, &hold_key, &card, &pan, amount)
                .await;
        }

        let _card_guard = lock(&self.card_locks, &card.card_id).await;
        let now = self.now();
        let (verdict, verified_atc) = self.decide(req, &card, &pan, &bank, amount, now).await?;
        remember_keys(&self.seen, &hold_key, txn.as_deref());
        let auth = NewAuth {
            hold_key: &hold_key,
            txn: txn.as_deref(),
            card: &card,
            bank: &bank,
            amount: amount.unwrap_or(0),
            now,
            verified_atc,
        };
        let decision = match verdict {
            Verdict::Decided(decision) => {
                let stmts = auth.writes(decision.code, None, None);
                self.writer.write(stmts).await.map_err(IssuerError::Write)?;
                decision
            }
            Verdict::Hold(arpc) => self.hold_and_record(&auth, arpc).await?,
        };
        if is_financial(req) && decision.code.is_approved() {
            self.settle_financial(&hold_key, &hold_id_of(&hold_key))
                .await?;
        }
        self.remember_outcome(&auth, &decision);
        Ok(decision)
    }

    /// DE 2: a card of a configured bank that the vault and the card table
    /// know, issued by that bank; `None` for anything else.
    async fn known_card(
        &self,
        req: &Message,
    ) -> Result<Option<(Pan, BankConfig, CardInfo)>, IssuerError> {
        let Some(pan) = req.get_str(2).and_then(|d| Pan::parse(d).ok()) else {
            return Ok(None);
        };
        let Some(bank) = self.config.bank_for_card(pan.expose()).cloned() else {
            return Ok(None);
        };
        let Some(card_id) = self.card_id_of(&pan).await? else {
            return Ok(None);
        };
        let Some(card) = self.cached_card(&card_id).await? else {
            return Ok(None);
        };
        Ok((card.bank_id == bank.id).then_some((pan, bank, card)))
    }

    /// A duplicate: the first answer again, except that a hold the ledger
    /// has refused since is a decline now. Another card or amount under the
    /// same key is a duplicate transmission, and a request reversed before
    /// it arrived never holds.
    async fn repeat_answer(
        &self,
        req: &Message,
        s: &Stored,
        hold_key: &str,
        card: &CardInfo,
        pan: &Pan,
        amount: Option<i64>,
    ) -> Result<Decision, IssuerError> {
        if s.state == AuthState::Reversed {
            return Ok(Decision::decline(ResponseCode::DoNotHonour));
        }
        if s.card_id != card.card_id || Some(s.amount) != amount {
            return Ok(Decision::decline(ResponseCode::DuplicateTransmission));
        }
        let mut code =
            ResponseCode::from_code(&s.response_code).unwrap_or(ResponseCode::SystemMalfunction);
        let mut approval_code = s.approval_code.clone();
        if s.state == AuthState::Held
            && let Some(refused) = self.confirm_held(s, hold_key, card).await?
        {
            code = refused;
            approval_code = None;
        }
        if s.state == AuthState::Held && is_financial(req) && code.is_approved() {
            // A crash came between the hold and its capture.
            self.settle_financial(hold_key, &hold_id_of(hold_key))
                .await?;
        }
        let arpc = self.card_arpc_for_duplicate(req, card, pan, code);
        Ok(Decision {
            code,
            approval_code,
            arpc,
        })
    }

    /// An approval: the hold and the record of the approval commit in
    /// parallel (two durable commits, one latency); a refused hold then
    /// turns the record into a decline before anyone is answered.
    ///
    /// # Panics
    ///
    /// In debug builds, if the amount is not positive: [`Issuer::decide`]
    /// approves only positive amounts, and a hold of zero or less would
    /// move money the wrong way.
    async fn hold_and_record(
        &self,
        auth: &NewAuth<'_>,
        arpc: Option<(EmvKey, [u8; 8])>,
    ) -> Result<Decision, IssuerError> {
        debug_assert!(auth.amount > 0, "a hold of {} minor units", auth.amount);
        let approval = approval_code();
        let hold_id = hold_id_of(auth.hold_key);
        let stmts = auth.writes(ResponseCode::Approved, Some(&approval), Some(&hold_id));
        let hold = Transfer::pending(
            hold_id.clone(),
            auth.card.account_id.clone(),
            account_id(&auth.bank.id, "settlement"),
            Money::new(auth.amount, auth.bank.currency),
        )
        .with_reference("authorization hold");
        let (held, written) = tokio::join!(self.ledger.transfer(hold), self.writer.write(stmts));
        match (held, written) {
            (Ok(_), Ok(_)) => Ok(Decision {
                code: ResponseCode::Approved,
                approval_code: Some(approval),
                arpc,
            }),
            (Ok(_), Err(e)) => {
                self.release_failed_hold(auth.hold_key, &hold_id).await;
                Err(IssuerError::Write(e))
            }
            (Err(LedgerError::Rejected(r)), Ok(_)) => {
                let code = refused_hold_code(r);
                self.mark_declined(auth.hold_key, code).await?;
                Ok(Decision {
                    code,
                    approval_code: None,
                    arpc,
                })
            }
            (Err(e), Ok(_)) => {
                // Not an outcome: nothing was held. Record the decline.
                self.mark_declined(auth.hold_key, ResponseCode::SystemMalfunction)
                    .await?;
                Err(e.into())
            }
            (Err(_), Err(e)) => Err(IssuerError::Write(e)),
        }
    }

    /// Once the answer is durable: the velocity window counts an approval,
    /// the card cache learns the verified ATC, and a debug line (the
    /// switch writes the one info line per authorization).
    fn remember_outcome(&self, auth: &NewAuth<'_>, decision: &Decision) {
        if decision.code.is_approved() {
            self.windows.push(&auth.card.card_id, auth.now, auth.amount);
        }
        if let Some(atc) = auth.verified_atc {
            self.cards.update(&auth.card.card_id, |c| {
                c.last_atc = Some(c.last_atc.map_or(atc, |l| l.max(atc)));
            });
        }
        tracing::debug!(bank = %auth.bank.id, card_id = %auth.card.card_id,
            code = decision.code.code(), amount = auth.amount, "issuer decision");
    }

    /// Turns a recorded approval into a decline (the ledger refused the hold).
    async fn mark_declined(&self, hold_key: &str, code: ResponseCode) -> Result<(), IssuerError> {
        use crate::batch::{Arg, Stmt};
        self.writer
            .commit(vec![Stmt {
                sql: "UPDATE issuer_auths SET state = 'declined', response_code = $1, approval_code = NULL, \
                      hold_id = NULL, updated_at = $2 WHERE hold_key = $3",
                args: vec![
                    Arg::Text(code.code().to_owned()),
                    Arg::I64(self.now()),
                    Arg::Text(hold_key.to_owned()),
                ],
            }])
            .await
            .map_err(IssuerError::Write)?;
        Ok(())
    }

    /// The record of an approval could not be written: release its hold so
    /// no money stays held for a transaction nobody was told about.
    async fn release_failed_hold(&self, hold_key: &str, hold_id: &str) {
        if let Err(v) = self
            .ledger
            .void_pending(format!("void:{hold_key}"), hold_id.to_owned())
            .await
        {
            tracing::error!(error = %v, hold_key = %hold_key, "could not release the hold of a failed authorization");
        }
    }

    /// A duplicate of a recorded approval: make sure the ledger agrees
    /// (the hold and the record commit in parallel, so a crash between them
    /// can leave a record without its hold). Returns the answer to repeat.
    pub(crate) async fn confirm_held(
        &self,
        s: &Stored,
        hold_key: &str,
        card: &CardInfo,
    ) -> Result<Option<ResponseCode>, IssuerError> {
        let Some(hold_id) = &s.hold_id else {
            return Ok(None);
        };
        let outcome = match self.ledger.outcome(hold_id).await? {
            Some(o) => o,
            None => {
                let bank = self.bank(&card.bank_id)?.clone();
                let hold = Transfer::pending(
                    hold_id.clone(),
                    card.account_id.clone(),
                    account_id(&bank.id, "settlement"),
                    Money::new(s.amount, bank.currency),
                )
                .with_reference("authorization hold");
                match self.ledger.transfer(hold).await {
                    Ok(r) => Ok(r),
                    Err(LedgerError::Rejected(r)) => Err(r),
                    Err(e) => return Err(e.into()),
                }
            }
        };
        match outcome {
            Ok(_) => Ok(None),
            Err(r) => {
                let code = refused_hold_code(r);
                self.mark_declined(hold_key, code).await?;
                self.windows.remove(&card.card_id, s.created_at, s.amount);
                Ok(Some(code))
            }
        }
    }

    /// Today's approved total and the approvals in the velocity window.
    fn spend_totals(&self, card: &CardInfo, now: i64) -> (i64, i64) {
        let day = day_start(now);
        let velocity_start = now - i64::from(card.limits.velocity_window_secs) * 1000;
        self.windows.totals(&card.card_id, day, velocity_start)
    }

    /// For a repeated card (non-token) chip request: the ARPC over the
    /// stored answer, if the cryptogram verifies.
    fn card_arpc_for_duplicate(
        &self,
        req: &Message,
        card: &CardInfo,
        pan: &Pan,
        code: ResponseCode,
    ) -> Option<(EmvKey, [u8; 8])> {
        if token_verified(req) {
            return None;
        }
        let de55 = req.icc_data()?;
        let keys = self.keys.bank(&card.bank_id)?;
        let mk = EmvKey::Tdes(derive_icc_mk(&keys.imk_ac, pan.expose(), card.psn).ok()?);
        let arc = *code.code().as_bytes().first_chunk::<2>()?;
        let v = paytap_emv::verify_arqc(&mk, de55, arc).ok()?;
        Some((v.session_key, v.arqc))
    }

    /// The decision on a new request: the request's own checks, then the
    /// cryptogram and cardholder verification, then the card's limits.
    /// Returns the verdict and the ATC of a verified card cryptogram.
    async fn decide(
        &self,
        req: &Message,
        card: &CardInfo,
        pan: &Pan,
        bank: &BankConfig,
        amount: Option<i64>,
        now: i64,
    ) -> Result<(Verdict, Option<u16>), IssuerError> {
        let d = |c| Ok((Verdict::Decided(Decision::decline(c)), None));
        let amount = match check_request(req, card, bank, amount, now) {
            Ok(a) => a,
            Err(code) => return d(code),
        };
        let chip = match self.verify_cardholder(req, card, pan, bank)? {
            Ok(c) => c,
            Err(code) => return d(code),
        };
        // From here on a decline still carries the ARPC of a verified chip card.
        let verdict = match self.limit_refusal(card, amount, chip.cdcvm, now) {
            Some(code) => Verdict::Decided(Decision {
                code,
                approval_code: None,
                arpc: chip.arpc,
            }),
            None => Verdict::Hold(chip.arpc),
        };
        Ok((verdict, chip.verified_atc))
    }

    /// Cryptogram and cardholder verification: the network's word for a
    /// token (its cryptogram and ATC checks passed, CDCVM as it reports),
    /// the card's ARQC for a card (non-token) chip request, nothing for a
    /// request with neither.
    fn verify_cardholder(
        &self,
        req: &Message,
        card: &CardInfo,
        pan: &Pan,
        bank: &BankConfig,
    ) -> Result<Result<ChipCheck, ResponseCode>, IssuerError> {
        if token_verified(req) {
            let cdcvm = matches!(req.verification_results(),
                Ok(Some(v)) if v.cdcvm == Some(CheckResult::Passed));
            return Ok(Ok(ChipCheck {
                cdcvm,
                ..ChipCheck::default()
            }));
        }
        let Some(de55) = req.icc_data() else {
            return Ok(Ok(ChipCheck::default()));
        };
        let keys = self
            .keys
            .bank(&bank.id)
            .ok_or_else(|| IssuerError::NoKeys(bank.id.clone()))?;
        let Ok(mk) = derive_icc_mk(&keys.imk_ac, pan.expose(), card.psn) else {
            return Ok(Err(ResponseCode::InvalidCardNumber));
        };
        Ok(verify_card_cryptogram(&EmvKey::Tdes(mk), de55, card))
    }

    /// The first of the card's limits the amount breaks: the no-CVM limit
    /// without on-device verification, the single-transaction limit, the
    /// daily total, the velocity count.
    fn limit_refusal(
        &self,
        card: &CardInfo,
        amount: i64,
        cdcvm: bool,
        now: i64,
    ) -> Option<ResponseCode> {
        if amount > card.limits.no_cvm_limit && !cdcvm {
            return Some(ResponseCode::IncorrectPin);
        }
        if amount > card.limits.single_transaction {
            return Some(ResponseCode::ExceedsWithdrawalLimit);
        }
        let (today, recent) = self.spend_totals(card, now);
        if today.saturating_add(amount) > card.limits.daily {
            return Some(ResponseCode::ExceedsWithdrawalLimit);
        }
        if recent >= i64::from(card.limits.velocity_count) {
            return Some(ResponseCode::ExceedsFrequencyLimit);
        }
        None
    }

    /// A stand-in advice (0120): the switch decided for the bank. When it
    /// approved, the bank places the hold (a stand-in approval binds the
    /// bank); answers 0130.
    pub async fn advice(&self, req: &Message) -> Message {
        let mut resp = req.response().unwrap_or_else(|| Message::new(req.mti()));
        let code = match self.advice_inner(req).await {
            Ok(()) => ResponseCode::Approved,
            Err(e) => {
                tracing::error!(error = %e, "advice failed");
                ResponseCode::SystemMalfunction
            }
        };
        resp.set_response_code(code).expect(DE39_TAKES_EVERY_CODE);
        resp
    }

    async fn advice_inner(&self, req: &Message) -> Result<(), IssuerError> {
        let Some(rrn) = trimmed(req, 37) else {
            return Err(IssuerError::Invalid("advice without DE 37"));
        };
        let hold_key = rrn_key(
            rrn,
            Some(Mti::from_str("0120").map_err(|_| IssuerError::Invalid("mti"))?),
        );
        let _g = lock(&self.hold_locks, &hold_key).await;
        if self.stored(&hold_key, None).await?.is_some() {
            return Ok(());
        }
        let approved = req.response_code() == Some(ResponseCode::Approved);
        let pan = req.get_str(2).and_then(|d| Pan::parse(d).ok());
        let card = match &pan {
            Some(p) => self.find_card(p).await?,
            None => None,
        };
        let amount = req
            .amount()
            .and_then(|a| i64::try_from(a).ok())
            .unwrap_or(0);
        let now = self.now();
        let (state, hold_id, card_id, bank_id, currency) = match &card {
            Some(c) => {
                let bank = self.bank(&c.bank_id)?.clone();
                let mut state = AuthState::Declined;
                let mut hold_id = None;
                if approved && amount > 0 {
                    let id = format!("hold:{hold_key}");
                    let t = Transfer::pending(
                        id.clone(),
                        c.account_id.clone(),
                        account_id(&bank.id, "settlement"),
                        Money::new(amount, bank.currency),
                    )
                    .with_reference("stand-in hold");
                    match self.ledger.transfer(t).await {
                        Ok(_) => {
                            state = AuthState::Held;
                            hold_id = Some(id);
                        }
                        Err(LedgerError::Rejected(r)) => {
                            tracing::warn!(
                                rejection = r.code(),
                                "stand-in approval could not be held"
                            );
                            state = AuthState::Unfunded;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                (
                    state,
                    hold_id,
                    c.card_id.clone(),
                    bank.id.clone(),
                    bank.currency.code(),
                )
            }
            None => (AuthState::Declined, None, String::new(), String::new(), ""),
        };
        remember_keys(&self.seen, &hold_key, None);
        sqlx::query(
            "INSERT INTO issuer_auths (hold_key, txn_key, card_id, bank_id, kind, amount, currency, \
             response_code, approval_code, hold_id, state, created_at, updated_at) \
             VALUES ($1, NULL, $2, $3, 'advice', $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(&hold_key)
        .bind(&card_id)
        .bind(&bank_id)
        .bind(amount)
        .bind(currency)
        .bind(req.get_str(39).unwrap_or("96"))
        .bind(req.auth_id_response())
        .bind(hold_id.as_deref())
        .bind(state.as_str())
        .bind(now)
        .execute(self.db.pool())
        .await?;
        if state == AuthState::Held {
            self.windows.push(&card_id, now, amount);
        }
        Ok(())
    }

    /// The hold key a reversal or capture refers to.
    fn original_key(req: &Message) -> Option<(String, Option<String>)> {
        let original = req.original_data();
        let orig_mti = original.as_ref().map(|o| o.mti);
        if let Some(rrn) = trimmed(req, 37) {
            return Some((rrn_key(rrn, orig_mti), None));
        }
        let o = original?;
        let key = txn_key(
            &o.acquirer_id,
            trimmed(req, 41)?,
            &format!("{:06}", o.stan),
            &o.transmission_datetime,
        );
        Some((key.clone(), Some(key)))
    }

    /// Reverses an authorization (0400/0420 → 0410/0430): the hold is voided.
    pub async fn reverse(&self, req: &Message) -> Message {
        let mut resp = req.response().unwrap_or_else(|| Message::new(req.mti()));
        let code = match self.reverse_inner(req).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "reversal failed");
                ResponseCode::SystemMalfunction
            }
        };
        resp.set_response_code(code).expect(DE39_TAKES_EVERY_CODE);
        resp
    }

    async fn reverse_inner(&self, req: &Message) -> Result<ResponseCode, IssuerError> {
        let Some((hold_key, txn)) = Self::original_key(req) else {
            return Ok(ResponseCode::FormatError);
        };
        let _g = lock(&self.hold_locks, &hold_key).await;
        let now = self.now();
        let Some((found, s)) = self.stored_keyed(&hold_key, txn.as_deref()).await? else {
            // The original has not arrived (or finished) yet: remember the
            // reversal so the original never places a hold.
            remember_keys(&self.seen, &hold_key, txn.as_deref());
            sqlx::query(
                "INSERT INTO issuer_auths (hold_key, txn_key, card_id, bank_id, kind, amount, currency, \
                 response_code, approval_code, hold_id, state, created_at, updated_at) \
                 VALUES ($1, $2, '', '', 'auth', $3, '', $4, NULL, NULL, 'reversed', $5, $5)",
            )
            .bind(&hold_key)
            .bind(txn.as_deref())
            .bind(req.amount().and_then(|a| i64::try_from(a).ok()).unwrap_or(0))
            .bind(ResponseCode::DoNotHonour.code())
            .bind(now)
            .execute(self.db.pool())
            .await?;
            tracing::info!(hold_key = %hold_key, "reversal before its original: tombstone");
            return Ok(ResponseCode::Approved);
        };
        match s.state {
            AuthState::Held => {
                self.release_hold(&found, &s, Release::Reversal, now)
                    .await?;
                tracing::info!(hold_key = %found, "hold released by reversal");
                Ok(ResponseCode::Approved)
            }
            AuthState::Captured => Ok(ResponseCode::InvalidTransaction),
            AuthState::Settled => self.refund_financial(&found, &s).await,
            _ => Ok(ResponseCode::Approved),
        }
    }

    /// Clearing capture (0220 → 0230): posts the hold for DE 4.
    pub async fn capture(&self, req: &Message) -> Message {
        let mut resp = req.response().unwrap_or_else(|| Message::new(req.mti()));
        let code = match self.capture_inner(req).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "capture failed");
                ResponseCode::SystemMalfunction
            }
        };
        resp.set_response_code(code).expect(DE39_TAKES_EVERY_CODE);
        resp
    }

    async fn capture_inner(&self, req: &Message) -> Result<ResponseCode, IssuerError> {
        let Some((hold_key, txn)) = Self::original_key(req) else {
            return Ok(ResponseCode::FormatError);
        };
        let amount = req.amount().and_then(|a| i64::try_from(a).ok());
        self.capture_hold(&hold_key, txn.as_deref(), amount).await
    }

    /// Captures the hold of an authorization by its retrieval reference
    /// number (DE 37); `amount` `None` captures the whole hold.
    pub async fn capture_rrn(
        &self,
        rrn: &str,
        amount: Option<i64>,
    ) -> Result<ResponseCode, IssuerError> {
        self.capture_hold(&rrn_key(rrn, None), None, amount).await
    }

    async fn capture_hold(
        &self,
        hold_key: &str,
        txn: Option<&str>,
        amount: Option<i64>,
    ) -> Result<ResponseCode, IssuerError> {
        let _g = lock(&self.hold_locks, hold_key).await;
        let Some((found, s)) = self.stored_keyed(hold_key, txn).await? else {
            return Ok(ResponseCode::InvalidTransaction);
        };
        let hold_key = found.as_str();
        match s.state {
            AuthState::Held => {}
            AuthState::Captured | AuthState::Settled => return Ok(ResponseCode::Approved),
            _ => return Ok(ResponseCode::InvalidTransaction),
        }
        let amount = amount.unwrap_or(s.amount);
        if amount <= 0 || amount > s.amount {
            return Ok(ResponseCode::InvalidAmount);
        }
        let hold_id = s
            .hold_id
            .ok_or_else(|| IssuerError::Corrupt("held without hold".into()))?;
        match self
            .ledger
            .post_pending(format!("capture:{hold_key}"), hold_id, Some(amount))
            .await
        {
            Ok(_) | Err(LedgerError::Rejected(Rejection::PendingAlreadyPosted)) => {}
            Err(LedgerError::Rejected(
                Rejection::PendingAlreadyVoided
                | Rejection::PendingNotFound
                | Rejection::NotPending,
            )) => {
                return Ok(ResponseCode::InvalidTransaction);
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query(
            "UPDATE issuer_auths SET state = 'captured', updated_at = $1 WHERE hold_key = $2",
        )
        .bind(self.now())
        .bind(hold_key)
        .execute(self.db.pool())
        .await?;
        Ok(ResponseCode::Approved)
    }
}

/// Rows one pass of [`Issuer::expire_holds`] reads at a time.
const EXPIRY_BATCH: i64 = 500;

impl Issuer {
    /// Releases every hold older than the configuration's
    /// `hold_expiry_days` that was neither captured nor reversed: the
    /// ledger voids it (transfer id `expire:<hold key>`, so a repeat moves
    /// nothing) and the record's state becomes `expired`. A capture or
    /// reversal that arrives later finds no hold (`12` / a no-op), as after
    /// a reversal. Returns how many holds were released. Meant to run
    /// periodically (`paytap up` runs it every few minutes); it reads the
    /// records without an index (one more index on `issuer_auths` would be
    /// one more B-tree page per group commit on the authorization path).
    pub async fn expire_holds(&self) -> Result<u64, IssuerError> {
        let days = i64::from(self.config.hold_expiry_days.max(1));
        let cutoff = self.now().saturating_sub(days.saturating_mul(86_400_000));
        let mut released = 0u64;
        let mut after = String::new();
        loop {
            let keys: Vec<(String,)> = sqlx::query_as(
                "SELECT hold_key FROM issuer_auths \
                 WHERE state = 'held' AND created_at < $1 AND hold_key > $2 \
                 ORDER BY hold_key LIMIT $3",
            )
            .bind(cutoff)
            .bind(&after)
            .bind(EXPIRY_BATCH)
            .fetch_all(self.db.pool())
            .await?;
            let Some((last,)) = keys.last() else {
                break;
            };
            after = last.clone();
            for (hold_key,) in &keys {
                if self.expire_hold(hold_key, cutoff).await? {
                    released += 1;
                }
            }
        }
        if released > 0 {
            tracing::info!(released, days, "expired holds released");
        }
        Ok(released)
    }

    async fn expire_hold(&self, hold_key: &str, cutoff: i64) -> Result<bool, IssuerError> {
        let _g = lock(&self.hold_locks, hold_key).await;
        // Read again under the lock: a capture or reversal may have won.
        let Some(s) = self.stored(hold_key, None).await? else {
            return Ok(false);
        };
        if s.state != AuthState::Held || s.created_at >= cutoff {
            return Ok(false);
        }
        self.release_hold(hold_key, &s, Release::Expiry, self.now())
            .await?;
        tracing::info!(hold_key = %hold_key, "hold expired and released");
        Ok(true)
    }

    /// Voids a held record's ledger hold (once: the transfer id is derived
    /// from the hold key) and marks the record released. The caller holds
    /// the hold key's lock and has seen the record `held`.
    async fn release_hold(
        &self,
        hold_key: &str,
        s: &Stored,
        why: Release,
        now: i64,
    ) -> Result<(), IssuerError> {
        let (prefix, state) = match why {
            Release::Reversal => ("void", AuthState::Voided),
            Release::Expiry => ("expire", AuthState::Expired),
        };
        let hold_id = s
            .hold_id
            .clone()
            .ok_or_else(|| IssuerError::Corrupt("held without hold".into()))?;
        self.void_hold(prefix, hold_key, hold_id).await?;
        sqlx::query(
            "UPDATE issuer_auths SET state = $1, updated_at = $2 \
             WHERE hold_key = $3 AND state = 'held'",
        )
        .bind(state.as_str())
        .bind(now)
        .bind(hold_key)
        .execute(self.db.pool())
        .await?;
        self.windows.remove(&s.card_id, s.created_at, s.amount);
        Ok(())
    }
}

impl Issuer {
    /// Voids the ledger hold `hold_id` of `hold_key` under the transfer id
    /// `<prefix>:<hold key>` (`void` for a reversal, `expire` for expiry):
    /// a repeat moves nothing, and a hold already voided or never placed is
    /// not an error.
    pub(crate) async fn void_hold(
        &self,
        prefix: &str,
        hold_key: &str,
        hold_id: String,
    ) -> Result<(), IssuerError> {
        match self
            .ledger
            .void_pending(format!("{prefix}:{hold_key}"), hold_id)
            .await
        {
            Ok(_)
            | Err(LedgerError::Rejected(
                Rejection::PendingAlreadyVoided
                | Rejection::PendingNotFound
                | Rejection::NotPending,
            )) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Why a hold is released without a capture.
#[derive(Clone, Copy)]
enum Release {
    Reversal,
    Expiry,
}

/// The key an authorization is held and deduplicated under: its RRN
/// (DE 37), else its transaction key; none without either.
fn hold_key_of(req: &Message, txn: Option<&String>) -> Option<String> {
    match trimmed(req, 37) {
        Some(rrn) => Some(rrn_key(rrn, None)),
        None => txn.cloned(),
    }
}

/// The request's own checks, before any cryptography: message format,
/// card status and expiry (and DE 14 agreeing with it), a purchase,
/// the bank's currency, a positive amount. Returns the amount.
fn check_request(
    req: &Message,
    card: &CardInfo,
    bank: &BankConfig,
    amount: Option<i64>,
    now: i64,
) -> Result<i64, ResponseCode> {
    if !req.has(7) && !req.has(37) || !req.has(11) && !req.has(37) {
        return Err(ResponseCode::FormatError);
    }
    match card.status {
        CardStatus::Active => {}
        CardStatus::Blocked => return Err(ResponseCode::RestrictedCard),
        CardStatus::Lost => return Err(ResponseCode::LostCard),
        CardStatus::Stolen => return Err(ResponseCode::StolenCard),
    }
    if card.expiry_yymm.is_expired(now) {
        return Err(ResponseCode::ExpiredCard);
    }
    if let Some(e) = req.get_str(14)
        && Expiry::parse(e) != Ok(card.expiry_yymm)
    {
        return Err(ResponseCode::ExpiredCard);
    }
    if let Some(pc) = req.processing_code()
        && !pc.starts_with("00")
    {
        return Err(ResponseCode::InvalidTransaction);
    }
    let (Some(amount), Some(currency)) = (amount, req.currency()) else {
        return Err(ResponseCode::FormatError);
    };
    if currency != bank.currency.numeric() {
        return Err(ResponseCode::InvalidTransaction);
    }
    if amount <= 0 {
        return Err(ResponseCode::InvalidAmount);
    }
    Ok(amount)
}

/// What cardholder verification established about a request.
#[derive(Default)]
struct ChipCheck {
    /// The cardholder was verified on the device (CDCVM).
    cdcvm: bool,
    /// Session key and ARQC of a verified card (non-token) cryptogram.
    arpc: Option<(EmvKey, [u8; 8])>,
    /// Its ATC, which the card record then remembers.
    verified_atc: Option<u16>,
}

/// A card (non-token) chip request's ARQC under the card's master key,
/// refused when its ATC is not above the last one seen (a replay).
fn verify_card_cryptogram(
    mk: &EmvKey,
    de55: &[u8],
    card: &CardInfo,
) -> Result<ChipCheck, ResponseCode> {
    match paytap_emv::verify_arqc(mk, de55, *b"00") {
        Ok(v) => {
            if card.last_atc.is_some_and(|last| v.atc <= last) {
                return Err(ResponseCode::DoNotHonour);
            }
            Ok(ChipCheck {
                cdcvm: v.cdcvm_performed,
                arpc: Some((v.session_key, v.arqc)),
                verified_atc: Some(v.atc),
            })
        }
        Err(
            VerifyError::BadCryptogram | VerifyError::NotArqc(_) | VerifyError::AlgorithmMismatch,
        ) => {
            tracing::warn!(card_id = %card.card_id, "card cryptogram does not verify");
            Err(ResponseCode::SecurityViolation)
        }
        Err(_) => Err(ResponseCode::FormatError),
    }
}

/// A new authorization about to be recorded.
struct NewAuth<'a> {
    hold_key: &'a str,
    txn: Option<&'a str>,
    card: &'a CardInfo,
    bank: &'a BankConfig,
    amount: i64,
    now: i64,
    /// ATC of a verified card cryptogram.
    verified_atc: Option<u16>,
}

impl NewAuth<'_> {
    /// The record of the answer given now (held with an approval code and
    /// hold id, declined without) and, after a verified card cryptogram,
    /// the card's new last ATC.
    fn writes(
        &self,
        code: ResponseCode,
        approval: Option<&str>,
        hold_id: Option<&str>,
    ) -> Vec<crate::batch::Write> {
        use crate::batch::{Arg, Stmt, Write};
        let state = if hold_id.is_some() {
            AuthState::Held
        } else {
            AuthState::Declined
        };
        let mut stmts = vec![Write::Row(
            &INSERT_AUTH,
            vec![
                Arg::Text(self.hold_key.to_owned()),
                Arg::OptText(self.txn.map(str::to_owned)),
                Arg::Text(self.card.card_id.clone()),
                Arg::Text(self.bank.id.clone()),
                Arg::I64(self.amount),
                Arg::Text(self.bank.currency.code().to_owned()),
                Arg::Text(code.code().to_owned()),
                Arg::OptText(approval.map(str::to_owned)),
                Arg::OptText(hold_id.map(str::to_owned)),
                Arg::Text(state.as_str().to_owned()),
                Arg::I64(self.now),
            ],
        )];
        if let Some(atc) = self.verified_atc {
            stmts.push(Write::Stmt(Stmt {
                sql: "UPDATE issuer_cards SET last_atc = $1 WHERE card_id = $2 AND last_atc < $1",
                args: vec![
                    Arg::I64(i64::from(atc)),
                    Arg::Text(self.card.card_id.clone()),
                ],
            }));
        }
        stmts
    }
}

/// DE 39 for a hold the ledger refused.
fn refused_hold_code(r: Rejection) -> ResponseCode {
    match r {
        Rejection::ExceedsCredits => ResponseCode::InsufficientFunds,
        other => {
            tracing::error!(rejection = other.code(), "ledger refused a hold");
            ResponseCode::SystemMalfunction
        }
    }
}

/// Locks the stripe of `key`.
async fn lock<'a>(
    locks: &'a [tokio::sync::Mutex<()>],
    key: &str,
) -> Option<tokio::sync::MutexGuard<'a, ()>> {
    match locks.get(stripe(key)) {
        Some(m) => Some(m.lock().await),
        None => None,
    }
}

/// DE 63 says the token service verified the cryptogram and the ATC.
fn token_verified(req: &Message) -> bool {
    matches!(req.verification_results(), Ok(Some(v))
        if v.cryptogram == Some(CheckResult::Passed) && v.atc == Some(CheckResult::Passed))
}

#[cfg(test)]
mod tests {
    use super::txn_key;
    use paytap_store::Db;

    /// A record written before the issuer's migration 2 is found under the
    /// key a request for the same transaction makes now.
    #[tokio::test]
    async fn migration_2_rewrites_transaction_keys_to_time_first() {
        let db = Db::for_tests().await.expect("test database");
        db.migrate(&crate::MIGRATIONS[..1])
            .await
            .expect("version 1");
        let insert = "INSERT INTO issuer_auths (hold_key, txn_key, card_id, bank_id, kind, \
                      amount, currency, response_code, state, created_at, updated_at) \
                      VALUES ($1, $2, 'card-1', 'bank-1', $3, 100, 'CNY', '00', 'held', 0, 0)";
        for (hold, txn, kind) in [
            (
                "rrn:1",
                Some("txn:12345|TERM 001|000123|1123101010"),
                "auth",
            ),
            ("rrn:1:reversal", None, "reversal"),
        ] {
            sqlx::query(insert)
                .bind(hold)
                .bind(txn)
                .bind(kind)
                .execute(db.pool())
                .await
                .expect("old row");
        }
        db.migrate(crate::MIGRATIONS).await.expect("all versions");
        let rows: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT hold_key, txn_key FROM issuer_auths ORDER BY hold_key")
                .fetch_all(db.pool())
                .await
                .expect("rows");
        assert_eq!(
            rows,
            vec![
                (
                    "rrn:1".to_owned(),
                    Some(txn_key("0012345", "TERM 001", "000123", "1123101010"))
                ),
                ("rrn:1:reversal".to_owned(), None),
            ]
        );
        assert_eq!(
            rows[0].1.as_deref(),
            Some("txn:1123101010|000123|12345|TERM 001")
        );
    }
}
