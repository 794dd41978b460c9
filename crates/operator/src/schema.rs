//! The tables this crate owns, and the bulk inserts an upload writes them
//! with: one statement per table per batch, the rows as one JSON parameter
//! (see [`paytap_store::bulk`]).

use paytap_store::batch::Arg;
use paytap_store::{Backend, Migration, StoreError, Tx};

/// Schema owned by this crate. Every table is keyed by operator first, so
/// one database can hold several operators' hosts.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        component: "operator",
        version: 1,
        sql: "CREATE TABLE operator_batches (\
            operator TEXT NOT NULL, batch_id TEXT NOT NULL, digest TEXT NOT NULL, \
            records BIGINT NOT NULL, accepted BIGINT NOT NULL, duplicates BIGINT NOT NULL, \
            rejected BIGINT NOT NULL, flagged BIGINT NOT NULL, business_day BIGINT NOT NULL, \
            created_at BIGINT NOT NULL, PRIMARY KEY (operator, batch_id));\
          CREATE TABLE operator_cards (\
            operator TEXT NOT NULL, card TEXT NOT NULL, sealed TEXT NOT NULL, \
            PRIMARY KEY (operator, card));\
          CREATE TABLE operator_records (\
            operator TEXT NOT NULL, card TEXT NOT NULL, terminal TEXT NOT NULL, \
            terminal_seq BIGINT NOT NULL, counter BIGINT NOT NULL, \
            balance_before BIGINT NOT NULL, amount BIGINT NOT NULL, type_id BIGINT NOT NULL, \
            at TEXT NOT NULL, tac TEXT NOT NULL, batch_id TEXT NOT NULL, seq BIGINT NOT NULL, \
            business_day BIGINT NOT NULL, PRIMARY KEY (operator, card, terminal, terminal_seq));\
          CREATE INDEX operator_records_day ON operator_records (operator, business_day);\
          CREATE TABLE operator_rejections (\
            operator TEXT NOT NULL, batch_id TEXT NOT NULL, idx BIGINT NOT NULL, \
            reason TEXT NOT NULL, card TEXT NOT NULL, terminal TEXT NOT NULL, \
            terminal_seq BIGINT NOT NULL, PRIMARY KEY (operator, batch_id, idx));\
          CREATE TABLE operator_hotlist (\
            operator TEXT NOT NULL, card TEXT NOT NULL, reason TEXT NOT NULL, \
            counter BIGINT NOT NULL, created_at BIGINT NOT NULL, \
            PRIMARY KEY (operator, card, reason, counter));\
          CREATE TABLE operator_settlements (\
            operator TEXT NOT NULL, business_day BIGINT NOT NULL, amount BIGINT NOT NULL, \
            records BIGINT NOT NULL, transfer_id TEXT NOT NULL, created_at BIGINT NOT NULL, \
            PRIMARY KEY (operator, business_day));\
          CREATE TABLE operator_settlement_gates (\
            operator TEXT NOT NULL, business_day BIGINT NOT NULL, terminal TEXT NOT NULL, \
            amount BIGINT NOT NULL, records BIGINT NOT NULL, \
            PRIMARY KEY (operator, business_day, terminal))",
    },
    Migration {
        component: "operator",
        version: 2,
        sql: "CREATE TABLE operator_issued (\
            operator TEXT NOT NULL, issue_id TEXT NOT NULL, device_id TEXT NOT NULL, \
            number BIGINT NOT NULL, card TEXT NOT NULL, created_at BIGINT NOT NULL, \
            PRIMARY KEY (operator, issue_id), UNIQUE (operator, number));\
          CREATE TABLE operator_loads (\
            operator TEXT NOT NULL, load_id TEXT NOT NULL, card TEXT NOT NULL, \
            amount BIGINT NOT NULL, digest TEXT NOT NULL, mac2 TEXT NOT NULL, \
            at TEXT NOT NULL, new_balance BIGINT NOT NULL, created_at BIGINT NOT NULL, \
            PRIMARY KEY (operator, load_id))",
    },
    Migration {
        component: "operator",
        version: 3,
        sql: "ALTER TABLE operator_loads ADD COLUMN state TEXT NOT NULL DEFAULT 'credited';\
          ALTER TABLE operator_loads ADD COLUMN counter BIGINT NOT NULL DEFAULT -1;\
          ALTER TABLE operator_loads ADD COLUMN session TEXT NOT NULL DEFAULT '';\
          ALTER TABLE operator_loads ADD COLUMN funds TEXT NOT NULL DEFAULT '';\
          CREATE INDEX operator_loads_card ON operator_loads (operator, card, state)",
    },
    Migration {
        component: "operator",
        version: 4,
        sql: "CREATE TABLE operator_gates (\
            operator TEXT NOT NULL, terminal TEXT NOT NULL, hotlist_at BIGINT NOT NULL, \
            unsent BIGINT NOT NULL, PRIMARY KEY (operator, terminal));\
          CREATE TABLE operator_moves (\
            operator TEXT NOT NULL, move_id TEXT NOT NULL, from_card TEXT NOT NULL, \
            load_id TEXT NOT NULL, amount BIGINT NOT NULL, created_at BIGINT NOT NULL, \
            PRIMARY KEY (operator, move_id), UNIQUE (operator, from_card))",
    },
    Migration {
        component: "operator",
        version: 5,
        // A device's cards, for one card per city per device.
        sql: "CREATE INDEX operator_issued_device ON operator_issued (operator, device_id)",
    },
    Migration {
        component: "operator",
        version: 6,
        // A rider's order to move a lost card's balance to another card,
        // which that card's device completes (`move_orders.rs`).
        sql: "CREATE TABLE operator_move_orders (\
            operator TEXT NOT NULL, from_card TEXT NOT NULL, to_card TEXT NOT NULL, \
            move_id TEXT NOT NULL, created_at BIGINT NOT NULL, \
            PRIMARY KEY (operator, from_card), UNIQUE (operator, move_id));\
          CREATE INDEX operator_move_orders_to ON operator_move_orders (operator, to_card)",
    },
    Migration {
        component: "operator",
        version: 7,
        // T-Union: each accepted record names the member that issued its
        // card ('' for our own); the records of other members' cards are
        // written for their issuer too (`operator_interchange`, the card
        // under the members' shared interchange key); a day's settlement
        // keeps what it moved from each issuer's float.
        sql: "ALTER TABLE operator_records ADD COLUMN issuer TEXT NOT NULL DEFAULT '';\
          CREATE TABLE operator_interchange (\
            issuer TEXT NOT NULL, acceptor TEXT NOT NULL, card TEXT NOT NULL, \
            sealed TEXT NOT NULL, terminal TEXT NOT NULL, terminal_seq BIGINT NOT NULL, \
            counter BIGINT NOT NULL, balance_before BIGINT NOT NULL, amount BIGINT NOT NULL, \
            type_id BIGINT NOT NULL, at TEXT NOT NULL, tac TEXT NOT NULL, seq BIGINT NOT NULL, \
            business_day BIGINT NOT NULL, \
            PRIMARY KEY (issuer, acceptor, card, terminal, terminal_seq));\
          CREATE INDEX operator_interchange_seq ON operator_interchange (issuer, acceptor, seq);\
          CREATE TABLE operator_settlement_interchange (\
            operator TEXT NOT NULL, business_day BIGINT NOT NULL, issuer TEXT NOT NULL, \
            amount BIGINT NOT NULL, records BIGINT NOT NULL, transfer_id TEXT NOT NULL, \
            PRIMARY KEY (operator, business_day, issuer))",
    },
    Migration {
        component: "operator",
        version: 8,
        // The card fee each issue was paid (`issue.rs`), minor units.
        sql: "ALTER TABLE operator_issued ADD COLUMN fee BIGINT NOT NULL DEFAULT 0",
    },
];

/// A column's type in a bulk insert.
#[derive(Clone, Copy)]
pub(crate) enum Ty {
    Text,
    Int,
}

/// One table's bulk insert.
pub(crate) struct Insert {
    pub(crate) table: &'static str,
    pub(crate) columns: &'static [(&'static str, Ty)],
    /// `ON CONFLICT DO NOTHING` (rows another batch may have written).
    pub(crate) skip_existing: bool,
}

pub(crate) const CARDS: Insert = Insert {
    table: "operator_cards",
    columns: &[
        ("operator", Ty::Text),
        ("card", Ty::Text),
        ("sealed", Ty::Text),
    ],
    skip_existing: true,
};

pub(crate) const RECORDS: Insert = Insert {
    table: "operator_records",
    columns: &[
        ("operator", Ty::Text),
        ("card", Ty::Text),
        ("terminal", Ty::Text),
        ("terminal_seq", Ty::Int),
        ("counter", Ty::Int),
        ("balance_before", Ty::Int),
        ("amount", Ty::Int),
        ("type_id", Ty::Int),
        ("at", Ty::Text),
        ("tac", Ty::Text),
        ("batch_id", Ty::Text),
        ("seq", Ty::Int),
        ("business_day", Ty::Int),
        ("issuer", Ty::Text),
    ],
    skip_existing: false,
};

/// The records of other members' cards, for their issuers.
pub(crate) const INTERCHANGE: Insert = Insert {
    table: "operator_interchange",
    columns: &[
        ("issuer", Ty::Text),
        ("acceptor", Ty::Text),
        ("card", Ty::Text),
        ("sealed", Ty::Text),
        ("terminal", Ty::Text),
        ("terminal_seq", Ty::Int),
        ("counter", Ty::Int),
        ("balance_before", Ty::Int),
        ("amount", Ty::Int),
        ("type_id", Ty::Int),
        ("at", Ty::Text),
        ("tac", Ty::Text),
        ("seq", Ty::Int),
        ("business_day", Ty::Int),
    ],
    skip_existing: false,
};

pub(crate) const REJECTIONS: Insert = Insert {
    table: "operator_rejections",
    columns: &[
        ("operator", Ty::Text),
        ("batch_id", Ty::Text),
        ("idx", Ty::Int),
        ("reason", Ty::Text),
        ("card", Ty::Text),
        ("terminal", Ty::Text),
        ("terminal_seq", Ty::Int),
    ],
    skip_existing: false,
};

pub(crate) const HOTLIST: Insert = Insert {
    table: "operator_hotlist",
    columns: &[
        ("operator", Ty::Text),
        ("card", Ty::Text),
        ("reason", Ty::Text),
        ("counter", Ty::Int),
        ("created_at", Ty::Int),
    ],
    skip_existing: true,
};

impl Insert {
    /// The statement for `backend`, its one parameter the rows as JSON.
    fn sql(&self, backend: Backend) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| *n).collect();
        let values: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, ty))| match (backend, ty) {
                (Backend::Sqlite, _) => format!("j.value->>{i}"),
                (Backend::Postgres, Ty::Text) => format!("r->>{i}"),
                (Backend::Postgres, Ty::Int) => format!("(r->>{i})::bigint"),
            })
            .collect();
        let from = match backend {
            Backend::Sqlite => "jsonb_each(jsonb($1)) AS j",
            Backend::Postgres => "jsonb_array_elements($1::jsonb) AS r",
        };
        // SQLite: a SELECT feeding an upsert needs a WHERE to parse.
        let (filter, conflict) = match self.skip_existing {
            true => (" WHERE true", " ON CONFLICT DO NOTHING"),
            false => ("", ""),
        };
        format!(
            "INSERT INTO {} ({}) SELECT {} FROM {from}{filter}{conflict}",
            self.table,
            names.join(", "),
            values.join(", ")
        )
    }

    /// Inserts `rows` (each in column order) inside `tx`; rows written.
    pub(crate) async fn execute(
        &self,
        tx: &mut Tx,
        backend: Backend,
        rows: &[Vec<Arg>],
    ) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        debug_assert!(rows.iter().all(|r| r.len() == self.columns.len()));
        let json = paytap_store::bulk::encode_rows(rows.iter().map(Vec::as_slice));
        let done = sqlx::query(sqlx::AssertSqlSafe(self.sql(backend)))
            .bind(json)
            .execute(&mut **tx)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_statements_in_both_dialects() {
        assert_eq!(
            CARDS.sql(Backend::Sqlite),
            "INSERT INTO operator_cards (operator, card, sealed) SELECT j.value->>0, \
             j.value->>1, j.value->>2 FROM jsonb_each(jsonb($1)) AS j WHERE true \
             ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            REJECTIONS.sql(Backend::Postgres),
            "INSERT INTO operator_rejections (operator, batch_id, idx, reason, card, terminal, \
             terminal_seq) SELECT r->>0, r->>1, (r->>2)::bigint, r->>3, r->>4, r->>5, \
             (r->>6)::bigint FROM jsonb_array_elements($1::jsonb) AS r"
        );
    }
}
