//! The transit operators' hosts as `paytap up` serves them: one
//! [`OperatorHost`] per operator of the embedded `operators.toml`, their
//! tables in `DIR/transit.db`, their float and revenue on the network's
//! ledger, their master keys derived from the vault's keyring (never
//! written anywhere), behind the operator API ([`paytap_operator::api`]) on
//! a listener of their own.

use std::sync::Arc;

use anyhow::Context;
use paytap_ledger::Ledger;
use paytap_operator::api::Operators;
use paytap_operator::{OperatorHost, OperatorKeys};
use paytap_purse::{MasterKeys, PurseKey};
use paytap_store::Db;
use paytap_transit::TransitConfig;
use paytap_vault::Keyring;

/// The keys of every operator, derived from the keyring before the
/// network takes it.
pub struct TransitKeys {
    keys: Vec<(String, OperatorKeys)>,
}

/// One 16-byte purse master key of operator `id` for `purpose`: the first
/// half of the keyring's subkey (HKDF-SHA256, stable across KEK rotations).
fn master(keyring: &Keyring, id: &str, purpose: &str) -> PurseKey {
    let sub = keyring.subkey(&format!("transit operator {id} {purpose} master key"));
    let mut k = [0u8; 16];
    k.copy_from_slice(&sub[..16]);
    let key = PurseKey::new(k);
    zeroize::Zeroize::zeroize(&mut k);
    key
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
                (op.id.clone(), keys)
            })
            .collect();
        TransitKeys { keys }
    }
}

/// Opens every operator's host on the transit database `db` and the
/// ledger.
pub async fn open(
    db: Db,
    config: &TransitConfig,
    keys: TransitKeys,
    ledger: Ledger,
) -> anyhow::Result<(Db, Operators)> {
    let mut ops = Operators::new();
    for (id, k) in keys.keys {
        let op = config
            .operator(&id)
            .cloned()
            .with_context(|| format!("operator {id} has keys but no configuration"))?;
        let host = OperatorHost::open(
            db.clone(),
            ledger.clone(),
            op,
            k,
            Arc::new(paytap_types::SystemClock),
        )
        .await
        .with_context(|| format!("starting the {id} operator host"))?;
        ops.insert(Arc::new(host));
    }
    Ok((db, ops))
}
