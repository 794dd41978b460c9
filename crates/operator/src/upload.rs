//! A gate's upload: cleared in memory by the sans-IO clearing, written in
//! one transaction, answered the same way every time its batch id returns.

use std::collections::HashMap;

use paytap_purse::records::{DateTime, SERIAL_LEN};
use paytap_store::batch::Arg;
use paytap_transit::clearing::{Clearing, Flag, GateRecord, MAX_BATCH, Rejection};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Day, HotlistReason, OperatorError, OperatorHost, State, check_batch_id, schema};

/// What an upload did (the same answer for every upload of its batch id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BatchResult {
    /// The gate's batch id.
    pub batch_id: String,
    /// Records in the batch.
    pub records: usize,
    /// Records counted for the first time.
    pub accepted: usize,
    /// Records another batch had already counted, ignored.
    pub duplicates: usize,
    /// Records refused, by index in the batch.
    pub rejected: Vec<RejectedRecord>,
    /// Hotlist flags this batch raised.
    pub flagged: usize,
    /// The business day its records are settled with.
    pub business_day: Day,
}

/// One refused record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RejectedRecord {
    /// Its index in the batch.
    pub index: usize,
    /// Why: `not_our_card`, `not_a_purchase`, `tac_invalid`,
    /// `amount_above_balance` or `altered`.
    pub reason: String,
}

/// What the clearing decided for one batch.
struct Cleared {
    accepted: Vec<usize>,
    duplicates: usize,
    rejected: Vec<(usize, Rejection)>,
    flagged: Vec<([u8; SERIAL_LEN], Flag)>,
}

/// The rows one batch writes, beside its batch row.
struct Writes {
    cards: Vec<Vec<Arg>>,
    new_cards: Vec<([u8; SERIAL_LEN], String)>,
    records: Vec<Vec<Arg>>,
    interchange: Vec<Vec<Arg>>,
    rejections: Vec<Vec<Arg>>,
    hotlist: Vec<Vec<Arg>>,
}

/// A stored accepted record: card, terminal, terminal sequence, counter,
/// balance before, amount, type, date-time, TAC.
pub(crate) type RecordRow = (String, String, i64, i64, i64, i64, i64, String, String);

impl OperatorHost {
    /// Clears a gate's batch of records under its batch id (see the crate
    /// documentation): all of it committed in one transaction, or nothing.
    pub async fn upload(
        &self,
        batch_id: &str,
        records: &[GateRecord],
    ) -> Result<BatchResult, OperatorError> {
        check_batch_id(batch_id)?;
        if records.len() > MAX_BATCH {
            tracing::warn!(records = records.len(), "upload refused: batch too large");
            return Err(OperatorError::BatchTooLarge(records.len()));
        }
        let digest = digest(records);
        let mut state = self.state.lock().await;
        self.fresh(&mut state).await?;
        if let Some(done) = self.stored_batch(batch_id, &digest).await? {
            return Ok(done);
        }
        let day = self.business_day(&state);
        // From here until the commit, memory is ahead of the tables.
        state.stale = true;
        let cleared = clear(&mut state.clearing, records);
        let writes = self.writes(&state, batch_id, records, &cleared, day)?;
        let result = BatchResult {
            batch_id: batch_id.to_owned(),
            records: records.len(),
            accepted: cleared.accepted.len(),
            duplicates: cleared.duplicates,
            rejected: cleared
                .rejected
                .iter()
                .map(|&(index, why)| RejectedRecord {
                    index,
                    reason: reason_code(why).to_owned(),
                })
                .collect(),
            flagged: cleared.flagged.len(),
            business_day: day,
        };
        if let Err(e) = self.write(&digest, &result, &writes).await {
            // An earlier upload of this batch, abandoned by its caller after
            // its commit was under way, may have committed since the check
            // above: its stored outcome is the answer. Memory stays stale
            // and is rebuilt from the tables on the next upload.
            return match e {
                OperatorError::Store(ref s) if s.is_unique_violation() => {
                    self.stored_batch(batch_id, &digest).await?.ok_or(e)
                }
                e => Err(e),
            };
        }
        state.cards.extend(writes.new_cards);
        state.next_seq += writes.records.len() as i64;
        state.stale = false;
        log_outcome(&self.operator.id, &result);
        Ok(result)
    }

    /// The stored outcome of `batch_id`, if it was uploaded before with the
    /// same records.
    async fn stored_batch(
        &self,
        batch_id: &str,
        digest: &str,
    ) -> Result<Option<BatchResult>, OperatorError> {
        let op = self.operator.id.as_str();
        let row: Option<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT digest, records, accepted, duplicates, flagged, business_day \
             FROM operator_batches WHERE operator = $1 AND batch_id = $2",
        )
        .bind(op)
        .bind(batch_id)
        .fetch_optional(self.db.pool())
        .await?;
        let Some((stored, records, accepted, duplicates, flagged, day)) = row else {
            return Ok(None);
        };
        if stored != digest {
            tracing::warn!(
                operator = op,
                batch_id,
                "batch id reused with other records"
            );
            return Err(OperatorError::BatchConflict(batch_id.to_owned()));
        }
        let rejected: Vec<(i64, String)> = sqlx::query_as(
            "SELECT idx, reason FROM operator_rejections WHERE operator = $1 AND batch_id = $2 \
             ORDER BY idx",
        )
        .bind(op)
        .bind(batch_id)
        .fetch_all(self.db.pool())
        .await?;
        tracing::info!(
            operator = op,
            batch_id,
            "batch uploaded again: stored outcome"
        );
        Ok(Some(BatchResult {
            batch_id: batch_id.to_owned(),
            records: count(records)?,
            accepted: count(accepted)?,
            duplicates: count(duplicates)?,
            rejected: rejected
                .into_iter()
                .map(|(i, reason)| {
                    Ok(RejectedRecord {
                        index: count(i)?,
                        reason,
                    })
                })
                .collect::<Result<_, OperatorError>>()?,
            flagged: count(flagged)?,
            business_day: stored_day(day)?,
        }))
    }

    /// The rows the batch's outcome writes.
    fn writes(
        &self,
        state: &State,
        batch_id: &str,
        records: &[GateRecord],
        cleared: &Cleared,
        day: Day,
    ) -> Result<Writes, OperatorError> {
        let op = self.operator.id.as_str();
        let mut fresh: HashMap<[u8; SERIAL_LEN], String> = HashMap::new();
        let mut fp = |serial: &[u8; SERIAL_LEN]| -> String {
            match state.cards.get(serial) {
                Some(fp) => fp.clone(),
                None => fresh
                    .entry(*serial)
                    .or_insert_with(|| self.cipher.fingerprint(serial))
                    .clone(),
            }
        };
        let mut w = Writes {
            cards: Vec::new(),
            new_cards: Vec::new(),
            records: Vec::with_capacity(cleared.accepted.len()),
            interchange: Vec::new(),
            rejections: Vec::with_capacity(cleared.rejected.len()),
            hotlist: Vec::with_capacity(cleared.flagged.len()),
        };
        for (k, &i) in cleared.accepted.iter().enumerate() {
            let r = &records[i];
            let card = fp(&r.serial);
            let seq = state.next_seq + k as i64;
            // Another member's card: its issuer is told in the same transaction.
            let issuer = state.clearing.issuer_of(&r.serial).map(|o| o.id.as_str());
            if let Some(issuer) = issuer {
                w.interchange
                    .push(self.interchange_row(issuer, r, seq, day)?);
            }
            let row = record_row(op, &card, r, (batch_id, seq), day, issuer.unwrap_or(""));
            w.records.push(row);
        }
        for &(i, why) in &cleared.rejected {
            let r = &records[i];
            w.rejections.push(vec![
                Arg::Text(op.into()),
                Arg::Text(batch_id.into()),
                Arg::I64(i as i64),
                Arg::Text(reason_code(why).into()),
                Arg::Text(fp(&r.serial)),
                Arg::Text(hex::encode(r.terminal)),
                Arg::I64(i64::from(r.terminal_seq)),
            ]);
        }
        let now = self.clock.now_millis();
        for (serial, flag) in &cleared.flagged {
            let (reason, counter) = HotlistReason::from_flag(*flag).code();
            w.hotlist.push(vec![
                Arg::Text(op.into()),
                Arg::Text(fp(serial)),
                Arg::Text(reason.into()),
                Arg::I64(counter),
                Arg::I64(now),
            ]);
        }
        // Cards of accepted records (flagged cards are among them) that
        // have no row yet.
        for &i in &cleared.accepted {
            let serial = records[i].serial;
            if let Some(card) = fresh.remove(&serial) {
                let sealed = self.cipher.seal(op, &card, &serial)?;
                w.cards.push(vec![
                    Arg::Text(op.into()),
                    Arg::Text(card.clone()),
                    Arg::Text(sealed),
                ]);
                w.new_cards.push((serial, card));
            }
        }
        Ok(w)
    }

    /// Writes the batch row and its rows in one transaction.
    async fn write(
        &self,
        digest: &str,
        result: &BatchResult,
        w: &Writes,
    ) -> Result<(), OperatorError> {
        let backend = self.db.backend();
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO operator_batches (operator, batch_id, digest, records, accepted, \
             duplicates, rejected, flagged, business_day, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(self.operator.id.as_str())
        .bind(result.batch_id.as_str())
        .bind(digest)
        .bind(result.records as i64)
        .bind(result.accepted as i64)
        .bind(result.duplicates as i64)
        .bind(result.rejected.len() as i64)
        .bind(result.flagged as i64)
        .bind(i64::from(result.business_day.number()))
        .bind(self.clock.now_millis())
        .execute(&mut *tx)
        .await?;
        schema::CARDS.execute(&mut tx, backend, &w.cards).await?;
        schema::RECORDS
            .execute(&mut tx, backend, &w.records)
            .await?;
        schema::INTERCHANGE
            .execute(&mut tx, backend, &w.interchange)
            .await?;
        schema::REJECTIONS
            .execute(&mut tx, backend, &w.rejections)
            .await?;
        schema::HOTLIST
            .execute(&mut tx, backend, &w.hotlist)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Runs the sans-IO clearing over the batch, keeping each record's verdict.
fn clear(clearing: &mut Clearing, records: &[GateRecord]) -> Cleared {
    let mut out = Cleared {
        accepted: Vec::with_capacity(records.len()),
        duplicates: 0,
        rejected: Vec::new(),
        flagged: Vec::new(),
    };
    for (i, r) in records.iter().enumerate() {
        match clearing.clear_one(r, &mut out.flagged) {
            Ok(true) => out.accepted.push(i),
            Ok(false) => out.duplicates += 1,
            Err(why) => out.rejected.push((i, why)),
        }
    }
    out
}

fn log_outcome(operator: &str, r: &BatchResult) {
    if !r.rejected.is_empty() || r.flagged > 0 {
        tracing::warn!(
            operator,
            batch_id = %r.batch_id,
            accepted = r.accepted,
            duplicates = r.duplicates,
            rejected = r.rejected.len(),
            flagged = r.flagged,
            "batch cleared with refusals or hotlist flags"
        );
    } else {
        tracing::debug!(operator, batch_id = %r.batch_id, accepted = r.accepted, "batch cleared");
    }
}

/// The stored code of a refusal.
pub(crate) fn reason_code(r: Rejection) -> &'static str {
    match r {
        Rejection::NotOurCard => "not_our_card",
        Rejection::NotAPurchase(_) => "not_a_purchase",
        Rejection::TacInvalid => "tac_invalid",
        Rejection::AmountAboveBalance => "amount_above_balance",
        Rejection::Altered => "altered",
        Rejection::BatchTooLarge => "batch_too_large",
    }
}

/// Bytes of a record in the batch digest.
const DIGEST_RECORD_LEN: usize = 42;

/// SHA-256 over every field of every record, in order: what makes "the
/// same batch".
fn digest(records: &[GateRecord]) -> String {
    let mut h = Sha256::new();
    for r in records {
        let mut b = [0u8; DIGEST_RECORD_LEN];
        b[..10].copy_from_slice(&r.serial);
        b[10..12].copy_from_slice(&r.counter.to_be_bytes());
        b[12..16].copy_from_slice(&r.balance_before.to_be_bytes());
        b[16..20].copy_from_slice(&r.amount.to_be_bytes());
        b[20] = r.type_id;
        b[21..27].copy_from_slice(&r.terminal);
        b[27..31].copy_from_slice(&r.terminal_seq.to_be_bytes());
        b[31..35].copy_from_slice(&r.at.date);
        b[35..38].copy_from_slice(&r.at.time);
        b[38..42].copy_from_slice(&r.tac);
        h.update(b);
    }
    hex::encode(h.finalize())
}

/// A stored accepted record; `issuer` names the member whose card it is,
/// empty for our own.
fn record_row(
    op: &str,
    card: &str,
    r: &GateRecord,
    (batch_id, seq): (&str, i64),
    day: Day,
    issuer: &str,
) -> Vec<Arg> {
    let mut row = Vec::with_capacity(schema::RECORDS.columns.len());
    row.extend([Arg::Text(op.into()), Arg::Text(card.into())]);
    row.extend(record_fields(r));
    row.extend([
        Arg::Text(batch_id.into()),
        Arg::I64(seq),
        Arg::I64(i64::from(day.number())),
        Arg::Text(issuer.into()),
    ]);
    row
}

/// The fields of a gate record as every table that keeps one stores them
/// (`operator_records`, `operator_interchange`): terminal, terminal
/// sequence, counter, balance before, amount, type, date-time, TAC.
pub(crate) fn record_fields(r: &GateRecord) -> [Arg; 8] {
    let mut at = [0u8; 7];
    at[..4].copy_from_slice(&r.at.date);
    at[4..].copy_from_slice(&r.at.time);
    [
        Arg::Text(hex::encode(r.terminal)),
        Arg::I64(i64::from(r.terminal_seq)),
        Arg::I64(i64::from(r.counter)),
        Arg::I64(i64::from(r.balance_before)),
        Arg::I64(i64::from(r.amount)),
        Arg::I64(i64::from(r.type_id)),
        Arg::Text(hex::encode(at)),
        Arg::Text(hex::encode(r.tac)),
    ]
}

/// The accepted record a stored row and its card number make.
pub(crate) fn record_from_row(
    serial: [u8; SERIAL_LEN],
    row: &RecordRow,
) -> Result<GateRecord, OperatorError> {
    let (card, terminal, seq, counter, balance, amount, type_id, at, tac) = row;
    let bad = |what: &str| OperatorError::Corrupt(format!("record of card {card}: {what}"));
    let terminal = decode_hex::<6>(terminal).ok_or_else(|| bad("terminal"))?;
    let at = decode_hex::<7>(at).ok_or_else(|| bad("date-time"))?;
    let at = DateTime::parse([at[0], at[1], at[2], at[3]], [at[4], at[5], at[6]])
        .ok_or_else(|| bad("date-time"))?;
    Ok(GateRecord {
        serial,
        counter: u16::try_from(*counter).map_err(|_| bad("counter"))?,
        balance_before: u32::try_from(*balance).map_err(|_| bad("balance"))?,
        amount: u32::try_from(*amount).map_err(|_| bad("amount"))?,
        type_id: u8::try_from(*type_id).map_err(|_| bad("type"))?,
        terminal,
        terminal_seq: u32::try_from(*seq).map_err(|_| bad("terminal sequence"))?,
        at,
        tac: decode_hex::<4>(tac).ok_or_else(|| bad("TAC"))?,
    })
}

fn decode_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

fn count(n: i64) -> Result<usize, OperatorError> {
    usize::try_from(n).map_err(|_| OperatorError::Corrupt(format!("negative count {n}")))
}

pub(crate) fn stored_day(n: i64) -> Result<Day, OperatorError> {
    u32::try_from(n)
        .ok()
        .and_then(Day::from_number)
        .ok_or_else(|| OperatorError::Corrupt(format!("business day {n}")))
}
