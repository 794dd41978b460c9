//! The transit operators' hosts as `paytap up` serves them: one
//! [`OperatorHost`] per operator of the embedded `operators.toml`, their
//! tables in `DIR/transit.db`, their float and revenue on the network's
//! ledger, their master keys derived from the vault's keyring (never
//! written anywhere; T-Union members also get the national T-Union master
//! purchase and TAC keys and the members' interchange key, derived the
//! same way), behind the operator API ([`paytap_operator::api`]) on
//! a listener of their own.
//!
//! A top-up is paid with the rider's bank card through the card network
//! ([`OperatorPayments`]): each operator is a merchant of the platform's
//! acquirer (`tr-<operator>`, MCC 4111, local commuter transport), and a
//! top-up is a scanned-code payment to its static code, reversed by a
//! `0400` when the operator refunds it.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use paytap_acquirer::payments::{PaymentError, QrPayments, ScanPayment};
use paytap_acquirer::{MerchantSpec, Merchants};
use paytap_ledger::Ledger;
use paytap_operator::api::Operators;
use paytap_operator::auth::ApiKeys;
use paytap_operator::pay::{BoxFuture, LoadPayments, Paid, PaymentFailure, PaymentRequest};
use paytap_operator::rider::RiderCard;
use paytap_operator::{OperatorHost, OperatorKeys, TunionMember};
use paytap_purse::{MasterKeys, PurseKey, TunionMasterKeys};
use paytap_store::Db;
use paytap_transit::TransitConfig;
use paytap_transit::config::Operator;
use paytap_wallet::transit::{
    TransitAcceptor, TransitCard, TransitCards, TransitFailure, TransitMoveOrder, TransitTopUp,
    TransitTrip,
};

use super::scan::NetworkSwitch;

/// ISO 18245 merchant category of a transit operator: local and suburban
/// commuter passenger transportation (the guard sees a payment to it as a
/// transit top-up, `paytap_types::COMMUTER_TRANSPORT_MCC`).
pub const TRANSIT_MCC: &str = "4111";
/// The country the operators are merchants in.
const OPERATOR_COUNTRY: &str = "CN";
/// Longest merchant name an operator shows (EMVCo MPM ID "59").
const MAX_MERCHANT_NAME: usize = 25;
use paytap_vault::Keyring;

/// The keys of every operator, derived from the keyring before the
/// network takes it.
pub struct TransitKeys {
    keys: Vec<(String, OperatorKeys, ApiKeys)>,
    /// The national T-Union keys, the members' interchange key and the
    /// members (for member hosts).
    tunion: (
        TunionMasterKeys,
        zeroize::Zeroizing<[u8; 32]>,
        Vec<Operator>,
    ),
}

/// The master key of operator `id`'s gate API keys (each gate's key is
/// derived from it and the gate's terminal id: `paytap_operator::auth`).
pub fn gate_api_master(keyring: &Keyring, id: &str) -> zeroize::Zeroizing<[u8; 32]> {
    keyring.subkey(&format!("transit operator {id} gate api"))
}

/// Operator `id`'s back-office key for its API.
pub fn staff_api_key(keyring: &Keyring, id: &str) -> zeroize::Zeroizing<[u8; 32]> {
    keyring.subkey(&format!("transit operator {id} staff api"))
}

/// One 16-byte purse master key of operator `id` for `purpose`: the first
/// half of the keyring's subkey (HKDF-SHA256, stable across KEK rotations).
fn master(keyring: &Keyring, id: &str, purpose: &str) -> PurseKey {
    purse_key(
        keyring,
        &format!("transit operator {id} {purpose} master key"),
    )
}

/// One 16-byte national T-Union master key for `purpose`, as [`master`].
fn tunion_master(keyring: &Keyring, purpose: &str) -> PurseKey {
    purse_key(keyring, &format!("transit tunion {purpose} master key"))
}

/// The first half of the keyring's subkey `name` as a purse key.
fn purse_key(keyring: &Keyring, name: &str) -> PurseKey {
    let sub = keyring.subkey(name);
    let mut k = [0u8; 16];
    k.copy_from_slice(&sub[..16]);
    let key = PurseKey::new(k);
    zeroize::Zeroize::zeroize(&mut k);
    key
}

/// The national T-Union master purchase and TAC keys (JT/T 978): a member
/// gate's SAM holds the purchase key, a member's clearing the TAC key,
/// and every member card the per-card keys derived from both.
pub fn tunion_master_keys(keyring: &Keyring) -> TunionMasterKeys {
    TunionMasterKeys {
        purchase: tunion_master(keyring, "purchase"),
        tac: tunion_master(keyring, "tac"),
    }
}

/// The master load, purchase and TAC keys of operator `id`. The gate's
/// SAM holds the purchase key of the operator it serves.
pub fn master_keys(keyring: &Keyring, id: &str) -> MasterKeys {
    MasterKeys {
        load: master(keyring, id, "load"),
        purchase: master(keyring, id, "purchase"),
        tac: master(keyring, id, "tac"),
    }
}

impl TransitKeys {
    /// Every operator's keys.
    pub fn derive(keyring: &Keyring, config: &TransitConfig) -> TransitKeys {
        let keys = config
            .operators
            .iter()
            .map(|op| {
                let keys = OperatorKeys {
                    masters: master_keys(keyring, &op.id),
                    data_key: keyring.subkey(&format!("transit operator {} card data", op.id)),
                };
                let api = ApiKeys::new(
                    gate_api_master(keyring, &op.id),
                    staff_api_key(keyring, &op.id),
                );
                (op.id.clone(), keys, api)
            })
            .collect();
        let tunion = (
            tunion_master_keys(keyring),
            keyring.subkey("transit tunion interchange card data"),
            config.members().cloned().collect(),
        );
        TransitKeys { keys, tunion }
    }
}

/// The merchant id of operator `id` at the acquirer.
pub fn merchant_id(id: &str) -> String {
    format!("tr-{id}")
}

/// The operators' way to the card network (module documentation).
pub struct OperatorPayments {
    payments: QrPayments,
    switch: Arc<NetworkSwitch>,
    /// Operator id to its static code and settlement account.
    merchants: HashMap<String, (String, String)>,
}

impl OperatorPayments {
    /// Signs every operator of `config` up as a merchant of the platform's
    /// acquirer (idempotent: a restart finds them).
    pub async fn open(
        config: &TransitConfig,
        merchants: &Merchants,
        payments: QrPayments,
        switch: Arc<NetworkSwitch>,
    ) -> anyhow::Result<OperatorPayments> {
        let mut by_operator = HashMap::new();
        for op in &config.operators {
            let spec = merchant_spec(op);
            let (m, _) = merchants
                .create(paytap_types::DEMO_ACQUIRER_ID, spec)
                .await
                .with_context(|| format!("signing operator {} up as a merchant", op.id))?;
            let code = m
                .static_code()
                .with_context(|| format!("the static code of operator {}", op.id))?;
            by_operator.insert(op.id.clone(), (code, m.account.clone()));
        }
        Ok(OperatorPayments {
            payments,
            switch,
            merchants: by_operator,
        })
    }

    /// The scanned-code payment a top-up is, and the operator's account.
    fn scan_payment(
        &self,
        req: &PaymentRequest<'_>,
    ) -> Result<(ScanPayment, String), PaymentFailure> {
        let (code, account) = self.merchants.get(&req.operator.id).ok_or_else(|| {
            PaymentFailure::Invalid(format!("operator {} is no merchant", req.operator.id))
        })?;
        let amount = u64::try_from(req.amount.minor)
            .map_err(|_| PaymentFailure::Invalid("a negative amount".into()))?;
        let p = ScanPayment {
            idempotency_key: req.key.clone(),
            code: code.clone(),
            amount_minor: amount,
            token: req.card.token.clone(),
            expiry: req.card.expiry.clone(),
            psn: req.card.psn,
            track2: req.card.track2.clone(),
            icc_data: req.card.icc_data.clone(),
        };
        Ok((p, account.clone()))
    }
}

/// An operator as a merchant: its id, its name as far as a code carries
/// it, MCC 4111.
fn merchant_spec(op: &Operator) -> MerchantSpec {
    MerchantSpec {
        id: merchant_id(&op.id),
        name: op
            .name
            .chars()
            .take(MAX_MERCHANT_NAME)
            .collect::<String>()
            .trim()
            .to_owned(),
        city: op.id.clone(),
        mcc: TRANSIT_MCC.into(),
        currency: op.currency,
        country: OPERATOR_COUNTRY.into(),
    }
}

/// What the operator host is told of an acquirer's refusal.
fn failure(e: PaymentError) -> PaymentFailure {
    match e {
        PaymentError::NoAnswer(why) => PaymentFailure::NoAnswer(why),
        PaymentError::Acquirer(why) => {
            tracing::error!(error = %why, "the acquirer failed a top-up payment");
            PaymentFailure::NoAnswer("the acquirer is unavailable".into())
        }
        PaymentError::ReversalRefused(code) => PaymentFailure::Declined {
            meaning: "the network refused the reversal".into(),
            code,
        },
        other => PaymentFailure::Invalid(other.to_string()),
    }
}

impl LoadPayments for OperatorPayments {
    fn pay<'a>(
        &'a self,
        req: &'a PaymentRequest<'a>,
    ) -> BoxFuture<'a, Result<Paid, PaymentFailure>> {
        Box::pin(async move {
            let (p, account) = self.scan_payment(req)?;
            let o = self
                .payments
                .pay(&p, self.switch.as_ref())
                .await
                .map_err(failure)?;
            if !o.approved {
                return Err(PaymentFailure::Declined {
                    code: o.response_code,
                    meaning: o.meaning,
                });
            }
            Ok(Paid { account })
        })
    }

    fn refund<'a>(
        &'a self,
        req: &'a PaymentRequest<'a>,
    ) -> BoxFuture<'a, Result<(), PaymentFailure>> {
        Box::pin(async move {
            let (p, _) = self.scan_payment(req)?;
            self.payments
                .reverse(&p, self.switch.as_ref())
                .await
                .map_err(failure)?;
            Ok(())
        })
    }
}

/// How often the running platform settles the transit days that are over.
pub const SETTLE_EVERY: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Settles, at the start and every [`SETTLE_EVERY`], each operator's days
/// that are over (`OperatorHost::settle_due`): the fares move from the
/// floats to the operators' revenue, T-Union fares from the issuer's float
/// to the member whose gate took them. A failure is logged and tried again
/// at the next tick; nothing moves twice.
pub fn settle_forever(ops: Arc<Operators>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SETTLE_EVERY);
        loop {
            tick.tick().await;
            for host in ops.hosts() {
                let op = &host.operator().id;
                match host.settle_due().await {
                    Ok(days) => {
                        for s in days.iter().filter(|s| s.records > 0) {
                            tracing::info!(operator = %op, day = %s.day, amount = %s.amount, records = s.records, "transit day settled");
                        }
                    }
                    Err(e) => {
                        tracing::error!(operator = %op, error = %e, "settling transit days failed")
                    }
                }
            }
        }
    })
}

/// Opens every operator's host on the transit database `db` and the
/// ledger, paying top-ups through `payments`.
pub async fn open(
    db: Db,
    config: &TransitConfig,
    keys: TransitKeys,
    ledger: Ledger,
    payments: Arc<OperatorPayments>,
) -> anyhow::Result<(Db, Operators)> {
    let mut ops = Operators::new();
    let (national, interchange_key, members) = keys.tunion;
    for (id, k, api) in keys.keys {
        let op = config
            .operator(&id)
            .cloned()
            .with_context(|| format!("operator {id} has keys but no configuration"))?;
        let member = op.tunion.then(|| TunionMember {
            masters: national.clone(),
            data_key: interchange_key.clone(),
            members: members.clone(),
        });
        let host = OperatorHost::open(
            db.clone(),
            ledger.clone(),
            op,
            k,
            Arc::new(paytap_types::SystemClock),
        )
        .await
        .with_context(|| format!("starting the {id} operator host"))?
        .with_payments(payments.clone());
        let host = match member {
            Some(m) => host.with_tunion(m),
            None => host,
        };
        ops.insert(Arc::new(host), api);
    }
    Ok((db, ops))
}

/// The operators as the wallet reaches them ([`paytap_wallet::transit`]):
/// a device's cards from every operator, a lost device's cards hotlisted
/// at every operator.
pub struct WalletTransit(pub Arc<Operators>);

impl WalletTransit {
    async fn cards(&self, device_id: &str) -> Result<Vec<TransitCard>, String> {
        let mut out = Vec::new();
        for host in self.0.hosts() {
            let op = host.operator();
            let cards = host
                .device_cards(device_id)
                .await
                .map_err(|e| format!("{}: {e}", op.id))?;
            out.extend(cards.into_iter().map(|c| wallet_card(op, c, &self.0)));
        }
        Ok(out)
    }

    async fn lost(&self, device_id: &str) -> Result<usize, String> {
        let mut n = 0;
        for host in self.0.hosts() {
            n += host
                .report_device_lost(device_id)
                .await
                .map_err(|e| format!("{}: {e}", host.operator().id))?;
        }
        Ok(n)
    }
}

impl WalletTransit {
    async fn order(
        &self,
        operator: &str,
        from_card: &str,
        to_card: &str,
    ) -> Result<TransitMoveOrder, TransitFailure> {
        use paytap_operator::OperatorError as E;
        let host = self
            .0
            .get(operator)
            .ok_or_else(|| TransitFailure::Refused(format!("no operator {operator:?}")))?;
        match host.order_move(from_card, to_card).await {
            Ok(o) => Ok(TransitMoveOrder {
                move_id: o.move_id,
                from_card_id: o.from_card,
                to_card_id: o.to_card,
                amount: i64::from(o.amount),
                gates_waiting: u64::try_from(o.gates_waiting).unwrap_or(u64::MAX),
                moved: o.moved,
            }),
            Err(e @ (E::Store(_) | E::Ledger(_) | E::Corrupt(_))) => {
                tracing::error!(operator, error = %e, "ordering a move failed");
                Err(TransitFailure::Unavailable(e.to_string()))
            }
            Err(e) => Err(TransitFailure::Refused(e.to_string())),
        }
    }
}

impl TransitCards for WalletTransit {
    fn order_move<'a>(
        &'a self,
        operator: &'a str,
        from_card: &'a str,
        to_card: &'a str,
    ) -> paytap_wallet::port::BoxFuture<'a, Result<TransitMoveOrder, TransitFailure>> {
        Box::pin(self.order(operator, from_card, to_card))
    }

    fn device_cards<'a>(
        &'a self,
        device_id: &'a str,
    ) -> paytap_wallet::port::BoxFuture<'a, Result<Vec<TransitCard>, String>> {
        Box::pin(self.cards(device_id))
    }

    fn device_lost<'a>(
        &'a self,
        device_id: &'a str,
    ) -> paytap_wallet::port::BoxFuture<'a, Result<usize, String>> {
        Box::pin(self.lost(device_id))
    }
}

/// The wallet's view of an operator's card (the device's name and kind are
/// the wallet's to fill in); a trip in another city names the member whose
/// gate took it, as `ops` knows it.
fn wallet_card(op: &Operator, c: RiderCard, ops: &Operators) -> TransitCard {
    let acceptor = |id: String| TransitAcceptor {
        name: ops
            .get(&id)
            .map_or_else(|| id.clone(), |h| h.operator().name.clone()),
        operator: id,
    };
    TransitCard {
        operator: c.operator,
        card_name: op.name.clone(),
        card_id: c.card_id,
        last_digits: c.last_digits,
        device_id: c.device_id,
        device_name: String::new(),
        device_kind: paytap_types::DeviceKind::Phone,
        issued_at: c.issued_at,
        currency: op.currency.code().to_owned(),
        balance: c.balance,
        device_balance: None,
        device_read_at: None,
        status: c.status.as_str().to_owned(),
        moved: c.moved,
        move_ordered_to: c.move_ordered_to,
        trips: c
            .trips
            .into_iter()
            .map(|t| TransitTrip {
                at: t.at,
                terminal: t.terminal,
                kind: t.kind.as_str().to_owned(),
                amount: t.amount,
                balance_after: t.balance_after,
                accepted_by: t.accepted_by.map(acceptor),
            })
            .collect(),
        top_ups: c
            .top_ups
            .into_iter()
            .map(|t| TransitTopUp {
                at: t.at,
                amount: t.amount,
                state: t.state.as_str().to_owned(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn operators_are_merchants_of_the_category_the_guard_calls_transit() {
        assert_eq!(
            super::TRANSIT_MCC,
            paytap_types::COMMUTER_TRANSPORT_MCC.to_string()
        );
    }
}
