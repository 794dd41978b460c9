//! [`Psp`]: binding, UPI IDs, the PIN's setting, payments and collects.

use crate::error::PspError;
use crate::guard::{self, GuardLink};
use crate::links::{CollectAnswer, UpiLinks};
use crate::model::{Binding, Collect, NewBinding, PayRequest, Payment, PinSetting, UpiId};
use crate::sealed::BindingCipher;
use crate::store::{self, BindingRow};
use base64::Engine;
use paytap_issuer::{LegResult, PinKey, PinOtp, SetPin};
use paytap_store::Db;
use paytap_types::{Channel, Clock, Expiry, GuardOutcome, PaymentGuard};
use paytap_upi::xml::{
    Account, AccountNumber, Amount, Cred, EncData, Head, Ifsc, Mcc, MsgId, OrgId, Party, PartyType,
    ReqChkTxn, ReqPay, ResultCode, Timestamp, Txn, TxnId, TxnType,
};
use paytap_upi::{UpiPay, Vpa};
use paytap_upid::DirectoryEntry;
use std::sync::{Arc, OnceLock};

/// The PSP's handle: UPI IDs are `name@paytap`.
pub const HANDLE: &str = "paytap";
/// Shortest and longest name before `@paytap`: 3 to 32 of `a-z 0-9 . -`, as
/// UPI apps allow.
const NAME_LEN: std::ops::RangeInclusive<usize> = 3..=32;
/// Digits of an Indian mobile number.
const MOBILE_DIGITS: usize = 10;
/// Longest note a payer may write (`Txn@note`): NPCI allows 50 characters.
const MAX_NOTE_CHARS: usize = 50;
/// Payments a history page shows.
pub const HISTORY_LIMIT: i64 = 100;
/// Longest Base64 PIN block accepted: a sealed 6-digit PIN is 67 bytes; the
/// bound leaves room and refuses a megabyte.
const MAX_PIN_BLOCK_CHARS: usize = 512;
/// Longest device id: the wallet's ids are UUIDs.
const MAX_DEVICE_ID_LEN: usize = 64;
/// Most payments [`Psp::tell_guard_ended`] tells the guard of in one call.
pub const MAX_GUARD_TOLD_AT_ONCE: i64 = 1_000;

/// How the PSP signs its messages and how long a binding counts as new.
#[derive(Debug, Clone)]
pub struct PspConfig {
    /// `Head@orgId` of the PSP's messages.
    pub org_id: OrgId,
    /// How long a new binding is under the lower cap (the switch's rule,
    /// shown to the user).
    pub cooling_off_ms: i64,
}

impl Default for PspConfig {
    fn default() -> Self {
        PspConfig {
            org_id: OrgId::new("PAYTAP").expect("letters"),
            cooling_off_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// The payer's UPI app. Cheap to clone.
#[derive(Clone)]
pub struct Psp {
    db: Db,
    links: Arc<dyn UpiLinks>,
    clock: Arc<dyn Clock>,
    config: PspConfig,
    /// Seals the bindings' mobile numbers, account numbers and holders.
    cipher: Arc<BindingCipher>,
    /// The risk and offers services, once attached ([`Psp::attach_guard`]).
    guard: Arc<OnceLock<GuardLink>>,
}

impl std::fmt::Debug for Psp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Psp")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// What a payment is to, once resolved.
struct Payee {
    party: Party,
    reference: Option<String>,
    note: Option<String>,
    amount: u64,
}

impl Psp {
    /// Migrates the PSP's tables in `db`, seals what a version before
    /// sealing left clear, and is ready. The bindings' mobile numbers,
    /// account numbers and holders are sealed under keys derived from
    /// `data_key` (the platform keyring's subkey for the PSP): the same key
    /// must open the same database again.
    pub async fn open(
        db: Db,
        links: Arc<dyn UpiLinks>,
        clock: Arc<dyn Clock>,
        config: PspConfig,
        data_key: &[u8; 32],
    ) -> Result<Psp, PspError> {
        db.migrate(crate::MIGRATIONS).await?;
        let cipher = Arc::new(BindingCipher::new(data_key));
        store::seal_clear_bindings(&db, &cipher).await?;
        Ok(Psp {
            db,
            links,
            clock,
            config,
            cipher,
            guard: Arc::new(OnceLock::new()),
        })
    }

    /// Passes every payment from now on through `guard` (the risk and
    /// offers services of the `in` region): asked before a payment or a
    /// collect approval leaves, told how it ended once the switch answers
    /// for good. A collect request whose payee is one of `billers` (the
    /// billers' collection addresses) is a bill payment (channel `bills`).
    /// Clones of this `Psp` share it; a second call is ignored (logged).
    pub fn attach_guard(
        &self,
        guard: Arc<dyn PaymentGuard>,
        billers: impl IntoIterator<Item = String>,
    ) {
        let link = GuardLink {
            guard,
            billers: billers.into_iter().collect(),
        };
        if self.guard.set(link).is_err() {
            tracing::warn!("a guard was already attached to the UPI app");
        }
    }

    /// Binds `req.device_id` to every account the banks hold for
    /// `req.mobile`; a binding made again is new again (its cooling-off
    /// starts over).
    pub async fn bind(&self, owner: &str, req: &NewBinding) -> Result<Vec<Binding>, PspError> {
        if req.device_id.is_empty() || req.device_id.len() > MAX_DEVICE_ID_LEN {
            return Err(PspError::invalid("device_id", "1 to 64 characters"));
        }
        paytap_seal::public_key_from_base64(&req.device_key)
            .map_err(|_| PspError::invalid("device_key", "not a Base64 X25519 public key"))?;
        let mobile = mobile(&req.mobile)?;
        let accounts = self.links.accounts_by_mobile(mobile).await?;
        if accounts.is_empty() {
            tracing::info!("UPI binding refused: no bank account for the mobile number");
            return Err(PspError::Refused {
                code: "BN",
                message: "no bank account is held with this mobile number",
            });
        }
        let now = self.clock.now_millis();
        let mut out = Vec::with_capacity(accounts.len());
        for a in accounts {
            let row = BindingRow {
                binding_id: format!("bnd_{}", uuid::Uuid::new_v4().simple()),
                device_id: req.device_id.clone(),
                mobile: mobile.to_owned(),
                bank_id: a.bank_id,
                ifsc: a.ifsc,
                account_number: a.account_number,
                holder: a.holder,
                bound_at: now,
            };
            let row =
                store::upsert_binding(&self.db, &self.cipher, owner, &req.device_key, &row).await?;
            self.refresh_directory(owner, &row).await?;
            out.push(row.view(self.config.cooling_off_ms));
        }
        tracing::info!(accounts = out.len(), "UPI device bound");
        Ok(out)
    }

    /// The user's bindings.
    pub async fn bindings(&self, owner: &str) -> Result<Vec<Binding>, PspError> {
        let rows = store::bindings(&self.db, &self.cipher, owner).await?;
        Ok(rows
            .iter()
            .map(|r| r.view(self.config.cooling_off_ms))
            .collect())
    }

    /// The banks' PIN keys (ListKeys).
    pub fn list_keys(&self) -> Vec<PinKey> {
        self.links.list_keys()
    }

    /// Asks the bank of binding `binding_id` to text its OTP for setting
    /// the PIN.
    pub async fn request_pin_otp(&self, owner: &str, binding_id: &str) -> Result<PinOtp, PspError> {
        let b = self.binding(owner, binding_id).await?;
        let now = self.clock.now_millis();
        Ok(self
            .links
            .request_pin_otp(&b.ifsc, &b.account_number, now)
            .await?)
    }

    /// Sets the UPI PIN of binding `binding_id`'s account.
    pub async fn set_pin(
        &self,
        owner: &str,
        binding_id: &str,
        req: PinSetting,
    ) -> Result<(), PspError> {
        let b = self.binding(owner, binding_id).await?;
        let expiry = Expiry::parse_typed(&req.card_expiry)
            .or_else(|_| Expiry::parse(&req.card_expiry))
            .map_err(|_| PspError::invalid("card_expiry", "MM/YY"))?;
        let last6 = req.card_last6.expose();
        if last6.len() != 6 || !last6.bytes().all(|c| c.is_ascii_digit()) {
            return Err(PspError::invalid("card_last6", "six digits"));
        }
        let set = SetPin {
            ifsc: b.ifsc.clone(),
            account_number: b.account_number.clone(),
            card_last6: req.card_last6,
            card_expiry: expiry,
            verification_id: req.verification_id,
            otp: req.otp,
            pin_block: pin_block(&req.pin_block)?,
        };
        match self.links.set_pin(&set, self.clock.now_millis()).await? {
            LegResult::Success => Ok(()),
            LegResult::Failure(code) => Err(PspError::Refused {
                code,
                message: "the bank did not set the PIN",
            }),
        }
    }

    /// Makes `name@paytap` for binding `binding_id`'s account.
    pub async fn create_id(
        &self,
        owner: &str,
        binding_id: &str,
        name: &str,
    ) -> Result<UpiId, PspError> {
        let b = self.binding(owner, binding_id).await?;
        let vpa = upi_name(name)?;
        let now = self.clock.now_millis();
        if !store::insert_id(&self.db, owner, vpa.as_str(), &b.binding_id, now).await? {
            return Err(PspError::Taken);
        }
        self.links.register(&directory_entry(&vpa, &b)?).await?;
        tracing::info!(vpa = %vpa, "UPI ID created");
        Ok(UpiId {
            vpa: vpa.as_str().to_owned(),
            binding_id: b.binding_id,
            created_at: now,
        })
    }

    /// The user's UPI IDs.
    pub async fn ids(&self, owner: &str) -> Result<Vec<UpiId>, PspError> {
        store::ids(&self.db, owner).await
    }

    /// Pays: a new transaction id is recorded, sent, and recorded again with
    /// the switch's answer; a known one answers as it stands (a different
    /// request under it is [`PspError::DuplicateTxnId`]).
    pub async fn pay(&self, owner: &str, req: &PayRequest) -> Result<Payment, PspError> {
        let txn_id = TxnId::new(&req.txn_id)
            .map_err(|_| PspError::invalid("txn_id", "1 to 35 letters and digits"))?;
        let from = Vpa::new(&req.from).map_err(|_| PspError::invalid("from", "not a UPI ID"))?;
        let payee = self.payee(req).await?;
        let now = self.clock.now_millis();
        let mut record = Payment {
            txn_id: txn_id.as_str().to_owned(),
            kind: "pay".into(),
            payer_vpa: from.as_str().to_owned(),
            payee_vpa: payee.party.addr.as_str().to_owned(),
            payee_name: payee.party.name.clone(),
            mcc: payee.party.code.as_str().to_owned(),
            amount_paise: payee.amount,
            currency: "INR",
            note: payee.note.clone(),
            reference: payee.reference.clone(),
            status: "pending".into(),
            error_code: None,
            rrn: None,
            created_at: now,
            updated_at: now,
            earned_paise: None,
        };
        if let Some(known) = self.known(owner, &record).await? {
            return Ok(known);
        }
        let binding = store::binding_of_id(&self.db, &self.cipher, owner, from.as_str())
            .await?
            .ok_or(PspError::NotFound)?;
        let block = pin_block(&req.pin_block)?;
        if !self.guarded_insert(owner, &mut record, &binding).await? {
            // Another request with this id won the race: answer as it stands.
            return self
                .known(owner, &record)
                .await?
                .ok_or(PspError::DuplicateTxnId);
        }
        let payer = self.payer(&from, &binding, &block, payee.amount)?;
        let msg = self.req_pay(&txn_id, payer, payee, now)?;
        self.send(owner, msg).await
    }

    /// A payment of the user's, its status checked with the switch first
    /// while it is `pending` or `deemed`.
    pub async fn payment(&self, owner: &str, txn_id: &str) -> Result<Payment, PspError> {
        let (o, p) = store::payment_by_id(&self.db, txn_id)
            .await?
            .ok_or(PspError::NotFound)?;
        if o != owner {
            return Err(PspError::NotFound);
        }
        if p.status != "pending" && p.status != "deemed" {
            return Ok(p);
        }
        self.check(owner, &p).await
    }

    /// The user's payments, newest first.
    pub async fn payments(&self, owner: &str) -> Result<Vec<Payment>, PspError> {
        store::payments(&self.db, owner, HISTORY_LIMIT).await
    }

    /// The merchants' collect requests waiting for the user.
    pub async fn collects(&self, owner: &str) -> Result<Vec<Collect>, PspError> {
        let mine = self.my_vpas(owner).await?;
        let open = self.links.collects_for(&mine).await;
        Ok(open
            .into_iter()
            .map(|c| Collect {
                txn_id: c.txn_id.as_str().to_owned(),
                payer_vpa: c.payer.as_str().to_owned(),
                payee_vpa: c.payee.as_str().to_owned(),
                payee_name: c.payee_name,
                mcc: c.mcc,
                amount_paise: c.amount_paise,
                currency: "INR",
                note: c.note,
                reference: c.reference,
                expires_at: c.expires_at,
            })
            .collect())
    }

    /// Approves collect request `txn_id` with the PIN block sealed for it.
    pub async fn approve(
        &self,
        owner: &str,
        txn_id: &str,
        pin_block_b64: &str,
    ) -> Result<Payment, PspError> {
        let c = self.open_collect(owner, txn_id).await?;
        let binding = store::binding_of_id(&self.db, &self.cipher, owner, &c.payer_vpa)
            .await?
            .ok_or(PspError::NotFound)?;
        let block = pin_block(pin_block_b64)?;
        let mut record = self.collect_record(&c, "pending");
        if !self.guarded_insert(owner, &mut record, &binding).await? {
            return self.payment(owner, txn_id).await;
        }
        let from = Vpa::new(&c.payer_vpa).map_err(|e| PspError::Corrupt(e.to_string()))?;
        let payer = self.payer(&from, &binding, &block, c.amount_paise)?;
        let id = TxnId::new(txn_id).map_err(|_| PspError::NotFound)?;
        let answer = self.links.approve_collect(&id, payer).await?;
        self.collect_answered(owner, txn_id, answer).await
    }

    /// Declines collect request `txn_id`.
    pub async fn decline(&self, owner: &str, txn_id: &str) -> Result<Payment, PspError> {
        let c = self.open_collect(owner, txn_id).await?;
        let record = self.collect_record(&c, "pending");
        let channel = self.channel_of(&record);
        if !store::insert_payment(&self.db, owner, &record, channel.as_str(), false).await? {
            return self.payment(owner, txn_id).await;
        }
        let id = TxnId::new(txn_id).map_err(|_| PspError::NotFound)?;
        let answer = self.links.decline_collect(&id).await?;
        self.collect_answered(owner, txn_id, answer).await
    }

    // ----- steps ---------------------------------------------------------

    async fn binding(&self, owner: &str, id: &str) -> Result<BindingRow, PspError> {
        store::binding_of(&self.db, &self.cipher, owner, id)
            .await?
            .ok_or(PspError::NotFound)
    }

    async fn my_vpas(&self, owner: &str) -> Result<Vec<Vpa>, PspError> {
        let ids = store::ids(&self.db, owner).await?;
        Ok(ids.iter().filter_map(|i| Vpa::new(&i.vpa).ok()).collect())
    }

    /// Re-registers `owner`'s UPI IDs on binding `b` (a binding made again
    /// is new again for the switch's cooling-off cap).
    async fn refresh_directory(&self, owner: &str, b: &BindingRow) -> Result<(), PspError> {
        for id in store::ids(&self.db, owner).await? {
            if id.binding_id != b.binding_id {
                continue;
            }
            let vpa = Vpa::new(&id.vpa).map_err(|e| PspError::Corrupt(e.to_string()))?;
            self.links.register(&directory_entry(&vpa, b)?).await?;
        }
        Ok(())
    }

    /// The payment already recorded under `record`'s id: as it stands if
    /// it is the same request by the same user, refused otherwise.
    async fn known(&self, owner: &str, record: &Payment) -> Result<Option<Payment>, PspError> {
        let Some((o, p)) = store::payment_by_id(&self.db, &record.txn_id).await? else {
            return Ok(None);
        };
        let same = o == owner
            && p.kind == record.kind
            && p.payer_vpa == record.payer_vpa
            && p.payee_vpa == record.payee_vpa
            && p.amount_paise == record.amount_paise;
        if !same {
            tracing::info!(txn_id = %record.txn_id, "UPI payment refused: its id is another's");
            return Err(PspError::DuplicateTxnId);
        }
        Ok(Some(self.payment(owner, &record.txn_id).await?))
    }

    /// Who is paid and how much: a UPI ID validated with the switch, a
    /// mobile number's UPI ID, or a merchant's link.
    async fn payee(&self, req: &PayRequest) -> Result<Payee, PspError> {
        let note = match &req.note {
            Some(n) if n.chars().count() > MAX_NOTE_CHARS => {
                return Err(PspError::invalid("note", "at most 50 characters"));
            }
            n => n.clone(),
        };
        let mut payee = match (&req.to, &req.mobile, &req.link) {
            (Some(to), None, None) => {
                let vpa = Vpa::new(to).map_err(|_| PspError::invalid("to", "not a UPI ID"))?;
                person(vpa, note, req.amount_paise)?
            }
            (None, Some(m), None) => {
                let vpa = store::id_of_mobile(&self.db, &self.cipher, mobile(m)?)
                    .await?
                    .ok_or(PspError::Refused {
                        code: "ZH",
                        message: "no UPI ID is linked to this mobile number",
                    })?;
                let vpa = Vpa::new(&vpa).map_err(|e| PspError::Corrupt(e.to_string()))?;
                person(vpa, note, req.amount_paise)?
            }
            (None, None, Some(link)) => merchant(link, note, req.amount_paise)?,
            _ => {
                return Err(PspError::invalid(
                    "to",
                    "exactly one of to, mobile and link",
                ));
            }
        };
        if self.links.resolve(&payee.party.addr).await?.is_none() {
            tracing::info!(payee = %payee.party.addr, "UPI payment refused: unknown UPI ID");
            return Err(PspError::Refused {
                code: "ZH",
                message: "no such UPI ID",
            });
        }
        payee.party.amount = Some(Amount {
            paise: payee.amount,
        });
        Ok(payee)
    }

    fn payer(
        &self,
        from: &Vpa,
        b: &BindingRow,
        block: &[u8],
        amount: u64,
    ) -> Result<Party, PspError> {
        let mut p = Party::person(from.clone());
        p.name = Some(b.holder.clone());
        p.account = Some(account(b)?);
        p.device = vec![
            ("MOBILE".into(), b.mobile.clone()),
            ("ID".into(), b.device_id.clone()),
            ("APP".into(), HANDLE.into()),
        ];
        p.creds = vec![Cred {
            kind: "PIN".into(),
            sub_type: "MPIN".into(),
            data: EncData {
                code: b.ifsc.get(..4).unwrap_or_default().to_owned(),
                ki: paytap_issuer::upi_pin::PIN_KEY_INDEX.into(),
                value: base64::engine::general_purpose::STANDARD.encode(block),
            },
        }];
        p.amount = Some(Amount { paise: amount });
        Ok(p)
    }

    fn head(&self, now: i64) -> Result<Head, PspError> {
        let id = format!("PTM{}", uuid::Uuid::new_v4().simple());
        Ok(Head {
            ver: "2.0".into(),
            ts: Timestamp::from_unix_millis(now),
            org_id: self.config.org_id.clone(),
            msg_id: MsgId::new(&id).map_err(|e| PspError::Corrupt(e.to_string()))?,
        })
    }

    fn req_pay(
        &self,
        txn_id: &TxnId,
        payer: Party,
        payee: Payee,
        now: i64,
    ) -> Result<ReqPay, PspError> {
        let mut txn = Txn::new(
            txn_id.clone(),
            Timestamp::from_unix_millis(now),
            TxnType::Pay,
        );
        txn.note = payee.note;
        txn.ref_id = payee.reference;
        Ok(ReqPay {
            head: self.head(now)?,
            txn,
            payer,
            payees: vec![payee.party],
        })
    }

    /// Sends a recorded payment and records the answer.
    async fn send(&self, owner: &str, msg: ReqPay) -> Result<Payment, PspError> {
        let id = msg.txn.id.as_str().to_owned();
        match self.links.pay(msg).await {
            Ok(Some(resp)) => {
                let code = resp.resp.err_code.as_ref().map(|c| c.as_str());
                let rrn = resp.txn.cust_ref.as_ref().map(|r| r.as_str());
                let now = self.clock.now_millis();
                let status = status_of(resp.resp.result);
                store::set_status(&self.db, &id, status, code, rrn, now).await?;
                tracing::info!(txn_id = id, status, code, "UPI payment answered");
            }
            Ok(None) => tracing::info!(txn_id = id, "UPI payment in flight"),
            // Recorded as pending: a status check resolves it.
            Err(e) => tracing::warn!(txn_id = id, error = %e, "UPI payment not answered"),
        }
        let p = self.stored(owner, &id).await?;
        self.tell_guard(owner, &p).await;
        Ok(p)
    }

    async fn stored(&self, owner: &str, txn_id: &str) -> Result<Payment, PspError> {
        match store::payment_by_id(&self.db, txn_id).await? {
            Some((o, p)) if o == owner => Ok(p),
            _ => Err(PspError::Corrupt(format!("payment {txn_id} vanished"))),
        }
    }

    /// ReqChkTxn for a payment not final, and its answer recorded.
    async fn check(&self, owner: &str, p: &Payment) -> Result<Payment, PspError> {
        let now = self.clock.now_millis();
        let chk_id = format!("CHK{}", uuid::Uuid::new_v4().simple());
        let mut txn = Txn::new(
            TxnId::new(&chk_id).map_err(|e| PspError::Corrupt(e.to_string()))?,
            Timestamp::from_unix_millis(now),
            TxnType::ChkTxn,
        );
        txn.org_txn_id = Some(TxnId::new(&p.txn_id).map_err(|e| PspError::Corrupt(e.to_string()))?);
        let req = ReqChkTxn {
            head: self.head(now)?,
            txn,
        };
        let resp = match self.links.status(req).await {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(p.clone()),
            Err(e) => {
                tracing::warn!(txn_id = %p.txn_id, error = %e, "UPI status check failed");
                return Ok(p.clone());
            }
        };
        let code = resp.resp.err_code.as_ref().map(|c| c.as_str());
        let status = status_of(resp.resp.result);
        // The switch not knowing a payment recorded here means the request
        // never reached it: it is pending until the device retries it.
        if code == Some(paytap_upiswitch::codes::UNKNOWN_TXN) {
            return Ok(p.clone());
        }
        store::set_status(&self.db, &p.txn_id, status, code, None, now).await?;
        let p = self.stored(owner, &p.txn_id).await?;
        self.tell_guard(owner, &p).await;
        Ok(p)
    }

    async fn open_collect(&self, owner: &str, txn_id: &str) -> Result<Collect, PspError> {
        let open = self.collects(owner).await?;
        if let Some(c) = open.into_iter().find(|c| c.txn_id == txn_id) {
            return Ok(c);
        }
        match self.payment(owner, txn_id).await {
            Ok(p) if p.kind == "collect" => Err(PspError::Refused {
                code: "ZA",
                message: "this collect request was already answered",
            }),
            Ok(_) => Err(PspError::NotFound),
            Err(PspError::NotFound) => Err(PspError::Refused {
                code: paytap_upiswitch::codes::COLLECT_EXPIRED,
                message: "no open collect request with this id: expired or unknown",
            }),
            Err(e) => Err(e),
        }
    }

    fn collect_record(&self, c: &Collect, status: &str) -> Payment {
        let now = self.clock.now_millis();
        Payment {
            txn_id: c.txn_id.clone(),
            kind: "collect".into(),
            payer_vpa: c.payer_vpa.clone(),
            payee_vpa: c.payee_vpa.clone(),
            payee_name: c.payee_name.clone(),
            mcc: c.mcc.clone(),
            amount_paise: c.amount_paise,
            currency: "INR",
            note: c.note.clone(),
            reference: c.reference.clone(),
            status: status.into(),
            error_code: None,
            rrn: None,
            created_at: now,
            updated_at: now,
            earned_paise: None,
        }
    }

    async fn collect_answered(
        &self,
        owner: &str,
        txn_id: &str,
        answer: CollectAnswer,
    ) -> Result<Payment, PspError> {
        if let Some((result, code)) = answer {
            let now = self.clock.now_millis();
            let status = status_of(result);
            store::set_status(&self.db, txn_id, status, code.as_deref(), None, now).await?;
            tracing::info!(txn_id, status, code, "UPI collect answered");
        }
        let p = self.stored(owner, txn_id).await?;
        self.tell_guard(owner, &p).await;
        Ok(p)
    }

    // ----- the guard -----------------------------------------------------

    /// The channel the guard sees `p` on: `upi`, or `bills` for a biller's
    /// collect request (only known with a guard attached).
    fn channel_of(&self, p: &Payment) -> Channel {
        self.guard
            .get()
            .map_or(Channel::Upi, |g| g.channel(&p.kind, &p.payee_vpa))
    }

    /// Asks the guard about `record` (paid from binding `b`), then records
    /// it with the cashback the guard promised; `false` when its id was
    /// recorded already (by a concurrent request: the guard answered it the
    /// same). A refusal is [`PspError::Refused`] with
    /// [`guard::RISK_DECLINED`] or [`guard::STEP_UP`], and nothing is
    /// recorded or sent: asked again under the same id, the guard gives
    /// its stored answer, never a second decision.
    async fn guarded_insert(
        &self,
        owner: &str,
        record: &mut Payment,
        b: &BindingRow,
    ) -> Result<bool, PspError> {
        let channel = self.channel_of(record);
        let Some(g) = self.guard.get() else {
            return store::insert_payment(&self.db, owner, record, channel.as_str(), false).await;
        };
        let before =
            store::paid_on_channel_before(&self.db, owner, channel.as_str(), &record.txn_id)
                .await?;
        let facts = g.facts(owner, record, Some(b), !before);
        record.earned_paise = guard::verdict(&record.txn_id, g.guard.check(&facts).await)?;
        match store::insert_payment(&self.db, owner, record, channel.as_str(), true).await {
            Ok(inserted) => Ok(inserted),
            Err(e) => {
                // Never recorded, never sent: what the guard reserved returns.
                g.guard.finish(&facts, GuardOutcome::Declined).await;
                Err(e)
            }
        }
    }

    /// Tells the guard how `p` ended, once it has (`success` captures its
    /// cashback, `failed` releases it; `pending` and `deemed` wait), if the
    /// guard decided on it and was not told yet; then notes it told. A
    /// failure is logged, never the payer's: [`Psp::tell_guard_ended`]
    /// tells it later (telling twice changes nothing in the guard).
    async fn tell_guard(&self, owner: &str, p: &Payment) {
        let Some(g) = self.guard.get() else { return };
        let outcome = match p.status.as_str() {
            "success" => GuardOutcome::Captured,
            "failed" => GuardOutcome::Declined,
            _ => return,
        };
        let told = async {
            if !store::guard_open(&self.db, &p.txn_id).await? {
                return Ok(());
            }
            let binding = store::binding_of_id(&self.db, &self.cipher, owner, &p.payer_vpa).await?;
            let facts = g.facts(owner, p, binding.as_ref(), false);
            g.guard.finish(&facts, outcome).await;
            store::guard_told(&self.db, &p.txn_id).await
        };
        if let Err(e) = told.await {
            tracing::error!(txn_id = %p.txn_id, error = %e, "the guard was not told how a UPI payment ended; told later");
        }
    }

    /// Tells the attached guard how the payments it decided on ended, where
    /// that was not done yet (a crash between the switch's final answer
    /// being stored and the guard being told), at most
    /// [`MAX_GUARD_TOLD_AT_ONCE`] a call; how many. `paytap up` calls it at
    /// start.
    pub async fn tell_guard_ended(&self) -> Result<usize, PspError> {
        if self.guard.get().is_none() {
            return Ok(0);
        }
        let untold = store::guard_untold(&self.db, MAX_GUARD_TOLD_AT_ONCE).await?;
        for (owner, p) in &untold {
            self.tell_guard(owner, p).await;
        }
        if !untold.is_empty() {
            tracing::info!(
                payments = untold.len(),
                "the guard told how UPI payments ended"
            );
        }
        Ok(untold.len())
    }
}

fn status_of(result: ResultCode) -> &'static str {
    match result {
        ResultCode::Success => "success",
        ResultCode::Failure => "failed",
        ResultCode::Deemed => "deemed",
    }
}

fn mobile(m: &str) -> Result<&str, PspError> {
    if m.len() == MOBILE_DIGITS && m.bytes().all(|b| b.is_ascii_digit()) {
        Ok(m)
    } else {
        Err(PspError::invalid("mobile", "10 digits"))
    }
}

/// `name@paytap`, if `name` is a UPI ID's name.
fn upi_name(name: &str) -> Result<Vpa, PspError> {
    let ok = NAME_LEN.contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let bad = || PspError::invalid("name", "3 to 32 of a-z, 0-9, '.' and '-'");
    if !ok {
        return Err(bad());
    }
    Vpa::new(&format!("{name}@{HANDLE}")).map_err(|_| bad())
}

fn pin_block(b64: &str) -> Result<Vec<u8>, PspError> {
    let bad = || PspError::invalid("pin_block", "the PIN sealed to the bank's key, Base64");
    if b64.is_empty() || b64.len() > MAX_PIN_BLOCK_CHARS {
        return Err(bad());
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| bad())
}

fn account(b: &BindingRow) -> Result<Account, PspError> {
    let corrupt = |e: paytap_upi::xml::XmlError| PspError::Corrupt(e.to_string());
    Ok(Account {
        ifsc: Ifsc::new(&b.ifsc).map_err(corrupt)?,
        number: AccountNumber::new(&b.account_number).map_err(corrupt)?,
        kind: Some("SAVINGS".into()),
    })
}

fn directory_entry(vpa: &Vpa, b: &BindingRow) -> Result<DirectoryEntry, PspError> {
    Ok(DirectoryEntry {
        vpa: vpa.clone(),
        account: account(b)?,
        bound_at: Some(b.bound_at),
    })
}

fn person(vpa: Vpa, note: Option<String>, amount: Option<u64>) -> Result<Payee, PspError> {
    let amount = amount
        .filter(|a| *a > 0)
        .ok_or(PspError::invalid("amount_paise", "more than zero"))?;
    Ok(Payee {
        party: Party::person(vpa),
        reference: None,
        note,
        amount,
    })
}

/// A merchant's `upi://pay` link: its `pa`, `pn`, `mc`, `tr`, `tn` and, for a
/// dynamic code, `am` (a typed amount must then be the same).
fn merchant(link: &str, note: Option<String>, typed: Option<u64>) -> Result<Payee, PspError> {
    let pay = UpiPay::parse(link).map_err(|e| {
        tracing::info!(error = %e, "UPI payment refused: a bad upi://pay link");
        PspError::invalid("link", "not a valid upi://pay link")
    })?;
    let amount = match (pay.amount, typed) {
        (Some(a), Some(t)) if a != t => {
            return Err(PspError::invalid(
                "amount_paise",
                "differs from the amount the code asks for",
            ));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            return Err(PspError::invalid(
                "amount_paise",
                "required by a static code",
            ));
        }
    };
    if amount == 0 || pay.min_amount.is_some_and(|m| amount < m) {
        return Err(PspError::invalid(
            "amount_paise",
            "below what the code asks for",
        ));
    }
    let mut party = Party::person(pay.payee.clone());
    party.name = pay.payee_name.clone();
    if let Some(mc) = &pay.mcc {
        party.code = Mcc::new(mc).map_err(|_| PspError::invalid("link", "a bad mc"))?;
        if party.code.is_merchant() {
            party.kind = PartyType::Entity;
        }
    }
    Ok(Payee {
        party,
        reference: pay.tr.clone(),
        note: note.or(pay.note.clone()),
        amount,
    })
}
