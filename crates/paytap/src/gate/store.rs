//! The gate's durable store: one SQLite file, `gate.db`, in the gate's
//! directory (0700, the file 0600).
//!
//! * `gate_sam`: the SAM's next terminal sequence (reserved before the
//!   DEBIT that uses it leaves, so no sequence is used twice) and the
//!   number of the gate's next batch;
//! * `gate_records`: every transaction the gate made, by terminal
//!   sequence, written before the gate opens; the record (card number,
//!   amounts, TAC) sealed under a key of the platform's keyring, so no card
//!   number lies in clear on the gate; `batch_id` is fixed in the same
//!   transaction that picks the records for a batch, before anything is
//!   sent, and `sent` is set once the operator answered it;
//! * `gate_hotlist`: the operator's hotlist as last downloaded, sealed;
//! * `gate_torn`: the purchase whose DEBIT is in flight (card, counter,
//!   terminal sequence, balance before), sealed, written before the DEBIT
//!   leaves and forgotten in the transaction that records it: a field lost
//!   before the answer, or a crash between the card's debit and the
//!   record, is recovered when the card comes back, never charged twice.

use std::path::Path;

use anyhow::Context;
use paytap_operator::wire::{WireHotlist, WireRecord};
use paytap_purse::records::{DateTime, SERIAL_LEN, TRIP_RECORD_LEN, TripRecord};
use paytap_purse::terminal::Torn;
use paytap_transit::GateRecord;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use zeroize::Zeroizing;

/// The store's file in the gate's directory.
pub const GATE_DB: &str = "gate.db";
/// Most records in one upload batch.
pub const MAX_BATCH_RECORDS: usize = 500;
/// How long a writer waits for another process holding the file.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS gate_sam (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    next_seq INTEGER NOT NULL,
    next_batch INTEGER NOT NULL
);
INSERT OR IGNORE INTO gate_sam (id, next_seq, next_batch) VALUES (1, 1, 1);
CREATE TABLE IF NOT EXISTS gate_records (
    terminal_seq INTEGER PRIMARY KEY,
    sealed BLOB NOT NULL,
    batch_id TEXT,
    sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS gate_records_batch ON gate_records (batch_id);
CREATE TABLE IF NOT EXISTS gate_hotlist (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sealed BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS gate_torn (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    sealed BLOB NOT NULL
);
";

/// Bytes of a kept torn purchase: serial, counter, terminal sequence,
/// balance before, fare, date-time, trip record.
const TORN_LEN: usize = SERIAL_LEN + 2 + 4 + 4 + 4 + 7 + TRIP_RECORD_LEN;

/// A purchase whose DEBIT is in flight, with what the gate was selling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeptTorn {
    /// What the purchase driver needs to recover it.
    pub torn: Torn,
    /// The fare.
    pub fare: u32,
    /// The trip record written with it.
    pub trip: TripRecord,
    /// When.
    pub at: DateTime,
}

impl KeptTorn {
    fn encode(&self) -> Vec<u8> {
        let t = &self.torn;
        let mut b = Vec::with_capacity(TORN_LEN);
        b.extend_from_slice(&t.serial);
        b.extend_from_slice(&t.counter.to_be_bytes());
        b.extend_from_slice(&t.terminal_seq.to_be_bytes());
        b.extend_from_slice(&t.balance_before.to_be_bytes());
        b.extend_from_slice(&self.fare.to_be_bytes());
        b.extend_from_slice(&self.at.date);
        b.extend_from_slice(&self.at.time);
        b.extend_from_slice(&self.trip.encode());
        b
    }

    fn decode(b: &[u8]) -> Option<KeptTorn> {
        if b.len() != TORN_LEN {
            return None;
        }
        let (serial, rest) = b.split_at(SERIAL_LEN);
        let (counter, rest) = rest.split_at(2);
        let (seq, rest) = rest.split_at(4);
        let (before, rest) = rest.split_at(4);
        let (fare, rest) = rest.split_at(4);
        let (date, rest) = rest.split_at(4);
        let (time, trip) = rest.split_at(3);
        Some(KeptTorn {
            torn: Torn {
                serial: serial.try_into().ok()?,
                counter: u16::from_be_bytes(counter.try_into().ok()?),
                terminal_seq: u32::from_be_bytes(seq.try_into().ok()?),
                balance_before: u32::from_be_bytes(before.try_into().ok()?),
            },
            fare: u32::from_be_bytes(fare.try_into().ok()?),
            at: DateTime::parse(date.try_into().ok()?, time.try_into().ok()?)?,
            trip: TripRecord::decode(trip)?,
        })
    }
}

/// What the store holds, for the gate's screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Every transaction kept.
    pub records: u64,
    /// Those the operator has not yet answered.
    pub unsent: u64,
}

/// The gate's store.
pub struct GateStore {
    conn: Connection,
    key: Zeroizing<[u8; 32]>,
    terminal: String,
}

impl GateStore {
    /// Opens (creating) `dir/gate.db` for the gate `terminal` (hex), sealing
    /// under `key`.
    pub fn open(dir: &Path, terminal: &str, key: Zeroizing<[u8; 32]>) -> anyhow::Result<GateStore> {
        paytap_store::files::secure_dir(dir)
            .with_context(|| format!("creating the gate directory {}", dir.display()))?;
        let path = dir.join(GATE_DB);
        paytap_store::files::private_sqlite_file(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        let conn =
            Connection::open(&path).with_context(|| format!("opening {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)
            .with_context(|| format!("preparing {}", path.display()))?;
        Ok(GateStore {
            conn,
            key,
            terminal: terminal.to_owned(),
        })
    }

    fn aad(&self, what: &str) -> Vec<u8> {
        format!("paytap gate v1\n{}\n{what}", self.terminal).into_bytes()
    }

    fn seal(&self, what: &str, plain: &[u8]) -> anyhow::Result<Vec<u8>> {
        paytap_seal::at_rest::seal(&self.key, &self.aad(what), plain)
            .map_err(|e| anyhow::anyhow!("sealing the gate's {what}: {e}"))
    }

    fn open_sealed(&self, what: &str, sealed: &[u8]) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        paytap_seal::at_rest::open(&self.key, &self.aad(what), sealed)
            .map_err(|e| anyhow::anyhow!("the gate's {what} does not open (another keyring?): {e}"))
    }

    /// The SAM's next terminal sequence.
    pub fn next_seq(&self) -> anyhow::Result<u32> {
        let n: i64 =
            self.conn
                .query_row("SELECT next_seq FROM gate_sam WHERE id = 1", [], |r| {
                    r.get(0)
                })?;
        u32::try_from(n).context("the gate's terminal sequence is out of range")
    }

    /// Reserves terminal sequences below `next` (durably, before a DEBIT
    /// that uses one leaves the gate).
    pub fn reserve_seq(&self, next: u32) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE gate_sam SET next_seq = MAX(next_seq, ?1) WHERE id = 1",
            params![i64::from(next)],
        )?;
        Ok(())
    }

    /// Keeps a transaction, durably, and forgets the card's torn purchase
    /// in the same transaction; the gate opens only after this. The same
    /// transaction again (a torn purchase recovered after a crash between
    /// the card's debit and this write) is kept once.
    pub fn record(&self, rec: &GateRecord) -> anyhow::Result<()> {
        let wire = serde_json::to_vec(&WireRecord::from(rec))?;
        let seq = rec.terminal_seq;
        let sealed = self.seal(&format!("record {seq}"), &wire)?;
        let torn = self.torn()?;
        let tx = self.conn.unchecked_transaction()?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO gate_records (terminal_seq, sealed) VALUES (?1, ?2)",
            params![i64::from(seq), sealed],
        )?;
        if inserted == 0 {
            // The same record again (a recovered torn sale recorded twice)
            // is kept once; another record under its sequence is refused.
            let kept: Vec<u8> = tx.query_row(
                "SELECT sealed FROM gate_records WHERE terminal_seq = ?1",
                params![i64::from(seq)],
                |r| r.get(0),
            )?;
            let kept = self.open_sealed(&format!("record {seq}"), &kept)?;
            anyhow::ensure!(
                kept.as_slice() == wire.as_slice(),
                "terminal sequence {seq} already holds another record"
            );
        }
        if torn.is_some_and(|k| k.torn.serial == rec.serial) {
            tx.execute("DELETE FROM gate_torn", [])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Keeps the purchase whose DEBIT is about to leave, durably, so that
    /// a lost answer or a crash before [`GateStore::record`] is recovered
    /// on the card's next tap (GET TRANSACTION PROVE), never charged again.
    pub fn set_torn(&self, kept: &KeptTorn) -> anyhow::Result<()> {
        let sealed = self.seal("torn", &kept.encode())?;
        self.conn.execute(
            "INSERT OR REPLACE INTO gate_torn (id, sealed) VALUES (1, ?1)",
            params![sealed],
        )?;
        Ok(())
    }

    /// The purchase kept by [`GateStore::set_torn`] and not yet recorded.
    pub fn torn(&self) -> anyhow::Result<Option<KeptTorn>> {
        let sealed: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT sealed FROM gate_torn WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let plain = self.open_sealed("torn", &sealed)?;
        KeptTorn::decode(&plain)
            .map(Some)
            .context("the gate's torn purchase is malformed")
    }

    /// The batch to send next: one fixed earlier and not yet answered (a
    /// crash or a lost answer), else up to [`MAX_BATCH_RECORDS`] unsent
    /// records given a new batch id in one transaction. `None` when every
    /// record has been answered.
    pub fn next_batch(&mut self) -> anyhow::Result<Option<(String, Vec<WireRecord>)>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let pending: Option<String> = tx
            .query_row(
                "SELECT batch_id FROM gate_records WHERE batch_id IS NOT NULL AND sent = 0 \
                 ORDER BY terminal_seq LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let id = match pending {
            Some(id) => id,
            None => {
                let n: i64 =
                    tx.query_row("SELECT next_batch FROM gate_sam WHERE id = 1", [], |r| {
                        r.get(0)
                    })?;
                let id = format!("{}-{n:08}", self.terminal);
                let picked = tx.execute(
                    "UPDATE gate_records SET batch_id = ?1 WHERE terminal_seq IN \
                     (SELECT terminal_seq FROM gate_records WHERE batch_id IS NULL \
                      ORDER BY terminal_seq LIMIT ?2)",
                    params![id, MAX_BATCH_RECORDS as i64],
                )?;
                if picked == 0 {
                    return Ok(None);
                }
                tx.execute(
                    "UPDATE gate_sam SET next_batch = next_batch + 1 WHERE id = 1",
                    [],
                )?;
                id
            }
        };
        let rows: Vec<(i64, Vec<u8>)> = {
            let mut stmt = tx.prepare(
                "SELECT terminal_seq, sealed FROM gate_records WHERE batch_id = ?1 ORDER BY terminal_seq",
            )?;
            let rows = stmt.query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        tx.commit()?;
        let records = rows
            .iter()
            .map(|(seq, sealed)| {
                let plain = self.open_sealed(&format!("record {seq}"), sealed)?;
                Ok(serde_json::from_slice(&plain)?)
            })
            .collect::<anyhow::Result<Vec<WireRecord>>>()?;
        Ok(Some((id, records)))
    }

    /// The operator answered batch `id`.
    pub fn mark_sent(&self, id: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE gate_records SET sent = 1 WHERE batch_id = ?1",
            params![id],
        )?;
        Ok(())
    }

    /// Replaces the hotlist.
    pub fn set_hotlist(&self, list: &WireHotlist) -> anyhow::Result<()> {
        let sealed = self.seal("hotlist", &serde_json::to_vec(list)?)?;
        self.conn.execute(
            "INSERT INTO gate_hotlist (id, sealed) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed",
            params![sealed],
        )?;
        Ok(())
    }

    /// Whether card `number` is on the hotlist last downloaded.
    pub fn hotlisted(&self, number: &str) -> anyhow::Result<bool> {
        let sealed: Option<Vec<u8>> = self
            .conn
            .query_row("SELECT sealed FROM gate_hotlist WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(sealed) = sealed else {
            return Ok(false);
        };
        let list: WireHotlist = serde_json::from_slice(&self.open_sealed("hotlist", &sealed)?)?;
        Ok(list.cards.iter().any(|c| c.card_number == number))
    }

    /// How many records the gate holds and how many are unanswered.
    pub fn counts(&self) -> anyhow::Result<Counts> {
        let (records, unsent): (i64, i64) = self.conn.query_row(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN sent = 0 THEN 1 ELSE 0 END), 0) FROM gate_records",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(Counts {
            records: records.unsigned_abs(),
            unsent: unsent.unsigned_abs(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paytap_purse::records::DateTime;

    const TERMINAL: &str = "475400650001";

    fn key() -> Zeroizing<[u8; 32]> {
        Zeroizing::new([7; 32])
    }

    fn record(seq: u32) -> GateRecord {
        GateRecord {
            serial: paytap_transit::config::serial_from_digits("10003104990000000007").unwrap(),
            counter: u16::try_from(seq).unwrap(),
            balance_before: 5_000,
            amount: 300,
            type_id: 9,
            terminal: [0x47, 0x54, 0, 0x65, 0, 1],
            terminal_seq: seq,
            at: DateTime::from_parts(2026, 12, 5, 8, 15, 0).unwrap(),
            tac: [1, 2, 3, 4],
        }
    }

    fn seqs(batch: &(String, Vec<WireRecord>)) -> Vec<u32> {
        batch.1.iter().map(|r| r.terminal_seq).collect()
    }

    #[test]
    fn a_batch_keeps_its_id_until_answered_and_nothing_is_sent_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = GateStore::open(dir.path(), TERMINAL, key()).unwrap();
        assert_eq!(s.next_batch().unwrap(), None);
        for seq in 1..=3 {
            s.record(&record(seq)).unwrap();
        }
        let first = s.next_batch().unwrap().unwrap();
        assert_eq!(first.0, format!("{TERMINAL}-00000001"));
        assert_eq!(seqs(&first), [1, 2, 3]);
        // A record made while the batch is out waits for the next one.
        s.record(&record(4)).unwrap();
        // "Crash": the store is reopened before the answer came; the same
        // batch, with the same records, is sent again.
        drop(s);
        let mut s = GateStore::open(dir.path(), TERMINAL, key()).unwrap();
        let again = s.next_batch().unwrap().unwrap();
        assert_eq!(again, first);
        s.mark_sent(&again.0).unwrap();
        let second = s.next_batch().unwrap().unwrap();
        assert_eq!(second.0, format!("{TERMINAL}-00000002"));
        assert_eq!(seqs(&second), [4]);
        s.mark_sent(&second.0).unwrap();
        assert_eq!(s.next_batch().unwrap(), None);
        assert_eq!(
            s.counts().unwrap(),
            Counts {
                records: 4,
                unsent: 0
            }
        );
        // A terminal sequence is never kept twice: the same record again
        // is kept once, another one under it is refused; and a reserved
        // sequence never goes back.
        s.record(&record(4)).unwrap();
        let mut other = record(4);
        other.amount += 1;
        assert!(s.record(&other).is_err());
        assert_eq!(s.counts().unwrap().records, 4);
        assert_eq!(s.next_seq().unwrap(), 1);
        s.reserve_seq(6).unwrap();
        s.reserve_seq(3).unwrap();
        assert_eq!(s.next_seq().unwrap(), 6);
    }

    #[test]
    fn records_and_the_hotlist_are_sealed_and_open_only_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = GateStore::open(dir.path(), TERMINAL, key()).unwrap();
        s.record(&record(1)).unwrap();
        let card = "10003104990000000007";
        s.set_hotlist(&WireHotlist {
            operator: "beijing".into(),
            cards: vec![paytap_operator::wire::WireHotlisted {
                card_number: card.into(),
            }],
        })
        .unwrap();
        assert!(s.hotlisted(card).unwrap());
        assert!(!s.hotlisted("10003104990000000008").unwrap());
        drop(s);
        let raw = std::fs::read(dir.path().join(GATE_DB)).unwrap();
        assert!(!raw.windows(card.len()).any(|w| w == card.as_bytes()));
        let mut other = GateStore::open(dir.path(), TERMINAL, Zeroizing::new([8; 32])).unwrap();
        assert!(other.hotlisted(card).is_err());
        assert!(other.next_batch().is_err());
    }
}
