//! T-Union (JT/T 978) at a member operator's host.
//!
//! * **Keys**: the national master purchase and TAC keys
//!   ([`TunionMasterKeys`]); every card this member issues carries the
//!   per-card keys derived from them beside its city's.
//! * **Accepting**: a record of another member's card, debited at our gate
//!   under the T-Union key index, has its TAC under the card's T-Union TAC
//!   key; clearing checks it under the national master TAC key
//!   ([`paytap_transit::clearing`]) and counts its fare as ours. The
//!   upload that accepts it writes, in the same transaction, its row in
//!   `operator_records` naming the issuer, and an `operator_interchange`
//!   row for the issuer (the card fingerprinted and sealed under the key
//!   the members share for interchange, never in clear).
//! * **Issuing**: before each upload and settlement, the host learns the
//!   interchange rows of its own cards other members accepted since it
//!   last looked (by each acceptor's record `seq`): each is filed into the
//!   card's history in the clearing, not counted (the fare is the
//!   acceptor's); a clone it reveals (the card's offline counter used in two
//!   cities, or a broken balance chain) goes on our hotlist. A card riding
//!   in two cities uses each counter once, so it never looks cloned.
//! * **Settling**: see [`crate::settle`]: a day's foreign fares move from
//!   each issuer's float to this operator's revenue.

use paytap_purse::records::SERIAL_LEN;
use paytap_purse::{TunionCardKeys, TunionMasterKeys};
use paytap_store::batch::Arg;
use paytap_transit::GateRecord;
use paytap_transit::config::Operator;
use zeroize::Zeroizing;

use crate::cards::CardCipher;
use crate::upload::{RecordRow, record_fields, record_from_row};
use crate::{Day, HotlistReason, OperatorError, OperatorHost, State, schema};

/// The scope an interchange row's card number is sealed in (its
/// additional data names it, not one operator).
const INTERCHANGE_SCOPE: &str = "tunion";

/// What a member's host is given of T-Union (from the vault's keyring).
pub struct TunionMember {
    /// The national master purchase and TAC keys.
    pub masters: TunionMasterKeys,
    /// The members' shared key for card numbers in interchange rows.
    pub data_key: Zeroizing<[u8; 32]>,
    /// Every member (ids and card ranges); this operator is left out.
    pub members: Vec<Operator>,
}

/// The host's T-Union part.
pub(crate) struct Member {
    pub(crate) masters: TunionMasterKeys,
    /// The other members.
    pub(crate) members: Vec<Operator>,
    cipher: CardCipher,
}

/// A trip as the rider's view reads it: counter, date-time, terminal,
/// type, amount, balance before, the accepting member ('' for ourselves).
pub(crate) type TripRow = (i64, String, String, i64, i64, i64, String);

/// A stored interchange row: the card's fingerprint and sealed number, the
/// record's fields in [`RecordRow`] order after the card, and its `seq`.
type InterchangeRow = (
    String,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    String,
    String,
    i64,
);

impl OperatorHost {
    /// The host of a T-Union member: it accepts other members' cards'
    /// records, tells their issuers, learns its own cards' trips in other
    /// cities, and issues member cards. The operator must be a member
    /// (`tunion = true`).
    pub fn with_tunion(mut self, t: TunionMember) -> OperatorHost {
        assert!(self.operator.tunion, "only a member joins T-Union");
        let members = t
            .members
            .into_iter()
            .filter(|m| m.tunion && m.id != self.operator.id)
            .collect();
        self.tunion = Some(Member {
            cipher: CardCipher::new(&t.data_key),
            masters: t.masters,
            members,
        });
        // The clearing is rebuilt with the national TAC key on first use.
        self.state.get_mut().stale = true;
        self
    }

    /// The other members' ids (none for a non-member).
    pub(crate) fn other_members(&self) -> impl Iterator<Item = &str> {
        self.tunion
            .iter()
            .flat_map(|t| t.members.iter().map(|m| m.id.as_str()))
    }

    /// Whether this host is a T-Union member's.
    pub fn is_member(&self) -> bool {
        self.tunion.is_some()
    }

    /// The T-Union keys a card this host issues carries, if a member.
    pub(crate) fn tunion_card_keys(&self, serial: &[u8; SERIAL_LEN]) -> Option<TunionCardKeys> {
        self.tunion.as_ref().map(|t| t.masters.derive(serial))
    }

    /// The fares other members cleared of our card `serial` (nothing for a
    /// non-member): part of what the card spent.
    pub(crate) async fn spent_elsewhere(
        &self,
        serial: &[u8; SERIAL_LEN],
    ) -> Result<i64, OperatorError> {
        let Some(t) = &self.tunion else {
            return Ok(0);
        };
        let (spent,): (Option<i64>,) = sqlx::query_as(
            "SELECT CAST(SUM(amount) AS BIGINT) FROM operator_interchange \
             WHERE issuer = $1 AND card = $2",
        )
        .bind(self.operator.id.as_str())
        .bind(t.cipher.fingerprint(serial))
        .fetch_one(self.db.pool())
        .await?;
        Ok(spent.unwrap_or(0))
    }

    /// The newest `limit` trips of our card `serial` at other members'
    /// gates (none for a non-member), as the rider's view reads them.
    pub(crate) async fn trips_elsewhere(
        &self,
        serial: &[u8; SERIAL_LEN],
        limit: i64,
    ) -> Result<Vec<TripRow>, OperatorError> {
        let Some(t) = &self.tunion else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query_as(
            "SELECT counter, at, terminal, type_id, amount, balance_before, acceptor \
             FROM operator_interchange WHERE issuer = $1 AND card = $2 \
             ORDER BY counter DESC LIMIT $3",
        )
        .bind(self.operator.id.as_str())
        .bind(t.cipher.fingerprint(serial))
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows)
    }

    /// The interchange row telling `issuer` of its card's record `r`,
    /// accepted here as `seq` on `day`.
    pub(crate) fn interchange_row(
        &self,
        issuer: &str,
        r: &GateRecord,
        seq: i64,
        day: Day,
    ) -> Result<Vec<Arg>, OperatorError> {
        let t = self.tunion.as_ref().ok_or_else(|| {
            OperatorError::Corrupt("a foreign card accepted by a non-member".into())
        })?;
        let card = t.cipher.fingerprint(&r.serial);
        let sealed = t.cipher.seal(INTERCHANGE_SCOPE, &card, &r.serial)?;
        let mut row = Vec::with_capacity(schema::INTERCHANGE.columns.len());
        row.extend([
            Arg::Text(issuer.into()),
            Arg::Text(self.operator.id.clone()),
            Arg::Text(card),
            Arg::Text(sealed),
        ]);
        row.extend(record_fields(r));
        row.extend([Arg::I64(seq), Arg::I64(i64::from(day.number()))]);
        Ok(row)
    }

    /// Learns the records of our cards other members accepted since we
    /// last looked (module documentation); the flags they raise are
    /// written to our hotlist. Memory is marked stale until that write is
    /// done, so a failure is followed by a rebuild that learns again.
    pub(crate) async fn learn_interchange(&self, state: &mut State) -> Result<(), OperatorError> {
        let Some(t) = &self.tunion else {
            return Ok(());
        };
        for m in &t.members {
            let from = state.learned.get(&m.id).copied().unwrap_or(-1);
            let rows: Vec<InterchangeRow> = sqlx::query_as(
                "SELECT card, sealed, terminal, terminal_seq, counter, balance_before, amount, \
                 type_id, at, tac, seq FROM operator_interchange \
                 WHERE issuer = $1 AND acceptor = $2 AND seq > $3 ORDER BY seq",
            )
            .bind(self.operator.id.as_str())
            .bind(m.id.as_str())
            .bind(from)
            .fetch_all(self.db.pool())
            .await?;
            let Some(last) = rows.last().map(|r| r.10) else {
                continue;
            };
            state.stale = true;
            let hot = self.learn_rows(t, &m.id, state, rows)?;
            self.write_learned(&hot).await?;
            state.learned.insert(m.id.clone(), last);
            state.stale = false;
        }
        Ok(())
    }

    /// Files each row into the clearing; the hotlist flags raised, by card.
    fn learn_rows(
        &self,
        t: &Member,
        acceptor: &str,
        state: &mut State,
        rows: Vec<InterchangeRow>,
    ) -> Result<Vec<([u8; SERIAL_LEN], HotlistReason)>, OperatorError> {
        let mut hot = Vec::new();
        for (card, sealed, terminal, seq, counter, balance, amount, type_id, at, tac, _) in rows {
            let serial = t.cipher.open(INTERCHANGE_SCOPE, &card, &sealed)?;
            let row: RecordRow = (
                card, terminal, seq, counter, balance, amount, type_id, at, tac,
            );
            let r = record_from_row(serial, &row)?;
            match state.clearing.learn(&r) {
                Ok(flags) => hot.extend(
                    flags
                        .into_iter()
                        .map(|f| (serial, HotlistReason::from_flag(f))),
                ),
                Err(why) => {
                    // The acceptor checked it under the same national key:
                    // a row we cannot check is theirs to explain.
                    tracing::error!(
                        operator = %self.operator.id,
                        acceptor,
                        %why,
                        "an interchange record of our card does not verify: not learned"
                    );
                }
            }
        }
        Ok(hot)
    }

    /// Our hotlist rows for cards learning flagged, in one transaction.
    async fn write_learned(
        &self,
        hot: &[([u8; SERIAL_LEN], HotlistReason)],
    ) -> Result<(), OperatorError> {
        if hot.is_empty() {
            return Ok(());
        }
        let op = self.operator.id.as_str();
        let now = self.clock.now_millis();
        let (mut cards, mut hotlist) = (Vec::new(), Vec::new());
        for (serial, reason) in hot {
            let card = self.cipher.fingerprint(serial);
            let sealed = self.cipher.seal(op, &card, serial)?;
            let (code, counter) = reason.code();
            cards.push(vec![
                Arg::Text(op.into()),
                Arg::Text(card.clone()),
                Arg::Text(sealed),
            ]);
            hotlist.push(vec![
                Arg::Text(op.into()),
                Arg::Text(card),
                Arg::Text(code.into()),
                Arg::I64(counter),
                Arg::I64(now),
            ]);
        }
        let backend = self.db.backend();
        let mut tx = self.db.begin_write().await?;
        schema::CARDS.execute(&mut tx, backend, &cards).await?;
        schema::HOTLIST.execute(&mut tx, backend, &hotlist).await?;
        tx.commit().await?;
        tracing::warn!(
            operator = op,
            flags = hot.len(),
            "a trip in another city put our card on the hotlist"
        );
        Ok(())
    }
}
